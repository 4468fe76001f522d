/* Forward values of the arithmetic, elementwise math, comparison and selection ops: literal
 * cases worked by hand, and every op against a plain C loop over NumPy-style broadcasting, in
 * float32 and float64, on strided views and on tensors large enough to run in parallel. */
#include "opcheck.h"

/* ---- the binary ops and their scalar references ---- */

typedef rb_tensor *(*binary_fn)(rb_tensor *, rb_tensor *);

static double r_add(double a, double b) { return a + b; }
static double r_sub(double a, double b) { return a - b; }
static double r_mul(double a, double b) { return a * b; }
static double r_div(double a, double b) { return a / b; }
static double r_pow(double a, double b) { return pow(a, b); }
static double r_max(double a, double b) { return a > b ? a : b; }
static double r_min(double a, double b) { return a < b ? a : b; }

typedef struct binary_case {
    const char *name;
    binary_fn fn;
    double (*ref)(double, double);
    bool rounded; /* correctly rounded in IEEE arithmetic: float32 results are exact */
} binary_case;

static const binary_case BINARY[] = {
    {"add", rb_add, r_add, true},         {"sub", rb_sub, r_sub, true},
    {"mul", rb_mul, r_mul, true},         {"div", rb_div, r_div, true},
    {"pow", rb_pow, r_pow, false},        {"maximum", rb_maximum, r_max, true},
    {"minimum", rb_minimum, r_min, true},
};
enum { N_BINARY = sizeof BINARY / sizeof BINARY[0] };

/* Every binary op on a (shape na/sa) and b (nb/sb) against a loop over the broadcast result
 * (no/so). a in [0.5, 3) (a valid base for pow), b of both signs with |b| in [0.5, 2.5). */
static void check_binary_ops(rb_dtype dtype, int na, const int64_t *sa, int nb, const int64_t *sb,
                             int no, const int64_t *so)
{
    int64_t n_a = 1, n_b = 1, n_o = 1;
    for (int d = 0; d < na; d++)
        n_a *= sa[d];
    for (int d = 0; d < nb; d++)
        n_b *= sb[d];
    for (int d = 0; d < no; d++)
        n_o *= so[d];
    double *va = malloc(sizeof(double) * (size_t)n_a), *vb = malloc(sizeof(double) * (size_t)n_b);
    double *expect = malloc(sizeof(double) * (size_t)n_o);
    fill_uniform(va, n_a, 0.5, 3.0, 11);
    fill_uniform(vb, n_b, 0.5, 2.5, 12);
    for (int64_t i = 0; i < n_b; i += 3)
        vb[i] = -vb[i];
    rb_tensor *a = tensor_of(dtype, na, sa, va), *b = tensor_of(dtype, nb, sb, vb);
    for (int k = 0; k < N_BINARY; k++) {
        const binary_case *c = &BINARY[k];
        for (int64_t i = 0; i < n_o; i++) {
            double ea = va[bcast_index(i, no, so, na, sa)];
            double e = c->ref(ea, vb[bcast_index(i, no, so, nb, sb)]);
            expect[i] = dtype == RB_F32 ? f32(e) : e;
        }
        rb_tensor *y = c->fn(a, b);
        if (!y) fail_msg("rb_%s failed: %s", c->name, rb_last_error());
        assert_int_equal(rb_tensor_dtype(y), dtype);
        assert_int_equal(rb_tensor_ndim(y), no);
        for (int d = 0; d < no; d++)
            assert_int_equal(rb_tensor_dim(y, d), so[d]);
        double rtol = c->rounded ? 0 : (dtype == RB_F32 ? 1e-6 : 1e-14);
        check_values_(y, c->name, expect, n_o, rtol, 0, __FILE__, __LINE__);
    }
    free(va);
    free(vb);
    free(expect);
}

static void binary_ops_on_equal_shapes_match_a_loop_in_float64(void **state)
{
    (void)state;
    check_binary_ops(RB_F64, RB_SHAPE(3, 5), RB_SHAPE(3, 5), RB_SHAPE(3, 5));
}

static void binary_ops_on_equal_shapes_match_a_loop_in_float32(void **state)
{
    (void)state;
    check_binary_ops(RB_F32, RB_SHAPE(3, 5), RB_SHAPE(3, 5), RB_SHAPE(3, 5));
}

static void binary_ops_broadcast_a_row_vector_over_rows(void **state)
{
    (void)state;
    check_binary_ops(RB_F64, RB_SHAPE(4, 3), RB_SHAPE(3), RB_SHAPE(4, 3));
    check_binary_ops(RB_F32, RB_SHAPE(3), RB_SHAPE(4, 3), RB_SHAPE(4, 3));
}

static void binary_ops_broadcast_a_column_vector_over_columns(void **state)
{
    (void)state;
    check_binary_ops(RB_F64, RB_SHAPE(4, 3), RB_SHAPE(4, 1), RB_SHAPE(4, 3));
    check_binary_ops(RB_F32, RB_SHAPE(4, 1), RB_SHAPE(4, 3), RB_SHAPE(4, 3));
}

static void binary_ops_broadcast_a_scalar_tensor_on_either_side(void **state)
{
    (void)state;
    check_binary_ops(RB_F64, RB_SHAPE(2, 3), RB_SCALAR, RB_SHAPE(2, 3));
    check_binary_ops(RB_F32, RB_SCALAR, RB_SHAPE(2, 3), RB_SHAPE(2, 3));
    check_binary_ops(RB_F64, RB_SCALAR, RB_SCALAR, RB_SCALAR);
}

static void binary_ops_broadcast_3d_with_2d(void **state)
{
    (void)state;
    check_binary_ops(RB_F64, RB_SHAPE(2, 3, 4), RB_SHAPE(3, 4), RB_SHAPE(2, 3, 4));
    check_binary_ops(RB_F32, RB_SHAPE(3, 1), RB_SHAPE(2, 1, 4), RB_SHAPE(2, 3, 4));
}

static void add_of_a_row_and_a_column_vector_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *col = T64(RB_SHAPE(2, 1), 10, 20);
    rb_tensor *row = T64(RB_SHAPE(3), 1, 2, 3);
    rb_tensor *y = rb_add(col, row);
    CHECK_SHAPE(y, 2, 3);
    CHECK_TENSOR(y, 0, 11, 12, 13, 21, 22, 23);
    CHECK_TENSOR(rb_sub(row, col), 0, -9, -8, -7, -19, -18, -17);
    CHECK_TENSOR(rb_div(row, col), 1e-15, 0.1, 0.2, 0.3, 0.05, 0.1, 0.15);
}

static void pow_maximum_and_minimum_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *a = T64(RB_SHAPE(4), 2, 4, -2, 9);
    rb_tensor *b = T64(RB_SHAPE(4), 3, 0.5, 3, -0.5);
    CHECK_TENSOR(rb_pow(a, b), 1e-15, 8, 2, -8, 1.0 / 3);
    CHECK_TENSOR(rb_maximum(a, b), 0, 3, 4, 3, 9);
    CHECK_TENSOR(rb_minimum(a, b), 0, 2, 0.5, -2, -0.5);
}

static void division_by_zero_follows_ieee(void **state)
{
    (void)state;
    rb_tensor *y = rb_div(T64(RB_SHAPE(3), 1, -1, 0), rb_tensor_zeros(RB_F64, RB_SHAPE(3)));
    CHECK_VALUES(y, ((const double[]){INFINITY, -INFINITY, NAN}), 3, 0, 0);
}

static void binary_ops_refuse_shapes_that_do_not_broadcast(void **state)
{
    (void)state;
    rb_tensor *a = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    rb_tensor *b = rb_tensor_zeros(RB_F32, RB_SHAPE(4));
    CHECK_FAILS(rb_add(a, b), RB_ERR_SHAPE, "[2,3]");
    CHECK_FAILS(rb_mul(b, a), RB_ERR_SHAPE, "[4]");
    CHECK_FAILS(rb_maximum(a, rb_tensor_zeros(RB_F32, RB_SHAPE(3, 1))), RB_ERR_SHAPE,
                "do not broadcast");
}

static void binary_ops_refuse_mixed_and_integer_dtypes(void **state)
{
    (void)state;
    rb_tensor *f = rb_tensor_ones(RB_F32, RB_SHAPE(2));
    rb_tensor *d = rb_tensor_ones(RB_F64, RB_SHAPE(2));
    rb_tensor *i = TI64(RB_SHAPE(2), 1, 2);
    CHECK_FAILS(rb_add(f, d), RB_ERR_DTYPE, "dtypes differ");
    CHECK_FAILS(rb_pow(d, f), RB_ERR_DTYPE, "float32");
    CHECK_FAILS(rb_sub(i, i), RB_ERR_DTYPE, "int64");
}

static void scalar_forms_apply_the_constant(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 2), 1, 4, 9, 0.25);
    CHECK_TENSOR(rb_add_scalar(x, 1.5), 0, 2.5, 5.5, 10.5, 1.75);
    CHECK_TENSOR(rb_mul_scalar(x, -2), 0, -2, -8, -18, -0.5);
    CHECK_TENSOR(rb_pow_scalar(x, 0.5), 1e-15, 1, 2, 3, 0.5);
    CHECK_TENSOR(rb_pow_scalar(x, 2), 1e-15, 1, 16, 81, 0.0625);
    CHECK_TENSOR(rb_pow_scalar(x, -1), 1e-15, 1, 0.25, 1.0 / 9, 4);
    rb_tensor *f = T32(RB_SHAPE(2), 0.1f, -3);
    rb_tensor *y = rb_mul_scalar(f, 3);
    assert_int_equal(rb_tensor_dtype(y), RB_F32);
    CHECK_REL(y, 1e-6, 0.3, -9);
}

/* ---- unary math ---- */

typedef rb_tensor *(*unary_fn)(rb_tensor *);

static double r_neg(double v) { return -v; }
static double r_square(double v) { return v * v; }
static double r_rsqrt(double v) { return 1 / sqrt(v); }
static double r_sign(double v) { return (v > 0) - (v < 0); }

typedef struct unary_case {
    const char *name;
    unary_fn fn;
    double (*ref)(double);
    double lo, hi; /* input domain */
} unary_case;

static const unary_case UNARY[] = {
    {"neg", rb_neg, r_neg, -3, 3},    {"square", rb_square, r_square, -3, 3},
    {"sqrt", rb_sqrt, sqrt, 0.01, 9}, {"rsqrt", rb_rsqrt, r_rsqrt, 0.01, 9},
    {"exp", rb_exp, exp, -10, 10},    {"log", rb_log, log, 0.001, 100},
    {"abs", rb_abs, fabs, -3, 3},     {"sign", rb_sign, r_sign, -3, 3},
    {"erf", rb_erf, erf, -4, 4},
};
enum { N_UNARY = sizeof UNARY / sizeof UNARY[0] };

static void check_unary_ops(rb_dtype dtype, double rtol)
{
    enum { N = 257 };
    double v[N], expect[N];
    for (int k = 0; k < N_UNARY; k++) {
        const unary_case *c = &UNARY[k];
        fill_uniform(v, N, c->lo, c->hi, 100 + (uint64_t)k);
        rb_tensor *x = tensor_of(dtype, RB_SHAPE(N), v);
        for (int i = 0; i < N; i++)
            expect[i] = c->ref(v[i]);
        rb_tensor *y = c->fn(x);
        if (!y) fail_msg("rb_%s failed: %s", c->name, rb_last_error());
        assert_int_equal(rb_tensor_dtype(y), dtype);
        check_values_(y, c->name, expect, N, rtol, 0, __FILE__, __LINE__);
    }
}

static void unary_ops_match_libm_in_float64(void **state)
{
    (void)state;
    check_unary_ops(RB_F64, 1e-15);
}

static void unary_ops_match_libm_in_float32_to_one_part_in_a_million(void **state)
{
    (void)state;
    check_unary_ops(RB_F32, 1e-6);
}

static void unary_ops_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(4), 4, 0.25, 1, 16);
    CHECK_TENSOR(rb_neg(x), 0, -4, -0.25, -1, -16);
    CHECK_TENSOR(rb_square(x), 0, 16, 0.0625, 1, 256);
    CHECK_TENSOR(rb_sqrt(x), 0, 2, 0.5, 1, 4);
    CHECK_TENSOR(rb_rsqrt(x), 0, 0.5, 2, 1, 0.25);
    CHECK_TENSOR(rb_log(T64(RB_SHAPE(3), 1, M_E, 1e-3)), 1e-15, 0, 1, -6.907755278982137);
    CHECK_TENSOR(rb_exp(T64(RB_SHAPE(3), 0, 1, -1)), 1e-15, 1, M_E, 1 / M_E);
    CHECK_TENSOR(rb_abs(T64(RB_SHAPE(3), -2.5, 0, 3)), 0, 2.5, 0, 3);
}

static void sign_is_minus_one_zero_or_one(void **state)
{
    (void)state;
    CHECK_TENSOR(rb_sign(T64(RB_SHAPE(5), -7, -1e-300, 0, 1e-300, 42)), 0, -1, -1, 0, 1, 1);
    CHECK_TENSOR(rb_sign(T32(RB_SHAPE(3), -0.0f, 2, -3)), 0, 0, 1, -1);
}

static void erf_matches_pythons_math_erf(void **state)
{
    (void)state;
    /* python3 -c 'import math; print([math.erf(x) for x in (-2, -0.5, 0, 0.5, 1, 3)])' */
    const double expect[] = {-0.9953222650189527, -0.5204998778130465, 0.0,
                             0.5204998778130465,  0.8427007929497149,  0.9999779095030014};
    CHECK_VALUES(rb_erf(T64(RB_SHAPE(6), -2, -0.5, 0, 0.5, 1, 3)), expect, 6, 1e-15, 0);
    CHECK_VALUES(rb_erf(T32(RB_SHAPE(6), -2, -0.5, 0, 0.5, 1, 3)), expect, 6, 1e-6, 0);
}

static void sqrt_and_log_outside_their_domain_follow_ieee(void **state)
{
    (void)state;
    CHECK_VALUES(rb_sqrt(T64(RB_SHAPE(2), -1, 0)), ((const double[]){NAN, 0}), 2, 0, 0);
    CHECK_VALUES(rb_log(T64(RB_SHAPE(2), 0, -1)), ((const double[]){-INFINITY, NAN}), 2, 0, 0);
    CHECK_VALUES(rb_rsqrt(T32(RB_SHAPE(1), 0)), ((const double[]){INFINITY}), 1, 0, 0);
}

static void clamp_limits_values_to_the_closed_interval(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(6), -3, -1, -0.5, 0.25, 1, 7);
    CHECK_TENSOR(rb_clamp(x, -1, 1), 0, -1, -1, -0.5, 0.25, 1, 1);
    CHECK_TENSOR(rb_clamp(x, 0.5, 0.5), 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5);
    CHECK_TENSOR(rb_clamp(T32(RB_SHAPE(3), -2, 0.1f, 2), 0, 1), 1e-7, 0, 0.1, 1);
}

static void clamp_refuses_lo_above_hi(void **state)
{
    (void)state;
    CHECK_FAILS(rb_clamp(rb_tensor_ones(RB_F32, RB_SHAPE(2)), 1, -1), RB_ERR_ARGUMENT,
                "must not exceed");
}

/* ---- comparisons and where ---- */

static void comparisons_give_zero_or_one_in_the_input_dtype(void **state)
{
    (void)state;
    rb_dtype dtypes[2] = {RB_F32, RB_F64};
    for (int k = 0; k < 2; k++) {
        double va[3] = {1, 2, 3}, vb[3] = {2, 2, 2};
        rb_tensor *a = tensor_of(dtypes[k], RB_SHAPE(3), va);
        rb_tensor *b = tensor_of(dtypes[k], RB_SHAPE(3), vb);
        rb_tensor *gt = rb_greater(a, b);
        assert_int_equal(rb_tensor_dtype(gt), dtypes[k]);
        CHECK_TENSOR(gt, 0, 0, 0, 1);
        CHECK_TENSOR(rb_greater_equal(a, b), 0, 0, 1, 1);
        CHECK_TENSOR(rb_less(a, b), 0, 1, 0, 0);
        CHECK_TENSOR(rb_less_equal(a, b), 0, 1, 1, 0);
        CHECK_TENSOR(rb_equal(a, b), 0, 0, 1, 0);
        CHECK_TENSOR(rb_not_equal(a, b), 0, 1, 0, 1);
    }
}

static void comparisons_broadcast_a_column_against_a_row(void **state)
{
    (void)state;
    rb_tensor *col = T64(RB_SHAPE(3, 1), 0, 1, 2);
    rb_tensor *row = T64(RB_SHAPE(3), 0, 1, 2);
    rb_tensor *gt = rb_greater(col, row); /* [i > j] */
    CHECK_SHAPE(gt, 3, 3);
    CHECK_TENSOR(gt, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0);
    CHECK_TENSOR(rb_equal(col, row), 0, 1, 0, 0, 0, 1, 0, 0, 0, 1);
    CHECK_TENSOR(rb_less_equal(row, rb_tensor_scalar(RB_F64, 1)), 0, 1, 1, 0);
}

static void comparisons_with_nan_are_false_except_not_equal(void **state)
{
    (void)state;
    rb_tensor *a = T64(RB_SHAPE(2), NAN, 1);
    rb_tensor *b = T64(RB_SHAPE(2), 1, NAN);
    CHECK_TENSOR(rb_greater(a, b), 0, 0, 0);
    CHECK_TENSOR(rb_greater_equal(a, b), 0, 0, 0);
    CHECK_TENSOR(rb_less(a, b), 0, 0, 0);
    CHECK_TENSOR(rb_less_equal(a, b), 0, 0, 0);
    CHECK_TENSOR(rb_equal(a, a), 0, 0, 1);
    CHECK_TENSOR(rb_not_equal(a, b), 0, 1, 1);
}

static void where_broadcasts_condition_and_both_branches(void **state)
{
    (void)state;
    rb_tensor *cond = T64(RB_SHAPE(2, 1), 1, 0);
    rb_tensor *a = T64(RB_SHAPE(3), 1, 2, 3);
    rb_tensor *b = rb_tensor_scalar(RB_F64, -1);
    rb_tensor *y = rb_where(cond, a, b);
    CHECK_SHAPE(y, 2, 3);
    CHECK_TENSOR(y, 0, 1, 2, 3, -1, -1, -1);
    /* the condition alone sets the result's leading axis */
    rb_tensor *z =
        rb_where(T32(RB_SHAPE(2, 1, 1), 0, 2), T32(RB_SHAPE(2), 5, 6), T32(RB_SHAPE(1), 7));
    CHECK_SHAPE(z, 2, 1, 2);
    CHECK_TENSOR(z, 0, 7, 7, 5, 6);
}

static void where_accepts_an_int64_condition_nonzero_meaning_true(void **state)
{
    (void)state;
    rb_tensor *cond = TI64(RB_SHAPE(4), 0, 5, -1, 0);
    rb_tensor *a = T32(RB_SHAPE(2, 4), 1, 2, 3, 4, 5, 6, 7, 8);
    rb_tensor *b = T32(RB_SHAPE(2, 4), -1, -2, -3, -4, -5, -6, -7, -8);
    rb_tensor *y = rb_where(cond, a, b);
    assert_int_equal(rb_tensor_dtype(y), RB_F32);
    CHECK_TENSOR(y, 0, -1, 2, 3, -4, -5, 6, 7, -8);
}

static void where_takes_values_from_the_chosen_side_only(void **state)
{
    (void)state;
    rb_tensor *cond = T64(RB_SHAPE(3), 0, 1, 0);
    rb_tensor *a = T64(RB_SHAPE(3), NAN, 2, INFINITY);
    CHECK_TENSOR(rb_where(cond, a, rb_tensor_zeros(RB_F64, RB_SHAPE(3))), 0, 0, 2, 0);
}

static void where_refuses_a_condition_that_does_not_broadcast(void **state)
{
    (void)state;
    rb_tensor *a = rb_tensor_zeros(RB_F64, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_where(rb_tensor_zeros(RB_F64, RB_SHAPE(4)), a, a), RB_ERR_SHAPE, "[4]");
    CHECK_FAILS(rb_where(a, a, rb_tensor_zeros(RB_F32, RB_SHAPE(3))), RB_ERR_DTYPE,
                "dtypes differ");
}

/* ---- layouts and sizes ---- */

static void elementwise_ops_on_a_transposed_view_equal_those_on_its_copy(void **state)
{
    (void)state;
    double va[35], vb[35];
    fill_uniform(va, 35, 0.5, 3, 1);
    fill_uniform(vb, 35, -2, 2, 2);
    rb_tensor *a = tensor_of(RB_F32, RB_SHAPE(5, 7), va);
    rb_tensor *b = tensor_of(RB_F32, RB_SHAPE(7, 5), vb);
    rb_tensor *at = rb_transpose(a, 0, 1); /* (7, 5), strided */
    assert_false(rb_tensor_is_contiguous(at));
    rb_tensor *ac = rb_tensor_copy(at);
    assert_true(rb_tensor_is_contiguous(ac));
    CHECK_SAME_BITS(rb_exp(at), rb_exp(ac));
    CHECK_SAME_BITS(rb_sqrt(at), rb_sqrt(ac));
    CHECK_SAME_BITS(rb_clamp(at, 1, 2), rb_clamp(ac, 1, 2));
    CHECK_SAME_BITS(rb_add(at, b), rb_add(ac, b));
    CHECK_SAME_BITS(rb_pow(b, at), rb_pow(b, ac));
    CHECK_SAME_BITS(rb_less(at, b), rb_less(ac, b));
    rb_tensor *bt = rb_transpose(b, 0, 1); /* both strided */
    CHECK_SAME_BITS(rb_mul(bt, a), rb_mul(rb_tensor_copy(bt), a));
    CHECK_SAME_BITS(rb_where(rb_greater(at, rb_tensor_scalar(RB_F32, 1.5)), at, b),
                    rb_where(rb_greater(ac, rb_tensor_scalar(RB_F32, 1.5)), ac, b));
    /* and the values themselves are those of the transpose */
    double expect[35];
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 5; j++)
            expect[i * 5 + j] = f32(va[j * 7 + i] - vb[i * 5 + j]);
    CHECK_VALUES(rb_sub(at, b), expect, 35, 0, 0);
}

static void elementwise_ops_on_a_stepped_slice_equal_those_on_its_copy(void **state)
{
    (void)state;
    double v[60];
    fill_uniform(v, 60, -3, 3, 3);
    rb_tensor *x = tensor_of(RB_F64, RB_SHAPE(6, 10), v);
    rb_tensor *s = rb_slice(x, (int64_t[]){1, 0}, (int64_t[]){6, 10}, (int64_t[]){2, 3});
    CHECK_SHAPE(s, 3, 4);
    rb_tensor *c = rb_tensor_copy(s);
    CHECK_SAME_BITS(rb_abs(s), rb_abs(c));
    CHECK_SAME_BITS(rb_erf(s), rb_erf(c));
    CHECK_SAME_BITS(rb_maximum(s, rb_tensor_scalar(RB_F64, 0)),
                    rb_maximum(c, rb_tensor_scalar(RB_F64, 0)));
}

static void large_elementwise_ops_match_a_loop_with_two_threads(void **state)
{
    (void)state;
    enum { R = 600, C = 500, N = R * C }; /* 300000 elements: above the parallel grain */
    double *vx = malloc(sizeof(double) * N), *vr = malloc(sizeof(double) * C);
    double *expect = malloc(sizeof(double) * N);
    fill_uniform(vx, N, -4, 4, 21);
    fill_uniform(vr, C, 0.5, 2, 22);
    rb_set_num_threads(2);
    rb_tensor *x = tensor_of(RB_F32, RB_SHAPE(R, C), vx);
    rb_tensor *row = tensor_of(RB_F32, RB_SHAPE(C), vr);
    for (int64_t i = 0; i < N; i++)
        expect[i] = f32(vx[i] * vr[i % C]);
    CHECK_VALUES(rb_mul(x, row), expect, N, 0, 0);
    for (int64_t i = 0; i < N; i++)
        expect[i] = exp(vx[i]);
    CHECK_VALUES(rb_exp(x), expect, N, 1e-6, 0);
    rb_tensor *xd = tensor_of(RB_F64, RB_SHAPE(R, C), vx);
    for (int64_t i = 0; i < N; i++)
        expect[i] = vx[i] > 0.5 ? vx[i] : 0.5;
    CHECK_VALUES(rb_clamp(xd, 0.5, 1e9), expect, N, 0, 0);
    rb_set_num_threads(0);
    free(vx);
    free(vr);
    free(expect);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(binary_ops_on_equal_shapes_match_a_loop_in_float64),
        TEST(binary_ops_on_equal_shapes_match_a_loop_in_float32),
        TEST(binary_ops_broadcast_a_row_vector_over_rows),
        TEST(binary_ops_broadcast_a_column_vector_over_columns),
        TEST(binary_ops_broadcast_a_scalar_tensor_on_either_side),
        TEST(binary_ops_broadcast_3d_with_2d),
        TEST(add_of_a_row_and_a_column_vector_worked_by_hand),
        TEST(pow_maximum_and_minimum_worked_by_hand),
        TEST(division_by_zero_follows_ieee),
        TEST(binary_ops_refuse_shapes_that_do_not_broadcast),
        TEST(binary_ops_refuse_mixed_and_integer_dtypes),
        TEST(scalar_forms_apply_the_constant),
        TEST(unary_ops_match_libm_in_float64),
        TEST(unary_ops_match_libm_in_float32_to_one_part_in_a_million),
        TEST(unary_ops_worked_by_hand),
        TEST(sign_is_minus_one_zero_or_one),
        TEST(erf_matches_pythons_math_erf),
        TEST(sqrt_and_log_outside_their_domain_follow_ieee),
        TEST(clamp_limits_values_to_the_closed_interval),
        TEST(clamp_refuses_lo_above_hi),
        TEST(comparisons_give_zero_or_one_in_the_input_dtype),
        TEST(comparisons_broadcast_a_column_against_a_row),
        TEST(comparisons_with_nan_are_false_except_not_equal),
        TEST(where_broadcasts_condition_and_both_branches),
        TEST(where_accepts_an_int64_condition_nonzero_meaning_true),
        TEST(where_takes_values_from_the_chosen_side_only),
        TEST(where_refuses_a_condition_that_does_not_broadcast),
        TEST(elementwise_ops_on_a_transposed_view_equal_those_on_its_copy),
        TEST(elementwise_ops_on_a_stepped_slice_equal_those_on_its_copy),
        TEST(large_elementwise_ops_match_a_loop_with_two_threads),
    };
    return RUN_TESTS(tests, argc, argv);
}
