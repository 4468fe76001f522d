/* Gradient clipping over the store's flat gradient slab. */
#include <math.h>

#include "optimizer.h"

/* Blocks of fixed size summed in order: the norm does not depend on the thread count. */
enum { BLOCK = 4096 };

double rb_clip_grad_norm(rb_params *p, double max_norm)
{
    if (!p) {
        rb_error(RB_ERR_ARGUMENT, "rb_clip_grad_norm: store is NULL");
        return -1;
    }
    if (!(max_norm > 0)) {
        rb_error(RB_ERR_ARGUMENT, "rb_clip_grad_norm: max_norm must be > 0, got %g", max_norm);
        return -1;
    }
    rb_tensor *g = rb_params_flat_grads(p);
    int64_t n = rb_tensor_size(g);
    bool f32 = rb_tensor_dtype(g) == RB_F32;
    double total = 0;
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t e = b + BLOCK < n ? b + BLOCK : n;
        double s = 0;
        if (f32) {
            const float *v = rb_tensor_f32(g);
            for (int64_t i = b; i < e; i++)
                s += (double)v[i] * v[i];
        } else {
            const double *v = rb_tensor_f64(g);
            for (int64_t i = b; i < e; i++)
                s += v[i] * v[i];
        }
        total += s;
    }
    double norm = sqrt(total);
    if (norm > max_norm) {
        double scale = max_norm / norm;
        if (f32)
            for (int64_t i = 0; i < n; i++)
                rb_tensor_f32(g)[i] *= (float)scale;
        else
            for (int64_t i = 0; i < n; i++)
                rb_tensor_f64(g)[i] *= scale;
    }
    return norm;
}

rb_status rb_clip_grad_value(rb_params *p, double limit)
{
    if (!p) return rb_error(RB_ERR_ARGUMENT, "rb_clip_grad_value: store is NULL");
    if (!(limit > 0))
        return rb_error(RB_ERR_ARGUMENT, "rb_clip_grad_value: limit must be > 0, got %g", limit);
    rb_tensor *g = rb_params_flat_grads(p);
    int64_t n = rb_tensor_size(g);
    if (rb_tensor_dtype(g) == RB_F32) {
        float *v = rb_tensor_f32(g), l = (float)limit;
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] > l ? l : (v[i] < -l ? -l : v[i]);
    } else {
        double *v = rb_tensor_f64(g);
        for (int64_t i = 0; i < n; i++)
            v[i] = v[i] > limit ? limit : (v[i] < -limit ? -limit : v[i]);
    }
    return RB_OK;
}
