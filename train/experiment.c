/* The experiment runner: configurations x seeds (or folds), one results folder with the
 * histories, a markdown table and learning-curve plots. Public API only. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "experiment_internal.h"

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
                 "rb_experiment_new: results folder path of %zu characters is too long",
                 strlen(cfg.dir));
        return NULL;
    }
    rb_experiment *e = calloc(1, sizeof *e);
    if (!e) {
        rb_error(RB_ERR_MEMORY, "rb_experiment_new: out of memory");
        return NULL;
    }
    e->cfg = cfg;
    if (!rb_dist_is_root(cfg.dist)) e->cfg.quiet = true; /* rank 0 speaks for the job */
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
    if (e->cfg.seed == 0) e->cfg.seed = 1;
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
                     "rb_experiment_add: key '%s' is missing or longer than %zu characters",
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

int rb_experiment_add_config(rb_experiment *e, const rb_config *c)
{
    if (!c) {
        rb_error(RB_ERR_ARGUMENT, "rb_experiment_add_config: no configuration");
        return -1;
    }
    const char *keys[RB_CONFIG_MAX_KEYS];
    for (int i = 0; i < c->n && i < RB_CONFIG_MAX_KEYS; i++)
        keys[i] = c->keys[i];
    return rb_experiment_add(e, c->name, c->n, keys, c->values);
}

rb_status rb_experiment_add_baseline(rb_experiment *e, const char *label, double value)
{
    if (!e || !label) return rb_error(RB_ERR_ARGUMENT, "rb_experiment_add_baseline: NULL argument");
    if (e->n_baselines == 4)
        return rb_error(RB_ERR_ARGUMENT, "rb_experiment_add_baseline: %s has 4 baselines already",
                        e->name);
    snprintf(e->baseline_labels[e->n_baselines], sizeof e->baseline_labels[0], "%s", label);
    e->baseline_values[e->n_baselines++] = value;
    return RB_OK;
}

int rb__experiment_baselines(const rb_experiment *e, double scale, rb_baseline *out)
{
    for (int b = 0; b < e->n_baselines; b++)
        out[b] = (rb_baseline){e->baseline_labels[b], scale * e->baseline_values[b]};
    return e->n_baselines;
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
const char *rb_experiment_name(const rb_experiment *e) { return e ? e->name : ""; }

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

static rb_status write_results(rb_experiment *e)
{
    const rb_history *h0 = rb__first_history(e);
    if (!h0 || !rb_dist_is_root(e->cfg.dist)) return RB_OK;
    snprintf(e->out_dir, sizeof e->out_dir, "%s%s", e->dir,
             e->cross_validated ? "/cross_validation" : "");
    rb_status st = make_dirs(e->out_dir);
    if (st == RB_OK) st = write_histories(e);
    if (st == RB_OK) st = write_summary(e);
    if (st == RB_OK) st = rb__experiment_plot_curves(e);
    if (st == RB_OK && !e->cfg.quiet) {
        rb_experiment_print_table(e, stdout);
        printf("\nresults: %s/ (summary.md, histories.csv, loss.png%s%s)\n", e->out_dir,
               h0->metric != RB_METRIC_NONE ? ", metric.png" : "",
               rb_plot_available() ? "" : "; plots as gnuplot scripts: gnuplot not installed");
    }
    if (e->observer.done) e->observer.done(e->observer.ctx, e);
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
    const char *m = rb__metric_label(e, h);
    rb__format_value(a, sizeof a, h, h->metric == RB_METRIC_NONE ? last->loss : last->metric);
    printf("  -> %d epochs in %.1f s: training %s %s", h->n, seconds, m, a);
    if (h->has_validation) {
        rb__format_value(b, sizeof b, h,
                         h->metric == RB_METRIC_NONE ? last->val_loss : last->val_metric);
        printf(", validation %s %s", m, b);
    }
    printf("\n");
}

/* ---- progress ---- */

void rb__experiment_observe(rb_experiment *e, rb__experiment_observer observer)
{
    if (!e) return;
    e->observer = observer;
    snprintf(e->title, sizeof e->title, "%s", observer.title ? observer.title : e->name);
    e->observer.title = e->title;
}

void rb__experiment_progress(const rb_experiment *e, int *planned, int *done, double *mean)
{
    *planned = e->planned_runs ? e->planned_runs : e->n * e->cfg.seeds;
    *done = e->done_runs;
    *mean = e->done_runs ? e->done_seconds / e->done_runs : NAN;
}

/* An event of the run under way: which run it is, and the time left for the experiment
 * (each run to come taking the mean duration, the current one's projected from its share
 * done). */
static void on_event(void *ctx, const rb_progress_event *event)
{
    rb_experiment *e = ctx;
    rb_progress_event x = *event;
    x.experiment = e->observer.title ? e->observer.title : e->name;
    x.run_label = e->run_label;
    x.run = e->run_no;
    x.runs = e->planned_runs;
    double share = event->epochs > 0
                       ? ((event->epoch - 1) +
                          (event->steps > 0 ? (double)event->step / (double)event->steps : 1.0)) /
                             event->epochs
                       : 0;
    double elapsed = rb_now() - e->run_start;
    x.remaining = -1;
    if (share > 0) {
        double projected = elapsed / share;
        double mean = (e->done_seconds + projected) / (e->done_runs + 1);
        x.remaining = projected - elapsed + (e->planned_runs - e->done_runs - 1) * mean;
    }
    if (e->observer.progress)
        e->observer.progress(e->observer.ctx, e, &x);
    else
        rb_progress_show(&e->display, &x);
}

static rb_run start_run(rb_experiment *e, int i, int repeat, int fold, const rb_dataset *train,
                        const rb_dataset *val, uint64_t seed, int of)
{
    e->run_no++;
    e->run_start = rb_now();
    if (fold >= 0)
        snprintf(e->run_label, sizeof e->run_label, "%s, fold %d/%d", e->configs[i].name, fold + 1,
                 of);
    else if (e->cfg.seeds > 1)
        snprintf(e->run_label, sizeof e->run_label, "%s, seed %d/%d", e->configs[i].name,
                 repeat + 1, of);
    else
        snprintf(e->run_label, sizeof e->run_label, "%s", e->configs[i].name);
    bool shown = !e->cfg.quiet || e->observer.progress;
    return (rb_run){.config = &e->configs[i],
                    .index = i,
                    .seed = seed,
                    .repeat = repeat,
                    .fold = fold,
                    .train = train,
                    .validation = val,
                    .user_data = e->user_data,
                    .epochs = e->cfg.epochs,
                    .dist = e->cfg.dist,
                    .progress = shown ? (rb_progress_hook){on_event, e} : (rb_progress_hook){0}};
}

static void reset_progress(rb_experiment *e, int planned)
{
    e->planned_runs = planned;
    e->run_no = e->done_runs = 0;
    e->done_seconds = 0;
    e->n_pictures = 0;
}

static rb_status keep(rb_experiment *e, int i, rb_history *h, int max_runs)
{
    e->done_runs++;
    e->done_seconds += rb_now() - e->run_start;
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
    reset_progress(e, e->n * e->cfg.seeds);
    rb_status st = RB_OK;
    for (int i = 0; i < e->n && st == RB_OK; i++)
        for (int r = 0; r < e->cfg.seeds && st == RB_OK; r++) {
            if (!e->cfg.quiet) {
                printf("\n[%s] configuration %d/%d: %s", e->name, i + 1, e->n, e->configs[i].name);
                if (e->cfg.seeds > 1) printf(", seed %d/%d", r + 1, e->cfg.seeds);
                printf("\n");
            }
            rb_run run =
                start_run(e, i, r, -1, train, val, e->cfg.seed + (uint64_t)r, e->cfg.seeds);
            rb_history *h = e->fn(&run);
            if (!h) {
                st = rb_last_status() != RB_OK
                         ? rb_last_status()
                         : rb_error(RB_ERR_STATE, "experiment %s: run of '%s' returned no history",
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
    reset_progress(e, e->n * k);
    rb_status st = RB_OK;
    for (int i = 0; i < e->n && st == RB_OK; i++)
        for (int fold = 0; fold < k && st == RB_OK; fold++) {
            if (!e->cfg.quiet)
                printf("\n[%s] configuration %d/%d: %s, fold %d/%d\n", e->name, i + 1, e->n,
                       e->configs[i].name, fold + 1, k);
            rb_dataset tr, va;
            if ((st = rb_kfold_split(kf, fold, data, &tr, &va)) != RB_OK) break;
            rb_run run = start_run(e, i, 0, fold, &tr, &va, seed + (uint64_t)fold + 1, k);
            rb_history *h = e->fn(&run);
            rb_dataset_free(&tr);
            rb_dataset_free(&va);
            if (!h) {
                st = rb_last_status() != RB_OK
                         ? rb_last_status()
                         : rb_error(RB_ERR_STATE, "experiment %s: run of '%s' returned no history",
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
