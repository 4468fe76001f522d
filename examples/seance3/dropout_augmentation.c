/* Séance 3 - dropout and data augmentation against overfitting: dropout rates and positions
 * (after the convolutions, before the classifier, everywhere), augmentation strengths (shift,
 * rotation, left-right flip, cutout) and their combination, measured by the generalisation
 * gap and the test accuracy; and why, under dropout, the training loss sits above the
 * validation loss.
 *
 * The network and the data: a small convolutional network (two 3x3 convolutions of 8 and 16
 * filters, each followed by 2x2 max pooling, a Dense layer of 128 units, 10 logits) on 1,000
 * Fashion-MNIST images. Few images and a dense head of 100,000 weights make it overfit within
 * a few epochs, which is what the two remedies act on; clothes are left-right symmetric, so a
 * mirror image is still a plausible garment (unlike a digit); the network is small enough for
 * 28 runs of 30 epochs in the time budget.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance3/dropout_augmentation/report.html.
 * --help lists the flags (--rates, --train, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "how much of the gap between training and validation accuracy do dropout and data\n"
    "augmentation close, where should dropout go, which augmentations help, and do they add up?";
static const char expectation[] =
    " 1. Without either, the network overfits: training accuracy (measured in evaluation mode)\n"
    "    ends more than 8 points above validation accuracy.\n"
    " 2. Dropout narrows that gap, the more so the higher the rate: everywhere, the gap is\n"
    "    smaller at rate 0.5 than at 0.25, and smaller at 0.25 than without dropout.\n"
    " 3. Before the classifier, where most weights are (the Dense layer), dropout does more\n"
    "    than after the convolutions, whose few shared weights overfit little: a smaller gap.\n"
    " 4. Under dropout the training loss that fit reports sits above the validation loss: it is\n"
    "    measured with units dropped and averaged over an epoch while the network improves. The\n"
    "    same training set measured in evaluation mode at the epoch's end lies below the\n"
    "    validation loss, as without dropout.\n"
    " 5. Each augmentation narrows the gap too; mild ones (shift 2 pixels, rotation 10 degrees,\n"
    "    flip, 8-pixel cutout) keep or improve validation accuracy, strong ones (shift 4,\n"
    "    rotation 25, 14-pixel cutout) cost training accuracy within this short budget.\n"
    " 6. Combined, mild augmentations narrow the gap more than any one of them, and with the\n"
    "    best dropout of part 1 added more still; the best validation accuracy comes from a\n"
    "    combination.";
static const char limits[] =
    "one small network, 1,000 training images and 30 epochs: regularisation pays more with\n"
    "longer training, which this budget cannot show (augmented runs are still improving at the\n"
    "end); 2 seeds per configuration unless --seeds says more (the gap varies by ~1 point from\n"
    "seed to seed); the training accuracy in the gap is measured in evaluation mode on the\n"
    "un-augmented training images, so that every configuration is measured alike; validation on\n"
    "2,000 held-out training images, test accuracy on the 10,000 test images, reported, never\n"
    "used to choose.";

/* Where dropout goes. */
enum { NONE, AFTER_CONV, BEFORE_CLASSIFIER, EVERYWHERE };
static const char *const positions[] = {"none", "after the convolutions", "before the classifier",
                                        "everywhere"};

/* Measured beyond the history, per configuration, seed and epoch. */
enum { MAX_CONFIGS = 32, MAX_SEEDS = 8, MAX_EPOCHS = 64 };
typedef struct extras {
    const rb_dataset *train, *test;
    bool every_epoch; /* measure the training set in evaluation mode after every epoch */
    double clean_loss[MAX_CONFIGS][MAX_SEEDS][MAX_EPOCHS]; /* training set, evaluation mode */
    double clean_acc[MAX_CONFIGS][MAX_SEEDS][MAX_EPOCHS];
    double test_acc[MAX_CONFIGS][MAX_SEEDS];
} extras;

static rb_model *cnn(uint64_t seed, int where, double rate)
{
    rb_model *m = rb_model_new(RB_F32, "cnn", RB_SHAPE(28, 28, 1));
    rb_model_seed(m, seed);
    bool convs = where == AFTER_CONV || where == EVERYWHERE;
    bool head = where == BEFORE_CLASSIFIER || where == EVERYWHERE;
    for (int filters = 8; filters <= 16; filters *= 2) {
        rb_model_add(m, RB_CONV2D(.units = filters, .kernel = {3, 3}, .activation = RB_ACT_RELU,
                                  .kernel_init = {.kind = RB_INIT_HE_NORMAL},
                                  .window = {.padding = RB_PAD_SAME}));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        if (convs) rb_model_add(m, RB_DROPOUT(.rate = rate));
    }
    rb_model_add(m, RB_FLATTEN);
    rb_model_add(m, RB_DENSE(.units = 128, .activation = RB_ACT_RELU,
                             .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
    if (head) rb_model_add(m, RB_DROPOUT(.rate = rate));
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

/* A progress hook that passes events on and, at each epoch's end, measures the training set
 * in evaluation mode (dropout off, no augmentation): the loss the network has, as opposed to
 * the one fit reports while training. */
typedef struct watcher {
    rb_progress_hook inner;
    rb_model *model;
    const rb_dataset *train;
    double *loss, *acc;
    bool every_epoch;
} watcher;

static void watch(void *ctx, const rb_progress_event *event)
{
    watcher *w = ctx;
    rb_progress_report(w->inner, event);
    if (!event->epoch_end || event->epoch > MAX_EPOCHS) return;
    if (!w->every_epoch && event->epoch < event->epochs) return; /* the gap needs the last only */
    rb_evaluate(rb_trainable_of_model(w->model), w->train, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                RB_METRIC_ACCURACY, 0, &w->loss[event->epoch - 1], &w->acc[event->epoch - 1]);
}

static rb_history *train_one(const rb_run *run)
{
    const rb_config *c = run->config;
    extras *x = run->user_data;
    rb_model *m =
        cnn(run->seed, (int)rb_config_get(c, "dropout at", NONE), rb_config_get(c, "rate", 0));
    rb_augment_config aug = {.max_shift = (int)rb_config_get(c, "shift", 0),
                             .max_rotation = rb_config_get(c, "rotation", 0),
                             .hflip = rb_config_get(c, "flip", 0) != 0,
                             .cutout = (int)rb_config_get(c, "cutout", 0)};
    bool augment = aug.max_shift || aug.max_rotation > 0 || aug.hflip || aug.cutout;
    int i = run->index < MAX_CONFIGS ? run->index : MAX_CONFIGS - 1;
    int r = run->repeat < MAX_SEEDS ? run->repeat : MAX_SEEDS - 1;
    watcher w = {run->progress, m, x->train, x->clean_loss[i][r], x->clean_acc[i][r],
                 x->every_epoch};
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = {watch, &w},
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation,
                                           .augment = augment ? &aug : NULL});
    if (h) {
        double loss;
        rb_evaluate(rb_trainable_of_model(m), x->test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                    RB_METRIC_ACCURACY, 0, &loss, &x->test_acc[i][r]);
    }
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* The gap measured alike for every configuration: training accuracy in evaluation mode at the
 * last epoch minus validation accuracy. */
static rb_measure gap(const rb_experiment *e, const extras *x, int i)
{
    double values[MAX_SEEDS];
    int n = 0;
    for (int r = 0; r < rb_experiment_runs(e, i) && r < MAX_SEEDS; r++) {
        const rb_history *h = rb_experiment_history(e, i, r);
        int last = h->n <= MAX_EPOCHS ? h->n - 1 : MAX_EPOCHS - 1;
        values[n++] = x->clean_acc[i][r][last] - h->epochs[last].val_metric;
    }
    return rb_measure_of(n, values, true);
}

static rb_measure test_of(const rb_experiment *e, const extras *x, int i)
{
    int n = rb_experiment_runs(e, i);
    return rb_measure_of(n < MAX_SEEDS ? n : MAX_SEEDS, x->test_acc[i], true);
}

/* One row per configuration: training accuracy as fit reports it and in evaluation mode,
 * validation, the gap, test. */
static void gap_table(rb_study *s, const char *title, const rb_experiment *e, const extras *x)
{
    rb_table *t = rb_study_table(s, title,
                                 "configuration|training (as fit reports it)|training "
                                 "(evaluation mode)|validation|gap (points)|test");
    for (int i = 0; i < rb_experiment_count(e); i++) {
        const rb_history *h = rb_experiment_history(e, i, 0);
        int last = h->n <= MAX_EPOCHS ? h->n - 1 : MAX_EPOCHS - 1;
        double clean = 0;
        for (int r = 0; r < rb_experiment_runs(e, i) && r < MAX_SEEDS; r++)
            clean += x->clean_acc[i][r][last] / rb_experiment_runs(e, i);
        char g[64], test[64];
        rb_measure gm = gap(e, x, i);
        snprintf(g, sizeof g, "%.2f ± %.2f", 100 * gm.mean, 100 * gm.sd);
        rb_measure_format(test, sizeof test, test_of(e, x, i));
        rb_table_row(t, "%s|%.2f%%|%.2f%%|%.2f%%|%s|%s", rb_experiment_config_at(e, i)->name,
                     100 * rb_experiment_measure(e, i, RB_FINAL_METRIC).mean, 100 * clean,
                     100 * rb_experiment_measure(e, i, RB_FINAL_VAL_METRIC).mean, g, test);
    }
}

/* The three losses of a configuration's first run, per epoch: as fit reports it (dropout on,
 * averaged over the epoch), in evaluation mode at the epoch's end, and on validation. */
static void loss_curves(const rb_experiment *e, const extras *x, int i, double *ep,
                        double (*y)[MAX_EPOCHS], rb_series *out)
{
    const rb_history *h = rb_experiment_history(e, i, 0);
    int n = h->n < MAX_EPOCHS ? h->n : MAX_EPOCHS;
    for (int k = 0; k < n; k++) {
        ep[k] = k + 1;
        y[0][k] = h->epochs[k].loss;
        y[1][k] = x->clean_loss[i][0][k];
        y[2][k] = h->epochs[k].val_loss;
    }
    static const char *const labels[3] = {"training, as fit reports it",
                                          "training, evaluation mode", "validation"};
    for (int c = 0; c < 3; c++)
        out[c] = (rb_series){
            .label = labels[c], .n = n, .x = ep, .y = y[c], .dashed = c < 2, .color = c + 1};
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance3",
                                               .name = "dropout_augmentation",
                                               .title = "Dropout and data augmentation",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 30,
                                               .seeds = 2,
                                               .noise = 0.005});
    double rates[4];
    int n_rates = rb_study_list(s, "rates", "0.25,0.5", rates, 4, "dropout rates");
    int train_rows = rb_study_int(s, "train", 1000, "training images");
    rb_study_start(s);
    bool quick = rb_study_quick(s);

    rb_dataset all, test, train, validation;
    load_images(true, &all, &test);
    rb_study_shrink(s, &all, 900); /* --quick: 600 to train, 300 to validate */
    rb_study_shrink(s, &test, 500);
    rb_split(&all, (rb_split_config){.validation = quick ? 1.0 / 3 : 2000.0 / 60000, .seed = 1},
             &train, &validation, NULL);
    if (train_rows > 0 && train_rows < rb_dataset_rows(&train)) {
        rb_dataset head;
        rb_dataset_head(&train, train_rows, &head);
        rb_dataset_free(&train);
        train = head;
    }
    rb_model *m = cnn(1, NONE, 0);
    rb_study_model(s, "conv 8, pool, conv 16, pool, dense 128, dense 10", m,
                   RB_BY_HAND((3 * 3 * 1 * 8 + 8) + (3 * 3 * 8 * 16 + 16) +
                              (7 * 7 * 16 * 128 + 128) + (128 * 10 + 10)));
    rb_model_free(m);

    /* One record per experiment: the runs index them by configuration. */
    static extras xd, xa, xb;
    xd.train = xa.train = xb.train = &train, xd.test = xa.test = xb.test = &test;
    xd.every_epoch = true; /* the dropout runs draw their three losses epoch by epoch */
    extras *all_x[3] = {&xd, &xa, &xb};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < MAX_CONFIGS; i++)
            for (int r = 0; r < MAX_SEEDS; r++)
                for (int e = 0; e < MAX_EPOCHS; e++)
                    all_x[k]->clean_loss[i][r][e] = all_x[k]->clean_acc[i][r][e] = NAN;
    int seeds = quick ? 1 : 0; /* 0: the study's (2, or --seeds) */
    const char *const dkeys[] = {"dropout at", "rate"};
    const char *const akeys[] = {"shift", "rotation", "flip", "cutout", "dropout at", "rate"};

    /* 1. Dropout: no dropout, then each position at each rate. */
    rb_experiment *drop = rb_study_experiment(
        s, (rb_experiment_config){.name = "dropout", .seeds = seeds}, train_one, &xd);
    rb_experiment_add(drop, "no dropout", 2, dkeys, (double[]){NONE, 0});
    /* The positions at the highest rate, then every rate everywhere. */
    int top = 0;
    for (int j = 1; j < n_rates; j++)
        if (rates[j] > rates[top]) top = j;
    int at[EVERYWHERE + 1], every[4];
    for (int p = AFTER_CONV; p <= EVERYWHERE; p++)
        for (int j = 0; j < n_rates; j++) {
            if (p != EVERYWHERE && j != top) continue;
            char name[96];
            snprintf(name, sizeof name, "dropout %g %s", rates[j], positions[p]);
            int i = rb_experiment_add(drop, name, 2, dkeys, (double[]){p, rates[j]});
            if (j == top) at[p] = i;
            if (p == EVERYWHERE) every[j] = i;
        }
    /* 2. Augmentations one at a time, mild then strong; 3. combined, with and without dropout. */
    rb_experiment *aug = rb_study_experiment(
        s, (rb_experiment_config){.name = "augmentation", .seeds = seeds}, train_one, &xa);
    static const struct {
        const char *name;
        double v[6];
    } augs[] = {{"shift 2 pixels", {2, 0, 0, 0, 0, 0}}, {"shift 4 pixels", {4, 0, 0, 0, 0, 0}},
                {"rotation 10 degrees", {0, 10, 0, 0}}, {"rotation 25 degrees", {0, 25, 0, 0}},
                {"left-right flip", {0, 0, 1, 0}},      {"cutout 8 pixels", {0, 0, 0, 8}},
                {"cutout 14 pixels", {0, 0, 0, 14}}};
    for (size_t j = 0; j < sizeof augs / sizeof augs[0]; j++)
        rb_experiment_add(aug, augs[j].name, 6, akeys, augs[j].v);
    rb_experiment *both = rb_study_experiment(
        s, (rb_experiment_config){.name = "combined", .seeds = seeds}, train_one, &xb);
    rb_experiment_add(both, "mild augmentations together", 6, akeys,
                      (double[]){2, 10, 1, 8, NONE, 0});
    /* Its second configuration, with part 1's best dropout, is added once part 1 has run. */

    rb_study_section(s, "1. Dropout: rates and positions");
    rb_experiment_run(drop, &train, &validation);
    gap_table(s, "The gap between training (evaluation mode) and validation accuracy", drop, &xd);
    rb_measure none = gap(drop, &xd, 0);
    rb_study_expect(s, "without regularisation the network overfits: a gap above 8 points",
                    "gap without dropout", none, RB_HIGHER, "8 points",
                    rb_measure_value(0.08, true));
    int convs = at[AFTER_CONV], head = at[BEFORE_CLASSIFIER];
    char a[192], b[96];
    int low = top;
    for (int j = 0; j < n_rates; j++)
        if (rates[j] < rates[low]) low = j;
    snprintf(a, sizeof a, "gap with dropout %g everywhere", rates[low]);
    rb_study_expect(s, "even the lowest rate narrows the gap", a, gap(drop, &xd, every[low]),
                    RB_LOWER, "without dropout", none);
    if (low != top) {
        snprintf(a, sizeof a, "gap with dropout %g everywhere", rates[top]);
        snprintf(b, sizeof b, "with %g", rates[low]);
        rb_study_expect(s, "the higher the rate, the narrower the gap", a,
                        gap(drop, &xd, every[top]), RB_LOWER, b, gap(drop, &xd, every[low]));
    }
    snprintf(a, sizeof a, "gap with %g before the classifier", rates[top]);
    snprintf(b, sizeof b, "after the convolutions");
    rb_study_expect(
        s, "before the classifier dropout narrows the gap more than after the convolutions", a,
        gap(drop, &xd, head), RB_LOWER, b, gap(drop, &xd, convs));

    /* Why the training loss sits above the validation loss under dropout: the three losses
     * of one network, each picture on its own scale (under dropout they lie close). */
    static double ep[MAX_EPOCHS], ys[2][3][MAX_EPOCHS];
    rb_series curves[2][3];
    loss_curves(drop, &xd, 0, ep, ys[0], curves[0]);
    loss_curves(drop, &xd, at[EVERYWHERE], ep, ys[1], curves[1]);
    char title[160];
    snprintf(title, sizeof title,
             "Dropout %g everywhere: the loss as fit reports it, in evaluation mode, on "
             "validation (first seed)",
             rates[top]);
    rb_study_plot(
        s, "three_losses_with_dropout",
        (rb_plot){.title = title, .xlabel = "epoch", .ylabel = "cross-entropy", .logy = true}, 3,
        curves[1]);
    /* The same as distances from the validation loss (above 0 the training loss is higher),
     * from epoch 2: the first epoch's mean includes the untrained network. */
    static double diff[2][2][MAX_EPOCHS];
    rb_series above[4];
    static const char *const labels[2][2] = {
        {"no dropout: as fit reports it", "no dropout: evaluation mode"},
        {"with dropout: as fit reports it", "with dropout: evaluation mode"}};
    for (int net = 0; net < 2; net++)
        for (int c = 0; c < 2; c++) {
            for (int k = 0; k < curves[net][2].n; k++)
                diff[net][c][k] = ys[net][c][k] - ys[net][2][k];
            above[2 * net + c] = (rb_series){.label = labels[net][c],
                                             .n = curves[net][2].n - 1,
                                             .x = ep + 1,
                                             .y = diff[net][c] + 1,
                                             .dashed = net == 0,
                                             .color = c + 1};
        }
    rb_study_plot(s, "training_minus_validation_loss",
                  (rb_plot){.title = "Training loss minus validation loss, from epoch 2 (first "
                                     "seed)",
                            .xlabel = "epoch",
                            .ylabel = "difference of cross-entropies",
                            .n_baselines = 1,
                            .baselines = &(rb_baseline){"the validation loss", 0}},
                  4, above);
    rb_study_plot(s, "three_losses_without_dropout",
                  (rb_plot){.title = "No dropout: the same three losses (first seed)",
                            .xlabel = "epoch",
                            .ylabel = "cross-entropy",
                            .logy = true},
                  3, curves[0]);
    const rb_history *h = rb_experiment_history(drop, at[EVERYWHERE], 0);
    const rb_epoch_record *last = rb_history_last(h);
    double clean = xd.clean_loss[at[EVERYWHERE]][0][h->n - 1];
    rb_study_check(s,
                   "under dropout the loss fit reports sits above the validation loss, and the "
                   "same training set in evaluation mode below it",
                   last->loss > last->val_loss && clean < last->val_loss,
                   "last epoch, first seed: reported %.4f, evaluation mode %.4f, validation %.4f",
                   last->loss, clean, last->val_loss);

    rb_study_section(s, "2. Augmentations, one at a time");
    rb_experiment_add_baseline(aug, "no augmentation",
                               rb_experiment_measure(drop, 0, RB_FINAL_SCORE).mean);
    rb_experiment_run(aug, &train, &validation);
    gap_table(s, "The gap with each augmentation (no dropout)", aug, &xa);
    char narrowed[512] = "";
    bool every_narrows = true;
    for (int i = 0; i < rb_experiment_count(aug); i++) {
        rb_comparison c = rb_measure_compare(gap(aug, &xa, i), none, 0.005);
        every_narrows = every_narrows && c.order == RB_LOWER;
        size_t len = strlen(narrowed);
        snprintf(narrowed + len, sizeof narrowed - len, "%s%s %.1f", len ? ", " : "",
                 rb_experiment_config_at(aug, i)->name, 100 * gap(aug, &xa, i).mean);
    }
    rb_study_check(s, "each augmentation narrows the gap (beyond the noise)", every_narrows,
                   "gaps in points: %s; without augmentation %.1f", narrowed, 100 * none.mean);
    rb_measure plain = rb_experiment_measure(drop, 0, RB_FINAL_SCORE);
    int mild[4] = {0, 2, 4, 5}, strong[3] = {1, 3, 6};
    bool mild_keep = true;
    for (int j = 0; j < 4; j++)
        mild_keep =
            mild_keep &&
            rb_measure_compare(rb_experiment_measure(aug, mild[j], RB_FINAL_SCORE), plain, 0.005)
                    .order != RB_LOWER;
    rb_study_check(s, "mild augmentations keep or improve validation accuracy", mild_keep,
                   "validation without augmentation %.2f%%; shift 2 %.2f%%, rotation 10 %.2f%%, "
                   "flip %.2f%%, cutout 8 %.2f%%",
                   100 * plain.mean, 100 * rb_experiment_final(aug, 0),
                   100 * rb_experiment_final(aug, 2), 100 * rb_experiment_final(aug, 4),
                   100 * rb_experiment_final(aug, 5));
    bool strong_cost = true;
    for (int j = 0; j < 3; j++)
        strong_cost =
            strong_cost && rb_experiment_measure(aug, strong[j], RB_FINAL_METRIC).mean <
                               rb_experiment_measure(aug, strong[j] - 1, RB_FINAL_METRIC).mean;
    rb_study_check(
        s, "strong augmentations cost training accuracy (as fit reports it) against mild ones",
        strong_cost,
        "shift 4 %.2f%% vs shift 2 %.2f%%, rotation 25 %.2f%% vs 10 %.2f%%, "
        "cutout 14 %.2f%% vs 8 %.2f%%",
        100 * rb_experiment_measure(aug, 1, RB_FINAL_METRIC).mean,
        100 * rb_experiment_measure(aug, 0, RB_FINAL_METRIC).mean,
        100 * rb_experiment_measure(aug, 3, RB_FINAL_METRIC).mean,
        100 * rb_experiment_measure(aug, 2, RB_FINAL_METRIC).mean,
        100 * rb_experiment_measure(aug, 6, RB_FINAL_METRIC).mean,
        100 * rb_experiment_measure(aug, 5, RB_FINAL_METRIC).mean);

    rb_study_section(s, "3. Combined");
    int best_drop = 1; /* the best dropout configuration of part 1 by validation accuracy */
    for (int i = 2; i < rb_experiment_count(drop); i++)
        if (rb_experiment_final(drop, i) > rb_experiment_final(drop, best_drop)) best_drop = i;
    const rb_config *bd = rb_experiment_config_at(drop, best_drop);
    char name[160];
    snprintf(name, sizeof name, "mild augmentations + %s", bd->name);
    rb_experiment_add(both, name, 6, akeys,
                      (double[]){2, 10, 1, 8, rb_config_get(bd, "dropout at", NONE),
                                 rb_config_get(bd, "rate", 0)});
    rb_experiment_add_baseline(both, "no regularisation", plain.mean);
    rb_experiment_run(both, &train, &validation);
    gap_table(s, "The gap with mild augmentations together, and with dropout", both, &xb);
    int best_single = 0;
    for (int i = 0; i < 4; i++)
        if (gap(aug, &xa, mild[i]).mean < gap(aug, &xa, best_single).mean) best_single = mild[i];
    snprintf(a, sizeof a, "the smallest single mild one (%s)",
             rb_experiment_config_at(aug, best_single)->name);
    rb_study_expect(s, "combined, mild augmentations narrow the gap more than any one of them",
                    "gap, mild augmentations together", gap(both, &xb, 0), RB_LOWER, a,
                    gap(aug, &xa, best_single));
    rb_study_expect(s, "adding dropout narrows it more still", "with dropout", gap(both, &xb, 1),
                    RB_LOWER, "without", gap(both, &xb, 0));
    /* The best of all by validation accuracy. */
    const rb_experiment *exps[3] = {drop, aug, both};
    int be = 0, bi = 0;
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < rb_experiment_count(exps[k]); i++)
            if (rb_experiment_final(exps[k], i) > rb_experiment_final(exps[be], bi)) be = k, bi = i;
    int bc = rb_experiment_best(both);
    rb_study_check(s, "the best validation accuracy comes from a combination", be == 2,
                   "the best is %s (%.2f%%); the better combination, %s, %.2f%%",
                   rb_experiment_config_at(exps[be], bi)->name,
                   100 * rb_experiment_final(exps[be], bi), rb_experiment_config_at(both, bc)->name,
                   100 * rb_experiment_final(both, bc));
    char t1[64], t2[64];
    rb_measure_format(t1, sizeof t1, test_of(both, &xb, bc));
    rb_measure_format(t2, sizeof t2, test_of(drop, &xd, 0));
    rb_study_say(s, "Test accuracy: **%s** for %s, %s without regularisation.", t1,
                 rb_experiment_config_at(both, bc)->name, t2);

    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
