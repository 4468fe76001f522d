/* Build your own network, 3 - grid search with k-fold cross-validation on scikit-learn's
 * digits (8x8).
 *
 * A dense network (64 -> hidden -> 10, ReLU, plain SGD, 30 epochs) has three settings to
 * choose: the learning rate, the hidden size and the batch size. Every combination of a grid
 * is trained on 4 folds of the 1,438 training images and scored on the fifth, five times
 * over (5-fold cross-validation, folds stratified by digit); the best mean score wins. The
 * winner is then retrained on all 1,438 images and scored once on the 359 test images, which
 * the search never saw.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/diy/grid_search/report.html.
 * --help lists the flags (--lr, --hidden, --batch, --folds, --quick ...).
 */
#include "digits.h"

static const char question[] =
    "which learning rate, hidden size and batch size should the dense network use, how sure\n"
    "is that choice, and what does the chosen network score on images the search never saw?";
static const char expectation[] =
    " 1. The grid's top is flat: at least 3 configurations tie with the best within the\n"
    "    spread over folds (about a point: each fold scores 288 images).\n"
    " 2. The rate and the batch size act together: a step averages the gradient over a batch,\n"
    "    so larger batches make fewer, less noisy steps and want larger rates. The best rate\n"
    "    at the largest batch is larger than at the smallest; at the largest rate (1) batches\n"
    "    of 8 overshoot (below 50%) while batches of 128 train (above 90%).\n"
    " 3. 16 hidden units lose to the best hidden size.\n"
    " 4. The winner's test accuracy lies within twice the fold spread of its cross-validated\n"
    "    score. Picking the best of many noisy scores favours a lucky one (the winner's\n"
    "    curse), while the retraining sees a quarter more images: the two pull in opposite\n"
    "    directions.";
static const char limits[] =
    "one network family and a grid of 4 x 3 x 3 values, each a factor of 3 or 4 apart, so the\n"
    "best is known only within a grid step; 30 epochs for every configuration, which favours\n"
    "larger rates and smaller batches (more steps); the fold spread counts the folds' different\n"
    "images, not other seeds; a single test set of 359 images (one image is 0.28 point), its\n"
    "score averaged over 3 seeds of the retraining.";

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "diy",
                                               .name = "grid_search",
                                               .title = "Grid search by cross-validation",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 30,
                                               .seeds = 3});
    double lrs[6], hidden[6], batches[6];
    int n_lrs = rb_study_list(s, "lr", "1,0.3,0.1,0.03", lrs, 6, "SGD learning rates of the grid");
    int n_hidden = rb_study_list(s, "hidden", "16,64,256", hidden, 6, "hidden sizes of the grid");
    int n_batches = rb_study_list(s, "batch", "8,32,128", batches, 6, "batch sizes of the grid");
    int folds = rb_study_int(s, "folds", 5, "folds of the cross-validation");
    rb_study_start(s);

    rb_dataset all, train, test;
    load_digits(s, 600, &all);
    split_digits(&all, &train, NULL, &test); /* 80% searched, 20% kept for the end */
    digit_setup base = {.layers = 1, .units = 64, .act = RB_ACT_RELU, .lr = 0.1, .batch = 32};
    rb_model *m = digit_net(1, base);
    rb_study_model(s, "dense network, 64 hidden units", m, RB_BY_HAND(64 * 64 + 64 + 64 * 10 + 10));
    rb_model_free(m);

    static digit_runs grid_runs, test_runs;
    digit_runs_init(&grid_runs, base, NULL);
    digit_runs_init(&test_runs, base, NULL);
    rb_experiment *grid =
        rb_study_experiment(s, (rb_experiment_config){.name = "grid"}, train_digits, &grid_runs);
    const char *keys[3] = {"lr", "units", "batch"};
    rb_experiment_add_grid(grid, 3, keys, (int[]){n_lrs, n_hidden, n_batches},
                           (const double *[]){lrs, hidden, batches});
    rb_experiment *final = rb_study_experiment(
        s, (rb_experiment_config){.name = "test", .seeds = rb_study_quick(s) ? 1 : 0}, train_digits,
        &test_runs);

    /* 1. The search. */
    int best = rb_experiment_cross_validate(grid, &train, folds, rb_study_seed(s));
    rb_measure winner = rb_experiment_measure(grid, best, RB_FINAL_SCORE);
    const rb_config *chosen = rb_experiment_config_at(grid, best);
    char text[96];
    rb_measure_format(text, sizeof text, winner);
    rb_study_say(s, "Chosen by %d-fold cross-validation: **%s**, %s over the folds (mean ± sd).",
                 folds, chosen->name, text);
    int ties = 0;
    for (int i = 0; i < rb_experiment_count(grid); i++)
        ties += i != best && rb_experiment_tied(grid, i, best);
    rb_study_check(s, "at least 3 configurations tie with the best", ties >= 3,
                   "%d configurations within the noise of the best (%s)", ties, text);

    /* The score against the rate, one curve per batch size, at the chosen hidden size; and the
     * best over every hidden size of each rate and batch. */
    double ys[6][6], err[6][6], top[6][6], best_lr[6];
    rb_series curves[6];
    char labels[6][32];
    for (int b = 0; b < n_batches; b++) {
        double best_score = -1;
        for (int l = 0; l < n_lrs; l++) {
            top[b][l] = -1;
            for (int i = 0; i < rb_experiment_count(grid); i++) {
                const rb_config *c = rb_experiment_config_at(grid, i);
                if (rb_config_get(c, "lr", 0) != lrs[l] ||
                    rb_config_get(c, "batch", 0) != batches[b])
                    continue;
                rb_measure v = rb_experiment_measure(grid, i, RB_FINAL_SCORE);
                top[b][l] = fmax(top[b][l], v.mean);
                if (rb_config_get(c, "units", 0) == rb_config_get(chosen, "units", 0))
                    ys[b][l] = 100 * v.mean, err[b][l] = 100 * v.sd;
            }
            if (l == 0 || top[b][l] > best_score) best_lr[b] = lrs[l], best_score = top[b][l];
        }
        snprintf(labels[b], sizeof labels[b], "batch %g", batches[b]);
        curves[b] =
            (rb_series){.label = labels[b], .n = n_lrs, .x = lrs, .y = ys[b], .err = err[b]};
    }
    snprintf(text, sizeof text, "Cross-validated accuracy against the rate, %g hidden units",
             rb_config_get(chosen, "units", 0));
    rb_study_plot(s, "rate_and_batch",
                  (rb_plot){.title = text,
                            .xlabel = "learning rate",
                            .ylabel = "accuracy over the folds (%)",
                            .logx = true},
                  n_batches, curves);
    int small = 0, large = 0;
    for (int b = 1; b < n_batches; b++) {
        if (batches[b] < batches[small]) small = b;
        if (batches[b] > batches[large]) large = b;
    }
    rb_study_check(s, "the best rate at the largest batch is larger than at the smallest",
                   best_lr[large] > best_lr[small],
                   "best rate %g at batch %g, %g at batch %g (over every hidden size)",
                   best_lr[large], batches[large], best_lr[small], batches[small]);
    int fastest = 0;
    for (int l = 1; l < n_lrs; l++)
        if (lrs[l] > lrs[fastest]) fastest = l;
    snprintf(text, sizeof text, "at rate %g, batches of %g overshoot while batches of %g train",
             lrs[fastest], batches[small], batches[large]);
    rb_study_check(s, text, top[small][fastest] < 0.5 && top[large][fastest] > 0.9,
                   "best over the hidden sizes: %.2f%% at batch %g, %.2f%% at batch %g",
                   100 * top[small][fastest], batches[small], 100 * top[large][fastest],
                   batches[large]);
    int narrow = 0;
    for (int h = 1; h < n_hidden; h++)
        if (hidden[h] < hidden[narrow]) narrow = h;
    int narrow_best = rb_experiment_best_of(grid, "units", hidden[narrow]);
    if (narrow_best != best)
        rb_study_expect(s, "16 hidden units lose to the best hidden size",
                        rb_experiment_config_at(grid, narrow_best)->name,
                        rb_experiment_measure(grid, narrow_best, RB_FINAL_SCORE), RB_LOWER,
                        chosen->name, winner);

    /* 2. The winner retrained on every searched image, scored once on the test set. */
    rb_experiment_add_config(final, chosen);
    rb_experiment_run(final, &train, &test);
    rb_measure tested = rb_experiment_measure(final, 0, RB_FINAL_SCORE);
    char cv[64], te[64];
    rb_measure_format(cv, sizeof cv, winner);
    rb_measure_format(te, sizeof te, tested);
    rb_table *t = rb_study_table(s, "The chosen configuration", "measure|accuracy|images");
    rb_table_row(t, "cross-validated (mean ± sd over %d folds)|%s|%lld per fold", folds, cv,
                 (long long)(rb_dataset_rows(&train) / folds));
    rb_table_row(t, "test (retrained on every searched image; mean ± sd over seeds)|%s|%lld", te,
                 (long long)rb_dataset_rows(&test));
    rb_study_check(s, "the test accuracy lies within twice the fold spread of the CV score",
                   fabs(tested.mean - winner.mean) <= 2 * winner.sd,
                   "test %s, cross-validated %s: %+.2f points (twice the fold spread: %.2f)", te,
                   cv, 100 * (tested.mean - winner.mean), 200 * winner.sd);

    rb_dataset_free(&train);
    rb_dataset_free(&test);
    rb_dataset_free(&all);
    return rb_study_finish(s);
}
