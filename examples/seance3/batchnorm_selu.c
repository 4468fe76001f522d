/* Séance 3 - BatchNorm and SELU in a deep dense network: ReLU + BatchNorm (after or before the
 * activation) against SELU without BatchNorm (LeCun-normal weights, AlphaDropout where dropout
 * is used), and SELU's self-normalising claim checked layer by layer, at initialisation and
 * after training.
 *
 * The network and the data: 12 hidden Dense layers of 128 units on Fashion-MNIST, inputs
 * standardised (SELU's fixed point assumes inputs of mean 0 and variance 1). Twelve layers are
 * deep enough for the scale of the signal to drift if nothing holds it, and a dense network
 * lets the statistics be read unit by unit; 10,000 training images and 5 epochs of SGD with
 * momentum (which, unlike Adam, does not rescale each weight's step and so shows what the
 * normalisation does) keep a run to a few seconds.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance3/batchnorm_selu/report.html.
 * --help lists the flags (--depth, --lr, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "how do BatchNorm and SELU keep a deep network trainable, does it matter where BatchNorm\n"
    "goes, and does SELU really keep every layer's activations at mean 0 and variance 1?";
static const char expectation[] =
    " 1. At initialisation, SELU with LeCun-normal weights keeps every layer's output near mean 0\n"
    "    and variance 1 down to the last layer (|mean| < 0.1, variance within 0.8-1.2);\n"
    "    AlphaDropout keeps them there too, plain Dropout does not (it scales the kept units by\n"
    "    1 / (1 - rate), which raises the variance): at the last layer plain Dropout's variance\n"
    "    lies further from 1 than AlphaDropout's.\n"
    " 2. ReLU with He weights keeps the scale steady too (He's point), but its outputs have a\n"
    "    mean far from 0 (about 0.6 of their standard deviation).\n"
    " 3. After training the fixed point still holds roughly: SELU's last layer keeps |mean|\n"
    "    < 0.3 and a variance within 0.5-2.\n"
    " 4. BatchNorm trains faster: after the first epoch, ReLU + BatchNorm is ahead of plain ReLU\n"
    "    on validation accuracy.\n"
    " 5. SELU without BatchNorm ties with ReLU + BatchNorm after the 5 epochs.\n"
    " 6. BatchNorm before or after the activation: a tie (the literature is split).\n"
    " 7. BatchNorm costs time: its epochs are slower than SELU's.";
static const char limits[] =
    "one depth, one width, one data set, one optimizer and rate for every variant (SGD with\n"
    "momentum 0.9, lr 0.01: BatchNorm would allow larger rates, which this comparison does not\n"
    "try); 5 epochs; 2 seeds per variant unless --seeds says more; statistics pooled over the 128\n"
    "units and 1,000 training images, in training mode (batch statistics for BatchNorm, dropout\n"
    "on: what the training steps see), for the first seed's network; BatchNorm's moving averages\n"
    "use momentum 0.9 rather than Keras's 0.99, whose slow averages would make the first epochs'\n"
    "validation accuracy lag; validation on 5,000 held-out training images, the test set used to\n"
    "report the variants once.";

enum { RELU, RELU_BN_AFTER, RELU_BN_BEFORE, SELU, SELU_ALPHA_DROPOUT, SELU_DROPOUT, N_VARIANTS };
static const char *const variant_names[N_VARIANTS] = {"ReLU, He",
                                                      "ReLU + BatchNorm after the activation",
                                                      "ReLU + BatchNorm before the activation",
                                                      "SELU, LeCun",
                                                      "SELU + AlphaDropout 0.1",
                                                      "SELU + plain Dropout 0.1"};

enum { MAX_DEPTH = 32, MAX_SEEDS = 16 };
static int depth = 12;              /* --depth */
static double learning_rate = 0.01; /* --lr */

/* The trained networks (the first seed's) and the test accuracy of every run. */
typedef struct kept {
    rb_model *model[N_VARIANTS];
    int ends[N_VARIANTS][MAX_DEPTH];
    const rb_dataset *test;
    double test_acc[N_VARIANTS][MAX_SEEDS];
} kept;

/* `depth` hidden blocks of 128 units, then 10 logits; ends[i] receives the index of the layer
 * that ends hidden block i (where its output is measured). */
static rb_model *deep_net(int variant, uint64_t seed, int *ends)
{
    rb_model *m = rb_model_new(RB_F32, "deep", RB_SHAPE(784));
    rb_model_seed(m, seed);
    bool selu = variant >= SELU;
    rb_init_spec init = {.kind = selu ? RB_INIT_LECUN_NORMAL : RB_INIT_HE_NORMAL};
    rb_layer_spec bn = {.kind = RB_LAYER_BATCH_NORM, .momentum = 0.9};
    for (int i = 0; i < depth; i++) {
        if (variant == RELU_BN_BEFORE) { /* BatchNorm's beta replaces the bias */
            rb_model_add(m, RB_DENSE(.units = 128, .no_bias = true, .kernel_init = init));
            rb_model_add(m, bn);
            rb_model_add(m, RB_ACTIVATION(.activation = RB_ACT_RELU));
        } else {
            rb_model_add(m, RB_DENSE(.units = 128, .kernel_init = init,
                                     .activation = selu ? RB_ACT_SELU : RB_ACT_RELU));
            if (variant == RELU_BN_AFTER) rb_model_add(m, bn);
            if (variant == SELU_ALPHA_DROPOUT) rb_model_add(m, RB_ALPHA_DROPOUT(.rate = 0.1));
            if (variant == SELU_DROPOUT) rb_model_add(m, RB_DROPOUT(.rate = 0.1));
        }
        ends[i] = rb_model_num_layers(m) - 1;
    }
    rb_model_add(m, RB_DENSE(.units = 10, .kernel_init = init));
    return m;
}

static rb_history *train_one(const rb_run *run)
{
    int variant = (int)rb_config_get(run->config, "variant", RELU);
    kept *k = run->user_data;
    int ends[MAX_DEPTH];
    rb_model *m = deep_net(variant, run->seed, ends);
    rb_optimizer *opt =
        rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = learning_rate, .momentum = 0.9});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    if (h && run->repeat < MAX_SEEDS) {
        double loss;
        rb_evaluate(rb_trainable_of_model(m), k->test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                    RB_METRIC_ACCURACY, 0, &loss, &k->test_acc[variant][run->repeat]);
    }
    rb_optimizer_free(opt);
    if (h && run->repeat == 0) {
        rb_model_free(k->model[variant]);
        k->model[variant] = m;
    } else
        rb_model_free(m);
    return h;
}

/* Mean and variance of each hidden block's output on a batch, in training mode. */
static void layer_stats(rb_model *m, const int *ends, rb_tensor *batch, double *mean, double *var)
{
    rb_model_set_training(m, true);
    rb_scope *scope = rb_scope_begin();
    rb_tensor *h = batch;
    for (int i = 0, block = 0; block < depth; i++) {
        h = rb_layer_forward(rb_model_layer_at(m, i), h);
        if (i != ends[block]) continue;
        mean[block] = rb_tensor_item(rb_mean(h, RB_ALL_AXES, false));
        var[block++] = rb_tensor_item(rb_var(h, RB_ALL_AXES, false, 0));
    }
    rb_scope_end(scope);
    rb_model_set_training(m, false);
}

/* The layers shown in the tables: 1, 2, 3, then every quarter of the depth. */
static int shown_layers(int *at)
{
    int n = 0;
    for (int i = 0; i < depth; i++)
        if (i < 3 || (i + 1) % (depth / 4 > 0 ? depth / 4 : 1) == 0 || i == depth - 1) at[n++] = i;
    return n;
}

/* One table (mean / variance per layer) and one picture (two panels: means and variances) of
 * the statistics of every variant at one moment. */
static void report_stats(rb_study *s, const char *when, const char *file, double (*mean)[MAX_DEPTH],
                         double (*var)[MAX_DEPTH], const bool *have)
{
    int at[MAX_DEPTH], n = shown_layers(at);
    char title[160], columns[512] = "variant";
    for (int j = 0; j < n; j++) {
        size_t len = strlen(columns);
        snprintf(columns + len, sizeof columns - len, "|layer %d", at[j] + 1);
    }
    snprintf(title, sizeof title,
             "Mean and variance of each hidden layer's output %s (1,000 images, training mode)",
             when);
    rb_table *t = rb_study_table(s, title, columns);
    static double x[MAX_DEPTH];
    rb_series series[2 * N_VARIANTS];
    int m = 0;
    for (int l = 0; l < depth; l++)
        x[l] = l + 1;
    for (int v = 0; v < N_VARIANTS; v++) {
        if (!have[v]) continue;
        char row[1024];
        int len = snprintf(row, sizeof row, "%s", variant_names[v]);
        for (int j = 0; j < n && len < (int)sizeof row; j++)
            len += snprintf(row + len, sizeof row - (size_t)len, "|%.2f / %.2f", mean[v][at[j]],
                            var[v][at[j]]);
        rb_table_row(t, "%s", row);
        for (int panel = 0; panel < 2; panel++)
            series[m++] = (rb_series){.label = variant_names[v],
                                      .n = depth,
                                      .x = x,
                                      .y = panel ? var[v] : mean[v],
                                      .color = v + 1,
                                      .panel = panel};
    }
    snprintf(title, sizeof title, "Each hidden layer's output %s", when);
    rb_study_plot(s, file,
                  (rb_plot){.title = title,
                            .xlabel = "hidden layer",
                            .ylabel = "mean (left), variance (right)",
                            .logy = false,
                            .panels = 2,
                            .columns = 2,
                            .panel_titles = (const char *const[]){"mean", "variance"}},
                  m, series);
}

static rb_measure test_of(const kept *k, const rb_experiment *e, int v)
{
    int n = rb_experiment_runs(e, v);
    return rb_measure_of(n < MAX_SEEDS ? n : MAX_SEEDS, k->test_acc[v], true);
}

/* Validation accuracy after the first epoch, over the runs of variant v. */
static rb_measure first_epoch(const rb_experiment *e, int v)
{
    double values[MAX_SEEDS];
    int n = 0;
    for (int r = 0; r < rb_experiment_runs(e, v) && n < MAX_SEEDS; r++)
        values[n++] = rb_experiment_history(e, v, r)->epochs[0].val_metric;
    return rb_measure_of(n, values, true);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance3",
                                               .name = "batchnorm_selu",
                                               .title = "BatchNorm and SELU in a deep network",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 5,
                                               .seeds = 2,
                                               .noise = 0.003});
    depth = rb_study_int(s, "depth", 12, "hidden layers (at most 32)");
    learning_rate = rb_study_double(s, "lr", 0.01, "SGD learning rate (momentum 0.9)");
    int train_rows = rb_study_int(s, "train", 10000, "training images");
    rb_study_start(s);
    if (depth < 4 || depth > MAX_DEPTH) depth = 12;
    bool quick = rb_study_quick(s);

    rb_dataset all, test, train, validation, batch;
    rb_fashion_mnist_load(NULL, &all, &test);
    rb_study_shrink(s, &all, 3000); /* --quick: 2,000 to train, 1,000 to validate */
    rb_study_shrink(s, &test, 1000);
    standardize_images(&all, &test);
    rb_split(&all, (rb_split_config){.validation = quick ? 1.0 / 3 : 5000.0 / 60000, .seed = 1},
             &train, &validation, NULL);
    if (train_rows > 0 && train_rows < rb_dataset_rows(&train)) {
        rb_dataset head;
        rb_dataset_head(&train, train_rows, &head);
        rb_dataset_free(&train);
        train = head;
    }
    rb_dataset_head(&train, 1000, &batch);

    int ends[MAX_DEPTH];
    rb_model *m = deep_net(SELU, 1, ends);
    char label[64];
    snprintf(label, sizeof label, "SELU, %d hidden layers of 128", depth);
    rb_study_model(s, label, m, "784 * 128 + 128 + (depth - 1) * (128 * 128 + 128) + 128 * 10 + 10",
                   784 * 128 + 128 + (int64_t)(depth - 1) * (128 * 128 + 128) + 128 * 10 + 10);
    rb_model_free(m);
    m = deep_net(RELU_BN_BEFORE, 1, ends);
    snprintf(label, sizeof label, "ReLU + BatchNorm before the activation, %d layers", depth);
    rb_study_model(s, label, m,
                   "784 * 128 + (depth - 1) * 128 * 128 + depth * 4 * 128 + 128 * 10 + 10 "
                   "(no Dense bias; BatchNorm: gamma, beta and the two moving statistics)",
                   784 * 128 + (int64_t)(depth - 1) * 128 * 128 + depth * 4 * 128 + 128 * 10 + 10);
    rb_model_free(m);

    static kept k;
    k.test = &test;
    for (int v = 0; v < N_VARIANTS; v++)
        for (int r = 0; r < MAX_SEEDS; r++)
            k.test_acc[v][r] = NAN;
    rb_experiment *e = rb_study_experiment(
        s, (rb_experiment_config){.name = "variants", .seeds = quick ? 1 : 0}, train_one, &k);
    for (int v = 0; v < N_VARIANTS; v++)
        rb_experiment_add(e, variant_names[v], 1, (const char *[]){"variant"}, (double[]){v});

    /* Before training: the statistics layer by layer. */
    static double mean0[N_VARIANTS][MAX_DEPTH], var0[N_VARIANTS][MAX_DEPTH];
    static double mean1[N_VARIANTS][MAX_DEPTH], var1[N_VARIANTS][MAX_DEPTH];
    bool all_variants[N_VARIANTS], trained[N_VARIANTS];
    for (int v = 0; v < N_VARIANTS; v++) {
        int at[MAX_DEPTH];
        rb_model *fresh = deep_net(v, 1, at);
        layer_stats(fresh, at, batch.x, mean0[v], var0[v]);
        rb_model_free(fresh);
        all_variants[v] = true;
    }
    rb_study_section(s, "Before training");
    report_stats(s, "at initialisation", "stats_at_init", mean0, var0, all_variants);
    int last = depth - 1;
    bool steady = true;
    for (int l = 0; l < depth; l++)
        steady = steady && fabs(mean0[SELU][l]) < 0.1 && var0[SELU][l] > 0.8 && var0[SELU][l] < 1.2;
    rb_study_check(s, "at initialisation SELU keeps every layer near mean 0 and variance 1", steady,
                   "layer 1: %.3f / %.3f, layer %d: %.3f / %.3f (mean / variance)", mean0[SELU][0],
                   var0[SELU][0], depth, mean0[SELU][last], var0[SELU][last]);
    double off_alpha = fabs(var0[SELU_ALPHA_DROPOUT][last] - 1),
           off_plain = fabs(var0[SELU_DROPOUT][last] - 1);
    rb_study_check(s, "AlphaDropout keeps SELU's variance, plain Dropout moves it",
                   off_plain > off_alpha && off_alpha < 0.2,
                   "variance at layer %d: %.3f with AlphaDropout, %.3f with plain Dropout", depth,
                   var0[SELU_ALPHA_DROPOUT][last], var0[SELU_DROPOUT][last]);
    double ratio = mean0[RELU][last] / sqrt(var0[RELU][last]);
    rb_study_check(s, "ReLU with He weights keeps its scale but not a zero mean",
                   var0[RELU][last] > 0.5 * var0[RELU][0] && var0[RELU][last] < 2 * var0[RELU][0] &&
                       ratio > 0.4,
                   "variance %.3f at layer 1, %.3f at layer %d; mean %.2f standard deviations",
                   var0[RELU][0], var0[RELU][last], depth, ratio);

    rb_study_section(s, "Training");
    rb_experiment_run(e, &train, &validation);
    rb_table *t = rb_study_table(s, "Accuracy after the first epoch and at the end, and time",
                                 "variant|validation after epoch 1|validation at the end|test|"
                                 "seconds per epoch");
    for (int v = 0; v < N_VARIANTS; v++) {
        char a[64], b[64], c[64];
        rb_measure_format(a, sizeof a, first_epoch(e, v));
        rb_measure_format(b, sizeof b, rb_experiment_measure(e, v, RB_FINAL_SCORE));
        rb_measure_format(c, sizeof c, test_of(&k, e, v));
        rb_measure sec = rb_experiment_measure(e, v, RB_SECONDS);
        rb_table_row(t, "%s|%s|%s|%s|%.2f", variant_names[v], a, b, c,
                     sec.mean / rb_experiment_history(e, v, 0)->n);
    }
    rb_study_expect(s, "after the first epoch, ReLU + BatchNorm is ahead of plain ReLU",
                    "BatchNorm after the activation", first_epoch(e, RELU_BN_AFTER), RB_HIGHER,
                    "plain ReLU", first_epoch(e, RELU));
    rb_study_expect(s, "SELU ties with ReLU + BatchNorm", "SELU",
                    rb_experiment_measure(e, SELU, RB_FINAL_SCORE), RB_TIE,
                    "BatchNorm after the activation",
                    rb_experiment_measure(e, RELU_BN_AFTER, RB_FINAL_SCORE));
    rb_study_expect(s, "BatchNorm before or after the activation: a tie", "before",
                    rb_experiment_measure(e, RELU_BN_BEFORE, RB_FINAL_SCORE), RB_TIE, "after",
                    rb_experiment_measure(e, RELU_BN_AFTER, RB_FINAL_SCORE));
    rb_study_expect(s, "BatchNorm's epochs are slower than SELU's", "seconds, BatchNorm after",
                    rb_experiment_measure(e, RELU_BN_AFTER, RB_SECONDS), RB_HIGHER, "SELU",
                    rb_experiment_measure(e, SELU, RB_SECONDS));

    /* After training: the same statistics on the trained networks. */
    rb_study_section(s, "After training");
    for (int v = 0; v < N_VARIANTS; v++) {
        trained[v] = k.model[v] != NULL;
        if (!trained[v]) continue;
        int at[MAX_DEPTH];
        rb_model_free(deep_net(v, 1, at)); /* the layer indices only */
        layer_stats(k.model[v], at, batch.x, mean1[v], var1[v]);
    }
    report_stats(s, "after training", "stats_after_training", mean1, var1, trained);
    if (trained[SELU])
        rb_study_check(s, "after training SELU's last layer stays near the fixed point",
                       fabs(mean1[SELU][last]) < 0.3 && var1[SELU][last] > 0.5 &&
                           var1[SELU][last] < 2,
                       "layer %d: mean %.3f, variance %.3f (at initialisation %.3f, %.3f)", depth,
                       mean1[SELU][last], var1[SELU][last], mean0[SELU][last], var0[SELU][last]);

    for (int v = 0; v < N_VARIANTS; v++)
        rb_model_free(k.model[v]);
    rb_dataset_free(&batch);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
