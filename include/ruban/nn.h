/* ruban/nn.h - weight initialisers and regularisers.
 *
 *     rb_rng rng = rb_rng_make(1);
 *     rb_init_fill(w, (rb_init_spec){.kind = RB_INIT_HE_NORMAL}, &rng);
 *     rb_tensor *penalty = rb_l2_penalty(w, 1e-4);   // 1e-4 / 2 * ||w||^2, differentiable
 */
#ifndef RUBAN_NN_H
#define RUBAN_NN_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialisers, as Keras defines them. fan_in / fan_out come from the weight's shape (see
 * rb_init_fans). */
typedef enum rb_init {
    RB_INIT_DEFAULT = 0, /* the layer's own default (Glorot uniform for kernels, as Keras) */
    RB_INIT_ZEROS,
    RB_INIT_ONES,
    RB_INIT_CONSTANT,       /* every value = value */
    RB_INIT_RANDOM_NORMAL,  /* N(0, scale^2), scale default 0.05 */
    RB_INIT_RANDOM_UNIFORM, /* U(-scale, scale), scale default 0.05 */
    RB_INIT_GLOROT_UNIFORM, /* U(-l, l), l = sqrt(6 / (fan_in + fan_out)) */
    RB_INIT_GLOROT_NORMAL,  /* truncated normal of variance 2 / (fan_in + fan_out) */
    RB_INIT_HE_UNIFORM,     /* U(-l, l), l = sqrt(6 / fan_in) */
    RB_INIT_HE_NORMAL,      /* truncated normal of variance 2 / fan_in */
    RB_INIT_LECUN_UNIFORM,  /* U(-l, l), l = sqrt(3 / fan_in) */
    RB_INIT_LECUN_NORMAL,   /* truncated normal of variance 1 / fan_in (for SELU) */
    RB_INIT_ORTHOGONAL      /* a (semi-)orthogonal matrix times scale (default 1), over
                             * (fan_in, fan_out) */
} rb_init;

typedef struct rb_init_spec {
    rb_init kind;
    double scale; /* RANDOM_NORMAL std, RANDOM_UNIFORM limit, ORTHOGONAL gain (0: default) */
    double value; /* CONSTANT */
} rb_init_spec;

/* Name of an initialiser ("he_normal"). */
RB_API const char *rb_init_name(rb_init init);
/* Fill t in place. Truncated normals are cut at two standard deviations and rescaled so the
 * variance is the one named (Keras's VarianceScaling). RB_INIT_DEFAULT means Glorot uniform. */
RB_API rb_status rb_init_fill(rb_tensor *t, rb_init_spec init, rb_rng *rng);
/* fan_in and fan_out of a weight shape: (in, out) for 2-D, (k..., in, out) for convolution
 * kernels (Keras's layout), fan = channels times the receptive field. */
RB_API void rb_init_fans(int ndim, const int64_t *shape, double *fan_in, double *fan_out);

/* Regularisation terms to add to a loss (scalar, differentiable, owned by the current
 * owner): lambda / 2 * sum(w^2) as the course writes it, and lambda * sum(|w|). */
RB_API rb_tensor *rb_l2_penalty(rb_tensor *w, double lambda);
RB_API rb_tensor *rb_l1_penalty(rb_tensor *w, double lambda);
/* Max-norm constraint, applied in place after an optimizer step: every column (the weights
 * into one output unit: all axes but the last) whose L2 norm exceeds max_norm is scaled back
 * to it. */
RB_API rb_status rb_max_norm(rb_tensor *w, double max_norm);

#ifdef __cplusplus
}
#endif
#endif
