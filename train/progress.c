/* Progress bar and progress events: redraws in place on a terminal, one line per epoch
 * otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ruban.h"

struct rb_progress {
    FILE *f;
    char title[64];
    int64_t total, done;
    double start, last_draw;
    bool tty;
};

rb_progress *rb_progress_begin(FILE *f, const char *title, int64_t total)
{
    rb_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->f = f ? f : stdout;
    snprintf(p->title, sizeof p->title, "%s", title ? title : "");
    p->total = total > 0 ? total : 1;
    p->start = rb_now();
    p->last_draw = -1;
    p->tty = isatty(fileno(p->f));
    return p;
}

double rb_progress_elapsed(const rb_progress *p) { return p ? rb_now() - p->start : 0.0; }

void rb_format_duration(char *buf, size_t size, double s)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void format_seconds(char *buf, size_t size, double s) { rb_format_duration(buf, size, s); }

void rb_progress_update(rb_progress *p, int64_t done, const char *fmt, ...)
{
    if (!p) return;
    p->done = done;
    if (!p->tty) return;
    double now = rb_now();
    if (done < p->total && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    int filled = (int)(WIDTH * (done > p->total ? p->total : done) / p->total);
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '=' : (i == filled ? '>' : '.');
    bar[WIDTH] = '\0';
    double elapsed = now - p->start;
    double eta = done > 0 ? elapsed * (double)(p->total - done) / (double)done : 0;
    char eta_s[32], metrics[256] = "";
    format_seconds(eta_s, sizeof eta_s, eta);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(metrics, sizeof metrics, fmt, ap);
        va_end(ap);
    }
    fprintf(p->f, "\r%s [%s] %lld/%lld ETA %s - %s\033[K", p->title, bar, (long long)done,
            (long long)p->total, eta_s, metrics);
    fflush(p->f);
}

void rb_progress_end(rb_progress *p, const char *fmt, ...)
{
    if (!p) return;
    char elapsed[32], metrics[256] = "";
    format_seconds(elapsed, sizeof elapsed, rb_now() - p->start);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(metrics, sizeof metrics, fmt, ap);
        va_end(ap);
    }
    fprintf(p->f, "%s%s %lld/%lld in %s (%.0f steps/s) - %s%s\n", p->tty ? "\r" : "", p->title,
            (long long)p->done, (long long)p->total, elapsed,
            (double)p->done / (rb_now() - p->start + 1e-9), metrics, p->tty ? "\033[K" : "");
    fflush(p->f);
    free(p);
}

/* ---- progress events ---- */

void rb_progress_report(rb_progress_hook hook, const rb_progress_event *event)
{
    if (hook.fn && event) hook.fn(hook.ctx, event);
}

/* Appends to a line buffer, never past its end. */
typedef struct line {
    char text[512];
    size_t used;
} line;

static void add(line *l, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void add(line *l, const char *fmt, ...)
{
    if (l->used >= sizeof l->text) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->text + l->used, sizeof l->text - l->used, fmt, ap);
    va_end(ap);
    if (n > 0) l->used += (size_t)n;
    if (l->used > sizeof l->text - 1) l->used = sizeof l->text - 1;
}

static void add_metric(line *l, const char *prefix, const rb_progress_event *e, double v)
{
    if (!e->metric_name || isnan(v)) return;
    if (e->percent)
        add(l, " - %s%s %.2f%%", prefix, e->metric_name, 100 * v);
    else
        add(l, " - %s%s %.4g", prefix, e->metric_name, v);
}

static void compose(line *l, const rb_progress_event *e, bool bar)
{
    if (e->experiment || e->runs > 0) {
        add(l, "[%s", e->experiment ? e->experiment : "");
        if (e->runs > 0) add(l, "%s%d/%d", e->experiment ? " " : "", e->run, e->runs);
        add(l, "] ");
    }
    if (e->run_label && *e->run_label) add(l, "%s - ", e->run_label);
    add(l, "epoch %d", e->epoch);
    if (e->epochs > 0) add(l, "/%d", e->epochs);
    if (bar && e->steps > 0) {
        enum { WIDTH = 20 };
        char cells[WIDTH + 1];
        int64_t done = e->step < e->steps ? e->step : e->steps;
        int filled = (int)(WIDTH * done / e->steps);
        for (int i = 0; i < WIDTH; i++)
            cells[i] = i < filled ? '=' : (i == filled ? '>' : '.');
        cells[WIDTH] = '\0';
        add(l, " [%s] %lld/%lld", cells, (long long)e->step, (long long)e->steps);
    }
    if (!isnan(e->loss)) add(l, " - loss %.4f", e->loss);
    add_metric(l, "", e, e->metric);
    if (!isnan(e->val_loss)) add(l, " - val_loss %.4f", e->val_loss);
    add_metric(l, "val_", e, e->val_metric);
    if (!bar && e->seconds > 0) add(l, " - %.1f s", e->seconds);
    if (e->remaining >= 0 && !isnan(e->remaining)) {
        char left[32];
        rb_format_duration(left, sizeof left, e->remaining);
        add(l, " - about %s left", left);
    }
}

void rb_progress_show(rb_progress_display *d, const rb_progress_event *e)
{
    if (!d || !e) return;
    FILE *f = d->f ? d->f : stdout;
    if (d->tty == 0) d->tty = isatty(fileno(f)) ? 1 : 2;
    line l = {.used = 0};
    l.text[0] = '\0';
    if (d->tty == 2) {
        if (!e->epoch_end) return;
        compose(&l, e, false);
        fprintf(f, "%s\n", l.text);
        fflush(f);
        return;
    }
    double now = rb_now();
    if (!e->epoch_end && now - d->last_draw < 0.1) return;
    d->last_draw = now;
    compose(&l, e, !e->epoch_end);
    fprintf(f, "\r%s\033[K%s", l.text, e->epoch_end ? "\n" : "");
    fflush(f);
}
