/* Checkpoints of a job: rank 0 writes and reads the file, every rank agrees on the outcome.
 * The file is an ordinary checkpoint (ruban/checkpoint.h): a single process loads it, and a
 * job loads one written by a single process. */
#include <stdio.h>
#include <string.h>

#include "dist_impl.h"

/* Rank 0's status and message, given to every rank. */
static rb_status agree(rb_dist *d, rb_status st, const char *who)
{
    struct {
        int32_t status;
        char message[1020];
    } outcome = {(int32_t)st, ""};
    if (d->rank == 0 && st != RB_OK)
        snprintf(outcome.message, sizeof outcome.message, "%s", rb_last_error());
    rb__dist_bcast_bytes(d, &outcome, sizeof outcome, 0, who);
    if (outcome.status == RB_OK) return RB_OK;
    if (d->rank == 0) return st;
    return rb_error((rb_status)outcome.status, "%s: on rank 0: %s", who, outcome.message);
}

rb_status rb_dist_checkpoint_save(rb_dist *d, const char *path, rb_params *p,
                                  const rb_optimizer *opt)
{
    if (!d) return rb_checkpoint_save(path, p, opt);
    rb_status st = d->rank == 0 ? rb_checkpoint_save(path, p, opt) : RB_OK;
    return agree(d, st, "rb_dist_checkpoint_save");
}

rb_status rb_dist_checkpoint_load(rb_dist *d, const char *path, rb_params *p, rb_optimizer *opt)
{
    if (!d) return rb_checkpoint_load(path, p, opt);
    rb_status st = d->rank == 0 ? rb_checkpoint_load(path, p, opt) : RB_OK;
    if (agree(d, st, "rb_dist_checkpoint_load") != RB_OK) return rb_last_status();
    return rb_dist_broadcast_params(d, p, opt);
}
