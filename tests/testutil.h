/* Test helpers on top of cmocka: assertions that print the expression and both values,
 * checks of ruban's error record, and a main() that speaks TAP to meson.
 *
 * Each test runs inside a scope (tensors it creates are released after it) and must leave no
 * unexpected error behind: the teardown fails a test whose error record is not clear. */
#ifndef RUBAN_TESTS_TESTUTIL_H
#define RUBAN_TESTS_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <ruban.h>

/* |a - b| <= tol, reporting both expressions and values. */
#define CHECK_CLOSE(a, b, tol)                                                                     \
    do {                                                                                           \
        double check_a_ = (double)(a), check_b_ = (double)(b), check_t_ = (double)(tol);           \
        if (!(fabs(check_a_ - check_b_) <= check_t_))                                              \
            fail_msg("%s = %.10g, %s = %.10g: differ by %.3g > %.3g", #a, check_a_, #b, check_b_,  \
                     fabs(check_a_ - check_b_), check_t_);                                         \
    } while (0)

/* A pointer result that must be non-NULL; on failure shows ruban's error. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        if (!(expr)) fail_msg("%s failed: %s", #expr, rb_last_error());                            \
    } while (0)

/* A status result that must be RB_OK. */
#define CHECK_STATUS_OK(expr)                                                                      \
    do {                                                                                           \
        rb_status check_s_ = (expr);                                                               \
        if (check_s_ != RB_OK)                                                                     \
            fail_msg("%s returned %s: %s", #expr, rb_status_name(check_s_), rb_last_error());      \
    } while (0)

/* An expression that must fail (NULL/false/non-OK) with `status` and a message containing
 * `needle`; the error is then cleared. */
#define CHECK_FAILS(expr, status, needle)                                                          \
    do {                                                                                           \
        rb_error_clear();                                                                          \
        (void)(expr);                                                                              \
        if (rb_last_status() != (status))                                                          \
            fail_msg("%s: expected %s, got %s (\"%s\")", #expr, rb_status_name(status),            \
                     rb_status_name(rb_last_status()), rb_last_error());                           \
        if (!strstr(rb_last_error(), (needle)))                                                    \
            fail_msg("%s: message \"%s\" lacks \"%s\"", #expr, rb_last_error(), (needle));         \
        rb_error_clear();                                                                          \
    } while (0)

/* Tensor t (any float/int dtype) equals the n values of `expect` within tol. */
#define CHECK_TENSOR(t, tol, ...)                                                                  \
    check_tensor_((t), #t, (const double[]){__VA_ARGS__},                                          \
                  (int64_t)(sizeof((const double[]){__VA_ARGS__}) / sizeof(double)), (tol),        \
                  __FILE__, __LINE__)

/* Report at the caller's line. */
#define FAIL_AT(file, line, ...)                                                                   \
    do {                                                                                           \
        print_error(__VA_ARGS__);                                                                  \
        print_error("\n");                                                                         \
        _fail(file, line);                                                                         \
    } while (0)

static inline void check_tensor_(rb_tensor *t, const char *expr, const double *expect, int64_t n,
                                 double tol, const char *file, int line)
{
    if (!t) FAIL_AT(file, line, "%s is NULL: %s", expr, rb_last_error());
    if (rb_tensor_size(t) != n) {
        char s[96];
        FAIL_AT(file, line, "%s has %lld elements (shape %s), expected %lld", expr,
                (long long)rb_tensor_size(t), rb_tensor_shape_string(t, s, sizeof s), (long long)n);
    }
    double got[4096];
    if (n > 4096) FAIL_AT(file, line, "check_tensor_: too many values");
    rb_tensor_to_doubles(t, got, n);
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - expect[i]) <= tol) && !(isnan(got[i]) && isnan(expect[i])))
            FAIL_AT(file, line, "%s[%lld] = %.10g, expected %.10g (tolerance %.3g)", expr,
                    (long long)i, got[i], expect[i], tol);
}

/* Shape of t equals the listed extents. */
#define CHECK_SHAPE(t, ...)                                                                        \
    check_shape_((t), #t, (const int64_t[]){__VA_ARGS__},                                          \
                 (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), __FILE__,        \
                 __LINE__)

static inline void check_shape_(rb_tensor *t, const char *expr, const int64_t *shape, int ndim,
                                const char *file, int line)
{
    if (!t) FAIL_AT(file, line, "%s is NULL: %s", expr, rb_last_error());
    char got[96], want[96];
    rb_tensor_shape_string(t, got, sizeof got);
    size_t used = (size_t)snprintf(want, sizeof want, "[");
    for (int i = 0; i < ndim && used < sizeof want; i++)
        used += (size_t)snprintf(want + used, sizeof want - used, i ? ",%lld" : "%lld",
                                 (long long)shape[i]);
    if (used < sizeof want) snprintf(want + used, sizeof want - used, "]");
    bool same = rb_tensor_ndim(t) == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = rb_tensor_dim(t, i) == shape[i];
    if (!same) FAIL_AT(file, line, "%s has shape %s, expected %s", expr, got, want);
}

/* Float64 tensor from values, owned by the test's scope. */
#define T64(shape_macro, ...)                                                                      \
    rb_tensor_from_data(RB_F64, shape_macro, (const double[]){__VA_ARGS__})
#define T32(shape_macro, ...) rb_tensor_from_data(RB_F32, shape_macro, (const float[]){__VA_ARGS__})
#define TI64(shape_macro, ...)                                                                     \
    rb_tensor_from_data(RB_I64, shape_macro, (const int64_t[]){__VA_ARGS__})

/* Per-test scope and error hygiene. */
static inline int test_setup_(void **state)
{
    rb_error_clear();
    *state = rb_scope_begin();
    return *state ? 0 : -1;
}

static inline int test_teardown_(void **state)
{
    rb_scope_end(*state);
    if (rb_last_status() != RB_OK) {
        fprintf(stderr, "unexpected error left by the test: %s\n", rb_last_error());
        print_error("unexpected error left by the test: %s\n", rb_last_error());
        rb_error_clear();
        return -1;
    }
    return 0;
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, test_setup_, test_teardown_)

/* ---- a fresh folder for tests that write files ----
 * TEST_DIR(f) runs f like TEST with test_dir() a new empty folder under /tmp, removed after
 * the test with everything in it (read-only files included); RUN_TESTS_IN_DIR shares one
 * folder among all the tests of a program instead. test_path("name") is a path inside it (one
 * of 8 rotating buffers). */
static inline char *test_dir(void)
{
    static char dir[64];
    return dir;
}

static inline const char *test_path(const char *name)
{
    static char paths[8][320];
    static int next;
    char *p = paths[next++ & 7];
    snprintf(p, sizeof paths[0], "%s/%s", test_dir(), name);
    return p;
}

static inline int test_make_dir_(void **state)
{
    (void)state;
    snprintf(test_dir(), 64, "/tmp/ruban-test-XXXXXX");
    return mkdtemp(test_dir()) ? 0 : -1;
}

/* Removal without a shell (a test may run with PATH pointing nowhere): folders made writable
 * first (a test may have taken the right away), then everything removed, deepest first. */
static inline int test_make_writable_(const char *path, const struct stat *st, int type,
                                      struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_D) chmod(path, st->st_mode | S_IWUSR | S_IXUSR);
    return 0;
}

static inline int test_remove_entry_(const char *path, const struct stat *st, int type,
                                     struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static inline int test_remove_dir_(void **state)
{
    (void)state;
    nftw(test_dir(), test_make_writable_, 16, FTW_PHYS);
    return nftw(test_dir(), test_remove_entry_, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

static inline int test_setup_dir_(void **state)
{
    return test_make_dir_(state) == 0 ? test_setup_(state) : -1;
}

static inline int test_teardown_dir_(void **state)
{
    int torn = test_teardown_(state), removed = test_remove_dir_(state);
    return torn == 0 && removed == 0 ? 0 : -1;
}

#define TEST_DIR(f) cmocka_unit_test_setup_teardown(f, test_setup_dir_, test_teardown_dir_)

/* Run a test array with TAP output; argv[1], if given, filters tests by name. */
#define RUN_TESTS(tests, argc, argv)                                                               \
    (cmocka_set_message_output(CM_OUTPUT_TAP),                                                     \
     (argc) > 1 ? cmocka_set_test_filter((argv)[1]) : (void)0,                                     \
     cmocka_run_group_tests(tests, NULL, NULL))
/* The same with one test_dir() for the whole program. */
#define RUN_TESTS_IN_DIR(tests, argc, argv)                                                        \
    (cmocka_set_message_output(CM_OUTPUT_TAP),                                                     \
     (argc) > 1 ? cmocka_set_test_filter((argv)[1]) : (void)0,                                     \
     cmocka_run_group_tests(tests, test_make_dir_, test_remove_dir_))

#endif
