/* Parameter stores and optimizers (against the published update rules computed here by
 * hand). */
#include "testutil.h"

static void variables_are_found_by_name_and_names_are_unique(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    rb_tensor *w = rb_params_add(p, "layer.w", RB_SHAPE(3, 2), true);
    CHECK_SHAPE(w, 3, 2);
    assert_ptr_equal(rb_params_find(p, "layer.w"), w);
    assert_null(rb_params_find(p, "nope"));
    CHECK_FAILS(rb_params_add(p, "layer.w", RB_SHAPE(1), true), RB_ERR_ARGUMENT, "exists");
    CHECK_FAILS(rb_params_add(p, "", RB_SHAPE(1), true), RB_ERR_ARGUMENT, "1 to 63 characters");
    CHECK_FAILS(rb_params_add(p, "z", RB_SHAPE(0, 2), true), RB_ERR_SHAPE, "empty axis");
    CHECK_FAILS(rb_params_new(RB_I64), RB_ERR_DTYPE, "float32 or float64");
    assert_int_equal(rb_params_count(p), 1);
    CHECK_TENSOR(w, 0, 0, 0, 0, 0, 0, 0); /* zero-initialised */
    rb_params_free(p);
}

/* A shape whose element count (3 x 2^62) or byte count (2^61 doubles: 2^64 bytes) wraps would
 * back the variable by a few bytes of a wrapped-around slab: refused, the store unchanged. */
static void a_variable_whose_size_overflows_is_refused(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_tensor *a = rb_params_add(p, "a", RB_SHAPE(4), true);
    rb_tensor_fill(a, 2);
    CHECK_FAILS(rb_params_add(p, "count", RB_SHAPE(3, (int64_t)1 << 62), true), RB_ERR_SHAPE,
                "rb_params_add: 'count': shape [3,4611686018427387904] is too large");
    CHECK_FAILS(rb_params_add(p, "bytes", RB_SHAPE((int64_t)1 << 61), true), RB_ERR_SHAPE,
                "'bytes'");
    CHECK_FAILS(rb_params_add(p, "frozen", RB_SHAPE((int64_t)1 << 31, (int64_t)1 << 31), false),
                RB_ERR_SHAPE, "too large");
    CHECK_FAILS(rb_params_add(p, "zero", RB_SHAPE(0, (int64_t)1 << 62, 4), true), RB_ERR_SHAPE,
                "too large");
    assert_int_equal(rb_params_count(p), 1);
    assert_int_equal(rb_params_size(p, false), 4);
    rb_tensor *b = rb_params_add(p, "b", RB_SHAPE(3), true);
    CHECK_OK(b);
    CHECK_TENSOR(a, 0, 2, 2, 2, 2);
    rb_params_free(p);
}

/* The same through a layer: a Dense kernel of 2^31 x 2^31 float32 is 2^64 bytes. */
static void a_layer_whose_weights_overflow_is_refused(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    CHECK_FAILS(rb_layer_new(p, RB_DENSE(.units = (int64_t)1 << 31), RB_SHAPE((int64_t)1 << 31)),
                RB_ERR_SHAPE, "too large");
    CHECK_FAILS(rb_layer_new(p, RB_DENSE(.units = (int64_t)1 << 40), RB_SHAPE((int64_t)1 << 40)),
                RB_ERR_SHAPE, "too large");
    assert_int_equal(rb_params_count(p), 0);
    rb_params_free(p);
}

static void slabs_are_contiguous_aligned_and_survive_growth(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    rb_tensor *first = rb_params_add(p, "first", RB_SHAPE(5), true);
    rb_tensor_fill(first, 3);
    rb_tensor *vars[40];
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        vars[i] = rb_params_add(p, name, RB_SHAPE(100, 7), true); /* forces regrowth */
        rb_tensor_fill(vars[i], i);
    }
    CHECK_TENSOR(first, 0, 3, 3, 3, 3, 3);
    float *base = rb_tensor_f32(rb_params_flat_values(p));
    for (int i = 0; i < 40; i++) {
        int64_t off = rb_params_offset(p, vars[i]);
        assert_int_equal(off % 16, 0);                        /* 64-byte aligned */
        assert_ptr_equal(base + off, rb_tensor_f32(vars[i])); /* same slab */
        CHECK_CLOSE(base[off + 699], i, 0);
    }
    assert_int_equal(rb_params_size(p, true), 5 + 40 * 700);
    rb_params_free(p);
}

static void gradients_and_state_share_the_layout(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_tensor *a = rb_params_add(p, "a", RB_SHAPE(2), true);
    rb_tensor *stats = rb_params_add(p, "running_mean", RB_SHAPE(2), false);
    rb_tensor *m = rb_params_state(p, "m");
    rb_tensor *b = rb_params_add(p, "b", RB_SHAPE(3), true); /* added after the state */
    assert_int_equal(rb_tensor_size(m), rb_tensor_size(rb_params_flat_values(p)));
    rb_tensor_fill(rb_params_grad(p, b), 2);
    double *g = rb_tensor_f64(rb_params_flat_grads(p));
    CHECK_CLOSE(g[rb_params_offset(p, b) + 2], 2, 0);
    assert_int_equal(rb_params_offset(p, stats), -1); /* not in the trainable slabs */
    assert_false(rb_params_is_trainable(stats));
    CHECK_FAILS(rb_params_grad(p, stats), RB_ERR_ARGUMENT, "not trainable");
    CHECK_FAILS(rb_params_grad(p, T64(RB_SHAPE(1), 0)), RB_ERR_NOT_FOUND, "not a variable");
    rb_params_zero_grad(p);
    CHECK_TENSOR(rb_params_grad(p, b), 0, 0, 0, 0);
    assert_int_equal(rb_params_size(p, false), 7);
    CHECK_TENSOR(a, 0, 0, 0);
    rb_params_free(p);
}

/* One variable [1, -2] whose gradient the test sets before each step. */
static rb_params *one_variable(rb_tensor **w)
{
    rb_params *p = rb_params_new(RB_F64);
    *w = rb_params_add(p, "w", RB_SHAPE(2), true);
    rb_tensor_assign(*w, T64(RB_SHAPE(2), 1, -2));
    return p;
}

static void step_with(rb_optimizer *opt, rb_params *p, rb_tensor *w, double g0, double g1)
{
    rb_tensor_assign(rb_params_grad(p, w), T64(RB_SHAPE(2), g0, g1));
    CHECK_STATUS_OK(rb_optimizer_step(opt));
}

static void sgd_with_momentum_matches_the_rule(void **state)
{
    (void)state;
    rb_tensor *w;
    rb_params *p = one_variable(&w);
    rb_optimizer *opt = rb_sgd_new(p, (rb_sgd_config){.lr = 0.1, .momentum = 0.9});
    step_with(opt, p, w, 0.5, 0.25); /* v = g; w -= 0.1 v */
    CHECK_TENSOR(w, 1e-15, 0.95, -2.025);
    step_with(opt, p, w, 0.5, 0.25); /* v = 0.9 v + g = [0.95, 0.475] */
    CHECK_TENSOR(w, 1e-15, 0.95 - 0.095, -2.025 - 0.0475);
    assert_int_equal(rb_optimizer_steps(opt), 2);
    rb_optimizer_free(opt);
    rb_params_free(p);
}

static void sgd_nesterov_and_weight_decay_match_the_rule(void **state)
{
    (void)state;
    rb_tensor *w;
    rb_params *p = one_variable(&w);
    rb_optimizer *opt =
        rb_sgd_new(p, (rb_sgd_config){.lr = 0.1, .momentum = 0.9, .nesterov = true});
    step_with(opt, p, w, 0.5, 0.25); /* v = g; w -= lr (g + mu v) */
    CHECK_TENSOR(w, 1e-15, 1 - 0.1 * (0.5 + 0.45), -2 - 0.1 * (0.25 + 0.225));
    rb_optimizer_free(opt);
    rb_params_free(p);
    p = one_variable(&w);
    opt = rb_sgd_new(p, (rb_sgd_config){.lr = 0.1, .weight_decay = 0.01});
    step_with(opt, p, w, 0.5, 0.25); /* g + 0.01 w */
    CHECK_TENSOR(w, 1e-15, 1 - 0.1 * (0.5 + 0.01), -2 - 0.1 * (0.25 - 0.02));
    rb_optimizer_free(opt);
    rb_params_free(p);
}

static void adam_matches_algorithm_1(void **state)
{
    (void)state;
    rb_tensor *w;
    rb_params *p = one_variable(&w);
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-7;
    rb_optimizer *opt = rb_adam_new(p, (rb_adam_config){.lr = lr});
    double m[2] = {0}, v[2] = {0}, x[2] = {1, -2}, g[2][2] = {{0.5, 0.25}, {-0.3, 0.1}};
    for (int t = 1; t <= 2; t++) {
        step_with(opt, p, w, g[t - 1][0], g[t - 1][1]);
        for (int i = 0; i < 2; i++) {
            m[i] = b1 * m[i] + (1 - b1) * g[t - 1][i];
            v[i] = b2 * v[i] + (1 - b2) * g[t - 1][i] * g[t - 1][i];
            double mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t));
            x[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
        CHECK_TENSOR(w, 1e-13, x[0], x[1]);
    }
    CHECK_CLOSE(x[0],
                1 - 0.01 * 0.5 / (0.5 + 1e-7) -
                    0.01 * (0.015 / 0.19) /
                        (sqrt((0.999 * 0.00025 + 0.001 * 0.09) / (1 - 0.999 * 0.999)) + 1e-7),
                1e-12);
    rb_optimizer_free(opt);
    rb_params_free(p);
}

static void bad_optimizer_settings_are_refused(void **state)
{
    (void)state;
    rb_tensor *w;
    rb_params *p = one_variable(&w);
    CHECK_FAILS(rb_sgd_new(p, (rb_sgd_config){.lr = 0}), RB_ERR_ARGUMENT, "learning rate");
    CHECK_FAILS(rb_sgd_new(p, (rb_sgd_config){.lr = 0.1, .momentum = 1}), RB_ERR_ARGUMENT,
                "momentum");
    CHECK_FAILS(rb_sgd_new(p, (rb_sgd_config){.lr = 0.1, .nesterov = true}), RB_ERR_ARGUMENT,
                "Nesterov");
    CHECK_FAILS(rb_adam_new(p, (rb_adam_config){.lr = 0.1, .beta1 = 1.5}), RB_ERR_ARGUMENT,
                "betas");
    CHECK_FAILS(rb_adam_new(NULL, (rb_adam_config){.lr = 0.1}), RB_ERR_ARGUMENT, "store is NULL");
    rb_params_free(p);
}

static void a_step_invalidates_tapes_that_saw_the_old_values(void **state)
{
    (void)state;
    rb_tensor *w;
    rb_params *p = one_variable(&w);
    rb_optimizer *opt = rb_sgd_new(p, (rb_sgd_config){.lr = 0.1});
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *loss = rb_sum(rb_square(w), RB_ALL_AXES, false);
    rb_optimizer_step(opt);
    CHECK_FAILS(rb_tape_gradient_params(t, loss, p), RB_ERR_STATE, "modified in place");
    rb_tape_end(t);
    rb_optimizer_free(opt);
    rb_params_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(variables_are_found_by_name_and_names_are_unique),
        TEST(a_variable_whose_size_overflows_is_refused),
        TEST(a_layer_whose_weights_overflow_is_refused),
        TEST(slabs_are_contiguous_aligned_and_survive_growth),
        TEST(gradients_and_state_share_the_layout),
        TEST(sgd_with_momentum_matches_the_rule),
        TEST(sgd_nesterov_and_weight_decay_match_the_rule),
        TEST(adam_matches_algorithm_1),
        TEST(bad_optimizer_settings_are_refused),
        TEST(a_step_invalidates_tapes_that_saw_the_old_values),
    };
    return RUN_TESTS(tests, argc, argv);
}
