/* The gradient checker itself: it passes correct ops, catches wrong ones, avoids kinks. */
#include "testutil.h"

/* y = x^3 with a backward chosen by the user data: 0 correct, 1 wrong factor, 2 correct first
 * derivative computed from a detached x (so its own derivative is wrong). */
static rb_status cube_forward(rb_node *n)
{
    const double *x = rb_tensor_f64(rb_node_input(n, 0));
    double *y = rb_tensor_f64(rb_node_output(n));
    for (int64_t i = 0; i < rb_tensor_size(rb_node_output(n)); i++)
        y[i] = x[i] * x[i] * x[i];
    return RB_OK;
}

static int cube_mode;

static void cube_backward(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gy)
{
    rb_tensor *x = rb_node_input(n, 0);
    if (cube_mode == 2) x = rb_stop_gradient(x);
    double factor = cube_mode == 1 ? 2.0 : 3.0;
    rb_grad_add(ctx, n, 0, rb_mul(gy, rb_mul_scalar(rb_square(x), factor)));
}

static const rb_op_def cube_def = {"cube", 1, cube_forward, cube_backward};

static rb_tensor *cube(rb_tensor *const *x, int n, void *ud)
{
    (void)n;
    (void)ud;
    if (!x[0]) return NULL;
    return rb_op_apply(&cube_def, 1, x, NULL, RB_F64, rb_tensor_ndim(x[0]), rb_tensor_shape(x[0]));
}

static void a_correct_custom_op_passes(void **state)
{
    (void)state;
    cube_mode = 0;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 0.5, -1.2, 2.0, 0.3, -0.7, 1.1);
    rb_gradcheck_report r;
    assert_true(rb_gradcheck(cube, NULL, 1, &x, NULL, &r));
    assert_int_equal(r.checked, 6);
    assert_non_null(strstr(r.message, "gradients match"));
}

static void a_wrong_backward_is_caught_with_the_worst_element(void **state)
{
    (void)state;
    cube_mode = 1; /* 2x^2 instead of 3x^2: off by x^2, worst where |x| is largest */
    rb_tensor *x = T64(RB_SHAPE(2, 3), 0.5, -1.2, 2.0, 0.3, -0.7, 1.1);
    rb_gradcheck_report r;
    assert_false(rb_gradcheck(cube, NULL, 1, &x, NULL, &r));
    assert_int_equal(r.input, 0);
    assert_int_equal(r.ndim, 2);
    assert_int_equal(r.index[0], 0);
    assert_int_equal(r.index[1], 2); /* x = 2.0 */
    assert_true(r.rel_error > 0.3);
    assert_non_null(strstr(r.message, "GRADIENT MISMATCH"));
    assert_non_null(strstr(r.message, "[0,2]"));
    /* The inputs are restored after the perturbations. */
    CHECK_TENSOR(x, 0, 0.5, -1.2, 2.0, 0.3, -0.7, 1.1);
}

static void gradgradcheck_catches_a_backward_that_is_not_differentiable(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3), 0.5, -1.2, 2.0);
    rb_gradcheck_report r;
    cube_mode = 2;
    assert_true(rb_gradcheck(cube, NULL, 1, &x, NULL, &r)); /* first order is right */
    assert_false(rb_gradgradcheck(cube, NULL, 1, &x, NULL, &r));
    cube_mode = 0;
    assert_true(rb_gradgradcheck(cube, NULL, 1, &x, NULL, &r));
}

static rb_tensor *relu_fn(rb_tensor *const *x, int n, void *ud)
{
    (void)n;
    (void)ud;
    return rb_relu(x[0]);
}

static void kinks_are_skipped_and_counted(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(4), 0.0, 1.0, -1.0, 0.0);
    rb_gradcheck_report r;
    assert_true(rb_gradcheck(relu_fn, NULL, 1, &x, NULL, &r));
    assert_int_equal(r.skipped_kinks, 2);
    assert_int_equal(r.checked, 2);
    /* Forced through the kink, the one-sided derivatives disagree and the check fails. */
    rb_gradcheck_options o = {.keep_kinks = true};
    assert_false(rb_gradcheck(relu_fn, NULL, 1, &x, &o, &r));
}

static rb_tensor *max_fn(rb_tensor *const *x, int n, void *ud)
{
    (void)n;
    (void)ud;
    return rb_max(x[0], RB_ALL_AXES, false);
}

static void ties_in_max_are_kinks(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3), 2.0, 2.0, 1.0);
    rb_gradcheck_report r;
    assert_true(rb_gradcheck(max_fn, NULL, 1, &x, NULL, &r));
    assert_int_equal(r.skipped_kinks, 2);
}

static void float32_inputs_are_refused(void **state)
{
    (void)state;
    rb_tensor *x = T32(RB_SHAPE(2), 1, 2);
    rb_gradcheck_report r;
    CHECK_FAILS(rb_gradcheck(relu_fn, NULL, 1, &x, NULL, &r), RB_ERR_DTYPE, "float64");
    assert_false(r.passed);
}

static rb_tensor *failing_fn(rb_tensor *const *x, int n, void *ud)
{
    (void)n;
    (void)ud;
    return rb_matmul(x[0], x[0]); /* 2x3 @ 2x3: a shape error */
}

static void a_failing_function_is_reported_not_passed(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F64, RB_SHAPE(2, 3));
    rb_gradcheck_report r;
    CHECK_FAILS(rb_gradcheck(failing_fn, NULL, 1, &x, NULL, &r), RB_ERR_SHAPE, "inner dimensions");
    assert_false(r.passed);
    assert_non_null(strstr(r.message, "function failed"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(a_correct_custom_op_passes),
        TEST(a_wrong_backward_is_caught_with_the_worst_element),
        TEST(gradgradcheck_catches_a_backward_that_is_not_differentiable),
        TEST(kinks_are_skipped_and_counted),
        TEST(ties_in_max_are_kinks),
        TEST(float32_inputs_are_refused),
        TEST(a_failing_function_is_reported_not_passed),
    };
    return RUN_TESTS(tests, argc, argv);
}
