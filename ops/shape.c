/* Shapes: reshape (and flatten, expand_dims, squeeze), permute (and transpose), broadcast_to,
 * sum_to, contiguous copies and casts. Views share data with their input. */
#include <string.h>

#include "op_impl.h"

static rb_tensor *view_op(rb__op_id id, rb_tensor *x, const rb_attrs *at, int ndim,
                          const int64_t *shape, const int64_t *strides)
{
    return rb__view_op(id, x, at, ndim, shape, strides, 0);
}

/* ---- reshape ---- */

rb_tensor *rb_reshape(rb_tensor *x, int ndim, const int64_t *shape)
{
    if (!rb__check_inputs("reshape", 1, &x)) return NULL;
    if (ndim < 0 || ndim > RB_MAX_DIMS || (ndim > 0 && !shape))
        return rb__fail(RB_ERR_SHAPE, "rb_reshape: bad number of dimensions %d", ndim);
    int64_t s[RB_MAX_DIMS], given[RB_MAX_DIMS];
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        s[i] = given[i] = shape[i];
        if (s[i] == -1 && infer < 0) {
            infer = i;
            given[i] = 1;
        } else if (s[i] < 0) {
            char buf[RB__SHAPE_STR];
            return rb__fail(RB_ERR_SHAPE, "rb_reshape: bad shape %s for %s",
                            rb__shape_str(buf, ndim, shape), rb__shp(x));
        }
    }
    /* The given extents' product is checked before it is used: (2^62 + 4) x 4 would wrap
     * to 16 and pass for a view of 16 elements. */
    char who[RB__SHAPE_STR + 32];
    snprintf(who, sizeof who, "rb_reshape: a view of %s", rb__shp(x));
    int64_t known = rb_shape_count(RB_ERR_SHAPE, who, ndim, given, rb_dtype_size(x->dtype));
    if (known < 0) return NULL;
    if (infer >= 0) {
        if (known == 0 || x->size % known) {
            char buf[RB__SHAPE_STR];
            return rb__fail(RB_ERR_SHAPE, "rb_reshape: cannot infer -1 in %s from %s",
                            rb__shape_str(buf, ndim, shape), rb__shp(x));
        }
        s[infer] = x->size / known;
        known *= s[infer];
    }
    if (known != x->size) {
        char buf[RB__SHAPE_STR];
        return rb__fail(RB_ERR_SHAPE, "rb_reshape: %s has %lld elements, %s has %lld", rb__shp(x),
                        (long long)x->size, rb__shape_str(buf, ndim, s), (long long)known);
    }
    rb_attrs at = {0};
    for (int i = 0; i < x->ndim; i++)
        at.i[i] = x->shape[i];
    at.i[RB_MAX_DIMS] = x->ndim;
    if (x->flags & RB__CONTIGUOUS) {
        int64_t strides[RB_MAX_DIMS];
        rb__contiguous_strides(ndim, s, strides);
        return view_op(RB__OP_reshape, x, &at, ndim, s, strides);
    }
    return rb__apply(RB__OP_reshape, 1, &x, &at, x->dtype, ndim, s);
}

rb_status rb__fwd_reshape(rb_node *n)
{
    rb_tensor *x = n->in[0], *y = n->out;
    if (y->data != x->data || !(x->flags & RB__CONTIGUOUS)) {
        /* Copy in row-major order: y is contiguous with the same element count. */
        rb_tensor tmp = *y;
        tmp.ndim = x->ndim;
        memcpy(tmp.shape, x->shape, sizeof tmp.shape);
        rb__contiguous_strides(x->ndim, x->shape, tmp.strides);
        rb__copy_strided(&tmp, x);
    }
    return RB_OK;
}

void rb__bwd_reshape(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_reshape(g, (int)n->attrs.i[RB_MAX_DIMS], n->attrs.i));
}

rb_tensor *rb_flatten(rb_tensor *x)
{
    if (!rb__check_inputs("flatten", 1, &x)) return NULL;
    if (x->ndim < 1) return rb__fail(RB_ERR_SHAPE, "rb_flatten: needs a batch axis, got a scalar");
    int64_t shape[2] = {x->shape[0], -1};
    if (x->shape[0] == 0) shape[1] = 0;
    if (x->ndim == 1) return rb_reshape(x, 2, (int64_t[]){x->shape[0], 1});
    int64_t rest = 1;
    for (int d = 1; d < x->ndim; d++)
        rest *= x->shape[d];
    shape[1] = rest;
    return rb_reshape(x, 2, shape);
}

rb_tensor *rb_expand_dims(rb_tensor *x, int axis)
{
    if (!rb__check_inputs("expand_dims", 1, &x)) return NULL;
    if (x->ndim == RB_MAX_DIMS)
        return rb__fail(RB_ERR_SHAPE, "rb_expand_dims: %s already has %d axes", rb__shp(x),
                        RB_MAX_DIMS);
    int a = rb__norm_axis("expand_dims", x->ndim + 1, axis);
    if (a < 0) return NULL;
    int64_t shape[RB_MAX_DIMS];
    for (int i = 0, j = 0; i <= x->ndim; i++)
        shape[i] = i == a ? 1 : x->shape[j++];
    return rb_reshape(x, x->ndim + 1, shape);
}

rb_tensor *rb_squeeze(rb_tensor *x, int axis)
{
    if (!rb__check_inputs("squeeze", 1, &x)) return NULL;
    int a = rb__norm_axis("squeeze", x->ndim, axis);
    if (a < 0) return NULL;
    if (x->shape[a] != 1)
        return rb__fail(RB_ERR_SHAPE, "rb_squeeze: axis %d of %s has extent %lld, not 1", axis,
                        rb__shp(x), (long long)x->shape[a]);
    int64_t shape[RB_MAX_DIMS];
    for (int i = 0, j = 0; i < x->ndim; i++)
        if (i != a) shape[j++] = x->shape[i];
    return rb_reshape(x, x->ndim - 1, shape);
}

/* ---- permute ---- */

rb_tensor *rb_permute(rb_tensor *x, const int *perm)
{
    if (!rb__check_inputs("permute", 1, &x)) return NULL;
    if (!perm && x->ndim > 0) return rb__fail(RB_ERR_ARGUMENT, "rb_permute: perm is NULL");
    int64_t shape[RB_MAX_DIMS], strides[RB_MAX_DIMS];
    unsigned seen = 0;
    rb_attrs at = {0};
    for (int i = 0; i < x->ndim; i++) {
        int p = perm[i];
        if (p < 0 || p >= x->ndim || (seen & (1u << p)))
            return rb__fail(
                RB_ERR_AXIS,
                "rb_permute: entry %d (%d) of the permutation is out of range or repeated for %s",
                i, p, rb__shp(x));
        seen |= 1u << p;
        shape[i] = x->shape[p];
        strides[i] = x->strides[p];
        at.i[i] = p;
    }
    return view_op(RB__OP_permute, x, &at, x->ndim, shape, strides);
}

rb_status rb__fwd_permute(rb_node *n)
{
    (void)n; /* a view: nothing to compute */
    return RB_OK;
}

void rb__bwd_permute(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    int inverse[RB_MAX_DIMS];
    for (int i = 0; i < n->in[0]->ndim; i++)
        inverse[n->attrs.i[i]] = i;
    rb_grad_add(ctx, n, 0, rb_permute(g, inverse));
}

rb_tensor *rb_transpose(rb_tensor *x, int axis0, int axis1)
{
    if (!rb__check_inputs("transpose", 1, &x)) return NULL;
    int a = rb__norm_axis("transpose", x->ndim, axis0);
    int b = a < 0 ? -1 : rb__norm_axis("transpose", x->ndim, axis1);
    if (b < 0) return NULL;
    int perm[RB_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return rb_permute(x, perm);
}

/* ---- broadcast_to and its adjoint sum_to ---- */

static bool broadcastable(const rb_tensor *small, int ndim, const int64_t *shape)
{
    if (small->ndim > ndim) return false;
    for (int i = 0; i < small->ndim; i++) {
        int64_t e = small->shape[small->ndim - 1 - i], t = shape[ndim - 1 - i];
        if (e != t && e != 1) return false;
    }
    return true;
}

rb_tensor *rb_broadcast_to(rb_tensor *x, int ndim, const int64_t *shape)
{
    if (!rb__check_inputs("broadcast_to", 1, &x) || !rb__check_float("broadcast_to", x))
        return NULL;
    if (ndim < 0 || ndim > RB_MAX_DIMS || (ndim > 0 && !shape) || !broadcastable(x, ndim, shape)) {
        char buf[RB__SHAPE_STR];
        return rb__fail(RB_ERR_SHAPE, "rb_broadcast_to: %s does not broadcast to %s", rb__shp(x),
                        shape ? rb__shape_str(buf, ndim, shape) : "(null)");
    }
    return rb__apply(RB__OP_broadcast_to, 1, &x, NULL, x->dtype, ndim, shape);
}

rb_status rb__fwd_broadcast_to(rb_node *n)
{
    rb_tensor *x = n->in[0], *y = n->out;
    rb_tensor view = *x;
    view.ndim = y->ndim;
    memcpy(view.shape, y->shape, sizeof view.shape);
    rb__broadcast_strides(x, y->ndim, view.strides);
    rb__copy_strided(y, &view);
    return RB_OK;
}

void rb__bwd_broadcast_to(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_sum_to(g, n->in[0]->ndim, n->in[0]->shape));
}

rb_tensor *rb_sum_to(rb_tensor *x, int ndim, const int64_t *shape)
{
    if (!rb__check_inputs("sum_to", 1, &x) || !rb__check_float("sum_to", x)) return NULL;
    rb_tensor target = {0};
    target.ndim = ndim;
    if (ndim >= 0 && ndim <= RB_MAX_DIMS && (ndim == 0 || shape))
        for (int i = 0; i < ndim; i++)
            target.shape[i] = shape[i];
    if (ndim < 0 || ndim > RB_MAX_DIMS || (ndim > 0 && !shape) ||
        !broadcastable(&target, x->ndim, x->shape)) {
        char buf[RB__SHAPE_STR];
        return rb__fail(RB_ERR_SHAPE, "rb_sum_to: %s cannot be summed to %s", rb__shp(x),
                        shape ? rb__shape_str(buf, ndim, shape) : "(null)");
    }
    if (rb_tensor_same_shape(x, &target)) return rb_contiguous(x); /* always a new tensor */
    /* Sum the leading axes away and the broadcast (extent-1) axes, then drop the leading
     * ones: composed of sum and reshape, so its gradient (a broadcast) comes for free. */
    int lead = x->ndim - ndim, axes[RB_MAX_DIMS], na = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d < lead || (target.shape[d - lead] == 1 && x->shape[d] != 1)) axes[na++] = d;
    return rb_reshape(rb_sum(x, na, axes, true), ndim, shape);
}

/* ---- copies and casts ---- */

rb_tensor *rb_contiguous(rb_tensor *x)
{
    if (!rb__check_inputs("copy", 1, &x)) return NULL;
    return rb__apply(RB__OP_copy, 1, &x, NULL, x->dtype, x->ndim, x->shape);
}

rb_status rb__fwd_copy(rb_node *n)
{
    rb__copy_strided(n->out, n->in[0]);
    return RB_OK;
}

void rb__bwd_copy(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g) { rb_grad_add(ctx, n, 0, g); }

rb_tensor *rb_cast(rb_tensor *x, rb_dtype dtype)
{
    if (!rb__check_inputs("cast", 1, &x)) return NULL;
    if (!rb__valid_dtype(dtype))
        return rb__fail(RB_ERR_DTYPE, "rb_cast: invalid dtype %d", (int)dtype);
    rb_attrs at = {.i = {dtype}};
    return rb__apply(RB__OP_cast, 1, &x, &at, dtype, x->ndim, x->shape);
}

rb_status rb__fwd_cast(rb_node *n)
{
    /* To an integer type every value must fit (a NaN or 300 has no uint8), else the conversion
     * would be undefined; between integer types too (int64 300 is no uint8). */
    rb_dtype to = n->out->dtype;
    if (!rb__is_float(to) && n->in[0]->dtype != to &&
        !(to == RB_I64 && n->in[0]->dtype == RB_U8))
        for (int64_t i = 0; i < n->in[0]->size; i++)
            if (!rb__value_fits(to, rb__get_flat(n->in[0], i), "rb_cast"))
                return rb_last_status();
    rb__copy_strided(n->out, n->in[0]);
    return RB_OK;
}

void rb__bwd_cast(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (rb__is_float(n->in[0]->dtype)) rb_grad_add(ctx, n, 0, rb_cast(g, n->in[0]->dtype));
}
