/* Closed-form least squares: centred normal equations (products through BLIS), Cholesky by
 * LAPACK, float64 throughout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "ruban.h"

/* Solve A z = r for symmetric positive definite A (f x f), t right-hand sides, in place with
 * LAPACK's Cholesky (dpotrf, dpotrs): A becomes its factor, r the solution. Returns the first
 * pivot that fails or -1: LAPACK stops at a pivot <= 0, and a pivot lost to rounding (below
 * 1e-12 of the largest diagonal entry) means dependent columns too. */
static int64_t cholesky_solve(double *a, double *r, int64_t f, int64_t t)
{
    double scale = 0;
    for (int64_t i = 0; i < f; i++)
        scale = fmax(scale, fabs(a[i * f + i]));
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)f, a, (lapack_int)f);
    if (info > 0) return info - 1;
    for (int64_t j = 0; j < f; j++)
        if (!(a[j * f + j] * a[j * f + j] > 1e-12 * scale)) return j;
    if (info < 0 || LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', (lapack_int)f, (lapack_int)t, a,
                                   (lapack_int)f, r, (lapack_int)t) != 0)
        return 0;
    return -1;
}

/* x float (N, F) and y float (N) or (N, T), N >= 2, ridge >= 0; T in *targets. */
static rb_status check_arguments(const rb_tensor *x, const rb_tensor *y, double ridge,
                                 int64_t *targets)
{
    if (rb_tensor_ndim(x) != 2 || (rb_tensor_dtype(x) != RB_F32 && rb_tensor_dtype(x) != RB_F64))
        return rb_error(RB_ERR_SHAPE, "rb_linear_regression: x must be float (N, F), got %s",
                        rb_tensor_shape_text(x));
    int64_t n = rb_tensor_dim(x, 0), f = rb_tensor_dim(x, 1);
    *targets = rb_tensor_ndim(y) == 2 ? rb_tensor_dim(y, 1) : 1;
    if ((rb_tensor_ndim(y) != 1 && rb_tensor_ndim(y) != 2) || rb_tensor_dim(y, 0) != n ||
        rb_tensor_dtype(y) == RB_I64)
        return rb_error(RB_ERR_SHAPE,
                        "rb_linear_regression: y must be float (N) or (N, T) with N = %lld, got %s",
                        (long long)n, rb_tensor_shape_text(y));
    if (n < 2 || !(ridge >= 0))
        return rb_error(RB_ERR_ARGUMENT,
                        "rb_linear_regression: %lld rows, ridge %g (needs 2 rows, ridge >= 0)",
                        (long long)n, ridge);
    /* F x F and F x T matrices: a wide x would overflow their sizes. */
    if (rb_shape_count(RB_ERR_SHAPE, "rb_linear_regression", RB_SHAPE(f + 1, f + *targets),
                       sizeof(double)) < 0)
        return rb_last_status();
    return RB_OK;
}

/* The normal equations of the centred problem, in float64: A = Xc^T Xc + ridge I (F x F) and
 * R = Xc^T Yc (F x T), both products through BLIS; the column means of x and y in mx, my. */
static rb_status normal_equations(const rb_tensor *x, const rb_tensor *y, int64_t t, double ridge,
                                  double *a, double *r, double *mx, double *my)
{
    int64_t n = rb_tensor_dim(x, 0), f = rb_tensor_dim(x, 1);
    rb_scope *scope = rb_scope_begin();
    rb_tensor *x64 = rb_cast((rb_tensor *)x, RB_F64),
              *y64 = rb_reshape(rb_cast((rb_tensor *)y, RB_F64), RB_SHAPE(n, t));
    rb_tensor *xm = rb_mean(x64, RB_AXES(0), true), *ym = rb_mean(y64, RB_AXES(0), true);
    rb_tensor *xc = rb_sub(x64, xm), *yc = rb_sub(y64, ym);
    rb_tensor *gram = rb_matmul(rb_transpose(xc, 0, 1), xc);
    rb_tensor *rhs = rb_matmul(rb_transpose(xc, 0, 1), yc);
    rb_status st = gram && rhs ? RB_OK : rb_last_status();
    if (st == RB_OK) {
        rb_tensor_to_doubles(gram, a, f * f);
        rb_tensor_to_doubles(rhs, r, f * t);
        rb_tensor_to_doubles(xm, mx, f);
        rb_tensor_to_doubles(ym, my, t);
        for (int64_t j = 0; j < f; j++)
            a[j * f + j] += ridge;
    }
    rb_scope_end(scope);
    return st;
}

/* The model in x's dtype: weights (F, T) from the solution, bias (T) = my - mx . w. */
static rb_status make_model(const rb_tensor *x, int64_t f, int64_t t, const double *w,
                            const double *mx, const double *my, rb_tensor **weights,
                            rb_tensor **bias)
{
    *weights = rb_tensor_empty_persistent(rb_tensor_dtype(x), 2, (int64_t[]){f, t});
    *bias = rb_tensor_empty_persistent(rb_tensor_dtype(x), 1, &t);
    if (!*weights || !*bias) return rb_last_status();
    for (int64_t c = 0; c < t; c++) {
        double b = my[c];
        for (int64_t j = 0; j < f; j++) {
            rb_tensor_set_flat(*weights, j * t + c, w[j * t + c]);
            b -= mx[j] * w[j * t + c];
        }
        rb_tensor_set_flat(*bias, c, b);
    }
    return RB_OK;
}

rb_status rb_linear_regression(const rb_tensor *x, const rb_tensor *y, double ridge,
                               rb_tensor **weights, rb_tensor **bias)
{
    if (weights) *weights = NULL;
    if (bias) *bias = NULL;
    if (!x || !y || !weights || !bias)
        return rb_error(RB_ERR_ARGUMENT, "rb_linear_regression: NULL argument");
    int64_t t = 1;
    rb_status st = check_arguments(x, y, ridge, &t);
    if (st != RB_OK) return st;
    int64_t f = rb_tensor_dim(x, 1);
    double *a = malloc(sizeof(double) * (size_t)(f * f)),
           *r = malloc(sizeof(double) * (size_t)(f * t));
    double *mx = malloc(sizeof(double) * (size_t)f), *my = malloc(sizeof(double) * (size_t)t);
    if (!a || !r || !mx || !my)
        st = rb_error(RB_ERR_MEMORY, "rb_linear_regression: out of memory for %lld features",
                      (long long)f);
    if (st == RB_OK) st = normal_equations(x, y, t, ridge, a, r, mx, my);
    if (st == RB_OK) {
        int64_t bad = cholesky_solve(a, r, f, t);
        if (bad >= 0)
            st = rb_error(
                RB_ERR_ARGUMENT,
                "rb_linear_regression: feature %lld is constant or a linear combination of the ones before it; drop it or use ridge > 0",
                (long long)bad);
    }
    if (st == RB_OK) st = make_model(x, f, t, r, mx, my, weights, bias);
    if (st != RB_OK) {
        rb_tensor_free(*weights);
        rb_tensor_free(*bias);
        *weights = *bias = NULL;
    }
    free(a);
    free(r);
    free(mx);
    free(my);
    return st;
}
