/* Initialisers, regularisers, layers and models. */
#include <stdlib.h>

#include "testutil.h"

static double variance_of(rb_tensor *t) { return rb_tensor_item(rb_var(t, RB_ALL_AXES, false, 0)); }

static void initialisers_follow_keras(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(1);
    rb_tensor *w = rb_tensor_empty(RB_F64, RB_SHAPE(400, 600));
    CHECK_STATUS_OK(rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_GLOROT_UNIFORM}, &rng));
    double limit = sqrt(6.0 / 1000);
    assert_true(rb_tensor_item(rb_max(rb_abs(w), RB_ALL_AXES, false)) <= limit);
    CHECK_CLOSE(variance_of(w), limit * limit / 3, 2e-5);
    CHECK_STATUS_OK(
        rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_DEFAULT}, &rng)); /* = Glorot uniform */
    CHECK_CLOSE(variance_of(w), limit * limit / 3, 2e-5);
    CHECK_STATUS_OK(rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_HE_NORMAL}, &rng));
    CHECK_CLOSE(variance_of(w), 2.0 / 400, 1e-4);
    CHECK_STATUS_OK(rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_HE_UNIFORM}, &rng));
    CHECK_CLOSE(variance_of(w), 6.0 / 400 / 3, 1e-4);
    CHECK_STATUS_OK(rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_GLOROT_NORMAL}, &rng));
    CHECK_CLOSE(variance_of(w), 2.0 / 1000, 5e-5);
    CHECK_STATUS_OK(rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_LECUN_NORMAL}, &rng));
    CHECK_CLOSE(variance_of(w), 1.0 / 400, 5e-5);
    CHECK_STATUS_OK(rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_LECUN_UNIFORM}, &rng));
    CHECK_CLOSE(variance_of(w), 1.0 / 400, 5e-5);
    CHECK_STATUS_OK(
        rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_RANDOM_NORMAL, .scale = 0.2}, &rng));
    CHECK_CLOSE(variance_of(w), 0.04, 5e-4);
    CHECK_STATUS_OK(rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_RANDOM_UNIFORM}, &rng));
    CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(w), RB_ALL_AXES, false)), 0.05, 1e-4);
    CHECK_STATUS_OK(rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_CONSTANT, .value = 3}, &rng));
    CHECK_CLOSE(rb_tensor_item(rb_min(w, RB_ALL_AXES, false)), 3, 0);
    assert_string_equal(rb_init_name(RB_INIT_HE_UNIFORM), "he_uniform");
}

static void fans_follow_kernel_layouts(void **state)
{
    (void)state;
    double fan_in, fan_out;
    rb_init_fans(RB_SHAPE(5, 5, 3, 16), &fan_in, &fan_out); /* conv kernel (kh, kw, in, out) */
    CHECK_CLOSE(fan_in, 75, 0);
    CHECK_CLOSE(fan_out, 400, 0);
    rb_init_fans(RB_SHAPE(784, 256), &fan_in, &fan_out);
    CHECK_CLOSE(fan_in, 784, 0);
    CHECK_CLOSE(fan_out, 256, 0);
}

static void orthogonal_init_gives_orthonormal_columns_or_rows(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(2);
    rb_tensor *tall = rb_tensor_empty(RB_F64, RB_SHAPE(6, 4));
    CHECK_STATUS_OK(rb_init_fill(tall, (rb_init_spec){.kind = RB_INIT_ORTHOGONAL}, &rng));
    rb_tensor *gram = rb_matmul(rb_transpose(tall, 0, 1), tall); /* W^T W = I (4x4) */
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            CHECK_CLOSE(rb_tensor_get(gram, (int64_t[]){i, j}), i == j, 1e-12);
    rb_tensor *wide = rb_tensor_empty(RB_F64, RB_SHAPE(3, 5));
    CHECK_STATUS_OK(
        rb_init_fill(wide, (rb_init_spec){.kind = RB_INIT_ORTHOGONAL, .scale = 2}, &rng));
    rb_tensor *g2 = rb_matmul(wide, rb_transpose(wide, 0, 1)); /* W W^T = 4 I (3x3) */
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            CHECK_CLOSE(rb_tensor_get(g2, (int64_t[]){i, j}), 4.0 * (i == j), 1e-12);
}

static void penalties_and_max_norm(void **state)
{
    (void)state;
    rb_tensor *w = T64(RB_SHAPE(2, 2), 3, 0, -4, 1);
    CHECK_TENSOR(rb_l2_penalty(w, 0.1), 1e-15, 0.05 * 26);
    CHECK_TENSOR(rb_l1_penalty(w, 0.1), 1e-15, 0.8);
    CHECK_STATUS_OK(rb_max_norm(w, 2.0)); /* column norms 5 and 1: the first is scaled to 2 */
    CHECK_TENSOR(w, 1e-15, 1.2, 0, -1.6, 1);
    CHECK_FAILS(rb_max_norm(w, 0), RB_ERR_ARGUMENT, "bound");
}

static void dense_layers_are_named_and_compute_x_w_plus_b(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *a = rb_layer_new(p, RB_DENSE(.units = 2), RB_SHAPE(3));
    rb_layer *b = rb_layer_new(p, RB_DENSE(.units = 2), RB_SHAPE(3));
    rb_layer *c =
        rb_layer_new(p, RB_DENSE(.name = "head", .units = 2, .no_bias = true), RB_SHAPE(3));
    assert_string_equal(rb_layer_name(a), "dense");
    assert_string_equal(rb_layer_name(b), "dense_1");
    assert_string_equal(rb_layer_type(c), "Dense");
    assert_ptr_equal(rb_params_find(p, "dense.kernel"), rb_layer_kernel(a));
    assert_ptr_equal(rb_params_find(p, "dense_1.bias"), rb_layer_bias(b));
    assert_null(rb_layer_bias(c));
    assert_int_equal(rb_layer_num_params(c, false), 6);
    rb_tensor_assign(rb_layer_kernel(a), T64(RB_SHAPE(3, 2), 1, 2, 3, 4, 5, 6));
    rb_tensor_assign(rb_layer_bias(a), T64(RB_SHAPE(2), 0.5, -0.5));
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 0, -1, 2, 1, 0);
    /* [1,0,-1] w = [-4,-4]; [2,1,0] w = [5, 8] */
    CHECK_TENSOR(rb_layer_forward(a, x), 1e-12, -3.5, -4.5, 5.5, 7.5);
    CHECK_FAILS(rb_layer_forward(a, T64(RB_SHAPE(1, 2), 1, 2)), RB_ERR_SHAPE,
                "layer 'dense' (Dense): expects input (N, 3), got [1,2]");
    CHECK_FAILS(rb_layer_new(p, RB_DENSE(.units = 0), RB_SHAPE(3)), RB_ERR_ARGUMENT,
                "needs .units >= 1");
    CHECK_FAILS(rb_layer_new(p, RB_DENSE(.name = "head", .units = 1), RB_SHAPE(3)), RB_ERR_ARGUMENT,
                "another layer");
    rb_params_free(p); /* frees the layers too */
}

static void lenet5_has_61706_parameters_as_in_keras(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F32, "lenet5", RB_SHAPE(32, 32, 1));
    rb_model_add(m, RB_CONV2D(.units = 6, .kernel = {5, 5}, .activation = RB_ACT_TANH));
    rb_model_add(m, RB_AVG_POOL2D(.kernel = {2, 2}));
    rb_model_add(m, RB_CONV2D(.units = 16, .kernel = {5, 5}, .activation = RB_ACT_TANH));
    rb_model_add(m, RB_AVG_POOL2D(.kernel = {2, 2}));
    rb_model_add(m, RB_FLATTEN());
    rb_model_add(m, RB_DENSE(.units = 120, .activation = RB_ACT_TANH));
    rb_model_add(m, RB_DENSE(.units = 84, .activation = RB_ACT_TANH));
    CHECK_OK(rb_model_add(m, RB_DENSE(.units = 10)));
    assert_int_equal(rb_model_num_params(m, false), 61706);
    assert_int_equal(rb_model_num_params(m, true), 61706);
    int64_t shape[8];
    assert_int_equal(rb_model_output_shape(m, shape), 1);
    assert_int_equal(shape[0], 10);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rb_model_summary(m, f);
    fclose(f);
    assert_non_null(strstr(buf, "Model: \"lenet5\""));
    assert_non_null(strstr(buf, "conv2d (Conv2D)"));
    assert_non_null(strstr(buf, "(None, 28, 28, 6)"));
    assert_non_null(strstr(buf, "conv2d_1 (Conv2D)"));
    assert_non_null(strstr(buf, "2,416"));
    assert_non_null(strstr(buf, "flatten (Flatten)"));
    assert_non_null(strstr(buf, "(None, 400)"));
    assert_non_null(strstr(buf, "Total params: 61,706 (241.04 KB)"));
    assert_non_null(strstr(buf, "Non-trainable params: 0"));
    free(buf);
    rb_tensor *y = rb_model_forward(m, rb_tensor_ones(RB_F32, RB_SHAPE(2, 32, 32, 1)));
    CHECK_SHAPE(y, 2, 10);
    rb_model_free(m);
}

static void a_small_dense_stack_has_283_parameters(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F32, "tiny", RB_SHAPE(10));
    rb_model_add(m, RB_DENSE(.units = 20, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_DENSE(.units = 3));
    assert_int_equal(rb_model_num_params(m, false), 283);
    rb_model_free(m);
}

static void batch_norm_normalises_in_training_and_uses_moving_stats_in_evaluation(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F64, "bn", RB_SHAPE(2));
    rb_layer *bn = rb_model_add(m, RB_BATCH_NORM());
    assert_int_equal(rb_layer_num_params(bn, false), 8);
    assert_int_equal(rb_layer_num_params(bn, true), 4);
    rb_tensor *x = T64(RB_SHAPE(4, 2), 1, 10, 2, 20, 3, 30, 6, 40);
    rb_tensor *y = rb_model_forward(m, x);
    /* Column 0: mean 3, biased variance 3.5 */
    double inv = 1 / sqrt(3.5 + 1e-3);
    CHECK_CLOSE(rb_tensor_get(y, (int64_t[]){0, 0}), -2 * inv, 1e-12);
    CHECK_CLOSE(rb_tensor_get(y, (int64_t[]){3, 0}), 3 * inv, 1e-12);
    /* moving = 0.99 * initial + 0.01 * batch: mean 0 -> 0.03, variance 1 -> 0.99 + 0.035 */
    CHECK_TENSOR(rb_layer_variable(bn, 2), 1e-12, 0.03, 0.25);
    CHECK_TENSOR(rb_layer_variable(bn, 3), 1e-12, 0.99 + 0.035, 0.99 + 0.01 * 125);
    rb_model_set_training(m, false);
    assert_false(rb_model_training(m));
    rb_tensor *e = rb_model_forward(m, x);
    CHECK_CLOSE(rb_tensor_get(e, (int64_t[]){0, 0}), (1 - 0.03) / sqrt(1.025 + 1e-3), 1e-12);
    CHECK_TENSOR(rb_layer_variable(bn, 2), 1e-12, 0.03, 0.25); /* not updated in evaluation */
    rb_model_free(m);
}

static void batch_norm_works_per_channel_on_images(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F64, "bn2d", RB_SHAPE(4, 4, 3));
    rb_model_add(m, RB_BATCH_NORM());
    rb_rng rng = rb_rng_make(3);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(8, 4, 4, 3), 5, 2, &rng);
    rb_tensor *y = rb_model_forward(m, x);
    rb_tensor *mean = rb_mean(y, RB_AXES(0, 1, 2), false);
    rb_tensor *var = rb_var(y, RB_AXES(0, 1, 2), false, 0);
    for (int64_t c = 0; c < 3; c++) {
        CHECK_CLOSE(rb_tensor_get(mean, &c), 0, 1e-12);
        CHECK_CLOSE(rb_tensor_get(var, &c), 1, 1e-2);
    }
    rb_model_free(m);
}

static void dropout_drops_the_rate_and_keeps_the_mean_only_in_training(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F64, "drop", RB_SHAPE(1000));
    rb_model_add(m, RB_DROPOUT(.rate = 0.25, .seed = 9));
    rb_tensor *x = rb_tensor_ones(RB_F64, RB_SHAPE(100, 1000));
    rb_tensor *y = rb_model_forward(m, x);
    double zeros =
        rb_tensor_item(rb_mean(rb_equal(y, rb_tensor_scalar(RB_F64, 0)), RB_ALL_AXES, false));
    CHECK_CLOSE(zeros, 0.25, 0.005);
    CHECK_CLOSE(rb_tensor_item(rb_max(y, RB_ALL_AXES, false)), 1 / 0.75, 1e-12);
    CHECK_CLOSE(rb_tensor_item(rb_mean(y, RB_ALL_AXES, false)), 1.0, 0.01);
    rb_tensor *y2 = rb_model_forward(m, x); /* a new mask each call */
    assert_true(rb_tensor_item(rb_sum(rb_not_equal(y, y2), RB_ALL_AXES, false)) > 1000);
    rb_model_set_training(m, false);
    CHECK_CLOSE(rb_tensor_item(rb_min(rb_model_forward(m, x), RB_ALL_AXES, false)), 1.0, 0);
    CHECK_FAILS(rb_model_add(m, RB_DROPOUT(.rate = 1.0)), RB_ERR_ARGUMENT, "rate 1");
    rb_model_free(m);
}

static void alpha_dropout_keeps_mean_zero_and_variance_one(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F64, "adrop", RB_SHAPE(1000));
    rb_model_add(m, RB_ALPHA_DROPOUT(.rate = 0.2, .seed = 5));
    rb_rng rng = rb_rng_make(4);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(200, 1000), 0, 1, &rng);
    rb_tensor *y = rb_model_forward(m, x);
    CHECK_CLOSE(rb_tensor_item(rb_mean(y, RB_ALL_AXES, false)), 0, 0.01);
    CHECK_CLOSE(rb_tensor_item(rb_var(y, RB_ALL_AXES, false, 0)), 1, 0.02);
    rb_model_set_training(m, false);
    CHECK_CLOSE(
        rb_tensor_item(rb_max(rb_abs(rb_sub(rb_model_forward(m, x), x)), RB_ALL_AXES, false)), 0,
        0);
    rb_model_free(m);
}

static void layer_norm_normalises_each_sample(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F64, "ln", RB_SHAPE(4));
    rb_layer *ln = rb_model_add(m, RB_LAYER_NORM());
    assert_int_equal(rb_layer_num_params(ln, false), 8);
    rb_tensor *y = rb_model_forward(m, T64(RB_SHAPE(2, 4), 1, 2, 3, 4, 10, 10, 10, 14));
    double s1 = 1 / sqrt(1.25 + 1e-3), s2 = 1 / sqrt(3.0 + 1e-3);
    CHECK_TENSOR(y, 1e-12, -1.5 * s1, -0.5 * s1, 0.5 * s1, 1.5 * s1, -s2, -s2, -s2, 3 * s2);
    rb_model_free(m);
}

static void image_layers_have_keras_shapes_and_counts(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F32, "shapes", RB_SHAPE(28, 28, 1));
    rb_layer *c = rb_model_add(
        m, RB_CONV2D(.units = 8, .kernel = {3, 3}, .window = {.padding = RB_PAD_SAME}));
    rb_layer *p = rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
    rb_layer *s = rb_model_add(m, RB_SCS2D(.units = 4, .kernel = {3, 3}));
    rb_layer *a = rb_model_add(m, RB_MAX_ABS_POOL2D(.kernel = {2, 2}));
    rb_layer *u = rb_model_add(m, RB_UPSAMPLE2D(.kernel = {2, 2}));
    rb_layer *t = rb_model_add(
        m, RB_CONV2D_TRANSPOSE(.units = 2, .kernel = {2, 2}, .window = {.stride = {2, 2}}));
    rb_layer *g = rb_model_add(m, RB_GLOBAL_AVG_POOL2D());
    int64_t shape[8];
    assert_int_equal(rb_layer_output_shape(c, shape), 3);
    assert_true(shape[0] == 28 && shape[1] == 28 && shape[2] == 8);
    assert_int_equal(rb_layer_num_params(c, false), 3 * 3 * 1 * 8 + 8);
    rb_layer_output_shape(p, shape);
    assert_true(shape[0] == 14 && shape[2] == 8);
    rb_layer_output_shape(s, shape);
    assert_true(shape[0] == 12 && shape[1] == 12 && shape[2] == 4);
    assert_int_equal(rb_layer_num_params(s, false), 3 * 3 * 8 * 4 + 4 + 1); /* kernel, p, q */
    rb_layer_output_shape(a, shape);
    assert_true(shape[0] == 6 && shape[2] == 4);
    rb_layer_output_shape(u, shape);
    assert_true(shape[0] == 12 && shape[1] == 12);
    rb_layer_output_shape(t, shape);
    assert_true(shape[0] == 24 && shape[1] == 24 && shape[2] == 2);
    assert_int_equal(rb_layer_num_params(t, false), 2 * 2 * 2 * 4 + 2);
    assert_int_equal(rb_layer_output_shape(g, shape), 1);
    rb_tensor *y = rb_model_forward(m, rb_tensor_ones(RB_F32, RB_SHAPE(3, 28, 28, 1)));
    CHECK_SHAPE(y, 3, 2);
    rb_model_free(m);
}

static void sequence_layers_work_on_n_l_c(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F32, "seq", RB_SHAPE(20, 3));
    rb_layer *c =
        rb_model_add(m, RB_CONV1D(.units = 5, .kernel = {3}, .window = {.padding = RB_PAD_SAME}));
    rb_model_add(m, RB_MAX_POOL1D(.kernel = {2}));
    rb_model_add(m, RB_AVG_POOL1D(.kernel = {2}));
    assert_int_equal(rb_layer_num_params(c, false), 3 * 3 * 5 + 5);
    int64_t shape[8];
    assert_int_equal(rb_model_output_shape(m, shape), 2);
    assert_true(shape[0] == 5 && shape[1] == 5);
    CHECK_SHAPE(rb_model_forward(m, rb_tensor_ones(RB_F32, RB_SHAPE(2, 20, 3))), 2, 5, 5);
    rb_model_free(m);
}

/* A log-softmax layer turns logits into log-probabilities: each row's exponentials sum to 1,
 * and a row shifted by a constant gives the same output. */
static void log_softmax_activation_gives_log_probabilities(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *l = rb_layer_new(p, RB_ACTIVATION(.activation = RB_ACT_LOG_SOFTMAX), RB_SHAPE(3));
    /* log(e^1 + e^2 + e^3) = 3.4076059644443806 */
    CHECK_TENSOR(rb_layer_forward(l, T64(RB_SHAPE(2, 3), 1, 2, 3, 11, 12, 13)), 1e-12,
                 -2.4076059644443806, -1.4076059644443806, -0.4076059644443806, -2.4076059644443806,
                 -1.4076059644443806, -0.4076059644443806);
    assert_string_equal(rb_activation_name(RB_ACT_LOG_SOFTMAX), "log_softmax");
    assert_string_equal(rb_activation_name(RB_ACT_SOFTMAX), "softmax");
    rb_params_free(p);
}

static void a_window_that_does_not_fit_names_the_layer(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F32, "bad", RB_SHAPE(4, 4, 1));
    CHECK_FAILS(rb_model_add(m, RB_CONV2D(.units = 2, .kernel = {5, 5})), RB_ERR_SHAPE,
                "layer 'conv2d' (Conv2D): a window of 5");
    CHECK_FAILS(rb_model_add(m, RB_MAX_POOL2D(.kernel = {8, 8})), RB_ERR_SHAPE, "(MaxPooling2D)");
    CHECK_FAILS(rb_model_add(m, RB_CONV1D(.units = 2, .kernel = {3})), RB_ERR_SHAPE,
                "expects per-sample inputs of 2 axes");
    rb_model_free(m);
}

static void residual_blocks_and_the_resnet_builder(void **state)
{
    (void)state;
    rb_model *m = rb_resnet(
        RB_F32, "resnet", (int64_t[]){28, 28, 1},
        (rb_resnet_config){.stem_filters = 16, .stem_pool = true, .stages = 1, .blocks = {2}});
    CHECK_OK(m);
    int64_t shape[8];
    assert_int_equal(rb_model_output_shape(m, shape), 1);
    assert_int_equal(shape[0], 10);
    /* stem conv 144 + BN 64 + two blocks of (2 convs 2304 + 2 BN 64) + dense 170 */
    int64_t expect = 144 + 64 + 2 * (2 * 2304 + 2 * 64) + 170;
    assert_int_equal(rb_model_num_params(m, false), expect);
    assert_int_equal(rb_model_num_params(m, false) - rb_model_num_params(m, true), 5 * 32);
    CHECK_SHAPE(rb_model_forward(m, rb_tensor_ones(RB_F32, RB_SHAPE(2, 28, 28, 1))), 2, 10);
    rb_model_free(m);
    /* Downsampling stages add 1x1 projections; other placements build and run too. */
    for (rb_bn_placement bn = RB_BN_AFTER_CONV; bn <= RB_BN_NONE; bn++) {
        m = rb_resnet(RB_F64, "r", (int64_t[]){8, 8, 3}, (rb_resnet_config){.stages = 2, .bn = bn});
        CHECK_OK(m);
        CHECK_SHAPE(rb_model_forward(m, rb_tensor_ones(RB_F64, RB_SHAPE(2, 8, 8, 3))), 2, 10);
        rb_model_free(m);
    }
}

/* Gradients of whole layers, parameters included: the layer's variables are passed as
 * gradcheck inputs, so their perturbations reach the layer. */
typedef struct layer_case {
    rb_layer *layer;
} layer_case;

static rb_tensor *apply_layer(rb_tensor *const *in, int n, void *ud)
{
    (void)n;
    return rb_layer_forward(((layer_case *)ud)->layer, in[0]);
}

static void check_layer_gradients(rb_layer_spec spec, int ndim, const int64_t *in_shape,
                                  int64_t batch)
{
    rb_params *p = rb_params_new(RB_F64);
    rb_params_seed(p, 7);
    layer_case lc = {rb_layer_new(p, spec, ndim, in_shape)};
    CHECK_OK(lc.layer);
    rb_rng rng = rb_rng_make(11);
    int64_t shape[RB_MAX_DIMS] = {batch};
    memcpy(shape + 1, in_shape, sizeof(int64_t) * (size_t)ndim);
    rb_tensor *in[8] = {rb_tensor_uniform(RB_F64, ndim + 1, shape, -1, 1, &rng)};
    int n = 1;
    for (int i = 0; i < rb_params_count(p) && n < 8; i++)
        if (rb_params_is_trainable(rb_params_at(p, i))) in[n++] = rb_params_at(p, i);
    rb_gradcheck_report r;
    if (!rb_gradcheck(apply_layer, &lc, n, in, NULL, &r))
        fail_msg("%s: %s", rb_layer_type(lc.layer), r.message);
    rb_params_free(p);
}

static void layers_pass_gradcheck_with_their_parameters(void **state)
{
    (void)state;
    check_layer_gradients(RB_DENSE(.units = 3, .activation = RB_ACT_TANH), RB_SHAPE(4), 2);
    check_layer_gradients(RB_CONV2D(.units = 2, .kernel = {2, 2},
                                    .window = {.stride = {2, 1}, .padding = RB_PAD_SAME}),
                          RB_SHAPE(4, 3, 2), 2);
    check_layer_gradients(RB_SCS2D(.units = 2, .kernel = {2, 2}), RB_SHAPE(3, 3, 2), 2);
    check_layer_gradients(RB_BATCH_NORM(), RB_SHAPE(3, 2), 4);
    check_layer_gradients(RB_LAYER_NORM(), RB_SHAPE(5), 3);
    check_layer_gradients(RB_RESIDUAL(.units = 2, .window = {.stride = {2, 2}}), RB_SHAPE(4, 4, 1),
                          2);
    check_layer_gradients(
        RB_CONV2D_TRANSPOSE(.units = 2, .kernel = {2, 2}, .window = {.stride = {2, 2}}),
        RB_SHAPE(2, 2, 3), 2);
}

static void model_regularisation_and_constraints(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F64, "reg", RB_SHAPE(2));
    rb_layer *a = rb_model_add(m, RB_DENSE(.units = 2, .l2 = 0.1, .max_norm = 1.0));
    rb_layer *b = rb_model_add(m, RB_DENSE(.units = 1, .l1 = 0.5));
    rb_tensor_assign(rb_layer_kernel(a), T64(RB_SHAPE(2, 2), 3, 0, 4, 0.5));
    rb_tensor_assign(rb_layer_kernel(b), T64(RB_SHAPE(2, 1), -1, 2));
    /* 0.1 / 2 * (9 + 16 + 0.25) + 0.5 * 3 */
    CHECK_TENSOR(rb_model_regularization(m), 1e-12, 0.05 * 25.25 + 1.5);
    CHECK_STATUS_OK(rb_model_apply_constraints(m));
    CHECK_TENSOR(rb_layer_kernel(a), 1e-12, 0.6, 0, 0.8, 0.5); /* column 0 had norm 5 */
    rb_model_free(m);
}

/* ---- penalties and constraints reach every kind of layer with a kernel ---- */

typedef struct weighted_kind {
    rb_layer_spec spec;
    int ndim;
    int64_t shape[3];
} weighted_kind;

/* Every kind with a kernel, on small inputs (the residual block with its 1x1 projection). */
enum { N_WEIGHTED = 10 };
static void weighted_kinds(weighted_kind *k)
{
    weighted_kind all[N_WEIGHTED] = {
        {RB_DENSE(.units = 3), 1, {4}},
        {RB_CONV1D(.units = 3, .kernel = {2}), 2, {5, 2}},
        {RB_CONV2D(.units = 3, .kernel = {2, 2}), 3, {4, 4, 2}},
        {RB_CONV2D_TRANSPOSE(.units = 3, .kernel = {2, 2}), 3, {3, 3, 2}},
        {RB_SCS2D(.units = 3, .kernel = {2, 2}), 3, {4, 4, 2}},
        {RB_RESIDUAL(.units = 3), 3, {4, 4, 2}},
        {RB_SIMPLE_RNN(.units = 3), 2, {4, 2}},
        {RB_LSTM(.units = 3), 2, {4, 2}},
        {RB_GRU(.units = 3), 2, {4, 2}},
        {RB_LSTM(.units = 3, .bidirectional = true), 2, {4, 2}},
    };
    memcpy(k, all, sizeof all);
}

static bool is_recurrent_kind(rb_layer_kind kind)
{
    return kind == RB_LAYER_SIMPLE_RNN || kind == RB_LAYER_LSTM || kind == RB_LAYER_GRU;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* What the spec's penalties act on, by variable name: the kernels (both directions, every
 * convolution of a block) and, with their own coefficients, the recurrent kernels. */
static bool is_recurrent_kernel(rb_tensor *v)
{
    return ends_with(rb_tensor_name(v), "recurrent_kernel");
}
static bool is_kernel(rb_tensor *v)
{
    return ends_with(rb_tensor_name(v), "kernel") && !is_recurrent_kernel(v);
}

/* A model of one layer of kind k with every variable set to distinct values, some large. */
static rb_model *one_layer_model(const weighted_kind *k, rb_layer_spec spec)
{
    rb_model *m = rb_model_new(RB_F64, "one", k->ndim, k->shape);
    CHECK_OK(rb_model_add(m, spec));
    rb_params *p = rb_model_params(m);
    for (int v = 0; v < rb_params_count(p); v++) {
        rb_tensor *w = rb_params_at(p, v);
        for (int64_t i = 0; i < rb_tensor_size(w); i++)
            rb_tensor_set_flat(w, i, 0.9 * sin(1.0 + 0.7 * (double)i + 1.3 * v));
    }
    return m;
}

static void every_kind_with_a_kernel_adds_its_penalties_to_the_models_loss(void **state)
{
    (void)state;
    weighted_kind kinds[N_WEIGHTED];
    weighted_kinds(kinds);
    for (int k = 0; k < N_WEIGHTED; k++) {
        rb_layer_spec spec = kinds[k].spec;
        spec.l2 = 0.1;
        spec.l1 = 0.05;
        if (is_recurrent_kind(spec.kind)) {
            spec.recurrent_l2 = 0.3;
            spec.recurrent_l1 = 0.02;
        }
        rb_model *m = one_layer_model(&kinds[k], spec);
        rb_params *p = rb_model_params(m);
        double expect = 0;
        int penalised = 0;
        for (int v = 0; v < rb_params_count(p); v++) {
            rb_tensor *w = rb_params_at(p, v);
            double l2 = is_kernel(w) ? spec.l2 : is_recurrent_kernel(w) ? spec.recurrent_l2 : 0;
            double l1 = is_kernel(w) ? spec.l1 : is_recurrent_kernel(w) ? spec.recurrent_l1 : 0;
            penalised += l2 > 0;
            for (int64_t i = 0; i < rb_tensor_size(w); i++) {
                double x = rb_tensor_get_flat(w, i);
                expect += l2 / 2 * x * x + l1 * fabs(x);
            }
        }
        rb_layer *l = rb_model_layer_at(m, 0);
        if (penalised == 0) fail_msg("%s: no kernel found", rb_layer_type(l));
        rb_tensor *got = rb_model_regularization(m);
        if (!got || fabs(rb_tensor_item(got) - expect) > 1e-12 * expect)
            fail_msg("%s: the model's penalty is %.15g, expected %.15g (%s)", rb_layer_type(l),
                     got ? rb_tensor_item(got) : NAN, expect, rb_last_error());
        CHECK_CLOSE(rb_tensor_item(rb_layer_regularization(l)), expect, 1e-12 * expect);
        rb_model_free(m);
    }
}

static void every_kind_with_a_kernel_bounds_the_norm_of_its_columns(void **state)
{
    (void)state;
    weighted_kind kinds[N_WEIGHTED];
    weighted_kinds(kinds);
    for (int k = 0; k < N_WEIGHTED; k++) {
        rb_layer_spec spec = kinds[k].spec;
        spec.max_norm = 0.5;
        if (is_recurrent_kind(spec.kind)) spec.recurrent_max_norm = 0.8;
        rb_model *m = one_layer_model(&kinds[k], spec);
        rb_params *p = rb_model_params(m);
        int n = rb_params_count(p);
        double *before[16];
        for (int v = 0; v < n; v++) {
            rb_tensor *w = rb_params_at(p, v);
            before[v] = malloc(sizeof(double) * (size_t)rb_tensor_size(w));
            rb_tensor_to_doubles(w, before[v], rb_tensor_size(w));
        }
        CHECK_STATUS_OK(rb_model_apply_constraints(m));
        int bounded = 0;
        for (int v = 0; v < n; v++) {
            rb_tensor *w = rb_params_at(p, v);
            double bound = is_kernel(w)             ? spec.max_norm
                           : is_recurrent_kernel(w) ? spec.recurrent_max_norm
                                                    : INFINITY;
            bounded += isfinite(bound);
            /* each column (the weights into one output unit) scaled back to the bound */
            int64_t cols = rb_tensor_dim(w, -1), size = rb_tensor_size(w);
            for (int64_t c = 0; c < cols; c++) {
                double norm = 0;
                for (int64_t i = c; i < size; i += cols)
                    norm += before[v][i] * before[v][i];
                double scale = sqrt(norm) > bound ? bound / sqrt(norm) : 1;
                for (int64_t i = c; i < size; i += cols)
                    if (fabs(rb_tensor_get_flat(w, i) - before[v][i] * scale) > 1e-12)
                        fail_msg("%s %s[%lld] = %.15g, expected %.15g",
                                 rb_layer_type(rb_model_layer_at(m, 0)), rb_tensor_name(w),
                                 (long long)i, rb_tensor_get_flat(w, i), before[v][i] * scale);
            }
            free(before[v]);
        }
        assert_true(bounded > 0);
        rb_model_free(m);
    }
}

static void recurrent_layers_show_their_kernel_bias_and_recurrent_kernel(void **state)
{
    (void)state;
    const char *names[3] = {"simple_rnn", "lstm", "gru"};
    const rb_layer_kind kinds[3] = {RB_LAYER_SIMPLE_RNN, RB_LAYER_LSTM, RB_LAYER_GRU};
    for (int k = 0; k < 3; k++) {
        rb_params *p = rb_params_new(RB_F32);
        rb_layer *l =
            rb_layer_new(p, (rb_layer_spec){.kind = kinds[k], .units = 2}, RB_SHAPE(3, 4));
        char name[64];
        snprintf(name, sizeof name, "%s.kernel", names[k]);
        assert_ptr_equal(rb_layer_kernel(l), rb_params_find(p, name));
        snprintf(name, sizeof name, "%s.bias", names[k]);
        assert_ptr_equal(rb_layer_bias(l), rb_params_find(p, name));
        snprintf(name, sizeof name, "%s.recurrent_kernel", names[k]);
        assert_ptr_equal(rb_layer_recurrent_kernel(l), rb_params_find(p, name));
        rb_params_free(p);
    }
    rb_params *p = rb_params_new(RB_F32);
    assert_null(rb_layer_recurrent_kernel(rb_layer_new(p, RB_DENSE(.units = 2), RB_SHAPE(3))));
    rb_params_free(p);
}

static void penalties_a_layer_cannot_apply_are_refused_naming_the_field(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    CHECK_FAILS(rb_layer_new(p, RB_BATCH_NORM(.l2 = 0.1), RB_SHAPE(3)), RB_ERR_ARGUMENT, ".l2");
    CHECK_FAILS(rb_layer_new(p, RB_LAYER_NORM(.l1 = 0.1), RB_SHAPE(3)), RB_ERR_ARGUMENT,
                ".l1 = 0.1: this kind has no kernel");
    CHECK_FAILS(rb_layer_new(p, RB_MAX_POOL2D(.kernel = {2, 2}, .max_norm = 1), RB_SHAPE(4, 4, 1)),
                RB_ERR_ARGUMENT, ".max_norm");
    CHECK_FAILS(rb_layer_new(p, RB_DENSE(.units = 2, .recurrent_l1 = 0.1), RB_SHAPE(3)),
                RB_ERR_ARGUMENT, ".recurrent_l1");
    CHECK_FAILS(rb_layer_new(p, RB_DENSE(.units = 2, .l2 = -0.1), RB_SHAPE(3)), RB_ERR_ARGUMENT,
                ".l2");
    CHECK_FAILS(rb_layer_new(p, RB_LSTM(.units = 2, .recurrent_max_norm = NAN), RB_SHAPE(3, 2)),
                RB_ERR_ARGUMENT, ".recurrent_max_norm");
    rb_params_free(p);
}

static void functional_models_own_and_switch_free_layers(void **state)
{
    (void)state;
    rb_model *m = rb_model_new(RB_F64, "two_inputs", RB_SHAPE(3));
    rb_layer *left = rb_model_layer(m, RB_DENSE(.units = 2), RB_SHAPE(3));
    rb_layer *right = rb_model_layer(m, RB_DENSE(.units = 2), RB_SHAPE(5));
    rb_layer *drop = rb_model_layer(m, RB_DROPOUT(.rate = 0.5), RB_SHAPE(2));
    assert_int_equal(rb_model_num_layers(m), 3);
    rb_tensor *x1 = rb_tensor_ones(RB_F64, RB_SHAPE(4, 3)),
              *x2 = rb_tensor_ones(RB_F64, RB_SHAPE(4, 5));
    rb_tensor *y =
        rb_add(rb_layer_forward(left, x1), rb_layer_forward(right, x2)); /* a skip join */
    CHECK_SHAPE(y, 4, 2);
    rb_model_set_training(m, false);
    rb_tensor *z = rb_layer_forward(drop, y);
    CHECK_CLOSE(rb_tensor_item(rb_sum(rb_abs(rb_sub(z, y)), RB_ALL_AXES, false)), 0, 0);
    assert_int_equal(rb_model_num_params(m, false), 8 + 12);
    rb_model_free(m);
}

/* sqrt of the sum of squares of a tensor's values. */
static double norm_of(const rb_tensor *t)
{
    return sqrt(rb_tensor_item(rb_sum(rb_square((rb_tensor *)t), RB_ALL_AXES, false)));
}

static void grad_norms_give_each_layers_gradient_norm_and_nan_without_weights(void **state)
{
    (void)state;
    /* One Dense unit, loss = sum of its outputs over 2 rows of ones: dL/dW = (2, 2, 2) and
     * dL/db = 2, a norm of sqrt(3 * 4 + 4) = 4. */
    rb_model *one = rb_model_new(RB_F64, "one", RB_SHAPE(3));
    rb_model_add(one, RB_DENSE(.units = 1));
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *out = rb_model_forward(one, rb_tensor_ones(RB_F64, RB_SHAPE(2, 3)));
    CHECK_STATUS_OK(
        rb_tape_gradient_params(tape, rb_sum(out, RB_ALL_AXES, false), rb_model_params(one)));
    rb_tape_end(tape);
    double norm = 0;
    assert_int_equal(rb_model_grad_norms(one, &norm, 1), 1);
    CHECK_CLOSE(norm, 4, 1e-12);
    rb_model_free(one);

    /* A stack: each layer's norm is that of its own variables' gradients; none for dropout. */
    rb_model *m = rb_model_new(RB_F64, "stack", RB_SHAPE(3));
    rb_model_seed(m, 7);
    rb_model_add(m, RB_DENSE(.units = 4, .activation = RB_ACT_TANH));
    rb_model_add(m, RB_DROPOUT(.rate = 0.5));
    rb_model_add(m, RB_BATCH_NORM());
    rb_model_add(m, RB_DENSE(.units = 1));
    tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(8, 3), 0, 1, NULL);
    rb_tensor *loss = rb_mean(rb_square(rb_model_forward(m, x)), RB_ALL_AXES, false);
    CHECK_STATUS_OK(rb_tape_gradient_params(tape, loss, rb_model_params(m)));
    rb_tape_end(tape);
    double norms[4], part[2] = {0, 0};
    assert_int_equal(rb_model_grad_norms(m, norms, 4), 4);
    rb_params *p = rb_model_params(m);
    for (int l = 0; l < 4; l += 3) {
        rb_layer *layer = rb_model_layer_at(m, l);
        double k = norm_of(rb_params_grad(p, rb_layer_kernel(layer)));
        double b = norm_of(rb_params_grad(p, rb_layer_bias(layer)));
        CHECK_CLOSE(norms[l], sqrt(k * k + b * b), 1e-12);
        part[l / 3] = k;
    }
    assert_true(part[0] > 0 && part[1] > 0);
    assert_true(isnan(norms[1])); /* dropout has no weights */
    rb_layer *bn = rb_model_layer_at(m, 2);
    double gamma = norm_of(rb_params_grad(p, rb_layer_variable(bn, 0)));
    double beta = norm_of(rb_params_grad(p, rb_layer_variable(bn, 1)));
    CHECK_CLOSE(norms[2], sqrt(gamma * gamma + beta * beta), 1e-12);

    /* A short output array: the count is still every layer, nothing written past cap. */
    double two[3] = {-1, -1, -1};
    assert_int_equal(rb_model_grad_norms(m, two, 2), 4);
    CHECK_CLOSE(two[0], norms[0], 0);
    CHECK_CLOSE(two[2], -1, 0);
    CHECK_FAILS(rb_model_grad_norms(NULL, two, 2), RB_ERR_ARGUMENT, "rb_model_grad_norms");
    rb_model_free(m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(initialisers_follow_keras),
        TEST(fans_follow_kernel_layouts),
        TEST(orthogonal_init_gives_orthonormal_columns_or_rows),
        TEST(penalties_and_max_norm),
        TEST(dense_layers_are_named_and_compute_x_w_plus_b),
        TEST(lenet5_has_61706_parameters_as_in_keras),
        TEST(a_small_dense_stack_has_283_parameters),
        TEST(batch_norm_normalises_in_training_and_uses_moving_stats_in_evaluation),
        TEST(batch_norm_works_per_channel_on_images),
        TEST(dropout_drops_the_rate_and_keeps_the_mean_only_in_training),
        TEST(alpha_dropout_keeps_mean_zero_and_variance_one),
        TEST(layer_norm_normalises_each_sample),
        TEST(image_layers_have_keras_shapes_and_counts),
        TEST(sequence_layers_work_on_n_l_c),
        TEST(log_softmax_activation_gives_log_probabilities),
        TEST(a_window_that_does_not_fit_names_the_layer),
        TEST(residual_blocks_and_the_resnet_builder),
        TEST(layers_pass_gradcheck_with_their_parameters),
        TEST(model_regularisation_and_constraints),
        TEST(every_kind_with_a_kernel_adds_its_penalties_to_the_models_loss),
        TEST(every_kind_with_a_kernel_bounds_the_norm_of_its_columns),
        TEST(recurrent_layers_show_their_kernel_bias_and_recurrent_kernel),
        TEST(penalties_a_layer_cannot_apply_are_refused_naming_the_field),
        TEST(functional_models_own_and_switch_free_layers),
        TEST(grad_norms_give_each_layers_gradient_norm_and_nan_without_weights),
    };
    return RUN_TESTS(tests, argc, argv);
}
