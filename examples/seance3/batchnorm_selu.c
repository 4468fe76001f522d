/* Séance 3 - BatchNorm and SELU in a deep dense network: ReLU + BatchNorm (after or before the
 * activation) against SELU without BatchNorm (LeCun-normal weights, AlphaDropout where dropout
 * is used), at a moderate and at a large learning rate, and SELU's self-normalising claim
 * checked layer by layer, at initialisation and after training.
 *
 * The network and the data: 12 hidden Dense layers of 128 units on Fashion-MNIST, inputs
 * standardised (SELU's fixed point assumes inputs of mean 0 and variance 1). Twelve layers are
 * deep enough for the scale of the signal to drift if nothing holds it, and a dense network
 * lets the statistics be read unit by unit; 10,000 training images and 5 epochs of SGD with
 * momentum (which, unlike Adam, does not rescale each weight's step and so shows what the
 * normalisation does) keep a run to a few seconds. The two rates, 0.01 and 0.1, show what
 * BatchNorm is mostly used for: training at rates a network without it cannot take.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance3/batchnorm_selu/report.html.
 * --help lists the flags (--depth, --lrs, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "how do BatchNorm and SELU keep a deep network trainable, does it matter where BatchNorm\n"
    "goes, and does SELU really keep every layer's activations at mean 0 and variance 1?";
static const char expectation[] =
    " 1. At initialisation, SELU with LeCun-normal weights keeps every layer's output near mean\n"
    "    0 and variance 1 down to the last layer (|mean| < 0.1, variance within 0.8-1.2);\n"
    "    AlphaDropout keeps them there too, plain Dropout does not (it scales the kept units by\n"
    "    1 / (1 - rate), which raises the variance): at the last layer plain Dropout's variance\n"
    "    lies further from 1 than AlphaDropout's.\n"
    " 2. ReLU with He weights keeps the scale steady too (He's point), but its outputs have a\n"
    "    mean far from 0 (about 0.6 of their standard deviation).\n"
    " 3. After training the fixed point holds roughly: every SELU layer keeps |mean| < 0.3 and\n"
    "    a variance within 0.5-2.\n"
    " 4. BatchNorm tolerates a ten times larger rate: at lr 0.1, ReLU + BatchNorm is ahead of\n"
    "    plain ReLU, and no worse than itself at lr 0.01.\n"
    " 5. SELU without BatchNorm ties with ReLU + BatchNorm, each at its better rate.\n"
    " 6. BatchNorm before or after the activation: a tie (the literature is split).";
static const char limits[] =
    "one depth, one width, one data set, one optimizer (SGD with momentum 0.9) at two rates; 5\n"
    "epochs; 2 seeds per configuration unless --seeds says more; the dropout variants only at\n"
    "lr 0.01; statistics pooled over the 128 units and 1,000 training images, in training mode\n"
    "(batch statistics for BatchNorm, dropout on: what the training steps see), averaged over 5\n"
    "initialisations before training, of the first seed's network at lr 0.01 after; BatchNorm's\n"
    "moving averages use momentum 0.9 rather than Keras's 0.99, whose slow averages would make\n"
    "the first epochs' validation accuracy lag; the seconds depend on the machine's load;\n"
    "validation on 5,000 held-out training images, the test set used to report the runs once.";

enum { RELU, RELU_BN_AFTER, RELU_BN_BEFORE, SELU, SELU_ALPHA_DROPOUT, SELU_DROPOUT, N_VARIANTS };
static const char *const variant_names[N_VARIANTS] = {"ReLU, He",
                                                      "ReLU + BatchNorm after the activation",
                                                      "ReLU + BatchNorm before the activation",
                                                      "SELU, LeCun",
                                                      "SELU + AlphaDropout 0.1",
                                                      "SELU + plain Dropout 0.1"};

enum { MAX_DEPTH = 32, MAX_CONFIGS = 32, MAX_SEEDS = 16, INIT_DRAWS = 5 };
static int depth = 12;              /* --depth */
static double lrs[2] = {0.01, 0.1}; /* --lrs: the common rate, then the large one */

/* The first seed's network of each variant trained at the common rate, and the test accuracy
 * of every run. */
typedef struct kept {
    rb_model *model[N_VARIANTS];
    const rb_dataset *test;
    double test_acc[MAX_CONFIGS][MAX_SEEDS];
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
        if (ends) ends[i] = rb_model_num_layers(m) - 1;
    }
    rb_model_add(m, RB_DENSE(.units = 10, .kernel_init = init));
    return m;
}

static rb_history *train_one(const rb_run *run)
{
    int variant = (int)rb_config_get(run->config, "variant", RELU);
    double lr = rb_config_get(run->config, "lr", lrs[0]);
    kept *k = run->user_data;
    rb_model *m = deep_net(variant, run->seed, NULL);
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = lr, .momentum = 0.9});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    if (h && run->index < MAX_CONFIGS && run->repeat < MAX_SEEDS) {
        double loss;
        rb_evaluate(rb_trainable_of_model(m), k->test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                    RB_METRIC_ACCURACY, 0, &loss, &k->test_acc[run->index][run->repeat]);
    }
    rb_optimizer_free(opt);
    if (h && run->repeat == 0 && lr == lrs[0]) {
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

/* A table of mean / variance at layers 1, 2, 3, then every quarter of the depth. */
static void stats_table(rb_study *s, const char *when, double (*mean)[MAX_DEPTH],
                        double (*var)[MAX_DEPTH], const bool *have)
{
    int at[MAX_DEPTH], n = 0;
    for (int i = 0; i < depth; i++)
        if (i < 3 || (i + 1) % (depth / 4 > 0 ? depth / 4 : 1) == 0 || i == depth - 1) at[n++] = i;
    char title[200], columns[512] = "variant";
    for (int j = 0; j < n; j++) {
        size_t len = strlen(columns);
        snprintf(columns + len, sizeof columns - len, "|layer %d", at[j] + 1);
    }
    snprintf(title, sizeof title,
             "Mean / variance of each hidden layer's output %s (1,000 images, training mode)",
             when);
    rb_table *t = rb_study_table(s, title, columns);
    for (int v = 0; v < N_VARIANTS; v++) {
        if (!have[v]) continue;
        char row[1024];
        int len = snprintf(row, sizeof row, "%s", variant_names[v]);
        for (int j = 0; j < n && len < (int)sizeof row; j++)
            len += snprintf(row + len, sizeof row - (size_t)len, "|%.2f / %.2f", mean[v][at[j]],
                            var[v][at[j]]);
        rb_table_row(t, "%s", row);
    }
}

/* One picture of a statistic per layer: at initialisation and after training side by side
 * (shared axes, so that the drift reads directly). */
static void stats_plot(rb_study *s, const char *file, const char *what, double (*before)[MAX_DEPTH],
                       double (*after)[MAX_DEPTH], const bool *trained)
{
    static double x[MAX_DEPTH];
    rb_series series[2 * N_VARIANTS];
    int m = 0;
    for (int l = 0; l < depth; l++)
        x[l] = l + 1;
    for (int panel = 0; panel < 2; panel++)
        for (int v = 0; v < N_VARIANTS; v++) {
            if (panel && !trained[v]) continue;
            series[m++] = (rb_series){.label = variant_names[v],
                                      .n = depth,
                                      .x = x,
                                      .y = panel ? after[v] : before[v],
                                      .color = v + 1,
                                      .panel = panel};
        }
    char title[160];
    snprintf(title, sizeof title, "The %s of each hidden layer's output", what);
    rb_study_plot(s, file,
                  (rb_plot){.title = title,
                            .xlabel = "hidden layer",
                            .ylabel = what,
                            .panels = 2,
                            .columns = 2,
                            .panel_titles = (const char *const[]){"at initialisation (mean of 5)",
                                                                  "after training (lr 0.01)"}},
                  m, series);
}

/* The configuration of variant v at rate lr (-1 when not run). */
static int config_of(const rb_experiment *e, int v, double lr)
{
    for (int i = 0; i < rb_experiment_count(e); i++) {
        const rb_config *c = rb_experiment_config_at(e, i);
        if ((int)rb_config_get(c, "variant", -1) == v && rb_config_get(c, "lr", 0) == lr) return i;
    }
    return -1;
}

/* Validation accuracy after the first epoch, over the runs of configuration i. */
static rb_measure first_epoch(const rb_experiment *e, int i)
{
    double values[MAX_SEEDS];
    int n = 0;
    for (int r = 0; r < rb_experiment_runs(e, i) && n < MAX_SEEDS; r++)
        values[n++] = rb_experiment_history(e, i, r)->epochs[0].val_metric;
    return rb_measure_of(n, values, true);
}

static rb_measure score(const rb_experiment *e, int i)
{
    return rb_experiment_measure(e, i, RB_FINAL_SCORE);
}

/* Accuracy per variant and rate: after the first epoch, at the end, on the test set. */
static void accuracy_table(rb_study *s, const rb_experiment *e, const kept *k)
{
    char columns[256];
    snprintf(columns, sizeof columns,
             "variant|lr %g: after epoch 1|lr %g: at the end|lr %g: after epoch 1|lr %g: at the "
             "end|test (the better rate)|seconds per epoch (lr %g)",
             lrs[0], lrs[0], lrs[1], lrs[1], lrs[0]);
    rb_table *t = rb_study_table(s, "Validation accuracy at both rates, and time", columns);
    for (int v = 0; v < N_VARIANTS; v++) {
        char cells[4][64] = {"-", "-", "-", "-"}, test[64];
        int best = -1;
        for (int j = 0; j < 2; j++) {
            int i = config_of(e, v, lrs[j]);
            if (i < 0) continue;
            rb_measure_format(cells[2 * j], 64, first_epoch(e, i));
            rb_measure_format(cells[2 * j + 1], 64, score(e, i));
            if (best < 0 || rb_experiment_final(e, i) > rb_experiment_final(e, best)) best = i;
        }
        int n = rb_experiment_runs(e, best);
        rb_measure_format(test, sizeof test,
                          rb_measure_of(n < MAX_SEEDS ? n : MAX_SEEDS, k->test_acc[best], true));
        int i0 = config_of(e, v, lrs[0]);
        rb_table_row(t, "%s|%s|%s|%s|%s|%s|%.2f", variant_names[v], cells[0], cells[1], cells[2],
                     cells[3], test,
                     rb_experiment_measure(e, i0, RB_SECONDS).mean /
                         rb_experiment_history(e, i0, 0)->n);
    }
}

/* The better of a variant's two rates. */
static int better(const rb_experiment *e, int v)
{
    int a = config_of(e, v, lrs[0]), b = config_of(e, v, lrs[1]);
    return b >= 0 && rb_experiment_final(e, b) > rb_experiment_final(e, a) ? b : a;
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
    depth = rb_study_int(s, "depth", 12, "hidden layers (4 to 32)");
    int n_lrs = rb_study_list(s, "lrs", "0.01,0.1", lrs, 2,
                              "SGD rates (momentum 0.9): the common one, then the large one");
    int train_rows = rb_study_int(s, "train", 10000, "training images");
    rb_study_start(s);
    if (depth < 4 || depth > MAX_DEPTH) depth = 12;
    if (n_lrs < 2) lrs[1] = 10 * lrs[0];
    bool quick = rb_study_quick(s);

    rb_dataset all, test, train, validation, batch;
    rb_fashion_mnist_load(NULL, &all, &test);
    rb_study_shrink(s, &all, 1500); /* --quick: 1,000 to train, 500 to validate */
    rb_study_shrink(s, &test, 500);
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

    rb_model *m = deep_net(SELU, 1, NULL);
    char label[96];
    snprintf(label, sizeof label, "SELU, %d hidden layers of 128", depth);
    rb_study_model(s, label, m, "784 * 128 + 128 + (depth - 1) * (128 * 128 + 128) + 128 * 10 + 10",
                   784 * 128 + 128 + (int64_t)(depth - 1) * (128 * 128 + 128) + 128 * 10 + 10);
    rb_model_free(m);
    m = deep_net(RELU_BN_BEFORE, 1, NULL);
    snprintf(label, sizeof label, "ReLU + BatchNorm before the activation, %d layers", depth);
    rb_study_model(s, label, m,
                   "784 * 128 + (depth - 1) * 128 * 128 + depth * 4 * 128 + 128 * 10 + 10 "
                   "(no Dense bias; BatchNorm: gamma, beta and the two moving statistics)",
                   784 * 128 + (int64_t)(depth - 1) * 128 * 128 + depth * 4 * 128 + 128 * 10 + 10);
    rb_model_free(m);

    static kept k;
    k.test = &test;
    for (int i = 0; i < MAX_CONFIGS; i++)
        for (int r = 0; r < MAX_SEEDS; r++)
            k.test_acc[i][r] = NAN;
    rb_experiment *e = rb_study_experiment(
        s, (rb_experiment_config){.name = "variants", .seeds = quick ? 1 : 0}, train_one, &k);
    for (int j = 0; j < 2; j++)
        for (int v = 0; v < N_VARIANTS; v++) {
            if (j == 1 && v > SELU) continue; /* dropout at the common rate only */
            char name[96];
            snprintf(name, sizeof name, "%s, lr %g", variant_names[v], lrs[j]);
            rb_experiment_add(e, name, 2, (const char *[]){"variant", "lr"}, (double[]){v, lrs[j]});
        }

    /* Before training: the statistics layer by layer. One draw of 12 random matrices of width
     * 128 can drift by a factor of 2 on its own: the average over INIT_DRAWS initialisations
     * shows what the law does. */
    static double mean0[N_VARIANTS][MAX_DEPTH], var0[N_VARIANTS][MAX_DEPTH];
    static double mean1[N_VARIANTS][MAX_DEPTH], var1[N_VARIANTS][MAX_DEPTH];
    bool all_variants[N_VARIANTS], trained[N_VARIANTS];
    int draws = quick ? 1 : INIT_DRAWS;
    for (int v = 0; v < N_VARIANTS; v++) {
        for (int d = 0; d < draws; d++) {
            int at[MAX_DEPTH];
            double mean[MAX_DEPTH], var[MAX_DEPTH];
            rb_model *fresh = deep_net(v, 1 + (uint64_t)d, at);
            layer_stats(fresh, at, batch.x, mean, var);
            rb_model_free(fresh);
            for (int l = 0; l < depth; l++)
                mean0[v][l] += mean[l] / draws, var0[v][l] += var[l] / draws;
        }
        all_variants[v] = true;
    }
    rb_study_section(s, "Before training");
    stats_table(s, "at initialisation (mean over 5 initialisations)", mean0, var0, all_variants);
    int last = depth - 1;
    bool steady = true;
    for (int l = 0; l < depth; l++)
        steady = steady && fabs(mean0[SELU][l]) < 0.1 && var0[SELU][l] > 0.8 && var0[SELU][l] < 1.2;
    rb_study_check(s, "at initialisation SELU keeps every layer near mean 0 and variance 1", steady,
                   "layer 1: %.3f / %.3f, layer %d: %.3f / %.3f (mean / variance)", mean0[SELU][0],
                   var0[SELU][0], depth, mean0[SELU][last], var0[SELU][last]);
    double off_alpha = fabs(var0[SELU_ALPHA_DROPOUT][last] - 1);
    double off_plain = fabs(var0[SELU_DROPOUT][last] - 1);
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
    accuracy_table(s, e, &k);
    int relu_big = config_of(e, RELU, lrs[1]), bn_big = config_of(e, RELU_BN_AFTER, lrs[1]);
    int bn_small = config_of(e, RELU_BN_AFTER, lrs[0]);
    char a[96], b[96];
    snprintf(a, sizeof a, "BatchNorm after the activation at lr %g", lrs[1]);
    snprintf(b, sizeof b, "plain ReLU at lr %g", lrs[1]);
    rb_study_expect(s, "at the large rate, ReLU + BatchNorm is ahead of plain ReLU", a,
                    score(e, bn_big), RB_HIGHER, b, score(e, relu_big));
    rb_comparison c = rb_measure_compare(score(e, bn_big), score(e, bn_small), 0.003);
    rb_study_check(s, "ReLU + BatchNorm at the large rate is no worse than at the common one",
                   c.order != RB_LOWER,
                   "%.2f%% at lr %g, %.2f%% at lr %g (a difference of %.1f "
                   "times the noise)",
                   100 * score(e, bn_big).mean, lrs[1], 100 * score(e, bn_small).mean, lrs[0],
                   c.effect);
    int selu = better(e, SELU), bn = better(e, RELU_BN_AFTER), before = better(e, RELU_BN_BEFORE);
    rb_study_expect(s, "SELU ties with ReLU + BatchNorm, each at its better rate",
                    rb_experiment_config_at(e, selu)->name, score(e, selu), RB_TIE,
                    rb_experiment_config_at(e, bn)->name, score(e, bn));
    rb_study_expect(s, "BatchNorm before or after the activation: a tie",
                    rb_experiment_config_at(e, before)->name, score(e, before), RB_TIE,
                    rb_experiment_config_at(e, bn)->name, score(e, bn));

    /* After training: the same statistics on the networks trained at the common rate. */
    rb_study_section(s, "After training");
    for (int v = 0; v < N_VARIANTS; v++) {
        trained[v] = k.model[v] != NULL;
        if (!trained[v]) continue;
        int at[MAX_DEPTH];
        rb_model_free(deep_net(v, 1, at)); /* the layer indices only */
        layer_stats(k.model[v], at, batch.x, mean1[v], var1[v]);
    }
    stats_table(s, "after training (the first seed's network, lr 0.01)", mean1, var1, trained);
    stats_plot(s, "variance_per_layer", "variance", var0, var1, trained);
    stats_plot(s, "mean_per_layer", "mean", mean0, mean1, trained);
    if (trained[SELU]) {
        int worst = 0;
        for (int l = 1; l < depth; l++)
            if (fabs(log(var1[SELU][l])) > fabs(log(var1[SELU][worst]))) worst = l;
        bool near = true;
        for (int l = 0; l < depth; l++)
            near = near && fabs(mean1[SELU][l]) < 0.3 && var1[SELU][l] > 0.5 && var1[SELU][l] < 2;
        rb_study_check(s, "after training every SELU layer stays near the fixed point", near,
                       "the variance furthest from 1 is %.2f at layer %d (mean %.2f); layer %d: "
                       "%.2f / %.2f",
                       var1[SELU][worst], worst + 1, mean1[SELU][worst], depth, mean1[SELU][last],
                       var1[SELU][last]);
    }

    for (int v = 0; v < N_VARIANTS; v++)
        rb_model_free(k.model[v]);
    rb_dataset_free(&batch);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
