/* Training throughput of the MNIST MLP 784-256-128-10 (ReLU), batch 128, SGD momentum 0.9,
 * softmax cross-entropy; with the sgemm peak and the fraction of it the training reaches.
 *
 *   bench_mlp --threads 1 --steps 200 --repeats 5 [--profile 1]      (--help: every flag)
 * times `repeats` runs of `steps` steps and reports the best and the median; the sgemm peak is
 * the best of several large products before and after (see bench_result in bench_common.h). */
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

typedef struct bench_mlp {
    mlp model;
    rb_params *params;
    rb_optimizer *opt;
} bench_mlp;

static rb_tensor *logits(void *m, rb_tensor *x) { return forward(m, x); }

static double step(void *ctx, rb_tensor *x, rb_tensor *y)
{
    bench_mlp *b = ctx;
    return bench_classifier_step(logits, &b->model, b->params, b->opt, x, y);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(bench_die_on_error, NULL);
    static const char *const models[] = {"mlp", NULL};
    bench_options o = {.model = "mlp", .threads = 1, .steps = 200, .repeats = 5, .batch = 128};
    bench_parse(argc, argv, "Training throughput of the MNIST MLP 784-256-128-10 (SGD momentum).",
                models, &o);
    rb_set_num_threads(o.threads);
    o.threads = rb_num_threads();

    rb_dataset train; /* the training set alone, as bytes, as the PyTorch reference loads */
    rb_mnist_load_bytes(NULL, &train, NULL);
    bench_mlp b = {.params = rb_params_new(RB_F32)};
    rb_params_seed(b.params, 42);
    const rb_init_spec he = {.kind = RB_INIT_HE_NORMAL};
    b.model = (mlp){
        rb_layer_new(b.params, RB_DENSE(.units = 256, .kernel_init = he, .activation = RB_ACT_RELU),
                     RB_SHAPE(784)),
        rb_layer_new(b.params, RB_DENSE(.units = 128, .kernel_init = he, .activation = RB_ACT_RELU),
                     RB_SHAPE(256)),
        rb_layer_new(b.params, RB_DENSE(.units = 10), RB_SHAPE(128))};
    b.opt = rb_sgd_new(b.params, (rb_sgd_config){.lr = 0.05, .momentum = 0.9});

    bench_result r = bench_train(&o, train.x, train.y, 50, step, &b);
    bench_print(&o, &r, train_flops_per_sample());
    rb_optimizer_free(b.opt);
    rb_params_free(b.params);
    rb_dataset_free(&train);
    return 0;
}
