/* Forward values of rb_matmul and rb_linear against a naive triple loop: 2-D products of many
 * shapes, broadcast batch axes, transposed and stepped views, 1-D operands, both dtypes, and
 * the shape and dtype errors. BLIS sums in its own order, so values are compared within
 * rtol * sum_k |a_ik b_kj| of the loop. */
#include "opcheck.h"

/* c[b] = a[b] @ w[b] for `batch` row-major (M, K) x (K, N) blocks at the given strides
 * between blocks (0 repeats one block); bound gets sum_k |a_ik b_kj|. */
static void ref_matmul(const double *a, int64_t a_step, const double *b, int64_t b_step,
                       int64_t batch, int64_t M, int64_t K, int64_t N, double *c, double *bound)
{
    for (int64_t p = 0; p < batch; p++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0, s_abs = 0;
                for (int64_t k = 0; k < K; k++) {
                    double t = a[p * a_step + i * K + k] * b[p * b_step + k * N + j];
                    s += t;
                    s_abs += fabs(t);
                }
                c[(p * M + i) * N + j] = s;
                bound[(p * M + i) * N + j] = s_abs;
            }
}

#define CHECK_PRODUCT(t, expect, bound, n, rtol)                                                   \
    check_product_((t), #t, (expect), (bound), (n), (rtol), __FILE__, __LINE__)

/* |t[i] - expect[i]| <= rtol * bound[i] + tiny for every element. */
static void check_product_(rb_tensor *t, const char *expr, const double *expect,
                           const double *bound, int64_t n, double rtol, const char *file, int line)
{
    if (!t) FAIL_AT(file, line, "%s is NULL: %s", expr, rb_last_error());
    if (rb_tensor_size(t) != n)
        FAIL_AT(file, line, "%s has %lld elements, expected %lld", expr,
                (long long)rb_tensor_size(t), (long long)n);
    double *got = values_of(t);
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs(got[i] - expect[i]) <= rtol * bound[i] + 1e-300)) {
            double g = got[i];
            free(got);
            FAIL_AT(file, line, "%s[%lld] = %.17g, expected %.17g (bound %.3g, rtol %.3g)", expr,
                    (long long)i, g, expect[i], bound[i], rtol);
        }
    }
    free(got);
}

static double rtol_of(rb_dtype dtype) { return dtype == RB_F32 ? 1e-6 : 1e-12; }

static double *new_doubles(int64_t n) { return malloc(sizeof(double) * (size_t)(n ? n : 1)); }

/* a (M, K) @ b (K, N) against the loop. */
static void check_2d(rb_dtype dtype, int64_t M, int64_t K, int64_t N, uint64_t seed)
{
    double *a = new_doubles(M * K), *b = new_doubles(K * N);
    double *c = new_doubles(M * N), *bound = new_doubles(M * N);
    fill_uniform(a, M * K, -1, 1, seed);
    fill_uniform(b, K * N, -1, 1, seed + 1);
    rb_tensor *ta = tensor_of(dtype, RB_SHAPE(M, K), a);
    rb_tensor *tb = tensor_of(dtype, RB_SHAPE(K, N), b);
    ref_matmul(a, 0, b, 0, 1, M, K, N, c, bound);
    rb_tensor *y = rb_matmul(ta, tb);
    CHECK_SHAPE(y, M, N);
    assert_int_equal(rb_tensor_dtype(y), dtype);
    CHECK_PRODUCT(y, c, bound, M * N, rtol_of(dtype));
    free(a);
    free(b);
    free(c);
    free(bound);
}

static const int64_t SHAPES_2D[][3] = {{1, 1, 1}, {1, 7, 5},    {6, 7, 1},   {17, 33, 9},
                                       {3, 1, 4}, {64, 48, 32}, {1, 100, 1}, {130, 70, 90}};
enum { N_SHAPES_2D = sizeof SHAPES_2D / sizeof SHAPES_2D[0] };

static void matmul_2d_matches_a_triple_loop_in_float64(void **state)
{
    (void)state;
    for (int s = 0; s < N_SHAPES_2D; s++)
        check_2d(RB_F64, SHAPES_2D[s][0], SHAPES_2D[s][1], SHAPES_2D[s][2], 200 + (uint64_t)s);
}

static void matmul_2d_matches_a_triple_loop_in_float32(void **state)
{
    (void)state;
    for (int s = 0; s < N_SHAPES_2D; s++)
        check_2d(RB_F32, SHAPES_2D[s][0], SHAPES_2D[s][1], SHAPES_2D[s][2], 300 + (uint64_t)s);
}

static void matmul_of_two_by_two_matrices_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *a = T64(RB_SHAPE(2, 2), 1, 2, 3, 4);
    rb_tensor *b = T64(RB_SHAPE(2, 2), 5, 6, 7, 8);
    CHECK_TENSOR(rb_matmul(a, b), 0, 19, 22, 43, 50);
    CHECK_TENSOR(rb_matmul(b, a), 0, 23, 34, 31, 46);
    CHECK_TENSOR(rb_matmul(T32(RB_SHAPE(1, 3), 1, 2, 3), T32(RB_SHAPE(3, 1), 4, 5, 6)), 0, 32);
}

/* a (ba..., M, K) @ b (bb..., K, N) -> (bo..., M, N), batch axes broadcast. */
static void check_batched(rb_dtype dtype, int na, const int64_t *sa, int nb, const int64_t *sb,
                          int no, const int64_t *so)
{
    int64_t M = sa[na - 2], K = sa[na - 1], N = sb[nb - 1];
    int64_t size_a = 1, size_b = 1, batch = 1;
    for (int d = 0; d < na; d++)
        size_a *= sa[d];
    for (int d = 0; d < nb; d++)
        size_b *= sb[d];
    for (int d = 0; d < no - 2; d++)
        batch *= so[d];
    double *a = new_doubles(size_a), *b = new_doubles(size_b);
    double *c = new_doubles(batch * M * N), *bound = new_doubles(batch * M * N);
    fill_uniform(a, size_a, -1, 1, 400);
    fill_uniform(b, size_b, -1, 1, 401);
    rb_tensor *ta = tensor_of(dtype, na, sa, a), *tb = tensor_of(dtype, nb, sb, b);
    for (int64_t p = 0; p < batch; p++) { /* which block of a and b output block p reads */
        int64_t ia = bcast_index(p, no - 2, so, na - 2, sa);
        int64_t ib = bcast_index(p, no - 2, so, nb - 2, sb);
        ref_matmul(a + ia * M * K, 0, b + ib * K * N, 0, 1, M, K, N, c + p * M * N,
                   bound + p * M * N);
    }
    rb_tensor *y = rb_matmul(ta, tb);
    if (!y) fail_msg("rb_matmul failed: %s", rb_last_error());
    assert_int_equal(rb_tensor_ndim(y), no);
    for (int d = 0; d < no; d++)
        assert_int_equal(rb_tensor_dim(y, d), so[d]);
    CHECK_PRODUCT(y, c, bound, batch * M * N, rtol_of(dtype));
    free(a);
    free(b);
    free(c);
    free(bound);
}

static void batched_matmul_multiplies_matching_batches(void **state)
{
    (void)state;
    check_batched(RB_F64, RB_SHAPE(3, 4, 5), RB_SHAPE(3, 5, 2), RB_SHAPE(3, 4, 2));
    check_batched(RB_F32, RB_SHAPE(2, 3, 4, 5), RB_SHAPE(2, 3, 5, 6), RB_SHAPE(2, 3, 4, 6));
}

static void batched_matmul_broadcasts_batch_axes(void **state)
{
    (void)state;
    check_batched(RB_F64, RB_SHAPE(2, 1, 3, 4), RB_SHAPE(5, 4, 2), RB_SHAPE(2, 5, 3, 2));
    check_batched(RB_F32, RB_SHAPE(3, 4), RB_SHAPE(2, 4, 5), RB_SHAPE(2, 3, 5));
    check_batched(RB_F64, RB_SHAPE(2, 3, 4), RB_SHAPE(4, 5), RB_SHAPE(2, 3, 5));
    check_batched(RB_F32, RB_SHAPE(1, 3, 4), RB_SHAPE(3, 1, 4, 2), RB_SHAPE(3, 1, 3, 2));
}

/* a and b given as views (transposed, or stepped in both axes) against the loop and against
 * the product of their contiguous copies. */
static void check_views(rb_dtype dtype, rb_tensor *a, rb_tensor *b)
{
    double *va = values_of(a), *vb = values_of(b);
    int64_t M = rb_tensor_dim(a, 0), K = rb_tensor_dim(a, 1), N = rb_tensor_dim(b, 1);
    double *c = new_doubles(M * N), *bound = new_doubles(M * N);
    ref_matmul(va, 0, vb, 0, 1, M, K, N, c, bound);
    CHECK_PRODUCT(rb_matmul(a, b), c, bound, M * N, rtol_of(dtype));
    rb_tensor *copy = rb_matmul(rb_tensor_copy(a), rb_tensor_copy(b));
    CHECK_PRODUCT(copy, c, bound, M * N, rtol_of(dtype));
    free(va);
    free(vb);
    free(c);
    free(bound);
}

static void matmul_of_transposed_views_equals_that_of_contiguous_copies(void **state)
{
    (void)state;
    rb_dtype dtypes[2] = {RB_F32, RB_F64};
    for (int k = 0; k < 2; k++) {
        double v1[17 * 33], v2[33 * 9];
        fill_uniform(v1, 17 * 33, -1, 1, 500);
        fill_uniform(v2, 33 * 9, -1, 1, 501);
        rb_tensor *at = rb_transpose(tensor_of(dtypes[k], RB_SHAPE(33, 17), v1), 0, 1);
        rb_tensor *bt = rb_transpose(tensor_of(dtypes[k], RB_SHAPE(9, 33), v2), 0, 1);
        rb_tensor *a = tensor_of(dtypes[k], RB_SHAPE(17, 33), v1);
        rb_tensor *b = tensor_of(dtypes[k], RB_SHAPE(33, 9), v2);
        assert_false(rb_tensor_is_contiguous(at));
        check_views(dtypes[k], at, b);  /* A^T B */
        check_views(dtypes[k], a, bt);  /* A B^T */
        check_views(dtypes[k], at, bt); /* A^T B^T */
    }
}

static void matmul_of_stepped_slices_equals_that_of_contiguous_copies(void **state)
{
    (void)state;
    double v[12 * 10];
    fill_uniform(v, 120, -1, 1, 502);
    rb_tensor *x = tensor_of(RB_F64, RB_SHAPE(12, 10), v);
    /* a: rows 0, 2, .., 10 and columns 1, 3, .., 9 -> (6, 5); no unit stride anywhere */
    rb_tensor *a = rb_slice(x, (int64_t[]){0, 1}, (int64_t[]){12, 10}, (int64_t[]){2, 2});
    /* b: rows 1, 3, .., 9 and columns 0, 3, 6 -> (5, 3) */
    rb_tensor *b = rb_slice(x, (int64_t[]){1, 0}, (int64_t[]){11, 9}, (int64_t[]){2, 3});
    CHECK_SHAPE(a, 6, 5);
    CHECK_SHAPE(b, 5, 3);
    check_views(RB_F64, a, b);
}

static void batched_matmul_of_transposed_views_matches_the_loop(void **state)
{
    (void)state;
    double v[2 * 5 * 4], w[2 * 5 * 3], c[2 * 4 * 3], bound[2 * 4 * 3];
    fill_uniform(v, 40, -1, 1, 503);
    fill_uniform(w, 30, -1, 1, 504);
    rb_tensor *x = tensor_of(RB_F32, RB_SHAPE(2, 5, 4), v);
    rb_tensor *y = tensor_of(RB_F32, RB_SHAPE(2, 5, 3), w);
    rb_tensor *xt = rb_transpose(x, -2, -1); /* (2, 4, 5) */
    double *vt = values_of(xt);
    ref_matmul(vt, 20, w, 15, 2, 4, 5, 3, c, bound);
    free(vt);
    CHECK_PRODUCT(rb_matmul(xt, y), c, bound, 24, 1e-6);
}

static void matmul_with_a_vector_drops_its_axis(void **state)
{
    (void)state;
    rb_tensor *m = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    rb_tensor *v3 = T64(RB_SHAPE(3), 1, 0, -1);
    rb_tensor *v2 = T64(RB_SHAPE(2), 2, -1);
    rb_tensor *mv = rb_matmul(m, v3); /* (2, 3) @ (3) -> (2) */
    CHECK_SHAPE(mv, 2);
    CHECK_TENSOR(mv, 0, -2, -2);
    rb_tensor *vm = rb_matmul(v2, m); /* (2) @ (2, 3) -> (3) */
    CHECK_SHAPE(vm, 3);
    CHECK_TENSOR(vm, 0, -2, -1, 0);
    rb_tensor *bm = rb_reshape(rb_tensor_arange(RB_F64, 0, 12, 1), RB_SHAPE(2, 2, 3));
    CHECK_SHAPE(rb_matmul(bm, v3), 2, 2); /* (2, 2, 3) @ (3) */
    CHECK_TENSOR(rb_matmul(bm, v3), 0, -2, -2, -2, -2);
    CHECK_SHAPE(rb_matmul(v2, bm), 2, 3); /* (2) @ (2, 2, 3) */
    CHECK_TENSOR(rb_matmul(v2, bm), 0, -3, -2, -1, 3, 4, 5);
}

static void matmul_of_two_vectors_is_a_0d_dot_product(void **state)
{
    (void)state;
    rb_tensor *d = rb_matmul(T64(RB_SHAPE(3), 1, 2, 3), T64(RB_SHAPE(3), 4, -5, 6));
    assert_int_equal(rb_tensor_ndim(d), 0);
    CHECK_TENSOR(d, 0, 12);
    rb_tensor *d32 = rb_matmul(T32(RB_SHAPE(2), 0.5f, 2), T32(RB_SHAPE(2), 4, 0.25f));
    assert_int_equal(rb_tensor_dtype(d32), RB_F32);
    assert_int_equal(rb_tensor_ndim(d32), 0);
    CHECK_TENSOR(d32, 0, 2.5);
}

static void matmul_over_an_empty_inner_axis_gives_zeros(void **state)
{
    (void)state;
    rb_tensor *y =
        rb_matmul(rb_tensor_zeros(RB_F64, RB_SHAPE(2, 0)), rb_tensor_zeros(RB_F64, RB_SHAPE(0, 3)));
    CHECK_SHAPE(y, 2, 3);
    CHECK_TENSOR(y, 0, 0, 0, 0, 0, 0, 0);
    CHECK_SHAPE(
        rb_matmul(rb_tensor_zeros(RB_F32, RB_SHAPE(0, 4)), rb_tensor_zeros(RB_F32, RB_SHAPE(4, 3))),
        0, 3);
}

/* ---- linear ---- */

static void linear_adds_the_bias_to_the_product(void **state)
{
    (void)state;
    rb_dtype dtypes[2] = {RB_F32, RB_F64};
    for (int k = 0; k < 2; k++) {
        enum { B = 5, I = 7, O = 3 };
        double x[B * I], w[I * O], bias[O], c[B * O], bound[B * O];
        fill_uniform(x, B * I, -1, 1, 600);
        fill_uniform(w, I * O, -1, 1, 601);
        fill_uniform(bias, O, -1, 1, 602);
        rb_tensor *tx = tensor_of(dtypes[k], RB_SHAPE(B, I), x);
        rb_tensor *tw = tensor_of(dtypes[k], RB_SHAPE(I, O), w);
        rb_tensor *tb = tensor_of(dtypes[k], RB_SHAPE(O), bias);
        ref_matmul(x, 0, w, 0, 1, B, I, O, c, bound);
        for (int i = 0; i < B * O; i++) {
            c[i] += bias[i % O];
            bound[i] += fabs(bias[i % O]);
        }
        rb_tensor *y = rb_linear(tx, tw, tb);
        CHECK_SHAPE(y, B, O);
        assert_int_equal(rb_tensor_dtype(y), dtypes[k]);
        CHECK_PRODUCT(y, c, bound, B * O, rtol_of(dtypes[k]));
    }
}

static void linear_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 2), 1, 2, 3, 4);
    rb_tensor *w = T64(RB_SHAPE(2, 3), 1, 0, -1, 0, 1, 1);
    CHECK_TENSOR(rb_linear(x, w, T64(RB_SHAPE(3), 10, 20, 30)), 0, 11, 22, 31, 13, 24, 31);
    CHECK_TENSOR(rb_linear(x, w, NULL), 0, 1, 2, 1, 3, 4, 1);
}

static void linear_without_bias_equals_matmul(void **state)
{
    (void)state;
    double x[12], w[8];
    fill_uniform(x, 12, -1, 1, 603);
    fill_uniform(w, 8, -1, 1, 604);
    rb_tensor *tx = tensor_of(RB_F32, RB_SHAPE(3, 4), x);
    rb_tensor *tw = tensor_of(RB_F32, RB_SHAPE(4, 2), w);
    CHECK_SAME_BITS(rb_linear(tx, tw, NULL), rb_matmul(tx, tw));
}

static void linear_applies_to_the_last_axis_of_a_3d_input(void **state)
{
    (void)state;
    enum { A = 2, B = 3, I = 4, O = 5 };
    double x[A * B * I], w[I * O], bias[O], c[A * B * O], bound[A * B * O];
    fill_uniform(x, A * B * I, -1, 1, 605);
    fill_uniform(w, I * O, -1, 1, 606);
    fill_uniform(bias, O, -1, 1, 607);
    rb_tensor *tx = tensor_of(RB_F64, RB_SHAPE(A, B, I), x);
    rb_tensor *tw = tensor_of(RB_F64, RB_SHAPE(I, O), w);
    ref_matmul(x, 0, w, 0, 1, A * B, I, O, c, bound);
    for (int i = 0; i < A * B * O; i++) {
        c[i] += bias[i % O];
        bound[i] += fabs(bias[i % O]);
    }
    rb_tensor *y = rb_linear(tx, tw, tensor_of(RB_F64, RB_SHAPE(O), bias));
    CHECK_SHAPE(y, A, B, O);
    CHECK_PRODUCT(y, c, bound, A * B * O, 1e-12);
}

static void linear_accepts_a_transposed_weight(void **state)
{
    (void)state;
    double x[6], w[6], c[9], bound[9];
    fill_uniform(x, 6, -1, 1, 608);
    fill_uniform(w, 6, -1, 1, 609);
    rb_tensor *wt = rb_transpose(tensor_of(RB_F32, RB_SHAPE(3, 2), w), 0, 1); /* (2, 3) */
    double *vw = values_of(wt);
    ref_matmul(x, 0, vw, 0, 1, 3, 2, 3, c, bound);
    free(vw);
    for (int i = 0; i < 9; i++)
        c[i] += 1; /* bias of ones */
    for (int i = 0; i < 9; i++)
        bound[i] += 1;
    rb_tensor *y =
        rb_linear(tensor_of(RB_F32, RB_SHAPE(3, 2), x), wt, rb_tensor_ones(RB_F32, RB_SHAPE(3)));
    CHECK_PRODUCT(y, c, bound, 9, 1e-6);
}

/* ---- errors ---- */

static void matmul_refuses_an_inner_dimension_mismatch_naming_both_shapes(void **state)
{
    (void)state;
    rb_tensor *a = rb_tensor_zeros(RB_F32, RB_SHAPE(32, 784));
    rb_tensor *b = rb_tensor_zeros(RB_F32, RB_SHAPE(100, 10));
    CHECK_FAILS(rb_matmul(a, b), RB_ERR_SHAPE, "[32,784]");
    CHECK_FAILS(rb_matmul(a, b), RB_ERR_SHAPE, "[100,10]");
    CHECK_FAILS(rb_matmul(a, b), RB_ERR_SHAPE, "inner dimensions differ");
    CHECK_FAILS(rb_matmul(a, rb_tensor_zeros(RB_F32, RB_SHAPE(10))), RB_ERR_SHAPE,
                "inner dimensions");
    CHECK_FAILS(rb_linear(a, b, NULL), RB_ERR_SHAPE, "[32,784]");
}

static void matmul_refuses_mismatched_dtypes_and_batch_axes(void **state)
{
    (void)state;
    rb_tensor *a = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_matmul(a, rb_tensor_zeros(RB_F64, RB_SHAPE(3, 2))), RB_ERR_DTYPE,
                "dtypes differ");
    CHECK_FAILS(rb_matmul(rb_cast(a, RB_I64), rb_cast(a, RB_I64)), RB_ERR_DTYPE, "int64");
    CHECK_FAILS(rb_matmul(rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3, 4)),
                          rb_tensor_zeros(RB_F32, RB_SHAPE(3, 4, 5))),
                RB_ERR_SHAPE, "batch axes");
    CHECK_FAILS(rb_matmul(rb_tensor_scalar(RB_F32, 1), a), RB_ERR_SHAPE, "at least one axis");
}

static void linear_refuses_a_bias_or_weight_that_does_not_fit(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 4));
    rb_tensor *w = rb_tensor_zeros(RB_F32, RB_SHAPE(4, 5));
    CHECK_FAILS(rb_linear(x, w, rb_tensor_zeros(RB_F32, RB_SHAPE(6))), RB_ERR_SHAPE, "do not fit");
    CHECK_FAILS(
        rb_linear(x, rb_tensor_zeros(RB_F32, RB_SHAPE(3, 5)), rb_tensor_zeros(RB_F32, RB_SHAPE(5))),
        RB_ERR_SHAPE, "[3,5]");
    CHECK_FAILS(rb_linear(x, w, rb_tensor_zeros(RB_F32, RB_SHAPE(1, 5))), RB_ERR_SHAPE,
                "bias (out)");
    CHECK_FAILS(rb_linear(x, w, rb_tensor_zeros(RB_F64, RB_SHAPE(5))), RB_ERR_DTYPE,
                "dtypes differ");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(matmul_2d_matches_a_triple_loop_in_float64),
        TEST(matmul_2d_matches_a_triple_loop_in_float32),
        TEST(matmul_of_two_by_two_matrices_worked_by_hand),
        TEST(batched_matmul_multiplies_matching_batches),
        TEST(batched_matmul_broadcasts_batch_axes),
        TEST(matmul_of_transposed_views_equals_that_of_contiguous_copies),
        TEST(matmul_of_stepped_slices_equals_that_of_contiguous_copies),
        TEST(batched_matmul_of_transposed_views_matches_the_loop),
        TEST(matmul_with_a_vector_drops_its_axis),
        TEST(matmul_of_two_vectors_is_a_0d_dot_product),
        TEST(matmul_over_an_empty_inner_axis_gives_zeros),
        TEST(linear_adds_the_bias_to_the_product),
        TEST(linear_worked_by_hand),
        TEST(linear_without_bias_equals_matmul),
        TEST(linear_applies_to_the_last_axis_of_a_3d_input),
        TEST(linear_accepts_a_transposed_weight),
        TEST(matmul_refuses_an_inner_dimension_mismatch_naming_both_shapes),
        TEST(matmul_refuses_mismatched_dtypes_and_batch_axes),
        TEST(linear_refuses_a_bias_or_weight_that_does_not_fit),
    };
    return RUN_TESTS(tests, argc, argv);
}
