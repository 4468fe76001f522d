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
    const void *a, *b;   /* (rows, C); b may be NULL (then only the first sum is wanted) */
    const double *shift; /* per channel, subtracted from a (NULL: none) */
    double *out;         /* blocks x (2 C): sum of a', sum of a' * (b or a') */
    int64_t rows, C;
    bool square; /* second sum of a'^2 instead of a' b */
    rb_dtype dtype;
} sums_plan;

/* Channels-last rows are short when C is small (16 channels: two vectors), and a loop per row
 * then costs more than its work. G consecutive rows (G C >= GROUP_WIDTH values, contiguous) are
 * taken as one wide row: G C accumulators or coefficients repeating every C, the sums folded
 * into C at the end. Which rows group depends only on the block, not on the thread count. */
enum { GROUP_WIDTH = 64 };
static int64_t rows_per_group(int64_t C) { return C >= GROUP_WIDTH ? 1 : (GROUP_WIDTH + C - 1) / C; }

#define RB__INLINE static inline __attribute__((always_inline))

/* The G groups of w accumulators each (group g's value for column c at g w + c), added in
 * double into out1[c], out2[c]. */
#define FOLD_GROUPS(T)                                                                             \
    static void fold_groups_##T(const T *a1, const T *a2, int64_t G, int64_t w, double *out1,     \
                                double *out2)                                                      \
    {                                                                                              \
        for (int64_t c = 0; c < w; c++) {                                                          \
            double t1 = 0, t2 = 0;                                                                 \
            for (int64_t g = 0; g < G; g++) {                                                      \
                t1 += (double)a1[g * w + c];                                                       \
                t2 += (double)a2[g * w + c];                                                       \
            }                                                                                      \
            out1[c] = t1;                                                                          \
            out2[c] = t2;                                                                          \
        }                                                                                          \
    }
FOLD_GROUPS(float)
FOLD_GROUPS(double)

#define BLOCK_SUMS(T)                                                                              \
    RB__INLINE void accumulate_##T(T *restrict s1, T *restrict s2, const T *restrict a,            \
                                   const T *restrict b, const T *restrict shift, int64_t n,        \
                                   bool square)                                                    \
    {                                                                                              \
        if (square)                                                                                \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T v = a[k] - shift[k];                                                             \
                s1[k] += v;                                                                        \
                s2[k] += v * v;                                                                    \
            }                                                                                      \
        else if (b)                                                                                \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T v = a[k] - shift[k];                                                             \
                s1[k] += v;                                                                        \
                s2[k] += v * b[k];                                                                 \
            }                                                                                      \
        else                                                                                       \
            for (int64_t k = 0; k < n; k++)                                                        \
                s1[k] += a[k] - shift[k];                                                          \
    }                                                                                              \
    static void block_sums_##T(void *arg, int64_t begin, int64_t end)                              \
    {                                                                                              \
        const sums_plan *p = arg;                                                                  \
        const T *a = p->a, *b = p->b;                                                              \
        const int64_t C = p->C, G = rows_per_group(C);                                             \
        /* In T within a block of at most ROW_BLOCK rows (vectorised), in double across. */        \
        T s1[256], s2[256], shift[256];                                                            \
        for (int64_t blk = begin; blk < end; blk++) {                                              \
            double *o1 = p->out + blk * 2 * C, *o2 = o1 + C;                                       \
            int64_t r0 = blk * ROW_BLOCK;                                                          \
            int64_t r1 = r0 + ROW_BLOCK < p->rows ? r0 + ROW_BLOCK : p->rows;                      \
            for (int64_t c0 = 0; c0 < C; c0 += 256) {                                              \
                int64_t w = C - c0 < 256 ? C - c0 : 256, gw = G * w; /* G > 1: w = C < 64 */       \
                for (int64_t k = 0; k < gw; k++) {                                                 \
                    s1[k] = s2[k] = 0;                                                             \
                    shift[k] = p->shift ? (T)p->shift[c0 + k % w] : (T)0;                          \
                }                                                                                  \
                int64_t r = r0;                                                                    \
                for (; r + G <= r1; r += G)                                                        \
                    accumulate_##T(s1, s2, a + r * C + c0, b ? b + r * C + c0 : NULL, shift, gw,   \
                                   p->square);                                                     \
                for (; r < r1; r++)                                                                \
                    accumulate_##T(s1, s2, a + r * C + c0, b ? b + r * C + c0 : NULL, shift, w,    \
                                   p->square);                                                     \
                fold_groups_##T(s1, s2, G, w, o1 + c0, o2 + c0);                                   \
            }                                                                                      \
        }                                                                                          \
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
    for (int64_t c = 0; c < p.C; c++)
        sum1[c] = sum2[c] = 0;
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
    for (int64_t c = 0; c < C; c++)
        mean[c] /= (double)R;
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
#define MOMENTS_GRAD(T)                                                                            \
    static void moments_grad_##T(void *arg, int64_t begin, int64_t end)                            \
    {                                                                                              \
        const moments_grad_plan *p = arg;                                                          \
        const T *x = p->x, *st = p->stats, *g = p->g;                                              \
        T *dx = p->dx;                                                                             \
        const int64_t C = p->C;                                                                    \
        const T ir = (T)p->inv_rows;                                                               \
        for (int64_t r = begin; r < end; r++)                                                      \
            for (int64_t c = 0; c < C; c++)                                                        \
                dx[r * C + c] = g[c] * ir + g[C + c] * (T)2 * (x[r * C + c] - st[c]) * ir;         \
    }
MOMENTS_GRAD(float)
MOMENTS_GRAD(double)

void rb__bwd_moments(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0], *stats = n->out;
    int64_t C = channels(x), R = rows_of(x);
    if (rb__grad_create_graph(ctx)) {
        /* Composed of public ops so that an outer tape records it. */
        rb_tensor *gm =
            rb_reshape(rb_slice(g, (int64_t[]){0, 0}, (int64_t[]){1, C}, NULL), RB_SHAPE(C));
        rb_tensor *gv =
            rb_reshape(rb_slice(g, (int64_t[]){1, 0}, (int64_t[]){2, C}, NULL), RB_SHAPE(C));
        rb_tensor *mean =
            rb_reshape(rb_slice(stats, (int64_t[]){0, 0}, (int64_t[]){1, C}, NULL), RB_SHAPE(C));
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

/* ---- batch_norm: y = (x - mean) * inv_std * gamma + beta [then ReLU] ---- */

enum { AT_EPI = 0 };

static bool check_affine(const char *op, rb_tensor *x, rb_tensor *gamma, rb_tensor *beta,
                         double eps)
{
    int64_t C = x->ndim ? channels(x) : 0;
    if (x->ndim < 2 || gamma->ndim != 1 || gamma->shape[0] != C || beta->ndim != 1 ||
        beta->shape[0] != C) {
        rb_error(RB_ERR_SHAPE,
                 "rb_%s: x %s needs gamma (C) and beta (C) with C its last extent; got %s, %s", op,
                 rb__shp(x), rb__shp(gamma), rb__shp(beta));
        return false;
    }
    if (!(eps > 0)) {
        rb_error(RB_ERR_ARGUMENT, "rb_%s: eps %g must be > 0", op, eps);
        return false;
    }
    return rb__check_same_dtype(op, x, gamma) && rb__check_same_dtype(op, x, beta);
}

rb_tensor *rb_batch_norm_ex(rb_tensor *x, rb_tensor *stats, rb_tensor *gamma, rb_tensor *beta,
                            double eps, rb_epilogue epi)
{
    rb_tensor *in[4] = {x, stats, gamma, beta};
    if (!rb__check_inputs("batch_norm", 4, in) || !rb__check_float("batch_norm", x) ||
        !check_affine("batch_norm", x, gamma, beta, eps) ||
        !rb__check_same_dtype("batch_norm", x, stats))
        return NULL;
    if (stats->ndim != 2 || stats->shape[0] != 2 || stats->shape[1] != channels(x))
        return rb__fail(RB_ERR_SHAPE, "rb_batch_norm: stats %s must be (2, %lld)", rb__shp(stats),
                        (long long)channels(x));
    rb_attrs at = {.f = {eps}, .i = {epi}};
    return rb__apply(RB__OP_batch_norm, 4, in, &at, x->dtype, x->ndim, x->shape);
}

rb_tensor *rb_batch_norm(rb_tensor *x, rb_tensor *stats, rb_tensor *gamma, rb_tensor *beta,
                         double eps)
{
    return rb_batch_norm_ex(x, stats, gamma, beta, eps, RB_EPILOGUE_NONE);
}

rb_tensor *rb_batch_norm_train(rb_tensor *x, rb_tensor *gamma, rb_tensor *beta,
                               rb_tensor *moving_mean, rb_tensor *moving_var, double momentum,
                               double eps, rb_epilogue epi)
{
    rb_tensor *in[5] = {x, gamma, beta, moving_mean, moving_var};
    if (!rb__check_inputs("batch_norm_train", 3, in) || !rb__check_float("batch_norm_train", x) ||
        !check_affine("batch_norm_train", x, gamma, beta, eps))
        return NULL;
    if (rows_of(x) == 0) return rb__fail(RB_ERR_EMPTY, "rb_batch_norm_train: empty %s", rb__shp(x));
    int n_in = 3;
    if (moving_mean || moving_var) {
        for (int i = 3; i < 5; i++)
            if (!in[i] || in[i]->ndim != 1 || in[i]->shape[0] != channels(x) ||
                !rb__is_float(in[i]->dtype))
                return rb__fail(
                    RB_ERR_SHAPE,
                    "rb_batch_norm_train: moving mean and variance must both be given as (%lld) float tensors",
                    (long long)channels(x));
        if (!(momentum >= 0 && momentum < 1))
            return rb__fail(RB_ERR_ARGUMENT, "rb_batch_norm_train: momentum %g not in [0, 1)",
                            momentum);
        n_in = 5;
    }
    rb_attrs at = {.f = {eps, momentum}, .i = {epi}};
    return rb__apply(RB__OP_batch_norm_train, n_in, in, &at, x->dtype, x->ndim, x->shape);
}

/* y = x scale + shift per channel, then ReLU when relu. */
typedef struct bn_plan {
    const void *x;
    void *y;
    const double *scale, *shift;
    int64_t C;
    bool relu;
} bn_plan;

#define BN_AFFINE(T)                                                                               \
    RB__INLINE void affine_run_##T(T *restrict y, const T *restrict x, const T *restrict scale,    \
                                   const T *restrict shift, int64_t n, bool relu)                  \
    {                                                                                              \
        if (relu)                                                                                  \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T v = x[k] * scale[k] + shift[k];                                                  \
                y[k] = v > 0 ? v : (T)0;                                                           \
            }                                                                                      \
        else                                                                                       \
            for (int64_t k = 0; k < n; k++)                                                        \
                y[k] = x[k] * scale[k] + shift[k];                                                 \
    }                                                                                              \
    static void bn_affine_##T(void *arg, int64_t begin, int64_t end)                               \
    {                                                                                              \
        const bn_plan *p = arg;                                                                    \
        const T *x = p->x;                                                                         \
        T *y = p->y;                                                                               \
        const int64_t C = p->C, G = rows_per_group(C);                                             \
        T scale[256], shift[256];                                                                  \
        for (int64_t c0 = 0; c0 < C; c0 += 256) {                                                  \
            int64_t w = C - c0 < 256 ? C - c0 : 256, gw = G * w;                                   \
            for (int64_t k = 0; k < gw; k++) {                                                     \
                scale[k] = (T)p->scale[c0 + k % w];                                                \
                shift[k] = (T)p->shift[c0 + k % w];                                                \
            }                                                                                      \
            int64_t r = begin;                                                                     \
            for (; r + G <= end; r += G)                                                           \
                affine_run_##T(y + r * C + c0, x + r * C + c0, scale, shift, gw, p->relu);         \
            for (; r < end; r++)                                                                   \
                affine_run_##T(y + r * C + c0, x + r * C + c0, scale, shift, w, p->relu);          \
        }                                                                                          \
    }
BN_AFFINE(float)
BN_AFFINE(double)

static void affine(const rb_tensor *x, void *y, const double *scale, const double *shift, bool relu)
{
    int64_t C = channels(x);
    bn_plan p = {x->data, y, scale, shift, C, relu};
    rb__parallel_for(rows_of(x), RB__GRAIN / (C + 1) + 1,
                     x->dtype == RB_F32 ? bn_affine_float : bn_affine_double, &p);
}

/* Per-channel mean and variance (double) of stats (2, C). */
static void read_stats(const rb_tensor *stats, int64_t C, double *mean, double *var)
{
    for (int64_t c = 0; c < C; c++) {
        mean[c] = rb__get_flat(stats, c);
        var[c] = rb__get_flat(stats, C + c);
    }
}

/* scale = gamma / sqrt(var + eps), shift = beta - mean scale. */
static void coefficients(const rb_node *n, int gamma_at, const double *mean, const double *var,
                         double *inv_std, double *scale, double *shift)
{
    rb_tensor *gamma = n->in[gamma_at], *beta = n->in[gamma_at + 1];
    for (int64_t c = 0; c < gamma->shape[0]; c++) {
        inv_std[c] = 1.0 / sqrt(var[c] + n->attrs.f[0]);
        scale[c] = rb__get_flat(gamma, c) * inv_std[c];
        shift[c] = rb__get_flat(beta, c) - mean[c] * scale[c];
    }
}

rb_status rb__fwd_batch_norm(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    int64_t C = x ? channels(x) : 0;
    double *b = rb__scratch(sizeof(double) * (size_t)(5 * C + 1));
    if (!x || !b) return rb_last_status();
    read_stats(n->in[1], C, b, b + C);
    coefficients(n, 2, b, b + C, b + 2 * C, b + 3 * C, b + 4 * C);
    affine(x, n->out->data, b + 3 * C, b + 4 * C, n->attrs.i[AT_EPI] == RB_EPILOGUE_RELU);
    return RB_OK;
}

rb_status rb__fwd_batch_norm_train(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    int64_t C = x ? channels(x) : 0, R = x ? rows_of(x) : 0;
    double *b = rb__scratch(sizeof(double) * (size_t)(6 * C + 1));
    if (!x || !b) return rb_last_status();
    double *mean = b, *var = b + C, *junk = b + 5 * C;
    sums_plan p = {x->data, NULL, NULL, NULL, R, C, false, x->dtype};
    if (!channel_sums(p, mean, junk)) return rb_last_status();
    for (int64_t c = 0; c < C; c++)
        mean[c] /= (double)R;
    p.shift = mean;
    p.square = true;
    if (!channel_sums(p, junk, var)) return rb_last_status();
    for (int64_t c = 0; c < C; c++)
        var[c] /= (double)R;
    /* Moving averages follow the batch moments; backward keeps them. */
    if (n->n_in == 5) {
        double m = n->attrs.f[1];
        for (int64_t c = 0; c < C; c++) {
            rb__set_flat(n->in[3], c, m * rb__get_flat(n->in[3], c) + (1 - m) * mean[c]);
            rb__set_flat(n->in[4], c, m * rb__get_flat(n->in[4], c) + (1 - m) * var[c]);
        }
        rb__bump_version(n->in[3]);
        rb__bump_version(n->in[4]);
    }
    rb_tensor *stats =
        n->recorded ? rb__tensor_new(x->dtype, 2, (int64_t[]){2, C}, "batch_norm") : NULL;
    for (int64_t c = 0; stats && c < C; c++) {
        rb__set_flat(stats, c, mean[c]);
        rb__set_flat(stats, C + c, var[c]);
    }
    if (n->recorded && !stats) return rb_last_status();
    rb_node_save(n, 0, stats);
    coefficients(n, 1, mean, var, b + 2 * C, b + 3 * C, b + 4 * C);
    affine(x, n->out->data, b + 3 * C, b + 4 * C, n->attrs.i[AT_EPI] == RB_EPILOGUE_RELU);
    return RB_OK;
}

/* ---- backward ---- */

/* Per row block: sum(gm) and sum(gm (x - mean)) per channel, gm = g masked by y > 0 when a
 * ReLU epilogue ran. */
typedef struct grad_sums_plan {
    const void *g, *x, *y; /* y: NULL without epilogue */
    const double *mean;
    double *out;
    int64_t rows, C;
} grad_sums_plan;

#define GRAD_SUMS(T)                                                                               \
    RB__INLINE void grad_accumulate_##T(T *restrict a1, T *restrict a2, const T *restrict g,       \
                                        const T *restrict x, const T *restrict y,                  \
                                        const T *restrict mean, int64_t n)                         \
    {                                                                                              \
        if (y)                                                                                     \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T gk = g[k], gm = y[k] > 0 ? gk : (T)0;                                            \
                a1[k] += gm;                                                                       \
                a2[k] += gm * (x[k] - mean[k]);                                                    \
            }                                                                                      \
        else                                                                                       \
            for (int64_t k = 0; k < n; k++) {                                                      \
                a1[k] += g[k];                                                                     \
                a2[k] += g[k] * (x[k] - mean[k]);                                                  \
            }                                                                                      \
    }                                                                                              \
    static void grad_sums_##T(void *arg, int64_t begin, int64_t end)                               \
    {                                                                                              \
        const grad_sums_plan *p = arg;                                                             \
        const T *g = p->g, *x = p->x, *y = p->y;                                                   \
        const int64_t C = p->C, G = rows_per_group(C);                                             \
        /* Each block sums its rows in T (vectorised, at most ROW_BLOCK terms), blocks are         \
         * then added in double. */                                                                \
        T a1[256], a2[256], mean[256];                                                             \
        for (int64_t blk = begin; blk < end; blk++) {                                              \
            double *s1 = p->out + blk * 2 * C, *s2 = s1 + C;                                       \
            int64_t r0 = blk * ROW_BLOCK;                                                          \
            int64_t r1 = r0 + ROW_BLOCK < p->rows ? r0 + ROW_BLOCK : p->rows;                      \
            for (int64_t c0 = 0; c0 < C; c0 += 256) {                                              \
                int64_t w = C - c0 < 256 ? C - c0 : 256, gw = G * w;                               \
                for (int64_t k = 0; k < gw; k++) {                                                 \
                    a1[k] = a2[k] = 0;                                                             \
                    mean[k] = (T)p->mean[c0 + k % w];                                              \
                }                                                                                  \
                int64_t r = r0;                                                                    \
                for (; r + G <= r1; r += G)                                                        \
                    grad_accumulate_##T(a1, a2, g + r * C + c0, x + r * C + c0,                    \
                                        y ? y + r * C + c0 : NULL, mean, gw);                      \
                for (; r < r1; r++)                                                                \
                    grad_accumulate_##T(a1, a2, g + r * C + c0, x + r * C + c0,                    \
                                        y ? y + r * C + c0 : NULL, mean, w);                       \
                fold_groups_##T(a1, a2, G, w, s1 + c0, s2 + c0);                                   \
            }                                                                                      \
        }                                                                                          \
    }
GRAD_SUMS(float)
GRAD_SUMS(double)

static bool grad_sums(const rb_tensor *g, const rb_tensor *x, const rb_tensor *y,
                      const double *mean, double *sum_g, double *sum_gdev)
{
    int64_t C = channels(x), R = rows_of(x), blocks = (R + ROW_BLOCK - 1) / ROW_BLOCK;
    grad_sums_plan p = {g->data, x->data, y ? y->data : NULL, mean, NULL, R, C};
    p.out = rb__scratch(sizeof(double) * (size_t)(blocks * 2 * C + 1));
    if (!p.out) return false;
    rb__parallel_for(blocks, 4, x->dtype == RB_F32 ? grad_sums_float : grad_sums_double, &p);
    for (int64_t c = 0; c < C; c++)
        sum_g[c] = sum_gdev[c] = 0;
    for (int64_t blk = 0; blk < blocks; blk++)
        for (int64_t c = 0; c < C; c++) {
            sum_g[c] += p.out[blk * 2 * C + c];
            sum_gdev[c] += p.out[blk * 2 * C + C + c];
        }
    return true;
}

/* dx = gm a + (x - mean) b + d per channel (gm: g masked as above). */
typedef struct dx_plan {
    const void *g, *x, *y;
    void *dx;
    const double *a, *b, *d, *mean;
    int64_t C;
} dx_plan;

#define DX_PASS(T)                                                                                 \
    RB__INLINE void dx_run_##T(T *restrict out, const T *restrict g, const T *restrict x,          \
                               const T *restrict y, const T *restrict a, const T *restrict b,      \
                               const T *restrict d, int64_t n)                                     \
    {                                                                                              \
        if (y)                                                                                     \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T gk = g[k];                                                                       \
                out[k] = (y[k] > 0 ? gk : (T)0) * a[k] + x[k] * b[k] + d[k];                       \
            }                                                                                      \
        else                                                                                       \
            for (int64_t k = 0; k < n; k++)                                                        \
                out[k] = g[k] * a[k] + x[k] * b[k] + d[k];                                         \
    }                                                                                              \
    static void dx_pass_##T(void *arg, int64_t begin, int64_t end)                                 \
    {                                                                                              \
        const dx_plan *p = arg;                                                                    \
        const T *g = p->g, *x = p->x, *y = p->y;                                                   \
        T *dx = p->dx;                                                                             \
        const int64_t C = p->C, G = rows_per_group(C);                                             \
        T a[256], b[256], d[256];                                                                  \
        for (int64_t c0 = 0; c0 < C; c0 += 256) {                                                  \
            int64_t w = C - c0 < 256 ? C - c0 : 256, gw = G * w;                                   \
            /* dx = gm a + (x - mean) b + d = gm a + x b + (d - mean b) */                         \
            for (int64_t k = 0; k < gw; k++) {                                                     \
                int64_t c = c0 + k % w;                                                            \
                a[k] = (T)p->a[c];                                                                 \
                b[k] = (T)p->b[c];                                                                 \
                d[k] = (T)(p->d[c] - p->mean[c] * p->b[c]);                                        \
            }                                                                                      \
            int64_t r = begin;                                                                     \
            for (; r + G <= end; r += G)                                                           \
                dx_run_##T(dx + r * C + c0, g + r * C + c0, x + r * C + c0,                        \
                           y ? y + r * C + c0 : NULL, a, b, d, gw);                                \
            for (; r < end; r++)                                                                   \
                dx_run_##T(dx + r * C + c0, g + r * C + c0, x + r * C + c0,                        \
                           y ? y + r * C + c0 : NULL, a, b, d, w);                                 \
        }                                                                                          \
    }
DX_PASS(float)
DX_PASS(double)

static rb_tensor *dx_pass(const rb_tensor *g, const rb_tensor *x, const rb_tensor *y,
                          const double *a, const double *b, const double *d, const double *mean)
{
    rb_tensor *dx = rb__tensor_new(x->dtype, x->ndim, x->shape, "batch_norm");
    if (!dx) return NULL;
    dx_plan p = {g->data, x->data, y ? y->data : NULL, dx->data, a, b, d, mean, channels(x)};
    rb__parallel_for(rows_of(x), RB__GRAIN / (channels(x) + 1) + 1,
                     x->dtype == RB_F32 ? dx_pass_float : dx_pass_double, &p);
    return dx;
}

static rb_tensor *from_doubles(const rb_tensor *like, int ndim, const int64_t *shape,
                               const double *v)
{
    rb_tensor *t = rb__tensor_new(like->dtype, ndim, shape, "batch_norm");
    if (!t) return NULL;
    for (int64_t i = 0; i < t->size; i++)
        rb__set_flat(t, i, v[i]);
    return t;
}

/* g masked by the ReLU epilogue, with public ops (graph mode). */
static rb_tensor *masked(const rb_node *n, rb_tensor *g)
{
    if (n->attrs.i[AT_EPI] != RB_EPILOGUE_RELU) return g;
    return rb__relu_mask(g, n->out);
}

/* Row c of a (2, C) tensor as (C), with public ops. */
static rb_tensor *stats_row(rb_tensor *stats, int row)
{
    int64_t C = stats->shape[1];
    return rb_reshape(rb_slice(stats, (int64_t[]){row, 0}, (int64_t[]){row + 1, C}, NULL),
                      RB_SHAPE(C));
}

/* Public-op gradients of the affine normalisation, for an outer tape. With batch statistics
 * (train) the mean and variance depend on x too. */
static void backward_graph(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g, bool train)
{
    rb_tensor *x = n->in[0];
    int gi = train ? 1 : 2;
    rb_tensor *gamma = n->in[gi];
    int nd = x->ndim, ax[RB_MAX_DIMS];
    for (int i = 0; i < nd - 1; i++)
        ax[i] = i;
    rb_tensor *stats = train ? rb_moments(x) : n->in[1];
    rb_tensor *mean = stats_row(stats, 0), *var = stats_row(stats, 1);
    rb_tensor *inv = rb_rsqrt(rb_add_scalar(var, n->attrs.f[0]));
    rb_tensor *xhat = rb_mul(rb_sub(x, mean), inv);
    rb_tensor *gm = masked(n, g);
    rb_tensor *dbeta = rb_sum(gm, nd - 1, ax, false);
    rb_tensor *dgamma = rb_sum(rb_mul(gm, xhat), nd - 1, ax, false);
    if (rb_grad_needed(ctx, n, 0)) {
        rb_tensor *direct = rb_mul(gm, rb_mul(gamma, inv));
        if (train) { /* gamma inv / R (R gm - dbeta - xhat dgamma) */
            double r = (double)rows_of(x);
            rb_tensor *corr =
                rb_add(rb_mul_scalar(dbeta, 1.0 / r), rb_mul(xhat, rb_mul_scalar(dgamma, 1.0 / r)));
            direct = rb_mul(rb_sub(gm, corr), rb_mul(gamma, inv));
        }
        rb_grad_add(ctx, n, 0, direct);
    }
    if (!train && rb_grad_needed(ctx, n, 1)) {
        rb_tensor *dmean = rb_neg(rb_mul(rb_mul(gamma, inv), dbeta));
        rb_tensor *dvar = rb_mul(rb_mul_scalar(rb_mul(gamma, rb_square(inv)), -0.5), dgamma);
        rb_grad_add(ctx, n, 1, rb_stack(2, (rb_tensor *[]){dmean, dvar}, 0));
    }
    if (rb_grad_needed(ctx, n, gi)) rb_grad_add(ctx, n, gi, dgamma);
    if (rb_grad_needed(ctx, n, gi + 1)) rb_grad_add(ctx, n, gi + 1, dbeta);
}

/* Fast backward of both forms: two passes over (g, x [, y]). */
static void backward_fast(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g, bool train)
{
    int gi = train ? 1 : 2;
    rb_tensor *x = rb__contiguous(n->in[0]), *gc = rb__contiguous(g);
    rb_tensor *stats = train ? n->saved[0] : n->in[1];
    rb_tensor *y = n->attrs.i[AT_EPI] == RB_EPILOGUE_RELU ? n->out : NULL;
    int64_t C = channels(n->in[0]), R = rows_of(n->in[0]);
    double *b = rb__scratch(sizeof(double) * (size_t)(10 * C + 1));
    if (!x || !gc || !b || !stats) {
        rb_grad_add(ctx, n, 0, NULL);
        return;
    }
    double *mean = b, *var = b + C, *inv = b + 2 * C, *sum_g = b + 3 * C, *sum_gdev = b + 4 * C;
    double *ca = b + 5 * C, *cb = b + 6 * C, *cd = b + 7 * C, *out = b + 8 * C;
    read_stats(stats, C, mean, var);
    if (!grad_sums(gc, x, y, mean, sum_g, sum_gdev)) {
        rb_grad_add(ctx, n, 0, NULL);
        return;
    }
    for (int64_t c = 0; c < C; c++)
        inv[c] = 1.0 / sqrt(var[c] + n->attrs.f[0]);
    if (rb_grad_needed(ctx, n, 0)) {
        for (int64_t c = 0; c < C; c++) {
            double gamma = rb__get_flat(n->in[gi], c);
            ca[c] = gamma * inv[c];
            /* batch statistics: dx = gamma inv (gm - sum_g / R - xhat sum(gm xhat) / R) */
            cb[c] = train ? -gamma * inv[c] * inv[c] * inv[c] * sum_gdev[c] / (double)R : 0.0;
            cd[c] = train ? -gamma * inv[c] * sum_g[c] / (double)R : 0.0;
        }
        rb_grad_add(ctx, n, 0, dx_pass(gc, x, y ? rb__contiguous(y) : NULL, ca, cb, cd, mean));
    }
    if (!train && rb_grad_needed(ctx, n, 1)) {
        for (int64_t c = 0; c < C; c++) {
            double gamma = rb__get_flat(n->in[gi], c);
            ca[c] = -gamma * inv[c] * sum_g[c];                            /* d mean */
            cb[c] = -0.5 * gamma * inv[c] * inv[c] * inv[c] * sum_gdev[c]; /* d var */
        }
        double *pair = rb__scratch(sizeof(double) * (size_t)(2 * C));
        if (pair) {
            memcpy(pair, ca, sizeof(double) * (size_t)C);
            memcpy(pair + C, cb, sizeof(double) * (size_t)C);
        }
        rb_grad_add(ctx, n, 1, pair ? from_doubles(n->in[1], 2, n->in[1]->shape, pair) : NULL);
    }
    if (rb_grad_needed(ctx, n, gi)) {
        for (int64_t c = 0; c < C; c++)
            out[c] = sum_gdev[c] * inv[c];
        rb_grad_add(ctx, n, gi, from_doubles(n->in[gi], 1, &C, out));
    }
    if (rb_grad_needed(ctx, n, gi + 1))
        rb_grad_add(ctx, n, gi + 1, from_doubles(n->in[gi + 1], 1, &C, sum_g));
}

void rb__bwd_batch_norm(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (rb__grad_create_graph(ctx))
        backward_graph(ctx, n, g, false);
    else
        backward_fast(ctx, n, g, false);
}

void rb__bwd_batch_norm_train(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (rb__grad_create_graph(ctx))
        backward_graph(ctx, n, g, true);
    else
        backward_fast(ctx, n, g, true);
}
