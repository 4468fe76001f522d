/* Layer specs: a field its kind does not use is refused naming it; every spec macro has one
 * form. */
#include <stdlib.h>

#include "testutil.h"

typedef struct refused_case {
    rb_layer_spec spec;
    int ndim;
    int64_t shape[3];
    const char *needle; /* the field and its value, as the message names them */
} refused_case;

static void a_field_its_kind_does_not_use_is_refused_naming_it(void **state)
{
    (void)state;
    const refused_case cases[] = {
        {RB_DENSE(.units = 2, .rate = 0.5),
         1,
         {3},
         "(Dense): .rate = 0.5: this kind does not use it"},
        {RB_DENSE(.units = 2, .kernel = {3, 3}), 1, {3}, ".kernel[0] = 3"},
        {RB_DENSE(.units = 2, .return_sequences = true), 1, {3}, ".return_sequences = true"},
        {RB_DENSE(.units = 2, .recurrent_init = {.kind = RB_INIT_ZEROS}),
         1,
         {3},
         ".recurrent_init = zeros"},
        {RB_MAX_POOL2D(.units = 4, .kernel = {2, 2}), 3, {4, 4, 1}, "(MaxPooling2D): .units = 4"},
        {RB_MAX_POOL2D(.kernel = {2, 2}, .window = {.groups = 2}),
         3,
         {4, 4, 2},
         ".window.groups = 2"},
        {RB_LSTM(.units = 2, .activation = RB_ACT_RELU), 2, {3, 2}, "(LSTM): .activation = relu"},
        {RB_GRU(.units = 2, .activation = RB_ACT_TANH), 2, {3, 2}, "(GRU): .activation = tanh"},
        {RB_SIMPLE_RNN(.units = 2, .no_bias = true), 2, {3, 2}, "(SimpleRNN): .no_bias = true"},
        {RB_LSTM(.units = 2, .no_bias = true), 2, {3, 2}, "(LSTM): .no_bias = true"},
        {RB_GRU(.units = 2, .no_bias = true), 2, {3, 2}, "(GRU): .no_bias = true"},
        {RB_SCS2D(.units = 2, .kernel = {2, 2}, .no_bias = true),
         3,
         {4, 4, 1},
         "(SharpenedCosineSimilarity2D): .no_bias = true"},
        {RB_SCS2D(.units = 2, .kernel = {2, 2}, .bias_init = {.kind = RB_INIT_ONES}),
         3,
         {4, 4, 1},
         ".bias_init = ones"},
        {RB_BATCH_NORM(.no_bias = true), 1, {3}, "(BatchNormalization): .no_bias = true"},
        {RB_BATCH_NORM(.seed = 4), 1, {3}, ".seed = 4"},
        {RB_LAYER_NORM(.momentum = 0.9), 1, {3}, ".momentum = 0.9"},
        {RB_FLATTEN(.rate = 0.1), 2, {2, 2}, "(Flatten): .rate = 0.1"},
        {RB_CONV1D(.units = 2, .kernel = {2}, .window = {.stride = {1, 2}}),
         2,
         {5, 1},
         ".window.stride[1] = 2"},
        {RB_CONV1D(.units = 2, .kernel = {2, 2}), 2, {5, 1}, ".kernel[1] = 2"},
        {RB_CONV2D(.units = 2, .kernel = {2, 2}, .window = {.output_padding = {1, 0}}),
         3,
         {4, 4, 1},
         ".window.output_padding = {1, 0}"},
        {RB_CONV2D(.units = 2, .kernel = {2, 2}, .bidirectional = true),
         3,
         {4, 4, 1},
         ".bidirectional = true"},
        {RB_CONV2D(.units = 2, .kernel = {2, 2}, .bn = RB_BN_NONE),
         3,
         {4, 4, 1},
         ".bn = RB_BN_NONE"},
        {RB_GLOBAL_AVG_POOL2D(.window = {.padding = RB_PAD_SAME}),
         3,
         {4, 4, 1},
         ".window.padding = RB_PAD_SAME"},
        {RB_UPSAMPLE2D(.kernel = {2, 2}, .window = {.stride = {2, 2}}),
         3,
         {4, 4, 1},
         ".window.stride[0] = 2"},
        {RB_DROPOUT(.rate = 0.5, .kernel_init = {.kind = RB_INIT_HE_NORMAL}),
         1,
         {3},
         ".kernel_init = he_normal"},
        {RB_RESIDUAL(.units = 2, .no_bias = true), 3, {4, 4, 2}, "(ResidualBlock): .no_bias"},
        {RB_RESIDUAL(.units = 2, .window = {.padding = RB_PAD_SAME}),
         3,
         {4, 4, 2},
         ".window.padding"},
    };
    rb_params *p = rb_params_new(RB_F32);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const refused_case *c = &cases[i];
        rb_error_clear();
        rb_layer *l = rb_layer_new(p, c->spec, c->ndim, c->shape);
        if (l || rb_last_status() != RB_ERR_ARGUMENT || !strstr(rb_last_error(), c->needle))
            fail_msg("case %zu: expected a refusal naming \"%s\", got %s (\"%s\")", i, c->needle,
                     l ? "a layer" : rb_status_name(rb_last_status()), rb_last_error());
    }
    rb_error_clear();
    assert_int_equal(rb_params_count(p), 0);
    rb_params_free(p);
}

static void a_layer_made_without_an_input_shape_has_its_spec_checked_at_once(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    CHECK_FAILS(rb_layer_new(p, RB_DENSE(.units = 2, .rate = 0.5), 0, NULL), RB_ERR_ARGUMENT,
                ".rate = 0.5");
    CHECK_FAILS(rb_layer_new(p, RB_MAX_POOL2D(.l2 = 0.1), 0, NULL), RB_ERR_ARGUMENT,
                ".l2 = 0.1: this kind has no kernel");
    rb_params_free(p);
}

static void alpha_is_refused_unless_the_activation_uses_it(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    CHECK_FAILS(
        rb_layer_new(p, RB_DENSE(.units = 2, .activation = RB_ACT_RELU, .alpha = 0.2), RB_SHAPE(3)),
        RB_ERR_ARGUMENT, ".alpha = 0.2: the activation (relu) does not use it");
    CHECK_FAILS(rb_layer_new(p, RB_SIMPLE_RNN(.units = 2, .alpha = 0.2), RB_SHAPE(3, 2)),
                RB_ERR_ARGUMENT, "the activation (tanh) does not use it");
    CHECK_OK(rb_layer_new(p, RB_DENSE(.units = 2, .activation = RB_ACT_LEAKY_RELU, .alpha = 0.2),
                          RB_SHAPE(3)));
    CHECK_OK(rb_layer_new(p, RB_ACTIVATION(.activation = RB_ACT_ELU, .alpha = 0.5), RB_SHAPE(3)));
    rb_params_free(p);
}

static void residual_blocks_refuse_what_they_cannot_honour(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    CHECK_FAILS(rb_layer_new(p, RB_RESIDUAL(.units = 2, .kernel = {3, 5}), RB_SHAPE(4, 4, 2)),
                RB_ERR_ARGUMENT, ".kernel[1] = 5: a residual block's kernels are square");
    CHECK_FAILS(
        rb_layer_new(p, RB_RESIDUAL(.units = 2, .window = {.stride = {2, 1}}), RB_SHAPE(4, 4, 2)),
        RB_ERR_ARGUMENT, ".window.stride[1] = 1");
    CHECK_FAILS(rb_layer_new(p, RB_RESIDUAL(.units = 2, .bn = RB_BN_NONE, .momentum = 0.9),
                             RB_SHAPE(4, 4, 2)),
                RB_ERR_ARGUMENT, ".momentum = 0.9: a residual block without BatchNorm");
    rb_params_free(p);
}

static void fields_a_kind_uses_are_accepted(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    rb_init_spec he = {.kind = RB_INIT_HE_NORMAL}, ones = {.kind = RB_INIT_ONES};
    CHECK_OK(rb_layer_new(p,
                          RB_CONV2D(.units = 4, .kernel = {3, 3}, .activation = RB_ACT_LEAKY_RELU,
                                    .alpha = 0.1, .kernel_init = he, .bias_init = ones, .seed = 3,
                                    .l2 = 1e-3, .max_norm = 2,
                                    .window = {.stride = {1, 2},
                                               .dilation = {1, 1},
                                               .padding = RB_PAD_EXPLICIT,
                                               .pad = {1, 1, 1, 1},
                                               .groups = 2}),
                          RB_SHAPE(6, 6, 2)));
    CHECK_OK(
        rb_layer_new(p,
                     RB_CONV2D_TRANSPOSE(.units = 2, .kernel = {2, 2}, .no_bias = true,
                                         .window = {.stride = {2, 2}, .output_padding = {1, 1}}),
                     RB_SHAPE(3, 3, 2)));
    CHECK_OK(
        rb_layer_new(p,
                     RB_SIMPLE_RNN(.units = 3, .activation = RB_ACT_ELU, .alpha = 0.5,
                                   .return_sequences = true, .bidirectional = true,
                                   .recurrent_init = he, .bias_init = ones, .recurrent_l2 = 0.1),
                     RB_SHAPE(4, 2)));
    CHECK_OK(rb_layer_new(p, RB_GRU(.units = 3, .kernel_init = he, .seed = 5), RB_SHAPE(4, 2)));
    CHECK_OK(rb_layer_new(p, RB_DROPOUT(.rate = 0.3, .seed = 9), RB_SHAPE(3)));
    CHECK_OK(rb_layer_new(p, RB_BATCH_NORM(.momentum = 0.9, .epsilon = 1e-5), RB_SHAPE(3)));
    CHECK_OK(
        rb_layer_new(p, RB_AVG_POOL1D(.kernel = {2}, .window = {.stride = {1}}), RB_SHAPE(5, 2)));
    CHECK_OK(rb_layer_new(p,
                          RB_RESIDUAL(.units = 2, .kernel = {3, 3}, .window = {.stride = {2, 2}},
                                      .momentum = 0.9, .epsilon = 1e-5, .seed = 2),
                          RB_SHAPE(4, 4, 2)));
    rb_params_free(p);
}

static void spec_macros_share_one_form_and_the_old_constants_still_compile(void **state)
{
    (void)state;
    const rb_layer_spec made[] = {RB_FLATTEN(), RB_GLOBAL_AVG_POOL2D(),
                                  RB_GLOBAL_MAX_POOL2D(.name = "gmp"),
                                  RB_BATCH_NORM(.momentum = 0.9), RB_LAYER_NORM(.epsilon = 1e-5)};
    const rb_layer_kind kinds[] = {RB_LAYER_FLATTEN, RB_LAYER_GLOBAL_AVG_POOL2D,
                                   RB_LAYER_GLOBAL_MAX_POOL2D, RB_LAYER_BATCH_NORM,
                                   RB_LAYER_LAYER_NORM};
    for (int i = 0; i < 5; i++)
        assert_int_equal(made[i].kind, kinds[i]);
    assert_string_equal(made[2].name, "gmp");
    CHECK_CLOSE(made[3].momentum, 0.9, 0);
    CHECK_CLOSE(made[4].epsilon, 1e-5, 0);
    /* The bare names of older code: constant specs of the kind, every other field zero. */
    const rb_layer_spec old[] = {RB_FLATTEN, RB_GLOBAL_AVG_POOL2D, RB_GLOBAL_MAX_POOL2D,
                                 RB_BATCH_NORM, RB_LAYER_NORM};
    for (int i = 0; i < 5; i++) {
        rb_layer_spec plain = {.kind = kinds[i]};
        assert_memory_equal(&old[i], &plain, sizeof plain);
    }
}

/* A residual block with BatchNorm after its convolutions and a leaky ReLU of slope 0.5:
 * every activation uses that slope, those inside the normalisations included. */
static void a_residual_blocks_normalisations_use_its_alpha(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F64);
    rb_layer *block =
        rb_layer_new(p, RB_RESIDUAL(.units = 2, .activation = RB_ACT_LEAKY_RELU, .alpha = 0.5),
                     RB_SHAPE(3, 3, 2));
    CHECK_OK(block);
    rb_layer_set_training(block, false); /* BatchNorm on its moving statistics: 0 and 1 */
    rb_rng rng = rb_rng_make(4);
    rb_tensor *x = rb_tensor_uniform(RB_F64, RB_SHAPE(2, 3, 3, 2), -1, 1, &rng);
    rb_window2d same = {.padding = RB_PAD_SAME};
    double eps = 1e-3;
    rb_tensor *k1 = rb_params_find(p, "residual_block_conv1.kernel");
    rb_tensor *k2 = rb_params_find(p, "residual_block_conv2.kernel");
    CHECK_OK(k1 && k2);
    /* conv -> BN (x / sqrt(1 + eps) with gamma 1, beta 0) -> leaky ReLU, twice, plus x. */
    rb_tensor *h =
        rb_leaky_relu(rb_mul_scalar(rb_conv2d(x, k1, NULL, same), 1 / sqrt(1 + eps)), 0.5);
    h = rb_mul_scalar(rb_conv2d(h, k2, NULL, same), 1 / sqrt(1 + eps));
    rb_tensor *expect = rb_leaky_relu(rb_add(h, x), 0.5);
    rb_tensor *got = rb_layer_forward(block, x);
    CHECK_OK(got);
    CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(got, expect)), RB_ALL_AXES, false)), 0, 1e-12);
    rb_params_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(a_field_its_kind_does_not_use_is_refused_naming_it),
        TEST(a_layer_made_without_an_input_shape_has_its_spec_checked_at_once),
        TEST(alpha_is_refused_unless_the_activation_uses_it),
        TEST(residual_blocks_refuse_what_they_cannot_honour),
        TEST(fields_a_kind_uses_are_accepted),
        TEST(spec_macros_share_one_form_and_the_old_constants_still_compile),
        TEST(a_residual_blocks_normalisations_use_its_alpha),
    };
    return RUN_TESTS(tests, argc, argv);
}
