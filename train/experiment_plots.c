/* The experiment's pictures: learning curves (small multiples when there are many), the
 * learning rate when a schedule changes it, and sweeps of a quantity against a setting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment_internal.h"

void rb__experiment_add_picture(rb_experiment *e, const char *file, const char *title)
{
    int k = 0;
    while (k < e->n_pictures && strcmp(e->pictures[k].file, file) != 0)
        k++;
    if (k == RB__MAX_PICTURES) return;
    if (k == e->n_pictures) e->n_pictures++;
    snprintf(e->pictures[k].file, sizeof e->pictures[k].file, "%s", file);
    snprintf(e->pictures[k].title, sizeof e->pictures[k].title, "%s", title);
}

/* Per configuration, the mean over its runs of one field per epoch (runs may stop at different
 * epochs: each epoch averages the runs that reached it). */
typedef double (*field_fn)(const rb_epoch_record *r);
static double f_loss(const rb_epoch_record *r) { return r->loss; }
static double f_val_loss(const rb_epoch_record *r) { return r->val_loss; }
static double f_metric(const rb_epoch_record *r) { return r->metric; }
static double f_val_metric(const rb_epoch_record *r) { return r->val_metric; }
static double f_lr(const rb_epoch_record *r) { return r->lr; }

static int mean_curve(const rb_experiment *e, int i, field_fn field, double *x, double *y, int cap)
{
    int len = 0;
    for (int r = 0; r < e->n_runs[i]; r++)
        if (e->runs[i][r]->n > len) len = e->runs[i][r]->n;
    len = len < cap ? len : cap;
    for (int k = 0; k < len; k++) {
        double s = 0;
        int m = 0;
        for (int r = 0; r < e->n_runs[i]; r++) {
            const rb_history *h = e->runs[i][r];
            if (k < h->n && !isnan(field(&h->epochs[k]))) s += field(&h->epochs[k]), m++;
        }
        x[k] = k + 1;
        y[k] = m ? s / m : NAN;
    }
    return len;
}

/* Curves of one field pair for every configuration: training dashed, validation solid, one
 * colour per configuration; one panel per configuration when there would be more than 6
 * curves in one picture. Accuracies in percent. */
typedef struct curves {
    int n;
    rb_series *series;
    double *buf;
    char (*labels)[160];
    const char **panel_titles;
} curves;

enum { CAP = 1000, MAX_OVERLAID = 6 };

static void curves_free(curves *c)
{
    free(c->series);
    free(c->buf);
    free(c->labels);
    free(c->panel_titles);
}

static rb_status curves_alloc(curves *c, int cap)
{
    c->n = 0;
    c->series = calloc((size_t)cap, sizeof *c->series);
    c->buf = malloc(sizeof(double) * (size_t)cap * 2 * CAP);
    c->labels = calloc((size_t)cap, sizeof *c->labels);
    c->panel_titles = calloc((size_t)cap, sizeof *c->panel_titles);
    if (c->series && c->buf && c->labels && c->panel_titles) return RB_OK;
    curves_free(c);
    return rb_error(RB_ERR_MEMORY, "experiment plots: out of memory");
}

/* Adds configuration i's mean curve of a field, scaled; returns its range through lo/hi. */
static void add_curve(curves *c, const rb_experiment *e, int i, field_fn field, double scale,
                      const char *label, bool dashed, int panel, double *lo, double *hi)
{
    double *x = c->buf + (size_t)c->n * 2 * CAP, *y = x + CAP;
    int len = mean_curve(e, i, field, x, y, CAP);
    for (int k = 0; k < len; k++) {
        y[k] *= scale;
        if (!isnan(y[k]) && y[k] > 0) {
            if (y[k] < *lo) *lo = y[k];
            if (y[k] > *hi) *hi = y[k];
        }
    }
    snprintf(c->labels[c->n], sizeof c->labels[c->n], "%s", label);
    c->series[c->n] = (rb_series){.label = c->labels[c->n],
                                  .n = len,
                                  .x = x,
                                  .y = y,
                                  .dashed = dashed,
                                  .color = i + 1,
                                  .panel = panel};
    c->n++;
}

static rb_status plot_pair(rb_experiment *e, const char *file, const char *ylabel,
                           field_fn train_field, field_fn val_field, bool has_val, double scale)
{
    int configs = 0;
    for (int i = 0; i < e->n; i++)
        configs += e->n_runs[i] > 0;
    bool panels = configs * (has_val ? 2 : 1) > MAX_OVERLAID;
    curves c;
    if (curves_alloc(&c, 2 * e->n + 1) != RB_OK) return rb_last_status();
    double lo = INFINITY, hi = -INFINITY;
    int panel = 0;
    for (int i = 0; i < e->n; i++) {
        if (!e->n_runs[i]) continue;
        char label[192];
        for (int part = 0; part < 2; part++) {
            if (part == 1 && !has_val) continue;
            const char *which = part ? "validation" : "training";
            if (panels)
                snprintf(label, sizeof label, "%s", which);
            else
                snprintf(label, sizeof label, "%s, %s", e->configs[i].name, which);
            add_curve(&c, e, i, part ? val_field : train_field, scale, label, part == 0,
                      panels ? panel : 0, &lo, &hi);
        }
        c.panel_titles[panel++] = e->configs[i].name;
    }
    char base[1100], title[256];
    snprintf(base, sizeof base, "%s/%s", e->out_dir, file);
    snprintf(title, sizeof title, "%s: %s (training dashed%s)", e->name, ylabel,
             has_val ? ", validation solid" : "");
    /* A loss spanning more than a decade reads better on a log scale. */
    bool logy = strstr(file, "loss") && lo > 0 && hi / lo > 20;
    rb_baseline bases[4];
    rb_plot p = {.title = title, .xlabel = "epoch", .ylabel = ylabel, .logy = logy};
    /* Baselines are in the score's unit: the metric's, or the loss's when there is none. */
    bool no_metric = rb__first_history(e)->metric == RB_METRIC_NONE;
    if (val_field == f_val_metric || (no_metric && val_field == f_val_loss)) {
        p.n_baselines = rb__experiment_baselines(e, scale, bases);
        p.baselines = bases;
    }
    if (panels) {
        p.panels = panel;
        p.panel_titles = c.panel_titles;
    }
    rb_status st = c.n ? rb_plot_lines(base, p, c.n, c.series) : RB_OK;
    curves_free(&c);
    if (st == RB_OK && c.n) rb__experiment_add_picture(e, file, title);
    return st;
}

/* Validation curves of every configuration in one picture, for comparing them directly when
 * the pair plots are split into panels. */
static rb_status plot_overlay(rb_experiment *e, const char *file, const char *ylabel,
                              field_fn field, double scale)
{
    curves c;
    if (curves_alloc(&c, e->n + 1) != RB_OK) return rb_last_status();
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < e->n; i++)
        if (e->n_runs[i]) add_curve(&c, e, i, field, scale, e->configs[i].name, false, 0, &lo, &hi);
    char base[1100], title[256];
    snprintf(base, sizeof base, "%s/%s", e->out_dir, file);
    snprintf(title, sizeof title, "%s: %s, every configuration", e->name, ylabel);
    bool logy = strstr(file, "lr") && lo > 0 && hi / lo > 20;
    rb_baseline bases[4];
    rb_plot p = {.title = title, .xlabel = "epoch", .ylabel = ylabel, .logy = logy};
    if (field == f_val_metric || field == f_metric) {
        p.n_baselines = rb__experiment_baselines(e, scale, bases);
        p.baselines = bases;
    }
    rb_status st = c.n ? rb_plot_lines(base, p, c.n, c.series) : RB_OK;
    curves_free(&c);
    if (st == RB_OK && c.n) rb__experiment_add_picture(e, file, title);
    return st;
}

/* Whether some run's learning rate changed between epochs (a schedule). */
static bool lr_changes(const rb_experiment *e)
{
    for (int i = 0; i < e->n; i++)
        for (int r = 0; r < e->n_runs[i]; r++) {
            const rb_history *h = e->runs[i][r];
            for (int k = 1; k < h->n; k++)
                if (h->epochs[k].lr != h->epochs[0].lr) return true;
        }
    return false;
}

rb_status rb__experiment_plot_curves(rb_experiment *e)
{
    const rb_history *h0 = rb__first_history(e);
    if (!h0) return RB_OK;
    int configs = 0;
    for (int i = 0; i < e->n; i++)
        configs += e->n_runs[i] > 0;
    bool val = h0->has_validation;
    rb_status st = plot_pair(e, "loss", "loss", f_loss, f_val_loss, val, 1);
    if (st == RB_OK && h0->metric != RB_METRIC_NONE) {
        char ylabel[96];
        bool pct = rb__percent(h0);
        snprintf(ylabel, sizeof ylabel, "%s%s", rb__metric_label(e, h0), pct ? " (%)" : "");
        st = plot_pair(e, "metric", ylabel, f_metric, f_val_metric, val, pct ? 100 : 1);
        if (st == RB_OK && configs * (val ? 2 : 1) > MAX_OVERLAID && configs <= 10) {
            char label[128];
            snprintf(label, sizeof label, "%s %s", val ? "validation" : "training", ylabel);
            st = plot_overlay(e, val ? "val_metric" : "train_metric", label,
                              val ? f_val_metric : f_metric, pct ? 100 : 1);
        }
    }
    if (st == RB_OK && lr_changes(e)) st = plot_overlay(e, "lr", "learning rate", f_lr, 1);
    return st;
}

/* ---- sweeps ---- */

static bool has_key(const rb_config *c, const char *key)
{
    for (int k = 0; key && k < c->n; k++)
        if (strcmp(c->keys[k], key) == 0) return true;
    return false;
}

static const char *quantity_label(rb_quantity q)
{
    switch (q) {
    case RB_FINAL_SCORE: return "final";
    case RB_FINAL_METRIC: return "final training";
    case RB_FINAL_VAL_METRIC: return "final validation";
    case RB_FINAL_LOSS: return "final training loss";
    case RB_FINAL_VAL_LOSS: return "final validation loss";
    case RB_BEST_VAL_METRIC: return "best epoch's validation";
    case RB_LOWEST_VAL_LOSS: return "lowest validation loss";
    case RB_GAP: return "training minus validation";
    case RB_SECONDS: return "seconds per run";
    }
    return "";
}

static void axis_label(char *out, size_t size, const rb_experiment *e, const rb_history *h0,
                       rb_quantity q, bool percent)
{
    const char *metric = rb__metric_label(e, h0),
               *part = h0->has_validation ? "validation" : "training";
    const char *unit = !percent ? "" : q == RB_GAP ? " (points)" : " (%)";
    switch (q) {
    case RB_FINAL_SCORE:
        if (h0->metric == RB_METRIC_NONE)
            snprintf(out, size, "final %s loss", part);
        else
            snprintf(out, size, "final %s %s%s", part, metric, unit);
        return;
    case RB_FINAL_LOSS:
    case RB_FINAL_VAL_LOSS:
    case RB_LOWEST_VAL_LOSS:
    case RB_SECONDS: snprintf(out, size, "%s", quantity_label(q)); return;
    default: snprintf(out, size, "%s %s%s", quantity_label(q), metric, unit);
    }
}

/* One group's points sorted by x (a handful: insertion sort). */
static void sort_points(double *x, double *y, double *err, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double t = x[j];
            x[j] = x[j - 1], x[j - 1] = t;
            t = y[j];
            y[j] = y[j - 1], y[j - 1] = t;
            t = err[j];
            err[j] = err[j - 1], err[j - 1] = t;
        }
}

rb_status rb_experiment_plot_sweep(rb_experiment *e, rb_sweep_plot p)
{
    if (!e || !p.key) return rb_error(RB_ERR_ARGUMENT, "rb_experiment_plot_sweep: no setting");
    const rb_history *h0 = rb__first_history(e);
    if (!h0)
        return rb_error(RB_ERR_STATE, "rb_experiment_plot_sweep: experiment %s has not run",
                        e->name);
    if (!rb_dist_is_root(e->cfg.dist)) return RB_OK; /* rank 0 draws for the job */
    int ref = -1;
    for (int i = 0; i < e->n && ref < 0; i++)
        if (e->n_runs[i] && has_key(&e->configs[i], p.key)) ref = i;
    if (ref < 0)
        return rb_error(RB_ERR_ARGUMENT,
                        "rb_experiment_plot_sweep: no configuration of %s sets '%s'", e->name,
                        p.key);
    /* The groups, in order of appearance. */
    double groups[64];
    int n_groups = 0;
    int *in = calloc((size_t)e->n, sizeof *in); /* 1 + group index, 0: left out */
    double *xs = malloc(sizeof(double) * 3 * (size_t)e->n);
    rb_series *series = calloc(64, sizeof *series);
    rb_baseline *bases = calloc((size_t)(e->n + p.n_baselines + 5), sizeof *bases);
    char(*labels)[128] = calloc((size_t)(64 + e->n), sizeof *labels);
    if (!in || !xs || !series || !bases || !labels) {
        free(in), free(xs), free(series), free(bases), free(labels);
        return rb_error(RB_ERR_MEMORY, "rb_experiment_plot_sweep: out of memory");
    }
    for (int i = 0; i < e->n; i++) {
        const rb_config *c = &e->configs[i];
        bool keep = e->n_runs[i] && has_key(c, p.key);
        for (int k = 0; keep && k < c->n; k++)
            keep =
                has_key(&e->configs[ref], c->keys[k]) || (p.group && !strcmp(c->keys[k], p.group));
        if (!keep) continue;
        double g = p.group ? rb_config_get(c, p.group, NAN) : 0;
        int at = 0;
        while (at < n_groups && !(groups[at] == g || (isnan(g) && isnan(groups[at]))))
            at++;
        if (at == n_groups) {
            if (n_groups == 64) continue;
            groups[n_groups++] = g;
        }
        in[i] = at + 1;
    }
    bool percent = false;
    int n_series = 0, n_bases = 0, used = 0;
    for (int g = 0; g < n_groups; g++) {
        double *x = xs + used, *y, *err;
        int n = 0;
        for (int i = 0; i < e->n; i++)
            if (in[i] == g + 1) n++;
        y = x + n, err = y + n;
        used += 3 * n;
        int m = 0;
        char group_label[96] = "";
        if (p.group) {
            int v = (int)groups[g];
            if (p.group_names && groups[g] == v && v >= 0)
                snprintf(group_label, sizeof group_label, "%s", p.group_names[v]);
            else
                snprintf(group_label, sizeof group_label, "%s=%g", p.group, groups[g]);
        }
        for (int i = 0; i < e->n; i++) {
            if (in[i] != g + 1) continue;
            rb_measure q = rb_experiment_measure(e, i, p.quantity);
            percent = q.percent;
            double scale = q.percent ? 100 : 1, v = rb_config_get(&e->configs[i], p.key, NAN);
            if (p.logx && v <= 0) {
                snprintf(labels[64 + n_bases], sizeof labels[0], "%s%s%s=%g", group_label,
                         p.group ? ", " : "", p.key, v);
                bases[n_bases] = (rb_baseline){labels[64 + n_bases], scale * q.mean};
                n_bases++;
                continue;
            }
            x[m] = v, y[m] = scale * q.mean, err[m] = scale * (q.n > 1 ? q.sd : 0);
            m++;
        }
        sort_points(x, y, err, m);
        bool spread = false;
        for (int k = 0; k < m; k++)
            spread = spread || err[k] > 0;
        snprintf(labels[n_series], sizeof labels[0], "%s",
                 p.group ? group_label : rb__metric_label(e, h0));
        if (m) {
            series[n_series] = (rb_series){.label = labels[n_series],
                                           .n = m,
                                           .x = x,
                                           .y = y,
                                           .err = spread ? err : NULL,
                                           .color = g + 1};
            n_series++;
        }
    }
    for (int b = 0; b < p.n_baselines; b++)
        bases[n_bases++] = p.baselines[b];
    bool metric_quantity = p.quantity == RB_FINAL_SCORE || p.quantity == RB_FINAL_METRIC ||
                           p.quantity == RB_FINAL_VAL_METRIC || p.quantity == RB_BEST_VAL_METRIC;
    bool loss_quantity = p.quantity == RB_FINAL_SCORE || p.quantity == RB_FINAL_LOSS ||
                         p.quantity == RB_FINAL_VAL_LOSS || p.quantity == RB_LOWEST_VAL_LOSS;
    if (h0->metric != RB_METRIC_NONE ? metric_quantity : loss_quantity)
        n_bases += rb__experiment_baselines(e, percent ? 100 : 1, bases + n_bases);
    char file[96], base[1200], title[256], ylabel[128];
    snprintf(file, sizeof file, "%s", p.file ? p.file : "");
    if (!p.file) {
        snprintf(file, sizeof file, "sweep_%s", p.key);
        for (char *ch = file; *ch; ch++)
            if (*ch == ' ' || *ch == '/') *ch = '_';
    }
    snprintf(base, sizeof base, "%s/%s", e->out_dir, file);
    axis_label(ylabel, sizeof ylabel, e, h0, p.quantity, percent);
    snprintf(title, sizeof title, "%s", p.title ? p.title : "");
    if (!p.title)
        snprintf(title, sizeof title, "%.100s: %.100s against %.40s", e->name, ylabel, p.key);
    rb_status st = n_series
                       ? rb_plot_lines(base,
                                       (rb_plot){.title = title,
                                                 .xlabel = p.xlabel ? p.xlabel : p.key,
                                                 .ylabel = ylabel,
                                                 .logx = p.logx,
                                                 .n_baselines = n_bases,
                                                 .baselines = bases},
                                       n_series, series)
                       : rb_error(RB_ERR_ARGUMENT,
                                  "rb_experiment_plot_sweep: no point to draw for '%s'", p.key);
    if (st == RB_OK) rb__experiment_add_picture(e, file, title);
    free(in), free(xs), free(series), free(bases), free(labels);
    return st;
}
