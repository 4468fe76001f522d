/* Synchronised BatchNorm: the moments of the global batch, as a differentiable op.
 *
 * Forward: each rank's count, mean and M2 per channel (two passes, in double), gathered and
 * combined in rank order (Chan et al.'s pairwise update), so every rank normalises with the
 * same bits. Backward: with L the mean loss of the global batch and each rank's gradients
 * weighted by its share of rows (rb_dist_average_gradients), rank r's gradient must be
 * dx = (G_mean + 2 G_var (x - mean)) / (n_r n), G = sum over ranks of n_r g_r. */
#include <stdlib.h>
#include <string.h>

#include "dist_impl.h"

enum { AT_DIST = 0 };

static rb_dist *dist_of(const rb_node *node)
{
    return (rb_dist *)(intptr_t)rb_node_attrs(node)->i[AT_DIST];
}

/* Gather n doubles from every rank into all (size * n). */
static void gather(rb_dist *d, double *mine, int n, double *all, const char *what)
{
    MPI_Request req;
    rb__dist_begin(d, what);
    rb__dist_check(d, MPI_Iallgather(mine, n, MPI_DOUBLE, all, n, MPI_DOUBLE, d->comm, &req), what);
    rb__dist_wait(d, 1, &req, what);
    d->stats.bytes += (int64_t)sizeof(double) * n;
}

static double at(const rb_tensor *x, int64_t i)
{
    return rb_tensor_dtype(x) == RB_F64 ? rb_tensor_f64(x)[i] : (double)rb_tensor_f32(x)[i];
}

static rb_status sync_moments_forward(rb_node *node)
{
    const char *what = "synchronised BatchNorm (forward)";
    rb_dist *d = dist_of(node);
    rb_tensor *x = rb_contiguous(rb_node_input(node, 0)), *out = rb_node_output(node);
    if (!x) return rb_last_status();
    int64_t C = rb_tensor_dim(out, 1), R = rb_tensor_size(x) / C;
    double *buf = calloc((size_t)(2 * C + 1) * (size_t)(d->size + 1), sizeof(double));
    if (!buf) return rb_error(RB_ERR_MEMORY, "rb_dist sync_moments: out of memory");
    double *mine = buf, *all = buf + 2 * C + 1, *mean = mine + 1, *m2 = mine + 1 + C;
    mine[0] = (double)R;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++)
            mean[c] += at(x, r * C + c);
    for (int64_t c = 0; c < C; c++)
        mean[c] /= (double)R;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            double e = at(x, r * C + c) - mean[c];
            m2[c] += e * e;
        }
    gather(d, mine, (int)(2 * C + 1), all, what);
    /* Combine in rank order into rank 0's slot. */
    double n = all[0];
    for (int k = 1; k < d->size; k++) {
        const double *o = all + (size_t)k * (size_t)(2 * C + 1);
        double nb = o[0], total = n + nb;
        for (int64_t c = 0; c < C; c++) {
            double delta = o[1 + c] - all[1 + c];
            all[1 + c] += delta * nb / total;
            all[1 + C + c] += o[1 + C + c] + delta * delta * n * nb / total;
        }
        n = total;
    }
    for (int64_t c = 0; c < C; c++) {
        double m = all[1 + c], v = all[1 + C + c] / n;
        if (rb_tensor_dtype(out) == RB_F64) {
            rb_tensor_f64(out)[c] = m;
            rb_tensor_f64(out)[C + c] = v;
        } else {
            rb_tensor_f32(out)[c] = (float)m;
            rb_tensor_f32(out)[C + c] = (float)v;
        }
    }
    free(buf);
    if (rb_node_is_recorded(node)) {
        rb_tensor *counts = rb_tensor_zeros(RB_F64, RB_SHAPE(2));
        if (!counts) return rb_last_status();
        rb_tensor_f64(counts)[0] = (double)R;
        rb_tensor_f64(counts)[1] = n;
        rb_node_save(node, 0, counts);
    }
    return RB_OK;
}

static void sync_moments_backward(rb_grad_ctx *ctx, const rb_node *node, rb_tensor *g)
{
    const char *what = "synchronised BatchNorm (backward)";
    rb_dist *d = dist_of(node);
    rb_tensor *x = rb_contiguous(rb_node_input(node, 0)), *stats = rb_node_output(node);
    rb_tensor *gc = rb_contiguous(g), *counts = rb_node_saved(node, 0);
    rb_tensor *dx =
        x ? rb_tensor_empty(rb_tensor_dtype(x), rb_tensor_ndim(x), rb_tensor_shape(x)) : NULL;
    int64_t C = rb_tensor_dim(stats, 1);
    double *buf = x && gc && dx && counts
                      ? calloc((size_t)(2 * C) * (size_t)(d->size + 1), sizeof(double))
                      : NULL;
    if (!buf) {
        /* Every rank must still take part, or the others would wait for this one. */
        rb_dist_fail(d, "rb_dist sync_moments: out of memory in backward");
        rb_grad_add(ctx, node, 0, NULL);
        return;
    }
    double n_r = rb_tensor_f64(counts)[0], n = rb_tensor_f64(counts)[1];
    double *mine = buf, *all = buf + 2 * C;
    for (int64_t k = 0; k < 2 * C; k++)
        mine[k] = n_r * at(gc, k);
    gather(d, mine, (int)(2 * C), all, what);
    for (int r = 1; r < d->size; r++)
        for (int64_t k = 0; k < 2 * C; k++)
            all[k] += all[(size_t)r * (size_t)(2 * C) + (size_t)k];
    int64_t R = rb_tensor_size(x) / C;
    double scale = 1.0 / (n_r * n);
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) {
            int64_t i = r * C + c;
            double v = (all[c] + 2.0 * all[C + c] * (at(x, i) - at(stats, c))) * scale;
            if (rb_tensor_dtype(dx) == RB_F64)
                rb_tensor_f64(dx)[i] = v;
            else
                rb_tensor_f32(dx)[i] = (float)v;
        }
    free(buf);
    rb_tensor_mark_modified(dx);
    rb_grad_add(ctx, node, 0, dx);
}

static const rb_op_def sync_moments_def = {"dist_sync_moments", 1, sync_moments_forward,
                                           sync_moments_backward};

static rb_tensor *sync_moments(void *ctx, rb_tensor *x)
{
    if (!x) return NULL;
    if (rb_tensor_ndim(x) < 2 || rb_tensor_size(x) == 0)
        return rb_error(RB_ERR_SHAPE, "rb_dist sync_moments: x %s needs rows and channels",
                        rb_tensor_shape_text(x)),
               NULL;
    int64_t C = rb_tensor_dim(x, rb_tensor_ndim(x) - 1);
    rb_attrs attrs = {.i = {[AT_DIST] = (int64_t)(intptr_t)ctx}};
    return rb_op_apply(&sync_moments_def, 1, &x, &attrs, rb_tensor_dtype(x), RB_SHAPE(2, C));
}

int rb_dist_sync_batch_norm(rb_dist *d, rb_model *m)
{
    if (!m) return rb_error(RB_ERR_ARGUMENT, "rb_dist_sync_batch_norm: model is NULL"), -1;
    if (!d) return 0; /* one process: its own statistics are the global ones */
    int changed = 0;
    for (int i = 0; i < rb_model_num_layers(m); i++)
        changed += rb_layer_set_batch_stats(rb_model_layer_at(m, i), sync_moments, d);
    return changed;
}
