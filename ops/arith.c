/* Arithmetic with broadcasting: add, sub, mul, div, pow, maximum, minimum, and the
 * scalar forms. Backward rules use the public ops, so they are differentiable again. */
#include "elementwise.h"
#include "op_impl.h"

static rb_tensor *scalar_op(rb__op_id id, rb_tensor *x, double c)
{
    const char *name = rb__ops[id].name;
    if (!rb__check_inputs(name, 1, &x) || !rb__check_float(name, x)) return NULL;
    rb_attrs at = {.f = {c}};
    return rb__apply(id, 1, &x, &at, x->dtype, x->ndim, x->shape);
}

rb_tensor *rb_add(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_add, a, b); }
rb_tensor *rb_sub(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_sub, a, b); }
rb_tensor *rb_mul(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_mul, a, b); }
rb_tensor *rb_div(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_div, a, b); }
rb_tensor *rb_pow(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_pow, a, b); }
rb_tensor *rb_maximum(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_maximum, a, b); }
rb_tensor *rb_minimum(rb_tensor *a, rb_tensor *b) { return rb__apply_binary(RB__OP_minimum, a, b); }
rb_tensor *rb_add_scalar(rb_tensor *x, double c) { return scalar_op(RB__OP_add_scalar, x, c); }
rb_tensor *rb_mul_scalar(rb_tensor *x, double c) { return scalar_op(RB__OP_mul_scalar, x, c); }
rb_tensor *rb_pow_scalar(rb_tensor *x, double c) { return scalar_op(RB__OP_pow_scalar, x, c); }

#define BINARY_FORWARD(name, KIND)                                                                 \
    rb_status rb__fwd_##name(rb_node *n)                                                           \
    {                                                                                              \
        rb__binary(KIND, n->in[0], n->in[1], n->out);                                              \
        return RB_OK;                                                                              \
    }
BINARY_FORWARD(add, RB__B_ADD)
BINARY_FORWARD(sub, RB__B_SUB)
BINARY_FORWARD(mul, RB__B_MUL)
BINARY_FORWARD(div, RB__B_DIV)
BINARY_FORWARD(pow, RB__B_POW)
BINARY_FORWARD(maximum, RB__B_MAX)
BINARY_FORWARD(minimum, RB__B_MIN)

#define SCALAR_FORWARD(name, KIND)                                                                 \
    rb_status rb__fwd_##name(rb_node *n)                                                           \
    {                                                                                              \
        rb__unary(KIND, n->in[0], n->out, n->attrs.f[0], 0.0);                                     \
        return RB_OK;                                                                              \
    }
SCALAR_FORWARD(add_scalar, RB__U_ADD_S)
SCALAR_FORWARD(mul_scalar, RB__U_MUL_S)
SCALAR_FORWARD(pow_scalar, RB__U_POW_S)

/* Contribute g to input i, summed over the axes along which that input was broadcast. */
static void add_unbroadcast(rb_grad_ctx *ctx, const rb_node *n, int i, rb_tensor *g)
{
    rb_grad_add(ctx, n, i, rb__unbroadcast(g, n->in[i]));
}

void rb__bwd_add(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (rb_grad_needed(ctx, n, 0)) add_unbroadcast(ctx, n, 0, g);
    if (rb_grad_needed(ctx, n, 1)) add_unbroadcast(ctx, n, 1, g);
}

void rb__bwd_sub(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (rb_grad_needed(ctx, n, 0)) add_unbroadcast(ctx, n, 0, g);
    if (rb_grad_needed(ctx, n, 1)) add_unbroadcast(ctx, n, 1, rb_neg(g));
}

void rb__bwd_mul(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    if (rb_grad_needed(ctx, n, 0)) add_unbroadcast(ctx, n, 0, rb_mul(g, n->in[1]));
    if (rb_grad_needed(ctx, n, 1)) add_unbroadcast(ctx, n, 1, rb_mul(g, n->in[0]));
}

void rb__bwd_div(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *a = n->in[0], *b = n->in[1];
    if (rb_grad_needed(ctx, n, 0)) add_unbroadcast(ctx, n, 0, rb_div(g, b));
    /* d(a/b)/db = -a/b^2 */
    if (rb_grad_needed(ctx, n, 1))
        add_unbroadcast(ctx, n, 1, rb_neg(rb_div(rb_mul(g, a), rb_square(b))));
}

void rb__bwd_pow(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *a = n->in[0], *b = n->in[1];
    if (rb_grad_needed(ctx, n, 0)) /* b a^(b-1) */
        add_unbroadcast(ctx, n, 0, rb_mul(g, rb_mul(b, rb_pow(a, rb_add_scalar(b, -1.0)))));
    if (rb_grad_needed(ctx, n, 1)) /* a^b log a */
        add_unbroadcast(ctx, n, 1, rb_mul(g, rb_mul(rb_pow(a, b), rb_log(a))));
}

/* Share of the gradient for the first operand of maximum (first_wins = greater) or minimum:
 * 1 where it wins, 1/2 at ties, 0 where it loses. Constant masks: no second-order terms. */
static rb_tensor *winner_mask(rb_tensor *x, rb_tensor *other, bool greater)
{
    rb_tensor *wins = greater ? rb_greater(x, other) : rb_less(x, other);
    return rb_add(wins, rb_mul_scalar(rb_equal(x, other), 0.5));
}

static void extreme_backward(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g, bool greater)
{
    rb_tensor *a = n->in[0], *b = n->in[1];
    if (rb_grad_needed(ctx, n, 0))
        add_unbroadcast(ctx, n, 0, rb_mul(g, winner_mask(a, b, greater)));
    if (rb_grad_needed(ctx, n, 1))
        add_unbroadcast(ctx, n, 1, rb_mul(g, winner_mask(b, a, greater)));
}

void rb__bwd_maximum(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    extreme_backward(ctx, n, g, true);
}

void rb__bwd_minimum(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    extreme_backward(ctx, n, g, false);
}

void rb__bwd_add_scalar(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, g);
}

void rb__bwd_mul_scalar(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_mul_scalar(g, n->attrs.f[0]));
}

void rb__bwd_pow_scalar(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    double c = n->attrs.f[0];
    rb_tensor *dx = c == 2.0 ? rb_mul_scalar(n->in[0], 2.0)
                             : rb_mul_scalar(rb_pow_scalar(n->in[0], c - 1.0), c);
    rb_grad_add(ctx, n, 0, rb_mul(g, dx));
}
