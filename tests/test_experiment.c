/* Closed-form least squares, regression scores, gnuplot line plots and the experiment runner.
 * Least-squares answers are worked out by hand or built into noiseless data; the experiment
 * runs a fake training function that writes a history by hand (no model), so every table,
 * mean and best configuration is known in advance from the formula below. Files go to a fresh
 * temporary folder per test, removed afterwards. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* ---- a temporary folder per test ---- */

static bool exists(const char *path) { return access(path, F_OK) == 0; }

#define CHECK_EXISTS(path)                                                                         \
    do {                                                                                           \
        if (!exists(path)) fail_msg("%s was not written", (path));                                 \
    } while (0)

#define CHECK_ABSENT(path)                                                                         \
    do {                                                                                           \
        if (exists(path)) fail_msg("%s should not exist", (path));                                 \
    } while (0)

/* The whole file as a string (the caller frees it); fails the test if it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    size_t got = fread(text, 1, (size_t)n, f);
    fclose(f);
    text[got] = '\0';
    return text;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static int count_occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Lines that start with prefix. */
static int count_prefixed_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *line = text; *line;) {
        n += strncmp(line, prefix, len) == 0;
        const char *end = strchr(line, '\n');
        if (!end) break;
        line = end + 1;
    }
    return n;
}

static void check_png(const char *path)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("%s was not written", path);
    size_t got = fread(head, 1, 8, f);
    fclose(f);
    if (got != 8 || memcmp(head, signature, 8) != 0) fail_msg("%s is not a PNG file", path);
}

static void check_svg(const char *path)
{
    char *text = slurp(path);
    bool ok = strstr(text, "<svg") != NULL;
    free(text);
    if (!ok) fail_msg("%s has no <svg element", path);
}

/* No temporary file (name containing ".tmp") left in folder. */
static void check_no_tmp_files(const char *folder)
{
    DIR *d = opendir(folder);
    if (!d) fail_msg("cannot list %s", folder);
    char left[256] = "";
    for (struct dirent *ent; (ent = readdir(d));)
        if (strstr(ent->d_name, ".tmp")) snprintf(left, sizeof left, "%s", ent->d_name);
    closedir(d);
    if (left[0]) fail_msg("temporary file %s/%s was left behind", folder, left);
}

/* ---- least squares ---- */

/* x (n, f) uniform in [-2, 2] from seed, and y = x w + b for w (f, t), b (t): y (n, t), or (n)
 * when flat. */
static void noiseless_data(rb_dtype dt, int64_t n, int64_t f, int64_t t, const double *w,
                           const double *b, bool flat, uint64_t seed, rb_tensor **x, rb_tensor **y)
{
    rb_rng rng = rb_rng_make(seed);
    *x = rb_tensor_uniform(RB_F64, RB_SHAPE(n, f), -2, 2, &rng);
    *y = flat ? rb_tensor_empty(RB_F64, RB_SHAPE(n)) : rb_tensor_empty(RB_F64, RB_SHAPE(n, t));
    const double *xv = rb_tensor_f64(*x);
    double *yv = rb_tensor_f64(*y);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < t; c++) {
            double s = b[c];
            for (int64_t j = 0; j < f; j++)
                s += xv[i * f + j] * w[j * t + c];
            yv[i * t + c] = s;
        }
    if (dt == RB_F32) {
        *x = rb_cast(*x, RB_F32);
        *y = rb_cast(*y, RB_F32);
    }
}

static void least_squares_recovers_exact_weights_and_bias_of_noiseless_data(void **state)
{
    (void)state;
    /* One target, y given as (N): weights come back as (F, 1), bias as (1). */
    const double w1[3] = {2, -1, 0.5}, b1[1] = {3};
    rb_tensor *x, *y, *w, *b;
    noiseless_data(RB_F64, 50, 3, 1, w1, b1, true, 11, &x, &y);
    CHECK_STATUS_OK(rb_linear_regression(x, y, 0.0, &w, &b));
    CHECK_SHAPE(w, 3, 1);
    CHECK_SHAPE(b, 1);
    assert_int_equal(rb_tensor_dtype(w), RB_F64);
    CHECK_TENSOR(w, 1e-10, 2, -1, 0.5);
    CHECK_TENSOR(b, 1e-10, 3);
    rb_tensor_free(w);
    rb_tensor_free(b);

    /* Two targets: column c of the weights belongs to target c. */
    const double w2[6] = {2, 1, -1, 0, 0.5, -3}, b2[2] = {3, -2};
    noiseless_data(RB_F64, 50, 3, 2, w2, b2, false, 12, &x, &y);
    CHECK_STATUS_OK(rb_linear_regression(x, y, 0.0, &w, &b));
    CHECK_SHAPE(w, 3, 2);
    CHECK_SHAPE(b, 2);
    CHECK_TENSOR(w, 1e-10, 2, 1, -1, 0, 0.5, -3);
    CHECK_TENSOR(b, 1e-10, 3, -2);
    rb_tensor_free(w);
    rb_tensor_free(b);

    /* The same rows read through a transposed (strided) view of an (F, N) tensor. */
    rb_tensor *xt = rb_contiguous(rb_transpose(x, 0, 1));
    rb_tensor *view = rb_transpose(xt, 0, 1);
    assert_false(rb_tensor_is_contiguous(view));
    CHECK_STATUS_OK(rb_linear_regression(view, y, 0.0, &w, &b));
    CHECK_TENSOR(w, 1e-10, 2, 1, -1, 0, 0.5, -3);
    CHECK_TENSOR(b, 1e-10, 3, -2);
    rb_tensor_free(w);
    rb_tensor_free(b);
}

static void least_squares_results_are_float32_for_float32_inputs(void **state)
{
    (void)state;
    const double wt[3] = {2, -1, 0.5}, bt[1] = {3};
    rb_tensor *x, *y, *w, *b;
    noiseless_data(RB_F32, 50, 3, 1, wt, bt, true, 13, &x, &y);
    CHECK_STATUS_OK(rb_linear_regression(x, y, 0.0, &w, &b));
    assert_int_equal(rb_tensor_dtype(w), RB_F32);
    assert_int_equal(rb_tensor_dtype(b), RB_F32);
    /* y was rounded to float32: the fit is exact up to that rounding. */
    CHECK_TENSOR(w, 1e-4, 2, -1, 0.5);
    CHECK_TENSOR(b, 1e-4, 3);
    rb_tensor_free(w);
    rb_tensor_free(b);

    /* The results follow x's dtype whatever y's. */
    CHECK_STATUS_OK(rb_linear_regression(x, rb_cast(y, RB_F64), 0.0, &w, &b));
    assert_int_equal(rb_tensor_dtype(w), RB_F32);
    assert_int_equal(rb_tensor_dtype(b), RB_F32);
    CHECK_TENSOR(w, 1e-4, 2, -1, 0.5);
    rb_tensor_free(w);
    rb_tensor_free(b);
}

static void ridge_shrinks_one_weight_to_sxy_over_sxx_plus_ridge(void **state)
{
    (void)state;
    /* x = 1, 2, 3, 4 (mean 2.5; centred -1.5, -0.5, 0.5, 1.5: sxx = 5); y = 2, 4, 5, 9 (mean 5;
     * centred -3, -1, 0, 4: sxy = 4.5 + 0.5 + 0 + 6 = 11). */
    rb_tensor *x = T64(RB_SHAPE(4, 1), 1, 2, 3, 4), *y = T64(RB_SHAPE(4), 2, 4, 5, 9);
    double ridges[3] = {0, 5, 45};
    for (int k = 0; k < 3; k++) {
        rb_tensor *w, *b;
        CHECK_STATUS_OK(rb_linear_regression(x, y, ridges[k], &w, &b));
        /* w = 11 / (5 + ridge): 2.2, 1.1, 0.22; the bias keeps the line through the means. */
        double expect_w = 11.0 / (5.0 + ridges[k]);
        CHECK_TENSOR(w, 1e-12, expect_w);
        CHECK_TENSOR(b, 1e-12, 5.0 - 2.5 * expect_w);
        rb_tensor_free(w);
        rb_tensor_free(b);
    }
}

static void dependent_features_are_refused_without_ridge_and_accepted_with_it(void **state)
{
    (void)state;
    enum { N = 20 };
    /* Feature 1 constant (7): y = 3 t + 1. */
    rb_tensor *xc = rb_tensor_empty(RB_F64, RB_SHAPE(N, 2)),
              *yc = rb_tensor_empty(RB_F64, RB_SHAPE(N));
    /* Feature 2 = 2 x feature 0 (feature 1 = t^2): y = 3 t + 0.5 t^2 + 1. */
    rb_tensor *xd = rb_tensor_empty(RB_F64, RB_SHAPE(N, 3)),
              *yd = rb_tensor_empty(RB_F64, RB_SHAPE(N));
    for (int i = 0; i < N; i++) {
        double t = i / 10.0;
        rb_tensor_f64(xc)[2 * i] = t;
        rb_tensor_f64(xc)[2 * i + 1] = 7;
        rb_tensor_f64(yc)[i] = 3 * t + 1;
        rb_tensor_f64(xd)[3 * i] = t;
        rb_tensor_f64(xd)[3 * i + 1] = t * t;
        rb_tensor_f64(xd)[3 * i + 2] = 2 * t;
        rb_tensor_f64(yd)[i] = 3 * t + 0.5 * t * t + 1;
    }
    rb_tensor *w = (rb_tensor *)1, *b = (rb_tensor *)1;
    CHECK_FAILS(rb_linear_regression(xc, yc, 0.0, &w, &b), RB_ERR_ARGUMENT, "feature 1");
    assert_null(w);
    assert_null(b);
    CHECK_FAILS(rb_linear_regression(xd, yd, 0.0, &w, &b), RB_ERR_ARGUMENT, "feature 2");
    assert_null(w);
    assert_null(b);
    /* A combination that rounding leaves almost, not exactly, dependent: 0.7 t + 0.11 t^2. */
    rb_tensor *xm = rb_tensor_copy(xd);
    for (int i = 0; i < N; i++) {
        double t = i / 10.0;
        rb_tensor_f64(xm)[3 * i + 2] = 0.7 * t + 0.11 * (t * t);
    }
    CHECK_FAILS(rb_linear_regression(xm, yd, 0.0, &w, &b), RB_ERR_ARGUMENT, "feature 2");

    /* With ridge: the constant column explains nothing, so its weight is exactly 0. */
    CHECK_STATUS_OK(rb_linear_regression(xc, yc, 1e-6, &w, &b));
    CHECK_CLOSE(rb_tensor_get(w, (int64_t[]){1, 0}), 0, 0);
    CHECK_CLOSE(rb_tensor_get(w, (int64_t[]){0, 0}), 3, 1e-5);
    CHECK_TENSOR(b, 1e-5, 1);
    rb_tensor_free(w);
    rb_tensor_free(b);

    /* With ridge: the data fix w0 + 2 w2 (about 3); the penalty picks the smallest such weights,
     * which lie along (1, 2): w2 = 2 w0, so w0 = 3/5 and w2 = 6/5. */
    CHECK_STATUS_OK(rb_linear_regression(xd, yd, 1e-4, &w, &b));
    double w0 = rb_tensor_get(w, (int64_t[]){0, 0}), w1 = rb_tensor_get(w, (int64_t[]){1, 0}),
           w2 = rb_tensor_get(w, (int64_t[]){2, 0});
    CHECK_CLOSE(w2, 2 * w0, 1e-8);
    CHECK_CLOSE(w0 + 2 * w2, 3, 1e-3);
    CHECK_CLOSE(w0, 0.6, 1e-3);
    CHECK_CLOSE(w1, 0.5, 1e-3);
    CHECK_TENSOR(b, 1e-3, 1);
    rb_tensor_free(w);
    rb_tensor_free(b);
}

static void least_squares_refuses_bad_shapes_dtypes_and_arguments(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(4, 1), 1, 2, 3, 4), *y = T64(RB_SHAPE(4), 2, 4, 5, 9);
    rb_tensor *w = (rb_tensor *)1, *b = (rb_tensor *)1;
    CHECK_FAILS(rb_linear_regression(T64(RB_SHAPE(4), 1, 2, 3, 4), y, 0, &w, &b), RB_ERR_SHAPE,
                "x must be float (N, F)");
    assert_null(w);
    assert_null(b);
    CHECK_FAILS(rb_linear_regression(TI64(RB_SHAPE(4, 1), 1, 2, 3, 4), y, 0, &w, &b), RB_ERR_SHAPE,
                "x must be float");
    CHECK_FAILS(rb_linear_regression(x, T64(RB_SHAPE(3), 1, 2, 3), 0, &w, &b), RB_ERR_SHAPE,
                "N = 4");
    CHECK_FAILS(rb_linear_regression(x, TI64(RB_SHAPE(4), 1, 2, 3, 4), 0, &w, &b), RB_ERR_SHAPE,
                "y must be float");
    CHECK_FAILS(rb_linear_regression(x, rb_tensor_zeros(RB_F64, RB_SHAPE(4, 1, 1)), 0, &w, &b),
                RB_ERR_SHAPE, "y must be float (N) or (N, T)");
    CHECK_FAILS(rb_linear_regression(T64(RB_SHAPE(1, 1), 1), T64(RB_SHAPE(1), 2), 0, &w, &b),
                RB_ERR_ARGUMENT, "1 rows");
    CHECK_FAILS(rb_linear_regression(x, y, -1, &w, &b), RB_ERR_ARGUMENT, "ridge -1");
    CHECK_FAILS(rb_linear_regression(x, y, NAN, &w, &b), RB_ERR_ARGUMENT, "ridge >= 0");
    CHECK_FAILS(rb_linear_regression(NULL, y, 0, &w, &b), RB_ERR_ARGUMENT, "NULL argument");
    CHECK_FAILS(rb_linear_regression(x, y, 0, NULL, &b), RB_ERR_ARGUMENT, "NULL argument");
    assert_null(w);
    assert_null(b);
}

/* ---- regression scores ---- */

static void regression_scores_match_a_hand_computed_example(void **state)
{
    (void)state;
    /* Errors 0, -1, 1, -2: SSE 6, SAE 4. Targets' mean 3: SST 4 + 0 + 1 + 9 = 14. */
    rb_tensor *pred = T64(RB_SHAPE(4), 1, 2, 3, 4), *target = T64(RB_SHAPE(4), 1, 3, 2, 6);
    rb_regression_scores s = {0};
    CHECK_STATUS_OK(rb_regression_scores_of(pred, target, &s));
    CHECK_CLOSE(s.rmse, sqrt(6.0 / 4), 1e-15);
    CHECK_CLOSE(s.mae, 1.0, 1e-15);
    CHECK_CLOSE(s.r2, 1 - 6.0 / 14, 1e-15);

    /* The same numbers from float32 tensors of shape (2, 2). */
    CHECK_STATUS_OK(rb_regression_scores_of(T32(RB_SHAPE(2, 2), 1, 2, 3, 4),
                                            T32(RB_SHAPE(2, 2), 1, 3, 2, 6), &s));
    CHECK_CLOSE(s.rmse, sqrt(1.5), 1e-7);
    CHECK_CLOSE(s.mae, 1.0, 1e-7);
    CHECK_CLOSE(s.r2, 4.0 / 7, 1e-7);
}

static void perfect_prediction_scores_r2_one_and_predicting_the_mean_scores_zero(void **state)
{
    (void)state;
    rb_tensor *target = T64(RB_SHAPE(4), 1, 3, 2, 6);
    rb_regression_scores s;
    CHECK_STATUS_OK(rb_regression_scores_of(target, target, &s));
    CHECK_CLOSE(s.rmse, 0, 0);
    CHECK_CLOSE(s.mae, 0, 0);
    CHECK_CLOSE(s.r2, 1, 0);

    /* Always predicting the mean (3): SSE = SST. RMSE = sqrt(14 / 4), MAE = (2 + 0 + 1 + 3) / 4. */
    CHECK_STATUS_OK(rb_regression_scores_of(T64(RB_SHAPE(4), 3, 3, 3, 3), target, &s));
    CHECK_CLOSE(s.r2, 0, 1e-15);
    CHECK_CLOSE(s.rmse, sqrt(3.5), 1e-15);
    CHECK_CLOSE(s.mae, 1.5, 1e-15);
}

static void regression_scores_refuse_mismatched_shapes_and_integer_tensors(void **state)
{
    (void)state;
    rb_tensor *pred = T64(RB_SHAPE(4), 1, 2, 3, 4);
    rb_regression_scores s;
    CHECK_FAILS(rb_regression_scores_of(pred, T64(RB_SHAPE(4, 1), 1, 3, 2, 6), &s), RB_ERR_SHAPE,
                "one non-empty shape");
    CHECK_FAILS(rb_regression_scores_of(pred, T64(RB_SHAPE(3), 1, 3, 2), &s), RB_ERR_SHAPE,
                "rb_regression_scores_of");
    CHECK_FAILS(rb_regression_scores_of(pred, TI64(RB_SHAPE(4), 1, 3, 2, 6), &s), RB_ERR_SHAPE,
                "float tensors");
    CHECK_FAILS(rb_regression_scores_of(rb_tensor_zeros(RB_F64, RB_SHAPE(0)),
                                        rb_tensor_zeros(RB_F64, RB_SHAPE(0)), &s),
                RB_ERR_SHAPE, "non-empty");
    CHECK_FAILS(rb_regression_scores_of(pred, pred, NULL), RB_ERR_ARGUMENT, "NULL argument");
}

/* ---- plots ---- */

/* A gnuplot data file read as gnuplot does: blocks ("index") are separated by two or more
 * blank lines, a single blank line between points is a gap, '#' lines are comments (the first
 * one of a block holds its label here). */
typedef struct dat_block {
    char label[64];
    int n, gaps;
    double x[16], y[16];
} dat_block;

static int read_dat(const char *path, dat_block *blocks, int cap)
{
    memset(blocks, 0, sizeof *blocks * (size_t)cap);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot read %s", path);
    char line[256];
    int b = 0, blanks = 0;
    bool content = false;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n') {
            blanks++;
            continue;
        }
        bool gap = content && blanks == 1;
        if (content && blanks >= 2) b++;
        blanks = 0;
        content = true;
        if (b >= cap) fail_msg("%s has more than %d blocks", path, cap);
        dat_block *k = &blocks[b];
        if (line[0] == '#') {
            if (!k->label[0]) {
                line[strcspn(line, "\n")] = '\0';
                snprintf(k->label, sizeof k->label, "%.63s", line + 2);
            }
            continue;
        }
        if (k->n >= 16) fail_msg("%s: block %d has too many points", path, b);
        if (sscanf(line, "%lf %lf", &k->x[k->n], &k->y[k->n]) != 2)
            fail_msg("%s: block %d: line '%s' is not a point", path, b, line);
        if (gap && k->n > 0) k->gaps++;
        k->n++;
    }
    fclose(f);
    return content ? b + 1 : 0;
}

static void plot_writes_data_and_script_and_renders_png_and_svg(void **state)
{
    (void)state;
    double x[3] = {1, 2, 3}, loss[3] = {0.9, 0.5, 0.4}, val[3] = {1.0, 0.7, 0.6};
    rb_series s[2] = {{.label = "training", .n = 3, .x = x, .y = loss, .dashed = true, .color = 1},
                      {.label = "validation", .n = 3, .x = x, .y = val, .color = 1}};
    const char *base = test_path("loss");
    CHECK_STATUS_OK(rb_plot_lines(
        base,
        (rb_plot){.title = "Loss", .xlabel = "epoch", .ylabel = "cross-entropy", .logy = true}, 2,
        s));
    CHECK_EXISTS(test_path("loss.dat"));
    CHECK_EXISTS(test_path("loss.gp"));
    char *script = slurp(test_path("loss.gp"));
    bool titled = strstr(script, "'Loss'") && strstr(script, "'cross-entropy'");
    bool both = strstr(script, "index 0") && strstr(script, "index 1");
    bool logy = strstr(script, "set logscale y") != NULL;
    free(script);
    assert_true(titled);
    assert_true(both);
    assert_true(logy);
    if (rb_plot_available()) {
        check_png(test_path("loss.png"));
        check_svg(test_path("loss.svg"));
    } else {
        print_message("# gnuplot not found: PNG and SVG not checked\n");
    }
    check_no_tmp_files(test_dir());
}

static void plot_data_holds_one_block_per_series_without_the_nan_values(void **state)
{
    (void)state;
    /* Series 0 has NaNs at the start, two in a row in the middle, and at the end: its points
     * are (1, 1), then a gap, then (4, 4), (5, 5). Series 1 has a quote in its label. */
    double xa[7] = {0, 1, 2, 3, 4, 5, 6}, ya[7] = {NAN, 1, NAN, NAN, 4, 5, NAN};
    double xb[3] = {1, 2, 3}, yb[3] = {10, 20, 30};
    rb_series s[2] = {{.label = "a", .n = 7, .x = xa, .y = ya},
                      {.label = "it's b", .n = 3, .x = xb, .y = yb}};
    CHECK_STATUS_OK(rb_plot_lines(test_path("gaps"), (rb_plot){.title = "gaps"}, 2, s));
    char *data = slurp(test_path("gaps.dat"));
    bool has_nan = strstr(data, "nan") || strstr(data, "NaN") || strstr(data, "NAN");
    free(data);
    assert_false(has_nan);

    dat_block blocks[4];
    int n = read_dat(test_path("gaps.dat"), blocks, 4);
    if (n != 2)
        fail_msg("gaps.dat holds %d blocks for 2 series (block 1 is '%s'): a gap made a new index",
                 n, blocks[1].label);
    assert_string_equal(blocks[0].label, "a");
    assert_int_equal(blocks[0].n, 3);
    const double want_a[3] = {1, 4, 5};
    for (int i = 0; i < 3; i++) {
        CHECK_CLOSE(blocks[0].x[i], want_a[i], 0);
        CHECK_CLOSE(blocks[0].y[i], want_a[i], 0);
    }
    assert_int_equal(blocks[0].gaps, 1); /* between (1, 1) and (4, 4) */
    assert_string_equal(blocks[1].label, "it's b");
    assert_int_equal(blocks[1].n, 3);
    assert_int_equal(blocks[1].gaps, 0);
    for (int i = 0; i < 3; i++) {
        CHECK_CLOSE(blocks[1].x[i], xb[i], 0);
        CHECK_CLOSE(blocks[1].y[i], yb[i], 0);
    }
    /* gnuplot strings double a single quote. */
    char *script = slurp(test_path("gaps.gp"));
    bool quoted = strstr(script, "'it''s b'") != NULL;
    free(script);
    assert_true(quoted);
    if (rb_plot_available()) check_png(test_path("gaps.png"));
    check_no_tmp_files(test_dir());
}

static void plot_refuses_missing_series_and_unwritable_places(void **state)
{
    (void)state;
    double x[2] = {1, 2}, y[2] = {3, 4};
    rb_series good = {.label = "ok", .n = 2, .x = x, .y = y};
    rb_series two[2] = {good, {.label = "empty", .n = 2, .x = NULL, .y = y}};
    CHECK_FAILS(rb_plot_lines(NULL, (rb_plot){0}, 1, &good), RB_ERR_ARGUMENT, "nothing to plot");
    CHECK_FAILS(rb_plot_lines(test_path("p"), (rb_plot){0}, 0, &good), RB_ERR_ARGUMENT,
                "nothing to plot");
    CHECK_FAILS(rb_plot_lines(test_path("p"), (rb_plot){0}, 1, NULL), RB_ERR_ARGUMENT,
                "nothing to plot");
    CHECK_FAILS(rb_plot_lines(test_path("p"), (rb_plot){0}, 2, two), RB_ERR_ARGUMENT,
                "series 1 has no data");
    two[1] = (rb_series){.label = "negative", .n = -1, .x = x, .y = y};
    CHECK_FAILS(rb_plot_lines(test_path("p"), (rb_plot){0}, 2, two), RB_ERR_ARGUMENT, "series 1");
    /* Refused before anything is written. */
    CHECK_ABSENT(test_path("p.dat"));
    CHECK_ABSENT(test_path("p.gp"));
    CHECK_FAILS(rb_plot_lines(test_path("no/such/folder/p"), (rb_plot){0}, 1, &good), RB_ERR_IO,
                "cannot write");
}

static void plot_draws_scatters_and_vertical_markers_in_their_panels(void **state)
{
    (void)state;
    double x[4] = {1, 2, 3, 4}, y[4] = {4, 3, 2, 1};
    rb_series s[2] = {{.label = "data", .n = 4, .x = x, .y = y, .points = true},
                      {.label = "line", .n = 4, .x = x, .y = x, .panel = 1}};
    rb_marker marks[2] = {{.label = "stopped at 3", .x = 3, .panel = 0},
                          {.label = "everywhere", .x = 2, .panel = -1, .color = 2}};
    CHECK_STATUS_OK(rb_plot_lines(test_path("marked"),
                                  (rb_plot){.panels = 2, .n_markers = 2, .markers = marks}, 2, s));
    char *script = slurp(test_path("marked.gp"));
    /* Cut the script into its two panels at the second "unset arrow" (each panel clears the
     * last one's markers). */
    bool scatter = strstr(script, "index 0 using 1:2 with points") != NULL;
    bool legend = strstr(script, "title 'stopped at 3'") && strstr(script, "title 'everywhere'");
    char *first = strstr(script, "unset arrow");
    char *second = first ? strstr(first + 1, "unset arrow") : NULL;
    if (second) *second = '\0';
    bool panel0 = first && strstr(first, "set arrow from 3, graph 0") &&
                  strstr(first, "set arrow from 2, graph 0");
    bool panel1 = second && strstr(second + 1, "set arrow from 2, graph 0") &&
                  !strstr(second + 1, "set arrow from 3, graph 0");
    free(script);
    assert_true(scatter);
    assert_true(legend);
    assert_true(panel0);
    assert_true(panel1);
    if (rb_plot_available()) check_png(test_path("marked.png"));
    CHECK_FAILS(rb_plot_lines(test_path("m"), (rb_plot){.n_markers = 1}, 1, s), RB_ERR_ARGUMENT,
                "1 markers without values");
    check_no_tmp_files(test_dir());
}

static void surface_plot_holds_the_grid_and_the_paths_and_renders(void **state)
{
    (void)state;
    double gx[3] = {0, 1, 2}, gy[2] = {0, 1}, gz[6] = {1, 2, 3, 2, 3, 4}; /* z = x + y + 1 */
    double px[2] = {0, 2}, py[2] = {1, 0};
    rb_series path = {.label = "descent", .n = 2, .x = px, .y = py};
    rb_surface g = {
        .nx = 3, .ny = 2, .x = gx, .y = gy, .z = gz, .levels = 4, .logz = true, .zlabel = "loss"};
    CHECK_STATUS_OK(rb_plot_surface(test_path("bowl"), (rb_plot){.title = "bowl"}, g, 1, &path));
    char *data = slurp(test_path("bowl.dat"));
    bool grid = strstr(data, "0 0 1\n1 0 2\n2 0 3\n\n0 1 2\n1 1 3\n2 1 4\n") != NULL;
    bool points = strstr(data, "# descent\n0 1\n2 0\n") != NULL;
    free(data);
    char *script = slurp(test_path("bowl.gp"));
    bool image = strstr(script, "index 0 using 1:2:3 with image") != NULL;
    bool contours = strstr(script, "set cntrparam levels discrete") && strstr(script, "$contours");
    bool log = strstr(script, "set logscale cb") != NULL;
    bool paths = strstr(script, "index 1 using 1:2 with linespoints") != NULL;
    free(script);
    assert_true(grid);
    assert_true(points);
    assert_true(image);
    assert_true(contours);
    assert_true(log);
    assert_true(paths);
    if (rb_plot_available()) {
        check_png(test_path("bowl.png"));
        check_svg(test_path("bowl.svg"));
    }
    check_no_tmp_files(test_dir());
}

static void surface_plot_refuses_small_unordered_or_non_finite_grids(void **state)
{
    (void)state;
    double gx[3] = {0, 1, 2}, gy[2] = {0, 1}, gz[6] = {1, 2, 3, 2, 3, 4}, bad[3] = {0, 2, 1};
    rb_surface g = {.nx = 3, .ny = 2, .x = gx, .y = gy, .z = gz};
    rb_surface small = g, unordered = g, nan = g, zero = g;
    small.ny = 1;
    unordered.x = bad;
    double with_nan[6] = {1, 2, NAN, 2, 3, 4}, with_zero[6] = {1, 2, 0, 2, 3, 4};
    nan.z = with_nan;
    zero.z = with_zero, zero.logz = true;
    CHECK_FAILS(rb_plot_surface(test_path("s"), (rb_plot){0}, small, 0, NULL), RB_ERR_ARGUMENT,
                "at least 2 x 2");
    CHECK_FAILS(rb_plot_surface(test_path("s"), (rb_plot){0}, unordered, 0, NULL), RB_ERR_ARGUMENT,
                "x[2] = 1 does not follow x[1] = 2");
    CHECK_FAILS(rb_plot_surface(test_path("s"), (rb_plot){0}, nan, 0, NULL), RB_ERR_ARGUMENT,
                "is not finite");
    CHECK_FAILS(rb_plot_surface(test_path("s"), (rb_plot){0}, zero, 0, NULL), RB_ERR_ARGUMENT,
                "not positive");
    CHECK_ABSENT(test_path("s.dat"));
}

/* ---- the experiment runner, with a fake training function ---- */

enum { MAX_CALLS = 64, ROWS = 20 };

typedef struct fake_call {
    int index, repeat, fold;
    uint64_t seed;
    const rb_config *config;
    const rb_dataset *train, *validation;
    int64_t n_train, n_val;
    int64_t train_ids[ROWS], val_ids[ROWS], val_classes[2];
    double last; /* the last epoch's validation metric the fake wrote */
    rb_history *history;
} fake_call;

typedef struct fake {
    rb_metric metric;
    int fail_at;        /* 1-based call that fails (0: none) */
    bool fail_silently; /* ... returning NULL without setting an error */
    int n_calls;
    fake_call calls[MAX_CALLS];
} fake;

/* The fake's validation metric at epoch k (0-based) of `epochs`: it depends on the settings lr
 * and units, the seed and the fold; the second-to-last epoch is the best (by 0.03) so that the
 * last and the best epoch differ. */
static double fake_value(double lr, double units, uint64_t seed, int fold, int k, int epochs)
{
    double v = lr + units / 100 + 0.001 * (double)seed + 0.002 * (fold + 1);
    if (k == epochs - 1)
        v += 0.02;
    else if (k == epochs - 2)
        v += 0.05;
    return v;
}

/* What the tests expect of the last epoch, written out separately: epochs = 3 unless set. */
static double expected_last_val(double lr, double units, double seed, int fold)
{
    return lr + units / 100 + 0.001 * seed + 0.002 * (fold + 1) + 0.02;
}

/* Ids (x[:, 0]) of a data set's rows, and how many rows of each class (y int64 0/1). */
static int64_t ids_of(const rb_dataset *d, int64_t *ids, int64_t *classes)
{
    if (!d || !d->x) return 0;
    int64_t n = rb_dataset_rows(d);
    for (int64_t i = 0; i < n && i < ROWS; i++) {
        ids[i] = (int64_t)rb_tensor_get(d->x, (int64_t[]){i, 0});
        if (classes && d->y) classes[rb_tensor_i64(d->y)[i] != 0]++;
    }
    return n;
}

static rb_history *fake_run(const rb_run *run)
{
    fake *s = run->user_data;
    if (s->n_calls >= MAX_CALLS) {
        rb_error(RB_ERR_STATE, "fake run: more than %d calls", MAX_CALLS);
        return NULL;
    }
    fake_call *c = &s->calls[s->n_calls++];
    *c = (fake_call){.index = run->index,
                     .repeat = run->repeat,
                     .fold = run->fold,
                     .seed = run->seed,
                     .config = run->config,
                     .train = run->train,
                     .validation = run->validation};
    c->n_train = ids_of(run->train, c->train_ids, NULL);
    c->n_val = ids_of(run->validation, c->val_ids, c->val_classes);
    if (s->n_calls == s->fail_at) {
        if (!s->fail_silently) rb_error(RB_ERR_IO, "fake run: disk full at call %d", s->n_calls);
        return NULL;
    }
    int epochs = (int)rb_config_get(run->config, "epochs", 3);
    double lr = rb_config_get(run->config, "lr", 0), units = rb_config_get(run->config, "units", 0);
    bool val = run->validation != NULL, metric = s->metric != RB_METRIC_NONE;
    rb_history *h = calloc(1, sizeof *h);
    rb_epoch_record *r = calloc((size_t)epochs, sizeof *r);
    if (!h || !r) {
        free(h);
        free(r);
        rb_error(RB_ERR_MEMORY, "fake run: out of memory");
        return NULL;
    }
    *h = (rb_history){.n = epochs, .epochs = r, .metric = s->metric, .has_validation = val};
    for (int k = 0; k < epochs; k++) {
        double v = fake_value(lr, units, run->seed, run->fold, k, epochs);
        r[k] = (rb_epoch_record){.epoch = k + 1,
                                 .loss = 1.0 / (k + 1) + lr,
                                 .metric = metric ? v + 0.3 : NAN,
                                 .val_loss = val ? 1.0 / (k + 1) + lr + 0.1 : NAN,
                                 .val_metric = val && metric ? v : NAN,
                                 .lr = lr,
                                 .seconds = 0.25};
    }
    c->last = r[epochs - 1].val_metric;
    c->history = h;
    return h;
}

/* The grid lr {0.1, 0.01} x units {4, 8, 16}: six configurations, in this order. */
static const double grid_lr[2] = {0.1, 0.01}, grid_units[3] = {4, 8, 16};
static const char *const grid_names[6] = {"lr=0.1 units=4",  "lr=0.1 units=8",  "lr=0.1 units=16",
                                          "lr=0.01 units=4", "lr=0.01 units=8", "lr=0.01 units=16"};

static void add_lr_units_grid(rb_experiment *e)
{
    const char *keys[2] = {"lr", "units"};
    CHECK_STATUS_OK(rb_experiment_add_grid(e, 2, keys, (const int[]){2, 3},
                                           (const double *const[]){grid_lr, grid_units}));
}

/* n rows: x (n, 2) float64 with x[i] = (i, 10 i), y int64 with y[i] = i % 2. */
static rb_dataset id_table(int64_t n)
{
    rb_dataset d = {.x = rb_tensor_empty(RB_F64, RB_SHAPE(n, 2)),
                    .y = rb_tensor_empty(RB_I64, RB_SHAPE(n))};
    for (int64_t i = 0; i < n; i++) {
        rb_tensor_f64(d.x)[2 * i] = (double)i;
        rb_tensor_f64(d.x)[2 * i + 1] = 10.0 * (double)i;
        rb_tensor_i64(d.y)[i] = i % 2;
    }
    return d;
}

static rb_experiment *new_experiment(const char *folder, int seeds, fake *s)
{
    rb_experiment *e = rb_experiment_new(
        (rb_experiment_config){.name = "test", .dir = folder, .seeds = seeds, .quiet = true},
        fake_run, s);
    CHECK_OK(e);
    return e;
}

static void grid_adds_every_combination_with_the_last_key_fastest(void **state)
{
    (void)state;
    fake s = {0};
    rb_experiment *e = new_experiment(test_dir(), 1, &s);
    add_lr_units_grid(e);
    assert_int_equal(rb_experiment_count(e), 6);
    for (int i = 0; i < 6; i++) {
        const rb_config *c = rb_experiment_config_at(e, i);
        CHECK_OK(c);
        assert_string_equal(c->name, grid_names[i]);
        assert_int_equal(c->n, 2);
        assert_string_equal(c->keys[0], "lr");
        assert_string_equal(c->keys[1], "units");
        CHECK_CLOSE(c->values[0], grid_lr[i / 3], 0);
        CHECK_CLOSE(c->values[1], grid_units[i % 3], 0);
    }
    assert_null(rb_experiment_config_at(e, 6));
    assert_null(rb_experiment_config_at(e, -1));

    /* Appending: one setting's values, then one named configuration. */
    CHECK_STATUS_OK(rb_experiment_add_values(e, "epochs", 2, (const double[]){5, 0.001}));
    assert_string_equal(rb_experiment_config_at(e, 6)->name, "epochs=5");
    assert_string_equal(rb_experiment_config_at(e, 7)->name, "epochs=0.001");
    assert_int_equal(
        rb_experiment_add(e, "baseline", 1, (const char *const[]){"lr"}, (const double[]){0.5}), 8);
    assert_string_equal(rb_experiment_config_at(e, 8)->name, "baseline");
    CHECK_CLOSE(rb_experiment_config_at(e, 8)->values[0], 0.5, 0);
    assert_int_equal(rb_experiment_count(e), 9);
    rb_experiment_free(e);

    /* Three keys (2 x 2 x 3): configuration i = 6 a + 3 b + c, beyond the first growth of the
     * configuration list. */
    e = new_experiment(test_dir(), 1, &s);
    const double a[2] = {1, 2}, b[2] = {10, 20}, c[3] = {100, 200, 300};
    CHECK_STATUS_OK(rb_experiment_add_grid(e, 3, (const char *const[]){"a", "b", "c"},
                                           (const int[]){2, 2, 3},
                                           (const double *const[]){a, b, c}));
    assert_int_equal(rb_experiment_count(e), 12);
    for (int i = 0; i < 12; i++) {
        const rb_config *k = rb_experiment_config_at(e, i);
        if (k->values[0] != a[i / 6] || k->values[1] != b[i / 3 % 2] || k->values[2] != c[i % 3])
            fail_msg("configuration %d is (%g, %g, %g), expected (%g, %g, %g)", i, k->values[0],
                     k->values[1], k->values[2], a[i / 6], b[i / 3 % 2], c[i % 3]);
    }
    assert_string_equal(rb_experiment_config_at(e, 11)->name, "a=2 b=20 c=300");
    rb_experiment_free(e);
    assert_int_equal(s.n_calls, 0);
}

static void config_get_returns_the_setting_or_the_fallback(void **state)
{
    (void)state;
    fake s = {0};
    rb_experiment *e = new_experiment(test_dir(), 1, &s);
    add_lr_units_grid(e);
    const rb_config *c = rb_experiment_config_at(e, 5); /* lr=0.01 units=16 */
    CHECK_CLOSE(rb_config_get(c, "lr", -1), 0.01, 0);
    CHECK_CLOSE(rb_config_get(c, "units", -1), 16, 0);
    CHECK_CLOSE(rb_config_get(c, "momentum", 0.9), 0.9, 0);
    CHECK_CLOSE(rb_config_get(c, "l", 0.5), 0.5, 0); /* a prefix is another key */
    CHECK_CLOSE(rb_config_get(c, NULL, 7), 7, 0);
    CHECK_CLOSE(rb_config_get(NULL, "lr", 7), 7, 0);
    rb_experiment_free(e);
}

static void run_calls_the_function_once_per_configuration_and_seed(void **state)
{
    (void)state;
    fake s = {.metric = RB_METRIC_ACCURACY};
    rb_dataset train = id_table(6), val = id_table(4);
    rb_experiment *e = new_experiment(test_path("results"), 3, &s);
    add_lr_units_grid(e);
    CHECK_STATUS_OK(rb_experiment_run(e, &train, &val));
    assert_int_equal(s.n_calls, 6 * 3);
    int seen[6][3] = {{0}};
    for (int k = 0; k < s.n_calls; k++) {
        const fake_call *c = &s.calls[k];
        assert_in_range(c->index, 0, 5);
        assert_in_range(c->seed, 1, 3);
        seen[c->index][c->seed - 1]++;
        assert_ptr_equal(c->config, rb_experiment_config_at(e, c->index));
        assert_int_equal(c->repeat, (int)c->seed - 1);
        assert_int_equal(c->fold, -1);
        assert_ptr_equal(c->train, &train);
        assert_ptr_equal(c->validation, &val);
        /* The experiment keeps the history the run returned, by seed. */
        assert_ptr_equal(rb_experiment_history(e, c->index, (int)c->seed - 1), c->history);
    }
    for (int i = 0; i < 6; i++) {
        for (int r = 0; r < 3; r++)
            if (seen[i][r] != 1)
                fail_msg("configuration %d ran %d times with seed %d", i, seen[i][r], r + 1);
        assert_int_equal(rb_experiment_runs(e, i), 3);
    }
    assert_null(rb_experiment_history(e, 0, 3));
    assert_null(rb_experiment_history(e, 6, 0));
    assert_string_equal(rb_experiment_dir(e), test_path("results"));

    /* A second run replaces the first one's histories. */
    CHECK_STATUS_OK(rb_experiment_run(e, &train, NULL));
    assert_int_equal(s.n_calls, 2 * 6 * 3);
    assert_null(s.calls[6 * 3].validation);
    for (int i = 0; i < 6; i++)
        assert_int_equal(rb_experiment_runs(e, i), 3);
    assert_false(rb_experiment_history(e, 0, 0)->has_validation);
    rb_experiment_free(e);
}

static void final_is_the_mean_over_seeds_of_the_last_validation_metric(void **state)
{
    (void)state;
    fake s = {.metric = RB_METRIC_ACCURACY};
    rb_dataset train = id_table(6), val = id_table(4);
    rb_experiment *e = new_experiment(test_dir(), 3, &s);
    add_lr_units_grid(e);
    CHECK_STATUS_OK(rb_experiment_run(e, &train, &val));
    for (int i = 0; i < 6; i++) {
        /* Seeds 1, 2, 3: their mean 2 is what the seed adds. */
        double want = expected_last_val(grid_lr[i / 3], grid_units[i % 3], 2, -1);
        CHECK_CLOSE(rb_experiment_final(e, i), want, 1e-12);
    }
    assert_true(isnan(rb_experiment_final(e, 6)));
    assert_true(isnan(rb_experiment_final(e, -1)));
    rb_experiment_free(e);
}

static void best_is_the_highest_accuracy_or_the_lowest_error(void **state)
{
    (void)state;
    rb_dataset train = id_table(6), val = id_table(4);
    /* Finals: lr + units / 100 + 0.022. Highest: lr=0.1 units=16; lowest: lr=0.01 units=4. */
    fake acc = {.metric = RB_METRIC_ACCURACY}, mae = {.metric = RB_METRIC_MAE};
    rb_experiment *e = new_experiment(test_path("accuracy"), 2, &acc);
    add_lr_units_grid(e);
    assert_int_equal(rb_experiment_best(e), -1); /* nothing ran yet */
    CHECK_STATUS_OK(rb_experiment_run(e, &train, &val));
    assert_int_equal(rb_experiment_best(e), 2);
    rb_experiment_free(e);

    e = new_experiment(test_path("mae"), 2, &mae);
    add_lr_units_grid(e);
    CHECK_STATUS_OK(rb_experiment_run(e, &train, &val));
    assert_int_equal(rb_experiment_best(e), 3);
    rb_experiment_free(e);
}

static void
final_uses_the_training_metric_without_validation_and_the_loss_without_metric(void **state)
{
    (void)state;
    rb_dataset train = id_table(6), val = id_table(4);
    const double lrs[2] = {0.1, 0.01};

    /* No validation: the fake's training metric is its validation metric + 0.3. */
    fake acc = {.metric = RB_METRIC_ACCURACY};
    rb_experiment *e = new_experiment(test_path("a"), 1, &acc);
    CHECK_STATUS_OK(rb_experiment_add_values(e, "lr", 2, lrs));
    CHECK_STATUS_OK(rb_experiment_run(e, &train, NULL));
    for (int i = 0; i < 2; i++)
        CHECK_CLOSE(rb_experiment_final(e, i), expected_last_val(lrs[i], 0, 1, -1) + 0.3, 1e-12);
    assert_int_equal(rb_experiment_best(e), 0);
    rb_experiment_free(e);

    /* No metric: the last validation loss (1/3 + lr + 0.1), or training loss (1/3 + lr); lower
     * is better. */
    fake none = {.metric = RB_METRIC_NONE};
    e = new_experiment(test_path("b"), 1, &none);
    CHECK_STATUS_OK(rb_experiment_add_values(e, "lr", 2, lrs));
    CHECK_STATUS_OK(rb_experiment_run(e, &train, &val));
    for (int i = 0; i < 2; i++)
        CHECK_CLOSE(rb_experiment_final(e, i), 1.0 / 3 + lrs[i] + 0.1, 1e-12);
    assert_int_equal(rb_experiment_best(e), 1);
    CHECK_STATUS_OK(rb_experiment_run(e, &train, NULL));
    for (int i = 0; i < 2; i++)
        CHECK_CLOSE(rb_experiment_final(e, i), 1.0 / 3 + lrs[i], 1e-12);
    assert_int_equal(rb_experiment_best(e), 1);
    rb_experiment_free(e);
}

/* Split a CSV line in place (fields may be double-quoted, without commas inside). */
static int split_csv(char *line, char **fields, int cap)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < cap;) {
        if (*p == '"') {
            char *end = strchr(p + 1, '"');
            if (!end) fail_msg("unterminated quote in '%s'", line);
            *end = '\0';
            fields[n++] = p + 1;
            p = end + 1;
        } else {
            fields[n++] = p;
            p += strcspn(p, ",");
        }
        if (*p != ',') break;
        *p++ = '\0';
    }
    return n;
}

static int column(char **names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    fail_msg("histories.csv has no column '%s'", name);
    return -1;
}

/* The line of a markdown table whose first cell starts with the configuration's name. */
static const char *table_row(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *line = text; *line;) {
        if (strncmp(line, "| ", 2) == 0 && strncmp(line + 2, name, len) == 0 &&
            line[2 + len] == ' ')
            return line;
        const char *end = strchr(line, '\n');
        if (!end) break;
        line = end + 1;
    }
    return NULL;
}

static void run_writes_histories_summary_and_plots_into_the_results_folder(void **state)
{
    (void)state;
    fake s = {.metric = RB_METRIC_ACCURACY};
    rb_dataset train = id_table(6), val = id_table(4);
    const char *folder = test_path("nested/results"); /* created with its parent */
    rb_experiment *e = new_experiment(folder, 3, &s);
    add_lr_units_grid(e);
    CHECK_STATUS_OK(rb_experiment_run(e, &train, &val));
    char file[512];

    /* histories.csv: a header, then one line per configuration, seed and epoch. */
    snprintf(file, sizeof file, "%s/histories.csv", folder);
    FILE *f = fopen(file, "r");
    if (!f) fail_msg("%s was not written", file);
    char header[256], line[256], *names[16], *cells[16];
    assert_non_null(fgets(header, sizeof header, f));
    int n_cols = split_csv(header, names, 16);
    int c_conf = column(names, n_cols, "configuration"), c_seed = column(names, n_cols, "seed"),
        c_epoch = column(names, n_cols, "epoch"), c_metric = column(names, n_cols, "metric"),
        c_val = column(names, n_cols, "val_metric"), c_loss = column(names, n_cols, "loss");
    int seen[6][3][3] = {{{0}}}, lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (split_csv(line, cells, 16) != n_cols)
            fail_msg("histories.csv line %d: %s", lines + 1, line);
        int i = -1;
        for (int k = 0; k < 6; k++)
            if (strcmp(cells[c_conf], grid_names[k]) == 0) i = k;
        int seed = atoi(cells[c_seed]), epoch = atoi(cells[c_epoch]);
        if (i < 0 || seed < 1 || seed > 3 || epoch < 1 || epoch > 3)
            fail_msg("histories.csv line %d: configuration '%s', seed %d, epoch %d", lines + 1,
                     cells[c_conf], seed, epoch);
        seen[i][seed - 1][epoch - 1]++;
        double v = fake_value(grid_lr[i / 3], grid_units[i % 3], (uint64_t)seed, -1, epoch - 1, 3);
        CHECK_CLOSE(atof(cells[c_val]), v, 1e-5);
        CHECK_CLOSE(atof(cells[c_metric]), v + 0.3, 1e-5);
        CHECK_CLOSE(atof(cells[c_loss]), 1.0 / epoch + grid_lr[i / 3], 1e-5);
    }
    fclose(f);
    assert_int_equal(lines, 6 * 3 * 3);
    for (int i = 0; i < 6; i++)
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3; k++)
                assert_int_equal(seen[i][r][k], 1);

    /* summary.md: a row per configuration, the best one marked, with its mean final accuracy
     * (0.1 + 0.16 + 0.002 + 0.02 = 28.20%). */
    snprintf(file, sizeof file, "%s/summary.md", folder);
    char *summary = slurp(file);
    for (int i = 0; i < 6; i++)
        if (!table_row(summary, grid_names[i]))
            fail_msg("summary.md has no row for '%s':\n%s", grid_names[i], summary);
    int stars = count_occurrences(summary, "(best)");
    const char *best = table_row(summary, grid_names[2]);
    size_t best_len = best ? strcspn(best, "\n") : 0;
    const char *mark = best ? strstr(best, "(best)") : NULL;
    const char *pct = best ? strstr(best, "28.20%") : NULL;
    bool marked = mark && mark < best + best_len, valued = pct && pct < best + best_len;
    free(summary);
    assert_int_equal(stars, 1);
    assert_true(marked);
    assert_true(valued);

    /* Learning curves: a training and a validation series per configuration. */
    const char *plots[2] = {"loss", "metric"};
    for (int p = 0; p < 2; p++) {
        snprintf(file, sizeof file, "%s/%s.gp", folder, plots[p]);
        CHECK_EXISTS(file);
        snprintf(file, sizeof file, "%s/%s.dat", folder, plots[p]);
        char *data = slurp(file);
        int blocks = count_prefixed_lines(data, "# ");
        free(data);
        assert_int_equal(blocks, 12);
        if (rb_plot_available()) {
            snprintf(file, sizeof file, "%s/%s.png", folder, plots[p]);
            check_png(file);
            snprintf(file, sizeof file, "%s/%s.svg", folder, plots[p]);
            check_svg(file);
        }
    }
    check_no_tmp_files(folder);
    rb_experiment_free(e);
}

static void experiment_without_a_metric_plots_only_the_loss(void **state)
{
    (void)state;
    fake s = {.metric = RB_METRIC_NONE};
    rb_dataset train = id_table(6);
    rb_experiment *e = new_experiment(test_dir(), 1, &s);
    CHECK_STATUS_OK(rb_experiment_add_values(e, "lr", 2, (const double[]){0.1, 0.01}));
    CHECK_STATUS_OK(rb_experiment_run(e, &train, NULL));
    CHECK_EXISTS(test_path("histories.csv"));
    CHECK_EXISTS(test_path("summary.md"));
    CHECK_EXISTS(test_path("loss.gp"));
    char *data = slurp(test_path("loss.dat"));
    int blocks = count_prefixed_lines(data, "# ");
    free(data);
    assert_int_equal(blocks, 2); /* training only */
    if (rb_plot_available()) check_png(test_path("loss.png"));
    CHECK_ABSENT(test_path("metric.gp"));
    CHECK_ABSENT(test_path("metric.dat"));
    CHECK_ABSENT(test_path("metric.png"));
    check_no_tmp_files(test_dir());
    rb_experiment_free(e);
}

static void failing_run_stops_the_experiment_with_its_error_and_keeps_finished_runs(void **state)
{
    (void)state;
    fake s = {.metric = RB_METRIC_ACCURACY, .fail_at = 4};
    rb_dataset train = id_table(6), val = id_table(4);
    rb_experiment *e = new_experiment(test_dir(), 2, &s);
    CHECK_STATUS_OK(rb_experiment_add_values(e, "lr", 3, (const double[]){0.1, 0.01, 0.001}));
    rb_status st = RB_OK;
    CHECK_FAILS(st = rb_experiment_run(e, &train, &val), RB_ERR_IO, "disk full at call 4");
    assert_int_equal(st, RB_ERR_IO);
    assert_int_equal(s.n_calls, 4); /* nothing ran after the failure */

    /* The three runs before the failing one are kept, and only those. */
    int finished[3] = {0};
    for (int k = 0; k < 3; k++)
        finished[s.calls[k].index]++;
    int lines_expected = 1;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rb_experiment_runs(e, i), finished[i]);
        lines_expected += 3 * finished[i];
        if (finished[i]) {
            double sum = 0;
            for (int k = 0; k < 3; k++)
                if (s.calls[k].index == i) sum += s.calls[k].last;
            CHECK_CLOSE(rb_experiment_final(e, i), sum / finished[i], 1e-12);
        } else {
            assert_true(isnan(rb_experiment_final(e, i)));
        }
    }
    for (int k = 0; k < 3; k++)
        assert_ptr_equal(rb_experiment_history(e, s.calls[k].index, (int)s.calls[k].seed - 1),
                         s.calls[k].history);
    /* ... and written out. */
    char *csv = slurp(test_path("histories.csv"));
    int lines = count_lines(csv);
    free(csv);
    assert_int_equal(lines, lines_expected);
    rb_experiment_free(e);
}

static void run_returning_no_history_without_an_error_is_reported(void **state)
{
    (void)state;
    fake s = {.metric = RB_METRIC_ACCURACY, .fail_at = 1, .fail_silently = true};
    rb_dataset train = id_table(6);
    rb_experiment *e = new_experiment(test_dir(), 1, &s);
    CHECK_STATUS_OK(rb_experiment_add_values(e, "lr", 2, (const double[]){0.1, 0.01}));
    CHECK_FAILS(rb_experiment_run(e, &train, NULL), RB_ERR_STATE, "no history");
    assert_int_equal(s.n_calls, 1);
    assert_int_equal(rb_experiment_runs(e, 0), 0);
    assert_int_equal(rb_experiment_best(e), -1);
    rb_experiment_free(e);
}

static void cross_validation_trains_every_configuration_on_every_fold(void **state)
{
    (void)state;
    enum { K = 3 };
    fake s = {.metric = RB_METRIC_ACCURACY};
    rb_dataset data = id_table(ROWS);
    rb_experiment *e = new_experiment(test_dir(), 1, &s);
    CHECK_STATUS_OK(rb_experiment_add_values(e, "lr", 2, (const double[]){0.1, 0.01}));
    int best = rb_experiment_cross_validate(e, &data, K, 7);
    if (best < 0) fail_msg("rb_experiment_cross_validate failed: %s", rb_last_error());
    assert_int_equal(s.n_calls, 2 * K);

    int fold_seen[2][K] = {{0}}, validated[2][ROWS] = {{0}};
    for (int k = 0; k < s.n_calls; k++) {
        const fake_call *c = &s.calls[k];
        assert_in_range(c->index, 0, 1);
        assert_in_range(c->fold, 0, K - 1);
        fold_seen[c->index][c->fold]++;
        assert_ptr_equal(c->config, rb_experiment_config_at(e, c->index));
        assert_non_null(c->validation);
        assert_int_equal(c->n_train + c->n_val, ROWS);
        /* 20 rows in 3 folds: 7, 7 and 6 validation rows; 10 of each class: 3 or 4 per fold. */
        assert_in_range(c->n_val, ROWS / K, (ROWS + K - 1) / K);
        assert_in_range(c->val_classes[0], 3, 4);
        assert_in_range(c->val_classes[1], 3, 4);
        /* Training and validation rows of a fold are disjoint and cover the set. */
        int in[ROWS] = {0};
        for (int64_t i = 0; i < c->n_train; i++)
            in[c->train_ids[i]]++;
        for (int64_t i = 0; i < c->n_val; i++) {
            in[c->val_ids[i]]++;
            validated[c->index][c->val_ids[i]]++;
        }
        for (int i = 0; i < ROWS; i++)
            if (in[i] != 1) fail_msg("fold %d: row %d used %d times", c->fold, i, in[i]);
    }
    for (int i = 0; i < 2; i++) {
        for (int f = 0; f < K; f++)
            assert_int_equal(fold_seen[i][f], 1);
        for (int r = 0; r < ROWS; r++)
            if (validated[i][r] != 1)
                fail_msg("configuration %d: row %d validated %d times", i, r, validated[i][r]);
        assert_int_equal(rb_experiment_runs(e, i), K);
        /* The mean over folds of what the fake wrote as the last validation metric. */
        double sum = 0;
        for (int k = 0; k < s.n_calls; k++)
            if (s.calls[k].index == i) sum += s.calls[k].last;
        CHECK_CLOSE(rb_experiment_final(e, i), sum / K, 1e-12);
    }
    /* lr 0.1 is ahead by 0.09, more than seeds (0.001 each) and folds can make up. */
    assert_int_equal(best, 0);
    assert_int_equal(rb_experiment_best(e), 0);
    rb_experiment_free(e);
}

static void cross_validation_writes_into_its_own_subfolder(void **state)
{
    (void)state;
    enum { K = 4 };
    fake s = {.metric = RB_METRIC_MAE};
    rb_dataset data = id_table(ROWS);
    rb_experiment *e = new_experiment(test_dir(), 1, &s);
    add_lr_units_grid(e);
    /* Lowest error: lr=0.01 units=4. */
    assert_int_equal(rb_experiment_cross_validate(e, &data, K, 3), 3);
    assert_string_equal(rb_experiment_dir(e), test_dir());
    CHECK_ABSENT(test_path("histories.csv"));
    char *csv = slurp(test_path("cross_validation/histories.csv"));
    char *names[16];
    int n_cols = split_csv(csv, names, 16); /* the header, cut at its end */
    int c_fold = -1;
    for (int i = 0; i < n_cols; i++)
        if (strcmp(names[i], "fold") == 0) c_fold = i;
    free(csv);
    assert_true(c_fold >= 0);
    csv = slurp(test_path("cross_validation/histories.csv"));
    int lines = count_lines(csv);
    free(csv);
    assert_int_equal(lines, 1 + 6 * K * 3);
    char *summary = slurp(test_path("cross_validation/summary.md"));
    const char *row = table_row(summary, grid_names[3]);
    bool marked = row && strstr(row, "(best)") && strstr(row, "(best)") < row + strcspn(row, "\n");
    int stars = count_occurrences(summary, "(best)");
    free(summary);
    assert_true(marked);
    assert_int_equal(stars, 1);
    CHECK_EXISTS(test_path("cross_validation/loss.gp"));
    CHECK_EXISTS(test_path("cross_validation/metric.gp"));
    if (rb_plot_available()) check_png(test_path("cross_validation/metric.png"));
    check_no_tmp_files(test_path("cross_validation"));
    rb_experiment_free(e);
}

static void experiment_refuses_missing_function_configurations_and_too_many_keys(void **state)
{
    (void)state;
    fake s = {0};
    rb_dataset data = id_table(ROWS);
    CHECK_FAILS(rb_experiment_new((rb_experiment_config){.dir = test_dir()}, NULL, &s),
                RB_ERR_ARGUMENT, "no training function");
    char long_dir[1000];
    memset(long_dir, 'd', sizeof long_dir - 1);
    long_dir[sizeof long_dir - 1] = '\0';
    CHECK_FAILS(rb_experiment_new((rb_experiment_config){.dir = long_dir}, fake_run, &s),
                RB_ERR_ARGUMENT, "too long");

    rb_experiment *e = new_experiment(test_dir(), 1, &s);
    CHECK_FAILS(rb_experiment_run(e, &data, NULL), RB_ERR_ARGUMENT, "no configuration");
    CHECK_FAILS(rb_experiment_cross_validate(e, &data, 3, 1), RB_ERR_ARGUMENT, "no configuration");
    assert_int_equal(rb_experiment_cross_validate(e, &data, 3, 1), -1);
    rb_error_clear();

    const char *keys[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    const double values[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const int counts[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const double *lists[9] = {values, values, values, values, values,
                              values, values, values, values};
    CHECK_FAILS(rb_experiment_add(e, NULL, 9, keys, values), RB_ERR_ARGUMENT, "0 to 8 settings");
    assert_int_equal(rb_experiment_add(e, NULL, 9, keys, values), -1);
    rb_error_clear();
    CHECK_FAILS(rb_experiment_add(e, NULL, 2, NULL, values), RB_ERR_ARGUMENT, "keys and values");
    CHECK_FAILS(rb_experiment_add_grid(e, 9, keys, counts, lists), RB_ERR_ARGUMENT, "1 to 8 keys");
    CHECK_FAILS(rb_experiment_add_grid(e, 0, keys, counts, lists), RB_ERR_ARGUMENT, "1 to 8 keys");
    CHECK_FAILS(rb_experiment_add_grid(e, 2, keys, (const int[]){1, 0}, lists), RB_ERR_ARGUMENT,
                "no values for 'b'");
    CHECK_FAILS(rb_experiment_add_values(e, "lr", 0, values), RB_ERR_ARGUMENT,
                "no values for 'lr'");
    /* A key longer than a configuration stores would be found by no rb_config_get. */
    const char *long_key = "a_setting_name_of_more_than_31_characters";
    CHECK_FAILS(rb_experiment_add(e, NULL, 1, &long_key, values), RB_ERR_ARGUMENT, long_key);
    CHECK_FAILS(rb_experiment_add_values(e, long_key, 1, values), RB_ERR_ARGUMENT, long_key);
    assert_int_equal(rb_experiment_count(e), 0);

    /* Eight keys is the most a configuration holds; it is accepted. */
    assert_int_equal(rb_experiment_add(e, NULL, 8, keys, values), 0);
    CHECK_CLOSE(rb_config_get(rb_experiment_config_at(e, 0), "h", 0), 8, 0);
    CHECK_FAILS(rb_experiment_run(e, NULL, NULL), RB_ERR_ARGUMENT, "NULL argument");
    CHECK_FAILS(rb_experiment_cross_validate(e, NULL, 3, 1), RB_ERR_ARGUMENT, "NULL argument");
    CHECK_FAILS(rb_experiment_cross_validate(e, &data, 1, 1), RB_ERR_ARGUMENT,
                "1 folds of 20 rows");
    assert_int_equal(s.n_calls, 0);
    rb_experiment_free(e);
    rb_experiment_free(NULL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(least_squares_recovers_exact_weights_and_bias_of_noiseless_data),
        TEST(least_squares_results_are_float32_for_float32_inputs),
        TEST(ridge_shrinks_one_weight_to_sxy_over_sxx_plus_ridge),
        TEST(dependent_features_are_refused_without_ridge_and_accepted_with_it),
        TEST(least_squares_refuses_bad_shapes_dtypes_and_arguments),
        TEST(regression_scores_match_a_hand_computed_example),
        TEST(perfect_prediction_scores_r2_one_and_predicting_the_mean_scores_zero),
        TEST(regression_scores_refuse_mismatched_shapes_and_integer_tensors),
        TEST_DIR(plot_writes_data_and_script_and_renders_png_and_svg),
        TEST_DIR(plot_data_holds_one_block_per_series_without_the_nan_values),
        TEST_DIR(plot_refuses_missing_series_and_unwritable_places),
        TEST_DIR(plot_draws_scatters_and_vertical_markers_in_their_panels),
        TEST_DIR(surface_plot_holds_the_grid_and_the_paths_and_renders),
        TEST_DIR(surface_plot_refuses_small_unordered_or_non_finite_grids),
        TEST_DIR(grid_adds_every_combination_with_the_last_key_fastest),
        TEST_DIR(config_get_returns_the_setting_or_the_fallback),
        TEST_DIR(run_calls_the_function_once_per_configuration_and_seed),
        TEST_DIR(final_is_the_mean_over_seeds_of_the_last_validation_metric),
        TEST_DIR(best_is_the_highest_accuracy_or_the_lowest_error),
        TEST_DIR(final_uses_the_training_metric_without_validation_and_the_loss_without_metric),
        TEST_DIR(run_writes_histories_summary_and_plots_into_the_results_folder),
        TEST_DIR(experiment_without_a_metric_plots_only_the_loss),
        TEST_DIR(failing_run_stops_the_experiment_with_its_error_and_keeps_finished_runs),
        TEST_DIR(run_returning_no_history_without_an_error_is_reported),
        TEST_DIR(cross_validation_trains_every_configuration_on_every_fold),
        TEST_DIR(cross_validation_writes_into_its_own_subfolder),
        TEST_DIR(experiment_refuses_missing_function_configurations_and_too_many_keys),
    };
    return RUN_TESTS(tests, argc, argv);
}
