/* The error mechanism: statuses, the first-error record, the handler, NULL propagation. */
#include "testutil.h"

static void statuses_have_names_and_descriptions(void **state)
{
    (void)state;
    assert_string_equal(rb_status_name(RB_ERR_SHAPE), "RB_ERR_SHAPE");
    assert_string_equal(rb_status_string(RB_ERR_SHAPE), "shape mismatch");
    assert_string_equal(rb_status_name(RB_OK), "RB_OK");
    for (int s = 0; s < RB_STATUS_COUNT; s++) {
        assert_true(strlen(rb_status_name((rb_status)s)) > 3);
        assert_true(strlen(rb_status_string((rb_status)s)) > 1);
    }
    assert_string_equal(rb_status_name((rb_status)999), "RB_UNKNOWN");
}

static void the_first_error_is_kept_until_cleared(void **state)
{
    (void)state;
    rb_error_clear();
    assert_int_equal(rb_last_status(), RB_OK);
    assert_string_equal(rb_last_error(), "");
    rb_error(RB_ERR_IO, "first %d", 1);
    rb_error(RB_ERR_SHAPE, "second");
    assert_int_equal(rb_last_status(), RB_ERR_IO);
    assert_string_equal(rb_last_error(), "first 1");
    rb_error_clear();
    assert_int_equal(rb_last_status(), RB_OK);
}

typedef struct seen {
    int calls;
    rb_status last;
    char message[256];
} seen;

static void remember(rb_status status, const char *message, void *ud)
{
    seen *s = ud;
    s->calls++;
    s->last = status;
    snprintf(s->message, sizeof s->message, "%s", message);
}

static void the_handler_hears_every_error(void **state)
{
    (void)state;
    seen s = {0};
    rb_error_handler previous = rb_set_error_handler(remember, &s);
    rb_tensor *a = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    rb_tensor *b = rb_tensor_zeros(RB_F32, RB_SHAPE(4));
    assert_null(rb_add(a, b));
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.last, RB_ERR_SHAPE);
    assert_non_null(strstr(s.message, "rb_add: shapes [2,3] and [4] do not broadcast"));
    assert_null(rb_relu(NULL)); /* propagation is silent: no new error */
    assert_int_equal(s.calls, 1);
    rb_set_error_handler(previous, NULL);
    rb_error_clear();
}

static void a_null_input_fails_through_a_whole_expression(void **state)
{
    (void)state;
    rb_error_clear();
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(2, 2));
    rb_tensor *bad = rb_matmul(x, rb_tensor_ones(RB_F32, RB_SHAPE(3, 3)));
    assert_null(bad);
    rb_tensor *results[] = {
        rb_add(bad, x),
        rb_sub(x, bad),
        rb_mul(bad, bad),
        rb_div(bad, x),
        rb_exp(bad),
        rb_relu(bad),
        rb_softmax(bad, 0),
        rb_sum(bad, RB_ALL_AXES, false),
        rb_mean(bad, RB_ALL_AXES, false),
        rb_var(bad, RB_ALL_AXES, false, 0),
        rb_reshape(bad, RB_SHAPE(4)),
        rb_transpose(bad, 0, 1),
        rb_linear(bad, x, NULL),
        rb_concat(2, (rb_tensor *[]){x, bad}, 0),
        rb_where(bad, x, x),
        rb_mse(bad, x),
        rb_softmax_cross_entropy(bad, x),
        rb_cast(bad, RB_F64),
        rb_stop_gradient(bad),
        rb_gather(x, bad, 0),
        rb_pad(bad, (int64_t[]){0, 0}, (int64_t[]){0, 0}, 0),
    };
    for (size_t i = 0; i < sizeof results / sizeof results[0]; i++)
        if (results[i]) fail_msg("result %zu is not NULL", i);
    assert_int_equal(rb_last_status(), RB_ERR_SHAPE);
    assert_non_null(strstr(rb_last_error(), "rb_matmul: inner dimensions differ: [2,2] x [3,3]"));
    rb_error_clear();
}

static void a_genuine_null_input_is_named(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(2));
    CHECK_FAILS(rb_add(x, NULL), RB_ERR_ARGUMENT, "rb_add: input 1 is NULL");
    CHECK_FAILS(rb_tape_gradient1(NULL, x, x), RB_ERR_ARGUMENT, "tape is NULL");
}

static void misuse_names_the_op_and_shapes(void **state)
{
    (void)state;
    rb_tensor *f = rb_tensor_ones(RB_F32, RB_SHAPE(2, 3));
    rb_tensor *d = rb_tensor_ones(RB_F64, RB_SHAPE(2, 3));
    rb_tensor *i = rb_tensor_zeros(RB_I64, RB_SHAPE(2));
    CHECK_FAILS(rb_add(f, d), RB_ERR_DTYPE, "rb_add: dtypes differ: float32[2,3] and float64[2,3]");
    CHECK_FAILS(rb_exp(i), RB_ERR_DTYPE, "rb_exp: expects a float32 or float64 tensor, got int64");
    CHECK_FAILS(rb_sum(f, RB_AXES(2), false), RB_ERR_AXIS, "rb_sum: axis 2 out of range");
    CHECK_FAILS(rb_sum(f, RB_AXES(0, -2), false), RB_ERR_AXIS, "listed twice");
    CHECK_FAILS(rb_softmax(f, -3), RB_ERR_AXIS, "rb_softmax: axis -3");
    CHECK_FAILS(rb_permute(f, (const int[]){0, 0}), RB_ERR_AXIS, "repeated");
    CHECK_FAILS(rb_softmax_cross_entropy(f, TI64(RB_SHAPE(2), 0, 7)), RB_ERR_ARGUMENT,
                "label 7 at row 1 is out of range for 3 classes");
    CHECK_FAILS(rb_clamp(f, 1, 0), RB_ERR_ARGUMENT, "lo 1 must not exceed hi 0");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(statuses_have_names_and_descriptions),
        TEST(the_first_error_is_kept_until_cleared),
        TEST(the_handler_hears_every_error),
        TEST(a_null_input_fails_through_a_whole_expression),
        TEST(a_genuine_null_input_is_named),
        TEST(misuse_names_the_op_and_shapes),
    };
    return RUN_TESTS(tests, argc, argv);
}
