/* Initialisers (Glorot & Bengio 2010, He et al. 2015, LeCun 1998, Saxe et al. 2014) as Keras
 * defines them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ruban.h"

const char *rb_init_name(rb_init init)
{
    switch (init) {
    case RB_INIT_DEFAULT: return "default";
    case RB_INIT_ZEROS: return "zeros";
    case RB_INIT_ONES: return "ones";
    case RB_INIT_CONSTANT: return "constant";
    case RB_INIT_RANDOM_NORMAL: return "random_normal";
    case RB_INIT_RANDOM_UNIFORM: return "random_uniform";
    case RB_INIT_GLOROT_UNIFORM: return "glorot_uniform";
    case RB_INIT_GLOROT_NORMAL: return "glorot_normal";
    case RB_INIT_HE_UNIFORM: return "he_uniform";
    case RB_INIT_HE_NORMAL: return "he_normal";
    case RB_INIT_LECUN_UNIFORM: return "lecun_uniform";
    case RB_INIT_LECUN_NORMAL: return "lecun_normal";
    case RB_INIT_ORTHOGONAL: return "orthogonal";
    }
    return "unknown";
}

void rb_init_fans(int ndim, const int64_t *shape, double *fan_in, double *fan_out)
{
    double in = 1, out = 1;
    if (ndim == 1) {
        in = out = (double)shape[0];
    } else if (ndim >= 2) {
        /* Keras: the receptive field is every axis but the last two (channels in, out). */
        double receptive = 1;
        for (int d = 0; d < ndim - 2; d++)
            receptive *= (double)shape[d];
        in = (double)shape[ndim - 2] * receptive;
        out = (double)shape[ndim - 1] * receptive;
    }
    if (fan_in) *fan_in = in;
    if (fan_out) *fan_out = out;
}

/* Standard deviation of N(0, 1) truncated to [-2, 2]: Keras divides by it. */
#define TRUNCATED_STD 0.87962566103423978

/* Orthogonal columns (rows) by modified Gram-Schmidt on a Gaussian matrix of rows x cols,
 * rows >= cols after transposing as needed (Saxe et al. 2014; Keras takes the QR of such a
 * matrix). */
static rb_status orthogonal(rb_tensor *t, double gain, rb_rng *rng)
{
    double fan_in, fan_out;
    rb_init_fans(rb_tensor_ndim(t), rb_tensor_shape(t), &fan_in, &fan_out);
    int64_t cols = rb_tensor_dim(t, -1), rows = rb_tensor_size(t) / cols;
    bool flip = rows < cols; /* orthonormal rows instead */
    int64_t r = flip ? cols : rows, c = flip ? rows : cols;
    double *a = malloc(sizeof(double) * (size_t)(r * c));
    if (!a) return rb_error(RB_ERR_MEMORY, "rb_init_fill: out of memory");
    for (int64_t i = 0; i < r * c; i++)
        a[i] = rb_rng_normal(rng);
    for (int64_t j = 0; j < c; j++) {        /* column j of a (r x c, row-major) */
        for (int pass = 0; pass < 2; pass++) /* twice: re-orthogonalise for accuracy */
            for (int64_t k = 0; k < j; k++) {
                double dot = 0;
                for (int64_t i = 0; i < r; i++)
                    dot += a[i * c + j] * a[i * c + k];
                for (int64_t i = 0; i < r; i++)
                    a[i * c + j] -= dot * a[i * c + k];
            }
        double norm = 0;
        for (int64_t i = 0; i < r; i++)
            norm += a[i * c + j] * a[i * c + j];
        norm = sqrt(norm);
        for (int64_t i = 0; i < r; i++)
            a[i * c + j] /= norm;
    }
    double *out = malloc(sizeof(double) * (size_t)(rows * cols));
    if (!out) {
        free(a);
        return rb_error(RB_ERR_MEMORY, "rb_init_fill: out of memory");
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            out[i * cols + j] = gain * (flip ? a[j * c + i] : a[i * c + j]);
    rb_scope *scope = rb_scope_begin();
    rb_tensor *src = rb_tensor_from_data(RB_F64, rb_tensor_ndim(t), rb_tensor_shape(t), out);
    rb_status st = src ? rb_tensor_assign(t, src) : rb_last_status();
    rb_scope_end(scope);
    free(out);
    free(a);
    return st;
}

rb_status rb_init_fill(rb_tensor *t, rb_init_spec init, rb_rng *rng)
{
    if (!t) return rb_error(RB_ERR_ARGUMENT, "rb_init_fill: tensor is NULL");
    double fan_in, fan_out;
    rb_init_fans(rb_tensor_ndim(t), rb_tensor_shape(t), &fan_in, &fan_out);
    double variance, limit;
    switch (init.kind) {
    case RB_INIT_ZEROS: return rb_tensor_fill(t, 0.0);
    case RB_INIT_ONES: return rb_tensor_fill(t, 1.0);
    case RB_INIT_CONSTANT: return rb_tensor_fill(t, init.value);
    case RB_INIT_RANDOM_NORMAL:
        return rb_fill_normal(t, 0.0, init.scale > 0 ? init.scale : 0.05, rng);
    case RB_INIT_RANDOM_UNIFORM: {
        double s = init.scale > 0 ? init.scale : 0.05;
        return rb_fill_uniform(t, -s, s, rng);
    }
    case RB_INIT_DEFAULT:
    case RB_INIT_GLOROT_UNIFORM:
        limit = sqrt(6.0 / (fan_in + fan_out));
        return rb_fill_uniform(t, -limit, limit, rng);
    case RB_INIT_HE_UNIFORM:
        limit = sqrt(6.0 / fan_in);
        return rb_fill_uniform(t, -limit, limit, rng);
    case RB_INIT_LECUN_UNIFORM:
        limit = sqrt(3.0 / fan_in);
        return rb_fill_uniform(t, -limit, limit, rng);
    case RB_INIT_GLOROT_NORMAL: variance = 2.0 / (fan_in + fan_out); break;
    case RB_INIT_HE_NORMAL: variance = 2.0 / fan_in; break;
    case RB_INIT_LECUN_NORMAL: variance = 1.0 / fan_in; break;
    case RB_INIT_ORTHOGONAL:
        if (rb_tensor_ndim(t) < 2)
            return rb_error(RB_ERR_SHAPE, "rb_init_fill: orthogonal needs a matrix, got %d axes",
                            rb_tensor_ndim(t));
        return orthogonal(t, init.scale > 0 ? init.scale : 1.0, rng);
    default:
        return rb_error(RB_ERR_ARGUMENT, "rb_init_fill: unknown initialiser %d", (int)init.kind);
    }
    return rb_fill_truncated_normal(t, 0.0, sqrt(variance) / TRUNCATED_STD, rng);
}

/* ---- regularisers and constraints ---- */

rb_tensor *rb_l2_penalty(rb_tensor *w, double lambda)
{
    return rb_mul_scalar(rb_sum(rb_square(w), RB_ALL_AXES, false), 0.5 * lambda);
}

rb_tensor *rb_l1_penalty(rb_tensor *w, double lambda)
{
    return rb_mul_scalar(rb_sum(rb_abs(w), RB_ALL_AXES, false), lambda);
}

rb_status rb_max_norm(rb_tensor *w, double max_norm)
{
    if (!w) return rb_error(RB_ERR_ARGUMENT, "rb_max_norm: tensor is NULL");
    if (!(max_norm > 0)) return rb_error(RB_ERR_ARGUMENT, "rb_max_norm: bound %g <= 0", max_norm);
    if (rb_tensor_ndim(w) < 1) return RB_OK;
    int64_t cols = rb_tensor_dim(w, -1), rows = rb_tensor_size(w) / cols;
    rb_scope *s = rb_scope_begin();
    rb_tensor *c = rb_contiguous(w);
    double *norms = calloc((size_t)cols, sizeof(double));
    rb_status st = c && norms ? RB_OK : rb_error(RB_ERR_MEMORY, "rb_max_norm: out of memory");
    double *v = NULL;
    if (st == RB_OK) {
        rb_tensor *d = rb_cast(c, RB_F64);
        v = d ? rb_tensor_f64(d) : NULL;
        if (!v) st = rb_last_status();
    }
    if (st == RB_OK) {
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                norms[j] += v[i * cols + j] * v[i * cols + j];
        /* Each column's factor first (1 within the bound: exact), then one unconditional
         * product per element: a conditional store vectorises into masked moves, microcoded
         * on AMD. */
        for (int64_t j = 0; j < cols; j++) {
            double n = sqrt(norms[j]);
            norms[j] = n > max_norm ? max_norm / n : 1.0;
        }
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                v[i * cols + j] *= norms[j];
        rb_tensor *scaled = rb_tensor_from_data(RB_F64, rb_tensor_ndim(w), rb_tensor_shape(w), v);
        st = scaled ? rb_tensor_assign(w, scaled) : rb_last_status();
    }
    free(norms);
    rb_scope_end(s);
    return st;
}
