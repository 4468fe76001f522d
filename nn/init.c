/* Initialisers (Glorot & Bengio 2010, He et al. 2015, LeCun 1998) as Keras defines them. */
#include <math.h>
#include <string.h>

#include "ruban.h"

const char *rb_init_name(rb_init init)
{
    switch (init) {
    case RB_INIT_ZEROS: return "zeros";
    case RB_INIT_ONES: return "ones";
    case RB_INIT_GLOROT_UNIFORM: return "glorot_uniform";
    case RB_INIT_GLOROT_NORMAL: return "glorot_normal";
    case RB_INIT_HE_UNIFORM: return "he_uniform";
    case RB_INIT_HE_NORMAL: return "he_normal";
    case RB_INIT_LECUN_UNIFORM: return "lecun_uniform";
    case RB_INIT_LECUN_NORMAL: return "lecun_normal";
    }
    return "unknown";
}

void rb_init_fans(int ndim, const int64_t *shape, double *fan_in, double *fan_out)
{
    double in = 1, out = 1;
    if (ndim == 1) {
        in = out = (double)shape[0];
    } else if (ndim == 2) {
        in = (double)shape[0];
        out = (double)shape[1];
    } else if (ndim > 2) {
        double receptive = 1;
        for (int d = 2; d < ndim; d++) receptive *= (double)shape[d];
        in = (double)shape[1] * receptive;
        out = (double)shape[0] * receptive;
    }
    if (fan_in) *fan_in = in;
    if (fan_out) *fan_out = out;
}

/* Standard deviation of N(0, 1) truncated to [-2, 2]: Keras divides by it. */
#define TRUNCATED_STD 0.87962566103423978

rb_status rb_init_fill(rb_tensor *t, rb_init init, rb_rng *rng)
{
    if (!t) return rb_error(RB_ERR_ARGUMENT, "rb_init_fill: tensor is NULL");
    double fan_in, fan_out;
    rb_init_fans(rb_tensor_ndim(t), rb_tensor_shape(t), &fan_in, &fan_out);
    double scale, limit;
    switch (init) {
    case RB_INIT_ZEROS: return rb_tensor_fill(t, 0.0);
    case RB_INIT_ONES: return rb_tensor_fill(t, 1.0);
    case RB_INIT_GLOROT_UNIFORM:
        limit = sqrt(6.0 / (fan_in + fan_out));
        return rb_fill_uniform(t, -limit, limit, rng);
    case RB_INIT_HE_UNIFORM:
        limit = sqrt(6.0 / fan_in);
        return rb_fill_uniform(t, -limit, limit, rng);
    case RB_INIT_LECUN_UNIFORM:
        limit = sqrt(3.0 / fan_in);
        return rb_fill_uniform(t, -limit, limit, rng);
    case RB_INIT_GLOROT_NORMAL: scale = 2.0 / (fan_in + fan_out); break;
    case RB_INIT_HE_NORMAL: scale = 2.0 / fan_in; break;
    case RB_INIT_LECUN_NORMAL: scale = 1.0 / fan_in; break;
    default: return rb_error(RB_ERR_ARGUMENT, "rb_init_fill: unknown initialiser %d", (int)init);
    }
    return rb_fill_truncated_normal(t, 0.0, sqrt(scale) / TRUNCATED_STD, rng);
}
