/* Shared by the benchmarks: command line, the timed training loop, sgemm peak, peak memory and
 * the one result line scripts/bench.sh reads. Public API only. */
#ifndef RUBAN_BENCH_COMMON_H
#define RUBAN_BENCH_COMMON_H

#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ruban.h>

static inline void bench_die_on_error(rb_status status, const char *message, void *ud)
{
    (void)ud;
    fprintf(stderr, "bench error (%s): %s\n", rb_status_name(status), message);
    exit(1);
}

/* ---- command line: every benchmark takes the same flags, and --help ---- */

typedef struct bench_options {
    const char *model;   /* one of the benchmark's models */
    int threads;         /* 1 by default (scripts/bench.sh asks for each count); 0: ruban's */
    long steps, repeats; /* `repeats` timed runs of `steps` steps; the best and median reported */
    long batch;
    bool profile;  /* print the per-op profile of the timed steps */
    bool no_peak;  /* skip the sgemm peak (when profiling: it dwarfs the training) */
    bool cpu_time; /* time with the process's CPU time (one thread on a busy machine) */
    long peak_of;  /* internal: measure the sgemm peak on matrices of this order, print it, exit */
} bench_options;

static inline double bench_sgemm_peak_in_this_process(int64_t n, bool cpu_time);

/* Products timed per sgemm peak measurement (the first warms BLIS up and is not counted). */
enum { BENCH_PEAK_PRODUCTS = 4, BENCH_MAX_REPEATS = 100 };

/* Parse argv into o (holding the defaults); models lists the accepted --model values (NULL
 * for none). Prints usage and exits 0 on --help, 2 on anything unknown or malformed. */
static inline void bench_parse(int argc, char **argv, const char *about, const char *const *models,
                               bench_options *o)
{
    char usage[1024];
    int at = snprintf(usage, sizeof usage, "usage: %s", argv[0]);
    if (models) {
        at += snprintf(usage + at, sizeof usage - (size_t)at, " [--model ");
        for (int i = 0; models[i]; i++)
            at += snprintf(usage + at, sizeof usage - (size_t)at, "%s%s", i ? "|" : "", models[i]);
        at += snprintf(usage + at, sizeof usage - (size_t)at, "]");
    }
    snprintf(
        usage + at, sizeof usage - (size_t)at, "%s",
        " [--threads N] [--steps N] [--repeats N] [--batch N] [--profile 0|1] [--peak 0|1] [--cpu-time 0|1] [--info]");
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            printf("%s\n\n%s\n\n", usage, about);
            printf("  --model     workload (default %s)\n", o->model ? o->model : "-");
            printf("  --threads   threads (default %d; 0: ruban's default, the cores available)\n",
                   o->threads);
            printf("  --steps     steps per timed run (default %ld)\n", o->steps);
            printf("  --repeats   timed runs; the best and the median are reported (default %ld)\n",
                   o->repeats);
            printf("  --batch     minibatch size (default %ld)\n", o->batch);
            printf("  --profile   1: print the per-op profile\n");
            printf("  --peak      0: skip measuring the sgemm peak (for profilers)\n");
            printf(
                "  --cpu-time  1: time by the process's CPU time, not the clock (on a busy machine, at one thread: what the steps cost, not how long they waited for a core)\n");
            printf(
                "  --info      print the CPU, BLIS kernels and threads ruban uses, and exit\n\n");
            printf(
                "Prints one line: workload, threads, samples/s (best and median run), GFLOPS (best run), the best sgemm peak measured, the fraction of peak (median over runs, each against the peak measured just before and after it), peak resident memory. BENCH_DEBUG=1 in the environment prints each run's rate and peak on stderr.\n");
            exit(0);
        }
        if (strcmp(flag, "--info") == 0) { /* what ruban runs on: CPU, BLIS kernels, threads */
            rb_runtime_print_info(stdout);
            exit(0);
        }
        char *end = NULL;
        long v = value ? strtol(value, &end, 10) : 0;
        bool number = value && *value && end && *end == '\0';
        bool ok = value != NULL;
        if (strcmp(flag, "--model") == 0 && models && value) {
            ok = false;
            for (int k = 0; models[k]; k++)
                if (strcmp(value, models[k]) == 0) o->model = models[k], ok = true;
        } else if (strcmp(flag, "--threads") == 0 && number && v >= 0 && v <= 4096)
            o->threads = (int)v;
        else if (strcmp(flag, "--steps") == 0 && number && v >= 1)
            o->steps = v;
        else if (strcmp(flag, "--repeats") == 0 && number && v >= 1 && v <= BENCH_MAX_REPEATS)
            o->repeats = v;
        else if (strcmp(flag, "--batch") == 0 && number && v >= 1)
            o->batch = v;
        else if (strcmp(flag, "--profile") == 0 && number)
            o->profile = v != 0;
        else if (strcmp(flag, "--peak") == 0 && number)
            o->no_peak = v == 0;
        else if (strcmp(flag, "--cpu-time") == 0 && number)
            o->cpu_time = v != 0;
        else if (strcmp(flag, "--sgemm-peak-of") == 0 && number && v >= 1)
            o->peak_of = v;
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "%s: bad or unknown option '%s%s%s'\n%s\n", argv[0], flag,
                    value ? " " : "", value ? value : "", usage);
            exit(2);
        }
        i++;
    }
    if (o->peak_of) { /* the child bench_sgemm_peak_gflops runs */
        rb_set_num_threads(o->threads);
        printf("%.6f\n", bench_sgemm_peak_in_this_process(o->peak_of, o->cpu_time));
        exit(0);
    }
}

/* ---- measurements ---- */

/* Seconds of CPU the process has used (its threads summed). */
static inline double bench_cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* GFLOPS of a large float32 matrix product through ruban (BLIS sgemm), best of a few runs:
 * the machine's practical peak at the current thread count. Measured in a new process (this
 * program run with --sgemm-peak-of), so that its matrices do not count in the benchmark's peak
 * memory; a new process, not a fork: a child forked after OpenMP's threads started waits for
 * them forever. */
static inline double bench_sgemm_peak_gflops(int64_t n, bool cpu_time)
{
    char order[32], threads[32];
    snprintf(order, sizeof order, "%lld", (long long)n);
    snprintf(threads, sizeof threads, "%d", rb_num_threads());
    char *argv[] = {"/proc/self/exe", "--sgemm-peak-of", order,  "--threads",
                    threads,          "--cpu-time",      cpu_time ? "1" : "0", NULL};
    int fd[2];
    if (pipe(fd) != 0) return bench_sgemm_peak_in_this_process(n, cpu_time);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fd[0]);
    extern char **environ;
    fflush(NULL);
    pid_t child;
    bool spawned = posix_spawn(&child, argv[0], &actions, NULL, argv, environ) == 0;
    posix_spawn_file_actions_destroy(&actions);
    close(fd[1]);
    char text[64] = {0};
    ssize_t got = spawned ? read(fd[0], text, sizeof text - 1) : -1;
    close(fd[0]);
    int status = 1;
    if (spawned) waitpid(child, &status, 0);
    double g = got > 0 && status == 0 ? strtod(text, NULL) : 0;
    return g > 0 ? g : bench_sgemm_peak_in_this_process(n, cpu_time);
}

static inline double bench_sgemm_peak_in_this_process(int64_t n, bool cpu_time)
{
    rb_scope *s = rb_scope_begin();
    rb_rng rng = rb_rng_make(1);
    rb_tensor *a = rb_tensor_uniform(RB_F32, RB_SHAPE(n, n), -1, 1, &rng);
    rb_tensor *b = rb_tensor_uniform(RB_F32, RB_SHAPE(n, n), -1, 1, &rng);
    double best = 1e30;
    for (int r = 0; r < BENCH_PEAK_PRODUCTS; r++) {
        rb_scope *inner = rb_scope_begin();
        double (*clock)(void) = cpu_time ? bench_cpu_seconds : rb_now;
        double t0 = clock();
        rb_matmul(a, b);
        double t = clock() - t0;
        rb_scope_end(inner);
        if (r > 0 && t < best) best = t; /* the first run warms BLIS up */
    }
    rb_scope_end(s);
    return 2.0 * (double)n * (double)n * (double)n / best / 1e9;
}

/* Median of n values (sorts them). */
static inline double bench_median(double *v, long n)
{
    for (long i = 1; i < n; i++)
        for (long j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Peak resident memory of the process so far, in MB. */
static inline double bench_peak_rss_mb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0;
}

/* ---- the timed loop ---- */

/* One training step of the benchmark on minibatch (x, y); returns the loss. */
typedef double (*bench_step_fn)(void *ctx, rb_tensor *x, rb_tensor *y);

/* This machine kind's speed swings up to 2x from one second to the next (an sgemm of order
 * 1024 measured 37-86 GFLOPS within 30 s on a quiet machine), and noise only ever slows a run.
 * So the throughput is the best of the timed runs (the median beside it: what a run typically
 * gets; bench/contention.sh compares those), and the fraction of the sgemm peak is taken run by
 * run against the peak measured just before and just after that run (the better of the two),
 * then the median over runs: a slow second slows both, a fraction of a peak measured at another
 * moment would not. */
typedef struct bench_result {
    double samples_per_s; /* best of the timed runs */
    double median_samples_per_s;
    double loss;       /* of the last step */
    double sgemm_peak; /* GFLOPS, the best measured */
    long runs;
    double rates[BENCH_MAX_REPEATS], peaks[BENCH_MAX_REPEATS]; /* per run: samples/s, local peak */
} bench_result;

/* Untimed steps for this long after each sgemm peak measurement: a run that followed one
 * directly lost about 90 ms (MLP at 2 threads: 75k samples/s over 200 steps against 100k
 * without the measurements), whatever the cause (caches, sleeping threads, the clock). */
#define BENCH_SETTLE_SECONDS 0.25

/* One step on the next minibatch (a new epoch begins when one ends); returns the loss. */
static inline double bench_next_step(rb_batcher *batches, bench_step_fn step, void *ctx)
{
    rb_tensor *xb, *yb;
    if (!rb_batcher_next(batches, &xb, &yb)) rb_batcher_next(batches, &xb, &yb);
    return step(ctx, xb, yb);
}

/* `warmup` untimed steps, then o->repeats timed runs of o->steps steps over batches of
 * (x, y) reshuffled each epoch; the profile, when asked, covers the timed steps (and the
 * settling steps after peak measurements). */
static inline bench_result bench_train(const bench_options *o, rb_tensor *x, rb_tensor *y,
                                       long warmup, bench_step_fn step, void *ctx)
{
    bench_result r = {0};
    double rates[BENCH_MAX_REPEATS], peak_before = NAN;
    rb_batcher *batches = rb_batcher_new(x, y, o->batch, true, 7);
    /* Images held as bytes (a quarter of the memory, as torchvision holds them) come out as
     * float32 batches in [0, 1]. */
    if (rb_tensor_dtype(x) == RB_U8) rb_batcher_convert(batches, RB_F32, 1.0 / 255);
    for (long run = -1; run < o->repeats; run++) { /* run -1: the warm-up */
        long count = run < 0 ? warmup : o->steps;
        if (run == 0 && o->profile) rb_profile_start();
        if (run == 0 && !o->no_peak) peak_before = bench_sgemm_peak_gflops(2048, o->cpu_time);
        if (run >= 0 && !o->no_peak)
            for (double t = rb_now(), now = t; now - t < BENCH_SETTLE_SECONDS; now = rb_now())
                bench_next_step(batches, step, ctx);
        double (*clock)(void) = o->cpu_time ? bench_cpu_seconds : rb_now;
        double t0 = clock();
        for (long s = 0; s < count; s++)
            r.loss = bench_next_step(batches, step, ctx);
        if (run < 0) continue;
        rates[run] = r.rates[run] = (double)(o->steps * o->batch) / (clock() - t0);
        /* The peak after this run is the one before the next. */
        double peak_after = o->no_peak ? NAN : bench_sgemm_peak_gflops(2048, o->cpu_time);
        r.peaks[run] = peak_before > peak_after ? peak_before : peak_after;
        if (!(r.sgemm_peak >= r.peaks[run])) r.sgemm_peak = r.peaks[run];
        peak_before = peak_after;
        if (getenv("BENCH_DEBUG"))
            fprintf(stderr, "run %ld: %.0f samples/s, local peak %.1f GFLOPS\n", run, rates[run],
                    r.peaks[run]);
    }
    r.runs = o->repeats;
    if (o->profile) {
        rb_profile_stop();
        rb_profile_print(stdout);
    }
    rb_batcher_free(batches);
    r.median_samples_per_s = bench_median(rates, o->repeats);
    r.samples_per_s = rates[o->repeats - 1]; /* sorted by bench_median */
    if (o->no_peak) r.sgemm_peak = NAN;
    return r;
}

/* The line scripts/bench.sh reads. */
static inline void bench_print(const bench_options *o, const bench_result *r,
                               double flops_per_sample)
{
    double gflops = r->samples_per_s * flops_per_sample / 1e9, fractions[BENCH_MAX_REPEATS];
    for (long i = 0; i < r->runs; i++)
        fractions[i] = r->rates[i] * flops_per_sample / 1e9 / r->peaks[i];
    double fraction = r->runs ? bench_median(fractions, r->runs) : NAN;
    printf("workload=%s threads=%d batch=%ld samples_per_s=%.0f median_samples_per_s=%.0f "
           "gflops=%.1f sgemm_peak=%.1f peak_fraction=%.3f flops_per_sample=%.0f final_loss=%.4f "
           "peak_rss_mb=%.0f\n",
           o->model, o->threads, o->batch, r->samples_per_s, r->median_samples_per_s, gflops,
           r->sgemm_peak, fraction, flops_per_sample, r->loss, bench_peak_rss_mb());
}

/* One step of a classifier: the tape, softmax cross-entropy, gradients into the store, the
 * optimizer; forward(model, x) gives the logits. */
static inline double bench_classifier_step(rb_tensor *(*forward)(void *model, rb_tensor *x),
                                           void *model, rb_params *params, rb_optimizer *opt,
                                           rb_tensor *x, rb_tensor *y)
{
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *loss = rb_softmax_cross_entropy(forward(model, x), y);
    rb_tape_gradient_params(tape, loss, params);
    double value = rb_tensor_item(loss);
    rb_tape_end(tape);
    rb_optimizer_step(opt);
    return value;
}

#endif
