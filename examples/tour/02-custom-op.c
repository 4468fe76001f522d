/* Tour 02: a new op - forward, backward, registration - checked with gradcheck. */
#include <stdio.h>

#include <ruban.h>

/* Forward: y = x^3 (float64 here for brevity; a real op handles float32 too). */
static rb_status cube_forward(rb_node *node)
{
    const double *x = rb_tensor_f64(rb_node_input(node, 0));
    double *y = rb_tensor_f64(rb_node_output(node));
    if (!x || !y) return rb_last_status();
    for (int64_t i = 0; i < rb_tensor_size(rb_node_output(node)); i++)
        y[i] = x[i] * x[i] * x[i];
    return RB_OK;
}

/* Backward: dL/dx = dL/dy * 3x^2, written with public ops so it is itself differentiable. */
static void cube_backward(rb_grad_ctx *ctx, const rb_node *node, rb_tensor *grad_y)
{
    rb_tensor *x = rb_node_input(node, 0);
    rb_grad_add(ctx, node, 0, rb_mul(grad_y, rb_mul_scalar(rb_square(x), 3.0)));
}

/* Registration: a descriptor, and a function that checks inputs and applies it. */
static const rb_op_def cube_def = {"cube", 1, cube_forward, cube_backward};

static rb_tensor *cube(rb_tensor *x)
{
    if (!x) return NULL;
    if (rb_tensor_dtype(x) != RB_F64) {
        rb_error(RB_ERR_DTYPE, "cube: expects float64");
        return NULL;
    }
    return rb_op_apply(&cube_def, 1, &x, NULL, RB_F64, rb_tensor_ndim(x), rb_tensor_shape(x));
}

/* The function under test, in the form gradcheck takes. */
static rb_tensor *f(rb_tensor *const *inputs, int n, void *user_data)
{
    (void)n;
    (void)user_data;
    return rb_tanh(cube(inputs[0]));
}

int main(void)
{
    rb_scope *scope = rb_scope_begin();
    rb_rng rng = rb_rng_make(0);
    rb_tensor *x = rb_tensor_uniform(RB_F64, RB_SHAPE(3, 4), -1, 1, &rng);

    rb_gradcheck_report report;
    bool first = rb_gradcheck(f, NULL, 1, &x, NULL, &report);
    printf("gradcheck: %s\n", report.message);
    bool second = rb_gradgradcheck(f, NULL, 1, &x, NULL, &report);
    printf("gradgradcheck: %s\n", report.message);

    rb_scope_end(scope);
    return first && second ? 0 : 1;
}
