/* Training throughput of a recurrent classifier on sequential MNIST (each image read as 28
 * steps of 28 pixels), batch 128, Adam, with the sgemm peak and the fraction reached:
 *   lstm: LSTM of 128 units, last hidden state to dense 10 (the workload)
 *   gru, rnn: the same with a GRU or a SimpleRNN
 *
 *   bench_rnn --model lstm --threads 1 --steps 20 --repeats 5 [--profile 1] */
#include "bench_common.h"

static const char *const names[] = {"lstm", "gru", "rnn"};

int main(int argc, char **argv)
{
    rb_set_error_handler(bench_die_on_error, NULL);
    const char *model_name = "lstm";
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--model") == 0) model_name = argv[i + 1];
    int which = -1;
    for (int k = 0; k < 3; k++)
        if (strcmp(model_name, names[k]) == 0) which = k;
    if (which < 0) {
        fprintf(stderr, "bench_rnn: --model lstm|gru|rnn\n");
        return 2;
    }
    int threads = (int)bench_arg(argc, argv, "--threads", 1);
    long steps = bench_arg(argc, argv, "--steps", 20);
    int repeats = (int)bench_arg(argc, argv, "--repeats", 5);
    if (repeats < 1 || repeats > 100) repeats = 5;
    bool profile = bench_arg(argc, argv, "--profile", 0) != 0;
    long batch = 128;
    const int64_t T = 28, F = 28, U = 128;
    rb_set_num_threads(threads);

    rb_dataset train, test;
    rb_mnist_load(NULL, &train, &test);
    rb_tensor_set_shape(train.x, RB_SHAPE(rb_tensor_dim(train.x, 0), T, F));
    rb_model *m = rb_model_new(RB_F32, names[which], RB_SHAPE(T, F));
    rb_model_seed(m, 1);
    const rb_layer_kind kinds[3] = {RB_LAYER_LSTM, RB_LAYER_GRU, RB_LAYER_SIMPLE_RNN};
    rb_model_add(m, (rb_layer_spec){.kind = kinds[which], .units = U});
    rb_model_add(m, RB_DENSE(.units = 10));
    rb_params *params = rb_model_params(m);
    rb_optimizer *opt = rb_adam_new(params, (rb_adam_config){.lr = 1e-3});
    rb_batcher *batches = rb_batcher_new(train.x, train.y, batch, true, 7);

    double peak_before = bench_sgemm_peak_gflops(2048);
    double loss_value = 0, t0 = 0, rates[100];
    long warmup = 3, total = warmup + steps * repeats;
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
    /* Matrix-product FLOPs per sample: per step the gate products x W and h U forward, their
     * weight gradients and the gradients of x and h backward (3x), then the dense layer. */
    const int gates[3] = {4, 3, 1};
    double g = gates[which] * (double)U;
    double flops = 3.0 * 2.0 * (double)T * (F + U) * g + 3.0 * 2.0 * U * 10;
    double samples_per_s = bench_median(rates, repeats), gflops = samples_per_s * flops / 1e9;
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
