/* What a layer spec may ask of each kind. A field set (non-zero) that the kind does not use, or
 * a penalty it has no weight to apply to, is refused naming the field: ignoring it would
 * silently train another model than the one written. */
#include <float.h>
#include <inttypes.h>
#include <string.h>

#include "layer_impl.h"

typedef enum field {
    F_UNITS,
    F_KERNEL0,
    F_KERNEL1,
    F_STRIDE0,
    F_STRIDE1,
    F_DILATION0,
    F_DILATION1,
    F_PADDING,
    F_PAD01,
    F_PAD23,
    F_GROUPS,
    F_OUTPUT_PADDING,
    F_ACTIVATION,
    F_ALPHA,
    F_NO_BIAS,
    F_KERNEL_INIT,
    F_BIAS_INIT,
    F_RATE,
    F_MOMENTUM,
    F_EPSILON,
    F_BN,
    F_SEED,
    F_RETURN_SEQUENCES,
    F_BIDIRECTIONAL,
    F_RECURRENT_INIT,
    F_COUNT
} field;

static const char *const field_names[F_COUNT] = {
    [F_UNITS] = ".units",
    [F_KERNEL0] = ".kernel[0]",
    [F_KERNEL1] = ".kernel[1]",
    [F_STRIDE0] = ".window.stride[0]",
    [F_STRIDE1] = ".window.stride[1]",
    [F_DILATION0] = ".window.dilation[0]",
    [F_DILATION1] = ".window.dilation[1]",
    [F_PADDING] = ".window.padding",
    [F_PAD01] = ".window.pad[0..1]",
    [F_PAD23] = ".window.pad[2..3]",
    [F_GROUPS] = ".window.groups",
    [F_OUTPUT_PADDING] = ".window.output_padding",
    [F_ACTIVATION] = ".activation",
    [F_ALPHA] = ".alpha",
    [F_NO_BIAS] = ".no_bias",
    [F_KERNEL_INIT] = ".kernel_init",
    [F_BIAS_INIT] = ".bias_init",
    [F_RATE] = ".rate",
    [F_MOMENTUM] = ".momentum",
    [F_EPSILON] = ".epsilon",
    [F_BN] = ".bn",
    [F_SEED] = ".seed",
    [F_RETURN_SEQUENCES] = ".return_sequences",
    [F_BIDIRECTIONAL] = ".bidirectional",
    [F_RECURRENT_INIT] = ".recurrent_init",
};

#define BIT(f)    (UINT32_C(1) << (f))
#define ACT       (BIT(F_ACTIVATION) | BIT(F_ALPHA))
#define WEIGHTS   (BIT(F_UNITS) | BIT(F_KERNEL_INIT) | BIT(F_SEED))
#define BIAS      (BIT(F_NO_BIAS) | BIT(F_BIAS_INIT))
#define KERNEL_2D (BIT(F_KERNEL0) | BIT(F_KERNEL1))
#define WINDOW_1D (BIT(F_STRIDE0) | BIT(F_DILATION0) | BIT(F_PADDING) | BIT(F_PAD01))
#define WINDOW_2D (WINDOW_1D | BIT(F_STRIDE1) | BIT(F_DILATION1) | BIT(F_PAD23))
#define RECURRENT                                                                                  \
    (WEIGHTS | BIT(F_BIAS_INIT) | BIT(F_RETURN_SEQUENCES) | BIT(F_BIDIRECTIONAL) |                 \
     BIT(F_RECURRENT_INIT))

/* The fields each kind reads (besides .kind and .name, which every kind uses). */
static const uint32_t used_fields[RB_LAYER_KIND_COUNT] = {
    [RB_LAYER_DENSE] = WEIGHTS | BIAS | ACT,
    [RB_LAYER_CONV1D] = WEIGHTS | BIAS | ACT | BIT(F_KERNEL0) | WINDOW_1D | BIT(F_GROUPS),
    [RB_LAYER_CONV2D] = WEIGHTS | BIAS | ACT | KERNEL_2D | WINDOW_2D | BIT(F_GROUPS),
    [RB_LAYER_CONV2D_TRANSPOSE] =
        WEIGHTS | BIAS | ACT | KERNEL_2D | WINDOW_2D | BIT(F_OUTPUT_PADDING),
    [RB_LAYER_SCS2D] = WEIGHTS | ACT | KERNEL_2D | WINDOW_2D, /* no bias */
    [RB_LAYER_MAX_POOL1D] = ACT | BIT(F_KERNEL0) | WINDOW_1D,
    [RB_LAYER_AVG_POOL1D] = ACT | BIT(F_KERNEL0) | WINDOW_1D,
    [RB_LAYER_MAX_POOL2D] = ACT | KERNEL_2D | WINDOW_2D,
    [RB_LAYER_AVG_POOL2D] = ACT | KERNEL_2D | WINDOW_2D,
    [RB_LAYER_MAX_ABS_POOL2D] = ACT | KERNEL_2D | WINDOW_2D,
    [RB_LAYER_GLOBAL_AVG_POOL2D] = ACT,
    [RB_LAYER_GLOBAL_MAX_POOL2D] = ACT,
    [RB_LAYER_UPSAMPLE2D] = ACT | KERNEL_2D,
    [RB_LAYER_FLATTEN] = ACT,
    [RB_LAYER_DROPOUT] = ACT | BIT(F_RATE) | BIT(F_SEED),
    [RB_LAYER_ALPHA_DROPOUT] = ACT | BIT(F_RATE) | BIT(F_SEED),
    [RB_LAYER_BATCH_NORM] = ACT | BIT(F_MOMENTUM) | BIT(F_EPSILON),
    [RB_LAYER_LAYER_NORM] = ACT | BIT(F_EPSILON),
    [RB_LAYER_ACTIVATION] = ACT,
    /* Square kernels and strides (index 1 must repeat index 0), SAME padding, a bias only
     * without BatchNorm. */
    [RB_LAYER_RESIDUAL] = WEIGHTS | ACT | KERNEL_2D | BIT(F_STRIDE0) | BIT(F_STRIDE1) | BIT(F_BN) |
                          BIT(F_MOMENTUM) | BIT(F_EPSILON),
    [RB_LAYER_SIMPLE_RNN] = RECURRENT | ACT,
    [RB_LAYER_LSTM] = RECURRENT, /* fixed gate activations, always a bias */
    [RB_LAYER_GRU] = RECURRENT,
};

static bool init_set(rb_init_spec i) { return i.kind != RB_INIT_DEFAULT || i.scale || i.value; }

/* The field's value as text into out, or false when it is not set (zero). */
static bool field_value(const rb_layer_spec *s, field f, char *out, size_t n)
{
    const rb_window2d *w = &s->window;
    switch (f) {
    case F_UNITS: return s->units && snprintf(out, n, "%lld", (long long)s->units);
    case F_KERNEL0: return s->kernel[0] && snprintf(out, n, "%d", s->kernel[0]);
    case F_KERNEL1: return s->kernel[1] && snprintf(out, n, "%d", s->kernel[1]);
    case F_STRIDE0: return w->stride[0] && snprintf(out, n, "%d", w->stride[0]);
    case F_STRIDE1: return w->stride[1] && snprintf(out, n, "%d", w->stride[1]);
    case F_DILATION0: return w->dilation[0] && snprintf(out, n, "%d", w->dilation[0]);
    case F_DILATION1: return w->dilation[1] && snprintf(out, n, "%d", w->dilation[1]);
    case F_PADDING:
        return w->padding &&
               snprintf(out, n, "%s",
                        w->padding == RB_PAD_SAME ? "RB_PAD_SAME" : "RB_PAD_EXPLICIT");
    case F_PAD01:
        return (w->pad[0] || w->pad[1]) && snprintf(out, n, "{%d, %d}", w->pad[0], w->pad[1]);
    case F_PAD23:
        return (w->pad[2] || w->pad[3]) && snprintf(out, n, "{%d, %d}", w->pad[2], w->pad[3]);
    case F_GROUPS: return w->groups && snprintf(out, n, "%d", w->groups);
    case F_OUTPUT_PADDING:
        return (w->output_padding[0] || w->output_padding[1]) &&
               snprintf(out, n, "{%d, %d}", w->output_padding[0], w->output_padding[1]);
    case F_ACTIVATION:
        return s->activation && snprintf(out, n, "%s", rb_activation_name(s->activation));
    case F_ALPHA: return s->alpha != 0 && snprintf(out, n, "%g", s->alpha);
    case F_NO_BIAS: return s->no_bias && snprintf(out, n, "true");
    case F_KERNEL_INIT:
        return init_set(s->kernel_init) &&
               snprintf(out, n, "%s", rb_init_name(s->kernel_init.kind));
    case F_BIAS_INIT:
        return init_set(s->bias_init) && snprintf(out, n, "%s", rb_init_name(s->bias_init.kind));
    case F_RATE: return s->rate != 0 && snprintf(out, n, "%g", s->rate);
    case F_MOMENTUM: return s->momentum != 0 && snprintf(out, n, "%g", s->momentum);
    case F_EPSILON: return s->epsilon != 0 && snprintf(out, n, "%g", s->epsilon);
    case F_BN:
        return s->bn && snprintf(out, n, "%s",
                                 s->bn == RB_BN_BEFORE_CONV ? "RB_BN_BEFORE_CONV" : "RB_BN_NONE");
    case F_SEED: return s->seed && snprintf(out, n, "%" PRIu64, s->seed);
    case F_RETURN_SEQUENCES: return s->return_sequences && snprintf(out, n, "true");
    case F_BIDIRECTIONAL: return s->bidirectional && snprintf(out, n, "true");
    case F_RECURRENT_INIT:
        return init_set(s->recurrent_init) &&
               snprintf(out, n, "%s", rb_init_name(s->recurrent_init.kind));
    case F_COUNT: break;
    }
    return false;
}

static bool refuse(const rb_layer *l, field f, const char *why)
{
    char value[64];
    field_value(&l->spec, f, value, sizeof value);
    return rb__layer_fail(l, RB_ERR_ARGUMENT, "%s = %s: %s", field_names[f], value, why);
}

/* Fields a kind uses only in some settings. */
static bool check_conditional_fields(const rb_layer *l)
{
    const rb_layer_spec *s = &l->spec;
    char value[64];
    rb_activation act = s->activation;
    if (s->kind == RB_LAYER_SIMPLE_RNN && act == RB_ACT_NONE) act = RB_ACT_TANH;
    if (s->kind == RB_LAYER_RESIDUAL && act == RB_ACT_NONE) act = RB_ACT_RELU;
    if (s->alpha != 0 && act != RB_ACT_LEAKY_RELU && act != RB_ACT_ELU) {
        snprintf(value, sizeof value, "the activation (%s) does not use it; leaky_relu and elu do",
                 rb_activation_name(act));
        return refuse(l, F_ALPHA, value);
    }
    if (s->kind != RB_LAYER_RESIDUAL) return true;
    if (s->kernel[1] && s->kernel[1] != s->kernel[0])
        return refuse(l, F_KERNEL1,
                      "a residual block's kernels are square: .kernel[0] on both axes");
    if (s->window.stride[1] && s->window.stride[1] != s->window.stride[0])
        return refuse(l, F_STRIDE1, "a residual block strides .window.stride[0] on both axes");
    if (s->bn == RB_BN_NONE && s->momentum != 0)
        return refuse(l, F_MOMENTUM, "a residual block without BatchNorm does not use it");
    if (s->bn == RB_BN_NONE && s->epsilon != 0)
        return refuse(l, F_EPSILON, "a residual block without BatchNorm does not use it");
    return true;
}

static bool kind_has_kernel(rb_layer_kind kind)
{
    switch (kind) {
    case RB_LAYER_DENSE:
    case RB_LAYER_CONV1D:
    case RB_LAYER_CONV2D:
    case RB_LAYER_CONV2D_TRANSPOSE:
    case RB_LAYER_SCS2D:
    case RB_LAYER_RESIDUAL: /* its convolutions' */
    case RB_LAYER_SIMPLE_RNN:
    case RB_LAYER_LSTM:
    case RB_LAYER_GRU: return true;
    default: return false;
    }
}

static bool kind_is_recurrent(rb_layer_kind kind)
{
    return kind == RB_LAYER_SIMPLE_RNN || kind == RB_LAYER_LSTM || kind == RB_LAYER_GRU;
}

/* Negative or non-finite coefficients, and coefficients a kind has nothing to apply to. */
static bool check_penalties(const rb_layer *l)
{
    const rb_layer_spec *s = &l->spec;
    const struct {
        const char *field;
        double value;
        bool recurrent;
    } fields[] = {{"l2", s->l2, false},
                  {"l1", s->l1, false},
                  {"max_norm", s->max_norm, false},
                  {"recurrent_l2", s->recurrent_l2, true},
                  {"recurrent_l1", s->recurrent_l1, true},
                  {"recurrent_max_norm", s->recurrent_max_norm, true}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        double v = fields[i].value;
        if (!(v >= 0 && v <= DBL_MAX))
            return rb__layer_fail(l, RB_ERR_ARGUMENT, ".%s = %g: needs a finite value >= 0",
                                  fields[i].field, v);
        bool applies = fields[i].recurrent ? kind_is_recurrent(s->kind) : kind_has_kernel(s->kind);
        if (v > 0 && !applies)
            return rb__layer_fail(l, RB_ERR_ARGUMENT,
                                  ".%s = %g: this kind has no %s to apply it to", fields[i].field,
                                  v, fields[i].recurrent ? "recurrent kernel" : "kernel");
    }
    return true;
}

bool rb__layer_check_spec(const rb_layer *l)
{
    uint32_t used = used_fields[l->spec.kind];
    char value[64];
    for (int f = 0; f < F_COUNT; f++)
        if (!(used & BIT(f)) && field_value(&l->spec, (field)f, value, sizeof value))
            return refuse(l, (field)f, "this kind does not use it");
    return check_conditional_fields(l) && check_penalties(l);
}
