/* rb_fit across ranks: sharding, the start-up broadcast, gradient and metric sums. Public API
 * only (ruban/dist.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fit_dist.h"

/* Ranks given other data would run other numbers of steps and wait for each other in
 * different collectives: refuse them on every rank, naming the first that differs. */
static rb_status check_same_data(rb_dist *d, rb_batcher *b, const rb_dataset *validation)
{
    enum { K = 2 };
    int size = rb_dist_size(d), rank = rb_dist_rank(d);
    double *v = calloc((size_t)size * K, sizeof *v);
    if (!v) return rb_error(RB_ERR_MEMORY, "rb_fit: out of memory");
    v[rank * K] = (double)rb_batcher_num_batches(b);
    v[rank * K + 1] = (double)(validation ? rb_dataset_rows(validation) : 0);
    rb_status st = rb_dist_sum(d, v, size * K);
    for (int r = 1; st == RB_OK && r < size; r++)
        if (memcmp(v + (size_t)r * K, v, sizeof *v * K) != 0)
            st = rb_error(RB_ERR_ARGUMENT, "rb_fit: rank %d has %.0f batches per epoch and %.0f validation rows, rank 0 %.0f and %.0f: every rank needs the same data and settings",
                          r, v[r * K], v[r * K + 1], v[0], v[1]);
    free(v);
    return st;
}

rb_status rb__fit_dist_begin(rb_dist *d, rb_trainable t, rb_optimizer *opt, rb_batcher *b,
                             const rb_dataset *validation, rb_dataset *shard)
{
    if (!d) return RB_OK;
    int rank = rb_dist_rank(d), size = rb_dist_size(d);
    if (check_same_data(d, b, validation) != RB_OK) return rb_last_status();
    if (rb_batcher_shard(b, rank, size) != RB_OK ||
        rb_dist_broadcast_params(d, t.params, opt) != RB_OK)
        return rb_last_status();
    if (!validation) return RB_OK;
    /* Each rank evaluates a contiguous slice of the rows; the sums are added after. */
    int64_t n = rb_dataset_rows(validation), lo = n * rank / size, hi = n * (rank + 1) / size;
    if (n < size)
        return rb_error(RB_ERR_ARGUMENT, "rb_fit: %lld validation rows for %d ranks", (long long)n,
                        size);
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)(hi - lo));
    if (!rows) return rb_error(RB_ERR_MEMORY, "rb_fit: out of memory");
    for (int64_t i = lo; i < hi; i++)
        rows[i - lo] = i;
    rb_status st = rb_dataset_take(validation, rows, hi - lo, shard);
    free(rows);
    return st;
}

rb_status rb__fit_dist_gradients(rb_dist *d, rb_params *p, int64_t rows, rb_batcher *b)
{
    if (!d) return RB_OK;
    return rb_dist_average_gradients(d, p, (double)rows / (double)rb_batcher_batch_rows(b));
}

/* R^2's target sums are kept around a shift (the first target seen), which differs between
 * ranks: move every rank's to rank 0's before adding. */
static rb_status common_shift(rb_dist *d, metric_acc *a)
{
    double s0 = rb_dist_rank(d) == 0 ? a->shift : 0;
    if (rb_dist_sum(d, &s0, 1) != RB_OK) return rb_last_status();
    double delta = a->shift - s0;
    a->yy_sum += 2 * delta * a->y_sum + a->values * delta * delta;
    a->y_sum += a->values * delta;
    a->shift = s0;
    return RB_OK;
}

rb_status rb__fit_dist_reduce(rb_dist *d, double *loss_sum, int64_t *count, metric_acc *acc)
{
    if (!d) return RB_OK;
    if (acc->metric == RB_METRIC_R2 && common_shift(d, acc) != RB_OK) return rb_last_status();
    double v[10] = {*loss_sum,  (double)*count, acc->hits,   acc->abs_sum,         acc->sq_sum,
                    acc->y_sum, acc->yy_sum,    acc->values, acc->invalid ? 1 : 0, acc->samples};
    if (rb_dist_sum(d, v, 10) != RB_OK) return rb_last_status();
    *loss_sum = v[0];
    *count = (int64_t)v[1];
    acc->hits = v[2];
    acc->abs_sum = v[3];
    acc->sq_sum = v[4];
    acc->y_sum = v[5];
    acc->yy_sum = v[6];
    acc->values = v[7];
    acc->invalid = v[8] > 0;
    acc->samples = v[9];
    return RB_OK;
}
