/* MNIST with a multilayer perceptron: 784-256-128-10, ReLU, Adam, minibatches of 128, trained
 * by a loop written by hand: record the forward pass on a tape, take the gradients, step.
 *
 * The question, the expectation stated before running and the limits are the strings below;
 * the program prints them, checks the expectation against what it measures over several seeds
 * and writes everything into results/seance1/mnist_mlp/report.html.
 * --help lists the flags (--lr, --seeds, --quick ...).
 */
#include "common.h"

static const char question[] = "how well does a plain dense network read handwritten digits?";
static const char expectation[] =
    "about 98% test accuracy after 5 epochs; anything under 97.5% means something is wrong.";
static const char limits[] =
    "one architecture and one setting of Adam; no validation split: the test set is looked at\n"
    "after each epoch (the curves' \"validation\"), never used for a choice; accuracy alone says\n"
    "nothing about which digits are confused.";

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

static double learning_rate = 1e-3; /* --lr */

/* Three dense layers, owned by the model (which names them and prints their summary). */
static mlp mlp_new(rb_model *model)
{
    const rb_init_spec he = {.kind = RB_INIT_HE_NORMAL};
    return (mlp){
        rb_model_layer(model, RB_DENSE(.name = "fc1", .units = 256, .kernel_init = he),
                       RB_SHAPE(784)),
        rb_model_layer(model, RB_DENSE(.name = "fc2", .units = 128, .kernel_init = he),
                       RB_SHAPE(256)),
        rb_model_layer(model, RB_DENSE(.name = "fc3", .units = 10), RB_SHAPE(128)),
    };
}

/* One run of the experiment: the training loop, by hand. */
static rb_history *train_by_hand(const rb_run *run)
{
    /* 1. Model: three dense layers in the model's parameter store. */
    rb_model *model = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_seed(model, run->seed);
    mlp m = mlp_new(model);
    rb_params *params = rb_model_params(model);
    rb_optimizer *opt = rb_adam_new(params, (rb_adam_config){.lr = learning_rate});

    /* 2. Training: record the forward pass, take gradients, step. */
    rb_batcher *batches = rb_batcher_new(run->train->x, run->train->y, 128, true, run->seed);
    int64_t n_batches = rb_batcher_num_batches(batches);
    rb_history *h = rb_history_new(RB_METRIC_ACCURACY, true);
    for (int epoch = 1; epoch <= run->epochs; epoch++) {
        double start = rb_now(), loss_sum = 0, acc_sum = 0;
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
            /* The experiment shows which run this is, its epoch and the time left. */
            rb_progress_report(run->progress, &(rb_progress_event){.epoch = epoch,
                                                                   .epochs = run->epochs,
                                                                   .step = steps,
                                                                   .steps = n_batches,
                                                                   .loss = loss_sum / steps,
                                                                   .metric = acc_sum / steps,
                                                                   .val_loss = NAN,
                                                                   .val_metric = NAN,
                                                                   .metric_name = "accuracy",
                                                                   .percent = true,
                                                                   .seconds = rb_now() - start});
        }

        /* 3. The test images after each epoch, in a scope that owns the evaluation's tensors. */
        rb_scope *scope = rb_scope_begin();
        rb_tensor *logits = mlp_forward(&m, run->validation->x);
        rb_epoch_record r = {
            .epoch = epoch,
            .loss = loss_sum / steps,
            .metric = acc_sum / steps,
            .val_loss = rb_tensor_item(rb_softmax_cross_entropy(logits, run->validation->y)),
            .val_metric = accuracy_of(logits, run->validation->y),
            .lr = learning_rate,
            .seconds = rb_now() - start};
        rb_scope_end(scope);
        rb_history_add(h, r);
        rb_progress_report(run->progress, &(rb_progress_event){.epoch = epoch,
                                                               .epochs = run->epochs,
                                                               .step = steps,
                                                               .steps = n_batches,
                                                               .epoch_end = true,
                                                               .loss = r.loss,
                                                               .metric = r.metric,
                                                               .val_loss = r.val_loss,
                                                               .val_metric = r.val_metric,
                                                               .metric_name = "accuracy",
                                                               .percent = true,
                                                               .seconds = r.seconds});
    }
    rb_batcher_free(batches);
    rb_optimizer_free(opt);
    rb_model_free(model);
    return h;
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance1",
                                               .name = "mnist_mlp",
                                               .title = "MNIST with a perceptron trained by hand",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 5,
                                               .seeds = 3});
    learning_rate = rb_study_double(s, "lr", 1e-3, "Adam's learning rate");
    rb_study_start(s);
    rb_runtime_print_info(stdout);
    bool quick = rb_study_quick(s);

    /* Data: 60,000 training and 10,000 test images, pixels scaled to [0, 1]. */
    rb_dataset train, test;
    rb_mnist_load(NULL, &train, &test);
    rb_study_shrink(s, &train, 5000); /* --quick: 5,000 images to train on, 1,000 to test */
    rb_study_shrink(s, &test, 1000);
    rb_model *model = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    mlp_new(model);
    rb_study_model(s, "784-256-128-10", model,
                   RB_BY_HAND(784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10));
    rb_model_free(model);

    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "training"}, train_by_hand, NULL);
    rb_experiment_add(e, "784-256-128-10, Adam", 0, NULL, NULL);
    rb_experiment_run(e, &train, &test);
    bool held = rb_study_expect(s, "about 98% test accuracy after 5 epochs: at least 97.5%",
                                "test accuracy", rb_experiment_measure(e, 0, RB_FINAL_SCORE),
                                RB_HIGHER, "97.5%", rb_measure_value(0.975, true));

    rb_dataset_free(&train);
    rb_dataset_free(&test);
    int status = rb_study_finish(s);
    /* A full run below expectation fails, so that scripts/demo.sh says so. */
    return status ? status : !quick && !held;
}
