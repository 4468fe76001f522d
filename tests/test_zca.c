/* ZCA whitening: fitted on data of known covariance, the whitened training rows have the
 * identity as covariance and fresh rows of the same law nearly so; small tables worked out by
 * hand fix the mean, the matrix, the eigenvalues and epsilon's effect; shapes, the inverse, the
 * tape, the in-place form and the refusals. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- helpers ---- */

/* n rows of a Gaussian law with mean mu and covariance Q diag(lambda) Q^T, Q the rotation of
 * the plane (0, 1) by 30 degrees then of the plane (2, 3) by 60 degrees (d = 4). */
static const double law_mu[4] = {1, -2, 0.5, 3};
static const double law_lambda[4] = {9, 4, 1, 0.25};

static void law_rotation(double q[4][4])
{
    double a = M_PI / 6, b = M_PI / 3;
    double r[4][4] = {{cos(a), -sin(a), 0, 0},
                      {sin(a), cos(a), 0, 0},
                      {0, 0, cos(b), -sin(b)},
                      {0, 0, sin(b), cos(b)}};
    memcpy(q, r, sizeof r);
}

static rb_tensor *law_sample(rb_dtype dtype, int64_t n, uint64_t seed)
{
    double q[4][4];
    law_rotation(q);
    rb_rng rng = rb_rng_make(seed);
    rb_tensor *x = rb_tensor_empty(dtype, RB_SHAPE(n, 4));
    for (int64_t i = 0; i < n; i++) {
        double z[4];
        for (int k = 0; k < 4; k++)
            z[k] = sqrt(law_lambda[k]) * rb_rng_normal(&rng);
        for (int j = 0; j < 4; j++) {
            double v = law_mu[j];
            for (int k = 0; k < 4; k++)
                v += q[j][k] * z[k];
            rb_tensor_set_flat(x, i * 4 + j, v);
        }
    }
    return x;
}

/* Largest |cov(y) - I| over the entries of y's (N, D) covariance (divided by N - 1). */
static double distance_to_identity(rb_tensor *y)
{
    int64_t n = rb_tensor_dim(y, 0), d = rb_tensor_size(y) / n;
    rb_tensor *m = rb_reshape(rb_cast(y, RB_F64), RB_SHAPE(n, d));
    rb_tensor *c = rb_sub(m, rb_mean(m, 1, (const int[]){0}, true));
    rb_tensor *cov = rb_mul_scalar(rb_matmul(rb_transpose(c, 0, 1), c), 1.0 / (double)(n - 1));
    double worst = 0;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++)
            worst = fmax(worst, fabs(rb_tensor_get_flat(cov, i * d + j) - (i == j)));
    return worst;
}

/* ---- on data of known covariance ---- */

static void whitened_training_rows_have_the_identity_as_covariance(void **state)
{
    (void)state;
    rb_tensor *x = law_sample(RB_F64, 5000, 1);
    rb_zca *z = rb_zca_fit(x, 0);
    CHECK_OK(z);
    CHECK_CLOSE(distance_to_identity(rb_zca_transform(z, x)), 0, 1e-10);
    rb_zca_free(z);
}

static void float32_training_rows_are_whitened_within_float_precision(void **state)
{
    (void)state;
    rb_tensor *x = law_sample(RB_F32, 5000, 2);
    rb_zca *z = rb_zca_fit(x, 0);
    CHECK_OK(z);
    CHECK_CLOSE(distance_to_identity(rb_zca_transform(z, x)), 0, 1e-4);
    rb_zca_free(z);
}

static void fitted_mean_and_eigenvalues_match_the_law(void **state)
{
    (void)state;
    /* 200,000 rows: the sample's mean and eigenvalues are within a few standard errors
     * (sqrt(lambda / n) and lambda sqrt(2 / n), under 1% here) of the law's. */
    rb_tensor *x = law_sample(RB_F64, 200000, 3);
    rb_zca *z = rb_zca_fit(x, 0);
    CHECK_OK(z);
    for (int j = 0; j < 4; j++)
        CHECK_CLOSE(rb_tensor_get_flat(rb_zca_mean(z), j), law_mu[j], 0.03);
    for (int k = 0; k < 4; k++)
        CHECK_CLOSE(rb_tensor_get_flat(rb_zca_eigenvalues(z), k) / law_lambda[k], 1, 0.03);
    rb_zca_free(z);
}

static void fresh_rows_of_the_same_law_are_nearly_white(void **state)
{
    (void)state;
    rb_zca *z = rb_zca_fit(law_sample(RB_F64, 100000, 4), 0);
    CHECK_OK(z);
    /* Another sample of 100,000 rows: its whitened covariance is I up to sampling error
     * (about sqrt(2 / n) = 0.0045 per entry). */
    CHECK_CLOSE(distance_to_identity(rb_zca_transform(z, law_sample(RB_F64, 100000, 5))), 0, 0.03);
    rb_zca_free(z);
}

static void the_whitening_matrix_is_the_laws_inverse_square_root(void **state)
{
    (void)state;
    /* W = Q diag(lambda^-1/2) Q^T, so W Sigma W = I with the law's Sigma, up to sampling. */
    rb_zca *z = rb_zca_fit(law_sample(RB_F64, 200000, 6), 0);
    CHECK_OK(z);
    double q[4][4];
    law_rotation(q);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double expected = 0;
            for (int k = 0; k < 4; k++)
                expected += q[i][k] * q[j][k] / sqrt(law_lambda[k]);
            CHECK_CLOSE(rb_tensor_get_flat(rb_zca_matrix(z), i * 4 + j), expected, 0.02);
        }
    rb_zca_free(z);
}

/* ---- worked by hand ---- */

/* Rows (1, 0), (-1, 0), (0, 2), (0, -2): mean 0, variances 2/3 and 8/3 (N - 1 = 3), no
 * covariance, so W = diag(sqrt(3/2), sqrt(3/8)). */
static rb_tensor *cross(void) { return T64(RB_SHAPE(4, 2), 1, 0, -1, 0, 0, 2, 0, -2); }

static void uncorrelated_features_are_divided_by_their_standard_deviation(void **state)
{
    (void)state;
    rb_zca *z = rb_zca_fit(cross(), 0);
    CHECK_OK(z);
    CHECK_TENSOR((rb_tensor *)rb_zca_mean(z), 1e-12, 0, 0);
    CHECK_TENSOR((rb_tensor *)rb_zca_eigenvalues(z), 1e-12, 8.0 / 3, 2.0 / 3);
    CHECK_TENSOR((rb_tensor *)rb_zca_matrix(z), 1e-12, sqrt(1.5), 0, 0, sqrt(3.0 / 8));
    CHECK_TENSOR(rb_zca_transform(z, T64(RB_SHAPE(1, 2), 1, 2)), 1e-12, sqrt(1.5),
                 2 * sqrt(3.0 / 8));
    rb_zca_free(z);
}

static void epsilon_shrinks_each_direction_by_lambda_over_lambda_plus_epsilon(void **state)
{
    (void)state;
    double eps = 0.5;
    rb_zca *z = rb_zca_fit(cross(), eps);
    CHECK_OK(z);
    CHECK_CLOSE(rb_zca_epsilon(z), eps, 0);
    /* Whitened variances: lambda / (lambda + epsilon) for each direction. */
    rb_tensor *y = rb_zca_transform(z, cross());
    double v0 = 0, v1 = 0;
    for (int i = 0; i < 4; i++) {
        v0 += pow(rb_tensor_get_flat(y, 2 * i), 2) / 3;
        v1 += pow(rb_tensor_get_flat(y, 2 * i + 1), 2) / 3;
    }
    CHECK_CLOSE(v0, (2.0 / 3) / (2.0 / 3 + eps), 1e-12);
    CHECK_CLOSE(v1, (8.0 / 3) / (8.0 / 3 + eps), 1e-12);
    /* The eigenvalues are reported before epsilon. */
    CHECK_TENSOR((rb_tensor *)rb_zca_eigenvalues(z), 1e-12, 8.0 / 3, 2.0 / 3);
    rb_zca_free(z);
}

static void a_constant_offset_is_removed_by_the_mean(void **state)
{
    (void)state;
    rb_tensor *x = rb_add_scalar(cross(), 10);
    rb_zca *z = rb_zca_fit(x, 0);
    CHECK_OK(z);
    CHECK_TENSOR((rb_tensor *)rb_zca_mean(z), 1e-12, 10, 10);
    CHECK_TENSOR(rb_zca_transform(z, T64(RB_SHAPE(1, 2), 10, 10)), 1e-12, 0, 0);
    rb_zca_free(z);
}

/* ---- shapes, inverse, tape, in place ---- */

/* n images (n, 2, 2, 3) with correlated pixels: a random image plus a shared random level. */
static rb_tensor *images(rb_dtype dtype, int64_t n, uint64_t seed)
{
    rb_rng rng = rb_rng_make(seed);
    rb_tensor *x = rb_tensor_empty(dtype, RB_SHAPE(n, 2, 2, 3));
    for (int64_t i = 0; i < n; i++) {
        double level = rb_rng_normal(&rng);
        for (int k = 0; k < 12; k++)
            rb_tensor_set_flat(x, i * 12 + k, 0.5 + 0.2 * level + 0.1 * rb_rng_normal(&rng));
    }
    return x;
}

static void images_keep_their_shape_and_whiten_over_all_pixels(void **state)
{
    (void)state;
    rb_tensor *x = images(RB_F32, 400, 7);
    rb_zca *z = rb_zca_fit(x, 0);
    CHECK_OK(z);
    CHECK_SHAPE((rb_tensor *)rb_zca_mean(z), 12);
    CHECK_SHAPE((rb_tensor *)rb_zca_matrix(z), 12, 12);
    CHECK_SHAPE((rb_tensor *)rb_zca_eigenvalues(z), 12);
    rb_tensor *y = rb_zca_transform(z, x);
    CHECK_SHAPE(y, 400, 2, 2, 3);
    assert_int_equal(rb_tensor_dtype(y), RB_F32);
    CHECK_CLOSE(distance_to_identity(y), 0, 1e-3);
    rb_zca_free(z);
}

static void inverse_undoes_the_transform(void **state)
{
    (void)state;
    rb_tensor *x = images(RB_F64, 100, 8);
    rb_zca *z = rb_zca_fit(x, 1e-3);
    CHECK_OK(z);
    rb_tensor *back = rb_zca_inverse(z, rb_zca_transform(z, x));
    CHECK_SHAPE(back, 100, 2, 2, 3);
    CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(back, x)), RB_ALL_AXES, false)), 0, 1e-10);
    rb_zca_free(z);
}

static void eigenvalues_come_largest_first(void **state)
{
    (void)state;
    rb_zca *z = rb_zca_fit(images(RB_F64, 300, 9), 0);
    CHECK_OK(z);
    const rb_tensor *l = rb_zca_eigenvalues(z);
    for (int k = 1; k < 12; k++)
        assert_true(rb_tensor_get_flat(l, k) <= rb_tensor_get_flat(l, k - 1));
    /* The shared level makes one direction (all pixels together) dominate. */
    assert_true(rb_tensor_get_flat(l, 0) > 10 * rb_tensor_get_flat(l, 1));
    rb_zca_free(z);
}

static void transform_in_place_equals_the_op_across_blocks(void **state)
{
    (void)state;
    /* 5,000 rows: three blocks of rows in place. */
    rb_tensor *x = images(RB_F32, 5000, 10);
    rb_zca *z = rb_zca_fit(x, 1e-2);
    CHECK_OK(z);
    rb_tensor *expected = rb_zca_transform(z, x);
    CHECK_STATUS_OK(rb_zca_transform_inplace(z, x));
    CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(expected, x)), RB_ALL_AXES, false)), 0, 1e-6);
    rb_zca_free(z);
}

static void transform_in_place_writes_through_a_strided_view(void **state)
{
    (void)state;
    rb_tensor *x = images(RB_F64, 10, 11);
    rb_zca *z = rb_zca_fit(x, 1e-2);
    CHECK_OK(z);
    rb_tensor *before = rb_tensor_copy(x);
    rb_tensor *odd = rb_slice(x, (const int64_t[]){1, 0, 0, 0}, (const int64_t[]){10, 2, 2, 3},
                              (const int64_t[]){2, 1, 1, 1});
    rb_tensor *expected = rb_zca_transform(z, rb_contiguous(odd));
    CHECK_STATUS_OK(rb_zca_transform_inplace(z, odd));
    for (int64_t r = 0; r < 10; r++)
        for (int k = 0; k < 12; k++) {
            double got = rb_tensor_get_flat(x, r * 12 + k);
            double want = r % 2 ? rb_tensor_get_flat(expected, r / 2 * 12 + k)
                                : rb_tensor_get_flat(before, r * 12 + k);
            CHECK_CLOSE(got, want, 1e-12);
        }
    rb_zca_free(z);
}

static void the_transform_is_differentiable(void **state)
{
    (void)state;
    /* d sum((x - mean) W) / dx = the row sums of W, for every row. */
    rb_zca *z = rb_zca_fit(cross(), 0.1);
    CHECK_OK(z);
    rb_tensor *x = T64(RB_SHAPE(3, 2), 1, 2, 3, 4, 5, 6);
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x);
    rb_tensor *g = rb_tape_gradient1(tape, rb_sum(rb_zca_transform(z, x), RB_ALL_AXES, false), x);
    const rb_tensor *w = rb_zca_matrix(z);
    double r0 = rb_tensor_get_flat(w, 0) + rb_tensor_get_flat(w, 1);
    double r1 = rb_tensor_get_flat(w, 2) + rb_tensor_get_flat(w, 3);
    CHECK_TENSOR(g, 1e-12, r0, r1, r0, r1, r0, r1);
    rb_tape_end(tape);
    rb_zca_free(z);
}

/* ---- refusals ---- */

static void fit_refuses_what_has_no_covariance(void **state)
{
    (void)state;
    CHECK_FAILS(rb_zca_fit(NULL, 0), RB_ERR_ARGUMENT, "rb_zca_fit: x is NULL");
    CHECK_FAILS(rb_zca_fit(TI64(RB_SHAPE(2, 2), 1, 2, 3, 4), 0), RB_ERR_ARGUMENT,
                "rb_zca_fit: needs float rows");
    CHECK_FAILS(rb_zca_fit(T64(RB_SHAPE(3), 1, 2, 3), 0), RB_ERR_ARGUMENT, "[3]");
    CHECK_FAILS(rb_zca_fit(T64(RB_SHAPE(1, 2), 1, 2), 0), RB_ERR_ARGUMENT, "at least 2 rows");
    CHECK_FAILS(rb_zca_fit(cross(), -1), RB_ERR_ARGUMENT, "epsilon must be finite and >= 0");
    CHECK_FAILS(rb_zca_fit(cross(), NAN), RB_ERR_ARGUMENT, "epsilon");
    CHECK_FAILS(rb_zca_fit(T64(RB_SHAPE(2, 2), 1, NAN, 3, 4), 0), RB_ERR_NONFINITE,
                "feature 1 holds a non-finite value");
    CHECK_FAILS(rb_zca_fit(rb_tensor_zeros(RB_F32, RB_SHAPE(2, RB_ZCA_MAX_FEATURES + 1)), 0),
                RB_ERR_ARGUMENT, "32001 features per row");
}

static void a_singular_covariance_needs_epsilon(void **state)
{
    (void)state;
    /* The second feature is twice the first: one direction has no variance. */
    rb_tensor *x = T64(RB_SHAPE(3, 2), 1, 2, 2, 4, 4, 8);
    CHECK_FAILS(rb_zca_fit(x, 0), RB_ERR_ARGUMENT, "covariance is singular");
    rb_zca *z = rb_zca_fit(x, 1e-3);
    CHECK_OK(z);
    CHECK_CLOSE(rb_tensor_get_flat(rb_zca_eigenvalues(z), 1), 0, 1e-12);
    rb_zca_free(z);
}

static void transforms_refuse_other_rows_and_dtypes(void **state)
{
    (void)state;
    rb_zca *z = rb_zca_fit(images(RB_F32, 50, 12), 0.1);
    CHECK_OK(z);
    CHECK_FAILS(rb_zca_transform(z, images(RB_F64, 5, 1)), RB_ERR_DTYPE,
                "rb_zca_transform: fitted on float32, given float64");
    CHECK_FAILS(rb_zca_transform(z, rb_tensor_zeros(RB_F32, RB_SHAPE(5, 3, 2, 2))), RB_ERR_SHAPE,
                "rb_zca_transform: fitted on rows of [2,2,3], given [5,3,2,2]");
    CHECK_FAILS(rb_zca_inverse(z, rb_tensor_zeros(RB_F32, RB_SHAPE(5, 12))), RB_ERR_SHAPE,
                "rb_zca_inverse: fitted on rows of [2,2,3]");
    CHECK_FAILS(rb_zca_transform_inplace(z, NULL), RB_ERR_ARGUMENT,
                "rb_zca_transform_inplace: NULL argument");
    CHECK_FAILS(rb_zca_transform(NULL, images(RB_F32, 5, 1)), RB_ERR_ARGUMENT, "NULL argument");
    rb_zca_free(z);
    rb_zca_free(NULL);
}

/* ---- size ---- */

static void a_3072_feature_covariance_takes_seconds(void **state)
{
    (void)state;
    /* CIFAR-10's row size: 1,000 rows of 32 x 32 x 3 correlated values (a per-row level times
     * a fixed pattern, plus noise), float32 as images are loaded. LAPACK's divide and conquer
     * does the eigendecomposition; a hand-written Jacobi solver would take many minutes. */
    int64_t n = 1000, d = 3072;
    double eps = 1e-3;
    rb_rng rng = rb_rng_make(13);
    rb_tensor *x = rb_tensor_empty(RB_F32, RB_SHAPE(n, 32, 32, 3));
    float *v = rb_tensor_f32(x);
    for (int64_t i = 0; i < n; i++) {
        double level = rb_rng_normal(&rng);
        for (int64_t j = 0; j < d; j++)
            v[i * d + j] = (float)(0.5 + 0.2 * level * sin((double)j) + 0.05 * rb_rng_normal(&rng));
    }
    double start = rb_now();
    rb_zca *z = rb_zca_fit(x, eps);
    double seconds = rb_now() - start;
    CHECK_OK(z);
    /* Timed, not bounded: on a shared machine the time says little; the size is the test. */
    print_message("# rb_zca_fit on (1000, 32, 32, 3) float32: %.1f s on %d threads\n", seconds,
                  rb_num_threads());
    /* Whitened, the training rows' covariance has the eigenvalues lambda / (lambda + eps), so
     * the mean square of their values is the mean of those over the directions, times
     * (n - 1) / n. With fewer rows than features most eigenvalues are 0 (rank n - 1). */
    double expected = 0;
    for (int64_t k = 0; k < d; k++) {
        double lambda = fmax(rb_tensor_get_flat(rb_zca_eigenvalues(z), k), 0);
        expected += lambda / (lambda + eps) / (double)d;
    }
    rb_tensor *y = rb_zca_transform(z, x);
    CHECK_SHAPE(y, 1000, 32, 32, 3);
    CHECK_CLOSE(rb_tensor_item(rb_mean(rb_square(y), RB_ALL_AXES, false)),
                expected * (double)(n - 1) / (double)n, 0.01);
    rb_zca_free(z);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(whitened_training_rows_have_the_identity_as_covariance),
        TEST(float32_training_rows_are_whitened_within_float_precision),
        TEST(fitted_mean_and_eigenvalues_match_the_law),
        TEST(fresh_rows_of_the_same_law_are_nearly_white),
        TEST(the_whitening_matrix_is_the_laws_inverse_square_root),
        TEST(uncorrelated_features_are_divided_by_their_standard_deviation),
        TEST(epsilon_shrinks_each_direction_by_lambda_over_lambda_plus_epsilon),
        TEST(a_constant_offset_is_removed_by_the_mean),
        TEST(images_keep_their_shape_and_whiten_over_all_pixels),
        TEST(inverse_undoes_the_transform),
        TEST(eigenvalues_come_largest_first),
        TEST(transform_in_place_equals_the_op_across_blocks),
        TEST(transform_in_place_writes_through_a_strided_view),
        TEST(the_transform_is_differentiable),
        TEST(fit_refuses_what_has_no_covariance),
        TEST(a_singular_covariance_needs_epsilon),
        TEST(transforms_refuse_other_rows_and_dtypes),
        TEST(a_3072_feature_covariance_takes_seconds),
    };
    return RUN_TESTS(tests, argc, argv);
}
