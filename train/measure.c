/* Measures over runs, comparisons with their noise, verdicts on expectations. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ruban.h"

rb_measure rb_measure_of(int n, const double *values, bool percent)
{
    rb_measure m = {.mean = NAN, .sd = NAN, .min = NAN, .max = NAN, .percent = percent};
    double sum = 0;
    for (int i = 0; values && i < n; i++) {
        if (isnan(values[i])) continue;
        sum += values[i];
        if (m.n == 0 || values[i] < m.min) m.min = values[i];
        if (m.n == 0 || values[i] > m.max) m.max = values[i];
        m.n++;
    }
    if (m.n == 0) return m;
    m.mean = sum / m.n;
    double q = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(values[i])) q += (values[i] - m.mean) * (values[i] - m.mean);
    m.sd = m.n > 1 ? sqrt(q / (m.n - 1)) : 0;
    return m;
}

rb_measure rb_measure_value(double value, bool percent)
{
    return (rb_measure){.mean = value, .sd = 0, .min = value, .max = value, .percent = percent};
}

void rb_measure_format(char *out, size_t size, rb_measure m)
{
    if (!out || size == 0) return;
    if (isnan(m.mean)) {
        snprintf(out, size, "-");
        return;
    }
    int k = m.percent ? snprintf(out, size, "%.2f%%", 100 * m.mean)
                      : snprintf(out, size, "%.4g", m.mean);
    if (m.n > 1 && k >= 0 && (size_t)k < size) {
        if (m.percent)
            snprintf(out + k, size - (size_t)k, " ± %.2f", 100 * m.sd);
        else
            snprintf(out + k, size - (size_t)k, " ± %.2g", m.sd);
    }
}

void rb_measure_format_diff(char *out, size_t size, double diff, bool percent)
{
    if (!out || size == 0) return;
    if (percent)
        snprintf(out, size, "%.2f %s", 100 * fabs(diff),
                 fabs(100 * diff) == 1 ? "point" : "points");
    else
        snprintf(out, size, "%.3g", fabs(diff));
}

rb_comparison rb_measure_compare(rb_measure a, rb_measure b, double floor)
{
    rb_comparison c = {.diff = a.mean - b.mean, .noise = 0, .effect = NAN};
    /* One run's seed-to-seed standard deviation, pooled over the sides that measured it. */
    double q = 0;
    int dof = 0;
    if (a.n > 1) q += (a.n - 1) * a.sd * a.sd, dof += a.n - 1;
    if (b.n > 1) q += (b.n - 1) * b.sd * b.sd, dof += b.n - 1;
    double sd = dof ? sqrt(q / dof) : 0;
    if (floor > sd) sd = floor;
    double weight = (a.n > 0 ? 1.0 / a.n : 0) + (b.n > 0 ? 1.0 / b.n : 0);
    c.noise = sd * sqrt(weight);
    if (isnan(c.diff)) {
        c.order = RB_TIE;
        return c;
    }
    if (c.noise > 0) c.effect = c.diff / c.noise;
    if (c.noise > 0 && fabs(c.diff) <= RB_TIE_WITHIN * c.noise)
        c.order = RB_TIE;
    else
        c.order = c.diff > 0 ? RB_HIGHER : c.diff < 0 ? RB_LOWER : RB_TIE;
    return c;
}

/* Appends to out, never past its end. */
static void put(char *out, size_t size, size_t *used, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void put(char *out, size_t size, size_t *used, const char *fmt, ...)
{
    if (*used >= size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n;
    if (*used >= size) *used = size - 1;
}

/* A measure with its number of runs: "96.07% ± 0.25, 3 runs". */
static void described(char *out, size_t size, rb_measure m)
{
    rb_measure_format(out, size, m);
    size_t k = strlen(out);
    if (m.n > 1) snprintf(out + k, size - k, ", %d runs", m.n);
}

bool rb_verdict(char *out, size_t size, const char *a_label, rb_measure a, rb_order expected,
                const char *b_label, rb_measure b, double floor)
{
    rb_comparison c = rb_measure_compare(a, b, floor);
    bool holds = c.order == expected && !isnan(c.diff);
    /* Without a measured noise a tie cannot be told from a small difference. */
    if (expected == RB_TIE && c.noise == 0) holds = c.diff == 0;
    if (!out || size == 0) return holds;
    char va[96], vb[96], d[48], n[48];
    described(va, sizeof va, a);
    described(vb, sizeof vb, b);
    rb_measure_format_diff(d, sizeof d, c.diff, a.percent || b.percent);
    rb_measure_format_diff(n, sizeof n, c.noise, a.percent || b.percent);
    const char *la = a_label ? a_label : "a", *lb = b_label ? b_label : "b";
    size_t used = 0;
    out[0] = '\0';
    put(out, size, &used, "%s", holds ? "as expected: " : "not as expected, because ");
    if (isnan(c.diff)) {
        put(out, size, &used, "%s (%s) or %s (%s) was not measured", la, va, lb, vb);
        return false;
    }
    if (c.order == RB_TIE && c.noise > 0)
        put(out, size, &used,
            "%s (%s) and %s (%s) differ by %s, less than twice the noise (%s): a tie", la, va, lb,
            vb, d, n);
    else if (c.diff == 0)
        put(out, size, &used, "%s (%s) and %s (%s) are equal", la, va, lb, vb);
    else
        put(out, size, &used, "%s (%s) is %s %s %s (%s)", la, va, d, c.diff > 0 ? "above" : "below",
            lb, vb);
    if (c.noise == 0 && c.diff != 0)
        put(out, size, &used, "; one run each: the noise is not measured%s",
            expected == RB_TIE ? ", so a tie cannot be told from a difference" : "");
    else if (c.order != RB_TIE)
        put(out, size, &used, ": %.1f times the noise (%s)", fabs(c.effect), n);
    return holds;
}
