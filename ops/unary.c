/* Elementwise math: neg, square, sqrt, rsqrt, exp, log, abs, sign, clamp, erf. */
#include <math.h>

#include "elementwise.h"
#include "op_impl.h"

static rb_tensor *unary_op(rb__op_id id, rb_tensor *x, double p0, double p1)
{
    const char *name = rb__ops[id].name;
    if (!rb__check_inputs(name, 1, &x) || !rb__check_float(name, x)) return NULL;
    rb_attrs at = {.f = {p0, p1}};
    return rb__apply(id, 1, &x, &at, x->dtype, x->ndim, x->shape);
}

rb_tensor *rb_neg(rb_tensor *x) { return unary_op(RB__OP_neg, x, 0, 0); }
rb_tensor *rb_square(rb_tensor *x) { return unary_op(RB__OP_square, x, 0, 0); }
rb_tensor *rb_sqrt(rb_tensor *x) { return unary_op(RB__OP_sqrt, x, 0, 0); }
rb_tensor *rb_rsqrt(rb_tensor *x) { return unary_op(RB__OP_rsqrt, x, 0, 0); }
rb_tensor *rb_exp(rb_tensor *x) { return unary_op(RB__OP_exp, x, 0, 0); }
rb_tensor *rb_log(rb_tensor *x) { return unary_op(RB__OP_log, x, 0, 0); }
rb_tensor *rb_abs(rb_tensor *x) { return unary_op(RB__OP_abs, x, 0, 0); }
rb_tensor *rb_sign(rb_tensor *x) { return unary_op(RB__OP_sign, x, 0, 0); }
rb_tensor *rb_erf(rb_tensor *x) { return unary_op(RB__OP_erf, x, 0, 0); }

rb_tensor *rb_clamp(rb_tensor *x, double lo, double hi)
{
    if (x && !(lo <= hi))
        return rb__fail(RB_ERR_ARGUMENT, "rb_clamp: lo %g must not exceed hi %g", lo, hi);
    return unary_op(RB__OP_clamp, x, lo, hi);
}

#define UNARY_FORWARD(name, KIND)                                                                  \
    rb_status rb__fwd_##name(rb_node *n)                                                           \
    {                                                                                              \
        rb__unary(KIND, n->in[0], n->out, n->attrs.f[0], n->attrs.f[1]);                           \
        return RB_OK;                                                                              \
    }
UNARY_FORWARD(neg, RB__U_NEG)
UNARY_FORWARD(square, RB__U_SQUARE)
UNARY_FORWARD(sqrt, RB__U_SQRT)
UNARY_FORWARD(rsqrt, RB__U_RSQRT)
UNARY_FORWARD(exp, RB__U_EXP)
UNARY_FORWARD(log, RB__U_LOG)
UNARY_FORWARD(abs, RB__U_ABS)
UNARY_FORWARD(sign, RB__U_SIGN)
UNARY_FORWARD(clamp, RB__U_CLAMP)
UNARY_FORWARD(erf, RB__U_ERF)

void rb__bwd_neg(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_neg(g));
}

void rb__bwd_square(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_mul(g, rb_mul_scalar(n->in[0], 2.0)));
}

void rb__bwd_sqrt(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_div(rb_mul_scalar(g, 0.5), n->out));
}

void rb__bwd_rsqrt(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    /* y = x^(-1/2): dy/dx = -y^3 / 2 */
    rb_grad_add(ctx, n, 0, rb_mul(g, rb_mul_scalar(rb_pow_scalar(n->out, 3.0), -0.5)));
}

void rb__bwd_exp(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_mul(g, n->out));
}

void rb__bwd_log(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_div(g, n->in[0]));
}

void rb__bwd_abs(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_mul(g, rb_sign(n->in[0])));
}

void rb__bwd_clamp(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0];
    rb_tensor *lo = rb_tensor_scalar(x->dtype, n->attrs.f[0]);
    rb_tensor *hi = rb_tensor_scalar(x->dtype, n->attrs.f[1]);
    rb_tensor *inside = rb_mul(rb_greater_equal(x, lo), rb_less_equal(x, hi));
    rb_grad_add(ctx, n, 0, rb_mul(g, inside));
}

void rb__bwd_erf(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    /* d erf(x)/dx = 2/sqrt(pi) exp(-x^2) */
    rb_tensor *d = rb_mul_scalar(rb_exp(rb_neg(rb_square(n->in[0]))), 1.12837916709551257390);
    rb_grad_add(ctx, n, 0, rb_mul(g, d));
}
