/* Build your own network, 2 - the settings of a convolutional network on scikit-learn's digits
 * (8x8): learning rate, batch size, kernel size, number of feature maps.
 *
 * The network: Conv1D (16 filters of 3 pixels, ReLU), MaxPool1D (2), Flatten, Linear to the 10
 * classes, trained by plain SGD (lr 0.1, batch 32) for 40 epochs with 3 seeds; each study
 * changes one setting and keeps the others. The images are read as signals of 64 pixels, row
 * after row (digits.h).
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/diy/hyperparameters/report.html.
 * --help lists the flags (--lr, --batch, --kernel, --maps, --seeds, --quick ...).
 */
#include "digits.h"

static const char question[] =
    "how do the learning rate, the batch size, the width of the filters and their number\n"
    "change what the convolutional network learns in 40 epochs?";
static const char expectation[] =
    " 1. Learning rate: the best lies between 0.03 and 0.3; at 1 the steps overshoot (some\n"
    "    seeds diverge: far below the best); at 0.01 40 epochs are too few (3 points or more\n"
    "    below the best).\n"
    " 2. Batch size, at lr 0.1: the whole training set as one batch makes 40 steps in all and\n"
    "    stays far behind (below 80%); batches of 8 and 32 tie. The steps average the gradient\n"
    "    over the batch, so what a rate does depends on the batch: a batch of 1 at 0.1 is noisy\n"
    "    (its final accuracy varies from seed to seed at least twice as much as batch 32's, and\n"
    "    ends lower), at 0.1 / 32 it ties with batch 32; a batch of 128 at 0.1 x 4 ties with it\n"
    "    too. An epoch of single images costs at least 3 times one of batches of 32\n"
    "    (1,078 small steps instead of 34).\n"
    " 3. Kernel size: a filter of 1 pixel sees no neighbour: it trails 3 pixels by 3 points or\n"
    "    more; 5 ties with 3; wider filters (9, 15) add weights but no accuracy.\n"
    " 4. Feature maps: one filter trails 16 by 2 points or more; 64 tie with 16 (the gains\n"
    "    flatten) with four times the weights.";
static const char limits[] =
    "one network and one data set (1,078 training and 359 validation images): validation\n"
    "accuracy moves in steps of 0.28 point and varies by ~0.5 point from seed to seed, so 3\n"
    "seeds and differences below ~1 point are ties; 40 epochs for every setting, which favours\n"
    "settings that take more steps; one setting changed at a time, so interactions are\n"
    "not seen (diy-grid-search searches three together); Conv1D reads rows of 8 pixels joined\n"
    "end to end (a pixel's upper neighbour is 8 steps away); times on a machine shared with\n"
    "other work.";

static rb_measure score(const rb_experiment *e, int i)
{
    return rb_experiment_measure(e, i, RB_FINAL_SCORE);
}

static const char *name_of(const rb_experiment *e, int i)
{
    return rb_experiment_config_at(e, i)->name;
}

/* Index of the configuration whose setting `key` is v (-1 when none). */
static int with(const rb_experiment *e, const char *key, double v)
{
    for (int i = 0; i < rb_experiment_count(e); i++)
        if (rb_config_get(rb_experiment_config_at(e, i), key, NAN) == v) return i;
    return -1;
}

/* "a is `order` b", with both found by their setting (skipped when the list lacks one). */
static void expect_by(rb_study *s, const char *claim, const rb_experiment *e, const char *key,
                      double a, rb_order order, double b)
{
    int i = with(e, key, a), j = with(e, key, b);
    if (i >= 0 && j >= 0)
        rb_study_expect(s, claim, name_of(e, i), score(e, i), order, name_of(e, j), score(e, j));
}

/* "a is at least `points` below b", both found by their setting. */
static void check_gap(rb_study *s, const char *claim, const rb_experiment *e, const char *key,
                      double a, double b, double points)
{
    int i = with(e, key, a), j = with(e, key, b);
    if (i < 0 || j < 0) return;
    double gap = score(e, j).mean - score(e, i).mean;
    rb_study_check(s, claim, gap >= points / 100, "%s %.2f%%, %s %.2f%%: %.2f points below",
                   name_of(e, i), 100 * score(e, i).mean, name_of(e, j), 100 * score(e, j).mean,
                   100 * gap);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s =
        rb_study_new(argc, argv,
                     (rb_study_info){.seance = "diy",
                                     .name = "hyperparameters",
                                     .title = "Learning rate, batch, kernel, feature maps",
                                     .question = question,
                                     .expectation = expectation,
                                     .limits = limits,
                                     .epochs = 40,
                                     .seeds = 3,
                                     .noise = 0.004});
    double lrs[8], batches[8], kernels[8], maps[8];
    int n_lrs = rb_study_list(s, "lr", "1,0.3,0.1,0.03,0.01", lrs, 8, "SGD learning rates");
    int n_batches = rb_study_list(s, "batch", "1,8,32,128,1078", batches, 8,
                                  "batch sizes (1,078: the whole training set)");
    int n_kernels = rb_study_list(s, "kernel", "1,3,5,9,15", kernels, 8, "filter widths (pixels)");
    int n_maps = rb_study_list(s, "maps", "1,4,16,64", maps, 8, "numbers of filters");
    rb_study_start(s);
    const int seeds = rb_study_quick(s) ? 1 : 0; /* one seed under --quick */

    rb_dataset all, train, validation, test;
    load_digits(s, 600, &all);
    split_digits(&all, &train, &validation, &test);
    const digit_setup base = {.maps = 16, .kernel = 3, .lr = 0.1, .batch = 32};
    rb_model *m = digit_net(1, base);
    rb_study_model(s, "convolutional network", m,
                   RB_BY_HAND((3 * 1 * 16 + 16) + (31 * 16) * 10 + 10));
    rb_model_free(m);

    /* The four experiments, declared first so that the time left covers them all. */
    static digit_runs runs;
    digit_runs_init(&runs, base, NULL);
    const char *names[4] = {"learning_rate", "batch_size", "kernel_size", "feature_maps"};
    const char *keys[4] = {"lr", "batch", "kernel", "maps"};
    const double *values[4] = {lrs, batches, kernels, maps};
    const int counts[4] = {n_lrs, n_batches, n_kernels, n_maps};
    rb_experiment *e[4];
    for (int k = 0; k < 4; k++) {
        e[k] = rb_study_experiment(s, (rb_experiment_config){.name = names[k], .seeds = seeds},
                                   train_digits, &runs);
        rb_experiment_add_values(e[k], keys[k], counts[k], values[k]);
    }
    /* The rate scaled with the batch: the same step per image. */
    const char *batch_lr[2] = {"batch", "lr"};
    int one_scaled =
        rb_experiment_add(e[1], "batch=1 lr=0.1/32", 2, batch_lr, (double[]){1, 0.1 / 32});
    int large_scaled =
        rb_experiment_add(e[1], "batch=128 lr=0.1x4", 2, batch_lr, (double[]){128, 0.4});

    /* 1. Learning rate. */
    rb_experiment_run(e[0], &train, &validation);
    rb_experiment_plot_sweep(e[0], (rb_sweep_plot){.key = "lr", .logx = true});
    int best = rb_experiment_best(e[0]);
    rb_study_check(s, "the best rate lies between 0.03 and 0.3",
                   lrs[best] >= 0.03 && lrs[best] <= 0.3, "the best is %s (%.2f%%)",
                   name_of(e[0], best), 100 * score(e[0], best).mean);
    check_gap(s, "at lr 1 the steps overshoot: far below the best (5 points or more)", e[0], "lr",
              1, lrs[best], 5);
    check_gap(s, "at lr 0.01, 3 points or more below the best", e[0], "lr", 0.01, lrs[best], 3);

    /* 2. Batch size. */
    rb_experiment_run(e[1], &train, &validation);
    int whole = with(e[1], "batch", 1078);
    if (whole >= 0)
        rb_study_expect(s, "one batch of the whole set (40 steps) stays below 80%",
                        name_of(e[1], whole), score(e[1], whole), RB_LOWER, "80%",
                        rb_measure_value(0.8, true));
    expect_by(s, "batches of 8 and 32 tie", e[1], "batch", 8, RB_TIE, 32);
    int one = with(e[1], "batch", 1), mid = with(e[1], "batch", 32);
    if (one >= 0 && mid >= 0) {
        rb_measure a = score(e[1], one), b = score(e[1], mid);
        rb_study_check(s, "a batch of 1 at lr 0.1 is noisy: twice batch 32's spread, a lower mean",
                       a.sd >= 2 * b.sd && a.mean < b.mean,
                       "%s %.2f%% ± %.2f, %s %.2f%% ± %.2f (mean ± sd over seeds)",
                       name_of(e[1], one), 100 * a.mean, 100 * a.sd, name_of(e[1], mid),
                       100 * b.mean, 100 * b.sd);
        rb_study_expect(s, "a batch of 1 at lr 0.1 / 32 ties with batch 32",
                        name_of(e[1], one_scaled), score(e[1], one_scaled), RB_TIE,
                        name_of(e[1], mid), score(e[1], mid));
        rb_study_expect(s, "a batch of 128 at lr 0.1 x 4 ties with batch 32",
                        name_of(e[1], large_scaled), score(e[1], large_scaled), RB_TIE,
                        name_of(e[1], mid), score(e[1], mid));
        double t1 = rb_experiment_measure(e[1], one, RB_SECONDS).mean,
               t32 = rb_experiment_measure(e[1], mid, RB_SECONDS).mean;
        rb_study_check(s, "an epoch of single images costs at least 3 times one of batches of 32",
                       t1 >= 3 * t32, "%.2f s against %.2f s per run: %.1f times", t1, t32,
                       t1 / t32);
    }

    /* 3. Kernel size. */
    rb_experiment_run(e[2], &train, &validation);
    rb_experiment_plot_sweep(e[2], (rb_sweep_plot){.key = "kernel", .xlabel = "filter width"});
    check_gap(s, "a filter of 1 pixel trails 3 pixels by 3 points or more", e[2], "kernel", 1, 3,
              3);
    expect_by(s, "5 pixels tie with 3", e[2], "kernel", 5, RB_TIE, 3);
    for (int i = 0; i < n_kernels; i++)
        if (kernels[i] > 5) {
            char claim[64];
            snprintf(claim, sizeof claim, "%g pixels add no accuracy over 3", kernels[i]);
            int wide = with(e[2], "kernel", kernels[i]), three = with(e[2], "kernel", 3);
            if (three >= 0 &&
                rb_measure_compare(score(e[2], wide), score(e[2], three), 0.004).order == RB_HIGHER)
                rb_study_check(s, claim, false, "%s is above %s beyond the noise",
                               name_of(e[2], wide), name_of(e[2], three));
            else if (three >= 0)
                rb_study_check(s, claim, true, "%s %.2f%%, %s %.2f%%", name_of(e[2], wide),
                               100 * score(e[2], wide).mean, name_of(e[2], three),
                               100 * score(e[2], three).mean);
        }

    /* 4. Feature maps. */
    rb_experiment_run(e[3], &train, &validation);
    rb_experiment_plot_sweep(e[3],
                             (rb_sweep_plot){.key = "maps", .logx = true, .xlabel = "filters"});
    check_gap(s, "one filter trails 16 by 2 points or more", e[3], "maps", 1, 16, 2);
    expect_by(s, "64 filters tie with 16", e[3], "maps", 64, RB_TIE, 16);

    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&test);
    rb_dataset_free(&all);
    return rb_study_finish(s);
}
