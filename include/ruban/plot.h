/* ruban/plot.h - line plots (learning curves, sweeps, scatters of data), surfaces (a loss over
 * two parameters, with an optimizer's path over it) as PNG and SVG through gnuplot, and
 * labelled image grids as PNG.
 *
 *     double epochs[3] = {1, 2, 3}, loss[3] = {0.9, 0.5, 0.4};
 *     rb_series s = {.label = "train", .n = 3, .x = epochs, .y = loss};
 *     rb_plot_lines("results/loss", (rb_plot){.title = "Loss", .xlabel = "epoch",
 *                                             .ylabel = "cross-entropy"}, 1, &s);
 *     // results/loss.png, results/loss.svg, and results/loss.dat + results/loss.gp
 *
 * The data (.dat) and the gnuplot script (.gp) are always written, so a plot can be redrawn or
 * restyled; without gnuplot (Debian's gnuplot-nox) the function says how to render them
 * later and still succeeds. The legend sits outside the plotting area, so it never covers a
 * curve; with many series, give each a panel (small multiples sharing their axes).
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
    bool points;         /* markers only, no line: a scatter of data points */
    int color;           /* 0: automatic; else 1-based index of the palette (pairs share one) */
    const double *err;   /* optional: error bars of +-err[i] around y[i] (spread over seeds) */
    int panel;           /* 0-based panel of a plot with panels */
} rb_series;

/* A horizontal line across every panel: a reference the curves are compared with. */
typedef struct rb_baseline {
    const char *label;
    double y;
} rb_baseline;

/* A vertical line at x: an event on the x axis (the epoch early stopping kept). */
typedef struct rb_marker {
    const char *label;
    double x;
    int color; /* 0: dark grey; else a 1-based index of the palette, as rb_series.color */
    int panel; /* 0-based panel of a plot with panels; -1: every panel */
} rb_marker;

typedef struct rb_plot {
    const char *title, *xlabel, *ylabel;
    bool logx, logy; /* logarithmic axes (learning-rate sweeps, losses over decades) */
    int panels;      /* > 1: small multiples, one panel per series.panel, shared axes */
    const char *const *panel_titles; /* one per panel (may be NULL) */
    int columns;                     /* panels per row (0: up to 3) */
    int n_baselines;
    const rb_baseline *baselines;
    int n_markers; /* vertical lines, dotted, each listed in the legend */
    const rb_marker *markers;
} rb_plot;

/* Plot the series into <base>.png and <base>.svg (and <base>.dat, <base>.gp). Files are
 * written under temporary names and renamed. */
RB_API rb_status rb_plot_lines(const char *base, rb_plot plot, int n, const rb_series *series);
/* A function of two variables sampled on a grid: a heat map with contour lines. */
typedef struct rb_surface {
    int nx, ny;          /* grid size, at least 2 x 2 */
    const double *x, *y; /* nx and ny evenly spaced increasing coordinates */
    const double *z;     /* ny rows of nx finite values: z[j * nx + i] at (x[i], y[j]) */
    int levels;          /* contour lines (0: 10), evenly spaced over z's range ... */
    bool logz;           /* ... or geometrically, with colours on a log scale (z > 0) */
    const char *zlabel;  /* the colour bar's label */
} rb_surface;

/* The surface as a heat map (light for low values) with contour lines, and the series drawn
 * over it as paths in the plane (an optimizer's trajectory in parameter space), into
 * <base>.png and <base>.svg (and <base>.dat, <base>.gp); plot.xlabel and ylabel name x and y.
 * Panels and baselines do not apply; markers do. Errors as rb_plot_lines, and RB_ERR_ARGUMENT for a
 * grid that is too small, unordered or not finite (or not positive with logz). */
RB_API rb_status rb_plot_surface(const char *base, rb_plot plot, rb_surface surface, int n,
                                 const rb_series *series);

/* Whether gnuplot can be run (looked up on PATH once). */
RB_API bool rb_plot_available(void);

/* How rb_plot_images lays out a grid. */
typedef struct rb_image_grid {
    int columns;                   /* images per row (default 8) */
    int scale;                     /* pixels per image pixel (0: images at least 84 high) */
    const char *title;             /* above the grid (may be NULL) */
    const char *const *row_labels; /* left of each row, cycling: {"original", "rebuilt"} */
    int n_row_labels;
    const char *const *captions; /* under each image (e.g. its class; may be NULL) */
} rb_image_grid;

/* Images (N, H, W) or (N, H, W, C) with C 1 or 3, values in [0, 1] (clipped), tiled into a
 * PNG with the labels drawn beside them (ASCII; other bytes show as '?'), atomically. */
RB_API rb_status rb_plot_images(const char *path, const rb_tensor *images, rb_image_grid grid);

#ifdef __cplusplus
}
#endif
#endif
