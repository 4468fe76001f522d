/* Training throughput of a recurrent classifier on sequential MNIST (each image read as 28
 * steps of 28 pixels), batch 128, Adam, with the sgemm peak and the fraction reached:
 *   lstm: LSTM of 128 units, last hidden state to dense 10 (the workload)
 *   gru, rnn: the same with a GRU or a SimpleRNN
 *
 *   bench_rnn --model lstm --threads 1 --steps 20 --repeats 5 [--profile 1]   (--help) */
#include "bench_common.h"

typedef struct bench_rnn {
    rb_model *model;
    rb_params *params;
    rb_optimizer *opt;
} bench_rnn;

static rb_tensor *logits(void *m, rb_tensor *x) { return rb_model_forward(m, x); }

static double step(void *ctx, rb_tensor *x, rb_tensor *y)
{
    bench_rnn *b = ctx;
    return bench_classifier_step(logits, b->model, b->params, b->opt, x, y);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(bench_die_on_error, NULL);
    bench_options o = {.model = "lstm", .threads = 1, .steps = 20, .repeats = 5, .batch = 128};
    static const char *const models[] = {"lstm", "gru", "rnn", NULL};
    bench_parse(argc, argv, "Training throughput of recurrent classifiers on sequential MNIST.",
                models, &o);
    int which = strcmp(o.model, "lstm") == 0 ? 0 : strcmp(o.model, "gru") == 0 ? 1 : 2;
    const int64_t T = 28, F = 28, U = 128;
    rb_set_num_threads(o.threads);
    o.threads = rb_num_threads();

    rb_dataset train; /* the training set alone, as bytes, as the PyTorch reference loads */
    rb_mnist_load_bytes(NULL, &train, NULL);
    rb_tensor_set_shape(train.x, RB_SHAPE(rb_tensor_dim(train.x, 0), T, F));
    bench_rnn b = {.model = rb_model_new(RB_F32, o.model, RB_SHAPE(T, F))};
    rb_model_seed(b.model, 1);
    const rb_layer_kind kinds[3] = {RB_LAYER_LSTM, RB_LAYER_GRU, RB_LAYER_SIMPLE_RNN};
    rb_model_add(b.model, (rb_layer_spec){.kind = kinds[which], .units = U});
    rb_model_add(b.model, RB_DENSE(.units = 10));
    b.params = rb_model_params(b.model);
    b.opt = rb_adam_new(b.params, (rb_adam_config){.lr = 1e-3});

    bench_result r = bench_train(&o, train.x, train.y, 3, step, &b);
    /* Matrix-product FLOPs per sample: per step the gate products x W and h U forward, their
     * weight gradients and the gradients of x and h backward (3x), then the dense layer. */
    const int gates[3] = {4, 3, 1};
    double g = gates[which] * (double)U;
    double flops = 3.0 * 2.0 * (double)T * (F + U) * g + 3.0 * 2.0 * U * 10;
    bench_print(&o, &r, flops);
    rb_optimizer_free(b.opt);
    rb_model_free(b.model);
    rb_dataset_free(&train);
    return 0;
}
