/* Indexing: slice (a view) and its scatter, concat, stack, pad, gather and its scatter,
 * one_hot. */
#include <string.h>

#include "op_impl.h"
#include "parallel.h"

/* Attribute layout shared by slice and slice_scatter. */
enum { AT_START = 0, AT_STEP = 8, AT_FULL = 16, AT_NDIM = 24 };

rb_tensor *rb_slice(rb_tensor *x, const int64_t *start, const int64_t *stop, const int64_t *step)
{
    if (!rb__check_inputs("slice", 1, &x)) return NULL;
    if (x->ndim > 0 && (!start || !stop))
        return rb__fail(RB_ERR_ARGUMENT, "rb_slice: start and stop are required");
    rb_attrs at = {0};
    int64_t shape[RB_MAX_DIMS], strides[RB_MAX_DIMS], offset = 0;
    for (int d = 0; d < x->ndim; d++) {
        int64_t n = x->shape[d], st = step ? step[d] : 1;
        if (st <= 0)
            return rb__fail(RB_ERR_ARGUMENT, "rb_slice: step %lld on axis %d must be positive",
                            (long long)st, d);
        /* Python semantics: negative bounds count from the end, then clip to [0, n]. */
        int64_t b = start[d] < 0 ? start[d] + n : start[d];
        int64_t e = stop[d] < 0 ? stop[d] + n : stop[d];
        b = b < 0 ? 0 : (b > n ? n : b);
        e = e < 0 ? 0 : (e > n ? n : e);
        /* A step past the extent selects one element, as a step of n does: stored so, the
         * sizes and strides computed from it stay in range (INT64_MAX wrapped). */
        if (st > n) st = n > 0 ? n : 1;
        shape[d] = e > b ? (e - b + st - 1) / st : 0;
        strides[d] = x->strides[d] * st;
        offset += b * x->strides[d];
        at.i[AT_START + d] = b;
        at.i[AT_STEP + d] = st;
        at.i[AT_FULL + d] = n;
    }
    at.i[AT_NDIM] = x->ndim;
    return rb__view_op(RB__OP_slice, x, &at, x->ndim, shape, strides, offset);
}

rb_status rb__fwd_slice(rb_node *n)
{
    (void)n; /* a view */
    return RB_OK;
}

/* Zeros of the sliced tensor's full shape with g written into the slice. */
static rb_tensor *slice_scatter(rb_tensor *g, const rb_attrs *at)
{
    if (!g) return NULL;
    return rb__apply(RB__OP_slice_scatter, 1, &g, at, g->dtype, (int)at->i[AT_NDIM],
                     &at->i[AT_FULL]);
}

void rb__bwd_slice(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (rb__grad_create_graph(ctx)) {
        rb_grad_add(ctx, n, 0, slice_scatter(g, &n->attrs));
        return;
    }
    /* First order: add into the sliced region only (no full-size zero tensor per slice). */
    const rb_attrs *at = &n->attrs;
    int64_t start[RB_MAX_DIMS], step[RB_MAX_DIMS];
    for (int d = 0; d < n->in[0]->ndim; d++) {
        start[d] = at->i[AT_START + d];
        step[d] = at->i[AT_STEP + d];
    }
    rb__grad_add_region(ctx, n, 0, g, start, step);
}

/* The view of `full` selected by the slice attributes. */
static rb_tensor slice_view(const rb_tensor *full, const rb_attrs *at)
{
    rb_tensor v = *full;
    int64_t offset = 0;
    for (int d = 0; d < full->ndim; d++) {
        offset += at->i[AT_START + d] * full->strides[d];
        v.strides[d] = full->strides[d] * at->i[AT_STEP + d];
    }
    v.data = (char *)full->data + offset * (int64_t)rb_dtype_size(full->dtype);
    return v;
}

rb_status rb__fwd_slice_scatter(rb_node *n)
{
    rb_tensor *g = n->in[0], *out = n->out;
    rb__fill(out, 0.0);
    rb_tensor v = slice_view(out, &n->attrs);
    memcpy(v.shape, g->shape, sizeof v.shape);
    rb__copy_strided(&v, g);
    return RB_OK;
}

void rb__bwd_slice_scatter(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gg)
{
    const rb_attrs *at = &n->attrs;
    int64_t start[RB_MAX_DIMS], stop[RB_MAX_DIMS];
    for (int d = 0; d < (int)at->i[AT_NDIM]; d++) {
        start[d] = at->i[AT_START + d];
        stop[d] = start[d] + n->in[0]->shape[d] * at->i[AT_STEP + d];
        if (stop[d] > at->i[AT_FULL + d]) stop[d] = at->i[AT_FULL + d];
    }
    rb_grad_add(ctx, n, 0, rb_contiguous(rb_slice(gg, start, stop, &at->i[AT_STEP])));
}

/* ---- concat and stack ---- */

rb_tensor *rb_concat(int n, rb_tensor *const *xs, int axis)
{
    if (n < 1 || !xs) return rb__fail(RB_ERR_ARGUMENT, "rb_concat: needs at least one tensor");
    if (!rb__check_inputs("concat", n, xs)) return NULL;
    rb_tensor *x0 = xs[0];
    if (x0->ndim == 0)
        return rb__fail(RB_ERR_SHAPE, "rb_concat: cannot join scalars (use rb_stack)");
    int a = rb__norm_axis("concat", x0->ndim, axis);
    if (a < 0) return NULL;
    int64_t shape[RB_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[a] = 0;
    for (int i = 0; i < n; i++) {
        rb_tensor *x = xs[i];
        if (!rb__check_same_dtype("concat", x0, x)) return NULL;
        bool ok = x->ndim == x0->ndim;
        for (int d = 0; ok && d < x0->ndim; d++)
            ok = d == a || x->shape[d] == x0->shape[d];
        if (!ok)
            return rb__fail(
                RB_ERR_SHAPE,
                "rb_concat: tensor %d has shape %s, tensor 0 has %s (they may differ only on axis %d)",
                i, rb__shp(x), rb__shp(x0), a);
        if (x->shape[a] > RB_MAX_BYTES - shape[a]) /* views can be huge; the sum must not wrap */
            return rb__fail(RB_ERR_SHAPE, "rb_concat: the %d tensors' axis %d adds up to too much",
                            n, a);
        shape[a] += x->shape[a];
    }
    rb_attrs at = {.i = {a}};
    return rb__apply(RB__OP_concat, n, xs, &at, x0->dtype, x0->ndim, shape);
}

rb_status rb__fwd_concat(rb_node *n)
{
    int a = (int)n->attrs.i[0];
    rb_tensor *out = n->out;
    int64_t offset = 0;
    for (int i = 0; i < n->n_in; i++) {
        rb_tensor *x = n->in[i];
        rb_tensor v = *out;
        memcpy(v.shape, x->shape, sizeof v.shape);
        v.data = (char *)out->data + offset * out->strides[a] * (int64_t)rb_dtype_size(out->dtype);
        rb__copy_strided(&v, x);
        offset += x->shape[a];
    }
    return RB_OK;
}

void rb__bwd_concat(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    int a = (int)n->attrs.i[0];
    int64_t start[RB_MAX_DIMS] = {0}, stop[RB_MAX_DIMS];
    memcpy(stop, g->shape, sizeof stop);
    int64_t offset = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t len = n->in[i]->shape[a];
        if (rb_grad_needed(ctx, n, i)) {
            start[a] = offset;
            stop[a] = offset + len;
            rb_grad_add(ctx, n, i, rb_contiguous(rb_slice(g, start, stop, NULL)));
        }
        offset += len;
    }
}

rb_tensor *rb_stack(int n, rb_tensor *const *xs, int axis)
{
    if (n < 1 || !xs) return rb__fail(RB_ERR_ARGUMENT, "rb_stack: needs at least one tensor");
    if (!rb__check_inputs("stack", n, xs)) return NULL;
    for (int i = 1; i < n; i++)
        if (!rb_tensor_same_shape(xs[i], xs[0]))
            return rb__fail(RB_ERR_SHAPE, "rb_stack: tensor %d has shape %s, tensor 0 has %s", i,
                            rb__shp(xs[i]), rb__shp(xs[0]));
    /* Any number of tensors (a sequence's steps): the list of views in scratch memory, given
     * back once concat has read it. */
    rb__arena *scratch = rb__scratch_arena();
    if (!scratch) return NULL;
    rb__arena_mark mark = rb__arena_get_mark(scratch);
    rb_tensor **expanded = rb__scratch(sizeof *expanded * (size_t)n);
    rb_tensor *y = NULL;
    if (expanded) {
        for (int i = 0; i < n; i++)
            expanded[i] = rb_expand_dims(xs[i], axis);
        y = rb_concat(n, expanded, axis);
    }
    rb__arena_release(scratch, mark);
    return y;
}

/* ---- pad ---- */

rb_tensor *rb_pad(rb_tensor *x, const int64_t *before, const int64_t *after, double value)
{
    if (!rb__check_inputs("pad", 1, &x)) return NULL;
    if (x->ndim > 0 && (!before || !after))
        return rb__fail(RB_ERR_ARGUMENT, "rb_pad: before and after are required");
    if (!rb__value_fits(x->dtype, value, "rb_pad")) return NULL; /* -1 has no uint8 */
    rb_attrs at = {.f = {value}};
    int64_t shape[RB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (before[d] < 0 || after[d] < 0)
            return rb__fail(RB_ERR_ARGUMENT, "rb_pad: negative padding on axis %d of %s", d,
                            rb__shp(x));
        if (before[d] > RB_MAX_BYTES || after[d] > RB_MAX_BYTES)
            return rb__fail(RB_ERR_SHAPE, "rb_pad: padding %lld,%lld on axis %d of %s is too large",
                            (long long)before[d], (long long)after[d], d, rb__shp(x));
        shape[d] = x->shape[d] + before[d] + after[d];
        at.i[d] = before[d];
    }
    return rb__apply(RB__OP_pad, 1, &x, &at, x->dtype, x->ndim, shape);
}

rb_status rb__fwd_pad(rb_node *n)
{
    rb_tensor *x = n->in[0], *out = n->out;
    rb__fill(out, n->attrs.f[0]);
    rb_tensor v = *out;
    int64_t offset = 0;
    for (int d = 0; d < x->ndim; d++)
        offset += n->attrs.i[d] * out->strides[d];
    memcpy(v.shape, x->shape, sizeof v.shape);
    v.data = (char *)out->data + offset * (int64_t)rb_dtype_size(out->dtype);
    rb__copy_strided(&v, x);
    return RB_OK;
}

void rb__bwd_pad(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0];
    int64_t start[RB_MAX_DIMS], stop[RB_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        start[d] = n->attrs.i[d];
        stop[d] = start[d] + x->shape[d];
    }
    rb_grad_add(ctx, n, 0, rb_contiguous(rb_slice(g, start, stop, NULL)));
}

/* ---- gather along an axis (TensorFlow's tf.gather) ---- */

/* x viewed as (outer, extent, inner); indices flattened to k entries. */
typedef struct gather_dims {
    int64_t outer, extent, inner, k;
} gather_dims;

static gather_dims dims_of(const rb_tensor *x, int axis, int64_t k)
{
    gather_dims g = {1, x->shape[axis], 1, k};
    for (int d = 0; d < axis; d++)
        g.outer *= x->shape[d];
    for (int d = axis + 1; d < x->ndim; d++)
        g.inner *= x->shape[d];
    return g;
}

rb_tensor *rb_gather(rb_tensor *x, rb_tensor *indices, int axis)
{
    rb_tensor *in[2] = {x, indices};
    if (!rb__check_inputs("gather", 2, in)) return NULL;
    if (indices->dtype != RB_I64)
        return rb__fail(RB_ERR_DTYPE, "rb_gather: indices must be int64, got %s",
                        rb_dtype_name(indices->dtype));
    if (x->ndim == 0) return rb__fail(RB_ERR_SHAPE, "rb_gather: cannot gather from a scalar");
    int a = rb__norm_axis("gather", x->ndim, axis);
    if (a < 0) return NULL;
    if (x->ndim - 1 + indices->ndim > RB_MAX_DIMS)
        return rb__fail(RB_ERR_SHAPE, "rb_gather: result of %s and indices %s has too many axes",
                        rb__shp(x), rb__shp(indices));
    for (int64_t i = 0; i < indices->size; i++) {
        int64_t k = (int64_t)rb__get_flat(indices, i);
        if (k < 0 || k >= x->shape[a])
            return rb__fail(
                RB_ERR_ARGUMENT,
                "rb_gather: index %lld at position %lld is out of range for axis %d of %s",
                (long long)k, (long long)i, a, rb__shp(x));
    }
    int64_t shape[RB_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < a; d++)
        shape[nd++] = x->shape[d];
    for (int d = 0; d < indices->ndim; d++)
        shape[nd++] = indices->shape[d];
    for (int d = a + 1; d < x->ndim; d++)
        shape[nd++] = x->shape[d];
    rb_attrs at = {.i = {a}};
    return rb__apply(RB__OP_gather, 2, in, &at, x->dtype, nd, shape);
}

rb_status rb__fwd_gather(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]), *idx = rb__contiguous(n->in[1]);
    if (!x || !idx) return rb_last_status();
    gather_dims g = dims_of(x, (int)n->attrs.i[0], idx->size);
    size_t es = rb_dtype_size(x->dtype), row = (size_t)g.inner * es;
    const int64_t *ind = idx->data;
    char *out = n->out->data;
    const char *src = x->data;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t j = 0; j < g.k; j++)
            memcpy(out + (o * g.k + j) * (int64_t)row, src + (o * g.extent + ind[j]) * (int64_t)row,
                   row);
    return RB_OK;
}

void rb__bwd_gather(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (!rb_grad_needed(ctx, n, 0)) return;
    rb_tensor *x = n->in[0];
    rb_tensor *in[2] = {g, n->in[1]};
    rb_attrs at = n->attrs;
    rb_grad_add(ctx, n, 0,
                rb__apply(RB__OP_gather_scatter, 2, in, &at, g->dtype, x->ndim, x->shape));
}

/* Scatter-add of gathered slices back to the source shape (repeated indices add up). */
rb_status rb__fwd_gather_scatter(rb_node *n)
{
    rb_tensor *g = rb__contiguous(n->in[0]), *idx = rb__contiguous(n->in[1]), *out = n->out;
    if (!g || !idx) return rb_last_status();
    gather_dims d = dims_of(out, (int)n->attrs.i[0], idx->size);
    rb__fill(out, 0.0);
    const int64_t *ind = idx->data;
    for (int64_t o = 0; o < d.outer; o++)
        for (int64_t j = 0; j < d.k; j++) {
            int64_t src = (o * d.k + j) * d.inner, dst = (o * d.extent + ind[j]) * d.inner;
            if (out->dtype == RB_F32) {
                const float *s = (const float *)g->data + src;
                float *t = (float *)out->data + dst;
                for (int64_t i = 0; i < d.inner; i++)
                    t[i] += s[i];
            } else {
                const double *s = (const double *)g->data + src;
                double *t = (double *)out->data + dst;
                for (int64_t i = 0; i < d.inner; i++)
                    t[i] += s[i];
            }
        }
    return RB_OK;
}

void rb__bwd_gather_scatter(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gg)
{
    if (rb_grad_needed(ctx, n, 0))
        rb_grad_add(ctx, n, 0, rb_gather(gg, n->in[1], (int)n->attrs.i[0]));
}

/* ---- one_hot ---- */

rb_tensor *rb_one_hot(rb_tensor *labels, int64_t depth, rb_dtype dtype)
{
    if (!rb__check_inputs("one_hot", 1, &labels)) return NULL;
    if (labels->dtype != RB_I64)
        return rb__fail(RB_ERR_DTYPE, "rb_one_hot: labels must be int64, got %s",
                        rb_dtype_name(labels->dtype));
    if (!rb__is_float(dtype))
        return rb__fail(RB_ERR_DTYPE, "rb_one_hot: result dtype must be float32 or float64");
    if (depth < 1) return rb__fail(RB_ERR_ARGUMENT, "rb_one_hot: depth %lld < 1", (long long)depth);
    if (labels->ndim == RB_MAX_DIMS)
        return rb__fail(RB_ERR_SHAPE, "rb_one_hot: labels %s have too many axes", rb__shp(labels));
    for (int64_t i = 0; i < labels->size; i++) {
        int64_t k = (int64_t)rb__get_flat(labels, i);
        if (k < 0 || k >= depth)
            return rb__fail(
                RB_ERR_ARGUMENT,
                "rb_one_hot: label %lld at position %lld is out of range for depth %lld",
                (long long)k, (long long)i, (long long)depth);
    }
    int64_t shape[RB_MAX_DIMS];
    memcpy(shape, labels->shape, sizeof(int64_t) * (size_t)labels->ndim);
    shape[labels->ndim] = depth;
    rb_attrs at = {.i = {depth}};
    return rb__apply(RB__OP_one_hot, 1, &labels, &at, dtype, labels->ndim + 1, shape);
}

rb_status rb__fwd_one_hot(rb_node *n)
{
    rb_tensor *labels = n->in[0], *out = n->out;
    int64_t depth = n->attrs.i[0];
    memset(out->data, 0, (size_t)out->size * rb_dtype_size(out->dtype));
    for (int64_t i = 0; i < labels->size; i++) {
        int64_t k = (int64_t)rb__get_flat(labels, i);
        rb__set_flat(out, i * depth + k, 1.0);
    }
    return RB_OK;
}

/* ---- take and scatter_add: flat gather and its adjoint (max pooling's backward) ---- */

rb_tensor *rb_take(rb_tensor *x, rb_tensor *indices)
{
    rb_tensor *in[2] = {x, indices};
    if (!rb__check_inputs("take", 2, in) || !rb__check_float("take", x)) return NULL;
    if (indices->dtype != RB_I64)
        return rb__fail(RB_ERR_DTYPE, "rb_take: indices must be int64, got %s",
                        rb_dtype_name(indices->dtype));
    for (int64_t i = 0; i < indices->size; i++) {
        int64_t k = (int64_t)rb__get_flat(indices, i);
        if (k < 0 || k >= x->size)
            return rb__fail(
                RB_ERR_ARGUMENT,
                "rb_take: index %lld at position %lld is out of range for %lld elements",
                (long long)k, (long long)i, (long long)x->size);
    }
    return rb__apply(RB__OP_take, 2, in, NULL, x->dtype, indices->ndim, indices->shape);
}

/* Internal indices may be -1, "no element": take gives 0 there and scatter_add drops it (max
 * pooling's windows that lie wholly in the padding have no winner). */
enum { AT_NONE_ALLOWED = 0 };
enum { AT_DISTINCT = RB_MAX_DIMS + 1 }; /* scatter_add: every index at most once */

static rb_tensor *take_or_zero(rb_tensor *x, rb_tensor *indices)
{
    rb_tensor *in[2] = {x, indices};
    if (!rb__check_inputs("take", 2, in)) return NULL;
    rb_attrs at = {.i = {[AT_NONE_ALLOWED] = 1}};
    return rb__apply(RB__OP_take, 2, in, &at, x->dtype, indices->ndim, indices->shape);
}

rb_status rb__fwd_take(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]), *idx = rb__contiguous(n->in[1]);
    if (!x || !idx) return rb_last_status();
    const int64_t *k = idx->data;
    bool none = n->attrs.i[AT_NONE_ALLOWED] != 0;
    if (x->dtype == RB_F32)
        for (int64_t i = 0; i < idx->size; i++)
            ((float *)n->out->data)[i] = none && k[i] < 0 ? 0.0f : ((const float *)x->data)[k[i]];
    else
        for (int64_t i = 0; i < idx->size; i++)
            ((double *)n->out->data)[i] = none && k[i] < 0 ? 0.0 : ((const double *)x->data)[k[i]];
    return RB_OK;
}

/* Zeros of x's shape with g[i] added at flat position indices[i] (-1: dropped). distinct: no
 * position is named twice (max pooling with windows that do not overlap), so the additions
 * run in parallel. */
static rb_tensor *scatter_add(rb_tensor *g, rb_tensor *indices, int ndim, const int64_t *shape,
                              bool distinct)
{
    rb_tensor *in[2] = {g, indices};
    if (!rb__check_inputs("scatter_add", 2, in)) return NULL;
    rb_attrs at = {0};
    for (int d = 0; d < ndim; d++)
        at.i[d] = shape[d];
    at.i[RB_MAX_DIMS] = ndim;
    at.i[AT_DISTINCT] = distinct;
    return rb__apply(RB__OP_scatter_add, 2, in, &at, g->dtype, ndim, shape);
}

rb_tensor *rb__scatter_add(rb_tensor *g, rb_tensor *indices, int ndim, const int64_t *shape)
{
    return scatter_add(g, indices, ndim, shape, false);
}

rb_tensor *rb__scatter_add_distinct(rb_tensor *g, rb_tensor *indices, int ndim,
                                    const int64_t *shape)
{
    return scatter_add(g, indices, ndim, shape, true);
}

void rb__bwd_take(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0];
    if (rb_grad_needed(ctx, n, 0))
        rb_grad_add(ctx, n, 0, rb__scatter_add(g, n->in[1], x->ndim, x->shape));
}

typedef struct scatter_plan {
    void *out;
    const void *g;
    const int64_t *k;
    int64_t out_size, n;
    rb_dtype dtype;
} scatter_plan;

enum { SCATTER_CHUNK = 16384 };

static void zero_chunks(void *arg, int64_t begin, int64_t end)
{
    const scatter_plan *p = arg;
    size_t es = rb_dtype_size(p->dtype);
    int64_t lo = begin * SCATTER_CHUNK, hi = end * SCATTER_CHUNK;
    if (hi > p->out_size) hi = p->out_size;
    memset((char *)p->out + (size_t)lo * es, 0, (size_t)(hi - lo) * es);
}

/* g[i] added at k[i] for i in [begin, end) (in order: with repeated indices, serially). */
static void scatter_range(void *arg, int64_t begin, int64_t end)
{
    const scatter_plan *p = arg;
    const int64_t *k = p->k;
    if (p->dtype == RB_F32) {
        float *out = p->out;
        const float *g = p->g;
        for (int64_t i = begin; i < end; i++)
            if (k[i] >= 0) out[k[i]] += g[i];
    } else {
        double *out = p->out;
        const double *g = p->g;
        for (int64_t i = begin; i < end; i++)
            if (k[i] >= 0) out[k[i]] += g[i];
    }
}

rb_status rb__fwd_scatter_add(rb_node *n)
{
    rb_tensor *g = rb__contiguous(n->in[0]), *idx = rb__contiguous(n->in[1]), *out = n->out;
    if (!g || !idx) return rb_last_status();
    scatter_plan p = {out->data, g->data, idx->data, out->size, idx->size, out->dtype};
    rb__parallel_for((out->size + SCATTER_CHUNK - 1) / SCATTER_CHUNK, 1, zero_chunks, &p);
    /* Distinct targets: each element written once, the same sum (0 + g) in any order. */
    if (n->attrs.i[AT_DISTINCT])
        rb__parallel_for(idx->size, SCATTER_CHUNK, scatter_range, &p);
    else
        scatter_range(&p, 0, idx->size);
    return RB_OK;
}

void rb__bwd_scatter_add(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gg)
{
    if (rb_grad_needed(ctx, n, 0)) rb_grad_add(ctx, n, 0, take_or_zero(gg, n->in[1]));
}
