/* Shared by the benchmarks: timing, sgemm peak, argument parsing. Public API only. */
#ifndef RUBAN_BENCH_COMMON_H
#define RUBAN_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ruban.h>

static inline void bench_die_on_error(rb_status status, const char *message, void *ud)
{
    (void)ud;
    fprintf(stderr, "bench error (%s): %s\n", rb_status_name(status), message);
    exit(1);
}

/* GFLOPS of a large float32 matrix product through ruban (BLIS sgemm), best of a few runs:
 * the machine's practical peak at the current thread count. */
static inline double bench_sgemm_peak_gflops(int64_t n)
{
    rb_scope *s = rb_scope_begin();
    rb_rng rng = rb_rng_make(1);
    rb_tensor *a = rb_tensor_uniform(RB_F32, RB_SHAPE(n, n), -1, 1, &rng);
    rb_tensor *b = rb_tensor_uniform(RB_F32, RB_SHAPE(n, n), -1, 1, &rng);
    double best = 1e30;
    for (int r = 0; r < 10; r++) {
        rb_scope *inner = rb_scope_begin();
        double t0 = rb_now();
        rb_matmul(a, b);
        double t = rb_now() - t0;
        rb_scope_end(inner);
        if (r > 0 && t < best) best = t; /* the first run warms BLIS up */
    }
    rb_scope_end(s);
    return 2.0 * (double)n * (double)n * (double)n / best / 1e9;
}

/* Median of n values (sorts them). */
static inline double bench_median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* "--name value" integer option, or the default. */
static inline long bench_arg(int argc, char **argv, const char *name, long fallback)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return strtol(argv[i + 1], NULL, 10);
    return fallback;
}

#endif
