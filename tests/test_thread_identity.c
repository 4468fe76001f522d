/* Training gives the same bits at any thread count: a few steps of each workload's kind of
 * model (dense, convolutional through the direct and the patch kernels, BatchNorm, recurrent)
 * at 1 and at 2 threads, then every parameter compared bit for bit. meson runs the suite with
 * RUBAN_ADAPTIVE_THREADS=0, so 2 threads are 2 threads even on a busy machine. */
#include <stdlib.h>

#include "testutil.h"

typedef enum kind { DENSE, LENET, RESNET, LSTM } kind;

static rb_model *build(kind k)
{
    rb_model *m;
    switch (k) {
    case DENSE:
        m = rb_model_new(RB_F32, "dense", RB_SHAPE(784));
        rb_model_seed(m, 3);
        rb_model_add(m, RB_DENSE(.units = 256, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DENSE(.units = 128, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DENSE(.units = 10));
        return m;
    case LENET:
        m = rb_model_new(RB_F32, "lenet", RB_SHAPE(28, 28, 1));
        rb_model_seed(m, 3);
        rb_model_add(m, RB_CONV2D(.units = 6, .kernel = {5, 5}, .activation = RB_ACT_RELU,
                                  .window = {.padding = RB_PAD_SAME}));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_CONV2D(.units = 16, .kernel = {5, 5}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_FLATTEN());
        rb_model_add(m, RB_DENSE(.units = 84, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DENSE(.units = 10));
        return m;
    case RESNET:
        return rb_resnet(
            RB_F32, "resnet", (const int64_t[3]){28, 28, 1},
            (rb_resnet_config){
                .stem_filters = 16, .stem_pool = true, .stages = 1, .blocks = {2}, .seed = 3});
    case LSTM:
        m = rb_model_new(RB_F32, "lstm", RB_SHAPE(28, 28));
        rb_model_seed(m, 3);
        rb_model_add(m, (rb_layer_spec){.kind = RB_LAYER_LSTM, .units = 64});
        rb_model_add(m, RB_DENSE(.units = 10));
        return m;
    }
    return NULL;
}

/* The flat parameters after a few Adam steps on fixed random data, at `threads` threads (the
 * caller frees them). */
static float *train(kind k, int threads, int64_t *count)
{
    rb_set_num_threads(threads);
    rb_model *m = build(k);
    rb_params *p = rb_model_params(m);
    rb_optimizer *opt = rb_adam_new(p, (rb_adam_config){.lr = 1e-3});
    rb_rng rng = rb_rng_make(11);
    const int64_t batch = 128;
    rb_tensor *x = k == DENSE  ? rb_tensor_uniform(RB_F32, RB_SHAPE(batch, 784), 0, 1, &rng)
                   : k == LSTM ? rb_tensor_uniform(RB_F32, RB_SHAPE(batch, 28, 28), 0, 1, &rng)
                               : rb_tensor_uniform(RB_F32, RB_SHAPE(batch, 28, 28, 1), 0, 1, &rng);
    rb_tensor *y = rb_tensor_empty(RB_I64, RB_SHAPE(batch));
    for (int64_t i = 0; i < batch; i++)
        rb_tensor_set_flat(y, i, (double)rb_rng_below(&rng, 10));
    for (int step = 0; step < 3; step++) {
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *loss = rb_softmax_cross_entropy(rb_model_forward(m, x), y);
        CHECK_STATUS_OK(rb_tape_gradient_params(tape, loss, p));
        rb_tape_end(tape);
        rb_optimizer_step(opt);
    }
    rb_tensor *flat = rb_params_flat_values(p);
    *count = rb_tensor_size(flat);
    float *copy = malloc(sizeof(float) * (size_t)*count);
    memcpy(copy, rb_tensor_f32(flat), sizeof(float) * (size_t)*count);
    rb_optimizer_free(opt);
    rb_model_free(m);
    return copy;
}

static void check(kind k, const char *name)
{
    int before = rb_num_threads();
    int64_t n1, n2;
    float *one = train(k, 1, &n1), *two = train(k, 2, &n2);
    rb_set_num_threads(before);
    assert_int_equal(n1, n2);
    for (int64_t i = 0; i < n1; i++)
        if (memcmp(&one[i], &two[i], sizeof(float)) != 0)
            fail_msg("%s: parameter %lld is %.9g at 1 thread, %.9g at 2", name, (long long)i,
                     one[i], two[i]);
    free(one);
    free(two);
}

static void a_dense_network_trains_to_the_same_bits_at_any_thread_count(void **state)
{
    (void)state;
    check(DENSE, "dense");
}

static void a_lenet_trains_to_the_same_bits_at_any_thread_count(void **state)
{
    (void)state;
    check(LENET, "lenet");
}

static void a_resnet_with_batch_norm_trains_to_the_same_bits_at_any_thread_count(void **state)
{
    (void)state;
    check(RESNET, "resnet");
}

static void an_lstm_trains_to_the_same_bits_at_any_thread_count(void **state)
{
    (void)state;
    check(LSTM, "lstm");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(a_dense_network_trains_to_the_same_bits_at_any_thread_count),
        TEST(a_lenet_trains_to_the_same_bits_at_any_thread_count),
        TEST(a_resnet_with_batch_norm_trains_to_the_same_bits_at_any_thread_count),
        TEST(an_lstm_trains_to_the_same_bits_at_any_thread_count),
    };
    return RUN_TESTS(tests, argc, argv);
}
