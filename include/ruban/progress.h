/* ruban/progress.h - a Keras-like progress bar for training loops, and progress events that a
 * training loop, an experiment and a study fill in turn.
 *
 * On a terminal it redraws one line: a bar, steps done, ETA and your metrics. When output is
 * not a terminal (a log file, CI) it prints only the final line of each epoch.
 *
 *     rb_progress *bar = rb_progress_begin(stdout, "epoch 1/5", steps);
 *     for (...) rb_progress_update(bar, step + 1, "loss %.4f", loss);
 *     rb_progress_end(bar, "loss %.4f - acc %.4f", loss, acc);   // frees the bar
 *
 * Events: rb_fit reports each step and each epoch to the hook of its configuration (an
 * experiment passes its own as run->progress); the experiment adds which run it is and an
 * estimate of the time left, and shows the event with rb_progress_show:
 *
 *     [hyperparameters/learning_rate 3/6] lr=0.1 - epoch 2/5 - loss 0.3124 - accuracy 90.12%
 *     - val_loss 0.2811 - val_accuracy 91.20% - 2.1 s - about 1:10 left
 */
#ifndef RUBAN_PROGRESS_H
#define RUBAN_PROGRESS_H

#include <stdio.h>

#include "ruban/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_progress rb_progress;

/* Start a bar of `total` steps writing to f (NULL: stdout). */
RB_API rb_progress *rb_progress_begin(FILE *f, const char *title, int64_t total);
/* Report `done` steps and a metrics text (printf format); redraws at most 10 times a second. */
RB_API void rb_progress_update(rb_progress *p, int64_t done, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Print the final line with the elapsed time and metrics, and free the bar. */
RB_API void rb_progress_end(rb_progress *p, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Seconds since the bar began. */
RB_API double rb_progress_elapsed(const rb_progress *p);

/* Where a training is and its latest numbers. Unknown counts are 0, unknown values NaN,
 * unknown texts NULL. */
typedef struct rb_progress_event {
    /* From the training loop: */
    int epoch, epochs;           /* 1-based epoch and the planned number */
    int64_t step, steps;         /* batches done in this epoch, batches per epoch */
    bool epoch_end;              /* the epoch is complete: its numbers are final */
    double loss, metric;         /* training, averaged over the epoch so far */
    double val_loss, val_metric; /* at the epoch's end, with validation data */
    const char *metric_name;     /* "accuracy"; NULL without metric */
    bool percent;                /* the metric is a fraction, shown in percent */
    double seconds;              /* since the epoch began */
    /* From an experiment (or a study): */
    const char *experiment; /* "hyperparameters/learning_rate" */
    const char *run_label;  /* "lr=0.1" or "lr=0.1, seed 2/3" */
    int run, runs;          /* 1-based run, and the number of runs planned */
    double remaining;       /* estimated seconds left for everything planned; < 0: unknown */
} rb_progress_event;

/* A function told about each event, with its context. A zero hook does nothing. */
typedef struct rb_progress_hook {
    void (*fn)(void *ctx, const rb_progress_event *event);
    void *ctx;
} rb_progress_hook;

/* Call the hook with the event (nothing when hook.fn is NULL). */
RB_API void rb_progress_report(rb_progress_hook hook, const rb_progress_event *event);

/* A display of events on f (NULL: stdout); zero-initialise it. On a terminal the line of the
 * current epoch is redrawn (at most 10 times a second) and kept at the epoch's end; otherwise
 * only the epochs' final lines are printed, one line each. */
typedef struct rb_progress_display {
    FILE *f;
    double last_draw; /* internal */
    int tty;          /* internal: 0 not known yet, 1 terminal, 2 not */
} rb_progress_display;

RB_API void rb_progress_show(rb_progress_display *d, const rb_progress_event *event);
/* "1:05" or "1:02:03" for a number of seconds. */
RB_API void rb_format_duration(char *out, size_t size, double seconds);

#ifdef __cplusplus
}
#endif
#endif
