/* Séance 3 - learning-rate schedules: (a) one schedule, step decay, with several decay
 * factors; (b) six schedules made comparable (the same initial rate, the same epochs, and the
 * decaying ones brought down to the same final rate): constant, time-based 1 / (1 + k t), step,
 * exponential, cosine with warm-up, reduce-on-plateau.
 *
 * The network and the data: the 784-128-128-10 ReLU network of the optimizer study on 20,000
 * Fashion-MNIST images, trained by SGD with momentum 0.9 from lr0 = 0.05 for 20 epochs. A
 * rate this large leaves the constant schedule's training loss high, held up by the noise of
 * the gradient steps, so that what a decay removes shows in the curves; 20,000 images keep
 * overfitting small within 20 epochs, and a run takes a few seconds.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance3/schedules/report.html.
 * --help lists the flags (--lr0, --gammas, --final, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "what does lowering the learning rate during training change, and does the shape of the\n"
    "decay matter once the schedules start and end at the same rates?";
static const char expectation[] =
    " (a) Step decay every 5 epochs, factors 0.5, 0.3 and 0.1 against a constant rate:\n"
    "  1. Each drop shows at once: in the epoch after the first drop the training loss falls by\n"
    "     more than in the epoch before it (the steps stop bouncing across the valley).\n"
    "  2. Every factor ends with a lower training loss than the constant rate.\n"
    "  3. Factor 0.1 freezes learning after its second drop (the rate is lr0 / 100): its\n"
    "     training loss moves by less than 3% over the last 5 epochs.\n"
    "\n"
    " (b) Schedules made comparable:\n"
    "  4. The constant rate ends with the highest training loss; every decaying schedule goes\n"
    "     lower.\n"
    "  5. Validation accuracy: the best decaying schedule beats the constant rate, and the\n"
    "     decaying schedules tie with each other: with the same start and end, the shape in\n"
    "     between matters little.\n"
    "  6. Cosine with a 2-epoch warm-up ties with exponential decay: warm-up helps very large\n"
    "     batches and transformers, not a small network from a sensible rate.\n"
    "  7. Reduce-on-plateau waits: it keeps lr0 until the validation loss stalls, for at least\n"
    "     the first 4 epochs.";
static const char limits[] =
    "one network, one data set, one optimizer (SGD with momentum; Adam's own step sizes make it\n"
    "less sensitive to a schedule) and one initial rate; per-epoch schedules (the rate changes\n"
    "between epochs, as Keras's LearningRateScheduler); reduce-on-plateau watches the\n"
    "validation loss with patience 2 and factor 0.5; 2 seeds per configuration unless --seeds\n"
    "says more (final accuracy varies by ~0.3 point from seed to seed); validation on 5,000\n"
    "held-out training images, test set unused.";

/* The schedules of part (b), in the order of the issue. */
enum { CONSTANT, TIME, STEP, EXPONENTIAL, COSINE, PLATEAU, N_SCHEDULES };
static const char *const schedule_names[N_SCHEDULES] = {
    "constant", "time-based", "step", "exponential", "cosine, warm-up 2", "reduce on plateau"};

static double lr0 = 0.05, final_ratio = 10; /* --lr0, --final */

/* The schedule of a configuration for a run of `epochs` epochs. The decaying schedules of part
 * (b) reach lr0 / final_ratio at the last epoch (t = epochs - 1); step decay drops every quarter
 * of the run. */
static rb_schedule schedule_of(const rb_config *c, int epochs)
{
    int kind = (int)rb_config_get(c, "schedule", CONSTANT);
    double gamma = rb_config_get(c, "gamma", 0), last = epochs > 1 ? epochs - 1 : 1;
    int64_t quarter = epochs >= 4 ? epochs / 4 : 1, drops = (int64_t)last / quarter;
    int64_t warmup = epochs >= 10 ? 2 : 1;
    switch (kind) {
    case TIME:
        return (rb_schedule){.kind = RB_SCHEDULE_TIME_DECAY, .decay = (final_ratio - 1) / last};
    case STEP:
        return (rb_schedule){.kind = RB_SCHEDULE_STEP,
                             .step_size = quarter,
                             .gamma =
                                 gamma > 0 ? gamma : pow(final_ratio, -1.0 / (drops ? drops : 1))};
    case EXPONENTIAL:
        return (rb_schedule){.kind = RB_SCHEDULE_EXPONENTIAL, .decay = log(final_ratio) / last};
    case COSINE:
        return (rb_schedule){.kind = RB_SCHEDULE_COSINE,
                             .warmup = warmup,
                             .period = last - warmup > 1 ? (int64_t)last - warmup : 1,
                             .min_lr = lr0 / final_ratio};
    case PLATEAU:
        return (rb_schedule){.kind = RB_SCHEDULE_PLATEAU,
                             .factor = 0.5,
                             .patience = 2,
                             .min_delta = 1e-3,
                             .min_lr = lr0 / final_ratio};
    default: return (rb_schedule){.kind = RB_SCHEDULE_CONSTANT};
    }
}

static rb_model *mlp(uint64_t seed)
{
    rb_model *m = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_seed(m, seed);
    for (int i = 0; i < 2; i++)
        rb_model_add(m, RB_DENSE(.units = 128, .activation = RB_ACT_RELU,
                                 .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

static rb_history *train_one(const rb_run *run)
{
    rb_model *m = mlp(run->seed);
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = lr0, .momentum = 0.9});
    rb_scheduler *sched = rb_scheduler_new(opt, schedule_of(run->config, run->epochs));
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation,
                                           .scheduler = sched});
    rb_scheduler_free(sched);
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* The mean over runs of one field at epoch k (0-based). */
static double mean_at(const rb_experiment *e, int i, int k, bool lr)
{
    double sum = 0;
    int n = 0;
    for (int r = 0; r < rb_experiment_runs(e, i); r++) {
        const rb_history *h = rb_experiment_history(e, i, r);
        if (k < h->n) sum += lr ? h->epochs[k].lr : h->epochs[k].loss, n++;
    }
    return n ? sum / n : NAN;
}

/* The planned rates of part (b), epoch by epoch, drawn before training; reduce-on-plateau is
 * left out, since its rate depends on the validation loss. */
static void planned_rates(rb_study *s, rb_experiment *e, int epochs)
{
    enum { CAP = 400 };
    static double x[CAP], y[N_SCHEDULES][CAP];
    rb_series series[N_SCHEDULES];
    int n = 0, len = epochs < CAP ? epochs : CAP;
    for (int i = 0; i < rb_experiment_count(e) && n < N_SCHEDULES; i++) {
        rb_schedule sc = schedule_of(rb_experiment_config_at(e, i), epochs);
        if (sc.kind == RB_SCHEDULE_PLATEAU) continue;
        for (int t = 0; t < len; t++)
            x[t] = t + 1, y[n][t] = rb_schedule_lr(&sc, lr0, t);
        series[n] = (rb_series){.label = rb_experiment_config_at(e, i)->name,
                                .n = len,
                                .x = x,
                                .y = y[n],
                                .color = i + 1};
        n++;
    }
    rb_study_plot(s, "planned_rates",
                  (rb_plot){.title = "The learning rate each schedule sets, epoch by epoch",
                            .xlabel = "epoch",
                            .ylabel = "learning rate"},
                  n, series);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance3",
                                               .name = "schedules",
                                               .title = "Learning-rate schedules",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 20,
                                               .quick_epochs = 4,
                                               .seeds = 2,
                                               .noise = 0.003});
    lr0 = rb_study_double(s, "lr0", 0.05, "initial learning rate of every schedule");
    double gammas[8];
    int n_gammas =
        rb_study_list(s, "gammas", "0.5,0.3,0.1", gammas, 8, "step-decay factors of part (a)");
    final_ratio =
        rb_study_double(s, "final", 10, "part (b): the decaying schedules end at lr0 / final");
    int train_rows = rb_study_int(s, "train", 20000, "training images");
    rb_study_start(s);
    bool quick = rb_study_quick(s);

    rb_dataset all, test, train, validation;
    rb_fashion_mnist_load(NULL, &all, &test);
    rb_study_shrink(s, &all, 3000); /* --quick: 2,000 to train, 1,000 to validate */
    rb_split(&all, (rb_split_config){.validation = quick ? 1.0 / 3 : 5000.0 / 60000, .seed = 1},
             &train, &validation, NULL);
    if (train_rows > 0 && train_rows < rb_dataset_rows(&train)) {
        rb_dataset head;
        rb_dataset_head(&train, train_rows, &head);
        rb_dataset_free(&train);
        train = head;
    }
    rb_model *m = mlp(1);
    rb_study_model(s, "784-128-128-10", m,
                   RB_BY_HAND(784 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10));
    rb_model_free(m);

    int seeds = quick ? 1 : 0; /* 0: the study's (2, or --seeds) */
    rb_experiment *steps = rb_study_experiment(
        s, (rb_experiment_config){.name = "step_decay", .seeds = seeds}, train_one, NULL);
    rb_experiment_add(steps, "constant", 1, (const char *[]){"schedule"}, (double[]){CONSTANT});
    for (int j = 0; j < n_gammas; j++) {
        char name[64];
        snprintf(name, sizeof name, "step decay, factor %g", gammas[j]);
        rb_experiment_add(steps, name, 2, (const char *[]){"schedule", "gamma"},
                          (double[]){STEP, gammas[j]});
    }
    rb_experiment *compared = rb_study_experiment(
        s, (rb_experiment_config){.name = "schedules", .seeds = seeds}, train_one, NULL);
    for (int k = 0; k < N_SCHEDULES; k++)
        rb_experiment_add(compared, schedule_names[k], 1, (const char *[]){"schedule"},
                          (double[]){k});
    int epochs = rb_study_epochs(s, 20);

    /* (a) Step decay: the fall of the training loss around the first drop, and at the end. */
    rb_study_section(s, "(a) Step decay every quarter of the run, several factors");
    rb_experiment_run(steps, &train, &validation);
    int q = epochs >= 4 ? epochs / 4 : 1, tail = epochs > 5 ? 5 : epochs - 1;
    rb_table *around = rb_study_table(
        s, "Training loss around the first drop and over the last epochs (mean over seeds)",
        "configuration|fall in the epoch before the drop|fall in the epoch after|change over the "
        "last epochs");
    bool every_drop_shows = q >= 2;
    for (int i = 0; i < rb_experiment_count(steps) && q >= 2; i++) {
        double before = mean_at(steps, i, q - 2, false) - mean_at(steps, i, q - 1, false);
        double after = mean_at(steps, i, q - 1, false) - mean_at(steps, i, q, false);
        double end = mean_at(steps, i, epochs - 1, false),
               start = mean_at(steps, i, epochs - 1 - tail, false);
        rb_table_row(around, "%s|%.4f|%.4f|%+.1f%%", rb_experiment_config_at(steps, i)->name,
                     before, after, 100 * (end - start) / start);
        if (i > 0) every_drop_shows = every_drop_shows && after > before;
    }
    rb_study_check(s,
                   "each factor's first drop shows at once: the training loss falls faster "
                   "in the epoch after it than in the epoch before",
                   every_drop_shows, "see the table: %s",
                   every_drop_shows ? "true of every factor" : "not true of every factor");
    int weakest = 1, strongest = 1;
    for (int j = 1; j < n_gammas; j++) {
        if (gammas[j] > gammas[weakest - 1]) weakest = j + 1;
        if (gammas[j] < gammas[strongest - 1]) strongest = j + 1;
    }
    if (n_gammas > 0) {
        rb_study_expect(
            s, "even the mildest factor ends with a lower training loss than the constant rate",
            rb_experiment_config_at(steps, weakest)->name,
            rb_experiment_measure(steps, weakest, RB_FINAL_LOSS), RB_LOWER, "constant",
            rb_experiment_measure(steps, 0, RB_FINAL_LOSS));
        double end = mean_at(steps, strongest, epochs - 1, false);
        double start = mean_at(steps, strongest, epochs - 1 - tail, false);
        rb_study_check(s,
                       "the strongest factor freezes learning: its training loss moves by less "
                       "than 3% over the last 5 epochs",
                       fabs(end - start) < 0.03 * start, "%s: %.4f -> %.4f (%+.1f%%), rate %.2g",
                       rb_experiment_config_at(steps, strongest)->name, start, end,
                       100 * (end - start) / start, mean_at(steps, strongest, epochs - 1, true));
    }

    /* (b) The schedules made comparable. */
    rb_study_section(s, "(b) Six schedules from the same rate, over the same epochs");
    rb_study_say(s,
                 "Every schedule starts at lr0 = %g and runs %d epochs; the decaying ones reach "
                 "lr0 / %g at the last epoch: time-based lr0 / (1 + k t) with k = %.3g, step decay "
                 "by %.3g every %d epochs, exponential lr0 e^(-k t) with k = %.3g, cosine from "
                 "lr0 to lr0 / %g after a 2-epoch linear warm-up; reduce-on-plateau halves the "
                 "rate when the validation loss has not improved for 2 epochs, down to lr0 / %g.",
                 lr0, epochs, final_ratio,
                 schedule_of(rb_experiment_config_at(compared, TIME), epochs).decay,
                 schedule_of(rb_experiment_config_at(compared, STEP), epochs).gamma, q,
                 schedule_of(rb_experiment_config_at(compared, EXPONENTIAL), epochs).decay,
                 final_ratio, final_ratio);
    planned_rates(s, compared, epochs);
    rb_experiment_run(compared, &train, &validation);
    int highest = TIME, best = TIME, worst = TIME;
    for (int k = TIME; k < N_SCHEDULES; k++) {
        if (rb_experiment_measure(compared, k, RB_FINAL_LOSS).mean >
            rb_experiment_measure(compared, highest, RB_FINAL_LOSS).mean)
            highest = k;
        if (rb_experiment_final(compared, k) > rb_experiment_final(compared, best)) best = k;
        if (rb_experiment_final(compared, k) < rb_experiment_final(compared, worst)) worst = k;
    }
    char label[96];
    snprintf(label, sizeof label, "%s (the highest of the decays)", schedule_names[highest]);
    rb_study_expect(
        s, "every decaying schedule ends with a lower training loss than the constant rate", label,
        rb_experiment_measure(compared, highest, RB_FINAL_LOSS), RB_LOWER, "constant",
        rb_experiment_measure(compared, CONSTANT, RB_FINAL_LOSS));
    snprintf(label, sizeof label, "%s (the best decay)", schedule_names[best]);
    rb_study_expect(s, "the best decaying schedule beats the constant rate on validation accuracy",
                    label, rb_experiment_measure(compared, best, RB_FINAL_SCORE), RB_HIGHER,
                    "constant", rb_experiment_measure(compared, CONSTANT, RB_FINAL_SCORE));
    char label2[96];
    snprintf(label2, sizeof label2, "%s (the worst decay)", schedule_names[worst]);
    rb_study_expect(s, "the decaying schedules tie with each other", label,
                    rb_experiment_measure(compared, best, RB_FINAL_SCORE), RB_TIE, label2,
                    rb_experiment_measure(compared, worst, RB_FINAL_SCORE));
    rb_study_expect(s, "cosine with warm-up ties with exponential decay", "cosine",
                    rb_experiment_measure(compared, COSINE, RB_FINAL_SCORE), RB_TIE, "exponential",
                    rb_experiment_measure(compared, EXPONENTIAL, RB_FINAL_SCORE));
    int first_cut = epochs + 1;
    for (int r = 0; r < rb_experiment_runs(compared, PLATEAU); r++) {
        const rb_history *h = rb_experiment_history(compared, PLATEAU, r);
        for (int k = 0; k < h->n; k++)
            if (h->epochs[k].lr < lr0 * 0.999) {
                if (k + 1 < first_cut) first_cut = k + 1;
                break;
            }
    }
    if (first_cut <= epochs)
        rb_study_check(s, "reduce-on-plateau keeps lr0 for at least the first 4 epochs",
                       first_cut > 4, "its first reduction comes at epoch %d (earliest over seeds)",
                       first_cut);
    else
        rb_study_check(s, "reduce-on-plateau keeps lr0 for at least the first 4 epochs", true,
                       "it never reduced the rate in %d epochs", epochs);

    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
