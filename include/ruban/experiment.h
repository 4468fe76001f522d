/* ruban/experiment.h - the comparisons the course asks for, automated: named configurations,
 * each trained (with one or several seeds) by a function you write, then one results folder
 * with every per-epoch history (CSV), learning curves (PNG and SVG), and a markdown table of
 * final and best metrics with training time. A grid search with k-fold cross-validation picks
 * the best configuration.
 *
 *     static rb_history *train_one(const rb_run *run)
 *     {
 *         double lr = rb_config_get(run->config, "lr", 0.01);
 *         ... build a model seeded with run->seed, rb_fit it on run->train with
 *             .validation = run->validation, free it ...
 *         return history;                          // the experiment keeps it
 *     }
 *
 *     rb_experiment *e = rb_experiment_new((rb_experiment_config){.name = "learning_rate"},
 *                                          train_one, NULL);
 *     rb_experiment_add_values(e, "lr", 3, (double[]){0.1, 0.01, 0.001});
 *     rb_experiment_run(e, &train, &validation);   // prints the table, writes the folder
 *     rb_experiment_free(e);
 */
#ifndef RUBAN_EXPERIMENT_H
#define RUBAN_EXPERIMENT_H

#include <stdio.h>

#include "ruban/base.h"
#include "ruban/data.h"
#include "ruban/error.h"
#include "ruban/fit.h"

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
/* The markdown table (also written as summary.md). */
RB_API void rb_experiment_print_table(const rb_experiment *e, FILE *f);
/* The results folder (a cross-validation writes into its subfolder cross_validation/). */
RB_API const char *rb_experiment_dir(const rb_experiment *e);
RB_API void rb_experiment_free(rb_experiment *e);

#ifdef __cplusplus
}
#endif
#endif
