/* MNIST with a multilayer perceptron: 784-256-128-10, ReLU, Adam, minibatches of 128.
 *
 * Question: how well does a plain dense network read handwritten digits?
 * Expectation (announced before running): about 98% test accuracy after 5 epochs; anything
 * under 97.5% means something is wrong.
 * Limits: one seed, one architecture, no validation split (the test set is only looked at
 * after each epoch, never used for choices), and accuracy alone says nothing about which
 * digits are confused.
 */
#include "common.h"

typedef struct mlp {
    rb_layer *fc1, *fc2, *fc3;
} mlp;

/* The model is a plain C function of tensors. */
static rb_tensor *mlp_forward(const mlp *m, rb_tensor *x)
{
    rb_tensor *h = rb_relu(rb_layer_forward(m->fc1, x));
    h = rb_relu(rb_layer_forward(m->fc2, h));
    return rb_layer_forward(m->fc3, h); /* logits */
}

static double test_accuracy(const mlp *m, const rb_dataset *test)
{
    rb_scope *scope = rb_scope_begin(); /* owns every tensor of the evaluation */
    double acc = accuracy_of(mlp_forward(m, test->x), test->y);
    rb_scope_end(scope);
    return acc;
}

int main(void)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_runtime_print_info(stdout);

    /* 1. Data: 60,000 training and 10,000 test images, pixels scaled to [0, 1]. */
    rb_dataset train, test;
    rb_mnist_load(NULL, &train, &test);
    printf("train %lld images, test %lld images\n", (long long)rb_tensor_dim(train.x, 0),
           (long long)rb_tensor_dim(test.x, 0));

    /* 2. Model: three dense layers in a parameter store. */
    rb_params *params = rb_params_new(RB_F32);
    rb_params_seed(params, 42);
    const rb_init_spec he = {.kind = RB_INIT_HE_NORMAL};
    mlp m = {
        rb_layer_new(params, RB_DENSE(.name = "fc1", .units = 256, .kernel_init = he),
                     RB_SHAPE(784)),
        rb_layer_new(params, RB_DENSE(.name = "fc2", .units = 128, .kernel_init = he),
                     RB_SHAPE(256)),
        rb_layer_new(params, RB_DENSE(.name = "fc3", .units = 10), RB_SHAPE(128)),
    };
    printf("parameters: %lld\n", (long long)rb_params_size(params, true));
    rb_optimizer *opt = rb_adam_new(params, (rb_adam_config){.lr = 1e-3});

    /* 3. Training: record the forward pass, take gradients, step. */
    const int epochs = 5;
    rb_batcher *batches = rb_batcher_new(train.x, train.y, 128, true, 7);
    double acc = 0;
    for (int epoch = 1; epoch <= epochs; epoch++) {
        char title[32];
        snprintf(title, sizeof title, "epoch %d/%d", epoch, epochs);
        rb_progress *bar = rb_progress_begin(stdout, title, rb_batcher_num_batches(batches));
        double loss_sum = 0, acc_sum = 0;
        int64_t steps = 0;
        rb_tensor *x, *y;
        while (rb_batcher_next(batches, &x, &y)) {
            rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
            rb_tensor *logits = mlp_forward(&m, x);
            rb_tensor *loss = rb_softmax_cross_entropy(logits, y);
            rb_tape_gradient_params(tape, loss, params);
            loss_sum += rb_tensor_item(loss);
            acc_sum += accuracy_of(logits, y);
            rb_tape_end(tape); /* frees logits, loss and the record */
            rb_optimizer_step(opt);
            steps++;
            rb_progress_update(bar, steps, "loss %.4f - acc %.4f", loss_sum / steps,
                               acc_sum / steps);
        }
        acc = test_accuracy(&m, &test);
        rb_progress_end(bar, "loss %.4f - acc %.4f - test acc %.4f", loss_sum / steps,
                        acc_sum / steps, acc);
    }

    printf("\ntest accuracy after %d epochs: %.2f%% (expected at least 97.5%%): %s\n", epochs,
           100 * acc, acc >= 0.975 ? "as expected" : "BELOW EXPECTATION");
    rb_batcher_free(batches);
    rb_optimizer_free(opt);
    rb_params_free(params);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    return acc >= 0.975 ? 0 : 1;
}
