/* Forward values of the reductions (sum, mean, max, min, var, argmax, argmin): hand-worked
 * cases, every axis subset of a 3-D tensor against a loop, keepdims shapes, independence from
 * the thread count, and the errors for bad, repeated and empty axes. */
#include "opcheck.h"

typedef enum kind { K_SUM, K_MEAN, K_MAX, K_MIN } kind;

/* Reduce x (nd, shape) over the axes in mask by a loop; returns the number of outputs. */
static int64_t ref_reduce(const double *x, int nd, const int64_t *shape, unsigned mask, kind k,
                          double *out)
{
    int64_t n = 1, n_out = 1, count = 1;
    for (int d = 0; d < nd; d++) {
        n *= shape[d];
        if (mask & (1u << d))
            count *= shape[d];
        else
            n_out *= shape[d];
    }
    for (int64_t o = 0; o < n_out; o++)
        out[o] = k == K_MAX ? -INFINITY : k == K_MIN ? INFINITY : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, o = 0, stride = 1;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t c = rem % shape[d];
            rem /= shape[d];
            if (!(mask & (1u << d))) {
                o += c * stride;
                stride *= shape[d];
            }
        }
        if (k == K_MAX)
            out[o] = fmax(out[o], x[i]);
        else if (k == K_MIN)
            out[o] = fmin(out[o], x[i]);
        else
            out[o] += x[i];
    }
    if (k == K_MEAN)
        for (int64_t o = 0; o < n_out; o++)
            out[o] /= (double)count;
    return n_out;
}

static rb_tensor *reduce(kind k, rb_tensor *x, int n, const int *axes, bool keepdims)
{
    switch (k) {
    case K_SUM: return rb_sum(x, n, axes, keepdims);
    case K_MEAN: return rb_mean(x, n, axes, keepdims);
    case K_MAX: return rb_max(x, n, axes, keepdims);
    case K_MIN: return rb_min(x, n, axes, keepdims);
    }
    return NULL;
}

/* Every reduction over every non-empty subset of the axes of a (2, 3, 4) tensor, with and
 * without keepdims, against the loop. */
static void check_all_axis_subsets(rb_dtype dtype, double rtol)
{
    const int64_t shape[3] = {2, 3, 4};
    double x[24], expect[24];
    fill_uniform(x, 24, -5, 5, 80 + (uint64_t)dtype);
    rb_tensor *t = tensor_of(dtype, 3, shape, x);
    static const char *names[] = {"sum", "mean", "max", "min"};
    for (unsigned mask = 1; mask < 8; mask++) {
        int axes[3], n = 0;
        for (int d = 0; d < 3; d++)
            if (mask & (1u << d)) axes[n++] = d;
        for (kind k = K_SUM; k <= K_MIN; k++) {
            int64_t n_out = ref_reduce(x, 3, shape, mask, k, expect);
            for (int keep = 0; keep < 2; keep++) {
                rb_tensor *y = reduce(k, t, n, axes, keep);
                if (!y) fail_msg("rb_%s failed: %s", names[k], rb_last_error());
                int nd = 0;
                for (int d = 0; d < 3; d++) {
                    bool reduced = mask & (1u << d);
                    if (reduced && !keep) continue;
                    if (rb_tensor_dim(y, nd) != (reduced ? 1 : shape[d]))
                        fail_msg("rb_%s mask %u keepdims %d: wrong extent on axis %d", names[k],
                                 mask, keep, nd);
                    nd++;
                }
                assert_int_equal(rb_tensor_ndim(y), nd);
                assert_int_equal(rb_tensor_dtype(y), dtype);
                check_values_(y, names[k], expect, n_out, rtol, 0, __FILE__, __LINE__);
            }
        }
    }
}

static void reductions_over_every_axis_subset_match_a_loop_in_float64(void **state)
{
    (void)state;
    check_all_axis_subsets(RB_F64, 1e-14);
}

static void reductions_over_every_axis_subset_match_a_loop_in_float32(void **state)
{
    (void)state;
    check_all_axis_subsets(RB_F32, 1e-6);
}

static void sum_and_mean_over_one_axis_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    CHECK_TENSOR(rb_sum(x, RB_AXES(0), false), 0, 5, 7, 9);
    CHECK_TENSOR(rb_sum(x, RB_AXES(1), false), 0, 6, 15);
    CHECK_TENSOR(rb_mean(x, RB_AXES(0), false), 0, 2.5, 3.5, 4.5);
    CHECK_TENSOR(rb_mean(x, RB_AXES(1), false), 0, 2, 5);
    CHECK_TENSOR(rb_sum(T32(RB_SHAPE(2, 2), 0.5f, 1, 2, 4), RB_AXES(1), false), 0, 1.5, 6);
}

static void max_and_min_over_one_axis_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 3, -1, 7, -2, 8, 0);
    CHECK_TENSOR(rb_max(x, RB_AXES(0), false), 0, 3, 8, 7);
    CHECK_TENSOR(rb_min(x, RB_AXES(0), false), 0, -2, -1, 0);
    CHECK_TENSOR(rb_max(x, RB_AXES(1), false), 0, 7, 8);
    CHECK_TENSOR(rb_min(x, RB_AXES(1), false), 0, -1, -2);
}

static void reducing_all_axes_gives_a_scalar_or_ones_with_keepdims(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    rb_tensor *s = rb_sum(x, RB_ALL_AXES, false);
    assert_int_equal(rb_tensor_ndim(s), 0);
    CHECK_TENSOR(s, 0, 21);
    rb_tensor *m = rb_mean(x, RB_ALL_AXES, true);
    CHECK_SHAPE(m, 1, 1);
    CHECK_TENSOR(m, 0, 3.5);
    CHECK_TENSOR(rb_max(x, RB_AXES(0, 1), false), 0, 6);
    CHECK_TENSOR(rb_min(x, RB_AXES(1, 0), true), 0, 1);
    CHECK_SHAPE(rb_min(x, RB_AXES(1, 0), true), 1, 1);
}

static void negative_axes_count_from_the_end(void **state)
{
    (void)state;
    double v[24];
    fill_uniform(v, 24, -1, 1, 90);
    rb_tensor *x = tensor_of(RB_F64, RB_SHAPE(2, 3, 4), v);
    CHECK_SAME_BITS(rb_sum(x, RB_AXES(-1), false), rb_sum(x, RB_AXES(2), false));
    CHECK_SAME_BITS(rb_max(x, RB_AXES(-3, -1), true), rb_max(x, RB_AXES(0, 2), true));
    CHECK_SHAPE(rb_mean(x, RB_AXES(-2), true), 2, 1, 4);
    CHECK_SHAPE(rb_mean(x, RB_AXES(-2), false), 2, 4);
}

static void keepdims_keeps_reduced_axes_as_ones(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(2, 3, 4, 5));
    CHECK_SHAPE(rb_sum(x, RB_AXES(1, 3), true), 2, 1, 4, 1);
    CHECK_SHAPE(rb_sum(x, RB_AXES(1, 3), false), 2, 4);
    CHECK_SHAPE(rb_max(x, RB_AXES(0), true), 1, 3, 4, 5);
    CHECK_SHAPE(rb_var(x, RB_AXES(2), true, 0), 2, 3, 1, 5);
    CHECK_TENSOR(rb_sum(x, RB_AXES(0, 2, 3), false), 0, 40, 40, 40);
}

static void reducing_extent_one_axes_copies_values(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3, 1), 4, -5, 6);
    CHECK_TENSOR(rb_sum(x, RB_AXES(1), false), 0, 4, -5, 6);
    CHECK_TENSOR(rb_min(x, RB_AXES(1), true), 0, 4, -5, 6);
}

/* [1, 2, 3, 4]: mean 2.5, squared deviations 2.25 + .25 + .25 + 2.25 = 5 */
static void var_with_correction_zero_and_one_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(4), 1, 2, 3, 4);
    CHECK_TENSOR(rb_var(x, RB_ALL_AXES, false, 0), 1e-15, 1.25);
    CHECK_TENSOR(rb_var(x, RB_ALL_AXES, false, 1), 1e-15, 5.0 / 3);
    /* rows (1, 3) and (2, 6): means 2 and 4, sums of squares 2 and 8 */
    rb_tensor *m = T32(RB_SHAPE(2, 2), 1, 3, 2, 6);
    CHECK_TENSOR(rb_var(m, RB_AXES(1), false, 0), 1e-6, 1, 4);
    CHECK_TENSOR(rb_var(m, RB_AXES(1), false, 1), 1e-6, 2, 8);
    CHECK_TENSOR(rb_var(m, RB_AXES(0), true, 1), 1e-6, 0.5, 4.5);
}

static void var_over_several_axes_matches_a_loop(void **state)
{
    (void)state;
    const int64_t shape[3] = {3, 4, 5};
    double x[60], mean[5], expect[5];
    fill_uniform(x, 60, -3, 3, 91);
    rb_tensor *t = tensor_of(RB_F64, 3, shape, x);
    ref_reduce(x, 3, shape, 3u, K_MEAN, mean); /* over axes 0 and 1: 12 values per output */
    for (int c = 0; c < 5; c++) {
        double ss = 0;
        for (int i = 0; i < 12; i++)
            ss += (x[i * 5 + c] - mean[c]) * (x[i * 5 + c] - mean[c]);
        expect[c] = ss / 11;
    }
    CHECK_VALUES(rb_var(t, RB_AXES(0, 1), false, 1), expect, 5, 1e-13, 0);
    for (int c = 0; c < 5; c++)
        expect[c] *= 11.0 / 12;
    CHECK_VALUES(rb_var(t, RB_AXES(1, 0), false, 0), expect, 5, 1e-13, 0);
}

static void var_is_accurate_in_float32_for_a_large_offset(void **state)
{
    (void)state;
    /* 10000 + (0, 1, 2, 3): the variance 1.25 survives a mean far from zero */
    CHECK_REL(rb_var(T32(RB_SHAPE(4), 10000, 10001, 10002, 10003), RB_ALL_AXES, false, 0), 1e-6,
              1.25);
}

static void var_refuses_too_few_degrees_of_freedom(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F64, RB_SHAPE(1, 3));
    CHECK_FAILS(rb_var(x, RB_AXES(0), false, 1), RB_ERR_ARGUMENT, "degrees of freedom");
    CHECK_FAILS(rb_var(x, RB_AXES(1), false, 3), RB_ERR_ARGUMENT, "correction 3");
    CHECK_FAILS(rb_var(x, RB_AXES(1), false, -1), RB_ERR_ARGUMENT, "correction -1");
    CHECK_TENSOR(rb_var(x, RB_AXES(0), false, 0), 0, 0, 0, 0); /* one value: variance 0 */
}

/* ---- argmax / argmin ---- */

static void argmax_and_argmin_give_int64_indices_along_an_axis(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 3, -1, 7, -2, 8, 0);
    rb_tensor *am = rb_argmax(x, 1, false);
    assert_int_equal(rb_tensor_dtype(am), RB_I64);
    CHECK_SHAPE(am, 2);
    CHECK_TENSOR(am, 0, 2, 1);
    CHECK_TENSOR(rb_argmin(x, 1, false), 0, 1, 0);
    CHECK_TENSOR(rb_argmax(x, 0, false), 0, 0, 1, 0);
    CHECK_TENSOR(rb_argmin(x, -2, false), 0, 1, 0, 1);
    CHECK_TENSOR(rb_argmax(T32(RB_SHAPE(4), 0.5f, 0.25f, 0.75f, -1), 0, false), 0, 2);
}

static void argmax_and_argmin_pick_the_first_of_ties(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 4), 1, 5, 5, 0, 2, 2, 2, 2);
    CHECK_TENSOR(rb_argmax(x, 1, false), 0, 1, 0);
    CHECK_TENSOR(rb_argmin(x, 1, false), 0, 3, 0);
    rb_tensor *col = T32(RB_SHAPE(3, 2), 4, 1, 4, 1, 0, 1); /* ties down axis 0 */
    CHECK_TENSOR(rb_argmax(col, 0, false), 0, 0, 0);
    CHECK_TENSOR(rb_argmin(col, 0, false), 0, 2, 0);
}

static void argmax_keepdims_keeps_the_axis_as_one(void **state)
{
    (void)state;
    double v[24];
    fill_uniform(v, 24, -1, 1, 92);
    rb_tensor *x = tensor_of(RB_F64, RB_SHAPE(2, 3, 4), v);
    rb_tensor *k = rb_argmax(x, 1, true);
    CHECK_SHAPE(k, 2, 1, 4);
    CHECK_SHAPE(rb_argmin(x, -1, true), 2, 3, 1);
    CHECK_SHAPE(rb_argmin(x, -1, false), 2, 3);
    double expect[8]; /* index of the largest of x[i, :, j] */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            int best = 0;
            for (int r = 1; r < 3; r++)
                if (v[i * 12 + r * 4 + j] > v[i * 12 + best * 4 + j]) best = r;
            expect[i * 4 + j] = best;
        }
    CHECK_VALUES(k, expect, 8, 0, 0);
}

static void argmax_refuses_bad_axes_and_empty_axes(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_argmax(x, 2, false), RB_ERR_AXIS, "axis 2 out of range");
    CHECK_FAILS(rb_argmin(x, -3, false), RB_ERR_AXIS, "axis -3");
    CHECK_FAILS(rb_argmax(rb_tensor_zeros(RB_F32, RB_SHAPE(2, 0)), 1, false), RB_ERR_EMPTY,
                "empty");
    CHECK_FAILS(rb_argmax(TI64(RB_SHAPE(2), 1, 2), 0, false), RB_ERR_DTYPE, "int64");
}

/* ---- layouts, sizes and threads ---- */

/* Layouts may take different kernels (and summation orders): values agree to float32
 * precision, extremes and indices exactly. */
static void reductions_of_a_transposed_view_match_those_of_its_copy(void **state)
{
    (void)state;
    double v[35], expect[7];
    fill_uniform(v, 35, -2, 2, 93);
    rb_tensor *x = rb_transpose(tensor_of(RB_F32, RB_SHAPE(5, 7), v), 0, 1); /* (7, 5) */
    rb_tensor *c = rb_tensor_copy(x);
    CHECK_SAME_BITS(rb_max(x, RB_AXES(0), false), rb_max(c, RB_AXES(0), false));
    CHECK_SAME_BITS(rb_min(x, RB_AXES(1), true), rb_min(c, RB_AXES(1), true));
    CHECK_SAME_BITS(rb_argmin(x, 1, false), rb_argmin(c, 1, false));
    ref_reduce(v, 2, (const int64_t[]){5, 7}, 1u, K_SUM, expect); /* = sums over x's axis 1 */
    CHECK_VALUES(rb_sum(x, RB_AXES(1), false), expect, 7, 1e-6, 1e-6);
    CHECK_VALUES(rb_sum(c, RB_AXES(1), false), expect, 7, 1e-6, 1e-6);
    double cols[5]; /* sums over x's axis 0 = sums over the rows of the original */
    ref_reduce(v, 2, (const int64_t[]){5, 7}, 2u, K_SUM, cols);
    CHECK_VALUES(rb_sum(x, RB_AXES(0), false), cols, 5, 1e-6, 1e-6);
    CHECK_VALUES(rb_sum(c, RB_AXES(0), false), cols, 5, 1e-6, 1e-6);
}

/* A float32 sum over a long leading axis must not accumulate in float32: adding 0.1f a
 * million times one by one in float drifts by about 1%. The whole-tensor sum is the yardstick. */
static void float32_sums_over_a_long_leading_axis_are_accurate(void **state)
{
    (void)state;
    enum { R = 1000000 };
    rb_tensor *x = rb_tensor_full(RB_F32, RB_SHAPE(R, 2), 0.1);
    double expect = R * (double)0.1f;
    CHECK_REL(rb_sum(x, RB_ALL_AXES, false), 1e-6, 2 * expect);
    CHECK_REL(rb_sum(x, RB_AXES(0), false), 1e-6, expect, expect);
    CHECK_REL(rb_mean(x, RB_AXES(0), false), 1e-6, 0.1, 0.1);
}

/* Sum, max and mean of x with 1 and with 2 threads. */
static void reduce_with_threads(rb_tensor *x, int n, const int *axes, rb_tensor **out, int threads)
{
    rb_set_num_threads(threads);
    out[0] = rb_sum(x, n, axes, false);
    out[1] = rb_max(x, n, axes, false);
    out[2] = rb_mean(x, n, axes, false);
    rb_set_num_threads(0);
}

/* In float64 any change of summation order shows in the last bits; float32 results are
 * rounded from double accumulators, so both dtypes are checked. */
static void a_million_element_sum_is_the_same_with_one_or_two_threads(void **state)
{
    (void)state;
    enum { N = 1000000 };
    double *v = malloc(sizeof(double) * N);
    rb_dtype dtypes[2] = {RB_F64, RB_F32};
    for (int d = 0; d < 2; d++) {
        fill_uniform(v, N, 0, 1, 94);
        rb_tensor *x = tensor_of(dtypes[d], RB_SHAPE(N), v);
        rb_tensor *one[3], *two[3];
        reduce_with_threads(x, RB_ALL_AXES, one, 1);
        reduce_with_threads(x, RB_ALL_AXES, two, 2);
        for (int k = 0; k < 3; k++)
            CHECK_SAME_BITS(one[k], two[k]);
        double total = 0, top = 0;
        for (int64_t i = 0; i < N; i++) {
            total += v[i];
            top = fmax(top, v[i]);
        }
        double rtol = dtypes[d] == RB_F32 ? 1e-6 : 1e-12;
        CHECK_REL(one[0], rtol, total);
        CHECK_REL(one[1], 0, top);
        CHECK_REL(one[2], rtol, total / N);
    }
    free(v);
}

static void large_axis_reductions_are_the_same_with_one_or_two_threads(void **state)
{
    (void)state;
    enum { R = 1000, C = 1000 };
    double *v = malloc(sizeof(double) * R * C), *expect = malloc(sizeof(double) * C);
    rb_dtype dtypes[2] = {RB_F64, RB_F32};
    for (int d = 0; d < 2; d++) {
        fill_uniform(v, R * C, -1, 1, 95);
        rb_tensor *x = tensor_of(dtypes[d], RB_SHAPE(R, C), v);
        for (int axis = 0; axis < 2; axis++) {
            rb_tensor *one[3], *two[3];
            reduce_with_threads(x, RB_AXES(axis), one, 1);
            reduce_with_threads(x, RB_AXES(axis), two, 2);
            for (int k = 0; k < 3; k++)
                CHECK_SAME_BITS(one[k], two[k]);
            ref_reduce(v, 2, (const int64_t[]){R, C}, 1u << axis, K_MAX, expect);
            CHECK_VALUES(one[1], expect, C, 0, 0);
            ref_reduce(v, 2, (const int64_t[]){R, C}, 1u << axis, K_SUM, expect);
            /* sums of +-1 values cancel: an absolute tolerance too */
            CHECK_VALUES(one[0], expect, C, dtypes[d] == RB_F32 ? 1e-5 : 1e-12,
                         dtypes[d] == RB_F32 ? 1e-4 : 1e-12);
        }
        rb_tensor *t = rb_transpose(x, 0, 1); /* strided: the general kernel */
        for (int axis = -1; axis < 2; axis++) {
            rb_tensor *one[3], *two[3];
            int n = axis < 0 ? 0 : 1;
            const int *axes = axis < 0 ? NULL : (const int[]){axis};
            reduce_with_threads(t, n, axes, one, 1);
            reduce_with_threads(t, n, axes, two, 2);
            for (int k = 0; k < 3; k++)
                CHECK_SAME_BITS(one[k], two[k]);
        }
    }
    free(v);
    free(expect);
}

/* ---- errors ---- */

static void reductions_refuse_an_axis_out_of_range(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_sum(x, RB_AXES(2), false), RB_ERR_AXIS, "axis 2 out of range");
    CHECK_FAILS(rb_mean(x, RB_AXES(-3), false), RB_ERR_AXIS, "axis -3 out of range");
    CHECK_FAILS(rb_max(x, RB_AXES(0, 5), false), RB_ERR_AXIS, "axis 5");
    CHECK_FAILS(rb_var(x, RB_AXES(7), false, 0), RB_ERR_AXIS, "axis 7");
}

static void reductions_refuse_a_repeated_axis(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_sum(x, RB_AXES(1, 1), false), RB_ERR_AXIS, "listed twice");
    CHECK_FAILS(rb_min(x, RB_AXES(0, -2), false), RB_ERR_AXIS, "listed twice");
}

static void reductions_refuse_empty_axes_but_an_empty_sum_is_zero(void **state)
{
    (void)state;
    rb_tensor *e = rb_tensor_zeros(RB_F64, RB_SHAPE(3, 0));
    CHECK_FAILS(rb_max(e, RB_AXES(1), false), RB_ERR_EMPTY, "empty axis 1");
    CHECK_FAILS(rb_min(e, RB_ALL_AXES, false), RB_ERR_EMPTY, "empty axis");
    CHECK_FAILS(rb_mean(e, RB_AXES(1), false), RB_ERR_EMPTY, "no elements");
    CHECK_FAILS(rb_var(e, RB_AXES(1), false, 0), RB_ERR_ARGUMENT, "0 elements");
    CHECK_TENSOR(rb_sum(e, RB_AXES(1), false), 0, 0, 0, 0);
    CHECK_SHAPE(rb_max(e, RB_AXES(0), false), 0); /* reducing a non-empty axis is fine */
}

static void reductions_refuse_int64_tensors(void **state)
{
    (void)state;
    CHECK_FAILS(rb_sum(TI64(RB_SHAPE(2), 1, 2), RB_ALL_AXES, false), RB_ERR_DTYPE, "int64");
}

/* Sums over a middle block of axes (global average pooling's (N, H, W, C) over H and W) take
 * a vectorised path for contiguous tensors: the same bits as the generic kernel gives for a
 * strided view of the same values, at 1 and 2 threads. */
static void middle_axis_sums_match_the_generic_kernel_bit_for_bit(void **state)
{
    (void)state;
    const int64_t shapes[3][4] = {{5, 7, 6, 16}, {3, 4, 9, 300}, {2, 1, 5, 3}};
    const int axes_sets[3][2] = {{1, 2}, {1, 2}, {1, 2}};
    for (int k = 0; k < 3; k++)
        for (rb_dtype dt = RB_F32; dt <= RB_F64; dt++) {
            const int64_t *sh = shapes[k];
            rb_rng rng = rb_rng_make((uint64_t)k + 1);
            /* the values twice along the channels; the even ones are the strided view */
            rb_tensor *wide = rb_tensor_normal(dt, RB_SHAPE(sh[0], sh[1], sh[2], 2 * sh[3]), 3, 2, &rng);
            rb_tensor *view = rb_slice(wide, (int64_t[]){0, 0, 0, 0},
                                       (int64_t[]){sh[0], sh[1], sh[2], 2 * sh[3]},
                                       (int64_t[]){1, 1, 1, 2});
            assert_false(rb_tensor_is_contiguous(view));
            rb_tensor *dense = rb_tensor_copy(view);
            rb_tensor *want = rb_sum(view, RB_AXES(axes_sets[k][0], axes_sets[k][1]), false);
            int saved = rb_num_threads();
            for (int t = 1; t <= 2; t++) {
                rb_set_num_threads(t);
                CHECK_SAME_BITS(rb_sum(dense, RB_AXES(axes_sets[k][0], axes_sets[k][1]), false), want);
                CHECK_SAME_BITS(rb_sum(dense, RB_AXES(1, 2), true),
                                rb_sum(view, RB_AXES(1, 2), true));
            }
            rb_set_num_threads(saved);
        }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(reductions_over_every_axis_subset_match_a_loop_in_float64),
        TEST(reductions_over_every_axis_subset_match_a_loop_in_float32),
        TEST(sum_and_mean_over_one_axis_worked_by_hand),
        TEST(max_and_min_over_one_axis_worked_by_hand),
        TEST(reducing_all_axes_gives_a_scalar_or_ones_with_keepdims),
        TEST(negative_axes_count_from_the_end),
        TEST(keepdims_keeps_reduced_axes_as_ones),
        TEST(reducing_extent_one_axes_copies_values),
        TEST(var_with_correction_zero_and_one_worked_by_hand),
        TEST(var_over_several_axes_matches_a_loop),
        TEST(var_is_accurate_in_float32_for_a_large_offset),
        TEST(var_refuses_too_few_degrees_of_freedom),
        TEST(argmax_and_argmin_give_int64_indices_along_an_axis),
        TEST(argmax_and_argmin_pick_the_first_of_ties),
        TEST(argmax_keepdims_keeps_the_axis_as_one),
        TEST(argmax_refuses_bad_axes_and_empty_axes),
        TEST(reductions_of_a_transposed_view_match_those_of_its_copy),
        TEST(middle_axis_sums_match_the_generic_kernel_bit_for_bit),
        TEST(float32_sums_over_a_long_leading_axis_are_accurate),
        TEST(a_million_element_sum_is_the_same_with_one_or_two_threads),
        TEST(large_axis_reductions_are_the_same_with_one_or_two_threads),
        TEST(reductions_refuse_an_axis_out_of_range),
        TEST(reductions_refuse_a_repeated_axis),
        TEST(reductions_refuse_empty_axes_but_an_empty_sum_is_zero),
        TEST(reductions_refuse_int64_tensors),
    };
    return RUN_TESTS(tests, argc, argv);
}
