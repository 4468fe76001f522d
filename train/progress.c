/* Progress bar: redraws in place on a terminal, one line per epoch otherwise. */
#define _POSIX_C_SOURCE 200809L
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

static void format_seconds(char *buf, size_t size, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

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
