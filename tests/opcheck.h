/* Helpers shared by the op value tests (test_ops_*.c): deterministic inputs that do not use
 * ruban's RNG, tensors built from double arrays, and comparisons of whole tensors against
 * expected arrays with a relative tolerance, or bit for bit. */
#ifndef RUBAN_TESTS_OPCHECK_H
#define RUBAN_TESTS_OPCHECK_H

#include <stdlib.h>

#include "testutil.h"

/* n values uniform in [lo, hi) from a 64-bit LCG, the same for the same seed. */
static inline void fill_uniform(double *v, int64_t n, double lo, double hi, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = lo + (hi - lo) * (double)(s >> 11) * 0x1.0p-53;
    }
}

/* x rounded to float32. Through a volatile: GCC 12 at -O3 was seen to drop a plain (float)
 * cast inside an SLP-vectorised loop nest, leaving unrounded doubles. */
static inline double f32(double x)
{
    volatile float f = (float)x;
    return f;
}

/* Tensor of `dtype` holding v[0..size). For float32 the values are rounded to float and v is
 * updated to the rounded values, so expectations computed from v use the tensor's inputs. */
static inline rb_tensor *tensor_of(rb_dtype dtype, int ndim, const int64_t *shape, double *v)
{
    rb_tensor *t = rb_tensor_empty(dtype, ndim, shape);
    if (!t) return NULL;
    int64_t n = rb_tensor_size(t);
    if (dtype == RB_F32) {
        float *p = rb_tensor_f32(t);
        for (int64_t i = 0; i < n; i++)
            v[i] = p[i] = (float)v[i];
    } else if (dtype == RB_F64) {
        memcpy(rb_tensor_f64(t), v, (size_t)n * sizeof(double));
    } else {
        int64_t *p = rb_tensor_i64(t);
        for (int64_t i = 0; i < n; i++)
            p[i] = (int64_t)v[i];
    }
    return t;
}

/* Values of t in row-major order as a malloc'ed array (the caller frees it). */
static inline double *values_of(rb_tensor *t)
{
    if (!t) return NULL;
    int64_t n = rb_tensor_size(t);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (v) rb_tensor_to_doubles(t, v, n);
    return v;
}

/* t holds n values, each within atol + rtol |expect[i]| of expect[i] (NaN matches NaN, and an
 * infinity only the same infinity). */
#define CHECK_VALUES(t, expect, n, rtol, atol)                                                     \
    check_values_((t), #t, (expect), (n), (rtol), (atol), __FILE__, __LINE__)

static inline void check_values_(rb_tensor *t, const char *expr, const double *expect, int64_t n,
                                 double rtol, double atol, const char *file, int line)
{
    if (!t) FAIL_AT(file, line, "%s is NULL: %s", expr, rb_last_error());
    if (rb_tensor_size(t) != n) {
        char s[96];
        FAIL_AT(file, line, "%s has %lld elements (shape %s), expected %lld", expr,
                (long long)rb_tensor_size(t), rb_tensor_shape_string(t, s, sizeof s), (long long)n);
    }
    double *got = values_of(t);
    if (!got) FAIL_AT(file, line, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], e = expect[i];
        bool ok =
            fabs(g - e) <= atol + rtol * fabs(e) || (isnan(g) && isnan(e)) || (isinf(e) && g == e);
        if (!ok) {
            free(got);
            FAIL_AT(file, line, "%s[%lld] = %.17g, expected %.17g (rtol %.3g, atol %.3g)", expr,
                    (long long)i, g, e, rtol, atol);
        }
    }
    free(got);
}

/* Literal form: CHECK_REL(t, rtol, v0, v1, ...) compares with a relative tolerance only. */
#define CHECK_REL(t, rtol, ...)                                                                    \
    check_values_((t), #t, (const double[]){__VA_ARGS__},                                          \
                  (int64_t)(sizeof((const double[]){__VA_ARGS__}) / sizeof(double)), (rtol), 0.0,  \
                  __FILE__, __LINE__)

/* a and b have the same shape and dtype and bit-identical values. */
#define CHECK_SAME_BITS(a, b) check_same_bits_((a), (b), #a, #b, __FILE__, __LINE__)

static inline void check_same_bits_(rb_tensor *a, rb_tensor *b, const char *ea, const char *eb,
                                    const char *file, int line)
{
    if (!a || !b) FAIL_AT(file, line, "%s or %s is NULL: %s", ea, eb, rb_last_error());
    char sa[96], sb[96];
    if (!rb_tensor_same_shape(a, b) || rb_tensor_dtype(a) != rb_tensor_dtype(b))
        FAIL_AT(file, line, "%s is %s%s, %s is %s%s", ea, rb_dtype_name(rb_tensor_dtype(a)),
                rb_tensor_shape_string(a, sa, sizeof sa), eb, rb_dtype_name(rb_tensor_dtype(b)),
                rb_tensor_shape_string(b, sb, sizeof sb));
    /* float -> double is exact, so equal doubles mean equal floats */
    double *va = values_of(a), *vb = values_of(b);
    int64_t n = rb_tensor_size(a), bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (memcmp(&va[i], &vb[i], sizeof(double)) != 0) bad = i;
    double x = bad >= 0 ? va[bad] : 0, y = bad >= 0 ? vb[bad] : 0;
    free(va);
    free(vb);
    if (bad >= 0)
        FAIL_AT(file, line, "%s[%lld] = %.17g but %s[%lld] = %.17g", ea, (long long)bad, x, eb,
                (long long)bad, y);
}

/* Flat row-major index into an input of shape (nd, shape) broadcast (NumPy rules) to the
 * output shape (ond, oshape), for the output element with flat index i. */
static inline int64_t bcast_index(int64_t i, int ond, const int64_t *oshape, int nd,
                                  const int64_t *shape)
{
    int64_t idx = 0, stride = 1;
    for (int d = ond - 1, k = nd - 1; d >= 0; d--, k--) {
        int64_t c = i % oshape[d];
        i /= oshape[d];
        if (k >= 0) {
            if (shape[k] != 1) idx += c * stride;
            stride *= shape[k];
        }
    }
    return idx;
}

#endif
