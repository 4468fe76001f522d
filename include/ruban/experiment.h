/* ruban/experiment.h - the comparisons the course asks for, automated: named configurations,
 * each trained (with one or several seeds) by a function you write, then one results folder
 * with every per-epoch history (CSV), learning curves (PNG and SVG; small multiples when there
 * are many, accuracies in percent), and a markdown table of final and best metrics with
 * training time, the best configuration and those tied with it within the seed-to-seed noise.
 * A grid search with k-fold cross-validation picks the best configuration.
 *
 *     static rb_history *train_one(const rb_run *run)
 *     {
 *         double lr = rb_config_get(run->config, "lr", 0.01);
 *         ... build a model seeded with run->seed, rb_fit it on run->train with
 *             .epochs = run->epochs, .progress = run->progress,
 *             .validation = run->validation, free it ...
 *         return history;                          // the experiment keeps it
 *     }
 *
 *     rb_experiment *e = rb_experiment_new((rb_experiment_config){.name = "learning_rate",
 *                                                                 .epochs = 5, .seeds = 3},
 *                                          train_one, NULL);
 *     rb_experiment_add_values(e, "lr", 3, (double[]){0.1, 0.01, 0.001});
 *     rb_experiment_run(e, &train, &validation);   // prints the table, writes the folder
 *     rb_experiment_plot_sweep(e, (rb_sweep_plot){.key = "lr", .logx = true});
 *     rb_measure best = rb_experiment_measure(e, rb_experiment_best(e), RB_FINAL_SCORE);
 *     rb_experiment_free(e);
 *
 * In a study (ruban/study.h), rb_study_experiment makes the experiment and puts its table and
 * pictures into the study's report.
 */
#ifndef RUBAN_EXPERIMENT_H
#define RUBAN_EXPERIMENT_H

#include <stdio.h>

#include "ruban/base.h"
#include "ruban/data.h"
#include "ruban/error.h"
#include "ruban/fit.h"
#include "ruban/measure.h"
#include "ruban/plot.h"
#include "ruban/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RB_CONFIG_MAX_KEYS 8

/* A named set of numeric settings ("lr=0.1 depth=2"); keys are at most 31 characters. */
typedef struct rb_config {
    char name[128];
    int n;
    char keys[RB_CONFIG_MAX_KEYS][32];
    double values[RB_CONFIG_MAX_KEYS];
} rb_config;

/* The value of key, or fallback when the configuration does not set it. */
RB_API double rb_config_get(const rb_config *c, const char *key, double fallback);

/* One training run: a configuration, a seed, and the data to train and validate on. */
typedef struct rb_run {
    const rb_config *config;
    int index;     /* the configuration's index in the experiment */
    uint64_t seed; /* 1, 2, ... for the repetitions */
    int repeat;    /* 0 .. seeds - 1 */
    int fold;      /* cross-validation fold, -1 otherwise */
    const rb_dataset *train;
    const rb_dataset *validation; /* may be NULL */
    void *user_data;
    int epochs;                /* the experiment's epoch budget (0: not set, the run decides) */
    rb_progress_hook progress; /* give it to rb_fit (.progress): shows the run, its epoch and
                                * the time left */
    rb_dist *dist;             /* the experiment's job: give it to rb_fit (.dist) */
} rb_run;

/* Trains one model for the run and returns its history (the experiment takes it), or NULL
 * after an error. */
typedef rb_history *(*rb_run_fn)(const rb_run *run);

typedef struct rb_experiment_config {
    const char *name;   /* title of the tables and plots; folder results/<name> */
    const char *dir;    /* results folder instead of results/<name> */
    int seeds;          /* repetitions of each configuration (default 1) */
    const char *metric; /* label of the metric in tables and plots (default: its name) */
    bool quiet;         /* no table on stdout */
    int epochs;         /* handed to each run as run->epochs (0: not set) */
    uint64_t seed;      /* seed of the first repetition (default 1; then 2, 3, ...) */
    double noise;       /* seed-to-seed standard deviation of one run's final score assumed
                         * at least (what one seed cannot measure); 0: none */
    rb_dist *dist;      /* data-parallel runs (ruban/dist.h): every rank runs the experiment,
                         * each run gets the job (run->dist); only rank 0 prints and writes
                         * the results folder */
} rb_experiment_config;

typedef struct rb_experiment rb_experiment;

RB_API rb_experiment *rb_experiment_new(rb_experiment_config config, rb_run_fn fn, void *user_data);
/* One configuration: name (NULL: made from the settings) and n settings. Returns its index. */
RB_API int rb_experiment_add(rb_experiment *e, const char *name, int n, const char *const *keys,
                             const double *values);
/* One configuration per value of a single setting. */
RB_API rb_status rb_experiment_add_values(rb_experiment *e, const char *key, int n,
                                          const double *values);
/* Every combination of the settings' values (a grid): counts[k] values for keys[k]. */
RB_API rb_status rb_experiment_add_grid(rb_experiment *e, int n_keys, const char *const *keys,
                                        const int *counts, const double *const *values);

/* Train every configuration (seeds times each) on train, validating on validation (may be
 * NULL), then write the results folder and print the table. Fails at the first run that
 * fails, keeping what finished. */
RB_API rb_status rb_experiment_run(rb_experiment *e, const rb_dataset *train,
                                   const rb_dataset *validation);
/* Grid search by k-fold cross-validation on data (stratified when y holds int64 labels):
 * every configuration is trained k times (run->fold = 0..k-1, run->seed = seed + fold + 1;
 * config.seeds does not apply); the table gives the mean and spread of the final validation
 * metric over the folds. Returns the best configuration's index (-1 on error). */
RB_API int rb_experiment_cross_validate(rb_experiment *e, const rb_dataset *data, int k,
                                        uint64_t seed);

RB_API int rb_experiment_count(const rb_experiment *e);
RB_API const rb_config *rb_experiment_config_at(const rb_experiment *e, int i);
/* Number of runs kept for configuration i (seeds, or folds after cross-validation). */
RB_API int rb_experiment_runs(const rb_experiment *e, int i);
RB_API const rb_history *rb_experiment_history(const rb_experiment *e, int i, int run);
/* Mean over runs of the last epoch's validation metric (training metric without validation;
 * the loss when there is no metric). */
RB_API double rb_experiment_final(const rb_experiment *e, int i);
/* Index of the best configuration by rb_experiment_final (highest accuracy, lowest error). */
RB_API int rb_experiment_best(const rb_experiment *e);
/* What can be measured of a configuration's runs. */
typedef enum rb_quantity {
    RB_FINAL_SCORE = 0,  /* what the table ranks: the final validation metric (training metric
                          * without validation; the loss without metric) */
    RB_FINAL_METRIC,     /* training metric at the last epoch */
    RB_FINAL_VAL_METRIC, /* validation metric at the last epoch */
    RB_FINAL_LOSS,
    RB_FINAL_VAL_LOSS,
    RB_BEST_VAL_METRIC, /* the best epoch's validation metric */
    RB_LOWEST_VAL_LOSS,
    RB_GAP,    /* training metric minus validation metric at the last epoch */
    RB_SECONDS /* training time of a run */
} rb_quantity;

/* The quantity over the runs of configuration i (mean, spread, count); accuracies are
 * fractions marked percent. NaN mean when nothing was measured. */
RB_API rb_measure rb_experiment_measure(const rb_experiment *e, int i, rb_quantity q);
/* The best configuration among those whose setting key equals value (-1 when none ran): the
 * best learning rate of each optimizer of a grid, say. */
RB_API int rb_experiment_best_of(const rb_experiment *e, const char *key, double value);
/* Whether configurations i and j are tied on their final score: their difference lies within
 * RB_TIE_WITHIN times its noise (ruban/measure.h; config.noise as the floor). */
RB_API bool rb_experiment_tied(const rb_experiment *e, int i, int j);
/* One configuration copied from another experiment's (e.g. the best one, to retrain). */
RB_API int rb_experiment_add_config(rb_experiment *e, const rb_config *c);
RB_API const char *rb_experiment_name(const rb_experiment *e);
/* A reference line across the metric's plots and sweeps (in the metric's unit, accuracies as
 * fractions; in the loss's, across the loss plots, when the runs have no metric): a
 * closed-form model's score, a chance level. At most 4. */
RB_API rb_status rb_experiment_add_baseline(rb_experiment *e, const char *label, double value);

/* A sweep plot: a quantity against one setting, mean over the runs with their spread as error
 * bars, one curve per value of another setting. */
typedef struct rb_sweep_plot {
    const char *file;               /* in the results folder (default "sweep_<key>") */
    const char *key;                /* the setting on the x axis */
    const char *group;              /* one curve per value of this setting (NULL: one curve) */
    const char *const *group_names; /* labels of the group values 0, 1, ... (NULL: "g=v") */
    rb_quantity quantity;           /* default RB_FINAL_SCORE */
    bool logx;                      /* logarithmic x axis (learning rates, penalties) */
    const char *title, *xlabel;     /* defaults from the experiment, the key */
    int n_baselines;                /* reference lines (a closed-form model, a chance level) */
    const rb_baseline *baselines;
} rb_sweep_plot;

/* Draw the sweep (PNG and SVG) and list it among the experiment's pictures. Configurations
 * with a setting that the first one with the key lacks are left out; on a logarithmic axis,
 * a value <= 0 of the key (no penalty, say) becomes a horizontal baseline. */
RB_API rb_status rb_experiment_plot_sweep(rb_experiment *e, rb_sweep_plot p);

/* The markdown table (also written as summary.md). */
RB_API void rb_experiment_print_table(const rb_experiment *e, FILE *f);
/* The results folder (a cross-validation writes into its subfolder cross_validation/). */
RB_API const char *rb_experiment_dir(const rb_experiment *e);
RB_API void rb_experiment_free(rb_experiment *e);

#ifdef __cplusplus
}
#endif
#endif
