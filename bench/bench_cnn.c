/* Training throughput of the convolutional workloads, batch 128, with the sgemm peak and the
 * fraction of it reached:
 *   lenet:  LeNet-5 (conv 6@5x5 padded, max-pool, conv 16@5x5, max-pool, dense 120, 84, 10;
 *           ReLU) on Fashion-MNIST, SGD momentum 0.9
 *   cnn:    conv 32@3x3, conv 64@3x3, max-pool 2, dropout 0.25, dense 128, dropout 0.5,
 *           dense 10 (ReLU) on MNIST, Adam
 *   resnet: conv 16@3x3 + BN + ReLU, max-pool 2, two residual blocks of two 3x3/16 convs with
 *           BN, global average pooling, dense 10, on Fashion-MNIST, Adam
 *
 *   bench_cnn --model lenet --threads 1 --steps 30 --repeats 5 [--profile 1] */
#include "bench_common.h"

static const char *const names[] = {"lenet", "cnn", "resnet"};

static rb_model *build(int which)
{
    const int64_t in[3] = {28, 28, 1};
    if (which == 2)
        return rb_resnet(
            RB_F32, "resnet", in,
            (rb_resnet_config){
                .stem_filters = 16, .stem_pool = true, .stages = 1, .blocks = {2}, .seed = 1});
    rb_model *m = rb_model_new(RB_F32, names[which], 3, in);
    rb_model_seed(m, 1);
    if (which == 0) {
        rb_model_add(m, RB_CONV2D(.units = 6, .kernel = {5, 5}, .window = {.padding = RB_PAD_SAME},
                                  .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_CONV2D(.units = 16, .kernel = {5, 5}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_FLATTEN);
        rb_model_add(m, RB_DENSE(.units = 120, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DENSE(.units = 84, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DENSE(.units = 10));
    } else {
        rb_model_add(m, RB_CONV2D(.units = 32, .kernel = {3, 3}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_CONV2D(.units = 64, .kernel = {3, 3}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_DROPOUT(.rate = 0.25));
        rb_model_add(m, RB_FLATTEN);
        rb_model_add(m, RB_DENSE(.units = 128, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DROPOUT(.rate = 0.5));
        rb_model_add(m, RB_DENSE(.units = 10));
    }
    return m;
}

/* Matrix-product FLOPs per sample of a training step: for each convolution and dense layer the
 * forward product, the weight gradient and, except for the first layer, the input gradient. */
static double train_flops(const rb_model *m)
{
    double total = 0;
    bool first = true;
    for (int i = 0; i < rb_model_num_layers(m); i++) {
        rb_layer *l = rb_model_layer_at(m, i);
        const char *type = rb_layer_type(l);
        rb_tensor *w = rb_layer_kernel(l);
        double fwd = 0;
        int64_t out[RB_MAX_DIMS];
        int nd = rb_layer_output_shape(l, out);
        if (w) {
            double positions = 1;
            for (int d = 0; d < nd - 1; d++)
                positions *= (double)out[d];
            fwd = 2.0 * positions * (double)rb_tensor_size(w);
        } else if (strcmp(type, "ResidualBlock") == 0) {
            /* two 3x3 convolutions at the output resolution (no projection here) */
            double positions = (double)out[0] * (double)out[1];
            fwd = 2.0 * positions * 2 * 9.0 * (double)out[2] * (double)out[2];
        }
        total += fwd * (first ? 2 : 3);
        if (fwd > 0) first = false;
    }
    return total;
}

int main(int argc, char **argv)
{
    rb_set_error_handler(bench_die_on_error, NULL);
    const char *model_name = "lenet";
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--model") == 0) model_name = argv[i + 1];
    int which = -1;
    for (int k = 0; k < 3; k++)
        if (strcmp(model_name, names[k]) == 0) which = k;
    if (which < 0) {
        fprintf(stderr, "bench_cnn: --model lenet|cnn|resnet\n");
        return 2;
    }
    int threads = (int)bench_arg(argc, argv, "--threads", 1);
    long steps = bench_arg(argc, argv, "--steps", 30);
    int repeats = (int)bench_arg(argc, argv, "--repeats", 5);
    if (repeats < 1 || repeats > 100) repeats = 5;
    long batch = 128;
    bool profile = bench_arg(argc, argv, "--profile", 0) != 0;
    rb_set_num_threads(threads);

    rb_dataset train, test;
    if (which == 1)
        rb_mnist_load(NULL, &train, &test);
    else
        rb_fashion_mnist_load(NULL, &train, &test);
    rb_tensor_set_shape(train.x, RB_SHAPE(rb_tensor_dim(train.x, 0), 28, 28, 1));
    rb_model *m = build(which);
    rb_params *params = rb_model_params(m);
    rb_optimizer *opt = which == 0
                            ? rb_sgd_new(params, (rb_sgd_config){.lr = 0.01, .momentum = 0.9})
                            : rb_adam_new(params, (rb_adam_config){.lr = 1e-3});
    rb_batcher *batches = rb_batcher_new(train.x, train.y, batch, true, 7);

    double peak_before = bench_sgemm_peak_gflops(2048);
    double loss_value = 0, t0 = 0, rates[100];
    long warmup = 5, total = warmup + steps * repeats;
    for (long step = 0; step < total; step++) {
        if (step >= warmup && (step - warmup) % steps == 0) {
            if (step > warmup) rates[(step - warmup) / steps - 1] = steps * batch / (rb_now() - t0);
            t0 = rb_now();
        }
        if (step == warmup && profile) rb_profile_start();
        rb_tensor *x, *y;
        if (!rb_batcher_next(batches, &x, &y)) rb_batcher_next(batches, &x, &y);
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *loss = rb_softmax_cross_entropy(rb_model_forward(m, x), y);
        rb_tape_gradient_params(tape, loss, params);
        loss_value = rb_tensor_item(loss);
        rb_tape_end(tape);
        rb_optimizer_step(opt);
    }
    rates[repeats - 1] = steps * batch / (rb_now() - t0);
    if (profile) {
        rb_profile_stop();
        rb_profile_print(stdout);
    }
    double samples_per_s = bench_median(rates, repeats), flops = train_flops(m);
    double gflops = samples_per_s * flops / 1e9;
    double peak_after = bench_sgemm_peak_gflops(2048);
    double peak = peak_before > peak_after ? peak_before : peak_after;
    printf("workload=%s threads=%d batch=%ld samples_per_s=%.0f gflops=%.1f sgemm_peak=%.1f "
           "peak_fraction=%.3f flops_per_sample=%.0f final_loss=%.4f\n",
           model_name, threads, batch, samples_per_s, gflops, peak, gflops / peak, flops,
           loss_value);
    rb_batcher_free(batches);
    rb_optimizer_free(opt);
    rb_model_free(m);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    return 0;
}
