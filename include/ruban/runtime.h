/* ruban/runtime.h - threads, the BLIS kernel choice, memory statistics.
 *
 * The runtime initialises itself at the first call that needs it. One setting, the API call
 * rb_set_num_threads() or the environment variable RUBAN_NUM_THREADS (default: the number of
 * cores available to the process), governs both ruban's OpenMP loops and BLIS; ruban never
 * runs a threaded BLIS call inside one of its own parallel loops.
 *
 * BLIS picks its kernels for the CPU when it initialises. Where Debian's BLIS 0.9 does not
 * recognise the CPU it falls back to slow generic kernels; ruban then selects the best kernel
 * set the CPU supports (BLIS_ARCH_TYPE) before BLIS initialises. A BLIS_ARCH_TYPE already in
 * the environment wins.
 *
 *     rb_set_num_threads(2);
 *     rb_runtime_print_info(stdout);   // CPU, BLIS kernels and why, threads
 */
#ifndef RUBAN_RUNTIME_H
#define RUBAN_RUNTIME_H

#include <stdint.h>
#include <stdio.h>

#include "ruban/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of threads for ruban's loops and BLIS (n >= 1; n == 0 restores the default, the
 * cores the process may run on). A request above those cores is capped to them, with a
 * one-line warning on stderr. Returns the previous setting. */
RB_API int rb_set_num_threads(int n);
/* The thread setting (after the cap). */
RB_API int rb_num_threads(void);
/* Threads the next parallel loop will use: the setting, reduced while other processes keep
 * the cores busy (measured over 0.2 s windows), because a loop whose threads wait for a
 * descheduled one runs slower than on one thread. Results never depend on it. */
RB_API int rb_num_threads_now(void);
/* Turn that reduction off (false) or on (true, the default; RUBAN_ADAPTIVE_THREADS=0 in the
 * environment starts with it off). Returns the previous state. */
RB_API bool rb_set_adaptive_threads(bool on);

/* fn(ctx, begin, end) over [0, n) in contiguous chunks of at least grain items, one chunk per
 * thread (rb_num_threads_now()); on one thread when called inside another parallel loop.
 * Chunks must write disjoint outputs so that the result does not depend on the thread count. */
typedef void (*rb_range_fn)(void *ctx, int64_t begin, int64_t end);
RB_API void rb_parallel_for(int64_t n, int64_t grain, rb_range_fn fn, void *ctx);

/* Monotonic clock in seconds, for timing loops. */
RB_API double rb_now(void);

/* Initialise the runtime now (BLIS kernel choice, threads). Called implicitly; calling it
 * first lets a program print the choice before any work. Idempotent. */
RB_API void rb_runtime_init(void);

typedef struct rb_runtime_info {
    char cpu_vendor[16]; /* "AuthenticAMD", "GenuineIntel", ... */
    unsigned cpu_family; /* display family and model from CPUID */
    unsigned cpu_model;
    bool has_avx2_fma;
    bool has_avx512; /* F, DQ, BW and VL */
    char blis_version[32];
    char blis_arch[32];   /* kernel set BLIS uses, e.g. "zen3", "skx", "generic" */
    char blis_would[32];  /* what BLIS alone would have picked */
    char arch_reason[96]; /* why blis_arch was chosen */
    int num_threads; /* the setting */
    int threads_now; /* what the next loop uses (fewer while other processes are busy) */
    int num_cores;   /* cores the process may run on */
} rb_runtime_info;

/* Fill info (initialises the runtime). */
RB_API void rb_runtime_get_info(rb_runtime_info *info);
/* Print the info as a few readable lines. */
RB_API void rb_runtime_print_info(FILE *f);

/* Per-op profile: while on, every op's forward and backward time is summed per op (this
 * thread's ops). rb_profile_print writes a table sorted by total time. */
RB_API void rb_profile_start(void);
RB_API void rb_profile_stop(void);
RB_API void rb_profile_reset(void);
RB_API void rb_profile_print(FILE *f);

/* Memory counters, for checking that a training loop allocates nothing per step. */
typedef struct rb_memory_stat {
    long long heap_allocations; /* heap blocks ruban has allocated since start */
    long long heap_frees;
    size_t arena_used; /* bytes in use in the current owner's arena (0 if none) */
    size_t arena_capacity;
} rb_memory_stat;
RB_API void rb_memory_stats(rb_memory_stat *out);

#ifdef __cplusplus
}
#endif
#endif
