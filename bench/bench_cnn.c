/* Training throughput of the convolutional workloads, batch 128, with the sgemm peak and the
 * fraction of it reached:
 *   lenet:  LeNet-5 (conv 6@5x5 padded, max-pool, conv 16@5x5, max-pool, dense 120, 84, 10;
 *           ReLU) on Fashion-MNIST, SGD momentum 0.9
 *   cnn:    conv 32@3x3, conv 64@3x3, max-pool 2, dropout 0.25, dense 128, dropout 0.5,
 *           dense 10 (ReLU) on MNIST, Adam
 *   resnet: conv 16@3x3 + BN + ReLU, max-pool 2, two residual blocks of two 3x3/16 convs with
 *           BN, global average pooling, dense 10, on Fashion-MNIST, Adam
 *
 *   bench_cnn --model lenet --threads 1 --steps 30 --repeats 5 [--profile 1]   (--help) */
#include "bench_common.h"

static rb_model *build(int which)
{
    const int64_t in[3] = {28, 28, 1};
    if (which == 2)
        return rb_resnet(
            RB_F32, "resnet", in,
            (rb_resnet_config){
                .stem_filters = 16, .stem_pool = true, .stages = 1, .blocks = {2}, .seed = 1});
    rb_model *m = rb_model_new(RB_F32, which == 0 ? "lenet" : "cnn", 3, in);
    rb_model_seed(m, 1);
    if (which == 0) {
        rb_model_add(m, RB_CONV2D(.units = 6, .kernel = {5, 5}, .window = {.padding = RB_PAD_SAME},
                                  .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_CONV2D(.units = 16, .kernel = {5, 5}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_FLATTEN());
        rb_model_add(m, RB_DENSE(.units = 120, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DENSE(.units = 84, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DENSE(.units = 10));
    } else {
        rb_model_add(m, RB_CONV2D(.units = 32, .kernel = {3, 3}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_CONV2D(.units = 64, .kernel = {3, 3}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_DROPOUT(.rate = 0.25));
        rb_model_add(m, RB_FLATTEN());
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

typedef struct bench_cnn {
    rb_model *model;
    rb_params *params;
    rb_optimizer *opt;
} bench_cnn;

static rb_tensor *logits(void *m, rb_tensor *x) { return rb_model_forward(m, x); }

static double step(void *ctx, rb_tensor *x, rb_tensor *y)
{
    bench_cnn *b = ctx;
    return bench_classifier_step(logits, b->model, b->params, b->opt, x, y);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(bench_die_on_error, NULL);
    static const char *const models[] = {"lenet", "cnn", "resnet", NULL};
    bench_options o = {.model = "lenet", .threads = 1, .steps = 30, .repeats = 5, .batch = 128};
    bench_parse(argc, argv, "Training throughput of convolutional networks (see the source).",
                models, &o);
    int which = strcmp(o.model, "lenet") == 0 ? 0 : strcmp(o.model, "cnn") == 0 ? 1 : 2;
    rb_set_num_threads(o.threads);
    o.threads = rb_num_threads();

    rb_dataset train; /* the training set alone, as bytes, as the PyTorch reference loads */
    if (which == 1)
        rb_mnist_load_bytes(NULL, &train, NULL);
    else
        rb_fashion_mnist_load_bytes(NULL, &train, NULL);
    rb_tensor_set_shape(train.x, RB_SHAPE(rb_tensor_dim(train.x, 0), 28, 28, 1));
    bench_cnn b = {.model = build(which)};
    b.params = rb_model_params(b.model);
    b.opt = which == 0 ? rb_sgd_new(b.params, (rb_sgd_config){.lr = 0.01, .momentum = 0.9})
                       : rb_adam_new(b.params, (rb_adam_config){.lr = 1e-3});

    bench_result r = bench_train(&o, train.x, train.y, 5, step, &b);
    bench_print(&o, &r, train_flops(b.model));
    rb_optimizer_free(b.opt);
    rb_model_free(b.model);
    rb_dataset_free(&train);
    return 0;
}
