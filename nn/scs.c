/* Sharpened cosine similarity (Rohrer, 2022): a drop-in for Conv2D whose output is the cosine
 * between each input patch and each kernel, sharpened by a learnable exponent p and damped by a
 * learnable q for weak patches:
 *
 *     scs(s, k) = sign(s . k) * (|s . k| / ((|s| + q) |k|) + eps)^p
 *
 * p = exp(p' / 5) per filter (p' starts at 0.7 * 5, so p = 2) and q = exp(-q' / 0.3) (q' starts
 * at 0.3, so q = 0.37), the reparametrisation of Rohrer's reference implementation that keeps
 * their gradients well scaled. No bias. Built from differentiable ops. */
#include <math.h>

#include "layer_impl.h"

enum { VAR_P = 1, VAR_Q = 2 };

#define P_SCALE 5.0
#define Q_SCALE 0.3
#define SCS_EPS 1e-6

static bool scs_build(rb_layer *l, rb_params *p)
{
    if (l->spec.units < 1) return rb__layer_fail(l, RB_ERR_ARGUMENT, "needs .units >= 1");
    if (l->in_ndim != 3)
        return rb__layer_fail(l, RB_ERR_SHAPE, "expects per-sample images (H, W, C)");
    if (l->spec.window.groups > 1)
        return rb__layer_fail(l, RB_ERR_ARGUMENT, "groups are not supported");
    int kh = l->spec.kernel[0], kw = l->spec.kernel[1] ? l->spec.kernel[1] : kh;
    if (kh < 1) return rb__layer_fail(l, RB_ERR_ARGUMENT, "needs .kernel = {kh, kw}");
    l->spec.kernel[1] = kw;
    int64_t cin = l->in_shape[2], units = l->spec.units, one = 1;
    rb_window2d w = l->spec.window;
    l->out_ndim = 3;
    l->out_shape[0] =
        rb_window_output(l->in_shape[0], kh, w.stride[0] ? w.stride[0] : 1,
                         w.dilation[0] ? w.dilation[0] : 1, w.padding, &w.pad[0], NULL, NULL);
    l->out_shape[1] =
        rb_window_output(l->in_shape[1], kw, w.stride[1] ? w.stride[1] : 1,
                         w.dilation[1] ? w.dilation[1] : 1, w.padding, &w.pad[2], NULL, NULL);
    l->out_shape[2] = units;
    if (l->out_shape[0] < 1 || l->out_shape[1] < 1)
        return rb__layer_fail(l, RB_ERR_SHAPE, "the %dx%d window does not fit the input", kh, kw);
    rb_init_spec p_init = {.kind = RB_INIT_CONSTANT, .value = 0.7 * P_SCALE};
    rb_init_spec q_init = {.kind = RB_INIT_CONSTANT, .value = 1.0 * Q_SCALE};
    return rb__layer_weight(l, p, "kernel", 4, (int64_t[]){kh, kw, cin, units}, l->spec.kernel_init,
                            ROLE_KERNEL) &&
           rb__layer_var(l, p, "p", 1, &units, true, p_init) &&
           rb__layer_var(l, p, "q", 1, &one, true, q_init);
}

static rb_tensor *scs_forward(rb_layer *l, rb_tensor *x)
{
    rb_tensor *w = l->vars[VAR_KERNEL];
    rb_window2d win = l->spec.window;
    rb_dtype dt = rb_tensor_dtype(x);
    int kh = l->spec.kernel[0], kw = l->spec.kernel[1];
    /* |s| over each patch: the summed squares of all channels, convolved with ones. */
    rb_tensor *energy = rb_sum(rb_square(x), RB_AXES(-1), true);
    rb_tensor *ones = rb_tensor_ones(dt, RB_SHAPE(kh, kw, 1, 1));
    rb_tensor *patch_norm = rb_sqrt(rb_add_scalar(rb_conv2d(energy, ones, NULL, win), SCS_EPS));
    rb_tensor *q = rb_exp(rb_mul_scalar(l->vars[VAR_Q], -1.0 / Q_SCALE));
    /* Unit kernels. */
    rb_tensor *w_norm = rb_sqrt(rb_sum(rb_square(w), RB_AXES(0, 1, 2), true));
    rb_tensor *cos = rb_div(rb_conv2d(x, rb_div(w, w_norm), NULL, win), rb_add(patch_norm, q));
    rb_tensor *p = rb_exp(rb_mul_scalar(l->vars[VAR_P], 1.0 / P_SCALE));
    rb_tensor *magnitude = rb_pow(rb_add_scalar(rb_abs(cos), SCS_EPS), p);
    return rb_mul(rb_sign(cos), magnitude);
}

const layer_class rb__scs2d_class = {"SharpenedCosineSimilarity2D", "scs2d", scs_build,
                                     scs_forward};
