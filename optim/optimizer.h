/* What every optimizer shares: the interface behind rb_optimizer. */
#ifndef RUBAN_OPTIM_OPTIMIZER_H
#define RUBAN_OPTIM_OPTIMIZER_H

#include "ruban.h"

/* Update the slab range [begin, end) of one optimizer: called from parallel loops. */
typedef void (*rb__update_fn)(rb_optimizer *opt, int64_t begin, int64_t end);

struct rb_optimizer {
    const char *name;
    rb_params *params;
    double lr;
    int64_t steps;
    void (*prepare)(rb_optimizer *opt); /* optional: per-step scalars, before the pass */
    rb__update_fn update;               /* elementwise update of one range of the slabs */
    void *state;
    int n_states; /* state slabs of this optimizer in the store */
    const char *state_names[4];
};

/* The store's slab `name` registered as state of opt (for checkpoints); NULL on error. */
rb_tensor *rb__optimizer_state(rb_optimizer *opt, const char *name);

/* A new optimizer with a zeroed state of state_size bytes (freed by rb_optimizer_free), or
 * NULL with an error on a bad learning rate or store. */
rb_optimizer *rb__optimizer_new(const char *name, rb_params *p, double lr, size_t state_size);

#endif
