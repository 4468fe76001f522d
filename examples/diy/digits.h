/* What the "build your own network" programs share: scikit-learn's digits (1,797 images of 8x8
 * pixels), the networks assembled from modules (Linear, Conv1D, MaxPool1D, Flatten, an
 * activation, LogSoftmax) in a Sequential, and one training run whose settings (network, loss,
 * learning rate, batch size) come from the experiment's configuration. */
#ifndef RUBAN_EXAMPLES_DIY_DIGITS_H
#define RUBAN_EXAMPLES_DIY_DIGITS_H

#include "../common.h"

enum { PIXELS = 64, CLASSES = 10 };

/* The digits with pixels scaled from 0..16 to [0, 1] and shaped (N, 64, 1): a signal of 64
 * pixels, row after row, for Conv1D (Flatten gives the 64 inputs of a Linear module back).
 * Under --quick, the first `quick` images (the file cycles through the ten digits, so every
 * class keeps its share). */
static inline void load_digits(const rb_study *s, int64_t quick, rb_dataset *all)
{
    rb_sklearn_load("digits", NULL, all);
    rb_study_shrink(s, all, quick);
    float *v = rb_tensor_data(all->x);
    for (int64_t i = 0; i < rb_tensor_size(all->x); i++)
        v[i] /= 16;
    rb_tensor_set_shape(all->x, RB_SHAPE(rb_dataset_rows(all), PIXELS, 1));
}

/* The same split in every program: stratified, seed 1; 60% to train, 20% to validate, 20% to
 * test (validation NULL: 80% to train). */
static inline void split_digits(const rb_dataset *all, rb_dataset *train, rb_dataset *validation,
                                rb_dataset *test)
{
    rb_split(all,
             (rb_split_config){
                 .validation = validation ? 0.2 : 0, .test = 0.2, .seed = 1, .stratify = true},
             train, validation, test);
}

/* The losses compared. MSE and BCE compare the 10 outputs with the label's one-hot row; NLL
 * reads log-probabilities, so its network ends with a LogSoftmax module. */
enum { CROSS_ENTROPY, LOG_SOFTMAX_NLL, MSE, BCE, N_LOSSES };
static const char *const loss_names[N_LOSSES] = {"cross-entropy", "log-softmax + NLL",
                                                 "MSE on one-hot", "BCE on one-hot"};

/* A network's shape and its training: every setting a study varies. */
typedef struct digit_setup {
    int maps, kernel;  /* Conv1D filters (0: none) and their width in pixels */
    int layers, units; /* hidden Linear modules and their size (0 layers, 0 maps: linear) */
    rb_activation act; /* after each hidden Linear module */
    int loss;          /* CROSS_ENTROPY ... */
    double lr;         /* plain SGD */
    int batch;         /* rows per step */
} digit_setup;

/* The setup of a run: the program's defaults, overridden by the configuration's settings. */
static inline digit_setup setup_of(const rb_config *c, digit_setup d)
{
    return (digit_setup){.maps = (int)rb_config_get(c, "maps", d.maps),
                         .kernel = (int)rb_config_get(c, "kernel", d.kernel),
                         .layers = (int)rb_config_get(c, "hidden layers", d.layers),
                         .units = (int)rb_config_get(c, "units", d.units),
                         .act = (rb_activation)rb_config_get(c, "activation", d.act),
                         .loss = (int)rb_config_get(c, "loss", d.loss),
                         .lr = rb_config_get(c, "lr", d.lr),
                         .batch = (int)rb_config_get(c, "batch", d.batch)};
}

/* Conv1D (maps filters of `kernel` pixels, ReLU) and MaxPool1D (2) when maps > 0, Flatten,
 * `layers` Linear modules of `units` with the activation, a Linear module to the 10 classes,
 * and LogSoftmax when the loss is NLL. */
static inline rb_model *digit_net(uint64_t seed, digit_setup d)
{
    rb_model *m = rb_model_new(RB_F32,
                               d.maps     ? "conv"
                               : d.layers ? "dense"
                                          : "linear",
                               RB_SHAPE(PIXELS, 1));
    rb_model_seed(m, seed);
    if (d.maps) {
        rb_model_add(m,
                     RB_CONV1D(.units = d.maps, .kernel = {d.kernel}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL1D(.kernel = {2}));
    }
    rb_model_add(m, RB_FLATTEN());
    for (int i = 0; i < d.layers; i++)
        rb_model_add(m, RB_DENSE(.units = d.units, .activation = d.act));
    rb_model_add(m, RB_DENSE(.units = CLASSES));
    if (d.loss == LOG_SOFTMAX_NLL) rb_model_add(m, RB_ACTIVATION(.activation = RB_ACT_LOG_SOFTMAX));
    return m;
}

/* What a run needs besides its configuration, and what it leaves behind. */
enum { MAX_CONFIGS = 32, MAX_SEEDS = 16 };
typedef struct digit_runs {
    digit_setup defaults;
    const rb_dataset *test;                  /* scored after training (may be NULL) */
    double test_acc[MAX_CONFIGS][MAX_SEEDS]; /* NaN until measured */
} digit_runs;

static inline void digit_runs_init(digit_runs *r, digit_setup defaults, const rb_dataset *test)
{
    *r = (digit_runs){.defaults = defaults, .test = test};
    for (int i = 0; i < MAX_CONFIGS; i++)
        for (int k = 0; k < MAX_SEEDS; k++)
            r->test_acc[i][k] = NAN;
}

/* One run of any study: the network and its training from the configuration (user data: a
 * digit_runs). */
static inline rb_history *train_digits(const rb_run *run)
{
    digit_runs *r = run->user_data;
    digit_setup d = setup_of(run->config, r->defaults);
    rb_model *m = digit_net(run->seed, d);
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = d.lr});
    static const rb_loss losses[N_LOSSES] = {RB_LOSS_SOFTMAX_CROSS_ENTROPY, RB_LOSS_NLL,
                                             RB_LOSS_MSE, RB_LOSS_BCE_LOGITS};
    /* MSE and BCE need one-hot rows; the accuracy then reads each row's argmax. */
    bool rows = d.loss == MSE || d.loss == BCE;
    rb_dataset train = *run->train, validation = {0};
    if (run->validation) validation = *run->validation;
    if (rows) {
        train.y = rb_one_hot(run->train->y, CLASSES, RB_F32);
        if (run->validation) validation.y = rb_one_hot(run->validation->y, CLASSES, RB_F32);
    }
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = d.batch,
                                           .seed = run->seed,
                                           .loss = losses[d.loss],
                                           .metric = RB_METRIC_ACCURACY,
                                           .progress = run->progress,
                                           .validation = run->validation ? &validation : NULL});
    if (rows) {
        rb_tensor_free(train.y);
        if (run->validation) rb_tensor_free(validation.y);
    }
    if (h && r->test && run->index < MAX_CONFIGS && run->repeat < MAX_SEEDS) {
        rb_tensor *out = rb_predict(rb_trainable_of_model(m), r->test->x, 0);
        r->test_acc[run->index][run->repeat] = accuracy_of(out, r->test->y);
        rb_tensor_free(out);
    }
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* The test accuracy of configuration i over its runs. */
static inline rb_measure test_of(const rb_experiment *e, const digit_runs *r, int i)
{
    int n = rb_experiment_runs(e, i);
    return rb_measure_of(n < MAX_SEEDS ? n : MAX_SEEDS, r->test_acc[i], true);
}

#endif
