/* Training throughput of the MNIST MLP 784-256-128-10 (ReLU), batch 128, SGD momentum 0.9,
 * softmax cross-entropy; with the sgemm peak and the fraction of it the training reaches.
 *
 *   bench_mlp --threads 1 --steps 200 --repeats 5 [--profile 1]
 * times `repeats` runs of `steps` steps and reports the median; the sgemm peak is the best of
 * several large products before and after (machines here vary in clock from run to run).
 * Prints one line: workload, threads, samples/s, GFLOPS, sgemm peak, fraction of peak. */
#include "bench_common.h"

typedef struct mlp {
    rb_layer *fc1, *fc2, *fc3;
} mlp;

static rb_tensor *forward(const mlp *m, rb_tensor *x)
{
    /* The hidden layers' ReLU runs as the product's epilogue (Dense with .activation). */
    rb_tensor *h = rb_layer_forward(m->fc1, x);
    h = rb_layer_forward(m->fc2, h);
    return rb_layer_forward(m->fc3, h);
}

/* Matrix-product FLOPs per sample of one training step: forward, weight gradients, and input
 * gradients of every layer but the first (the images need none). */
static double train_flops_per_sample(void)
{
    const double l1 = 784.0 * 256, l2 = 256.0 * 128, l3 = 128.0 * 10;
    return 2 * (l1 + l2 + l3) + 2 * (l1 + l2 + l3) + 2 * (l2 + l3);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(bench_die_on_error, NULL);
    int threads = (int)bench_arg(argc, argv, "--threads", 1);
    long steps = bench_arg(argc, argv, "--steps", 200);
    int repeats = (int)bench_arg(argc, argv, "--repeats", 5);
    if (repeats < 1 || repeats > 100) repeats = 5;
    long batch = bench_arg(argc, argv, "--batch", 128);
    rb_set_num_threads(threads);

    rb_dataset train, test;
    rb_mnist_load(NULL, &train, &test);
    rb_params *params = rb_params_new(RB_F32);
    rb_params_seed(params, 42);
    const rb_init_spec he = {.kind = RB_INIT_HE_NORMAL};
    mlp m = {
        rb_layer_new(params, RB_DENSE(.units = 256, .kernel_init = he, .activation = RB_ACT_RELU),
                     RB_SHAPE(784)),
        rb_layer_new(params, RB_DENSE(.units = 128, .kernel_init = he, .activation = RB_ACT_RELU),
                     RB_SHAPE(256)),
        rb_layer_new(params, RB_DENSE(.units = 10), RB_SHAPE(128))};
    rb_optimizer *opt = rb_sgd_new(params, (rb_sgd_config){.lr = 0.05, .momentum = 0.9});
    rb_batcher *batches = rb_batcher_new(train.x, train.y, batch, true, 7);

    double peak_before = bench_sgemm_peak_gflops(2048);
    double loss_value = 0, t0 = 0;
    long warmup = 50;
    bool profile = bench_arg(argc, argv, "--profile", 0) != 0;
    double optimizer_seconds = 0, rates[100];
    long total = warmup + steps * repeats;
    for (long step = 0; step < total; step++) {
        if (step >= warmup && (step - warmup) % steps == 0) {
            if (step > warmup) rates[(step - warmup) / steps - 1] = steps * batch / (rb_now() - t0);
            t0 = rb_now();
        }
        if (step == warmup && profile) rb_profile_start();
        rb_tensor *x, *y;
        if (!rb_batcher_next(batches, &x, &y)) rb_batcher_next(batches, &x, &y);
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *loss = rb_softmax_cross_entropy(forward(&m, x), y);
        rb_tape_gradient_params(tape, loss, params);
        loss_value = rb_tensor_item(loss);
        rb_tape_end(tape);
        double t_opt = rb_now();
        rb_optimizer_step(opt);
        if (step >= warmup) optimizer_seconds += rb_now() - t_opt;
    }
    rates[repeats - 1] = steps * batch / (rb_now() - t0);
    if (profile) {
        rb_profile_stop();
        rb_profile_print(stdout);
        printf("optimizer steps: %.2f ms in all\n", 1e3 * optimizer_seconds);
    }
    double samples_per_s = bench_median(rates, repeats);
    double gflops = samples_per_s * train_flops_per_sample() / 1e9;
    double peak_after = bench_sgemm_peak_gflops(2048);
    double peak = peak_before > peak_after ? peak_before : peak_after;
    printf("workload=mlp threads=%d batch=%ld samples_per_s=%.0f gflops=%.1f sgemm_peak=%.1f "
           "peak_fraction=%.3f flops_per_sample=%.0f final_loss=%.4f\n",
           threads, batch, samples_per_s, gflops, peak, gflops / peak, train_flops_per_sample(),
           loss_value);
    rb_batcher_free(batches);
    rb_optimizer_free(opt);
    rb_params_free(params);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    return 0;
}
