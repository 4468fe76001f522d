/* ZCA whitening: the covariance of the training rows, its symmetric eigendecomposition by
 * LAPACK (divide and conquer, ssyevd or dsyevd: a 3072 x 3072 covariance in seconds), and the
 * whitening matrix W = U diag(1 / sqrt(lambda + epsilon)) U^T applied as one matrix product. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "datasets_impl.h"
#include "ruban/preprocess.h"

/* Rows per block: bounds the temporaries of the covariance and of in-place transforms
 * (2,048 CIFAR-10 rows are 25 MB in float32) while keeping the products large. */
enum { BLOCK = 2048 };

struct rb_zca {
    double epsilon;
    int row_ndim;           /* x's dimensions after the first */
    int64_t row_shape[8];   /* and their extents */
    int64_t features;       /* D: their product */
    rb_tensor *mean;        /* (D), x's dtype */
    rb_tensor *whiten;      /* (D, D) W */
    rb_tensor *vectors;     /* (D, D) the eigenvectors V, one per row: W^-1 = V^T diag(c) V */
    rb_tensor *color;       /* (D) c = sqrt(lambda + epsilon), in V's order */
    rb_tensor *eigenvalues; /* (D) float64, largest first */
};

/* Rows r0..r1 of x as a (r1 - r0, D) matrix (a view when x is contiguous), owned by the
 * current owner. */
static rb_tensor *block_of(rb_tensor *x, int64_t r0, int64_t r1, int64_t d)
{
    int n = rb_tensor_ndim(x);
    int64_t start[8] = {r0}, stop[8];
    memcpy(stop, rb_tensor_shape(x), sizeof(int64_t) * (size_t)n);
    stop[0] = r1;
    return rb_reshape(rb_slice(x, start, stop, NULL), RB_SHAPE(r1 - r0, d));
}

/* The mean of x's rows in float64 (d of them); false with an error on a non-finite value. */
static bool row_mean(rb_tensor *x, int64_t rows, int64_t d, double *mean)
{
    memset(mean, 0, sizeof(double) * (size_t)d);
    for (int64_t r0 = 0; r0 < rows; r0 += BLOCK) {
        int64_t r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows;
        rb_scope *scope = rb_scope_begin();
        rb_tensor *b = rb_contiguous(block_of(x, r0, r1, d));
        if (!b) {
            rb_scope_end(scope);
            return false;
        }
        const float *f = rb_tensor_dtype(b) == RB_F32 ? rb_tensor_f32(b) : NULL;
        const double *g = f ? NULL : rb_tensor_f64(b);
        for (int64_t r = 0; r < r1 - r0; r++)
            for (int64_t j = 0; j < d; j++)
                mean[j] += f ? f[r * d + j] : g[r * d + j];
        rb_scope_end(scope);
    }
    for (int64_t j = 0; j < d; j++) {
        mean[j] /= (double)rows;
        if (!isfinite(mean[j])) {
            rb_error(RB_ERR_NONFINITE, "rb_zca_fit: feature %lld holds a non-finite value",
                     (long long)j);
            return false;
        }
    }
    return true;
}

/* cov = sum over blocks of (xb - mean)^T (xb - mean) / (rows - 1), in float64 (d x d); each
 * block's product runs in x's dtype through BLIS. */
static bool covariance(rb_tensor *x, int64_t rows, int64_t d, const rb_tensor *mean, double *cov)
{
    memset(cov, 0, sizeof(double) * (size_t)(d * d));
    for (int64_t r0 = 0; r0 < rows; r0 += BLOCK) {
        int64_t r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows;
        rb_scope *scope = rb_scope_begin();
        rb_tensor *c = rb_sub(block_of(x, r0, r1, d), (rb_tensor *)mean);
        rb_tensor *p = rb_contiguous(rb_matmul(rb_transpose(c, 0, 1), c));
        if (!p) {
            rb_scope_end(scope);
            return false;
        }
        const float *f = rb_tensor_dtype(p) == RB_F32 ? rb_tensor_f32(p) : NULL;
        const double *g = f ? NULL : rb_tensor_f64(p);
        for (int64_t i = 0; i < d * d; i++)
            cov[i] += f ? f[i] : g[i];
        rb_scope_end(scope);
    }
    for (int64_t i = 0; i < d * d; i++)
        cov[i] /= (double)(rows - 1);
    return true;
}

/* The rows of v (row j: eigenvector j) as a persistent (d, d) tensor of dtype, each scaled by
 * factor[j] (NULL: 1). */
static rb_tensor *scaled_rows(rb_dtype dtype, const double *v, const double *factor, int64_t d)
{
    rb_tensor *out = rb_tensor_empty_persistent(dtype, RB_SHAPE(d, d));
    float *f = out && dtype == RB_F32 ? rb_tensor_f32(out) : NULL;
    double *g = out && dtype == RB_F64 ? rb_tensor_f64(out) : NULL;
    for (int64_t j = 0; (f || g) && j < d; j++)
        for (int64_t i = 0; i < d; i++) {
            double value = (factor ? factor[j] : 1) * v[j * d + i];
            if (f)
                f[j * d + i] = (float)value;
            else
                g[j * d + i] = value;
        }
    return out;
}

/* The eigenvalues of the symmetric d x d matrix a (ascending, into w) and its eigenvectors
 * (over a, column-major), by divide and conquer. LAPACK's info, or LAPACK_WORK_MEMORY_ERROR. */
static lapack_int eigen(rb_dtype dtype, double *a, double *w, int64_t d)
{
    lapack_int n = (lapack_int)d;
    if (dtype == RB_F64) return LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', n, a, n, w);
    /* float32 rows: their covariance was summed from float32 products, so single precision
     * loses nothing that was known, and halves the time (the reduction to tridiagonal form is
     * bound by memory traffic). LAPACK 3.11 rounds ssyevd's workspace query to a float that is
     * too small past ~2,900 rows, so the documented sizes are given instead. */
    lapack_int lwork = 1 + 6 * n + 2 * n * n, liwork = 3 + 5 * n;
    float *af = malloc(sizeof(float) * (size_t)(d * d)), *wf = malloc(sizeof(float) * (size_t)d);
    float *work = malloc(sizeof(float) * (size_t)lwork);
    lapack_int *iwork = malloc(sizeof(lapack_int) * (size_t)liwork),
               info = LAPACK_WORK_MEMORY_ERROR;
    if (af && wf && work && iwork) {
        for (int64_t i = 0; i < d * d; i++)
            af[i] = (float)a[i];
        info = LAPACKE_ssyevd_work(LAPACK_COL_MAJOR, 'V', 'L', n, af, n, wf, work, lwork, iwork,
                                   liwork);
        for (int64_t i = 0; info == 0 && i < d * d; i++)
            a[i] = af[i];
        for (int64_t j = 0; info == 0 && j < d; j++)
            w[j] = wf[j];
    }
    free(af);
    free(wf);
    free(work);
    free(iwork);
    return info;
}

static rb_zca *fail(rb_zca *z, double *a, double *b)
{
    free(a);
    free(b);
    rb_zca_free(z);
    return NULL;
}

/* The eigendecomposition of cov (overwritten by the eigenvectors, one per row since the
 * matrix is symmetric and LAPACK stores them column-major) into z: eigenvalues largest
 * first, W, and what the inverse needs. */
static rb_zca *decompose(rb_zca *z, rb_dtype dtype, double *cov, int64_t d)
{
    double *w = malloc(sizeof(double) * (size_t)d * 2);
    if (!w) {
        rb_error(RB_ERR_MEMORY, "rb_zca_fit: out of memory: %lld bytes requested",
                 (long long)(sizeof(double) * (size_t)d * 2));
        return fail(z, cov, NULL);
    }
    /* LAPACK's many small BLAS calls reach BLIS with its global thread count: on cores that
     * other processes keep busy, threads waiting for a descheduled one made a 3072 x 3072
     * decomposition 3-5 times slower than on one thread, so it runs on the threads free now. */
    int threads = rb_num_threads(), free_now = rb_num_threads_now();
    if (free_now < threads) rb_set_num_threads(free_now);
    lapack_int info = eigen(dtype, cov, w, d);
    if (free_now < threads) rb_set_num_threads(threads);
    if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR) {
        rb_error(RB_ERR_MEMORY, "rb_zca_fit: out of memory for LAPACK's workspace (%lld features)",
                 (long long)d);
        return fail(z, cov, w);
    }
    if (info != 0) {
        rb_error(RB_ERR_STATE,
                 "rb_zca_fit: LAPACK's %s failed on the %lld x %lld covariance (info %d)",
                 dtype == RB_F32 ? "ssyevd" : "dsyevd", (long long)d, (long long)d, (int)info);
        return fail(z, cov, w);
    }
    /* LAPACK sorts ascending. Eigenvalues below the rounding level of the largest (that of
     * the data's dtype, in which the covariance was summed) are zeros of a singular
     * covariance: only epsilon can make their directions whitenable. */
    double largest = w[d - 1];
    double floor = largest * (double)d * (dtype == RB_F32 ? FLT_EPSILON : DBL_EPSILON);
    if (z->epsilon == 0 && w[0] <= floor) {
        rb_error(
            RB_ERR_ARGUMENT,
            "rb_zca_fit: the covariance is singular (smallest eigenvalue %.3g, largest %.3g) and epsilon is 0: give epsilon > 0",
            w[0], largest);
        return fail(z, cov, w);
    }
    /* W = V^T diag(s^2) V with s = (lambda + epsilon)^(-1/4): B = diag(s) V, then B^T B. */
    double *s = w + d;
    for (int64_t j = 0; j < d; j++)
        s[j] = pow((w[j] > 0 ? w[j] : 0) + z->epsilon, -0.25);
    z->eigenvalues = rb_tensor_empty_persistent(RB_F64, 1, &d);
    z->color = rb_tensor_empty_persistent(dtype, 1, &d);
    z->vectors = scaled_rows(dtype, cov, NULL, d);
    z->whiten = rb_tensor_empty_persistent(dtype, RB_SHAPE(d, d));
    if (z->eigenvalues && z->color)
        for (int64_t j = 0; j < d; j++) {
            rb_tensor_set_flat(z->eigenvalues, j, w[d - 1 - j]);
            rb_tensor_set_flat(z->color, j, 1 / (s[j] * s[j]));
        }
    rb_tensor *b = scaled_rows(dtype, cov, s, d);
    rb_scope *scope = rb_scope_begin();
    rb_tensor *p = rb_matmul(rb_transpose(b, 0, 1), b);
    if (!p || !z->whiten || rb_tensor_assign(z->whiten, p) != RB_OK) {
        rb_tensor_free(z->whiten);
        z->whiten = NULL;
    }
    rb_scope_end(scope); /* the transposed view goes before b */
    rb_tensor_free(b);
    if (!z->eigenvalues || !z->whiten || !z->color || !z->vectors) return fail(z, cov, w);
    free(cov);
    free(w);
    return z;
}

rb_zca *rb_zca_fit(const rb_tensor *x, double epsilon)
{
    if (!x) return RB__FAIL(RB_ERR_ARGUMENT, "rb_zca_fit: x is NULL");
    rb_dtype dtype = rb_tensor_dtype(x);
    if ((dtype != RB_F32 && dtype != RB_F64) || rb_tensor_ndim(x) < 2)
        return RB__FAIL(RB_ERR_ARGUMENT,
                        "rb_zca_fit: needs float rows (N, D) or (N, ...), got %s %s",
                        rb_dtype_name(dtype), rb__shp(x));
    int64_t rows = rb_tensor_shape(x)[0], d = rows ? rb_tensor_size(x) / rows : 0;
    if (rows < 2 || d < 1)
        return RB__FAIL(
            RB_ERR_ARGUMENT,
            "rb_zca_fit: a covariance needs at least 2 rows of at least 1 feature, got %s",
            rb__shp(x));
    if (d > RB_ZCA_MAX_FEATURES)
        return RB__FAIL(
            RB_ERR_ARGUMENT,
            "rb_zca_fit: %lld features per row is more than LAPACK's 32-bit workspace allows (%d)",
            (long long)d, RB_ZCA_MAX_FEATURES);
    if (!(epsilon >= 0) || !isfinite(epsilon))
        return RB__FAIL(RB_ERR_ARGUMENT, "rb_zca_fit: epsilon must be finite and >= 0, got %g",
                        epsilon);
    rb_zca *z = calloc(1, sizeof *z);
    double *mean = malloc(sizeof(double) * (size_t)d);
    double *cov = malloc(sizeof(double) * (size_t)(d * d));
    if (!z || !mean || !cov) {
        rb_error(RB_ERR_MEMORY, "rb_zca_fit: out of memory: %lld bytes requested",
                 (long long)(sizeof(double) * (size_t)(d * d + d)));
        free(z);
        return fail(NULL, mean, cov);
    }
    z->epsilon = epsilon;
    z->features = d;
    z->row_ndim = rb_tensor_ndim(x) - 1;
    memcpy(z->row_shape, rb_tensor_shape(x) + 1, sizeof(int64_t) * (size_t)z->row_ndim);
    rb_tensor *xs = (rb_tensor *)x; /* read only: ops take non-const inputs */
    z->mean = rb_tensor_empty_persistent(dtype, 1, &d);
    if (!z->mean || !row_mean(xs, rows, d, mean)) return fail(z, mean, cov);
    for (int64_t j = 0; j < d; j++)
        rb_tensor_set_flat(z->mean, j, mean[j]);
    free(mean);
    if (!covariance(xs, rows, d, z->mean, cov)) return fail(z, NULL, cov);
    return decompose(z, dtype, cov, d);
}

/* Whether x's rows have the fitted row shape and dtype. */
static bool fits(const rb_zca *z, const rb_tensor *x, const char *who)
{
    if (!z || !x) {
        if (rb_last_status() == RB_OK) rb_error(RB_ERR_ARGUMENT, "%s: NULL argument", who);
        return false;
    }
    if (rb_tensor_dtype(x) != rb_tensor_dtype(z->mean)) {
        rb_error(RB_ERR_DTYPE, "%s: fitted on %s, given %s %s", who,
                 rb_dtype_name(rb_tensor_dtype(z->mean)), rb_dtype_name(rb_tensor_dtype(x)),
                 rb__shp(x));
        return false;
    }
    bool same = rb_tensor_ndim(x) == z->row_ndim + 1;
    for (int i = 0; same && i < z->row_ndim; i++)
        same = rb_tensor_shape(x)[i + 1] == z->row_shape[i];
    if (!same) {
        char fitted[160] = "";
        for (int i = 0, used = 0; i < z->row_ndim; i++)
            used += snprintf(fitted + used, sizeof fitted - (size_t)used, "%s%lld", i ? "," : "",
                             (long long)z->row_shape[i]);
        rb_error(RB_ERR_SHAPE, "%s: fitted on rows of [%s], given %s", who, fitted, rb__shp(x));
        return false;
    }
    return true;
}

/* (x - mean) W, or x W^-1 + mean, in x's shape. */
static rb_tensor *apply(const rb_zca *z, rb_tensor *x, bool inverse)
{
    int64_t rows = rb_tensor_shape(x)[0];
    rb_tensor *m = rb_reshape(x, RB_SHAPE(rows, z->features));
    /* The inverse is rarely applied: two products there spare the fit a third D^3 one. */
    rb_tensor *y =
        inverse ? rb_add(rb_matmul(rb_mul(rb_matmul(m, rb_transpose(z->vectors, 0, 1)), z->color),
                                   z->vectors),
                         z->mean)
                : rb_matmul(rb_sub(m, z->mean), z->whiten);
    return rb_reshape(y, rb_tensor_ndim(x), rb_tensor_shape(x));
}

rb_tensor *rb_zca_transform(const rb_zca *z, rb_tensor *x)
{
    return fits(z, x, "rb_zca_transform") ? apply(z, x, false) : NULL;
}

rb_tensor *rb_zca_inverse(const rb_zca *z, rb_tensor *x)
{
    return fits(z, x, "rb_zca_inverse") ? apply(z, x, true) : NULL;
}

rb_status rb_zca_transform_inplace(const rb_zca *z, rb_tensor *x)
{
    if (!fits(z, x, "rb_zca_transform_inplace")) return rb_last_status();
    int64_t rows = rb_tensor_shape(x)[0], d = z->features;
    bool contiguous = rb_tensor_is_contiguous(x);
    size_t esize = rb_dtype_size(rb_tensor_dtype(x));
    for (int64_t r0 = 0; r0 < rows; r0 += BLOCK) {
        int64_t r1 = r0 + BLOCK < rows ? r0 + BLOCK : rows;
        rb_scope *scope = rb_scope_begin();
        rb_tensor *y = rb_contiguous(rb_matmul(rb_sub(block_of(x, r0, r1, d), z->mean), z->whiten));
        if (!y) {
            rb_scope_end(scope);
            return rb_last_status();
        }
        /* The block is computed in full before any of its rows is overwritten. */
        if (contiguous)
            memcpy((char *)rb_tensor_data(x) + (size_t)(r0 * d) * esize, rb_tensor_data(y),
                   (size_t)((r1 - r0) * d) * esize);
        else
            for (int64_t i = 0; i < (r1 - r0) * d; i++)
                rb_tensor_set_flat(x, r0 * d + i, rb_tensor_get_flat(y, i));
        rb_scope_end(scope);
    }
    rb_tensor_mark_modified(x);
    return RB_OK;
}

const rb_tensor *rb_zca_mean(const rb_zca *z) { return z ? z->mean : NULL; }
const rb_tensor *rb_zca_matrix(const rb_zca *z) { return z ? z->whiten : NULL; }
const rb_tensor *rb_zca_eigenvalues(const rb_zca *z) { return z ? z->eigenvalues : NULL; }
double rb_zca_epsilon(const rb_zca *z) { return z ? z->epsilon : NAN; }

void rb_zca_free(rb_zca *z)
{
    if (!z) return;
    rb_tensor_free(z->mean);
    rb_tensor_free(z->whiten);
    rb_tensor_free(z->color);
    rb_tensor_free(z->vectors);
    rb_tensor_free(z->eigenvalues);
    free(z);
}
