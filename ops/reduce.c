/* Reductions over sets of axes: sum, max, min (and mean, var built on them), argmax, argmin.
 * Each output element is reduced in a fixed order, so results never depend on the thread
 * count. */
#include <math.h>
#include <string.h>

#include "op_impl.h"
#include "parallel.h"

typedef enum reduce_kind { R_SUM, R_MAX, R_MIN } reduce_kind;

typedef struct reduce_plan {
    reduce_kind kind;
    rb_dtype dtype;
    const char *x;
    char *out;
    /* kept axes (outputs) and reduced axes (inputs per output), with x's strides */
    int nk, nr;
    int64_t kshape[RB_MAX_DIMS], kstride[RB_MAX_DIMS];
    int64_t rshape[RB_MAX_DIMS], rstride[RB_MAX_DIMS];
    int64_t rcount;
} reduce_plan;

static inline double combine(reduce_kind k, double acc, double v)
{
    switch (k) {
    case R_SUM: return acc + v;
    case R_MAX: return (v > acc || v != v) && acc == acc ? v : acc;
    case R_MIN: return (v < acc || v != v) && acc == acc ? v : acc;
    }
    return acc;
}

/* Reduce one strided row of n elements into acc (double accumulation). */
#define REDUCE_ROW(T)                                                                              \
    static double reduce_row_##T(reduce_kind kind, const T *r, int64_t n, int64_t stride,          \
                                 double acc, bool *first)                                          \
    {                                                                                              \
        if (kind == R_SUM) {                                                                       \
            double s = 0;                                                                          \
            for (int64_t i = 0; i < n; i++)                                                        \
                s += r[i * stride];                                                                \
            return acc + s;                                                                        \
        }                                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            acc = *first ? r[i * stride] : combine(kind, acc, r[i * stride]);                      \
            *first = false;                                                                        \
        }                                                                                          \
        return acc;                                                                                \
    }
REDUCE_ROW(float)
REDUCE_ROW(double)

static double reduce_one(const reduce_plan *p, const char *base)
{
    size_t es = rb_dtype_size(p->dtype);
    double acc = p->kind == R_SUM ? 0.0 : NAN;
    bool first = true;
    int64_t idx[RB_MAX_DIMS] = {0};
    int last = p->nr - 1;
    int64_t inner = p->rshape[last], istride = p->rstride[last];
    for (;;) {
        int64_t off = 0;
        for (int d = 0; d < last; d++)
            off += idx[d] * p->rstride[d];
        const char *row = base + off * (int64_t)es;
        acc = p->dtype == RB_F32
                  ? reduce_row_float(p->kind, (const float *)row, inner, istride, acc, &first)
                  : reduce_row_double(p->kind, (const double *)row, inner, istride, acc, &first);
        int d = last - 1;
        while (d >= 0 && ++idx[d] == p->rshape[d])
            idx[d--] = 0;
        if (d < 0) break;
    }
    return acc;
}

static void reduce_outputs(void *arg, int64_t begin, int64_t end)
{
    const reduce_plan *p = arg;
    size_t es = rb_dtype_size(p->dtype);
    for (int64_t o = begin; o < end; o++) {
        int64_t off = 0, rem = o;
        for (int d = p->nk - 1; d >= 0; d--) {
            off += (rem % p->kshape[d]) * p->kstride[d];
            rem /= p->kshape[d];
        }
        double v = reduce_one(p, p->x + off * (int64_t)es);
        if (p->dtype == RB_F32)
            ((float *)p->out)[o] = (float)v;
        else
            ((double *)p->out)[o] = v;
    }
}

/* Reduction over the leading rows of a contiguous (rows, cols) block into out (cols):
 * vectorises across columns; threads split the columns. Sums accumulate in double, by column
 * blocks, so that long float32 sums keep their precision. */
typedef struct rows_plan {
    reduce_kind kind;
    rb_dtype dtype;
    const void *x;
    void *out;
    int64_t rows, cols;
} rows_plan;

enum { ROW_BLOCK = 256 };

#define ROWS_REDUCE(T)                                                                             \
    static void rows_##T(void *arg, int64_t begin, int64_t end)                                    \
    {                                                                                              \
        const rows_plan *p = arg;                                                                  \
        const T *x = p->x;                                                                         \
        T *o = p->out;                                                                             \
        if (p->kind == R_SUM) {                                                                    \
            double acc[ROW_BLOCK];                                                                 \
            for (int64_t c0 = begin; c0 < end; c0 += ROW_BLOCK) {                                  \
                int64_t w = end - c0 < ROW_BLOCK ? end - c0 : ROW_BLOCK;                           \
                for (int64_t c = 0; c < w; c++)                                                    \
                    acc[c] = 0;                                                                    \
                for (int64_t r = 0; r < p->rows; r++) {                                            \
                    const T *xr = x + r * p->cols + c0;                                            \
                    for (int64_t c = 0; c < w; c++)                                                \
                        acc[c] += (double)xr[c];                                                   \
                }                                                                                  \
                for (int64_t c = 0; c < w; c++)                                                    \
                    o[c0 + c] = (T)acc[c];                                                         \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t c = begin; c < end; c++)                                                      \
            o[c] = x[c];                                                                           \
        for (int64_t r = 1; r < p->rows; r++) {                                                    \
            const T *xr = x + r * p->cols;                                                         \
            if (p->kind == R_MAX)                                                                  \
                for (int64_t c = begin; c < end; c++)                                              \
                    o[c] = (xr[c] > o[c] || xr[c] != xr[c]) && o[c] == o[c] ? xr[c] : o[c];        \
            else                                                                                   \
                for (int64_t c = begin; c < end; c++)                                              \
                    o[c] = (xr[c] < o[c] || xr[c] != xr[c]) && o[c] == o[c] ? xr[c] : o[c];        \
        }                                                                                          \
    }
ROWS_REDUCE(float)
ROWS_REDUCE(double)

/* Sum over a middle block of axes of a contiguous x with a kept contiguous tail (global average
 * pooling: (N, H, W, C) summed over H and W): out[o, c] for `outer` prefixes and `inner` tail
 * values. The generic kernel reads such a sum with a stride of `inner` elements, one output at
 * a time; this one runs along the tail, vectors of outputs at once, in the generic kernel's
 * order (each run of the last reduced axis summed, then the runs added in turn), so the bits
 * are the same. Threads split the prefixes. */
typedef struct middle_plan {
    const void *x;
    void *out;
    int64_t runs, run_len, inner;
    rb_dtype dtype;
} middle_plan;

#define MIDDLE_SUMS(T)                                                                             \
    static void middle_sums_##T(const middle_plan *p, int64_t begin, int64_t end)                \
    {                                                                                              \
        const T *x = p->x;                                                                         \
        T *out = p->out;                                                                           \
        double acc[ROW_BLOCK], s[ROW_BLOCK];                                                       \
        for (int64_t o = begin; o < end; o++)                                                      \
            for (int64_t c0 = 0; c0 < p->inner; c0 += ROW_BLOCK) {                                 \
                int64_t w = p->inner - c0 < ROW_BLOCK ? p->inner - c0 : ROW_BLOCK;                 \
                for (int64_t c = 0; c < w; c++)                                                    \
                    acc[c] = 0;                                                                    \
                for (int64_t r = 0; r < p->runs; r++) {                                            \
                    const T *run = x + (o * p->runs + r) * p->run_len * p->inner + c0;             \
                    for (int64_t c = 0; c < w; c++)                                                \
                        s[c] = 0;                                                                  \
                    for (int64_t j = 0; j < p->run_len; j++)                                       \
                        for (int64_t c = 0; c < w; c++)                                            \
                            s[c] += (double)run[j * p->inner + c];                                 \
                    for (int64_t c = 0; c < w; c++)                                                \
                        acc[c] += s[c];                                                            \
                }                                                                                  \
                for (int64_t c = 0; c < w; c++)                                                    \
                    out[o * p->inner + c0 + c] = (T)acc[c];                                        \
            }                                                                                      \
    }
MIDDLE_SUMS(float)
MIDDLE_SUMS(double)

static void middle_sums(void *arg, int64_t begin, int64_t end)
{
    const middle_plan *p = arg;
    if (p->dtype == RB_F32)
        middle_sums_float(p, begin, end);
    else
        middle_sums_double(p, begin, end);
}

/* Whole-tensor sum of a contiguous block: fixed blocks summed in parallel, then in order. */
enum { FULL_BLOCK = 8192 };

typedef struct full_plan {
    reduce_plan plan;
    double *partial;
    int64_t n;
} full_plan;

static void full_blocks(void *arg, int64_t begin, int64_t end)
{
    const full_plan *f = arg;
    for (int64_t b = begin; b < end; b++) {
        int64_t lo = b * FULL_BLOCK, hi = lo + FULL_BLOCK < f->n ? lo + FULL_BLOCK : f->n;
        double acc = f->plan.kind == R_SUM ? 0.0 : NAN;
        for (int64_t i = lo; i < hi; i++) {
            double v = f->plan.dtype == RB_F32 ? ((const float *)f->plan.x)[i]
                                               : ((const double *)f->plan.x)[i];
            acc = (i == lo && f->plan.kind != R_SUM) ? v : combine(f->plan.kind, acc, v);
        }
        f->partial[b] = acc;
    }
}

static rb_status reduce_kernel(reduce_kind kind, rb_tensor *x, unsigned mask, rb_tensor *out)
{
    reduce_plan p = {.kind = kind, .dtype = x->dtype, .x = x->data, .out = out->data};
    for (int d = 0; d < x->ndim; d++) {
        if (x->shape[d] == 1) continue;
        if (mask & (1u << d)) {
            p.rshape[p.nr] = x->shape[d];
            p.rstride[p.nr++] = x->strides[d];
        } else {
            p.kshape[p.nk] = x->shape[d];
            p.kstride[p.nk++] = x->strides[d];
        }
    }
    int64_t n_out = out->size;
    if (p.nr == 0) { /* only extent-1 axes reduced: the same elements in the same order */
        for (int64_t i = 0; i < x->size; i++)
            rb__set_flat(out, i, rb__get_flat(x, i));
        return RB_OK;
    }
    bool contiguous = (x->flags & RB__CONTIGUOUS) != 0;
    bool leading = true; /* reduced axes come before every kept axis */
    for (int d = 0, seen_kept = 0; d < x->ndim; d++) {
        if (x->shape[d] == 1) continue;
        if (!(mask & (1u << d)))
            seen_kept = 1;
        else if (seen_kept)
            leading = false;
    }
    if (contiguous && p.nk == 0 && x->size > 4 * FULL_BLOCK) {
        full_plan f = {.plan = p, .n = x->size};
        int64_t blocks = (x->size + FULL_BLOCK - 1) / FULL_BLOCK;
        f.partial = rb__scratch(sizeof(double) * (size_t)blocks);
        if (!f.partial) return rb_last_status();
        rb__parallel_for(blocks, 4, full_blocks, &f);
        double acc = f.partial[0];
        for (int64_t b = 1; b < blocks; b++)
            acc = combine(kind, acc, f.partial[b]);
        rb__set_flat(out, 0, acc);
        return RB_OK;
    }
    if (contiguous && leading && p.nk > 0) {
        rows_plan r = {kind, x->dtype, x->data, out->data, x->size / n_out, n_out};
        rb__parallel_for(n_out, RB__GRAIN / (r.rows + 1) + 64,
                         x->dtype == RB_F32 ? rows_float : rows_double, &r);
        return RB_OK;
    }
    /* Reduced axes (of extent above 1) in one block of axes, kept ones before and after it. */
    int first = -1, last = -1;
    bool block = true, kept_after = false;
    for (int d = 0; d < x->ndim; d++) {
        if (x->shape[d] == 1) continue;
        if (!(mask & (1u << d))) {
            kept_after = first >= 0;
            continue;
        }
        if (kept_after) block = false; /* a kept axis between reduced ones */
        if (first < 0) first = d;
        last = d;
    }
    if (kind == R_SUM && contiguous && block && first >= 0 && kept_after) {
        int64_t before = 1, inner = 1;
        for (int d = 0; d < first; d++)
            before *= x->shape[d];
        for (int d = last + 1; d < x->ndim; d++)
            inner *= x->shape[d];
        int64_t count = x->size / (n_out ? n_out : 1), run_len = p.rshape[p.nr - 1];
        middle_plan m = {x->data, out->data, count / run_len, run_len, inner, x->dtype};
        rb__parallel_for(before, RB__GRAIN / (count * inner + 1) + 1, middle_sums, &m);
        return RB_OK;
    }
    p.rcount = x->size / (n_out ? n_out : 1);
    rb__parallel_for(n_out, RB__GRAIN / (p.rcount + 1) + 1, reduce_outputs, &p);
    return RB_OK;
}

/* ---- public reductions ---- */

static rb_tensor *reduce_op(rb__op_id id, rb_tensor *x, int n_axes, const int *axes, bool keepdims)
{
    const char *name = rb__ops[id].name;
    if (!rb__check_inputs(name, 1, &x) || !rb__check_float(name, x)) return NULL;
    unsigned mask;
    if (!rb__axes_mask(name, x->ndim, n_axes, axes, &mask)) return NULL;
    if (id != RB__OP_sum)
        for (int d = 0; d < x->ndim; d++)
            if ((mask & (1u << d)) && x->shape[d] == 0)
                return rb__fail(RB_ERR_EMPTY, "rb_%s: reducing over empty axis %d of %s", name, d,
                                rb__shp(x));
    int64_t shape[RB_MAX_DIMS];
    int nd = rb__reduced_shape(x, mask, keepdims, shape);
    rb_attrs at = {.i = {mask, keepdims}};
    return rb__apply(id, 1, &x, &at, x->dtype, nd, shape);
}

rb_tensor *rb_sum(rb_tensor *x, int n_axes, const int *axes, bool keepdims)
{
    return reduce_op(RB__OP_sum, x, n_axes, axes, keepdims);
}

rb_tensor *rb_max(rb_tensor *x, int n_axes, const int *axes, bool keepdims)
{
    return reduce_op(RB__OP_max, x, n_axes, axes, keepdims);
}

rb_tensor *rb_min(rb_tensor *x, int n_axes, const int *axes, bool keepdims)
{
    return reduce_op(RB__OP_min, x, n_axes, axes, keepdims);
}

/* Number of elements each output of a reduction over these axes combines. */
static int64_t reduced_count(const rb_tensor *x, int n_axes, const int *axes, const char *who,
                             unsigned *mask_out)
{
    unsigned mask;
    if (!rb__axes_mask(who, x->ndim, n_axes, axes, &mask)) return -1;
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask & (1u << d)) count *= x->shape[d];
    if (mask_out) *mask_out = mask;
    return count;
}

rb_tensor *rb_mean(rb_tensor *x, int n_axes, const int *axes, bool keepdims)
{
    if (!rb__check_inputs("mean", 1, &x) || !rb__check_float("mean", x)) return NULL;
    int64_t count = reduced_count(x, n_axes, axes, "mean", NULL);
    if (count < 0) return NULL;
    if (count == 0)
        return rb__fail(RB_ERR_EMPTY, "rb_mean: no elements to average in %s", rb__shp(x));
    return rb_mul_scalar(rb_sum(x, n_axes, axes, keepdims), 1.0 / (double)count);
}

rb_tensor *rb_var(rb_tensor *x, int n_axes, const int *axes, bool keepdims, int correction)
{
    if (!rb__check_inputs("var", 1, &x) || !rb__check_float("var", x)) return NULL;
    int64_t count = reduced_count(x, n_axes, axes, "var", NULL);
    if (count < 0) return NULL;
    if (correction < 0 || count - correction <= 0)
        return rb__fail(
            RB_ERR_ARGUMENT,
            "rb_var: %lld elements with correction %d leave no degrees of freedom (shape %s)",
            (long long)count, correction, rb__shp(x));
    /* Two passes (centre, then square) keep float32 accurate. */
    rb_tensor *centred = rb_sub(x, rb_mean(x, n_axes, axes, true));
    rb_tensor *ss = rb_sum(rb_square(centred), n_axes, axes, keepdims);
    return rb_mul_scalar(ss, 1.0 / (double)(count - correction));
}

static rb_status reduce_forward(rb_node *n, reduce_kind kind)
{
    unsigned mask = (unsigned)n->attrs.i[0];
    if (n->out->size == 0) return RB_OK;
    if (n->in[0]->size == 0) { /* sum over an empty axis */
        rb__fill(n->out, 0.0);
        return RB_OK;
    }
    return reduce_kernel(kind, n->in[0], mask, n->out);
}

rb_status rb__fwd_sum(rb_node *n) { return reduce_forward(n, R_SUM); }
rb_status rb__fwd_max(rb_node *n) { return reduce_forward(n, R_MAX); }
rb_status rb__fwd_min(rb_node *n) { return reduce_forward(n, R_MIN); }

/* g (or any reduced-shape tensor) reshaped with the reduced axes kept as 1, then broadcast. */
static rb_tensor *spread(rb_tensor *g, const rb_tensor *x, unsigned mask)
{
    int64_t keep[RB_MAX_DIMS];
    int nd = rb__reduced_shape(x, mask, true, keep);
    return rb_broadcast_to(rb_reshape(g, nd, keep), x->ndim, x->shape);
}

void rb__bwd_sum(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, spread(g, n->in[0], (unsigned)n->attrs.i[0]));
}

/* Gradient flows to the elements equal to the extreme, split evenly among ties. */
static void extreme_backward(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0];
    unsigned mask = (unsigned)n->attrs.i[0];
    int64_t keep[RB_MAX_DIMS];
    int nd = rb__reduced_shape(x, mask, true, keep);
    rb_tensor *hit = rb_equal(x, rb_reshape(n->out, nd, keep));
    int axes[RB_MAX_DIMS], na = 0;
    for (int d = 0; d < x->ndim; d++)
        if (mask & (1u << d)) axes[na++] = d;
    rb_tensor *ties = rb_sum(hit, na, axes, true);
    rb_tensor *share = rb_div(hit, ties);
    rb_grad_add(ctx, n, 0, rb_mul(spread(g, x, mask), share));
}

void rb__bwd_max(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g) { extreme_backward(ctx, n, g); }
void rb__bwd_min(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g) { extreme_backward(ctx, n, g); }

/* ---- argmax / argmin along one axis ---- */

static rb_tensor *arg_op(rb__op_id id, rb_tensor *x, int axis, bool keepdims)
{
    const char *name = rb__ops[id].name;
    if (!rb__check_inputs(name, 1, &x)) return NULL;
    int a = rb__check_line_axis(name, x, axis);
    if (a < 0) return NULL;
    int64_t shape[RB_MAX_DIMS];
    int nd = rb__reduced_shape(x, 1u << a, keepdims, shape);
    rb_attrs at = {.i = {a}};
    return rb__apply(id, 1, &x, &at, RB_I64, nd, shape);
}

rb_tensor *rb_argmax(rb_tensor *x, int axis, bool keepdims)
{
    return arg_op(RB__OP_argmax, x, axis, keepdims);
}

rb_tensor *rb_argmin(rb_tensor *x, int axis, bool keepdims)
{
    return arg_op(RB__OP_argmin, x, axis, keepdims);
}

static rb_status arg_forward(rb_node *n, bool largest)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    if (!x) return rb_last_status();
    int axis = (int)n->attrs.i[0];
    int64_t len = x->shape[axis], inner = 1;
    for (int d = axis + 1; d < x->ndim; d++)
        inner *= x->shape[d];
    int64_t lines = x->size / len;
    int64_t *out = n->out->data;
    for (int64_t line = 0; line < lines; line++) {
        int64_t o = line / inner, i = line % inner, base = o * len * inner + i, best = 0;
        double bv = rb__get_flat(x, base);
        for (int64_t r = 1; r < len; r++) {
            double v = rb__get_flat(x, base + r * inner);
            if (largest ? v > bv : v < bv) {
                bv = v;
                best = r;
            }
        }
        out[line] = best;
    }
    return RB_OK;
}

rb_status rb__fwd_argmax(rb_node *n) { return arg_forward(n, true); }
rb_status rb__fwd_argmin(rb_node *n) { return arg_forward(n, false); }
