/* ruban/nn.h - layers built from ops, and initialisers.
 *
 * A layer's variables live in a parameter store, which also owns the layer itself: freeing the
 * store frees both. Layers have no backward of their own: their forward calls ops, and the
 * tape sees only ops.
 *
 *     rb_params *p = rb_params_new(RB_F32);
 *     rb_rng rng = rb_rng_make(1);
 *     rb_dense *fc1 = rb_dense_new(p, "fc1", 784, 256, RB_INIT_HE_NORMAL, &rng);
 *     rb_tensor *h = rb_relu(rb_dense_forward(fc1, x));     // x: (B, 784) -> (B, 256)
 */
#ifndef RUBAN_NN_H
#define RUBAN_NN_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Weight initialisers. fan_in/fan_out come from the shape: (in, out) for a dense kernel. */
typedef enum rb_init {
    RB_INIT_ZEROS,
    RB_INIT_ONES,
    RB_INIT_GLOROT_UNIFORM, /* U(-l, l), l = sqrt(6 / (fan_in + fan_out)) - Keras's default */
    RB_INIT_GLOROT_NORMAL,  /* truncated N(0, 2 / (fan_in + fan_out)) */
    RB_INIT_HE_UNIFORM,     /* U(-l, l), l = sqrt(6 / fan_in) */
    RB_INIT_HE_NORMAL,      /* truncated N(0, 2 / fan_in) */
    RB_INIT_LECUN_UNIFORM,  /* U(-l, l), l = sqrt(3 / fan_in) */
    RB_INIT_LECUN_NORMAL    /* truncated N(0, 1 / fan_in) */
} rb_init;

/* Name of an initialiser ("he_normal"). */
RB_API const char *rb_init_name(rb_init init);
/* Fill t in place. The truncated normals are cut at two standard deviations and rescaled so
 * the variance is the one named (Keras's VarianceScaling). */
RB_API rb_status rb_init_fill(rb_tensor *t, rb_init init, rb_rng *rng);
/* fan_in and fan_out of a weight shape: (in, out) for 2-D, (out_ch, in_ch, k...) for
 * convolution kernels. */
RB_API void rb_init_fans(int ndim, const int64_t *shape, double *fan_in, double *fan_out);

/* Dense (fully connected) layer: y = x w + b, w (in, out), b (out) initialised to zero. */
typedef struct rb_dense rb_dense;
/* New layer with variables "<name>.w" and "<name>.b" in p; owned by p. */
RB_API rb_dense *rb_dense_new(rb_params *p, const char *name, int64_t in, int64_t out,
                              rb_init init, rb_rng *rng);
/* x (B, in) -> (B, out) (any leading axes are kept). */
RB_API rb_tensor *rb_dense_forward(const rb_dense *layer, rb_tensor *x);
RB_API rb_tensor *rb_dense_weight(const rb_dense *layer);
RB_API rb_tensor *rb_dense_bias(const rb_dense *layer);

#ifdef __cplusplus
}
#endif
#endif
