/* BatchNormalization and LayerNormalization, over the last (channel) axis. */
#include "layer_impl.h"

enum { VAR_GAMMA = 0, VAR_BETA = 1, VAR_MEAN = 2, VAR_VARIANCE = 3 };

static double epsilon_of(const rb_layer *l) { return l->spec.epsilon > 0 ? l->spec.epsilon : 1e-3; }

static bool norm_build(rb_layer *l, rb_params *p, bool moving)
{
    int64_t c = l->in_shape[l->in_ndim - 1];
    l->out_ndim = l->in_ndim;
    for (int i = 0; i < l->in_ndim; i++)
        l->out_shape[i] = l->in_shape[i];
    rb_init_spec ones = {.kind = RB_INIT_ONES}, zeros = {.kind = RB_INIT_ZEROS};
    if (!rb__layer_var(l, p, "gamma", 1, &c, true, ones) ||
        !rb__layer_var(l, p, "beta", 1, &c, true, zeros))
        return false;
    if (moving && (!rb__layer_var(l, p, "moving_mean", 1, &c, false, zeros) ||
                   !rb__layer_var(l, p, "moving_variance", 1, &c, false, ones)))
        return false;
    if (moving && (l->spec.momentum < 0 || l->spec.momentum >= 1))
        return rb__layer_fail(l, RB_ERR_ARGUMENT, "momentum %g must be in [0, 1)",
                              l->spec.momentum);
    return true;
}

/* (x - mean) / sqrt(var + eps) * gamma + beta, statistics broadcast from (1, ..., C). */
static rb_tensor *normalise(rb_layer *l, rb_tensor *centred, rb_tensor *var)
{
    rb_tensor *inv = rb_rsqrt(rb_add_scalar(var, epsilon_of(l)));
    return rb_add(rb_mul(rb_mul(centred, inv), l->vars[VAR_GAMMA]), l->vars[VAR_BETA]);
}

static bool batch_norm_build(rb_layer *l, rb_params *p)
{
    if (l->spec.momentum == 0) l->spec.momentum = 0.99;
    return norm_build(l, p, true);
}

/* A ReLU right after the normalisation runs inside it (one pass less each way). */
static rb_epilogue epilogue_of(const rb_layer *l)
{
    return l->spec.activation == RB_ACT_RELU ? RB_EPILOGUE_RELU : RB_EPILOGUE_NONE;
}

/* Training with statistics from elsewhere (the whole batch of a distributed job, say). */
static rb_tensor *forward_with_stats(rb_layer *l, rb_tensor *x)
{
    rb_tensor *stats = l->stats_fn(l->stats_ctx, x);
    if (!stats) return NULL;
    int64_t c = rb_tensor_dim(stats, 1);
    rb_tensor *mean = rb_slice(stats, (int64_t[]){0, 0}, (int64_t[]){1, c}, NULL);
    rb_tensor *var = rb_slice(stats, (int64_t[]){1, 0}, (int64_t[]){2, c}, NULL);
    if (!mean || !var ||
        rb_params_moving_average(l->vars[VAR_MEAN], mean, l->spec.momentum) != RB_OK ||
        rb_params_moving_average(l->vars[VAR_VARIANCE], var, l->spec.momentum) != RB_OK)
        return NULL;
    return rb_batch_norm_ex(x, stats, l->vars[VAR_GAMMA], l->vars[VAR_BETA], epsilon_of(l),
                            epilogue_of(l));
}

static rb_tensor *batch_norm_forward(rb_layer *l, rb_tensor *x)
{
    if (!l->training) {
        rb_tensor *stats =
            rb_stack(2, (rb_tensor *[]){l->vars[VAR_MEAN], l->vars[VAR_VARIANCE]}, 0);
        return rb_batch_norm_ex(x, stats, l->vars[VAR_GAMMA], l->vars[VAR_BETA], epsilon_of(l),
                                epilogue_of(l));
    }
    /* Batch mean and (biased, as Keras) variance over every axis but the channels; the moving
     * statistics follow them (Keras: moving = m moving + (1 - m) batch). */
    if (l->stats_fn) return forward_with_stats(l, x);
    return rb_batch_norm_train(x, l->vars[VAR_GAMMA], l->vars[VAR_BETA], l->vars[VAR_MEAN],
                               l->vars[VAR_VARIANCE], l->spec.momentum, epsilon_of(l),
                               epilogue_of(l));
}

const layer_class rb__batch_norm_class = {"BatchNormalization", "batch_normalization",
                                          batch_norm_build, batch_norm_forward};

static bool layer_norm_build(rb_layer *l, rb_params *p) { return norm_build(l, p, false); }

static rb_tensor *layer_norm_forward(rb_layer *l, rb_tensor *x)
{
    rb_tensor *centred = rb_sub(x, rb_mean(x, RB_AXES(-1), true));
    rb_tensor *var = rb_mean(rb_square(centred), RB_AXES(-1), true);
    return normalise(l, centred, var);
}

const layer_class rb__layer_norm_class = {"LayerNormalization", "layer_normalization",
                                          layer_norm_build, layer_norm_forward};
