/* Activations: relu, leaky_relu, elu, selu, sigmoid, tanh, softplus, gelu. The hot ones
 * (relu, sigmoid, tanh) have fused gradient ops, themselves differentiable. */
#include <math.h>

#include "elementwise.h"
#include "op_impl.h"

static rb_tensor *activation(rb__op_id id, rb_tensor *x, double p0)
{
    const char *name = rb__ops[id].name;
    if (!rb__check_inputs(name, 1, &x) || !rb__check_float(name, x)) return NULL;
    rb_attrs at = {.f = {p0}};
    return rb__apply(id, 1, &x, &at, x->dtype, x->ndim, x->shape);
}

/* Gradient ops take (g, saved) of the same shape. */
static rb_tensor *grad_op(rb__op_id id, rb_tensor *g, rb_tensor *saved)
{
    rb_tensor *in[2] = {g, saved};
    if (!rb__check_inputs(rb__ops[id].name, 2, in)) return NULL;
    return rb__apply(id, 2, in, NULL, g->dtype, g->ndim, g->shape);
}

rb_tensor *rb_relu(rb_tensor *x) { return activation(RB__OP_relu, x, 0); }

rb_tensor *rb__relu_mask(rb_tensor *g, rb_tensor *y) { return grad_op(RB__OP_relu_grad, g, y); }
rb_tensor *rb_leaky_relu(rb_tensor *x, double alpha)
{
    return activation(RB__OP_leaky_relu, x, alpha);
}
rb_tensor *rb_elu(rb_tensor *x, double alpha) { return activation(RB__OP_elu, x, alpha); }
rb_tensor *rb_sigmoid(rb_tensor *x) { return activation(RB__OP_sigmoid, x, 0); }
rb_tensor *rb_tanh(rb_tensor *x) { return activation(RB__OP_tanh, x, 0); }
rb_tensor *rb_softplus(rb_tensor *x) { return activation(RB__OP_softplus, x, 0); }
rb_tensor *rb_gelu(rb_tensor *x) { return activation(RB__OP_gelu, x, 0); }

/* Constants of Klambauer et al. (2017), as in Keras and PyTorch. */
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

rb_tensor *rb_selu(rb_tensor *x) { return rb_mul_scalar(rb_elu(x, SELU_ALPHA), SELU_SCALE); }

#define ACT_FORWARD(name, KIND)                                                                    \
    rb_status rb__fwd_##name(rb_node *n)                                                           \
    {                                                                                              \
        rb__unary(KIND, n->in[0], n->out, n->attrs.f[0], 0.0);                                     \
        return RB_OK;                                                                              \
    }
ACT_FORWARD(relu, RB__U_RELU)
ACT_FORWARD(leaky_relu, RB__U_LEAKY)
ACT_FORWARD(elu, RB__U_ELU)
ACT_FORWARD(sigmoid, RB__U_SIGMOID)
ACT_FORWARD(tanh, RB__U_TANH)
ACT_FORWARD(softplus, RB__U_SOFTPLUS)
ACT_FORWARD(gelu, RB__U_GELU)

#define GRAD_FORWARD(name, KIND)                                                                   \
    rb_status rb__fwd_##name(rb_node *n)                                                           \
    {                                                                                              \
        rb__binary(KIND, n->in[0], n->in[1], n->out);                                              \
        return RB_OK;                                                                              \
    }
GRAD_FORWARD(relu_grad, RB__B_RELU_GRAD)
GRAD_FORWARD(sigmoid_grad, RB__B_SIGMOID_GRAD)
GRAD_FORWARD(tanh_grad, RB__B_TANH_GRAD)

static rb_tensor *zero_like(const rb_tensor *x) { return rb_tensor_scalar(x->dtype, 0.0); }

/* relu: g where x > 0 (0 at the kink, as PyTorch and TensorFlow). */
void rb__bwd_relu(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, grad_op(RB__OP_relu_grad, g, n->in[0]));
}

/* relu_grad(g, x) is linear in g with a constant mask: nothing flows to x. */
void rb__bwd_relu_grad(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gg)
{
    if (rb_grad_needed(ctx, n, 0)) rb_grad_add(ctx, n, 0, grad_op(RB__OP_relu_grad, gg, n->in[1]));
}

void rb__bwd_leaky_relu(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0];
    double alpha = n->attrs.f[0];
    rb_tensor *slope =
        rb_add_scalar(rb_mul_scalar(rb_greater(x, zero_like(x)), 1.0 - alpha), alpha);
    rb_grad_add(ctx, n, 0, rb_mul(g, slope));
}

void rb__bwd_elu(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    /* x > 0: 1; else alpha e^x = y + alpha */
    rb_tensor *x = n->in[0];
    rb_tensor *neg_side = rb_mul(g, rb_add_scalar(n->out, n->attrs.f[0]));
    rb_grad_add(ctx, n, 0, rb_where(rb_greater(x, zero_like(x)), g, neg_side));
}

void rb__bwd_sigmoid(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, grad_op(RB__OP_sigmoid_grad, g, n->out));
}

/* sigmoid_grad(g, y) = g y (1 - y) */
void rb__bwd_sigmoid_grad(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gg)
{
    rb_tensor *g = n->in[0], *y = n->in[1];
    if (rb_grad_needed(ctx, n, 0)) rb_grad_add(ctx, n, 0, grad_op(RB__OP_sigmoid_grad, gg, y));
    if (rb_grad_needed(ctx, n, 1)) /* g (1 - 2y) */
        rb_grad_add(ctx, n, 1, rb_mul(rb_mul(gg, g), rb_add_scalar(rb_mul_scalar(y, -2.0), 1.0)));
}

void rb__bwd_tanh(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, grad_op(RB__OP_tanh_grad, g, n->out));
}

/* tanh_grad(g, y) = g (1 - y^2) */
void rb__bwd_tanh_grad(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gg)
{
    rb_tensor *g = n->in[0], *y = n->in[1];
    if (rb_grad_needed(ctx, n, 0)) rb_grad_add(ctx, n, 0, grad_op(RB__OP_tanh_grad, gg, y));
    if (rb_grad_needed(ctx, n, 1)) /* -2 g y */
        rb_grad_add(ctx, n, 1, rb_mul(rb_mul(gg, g), rb_mul_scalar(y, -2.0)));
}

void rb__bwd_softplus(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, rb_mul(g, rb_sigmoid(n->in[0])));
}

void rb__bwd_gelu(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    /* d/dx x Phi(x) = Phi(x) + x phi(x) */
    rb_tensor *x = n->in[0];
    rb_tensor *cdf =
        rb_mul_scalar(rb_add_scalar(rb_erf(rb_mul_scalar(x, 0.70710678118654752440)), 1.0), 0.5);
    rb_tensor *pdf =
        rb_mul_scalar(rb_exp(rb_mul_scalar(rb_square(x), -0.5)), 0.39894228040143267794);
    rb_grad_add(ctx, n, 0, rb_mul(g, rb_add(cdf, rb_mul(x, pdf))));
}
