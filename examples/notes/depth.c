/* Lecture notes - the curse of depth: in a deep stack, the gradient reaching a layer is the
 * product of the Jacobians of every layer above it, so it shrinks (or grows) geometrically with
 * the distance to the output unless each layer keeps its scale. Four 10-layer dense networks
 * (64 units per layer) on MNIST: sigmoid with Glorot's initialisation, the same with
 * BatchNorm before each sigmoid, ReLU with Glorot's initialisation, ReLU with He's. Each
 * layer's gradient norm is measured at the first step (the initial weights) and over the last
 * epoch, and every network is trained with the same plain SGD.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/notes/depth/report.html.
 * --help lists the flags (--depth, --width, --lr, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "how does the gradient change from the output layer back to the first layer of a deep\n"
    "network, and what keeps it alive?";
static const char expectation[] =
    " 1. Sigmoid's slope is at most 1/4, so with Glorot's weights each sigmoid layer passes back\n"
    "    a fraction of the gradient it receives: at the first step the first layer's gradient is\n"
    "    more than 100 times smaller than the last layer's, and the network hardly learns in a\n"
    "    few epochs of SGD (validation accuracy far below the others).\n"
    " 2. ReLU passes the gradient of active units unchanged: with He's initialisation (variance\n"
    "    2 / fan_in, which keeps the signal's scale through ReLU) the gradient norms of all\n"
    "    layers stay within a factor of 10 of each other.\n"
    " 3. With Glorot's initialisation, ReLU's signal halves in variance at each layer: the\n"
    "    gradient decays from layer to layer, though far less than with sigmoid.\n"
    " 4. BatchNorm before each sigmoid rescales every layer's input to unit variance, keeping\n"
    "    the sigmoid near its steepest part: the first layer's gradient comes within 100 times\n"
    "    the last layer's, and the sigmoid network learns.";
static const char limits[] =
    "one depth and width (10 layers of 64 units; --depth, --width), MNIST with 5,000 training\n"
    "and 1,000 validation images, 5 epochs of plain SGD (lr 0.1, batch 64) for every network:\n"
    "an adaptive optimizer (Adam) rescales each gradient and hides much of the effect; gradient\n"
    "norms are those of each Dense layer's weights and bias together, on one batch at the first\n"
    "step and averaged over the steps of the last epoch; 3 seeds unless --seeds says more; the\n"
    "plot shows the first seed.";

enum { SIGMOID, SIGMOID_BN, RELU_GLOROT, RELU_HE, N_NETS };
static const char *const net_names[N_NETS] = {"sigmoid, Glorot", "sigmoid + BatchNorm, Glorot",
                                              "ReLU, Glorot", "ReLU, He"};
enum { MAX_DEPTH = 32, MAX_SEEDS = 16 };
static int depth = 10, width = 64; /* --depth, --width */
static double learning_rate = 0.1; /* --lr */

/* Per network and seed: each Dense layer's gradient norm at the first step and averaged over
 * the last epoch. */
typedef struct norms {
    double first[N_NETS][MAX_SEEDS][MAX_DEPTH + 1], last[N_NETS][MAX_SEEDS][MAX_DEPTH + 1];
} norms;

static rb_model *deep_net(uint64_t seed, int net)
{
    rb_model *m = rb_model_new(RB_F32, "deep", RB_SHAPE(784));
    rb_model_seed(m, seed);
    rb_init_spec init = {.kind = net == RELU_HE ? RB_INIT_HE_NORMAL : RB_INIT_GLOROT_UNIFORM};
    rb_activation act = net == SIGMOID || net == SIGMOID_BN ? RB_ACT_SIGMOID : RB_ACT_RELU;
    for (int i = 0; i < depth; i++) {
        if (net == SIGMOID_BN) {
            rb_model_add(m, RB_DENSE(.units = width, .kernel_init = init));
            rb_model_add(m, RB_BATCH_NORM);
            rb_model_add(m, RB_ACTIVATION(.activation = act));
        } else {
            rb_model_add(m, RB_DENSE(.units = width, .activation = act, .kernel_init = init));
        }
    }
    rb_model_add(m, RB_DENSE(.units = 10, .kernel_init = init));
    return m;
}

/* Passes events on and reads each Dense layer's gradient norm after every step. */
typedef struct watcher {
    rb_progress_hook inner;
    rb_model *model;
    double *first, *last; /* depth + 1 Dense layers */
    int epochs, steps;
} watcher;

static void watch(void *ctx, const rb_progress_event *event)
{
    watcher *w = ctx;
    rb_progress_report(w->inner, event);
    if (event->epoch_end) {
        for (int k = 0; event->epoch == w->epochs && k <= depth; k++)
            w->last[k] /= w->steps;
        return;
    }
    double all[4 * MAX_DEPTH + 2];
    int n = rb_model_grad_norms(w->model, all, 4 * MAX_DEPTH + 2);
    bool first = event->epoch == 1 && event->step == 1, last = event->epoch == w->epochs;
    for (int i = 0, k = 0; i < n && k <= depth; i++) {
        if (strcmp(rb_layer_type(rb_model_layer_at(w->model, i)), "Dense") != 0) continue;
        if (first) w->first[k] = all[i];
        if (last) w->last[k] += all[i];
        k++;
    }
    w->steps += last;
}

static rb_history *train_one(const rb_run *run)
{
    norms *x = run->user_data;
    int net = (int)rb_config_get(run->config, "net", 0);
    int r = run->repeat < MAX_SEEDS ? run->repeat : MAX_SEEDS - 1;
    rb_model *m = deep_net(run->seed, net);
    watcher w = {run->progress, m, x->first[net][r], x->last[net][r], run->epochs, 0};
    for (int k = 0; k <= depth; k++)
        w.last[k] = 0;
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = learning_rate});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = {watch, &w},
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* log10 of the first Dense layer's gradient norm over the last one's, per seed. */
static rb_measure decay(const rb_experiment *e, int net, double (*of)[MAX_SEEDS][MAX_DEPTH + 1])
{
    double v[MAX_SEEDS];
    int n = rb_experiment_runs(e, net) < MAX_SEEDS ? rb_experiment_runs(e, net) : MAX_SEEDS;
    for (int r = 0; r < n; r++)
        v[r] = log10(of[net][r][0] / of[net][r][depth]);
    return rb_measure_of(n, v, false);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "notes",
                                               .name = "depth",
                                               .title = "The curse of depth",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 5,
                                               .seeds = 3});
    depth = rb_study_int(s, "depth", 10, "hidden layers");
    width = rb_study_int(s, "width", 64, "units per hidden layer");
    learning_rate = rb_study_double(s, "lr", 0.1, "SGD learning rate");
    rb_study_start(s);
    if (depth < 1 || depth > MAX_DEPTH) {
        fprintf(stderr, "--depth must lie between 1 and %d\n", MAX_DEPTH);
        return 2;
    }
    rb_dataset all, head, train, validation;
    rb_mnist_load(NULL, &all, NULL);
    rb_dataset_head(&all, rb_study_quick(s) ? 1500 : 6000, &head);
    rb_split(&head, (rb_split_config){.validation = 1.0 / 6, .seed = 1}, &train, &validation, NULL);
    rb_model *m = deep_net(1, RELU_HE);
    char label[64];
    snprintf(label, sizeof label, "%d ReLU layers of %d", depth, width);
    rb_study_model(
        s, label, m,
        RB_BY_HAND(784 * width + width + (depth - 1) * (width * width + width) + width * 10 + 10));
    rb_model_free(m);

    static norms x;
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "networks"}, train_one, &x);
    for (int net = 0; net < N_NETS; net++)
        rb_experiment_add(e, net_names[net], 1, (const char *[]){"net"}, (double[]){net});
    rb_experiment_run(e, &train, &validation);

    /* Every network's gradient norms on one plot: layer 1 is the first after the input. */
    static double layer[MAX_DEPTH + 1];
    rb_series curves[2 * N_NETS];
    char labels[2 * N_NETS][96];
    for (int k = 0; k <= depth; k++)
        layer[k] = k + 1;
    for (int net = 0; net < N_NETS; net++)
        for (int when = 0; when < 2; when++) {
            int c = 2 * net + when;
            snprintf(labels[c], sizeof labels[c], "%s, %s", net_names[net],
                     when ? "last epoch" : "first step");
            curves[c] = (rb_series){.label = labels[c],
                                    .n = depth + 1,
                                    .x = layer,
                                    .y = when ? x.last[net][0] : x.first[net][0],
                                    .dashed = when == 1,
                                    .color = net + 1};
        }
    rb_study_plot(s, "gradient_norms",
                  (rb_plot){.title = "Gradient norm per layer: first step (solid), last epoch "
                                     "(dashed)",
                            .xlabel = "layer (1: next to the input)",
                            .ylabel = "L2 norm of the layer's gradient",
                            .logy = true},
                  2 * N_NETS, curves);

    rb_table *t = rb_study_table(s,
                                 "First layer's gradient norm over the last layer's (log10, "
                                 "mean ± sd over seeds), and what the networks learn",
                                 "network|first step|last epoch|validation accuracy");
    for (int net = 0; net < N_NETS; net++) {
        char a[64], b[64], acc[64];
        rb_measure_format(a, sizeof a, decay(e, net, x.first));
        rb_measure_format(b, sizeof b, decay(e, net, x.last));
        rb_measure_format(acc, sizeof acc, rb_experiment_measure(e, net, RB_FINAL_SCORE));
        rb_table_row(t, "%s|%s|%s|%s", net_names[net], a, b, acc);
    }

    rb_study_expect(s, "sigmoid: the first layer's gradient is more than 100 times smaller",
                    "log10 ratio, sigmoid", decay(e, SIGMOID, x.first), RB_LOWER, "-2",
                    rb_measure_value(-2, false));
    rb_study_expect(s, "the sigmoid network learns far less than ReLU with He", "sigmoid",
                    rb_experiment_measure(e, SIGMOID, RB_FINAL_SCORE), RB_LOWER, "ReLU, He",
                    rb_experiment_measure(e, RELU_HE, RB_FINAL_SCORE));
    rb_measure he = decay(e, RELU_HE, x.first);
    rb_study_check(s, "ReLU with He: every layer's gradient within a factor of 10",
                   fabs(he.mean) < 1, "first layer over last: 10^%.2f", he.mean);
    rb_study_expect(s, "ReLU with Glorot: the gradient decays with depth, less than sigmoid's",
                    "log10 ratio, ReLU Glorot", decay(e, RELU_GLOROT, x.first), RB_HIGHER,
                    "sigmoid", decay(e, SIGMOID, x.first));
    rb_study_expect(s, "ReLU with Glorot decays more than with He", "log10 ratio, ReLU Glorot",
                    decay(e, RELU_GLOROT, x.first), RB_LOWER, "ReLU He", he);
    rb_study_expect(s, "BatchNorm brings the sigmoid network's first layer within 100 times",
                    "log10 ratio, sigmoid + BatchNorm", decay(e, SIGMOID_BN, x.first), RB_HIGHER,
                    "-2", rb_measure_value(-2, false));
    rb_study_expect(s, "and the sigmoid network with BatchNorm learns", "sigmoid + BatchNorm",
                    rb_experiment_measure(e, SIGMOID_BN, RB_FINAL_SCORE), RB_HIGHER, "sigmoid",
                    rb_experiment_measure(e, SIGMOID, RB_FINAL_SCORE));

    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&head);
    rb_dataset_free(&all);
    return rb_study_finish(s);
}
