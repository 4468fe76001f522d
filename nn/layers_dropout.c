/* Dropout (inverted: scaled at training time, identity in evaluation) and AlphaDropout, which
 * keeps the mean and variance that SELU networks rely on (Klambauer et al. 2017). */
#include <math.h>

#include "layer_impl.h"

static bool dropout_build(rb_layer *l, rb_params *p)
{
    (void)p;
    if (!(l->spec.rate >= 0 && l->spec.rate < 1))
        return rb__layer_fail(l, RB_ERR_ARGUMENT, "rate %g must be in [0, 1)", l->spec.rate);
    l->out_ndim = l->in_ndim;
    for (int i = 0; i < l->in_ndim; i++)
        l->out_shape[i] = l->in_shape[i];
    return true;
}

/* 1 where a uniform draw keeps the unit (probability 1 - rate), else 0. */
static rb_tensor *keep_mask(rb_layer *l, rb_tensor *x)
{
    rb_tensor *u =
        rb_tensor_uniform(rb_tensor_dtype(x), rb_tensor_ndim(x), rb_tensor_shape(x), 0, 1, &l->rng);
    return rb_greater_equal(u, rb_tensor_scalar(rb_tensor_dtype(x), l->spec.rate));
}

static rb_tensor *dropout_forward(rb_layer *l, rb_tensor *x)
{
    if (!l->training || l->spec.rate == 0) return x;
    return rb_dropout(x, l->spec.rate, &l->rng); /* the mask is not stored */
}

const layer_class rb__dropout_class = {"Dropout", "dropout", dropout_build, dropout_forward};

/* SELU's negative saturation value -scale * alpha. */
#define SELU_SATURATION (-1.0507009873554804934193349852946 * 1.6732632423543772848170429916717)

static rb_tensor *alpha_dropout_forward(rb_layer *l, rb_tensor *x)
{
    if (!l->training || l->spec.rate == 0) return x;
    double q = 1.0 - l->spec.rate, s = SELU_SATURATION;
    /* Dropped units take the saturation value; a, b restore mean 0 and variance 1. */
    double a = 1.0 / sqrt(q + s * s * q * (1 - q)), b = -a * s * (1 - q);
    rb_tensor *keep = keep_mask(l, x);
    rb_tensor *dropped = rb_mul_scalar(rb_add_scalar(rb_neg(keep), 1.0), s);
    return rb_add_scalar(rb_mul_scalar(rb_add(rb_mul(x, keep), dropped), a), b);
}

const layer_class rb__alpha_dropout_class = {"AlphaDropout", "alpha_dropout", dropout_build,
                                             alpha_dropout_forward};
