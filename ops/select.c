/* Comparisons (0/1 results, not differentiable) and where(cond, a, b). */
#include "elementwise.h"
#include "op_impl.h"

rb_tensor *rb_greater(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_greater, a, b); }
rb_tensor *rb_greater_equal(rb_tensor *a, rb_tensor *b)
{
    return rb__apply_binary(RB__OP_greater_equal, a, b);
}
rb_tensor *rb_less(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_less, a, b); }
rb_tensor *rb_less_equal(rb_tensor *a, rb_tensor *b)
{
    return rb__apply_binary(RB__OP_less_equal, a, b);
}
rb_tensor *rb_equal(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_equal, a, b); }
rb_tensor *rb_not_equal(rb_tensor *a, rb_tensor *b)
{
    return rb__apply_binary(RB__OP_not_equal, a, b);
}

#define COMPARE_FORWARD(name, KIND)                                                                \
    rb_status rb__fwd_##name(rb_node *n)                                                           \
    {                                                                                              \
        rb__binary(KIND, n->in[0], n->in[1], n->out);                                              \
        return RB_OK;                                                                              \
    }
COMPARE_FORWARD(greater, RB__B_GT)
COMPARE_FORWARD(greater_equal, RB__B_GE)
COMPARE_FORWARD(less, RB__B_LT)
COMPARE_FORWARD(less_equal, RB__B_LE)
COMPARE_FORWARD(equal, RB__B_EQ)
COMPARE_FORWARD(not_equal, RB__B_NE)

/* ---- where ---- */

rb_tensor *rb_where(rb_tensor *cond, rb_tensor *a, rb_tensor *b)
{
    rb_tensor *in[3] = {cond, a, b};
    if (!rb__check_inputs("where", 3, in) || !rb__check_float("where", a) ||
        !rb__check_same_dtype("where", a, b))
        return NULL;
    int nd, nd2;
    int64_t ab[RB_MAX_DIMS], shape[RB_MAX_DIMS];
    if (!rb__broadcast_shapes("where", a, b, &nd, ab)) return NULL;
    if (rb__broadcast_quiet(cond->ndim, cond->shape, nd, ab, &nd2, shape) >= 0)
        return rb__fail(RB_ERR_SHAPE, "rb_where: condition %s does not broadcast with %s and %s",
                        rb__shp(cond), rb__shp(a), rb__shp(b));
    return rb__apply(RB__OP_where, 3, in, NULL, a->dtype, nd2, shape);
}

#define WHERE_LOOP(T, C)                                                                           \
    do {                                                                                           \
        T *o = (T *)ptrs[0];                                                                       \
        const C *c = (const C *)ptrs[1];                                                           \
        const T *a = (const T *)ptrs[2], *b = (const T *)ptrs[3];                                  \
        for (int64_t i = 0; i < n; i++)                                                            \
            o[i * strides[0]] = c[i * strides[1]] != 0 ? a[i * strides[2]] : b[i * strides[3]];    \
    } while (0)

typedef struct where_ctx {
    rb_dtype value, cond;
} where_ctx;

static void where_inner(int64_t n, char **ptrs, const int64_t *strides, void *arg)
{
    const where_ctx *w = arg;
#define COND_CASES(T)                                                                              \
    switch (w->cond) {                                                                             \
    case RB_F32: WHERE_LOOP(T, float); break;                                                      \
    case RB_F64: WHERE_LOOP(T, double); break;                                                     \
    case RB_I64: WHERE_LOOP(T, int64_t); break;                                                    \
    case RB_U8: WHERE_LOOP(T, uint8_t); break;                                                     \
    }
    if (w->value == RB_F32) COND_CASES(float) else COND_CASES(double)
#undef COND_CASES
}

rb_status rb__fwd_where(rb_node *n)
{
    rb_tensor *out = n->out;
    int64_t s[3][RB_MAX_DIMS];
    for (int k = 0; k < 3; k++)
        rb__broadcast_strides(n->in[k], out->ndim, s[k]);
    size_t es = rb_dtype_size(out->dtype);
    rb__operand ops[4] = {{out->data, es, out->strides},
                          {n->in[0]->data, rb_dtype_size(n->in[0]->dtype), s[0]},
                          {n->in[1]->data, es, s[1]},
                          {n->in[2]->data, es, s[2]}};
    where_ctx w = {out->dtype, n->in[0]->dtype};
    rb__iterate(out->ndim, out->shape, 4, ops, where_inner, &w);
    return RB_OK;
}

void rb__bwd_where(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *cond = n->in[0];
    rb_tensor *zero = rb_tensor_scalar(g->dtype, 0.0);
    /* Select, never multiply: an Inf or NaN on the side not taken must not leak through. */
    if (rb_grad_needed(ctx, n, 1))
        rb_grad_add(ctx, n, 1, rb__unbroadcast(rb_where(cond, g, zero), n->in[1]));
    if (rb_grad_needed(ctx, n, 2))
        rb_grad_add(ctx, n, 2, rb__unbroadcast(rb_where(cond, zero, g), n->in[2]));
}
