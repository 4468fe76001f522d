/* ruban/progress.h - a Keras-like progress bar for training loops.
 *
 * On a terminal it redraws one line: a bar, steps done, ETA and your metrics. When output is
 * not a terminal (a log file, CI) it prints only the final line of each epoch.
 *
 *     rb_progress *bar = rb_progress_begin(stdout, "epoch 1/5", steps);
 *     for (...) rb_progress_update(bar, step + 1, "loss %.4f", loss);
 *     rb_progress_end(bar, "loss %.4f - acc %.4f", loss, acc);   // frees the bar
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

#ifdef __cplusplus
}
#endif
#endif
