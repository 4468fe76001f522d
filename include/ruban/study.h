/* ruban/study.h - a course program as a study a student can steer and read: the same flags
 * for every program, the study's own typed settings, progress over the whole study, and one
 * report page (<out>/<seance>/<name>/report.md and a self-contained report.html) holding the
 * question, the expectation, the tables, the curves, the verdicts, the limits, the model and
 * how the page was made. <out>/index.html links every report.
 *
 *     int main(int argc, char **argv)
 *     {
 *         rb_study *s = rb_study_new(argc, argv, (rb_study_info){
 *             .seance = "seance1", .name = "hyperparameters", .question = question,
 *             .expectation = expectation, .limits = limits, .epochs = 5});
 *         double lrs[8];
 *         int n = rb_study_list(s, "lr", "1,0.1,0.01", lrs, 8, "SGD learning rates");
 *         rb_study_start(s);               // --help, bad flags; prints the question
 *         ... load data, rb_study_shrink(s, &train, 2000) for --quick ...
 *         rb_experiment *e = rb_study_experiment(s, (rb_experiment_config){.name = "lr"},
 *                                                train_one, NULL);
 *         rb_experiment_add_values(e, "lr", n, lrs);
 *         rb_experiment_run(e, &train, &validation);   // table and curves into the report
 *         rb_study_expect(s, "lr 0.1 beats lr 0.01",
 *                         "lr 0.1", rb_experiment_measure(e, 1, RB_FINAL_SCORE), RB_HIGHER,
 *                         "lr 0.01", rb_experiment_measure(e, 2, RB_FINAL_SCORE));
 *         return rb_study_finish(s);       // limits, report.md, report.html, index.html
 *     }
 *
 * Common flags: --help, --quick (a few seconds on a subset, on one thread unless --threads
 * says otherwise: for tests), --epochs N, --seed N (first seed), --seeds N (repetitions),
 * --threads N, --out DIR (default results). A flag takes its value as "--epochs 3" or
 * "--epochs=3"; a boolean is "--name", "--no-name" or "--name=yes|no". An unknown flag or a
 * bad value is an error: the message and the usage line on stderr, exit status 2.
 */
#ifndef RUBAN_STUDY_H
#define RUBAN_STUDY_H

#include <stdio.h>

#include "ruban/base.h"
#include "ruban/data.h"
#include "ruban/error.h"
#include "ruban/experiment.h"
#include "ruban/measure.h"
#include "ruban/model.h"
#include "ruban/plot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_study_info {
    const char *seance; /* "seance1": folder under --out, and the page's subtitle */
    const char *name;   /* "hyperparameters": the study's folder and the program's name */
    const char *title;  /* the page's title (default: name) */
    const char *question, *expectation, *limits; /* console text; lines starting "1." or "-"
                                                  * become list items in the report */
    int epochs;       /* default of --epochs for experiments that set none (0: theirs) */
    int quick_epochs; /* epochs under --quick unless --epochs is given (default 2) */
    int seeds;        /* default of --seeds (default 1) */
    double noise;     /* seed-to-seed standard deviation of one run's final score assumed at
                       * least: what one seed cannot measure (0: none; experiment .noise) */
    bool quiet;       /* print nothing (tests) */
} rb_study_info;

typedef struct rb_study rb_study;
typedef struct rb_table rb_table;

/* A study reading its flags from argv (kept: argv must outlive the study). Usage errors are
 * kept for rb_study_start, so that every setting is declared first. NULL when out of memory. */
RB_API rb_study *rb_study_new(int argc, char **argv, rb_study_info info);

/* The study's own settings, declared before rb_study_start: each returns the value given on
 * the command line as --<name>, or fallback. help is one line for --help. */
RB_API int rb_study_int(rb_study *s, const char *name, int fallback, const char *help);
RB_API double rb_study_double(rb_study *s, const char *name, double fallback, const char *help);
RB_API bool rb_study_bool(rb_study *s, const char *name, bool fallback, const char *help);
/* A text (the returned pointer lives as long as the study or argv). */
RB_API const char *rb_study_string(rb_study *s, const char *name, const char *fallback,
                                   const char *help);
/* One of choices ("sgd|adam|rmsprop"): returns its index; fallback is one of them. */
RB_API int rb_study_choice(rb_study *s, const char *name, const char *choices, const char *fallback,
                           const char *help);
/* A comma-separated list of numbers ("0.1,0.03,1e-3") into values (at most cap): returns how
 * many. */
RB_API int rb_study_list(rb_study *s, const char *name, const char *fallback, double *values,
                         int cap, const char *help);
/* A comma-separated list of choices ("lstm,gru" among "simplernn|lstm|gru") into the indices of
 * the choices given, in the order given (at most cap): returns how many. fallback is such a
 * list too. */
RB_API int rb_study_choices(rb_study *s, const char *name, const char *choices,
                            const char *fallback, int *indices, int cap, const char *help);

/* Check the flags: -1 to run; 0 after --help (usage printed); 2 after an unknown flag or a bad
 * value (message and usage line printed on stderr). rb_study_start without the exit. */
RB_API int rb_study_parse(rb_study *s);
/* Check the flags (on --help or an error: free the study and exit with rb_study_parse's
 * status, as a command-line program does), apply --threads, create the study's folder, print
 * the question and the expectation. */
RB_API void rb_study_start(rb_study *s);
/* The usage line (full: every flag with its default and help) into f. */
RB_API void rb_study_usage(const rb_study *s, FILE *f, bool full);
/* The first usage error ("" when none). */
RB_API const char *rb_study_error(const rb_study *s);

RB_API bool rb_study_quick(const rb_study *s);
/* --epochs when given, else the quick epochs under --quick, else fallback (for loops written
 * by hand; experiments get theirs as run->epochs). */
RB_API int rb_study_epochs(const rb_study *s, int fallback);
RB_API uint64_t rb_study_seed(const rb_study *s);
RB_API int rb_study_seeds(const rb_study *s);
/* <out>/<seance>/<name>: the study's folder. */
RB_API const char *rb_study_dir(const rb_study *s);
/* Under --quick, keep the first `rows` rows of d (the rest is freed); otherwise nothing. */
RB_API rb_status rb_study_shrink(const rb_study *s, rb_dataset *d, int64_t rows);

/* An experiment of the study (the study owns it: do not free it), writing into
 * <study folder>/<cfg.name>. Unless cfg sets them: seeds from --seeds, the first seed from
 * --seed, noise from the study; epochs (run->epochs): --epochs, else cfg.epochs, else the
 * study's, capped to the quick epochs under --quick. Its table, best configuration and
 * pictures (sweeps drawn later too) enter the report, in the order the experiments finish. */
RB_API rb_experiment *rb_study_experiment(rb_study *s, rb_experiment_config cfg, rb_run_fn fn,
                                          void *user_data);

/* A paragraph (markdown: **bold**, `code`), printed and added to the report. */
RB_API void rb_study_say(rb_study *s, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A heading in the report (and on the console). */
RB_API void rb_study_section(rb_study *s, const char *title);
/* A table with a title and its columns ("model|RMSE|R^2"), printed row by row and reported. */
RB_API rb_table *rb_study_table(rb_study *s, const char *title, const char *columns);
/* One row: cells separated by '|' ("%s|%.4f|%.3f"). */
RB_API void rb_table_row(rb_table *t, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A line plot into the study's folder (<file>.svg/.png), shown in the report. */
RB_API rb_status rb_study_plot(rb_study *s, const char *file, rb_plot plot, int n,
                               const rb_series *series);
/* A surface with paths drawn over it (rb_plot_surface: a loss over two parameters and each
 * optimizer's trajectory) into the study's folder (<file>.svg/.png), shown in the report. */
RB_API rb_status rb_study_surface(rb_study *s, const char *file, rb_plot plot, rb_surface surface,
                                  int n, const rb_series *paths);
/* An image grid into the study's folder (<file>.png), shown in the report. */
RB_API rb_status rb_study_images(rb_study *s, const char *file, const rb_tensor *images,
                                 rb_image_grid grid);
/* The model's summary, and its parameter count worked out by hand (by_hand: the formula,
 * counted: its value) beside the library's (rb_model_num_params); a mismatch is reported as a
 * failed verdict. RB_BY_HAND(784 * 128 + 128) gives both from one expression. */
RB_API void rb_study_model(rb_study *s, const char *label, const rb_model *m, const char *by_hand,
                           int64_t counted);
#define RB_BY_HAND(expr) #expr, (int64_t)(expr)

/* Verdicts on the stated expectation, printed and reported. rb_study_check: holds as measured,
 * the measurement in words (printf format); rb_study_expect: "a is `expected` b" decided with
 * the noise (ruban/measure.h), the effect size given relative to it. Return whether it held. */
RB_API bool rb_study_check(rb_study *s, const char *expectation, bool holds, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 4, 5)))
#endif
    ;
RB_API bool rb_study_expect(rb_study *s, const char *expectation, const char *a_label, rb_measure a,
                            rb_order expected, const char *b_label, rb_measure b);

/* Write report.md, report.html and the index now (rb_study_finish does it too; an unfinished
 * study's page says it is still running). */
RB_API rb_status rb_study_write_report(rb_study *s);
/* Print the limits, write the report and the index, free the study. Returns the program's
 * exit status: 0, or 1 when the report could not be written. */
RB_API int rb_study_finish(rb_study *s);
RB_API void rb_study_free(rb_study *s);

/* Rewrite <out>/index.html from the reports found in <out>/<seance>/<study>/report.html
 * (under a lock, atomically). */
RB_API rb_status rb_study_write_index(const char *out);

#ifdef __cplusplus
}
#endif
#endif
