/* The built-in op table, generated from src/op_list.h, and the checks ops share. */
#include <string.h>

#include "op_impl.h"

#define RB__BWD_DIFF(op)   rb__bwd_##op
#define RB__BWD_NODIFF(op) NULL
#define RB__OP_DESC(op, ar, kind)                                                                  \
    [RB__OP_##                                                                                     \
        op] = {.name = #op, .arity = ar, .forward = rb__fwd_##op, .backward = RB__BWD_##kind(op)},
const rb_op_def rb__ops[RB__OP_COUNT] = {RB__OP_LIST(RB__OP_DESC)};
#undef RB__OP_DESC

#define RB__OP_ONE(name, arity, kind) +1
_Static_assert(sizeof rb__ops / sizeof rb__ops[0] == 0 RB__OP_LIST(RB__OP_ONE),
               "op table and op list differ in length");
#undef RB__OP_ONE

int rb_op_count(void) { return RB__OP_COUNT; }

const char *rb_op_name(int k) { return k >= 0 && k < RB__OP_COUNT ? rb__ops[k].name : NULL; }

bool rb_op_is_differentiable(int k) { return k >= 0 && k < RB__OP_COUNT && rb__ops[k].backward; }

rb_tensor *rb__apply(rb__op_id id, int n_in, rb_tensor *const *in, const rb_attrs *attrs,
                     rb_dtype dtype, int ndim, const int64_t *shape)
{
    rb_tensor *out = rb__tensor_new(dtype, ndim, shape, rb__ops[id].name);
    return rb__op_run(&rb__ops[id], n_in, in, attrs, out);
}

rb_tensor *rb__view_op(rb__op_id id, rb_tensor *x, const rb_attrs *attrs, int ndim,
                       const int64_t *shape, const int64_t *strides, int64_t offset)
{
    rb_tensor *v = rb__tensor_view(x, ndim, shape, strides, offset);
    return rb__op_run(&rb__ops[id], 1, &x, attrs, v);
}

bool rb__check_inputs(const char *op, int n, rb_tensor *const *in)
{
    for (int i = 0; i < n; i++)
        if (!in[i]) {
            /* An earlier op failed and holds the message; only a genuine NULL needs one. */
            if (rb_last_status() == RB_OK)
                rb_error(RB_ERR_ARGUMENT, "rb_%s: input %d is NULL", op, i);
            return false;
        }
    return true;
}

bool rb__check_float(const char *op, const rb_tensor *x)
{
    if (rb__is_float(x->dtype)) return true;
    rb_error(RB_ERR_DTYPE, "rb_%s: expects a float32 or float64 tensor, got %s%s", op,
             rb_dtype_name(x->dtype), rb__shp(x));
    return false;
}

bool rb__check_same_dtype(const char *op, const rb_tensor *a, const rb_tensor *b)
{
    if (a->dtype == b->dtype) return true;
    rb_error(RB_ERR_DTYPE, "rb_%s: dtypes differ: %s%s and %s%s (use rb_cast)", op,
             rb_dtype_name(a->dtype), rb__shp(a), rb_dtype_name(b->dtype), rb__shp(b));
    return false;
}

int rb__broadcast_quiet(int na, const int64_t *sa, int nb, const int64_t *sb, int *ndim,
                        int64_t *shape)
{
    int nd = na > nb ? na : nb;
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - na), ib = i - (nd - nb);
        int64_t ea = ia >= 0 ? sa[ia] : 1, eb = ib >= 0 ? sb[ib] : 1;
        if (ea != eb && ea != 1 && eb != 1) return i;
        shape[i] = ea == 1 ? eb : ea;
    }
    *ndim = nd;
    return -1;
}

bool rb__broadcast_shapes(const char *op, const rb_tensor *a, const rb_tensor *b, int *ndim,
                          int64_t *shape)
{
    int bad = rb__broadcast_quiet(a->ndim, a->shape, b->ndim, b->shape, ndim, shape);
    if (bad < 0) return true;
    rb_error(RB_ERR_SHAPE, "rb_%s: shapes %s and %s do not broadcast (axis %d of the result)", op,
             rb__shp(a), rb__shp(b), bad);
    return false;
}

int rb__norm_axis(const char *op, int ndim, int axis)
{
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim) {
        rb_error(RB_ERR_AXIS, "rb_%s: axis %d out of range for %d dimensions", op, axis, ndim);
        return -1;
    }
    return a;
}

bool rb__axes_mask(const char *op, int ndim, int n, const int *axes, unsigned *mask)
{
    if (n == 0 && axes == NULL) {
        *mask = (1u << ndim) - 1;
        return true;
    }
    if (n < 0 || (n > 0 && !axes)) {
        rb_error(RB_ERR_ARGUMENT, "rb_%s: bad axis list (n=%d)", op, n);
        return false;
    }
    unsigned m = 0;
    for (int i = 0; i < n; i++) {
        int a = rb__norm_axis(op, ndim, axes[i]);
        if (a < 0) return false;
        if (m & (1u << a)) {
            rb_error(RB_ERR_AXIS, "rb_%s: axis %d listed twice", op, axes[i]);
            return false;
        }
        m |= 1u << a;
    }
    *mask = m;
    return true;
}

int rb__check_line_axis(const char *op, const rb_tensor *x, int axis)
{
    if (!rb__check_float(op, x)) return -1;
    if (x->ndim == 0) {
        rb_error(RB_ERR_SHAPE, "rb_%s: needs at least one axis", op);
        return -1;
    }
    int a = rb__norm_axis(op, x->ndim, axis);
    if (a >= 0 && x->shape[a] == 0) {
        rb_error(RB_ERR_EMPTY, "rb_%s: axis %d of %s is empty", op, axis, rb__shp(x));
        return -1;
    }
    return a;
}

rb_tensor *rb__apply_binary(rb__op_id id, rb_tensor *a, rb_tensor *b)
{
    const char *name = rb__ops[id].name;
    rb_tensor *in[2] = {a, b};
    if (!rb__check_inputs(name, 2, in) || !rb__check_float(name, a) ||
        !rb__check_same_dtype(name, a, b))
        return NULL;
    int nd;
    int64_t shape[RB_MAX_DIMS];
    if (!rb__broadcast_shapes(name, a, b, &nd, shape)) return NULL;
    return rb__apply(id, 2, in, NULL, a->dtype, nd, shape);
}

rb_tensor *rb__unbroadcast(rb_tensor *g, const rb_tensor *x)
{
    if (!g || rb_tensor_same_shape(g, x)) return g;
    return rb_sum_to(g, x->ndim, x->shape);
}

int rb__reduced_shape(const rb_tensor *x, unsigned mask, bool keepdims, int64_t *shape)
{
    int nd = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (mask & (1u << i)) {
            if (keepdims) shape[nd++] = 1;
        } else {
            shape[nd++] = x->shape[i];
        }
    }
    return nd;
}
