/* The experiment runner: configurations x seeds (or folds), one results folder with the
 * histories, a markdown table and learning-curve plots. Public API only. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ruban.h"

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
};

double rb_config_get(const rb_config *c, const char *key, double fallback)
{
    for (int i = 0; c && key && i < c->n; i++)
        if (strcmp(c->keys[i], key) == 0) return c->values[i];
    return fallback;
}

rb_experiment *rb_experiment_new(rb_experiment_config cfg, rb_run_fn fn, void *user_data)
{
    if (!fn) {
        rb_error(RB_ERR_ARGUMENT, "rb_experiment_new: no training function");
        return NULL;
    }
    if (cfg.dir && strlen(cfg.dir) >= 880) {
        rb_error(RB_ERR_ARGUMENT,
                 "rb_experiment_new: results folder path of %zu characters is "
                 "too long",
                 strlen(cfg.dir));
        return NULL;
    }
    rb_experiment *e = calloc(1, sizeof *e);
    if (!e) {
        rb_error(RB_ERR_MEMORY, "rb_experiment_new: out of memory");
        return NULL;
    }
    e->cfg = cfg;
    snprintf(e->name, sizeof e->name, "%s", cfg.name ? cfg.name : "experiment");
    snprintf(e->metric_label, sizeof e->metric_label, "%s", cfg.metric ? cfg.metric : "");
    if (cfg.dir)
        snprintf(e->dir, sizeof e->dir, "%s", cfg.dir);
    else
        snprintf(e->dir, sizeof e->dir, "results/%s", e->name);
    e->cfg.name = e->name;
    e->cfg.dir = e->dir;
    e->cfg.metric = NULL;
    if (e->cfg.seeds < 1) e->cfg.seeds = 1;
    e->fn = fn;
    e->user_data = user_data;
    return e;
}

static void drop_runs(rb_experiment *e)
{
    for (int i = 0; i < e->n; i++) {
        for (int r = 0; r < e->n_runs[i]; r++)
            rb_history_free(e->runs[i][r]);
        free(e->runs[i]);
        e->runs[i] = NULL;
        e->n_runs[i] = 0;
    }
}

void rb_experiment_free(rb_experiment *e)
{
    if (!e) return;
    drop_runs(e);
    free(e->configs);
    free(e->runs);
    free(e->n_runs);
    free(e);
}

int rb_experiment_add(rb_experiment *e, const char *name, int n, const char *const *keys,
                      const double *values)
{
    if (!e || n < 0 || n > RB_CONFIG_MAX_KEYS || (n > 0 && (!keys || !values))) {
        rb_error(RB_ERR_ARGUMENT, "rb_experiment_add: 0 to %d settings with keys and values",
                 RB_CONFIG_MAX_KEYS);
        return -1;
    }
    /* A truncated key would match no rb_config_get: the setting would silently be ignored. */
    for (int i = 0; i < n; i++)
        if (!keys[i] || strlen(keys[i]) >= sizeof e->configs->keys[0]) {
            rb_error(RB_ERR_ARGUMENT,
                     "rb_experiment_add: key '%s' is missing or longer than %zu "
                     "characters",
                     keys[i] ? keys[i] : "(null)", sizeof e->configs->keys[0] - 1);
            return -1;
        }
    if (e->n == e->cap) {
        int cap = e->cap ? 2 * e->cap : 8;
        rb_config *c = realloc(e->configs, sizeof *c * (size_t)cap);
        if (c) e->configs = c;
        rb_history ***r = c ? realloc(e->runs, sizeof *r * (size_t)cap) : NULL;
        if (r) e->runs = r;
        int *k = r ? realloc(e->n_runs, sizeof *k * (size_t)cap) : NULL;
        if (k) e->n_runs = k;
        if (!c || !r || !k) {
            rb_error(RB_ERR_MEMORY, "rb_experiment_add: out of memory");
            return -1;
        }
        e->cap = cap;
    }
    rb_config *c = &e->configs[e->n];
    memset(c, 0, sizeof *c);
    c->n = n;
    for (int i = 0; i < n; i++) {
        snprintf(c->keys[i], sizeof c->keys[i], "%s", keys[i]);
        c->values[i] = values[i];
    }
    if (name)
        snprintf(c->name, sizeof c->name, "%s", name);
    else {
        size_t used = 0;
        for (int i = 0; i < n && used < sizeof c->name; i++)
            used += (size_t)snprintf(c->name + used, sizeof c->name - used, "%s%s=%g", i ? " " : "",
                                     keys[i], values[i]);
    }
    e->runs[e->n] = NULL;
    e->n_runs[e->n] = 0;
    return e->n++;
}

rb_status rb_experiment_add_values(rb_experiment *e, const char *key, int n, const double *values)
{
    return rb_experiment_add_grid(e, 1, &key, &n, &values);
}

rb_status rb_experiment_add_grid(rb_experiment *e, int n_keys, const char *const *keys,
                                 const int *counts, const double *const *values)
{
    if (!e || n_keys < 1 || n_keys > RB_CONFIG_MAX_KEYS || !keys || !counts || !values)
        return rb_error(RB_ERR_ARGUMENT, "rb_experiment_add_grid: 1 to %d keys with values",
                        RB_CONFIG_MAX_KEYS);
    int64_t total = 1;
    for (int k = 0; k < n_keys; k++) {
        if (counts[k] < 1 || !values[k])
            return rb_error(RB_ERR_ARGUMENT, "rb_experiment_add_grid: no values for '%s'", keys[k]);
        total *= counts[k];
    }
    /* Odometer order: the last key varies fastest. */
    int digit[RB_CONFIG_MAX_KEYS] = {0};
    for (int64_t t = 0; t < total; t++) {
        double v[RB_CONFIG_MAX_KEYS];
        for (int k = 0; k < n_keys; k++)
            v[k] = values[k][digit[k]];
        if (rb_experiment_add(e, NULL, n_keys, keys, v) < 0) return rb_last_status();
        for (int k = n_keys - 1; k >= 0; k--) {
            if (++digit[k] < counts[k]) break;
            digit[k] = 0;
        }
    }
    return RB_OK;
}

int rb_experiment_count(const rb_experiment *e) { return e ? e->n : 0; }
const rb_config *rb_experiment_config_at(const rb_experiment *e, int i)
{
    return e && i >= 0 && i < e->n ? &e->configs[i] : NULL;
}
int rb_experiment_runs(const rb_experiment *e, int i)
{
    return e && i >= 0 && i < e->n ? e->n_runs[i] : 0;
}
const rb_history *rb_experiment_history(const rb_experiment *e, int i, int run)
{
    return e && i >= 0 && i < e->n && run >= 0 && run < e->n_runs[i] ? e->runs[i][run] : NULL;
}
const char *rb_experiment_dir(const rb_experiment *e) { return e ? e->dir : ""; }

/* ---- what a history says ---- */

static bool higher_better(const rb_history *h) { return rb_metric_higher_is_better(h->metric); }

/* The quantity compared: validation metric, else training metric; the loss without metric. */
static double score(const rb_history *h, const rb_epoch_record *r)
{
    if (h->metric == RB_METRIC_NONE) return h->has_validation ? r->val_loss : r->loss;
    return h->has_validation ? r->val_metric : r->metric;
}

static double final_score(const rb_history *h)
{
    return h && h->n ? score(h, &h->epochs[h->n - 1]) : NAN;
}

static double best_score(const rb_history *h, int *epoch)
{
    double best = NAN;
    for (int k = 0; h && k < h->n; k++) {
        double v = score(h, &h->epochs[k]);
        if (isnan(best) || (higher_better(h) ? v > best : v < best)) {
            best = v;
            if (epoch) *epoch = h->epochs[k].epoch;
        }
    }
    return best;
}

static double mean_of(const double *v, int n, double *sd)
{
    double s = 0, q = 0;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) s += v[i], m++;
    double mean = m ? s / m : NAN;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) q += (v[i] - mean) * (v[i] - mean);
    if (sd) *sd = m > 1 ? sqrt(q / (m - 1)) : 0;
    return mean;
}

double rb_experiment_final(const rb_experiment *e, int i)
{
    if (!e || i < 0 || i >= e->n || e->n_runs[i] == 0) return NAN;
    double v[256];
    int n = e->n_runs[i] < 256 ? e->n_runs[i] : 256;
    for (int r = 0; r < n; r++)
        v[r] = final_score(e->runs[i][r]);
    return mean_of(v, n, NULL);
}

static const rb_history *first_history(const rb_experiment *e)
{
    for (int i = 0; i < e->n; i++)
        if (e->n_runs[i]) return e->runs[i][0];
    return NULL;
}

int rb_experiment_best(const rb_experiment *e)
{
    const rb_history *h0 = e ? first_history(e) : NULL;
    if (!h0) return -1;
    int best = -1;
    for (int i = 0; i < e->n; i++) {
        double v = rb_experiment_final(e, i);
        if (isnan(v)) continue;
        if (best < 0 || (higher_better(h0) ? v > rb_experiment_final(e, best)
                                           : v < rb_experiment_final(e, best)))
            best = i;
    }
    return best;
}

static const char *metric_label(const rb_experiment *e, const rb_history *h)
{
    if (e->metric_label[0]) return e->metric_label;
    return h->metric == RB_METRIC_NONE ? "loss" : rb_metric_name(h->metric);
}

/* A metric for the table: accuracy in percent, others as they are. */
static void format_value(char *out, size_t size, const rb_history *h, double v)
{
    if (isnan(v))
        snprintf(out, size, "-");
    else if (h->metric == RB_METRIC_ACCURACY || h->metric == RB_METRIC_TOP_K_ACCURACY)
        snprintf(out, size, "%.2f%%", 100 * v);
    else
        snprintf(out, size, "%.4g", v);
}

void rb_experiment_print_table(const rb_experiment *e, FILE *f)
{
    const rb_history *h0 = e ? first_history(e) : NULL;
    if (!h0 || !f) return;
    const char *m = metric_label(e, h0);
    const char *part = h0->has_validation ? "validation" : "training";
    int best = rb_experiment_best(e);
    fprintf(f, "\n### %s\n\n", e->name);
    if (e->cross_validated)
        fprintf(f,
                "| configuration | %s, mean over %d folds | spread (sd) | worst fold | "
                "best fold | seconds per fold |\n|---|---|---|---|---|---|\n",
                m, e->n_runs[0]);
    else if (e->cfg.seeds > 1)
        fprintf(f,
                "| configuration | final %s %s, mean ± sd of %d seeds | best epoch's %s | "
                "training %s | seconds |\n|---|---|---|---|---|\n",
                part, m, e->cfg.seeds, m, m);
    else
        fprintf(f,
                "| configuration | final %s %s | best %s (epoch) | training %s | training "
                "loss | seconds |\n|---|---|---|---|---|---|\n",
                part, m, m, m);
    for (int i = 0; i < e->n; i++) {
        int n = e->n_runs[i];
        if (!n) continue;
        double fin[256], tr[256], secs[256], loss[256], bests[256];
        int best_epoch = 0;
        n = n < 256 ? n : 256;
        for (int r = 0; r < n; r++) {
            const rb_history *h = e->runs[i][r];
            const rb_epoch_record *last = rb_history_last(h);
            fin[r] = final_score(h);
            bests[r] = best_score(h, &best_epoch);
            tr[r] = last ? (h->metric == RB_METRIC_NONE ? last->loss : last->metric) : NAN;
            loss[r] = last ? last->loss : NAN;
            secs[r] = 0;
            for (int k = 0; k < h->n; k++)
                secs[r] += h->epochs[k].seconds;
        }
        double sd, mean = mean_of(fin, n, &sd);
        char a[48], b[48], c[48], d[48];
        const char *star = i == best ? " **(best)**" : "";
        if (e->cross_validated) {
            double lo = fin[0], hi = fin[0];
            for (int r = 1; r < n; r++) {
                if (fin[r] < lo) lo = fin[r];
                if (fin[r] > hi) hi = fin[r];
            }
            if (!higher_better(h0)) {
                double t = lo;
                lo = hi;
                hi = t;
            }
            format_value(a, sizeof a, h0, mean);
            format_value(b, sizeof b, h0, sd);
            format_value(c, sizeof c, h0, lo);
            format_value(d, sizeof d, h0, hi);
            fprintf(f, "| %s%s | %s | %s | %s | %s | %.2f |\n", e->configs[i].name, star, a, b, c,
                    d, mean_of(secs, n, NULL));
        } else if (e->cfg.seeds > 1) {
            format_value(a, sizeof a, h0, mean);
            format_value(b, sizeof b, h0, sd);
            format_value(c, sizeof c, h0, mean_of(bests, n, NULL));
            format_value(d, sizeof d, h0, mean_of(tr, n, NULL));
            fprintf(f, "| %s%s | %s ± %s | %s | %s | %.2f |\n", e->configs[i].name, star, a, b, c,
                    d, mean_of(secs, n, NULL));
        } else {
            format_value(a, sizeof a, h0, fin[0]);
            format_value(b, sizeof b, h0, bests[0]);
            format_value(c, sizeof c, h0, tr[0]);
            fprintf(f, "| %s%s | %s | %s (%d) | %s | %.4g | %.2f |\n", e->configs[i].name, star, a,
                    b, best_epoch, c, loss[0], secs[0]);
        }
    }
}

/* ---- the results folder ---- */

static rb_status make_dirs(const char *dir)
{
    char path[1100];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return rb_error(RB_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
            *p = '/';
        }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return rb_error(RB_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    return RB_OK;
}

/* Open <dir>/<name> for an atomic write: the caller writes to the stream, then commits w. */
static FILE *open_atomic(const rb_experiment *e, const char *name, rb_atomic_file *w)
{
    char final[1100];
    snprintf(final, sizeof final, "%s/%s", e->out_dir, name);
    return rb_atomic_file_begin(w, final, "rb_experiment_run") == RB_OK ? w->f : NULL;
}

static rb_status write_histories(const rb_experiment *e)
{
    rb_atomic_file w;
    FILE *f = open_atomic(e, "histories.csv", &w);
    if (!f) return rb_last_status();
    fprintf(f, "configuration,%s,epoch,loss,metric,val_loss,val_metric,lr,seconds\n",
            e->cross_validated ? "fold" : "seed");
    for (int i = 0; i < e->n; i++)
        for (int r = 0; r < e->n_runs[i]; r++) {
            const rb_history *h = e->runs[i][r];
            for (int k = 0; k < h->n; k++) {
                const rb_epoch_record *x = &h->epochs[k];
                /* CSV quoting: the name in double quotes, its own quotes doubled. */
                fputc('"', f);
                for (const char *c = e->configs[i].name; *c; c++) {
                    if (*c == '"') fputc('"', f);
                    fputc(*c, f);
                }
                fprintf(f, "\",%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f\n",
                        e->cross_validated ? r : r + 1, x->epoch, x->loss, x->metric, x->val_loss,
                        x->val_metric, x->lr, x->seconds);
            }
        }
    return rb_atomic_file_commit(&w);
}

static rb_status write_summary(const rb_experiment *e)
{
    rb_atomic_file w;
    FILE *f = open_atomic(e, "summary.md", &w);
    if (!f) return rb_last_status();
    rb_experiment_print_table(e, f);
    return rb_atomic_file_commit(&w);
}

/* Per configuration, the mean over its runs of one field per epoch (runs may stop at different
 * epochs: each epoch averages the runs that reached it). */
typedef double (*field_fn)(const rb_epoch_record *r);
static double f_loss(const rb_epoch_record *r) { return r->loss; }
static double f_val_loss(const rb_epoch_record *r) { return r->val_loss; }
static double f_metric(const rb_epoch_record *r) { return r->metric; }
static double f_val_metric(const rb_epoch_record *r) { return r->val_metric; }

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

static rb_status plot_pair(const rb_experiment *e, const char *file, const char *ylabel,
                           field_fn train_field, field_fn val_field, bool has_val)
{
    enum { CAP = 1000 };
    int n_series = 0, cap_series = 2 * e->n;
    rb_series *series = calloc((size_t)cap_series, sizeof *series);
    double *buf = malloc(sizeof(double) * (size_t)cap_series * 2 * CAP);
    char(*labels)[160] = calloc((size_t)cap_series, sizeof *labels);
    if (!series || !buf || !labels) {
        free(series);
        free(buf);
        free(labels);
        return rb_error(RB_ERR_MEMORY, "experiment plots: out of memory");
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < e->n; i++) {
        if (!e->n_runs[i]) continue;
        for (int part = 0; part < 2; part++) {
            if (part == 1 && !has_val) continue;
            double *x = buf + (size_t)n_series * 2 * CAP, *y = x + CAP;
            int len = mean_curve(e, i, part ? val_field : train_field, x, y, CAP);
            for (int k = 0; k < len; k++)
                if (!isnan(y[k]) && y[k] > 0) {
                    if (y[k] < lo) lo = y[k];
                    if (y[k] > hi) hi = y[k];
                }
            snprintf(labels[n_series], sizeof labels[n_series], "%s, %s", e->configs[i].name,
                     part ? "validation" : "training");
            series[n_series] = (rb_series){labels[n_series], len, x, y, part == 0, i + 1};
            n_series++;
        }
    }
    char base[1100], title[256];
    snprintf(base, sizeof base, "%s/%s", e->out_dir, file);
    snprintf(title, sizeof title, "%s: %s (training dashed%s)", e->name, ylabel,
             has_val ? ", validation solid" : "");
    /* A loss spanning more than a decade reads better on a log scale. */
    bool logy = strstr(file, "loss") && lo > 0 && hi / lo > 20;
    rb_status st = n_series ? rb_plot_lines(base, (rb_plot){title, "epoch", ylabel, false, logy},
                                            n_series, series)
                            : RB_OK;
    free(series);
    free(buf);
    free(labels);
    return st;
}

static rb_status write_results(rb_experiment *e)
{
    const rb_history *h0 = first_history(e);
    if (!h0) return RB_OK;
    snprintf(e->out_dir, sizeof e->out_dir, "%s%s", e->dir,
             e->cross_validated ? "/cross_validation" : "");
    rb_status st = make_dirs(e->out_dir);
    if (st == RB_OK) st = write_histories(e);
    if (st == RB_OK) st = write_summary(e);
    if (st == RB_OK) st = plot_pair(e, "loss", "loss", f_loss, f_val_loss, h0->has_validation);
    if (st == RB_OK && h0->metric != RB_METRIC_NONE)
        st =
            plot_pair(e, "metric", metric_label(e, h0), f_metric, f_val_metric, h0->has_validation);
    if (st == RB_OK && !e->cfg.quiet) {
        rb_experiment_print_table(e, stdout);
        printf("\nresults: %s/ (summary.md, histories.csv, loss.png%s%s)\n", e->out_dir,
               h0->metric != RB_METRIC_NONE ? ", metric.png" : "",
               rb_plot_available() ? "" : "; plots as gnuplot scripts: gnuplot not installed");
    }
    return st;
}

/* One line after each run: its final numbers. */
static void report_run(const rb_experiment *e, const rb_history *h)
{
    const rb_epoch_record *last = rb_history_last(h);
    if (e->cfg.quiet || !last) return;
    double seconds = 0;
    for (int k = 0; k < h->n; k++)
        seconds += h->epochs[k].seconds;
    char a[48], b[48];
    const char *m = metric_label(e, h);
    format_value(a, sizeof a, h, h->metric == RB_METRIC_NONE ? last->loss : last->metric);
    printf("  -> %d epochs in %.1f s: training %s %s", h->n, seconds, m, a);
    if (h->has_validation) {
        format_value(b, sizeof b, h,
                     h->metric == RB_METRIC_NONE ? last->val_loss : last->val_metric);
        printf(", validation %s %s", m, b);
    }
    printf("\n");
}

static rb_status keep(rb_experiment *e, int i, rb_history *h, int max_runs)
{
    report_run(e, h);
    if (!e->runs[i]) {
        e->runs[i] = calloc((size_t)max_runs, sizeof(rb_history *));
        if (!e->runs[i]) {
            rb_history_free(h);
            return rb_error(RB_ERR_MEMORY, "experiment: out of memory");
        }
    }
    e->runs[i][e->n_runs[i]++] = h;
    return RB_OK;
}

rb_status rb_experiment_run(rb_experiment *e, const rb_dataset *train, const rb_dataset *val)
{
    if (!e || !train) return rb_error(RB_ERR_ARGUMENT, "rb_experiment_run: NULL argument");
    if (e->n == 0) return rb_error(RB_ERR_ARGUMENT, "rb_experiment_run: no configuration added");
    drop_runs(e);
    e->cross_validated = false;
    rb_status st = RB_OK;
    for (int i = 0; i < e->n && st == RB_OK; i++)
        for (int r = 0; r < e->cfg.seeds && st == RB_OK; r++) {
            if (!e->cfg.quiet) {
                printf("\n[%s] configuration %d/%d: %s", e->name, i + 1, e->n, e->configs[i].name);
                if (e->cfg.seeds > 1) printf(", seed %d/%d", r + 1, e->cfg.seeds);
                printf("\n");
            }
            rb_run run = {&e->configs[i], i, (uint64_t)r + 1, r, -1, train, val, e->user_data};
            rb_history *h = e->fn(&run);
            if (!h) {
                st = rb_last_status() != RB_OK ? rb_last_status()
                                               : rb_error(RB_ERR_STATE,
                                                          "experiment %s: run of "
                                                          "'%s' returned no history",
                                                          e->name, e->configs[i].name);
                break;
            }
            st = keep(e, i, h, e->cfg.seeds);
        }
    rb_status written = write_results(e);
    return st != RB_OK ? st : written;
}

int rb_experiment_cross_validate(rb_experiment *e, const rb_dataset *data, int k, uint64_t seed)
{
    if (!e || !data || !data->x) {
        rb_error(RB_ERR_ARGUMENT, "rb_experiment_cross_validate: NULL argument");
        return -1;
    }
    if (e->n == 0) {
        rb_error(RB_ERR_ARGUMENT, "rb_experiment_cross_validate: no configuration added");
        return -1;
    }
    const rb_tensor *labels =
        data->y && rb_tensor_dtype(data->y) == RB_I64 && rb_tensor_ndim(data->y) == 1 ? data->y
                                                                                      : NULL;
    rb_kfold *kf = rb_kfold_new(rb_dataset_rows(data), k, seed, labels);
    if (!kf) return -1;
    drop_runs(e);
    e->cross_validated = true;
    rb_status st = RB_OK;
    for (int i = 0; i < e->n && st == RB_OK; i++)
        for (int fold = 0; fold < k && st == RB_OK; fold++) {
            if (!e->cfg.quiet)
                printf("\n[%s] configuration %d/%d: %s, fold %d/%d\n", e->name, i + 1, e->n,
                       e->configs[i].name, fold + 1, k);
            rb_dataset tr, va;
            if ((st = rb_kfold_split(kf, fold, data, &tr, &va)) != RB_OK) break;
            rb_run run = {&e->configs[i], i, seed + (uint64_t)fold + 1, 0, fold, &tr, &va,
                          e->user_data};
            rb_history *h = e->fn(&run);
            rb_dataset_free(&tr);
            rb_dataset_free(&va);
            if (!h) {
                st = rb_last_status() != RB_OK ? rb_last_status()
                                               : rb_error(RB_ERR_STATE,
                                                          "experiment %s: run of "
                                                          "'%s' returned no history",
                                                          e->name, e->configs[i].name);
                break;
            }
            st = keep(e, i, h, k);
        }
    rb_kfold_free(kf);
    rb_status written = write_results(e);
    if (st != RB_OK || written != RB_OK) return -1;
    int best = rb_experiment_best(e);
    if (!e->cfg.quiet && best >= 0)
        printf("best by %d-fold cross-validation: %s\n", k, e->configs[best].name);
    return best;
}
