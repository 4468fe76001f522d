/* Build your own network, 1 - modules and losses on scikit-learn's digits (8x8).
 *
 * A network is a Sequential of modules: Linear (RB_DENSE), Conv1D, MaxPool1D, Flatten, an
 * activation, LogSoftmax; the loss is a separate choice: MSE, BCE, cross-entropy, or
 * log-softmax + NLL. Four comparisons on the same data, each trained by plain SGD (lr 0.1,
 * batch 32, 40 epochs, 5 seeds): linear vs dense vs convolutional; the activation; the number
 * and size of hidden layers; the loss. The images are read as signals of 64 pixels, row after
 * row (digits.h), as the project's Conv1D expects.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/diy/modules/report.html.
 * --help lists the flags (--units, --maps, --lr, --seeds, --quick ...).
 */
#include "digits.h"

static const char question[] =
    "which modules and which loss make a good digit classifier: does a convolution beat Linear\n"
    "modules, which activation, how many and how large hidden layers, and does the loss\n"
    "matter (MSE vs cross-entropy on classes)?";
static const char expectation[] =
    " 1. Architecture: the dense network (64-100-10, 7,510 weights) beats the linear model\n"
    "    (650) by 2 points or so. The convolutional network (Conv1D 16 filters of 3 pixels,\n"
    "    MaxPool1D 2, Flatten, Linear to 10) shares its 64 filter weights along the signal: it\n"
    "    beats the linear model too, and reaches at least the dense network's accuracy with a\n"
    "    third fewer weights (5,034).\n"
    " 2. Activation (64-100-10): sigmoid trails tanh and ReLU by 2 points or more after 40\n"
    "    epochs: its slope is at most 1/4 and its outputs are not centred, so SGD moves slowly.\n"
    "    tanh and ReLU tie. Without an activation the two Linear modules make one linear map;\n"
    "    the 8x8 digits are nearly linearly separable, so it stays within a point of ReLU.\n"
    " 3. Layers: 16 units trail 100 (a 64 -> 16 bottleneck loses information); 200 units tie\n"
    "    with 100; two or three layers of 100 tie with one (1,078 training images leave little\n"
    "    for depth to find) while fitting the training images better: they memorise.\n"
    " 4. Loss: log-softmax + NLL is the fused cross-entropy written in two modules: the same\n"
    "    training to float rounding. MSE and BCE on one-hot rows average over the 10 outputs,\n"
    "    so their gradients are 2/10 and 1/10 of cross-entropy's: at the same rate they trail\n"
    "    it; with the rate multiplied by 5 and 10 they tie with it.";
static const char limits[] =
    "one data set of 1,797 images split once (60% training, 20% validation, 20% test; the\n"
    "split is stratified and seeded): validation accuracy moves in steps of 0.28 point and\n"
    "varies by ~0.5 point from seed to seed, so 5 seeds per configuration and differences\n"
    "below ~1 point are ties; plain SGD at one rate for every network (40 epochs), Glorot\n"
    "initialisation everywhere, no tuning per network except in the loss study; Conv1D reads\n"
    "rows of 8 pixels joined end to end (a pixel's upper neighbour is 8 steps away); the test\n"
    "set scores the architectures only.";

static rb_measure score(const rb_experiment *e, int i)
{
    return rb_experiment_measure(e, i, RB_FINAL_SCORE);
}

static const char *name_of(const rb_experiment *e, int i)
{
    return rb_experiment_config_at(e, i)->name;
}

/* Largest difference between two configurations' training losses, every epoch of every seed. */
static double largest_loss_gap(const rb_experiment *e, int a, int b)
{
    double gap = 0;
    for (int r = 0; r < rb_experiment_runs(e, a) && r < rb_experiment_runs(e, b); r++) {
        const rb_history *ha = rb_experiment_history(e, a, r), *hb = rb_experiment_history(e, b, r);
        for (int k = 0; k < ha->n && k < hb->n; k++)
            gap = fmax(gap, fabs(ha->epochs[k].loss - hb->epochs[k].loss));
    }
    return gap;
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "diy",
                                               .name = "modules",
                                               .title = "Modules and losses on the digits",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 40,
                                               .seeds = 5,
                                               .noise = 0.004});
    int units = rb_study_int(s, "units", 100, "units of the dense network's hidden layer");
    int maps = rb_study_int(s, "maps", 16, "filters of the convolutional network");
    double lr = rb_study_double(s, "lr", 0.1, "SGD learning rate (the loss study scales it)");
    rb_study_start(s);

    rb_dataset all, train, validation, test;
    load_digits(s, 600, &all); /* --quick: 600 images */
    split_digits(&all, &train, &validation, &test);
    /* The linear model; the dense network adds a hidden layer, the convolutional one Conv1D. */
    const digit_setup linear = {
        .kernel = 3, .units = units, .act = RB_ACT_RELU, .lr = lr, .batch = 32};
    digit_setup dense = linear, conv = linear;
    dense.layers = 1;
    conv.maps = maps;
    rb_model *m = digit_net(1, linear);
    rb_study_model(s, "linear model", m, RB_BY_HAND(64 * 10 + 10));
    rb_model_free(m);
    m = digit_net(1, dense);
    rb_study_model(s, "dense network", m, RB_BY_HAND(64 * units + units + units * 10 + 10));
    rb_model_free(m);
    m = digit_net(1, conv);
    rb_study_model(s, "convolutional network", m,
                   RB_BY_HAND((3 * 1 * maps + maps) + (31 * maps) * 10 + 10));
    rb_model_free(m);

    /* The four experiments, declared first so that the time left covers them all; one seed
     * under --quick. */
    const int seeds = rb_study_quick(s) ? 1 : 0;
    static digit_runs arch_runs, act_runs, layer_runs, loss_runs;
    digit_runs_init(&arch_runs, linear, &test);
    digit_runs_init(&act_runs, dense, NULL);
    digit_runs_init(&layer_runs, dense, NULL);
    digit_runs_init(&loss_runs, dense, NULL);
    rb_experiment *arch =
        rb_study_experiment(s, (rb_experiment_config){.name = "architecture", .seeds = seeds},
                            train_digits, &arch_runs);
    rb_experiment_add(arch, "linear", 0, NULL, NULL);
    rb_experiment_add(arch, "dense", 1, (const char *[]){"hidden layers"}, (double[]){1});
    rb_experiment_add(arch, "convolutional", 1, (const char *[]){"maps"}, (double[]){maps});

    rb_experiment *act = rb_study_experiment(
        s, (rb_experiment_config){.name = "activation", .seeds = seeds}, train_digits, &act_runs);
    const rb_activation acts[4] = {RB_ACT_NONE, RB_ACT_SIGMOID, RB_ACT_TANH, RB_ACT_RELU};
    for (int i = 0; i < 4; i++)
        rb_experiment_add(act, i ? rb_activation_name(acts[i]) : "none", 1,
                          (const char *[]){"activation"}, (double[]){acts[i]});

    rb_experiment *layers = rb_study_experiment(
        s, (rb_experiment_config){.name = "layers", .seeds = seeds}, train_digits, &layer_runs);
    rb_experiment_add_grid(layers, 2, (const char *[]){"hidden layers", "units"}, (int[]){3, 3},
                           (const double *[]){(double[]){1, 2, 3}, (double[]){16, 100, 200}});

    rb_experiment *loss = rb_study_experiment(
        s, (rb_experiment_config){.name = "loss", .seeds = seeds}, train_digits, &loss_runs);
    const char *loss_keys[2] = {"loss", "lr"};
    for (int l = 0; l < N_LOSSES; l++)
        rb_experiment_add(loss, loss_names[l], 1, loss_keys, (double[]){l});
    char name[64];
    snprintf(name, sizeof name, "MSE on one-hot, lr x 5 (%g)", 5 * lr);
    int mse_scaled = rb_experiment_add(loss, name, 2, loss_keys, (double[]){MSE, 5 * lr});
    snprintf(name, sizeof name, "BCE on one-hot, lr x 10 (%g)", 10 * lr);
    int bce_scaled = rb_experiment_add(loss, name, 2, loss_keys, (double[]){BCE, 10 * lr});

    /* 1. Linear, dense, convolutional. */
    rb_experiment_run(arch, &train, &validation);
    snprintf(name, sizeof name, "Test accuracy (%lld images; mean ± sd over seeds)",
             (long long)rb_dataset_rows(&test));
    rb_table *t = rb_study_table(s, name, "network|weights|test accuracy");
    const int64_t weights[3] = {650, 64 * units + units + units * 10 + 10,
                                4 * maps + 310 * maps + 10};
    for (int i = 0; i < 3; i++) {
        char text[64];
        rb_measure_format(text, sizeof text, test_of(arch, &arch_runs, i));
        rb_table_row(t, "%s|%lld|%s", name_of(arch, i), (long long)weights[i], text);
    }
    rb_study_expect(s, "the convolutional network beats the linear model", "convolutional",
                    score(arch, 2), RB_HIGHER, "linear", score(arch, 0));
    rb_study_expect(s, "the dense network beats the linear model", "dense", score(arch, 1),
                    RB_HIGHER, "linear", score(arch, 0));
    rb_comparison c = rb_measure_compare(score(arch, 2), score(arch, 1), 0.004);
    rb_study_check(s, "the convolutional network reaches at least the dense one's accuracy",
                   c.order != RB_LOWER,
                   "convolutional %.2f%%, dense %.2f%%: %+.2f points, %.1f times the noise",
                   100 * score(arch, 2).mean, 100 * score(arch, 1).mean, 100 * c.diff, c.effect);

    /* 2. Activations: 0 none, 1 sigmoid, 2 tanh, 3 ReLU. */
    rb_experiment_run(act, &train, &validation);
    double lag = fmin(score(act, 2).mean, score(act, 3).mean) - score(act, 1).mean;
    rb_study_check(s, "sigmoid trails tanh and ReLU by 2 points or more", lag >= 0.02,
                   "sigmoid %.2f%%, %.2f points below the lower of tanh and ReLU",
                   100 * score(act, 1).mean, 100 * lag);
    rb_study_expect(s, "tanh and ReLU tie", "tanh", score(act, 2), RB_TIE, "ReLU", score(act, 3));
    double linear_gap = score(act, 3).mean - score(act, 0).mean;
    rb_study_check(s, "without an activation, within a point of ReLU", fabs(linear_gap) <= 0.01,
                   "no activation %.2f%%, ReLU %.2f%%: %.2f points apart", 100 * score(act, 0).mean,
                   100 * score(act, 3).mean, 100 * fabs(linear_gap));

    /* 3. Layers: the grid is (1, 2, 3 layers) x (16, 100, 200 units), units varying fastest. */
    rb_experiment_run(layers, &train, &validation);
    rb_experiment_plot_sweep(layers, (rb_sweep_plot){.key = "units",
                                                     .group = "hidden layers",
                                                     .logx = true,
                                                     .xlabel = "units per hidden layer"});
    rb_study_expect(s, "16 units trail 100 (one hidden layer)", name_of(layers, 0),
                    score(layers, 0), RB_LOWER, name_of(layers, 1), score(layers, 1));
    rb_study_expect(s, "200 units tie with 100 (one hidden layer)", name_of(layers, 2),
                    score(layers, 2), RB_TIE, name_of(layers, 1), score(layers, 1));
    for (int depth = 2; depth <= 3; depth++) {
        int i = 3 * (depth - 1) + 1;
        snprintf(name, sizeof name, "%d layers of 100 tie with one", depth);
        rb_study_expect(s, name, name_of(layers, i), score(layers, i), RB_TIE, name_of(layers, 1),
                        score(layers, 1));
        snprintf(name, sizeof name, "%d layers of 100 fit the training images better than one",
                 depth);
        rb_study_expect(s, name, "training accuracy",
                        rb_experiment_measure(layers, i, RB_FINAL_METRIC), RB_HIGHER, "one layer's",
                        rb_experiment_measure(layers, 1, RB_FINAL_METRIC));
    }

    /* 4. Losses: 0 cross-entropy, 1 log-softmax + NLL, 2 MSE, 3 BCE, then MSE and BCE at
     * scaled rates. */
    rb_study_say(s,
                 "For one row with logits z, one-hot target t and C = 10 classes: cross-entropy's "
                 "gradient is softmax(z) − t; MSE's, averaged over the C outputs, 2 (z − t) / C; "
                 "BCE's (sigmoid(z) − t) / C. The rescaled rates undo the 1 / C.");
    rb_experiment_run(loss, &train, &validation);
    double gap = largest_loss_gap(loss, CROSS_ENTROPY, LOG_SOFTMAX_NLL);
    rb_study_check(
        s, "log-softmax + NLL trains as the fused cross-entropy, to float rounding", gap < 1e-4,
        "largest difference between their training losses over every epoch and seed: "
        "%.1e; final validation accuracy %.2f%% and %.2f%%",
        gap, 100 * score(loss, LOG_SOFTMAX_NLL).mean, 100 * score(loss, CROSS_ENTROPY).mean);
    for (int l = MSE; l <= BCE; l++) {
        snprintf(name, sizeof name, "at the same rate, %s trails cross-entropy", loss_names[l]);
        rb_study_expect(s, name, loss_names[l], score(loss, l), RB_LOWER, "cross-entropy",
                        score(loss, CROSS_ENTROPY));
        int scaled = l == MSE ? mse_scaled : bce_scaled;
        snprintf(name, sizeof name, "with its rate scaled, %s ties with cross-entropy",
                 loss_names[l]);
        rb_study_expect(s, name, name_of(loss, scaled), score(loss, scaled), RB_TIE,
                        "cross-entropy", score(loss, CROSS_ENTROPY));
    }

    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&test);
    rb_dataset_free(&all);
    return rb_study_finish(s);
}
