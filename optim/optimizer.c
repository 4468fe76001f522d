/* The optimizer interface: one step is an elementwise pass over the store's slabs, split
 * across threads (each element's update is independent, so results never depend on the
 * thread count). */
#include <stdlib.h>

#include "optimizer.h"

rb_optimizer *rb__optimizer_new(const char *name, rb_params *p, double lr, size_t state_size)
{
    if (!p) {
        rb_error(RB_ERR_ARGUMENT, "rb_%s_new: parameter store is NULL", name);
        return NULL;
    }
    if (!(lr > 0)) {
        rb_error(RB_ERR_ARGUMENT, "rb_%s_new: learning rate must be > 0, got %g", name, lr);
        return NULL;
    }
    rb_optimizer *opt = calloc(1, sizeof *opt);
    void *state = calloc(1, state_size);
    if (!opt || !state) {
        free(opt);
        free(state);
        rb_error(RB_ERR_MEMORY, "rb_%s_new: out of memory", name);
        return NULL;
    }
    opt->name = name;
    opt->params = p;
    opt->lr = lr;
    opt->state = state;
    return opt;
}

rb_tensor *rb__optimizer_state(rb_optimizer *opt, const char *name)
{
    if (opt->n_states < 4) opt->state_names[opt->n_states++] = name;
    return rb_params_state(opt->params, name);
}

int rb_optimizer_state_count(const rb_optimizer *opt) { return opt ? opt->n_states : 0; }
const char *rb_optimizer_state_name(const rb_optimizer *opt, int i)
{
    return opt && i >= 0 && i < opt->n_states ? opt->state_names[i] : NULL;
}
rb_params *rb_optimizer_params(const rb_optimizer *opt) { return opt ? opt->params : NULL; }
void rb_optimizer_set_steps(rb_optimizer *opt, int64_t steps)
{
    if (opt && steps >= 0) opt->steps = steps;
}

/* Below this many values per thread the step stays on one thread. */
enum { STEP_GRAIN = 65536 };

static void update_range(void *opt, int64_t begin, int64_t end)
{
    ((rb_optimizer *)opt)->update(opt, begin, end);
}

rb_status rb_optimizer_step(rb_optimizer *opt)
{
    if (!opt) return rb_error(RB_ERR_ARGUMENT, "rb_optimizer_step: optimizer is NULL");
    int64_t n = rb_tensor_size(rb_params_flat_values(opt->params));
    opt->steps++;
    if (opt->prepare) opt->prepare(opt);
    rb_parallel_for(n, STEP_GRAIN, update_range, opt);
    rb_params_touch(opt->params);
    return RB_OK;
}

double rb_optimizer_lr(const rb_optimizer *opt) { return opt ? opt->lr : 0.0; }

void rb_optimizer_set_lr(rb_optimizer *opt, double lr)
{
    if (!opt) return;
    if (!(lr >= 0)) {
        rb_error(RB_ERR_ARGUMENT, "rb_optimizer_set_lr: learning rate must be >= 0, got %g", lr);
        return;
    }
    opt->lr = lr;
}

int64_t rb_optimizer_steps(const rb_optimizer *opt) { return opt ? opt->steps : 0; }
const char *rb_optimizer_name(const rb_optimizer *opt) { return opt ? opt->name : ""; }

void rb_optimizer_free(rb_optimizer *opt)
{
    if (!opt) return;
    free(opt->state);
    free(opt);
}
