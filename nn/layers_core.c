/* Dense, convolution, pooling, reshaping and activation layers. */
#include <string.h>

#include "layer_impl.h"

static rb_init_spec zeros_by_default(rb_init_spec init)
{
    if (init.kind == RB_INIT_DEFAULT) init.kind = RB_INIT_ZEROS;
    return init;
}

static bool need_units(rb_layer *l)
{
    if (l->spec.units >= 1) return true;
    return rb__layer_fail(l, RB_ERR_ARGUMENT, "needs .units >= 1 (got %lld)",
                          (long long)l->spec.units);
}

/* Kernel of the given shape and, unless no_bias, a bias of `units`. */
static bool kernel_and_bias(rb_layer *l, rb_params *p, int ndim, const int64_t *shape,
                            int64_t units)
{
    if (!rb__layer_weight(l, p, "kernel", ndim, shape, l->spec.kernel_init, ROLE_KERNEL))
        return false;
    if (!l->spec.no_bias &&
        !rb__layer_weight(l, p, "bias", 1, &units, zeros_by_default(l->spec.bias_init), ROLE_BIAS))
        return false;
    return true;
}

static rb_tensor *bias_of(const rb_layer *l) { return l->spec.no_bias ? NULL : l->vars[VAR_BIAS]; }

/* ---- Dense: (..., in) -> (..., units) ---- */

static bool dense_build(rb_layer *l, rb_params *p)
{
    if (!need_units(l)) return false;
    int64_t in = l->in_shape[l->in_ndim - 1];
    l->out_ndim = l->in_ndim;
    memcpy(l->out_shape, l->in_shape, sizeof l->out_shape);
    l->out_shape[l->out_ndim - 1] = l->spec.units;
    return kernel_and_bias(l, p, 2, (int64_t[]){in, l->spec.units}, l->spec.units);
}

/* A ReLU activation runs as the product's epilogue (see rb__layer_fuses_activation). */
static rb_epilogue epilogue_of(const rb_layer *l)
{
    return l->spec.activation == RB_ACT_RELU ? RB_EPILOGUE_RELU : RB_EPILOGUE_NONE;
}

static rb_tensor *dense_forward(rb_layer *l, rb_tensor *x)
{
    return rb_linear_ex(x, l->vars[VAR_KERNEL], bias_of(l), epilogue_of(l));
}

const layer_class rb__dense_class = {"Dense", "dense", dense_build, dense_forward};

/* ---- convolutions ---- */

static bool need_image(rb_layer *l, int ndim)
{
    if (l->in_ndim == ndim) return true;
    return rb__layer_fail(l, RB_ERR_SHAPE, "expects per-sample inputs of %d axes (%s), got %d",
                          ndim, ndim == 3 ? "H, W, C" : "L, C", l->in_ndim);
}

static bool output_extent(rb_layer *l, int64_t n, int k, int stride, int dilation, const int *pads,
                          int64_t *out)
{
    *out = rb_window_output(n, k, stride, dilation, l->spec.window.padding, pads, NULL, NULL);
    if (*out >= 1) return true;
    return rb__layer_fail(
        l, RB_ERR_SHAPE,
        "a window of %d (dilation %d) does not fit %lld positions with this padding", k, dilation,
        (long long)n);
}

static int or1(int v) { return v ? v : 1; }

static bool conv2d_build(rb_layer *l, rb_params *p)
{
    if (!need_units(l) || !need_image(l, 3)) return false;
    int kh = l->spec.kernel[0], kw = l->spec.kernel[1] ? l->spec.kernel[1] : kh;
    if (kh < 1) return rb__layer_fail(l, RB_ERR_ARGUMENT, "needs .kernel = {kh, kw}");
    l->spec.kernel[1] = kw;
    const rb_window2d *w = &l->spec.window;
    int64_t groups = or1(w->groups), cin = l->in_shape[2];
    if (cin % groups || l->spec.units % groups)
        return rb__layer_fail(l, RB_ERR_SHAPE,
                              "%lld groups must divide the %lld input and %lld output channels",
                              (long long)groups, (long long)cin, (long long)l->spec.units);
    l->out_ndim = 3;
    if (!output_extent(l, l->in_shape[0], kh, or1(w->stride[0]), or1(w->dilation[0]), &w->pad[0],
                       &l->out_shape[0]) ||
        !output_extent(l, l->in_shape[1], kw, or1(w->stride[1]), or1(w->dilation[1]), &w->pad[2],
                       &l->out_shape[1]))
        return false;
    l->out_shape[2] = l->spec.units;
    return kernel_and_bias(l, p, 4, (int64_t[]){kh, kw, cin / groups, l->spec.units},
                           l->spec.units);
}

static rb_tensor *conv2d_forward(rb_layer *l, rb_tensor *x)
{
    return rb_conv2d_ex(x, l->vars[VAR_KERNEL], bias_of(l), l->spec.window, epilogue_of(l));
}

const layer_class rb__conv2d_class = {"Conv2D", "conv2d", conv2d_build, conv2d_forward};

static rb_window1d window1d(const rb_layer *l)
{
    const rb_window2d *w = &l->spec.window;
    rb_window1d w1 = {w->stride[0], w->dilation[0], w->padding, {w->pad[0], w->pad[1]}, w->groups};
    return w1;
}

static bool conv1d_build(rb_layer *l, rb_params *p)
{
    if (!need_units(l) || !need_image(l, 2)) return false;
    int k = l->spec.kernel[0];
    if (k < 1) return rb__layer_fail(l, RB_ERR_ARGUMENT, "needs .kernel = {k}");
    rb_window1d w = window1d(l);
    int64_t groups = or1(w.groups), cin = l->in_shape[1];
    if (cin % groups || l->spec.units % groups)
        return rb__layer_fail(l, RB_ERR_SHAPE, "%lld groups must divide the channels",
                              (long long)groups);
    l->out_ndim = 2;
    if (!output_extent(l, l->in_shape[0], k, or1(w.stride), or1(w.dilation), w.pad,
                       &l->out_shape[0]))
        return false;
    l->out_shape[1] = l->spec.units;
    return kernel_and_bias(l, p, 3, (int64_t[]){k, cin / groups, l->spec.units}, l->spec.units);
}

static rb_tensor *conv1d_forward(rb_layer *l, rb_tensor *x)
{
    return rb_conv1d(x, l->vars[VAR_KERNEL], bias_of(l), window1d(l));
}

const layer_class rb__conv1d_class = {"Conv1D", "conv1d", conv1d_build, conv1d_forward};

static bool conv2d_transpose_build(rb_layer *l, rb_params *p)
{
    if (!need_units(l) || !need_image(l, 3)) return false;
    int kh = l->spec.kernel[0], kw = l->spec.kernel[1] ? l->spec.kernel[1] : kh;
    if (kh < 1) return rb__layer_fail(l, RB_ERR_ARGUMENT, "needs .kernel = {kh, kw}");
    l->spec.kernel[1] = kw;
    int64_t cin = l->in_shape[2];
    /* The output shape comes from the op itself on a one-sample probe. */
    rb_scope *s = rb_scope_begin();
    rb_tensor *probe = rb_conv2d_transpose(
        rb_tensor_zeros(l->dtype, RB_SHAPE(1, l->in_shape[0], l->in_shape[1], cin)),
        rb_tensor_zeros(l->dtype, RB_SHAPE(kh, kw, l->spec.units, cin)), NULL, l->spec.window);
    bool ok = probe != NULL;
    if (ok) {
        l->out_ndim = 3;
        for (int i = 0; i < 3; i++)
            l->out_shape[i] = rb_tensor_dim(probe, i + 1);
    }
    rb_scope_end(s);
    return ok && kernel_and_bias(l, p, 4, (int64_t[]){kh, kw, l->spec.units, cin}, l->spec.units);
}

static rb_tensor *conv2d_transpose_forward(rb_layer *l, rb_tensor *x)
{
    return rb_conv2d_transpose(x, l->vars[VAR_KERNEL], bias_of(l), l->spec.window);
}

const layer_class rb__conv2d_transpose_class = {"Conv2DTranspose", "conv2d_transpose",
                                                conv2d_transpose_build, conv2d_transpose_forward};

/* ---- shape-only layers: output shapes come from running the op on a one-sample probe ---- */

typedef rb_tensor *(*unary_layer_fn)(rb_layer *l, rb_tensor *x);

static bool probe_build(rb_layer *l, unary_layer_fn fn)
{
    rb_scope *s = rb_scope_begin();
    int64_t shape[RB_MAX_DIMS] = {1};
    memcpy(shape + 1, l->in_shape, sizeof(int64_t) * (size_t)l->in_ndim);
    rb_tensor *y = fn(l, rb_tensor_zeros(l->dtype, l->in_ndim + 1, shape));
    bool ok = y != NULL;
    if (ok) {
        l->out_ndim = rb_tensor_ndim(y) - 1;
        for (int i = 0; i < l->out_ndim; i++)
            l->out_shape[i] = rb_tensor_dim(y, i + 1);
    }
    rb_scope_end(s);
    if (!ok) {
        char detail[400];
        snprintf(detail, sizeof detail, "%s", rb_last_error());
        rb_error_clear();
        return rb__layer_fail(l, RB_ERR_SHAPE, "%s", detail);
    }
    return true;
}

static int window_k(const rb_layer *l, int i)
{
    int k = l->spec.kernel[i];
    return k ? k : (i == 1 && l->spec.kernel[0] ? l->spec.kernel[0] : 2);
}

#define POOL2D(NAME, TYPE, BASE, FN)                                                               \
    static rb_tensor *NAME##_forward(rb_layer *l, rb_tensor *x)                                    \
    {                                                                                              \
        return FN(x, window_k(l, 0), window_k(l, 1), l->spec.window);                              \
    }                                                                                              \
    static bool NAME##_build(rb_layer *l, rb_params *p)                                            \
    {                                                                                              \
        (void)p;                                                                                   \
        return need_image(l, 3) && probe_build(l, NAME##_forward);                                 \
    }                                                                                              \
    const layer_class rb__##NAME##_class = {TYPE, BASE, NAME##_build, NAME##_forward};

POOL2D(max_pool2d, "MaxPooling2D", "max_pooling2d", rb_max_pool2d)
POOL2D(avg_pool2d, "AveragePooling2D", "average_pooling2d", rb_avg_pool2d)
POOL2D(max_abs_pool2d, "MaxAbsPooling2D", "max_abs_pooling2d", rb_max_abs_pool2d)

#define POOL1D(NAME, TYPE, BASE, FN)                                                               \
    static rb_tensor *NAME##_forward(rb_layer *l, rb_tensor *x)                                    \
    {                                                                                              \
        return FN(x, window_k(l, 0), window1d(l));                                                 \
    }                                                                                              \
    static bool NAME##_build(rb_layer *l, rb_params *p)                                            \
    {                                                                                              \
        (void)p;                                                                                   \
        return need_image(l, 2) && probe_build(l, NAME##_forward);                                 \
    }                                                                                              \
    const layer_class rb__##NAME##_class = {TYPE, BASE, NAME##_build, NAME##_forward};

POOL1D(max_pool1d, "MaxPooling1D", "max_pooling1d", rb_max_pool1d)
POOL1D(avg_pool1d, "AveragePooling1D", "average_pooling1d", rb_avg_pool1d)

#define SHAPE_LAYER(NAME, TYPE, BASE, EXPR, NDIM)                                                  \
    static rb_tensor *NAME##_forward(rb_layer *l, rb_tensor *x)                                    \
    {                                                                                              \
        (void)l;                                                                                   \
        return (EXPR);                                                                             \
    }                                                                                              \
    static bool NAME##_build(rb_layer *l, rb_params *p)                                            \
    {                                                                                              \
        (void)p;                                                                                   \
        return (NDIM == 0 || need_image(l, NDIM)) && probe_build(l, NAME##_forward);               \
    }                                                                                              \
    const layer_class rb__##NAME##_class = {TYPE, BASE, NAME##_build, NAME##_forward};

SHAPE_LAYER(global_avg_pool2d, "GlobalAveragePooling2D", "global_average_pooling2d",
            rb_global_avg_pool2d(x), 3)
SHAPE_LAYER(global_max_pool2d, "GlobalMaxPooling2D", "global_max_pooling2d",
            rb_global_max_pool2d(x), 3)
SHAPE_LAYER(upsample2d, "UpSampling2D", "up_sampling2d",
            rb_upsample2d(x, window_k(l, 0), window_k(l, 1)), 3)
SHAPE_LAYER(flatten, "Flatten", "flatten", rb_flatten(x), 0)
SHAPE_LAYER(activation, "Activation", "activation", x, 0)
