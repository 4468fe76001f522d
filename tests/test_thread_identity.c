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

/* A product of `threads` threads, m x k times k x n, either operand transposed. */
static rb_tensor *product(int64_t m, int64_t k, int64_t n, bool ta, bool tb, int threads)
{
    rb_rng rng;
    rb_rng_seed(&rng, (uint64_t)(m * 7919 + k * 31 + n));
    rb_tensor *a = ta ? rb_tensor_uniform(RB_F32, RB_SHAPE(k, m), -1, 1, &rng)
                      : rb_tensor_uniform(RB_F32, RB_SHAPE(m, k), -1, 1, &rng);
    rb_tensor *b = tb ? rb_tensor_uniform(RB_F32, RB_SHAPE(n, k), -1, 1, &rng)
                      : rb_tensor_uniform(RB_F32, RB_SHAPE(k, n), -1, 1, &rng);
    rb_set_num_threads(threads);
    return rb_contiguous(
        rb_matmul(ta ? rb_transpose(a, 0, 1) : a, tb ? rb_transpose(b, 0, 1) : b));
}

/* BLIS chooses its kernel and loop order from a call's shape, so a product cut into blocks
 * per thread rounded differently from the whole one (128x128 times 128x512 did). */
static void matrix_products_give_the_same_bits_at_any_thread_count(void **state)
{
    (void)state;
    static const int64_t sizes[] = {16, 100, 128, 300, 512}, depths[] = {25, 128, 784};
    int before = rb_num_threads();
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            for (int d = 0; d < 3; d++)
                for (int t = 0; t < 4; t++) {
                    int64_t m = sizes[i], n = sizes[j], k = depths[d];
                    rb_tensor *one = product(m, k, n, t & 1, t & 2, 1);
                    rb_tensor *two = product(m, k, n, t & 1, t & 2, 2);
                    if (memcmp(rb_tensor_data(one), rb_tensor_data(two),
                               sizeof(float) * (size_t)(m * n)) != 0)
                        fail_msg("%lldx%lld times %lldx%lld (transposed: a %d, b %d) differs at 1 "
                                 "and 2 threads",
                                 (long long)m, (long long)k, (long long)k, (long long)n, t & 1,
                                 !!(t & 2));
                    rb_tensor_free(one);
                    rb_tensor_free(two);
                }
    rb_set_num_threads(before);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(matrix_products_give_the_same_bits_at_any_thread_count),
        TEST(a_dense_network_trains_to_the_same_bits_at_any_thread_count),
        TEST(a_lenet_trains_to_the_same_bits_at_any_thread_count),
        TEST(a_resnet_with_batch_norm_trains_to_the_same_bits_at_any_thread_count),
        TEST(an_lstm_trains_to_the_same_bits_at_any_thread_count),
    };
    return RUN_TESTS(tests, argc, argv);
}
