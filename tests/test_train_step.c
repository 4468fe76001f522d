/* rb_train_step: the five calls of a training step in one. */
#include <stdlib.h>

#include "testutil.h"

/* A one-hidden-layer regression network and its batch. */
typedef struct net {
    rb_layer *hidden, *out;
    rb_tensor *x, *y;
} net;

static rb_tensor *predict(const net *n, rb_tensor *x)
{
    return rb_layer_forward(n->out, rb_tanh(rb_layer_forward(n->hidden, x)));
}

static rb_tensor *mse_loss(void *user)
{
    net *n = user;
    return rb_mse(predict(n, n->x), n->y);
}

/* Layers of a seeded store; input shapes at creation, or at the first call when lazy. */
static net make_net(rb_params *p, rb_layer_spec hidden, bool lazy, rb_tensor *x, rb_tensor *y)
{
    rb_params_seed(p, 13);
    net n = {lazy ? rb_layer_new(p, hidden, 0, NULL) : rb_layer_new(p, hidden, RB_SHAPE(1)),
             lazy ? rb_layer_new(p, RB_DENSE(.units = 1), 0, NULL)
                  : rb_layer_new(p, RB_DENSE(.units = 1), RB_SHAPE(hidden.units)),
             x, y};
    CHECK_OK(n.hidden && n.out);
    return n;
}

static void line(rb_tensor **x, rb_tensor **y)
{
    rb_rng rng = rb_rng_make(3);
    *x = rb_tensor_uniform(RB_F64, RB_SHAPE(32, 1), -1, 1, &rng);
    *y = rb_add_scalar(rb_mul_scalar(*x, 3.0), -1.0);
}

static void same_values(rb_params *a, rb_params *b)
{
    rb_tensor *va = rb_params_flat_values(a), *vb = rb_params_flat_values(b);
    assert_int_equal(rb_tensor_size(va), rb_tensor_size(vb));
    for (int64_t i = 0; i < rb_tensor_size(va); i++)
        if (rb_tensor_get_flat(va, i) != rb_tensor_get_flat(vb, i))
            fail_msg("value %lld: %.17g and %.17g", (long long)i, rb_tensor_get_flat(va, i),
                     rb_tensor_get_flat(vb, i));
}

static void a_train_step_does_what_the_five_calls_do(void **state)
{
    (void)state;
    rb_tensor *x, *y;
    line(&x, &y);
    rb_params *by_hand = rb_params_new(RB_F64), *in_one = rb_params_new(RB_F64);
    net a = make_net(by_hand, RB_DENSE(.units = 8), false, x, y);
    net b = make_net(in_one, RB_DENSE(.units = 8), false, x, y);
    rb_optimizer *opt_a = rb_adam_new(by_hand, (rb_adam_config){.lr = 0.05});
    rb_optimizer *opt_b = rb_adam_new(in_one, (rb_adam_config){.lr = 0.05});
    for (int step = 0; step < 5; step++) {
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *loss = mse_loss(&a);
        CHECK_STATUS_OK(rb_tape_gradient_params(tape, loss, by_hand));
        double want = rb_tensor_item(loss);
        rb_tape_end(tape);
        CHECK_STATUS_OK(rb_optimizer_step(opt_a));
        double got = rb_train_step(in_one, opt_b, mse_loss, &b);
        if (got != want) fail_msg("step %d: loss %.17g, by hand %.17g", step, got, want);
    }
    same_values(by_hand, in_one);
    assert_int_equal(rb_optimizer_steps(opt_b), 5);
    rb_optimizer_free(opt_a);
    rb_optimizer_free(opt_b);
    rb_params_free(by_hand);
    rb_params_free(in_one);
}

static void a_train_step_adds_the_layers_penalties_and_applies_their_constraints(void **state)
{
    (void)state;
    rb_tensor *x, *y;
    line(&x, &y);
    rb_layer_spec hidden = RB_DENSE(.units = 8, .l2 = 0.1, .max_norm = 0.3);
    rb_params *by_hand = rb_params_new(RB_F64), *in_one = rb_params_new(RB_F64);
    net a = make_net(by_hand, hidden, false, x, y);
    net b = make_net(in_one, hidden, false, x, y);
    rb_optimizer *opt_a = rb_sgd_new(by_hand, (rb_sgd_config){.lr = 0.5});
    rb_optimizer *opt_b = rb_sgd_new(in_one, (rb_sgd_config){.lr = 0.5});
    for (int step = 0; step < 3; step++) {
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *loss = mse_loss(&a);
        rb_tensor *total = rb_add(loss, rb_layer_regularization(a.hidden));
        CHECK_STATUS_OK(rb_tape_gradient_params(tape, total, by_hand));
        double want = rb_tensor_item(loss); /* the loss returned leaves the penalty out */
        rb_tape_end(tape);
        CHECK_STATUS_OK(rb_optimizer_step(opt_a));
        CHECK_STATUS_OK(rb_layer_apply_constraints(a.hidden));
        double got = rb_train_step(in_one, opt_b, mse_loss, &b);
        if (got != want) fail_msg("step %d: loss %.17g, by hand %.17g", step, got, want);
    }
    same_values(by_hand, in_one);
    rb_optimizer_free(opt_a);
    rb_optimizer_free(opt_b);
    rb_params_free(by_hand);
    rb_params_free(in_one);
}

/* Layers built at the first step (the optimizer made before they had variables) train as those
 * built at creation. */
static void a_train_step_builds_layers_at_their_first_call(void **state)
{
    (void)state;
    rb_tensor *x, *y;
    line(&x, &y);
    rb_params *eager = rb_params_new(RB_F64), *lazy = rb_params_new(RB_F64);
    net a = make_net(eager, RB_DENSE(.units = 8), false, x, y);
    net b = make_net(lazy, RB_DENSE(.units = 8), true, x, y);
    rb_optimizer *opt_a = rb_adam_new(eager, (rb_adam_config){.lr = 0.05});
    rb_optimizer *opt_b = rb_adam_new(lazy, (rb_adam_config){.lr = 0.05});
    assert_int_equal(rb_params_count(lazy), 0);
    double first = NAN, last = NAN;
    for (int step = 0; step < 20; step++) {
        double want = rb_train_step(eager, opt_a, mse_loss, &a);
        last = rb_train_step(lazy, opt_b, mse_loss, &b);
        if (step == 0) first = last;
        if (last != want)
            fail_msg("step %d: loss %.17g, built at creation %.17g", step, last, want);
    }
    assert_true(last < first / 4);
    same_values(eager, lazy);
    rb_optimizer_free(opt_a);
    rb_optimizer_free(opt_b);
    rb_params_free(eager);
    rb_params_free(lazy);
}

/* ---- failures: NaN, the error kept, nothing updated ---- */

typedef struct failing {
    net n;
    int mode;
} failing;

enum { FAIL_SHAPE, FAIL_SILENT, FAIL_NOT_SCALAR, FAIL_NONFINITE, FAIL_GRADIENT };

static rb_tensor *failing_loss(void *user)
{
    failing *f = user;
    rb_tensor *pred = predict(&f->n, f->n.x);
    switch (f->mode) {
    case FAIL_SHAPE: return rb_mse(pred, rb_tensor_zeros(RB_F64, RB_SHAPE(3, 2)));
    case FAIL_SILENT: return NULL;
    case FAIL_NOT_SCALAR: return rb_square(rb_sub(pred, f->n.y));
    case FAIL_NONFINITE: return rb_mul_scalar(rb_mse(pred, f->n.y), INFINITY);
    default: {
        rb_tensor *loss = rb_mse(pred, f->n.y);
        /* The kernel changes after it was recorded: its gradient would be wrong. */
        rb_tensor_set_flat(rb_layer_kernel(f->n.hidden), 0, 0.5);
        return loss;
    }
    }
}

static void check_step_fails(int mode, rb_status status, const char *needle)
{
    rb_tensor *x, *y;
    line(&x, &y);
    rb_params *p = rb_params_new(RB_F64);
    failing f = {make_net(p, RB_DENSE(.units = 4), false, x, y), mode};
    rb_optimizer *opt = rb_sgd_new(p, (rb_sgd_config){.lr = 0.1});
    rb_tensor *before = rb_tensor_copy(rb_params_flat_values(p));
    if (mode == FAIL_GRADIENT) rb_tensor_set_flat(before, 0, 0.5); /* set by the loss itself */
    rb_error_clear();
    double loss = rb_train_step(p, opt, failing_loss, &f);
    if (!isnan(loss)) fail_msg("mode %d: loss %g, expected NaN", mode, loss);
    if (rb_last_status() != status || !strstr(rb_last_error(), needle))
        fail_msg("mode %d: expected %s with \"%s\", got %s: \"%s\"", mode, rb_status_name(status),
                 needle, rb_status_name(rb_last_status()), rb_last_error());
    rb_error_clear();
    assert_int_equal(rb_optimizer_steps(opt), 0);
    CHECK_CLOSE(rb_tensor_item(
                    rb_max(rb_abs(rb_sub(rb_params_flat_values(p), before)), RB_ALL_AXES, false)),
                0, 0);
    rb_optimizer_free(opt);
    rb_params_free(p);
}

static void a_train_step_whose_loss_fails_keeps_the_error_and_updates_nothing(void **state)
{
    (void)state;
    check_step_fails(FAIL_SHAPE, RB_ERR_SHAPE, "rb_mse");
}

static void a_loss_function_returning_null_silently_is_reported(void **state)
{
    (void)state;
    check_step_fails(FAIL_SILENT, RB_ERR_ARGUMENT,
                     "rb_train_step: the loss function returned NULL");
}

static void a_train_step_refuses_a_loss_that_is_not_a_scalar(void **state)
{
    (void)state;
    check_step_fails(FAIL_NOT_SCALAR, RB_ERR_SHAPE,
                     "rb_train_step: the loss must be a float scalar, got float64 [32,1]");
}

static void a_train_step_refuses_a_non_finite_loss(void **state)
{
    (void)state;
    check_step_fails(FAIL_NONFINITE, RB_ERR_NONFINITE,
                     "rb_train_step: the loss is inf; the parameters were not updated");
}

static void a_train_step_whose_gradient_fails_updates_nothing(void **state)
{
    (void)state;
    check_step_fails(FAIL_GRADIENT, RB_ERR_STATE, "modified in place");
}

static void a_train_step_refuses_an_optimizer_of_another_store(void **state)
{
    (void)state;
    rb_tensor *x, *y;
    line(&x, &y);
    rb_params *p = rb_params_new(RB_F64), *other = rb_params_new(RB_F64);
    net n = make_net(p, RB_DENSE(.units = 4), false, x, y);
    rb_optimizer *opt = rb_sgd_new(other, (rb_sgd_config){.lr = 0.1});
    CHECK_FAILS(assert_true(isnan(rb_train_step(p, opt, mse_loss, &n))), RB_ERR_ARGUMENT,
                "rb_train_step: the optimizer was made for another parameter store");
    CHECK_FAILS(assert_true(isnan(rb_train_step(p, opt, NULL, &n))), RB_ERR_ARGUMENT,
                "rb_train_step: parameters, optimizer or loss function is NULL");
    rb_optimizer_free(opt);
    rb_params_free(other);
    rb_params_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(a_train_step_does_what_the_five_calls_do),
        TEST(a_train_step_adds_the_layers_penalties_and_applies_their_constraints),
        TEST(a_train_step_builds_layers_at_their_first_call),
        TEST(a_train_step_whose_loss_fails_keeps_the_error_and_updates_nothing),
        TEST(a_loss_function_returning_null_silently_is_reported),
        TEST(a_train_step_refuses_a_loss_that_is_not_a_scalar),
        TEST(a_train_step_refuses_a_non_finite_loss),
        TEST(a_train_step_whose_gradient_fails_updates_nothing),
        TEST(a_train_step_refuses_an_optimizer_of_another_store),
    };
    return RUN_TESTS(tests, argc, argv);
}
