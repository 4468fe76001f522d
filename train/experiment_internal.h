/* The experiment runner's state, shared by its files and by the study that owns experiments
 * (internal to train/). */
#ifndef RUBAN_TRAIN_EXPERIMENT_INTERNAL_H
#define RUBAN_TRAIN_EXPERIMENT_INTERNAL_H

#include "ruban.h"

/* A picture of the results folder: file name without extension, and what it shows. */
typedef struct rb__picture {
    char file[96];
    char title[256];
} rb__picture;

enum { RB__MAX_PICTURES = 16 };

/* What a study asks of an experiment it owns. */
typedef struct rb__experiment_observer {
    void (*progress)(void *ctx, rb_experiment *e, rb_progress_event *event); /* completes, shows */
    void (*done)(void *ctx, rb_experiment *e); /* after the results folder is written */
    void *ctx;
    const char *title; /* the experiment's name in progress lines ("study/experiment"), copied */
} rb__experiment_observer;

struct rb_experiment {
    rb_experiment_config cfg;
    char name[128], metric_label[64], dir[900];
    char out_dir[1000]; /* dir, or dir/cross_validation for a cross-validation's results */
    rb_run_fn fn;
    void *user_data;
    int n, cap;
    rb_config *configs;
    rb_history ***runs; /* runs[i][r] */
    int *n_runs;
    bool cross_validated;
    /* Progress: the run under way, and the durations of those done. */
    rb__experiment_observer observer;
    char title[200]; /* the observer's title */
    rb_progress_display display;
    char run_label[192];
    int run_no, planned_runs, done_runs;
    double run_start, done_seconds;
    /* Reference lines of the metric's plots. */
    int n_baselines;
    double baseline_values[4];
    char baseline_labels[4][96];
    /* Pictures written into the results folder, in order. */
    int n_pictures;
    rb__picture pictures[RB__MAX_PICTURES];
};

/* The quantity compared: validation metric, else training metric; the loss without metric. */
double rb__score(const rb_history *h, const rb_epoch_record *r);
double rb__final_score(const rb_history *h);
/* One quantity of one run (NaN when it cannot be measured). */
double rb__run_quantity(const rb_history *h, rb_quantity q);
const rb_history *rb__first_history(const rb_experiment *e);
const char *rb__metric_label(const rb_experiment *e, const rb_history *h);
/* Accuracies, shown in percent. */
bool rb__percent(const rb_history *h);
/* A metric for a table: accuracy in percent, others as they are. */
void rb__format_value(char *out, size_t size, const rb_history *h, double v);

/* The baselines scaled for a plot (100 for accuracies in percent); returns how many. */
int rb__experiment_baselines(const rb_experiment *e, double scale, rb_baseline *out);
/* The learning curves (loss, metric, learning rate when it changes) into the results folder. */
rb_status rb__experiment_plot_curves(rb_experiment *e);
/* Record a picture of the folder (replaces one of the same file). */
void rb__experiment_add_picture(rb_experiment *e, const char *file, const char *title);
/* The table without its heading, and a sentence on the best configuration and its ties. */
void rb__experiment_write_table(const rb_experiment *e, FILE *f);
void rb__experiment_best_sentence(const rb_experiment *e, char *out, size_t size);
/* Let a study follow an experiment it owns. */
void rb__experiment_observe(rb_experiment *e, rb__experiment_observer observer);
/* Runs planned, runs done and their mean duration in seconds (NaN before the first). */
void rb__experiment_progress(const rb_experiment *e, int *planned, int *done, double *mean);

#endif
