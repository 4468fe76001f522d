/* Lecture notes - convolutions for time series: the cylinder-bell-funnel task (Saito 1994,
 * generated from a seed by rb_cylinder_bell_funnel): 128-step series holding a plateau, a ramp
 * up or a ramp down that starts anywhere between steps 16 and 32 and lasts 32 to 96 steps,
 * under unit noise. A convolutional network (Conv1D of 8 filters of 15 steps with ReLU,
 * MaxPool1D over the whole series: each filter reports its strongest match wherever it lies,
 * then Dense 16 ReLU and 3 classes; 323 weights) against a dense network on the raw series
 * (128 -> 64 ReLU -> 3; 8,451 weights), trained on 30, 100 and 300 series.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/notes/time_series/report.html.
 * --help lists the flags (--sizes, --filters, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "does a convolution, which looks for the same short pattern at every step, classify\n"
    "series whose classes differ in shape better than a dense network on the raw values?";
static const char expectation[] =
    " 1. The classes differ in the shape of their edges (a cylinder rises and falls abruptly, a\n"
    "    bell rises slowly and falls abruptly, a funnel the reverse) wherever the event lies. A\n"
    "    filter detects an edge at any position with the same 15 weights and the pooling keeps\n"
    "    its best match anywhere, so the convolutional network needs few examples: above 95%\n"
    "    test accuracy from 100 training series, with 26 times fewer weights.\n"
    " 2. The dense network must learn each position separately: it trails the convolutional\n"
    "    network at every training size, by the most with the fewest series (30).\n"
    " 3. Starting near zero, the filters become edge detectors: one correlates with an upward\n"
    "    step above 0.7, another with a downward step (below -0.7); no initial filter does.";
static const char limits[] =
    "a generated task (seeded; training, validation and test series drawn with different\n"
    "seeds), one architecture of each kind, 40 epochs of Adam (lr 0.01, batch 16) with no\n"
    "tuning, 3 seeds unless --seeds says more; the filters start small (normal, std 0.05) so\n"
    "that their shapes are learned rather than inherited from the initialisation;\n"
    "validation (300 series) is watched, never used to choose; test on 1,000 series; the\n"
    "filters shown are those of the first seed's network trained on the most series.";

enum { LENGTH = 128, KERNEL = 15, MAX_CONFIGS = 16, MAX_SEEDS = 16 };
static int filters = 8; /* --filters */

typedef struct extras {
    const rb_dataset *test;
    double test_acc[MAX_CONFIGS][MAX_SEEDS];
    rb_model *kept; /* the convolutional network shown: most series, first seed */
    int kept_config;
} extras;

static rb_model *conv_net(uint64_t seed)
{
    rb_model *m = rb_model_new(RB_F32, "conv", RB_SHAPE(LENGTH, 1));
    rb_model_seed(m, seed);
    rb_model_add(m, RB_CONV1D(.units = filters, .kernel = {KERNEL}, .activation = RB_ACT_RELU,
                              .kernel_init = {.kind = RB_INIT_RANDOM_NORMAL}));
    rb_model_add(m, RB_MAX_POOL1D(.kernel = {LENGTH - KERNEL + 1})); /* the whole series */
    rb_model_add(m, RB_FLATTEN);
    rb_model_add(m, RB_DENSE(.units = 16, .activation = RB_ACT_RELU,
                             .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
    rb_model_add(m, RB_DENSE(.units = 3));
    return m;
}

static rb_model *dense_net(uint64_t seed)
{
    rb_model *m = rb_model_new(RB_F32, "dense", RB_SHAPE(LENGTH, 1));
    rb_model_seed(m, seed);
    rb_model_add(m, RB_FLATTEN);
    rb_model_add(m, RB_DENSE(.units = 64, .activation = RB_ACT_RELU,
                             .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
    rb_model_add(m, RB_DENSE(.units = 3));
    return m;
}

static rb_history *train_one(const rb_run *run)
{
    extras *x = run->user_data;
    bool conv = rb_config_get(run->config, "conv", 0) != 0;
    rb_dataset part;
    rb_dataset_head(run->train, (int64_t)rb_config_get(run->config, "series", 300), &part);
    rb_model *m = conv ? conv_net(run->seed) : dense_net(run->seed);
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 0.01});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &part,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 16,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    double loss;
    int c = run->index < MAX_CONFIGS ? run->index : MAX_CONFIGS - 1;
    rb_evaluate(rb_trainable_of_model(m), x->test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                RB_METRIC_ACCURACY, 0, &loss, &x->test_acc[c][run->repeat % MAX_SEEDS]);
    if (conv && run->repeat == 0 && run->index == x->kept_config) {
        rb_model_free(x->kept);
        x->kept = m;
    } else {
        rb_model_free(m);
    }
    rb_optimizer_free(opt);
    rb_dataset_free(&part);
    return h;
}

static rb_measure test_of(const rb_experiment *e, const extras *x, int c)
{
    int n = rb_experiment_runs(e, c) < MAX_SEEDS ? rb_experiment_runs(e, c) : MAX_SEEDS;
    return rb_measure_of(n, x->test_acc[c], true);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "notes",
                                               .name = "time_series",
                                               .title = "Convolutions for time series",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 40,
                                               .quick_epochs = 10,
                                               .seeds = 3});
    double sizes[4];
    int n_sizes = rb_study_list(s, "sizes", "30,100,300", sizes, 4, "training series");
    filters = rb_study_int(s, "filters", 8, "filters of the convolution");
    rb_study_start(s);
    bool quick = rb_study_quick(s);
    double largest = 0;
    for (int i = 0; i < n_sizes; i++)
        largest = fmax(largest, sizes[i]);
    rb_dataset train, validation, test;
    rb_cylinder_bell_funnel((int64_t)largest, LENGTH, 1, &train);
    rb_cylinder_bell_funnel(quick ? 150 : 300, LENGTH, 2, &validation);
    rb_cylinder_bell_funnel(quick ? 300 : 1000, LENGTH, 3, &test);

    /* A look at the data: two series of each class. */
    static double steps[LENGTH], values[6][LENGTH];
    rb_series examples[6];
    const float *xs = rb_tensor_f32(train.x);
    for (int t = 0; t < LENGTH; t++)
        steps[t] = t;
    for (int k = 0; k < 6; k++) {
        for (int t = 0; t < LENGTH; t++)
            values[k][t] = xs[k * LENGTH + t]; /* rows 0-2 and 3-5: one of each class */
        examples[k] = (rb_series){.label = train.meta->class_names[k % 3],
                                  .n = LENGTH,
                                  .x = steps,
                                  .y = values[k],
                                  .color = k % 3 + 1,
                                  .panel = k % 3};
    }
    rb_study_plot(s, "examples",
                  (rb_plot){.title = "Two training series of each class",
                            .xlabel = "step",
                            .ylabel = "value",
                            .panels = 3,
                            .panel_titles = (const char *const *)train.meta->class_names},
                  6, examples);

    rb_model *m = conv_net(1);
    rb_study_model(s, "convolutional network", m,
                   RB_BY_HAND((KERNEL * 1 * filters + filters) + (filters * 16 + 16) + 16 * 3 + 3));
    rb_model_free(m);
    m = dense_net(1);
    rb_study_model(s, "dense network", m, RB_BY_HAND(LENGTH * 64 + 64 + 64 * 3 + 3));
    rb_model_free(m);

    static extras x;
    x.test = &test;
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "networks"}, train_one, &x);
    const char *keys[2] = {"conv", "series"};
    int conv_of[4] = {0}, dense_of[4] = {0};
    for (int i = 0; i < n_sizes; i++) {
        char name[64];
        snprintf(name, sizeof name, "dense, %g series", sizes[i]);
        dense_of[i] = rb_experiment_add(e, name, 2, keys, (double[]){0, sizes[i]});
        snprintf(name, sizeof name, "conv, %g series", sizes[i]);
        conv_of[i] = rb_experiment_add(e, name, 2, keys, (double[]){1, sizes[i]});
        if (sizes[i] == largest) x.kept_config = conv_of[i];
    }
    rb_experiment_run(e, &train, &validation);

    rb_table *t = rb_study_table(s, "Test accuracy (1,000 series; mean ± sd over seeds)",
                                 "training series|dense network|convolutional network");
    int fewest = 0;
    for (int i = 0; i < n_sizes; i++) {
        char d[64], c[64];
        rb_measure_format(d, sizeof d, test_of(e, &x, dense_of[i]));
        rb_measure_format(c, sizeof c, test_of(e, &x, conv_of[i]));
        rb_table_row(t, "%g|%s|%s", sizes[i], d, c);
        if (sizes[i] < sizes[fewest]) fewest = i;
    }
    for (int i = 0; i < n_sizes; i++)
        if (sizes[i] >= 100) {
            char claim[96];
            snprintf(claim, sizeof claim, "the convolutional network above 95%% with %g series",
                     sizes[i]);
            rb_study_expect(s, claim, "conv", test_of(e, &x, conv_of[i]), RB_HIGHER, "95%",
                            rb_measure_value(0.95, true));
        }
    for (int i = 0; i < n_sizes; i++) {
        char claim[96];
        snprintf(claim, sizeof claim, "the dense network trails it with %g series", sizes[i]);
        rb_study_expect(s, claim, "dense", test_of(e, &x, dense_of[i]), RB_LOWER, "conv",
                        test_of(e, &x, conv_of[i]));
    }
    double gap[4] = {0, 0, 0, 0};
    int widest = 0;
    for (int i = 0; i < n_sizes; i++) {
        gap[i] = test_of(e, &x, conv_of[i]).mean - test_of(e, &x, dense_of[i]).mean;
        if (gap[i] > gap[widest]) widest = i;
    }
    rb_study_check(s, "the gap is widest with the fewest series", widest == fewest,
                   "widest with %g series (%.1f points)", sizes[widest], 100 * gap[widest]);

    /* The filters before (the first seed's initial weights) and after training, and how much
     * each looks like an edge: its correlation with an upward step. */
    rb_model *initial = conv_net(rb_study_seed(s));
    const rb_tensor *kernels[2] = {rb_layer_kernel(rb_model_layer_at(initial, 0)),
                                   rb_layer_kernel(rb_model_layer_at(x.kept, 0))}; /* (K,1,F) */
    static double taps[KERNEL], weights[2][64][KERNEL];
    rb_series shown[128];
    char names[64][48];
    const char *titles[64];
    int n_filters = filters < 64 ? filters : 64;
    double up[2] = {-1, -1}, down[2] = {1, 1}; /* the most step-like filters, before and after */
    for (int k = 0; k < KERNEL; k++)
        taps[k] = k - KERNEL / 2;
    for (int f = 0; f < n_filters; f++) {
        double corr[2];
        for (int w = 0; w < 2; w++) {
            double mean = 0, sw = 0, ws = 0, ss = 0;
            for (int k = 0; k < KERNEL; k++)
                mean +=
                    (weights[w][f][k] = rb_tensor_get(kernels[w], (int64_t[]){k, 0, f})) / KERNEL;
            for (int k = 0; k < KERNEL; k++) {
                double step = taps[k] < 0 ? -1 : taps[k] > 0 ? 1 : 0; /* zero mean */
                sw += (weights[w][f][k] - mean) * step;
                ws += (weights[w][f][k] - mean) * (weights[w][f][k] - mean);
                ss += step * step;
            }
            corr[w] = sw / sqrt(ws * ss);
            up[w] = fmax(up[w], corr[w]);
            down[w] = fmin(down[w], corr[w]);
            shown[2 * f + w] = (rb_series){.label = w ? "learned" : "initial",
                                           .n = KERNEL,
                                           .x = taps,
                                           .y = weights[w][f],
                                           .color = w ? 1 : 8,
                                           .dashed = !w,
                                           .panel = f};
        }
        snprintf(names[f], sizeof names[f], "filter %d (step correlation %+.2f)", f + 1, corr[1]);
        titles[f] = names[f];
    }
    rb_model_free(initial);
    rb_study_plot(s, "filters",
                  (rb_plot){.title = "The convolution's filters: weight per step offset, initial "
                                     "(dashed) and learned",
                            .xlabel = "offset (steps)",
                            .ylabel = "weight",
                            .panels = n_filters,
                            .columns = 4,
                            .panel_titles = titles},
                  2 * n_filters, shown);
    rb_study_check(s,
                   "the filters become edge detectors: one rising, one falling; none was "
                   "before training",
                   up[1] > 0.7 && down[1] < -0.7 && up[0] < 0.7 && down[0] > -0.7,
                   "strongest correlation with an upward step %+.2f, with a downward one %+.2f "
                   "(initial filters: %+.2f and %+.2f)",
                   up[1], -down[1], up[0], -down[0]);
    rb_study_say(s, "Read each filter as the pattern it answers: weights low then high, an upward "
                    "edge; high then low, a downward edge. After the pooling, the network knows "
                    "how sharply the series rises and falls somewhere, not where: a cylinder "
                    "excites both edge detectors, a bell mostly the downward one (its rise is a "
                    "slow ramp), a funnel mostly the upward one.");

    rb_model_free(x.kept);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
