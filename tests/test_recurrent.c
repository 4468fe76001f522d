/* Recurrent layers: SimpleRNN, LSTM and GRU steps against the equations computed here, the
 * sequence layers against loops of cell steps, the fused LSTM against the cells, shapes,
 * bidirectional reading, per-step states, gradients, initialisation and errors. */
#include <stdlib.h>

#include "tape_impl.h"
#include "testutil.h"

static double sigmoid(double v) { return 1 / (1 + exp(-v)); }

/* A layer in a float64 store with every weight set from a formula (distinct small values). */
static rb_layer *layer_with_weights(rb_params **p, rb_layer_spec spec, int64_t t, int64_t f)
{
    *p = rb_params_new(RB_F64);
    rb_layer *l = rb_layer_new(*p, spec, RB_SHAPE(t, f));
    assert_non_null(l);
    for (int v = 0; v < rb_params_count(*p); v++) {
        rb_tensor *w = rb_params_at(*p, v);
        double *d = rb_tensor_f64(w);
        for (int64_t i = 0; i < rb_tensor_size(w); i++)
            d[i] = 0.1 * sin(1.0 + 0.7 * i + 1.3 * v);
    }
    return l;
}

/* w[r][c] of a 2-D variable. */
static double at(rb_tensor *w, int64_t r, int64_t c) { return rb_tensor_get(w, (int64_t[]){r, c}); }

static void lstm_step_follows_the_gate_equations(void **state)
{
    (void)state;
    rb_params *p;
    const int64_t u = 2, f = 3;
    rb_layer *l = layer_with_weights(&p, RB_LSTM(.units = u), 4, f);
    rb_tensor *W = rb_params_find(p, "lstm.kernel"),
              *U = rb_params_find(p, "lstm.recurrent_kernel");
    rb_tensor *b = rb_params_find(p, "lstm.bias");
    rb_tensor *x = T64(RB_SHAPE(1, 3), 0.5, -1.0, 2.0);
    rb_tensor *h = T64(RB_SHAPE(1, 2), 0.3, -0.2), *c = T64(RB_SHAPE(1, 2), 0.1, 0.4);
    rb_rnn_state next;
    CHECK_OK(rb_rnn_cell(l, x, &(rb_rnn_state){h, c}, &next));
    /* z = x W + h U + b; gates i, f, g, o in that order of 2 columns each. */
    double xv[3] = {0.5, -1.0, 2.0}, hv[2] = {0.3, -0.2}, cv[2] = {0.1, 0.4};
    for (int64_t j = 0; j < u; j++) {
        double z[4];
        for (int k = 0; k < 4; k++) {
            int64_t col = k * u + j;
            z[k] = rb_tensor_get(b, (int64_t[]){col});
            for (int64_t i = 0; i < f; i++)
                z[k] += xv[i] * at(W, i, col);
            for (int64_t i = 0; i < u; i++)
                z[k] += hv[i] * at(U, i, col);
        }
        double cell = sigmoid(z[1]) * cv[j] + sigmoid(z[0]) * tanh(z[2]);
        CHECK_CLOSE(rb_tensor_get(next.c, (int64_t[]){0, j}), cell, 1e-14);
        CHECK_CLOSE(rb_tensor_get(next.h, (int64_t[]){0, j}), sigmoid(z[3]) * tanh(cell), 1e-14);
    }
    rb_params_free(p);
}

static void gru_resets_the_state_before_the_candidates_product(void **state)
{
    (void)state;
    rb_params *p;
    const int64_t u = 2, f = 2;
    rb_layer *l = layer_with_weights(&p, RB_GRU(.units = u), 3, f);
    rb_tensor *W = rb_params_find(p, "gru.kernel"), *U = rb_params_find(p, "gru.recurrent_kernel");
    rb_tensor *b = rb_params_find(p, "gru.bias");
    double xv[2] = {1.5, -0.5}, hv[2] = {0.6, -0.4};
    rb_tensor *x = T64(RB_SHAPE(1, 2), 1.5, -0.5), *h = T64(RB_SHAPE(1, 2), 0.6, -0.4);
    rb_rnn_state next;
    CHECK_OK(rb_rnn_cell(l, x, &(rb_rnn_state){.h = h}, &next));
    assert_null(next.c);
    double zg[2], rg[2];
    for (int64_t j = 0; j < u; j++) { /* update z (columns 0..u-1), reset r (u..2u-1) */
        double az = rb_tensor_get(b, (int64_t[]){j}), ar = rb_tensor_get(b, (int64_t[]){u + j});
        for (int64_t i = 0; i < f; i++) {
            az += xv[i] * at(W, i, j);
            ar += xv[i] * at(W, i, u + j);
        }
        for (int64_t i = 0; i < u; i++) {
            az += hv[i] * at(U, i, j);
            ar += hv[i] * at(U, i, u + j);
        }
        zg[j] = sigmoid(az);
        rg[j] = sigmoid(ar);
    }
    for (int64_t j = 0; j < u; j++) { /* candidate: tanh(x Wh + (r * h) Uh + bh) */
        double a = rb_tensor_get(b, (int64_t[]){2 * u + j});
        for (int64_t i = 0; i < f; i++)
            a += xv[i] * at(W, i, 2 * u + j);
        for (int64_t i = 0; i < u; i++)
            a += rg[i] * hv[i] * at(U, i, 2 * u + j);
        double want = zg[j] * hv[j] + (1 - zg[j]) * tanh(a);
        CHECK_CLOSE(rb_tensor_get(next.h, (int64_t[]){0, j}), want, 1e-14);
    }
    rb_params_free(p);
}

static void simple_rnn_step_is_tanh_of_both_products(void **state)
{
    (void)state;
    rb_params *p;
    rb_layer *l = layer_with_weights(&p, RB_SIMPLE_RNN(.units = 2), 3, 1);
    rb_tensor *W = rb_params_find(p, "simple_rnn.kernel");
    rb_tensor *U = rb_params_find(p, "simple_rnn.recurrent_kernel");
    rb_tensor *b = rb_params_find(p, "simple_rnn.bias");
    rb_rnn_state next;
    CHECK_OK(rb_rnn_cell(l, T64(RB_SHAPE(1, 1), 2.0),
                         &(rb_rnn_state){.h = T64(RB_SHAPE(1, 2), 0.5, 1.0)}, &next));
    for (int64_t j = 0; j < 2; j++) {
        double a = rb_tensor_get(b, (int64_t[]){j}) + 2.0 * at(W, 0, j) + 0.5 * at(U, 0, j) +
                   1.0 * at(U, 1, j);
        CHECK_CLOSE(rb_tensor_get(next.h, (int64_t[]){0, j}), tanh(a), 1e-14);
    }
    rb_params_free(p);
}

/* The unrolled layer equals a loop of cell steps; steps[] and the final state are the loop's. */
static void sequences_equal_a_loop_of_cell_steps(void **state)
{
    (void)state;
    const rb_layer_kind kinds[3] = {RB_LAYER_SIMPLE_RNN, RB_LAYER_LSTM, RB_LAYER_GRU};
    rb_rng rng = rb_rng_make(3);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(3, 5, 2), 0, 1, &rng);
    for (int k = 0; k < 3; k++) {
        rb_params *p;
        rb_layer *l = layer_with_weights(
            &p, (rb_layer_spec){.kind = kinds[k], .units = 4, .return_sequences = true}, 5, 2);
        rb_tensor *steps[5];
        rb_rnn_state final;
        rb_tensor *seq = rb_rnn_forward(l, x, NULL, &final, steps);
        CHECK_SHAPE(seq, 3, 5, 4);
        rb_rnn_state s = {rb_tensor_zeros(RB_F64, RB_SHAPE(3, 4)),
                          kinds[k] == RB_LAYER_LSTM ? rb_tensor_zeros(RB_F64, RB_SHAPE(3, 4))
                                                    : NULL};
        for (int64_t t = 0; t < 5; t++) {
            rb_tensor *xt = rb_reshape(
                rb_slice(x, (int64_t[]){0, t, 0}, (int64_t[]){3, t + 1, 2}, NULL), RB_SHAPE(3, 2));
            rb_rnn_state next;
            CHECK_OK(rb_rnn_cell(l, xt, &s, &next));
            s = next;
            rb_tensor *out_t =
                rb_reshape(rb_slice(seq, (int64_t[]){0, t, 0}, (int64_t[]){3, t + 1, 4}, NULL),
                           RB_SHAPE(3, 4));
            CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(out_t, s.h)), RB_ALL_AXES, false)), 0,
                        1e-13);
            CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(steps[t], s.h)), RB_ALL_AXES, false)),
                        0, 0);
        }
        CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(final.h, s.h)), RB_ALL_AXES, false)), 0, 0);
        if (s.c)
            CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(final.c, s.c)), RB_ALL_AXES, false)), 0,
                        1e-13);
        rb_params_free(p);
    }
}

/* The fused LSTM (taken when no per-step tensors are asked for) equals the cells, forward
 * and backward, in float32 and float64. */
static void fused_lstm_matches_the_unfused_cells(void **state)
{
    (void)state;
    rb_dtype dtypes[2] = {RB_F64, RB_F32};
    for (int d = 0; d < 2; d++)
        for (int seq = 0; seq < 2; seq++)
            for (int bi = 0; bi < 2; bi++) {
                rb_params *p = rb_params_new(dtypes[d]);
                rb_params_seed(p, 7);
                rb_layer *l = rb_layer_new(
                    p, RB_LSTM(.units = 5, .return_sequences = seq, .bidirectional = bi),
                    RB_SHAPE(6, 3));
                rb_rng rng = rb_rng_make(5);
                rb_tensor *x = rb_tensor_normal(dtypes[d], RB_SHAPE(4, 6, 3), 0, 1, &rng);
                rb_tensor *w = rb_params_at(p, 2); /* the recurrent kernel */
                double tol = d ? 2e-6 : 1e-12;
                rb_tensor *y[2], *g[2];
                for (int fused = 0; fused < 2; fused++) {
                    /* Kept past the tape: made before it, in the test's scope. */
                    int64_t shape[3] = {4, 6, bi ? 10 : 5};
                    y[fused] = seq ? rb_tensor_zeros(dtypes[d], 3, shape)
                                   : rb_tensor_zeros(dtypes[d], RB_SHAPE(4, bi ? 10 : 5));
                    g[fused] = rb_tensor_zeros(dtypes[d], RB_SHAPE(5, 20));
                    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
                    rb_rnn_state final;
                    rb_tensor *out = rb_rnn_forward(l, x, NULL, fused ? NULL : &final, NULL);
                    rb_tensor *loss = rb_sum(rb_mul(out, out), RB_ALL_AXES, false);
                    rb_tensor *grad = rb_tape_gradient1(tape, loss, w);
                    rb_status st = grad ? rb_tensor_assign(g[fused], grad) : rb_last_status();
                    if (st == RB_OK) st = rb_tensor_assign(y[fused], out);
                    rb_tape_end(tape);
                    CHECK_STATUS_OK(st);
                }
                assert_int_equal(rb_tensor_ndim(y[1]), seq ? 3 : 2);
                assert_int_equal(rb_tensor_size(y[1]), 4 * (seq ? 6 : 1) * (bi ? 10 : 5));
                CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(y[0], y[1])), RB_ALL_AXES, false)),
                            0, tol);
                CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(g[0], g[1])), RB_ALL_AXES, false)),
                            0, 50 * tol);
                rb_params_free(p);
            }
}

/* Bidirectional = the forward layer's output next to the backward weights read on the
 * reversed sequence (then reversed back in time). */
static void bidirectional_reads_the_sequence_both_ways(void **state)
{
    (void)state;
    rb_params *p;
    rb_layer *bi = layer_with_weights(
        &p, RB_GRU(.units = 3, .bidirectional = true, .return_sequences = true), 4, 2);
    rb_rng rng = rb_rng_make(9);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(2, 4, 2), 0, 1, &rng);
    rb_tensor *y = rb_layer_forward(bi, x);
    CHECK_SHAPE(y, 2, 4, 6);
    /* A one-direction twin holding the backward weights. */
    rb_params *q = rb_params_new(RB_F64);
    rb_layer *back = rb_layer_new(q, RB_GRU(.units = 3, .return_sequences = true), RB_SHAPE(4, 2));
    const char *names[3][2] = {{"gru.backward_kernel", "gru.kernel"},
                               {"gru.backward_bias", "gru.bias"},
                               {"gru.backward_recurrent_kernel", "gru.recurrent_kernel"}};
    for (int k = 0; k < 3; k++) {
        rb_tensor *from = rb_params_find(p, names[k][0]), *to = rb_params_find(q, names[k][1]);
        CHECK_OK(from);
        memcpy(rb_tensor_data(to), rb_tensor_data(from),
               sizeof(double) * (size_t)rb_tensor_size(to));
    }
    rb_tensor *rev = rb_tensor_arange(RB_I64, 3, -1, -1);
    rb_tensor *yb = rb_gather(rb_layer_forward(back, rb_gather(x, rev, 1)), rev, 1);
    rb_tensor *y_back = rb_slice(y, (int64_t[]){0, 0, 3}, (int64_t[]){2, 4, 6}, NULL);
    CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(y_back, yb)), RB_ALL_AXES, false)), 0, 1e-14);
    rb_params_free(q);
    rb_params_free(p);
}

typedef struct gc_case {
    rb_layer *layer;
    rb_tensor *x;
} gc_case;

static rb_tensor *run_layer(rb_tensor *const *in, int n, void *ud)
{
    (void)in;
    (void)n;
    gc_case *c = ud;
    return rb_layer_forward(c->layer, c->x);
}

/* Gradients of inputs and of every variable over a few steps agree with finite differences. */
static void recurrent_layers_pass_gradcheck(void **state)
{
    (void)state;
    rb_layer_spec specs[4] = {RB_SIMPLE_RNN(.units = 3, .return_sequences = true),
                              RB_LSTM(.units = 3), RB_GRU(.units = 3, .return_sequences = true),
                              RB_LSTM(.units = 2, .bidirectional = true, .return_sequences = true)};
    for (int k = 0; k < 4; k++) {
        rb_params *p = rb_params_new(RB_F64);
        rb_params_seed(p, 11);
        gc_case c = {rb_layer_new(p, specs[k], RB_SHAPE(3, 2)), NULL};
        rb_rng rng = rb_rng_make(2);
        c.x = rb_tensor_normal(RB_F64, RB_SHAPE(2, 3, 2), 0, 1, &rng);
        rb_gradcheck_report r;
        rb_tensor *x_in[1] = {c.x};
        if (!rb_gradcheck(run_layer, &c, 1, x_in, NULL, &r))
            fail_msg("%s input: %s", rb_layer_type(c.layer), r.message);
        for (int v = 0; v < rb_params_count(p); v++) {
            rb_tensor *in[1] = {rb_params_at(p, v)};
            if (!rb_gradcheck(run_layer, &c, 1, in, NULL, &r))
                fail_msg("%s %s: %s", rb_layer_type(c.layer), rb_tensor_name(in[0]), r.message);
        }
        rb_params_free(p);
    }
}

/* Stacked layers: the first returns its sequence, the second reads it; the summary counts. */
static void recurrent_layers_stack_in_a_model(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F64, "stacked", RB_SHAPE(5, 3));
    rb_model_seed(m, 4);
    CHECK_OK(rb_model_add(m, RB_GRU(.units = 4, .return_sequences = true)));
    CHECK_OK(rb_model_add(m, RB_LSTM(.units = 6)));
    CHECK_OK(rb_model_add(m, RB_DENSE(.units = 2)));
    int64_t shape[RB_MAX_DIMS];
    assert_int_equal(rb_model_output_shape(m, shape), 1);
    assert_int_equal(shape[0], 2);
    /* GRU 3 * 4 * (3 + 4 + 1), LSTM 4 * 6 * (4 + 6 + 1), Dense 6 * 2 + 2. */
    assert_int_equal(rb_model_num_params(m, true), 96 + 264 + 14);
    rb_rng rng = rb_rng_make(6);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(3, 5, 3), 0, 1, &rng);
    CHECK_SHAPE(rb_model_forward(m, x), 3, 2);
    /* Wrong stacking (a sequence layer fed a single state) is refused by name. */
    rb_model *bad = rb_model_new(RB_F64, "bad", RB_SHAPE(5, 3));
    CHECK_OK(rb_model_add(bad, RB_LSTM(.units = 4)));
    CHECK_FAILS(rb_model_add(bad, RB_LSTM(.units = 4)), RB_ERR_SHAPE, "sequences (T, F)");
    rb_model_free(bad);
    rb_model_free(m);
}

static void initialisation_follows_keras(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *l = rb_layer_new(p, RB_LSTM(.units = 8), RB_SHAPE(5, 3));
    CHECK_OK(l);
    /* Each gate's (u, u) block of the recurrent kernel is orthogonal. */
    rb_tensor *U = rb_params_find(p, "lstm.recurrent_kernel");
    for (int g = 0; g < 4; g++) {
        rb_tensor *block = rb_slice(U, (int64_t[]){0, g * 8}, (int64_t[]){8, (g + 1) * 8}, NULL);
        rb_tensor *gram = rb_matmul(rb_transpose(block, 0, 1), block);
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++)
                CHECK_CLOSE(at(gram, i, j), i == j, 1e-12);
    }
    /* Bias zero except the forget gate's, which is 1. */
    CHECK_TENSOR(
        rb_slice(rb_params_find(p, "lstm.bias"), (int64_t[]){0}, (int64_t[]){32}, (int64_t[]){8}),
        0, 0, 1, 0, 0);
    assert_int_equal(rb_layer_num_params(l, true), 4 * 8 * (3 + 8 + 1));
    rb_params_free(p);
}

static void recurrent_layers_report_bad_inputs(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    CHECK_FAILS(rb_layer_new(p, RB_LSTM(.units = 4), RB_SHAPE(10)), RB_ERR_SHAPE,
                "sequences (T, F)");
    CHECK_FAILS(rb_layer_new(p, RB_GRU(.units = 0), RB_SHAPE(3, 2)), RB_ERR_ARGUMENT,
                ".units >= 1");
    rb_layer *l = rb_layer_new(p, RB_LSTM(.units = 4), RB_SHAPE(3, 2));
    CHECK_FAILS(rb_layer_forward(l, rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3, 5))), RB_ERR_SHAPE,
                "expects input (N, 3, 2)");
    rb_rnn_state bad = {rb_tensor_zeros(RB_F32, RB_SHAPE(2, 4)), NULL};
    CHECK_FAILS(rb_rnn_forward(l, rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3, 2)), &bad, NULL, NULL),
                RB_ERR_SHAPE, "state c must be (2, 4)");
    rb_layer *dense = rb_layer_new(p, RB_DENSE(.units = 2), RB_SHAPE(3));
    CHECK_FAILS(rb_rnn_cell(dense, rb_tensor_zeros(RB_F32, RB_SHAPE(1, 3)), NULL, &bad),
                RB_ERR_ARGUMENT, "is not recurrent");
    CHECK_FAILS(rb_lstm_sequence(rb_tensor_zeros(RB_F32, RB_SHAPE(6, 8)),
                                 rb_tensor_zeros(RB_F32, RB_SHAPE(2, 8)),
                                 rb_tensor_zeros(RB_F32, RB_SHAPE(2, 2)),
                                 rb_tensor_zeros(RB_F32, RB_SHAPE(2, 2)), 4),
                RB_ERR_SHAPE, "rb_lstm_sequence: expects xw (T N, 4u)");
    rb_params_free(p);
}

/* ---- penalties ---- */

/* With zero inputs the loss does not depend on the input kernel W (x W = 0): one SGD step of
 * rb_fit moves W by the penalty's gradient alone, W <- W (1 - lr l2). */
static void the_penalty_of_a_recurrent_layer_reaches_fit(void **state)
{
    (void)state;
    const rb_layer_kind kinds[3] = {RB_LAYER_SIMPLE_RNN, RB_LAYER_LSTM, RB_LAYER_GRU};
    const char *kernels[3] = {"simple_rnn.kernel", "lstm.kernel", "gru.kernel"};
    const double lr = 0.1, l2 = 0.5;
    for (int k = 0; k < 3; k++) {
        rb_model *m = rb_model_new(RB_F64, "penalised", RB_SHAPE(3, 2));
        rb_model_seed(m, 5);
        CHECK_OK(rb_model_add(m, (rb_layer_spec){.kind = kinds[k], .units = 2, .l2 = l2}));
        CHECK_OK(rb_model_add(m, RB_DENSE(.units = 1)));
        rb_tensor *w = rb_params_find(rb_model_params(m), kernels[k]);
        double before[16];
        assert_int_equal(rb_tensor_size(w), 2 * 2 *
                                                (kinds[k] == RB_LAYER_LSTM  ? 4
                                                 : kinds[k] == RB_LAYER_GRU ? 3
                                                                            : 1));
        rb_tensor_to_doubles(w, before, 16);
        rb_dataset d = {rb_tensor_zeros(RB_F64, RB_SHAPE(4, 3, 2)),
                        rb_tensor_ones(RB_F64, RB_SHAPE(4, 1)), NULL};
        rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = lr});
        rb_history *h =
            rb_fit(rb_trainable_of_model(m), opt, &d,
                   (rb_fit_config){.batch_size = 4, .loss = RB_LOSS_MSE, .quiet = true});
        CHECK_OK(h);
        for (int64_t i = 0; i < rb_tensor_size(w); i++)
            if (fabs(rb_tensor_get_flat(w, i) - before[i] * (1 - lr * l2)) > 1e-14)
                fail_msg("%s[%lld] = %.15g, expected %.15g", kernels[k], (long long)i,
                         rb_tensor_get_flat(w, i), before[i] * (1 - lr * l2));
        rb_history_free(h);
        rb_optimizer_free(opt);
        rb_model_free(m);
    }
}

/* ---- long sequences: no fixed limit on the number of steps ---- */

static void recurrent_layers_return_sequences_of_more_than_64_steps(void **state)
{
    (void)state;
    const rb_layer_kind kinds[3] = {RB_LAYER_SIMPLE_RNN, RB_LAYER_LSTM, RB_LAYER_GRU};
    rb_rng rng = rb_rng_make(9);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(2, 70, 2), 0, 1, &rng);
    for (int k = 0; k < 3; k++) {
        rb_params *p;
        rb_layer *l = layer_with_weights(
            &p, (rb_layer_spec){.kind = kinds[k], .units = 3, .return_sequences = true}, 70, 2);
        rb_rnn_state final; /* asking for it takes the step-by-step path for LSTM too */
        rb_tensor *seq = rb_rnn_forward(l, x, NULL, &final, NULL);
        CHECK_SHAPE(seq, 2, 70, 3);
        rb_tensor *last = rb_reshape(
            rb_slice(seq, (int64_t[]){0, 69, 0}, (int64_t[]){2, 70, 3}, NULL), RB_SHAPE(2, 3));
        CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(last, final.h)), RB_ALL_AXES, false)), 0,
                    0);
        rb_params_free(p);
    }
}

static void recurrent_layers_read_more_than_1024_steps_without_a_steps_array(void **state)
{
    (void)state;
    const int64_t t_len = 1100;
    rb_params *p;
    rb_layer *l = layer_with_weights(&p, RB_GRU(.units = 1), t_len, 1);
    rb_rng rng = rb_rng_make(10);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(1, t_len, 1), 0, 1, &rng);
    rb_tensor **steps = malloc(sizeof *steps * (size_t)t_len);
    assert_non_null(steps);
    rb_tensor *with_steps = rb_rnn_forward(l, x, NULL, NULL, steps);
    rb_tensor *without = rb_layer_forward(l, x);
    free(steps);
    CHECK_OK(without);
    CHECK_CLOSE(rb_tensor_item(rb_sub(without, with_steps)), 0, 0);
    rb_params_free(p);
}

/* ---- the fused LSTM's backward: its errors fail the gradient call ---- */

/* A recorded fused LSTM over `steps` steps of 2 rows and 2 units, every input watched. */
typedef struct lstm_record {
    rb_tape *tape;
    rb_tensor *in[4], *loss;
    rb_node *node;
} lstm_record;

static lstm_record record_lstm(int64_t steps, unsigned flags)
{
    lstm_record r;
    rb_rng rng = rb_rng_make(8);
    r.in[0] = rb_tensor_normal(RB_F64, RB_SHAPE(steps * 2, 8), 0, 1, &rng);
    r.in[1] = rb_tensor_normal(RB_F64, RB_SHAPE(2, 8), 0, 0.5, &rng);
    r.in[2] = rb_tensor_normal(RB_F64, RB_SHAPE(2, 2), 0, 1, &rng);
    r.in[3] = rb_tensor_normal(RB_F64, RB_SHAPE(2, 2), 0, 1, &rng);
    r.tape = rb_tape_begin(flags);
    for (int i = 0; i < 4; i++)
        rb_tape_watch(r.tape, r.in[i]);
    rb_tensor *hs = rb_lstm_sequence(r.in[0], r.in[1], r.in[2], r.in[3], steps);
    r.loss = rb_sum(rb_square(hs), RB_ALL_AXES, false);
    r.node = hs ? rb__producer(hs, r.tape) : NULL;
    assert_non_null(r.node);
    return r;
}

/* The gradient call's status with every input as a source; the error record is left as is. */
static rb_status lstm_gradient(lstm_record *r)
{
    rb_tensor *grads[4];
    return rb_tape_gradient(r->tape, r->loss, 4, r->in, grads);
}

static void the_fused_lstm_backward_fails_the_gradient_call_on_a_corrupted_step_count(void **state)
{
    (void)state;
    lstm_record r = record_lstm(3, RB_TAPE_DEFAULT);
    /* The backward sizes its buffers from the step count: this one asks for more memory than
     * there is. The failed allocation used to end in zero gradients and RB_OK. */
    r.node->attrs.i[0] = INT64_C(1) << 40;
    rb_status st = lstm_gradient(&r);
    rb_tape_end(r.tape);
    if (st == RB_OK)
        fail_msg("the gradient call succeeded (error record: \"%s\")", rb_last_error());
    if (!strstr(rb_last_error(), "lstm_sequence"))
        fail_msg("the message does not name the op: \"%s\"", rb_last_error());
    rb_error_clear();
}

static void the_fused_lstm_backward_fails_the_gradient_call_without_its_saved_gates(void **state)
{
    (void)state;
    lstm_record r = record_lstm(3, RB_TAPE_DEFAULT);
    r.node->saved[0] = NULL;
    rb_status st = lstm_gradient(&r);
    rb_tape_end(r.tape);
    if (st == RB_OK)
        fail_msg("the gradient call succeeded (error record: \"%s\")", rb_last_error());
    if (!strstr(rb_last_error(), "lstm_sequence"))
        fail_msg("the message does not name the op: \"%s\"", rb_last_error());
    rb_error_clear();
}

/* The second-order path (taken when an outer tape records) used to keep arrays of 1024 steps
 * on the stack and to give zero gradients beyond them: it must equal the first-order path. */
static void the_fused_lstm_gives_second_order_gradients_beyond_1024_steps(void **state)
{
    (void)state;
    const int64_t steps = 1100;
    rb_tensor *kept[2][4];
    for (int outer = 0; outer < 2; outer++) {
        kept[outer][0] = rb_tensor_zeros(RB_F64, RB_SHAPE(steps * 2, 8));
        kept[outer][1] = rb_tensor_zeros(RB_F64, RB_SHAPE(2, 8));
        kept[outer][2] = rb_tensor_zeros(RB_F64, RB_SHAPE(2, 2));
        kept[outer][3] = rb_tensor_zeros(RB_F64, RB_SHAPE(2, 2));
        rb_tape *recording = outer ? rb_tape_begin(RB_TAPE_DEFAULT) : NULL;
        lstm_record r = record_lstm(steps, RB_TAPE_DEFAULT);
        rb_tensor *grads[4];
        rb_status st = rb_tape_gradient(r.tape, r.loss, 4, r.in, grads);
        for (int i = 0; i < 4 && st == RB_OK; i++)
            st = rb_tensor_assign(kept[outer][i], grads[i]);
        rb_tape_end(r.tape);
        if (recording) rb_tape_end(recording);
        CHECK_STATUS_OK(st);
    }
    for (int i = 0; i < 4; i++)
        CHECK_CLOSE(
            rb_tensor_item(rb_max(rb_abs(rb_sub(kept[0][i], kept[1][i])), RB_ALL_AXES, false)), 0,
            1e-10);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(lstm_step_follows_the_gate_equations),
        TEST(gru_resets_the_state_before_the_candidates_product),
        TEST(simple_rnn_step_is_tanh_of_both_products),
        TEST(sequences_equal_a_loop_of_cell_steps),
        TEST(fused_lstm_matches_the_unfused_cells),
        TEST(bidirectional_reads_the_sequence_both_ways),
        TEST(recurrent_layers_pass_gradcheck),
        TEST(recurrent_layers_stack_in_a_model),
        TEST(initialisation_follows_keras),
        TEST(recurrent_layers_report_bad_inputs),
        TEST(the_penalty_of_a_recurrent_layer_reaches_fit),
        TEST(recurrent_layers_return_sequences_of_more_than_64_steps),
        TEST(recurrent_layers_read_more_than_1024_steps_without_a_steps_array),
        TEST(the_fused_lstm_backward_fails_the_gradient_call_on_a_corrupted_step_count),
        TEST(the_fused_lstm_backward_fails_the_gradient_call_without_its_saved_gates),
        TEST(the_fused_lstm_gives_second_order_gradients_beyond_1024_steps),
    };
    return RUN_TESTS(tests, argc, argv);
}
