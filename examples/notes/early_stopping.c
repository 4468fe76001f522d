/* Lecture notes - early stopping and dropout: a 784-256-256-10 ReLU network trained with Adam on
 * 2,000 MNIST images overfits within a few epochs. Three runs: for a fixed 40 epochs; with
 * early stopping (stop after 5 epochs without a lower validation loss, then restore the
 * weights of the best epoch); with dropout 0.5 after each hidden layer and the same early
 * stopping. The learning curves mark the epoch whose weights are kept, and the restored
 * weights are scored on the test set.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/notes/early_stopping/report.html.
 * --help lists the flags (--patience, --rate, --train, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "what does early stopping keep, what does it save, and why does the training loss of a\n"
    "network with dropout sit above its validation loss?";
static const char expectation[] =
    " 1. Trained for 40 epochs, the network overfits: its validation loss is lowest within the\n"
    "    first ~10 epochs, then climbs while the training loss goes to ~0.\n"
    " 2. Early stopping halts a few epochs after that minimum, at a fraction of the 40 epochs,\n"
    "    and the restored weights score exactly the best epoch's validation loss. On the test\n"
    "    set their loss is far below the 40-epoch network's (which grew overconfident), at an\n"
    "    accuracy within a point of it (accuracy counts only the argmax).\n"
    " 3. Dropout slows the overfitting: its validation loss reaches its minimum later.\n"
    " 4. With dropout the training loss rb_fit reports sits above the validation loss for\n"
    "    several epochs (without dropout, for at most the first one or two): it is measured in\n"
    "    training mode, with half the units dropped, and averaged over an epoch while the\n"
    "    network improves; validation runs in evaluation mode, with every unit. Measured in\n"
    "    evaluation mode at the epoch's end, the same training images have a loss below the\n"
    "    validation loss, as the network fits them better than unseen images.";
static const char limits[] =
    "one network, 2,000 training images and 5,000 validation images held out of MNIST's training\n"
    "set (the test set is used to score the kept weights only); 3 seeds unless --seeds says more\n"
    "(initialisation, dropout masks and batch order; the split is fixed); early stopping watches\n"
    "the validation loss with a patience of 5 epochs and no minimum change; dropout's rate is\n"
    "not tuned; curves and markers show the first seed.";

enum { MAX_CONFIGS = 3, MAX_SEEDS = 16, MAX_EPOCHS = 200 };
static int patience = 5;  /* --patience */
static double rate = 0.5; /* --rate */

/* Measured beyond the history, per configuration and seed. */
typedef struct extras {
    const rb_dataset *train, *test;
    double clean_loss[MAX_CONFIGS][MAX_SEEDS][MAX_EPOCHS]; /* training set, evaluation mode */
    double kept_val_loss[MAX_CONFIGS][MAX_SEEDS];          /* the weights rb_fit leaves */
    double test_loss[MAX_CONFIGS][MAX_SEEDS], test_acc[MAX_CONFIGS][MAX_SEEDS];
} extras;

static rb_model *mlp(uint64_t seed, double dropout)
{
    rb_model *m = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_seed(m, seed);
    for (int i = 0; i < 2; i++) {
        rb_model_add(m, RB_DENSE(.units = 256, .activation = RB_ACT_RELU,
                                 .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
        if (dropout > 0) rb_model_add(m, RB_DROPOUT(.rate = dropout));
    }
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

/* Passes events on and, at each epoch's end, measures the training set in evaluation mode. */
typedef struct watcher {
    rb_progress_hook inner;
    rb_model *model;
    const rb_dataset *train;
    double *loss;
} watcher;

static void watch(void *ctx, const rb_progress_event *event)
{
    watcher *w = ctx;
    rb_progress_report(w->inner, event);
    if (!event->epoch_end || event->epoch > MAX_EPOCHS) return;
    rb_evaluate(rb_trainable_of_model(w->model), w->train, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                RB_METRIC_NONE, 0, &w->loss[event->epoch - 1], NULL);
}

static rb_history *train_one(const rb_run *run)
{
    extras *x = run->user_data;
    int c = run->index, r = run->repeat < MAX_SEEDS ? run->repeat : MAX_SEEDS - 1;
    bool stop = rb_config_get(run->config, "early stopping", 0) != 0;
    rb_model *m = mlp(run->seed, rb_config_get(run->config, "dropout", 0));
    watcher w = {run->progress, m, x->train, x->clean_loss[c][r]};
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3});
    rb_history *h =
        rb_fit(rb_trainable_of_model(m), opt, run->train,
               (rb_fit_config){.epochs = run->epochs < MAX_EPOCHS ? run->epochs : MAX_EPOCHS,
                               .batch_size = 64,
                               .seed = run->seed,
                               .progress = {watch, &w},
                               .metric = RB_METRIC_ACCURACY,
                               .validation = run->validation,
                               .patience = stop ? patience : 0,
                               .restore_best = stop});
    /* The weights rb_fit leaves: the best epoch's when restored, else the last epoch's. */
    double acc;
    rb_evaluate(rb_trainable_of_model(m), run->validation, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                RB_METRIC_ACCURACY, 0, &x->kept_val_loss[c][r], &acc);
    rb_evaluate(rb_trainable_of_model(m), x->test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                RB_METRIC_ACCURACY, 0, &x->test_loss[c][r], &x->test_acc[c][r]);
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* The epoch (1-based) of the lowest validation loss of a history. */
static int lowest(const rb_history *h)
{
    int best = 0;
    for (int k = 1; k < h->n; k++)
        if (h->epochs[k].val_loss < h->epochs[best].val_loss) best = k;
    return best + 1;
}

/* One value per seed of configuration c, as a measure. */
static rb_measure per_seed(const rb_experiment *e, int c, const double *values, bool percent)
{
    int n = rb_experiment_runs(e, c) < MAX_SEEDS ? rb_experiment_runs(e, c) : MAX_SEEDS;
    return rb_measure_of(n, values, percent);
}

/* The epochs of each seed of configuration c whose reported training loss is above the
 * validation loss, as a measure. */
static rb_measure epochs_above(const rb_experiment *e, int c)
{
    double v[MAX_SEEDS];
    int n = rb_experiment_runs(e, c) < MAX_SEEDS ? rb_experiment_runs(e, c) : MAX_SEEDS;
    for (int r = 0; r < n; r++) {
        const rb_history *h = rb_experiment_history(e, c, r);
        v[r] = 0;
        for (int k = 0; k < h->n; k++)
            v[r] += h->epochs[k].loss > h->epochs[k].val_loss;
    }
    return rb_measure_of(n, v, false);
}

/* The lowest-validation-loss epoch of each seed of configuration c, as a measure. */
static rb_measure best_epochs(const rb_experiment *e, int c)
{
    double v[MAX_SEEDS];
    int n = rb_experiment_runs(e, c) < MAX_SEEDS ? rb_experiment_runs(e, c) : MAX_SEEDS;
    for (int r = 0; r < n; r++)
        v[r] = lowest(rb_experiment_history(e, c, r));
    return rb_measure_of(n, v, false);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "notes",
                                               .name = "early_stopping",
                                               .title = "Early stopping and dropout",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 40,
                                               .quick_epochs = 8,
                                               .seeds = 3});
    patience = rb_study_int(s, "patience", 5, "epochs without a lower validation loss");
    rate = rb_study_double(s, "rate", 0.5, "dropout rate after each hidden layer");
    int train_rows = rb_study_int(s, "train", 2000, "training images");
    rb_study_start(s);
    bool quick = rb_study_quick(s);

    rb_dataset all, test, train, validation, small;
    rb_mnist_load(NULL, &all, &test);
    rb_study_shrink(s, &all, 900); /* --quick: 600 to train, 300 to validate */
    rb_study_shrink(s, &test, 1000);
    rb_split(&all, (rb_split_config){.validation = quick ? 1.0 / 3 : 5000.0 / 60000, .seed = 1},
             &train, &validation, NULL);
    rb_dataset_head(&train,
                    train_rows < rb_dataset_rows(&train) ? train_rows : rb_dataset_rows(&train),
                    &small);
    rb_model *m = mlp(1, rate);
    rb_study_model(s, "784-256-256-10 with dropout", m,
                   RB_BY_HAND(784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10));
    rb_model_free(m);

    static extras x;
    x.train = &small, x.test = &test;
    rb_experiment *e = rb_study_experiment(
        s, (rb_experiment_config){.name = "runs", .seeds = quick ? 2 : 0}, train_one, &x);
    const char *keys[2] = {"early stopping", "dropout"};
    char stopped[64], dropped[96];
    snprintf(stopped, sizeof stopped, "early stopping (patience %d)", patience);
    snprintf(dropped, sizeof dropped, "dropout %g + early stopping", rate);
    rb_experiment_add(e, "fixed epochs", 2, keys, (double[]){0, 0});
    rb_experiment_add(e, stopped, 2, keys, (double[]){1, 0});
    rb_experiment_add(e, dropped, 2, keys, (double[]){1, rate});
    rb_experiment_run(e, &small, &validation);

    /* The curves, one panel per run, with the kept epoch marked. */
    static double ep[MAX_EPOCHS], ys[MAX_CONFIGS][3][MAX_EPOCHS];
    rb_series curves[3 * MAX_CONFIGS];
    rb_marker marks[MAX_CONFIGS];
    char mark_text[MAX_CONFIGS][96];
    const char *titles[MAX_CONFIGS];
    for (int c = 0; c < MAX_CONFIGS; c++) {
        const rb_history *h = rb_experiment_history(e, c, 0);
        for (int k = 0; k < h->n && k < MAX_EPOCHS; k++) {
            ep[k] = k + 1;
            ys[c][0][k] = h->epochs[k].loss;
            ys[c][1][k] = x.clean_loss[c][0][k];
            ys[c][2][k] = h->epochs[k].val_loss;
        }
        static const char *const labels[3] = {"training (rb_fit)", "training (evaluation mode)",
                                              "validation"};
        for (int k = 0; k < 3; k++)
            curves[3 * c + k] = (rb_series){.label = labels[k],
                                            .n = h->n < MAX_EPOCHS ? h->n : MAX_EPOCHS,
                                            .x = ep,
                                            .y = ys[c][k],
                                            .dashed = k < 2,
                                            .color = k + 1,
                                            .panel = c};
        if (h->restored || h->stopped_early)
            snprintf(mark_text[c], sizeof mark_text[c], "kept: epoch %d of %d", h->best_epoch,
                     h->n);
        else
            snprintf(mark_text[c], sizeof mark_text[c], "lowest validation: epoch %d", lowest(h));
        marks[c] = (rb_marker){.label = mark_text[c],
                               .x = h->restored || h->stopped_early ? h->best_epoch : lowest(h),
                               .panel = c};
        titles[c] = rb_experiment_config_at(e, c)->name;
    }
    rb_study_plot(s, "curves",
                  (rb_plot){.title = "Cross-entropy per epoch (first seed)",
                            .xlabel = "epoch",
                            .ylabel = "cross-entropy",
                            .logy = true,
                            .panels = MAX_CONFIGS,
                            .panel_titles = titles,
                            .n_markers = MAX_CONFIGS,
                            .markers = marks},
                  3 * MAX_CONFIGS, curves);

    /* What each run keeps, scored on the test set. */
    rb_table *t = rb_study_table(s, "The weights each run keeps (mean ± sd over seeds)",
                                 "run|epochs trained|kept epoch|validation loss of the kept "
                                 "weights|test loss|test accuracy");
    for (int c = 0; c < MAX_CONFIGS; c++) {
        double trained[MAX_SEEDS], kept[MAX_SEEDS];
        for (int r = 0; r < rb_experiment_runs(e, c) && r < MAX_SEEDS; r++) {
            const rb_history *h = rb_experiment_history(e, c, r);
            trained[r] = h->n;
            kept[r] = h->restored || h->stopped_early ? h->best_epoch : h->n;
        }
        char cells[5][64];
        rb_measure_format(cells[0], 64, per_seed(e, c, trained, false));
        rb_measure_format(cells[1], 64, per_seed(e, c, kept, false));
        rb_measure_format(cells[2], 64, per_seed(e, c, x.kept_val_loss[c], false));
        rb_measure_format(cells[3], 64, per_seed(e, c, x.test_loss[c], false));
        rb_measure_format(cells[4], 64, per_seed(e, c, x.test_acc[c], true));
        rb_table_row(t, "%s|%s|%s|%s|%s|%s", rb_experiment_config_at(e, c)->name, cells[0],
                     cells[1], cells[2], cells[3], cells[4]);
    }

    /* 1. Overfitting without early stopping. */
    const rb_history *fixed = rb_experiment_history(e, 0, 0);
    const rb_epoch_record *last = rb_history_last(fixed);
    int low = lowest(fixed);
    rb_study_check(s,
                   "trained for all the epochs, the network overfits: validation loss lowest "
                   "early, then climbing",
                   low <= fixed->n / 3 && last->val_loss > 1.2 * fixed->epochs[low - 1].val_loss,
                   "first seed: lowest validation loss %.4f at epoch %d, %.4f at epoch %d "
                   "(training loss %.4f)",
                   fixed->epochs[low - 1].val_loss, low, last->val_loss, fixed->n, last->loss);
    /* 2. Early stopping: where it stops, what it keeps, how that scores. */
    double epochs_of[MAX_SEEDS], gap[MAX_SEEDS];
    int runs = rb_experiment_runs(e, 1) < MAX_SEEDS ? rb_experiment_runs(e, 1) : MAX_SEEDS;
    double worst = 0;
    for (int r = 0; r < runs; r++) {
        const rb_history *h = rb_experiment_history(e, 1, r);
        epochs_of[r] = h->n;
        gap[r] = fabs(x.kept_val_loss[1][r] - h->epochs[h->best_epoch - 1].val_loss);
        worst = fmax(worst, gap[r]);
    }
    rb_study_expect(s, "early stopping halts at a fraction of the epochs", "epochs trained",
                    rb_measure_of(runs, epochs_of, false), RB_LOWER, "half the budget",
                    rb_measure_value(0.5 * fixed->n, false));
    rb_study_check(s, "the restored weights score exactly the best epoch's validation loss",
                   worst < 1e-6, "largest difference over %d seeds: %.2g", runs, worst);
    rb_study_expect(s,
                    "on the test set, the kept weights' loss is far below the 40-epoch "
                    "network's",
                    "early stopping", per_seed(e, 1, x.test_loss[1], false), RB_LOWER,
                    "fixed epochs", per_seed(e, 0, x.test_loss[0], false));
    rb_measure acc_stop = per_seed(e, 1, x.test_acc[1], true);
    rb_measure acc_fixed = per_seed(e, 0, x.test_acc[0], true);
    rb_study_check(s, "at a test accuracy within a point of it",
                   fabs(acc_stop.mean - acc_fixed.mean) < 0.01,
                   "test accuracy %.2f%% with early stopping, %.2f%% after all the epochs",
                   100 * acc_stop.mean, 100 * acc_fixed.mean);
    /* 3-4. Dropout. */
    rb_study_expect(s, "dropout slows the overfitting: its lowest validation loss comes later",
                    "dropout", best_epochs(e, 2), RB_HIGHER, "no dropout", best_epochs(e, 1));
    rb_study_expect(s,
                    "with dropout the training loss rb_fit reports sits above the "
                    "validation loss for more epochs",
                    "epochs above, dropout", epochs_above(e, 2), RB_HIGHER, "without dropout",
                    epochs_above(e, 1));
    const rb_history *d = rb_experiment_history(e, 2, 0);
    int above = 0, clean_below = 0;
    for (int k = 0; k < d->n && k < MAX_EPOCHS; k++)
        if (d->epochs[k].loss > d->epochs[k].val_loss) {
            above++;
            clean_below += x.clean_loss[2][0][k] < d->epochs[k].val_loss;
        }
    rb_study_check(s,
                   "measured in evaluation mode, the training images score below validation "
                   "at those epochs",
                   above > 0 && clean_below == above,
                   "first seed: %d of the %d epochs where the reported loss is above "
                   "validation (epoch 1: reported %.4f, evaluation mode %.4f, validation %.4f)",
                   clean_below, above, d->epochs[0].loss, x.clean_loss[2][0][0],
                   d->epochs[0].val_loss);
    rb_study_say(s,
                 "Why: rb_fit's training loss is the mean over the epoch's batches, each computed "
                 "in training mode, where dropout zeroes each hidden unit with probability %g and "
                 "scales the others by 1 / (1 - %g): the network is scored handicapped, and on "
                 "weights that were still improving during the epoch. Validation runs in "
                 "evaluation mode on the epoch's final weights with every unit present. Measured "
                 "that way too, the training images score below the validation images: dropout "
                 "did not stop the network from fitting them better.",
                 rate, rate);

    rb_dataset_free(&small);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
