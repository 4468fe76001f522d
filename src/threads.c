/* Threads: one setting for ruban's loops and BLIS, capped at the cores the process may use,
 * and reduced while other processes keep those cores busy.
 *
 * Why the reduction: a training step is a chain of short parallel loops and products, each
 * ending at a barrier. When another process holds a core, one of our threads is descheduled
 * for a time slice (milliseconds) and every barrier waits for it: two threads then ran 5 to 50
 * times slower than one. The machine's busy time (/proc/stat) minus this process's own shows
 * how many cores other processes use; while they leave fewer free cores than we have threads,
 * loops run on fewer threads.
 * Results do not depend on the thread count, so this changes only the speed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <blis.h>

#include "core.h"
#include "parallel.h"

/* The window over which other processes' use of the cores is measured (/proc/stat counts in
 * 10 ms ticks, so shorter windows are too coarse). */
#define SAMPLE_SECONDS 0.2

static atomic_int setting;   /* the thread setting, capped */
static atomic_int effective; /* threads the next loop uses */
static atomic_bool adaptive = true;
static int cores; /* cores the process may run on */

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

/* A request above the cores: capped, said once per value. */
static int capped(int n, const char *source)
{
    static atomic_int warned;
    if (n <= cores) return n;
    if (atomic_exchange(&warned, n) != n)
        fprintf(stderr, "ruban: %s asks for %d threads; this process may use %d cores, using %d\n",
                source, n, cores, cores);
    return cores;
}

static void apply(int n)
{
    atomic_store(&setting, n);
    atomic_store(&effective, n);
    bli_thread_set_num_threads(n);
}

static int parse_thread_env(void)
{
    const char *s = getenv("RUBAN_NUM_THREADS");
    if (!s || !*s) return 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 1 << 20) {
        fprintf(stderr, "ruban: ignoring RUBAN_NUM_THREADS='%s' (want a positive integer)\n", s);
        return 0;
    }
    return (int)v;
}

void rb__threads_init(void)
{
    cores = available_cores();
    const char *a = getenv("RUBAN_ADAPTIVE_THREADS");
    if (a && strcmp(a, "0") == 0) atomic_store(&adaptive, false);
    int n = parse_thread_env();
    apply(n ? capped(n, "RUBAN_NUM_THREADS") : cores);
}

int rb__cores(void)
{
    rb_runtime_init();
    return cores;
}

int rb_num_threads(void)
{
    rb_runtime_init();
    return atomic_load_explicit(&setting, memory_order_relaxed);
}

int rb_set_num_threads(int n)
{
    rb_runtime_init();
    int previous = atomic_load(&setting);
    if (n < 0) {
        rb_error(RB_ERR_ARGUMENT, "rb_set_num_threads: n must be >= 0, got %d", n);
        return previous;
    }
    apply(n == 0 ? cores : capped(n, "rb_set_num_threads"));
    return previous;
}

bool rb_set_adaptive_threads(bool on)
{
    rb_runtime_init();
    bool previous = atomic_exchange(&adaptive, on);
    if (!on) atomic_store(&effective, atomic_load(&setting));
    return previous;
}

int rb__threads_fit(double others, int cores_, int want)
{
    /* A core another process uses half the time or more counts as taken. */
    int taken = others > 0 ? (int)(others + 0.5) : 0;
    int fit = cores_ - taken;
    return fit < 1 ? 1 : fit < want ? fit : want;
}

/* CPU time (seconds) the whole machine spent busy since boot: user, nice, system, irq,
 * softirq and steal (a virtual machine's core taken by the host) from /proc/stat's first line;
 * -1 when unreadable. */
static double machine_busy_seconds(void)
{
    int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[256];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got <= 0) return -1;
    buf[got] = '\0';
    unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
               &iowait, &irq, &softirq, &steal) != 8)
        return -1;
    static long ticks;
    if (!ticks) ticks = sysconf(_SC_CLK_TCK);
    return (double)(user + nice + system + irq + softirq + steal) /
           (double)(ticks > 0 ? ticks : 100);
}

static double process_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Every SAMPLE_SECONDS: the cores other processes kept busy over the window (the machine's
 * busy time minus ours, per second), and the threads that leave them alone. One thread
 * samples at a time; the others keep the last decision. */
static void sample(void)
{
    static _Atomic double last_wall = -1;
    static double last_machine, last_process;
    static atomic_flag busy = ATOMIC_FLAG_INIT;
    double now = rb_now();
    double since = now - atomic_load_explicit(&last_wall, memory_order_relaxed);
    if (since < SAMPLE_SECONDS) return;
    if (atomic_flag_test_and_set(&busy)) return;
    double machine = machine_busy_seconds(), process = process_seconds();
    if (machine >= 0 && atomic_load(&last_wall) >= 0) {
        double others = (machine - last_machine - (process - last_process)) / since;
        atomic_store(&effective, rb__threads_fit(others, cores, atomic_load(&setting)));
    }
    last_machine = machine;
    last_process = process;
    atomic_store(&last_wall, now);
    atomic_flag_clear(&busy);
}

int rb_num_threads_now(void)
{
    rb_runtime_init();
    int want = atomic_load_explicit(&setting, memory_order_relaxed);
    if (want <= 1 || !atomic_load_explicit(&adaptive, memory_order_relaxed)) return want;
    sample();
    return atomic_load_explicit(&effective, memory_order_relaxed);
}

int rb__threads(void) { return rb_num_threads_now(); }

/* A thread's share of the tasks, [front, back) packed in one word: its owner takes from the
 * front, the others, once theirs are done, from the back. */
typedef struct task_share {
    _Alignas(64) _Atomic uint64_t front_back;
} task_share;

enum { MAX_TASK_THREADS = 256 };

static bool take_task(task_share *s, bool front, int64_t *task)
{
    uint64_t v = atomic_load_explicit(&s->front_back, memory_order_relaxed);
    for (;;) {
        uint32_t f = (uint32_t)v, b = (uint32_t)(v >> 32);
        if (f >= b) return false;
        uint64_t next = front ? ((uint64_t)b << 32) | (f + 1) : ((uint64_t)(b - 1) << 32) | f;
        if (atomic_compare_exchange_weak_explicit(&s->front_back, &v, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *task = front ? f : b - 1;
            return true;
        }
    }
}

void rb__parallel_tasks(int64_t n, rb__range_fn fn, void *ctx)
{
    if (n <= 0 || !fn) return;
    int nt = omp_in_parallel() ? 1 : rb_num_threads_now();
    if (nt > n) nt = (int)n;
    if (nt > MAX_TASK_THREADS) nt = MAX_TASK_THREADS;
    if (nt <= 1 || n > UINT32_MAX) {
        if (nt <= 1)
            fn(ctx, 0, n);
        else
            rb_parallel_for(n, 1, fn, ctx);
        return;
    }
    /* Each thread starts on the contiguous share a static split gives it (the images it
     * handled in the loops before, still in its cache), then helps the others from their
     * ends. */
    task_share shares[MAX_TASK_THREADS];
    for (int t = 0; t < nt; t++)
        atomic_init(&shares[t].front_back,
                    ((uint64_t)(n * (t + 1) / nt) << 32) | (uint64_t)(n * t / nt));
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t task;
        for (int k = 0; k < nt && t < T; k++) {
            task_share *s = &shares[(t + k) % nt];
            while (take_task(s, k == 0, &task))
                fn(ctx, task, task + 1);
        }
    }
}

void rb_parallel_for(int64_t n, int64_t grain, rb_range_fn fn, void *ctx)
{
    if (n <= 0 || !fn) return;
    if (grain < 1) grain = 1;
    int64_t max_chunks = (n + grain - 1) / grain;
    int nt = omp_in_parallel() ? 1 : rb_num_threads_now();
    if (nt > max_chunks) nt = (int)max_chunks;
    if (nt <= 1) {
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
