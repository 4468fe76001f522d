/* Séance 1 - L2 regularisation: a sweep of lambda on a network that overfits.
 *
 * A 784-256-256-10 network trained on 5,000 MNIST images memorises them. The L2 penalty
 * lambda / 2 * ||w||^2 (added to the loss for each regularised layer) pulls the weights
 * towards 0.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance1/regularisation/report.html.
 * --help lists the flags (--lambda, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "how does lambda move the gap between training and validation accuracy?";
static const char expectation[] =
    "without penalty, training accuracy reaches 100%\n"
    "and validation stays ~6 points below. Small lambdas (1e-5, 1e-4) change nothing visible: the\n"
    "data term dominates. Around 1e-3 to 3e-3 the gap narrows (training loss no longer reaches\n"
    "0) with validation accuracy about unchanged; 1e-2 pulls the weights so hard that both\n"
    "accuracies drop (underfitting). Penalising only the first layer (which holds most weights)\n"
    "does part of what penalising all layers does.";
static const char limits[] =
    "one seed unless --seeds says more (a run's gap varies by about 0.3 point from seed to seed);\n"
    "30 epochs of SGD with momentum 0.9, lr 0.01; 5,000 training images so that overfitting shows\n"
    "quickly; validation on 10,000 held-out training images.";

static rb_history *train_one(const rb_run *run)
{
    double lambda = rb_config_get(run->config, "lambda", 0);
    bool first_only = rb_config_get(run->config, "first layer only", 0) != 0;
    rb_model *m = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_seed(m, run->seed);
    rb_model_add(m, RB_DENSE(.units = 256, .activation = RB_ACT_RELU, .l2 = lambda,
                             .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
    rb_model_add(m, RB_DENSE(.units = 256, .activation = RB_ACT_RELU, .l2 = first_only ? 0 : lambda,
                             .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
    rb_model_add(m, RB_DENSE(.units = 10, .l2 = first_only ? 0 : lambda));
    rb_optimizer *opt =
        rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.01, .momentum = 0.9});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* The gap between training and validation accuracy of configuration i, over its runs. */
static rb_measure gap(rb_experiment *e, int i) { return rb_experiment_measure(e, i, RB_GAP); }

static int index_of(const double *values, int n, double v)
{
    for (int i = 0; i < n; i++)
        if (values[i] == v) return i;
    return -1;
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance1",
                                               .name = "regularisation",
                                               .title = "L2 regularisation",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 30,
                                               .noise = 0.003});
    double lambdas[8];
    int n = rb_study_list(s, "lambda", "0,1e-5,1e-4,1e-3,3e-3,1e-2", lambdas, 8,
                          "L2 penalties of the sweep");
    rb_study_start(s);
    rb_dataset all, test, train, validation, small;
    rb_mnist_load(NULL, &all, &test);
    rb_study_shrink(s, &all, 7000); /* --quick: 1,000 images held out */
    rb_split(&all, (rb_split_config){.validation = 10000.0 / 60000, .seed = 1}, &train, &validation,
             NULL);
    rb_study_shrink(s, &train, 1000); /* --quick: 1,000 images to overfit */
    rb_dataset_head(&train, 5000 < rb_dataset_rows(&train) ? 5000 : rb_dataset_rows(&train),
                    &small);
    rb_model *m = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_add(m, RB_DENSE(.units = 256, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_DENSE(.units = 256, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_DENSE(.units = 10));
    rb_study_model(s, "784-256-256-10", m,
                   RB_BY_HAND(784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10));
    rb_model_free(m);

    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "l2"}, train_one, NULL);
    rb_experiment_add_values(e, "lambda", n, lambdas);
    rb_experiment_add(e, "lambda=0.003, first layer only", 2,
                      (const char *[]){"lambda", "first layer only"}, (double[]){3e-3, 1});
    rb_experiment_run(e, &small, &validation);
    rb_experiment_plot_sweep(e, (rb_sweep_plot){.key = "lambda",
                                                .quantity = RB_GAP,
                                                .logx = true,
                                                .file = "gap_vs_lambda",
                                                .title = "Gap between training and validation "
                                                         "accuracy against the L2 penalty"});

    /* The gap, configuration by configuration, and both accuracies against lambda. */
    rb_table *t = rb_study_table(s, "Accuracy after training, and the gap",
                                 "configuration|training|validation|gap (points)");
    double x[8], train_acc[8], val_acc[8];
    rb_baseline none[2];
    int points = 0, bases = 0;
    for (int i = 0; i < rb_experiment_count(e); i++) {
        rb_measure tr = rb_experiment_measure(e, i, RB_FINAL_METRIC);
        rb_measure va = rb_experiment_measure(e, i, RB_FINAL_VAL_METRIC);
        rb_table_row(t, "%s|%.2f%%|%.2f%%|%.2f", rb_experiment_config_at(e, i)->name, 100 * tr.mean,
                     100 * va.mean, 100 * (tr.mean - va.mean));
        if (i >= n) continue;
        if (lambdas[i] <= 0) { /* a log axis has no 0: no penalty is a pair of baselines */
            none[0] = (rb_baseline){"training, no penalty", 100 * tr.mean};
            none[1] = (rb_baseline){"validation, no penalty", 100 * va.mean};
            bases = 2;
            continue;
        }
        x[points] = lambdas[i];
        train_acc[points] = 100 * tr.mean;
        val_acc[points++] = 100 * va.mean;
    }
    rb_series curves[2] = {
        {.label = "training", .n = points, .x = x, .y = train_acc, .dashed = true},
        {.label = "validation", .n = points, .x = x, .y = val_acc}};
    rb_study_plot(s, "accuracy_vs_lambda",
                  (rb_plot){.title = "Accuracy after training against the L2 penalty",
                            .xlabel = "lambda",
                            .ylabel = "accuracy (%)",
                            .logx = true,
                            .n_baselines = bases,
                            .baselines = none},
                  2, curves);

    int i0 = index_of(lambdas, n, 0), small_i = index_of(lambdas, n, 1e-4);
    int mid = index_of(lambdas, n, 3e-3), big = index_of(lambdas, n, 1e-2);
    if (i0 >= 0 && small_i >= 0)
        rb_study_expect(s, "a small lambda (1e-4) changes nothing visible: the same gap",
                        "gap at 1e-4", gap(e, small_i), RB_TIE, "without penalty", gap(e, i0));
    if (i0 >= 0 && mid >= 0)
        rb_study_expect(s, "lambda 3e-3 narrows the gap", "gap at 3e-3", gap(e, mid), RB_LOWER,
                        "without penalty", gap(e, i0));
    if (mid >= 0 && big >= 0)
        rb_study_expect(s, "lambda 1e-2 underfits: lower training accuracy than 3e-3",
                        "training accuracy at 1e-2", rb_experiment_measure(e, big, RB_FINAL_METRIC),
                        RB_LOWER, "at 3e-3", rb_experiment_measure(e, mid, RB_FINAL_METRIC));
    if (i0 >= 0 && mid >= 0) {
        double first = gap(e, n).mean, all_layers = gap(e, mid).mean, no_penalty = gap(e, i0).mean;
        rb_study_check(s, "penalising only the first layer does part of what penalising all does",
                       first < no_penalty && first > all_layers,
                       "gap %.2f points with the first layer only, %.2f with all layers, %.2f "
                       "without penalty",
                       100 * first, 100 * all_layers, 100 * no_penalty);
    }

    rb_dataset_free(&small);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
