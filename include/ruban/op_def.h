/* ruban/op_def.h - defining a new differentiable op.
 *
 * An op is a descriptor {name, arity, forward, backward}. rb_op_apply() allocates the output,
 * runs forward and, when a tape watches an input, records the application (a node) so that
 * rb_tape_gradient() later calls backward with the gradient of the output. Backward adds one
 * gradient per input with rb_grad_add(); written with the public ops, it is itself recorded
 * by an outer tape, so second derivatives work. Check every new op with rb_gradcheck()
 * (ruban/gradcheck.h). The built-in ops use this very mechanism.
 *
 *     static rb_status cube_forward(rb_node *n) {           // y = x^3, float64 only here
 *         const double *x = rb_tensor_f64(rb_node_input(n, 0));
 *         double *y = rb_tensor_f64(rb_node_output(n));
 *         for (int64_t i = 0; i < rb_tensor_size(rb_node_output(n)); i++) y[i] = x[i] * x[i] *
 * x[i]; return RB_OK;
 *     }
 *     static void cube_backward(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gy) {
 *         rb_tensor *x = rb_node_input(n, 0);                // dy/dx = 3 x^2
 *         rb_grad_add(ctx, n, 0, rb_mul(gy, rb_mul_scalar(rb_square(x), 3.0)));
 *     }
 *     static const rb_op_def cube_def = {"cube", 1, cube_forward, cube_backward};
 *     rb_tensor *cube(rb_tensor *x) {
 *         if (!x) return NULL;
 *         return rb_op_apply(&cube_def, 1, &x, NULL, rb_tensor_dtype(x), rb_tensor_ndim(x),
 *                            rb_tensor_shape(x));
 *     }
 */
#ifndef RUBAN_OP_DEF_H
#define RUBAN_OP_DEF_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_node rb_node;
typedef struct rb_grad_ctx rb_grad_ctx;

/* Parameters of one application of an op (axes, scalars...), copied into the node. */
#define RB_ATTR_INTS  32
#define RB_ATTR_REALS 4
typedef struct rb_attrs {
    int64_t i[RB_ATTR_INTS];
    double f[RB_ATTR_REALS];
} rb_attrs;

typedef struct rb_op_def {
    const char *name; /* shown in errors, anomaly reports and tape dumps */
    int arity;        /* number of tensor inputs, or -1 for any number */
    /* Compute the output from the inputs and attributes; RB_OK or an error raised with
     * rb_error(). */
    rb_status (*forward)(rb_node *node);
    /* Add the gradient of each input that needs one, given the output's gradient. NULL marks
     * the op as not differentiable (it is then never recorded). */
    void (*backward)(rb_grad_ctx *ctx, const rb_node *node, rb_tensor *grad_output);
} rb_op_def;

/* Apply an op: the output (owned by the current owner) has the given dtype and shape.
 * attrs may be NULL (all zero). NULL if an input is NULL or forward fails. */
RB_API rb_tensor *rb_op_apply(const rb_op_def *def, int n_inputs, rb_tensor *const *inputs,
                              const rb_attrs *attrs, rb_dtype out_dtype, int out_ndim,
                              const int64_t *out_shape);

/* ---- inside forward and backward ---- */
RB_API int rb_node_num_inputs(const rb_node *node);
RB_API rb_tensor *rb_node_input(const rb_node *node, int i);
RB_API rb_tensor *rb_node_output(const rb_node *node);
RB_API const rb_attrs *rb_node_attrs(const rb_node *node);
/* Whether a tape keeps this node (backward will run): save extras only then. */
RB_API bool rb_node_is_recorded(const rb_node *node);
/* Keep an extra tensor (slot 0..3) computed in forward for use in backward; create it with
 * the public functions (it then belongs to the recording tape). */
RB_API void rb_node_save(rb_node *node, int slot, rb_tensor *t);
RB_API rb_tensor *rb_node_saved(const rb_node *node, int slot);

/* ---- inside backward ---- */
/* Whether input i leads to a tensor whose gradient was asked for; skip the work if not. */
RB_API bool rb_grad_needed(const rb_grad_ctx *ctx, const rb_node *node, int i);
/* Add g (same shape and dtype as input i) to the gradient of input i. A NULL g (an op that
 * failed) makes the gradient call fail with that op's error, whether input i needs a gradient
 * or not; so does any error raised while backward runs. */
RB_API void rb_grad_add(rb_grad_ctx *ctx, const rb_node *node, int i, rb_tensor *g);

/* ---- the built-in op table ---- */
/* Number of built-in ops and the name of op k (for tools and tests). */
RB_API int rb_op_count(void);
RB_API const char *rb_op_name(int k);
RB_API bool rb_op_is_differentiable(int k);

#ifdef __cplusplus
}
#endif
#endif
