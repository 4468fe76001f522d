/* What the runs of an experiment say: scores, measures over seeds, ties, the table. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "experiment_internal.h"

static bool higher_better(const rb_history *h) { return rb_metric_higher_is_better(h->metric); }

double rb__score(const rb_history *h, const rb_epoch_record *r)
{
    if (h->metric == RB_METRIC_NONE) return h->has_validation ? r->val_loss : r->loss;
    return h->has_validation ? r->val_metric : r->metric;
}

double rb__final_score(const rb_history *h)
{
    return h && h->n ? rb__score(h, &h->epochs[h->n - 1]) : NAN;
}

static double best_score(const rb_history *h, int *epoch)
{
    double best = NAN;
    for (int k = 0; h && k < h->n; k++) {
        double v = rb__score(h, &h->epochs[k]);
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
        v[r] = rb__final_score(e->runs[i][r]);
    return mean_of(v, n, NULL);
}

const rb_history *rb__first_history(const rb_experiment *e)
{
    for (int i = 0; i < e->n; i++)
        if (e->n_runs[i]) return e->runs[i][0];
    return NULL;
}

int rb_experiment_best(const rb_experiment *e)
{
    const rb_history *h0 = e ? rb__first_history(e) : NULL;
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

const char *rb__metric_label(const rb_experiment *e, const rb_history *h)
{
    if (e->metric_label[0]) return e->metric_label;
    return h->metric == RB_METRIC_NONE ? "loss" : rb_metric_name(h->metric);
}

bool rb__percent(const rb_history *h)
{
    return h && (h->metric == RB_METRIC_ACCURACY || h->metric == RB_METRIC_TOP_K_ACCURACY);
}

void rb__format_value(char *out, size_t size, const rb_history *h, double v)
{
    if (isnan(v))
        snprintf(out, size, "-");
    else if (rb__percent(h))
        snprintf(out, size, "%.2f%%", 100 * v);
    else
        snprintf(out, size, "%.4g", v);
}

void rb__experiment_write_table(const rb_experiment *e, FILE *f)
{
    const rb_history *h0 = e ? rb__first_history(e) : NULL;
    if (!h0 || !f) return;
    const char *m = rb__metric_label(e, h0);
    const char *part = h0->has_validation ? "validation" : "training";
    int best = rb_experiment_best(e);
    fprintf(f, "| configuration ");
    if (e->cross_validated) {
        fprintf(f, "| %s, mean over %d folds | spread (sd) | worst fold | best fold ", m,
                e->n_runs[0]);
        fprintf(f, "| seconds per fold |\n|---|---|---|---|---|---|\n");
    } else if (e->cfg.seeds > 1) {
        fprintf(f, "| final %s %s, mean ± sd of %d seeds | best epoch's %s ", part, m, e->cfg.seeds,
                m);
        fprintf(f, "| training %s | seconds |\n|---|---|---|---|---|\n", m);
    } else if (h0->metric == RB_METRIC_NONE) { /* the metric is the loss: no second column */
        fprintf(f, "| final %s %s | best %s (epoch) | training %s ", part, m, m, m);
        fprintf(f, "| seconds |\n|---|---|---|---|---|\n");
    } else {
        fprintf(f, "| final %s %s | best %s (epoch) | training %s ", part, m, m, m);
        fprintf(f, "| training loss | seconds |\n|---|---|---|---|---|---|\n");
    }
    for (int i = 0; i < e->n; i++) {
        int n = e->n_runs[i];
        if (!n) continue;
        double fin[256], tr[256], secs[256], loss[256], bests[256];
        int best_epoch = 0;
        n = n < 256 ? n : 256;
        for (int r = 0; r < n; r++) {
            const rb_history *h = e->runs[i][r];
            const rb_epoch_record *last = rb_history_last(h);
            fin[r] = rb__final_score(h);
            bests[r] = best_score(h, &best_epoch);
            tr[r] = last ? (h->metric == RB_METRIC_NONE ? last->loss : last->metric) : NAN;
            loss[r] = last ? last->loss : NAN;
            secs[r] = 0;
            for (int k = 0; k < h->n; k++)
                secs[r] += h->epochs[k].seconds;
        }
        double sd, mean = mean_of(fin, n, &sd);
        char a[48], b[48], c[48], d[48];
        const char *star = i == best                        ? " **(best)**"
                           : rb_experiment_tied(e, i, best) ? " (tied with the best)"
                                                            : "";
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
            rb__format_value(a, sizeof a, h0, mean);
            rb__format_value(b, sizeof b, h0, sd);
            rb__format_value(c, sizeof c, h0, lo);
            rb__format_value(d, sizeof d, h0, hi);
            fprintf(f, "| %s%s | %s | %s | %s | %s | %.2f |\n", e->configs[i].name, star, a, b, c,
                    d, mean_of(secs, n, NULL));
        } else if (e->cfg.seeds > 1) {
            rb__format_value(a, sizeof a, h0, mean);
            rb__format_value(b, sizeof b, h0, sd);
            rb__format_value(c, sizeof c, h0, mean_of(bests, n, NULL));
            rb__format_value(d, sizeof d, h0, mean_of(tr, n, NULL));
            fprintf(f, "| %s%s | %s ± %s | %s | %s | %.2f |\n", e->configs[i].name, star, a, b, c,
                    d, mean_of(secs, n, NULL));
        } else {
            rb__format_value(a, sizeof a, h0, fin[0]);
            rb__format_value(b, sizeof b, h0, bests[0]);
            rb__format_value(c, sizeof c, h0, tr[0]);
            if (h0->metric == RB_METRIC_NONE)
                fprintf(f, "| %s%s | %s | %s (%d) | %s | %.2f |\n", e->configs[i].name, star, a, b,
                        best_epoch, c, secs[0]);
            else
                fprintf(f, "| %s%s | %s | %s (%d) | %s | %.4g | %.2f |\n", e->configs[i].name, star,
                        a, b, best_epoch, c, loss[0], secs[0]);
        }
    }
}

void rb_experiment_print_table(const rb_experiment *e, FILE *f)
{
    if (!e || !f || !rb__first_history(e)) return;
    char sentence[1024];
    fprintf(f, "\n### %s\n\n", e->name);
    rb__experiment_write_table(e, f);
    rb__experiment_best_sentence(e, sentence, sizeof sentence);
    fprintf(f, "\n%s\n", sentence);
}

double rb__run_quantity(const rb_history *h, rb_quantity q)
{
    const rb_epoch_record *last = rb_history_last(h);
    if (!last) return NAN;
    double v = NAN;
    switch (q) {
    case RB_FINAL_SCORE: return rb__final_score(h);
    case RB_FINAL_METRIC: return last->metric;
    case RB_FINAL_VAL_METRIC: return last->val_metric;
    case RB_FINAL_LOSS: return last->loss;
    case RB_FINAL_VAL_LOSS: return last->val_loss;
    case RB_GAP: return last->metric - last->val_metric;
    case RB_BEST_VAL_METRIC: return rb_history_best_metric(h);
    case RB_LOWEST_VAL_LOSS:
        for (int k = 0; k < h->n; k++)
            if (isnan(v) || h->epochs[k].val_loss < v) v = h->epochs[k].val_loss;
        return v;
    case RB_SECONDS:
        v = 0;
        for (int k = 0; k < h->n; k++)
            v += h->epochs[k].seconds;
        return v;
    }
    return NAN;
}

/* Quantities that are accuracies (or differences of accuracies) show in percent. */
static bool percent_quantity(const rb_history *h, rb_quantity q)
{
    if (!rb__percent(h)) return false;
    return q == RB_FINAL_SCORE || q == RB_FINAL_METRIC || q == RB_FINAL_VAL_METRIC ||
           q == RB_BEST_VAL_METRIC || q == RB_GAP;
}

rb_measure rb_experiment_measure(const rb_experiment *e, int i, rb_quantity q)
{
    if (!e || i < 0 || i >= e->n || e->n_runs[i] == 0) return rb_measure_of(0, NULL, false);
    double v[256];
    int n = e->n_runs[i] < 256 ? e->n_runs[i] : 256;
    for (int r = 0; r < n; r++)
        v[r] = rb__run_quantity(e->runs[i][r], q);
    return rb_measure_of(n, v, percent_quantity(e->runs[i][0], q));
}

int rb_experiment_best_of(const rb_experiment *e, const char *key, double value)
{
    const rb_history *h0 = e ? rb__first_history(e) : NULL;
    int best = -1;
    for (int i = 0; h0 && key && i < e->n; i++) {
        double v = rb_experiment_final(e, i);
        if (isnan(v) || rb_config_get(&e->configs[i], key, NAN) != value) continue;
        double b = best >= 0 ? rb_experiment_final(e, best) : NAN;
        if (best < 0 || (rb_metric_higher_is_better(h0->metric) ? v > b : v < b)) best = i;
    }
    return best;
}

bool rb_experiment_tied(const rb_experiment *e, int i, int j)
{
    if (!e || i < 0 || j < 0 || i >= e->n || j >= e->n || !e->n_runs[i] || !e->n_runs[j])
        return false;
    if (i == j) return true;
    rb_comparison c = rb_measure_compare(rb_experiment_measure(e, i, RB_FINAL_SCORE),
                                         rb_experiment_measure(e, j, RB_FINAL_SCORE), e->cfg.noise);
    return c.noise > 0 && c.order == RB_TIE;
}

/* Appends to out, never past its end. */
static void put(char *out, size_t size, size_t *used, const char *text)
{
    if (*used + 1 >= size) return;
    int n = snprintf(out + *used, size - *used, "%s", text);
    *used += n > 0 ? (size_t)n : 0;
    if (*used >= size) *used = size - 1;
}

void rb__experiment_best_sentence(const rb_experiment *e, char *out, size_t size)
{
    if (!out || size == 0) return;
    out[0] = '\0';
    int best = e ? rb_experiment_best(e) : -1;
    if (best < 0) return;
    static const char no_noise[] =
        " One run per configuration and no noise level given: ties cannot be told apart.";
    static const char same_runs[] =
        " Its runs gave the same score at every seed and no noise level is given: ties cannot be told apart from exact equality.";
    rb_measure m = rb_experiment_measure(e, best, RB_FINAL_SCORE);
    char text[400], value[96];
    rb_measure_format(value, sizeof value, m);
    snprintf(text, sizeof text, "Best: %s (%s).", e->configs[best].name, value);
    size_t used = 0;
    put(out, size, &used, text);
    if (rb_measure_compare(m, m, e->cfg.noise).noise == 0) {
        /* Several runs that agree to the last digit (a deterministic training) have no
         * spread either: only an exactly equal score ties with them. */
        put(out, size, &used, m.n > 1 ? same_runs : no_noise);
        return;
    }
    int tied = 0;
    for (int i = 0; i < e->n; i++) {
        if (i == best || !rb_experiment_tied(e, i, best)) continue;
        put(out, size, &used, tied++ ? ", " : " Tied with it within the noise: ");
        put(out, size, &used, e->configs[i].name);
    }
    put(out, size, &used, tied ? "." : " No other configuration is within the noise of it.");
}
