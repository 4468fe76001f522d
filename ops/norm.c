/* Normalisation: per-channel moments and the BatchNorm transform, channels last. Both have
 * single-pass kernels with fused backward kernels; under an outer tape their backward rules
 * fall back to public ops so that second derivatives still work. */
#include <math.h>
#include <string.h>

#include "op_impl.h"
#include "parallel.h"

/* x viewed as (rows, C). */
static int64_t channels(const rb_tensor *x) { return x->shape[x->ndim - 1]; }
static int64_t rows_of(const rb_tensor *x) { return channels(x) ? x->size / channels(x) : 0; }

/* Rows are summed in fixed blocks, each by one thread, then blocks in order: the result does
 * not depend on the thread count. */
enum { ROW_BLOCK = 256 };

typedef struct sums_plan {
    const void *a, *b; /* (rows, C); b may be NULL (then only the first sum is wanted) */
    const double *shift; /* per channel, subtracted from a (NULL: none) */
    double *out;         /* blocks x (2 C): sum of a', sum of a' * (b or a') */
    int64_t rows, C;
    bool square; /* second sum of a'^2 instead of a' b */
    rb_dtype dtype;
} sums_plan;

#define BLOCK_SUMS(T)                                                                          \
    static void block_sums_##T(void *arg, int64_t begin, int64_t end)                          \
    {                                                                                          \
        const sums_plan *p = arg;                                                              \
        const T *a = p->a, *b = p->b;                                                          \
        const int64_t C = p->C;                                                                \
        for (int64_t blk = begin; blk < end; blk++) {                                          \
            double *s1 = p->out + blk * 2 * C, *s2 = s1 + C;                                   \
            for (int64_t c = 0; c < C; c++) s1[c] = s2[c] = 0;                                 \
            int64_t r1 = (blk + 1) * ROW_BLOCK < p->rows ? (blk + 1) * ROW_BLOCK : p->rows;    \
            for (int64_t r = blk * ROW_BLOCK; r < r1; r++) {                                   \
                const T *ar = a + r * C, *br = b ? b + r * C : NULL;                           \
                for (int64_t c = 0; c < C; c++) {                                              \
                    double v = (double)ar[c] - (p->shift ? p->shift[c] : 0.0);                 \
                    s1[c] += v;                                                                \
                    s2[c] += p->square ? v * v : (br ? v * (double)br[c] : 0.0);              \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }
BLOCK_SUMS(float)
BLOCK_SUMS(double)

/* Per-channel sums into sum1, sum2 (C each, double). */
static bool channel_sums(sums_plan p, double *sum1, double *sum2)
{
    int64_t blocks = (p.rows + ROW_BLOCK - 1) / ROW_BLOCK;
    p.out = rb__scratch(sizeof(double) * (size_t)(blocks * 2 * p.C + 1));
    if (!p.out) return false;
    rb__parallel_for(blocks, 4, p.dtype == RB_F32 ? block_sums_float : block_sums_double, &p);
    for (int64_t c = 0; c < p.C; c++) sum1[c] = sum2[c] = 0;
    for (int64_t blk = 0; blk < blocks; blk++)
        for (int64_t c = 0; c < p.C; c++) {
            sum1[c] += p.out[blk * 2 * p.C + c];
            sum2[c] += p.out[blk * 2 * p.C + p.C + c];
        }
    return true;
}

/* ---- moments ---- */

rb_tensor *rb_moments(rb_tensor *x)
{
    if (!rb__check_inputs("moments", 1, &x) || !rb__check_float("moments", x)) return NULL;
    if (x->ndim < 2 || rows_of(x) == 0)
        return rb__fail(RB_ERR_EMPTY, "rb_moments: needs rows and channels, got %s", rb__shp(x));
    int64_t shape[2] = {2, channels(x)};
    return rb__apply(RB__OP_moments, 1, &x, NULL, x->dtype, 2, shape);
}

rb_status rb__fwd_moments(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    if (!x) return rb_last_status();
    int64_t C = channels(x), R = rows_of(x);
    double *mean = rb__scratch(sizeof(double) * (size_t)(4 * C)), *tmp = mean + C;
    double *var = mean + 2 * C, *unused = mean + 3 * C;
    if (!mean) return rb_last_status();
    /* Two passes (mean, then squared deviations): accurate even when |mean| >> std. */
    sums_plan p = {x->data, NULL, NULL, NULL, R, C, false, x->dtype};
    if (!channel_sums(p, mean, unused)) return rb_last_status();
    for (int64_t c = 0; c < C; c++) mean[c] /= (double)R;
    p.shift = mean;
    p.square = true;
    if (!channel_sums(p, tmp, var)) return rb_last_status();
    for (int64_t c = 0; c < C; c++) {
        rb__set_flat(n->out, c, mean[c]);
        rb__set_flat(n->out, C + c, var[c] / (double)R);
    }
    return RB_OK;
}

typedef struct moments_grad_plan {
    const void *x, *stats, *g;
    void *dx;
    int64_t C;
    double inv_rows;
} moments_grad_plan;

/* dx = g_mean / R + g_var * 2 (x - mean) / R */
#define MOMENTS_GRAD(T)                                                                        \
    static void moments_grad_##T(void *arg, int64_t begin, int64_t end)                        \
    {                                                                                          \
        const moments_grad_plan *p = arg;                                                      \
        const T *x = p->x, *st = p->stats, *g = p->g;                                          \
        T *dx = p->dx;                                                                         \
        const int64_t C = p->C;                                                                \
        const T ir = (T)p->inv_rows;                                                           \
        for (int64_t r = begin; r < end; r++)                                                  \
            for (int64_t c = 0; c < C; c++)                                                    \
                dx[r * C + c] = g[c] * ir + g[C + c] * (T)2 * (x[r * C + c] - st[c]) * ir;     \
    }
MOMENTS_GRAD(float)
MOMENTS_GRAD(double)

void rb__bwd_moments(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0], *stats = n->out;
    int64_t C = channels(x), R = rows_of(x);
    if (rb__grad_create_graph(ctx)) {
        /* Composed of public ops so that an outer tape records it. */
        rb_tensor *gm = rb_reshape(rb_slice(g, (int64_t[]){0, 0}, (int64_t[]){1, C}, NULL),
                                   RB_SHAPE(C));
        rb_tensor *gv = rb_reshape(rb_slice(g, (int64_t[]){1, 0}, (int64_t[]){2, C}, NULL),
                                   RB_SHAPE(C));
        rb_tensor *mean = rb_reshape(rb_slice(stats, (int64_t[]){0, 0}, (int64_t[]){1, C}, NULL),
                                     RB_SHAPE(C));
        rb_tensor *dev = rb_mul(rb_sub(x, mean), rb_mul_scalar(gv, 2.0 / (double)R));
        rb_grad_add(ctx, n, 0, rb_add(dev, rb_mul_scalar(gm, 1.0 / (double)R)));
        return;
    }
    rb_tensor *xc = rb__contiguous(x), *gc = rb__contiguous(g);
    rb_tensor *dx = rb__tensor_new(x->dtype, x->ndim, x->shape, "moments");
    if (!xc || !gc || !dx) {
        rb_grad_add(ctx, n, 0, NULL);
        return;
    }
    moments_grad_plan p = {xc->data, stats->data, gc->data, dx->data, C, 1.0 / (double)R};
    rb__parallel_for(R, RB__GRAIN / (C + 1) + 1,
                     x->dtype == RB_F32 ? moments_grad_float : moments_grad_double, &p);
    rb_grad_add(ctx, n, 0, dx);
}

/* ---- batch_norm: y = (x - mean) * inv_std * gamma + beta ---- */

rb_tensor *rb_batch_norm(rb_tensor *x, rb_tensor *stats, rb_tensor *gamma, rb_tensor *beta,
                         double eps)
{
    rb_tensor *in[4] = {x, stats, gamma, beta};
    if (!rb__check_inputs("batch_norm", 4, in) || !rb__check_float("batch_norm", x)) return NULL;
    for (int i = 1; i < 4; i++)
        if (!rb__check_same_dtype("batch_norm", x, in[i])) return NULL;
    int64_t C = x->ndim ? channels(x) : 0;
    if (x->ndim < 2 || stats->ndim != 2 || stats->shape[0] != 2 || stats->shape[1] != C ||
        gamma->ndim != 1 || gamma->shape[0] != C || beta->ndim != 1 || beta->shape[0] != C)
        return rb__fail(RB_ERR_SHAPE, "rb_batch_norm: x %s needs stats (2, C), gamma (C), beta "
                                      "(C) with C its last extent; got %s, %s, %s",
                        rb__shp(x), rb__shp(stats), rb__shp(gamma), rb__shp(beta));
    if (!(eps > 0)) return rb__fail(RB_ERR_ARGUMENT, "rb_batch_norm: eps %g must be > 0", eps);
    rb_attrs at = {.f = {eps}};
    return rb__apply(RB__OP_batch_norm, 4, in, &at, x->dtype, x->ndim, x->shape);
}

typedef struct bn_plan {
    const void *x, *g;
    void *y;
    const double *scale, *shift; /* y = x scale + shift, per channel */
    int64_t C;
} bn_plan;

#define BN_AFFINE(T)                                                                           \
    static void bn_affine_##T(void *arg, int64_t begin, int64_t end)                           \
    {                                                                                          \
        const bn_plan *p = arg;                                                                \
        const T *x = p->x;                                                                     \
        T *y = p->y;                                                                           \
        const int64_t C = p->C;                                                                \
        T scale[256], shift[256];                                                              \
        for (int64_t c0 = 0; c0 < C; c0 += 256) {                                              \
            int64_t w = C - c0 < 256 ? C - c0 : 256;                                           \
            for (int64_t c = 0; c < w; c++) {                                                  \
                scale[c] = (T)p->scale[c0 + c];                                                \
                shift[c] = (T)p->shift[c0 + c];                                                \
            }                                                                                  \
            for (int64_t r = begin; r < end; r++) {                                            \
                const T *xr = x + r * C + c0;                                                  \
                T *yr = y + r * C + c0;                                                        \
                for (int64_t c = 0; c < w; c++) yr[c] = xr[c] * scale[c] + shift[c];           \
            }                                                                                  \
        }                                                                                      \
    }
BN_AFFINE(float)
BN_AFFINE(double)

/* inv_std, gamma and mean as doubles (C each). */
static bool bn_coefficients(const rb_node *n, double *inv_std, double *gamma, double *mean)
{
    rb_tensor *stats = n->in[1];
    int64_t C = stats->shape[1];
    for (int64_t c = 0; c < C; c++) {
        mean[c] = rb__get_flat(stats, c);
        inv_std[c] = 1.0 / sqrt(rb__get_flat(stats, C + c) + n->attrs.f[0]);
        gamma[c] = rb__get_flat(n->in[2], c);
    }
    return true;
}

rb_status rb__fwd_batch_norm(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    if (!x) return rb_last_status();
    int64_t C = channels(x);
    double *buf = rb__scratch(sizeof(double) * (size_t)(5 * C));
    if (!buf) return rb_last_status();
    double *inv_std = buf, *gamma = buf + C, *mean = buf + 2 * C, *scale = buf + 3 * C,
           *shift = buf + 4 * C;
    bn_coefficients(n, inv_std, gamma, mean);
    for (int64_t c = 0; c < C; c++) {
        scale[c] = inv_std[c] * gamma[c];
        shift[c] = rb__get_flat(n->in[3], c) - mean[c] * scale[c];
    }
    bn_plan p = {x->data, NULL, n->out->data, scale, shift, C};
    rb__parallel_for(rows_of(x), RB__GRAIN / (C + 1) + 1,
                     x->dtype == RB_F32 ? bn_affine_float : bn_affine_double, &p);
    return RB_OK;
}

/* A (C) or (2, C) tensor of doubles, in the dtype of like. */
static rb_tensor *from_doubles(const rb_tensor *like, int ndim, const int64_t *shape,
                               const double *v)
{
    rb_tensor *t = rb__tensor_new(like->dtype, ndim, shape, "batch_norm");
    if (!t) return NULL;
    for (int64_t i = 0; i < t->size; i++) rb__set_flat(t, i, v[i]);
    return t;
}

/* The same gradients with public ops, for an outer tape. */
static void bn_backward_graph(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0], *stats = n->in[1], *gamma = n->in[2];
    int64_t C = channels(x), nd = x->ndim;
    int ax[RB_MAX_DIMS];
    for (int i = 0; i < nd - 1; i++) ax[i] = i;
    rb_tensor *mean = rb_reshape(rb_slice(stats, (int64_t[]){0, 0}, (int64_t[]){1, C}, NULL),
                                 RB_SHAPE(C));
    rb_tensor *var = rb_reshape(rb_slice(stats, (int64_t[]){1, 0}, (int64_t[]){2, C}, NULL),
                                RB_SHAPE(C));
    rb_tensor *inv = rb_rsqrt(rb_add_scalar(var, n->attrs.f[0]));
    rb_tensor *xhat = rb_mul(rb_sub(x, mean), inv);
    rb_tensor *g_xhat = rb_sum(rb_mul(g, xhat), (int)nd - 1, ax, false);
    rb_tensor *g_sum = rb_sum(g, (int)nd - 1, ax, false);
    if (rb_grad_needed(ctx, n, 0)) rb_grad_add(ctx, n, 0, rb_mul(g, rb_mul(gamma, inv)));
    if (rb_grad_needed(ctx, n, 1)) {
        rb_tensor *dmean = rb_neg(rb_mul(rb_mul(gamma, inv), g_sum));
        rb_tensor *dvar = rb_mul(rb_mul_scalar(rb_mul(gamma, rb_square(inv)), -0.5), g_xhat);
        rb_grad_add(ctx, n, 1, rb_stack(2, (rb_tensor *[]){dmean, dvar}, 0));
    }
    if (rb_grad_needed(ctx, n, 2)) rb_grad_add(ctx, n, 2, g_xhat);
    if (rb_grad_needed(ctx, n, 3)) rb_grad_add(ctx, n, 3, g_sum);
}

void rb__bwd_batch_norm(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (rb__grad_create_graph(ctx)) {
        bn_backward_graph(ctx, n, g);
        return;
    }
    rb_tensor *x = rb__contiguous(n->in[0]), *gc = rb__contiguous(g);
    int64_t C = channels(n->in[0]), R = rows_of(n->in[0]);
    double *buf = rb__scratch(sizeof(double) * (size_t)(8 * C));
    if (!x || !gc || !buf) {
        rb_grad_add(ctx, n, 0, NULL);
        return;
    }
    double *inv_std = buf, *gamma = buf + C, *mean = buf + 2 * C, *g_sum = buf + 3 * C,
           *g_dev = buf + 4 * C, *scale = buf + 5 * C, *zero = buf + 6 * C, *pair = buf + 7 * C;
    bn_coefficients(n, inv_std, gamma, mean);
    /* One pass: per channel sum(g) and sum(g (x - mean)). */
    sums_plan sp = {gc->data, x->data, NULL, NULL, R, C, false, x->dtype};
    /* sum(g * x) - mean sum(g) = sum(g (x - mean)) */
    if (!channel_sums(sp, g_sum, g_dev)) {
        rb_grad_add(ctx, n, 0, NULL);
        return;
    }
    for (int64_t c = 0; c < C; c++) g_dev[c] -= mean[c] * g_sum[c];
    if (rb_grad_needed(ctx, n, 0)) {
        for (int64_t c = 0; c < C; c++) {
            scale[c] = gamma[c] * inv_std[c];
            zero[c] = 0;
        }
        rb_tensor *dx = rb__tensor_new(x->dtype, x->ndim, x->shape, "batch_norm");
        if (dx) {
            bn_plan p = {gc->data, NULL, dx->data, scale, zero, C};
            rb__parallel_for(R, RB__GRAIN / (C + 1) + 1,
                             x->dtype == RB_F32 ? bn_affine_float : bn_affine_double, &p);
        }
        rb_grad_add(ctx, n, 0, dx);
    }
    if (rb_grad_needed(ctx, n, 1)) {
        double *d = rb__scratch(sizeof(double) * (size_t)(2 * C));
        for (int64_t c = 0; c < C && d; c++) {
            d[c] = -gamma[c] * inv_std[c] * g_sum[c];
            d[C + c] = -0.5 * gamma[c] * inv_std[c] * inv_std[c] * inv_std[c] * g_dev[c];
        }
        rb_grad_add(ctx, n, 1, d ? from_doubles(n->in[1], 2, n->in[1]->shape, d) : NULL);
    }
    if (rb_grad_needed(ctx, n, 2)) {
        for (int64_t c = 0; c < C; c++) pair[c] = g_dev[c] * inv_std[c];
        rb_grad_add(ctx, n, 2, from_doubles(n->in[2], 1, &C, pair));
    }
    if (rb_grad_needed(ctx, n, 3)) rb_grad_add(ctx, n, 3, from_doubles(n->in[3], 1, &C, g_sum));
}
