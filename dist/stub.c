/* The distributed API in a build without MPI: rb_dist_init says so; a NULL job (one process)
 * is accepted everywhere else, so code written for both runs unchanged. */
#include <stdio.h>

#include "ruban.h"
#include "ruban/dist.h"

bool rb_dist_available(void) { return false; }

rb_dist *rb_dist_init(int *argc, char ***argv, rb_dist_config config)
{
    (void)argc;
    (void)argv;
    (void)config;
    rb_error(RB_ERR_STATE, "rb_dist_init: built without MPI (install libopenmpi-dev and reconfigure with -Dmpi=enabled)");
    return NULL;
}

void rb_dist_free(rb_dist *d) { (void)d; }
int rb_dist_rank(const rb_dist *d) { return (void)d, 0; }
int rb_dist_size(const rb_dist *d) { return (void)d, 1; }
int rb_dist_local_rank(const rb_dist *d) { return (void)d, 0; }
int rb_dist_local_size(const rb_dist *d) { return (void)d, 1; }
bool rb_dist_is_root(const rb_dist *d) { return (void)d, true; }

rb_dist_stats rb_dist_get_stats(const rb_dist *d)
{
    (void)d;
    rb_dist_stats none = {0};
    return none;
}

const rb_dist_config *rb_dist_get_config(const rb_dist *d) { return (void)d, NULL; }
rb_status rb_dist_barrier(rb_dist *d) { return (void)d, RB_OK; }

rb_status rb_dist_sum(rb_dist *d, double *values, int n)
{
    (void)d;
    (void)values;
    (void)n;
    return RB_OK;
}

rb_status rb_dist_broadcast(rb_dist *d, void *data, int64_t bytes, int root)
{
    (void)d;
    (void)data;
    (void)bytes;
    (void)root;
    return RB_OK;
}

rb_status rb_dist_broadcast_params(rb_dist *d, rb_params *p, rb_optimizer *opt)
{
    (void)d;
    (void)opt;
    return p ? RB_OK : rb_error(RB_ERR_ARGUMENT, "rb_dist_broadcast_params: store is NULL");
}

rb_status rb_dist_broadcast_buffers(rb_dist *d, rb_params *p)
{
    (void)d;
    return p ? RB_OK : rb_error(RB_ERR_ARGUMENT, "rb_dist_broadcast_buffers: store is NULL");
}

rb_status rb_dist_average_gradients(rb_dist *d, rb_params *p, double weight)
{
    (void)d;
    (void)weight;
    return p ? RB_OK : rb_error(RB_ERR_ARGUMENT, "rb_dist_average_gradients: store is NULL");
}

int rb_dist_sync_batch_norm(rb_dist *d, rb_model *m)
{
    (void)d;
    (void)m;
    return 0;
}

void rb_dist_fail(rb_dist *d, const char *why)
{
    (void)d;
    fprintf(stderr, "rb_dist: rank 0 of 1 failed: %s\n", why ? why : "unknown error");
}

rb_status rb_dist_checkpoint_save(rb_dist *d, const char *path, rb_params *p,
                                  const rb_optimizer *opt)
{
    (void)d;
    return rb_checkpoint_save(path, p, opt);
}

rb_status rb_dist_checkpoint_load(rb_dist *d, const char *path, rb_params *p, rb_optimizer *opt)
{
    (void)d;
    return rb_checkpoint_load(path, p, opt);
}
