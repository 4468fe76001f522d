/* Runtime: BLIS kernel choice for CPUs we cannot run on, threads, random numbers. */
#include <blis.h>
#include <omp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blis_arch.h"
#include "parallel.h"
#include "testutil.h"

static rb__cpu cpu_with(rb__cpu_vendor vendor, unsigned family, unsigned model, bool avx2,
                        bool avx512)
{
    rb__cpu c = {0};
    c.vendor = vendor;
    c.family = family;
    c.model = model;
    c.avx = c.fma = c.avx2 = avx2 || avx512;
    c.avx512f = c.avx512dq = c.avx512bw = c.avx512vl = avx512;
    return c;
}

static void zen3_keeps_blis_own_choice(void **state)
{
    (void)state;
    rb__cpu c = cpu_with(RB__CPU_AMD, 0x19, 0x01, true, false);
    rb__arch_choice a = rb__choose_blis_arch(&c);
    assert_int_equal(a.blis_would, BLIS_ARCH_ZEN3);
    assert_false(a.override);
}

static void zen5_gets_skx_kernels_instead_of_generic(void **state)
{
    (void)state;
    rb__cpu c = cpu_with(RB__CPU_AMD, 0x1A, 0x02, true, true);
    rb__arch_choice a = rb__choose_blis_arch(&c);
    assert_int_equal(a.blis_would, BLIS_ARCH_GENERIC);
    assert_true(a.override);
    assert_int_equal(a.chosen, BLIS_ARCH_SKX);
    assert_string_equal(rb__blis_arch_name(a.chosen), "skx");
}

static void a_future_amd_without_avx512_gets_zen3_kernels(void **state)
{
    (void)state;
    rb__cpu c = cpu_with(RB__CPU_AMD, 0x1B, 0x00, true, false);
    rb__arch_choice a = rb__choose_blis_arch(&c);
    assert_true(a.override);
    assert_int_equal(a.chosen, BLIS_ARCH_ZEN3);
}

static void intel_cpus_keep_blis_own_choice(void **state)
{
    (void)state;
    rb__cpu skx = cpu_with(RB__CPU_INTEL, 6, 0x55, true, true);
    rb__cpu hsw = cpu_with(RB__CPU_INTEL, 6, 0x3c, true, false);
    assert_false(rb__choose_blis_arch(&skx).override);
    assert_int_equal(rb__choose_blis_arch(&hsw).blis_would, BLIS_ARCH_HASWELL);
}

static void an_unknown_vendor_with_avx2_gets_haswell_kernels(void **state)
{
    (void)state;
    rb__cpu c = cpu_with(RB__CPU_OTHER, 0x18, 0, true, false);
    rb__arch_choice a = rb__choose_blis_arch(&c);
    assert_true(a.override);
    assert_int_equal(a.chosen, BLIS_ARCH_HASWELL);
}

static void an_old_cpu_without_simd_stays_generic(void **state)
{
    (void)state;
    rb__cpu c = cpu_with(RB__CPU_AMD, 0x10, 0, false, false);
    rb__arch_choice a = rb__choose_blis_arch(&c);
    assert_false(a.override);
    assert_int_equal(a.chosen, BLIS_ARCH_GENERIC);
}

static void this_machine_runs_fast_kernels_and_says_why(void **state)
{
    (void)state;
    rb_runtime_info info;
    rb_runtime_get_info(&info);
    if (info.has_avx2_fma) assert_string_not_equal(info.blis_arch, "generic");
    assert_true(strlen(info.arch_reason) > 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rb_runtime_print_info(f);
    fclose(f);
    assert_non_null(strstr(buf, "BLIS"));
    assert_non_null(strstr(buf, info.blis_arch));
    free(buf);
}

static void one_setting_sets_the_thread_count(void **state)
{
    (void)state;
    int before = rb_num_threads();
    rb_set_num_threads(1);
    assert_int_equal(rb_num_threads(), 1);
    assert_int_equal(bli_thread_get_num_threads(), 1); /* BLIS follows */
    rb_set_num_threads(2);
    assert_int_equal(bli_thread_get_num_threads(), 2);
    CHECK_FAILS(rb_set_num_threads(-1), RB_ERR_ARGUMENT, "n must be >= 0");
    rb_set_num_threads(0);
    rb_runtime_info info;
    rb_runtime_get_info(&info);
    assert_int_equal(rb_num_threads(), info.num_cores);
    rb_set_num_threads(before);
}

/* What fn wrote to stderr. */
static char *stderr_of(void (*fn)(void *), void *arg)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long size = ftell(tmp);
    rewind(tmp);
    char *text = calloc(1, (size_t)size + 1);
    if (fread(text, 1, (size_t)size, tmp) != (size_t)size) text[0] = '\0';
    fclose(tmp);
    return text;
}

static void ask_for_threads(void *n) { rb_set_num_threads(*(int *)n); }

static void a_request_above_the_cores_is_capped_with_one_warning(void **state)
{
    (void)state;
    int before = rb_num_threads(), cores = rb__cores(), ask = cores + 997;
    char *said = stderr_of(ask_for_threads, &ask);
    assert_int_equal(rb_num_threads(), cores);
    assert_int_equal(bli_thread_get_num_threads(), cores);
    char expect[160];
    snprintf(expect, sizeof expect, "asks for %d threads; this process may use %d cores, using %d",
             ask, cores, cores);
    if (!strstr(said, expect)) fail_msg("stderr: '%s', expected '%s'", said, expect);
    assert_non_null(strchr(said, '\n'));
    assert_null(strchr(strchr(said, '\n') + 1, '\n')); /* one line */
    free(said);
    said = stderr_of(ask_for_threads, &ask); /* said once per value */
    assert_string_equal(said, "");
    free(said);
    rb_set_num_threads(before);
}

static void threads_leave_the_cores_other_processes_use_alone(void **state)
{
    (void)state;
    assert_int_equal(rb__threads_fit(0.0, 2, 2), 2); /* quiet */
    assert_int_equal(rb__threads_fit(0.1, 2, 2), 2); /* background noise */
    assert_int_equal(rb__threads_fit(0.7, 2, 2), 1); /* one core mostly taken */
    assert_int_equal(rb__threads_fit(2.0, 2, 2), 1); /* every core taken: still one */
    assert_int_equal(rb__threads_fit(3.5, 8, 8), 4);
    assert_int_equal(rb__threads_fit(0.0, 8, 3), 3);  /* never above the setting */
    assert_int_equal(rb__threads_fit(-0.2, 2, 2), 2); /* rounding in the measurement */
}

/* rb__parallel_tasks: every task once, one per call on several threads, and a thread held up
 * by a slow task has the rest of its share taken by the others. */
typedef struct task_log {
    atomic_int runs[1000];
    atomic_int thread_of[1000];
    atomic_int wide_calls;   /* calls covering more than one task */
    bool slow_first;         /* thread 0 sleeps 100 ms in the first task it runs */
    atomic_bool slept;
} task_log;

static void log_tasks(void *ctx, int64_t begin, int64_t end)
{
    task_log *log = ctx;
    if (end - begin > 1) atomic_fetch_add(&log->wide_calls, 1);
    for (int64_t i = begin; i < end; i++) {
        atomic_fetch_add(&log->runs[i], 1);
        atomic_store(&log->thread_of[i], omp_get_thread_num());
        if (log->slow_first && omp_get_thread_num() == 0 && !atomic_exchange(&log->slept, true))
            nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
}

static void tasks_run_once_each_and_a_slow_thread_is_helped(void **state)
{
    (void)state;
    int before = rb_num_threads();
    static const int64_t sizes[] = {1, 2, 3, 7, 64, 1000};
    for (int threads = 1; threads <= rb__cores() && threads <= 4; threads++) {
        rb_set_num_threads(threads);
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            task_log *log = calloc(1, sizeof *log);
            rb__parallel_tasks(sizes[s], log_tasks, log);
            for (int64_t i = 0; i < sizes[s]; i++)
                assert_int_equal(atomic_load(&log->runs[i]), 1);
            for (int64_t i = sizes[s]; i < 1000; i++)
                assert_int_equal(atomic_load(&log->runs[i]), 0);
            if (threads > 1) assert_int_equal(atomic_load(&log->wide_calls), 0);
            free(log);
        }
    }
    if (rb__cores() >= 2) { /* thread 0 sleeps in its first task: thread 1 does the rest (a
                             * static split would leave it 4 of the 8) */
        rb_set_num_threads(2);
        task_log *log = calloc(1, sizeof *log);
        log->slow_first = true;
        rb__parallel_tasks(8, log_tasks, log);
        int on_thread_0 = 0;
        for (int i = 0; i < 8; i++) {
            assert_int_equal(atomic_load(&log->runs[i]), 1);
            on_thread_0 += atomic_load(&log->thread_of[i]) == 0;
        }
        assert_true(on_thread_0 <= 1); /* (none: thread 1 was done before thread 0 began) */
        free(log);
    }
    rb_set_num_threads(before);
}

static void busy_processes_take_threads_away_until_told_not_to(void **state)
{
    (void)state;
    int cores = rb__cores();
    if (cores < 2) skip(); /* one thread already */
    int before = rb_num_threads();
    rb_set_num_threads(0);
    bool adaptive = rb_set_adaptive_threads(true); /* the suite runs with it off */
    pid_t busy[64];
    int n = cores < 64 ? cores : 64;
    for (int i = 0; i < n; i++)
        if ((busy[i] = fork()) == 0)
            for (volatile unsigned long spin = 0;; spin++) {
            }
    int fewest = cores;
    for (int tries = 0; tries < 60 && fewest == cores; tries++) { /* up to 3 s */
        nanosleep(&(struct timespec){0, 50000000}, NULL);
        int now = rb_num_threads_now();
        if (now < fewest) fewest = now;
    }
    rb_set_adaptive_threads(false);
    int without = rb_num_threads_now();
    rb_set_adaptive_threads(adaptive);
    for (int i = 0; i < n; i++) {
        kill(busy[i], SIGKILL);
        waitpid(busy[i], NULL, 0);
    }
    rb_set_num_threads(before);
    assert_true(fewest < cores);
    assert_int_equal(without, cores);
}

static void the_same_seed_gives_the_same_numbers(void **state)
{
    (void)state;
    rb_rng a = rb_rng_make(7), b = rb_rng_make(7), c = rb_rng_make(8);
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(100), 0, 1, &a);
    rb_tensor *y = rb_tensor_normal(RB_F64, RB_SHAPE(100), 0, 1, &b);
    rb_tensor *z = rb_tensor_normal(RB_F64, RB_SHAPE(100), 0, 1, &c);
    assert_memory_equal(rb_tensor_f64(x), rb_tensor_f64(y), 100 * sizeof(double));
    assert_memory_not_equal(rb_tensor_f64(x), rb_tensor_f64(z), 100 * sizeof(double));
}

static void random_fills_do_not_depend_on_the_thread_count(void **state)
{
    (void)state;
    int before = rb_num_threads();
    rb_set_num_threads(1);
    rb_rng a = rb_rng_make(11);
    rb_tensor *x = rb_tensor_normal(RB_F32, RB_SHAPE(1000, 1000), 0, 1, &a);
    rb_set_num_threads(2);
    rb_rng b = rb_rng_make(11);
    rb_tensor *y = rb_tensor_normal(RB_F32, RB_SHAPE(1000, 1000), 0, 1, &b);
    rb_set_num_threads(before);
    assert_memory_equal(rb_tensor_f32(x), rb_tensor_f32(y), 1000000 * sizeof(float));
    assert_true(a.counter == b.counter);
}

static void normal_and_uniform_have_the_right_moments(void **state)
{
    (void)state;
    rb_rng r = rb_rng_make(5);
    const int64_t n = 400000;
    rb_tensor *x = rb_tensor_normal(RB_F64, RB_SHAPE(n), 2.0, 3.0, &r);
    CHECK_CLOSE(rb_tensor_item(rb_mean(x, RB_ALL_AXES, false)), 2.0, 0.03);
    CHECK_CLOSE(sqrt(rb_tensor_item(rb_var(x, RB_ALL_AXES, false, 1))), 3.0, 0.03);
    rb_tensor *u = rb_tensor_uniform(RB_F64, RB_SHAPE(n), -1.0, 3.0, &r);
    CHECK_CLOSE(rb_tensor_item(rb_mean(u, RB_ALL_AXES, false)), 1.0, 0.02);
    CHECK_CLOSE(rb_tensor_item(rb_var(u, RB_ALL_AXES, false, 0)), 16.0 / 12.0, 0.02);
    assert_true(rb_tensor_item(rb_min(u, RB_ALL_AXES, false)) >= -1.0);
    assert_true(rb_tensor_item(rb_max(u, RB_ALL_AXES, false)) < 3.0);
}

static void truncated_normal_stays_within_two_deviations(void **state)
{
    (void)state;
    rb_rng r = rb_rng_make(9);
    rb_tensor *x = rb_tensor_empty(RB_F64, RB_SHAPE(20000));
    CHECK_STATUS_OK(rb_fill_truncated_normal(x, 0.0, 0.5, &r));
    assert_true(rb_tensor_item(rb_max(rb_abs(x), RB_ALL_AXES, false)) <= 1.0);
    /* N(0,1) truncated to [-2, 2] has standard deviation 0.8796 */
    CHECK_CLOSE(sqrt(rb_tensor_item(rb_var(x, RB_ALL_AXES, false, 1))), 0.5 * 0.8796, 0.01);
}

static void below_and_shuffle_cover_every_value(void **state)
{
    (void)state;
    rb_rng r = rb_rng_make(3);
    int counts[5] = {0};
    for (int i = 0; i < 50000; i++)
        counts[rb_rng_below(&r, 5)]++;
    for (int k = 0; k < 5; k++)
        CHECK_CLOSE(counts[k], 10000, 400);
    int64_t idx[50];
    for (int i = 0; i < 50; i++)
        idx[i] = i;
    rb_rng_shuffle(&r, idx, 50);
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 50; i++)
        assert_int_equal(seen[i], 1);
    assert_true(moved > 40);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(zen3_keeps_blis_own_choice),
        TEST(zen5_gets_skx_kernels_instead_of_generic),
        TEST(a_future_amd_without_avx512_gets_zen3_kernels),
        TEST(intel_cpus_keep_blis_own_choice),
        TEST(an_unknown_vendor_with_avx2_gets_haswell_kernels),
        TEST(an_old_cpu_without_simd_stays_generic),
        TEST(this_machine_runs_fast_kernels_and_says_why),
        TEST(one_setting_sets_the_thread_count),
        TEST(a_request_above_the_cores_is_capped_with_one_warning),
        TEST(threads_leave_the_cores_other_processes_use_alone),
        TEST(tasks_run_once_each_and_a_slow_thread_is_helped),
        TEST(busy_processes_take_threads_away_until_told_not_to),
        TEST(the_same_seed_gives_the_same_numbers),
        TEST(random_fills_do_not_depend_on_the_thread_count),
        TEST(normal_and_uniform_have_the_right_moments),
        TEST(truncated_normal_stays_within_two_deviations),
        TEST(below_and_shuffle_cover_every_value),
    };
    return RUN_TESTS(tests, argc, argv);
}
