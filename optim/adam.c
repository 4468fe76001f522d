/* Adam (Kingma & Ba, 2015), Algorithm 1 with bias-corrected moments. */
#include <math.h>

#include "optimizer.h"

typedef struct adam_state {
    rb_adam_config cfg;
    rb_tensor *w, *g, *m, *v;
    double lr_t;  /* lr / (1 - beta1^t), this step */
    double vcorr; /* 1 / (1 - beta2^t) */
} adam_state;

#define ADAM_UPDATE(T, SQRT)                                                                   \
    static void adam_##T(const adam_state *s, int64_t begin, int64_t end)                      \
    {                                                                                          \
        T *w = rb_tensor_data(s->w), *m = rb_tensor_data(s->m), *v = rb_tensor_data(s->v);     \
        const T *g = rb_tensor_data(s->g);                                                     \
        const T b1 = (T)s->cfg.beta1, b2 = (T)s->cfg.beta2, eps = (T)s->cfg.eps;               \
        const T lr_t = (T)s->lr_t, vcorr = (T)s->vcorr;                                        \
        for (int64_t i = begin; i < end; i++) {                                                \
            m[i] = b1 * m[i] + ((T)1 - b1) * g[i];                                             \
            v[i] = b2 * v[i] + ((T)1 - b2) * g[i] * g[i];                                      \
            w[i] -= lr_t * m[i] / (SQRT(v[i] * vcorr) + eps);                                  \
        }                                                                                      \
    }
ADAM_UPDATE(float, sqrtf)
ADAM_UPDATE(double, sqrt)

static void adam_update(rb_optimizer *opt, int64_t begin, int64_t end)
{
    adam_state *s = opt->state;
    if (rb_tensor_dtype(s->w) == RB_F32) adam_float(s, begin, end);
    else adam_double(s, begin, end);
}

/* Bias corrections of step t (steps already counts this one). */
static void adam_prepare(rb_optimizer *opt)
{
    adam_state *s = opt->state;
    double t = (double)opt->steps;
    s->lr_t = opt->lr / (1.0 - pow(s->cfg.beta1, t));
    s->vcorr = 1.0 / (1.0 - pow(s->cfg.beta2, t));
}

rb_optimizer *rb_adam_new(rb_params *p, rb_adam_config cfg)
{
    if (cfg.beta1 == 0) cfg.beta1 = 0.9;
    if (cfg.beta2 == 0) cfg.beta2 = 0.999;
    if (cfg.eps == 0) cfg.eps = 1e-7;
    if (cfg.beta1 < 0 || cfg.beta1 >= 1 || cfg.beta2 < 0 || cfg.beta2 >= 1 || cfg.eps < 0) {
        rb_error(RB_ERR_ARGUMENT, "rb_adam_new: need betas in [0, 1) and eps > 0 (got %g, %g, %g)",
                 cfg.beta1, cfg.beta2, cfg.eps);
        return NULL;
    }
    rb_optimizer *opt = rb__optimizer_new("adam", p, cfg.lr, sizeof(adam_state));
    if (!opt) return NULL;
    adam_state *s = opt->state;
    s->cfg = cfg;
    s->w = rb_params_flat_values(p);
    s->g = rb_params_flat_grads(p);
    s->m = rb_params_state(p, "adam.m");
    s->v = rb_params_state(p, "adam.v");
    opt->update = adam_update;
    opt->prepare = adam_prepare;
    return opt;
}
