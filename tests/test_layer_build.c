/* Layers made without an input shape (built at their first call), and the functions over every
 * layer of a store. */
#include <stdlib.h>

#include "testutil.h"

static void a_layer_made_without_a_shape_takes_it_from_its_first_call(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *l = rb_layer_new(p, RB_DENSE(.units = 5), 0, NULL);
    CHECK_OK(l);
    assert_false(rb_layer_built(l));
    assert_null(rb_layer_kernel(l));
    assert_int_equal(rb_params_count(p), 0);
    CHECK_SHAPE(rb_layer_forward(l, rb_tensor_ones(RB_F64, RB_SHAPE(4, 3))), 4, 5);
    assert_true(rb_layer_built(l));
    CHECK_SHAPE(rb_layer_kernel(l), 3, 5);
    assert_ptr_equal(rb_params_find(p, "dense.kernel"), rb_layer_kernel(l));
    assert_int_equal(rb_layer_num_params(l, false), 20);
    /* Its shape is now fixed. */
    CHECK_FAILS(rb_layer_forward(l, rb_tensor_ones(RB_F64, RB_SHAPE(4, 7))), RB_ERR_SHAPE,
                "expects input (N, 3), got [4,7]");
    rb_params_free(p);
}

static void a_first_call_without_a_batch_axis_is_refused(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *l = rb_layer_new(p, RB_DENSE(.units = 5), 0, NULL);
    CHECK_FAILS(rb_layer_forward(l, rb_tensor_ones(RB_F64, RB_SHAPE(3))), RB_ERR_SHAPE,
                "layer 'dense' (Dense): built at its first call, it needs a batch (N, ...)");
    assert_false(rb_layer_built(l));
    CHECK_SHAPE(rb_layer_forward(l, rb_tensor_ones(RB_F64, RB_SHAPE(2, 3))), 2, 5);
    rb_params_free(p);
}

/* Seeded stores, the same layers made in the same order: one given input shapes, one built at
 * the first calls, made in reverse order. */
static void a_layer_built_at_its_first_call_has_the_weights_of_one_built_at_creation(void **state)
{
    (void)state;
    rb_params *eager = rb_params_new(RB_F32), *lazy = rb_params_new(RB_F32);
    rb_params_seed(eager, 21);
    rb_params_seed(lazy, 21);
    rb_layer_spec conv = RB_CONV2D(.units = 3, .kernel = {3, 3}), dense = RB_DENSE(.units = 4);
    rb_layer_spec lstm = RB_LSTM(.units = 2);
    rb_layer_new(eager, conv, RB_SHAPE(6, 6, 2));
    rb_layer_new(eager, dense, RB_SHAPE(48));
    rb_layer_new(eager, lstm, RB_SHAPE(5, 3));
    rb_layer *c = rb_layer_new(lazy, conv, 0, NULL), *d = rb_layer_new(lazy, dense, 0, NULL);
    rb_layer *r = rb_layer_new(lazy, lstm, 0, NULL);
    CHECK_OK(rb_layer_forward(r, rb_tensor_zeros(RB_F32, RB_SHAPE(1, 5, 3))));
    CHECK_OK(rb_layer_forward(d, rb_tensor_zeros(RB_F32, RB_SHAPE(1, 48))));
    CHECK_OK(rb_layer_forward(c, rb_tensor_zeros(RB_F32, RB_SHAPE(1, 6, 6, 2))));
    assert_int_equal(rb_params_count(lazy), rb_params_count(eager));
    for (int i = 0; i < rb_params_count(eager); i++) {
        rb_tensor *want = rb_params_at(eager, i);
        rb_tensor *got = rb_params_find(lazy, rb_tensor_name(want));
        CHECK_OK(got);
        if (rb_tensor_size(got) != rb_tensor_size(want) ||
            memcmp(rb_tensor_data(got), rb_tensor_data(want),
                   (size_t)rb_tensor_size(want) * sizeof(float)))
            fail_msg("%s differs between the layer built at creation and at its first call",
                     rb_tensor_name(want));
    }
    rb_params_free(eager);
    rb_params_free(lazy);
}

/* A GRU's step records slices of its recurrent kernel (views into the store's memory); a layer
 * built later in the same step makes the store grow. The gradients must be those of a twin
 * whose layers all existed before recording. */
static void a_layer_built_while_a_tape_records_leaves_its_gradients_right(void **state)
{
    (void)state;
    rb_params *stores[2];
    double *grads[2];
    rb_rng rng = rb_rng_make(5);
    rb_tensor *x = rb_tensor_uniform(RB_F64, RB_SHAPE(3, 4, 2), -1, 1, &rng);
    for (int lazy = 0; lazy < 2; lazy++) {
        rb_params *p = stores[lazy] = rb_params_new(RB_F64);
        rb_params_seed(p, 8);
        rb_layer *gru = rb_layer_new(p, RB_GRU(.units = 4), RB_SHAPE(4, 2));
        /* 1200 + 300 values: more than the store's first slab holds, so it moves. */
        rb_layer *wide = lazy ? rb_layer_new(p, RB_DENSE(.units = 300), 0, NULL)
                              : rb_layer_new(p, RB_DENSE(.units = 300), RB_SHAPE(4));
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *loss =
            rb_sum(rb_square(rb_layer_forward(wide, rb_layer_forward(gru, x))), RB_ALL_AXES, false);
        CHECK_STATUS_OK(rb_tape_gradient_params(tape, loss, p));
        rb_tape_end(tape);
        rb_tensor *g = rb_params_flat_grads(p);
        grads[lazy] = malloc(sizeof(double) * (size_t)rb_tensor_size(g));
        rb_tensor_to_doubles(g, grads[lazy], rb_tensor_size(g));
    }
    int64_t n = rb_tensor_size(rb_params_flat_grads(stores[0]));
    assert_int_equal(rb_tensor_size(rb_params_flat_grads(stores[1])), n);
    for (int64_t i = 0; i < n; i++)
        if (grads[0][i] != grads[1][i])
            fail_msg("gradient %lld: %.17g built before recording, %.17g built while recording",
                     (long long)i, grads[0][i], grads[1][i]);
    for (int k = 0; k < 2; k++) {
        free(grads[k]);
        rb_params_free(stores[k]);
    }
}

static void counts_and_shapes_of_a_layer_not_built_yet_are_refused_naming_it(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    rb_layer *l = rb_layer_new(p, RB_DENSE(.name = "head", .units = 5), 0, NULL);
    int64_t shape[RB_MAX_DIMS];
    CHECK_FAILS(assert_int_equal(rb_layer_num_params(l, false), -1), RB_ERR_STATE,
                "rb_layer_num_params: layer 'head' (Dense) is not built yet");
    CHECK_FAILS(assert_int_equal(rb_layer_output_shape(l, shape), -1), RB_ERR_STATE,
                "rb_layer_output_shape: layer 'head' (Dense) is not built yet");
    rb_params_free(p);
}

static char *summary_of(const rb_model *m)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rb_model_summary(m, f);
    fclose(f);
    return buf;
}

static void a_models_summary_shows_layers_not_built_yet(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F32, "functional", RB_SHAPE(3));
    rb_layer *a = rb_model_layer(m, RB_DENSE(.units = 4), RB_SHAPE(3));
    rb_layer *b = rb_model_layer(m, RB_DENSE(.units = 2), 0, NULL);
    CHECK_FAILS(assert_int_equal(rb_model_num_params(m, false), -1), RB_ERR_STATE,
                "layer 'dense_1' (Dense) is not built yet");
    char *text = summary_of(m);
    assert_non_null(strstr(text, "dense_1 (Dense)"));
    assert_non_null(strstr(text, "? (not built yet)"));
    assert_non_null(strstr(text, "Total params: 16 "));
    assert_non_null(strstr(text, "Not counted: 1 layer not built yet"));
    free(text);
    CHECK_OK(rb_layer_forward(b, rb_layer_forward(a, rb_tensor_ones(RB_F32, RB_SHAPE(2, 3)))));
    assert_int_equal(rb_model_num_params(m, false), 16 + 10);
    text = summary_of(m);
    assert_null(strstr(text, "not built"));
    assert_non_null(strstr(text, "Total params: 26 "));
    free(text);
    rb_model_free(m);
}

static void a_recurrent_cell_step_needs_a_built_layer(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    rb_layer *l = rb_layer_new(p, RB_LSTM(.units = 2), 0, NULL);
    rb_rnn_state next;
    CHECK_FAILS(rb_rnn_cell(l, rb_tensor_ones(RB_F32, RB_SHAPE(1, 3)), NULL, &next), RB_ERR_STATE,
                "rb_rnn_cell: not built yet");
    CHECK_SHAPE(rb_rnn_forward(l, rb_tensor_ones(RB_F32, RB_SHAPE(1, 4, 3)), NULL, NULL, NULL), 1,
                2);
    CHECK_SHAPE(rb_rnn_cell(l, rb_tensor_ones(RB_F32, RB_SHAPE(1, 3)), NULL, &next), 1, 2);
    rb_params_free(p);
}

/* A block switched to evaluation before its first call builds its sub-layers in that mode. */
static void a_block_built_at_its_first_call_keeps_the_mode_it_was_given(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *block = rb_layer_new(p, RB_RESIDUAL(.units = 2), 0, NULL);
    rb_layer_set_training(block, false);
    rb_tensor *x = rb_tensor_ones(RB_F64, RB_SHAPE(2, 3, 3, 2));
    CHECK_OK(rb_layer_forward(block, x));
    /* In training, BatchNorm would have moved its moving mean towards the batch's. */
    for (int i = 0; i < rb_params_count(p); i++) {
        rb_tensor *v = rb_params_at(p, i);
        if (strstr(rb_tensor_name(v), "moving_mean"))
            CHECK_CLOSE(rb_tensor_item(rb_sum(rb_abs(v), RB_ALL_AXES, false)), 0, 0);
    }
    rb_params_free(p);
}

/* ---- every layer of a store ---- */

static void the_penalties_of_every_layer_of_a_store_add_up(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *a = rb_layer_new(p, RB_DENSE(.units = 1, .l2 = 0.5), RB_SHAPE(2));
    rb_layer *b = rb_layer_new(p, RB_DENSE(.units = 1, .l1 = 0.1), 0, NULL);
    rb_layer_new(p, RB_DENSE(.units = 1), RB_SHAPE(2));
    rb_tensor_assign(rb_layer_kernel(a), T64(RB_SHAPE(2, 1), 1, 2));
    /* b is not built yet: nothing to penalise. */
    CHECK_TENSOR(rb_layers_regularization(p), 1e-12, 0.25 * 5);
    CHECK_OK(rb_layer_forward(b, rb_tensor_ones(RB_F64, RB_SHAPE(1, 2))));
    rb_tensor_assign(rb_layer_kernel(b), T64(RB_SHAPE(2, 1), -3, 1));
    CHECK_TENSOR(rb_layers_regularization(p), 1e-12, 0.25 * 5 + 0.1 * 4);
    rb_params *none = rb_params_new(RB_F32);
    CHECK_TENSOR(rb_layers_regularization(none), 0, 0);
    rb_params_free(none);
    rb_params_free(p);
}

static void the_constraints_of_every_layer_of_a_store_are_applied(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *a = rb_layer_new(p, RB_DENSE(.units = 2, .max_norm = 1), RB_SHAPE(2));
    rb_layer *block = rb_layer_new(p, RB_RESIDUAL(.units = 1, .max_norm = 0.1), 0, NULL);
    CHECK_OK(rb_layer_forward(block, rb_tensor_ones(RB_F64, RB_SHAPE(1, 3, 3, 1))));
    rb_tensor_assign(rb_layer_kernel(a), T64(RB_SHAPE(2, 2), 3, 0.5, 4, 0));
    rb_tensor *conv = rb_params_find(p, "residual_block_conv1.kernel");
    rb_tensor_fill(conv, 1.0); /* a column of 9 ones: norm 3 */
    CHECK_STATUS_OK(rb_layers_apply_constraints(p));
    CHECK_TENSOR(rb_layer_kernel(a), 1e-12, 0.6, 0.5, 0.8, 0);
    CHECK_CLOSE(rb_tensor_get_flat(conv, 0), 0.1 / 3, 1e-12);
    rb_params_free(p);
}

static void every_layer_of_a_store_switches_mode(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *drop = rb_layer_new(p, RB_DROPOUT(.rate = 0.5), 0, NULL);
    rb_tensor *x = rb_tensor_ones(RB_F64, RB_SHAPE(4, 8));
    rb_layers_set_training(p, false);
    CHECK_TENSOR(rb_sum(rb_layer_forward(drop, x), RB_ALL_AXES, false), 0, 32);
    rb_layers_set_training(p, true);
    rb_tensor *y = rb_layer_forward(drop, x);
    CHECK_OK(y);
    assert_true(rb_tensor_item(rb_min(y, RB_ALL_AXES, false)) == 0); /* some dropped */
    rb_params_free(p);
}

static void layers_waiting_for_their_first_call_are_counted(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    assert_int_equal(rb_layers_unbuilt(p), 0);
    rb_layer *a = rb_layer_new(p, RB_DENSE(.units = 2), 0, NULL);
    rb_layer_new(p, RB_RESIDUAL(.units = 2), 0, NULL);
    rb_layer_new(p, RB_DENSE(.units = 2), RB_SHAPE(3));
    assert_int_equal(rb_layers_unbuilt(p), 2);
    CHECK_OK(rb_layer_forward(a, rb_tensor_ones(RB_F32, RB_SHAPE(1, 3))));
    assert_int_equal(rb_layers_unbuilt(p), 1);
    rb_params_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(a_layer_made_without_a_shape_takes_it_from_its_first_call),
        TEST(a_first_call_without_a_batch_axis_is_refused),
        TEST(a_layer_built_at_its_first_call_has_the_weights_of_one_built_at_creation),
        TEST(a_layer_built_while_a_tape_records_leaves_its_gradients_right),
        TEST(counts_and_shapes_of_a_layer_not_built_yet_are_refused_naming_it),
        TEST(a_models_summary_shows_layers_not_built_yet),
        TEST(a_recurrent_cell_step_needs_a_built_layer),
        TEST(a_block_built_at_its_first_call_keeps_the_mode_it_was_given),
        TEST(the_penalties_of_every_layer_of_a_store_add_up),
        TEST(the_constraints_of_every_layer_of_a_store_are_applied),
        TEST(every_layer_of_a_store_switches_mode),
        TEST(layers_waiting_for_their_first_call_are_counted),
    };
    return RUN_TESTS(tests, argc, argv);
}
