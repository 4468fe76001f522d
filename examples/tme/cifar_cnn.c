/* Practical session - a convolutional network on CIFAR-10 and what makes it train: the
 * learning rate and the batch size, the preparation of the inputs (none, per-channel
 * standardisation, ZCA whitening), momentum, and learning-rate decay.
 *
 * The network of the exercise: conv 32@5x5 (padding 2) + ReLU, max-pool 2, conv 64@5x5 + ReLU,
 * max-pool 2, conv 64@5x5 + ReLU, max-pool 2, dense 1000 + ReLU, dense 10 (231,170 parameters).
 * CIFAR-10 comes from scripts/fetch-data.sh cifar10; without it the program says how to get it
 * and stops, unless --generated (or --quick) asks it to run on made-up images of the same
 * binary format (generated_cifar.h). The study trains on a subset (--train images, a few
 * epochs) so that it runs in minutes on two cores.
 * The question, the expectation stated before running and the limits are the strings below;
 * the program checks each expectation and writes results/tme/cifar_cnn/report.html.
 */
#include "../common.h"
#include "generated_cifar.h"

static const char question[] =
    "how do the learning rate, the batch size, the preparation of the inputs, momentum and a\n"
    "decaying learning rate change what this network learns in a few epochs?";
static const char expectation[] =
    " 1. Learning rate x batch size (plain SGD): the small rate with the large batch learns\n"
    "    slowest (few, small steps); the large rate with the small batch is unstable (it\n"
    "    diverges, or its validation accuracy jumps from epoch to epoch); at the large batch the\n"
    "    large rate does better than the small one.\n"
    " 2. Inputs: per-channel standardisation beats raw pixels in [0, 1] (centred inputs of unit\n"
    "    scale suit the initialisation and SGD); ZCA whitening, which decorrelates the pixels and\n"
    "    stresses edges, does at least as well as standardisation (on CIFAR-10 it is reported to\n"
    "    add a few points).\n"
    " 3. At the same small rate, momentum 0.9 beats plain SGD: it multiplies the step by about\n"
    "    1 / (1 - 0.9) = 10 along consistent directions.\n"
    " 4. Decaying the rate (time-based lr0 / (1 + k t), exponential lr0 exp(-k t), both down to\n"
    "    lr0 / 3 at the last epoch) ends at least as well as the constant rate: the smaller late\n"
    "    steps settle into a minimum instead of bouncing around it.";
static const char limits[] =
    "a subset of CIFAR-10 (--train images to train, validation on the first --validation test\n"
    "images) and a few epochs, so the accuracies are far below the 70-80% this network reaches\n"
    "on the whole set, and overfitting barely starts (see the training column); one seed per\n"
    "configuration unless --seeds says more, with a seed-to-seed noise of about 1.5 points\n"
    "assumed; ZCA's epsilon (--zca-epsilon) is not tuned. On generated images (--generated,\n"
    "--quick without CIFAR-10) the numbers are not CIFAR-10's: those shapes are far easier.";

enum { RAW, STANDARD, WHITENED, N_INPUTS };
static const char *const input_names[N_INPUTS] = {"raw pixels", "standardised", "ZCA whitened"};
enum { CONSTANT, TIME_DECAY, EXPONENTIAL };

/* The training and validation images under each preparation. */
typedef struct inputs {
    rb_dataset train[N_INPUTS], validation[N_INPUTS];
} inputs;

static const double seed_noise = 0.015; /* one run's seed-to-seed spread, assumed */
static double base_lr = 0.05;           /* --lr: studies 2 and 4 */
static int64_t base_batch = 32;         /* --batch: studies 2, 3 and 4 */

static rb_model *cnn(uint64_t seed)
{
    rb_model *m = rb_model_new(RB_F32, "cifar_cnn", RB_SHAPE(32, 32, 3));
    rb_model_seed(m, seed);
    rb_model_add(m, RB_CONV2D(.units = 32, .kernel = {5, 5}, .activation = RB_ACT_RELU,
                              .window = {.padding = RB_PAD_EXPLICIT, .pad = {2, 2, 2, 2}}));
    rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
    rb_model_add(m, RB_CONV2D(.units = 64, .kernel = {5, 5}, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
    rb_model_add(m, RB_CONV2D(.units = 64, .kernel = {5, 5}, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
    rb_model_add(m, RB_FLATTEN);
    rb_model_add(m, RB_DENSE(.units = 1000, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

/* The decaying rate of a configuration (NULL: constant): from lr0 down to lr0 / 3 at the last
 * epoch, t counting epochs from 0. */
static rb_scheduler *decay_of(rb_optimizer *opt, int decay, int epochs)
{
    double last = epochs > 1 ? epochs - 1 : 1;
    if (decay == TIME_DECAY) /* lr0 / (1 + k t) */
        return rb_scheduler_new(opt,
                                (rb_schedule){.kind = RB_SCHEDULE_TIME_DECAY, .decay = 2 / last});
    if (decay == EXPONENTIAL) /* lr0 exp(-k t) */
        return rb_scheduler_new(
            opt, (rb_schedule){.kind = RB_SCHEDULE_EXPONENTIAL, .decay = log(3.0) / last});
    return NULL;
}

/* One run: SGD with the configuration's rate, batch, momentum, decay and inputs. */
static rb_history *train_cnn(const rb_run *run)
{
    const inputs *in = run->user_data;
    int input = (int)rb_config_get(run->config, "input", STANDARD);
    rb_model *m = cnn(run->seed);
    rb_optimizer *opt = rb_sgd_new(
        rb_model_params(m), (rb_sgd_config){.lr = rb_config_get(run->config, "lr", base_lr),
                                            .momentum = rb_config_get(run->config, "momentum", 0)});
    rb_scheduler *schedule =
        decay_of(opt, (int)rb_config_get(run->config, "decay", CONSTANT), run->epochs);
    rb_history *h = rb_fit(
        rb_trainable_of_model(m), opt, &in->train[input],
        (rb_fit_config){.epochs = run->epochs,
                        .batch_size = (int64_t)rb_config_get(run->config, "batch", base_batch),
                        .seed = run->seed,
                        .progress = run->progress,
                        .metric = RB_METRIC_ACCURACY,
                        .validation = &in->validation[input],
                        .scheduler = schedule});
    rb_scheduler_free(schedule);
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* A pair of settings in increasing order (the flags may give them the other way). */
static void small_first(double *pair)
{
    if (pair[0] > pair[1]) {
        double t = pair[0];
        pair[0] = pair[1];
        pair[1] = t;
    }
}

/* Mean absolute change of the validation accuracy from one epoch to the next: how much a
 * run bounces. */
static double swing(const rb_history *h)
{
    double sum = 0;
    for (int k = 1; k < h->n; k++)
        sum += fabs(h->epochs[k].val_metric - h->epochs[k - 1].val_metric);
    return h->n > 1 ? sum / (h->n - 1) : 0;
}

/* The verdict on "configuration a ends at least as well as b": a tie within the noise holds. */
static void at_least(rb_study *s, const char *expected, const rb_experiment *e, int a, int b)
{
    rb_measure ma = rb_experiment_measure(e, a, RB_FINAL_SCORE);
    rb_measure mb = rb_experiment_measure(e, b, RB_FINAL_SCORE);
    rb_comparison c = rb_measure_compare(ma, mb, seed_noise);
    rb_study_check(s, expected, c.order != RB_LOWER, "%s %.2f%%, %s %.2f%%: %s (noise %.2f points)",
                   rb_experiment_config_at(e, a)->name, 100 * ma.mean,
                   rb_experiment_config_at(e, b)->name, 100 * mb.mean,
                   c.order == RB_TIE      ? "a tie"
                   : c.order == RB_HIGHER ? "above"
                                          : "below",
                   100 * c.noise);
}

/* CIFAR-10's training and test sets, or n_train + n_test generated images of the same format
 * when it is missing and `generated` allows it (otherwise: how to get it, then exit). */
static void load_cifar(rb_study *s, bool generated, int64_t n_train, int64_t n_test,
                       rb_dataset *train, rb_dataset *test)
{
    rb_error_handler handler = rb_set_error_handler(NULL, NULL); /* a missing set is expected */
    rb_status st = rb_cifar10_load(NULL, train, test);
    rb_set_error_handler(handler, NULL);
    if (st == RB_OK) return;
    fprintf(stderr, "CIFAR-10 is missing: %s\n", rb_last_error());
    fprintf(stderr, "Get it with scripts/fetch-data.sh cifar10 (170 MB), or copy the six .bin "
                    "files of its binary version into ~/.cache/ruban/cifar10.\n");
    rb_error_clear();
    if (!generated) {
        fprintf(stderr, "Or try the program on generated images of the same format: --generated\n");
        rb_study_free(s);
        exit(1);
    }
    /* Written in CIFAR-10's binary format and read back by its loader. */
    char path[1024];
    snprintf(path, sizeof path, "%s/generated.bin", rb_study_dir(s));
    rb_dataset all;
    generated_cifar_write(path, n_train + n_test, 1);
    rb_cifar10_load_batch(path, &all);
    remove(path);
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)(n_train + n_test));
    for (int64_t i = 0; i < n_train + n_test; i++)
        rows[i] = i;
    rb_dataset_take(&all, rows, n_train, train);
    rb_dataset_take(&all, rows + n_train, n_test, test);
    free(rows);
    rb_dataset_free(&all);
    rb_study_say(s,
                 "**CIFAR-10 is missing: these results are on %lld generated images of its format "
                 "(ten classes of shapes), not on CIFAR-10.** Get it with `scripts/fetch-data.sh "
                 "cifar10`.",
                 (long long)(n_train + n_test));
}

/* The parameters layer by layer, counted by hand, and the exercise's slip. */
static void count_parameters(rb_study *s)
{
    rb_table *t =
        rb_study_table(s, "Parameters layer by layer, by hand", "layer|output|parameters|count");
    rb_table_row(t, "conv 32@5x5, padding 2, ReLU|32x32x32|32 x (3x5x5 + 1)|%d", 32 * (3 * 25 + 1));
    rb_table_row(t, "max-pool 2|16x16x32| |0");
    rb_table_row(t, "conv 64@5x5, ReLU|12x12x64|64 x (32x5x5 + 1)|%d", 64 * (32 * 25 + 1));
    rb_table_row(t, "max-pool 2|6x6x64| |0");
    rb_table_row(t, "conv 64@5x5, ReLU|2x2x64|64 x (64x5x5 + 1)|%d", 64 * (64 * 25 + 1));
    rb_table_row(t, "max-pool 2, flatten|64| |0");
    rb_table_row(t, "dense 1000, ReLU|1000|1000 x (64 + 1)|%d", 1000 * (64 + 1));
    rb_table_row(t, "dense 10|10|10 x (1000 + 1)|%d", 10 * (1000 + 1));
    rb_model *m = cnn(1);
    rb_study_model(s, "the exercise's network", m,
                   RB_BY_HAND(32 * (3 * 25 + 1) + 64 * (32 * 25 + 1) + 64 * (64 * 25 + 1) +
                              1000 * (64 + 1) + 10 * (1000 + 1)));
    rb_model_free(m);
    rb_study_say(s, "The exercise's own total, 235,970, is 4,800 too many: it counts the second "
                    "convolution as 56,064 parameters, but 64 x (32x5x5 + 1) = 51,264 (56,064 "
                    "would need 35 input channels: 64 x (35x5x5 + 1)).");
}

/* Eight validation images under each preparation, each stretched to [0, 1] to be seen. */
static void show_inputs(rb_study *s, const inputs *in, int n_inputs)
{
    rb_tensor *grid = rb_tensor_empty(RB_F32, RB_SHAPE(8 * n_inputs, 32, 32, 3));
    float *g = rb_tensor_f32(grid);
    for (int p = 0; p < n_inputs; p++)
        for (int i = 0; i < 8; i++) {
            const float *x = rb_tensor_f32(in->validation[p].x) + i * 3072;
            float lo = x[0], hi = x[0];
            for (int k = 1; k < 3072; k++) {
                lo = fminf(lo, x[k]);
                hi = fmaxf(hi, x[k]);
            }
            for (int k = 0; k < 3072; k++)
                g[(p * 8 + i) * 3072 + k] = hi > lo ? (x[k] - lo) / (hi - lo) : 0.5f;
        }
    rb_study_images(s, "inputs", grid,
                    (rb_image_grid){.columns = 8,
                                    .title = "The same images under each preparation",
                                    .row_labels = input_names,
                                    .n_row_labels = n_inputs});
    rb_tensor_free(grid);
}

/* Standardised and whitened copies of the raw images; ZCA is skipped when whiten is false. */
static void prepare(rb_study *s, inputs *in, bool whiten, double epsilon)
{
    rb_scaler *scaler = rb_scaler_fit(RB_SCALE_STANDARD, in->train[RAW].x, false);
    for (int p = STANDARD; p <= (whiten ? WHITENED : STANDARD); p++) {
        rb_dataset_head(&in->train[RAW], rb_dataset_rows(&in->train[RAW]), &in->train[p]);
        rb_dataset_head(&in->validation[RAW], rb_dataset_rows(&in->validation[RAW]),
                        &in->validation[p]);
    }
    rb_scaler_transform_inplace(scaler, in->train[STANDARD].x);
    rb_scaler_transform_inplace(scaler, in->validation[STANDARD].x);
    rb_scaler_free(scaler);
    if (!whiten) {
        rb_study_say(s, "--quick: ZCA whitening left out (its 3072 x 3072 eigendecomposition "
                        "takes seconds); tests/test_zca.c checks it.");
        return;
    }
    double start = rb_now();
    rb_zca *zca = rb_zca_fit(in->train[RAW].x, epsilon);
    double fitted = rb_now() - start;
    rb_zca_transform_inplace(zca, in->train[WHITENED].x);
    rb_zca_transform_inplace(zca, in->validation[WHITENED].x);
    rb_study_say(s,
                 "ZCA whitening fitted on the %lld training images in %.1f s (mean, 3072 x "
                 "3072 covariance, LAPACK's ssyevd), applied to both sets in %.1f s.",
                 (long long)rb_dataset_rows(&in->train[RAW]), fitted, rb_now() - start - fitted);
    const rb_tensor *l = rb_zca_eigenvalues(zca);
    double *x = malloc(sizeof(double) * 3072), *y = malloc(sizeof(double) * 3072);
    int n = 0;
    for (int k = 0; k < 3072; k++)
        if (rb_tensor_get_flat(l, k) > 0) {
            x[n] = k + 1;
            y[n++] = rb_tensor_get_flat(l, k);
        }
    rb_study_plot(s, "zca_spectrum",
                  (rb_plot){.title = "Variance along each principal direction of the images",
                            .xlabel = "direction (largest variance first)",
                            .ylabel = "eigenvalue of the covariance",
                            .logx = true,
                            .logy = true,
                            .n_baselines = 1,
                            .baselines = &(rb_baseline){"ZCA epsilon", epsilon}},
                  1, &(rb_series){.label = "eigenvalues", .n = n, .x = x, .y = y});
    free(x);
    free(y);
    rb_zca_free(zca);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "tme",
                                               .name = "cifar_cnn",
                                               .title = "A convolutional network on CIFAR-10",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 4,
                                               .quick_epochs = 2,
                                               .noise = seed_noise});
    int64_t n_train = rb_study_int(s, "train", 5000, "training images (CIFAR-10 has 50,000)");
    int64_t n_val = rb_study_int(s, "validation", 1000, "validation images (from the test set)");
    double lrs[2], batches[2];
    int n_lrs = rb_study_list(s, "lrs", "0.01,0.2", lrs, 2, "study 1: a small and a large rate");
    int n_batches = rb_study_list(s, "batches", "16,128", batches, 2, "study 1: two batch sizes");
    base_lr = rb_study_double(s, "lr", 0.05, "SGD rate of studies 2 and 4");
    double slow_lr = rb_study_double(s, "momentum-lr", 0.01, "rate of study 3 (momentum)");
    base_batch = rb_study_int(s, "batch", 32, "batch of studies 2, 3 and 4");
    double epsilon = rb_study_double(s, "zca-epsilon", 0.1, "added to the eigenvalues by ZCA");
    bool generated = rb_study_bool(s, "generated", false,
                                   "without CIFAR-10, run on generated images of its format");
    rb_study_start(s);
    if (n_lrs != 2 || n_batches != 2) {
        fprintf(stderr, "--lrs and --batches take two values each: a small and a large one\n");
        rb_study_free(s);
        return 2;
    }
    small_first(lrs);
    small_first(batches);
    bool quick = rb_study_quick(s);
    if (quick) {
        n_train = 96;
        n_val = 32;
    }

    /* The data: a subset of CIFAR-10 (or generated images), pixels in [0, 1]. */
    inputs in = {0};
    rb_dataset all, test;
    load_cifar(s, generated || quick, n_train, n_val, &all, &test);
    rb_dataset_head(&all, n_train, &in.train[RAW]);
    rb_dataset_head(&test, n_val, &in.validation[RAW]);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    count_parameters(s);
    prepare(s, &in, !quick, epsilon);
    show_inputs(s, &in, quick ? 2 : N_INPUTS);

    /* The four studies, declared first so that the time left covers them all. */
    rb_experiment *grid =
        rb_study_experiment(s, (rb_experiment_config){.name = "lr_x_batch"}, train_cnn, &in);
    rb_experiment_add_grid(grid, 2, (const char *[]){"lr", "batch"}, (int[]){2, 2},
                           (const double *[]){lrs, batches});
    rb_experiment *prep =
        rb_study_experiment(s, (rb_experiment_config){.name = "inputs"}, train_cnn, &in);
    for (int p = 0; p < (quick ? 2 : N_INPUTS); p++)
        rb_experiment_add(prep, input_names[p], 1, (const char *[]){"input"}, (double[]){p});
    rb_experiment *mom =
        rb_study_experiment(s, (rb_experiment_config){.name = "momentum"}, train_cnn, &in);
    rb_experiment_add(mom, "SGD", 1, (const char *[]){"lr"}, &slow_lr);
    rb_experiment_add(mom, "SGD, momentum 0.9", 2, (const char *[]){"lr", "momentum"},
                      (double[]){slow_lr, 0.9});
    rb_experiment *decay =
        rb_study_experiment(s, (rb_experiment_config){.name = "decay"}, train_cnn, &in);
    const char *decay_names[3] = {"constant", "time-based", "exponential"};
    for (int d = 0; d < 3; d++)
        rb_experiment_add(decay, decay_names[d], 1, (const char *[]){"decay"}, (double[]){d});

    /* 1. Learning rate x batch size: configurations (lr, batch) in the order (small, small),
     * (small, large), (large, small), (large, large). */
    rb_experiment_run(grid, &in.train[STANDARD], &in.validation[STANDARD]);
    int slowest = 1, wild = 2, steady = 3;
    /* Slowest against the runs that differ from it in one setting. */
    bool lowest = rb_experiment_final(grid, slowest) <= rb_experiment_final(grid, 0) &&
                  rb_experiment_final(grid, slowest) <= rb_experiment_final(grid, steady);
    rb_study_check(s, "the small rate with the large batch learns slowest", lowest,
                   "%s ends at %.2f%%", rb_experiment_config_at(grid, slowest)->name,
                   100 * rb_experiment_final(grid, slowest));
    const rb_history *w = rb_experiment_history(grid, wild, 0);
    double wild_swing = swing(w), calm_swing = swing(rb_experiment_history(grid, 0, 0));
    bool diverged = !(rb_history_last(w)->loss < 10) || rb_experiment_final(grid, wild) < 0.2;
    rb_study_check(s, "the large rate with the small batch is unstable",
                   diverged || wild_swing > calm_swing,
                   "%s: %s; validation accuracy moves by %.2f points per epoch (%.2f at the small "
                   "rate)",
                   rb_experiment_config_at(grid, wild)->name,
                   diverged ? "diverged" : "did not diverge", 100 * wild_swing, 100 * calm_swing);
    int64_t steps = (rb_dataset_rows(&in.train[STANDARD]) + (int64_t)batches[1] - 1) /
                    (int64_t)batches[1] * rb_experiment_history(grid, steady, 0)->n;
    rb_study_say(s,
                 "A batch of %g makes %lld SGD steps in all: the curves show how many steps "
                 "plain SGD needs here before it leaves chance level.",
                 batches[1], (long long)steps);
    rb_study_expect(s, "at the large batch, the large rate beats the small one",
                    rb_experiment_config_at(grid, steady)->name,
                    rb_experiment_measure(grid, steady, RB_FINAL_SCORE), RB_HIGHER,
                    rb_experiment_config_at(grid, slowest)->name,
                    rb_experiment_measure(grid, slowest, RB_FINAL_SCORE));

    /* 2. The inputs. */
    rb_experiment_run(prep, &in.train[STANDARD], &in.validation[STANDARD]);
    rb_study_expect(s, "standardised inputs beat raw pixels", input_names[STANDARD],
                    rb_experiment_measure(prep, STANDARD, RB_FINAL_SCORE), RB_HIGHER,
                    input_names[RAW], rb_experiment_measure(prep, RAW, RB_FINAL_SCORE));
    if (!quick)
        at_least(s, "ZCA whitening does at least as well as standardisation", prep, WHITENED,
                 STANDARD);

    /* 3. Momentum. */
    rb_experiment_run(mom, &in.train[STANDARD], &in.validation[STANDARD]);
    rb_study_expect(s, "at the same rate, momentum beats plain SGD", "momentum 0.9",
                    rb_experiment_measure(mom, 1, RB_FINAL_SCORE), RB_HIGHER, "SGD",
                    rb_experiment_measure(mom, 0, RB_FINAL_SCORE));

    /* 4. Decay. */
    rb_experiment_run(decay, &in.train[STANDARD], &in.validation[STANDARD]);
    const rb_history *flat = rb_experiment_history(decay, CONSTANT, 0);
    if (flat->n > 1)
        rb_study_say(
            s,
            "The constant rate's validation accuracy moved by %+.2f points in its last "
            "epoch: decay pays once progress stalls, and costs accuracy while it goes on.",
            100 * (flat->epochs[flat->n - 1].val_metric - flat->epochs[flat->n - 2].val_metric));
    for (int d = TIME_DECAY; d <= EXPONENTIAL; d++) {
        char expected[96];
        snprintf(expected, sizeof expected, "%s decay ends at least as well as the constant rate",
                 decay_names[d]);
        at_least(s, expected, decay, d, CONSTANT);
    }

    for (int p = 0; p < N_INPUTS; p++) {
        rb_dataset_free(&in.train[p]);
        rb_dataset_free(&in.validation[p]);
    }
    return rb_study_finish(s);
}
