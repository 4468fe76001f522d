/* Closed-form least squares: centred normal equations, Cholesky, float64 throughout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ruban.h"

/* Solve A z = r for symmetric positive definite A (f x f), t right-hand sides, in place:
 * A becomes its Cholesky factor, r the solution. Returns the first failing pivot or -1. */
static int64_t cholesky_solve(double *a, double *r, int64_t f, int64_t t)
{
    double scale = 0;
    for (int64_t i = 0; i < f; i++)
        scale = fmax(scale, fabs(a[i * f + i]));
    for (int64_t j = 0; j < f; j++) {
        double d = a[j * f + j];
        for (int64_t k = 0; k < j; k++)
            d -= a[j * f + k] * a[j * f + k];
        /* Relative threshold: a pivot lost to rounding means dependent columns. */
        if (!(d > 1e-12 * scale)) return j;
        d = sqrt(d);
        a[j * f + j] = d;
        for (int64_t i = j + 1; i < f; i++) {
            double s = a[i * f + j];
            for (int64_t k = 0; k < j; k++)
                s -= a[i * f + k] * a[j * f + k];
            a[i * f + j] = s / d;
        }
    }
    for (int64_t c = 0; c < t; c++) {
        for (int64_t i = 0; i < f; i++) { /* L z = r */
            double s = r[i * t + c];
            for (int64_t k = 0; k < i; k++)
                s -= a[i * f + k] * r[k * t + c];
            r[i * t + c] = s / a[i * f + i];
        }
        for (int64_t i = f - 1; i >= 0; i--) { /* L^T w = z */
            double s = r[i * t + c];
            for (int64_t k = i + 1; k < f; k++)
                s -= a[k * f + i] * r[k * t + c];
            r[i * t + c] = s / a[i * f + i];
        }
    }
    return -1;
}

rb_status rb_linear_regression(const rb_tensor *x, const rb_tensor *y, double ridge,
                               rb_tensor **weights, rb_tensor **bias)
{
    if (weights) *weights = NULL;
    if (bias) *bias = NULL;
    if (!x || !y || !weights || !bias)
        return rb_error(RB_ERR_ARGUMENT, "rb_linear_regression: NULL argument");
    if (rb_tensor_ndim(x) != 2 || (rb_tensor_dtype(x) != RB_F32 && rb_tensor_dtype(x) != RB_F64))
        return rb_error(RB_ERR_SHAPE, "rb_linear_regression: x must be float (N, F), got %s",
                        rb_tensor_shape_text(x));
    int64_t n = rb_tensor_shape(x)[0], f = rb_tensor_shape(x)[1], t = rb_tensor_ndim(y) == 2 ? rb_tensor_shape(y)[1] : 1;
    if ((rb_tensor_ndim(y) != 1 && rb_tensor_ndim(y) != 2) || rb_tensor_shape(y)[0] != n || rb_tensor_dtype(y) == RB_I64)
        return rb_error(RB_ERR_SHAPE,
                        "rb_linear_regression: y must be float (N) or (N, T) with "
                        "N = %lld, got %s",
                        (long long)n, rb_tensor_shape_text(y));
    if (n < 2 || !(ridge >= 0))
        return rb_error(RB_ERR_ARGUMENT,
                        "rb_linear_regression: %lld rows, ridge %g (needs 2 "
                        "rows, ridge >= 0)",
                        (long long)n, ridge);
    /* F x F and F x T matrices: a wide x would overflow their sizes. */
    if (rb_shape_count(RB_ERR_SHAPE, "rb_linear_regression", RB_SHAPE(f + 1, f + t),
                       sizeof(double)) < 0)
        return rb_last_status();
    double *mx = calloc((size_t)f, sizeof(double)), *my = calloc((size_t)t, sizeof(double));
    double *a = calloc((size_t)(f * f), sizeof(double)),
           *r = calloc((size_t)(f * t), sizeof(double));
    double *row = malloc(sizeof(double) * (size_t)(f + t));
    rb_status st = mx && my && a && r && row
                       ? RB_OK
                       : rb_error(RB_ERR_MEMORY, "rb_linear_regression: out of memory");
    for (int64_t i = 0; st == RB_OK && i < n; i++) {
        for (int64_t j = 0; j < f; j++)
            mx[j] += rb_tensor_get_flat(x, i * f + j);
        for (int64_t c = 0; c < t; c++)
            my[c] += rb_tensor_get_flat(y, i * t + c);
    }
    for (int64_t j = 0; st == RB_OK && j < f; j++)
        mx[j] /= (double)n;
    for (int64_t c = 0; st == RB_OK && c < t; c++)
        my[c] /= (double)n;
    /* Centred Gram matrix and right-hand side, accumulated row by row. */
    for (int64_t i = 0; st == RB_OK && i < n; i++) {
        for (int64_t j = 0; j < f; j++)
            row[j] = rb_tensor_get_flat(x, i * f + j) - mx[j];
        for (int64_t c = 0; c < t; c++)
            row[f + c] = rb_tensor_get_flat(y, i * t + c) - my[c];
        for (int64_t j = 0; j < f; j++) {
            for (int64_t k = 0; k <= j; k++)
                a[j * f + k] += row[j] * row[k];
            for (int64_t c = 0; c < t; c++)
                r[j * t + c] += row[j] * row[f + c];
        }
    }
    for (int64_t j = 0; st == RB_OK && j < f; j++) {
        a[j * f + j] += ridge;
        for (int64_t k = 0; k < j; k++)
            a[k * f + j] = a[j * f + k];
    }
    if (st == RB_OK) {
        int64_t bad = cholesky_solve(a, r, f, t);
        if (bad >= 0)
            st = rb_error(RB_ERR_ARGUMENT,
                          "rb_linear_regression: feature %lld is constant or a "
                          "linear combination of the ones before it; drop it or "
                          "use ridge > 0",
                          (long long)bad);
    }
    if (st == RB_OK) {
        *weights = rb_tensor_empty_persistent(rb_tensor_dtype(x), 2, (int64_t[]){f, t});
        *bias = rb_tensor_empty_persistent(rb_tensor_dtype(x), 1, &t);
        if (!*weights || !*bias) st = rb_last_status();
    }
    for (int64_t c = 0; st == RB_OK && c < t; c++) {
        double b = my[c];
        for (int64_t j = 0; j < f; j++) {
            rb_tensor_set_flat(*weights, j * t + c, r[j * t + c]);
            b -= mx[j] * r[j * t + c];
        }
        rb_tensor_set_flat(*bias, c, b);
    }
    if (st != RB_OK) {
        rb_tensor_free(*weights);
        rb_tensor_free(*bias);
        *weights = *bias = NULL;
    }
    free(mx);
    free(my);
    free(a);
    free(r);
    free(row);
    return st;
}
