/* The gradient tape: what it records, gradients, persistence, nesting, memory, debugging. */
#include <stdlib.h>
#include <unistd.h>

#include "tape_impl.h"
#include "testutil.h"

static void ops_on_unwatched_tensors_are_not_recorded(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3), 1, 2, 3);
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *y = rb_exp(rb_mul(x, x));
    assert_int_equal(rb_tape_num_ops(t), 0);
    CHECK_OK(y);
    rb_tape_end(t);
}

static void watched_tensors_get_gradients(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3), 1, -2, 3);
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    CHECK_STATUS_OK(rb_tape_watch(t, x));
    rb_tensor *y = rb_sum(rb_mul(x, x), RB_ALL_AXES, false);
    assert_int_equal(rb_tape_num_ops(t), 2);
    CHECK_TENSOR(rb_tape_gradient1(t, y, x), 1e-12, 2, -4, 6); /* d sum(x^2) = 2x */
    rb_tape_end(t);
}

static void trainable_variables_are_watched_automatically(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_tensor *w = rb_params_add(p, "w", RB_SHAPE(2), true);
    rb_tensor_assign(w, T64(RB_SHAPE(2), 3, 4));
    rb_tensor *x = T64(RB_SHAPE(2), 5, 6);
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *y = rb_sum(rb_mul(w, x), RB_ALL_AXES, false);
    CHECK_TENSOR(rb_tape_gradient1(t, y, w), 0, 5, 6);
    rb_tape_end(t);
    /* With manual watching the variable is ignored. */
    t = rb_tape_begin(RB_TAPE_MANUAL_WATCH);
    y = rb_sum(rb_mul(w, x), RB_ALL_AXES, false);
    assert_int_equal(rb_tape_num_ops(t), 0);
    CHECK_TENSOR(rb_tape_gradient1(t, y, w), 0, 0, 0); /* no path: zeros */
    rb_tape_end(t);
    rb_params_free(p);
}

static void gradients_accumulate_over_every_use(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2), 1.5, -0.5);
    rb_tape *t = rb_tape_begin(RB_TAPE_PERSISTENT);
    rb_tape_watch(t, x);
    /* y = x*x + x + x: dy/dx = 2x + 2 */
    rb_tensor *y = rb_add(rb_add(rb_mul(x, x), x), x);
    CHECK_TENSOR(rb_tape_gradient1(t, y, x), 1e-12, 5, 1);
    /* z = x + x: the same tensor twice in one op */
    rb_tensor *z = rb_add(x, x);
    CHECK_TENSOR(rb_tape_gradient1(t, z, x), 0, 2, 2);
    rb_tape_end(t);
}

static void non_differentiable_paths_give_zero(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3), 1, -2, 3);
    rb_tensor *other = T64(RB_SHAPE(3), 1, 1, 1);
    rb_tape *t = rb_tape_begin(RB_TAPE_PERSISTENT);
    rb_tape_watch(t, x);
    rb_tape_watch(t, other);
    rb_tensor *y = rb_mul_scalar(rb_sign(x), 3);
    CHECK_TENSOR(rb_tape_gradient1(t, y, x), 0, 0, 0, 0);
    /* A source the target does not depend on. */
    rb_tensor *z = rb_sum(rb_square(x), RB_ALL_AXES, false);
    CHECK_TENSOR(rb_tape_gradient1(t, z, other), 0, 0, 0, 0);
    /* Through an integer result (argmax) nothing flows either. */
    rb_tensor *picked = rb_cast(rb_argmax(x, 0, false), RB_F64);
    CHECK_TENSOR(rb_tape_gradient1(t, picked, x), 0, 0, 0, 0);
    rb_tape_end(t);
}

static void a_non_persistent_tape_gives_one_gradient(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(1), 2);
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(t, x);
    rb_tensor *y = rb_square(x);
    CHECK_OK(rb_tape_gradient1(t, y, x));
    CHECK_FAILS(rb_tape_gradient1(t, y, x), RB_ERR_STATE, "RB_TAPE_PERSISTENT");
    rb_tape_end(t);
}

static void a_persistent_tape_gives_several(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(1), 2);
    rb_tape *t = rb_tape_begin(RB_TAPE_PERSISTENT);
    rb_tape_watch(t, x);
    rb_tensor *y = rb_square(x), *z = rb_exp(x);
    CHECK_TENSOR(rb_tape_gradient1(t, y, x), 0, 4);
    CHECK_TENSOR(rb_tape_gradient1(t, z, x), 1e-12, exp(2.0));
    CHECK_TENSOR(rb_tape_gradient1(t, y, x), 0, 4);
    rb_tape_end(t);
}

static void stop_gradient_cuts_the_path(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2), 3, -1);
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(t, x);
    rb_tensor *y = rb_mul(x, rb_stop_gradient(x)); /* d/dx = stop(x) = x, not 2x */
    CHECK_TENSOR(rb_tape_gradient1(t, y, x), 0, 3, -1);
    rb_tape_end(t);
}

static void a_non_scalar_target_is_summed_and_a_seed_weights_it(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3), 1, 2, 3);
    rb_tape *t = rb_tape_begin(RB_TAPE_PERSISTENT);
    rb_tape_watch(t, x);
    rb_tensor *y = rb_square(x);
    CHECK_TENSOR(rb_tape_gradient1(t, y, x), 0, 2, 4, 6);
    rb_tensor *seed = T64(RB_SHAPE(3), 1, 0, -1), *g;
    CHECK_STATUS_OK(rb_tape_gradient_seeded(t, y, seed, 1, &x, &g));
    CHECK_TENSOR(g, 0, 2, 0, -6);
    CHECK_FAILS(rb_tape_gradient_seeded(t, y, T64(RB_SHAPE(2), 1, 1), 1, &x, &g), RB_ERR_SHAPE,
                "seed");
    rb_tape_end(t);
}

static void gradients_with_respect_to_intermediates(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2), 1, 2);
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(t, x);
    rb_tensor *h = rb_mul_scalar(x, 3);
    rb_tensor *y = rb_sum(rb_square(h), RB_ALL_AXES, false);
    rb_tensor *src[2] = {h, x}, *g[2];
    CHECK_STATUS_OK(rb_tape_gradient(t, y, 2, src, g));
    CHECK_TENSOR(g[0], 1e-12, 6, 12);  /* 2h */
    CHECK_TENSOR(g[1], 1e-12, 18, 36); /* 2h * 3 */
    rb_tape_end(t);
}

static void nested_tapes_give_second_derivatives(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2), 2, -1);
    rb_tape *outer = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(outer, x);
    rb_tape *inner = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(inner, x);
    rb_tensor *y = rb_pow_scalar(x, 3);             /* x^3 */
    rb_tensor *dy = rb_tape_gradient1(inner, y, x); /* 3x^2, recorded on the outer tape */
    rb_tape_end(inner);
    CHECK_TENSOR(dy, 1e-12, 12, 3);
    CHECK_TENSOR(rb_tape_gradient1(outer, dy, x), 1e-12, 12, -6); /* 6x */
    rb_tape_end(outer);
}

/* f(x) = sum(tanh(W x)^2) + sum(x^4) / 4, a smooth function with a full Hessian. */
static rb_tensor *hvp_f(rb_tensor *w, rb_tensor *x)
{
    rb_tensor *h = rb_tanh(rb_matmul(w, x));
    return rb_add(rb_sum(rb_square(h), RB_ALL_AXES, false),
                  rb_mul_scalar(rb_sum(rb_pow_scalar(x, 4), RB_ALL_AXES, false), 0.25));
}

static void grad_at(rb_tensor *w, rb_tensor *x, double *out)
{
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(t, x);
    rb_tensor *g = rb_tape_gradient1(t, hvp_f(w, x), x);
    rb_tensor_to_doubles(g, out, 3);
    rb_tape_end(t);
}

static void hessian_vector_products_match_finite_differences(void **state)
{
    (void)state;
    rb_tensor *w = T64(RB_SHAPE(2, 3), 0.3, -0.2, 0.5, 0.1, 0.4, -0.6);
    rb_tensor *x = T64(RB_SHAPE(3), 0.7, -0.4, 0.9);
    rb_tensor *v = T64(RB_SHAPE(3), 1.0, 0.5, -2.0);
    /* H v by forward-over-... reverse-over-reverse: grad of (grad f . v). */
    rb_tape *outer = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(outer, x);
    rb_tape *inner = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(inner, x);
    rb_tensor *g = rb_tape_gradient1(inner, hvp_f(w, x), x);
    rb_tape_end(inner);
    rb_tensor *gv = rb_sum(rb_mul(g, v), RB_ALL_AXES, false);
    rb_tensor *hv = rb_tape_gradient1(outer, gv, x);
    double analytic[3];
    rb_tensor_to_doubles(hv, analytic, 3);
    rb_tape_end(outer);
    /* (grad f(x + e v) - grad f(x - e v)) / 2e */
    const double e = 1e-5;
    double *xd = rb_tensor_f64(x), *vd = rb_tensor_f64(v), x0[3], gp[3], gm[3];
    memcpy(x0, xd, sizeof x0);
    for (int i = 0; i < 3; i++)
        xd[i] = x0[i] + e * vd[i];
    grad_at(w, x, gp);
    for (int i = 0; i < 3; i++)
        xd[i] = x0[i] - e * vd[i];
    grad_at(w, x, gm);
    memcpy(xd, x0, sizeof x0);
    for (int i = 0; i < 3; i++)
        CHECK_CLOSE(analytic[i], (gp[i] - gm[i]) / (2 * e), 1e-7);
}

static void gradient_into_params_overwrites_and_zeroes_unused_variables(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_tensor *a = rb_params_add(p, "a", RB_SHAPE(2), true);
    rb_tensor *unused = rb_params_add(p, "unused", RB_SHAPE(3), true);
    rb_tensor_assign(a, T64(RB_SHAPE(2), 1, 2));
    rb_tensor_fill(rb_params_grad(p, unused), 7); /* stale values must not survive */
    for (int round = 0; round < 2; round++) {     /* overwritten, not accumulated */
        rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *loss = rb_sum(rb_square(a), RB_ALL_AXES, false);
        CHECK_STATUS_OK(rb_tape_gradient_params(t, loss, p));
        rb_tape_end(t);
        CHECK_TENSOR(rb_params_grad(p, a), 0, 2, 4);
        CHECK_TENSOR(rb_params_grad(p, unused), 0, 0, 0, 0);
    }
    rb_params_free(p);
}

static void matmul_weight_gradients_land_in_the_store(void **state)
{
    (void)state;
    /* The fast path writes GEMM results straight into the store; compare with the graph path
     * (an outer tape forces out-of-place ops). */
    rb_params *p = rb_params_new(RB_F64);
    rb_tensor *w = rb_params_add(p, "w", RB_SHAPE(3, 2), true);
    rb_tensor *b = rb_params_add(p, "b", RB_SHAPE(2), true);
    rb_tensor_assign(w, T64(RB_SHAPE(3, 2), 0.1, -0.2, 0.3, 0.4, -0.5, 0.6));
    rb_tensor_assign(b, T64(RB_SHAPE(2), 0.01, -0.02));
    rb_tensor *x = T64(RB_SHAPE(4, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, -1);
    /* w used twice: the second contribution must add to the first in the store. */
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *y = rb_add(rb_linear(x, w, b), rb_matmul(x, w));
    rb_tensor *loss = rb_sum(rb_square(y), RB_ALL_AXES, false);
    CHECK_STATUS_OK(rb_tape_gradient_params(t, loss, p));
    rb_tape_end(t);
    double fast[6];
    rb_tensor_to_doubles(rb_params_grad(p, w), fast, 6);
    rb_tape *outer = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape *inner = rb_tape_begin(RB_TAPE_DEFAULT);
    y = rb_add(rb_linear(x, w, b), rb_matmul(x, w));
    loss = rb_sum(rb_square(y), RB_ALL_AXES, false);
    rb_tensor *gw = rb_tape_gradient1(inner, loss, w);
    rb_tape_end(inner);
    double slow[6];
    rb_tensor_to_doubles(gw, slow, 6);
    rb_tape_end(outer);
    for (int i = 0; i < 6; i++)
        CHECK_CLOSE(fast[i], slow[i], 1e-10);
    rb_params_free(p);
}

static void in_place_changes_after_recording_are_refused(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2), 1, 2);
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(t, x);
    rb_tensor *y = rb_square(x);
    rb_tensor_fill(x, 5); /* the record now holds stale values */
    CHECK_FAILS(rb_tape_gradient1(t, y, x), RB_ERR_STATE, "modified in place");
    rb_tape_end(t);
}

static void tapes_end_in_reverse_order(void **state)
{
    (void)state;
    rb_tape *a = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape *b = rb_tape_begin(RB_TAPE_DEFAULT);
    CHECK_FAILS(rb_tape_end(a), RB_ERR_STATE, "not the innermost");
    rb_tape_end(b);
    rb_tape_end(a);
    rb_tape_end(NULL);
}

static void at_most_eight_tapes_nest(void **state)
{
    (void)state;
    rb_tape *t[9];
    for (int i = 0; i < 8; i++)
        CHECK_OK(t[i] = rb_tape_begin(RB_TAPE_DEFAULT));
    CHECK_FAILS(t[8] = rb_tape_begin(RB_TAPE_DEFAULT), RB_ERR_STATE, "at most 8");
    assert_null(t[8]);
    for (int i = 7; i >= 0; i--)
        rb_tape_end(t[i]);
}

static void integer_targets_and_sources_are_refused(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2), 1, 2), *labels = TI64(RB_SHAPE(2), 0, 1);
    rb_tape *t = rb_tape_begin(RB_TAPE_PERSISTENT);
    rb_tape_watch(t, x);
    CHECK_FAILS(rb_tape_watch(t, labels), RB_ERR_DTYPE, "int64");
    CHECK_FAILS(rb_tape_gradient1(t, rb_argmax(x, 0, false), x), RB_ERR_DTYPE, "not a float");
    CHECK_FAILS(rb_tape_gradient1(t, rb_square(x), labels), RB_ERR_DTYPE, "source 0 is int64");
    rb_tape_end(t);
}

static void anomaly_mode_names_the_op_that_made_a_nan(void **state)
{
    (void)state;
    bool previous = rb_set_anomaly_mode(true);
    rb_tensor *x = T64(RB_SHAPE(2, 2), 1, -1, 2, 3);
    CHECK_FAILS(rb_log(x), RB_ERR_NONFINITE, "rb_log: produced NaN at flat index 1");
    CHECK_FAILS(rb_relu(rb_log(x)), RB_ERR_NONFINITE, "inputs [2,2]");
    /* Backward: sqrt(0) is fine, its derivative 1/(2 sqrt 0) is not. */
    rb_tensor *z = T64(RB_SHAPE(2), 0, 4);
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(t, z);
    rb_tensor *y = rb_sqrt(z);
    CHECK_FAILS(rb_tape_gradient1(t, y, z), RB_ERR_NONFINITE, "in the backward of rb_sqrt");
    rb_tape_end(t);
    rb_set_anomaly_mode(previous);
    CHECK_OK(rb_log(x)); /* off again: NaN is just a value */
}

static void the_tape_dumps_as_graphviz(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6), *w = T64(RB_SHAPE(3, 1), 1, 1, 1);
    rb_tensor_set_name(w, "weights");
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(t, w);
    rb_tensor *y = rb_relu(rb_matmul(x, w));
    CHECK_OK(y);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_STATUS_OK(rb_tape_write_dot(t, f));
    fclose(f);
    assert_non_null(strstr(buf, "digraph tape"));
    assert_non_null(strstr(buf, "label=\"matmul\""));
    assert_non_null(strstr(buf, "label=\"relu\""));
    assert_non_null(strstr(buf, "weights"));
    assert_non_null(strstr(buf, "[2,1]"));
    free(buf);
    char path[] = "/tmp/ruban-test-dot-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    CHECK_STATUS_OK(rb_tape_save_dot(t, path));
    FILE *g = fopen(path, "r");
    assert_non_null(g);
    fclose(g);
    remove(path);
    CHECK_FAILS(rb_tape_save_dot(t, "/nonexistent-dir/x.dot"), RB_ERR_IO, "cannot write");
    rb_tape_end(t);
}

static void a_training_loop_allocates_nothing_in_steady_state(void **state)
{
    rb_scope_end(*state); /* measure with no enclosing owner, as a real loop runs */
    rb_params *p = rb_params_new(RB_F32);
    rb_rng rng = rb_rng_make(3);
    rb_layer *l1 = rb_layer_new(p, RB_DENSE(.units = 16), RB_SHAPE(20));
    rb_layer *l2 = rb_layer_new(p, RB_DENSE(.units = 4), RB_SHAPE(16));
    rb_optimizer *opt = rb_adam_new(p, (rb_adam_config){.lr = 1e-3});
    rb_tensor *x = rb_tensor_normal(RB_F32, RB_SHAPE(64, 20), 0, 1, &rng);
    rb_tensor *y = rb_tensor_zeros(RB_I64, RB_SHAPE(64));
    rb_batcher *b = rb_batcher_new(x, y, 16, true, 1);
    rb_memory_stat at5 = {0}, at50;
    for (int step = 0; step < 50; step++) {
        rb_tensor *xb, *yb;
        if (!rb_batcher_next(b, &xb, &yb)) rb_batcher_next(b, &xb, &yb);
        rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *logits = rb_layer_forward(l2, rb_relu(rb_layer_forward(l1, xb)));
        rb_tensor *loss = rb_softmax_cross_entropy(logits, yb);
        rb_tape_gradient_params(t, loss, p);
        rb_tape_end(t);
        rb_optimizer_step(opt);
        if (step == 5) rb_memory_stats(&at5);
    }
    rb_memory_stats(&at50);
    assert_int_equal(at50.heap_allocations, at5.heap_allocations);
    rb_batcher_free(b);
    rb_tensor_free(x);
    rb_tensor_free(y);
    rb_optimizer_free(opt);
    rb_params_free(p);
    *state = rb_scope_begin();
}

static void scopes_release_what_they_own(void **state)
{
    rb_scope_end(*state);
    rb_memory_stat before, after;
    for (int round = 0; round < 3; round++) {
        if (round == 1) rb_memory_stats(&before);
        rb_scope *s = rb_scope_begin();
        rb_tensor *a = rb_tensor_ones(RB_F32, RB_SHAPE(100, 100));
        CHECK_OK(rb_relu(rb_matmul(a, a)));
        rb_scope_end(s);
    }
    rb_memory_stats(&after);
    assert_int_equal(after.heap_allocations, before.heap_allocations); /* memory reused */
    *state = rb_scope_begin();
}

static void a_failed_op_propagates_null_to_one_final_check(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(32, 784));
    rb_tensor *w = rb_tensor_ones(RB_F32, RB_SHAPE(256, 128));
    rb_error_clear();
    rb_tensor *y = rb_softmax(rb_relu(rb_add_scalar(rb_matmul(x, w), 1)), -1);
    assert_null(y);
    assert_int_equal(rb_last_status(), RB_ERR_SHAPE);
    assert_non_null(strstr(rb_last_error(), "rb_matmul: inner dimensions differ: [32,784] x "
                                            "[256,128]"));
    rb_error_clear();
}

/* ---- a backward rule that fails makes the gradient call fail ---- */

/* y = a + b, whose backward gets b's gradient from an op that fails (a reshape to a wrong
 * size), or runs that failing op and ignores it. */
static rb_status sum_forward(rb_node *n)
{
    const double *a = rb_tensor_f64(rb_node_input(n, 0)), *b = rb_tensor_f64(rb_node_input(n, 1));
    double *y = rb_tensor_f64(rb_node_output(n));
    for (int64_t i = 0; i < rb_tensor_size(rb_node_output(n)); i++)
        y[i] = a[i] + b[i];
    return RB_OK;
}

static void sum_backward_failing_for_b(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, g);
    rb_grad_add(ctx, n, 1, rb_reshape(g, RB_SHAPE(7)));
}

static void sum_backward_ignoring_an_error(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    (void)rb_reshape(g, RB_SHAPE(7));
    rb_grad_add(ctx, n, 0, g);
    rb_grad_add(ctx, n, 1, g);
}

/* The status of d(a + b)/da through `def`, b not watched; the error record is left as is. */
static rb_status gradient_through(const rb_op_def *def)
{
    rb_tensor *a = rb_tensor_ones(RB_F64, RB_SHAPE(2, 3)),
              *b = rb_tensor_ones(RB_F64, RB_SHAPE(2, 3));
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, a);
    rb_tensor *in[2] = {a, b};
    rb_tensor *y = rb_op_apply(def, 2, in, NULL, RB_F64, RB_SHAPE(2, 3));
    rb_tensor *g = NULL;
    rb_status st =
        y ? rb_tape_gradient(tape, rb_sum(y, RB_ALL_AXES, false), 1, &a, &g) : rb_last_status();
    rb_tape_end(tape);
    return st;
}

static void a_failed_gradient_for_an_input_that_needs_none_still_fails_the_call(void **state)
{
    (void)state;
    static const rb_op_def def = {"sum_failing_for_b", 2, sum_forward, sum_backward_failing_for_b};
    rb_error_clear();
    rb_status st = gradient_through(&def);
    assert_int_equal(st, RB_ERR_SHAPE);
    if (!strstr(rb_last_error(), "rb_reshape"))
        fail_msg("the message is not the failed op's: \"%s\"", rb_last_error());
    rb_error_clear();
}

static void an_error_raised_inside_a_backward_rule_fails_the_gradient_call(void **state)
{
    (void)state;
    static const rb_op_def def = {"sum_ignoring_an_error", 2, sum_forward,
                                  sum_backward_ignoring_an_error};
    rb_error_clear();
    rb_status st = gradient_through(&def);
    assert_int_equal(st, RB_ERR_SHAPE);
    if (!strstr(rb_last_error(), "rb_reshape"))
        fail_msg("the message is not the failed op's: \"%s\"", rb_last_error());
    rb_error_clear();
}

/* BatchNorm over data (only gamma and beta watched) reported a failure of its backward
 * through x's gradient, which nobody asked for: the call went on with zero gradients. */
static void a_batch_norm_backward_that_fails_fails_the_call_when_its_input_is_data(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F64, RB_SHAPE(4, 3)),
              *gamma = rb_tensor_ones(RB_F64, RB_SHAPE(3));
    rb_tensor *beta = rb_tensor_zeros(RB_F64, RB_SHAPE(3));
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, gamma);
    rb_tape_watch(tape, beta);
    rb_tensor *y = rb_batch_norm_train(x, gamma, beta, NULL, NULL, 0, 1e-3, RB_EPILOGUE_NONE);
    rb_node *node = y ? rb__producer(y, tape) : NULL;
    assert_non_null(node);
    node->saved[0] = NULL; /* its batch statistics, lost */
    rb_tensor *sources[2] = {gamma, beta}, *grads[2];
    rb_error_clear();
    rb_status st = rb_tape_gradient(tape, rb_sum(y, RB_ALL_AXES, false), 2, sources, grads);
    rb_tape_end(tape);
    if (st == RB_OK) fail_msg("the gradient call succeeded");
    if (!strstr(rb_last_error(), "batch_norm_train"))
        fail_msg("the message does not name the op: \"%s\"", rb_last_error());
    rb_error_clear();
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(ops_on_unwatched_tensors_are_not_recorded),
        TEST(watched_tensors_get_gradients),
        TEST(trainable_variables_are_watched_automatically),
        TEST(gradients_accumulate_over_every_use),
        TEST(non_differentiable_paths_give_zero),
        TEST(a_non_persistent_tape_gives_one_gradient),
        TEST(a_persistent_tape_gives_several),
        TEST(stop_gradient_cuts_the_path),
        TEST(a_non_scalar_target_is_summed_and_a_seed_weights_it),
        TEST(gradients_with_respect_to_intermediates),
        TEST(nested_tapes_give_second_derivatives),
        TEST(hessian_vector_products_match_finite_differences),
        TEST(gradient_into_params_overwrites_and_zeroes_unused_variables),
        TEST(matmul_weight_gradients_land_in_the_store),
        TEST(in_place_changes_after_recording_are_refused),
        TEST(tapes_end_in_reverse_order),
        TEST(at_most_eight_tapes_nest),
        TEST(integer_targets_and_sources_are_refused),
        TEST(anomaly_mode_names_the_op_that_made_a_nan),
        TEST(the_tape_dumps_as_graphviz),
        TEST(a_training_loop_allocates_nothing_in_steady_state),
        TEST(scopes_release_what_they_own),
        TEST(a_failed_op_propagates_null_to_one_final_check),
        TEST(a_failed_gradient_for_an_input_that_needs_none_still_fails_the_call),
        TEST(an_error_raised_inside_a_backward_rule_fails_the_gradient_call),
        TEST(a_batch_norm_backward_that_fails_fails_the_call_when_its_input_is_data),
    };
    return RUN_TESTS(tests, argc, argv);
}
