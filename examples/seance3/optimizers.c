/* Séance 3 - optimizers compared fairly, after Schmidt, Schneider & Hennig 2021, "Descending
 * through a crowded valley": SGD, SGD with momentum, Nesterov, RMSprop and Adam, each tuned on
 * the same log-spaced grid of learning rates (1e-4 to 1, as the paper's search space) with the
 * same epoch budget and several seeds; then weight decay under Adam: an L2 penalty in the loss
 * or a decoupled decay (AdamW).
 *
 * The network and the data: a 784-128-128-10 ReLU network on Fashion-MNIST. A run takes about
 * half a second, so 5 optimizers x 9 rates x 3 seeds fit in the time budget, and Fashion-MNIST
 * leaves room between optimizers (a good run reaches ~85% in 4 epochs, where on MNIST every
 * optimizer ends near 97%). Weight decay needs a network that overfits: the same one on 2,000
 * images for 40 epochs.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance3/optimizers/report.html.
 * --help lists the flags (--lr, --lambda, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "(1) once each optimizer has its learning rate tuned with the same budget, which trains\n"
    "this network best, and how much does a wrong learning rate cost each of them? (2) under\n"
    "Adam, is an L2 penalty in the loss the same as weight decay (AdamW)?";
static const char expectation[] =
    " 1. Each optimizer's best rate lies inside the grid, and they lie far apart: SGD's near\n"
    "    0.1-0.3, momentum's about ten times lower (momentum 0.9 multiplies the step by 1 / (1\n"
    "    - 0.9) = 10), RMSprop's and Adam's within half a decade of 1e-3.\n"
    " 2. Tuned, momentum, Nesterov, RMSprop and Adam lie within about a point of each other (no\n"
    "    optimizer dominates, as Schmidt et al. found); Nesterov ties with momentum.\n"
    " 3. Plain SGD, tuned, ties with momentum: once the rate is tuned, momentum mostly rescales\n"
    "    it.\n"
    " 4. A rate ten times off costs every optimizer more than the spread between the tuned\n"
    "    ones, even on the cheaper side: tuning matters more than the choice of optimizer.\n"
    " 5. At the same coefficient lambda, the penalty in the loss shrinks the weights far more\n"
    "    than AdamW's decay: Adam divides the penalty's gradient lambda w by sqrt(v), small for\n"
    "    weights with small gradients, whereas AdamW removes lr lambda w per step (1e-3\n"
    "    lambda). At lambda 1e-2 that is (1 - 1e-5)^1,280 = 0.987 over the 1,280 steps: AdamW\n"
    "    shrinks the weights by less than 2%, and needs a ~100 times larger lambda to act.\n"
    " 6. The penalty narrows the gap between training and validation accuracy (at lambda 1e-2).\n"
    " 7. Each tuned on its lambda, AdamW beats Adam + L2 on validation accuracy (Loshchilov &\n"
    "    Hutter's finding), and beats Adam without penalty; by little on so small a network.";
static const char limits[] =
    "one network and one data set (Schmidt et al. show that rankings change from problem to\n"
    "problem); 4 epochs for the tuning, which favours fast starters (adaptive methods, large\n"
    "rates); a grid half a decade apart, so each best rate is known within a factor of 3; other\n"
    "settings (momentum 0.9, betas, rho, batch 64) at their defaults, tuned by nobody; 3 seeds\n"
    "per rate and 2 per weight-decay setting unless --seeds says more; large rates make the\n"
    "last epoch's accuracy jump by points from seed to seed, so their spreads are wide and many\n"
    "differences are ties; validation on 5,000 held-out training images, the test set used only\n"
    "to report the configurations chosen.";

enum { SGD, MOMENTUM, NESTEROV, RMSPROP, ADAM, N_OPTIMIZERS };
static const char *const optimizer_names[N_OPTIMIZERS] = {"SGD", "momentum", "Nesterov", "RMSprop",
                                                          "Adam"};
static const char *const update_rules[N_OPTIMIZERS] = {
    "w ← w − η g", "v ← μ v + g; w ← w − η v (μ = 0.9)",
    "v ← μ v + g; w ← w − η (g + μ v) (μ = 0.9)",
    "s ← ρ s + (1 − ρ) g²; w ← w − η g / (√s + ε) (ρ = 0.9, ε = 1e-7)",
    "m ← β₁ m + (1 − β₁) g; v ← β₂ v + (1 − β₂) g²; w ← w − η m̂ / (√v̂ + ε), m̂ = m / (1 − β₁ᵗ), "
    "v̂ = v / (1 − β₂ᵗ) (β₁ = 0.9, β₂ = 0.999)"};

enum { ADAM_PLAIN, ADAM_L2, ADAMW, N_VARIANTS };
static const char *const variant_names[N_VARIANTS] = {"Adam", "Adam + L2", "AdamW"};

/* What rb_fit does not keep, per configuration and seed, filled in by the runs. */
enum { MAX_CONFIGS = 96, MAX_SEEDS = 16 }; /* 16 rates x 5 optimizers at most */
typedef struct extras {
    const rb_dataset *test;
    double test_acc[MAX_CONFIGS][MAX_SEEDS];
    double weight_norm[MAX_CONFIGS][MAX_SEEDS];
} extras;

static rb_model *mlp(uint64_t seed, double l2)
{
    rb_model *m = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_seed(m, seed);
    for (int i = 0; i < 2; i++)
        rb_model_add(m, RB_DENSE(.units = 128, .activation = RB_ACT_RELU, .l2 = l2,
                                 .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
    rb_model_add(m, RB_DENSE(.units = 10, .l2 = l2));
    return m;
}

static rb_optimizer *make_optimizer(rb_params *p, int which, double lr)
{
    switch (which) {
    case SGD: return rb_sgd_new(p, (rb_sgd_config){.lr = lr});
    case MOMENTUM: return rb_sgd_new(p, (rb_sgd_config){.lr = lr, .momentum = 0.9});
    case NESTEROV:
        return rb_sgd_new(p, (rb_sgd_config){.lr = lr, .momentum = 0.9, .nesterov = true});
    case RMSPROP: return rb_rmsprop_new(p, (rb_rmsprop_config){.lr = lr});
    default: return rb_adam_new(p, (rb_adam_config){.lr = lr});
    }
}

/* The L2 norm of all kernels (the weights the penalty and the decay act on). */
static double kernel_norm(rb_model *m)
{
    double sum = 0;
    rb_scope *scope = rb_scope_begin();
    for (int i = 0; i < rb_model_num_layers(m); i++) {
        rb_tensor *w = rb_layer_kernel(rb_model_layer_at(m, i));
        if (w) sum += rb_tensor_item(rb_sum(rb_square(w), RB_ALL_AXES, false));
    }
    rb_scope_end(scope);
    return sqrt(sum);
}

/* One run of either experiment: an optimizer and its rate, or an Adam variant and lambda. */
static rb_history *train_one(const rb_run *run)
{
    int variant = (int)rb_config_get(run->config, "variant", -1);
    double lambda = rb_config_get(run->config, "lambda", 0);
    rb_model *m = mlp(run->seed, variant == ADAM_L2 ? lambda : 0);
    rb_params *p = rb_model_params(m);
    rb_optimizer *opt =
        variant == ADAMW ? rb_adamw_new(p, (rb_adam_config){.lr = 1e-3, .weight_decay = lambda})
        : variant >= 0   ? rb_adam_new(p, (rb_adam_config){.lr = 1e-3})
                         : make_optimizer(p, (int)rb_config_get(run->config, "optimizer", ADAM),
                                          rb_config_get(run->config, "lr", 1e-3));
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    extras *x = run->user_data;
    if (h && run->index < MAX_CONFIGS && run->repeat < MAX_SEEDS) {
        double loss;
        rb_evaluate(rb_trainable_of_model(m), x->test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                    RB_METRIC_ACCURACY, 0, &loss, &x->test_acc[run->index][run->repeat]);
        x->weight_norm[run->index][run->repeat] = kernel_norm(m);
    }
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

static void fill_nan(extras *x)
{
    for (int i = 0; i < MAX_CONFIGS; i++)
        for (int r = 0; r < MAX_SEEDS; r++)
            x->test_acc[i][r] = x->weight_norm[i][r] = NAN;
}

static rb_measure measure_of(const rb_experiment *e, double (*values)[MAX_SEEDS], int i,
                             bool percent)
{
    int n = rb_experiment_runs(e, i);
    return rb_measure_of(n < MAX_SEEDS ? n : MAX_SEEDS, values[i], percent);
}

static rb_measure score(const rb_experiment *e, int i)
{
    return rb_experiment_measure(e, i, RB_FINAL_SCORE);
}

static double lr_of(const rb_experiment *e, int i)
{
    return rb_config_get(rb_experiment_config_at(e, i), "lr", NAN);
}

/* The configuration of optimizer k at rate lr (-1 when the grid lacks it). */
static int at_rate(const rb_experiment *e, int k, double lr)
{
    for (int i = 0; i < rb_experiment_count(e); i++) {
        const rb_config *c = rb_experiment_config_at(e, i);
        if ((int)rb_config_get(c, "optimizer", -1) == k &&
            fabs(rb_config_get(c, "lr", 0) / lr - 1) < 0.02)
            return i;
    }
    return -1;
}

/* Each optimizer at its best rate: the rate, validation and test accuracy, the update rule. */
static void tuned_table(rb_study *s, rb_experiment *e, extras *x, const int *best)
{
    rb_table *t = rb_study_table(s,
                                 "Each optimizer at its best rate (chosen by validation "
                                 "accuracy), and the update rule it applies",
                                 "optimizer|best rate|validation|test|update rule");
    char val[64], test[64];
    for (int k = 0; k < N_OPTIMIZERS; k++) {
        rb_measure_format(val, sizeof val, score(e, best[k]));
        rb_measure_format(test, sizeof test, measure_of(e, x->test_acc, best[k], true));
        rb_table_row(t, "%s|%.3g|%s|%s|%s", optimizer_names[k], lr_of(e, best[k]), val, test,
                     update_rules[k]);
    }
}

/* The validation accuracy of each optimizer at its best rate, epoch by epoch (mean over
 * seeds). */
static void tuned_curves(rb_study *s, rb_experiment *e, const int *best)
{
    enum { CAP = 200 };
    static double xs[N_OPTIMIZERS][CAP], ys[N_OPTIMIZERS][CAP];
    static char labels[N_OPTIMIZERS][64];
    rb_series series[N_OPTIMIZERS];
    for (int k = 0; k < N_OPTIMIZERS; k++) {
        int runs = rb_experiment_runs(e, best[k]), len = rb_experiment_history(e, best[k], 0)->n;
        len = len < CAP ? len : CAP;
        for (int ep = 0; ep < len; ep++) {
            double sum = 0;
            for (int r = 0; r < runs; r++)
                sum += rb_experiment_history(e, best[k], r)->epochs[ep].val_metric;
            xs[k][ep] = ep + 1, ys[k][ep] = 100 * sum / runs;
        }
        snprintf(labels[k], sizeof labels[k], "%s, lr %.3g", optimizer_names[k], lr_of(e, best[k]));
        series[k] = (rb_series){.label = labels[k], .n = len, .x = xs[k], .y = ys[k]};
    }
    rb_study_plot(s, "tuned_curves",
                  (rb_plot){.title = "Validation accuracy of each optimizer at its best rate",
                            .xlabel = "epoch",
                            .ylabel = "validation accuracy (%)"},
                  N_OPTIMIZERS, series);
}

/* Part 1's verdicts on where the best rates lie. */
static void check_rates(rb_study *s, rb_experiment *e, const int *best, const double *lrs, int n)
{
    double lo = INFINITY, hi = 0;
    for (int j = 0; j < n; j++)
        lo = lrs[j] < lo ? lrs[j] : lo, hi = lrs[j] > hi ? lrs[j] : hi;
    char inside[256] = "", edges[256] = "";
    for (int k = 0; k < N_OPTIMIZERS; k++) {
        double lr = lr_of(e, best[k]);
        char *to = lr == lo || lr == hi ? edges : inside;
        size_t len = strlen(to);
        snprintf(to + len, 256 - len, "%s%s %.3g", len ? ", " : "", optimizer_names[k], lr);
    }
    rb_study_check(s, "each optimizer's best rate lies inside the grid", !*edges,
                   "inside: %s; at an edge: %s", *inside ? inside : "none",
                   *edges ? edges : "none");
    double ratio = lr_of(e, best[SGD]) / lr_of(e, best[MOMENTUM]);
    rb_study_check(s,
                   "momentum's best rate is about ten times lower than SGD's (within a grid step)",
                   ratio > 3 && ratio < 32, "SGD's best %.3g, momentum's %.3g: a ratio of %.2g",
                   lr_of(e, best[SGD]), lr_of(e, best[MOMENTUM]), ratio);
    double rms = lr_of(e, best[RMSPROP]), adam = lr_of(e, best[ADAM]);
    rb_study_check(s, "RMSprop's and Adam's best rates lie within half a decade of 1e-3",
                   rms > 3e-4 && rms < 3.3e-3 && adam > 3e-4 && adam < 3.3e-3,
                   "RMSprop's best %.3g, Adam's %.3g", rms, adam);
}

/* Sensitivity: the range of rates within 2 points of each optimizer's best, and what a rate ten
 * times too low or too high costs. Returns the smallest cost of the cheaper mistakes. */
static double sensitivity(rb_study *s, rb_experiment *e, const int *best, const char **cheapest)
{
    rb_table *t = rb_study_table(s,
                                 "Sensitivity to the rate: the rates within 2 points of each "
                                 "optimizer's best, and what a rate ten times off costs",
                                 "optimizer|within 2 points of the best|10 times lower "
                                 "(points lost)|10 times higher (points lost)");
    double smallest = INFINITY;
    for (int k = 0; k < N_OPTIMIZERS; k++) {
        double top = rb_experiment_final(e, best[k]), lo = INFINITY, hi = 0;
        for (int i = 0; i < rb_experiment_count(e); i++)
            if ((int)rb_config_get(rb_experiment_config_at(e, i), "optimizer", -1) == k &&
                rb_experiment_final(e, i) >= top - 0.02)
                lo = fmin(lo, lr_of(e, i)), hi = fmax(hi, lr_of(e, i));
        int below = at_rate(e, k, lr_of(e, best[k]) / 10),
            above = at_rate(e, k, lr_of(e, best[k]) * 10);
        double cost[2] = {below < 0 ? NAN : top - rb_experiment_final(e, below),
                          above < 0 ? NAN : top - rb_experiment_final(e, above)};
        char text[2][32];
        for (int j = 0; j < 2; j++)
            snprintf(text[j], sizeof text[j], isnan(cost[j]) ? "-" : "%.2f", 100 * cost[j]);
        rb_table_row(t, "%s|%.3g to %.3g (%.1f decades)|%s|%s", optimizer_names[k], lo, hi,
                     log10(hi / lo), text[0], text[1]);
        double cheaper = isnan(cost[0])   ? cost[1]
                         : isnan(cost[1]) ? cost[0]
                                          : fmin(cost[0], cost[1]);
        if (!isnan(cheaper) && cheaper < smallest)
            smallest = cheaper, *cheapest = optimizer_names[k];
    }
    return smallest;
}

/* Part 2's pictures and table: the weights' norm and the accuracies at each strength. */
static void decay_results(rb_study *s, rb_experiment *e, extras *x)
{
    rb_table *t = rb_study_table(s, "Weights and generalisation at each strength",
                                 "configuration|weight norm ‖W‖|training|validation|gap "
                                 "(points)|test");
    enum { CAP = 12 };
    static double lam[2][CAP], norm[2][CAP], err[2][CAP], acc[2][CAP];
    int count[2] = {0, 0};
    for (int i = 0; i < rb_experiment_count(e); i++) {
        const rb_config *c = rb_experiment_config_at(e, i);
        rb_measure n = measure_of(e, x->weight_norm, i, false);
        rb_measure tr = rb_experiment_measure(e, i, RB_FINAL_METRIC);
        rb_measure va = rb_experiment_measure(e, i, RB_FINAL_VAL_METRIC);
        char nt[64], tt[64];
        rb_measure_format(nt, sizeof nt, n);
        rb_measure_format(tt, sizeof tt, measure_of(e, x->test_acc, i, true));
        rb_table_row(t, "%s|%s|%.2f%%|%.2f%%|%.2f|%s", c->name, nt, 100 * tr.mean, 100 * va.mean,
                     100 * (tr.mean - va.mean), tt);
        int v = (int)rb_config_get(c, "variant", 0) - 1;
        if (v < 0 || count[v] == CAP) continue;
        lam[v][count[v]] = rb_config_get(c, "lambda", 0), norm[v][count[v]] = n.mean;
        err[v][count[v]] = n.n > 1 ? n.sd : 0, acc[v][count[v]++] = 100 * va.mean;
    }
    rb_measure plain = measure_of(e, x->weight_norm, 0, false);
    rb_series by_lambda[2], by_norm[2];
    for (int v = 0; v < 2; v++) {
        by_lambda[v] = (rb_series){
            .label = variant_names[v + 1], .n = count[v], .x = lam[v], .y = norm[v], .err = err[v]};
        by_norm[v] =
            (rb_series){.label = variant_names[v + 1], .n = count[v], .x = norm[v], .y = acc[v]};
    }
    rb_study_plot(s, "weight_norm_vs_lambda",
                  (rb_plot){.title = "Norm of the kernels after training against lambda",
                            .xlabel = "lambda",
                            .ylabel = "‖W‖ (all kernels)",
                            .logx = true,
                            .logy = true,
                            .n_baselines = 1,
                            .baselines = &(rb_baseline){"Adam, no penalty", plain.mean}},
                  2, by_lambda);
    rb_measure none = rb_experiment_measure(e, 0, RB_FINAL_VAL_METRIC);
    rb_study_plot(s, "accuracy_vs_weight_norm",
                  (rb_plot){.title = "Validation accuracy against the norm the weights reached "
                                     "(one point per lambda)",
                            .xlabel = "‖W‖ (all kernels)",
                            .ylabel = "validation accuracy (%)",
                            .logx = true,
                            .n_baselines = 1,
                            .baselines = &(rb_baseline){"Adam, no penalty", 100 * none.mean}},
                  2, by_norm);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance3",
                                               .name = "optimizers",
                                               .title = "Optimizers tuned fairly, weight decay",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 4,
                                               .seeds = 3,
                                               .noise = 0.003});
    double lrs[16], lambdas[12];
    int n_lrs = rb_study_list(s, "lr", "1e-4,3.16e-4,1e-3,3.16e-3,0.01,0.0316,0.1,0.316,1", lrs, 16,
                              "the learning rates every optimizer tries");
    int n_lambdas = rb_study_list(s, "lambda", "1e-4,1e-3,1e-2,0.1,1,10", lambdas, 12,
                                  "coefficients of the L2 penalty and of AdamW's decay");
    int decay_epochs = rb_study_int(s, "decay-epochs", 40, "epochs of the weight-decay runs");
    rb_study_start(s);
    bool quick = rb_study_quick(s);
    if (quick) { /* every other rate, two strengths */
        for (int j = 0; 2 * j < n_lrs; j++)
            lrs[j] = lrs[2 * j];
        n_lrs = (n_lrs + 1) / 2;
        n_lambdas = n_lambdas < 2 ? n_lambdas : 2;
    }

    rb_dataset all, test, train, validation, tuning_set, decay_set;
    rb_fashion_mnist_load(NULL, &all, &test);
    rb_study_shrink(s, &all, 3000); /* --quick: 2,000 to train, 1,000 to validate */
    rb_study_shrink(s, &test, 1000);
    rb_split(&all, (rb_split_config){.validation = quick ? 1.0 / 3 : 5000.0 / 60000, .seed = 1},
             &train, &validation, NULL);
    int64_t rows = rb_dataset_rows(&train);
    rb_dataset_head(&train, rows < 10000 ? rows : 10000, &tuning_set);
    rb_dataset_head(&train, rows < 2000 ? rows : 2000, &decay_set);
    rb_model *m = mlp(1, 0);
    rb_study_model(s, "784-128-128-10", m,
                   RB_BY_HAND(784 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10));
    rb_model_free(m);

    static extras tuning_x, decay_x;
    fill_nan(&tuning_x), fill_nan(&decay_x);
    tuning_x.test = decay_x.test = &test;
    /* Under --quick one seed (unless --seeds is given); otherwise the study's (3) for the
     * tuning, 2 for the weight-decay runs. */
    int quick_seeds = quick ? 1 : 0, decay_seeds = quick ? 1 : 2;

    /* 1. Every optimizer on the same grid of rates. */
    rb_experiment *tuning = rb_study_experiment(
        s, (rb_experiment_config){.name = "tuning", .seeds = quick_seeds}, train_one, &tuning_x);
    for (int k = 0; k < N_OPTIMIZERS; k++)
        for (int j = 0; j < n_lrs; j++) {
            char name[64];
            snprintf(name, sizeof name, "%s, lr %.3g", optimizer_names[k], lrs[j]);
            rb_experiment_add(tuning, name, 2, (const char *[]){"optimizer", "lr"},
                              (double[]){k, lrs[j]});
        }
    /* 2. Weight decay: Adam alone, then L2 and AdamW at the same coefficients. */
    rb_experiment *decay = rb_study_experiment(s,
                                               (rb_experiment_config){.name = "weight_decay",
                                                                      .seeds = decay_seeds,
                                                                      .epochs = decay_epochs},
                                               train_one, &decay_x);
    rb_experiment_add(decay, "Adam, no penalty", 2, (const char *[]){"variant", "lambda"},
                      (double[]){ADAM_PLAIN, 0});
    for (int v = ADAM_L2; v <= ADAMW; v++)
        for (int j = 0; j < n_lambdas; j++) {
            char name[64];
            snprintf(name, sizeof name, "%s, lambda %g", variant_names[v], lambdas[j]);
            rb_experiment_add(decay, name, 2, (const char *[]){"variant", "lambda"},
                              (double[]){v, lambdas[j]});
        }

    rb_study_section(s, "1. Each optimizer tuned on the same grid of learning rates");
    rb_experiment_run(tuning, &tuning_set, &validation);
    rb_experiment_plot_sweep(tuning, (rb_sweep_plot){.key = "lr",
                                                     .group = "optimizer",
                                                     .group_names = optimizer_names,
                                                     .logx = true,
                                                     .file = "sensitivity",
                                                     .xlabel = "learning rate",
                                                     .title = "Final validation accuracy against "
                                                              "the learning rate (mean and spread "
                                                              "over seeds)"});
    int best[N_OPTIMIZERS];
    for (int k = 0; k < N_OPTIMIZERS; k++)
        best[k] = rb_experiment_best_of(tuning, "optimizer", k);
    tuned_table(s, tuning, &tuning_x, best);
    tuned_curves(s, tuning, best);
    check_rates(s, tuning, best, lrs, n_lrs);

    /* The tuned optimizers but plain SGD: the spread between the best and the worst. */
    int top = MOMENTUM, bottom = MOMENTUM;
    for (int k = MOMENTUM; k < N_OPTIMIZERS; k++) {
        if (rb_experiment_final(tuning, best[k]) > rb_experiment_final(tuning, best[top])) top = k;
        if (rb_experiment_final(tuning, best[k]) < rb_experiment_final(tuning, best[bottom]))
            bottom = k;
    }
    double spread =
        rb_experiment_final(tuning, best[top]) - rb_experiment_final(tuning, best[bottom]);
    rb_study_check(s, "tuned, momentum, Nesterov, RMSprop and Adam lie within about a point",
                   spread <= 0.012, "from %s at %.2f%% to %s at %.2f%%: %.2f points",
                   optimizer_names[bottom], 100 * rb_experiment_final(tuning, best[bottom]),
                   optimizer_names[top], 100 * rb_experiment_final(tuning, best[top]),
                   100 * spread);
    rb_study_expect(s, "Nesterov ties with momentum", "tuned Nesterov",
                    score(tuning, best[NESTEROV]), RB_TIE, "tuned momentum",
                    score(tuning, best[MOMENTUM]));
    rb_study_expect(s, "plain SGD, tuned, ties with momentum", "tuned SGD",
                    score(tuning, best[SGD]), RB_TIE, "tuned momentum",
                    score(tuning, best[MOMENTUM]));
    const char *cheapest = "none";
    double smallest = sensitivity(s, tuning, best, &cheapest);
    if (isfinite(smallest))
        rb_study_check(s,
                       "a rate ten times off costs every optimizer more than the spread between "
                       "the tuned ones, even on the cheaper side",
                       smallest > spread,
                       "the cheapest mistake is %s's, %.2f points; the tuned spread %.2f points",
                       cheapest, 100 * smallest, 100 * spread);

    /* 2. Weight decay. */
    rb_study_section(s, "2. Weight decay under Adam: a penalty in the loss or a decoupled decay");
    rb_table *rules = rb_study_table(s, "The three update rules (g = ∇L, Adam's moments as above)",
                                     "variant|update rule|what the decay sees");
    rb_table_row(rules, "Adam|w ← w − η m̂ / (√v̂ + ε)|no decay");
    rb_table_row(rules, "Adam + L2|Adam on g + λ w (the penalty λ/2 ‖w‖² in the loss)|"
                        "λ w divided by √v̂, like the gradient");
    rb_table_row(rules, "AdamW|w ← w − η λ w − η m̂ / (√v̂ + ε)|λ w untouched by the moments");
    rb_study_say(s,
                 "With plain SGD the last two are one update, w ← w − η (g + λ w): that is why the "
                 "same λ counts as the same strength. η = 1e-3, %lld images, %d epochs.",
                 (long long)rb_dataset_rows(&decay_set), decay_epochs);
    rb_experiment_run(decay, &decay_set, &validation);
    rb_experiment_plot_sweep(decay, (rb_sweep_plot){.key = "lambda",
                                                    .group = "variant",
                                                    .group_names = variant_names,
                                                    .logx = true,
                                                    .file = "accuracy_vs_lambda",
                                                    .xlabel = "lambda"});
    rb_experiment_plot_sweep(decay, (rb_sweep_plot){.key = "lambda",
                                                    .group = "variant",
                                                    .group_names = variant_names,
                                                    .quantity = RB_GAP,
                                                    .logx = true,
                                                    .file = "gap_vs_lambda",
                                                    .xlabel = "lambda"});
    decay_results(s, decay, &decay_x);

    /* Configurations: 0 no penalty, 1 + j L2 at lambdas[j], 1 + n + j AdamW at lambdas[j]. */
    int mid = -1;
    for (int j = 0; j < n_lambdas; j++)
        if (fabs(lambdas[j] - 1e-2) < 1e-9) mid = j;
    if (mid >= 0) {
        rb_measure plain_norm = measure_of(decay, decay_x.weight_norm, 0, false);
        rb_measure l2_norm = measure_of(decay, decay_x.weight_norm, 1 + mid, false);
        rb_measure w_norm = measure_of(decay, decay_x.weight_norm, 1 + n_lambdas + mid, false);
        rb_study_expect(s, "at lambda 1e-2, the penalty in the loss shrinks the weights more",
                        "‖W‖ with L2", l2_norm, RB_LOWER, "with AdamW", w_norm);
        int64_t steps = decay_epochs * ((rb_dataset_rows(&decay_set) + 63) / 64);
        rb_study_check(s, "at lambda 1e-2, AdamW shrinks the weights by less than 2%",
                       w_norm.mean > 0.98 * plain_norm.mean,
                       "‖W‖ %.3f with AdamW, %.3f without penalty: %.1f%% smaller; the decay alone "
                       "would give (1 - 1e-5)^%lld = %.3f",
                       w_norm.mean, plain_norm.mean, 100 * (1 - w_norm.mean / plain_norm.mean),
                       (long long)steps, pow(1 - 1e-5, (double)steps));
        rb_study_expect(s, "L2 at 1e-2 narrows the gap", "gap with L2 at 1e-2",
                        rb_experiment_measure(decay, 1 + mid, RB_GAP), RB_LOWER, "without penalty",
                        rb_experiment_measure(decay, 0, RB_GAP));
    }
    int best_l2 = rb_experiment_best_of(decay, "variant", ADAM_L2);
    int best_w = rb_experiment_best_of(decay, "variant", ADAMW);
    rb_study_expect(s, "tuned, AdamW beats Adam + L2", rb_experiment_config_at(decay, best_w)->name,
                    score(decay, best_w), RB_HIGHER, rb_experiment_config_at(decay, best_l2)->name,
                    score(decay, best_l2));
    rb_study_expect(s, "tuned, AdamW beats Adam without penalty",
                    rb_experiment_config_at(decay, best_w)->name, score(decay, best_w), RB_HIGHER,
                    "no penalty", score(decay, 0));

    rb_dataset_free(&decay_set);
    rb_dataset_free(&tuning_set);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
