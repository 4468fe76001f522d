/* Data sets generated from a seed: cylinder-bell-funnel series. */
#include <math.h>
#include <stdio.h>

#include "datasets_impl.h"

static const char *const cbf_classes[3] = {"cylinder", "bell", "funnel"};

/* Saito's shapes on [a, b]: a plateau, a ramp up, a ramp down. */
static double cbf_shape(int cls, int t, int a, int b)
{
    if (t < a || t > b) return 0;
    double u = (double)(t - a) / (double)(b - a);
    return cls == 0 ? 1 : cls == 1 ? u : 1 - u;
}

rb_status rb_cylinder_bell_funnel(int64_t n, int length, uint64_t seed, rb_dataset *out)
{
    if (!out) return rb_error(RB_ERR_ARGUMENT, "rb_cylinder_bell_funnel: out is NULL");
    *out = (rb_dataset){0};
    if (length == 0) length = 128;
    if (n < 1 || length < 8 || length > (1 << 20))
        return rb_error(
            RB_ERR_ARGUMENT,
            "rb_cylinder_bell_funnel: %lld series of %d steps (at least 1 series of 8 to 1048576 steps)",
            (long long)n, length);
    char source[64];
    snprintf(source, sizeof source, "generated (seed %llu)", (unsigned long long)seed);
    out->x = rb_tensor_empty_persistent(RB_F32, RB_SHAPE(n, length, 1));
    out->y = rb_tensor_empty_persistent(RB_I64, RB_SHAPE(n));
    out->meta = rb__meta_new("cylinder_bell_funnel", source, length, 3);
    bool ok = out->x && out->y && out->meta && rb__meta_set_name(&out->meta->target_name, "shape");
    for (int c = 0; ok && c < 3; c++)
        ok = rb__meta_set_name(&out->meta->class_names[c], cbf_classes[c]);
    if (!ok) {
        rb_dataset_free(out);
        return rb_last_status();
    }
    float *x = rb_tensor_f32(out->x);
    int64_t *y = rb_tensor_i64(out->y);
    rb_rng rng = rb_rng_make(seed);
    /* Saito's ranges for 128 steps, a in [16, 32] and b - a in [32, 96], scaled to the length. */
    int a_lo = length / 8, a_span = length / 8, d_lo = length / 4, d_span = length / 2;
    for (int64_t i = 0; i < n; i++) {
        int cls = (int)(i % 3);
        int a = a_lo + (int)rb_rng_below(&rng, a_span + 1);
        int b = a + d_lo + (int)rb_rng_below(&rng, d_span + 1);
        if (b > length - 1) b = length - 1;
        double height = 6 + rb_rng_normal(&rng);
        for (int t = 0; t < length; t++)
            x[i * length + t] = (float)(height * cbf_shape(cls, t, a, b) + rb_rng_normal(&rng));
        y[i] = cls;
    }
    return RB_OK;
}
