/* Séance 1 - L2 regularisation: a sweep of lambda on a network that overfits.
 *
 * A 784-256-256-10 network trained on 5,000 MNIST images memorises them. The L2 penalty
 * lambda / 2 * ||w||^2 (added to the loss for each regularised layer) pulls the weights
 * towards 0.
 * The question, the expectation stated before running and the limits of the
 * comparison are the strings below; the program prints them.
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
    "one seed; 30 epochs of SGD with momentum 0.9, lr 0.01; 5,000 training images so\n"
    "that overfitting shows quickly; validation on 10,000 held-out training images.";

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
                           (rb_fit_config){.epochs = 30,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .quiet = true,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

int main(void)
{
    rb_set_error_handler(exit_on_error, NULL);
    announce(question, expectation);
    rb_dataset all, test, train, validation, small;
    rb_mnist_load(NULL, &all, &test);
    rb_split(&all, (rb_split_config){.validation = 10000.0 / 60000, .seed = 1}, &train, &validation,
             NULL);
    rb_dataset_head(&train, 5000, &small);

    const double lambdas[] = {0, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2};
    enum { N = 6 };
    rb_experiment *e =
        rb_experiment_new((rb_experiment_config){.name = "seance1/l2"}, train_one, NULL);
    rb_experiment_add_values(e, "lambda", N, lambdas);
    rb_experiment_add(e, "lambda=0.003, first layer only", 2,
                      (const char *[]){"lambda", "first layer only"}, (double[]){3e-3, 1});
    rb_experiment_run(e, &small, &validation);

    /* The gap, configuration by configuration, and as a picture against lambda. */
    printf("\n%-34s %10s %12s %8s\n", "configuration", "training", "validation", "gap");
    double x[N], train_acc[N], val_acc[N];
    for (int i = 0; i < rb_experiment_count(e); i++) {
        const rb_epoch_record *last = rb_history_last(rb_experiment_history(e, i, 0));
        printf("%-34s %9.2f%% %11.2f%% %7.2f\n", rb_experiment_config_at(e, i)->name,
               100 * last->metric, 100 * last->val_metric, 100 * (last->metric - last->val_metric));
        if (i < N) {
            x[i] = lambdas[i] > 0 ? lambdas[i] : 1e-6; /* a log axis has no 0 */
            train_acc[i] = 100 * last->metric;
            val_acc[i] = 100 * last->val_metric;
        }
    }
    char base[1024];
    snprintf(base, sizeof base, "%s/accuracy_vs_lambda", rb_experiment_dir(e));
    rb_series s[2] = {{.label = "training", .n = N, .x = x, .y = train_acc, .dashed = true},
                      {.label = "validation", .n = N, .x = x, .y = val_acc}};
    rb_plot_lines(base,
                  (rb_plot){"Accuracy after 30 epochs against the L2 penalty",
                            "lambda (no penalty drawn at 1e-6)", "accuracy (%)", .logx = true},
                  2, s);
    printf("picture: %s.png\n", base);

    const rb_epoch_record *none = rb_history_last(rb_experiment_history(e, 0, 0));
    const rb_epoch_record *mid = rb_history_last(rb_experiment_history(e, 4, 0));
    const rb_epoch_record *big = rb_history_last(rb_experiment_history(e, 5, 0));
    printf("expected: lambda 3e-3 narrows the gap by half a point or more: %s (%.2f vs %.2f); "
           "lambda 1e-2 underfits (lower training accuracy): %s\n",
           (none->metric - none->val_metric) - (mid->metric - mid->val_metric) >= 0.005 ? "yes"
                                                                                        : "no",
           100 * (mid->metric - mid->val_metric), 100 * (none->metric - none->val_metric),
           big->metric < mid->metric ? "yes" : "no");

    rb_experiment_free(e);
    rb_dataset_free(&small);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    printf("\nlimits: %s\n", limits);
    return 0;
}
