/* rb_fit across ranks (cfg.dist): what fit.c calls at the start, each step and each epoch's
 * end (internal to train/). With a NULL dist every function does nothing. */
#ifndef RUBAN_TRAIN_FIT_DIST_H
#define RUBAN_TRAIN_FIT_DIST_H

#include "metrics.h"
#include "ruban/dist.h"

/* Check that every rank has as many batches and validation rows, shard the batcher, give
 * every rank rank 0's weights and optimizer state (refusing models that differ), and copy this
 * rank's slice of the validation rows into *shard (freed by the caller with rb_dataset_free;
 * left empty without dist or validation). */
rb_status rb__fit_dist_begin(rb_dist *d, rb_trainable t, rb_optimizer *opt, rb_batcher *b,
                             const rb_dataset *validation, rb_dataset *shard);
/* Sum this rank's weighted gradients with the others' (weight: its share of the batch). */
rb_status rb__fit_dist_gradients(rb_dist *d, rb_params *p, int64_t rows, rb_batcher *b);
/* Sums of an epoch or an evaluation over the ranks: every rank then holds the global ones. */
rb_status rb__fit_dist_reduce(rb_dist *d, double *loss_sum, int64_t *count, metric_acc *acc);

#endif
