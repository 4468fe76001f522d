/* Runtime settings: thread count shared by OpenMP loops and BLIS, BLIS kernel choice. */
#define _POSIX_C_SOURCE 200809L
#define _GNU_SOURCE
#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <time.h>
#include <unistd.h>

#include <blis.h>

#include "blis_arch.h"
#include "core.h"
#include "parallel.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static atomic_int num_threads;
static int default_threads;
static rb__cpu cpu;
static rb__arch_choice arch_choice;
static bool user_arch_type;

static int available_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Runs when the library is loaded, so that the choice precedes any BLIS call, even one a
 * program makes directly. setenv is the only way BLIS 0.9 takes a kernel set. */
__attribute__((constructor)) static void choose_blis_kernels(void)
{
    rb__cpu_query(&cpu);
    arch_choice = rb__choose_blis_arch(&cpu);
    const char *user = getenv("BLIS_ARCH_TYPE");
    user_arch_type = user && *user;
    if (!user_arch_type && arch_choice.override) {
        char id[16];
        snprintf(id, sizeof id, "%d", arch_choice.chosen);
        setenv("BLIS_ARCH_TYPE", id, 0);
    }
}

static int parse_thread_env(void)
{
    const char *s = getenv("RUBAN_NUM_THREADS");
    if (!s || !*s) return 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 4096) {
        fprintf(stderr, "ruban: ignoring RUBAN_NUM_THREADS='%s' (want a positive integer)\n", s);
        return 0;
    }
    return (int)v;
}

static void apply_threads(int n)
{
    atomic_store(&num_threads, n);
    bli_thread_set_num_threads(n);
}

static void init(void)
{
    default_threads = available_cores();
    int n = parse_thread_env();
    apply_threads(n ? n : default_threads);
    const char *verbose = getenv("RUBAN_VERBOSE");
    if (verbose && *verbose && strcmp(verbose, "0") != 0) rb_runtime_print_info(stderr);
}

void rb_runtime_init(void) { pthread_once(&init_once, init); }

int rb__threads(void)
{
    rb_runtime_init();
    return atomic_load_explicit(&num_threads, memory_order_relaxed);
}

int rb_num_threads(void) { return rb__threads(); }

int rb_set_num_threads(int n)
{
    rb_runtime_init();
    int previous = atomic_load(&num_threads);
    if (n < 0) {
        rb_error(RB_ERR_ARGUMENT, "rb_set_num_threads: n must be >= 0, got %d", n);
        return previous;
    }
    apply_threads(n == 0 ? default_threads : n);
    return previous;
}

void rb__parallel_for(int64_t n, int64_t grain, rb__range_fn fn, void *ctx)
{
    if (n <= 0) return;
    int nt = rb__threads();
    if (grain < 1) grain = 1;
    int64_t max_chunks = (n + grain - 1) / grain;
    if (nt > max_chunks) nt = (int)max_chunks;
    if (nt <= 1 || omp_in_parallel()) {
        fn(ctx, 0, n);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t begin = n * t / T, end = n * (t + 1) / T;
        if (begin < end) fn(ctx, begin, end);
    }
}

void rb_runtime_get_info(rb_runtime_info *info)
{
    rb_runtime_init();
    memset(info, 0, sizeof *info);
    snprintf(info->cpu_vendor, sizeof info->cpu_vendor, "%s", cpu.vendor_string);
    info->cpu_family = cpu.family;
    info->cpu_model = cpu.model;
    info->has_avx2_fma = cpu.avx2 && cpu.fma;
    info->has_avx512 = cpu.avx512f && cpu.avx512dq && cpu.avx512bw && cpu.avx512vl;
    snprintf(info->blis_version, sizeof info->blis_version, "%s", bli_info_get_version_str());
    snprintf(info->blis_arch, sizeof info->blis_arch, "%s",
             rb__blis_arch_name((int)bli_arch_query_id()));
    snprintf(info->blis_would, sizeof info->blis_would, "%s",
             rb__blis_arch_name(arch_choice.blis_would));
    if (user_arch_type)
        snprintf(info->arch_reason, sizeof info->arch_reason,
                 "BLIS_ARCH_TYPE=%s set in the environment", getenv("BLIS_ARCH_TYPE"));
    else if (arch_choice.override)
        snprintf(info->arch_reason, sizeof info->arch_reason,
                 "ruban override: BLIS would fall back to generic; %s", arch_choice.reason);
    else
        snprintf(info->arch_reason, sizeof info->arch_reason, "%s", arch_choice.reason);
    info->num_threads = rb__threads();
    info->num_cores = default_threads;
}

void rb_runtime_print_info(FILE *f)
{
    rb_runtime_info i;
    rb_runtime_get_info(&i);
    fprintf(f, "ruban %s: CPU %s family 0x%x model 0x%x (AVX2+FMA %s, AVX-512 %s)\n", RUBAN_VERSION,
            i.cpu_vendor, i.cpu_family, i.cpu_model, i.has_avx2_fma ? "yes" : "no",
            i.has_avx512 ? "yes" : "no");
    fprintf(f, "ruban: BLIS %s kernels '%s' (%s)\n", i.blis_version, i.blis_arch, i.arch_reason);
    fprintf(f, "ruban: %d thread%s (%d core%s available)\n", i.num_threads,
            i.num_threads == 1 ? "" : "s", i.num_cores, i.num_cores == 1 ? "" : "s");
}

double rb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
