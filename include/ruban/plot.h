/* ruban/plot.h - line plots (learning curves, sweeps) as PNG and SVG through gnuplot.
 *
 *     double epochs[3] = {1, 2, 3}, loss[3] = {0.9, 0.5, 0.4};
 *     rb_series s = {.label = "train", .n = 3, .x = epochs, .y = loss};
 *     rb_plot_lines("results/loss", (rb_plot){.title = "Loss", .xlabel = "epoch",
 *                                             .ylabel = "cross-entropy"}, 1, &s);
 *     // results/loss.png, results/loss.svg, and results/loss.dat + results/loss.gp
 *
 * The data (.dat) and the gnuplot script (.gp) are always written, so a plot can be redrawn or
 * restyled; without gnuplot (Debian's gnuplot-nox) the function says how to render them
 * later and still succeeds.
 */
#ifndef RUBAN_PLOT_H
#define RUBAN_PLOT_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_series {
    const char *label;
    int n;
    const double *x, *y; /* NaN values of y are left out (a gap) */
    bool dashed;         /* e.g. training curves next to solid validation ones */
    int color;           /* 0: automatic; else 1-based index of the palette (pairs share one) */
} rb_series;

typedef struct rb_plot {
    const char *title, *xlabel, *ylabel;
    bool logx, logy; /* logarithmic axes (learning-rate sweeps, losses over decades) */
} rb_plot;

/* Plot the series into <base>.png and <base>.svg (and <base>.dat, <base>.gp). Files are
 * written under temporary names and renamed. */
RB_API rb_status rb_plot_lines(const char *base, rb_plot plot, int n, const rb_series *series);
/* Whether gnuplot can be run (looked up on PATH once). */
RB_API bool rb_plot_available(void);

#ifdef __cplusplus
}
#endif
#endif
