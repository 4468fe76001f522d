/* Studies: the flags every course program shares and its own settings, measures and verdicts
 * that call a difference within the noise a tie, the report page (markdown and self-contained
 * HTML) and the index of reports, progress lines, plots with panels and baselines, labelled
 * image grids. Training runs are faked (histories written by hand), so every number is known. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Internal to train/: the report's markdown as HTML. */
rb_status rb__markdown_to_html(const char *markdown, const char *folder, FILE *out);

/* ---- a temporary folder per test ---- */

/* The whole file as a string (the caller frees it); fails the test if it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    size_t got = fread(text, 1, (size_t)n, f);
    fclose(f);
    text[got] = '\0';
    return text;
}

static int count_occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

#define CHECK_CONTAINS(text, needle)                                                               \
    do {                                                                                           \
        if (!strstr((text), (needle))) fail_msg("%s lacks \"%s\"", #text, (needle));               \
    } while (0)

#define CHECK_LACKS(text, needle)                                                                  \
    do {                                                                                           \
        if (strstr((text), (needle))) fail_msg("%s should not hold \"%s\"", #text, (needle));      \
    } while (0)

/* A quiet study over the arguments given (argv[0] is the program). */
#define STUDY(...)                                                                                 \
    rb_study_new(sizeof((char *[]){"prog", __VA_ARGS__}) / sizeof(char *),                         \
                 (char *[]){"prog", __VA_ARGS__},                                                  \
                 (rb_study_info){.seance = "seance9", .name = "demo", .quiet = true, .epochs = 5})

/* ---- flags ---- */

static void common_flags_set_epochs_seeds_threads_and_the_results_folder(void **state)
{
    (void)state;
    rb_study *s = STUDY("--epochs", "3", "--seed=7", "--seeds", "2", "--threads", "1", "--quick",
                        "--out", "/tmp/elsewhere");
    assert_int_equal(rb_study_parse(s), -1);
    assert_int_equal(rb_study_epochs(s, 10), 3);
    assert_int_equal(rb_study_seed(s), 7);
    assert_int_equal(rb_study_seeds(s), 2);
    assert_true(rb_study_quick(s));
    assert_string_equal(rb_study_dir(s), "/tmp/elsewhere/seance9/demo");
    rb_study_free(s);
}

static void defaults_apply_without_flags_and_quick_caps_the_epochs(void **state)
{
    (void)state;
    rb_study *s = STUDY("--seed", "1", "--out", "runs//");
    assert_int_equal(rb_study_parse(s), -1);
    assert_string_equal(rb_study_dir(s), "runs/seance9/demo");
    rb_study_free(s);
    s = STUDY("--seed", "1");
    assert_int_equal(rb_study_parse(s), -1);
    assert_int_equal(rb_study_epochs(s, 10), 10);
    assert_int_equal(rb_study_seeds(s), 1);
    assert_false(rb_study_quick(s));
    assert_string_equal(rb_study_dir(s), "results/seance9/demo");
    rb_study_free(s);
    s = STUDY("--quick");
    assert_int_equal(rb_study_parse(s), -1);
    assert_int_equal(rb_study_epochs(s, 10), 2);
    assert_int_equal(rb_study_epochs(s, 1), 1);
    rb_study_free(s);
}

static void unknown_flags_and_stray_arguments_are_errors(void **state)
{
    (void)state;
    rb_study *s = STUDY("--epochs", "2", "--lrs", "0.1");
    rb_study_list(s, "lr", "0.1", (double[4]){0}, 4, "learning rates");
    assert_int_equal(rb_study_parse(s), 2);
    CHECK_CONTAINS(rb_study_error(s), "unknown flag '--lrs'");
    rb_study_free(s);
    s = STUDY("extra");
    assert_int_equal(rb_study_parse(s), 2);
    CHECK_CONTAINS(rb_study_error(s), "unexpected argument 'extra'");
    rb_study_free(s);
}

static void bad_values_are_errors_naming_the_flag_and_the_value(void **state)
{
    (void)state;
    const char *cases[][3] = {{"--epochs", "zero", "--epochs expects a whole number"},
                              {"--epochs", "0", "from 1 to"},
                              {"--seeds", "2.5", "--seeds expects a whole number"},
                              {"--units", "12abc", "--units expects a whole number, got '12abc'"},
                              {"--lr", "0.1,,2", "--lr expects up to 4 numbers"},
                              {"--lr", "0.1,", "got '0.1,'"},
                              {"--lr", "1,2,3,4,5", "up to 4 numbers"},
                              {"--dropout", "half", "--dropout expects a number"},
                              {"--optimizer", "sgdd", "one of sgd|adam"},
                              {"--augment=maybe", "--seed=1", "--augment expects yes or no"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rb_study *s = STUDY((char *)cases[i][0], (char *)cases[i][1]);
        double lrs[4];
        rb_study_list(s, "lr", "0.1", lrs, 4, "learning rates");
        rb_study_int(s, "units", 128, "hidden units");
        rb_study_double(s, "dropout", 0.5, "dropout rate");
        rb_study_choice(s, "optimizer", "sgd|adam", "sgd", "optimizer");
        rb_study_bool(s, "augment", false, "augmentation");
        if (rb_study_parse(s) != 2) fail_msg("%s %s was accepted", cases[i][0], cases[i][1]);
        if (!strstr(rb_study_error(s), cases[i][2]))
            fail_msg("%s %s: error \"%s\" lacks \"%s\"", cases[i][0], cases[i][1],
                     rb_study_error(s), cases[i][2]);
        rb_study_free(s);
    }
    rb_study *s = STUDY("--epochs");
    assert_int_equal(rb_study_parse(s), 2);
    CHECK_CONTAINS(rb_study_error(s), "--epochs needs a value");
    rb_study_free(s);
}

static void settings_read_lists_numbers_booleans_choices_and_texts(void **state)
{
    (void)state;
    rb_study *s = STUDY("--lr", "0.3,1e-2,0.001", "--units=64", "--no-augment", "--dropout", "0.25",
                        "--optimizer", "adam", "--name", "wide net", "--bn");
    double lrs[8];
    int n = rb_study_list(s, "lr", "1,0.1", lrs, 8, "learning rates");
    assert_int_equal(n, 3);
    CHECK_CLOSE(lrs[0], 0.3, 0);
    CHECK_CLOSE(lrs[1], 0.01, 0);
    CHECK_CLOSE(lrs[2], 0.001, 0);
    assert_int_equal(rb_study_int(s, "units", 128, "units"), 64);
    assert_false(rb_study_bool(s, "augment", true, "augmentation"));
    assert_true(rb_study_bool(s, "bn", false, "BatchNorm"));
    assert_false(rb_study_bool(s, "residual", false, "residual blocks"));
    CHECK_CLOSE(rb_study_double(s, "dropout", 0.5, "dropout"), 0.25, 0);
    assert_int_equal(rb_study_choice(s, "optimizer", "sgd|adam|rmsprop", "sgd", "opt"), 1);
    assert_string_equal(rb_study_string(s, "name", "net", "a name"), "wide net");
    assert_string_equal(rb_study_string(s, "title", "none", "a title"), "none");
    assert_int_equal(rb_study_parse(s), -1);
    rb_study_free(s);

    s = STUDY("--seed", "2");
    n = rb_study_list(s, "lr", "1,0.1", lrs, 8, "learning rates");
    assert_int_equal(n, 2);
    CHECK_CLOSE(lrs[1], 0.1, 0);
    assert_int_equal(rb_study_choice(s, "optimizer", "sgd|adam|rmsprop", "rmsprop", "opt"), 2);
    assert_int_equal(rb_study_parse(s), -1);
    rb_study_free(s);
}

static void
choice_lists_give_indices_in_the_order_given_and_refuse_unknown_or_repeated_names(void **state)
{
    (void)state;
    rb_study *s = STUDY("--cells", "gru,simplernn", "--help");
    int cells[3], pools[2];
    assert_int_equal(
        rb_study_choices(s, "cells", "simplernn|lstm|gru", "lstm,gru", cells, 3, "cells"), 2);
    assert_int_equal(cells[0], 2);
    assert_int_equal(cells[1], 0);
    assert_int_equal(rb_study_choices(s, "pools", "max|avg", "max,avg", pools, 2, "poolings"), 2);
    assert_int_equal(pools[0], 0);
    assert_int_equal(pools[1], 1);
    assert_int_equal(rb_study_parse(s), 0);
    FILE *f = fopen(test_path("usage.txt"), "w+");
    assert_non_null(f);
    rb_study_usage(s, f, true);
    fclose(f);
    char *text = slurp(test_path("usage.txt"));
    CHECK_CONTAINS(text, "[--cells LIST]");
    CHECK_CONTAINS(text, "cells (any of simplernn|lstm|gru) (default: lstm,gru)");
    free(text);
    rb_study_free(s);

    const char *bad[] = {"lstmm", "lstm,lstm", "lstm,", ",gru", "lstm,gru,simplernn,lstm", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s = STUDY("--cells", (char *)bad[i]);
        rb_study_choices(s, "cells", "simplernn|lstm|gru", "lstm", cells, 3, "cells");
        if (rb_study_parse(s) != 2) fail_msg("--cells '%s' was accepted", bad[i]);
        CHECK_CONTAINS(rb_study_error(s), "--cells expects up to 3 of simplernn|lstm|gru");
        rb_study_free(s);
    }
    s = STUDY("--seed", "1");
    CHECK_FAILS(rb_study_choices(s, "pools", "max|avg", "max,min", pools, 2, "poolings"),
                RB_ERR_ARGUMENT, "fallback 'max,min' of --pools");
    rb_study_free(s);
}

static void help_returns_zero_and_the_usage_lists_every_flag_with_its_default(void **state)
{
    (void)state;
    rb_study *s = STUDY("--help", "--whatever");
    double lrs[8];
    rb_study_list(s, "lr", "1,0.3,0.1", lrs, 8, "SGD learning rates");
    rb_study_int(s, "units", 128, "hidden units");
    rb_study_bool(s, "adam", false, "Adam instead of SGD");
    assert_int_equal(rb_study_parse(s), 0);
    FILE *f = fopen(test_path("usage.txt"), "w+");
    assert_non_null(f);
    rb_study_usage(s, f, true);
    fclose(f);
    char *text = slurp(test_path("usage.txt"));
    const char *expected[] = {"usage: prog [--help] [--quick] [--epochs N]",
                              "[--lr LIST] [--units N] [--[no-]adam]",
                              "--epochs N",
                              "(default: 5)",
                              "--seed N",
                              "--seeds N",
                              "--threads N",
                              "--out DIR",
                              "<out>/seance9/demo/",
                              "--lr LIST",
                              "SGD learning rates (default: 1,0.3,0.1)",
                              "hidden units (default: 128)",
                              "Adam instead of SGD (default: no)"};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        CHECK_CONTAINS(text, expected[i]);
    free(text);
    rb_study_free(s);
}

static void settings_are_refused_after_start_twice_or_under_a_common_name(void **state)
{
    (void)state;
    rb_study *s = STUDY("--seed", "3");
    CHECK_FAILS(rb_study_int(s, "epochs", 1, "clash"), RB_ERR_ARGUMENT,
                "--epochs is a common flag");
    assert_int_equal(rb_study_int(s, "units", 4, "units"), 4);
    CHECK_FAILS(rb_study_int(s, "units", 4, "units"), RB_ERR_ARGUMENT, "declared twice");
    CHECK_FAILS(rb_study_choice(s, "opt", "sgd|adam", "nadam", "o"), RB_ERR_ARGUMENT,
                "fallback 'nadam' is not one of");
    assert_int_equal(rb_study_parse(s), -1);
    rb_study_free(s);
}

/* ---- measures and verdicts ---- */

static void measure_gives_mean_sd_and_range_leaving_out_nan(void **state)
{
    (void)state;
    rb_measure m = rb_measure_of(4, (double[]){0.9, NAN, 0.8, 1.0}, true);
    assert_int_equal(m.n, 3);
    CHECK_CLOSE(m.mean, 0.9, 1e-12);
    CHECK_CLOSE(m.sd, 0.1, 1e-12);
    CHECK_CLOSE(m.min, 0.8, 0);
    CHECK_CLOSE(m.max, 1.0, 0);
    char text[64];
    rb_measure_format(text, sizeof text, m);
    assert_string_equal(text, "90.00% ± 10.00");
    rb_measure one = rb_measure_of(1, (double[]){0.25}, false);
    CHECK_CLOSE(one.sd, 0, 0);
    rb_measure_format(text, sizeof text, one);
    assert_string_equal(text, "0.25");
    assert_true(isnan(rb_measure_of(0, NULL, false).mean));
}

static void a_difference_within_twice_its_noise_is_a_tie(void **state)
{
    (void)state;
    /* sd 0.01 each over 4 runs: noise sqrt(0.01^2/4 + 0.01^2/4) = 0.00707. */
    rb_measure a = rb_measure_of(4, (double[]){0.91, 0.92, 0.93, 0.92}, true);
    double sd = a.sd;
    rb_measure b = a;
    b.mean = a.mean - 0.01; /* 1.41 times the noise: a tie */
    rb_comparison c = rb_measure_compare(a, b, 0);
    CHECK_CLOSE(c.noise, sd * sqrt(0.5), 1e-12);
    assert_int_equal(c.order, RB_TIE);
    b.mean = a.mean - 3 * c.noise; /* clearly lower */
    c = rb_measure_compare(a, b, 0);
    assert_int_equal(c.order, RB_HIGHER);
    CHECK_CLOSE(c.effect, 3, 1e-9);
    c = rb_measure_compare(b, a, 0);
    assert_int_equal(c.order, RB_LOWER);
}

static void one_run_each_measures_no_noise_unless_a_floor_is_given(void **state)
{
    (void)state;
    rb_measure a = rb_measure_of(1, (double[]){0.95}, true);
    rb_measure b = rb_measure_of(1, (double[]){0.948}, true);
    rb_comparison c = rb_measure_compare(a, b, 0);
    CHECK_CLOSE(c.noise, 0, 0);
    assert_true(isnan(c.effect));
    assert_int_equal(c.order, RB_HIGHER);
    c = rb_measure_compare(a, b, 0.003); /* 0.3 point per run: noise 0.0042 */
    CHECK_CLOSE(c.noise, 0.003 * sqrt(2), 1e-12);
    assert_int_equal(c.order, RB_TIE);
    /* One side measured with seeds: its spread stands for the other side's too. */
    rb_measure three = rb_measure_of(3, (double[]){0.94, 0.95, 0.96}, true);
    c = rb_measure_compare(three, b, 0);
    CHECK_CLOSE(c.noise, 0.01 * sqrt(1.0 / 3 + 1), 1e-12);
}

static void verdicts_say_as_expected_or_why_not_with_the_effect_size(void **state)
{
    (void)state;
    char text[512];
    rb_measure he = rb_measure_of(3, (double[]){0.961, 0.958, 0.963}, true);
    rb_measure glorot = rb_measure_of(3, (double[]){0.952, 0.955, 0.949}, true);
    assert_true(rb_verdict(text, sizeof text, "He", he, RB_HIGHER, "Glorot", glorot, 0));
    CHECK_CONTAINS(text, "as expected: He (96.07% ± 0.25, 3 runs) is 0.87 points above ");
    CHECK_CONTAINS(text, " above Glorot (95.20% ± 0.30, 3 runs): ");
    CHECK_CONTAINS(text, "3.8 times the noise (0.23 points)");
    assert_false(rb_verdict(text, sizeof text, "Glorot", glorot, RB_HIGHER, "He", he, 0));
    CHECK_CONTAINS(text, "not as expected, because Glorot (95.20% ± 0.30, 3 runs) is 0.87 ");
    CHECK_CONTAINS(text, " points below He");
    /* Within the noise: a tie, which is what was expected of equal laws. */
    rb_measure close = rb_measure_of(3, (double[]){0.960, 0.962, 0.957}, true);
    assert_true(rb_verdict(text, sizeof text, "normal", he, RB_TIE, "uniform", close, 0));
    CHECK_CONTAINS(text, "as expected: normal");
    CHECK_CONTAINS(text, "less than twice the noise");
    CHECK_CONTAINS(text, "a tie");
    assert_false(rb_verdict(text, sizeof text, "normal", he, RB_HIGHER, "uniform", close, 0));
    CHECK_CONTAINS(text, "not as expected, because normal");
    CHECK_CONTAINS(text, "a tie");
    /* A threshold. */
    rb_measure slow = rb_measure_of(1, (double[]){0.8277}, true);
    assert_true(rb_verdict(text, sizeof text, "lr 0.001", slow, RB_LOWER, "90%",
                           rb_measure_value(0.9, true), 0));
    assert_true(strncmp(text, "as expected: lr 0.001 (82.77%) is 7.23 points below ", 52) == 0);
    CHECK_CONTAINS(text, " below 90% (90.00%); one run each: the noise is not measured");
    rb_measure loss = rb_measure_of(1, (double[]){0.25}, false);
    rb_measure_format_diff(text, sizeof text, -0.125, false);
    assert_string_equal(text, "0.125");
    assert_false(
        rb_verdict(text, sizeof text, "a", loss, RB_TIE, "b", rb_measure_value(0.3, false), 0));
    CHECK_CONTAINS(text, "a tie cannot be told from a difference");
}

/* ---- a fake training run: numbers known in advance ---- */

typedef struct fake {
    int calls;
    int events;
} fake;

/* Validation accuracy 0.9 + lr / 10 (+ 0.002 per seed): lr 0.1 and 0.11 are within the noise
 * of each other, lr 0.01 is far below. */
static rb_history *fake_run(const rb_run *run)
{
    fake *f = run->user_data;
    f->calls++;
    double lr = rb_config_get(run->config, "lr", 0.1);
    int epochs = run->epochs > 0 ? run->epochs : 3;
    rb_history *h = calloc(1, sizeof *h);
    rb_epoch_record *r = calloc((size_t)epochs, sizeof *r);
    assert_non_null(h);
    assert_non_null(r);
    *h = (rb_history){
        .n = epochs, .epochs = r, .metric = RB_METRIC_ACCURACY, .has_validation = true};
    for (int k = 0; k < epochs; k++) {
        double v = 0.9 + lr / 10 + 0.002 * (double)run->seed - 0.01 * (epochs - 1 - k);
        r[k] = (rb_epoch_record){.epoch = k + 1,
                                 .loss = 1.0 / (k + 1),
                                 .metric = v + 0.02,
                                 .val_loss = 1.1 / (k + 1),
                                 .val_metric = v,
                                 .lr = lr,
                                 .seconds = 0.01};
        rb_progress_event e = {.epoch = k + 1,
                               .epochs = epochs,
                               .step = 10,
                               .steps = 10,
                               .epoch_end = true,
                               .loss = r[k].loss,
                               .metric = r[k].metric,
                               .val_loss = r[k].val_loss,
                               .val_metric = v,
                               .metric_name = "accuracy",
                               .percent = true,
                               .remaining = -1};
        rb_progress_report(run->progress, &e);
        f->events++;
    }
    return h;
}

/* A quiet study writing into out, with --seeds; its arguments live in static storage, so one
 * such study at a time. */
static rb_study *report_study(const char *out, const char *name, int seeds)
{
    static char seeds_text[16], out_text[256];
    static char *argv[6];
    snprintf(seeds_text, sizeof seeds_text, "%d", seeds);
    snprintf(out_text, sizeof out_text, "%s", out);
    argv[0] = "prog", argv[1] = "--out", argv[2] = out_text, argv[3] = "--seeds";
    argv[4] = seeds_text, argv[5] = NULL;
    rb_study *s = rb_study_new(
        5, argv,
        (rb_study_info){.seance = "seance9",
                        .name = name,
                        .title = "A demo study",
                        .question = "does the learning rate matter?",
                        .expectation = " 1. lr 0.1 beats lr 0.01\n    by far.\n - ties stay ties",
                        .limits = "fake runs; 3 epochs",
                        .epochs = 3,
                        .quiet = true});
    assert_int_equal(rb_study_parse(s), -1);
    rb_study_start(s);
    return s;
}

static void experiment_table_marks_the_best_and_configurations_tied_with_it(void **state)
{
    (void)state;
    fake f = {0};
    rb_experiment *e = rb_experiment_new(
        (rb_experiment_config){.name = "ties", .dir = test_path("ties"), .seeds = 3, .quiet = true},
        fake_run, &f);
    rb_experiment_add_values(e, "lr", 3, (double[]){0.1, 0.11, 0.01});
    CHECK_STATUS_OK(rb_experiment_run(e, &(rb_dataset){0}, NULL));
    assert_int_equal(f.calls, 9);
    assert_int_equal(rb_experiment_best(e), 1);
    /* seeds 1..3 add 0.002 each: sd 0.002; 0.1 vs 0.11 differ by 0.001: a tie. */
    assert_true(rb_experiment_tied(e, 0, 1));
    assert_false(rb_experiment_tied(e, 2, 1));
    rb_measure m = rb_experiment_measure(e, 1, RB_FINAL_SCORE);
    assert_int_equal(m.n, 3);
    assert_true(m.percent);
    CHECK_CLOSE(m.mean, 0.9 + 0.011 + 0.004, 1e-12);
    CHECK_CLOSE(m.sd, 0.002, 1e-12);
    assert_int_equal(rb_experiment_best_of(e, "lr", 0.01), 2);
    assert_int_equal(rb_experiment_best_of(e, "lr", 0.5), -1);
    assert_int_equal(rb_experiment_best_of(e, "momentum", 0), -1);
    rb_measure gap = rb_experiment_measure(e, 1, RB_GAP);
    CHECK_CLOSE(gap.mean, 0.02, 1e-12);
    CHECK_CLOSE(rb_experiment_measure(e, 0, RB_SECONDS).mean, 0.03, 1e-12);
    char *summary = slurp(test_path("ties/summary.md"));
    CHECK_CONTAINS(summary, "| lr=0.11 **(best)** |");
    CHECK_CONTAINS(summary, "| lr=0.1 (tied with the best) |");
    CHECK_CONTAINS(summary,
                   "Best: lr=0.11 (91.50% ± 0.20). Tied with it within the noise: lr=0.1.");
    free(summary);
    rb_experiment_free(e);
}

static void
sweep_plot_draws_mean_and_spread_against_a_log_axis_with_zero_as_a_baseline(void **state)
{
    (void)state;
    fake f = {0};
    rb_experiment *e = rb_experiment_new(
        (rb_experiment_config){
            .name = "sweep", .dir = test_path("sweep"), .seeds = 2, .quiet = true},
        fake_run, &f);
    rb_experiment_add_values(e, "lr", 4, (double[]){0.3, 0, 0.01, 0.1});
    rb_experiment_add(e, "lr=0.1, other", 2, (const char *[]){"lr", "other"}, (double[]){0.1, 1});
    CHECK_STATUS_OK(rb_experiment_run(e, &(rb_dataset){0}, NULL));
    CHECK_STATUS_OK(rb_experiment_plot_sweep(e, (rb_sweep_plot){.key = "lr", .logx = true}));
    char *data = slurp(test_path("sweep/sweep_lr.dat"));
    char *script = slurp(test_path("sweep/sweep_lr.gp"));
    /* Three points sorted by lr (0 and the configuration with another setting left out), in
     * percent, with the seeds' spread as the error column. */
    assert_int_equal(count_occurrences(data, "\n0.01 "), 1);
    CHECK_CONTAINS(data, "0.01 90.4 0.1414213562");
    CHECK_CONTAINS(data, "0.3 93.3 0.1414213562");
    assert_true(strstr(data, "\n0.01 ") < strstr(data, "\n0.1 ") &&
                strstr(data, "\n0.1 ") < strstr(data, "\n0.3 "));
    CHECK_CONTAINS(script, "set logscale x");
    CHECK_CONTAINS(script, "yerrorlines");
    CHECK_CONTAINS(script, "90.3 with lines"); /* lr = 0 drawn as a baseline */
    CHECK_CONTAINS(script, "'lr=0'");
    CHECK_CONTAINS(script, "final validation accuracy (%)");
    free(data);
    free(script);
    CHECK_FAILS(rb_experiment_plot_sweep(e, (rb_sweep_plot){.key = "momentum"}), RB_ERR_ARGUMENT,
                "sets 'momentum'");
    rb_experiment_free(e);
}

/* A reconstruction run: no metric, the loss falls as 0.1 / epoch (validation 0.12 / epoch). */
static rb_history *loss_only_run(const rb_run *run)
{
    rb_history *h = rb_history_new(RB_METRIC_NONE, true);
    for (int k = 0; h && k < run->epochs; k++)
        rb_history_add(h, (rb_epoch_record){.epoch = k + 1,
                                            .loss = 0.1 / (k + 1),
                                            .metric = NAN,
                                            .val_loss = 0.12 / (k + 1),
                                            .val_metric = NAN,
                                            .seconds = 0.01});
    return h;
}

static void runs_without_metric_have_one_loss_column_and_baselines_on_their_loss_plots(void **state)
{
    (void)state;
    rb_experiment *e = rb_experiment_new(
        (rb_experiment_config){
            .name = "codes", .dir = test_path("codes"), .epochs = 3, .quiet = true},
        loss_only_run, NULL);
    rb_experiment_add_values(e, "code", 2, (double[]){2, 8});
    CHECK_STATUS_OK(rb_experiment_add_baseline(e, "mean image", 0.25));
    CHECK_STATUS_OK(rb_experiment_run(e, &(rb_dataset){0}, NULL));
    CHECK_CLOSE(rb_experiment_final(e, 0), 0.04, 1e-12);
    char *summary = slurp(test_path("codes/summary.md"));
    CHECK_CONTAINS(summary, "| configuration | final validation loss | best loss (epoch) | "
                            "training loss | seconds |\n|---|---|---|---|---|\n");
    CHECK_CONTAINS(summary, "| code=8 | 0.04 | 0.04 (3) | 0.03333 | 0.03 |");
    free(summary);
    char *script = slurp(test_path("codes/loss.gp"));
    CHECK_CONTAINS(script, "'mean image'");
    CHECK_CONTAINS(script, "0.25 with lines");
    free(script);
    CHECK_STATUS_OK(rb_experiment_plot_sweep(e, (rb_sweep_plot){.key = "code"}));
    script = slurp(test_path("codes/sweep_code.gp"));
    CHECK_CONTAINS(script, "'mean image'");
    CHECK_CONTAINS(script, "final validation loss");
    free(script);
    rb_experiment_free(e);

    /* With a metric, the baseline is the metric's: the loss plot does not show it. */
    fake f = {0};
    e = rb_experiment_new(
        (rb_experiment_config){.name = "lr", .dir = test_path("lr"), .epochs = 2, .quiet = true},
        fake_run, &f);
    rb_experiment_add_values(e, "lr", 1, (double[]){0.1});
    CHECK_STATUS_OK(rb_experiment_add_baseline(e, "chance", 0.1));
    CHECK_STATUS_OK(rb_experiment_run(e, &(rb_dataset){0}, NULL));
    script = slurp(test_path("lr/loss.gp"));
    CHECK_LACKS(script, "'chance'");
    free(script);
    script = slurp(test_path("lr/metric.gp"));
    CHECK_CONTAINS(script, "'chance'");
    free(script);
    rb_experiment_free(e);
}

static void many_configurations_plot_as_small_multiples_in_percent(void **state)
{
    (void)state;
    fake f = {0};
    rb_experiment *e = rb_experiment_new(
        (rb_experiment_config){.name = "many", .dir = test_path("many"), .quiet = true}, fake_run,
        &f);
    rb_experiment_add_values(e, "lr", 4, (double[]){0.4, 0.3, 0.2, 0.1});
    CHECK_STATUS_OK(rb_experiment_run(e, &(rb_dataset){0}, NULL));
    char *script = slurp(test_path("many/metric.gp"));
    CHECK_CONTAINS(script, "set multiplot layout 2,2");
    assert_int_equal(count_occurrences(script, "  plot "), 4);
    CHECK_CONTAINS(script, "accuracy (%)");
    CHECK_CONTAINS(script, "set yrange");
    free(script);
    char *data = slurp(test_path("many/metric.dat"));
    CHECK_CONTAINS(data, "\n3 96.2\n"); /* lr 0.4, seed 1, last epoch, training, in percent */
    free(data);
    /* The validation curves of every configuration, overlaid, beside the panels. */
    script = slurp(test_path("many/val_metric.gp"));
    CHECK_LACKS(script, "multiplot");
    CHECK_CONTAINS(script, "set key outside");
    free(script);
    rb_experiment_free(e);
}

static void a_study_writes_one_report_with_every_part_in_markdown_and_html(void **state)
{
    (void)state;
    rb_study *s = report_study(test_dir(), "demo", 3);
    fake f = {0};
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "learning_rate"}, fake_run, &f);
    rb_experiment_add_values(e, "lr", 3, (double[]){0.1, 0.11, 0.01});
    CHECK_STATUS_OK(rb_experiment_run(e, &(rb_dataset){0}, NULL));
    assert_int_equal(f.calls, 9);
    assert_int_equal(f.events, 27); /* --seeds 3, 3 epochs (the study's) each */
    CHECK_STATUS_OK(rb_experiment_plot_sweep(e, (rb_sweep_plot){.key = "lr", .logx = true}));
    rb_study_say(s, "The sweep shows **two** regimes.");
    rb_table *t = rb_study_table(s, "Test set", "model|accuracy");
    rb_table_row(t, "%s|%.2f%%", "lr 0.1", 91.25);
    rb_study_expect(s, "lr 0.1 beats lr 0.01", "lr 0.1", rb_experiment_measure(e, 0, 0), RB_HIGHER,
                    "lr 0.01", rb_experiment_measure(e, 2, 0));
    rb_study_check(s, "the best is above 99%", false, "the best reaches %.2f%%", 91.5);
    rb_model *m = rb_model_new(RB_F32, "tiny", RB_SHAPE(4));
    rb_model_add(m, RB_DENSE(.units = 3));
    rb_study_model(s, "tiny", m, RB_BY_HAND(4 * 3 + 3));
    rb_model_free(m);
    char folder[512];
    snprintf(folder, sizeof folder, "%s", rb_study_dir(s));
    assert_int_equal(rb_study_finish(s), 0);

    char md_path[600], html_path[600];
    snprintf(md_path, sizeof md_path, "%s/report.md", folder);
    snprintf(html_path, sizeof html_path, "%s/report.html", folder);
    char *md = slurp(md_path);
    const char *parts[] = {
        "# A demo study",
        "## Question\n\ndoes the learning rate matter?",
        "## Expected, stated before running\n\n1. lr 0.1 beats lr 0.01 by far.\n- ties stay ties",
        "## Verdicts",
        "- lr 0.1 beats lr 0.01 → **as expected**: lr 0.1 (",
        "- the best is above 99% → **not as expected**, because the best reaches 91.50%",
        "1 of 2 as expected",
        "### learning_rate",
        "| lr=0.11 **(best)** |",
        "| lr=0.1 (tied with the best) |",
        "Tied with it within the noise: lr=0.1.",
        "The sweep shows **two** regimes.",
        "**Test set**\n\n| model | accuracy |\n|---|---|\n| lr 0.1 | 91.25% |",
        "**tiny**: 15 parameters by hand, `4 * 3 + 3`; 15 reported by the library",
        "they agree",
        "## Limits\n\nfake runs; 3 epochs",
        "| command | `prog --out ",
        "--seeds 3` |",
        "| machine | ",
        "threads; BLIS",
        "| date | ",
        "| duration | "};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        CHECK_CONTAINS(md, parts[i]);
    if (rb_plot_available()) {
        CHECK_CONTAINS(md, "](learning_rate/metric.svg)");
        CHECK_CONTAINS(md, "](learning_rate/sweep_lr.svg)");
    }
    free(md);

    char *html = slurp(html_path);
    CHECK_CONTAINS(html, "<meta charset=\"utf-8\">");
    CHECK_CONTAINS(html, "<title>A demo study (seance9)</title>");
    CHECK_CONTAINS(html, "<meta name=\"ruban-verdicts\" content=\"1 of 2 as expected\">");
    CHECK_CONTAINS(html, "<meta name=\"ruban-run\" content=\"full\">");
    CHECK_CONTAINS(html, "<td>lr=0.11 <strong>(best)</strong></td>");
    CHECK_CONTAINS(html, "<strong>two</strong>");
    CHECK_CONTAINS(html, "<ol>\n<li>lr 0.1 beats lr 0.01 by far.</li>");
    CHECK_CONTAINS(html, "<pre><code>");
    /* Self-contained: no file is referenced, every picture is inline. */
    CHECK_LACKS(html, "src=\"learning_rate");
    CHECK_LACKS(html, "href=\"learning_rate");
    if (rb_plot_available()) {
        assert_true(count_occurrences(html, "<svg") >= 3);
        CHECK_CONTAINS(html, "id=\"p1-gnuplot_canvas\"");
        CHECK_CONTAINS(html, "id=\"p2-gnuplot_canvas\"");
        CHECK_LACKS(html, "<?xml");
    }
    free(html);
}

static void the_index_links_every_report_and_is_rebuilt_from_the_folder(void **state)
{
    (void)state;
    rb_study *a = report_study(test_dir(), "first", 1);
    rb_study_check(a, "it works", true, "it does");
    assert_int_equal(rb_study_finish(a), 0);
    char index[600];
    snprintf(index, sizeof index, "%s/index.html", test_dir());
    char *html = slurp(index);
    CHECK_CONTAINS(html, "<a href=\"seance9/first/report.html\">A demo study</a>");
    CHECK_CONTAINS(html, "1 of 1 as expected");
    CHECK_LACKS(html, "seance9/second");
    free(html);
    rb_study *b = report_study(test_dir(), "second", 1);
    assert_int_equal(rb_study_finish(b), 0);
    html = slurp(index);
    CHECK_CONTAINS(html, "seance9/first/report.html");
    CHECK_CONTAINS(html, "seance9/second/report.html");
    assert_true(strstr(html, "seance9/first") < strstr(html, "seance9/second"));
    CHECK_CONTAINS(html, "does the learning rate matter?");
    free(html);
    /* A folder removed by hand leaves the index at its next writing. */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/seance9/first'", test_dir());
    assert_int_equal(system(cmd), 0);
    CHECK_STATUS_OK(rb_study_write_index(test_dir()));
    html = slurp(index);
    CHECK_LACKS(html, "seance9/first");
    CHECK_CONTAINS(html, "seance9/second");
    free(html);
    snprintf(cmd, sizeof cmd, "%s/.index.lock", test_dir());
    assert_int_equal(access(cmd, F_OK), 0);
}

static void quick_runs_and_unfinished_studies_say_so_on_their_page(void **state)
{
    (void)state;
    char *argv[] = {"prog", "--quick", "--out", test_dir(), NULL};
    rb_study *s = rb_study_new(
        4, argv, (rb_study_info){.seance = "seance9", .name = "q", .epochs = 30, .quiet = true});
    rb_study_start(s);
    fake f = {0};
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "long", .epochs = 60}, fake_run, &f);
    rb_experiment_add_values(e, "lr", 1, (double[]){0.1});
    CHECK_STATUS_OK(rb_experiment_run(e, &(rb_dataset){0}, NULL));
    assert_int_equal(f.events, 2); /* --quick: 2 epochs */
    CHECK_STATUS_OK(rb_study_write_report(s));
    char path[600];
    snprintf(path, sizeof path, "%s/report.md", rb_study_dir(s));
    char *md = slurp(path);
    CHECK_CONTAINS(md, "**Quick run**");
    CHECK_CONTAINS(md, "**Still running**");
    free(md);
    assert_int_equal(rb_study_finish(s), 0);
    md = slurp(path);
    CHECK_LACKS(md, "Still running");
    free(md);
    snprintf(path, sizeof path, "%s/index.html", test_dir());
    char *index = slurp(path);
    CHECK_CONTAINS(index, "quick");
    free(index);
}

/* ---- pieces of the page ---- */

static void markdown_becomes_html_with_tables_lists_code_and_escapes(void **state)
{
    (void)state;
    FILE *f = fopen(test_path("page.html"), "w");
    assert_non_null(f);
    CHECK_STATUS_OK(rb__markdown_to_html(
        "# Title <1>\n\nA paragraph\non two lines with `a < b` and **bold**.\n\n"
        "| a | b |\n|---|---|\n| 1 | x & y |\n\n"
        "- one\n  more\n- two\n\n1. first\n2. second\n\n"
        "```\nint x = 1 < 2;\n```\n\n> a note\n\n"
        "![a picture](missing.svg)\n\nsee [the index](../index.html)\n",
        test_dir(), f));
    fclose(f);
    char *html = slurp(test_path("page.html"));
    const char *expected[] = {
        "<h1>Title &lt;1&gt;</h1>",
        "<p>A paragraph on two lines with <code>a &lt; b</code> and <strong>bold</strong>.</p>",
        "<thead>\n<tr><th>a</th><th>b</th></tr>",
        "<tr><td>1</td><td>x &amp; y</td></tr>",
        "<ul>\n<li>one more</li>\n<li>two</li>\n</ul>",
        "<ol>\n<li>first</li>\n<li>second</li>\n</ol>",
        "<pre><code>int x = 1 &lt; 2;\n</code></pre>",
        "<blockquote><p>a note</p></blockquote>",
        "picture not found: missing.svg",
        "<figcaption>a picture</figcaption>",
        "<a href=\"../index.html\">the index</a>"};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        CHECK_CONTAINS(html, expected[i]);
    free(html);
}

static void progress_lines_name_the_run_its_epoch_and_the_time_left(void **state)
{
    (void)state;
    FILE *f = fopen(test_path("progress.txt"), "w+");
    assert_non_null(f);
    rb_progress_display d = {.f = f};
    rb_progress_event e = {.epoch = 2,
                           .epochs = 5,
                           .step = 3,
                           .steps = 10,
                           .loss = 0.3124,
                           .metric = 0.9012,
                           .val_loss = NAN,
                           .val_metric = NAN,
                           .metric_name = "accuracy",
                           .percent = true,
                           .experiment = "demo/lr",
                           .run_label = "lr=0.1",
                           .run = 3,
                           .runs = 6,
                           .remaining = 70};
    rb_progress_show(&d, &e); /* not a terminal: nothing until the epoch ends */
    e.epoch_end = true;
    e.val_loss = 0.2811;
    e.val_metric = 0.912;
    e.seconds = 2.1;
    rb_progress_show(&d, &e);
    fclose(f);
    char *text = slurp(test_path("progress.txt"));
    /* One line, the run first, then the epoch, the numbers and the time left. */
    assert_int_equal(count_occurrences(text, "\n"), 1);
    assert_true(strncmp(text, "[demo/lr 3/6] lr=0.1 - epoch 2/5 - loss 0.3124 - ", 49) == 0);
    CHECK_CONTAINS(text, " - loss 0.3124 - accuracy 90.12% - val_loss 0.2811 - ");
    CHECK_CONTAINS(text, " - val_accuracy 91.20% - 2.1 s - about 1:10 left\n");
    free(text);
    char out[32];
    rb_format_duration(out, sizeof out, 3723);
    assert_string_equal(out, "1:02:03");
}

static void plots_with_panels_and_baselines_share_axes_and_keep_legends_outside(void **state)
{
    (void)state;
    const double x[3] = {1, 2, 3}, y[3] = {90, 92, 93}, z[3] = {80, 85, 86}, err[3] = {1, 1, 1};
    rb_series s[3] = {{.label = "a", .n = 3, .x = x, .y = y, .panel = 0},
                      {.label = "b", .n = 3, .x = x, .y = z, .panel = 1, .err = err},
                      {.label = "c", .n = 3, .x = x, .y = y, .panel = 1, .dashed = true}};
    const char *titles[2] = {"left", "right"};
    char base[512];
    snprintf(base, sizeof base, "%s/panels", test_dir());
    CHECK_STATUS_OK(rb_plot_lines(base,
                                  (rb_plot){.title = "t",
                                            .panels = 2,
                                            .panel_titles = titles,
                                            .n_baselines = 1,
                                            .baselines = &(rb_baseline){"chance", 10}},
                                  3, s));
    char *script = slurp(test_path("panels.gp"));
    CHECK_CONTAINS(script, "set multiplot layout 1,2");
    CHECK_CONTAINS(script, "set yrange [");
    CHECK_CONTAINS(script, "set key below");
    CHECK_CONTAINS(script, "'left'");
    CHECK_CONTAINS(script, "'right'");
    assert_int_equal(count_occurrences(script, "10 with lines lc rgb '#000000'"), 2);
    CHECK_CONTAINS(script, "index 1 using 1:2:3 with yerrorlines");
    free(script);
    if (rb_plot_available()) {
        char *svg = slurp(test_path("panels.svg"));
        CHECK_CONTAINS(svg, "<svg");
        free(svg);
    }
    CHECK_FAILS(rb_plot_lines(base, (rb_plot){.panels = 1}, 3, s), RB_ERR_ARGUMENT,
                "series 1 is in panel 1 of 1");
    script = NULL;
    snprintf(base, sizeof base, "%s/single", test_dir());
    CHECK_STATUS_OK(rb_plot_lines(base, (rb_plot){.title = "one"}, 1, s));
    script = slurp(test_path("single.gp"));
    CHECK_CONTAINS(script, "set key outside right top");
    CHECK_LACKS(script, "multiplot");
    free(script);
}

/* Width, height and colour type of a PNG file. */
static void png_size(const char *path, int *w, int *h, int *type)
{
    unsigned char head[26];
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s was not written", path);
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    assert_int_equal(got, sizeof head);
    *w = head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19];
    *h = head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23];
    *type = head[25];
}

static void image_grids_are_enlarged_and_leave_room_for_their_labels(void **state)
{
    (void)state;
    rb_tensor *images = rb_tensor_zeros(RB_F32, RB_SHAPE(4, 28, 28, 1));
    const char *rows[2] = {"original", "reconstruction"};
    const char *captions[4] = {"7", "2", "1", "0"};
    CHECK_STATUS_OK(rb_plot_images(test_path("grid.png"), images,
                                   (rb_image_grid){.columns = 2,
                                                   .title = "digits",
                                                   .row_labels = rows,
                                                   .n_row_labels = 2,
                                                   .captions = captions}));
    int w, h, type;
    png_size(test_path("grid.png"), &w, &h, &type);
    assert_int_equal(type, 0); /* grey */
    /* Scale 3 (84 pixels a side), a label column for "reconstruction" (14 glyphs of 12 px). */
    assert_true(w >= 2 * 84 + 14 * 12);
    assert_true(h >= 2 * 84 + 2 * 18 + 18);
    rb_tensor *rgb = rb_tensor_zeros(RB_F32, RB_SHAPE(3, 8, 8, 3));
    CHECK_STATUS_OK(rb_plot_images(test_path("rgb.png"), rgb, (rb_image_grid){.scale = 4}));
    png_size(test_path("rgb.png"), &w, &h, &type);
    assert_int_equal(type, 2);
    assert_int_equal(h, 4 + 1 * (8 * 4 + 4));
    CHECK_FAILS(rb_plot_images(test_path("bad.png"), rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3)),
                               (rb_image_grid){0}),
                RB_ERR_SHAPE, "expects (N, H, W)");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(common_flags_set_epochs_seeds_threads_and_the_results_folder),
        TEST(defaults_apply_without_flags_and_quick_caps_the_epochs),
        TEST(unknown_flags_and_stray_arguments_are_errors),
        TEST(bad_values_are_errors_naming_the_flag_and_the_value),
        TEST(settings_read_lists_numbers_booleans_choices_and_texts),
        TEST_DIR(choice_lists_give_indices_in_the_order_given_and_refuse_unknown_or_repeated_names),
        TEST_DIR(help_returns_zero_and_the_usage_lists_every_flag_with_its_default),
        TEST(settings_are_refused_after_start_twice_or_under_a_common_name),
        TEST(measure_gives_mean_sd_and_range_leaving_out_nan),
        TEST(a_difference_within_twice_its_noise_is_a_tie),
        TEST(one_run_each_measures_no_noise_unless_a_floor_is_given),
        TEST(verdicts_say_as_expected_or_why_not_with_the_effect_size),
        TEST_DIR(experiment_table_marks_the_best_and_configurations_tied_with_it),
        TEST_DIR(sweep_plot_draws_mean_and_spread_against_a_log_axis_with_zero_as_a_baseline),
        TEST_DIR(runs_without_metric_have_one_loss_column_and_baselines_on_their_loss_plots),
        TEST_DIR(many_configurations_plot_as_small_multiples_in_percent),
        TEST_DIR(a_study_writes_one_report_with_every_part_in_markdown_and_html),
        TEST_DIR(the_index_links_every_report_and_is_rebuilt_from_the_folder),
        TEST_DIR(quick_runs_and_unfinished_studies_say_so_on_their_page),
        TEST_DIR(markdown_becomes_html_with_tables_lists_code_and_escapes),
        TEST_DIR(progress_lines_name_the_run_its_epoch_and_the_time_left),
        TEST_DIR(plots_with_panels_and_baselines_share_axes_and_keep_legends_outside),
        TEST_DIR(image_grids_are_enlarged_and_leave_room_for_their_labels),
    };
    return RUN_TESTS(tests, argc, argv);
}
