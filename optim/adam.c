/* The Adam family: Adam (Kingma & Ba 2015, Algorithm 1), AMSGrad (Reddi et al. 2018), AdamW
 * (Loshchilov & Hutter 2019, decoupled weight decay) and Nadam (Dozat 2016, with PyTorch's
 * momentum schedule). One elementwise pass per step over the store's slabs. */
#include <math.h>

#include "optimizer.h"

typedef enum adam_kind { ADAM, ADAMW, NADAM } adam_kind;

typedef struct adam_state {
    rb_adam_config cfg;
    adam_kind kind;
    rb_tensor *w, *g, *m, *v, *vmax;
    /* Per-step scalars (prepare): */
    double lr_t;    /* Adam: lr / (1 - beta1^t) */
    double vcorr;   /* 1 / (1 - beta2^t) */
    double decay;   /* AdamW: 1 - lr weight_decay */
    double cm, cg;  /* Nadam: m^ = cm m + cg g */
    double mu_prod; /* Nadam: prod of mu_i for i <= t, for step t = mu_steps */
    int64_t mu_steps;
} adam_state;

/* One loop per variant, with the tests outside: a test of vmax inside the loop vectorises into
 * masked loads from NULL, a microcode assist per vector on AMD Zen (Adam ran 5 times slower
 * than SGD). */
#define ADAM_MOMENTS(T)                                                                            \
    T gi = g[i];                                                                                   \
    m[i] = b1 * m[i] + ((T)1 - b1) * gi;                                                           \
    v[i] = b2 * v[i] + ((T)1 - b2) * gi * gi

#define ADAM_UPDATE(T, SQRT)                                                                       \
    static void adam_##T(const adam_state *s, T lr, int64_t begin, int64_t end)                    \
    {                                                                                              \
        T *w = rb_tensor_data(s->w), *m = rb_tensor_data(s->m), *v = rb_tensor_data(s->v);         \
        T *vmax = s->vmax ? rb_tensor_data(s->vmax) : NULL;                                        \
        const T *g = rb_tensor_data(s->g);                                                         \
        const T b1 = (T)s->cfg.beta1, b2 = (T)s->cfg.beta2, eps = (T)s->cfg.eps;                   \
        const T lr_t = (T)s->lr_t, vcorr = (T)s->vcorr, decay = (T)s->decay;                       \
        const T cm = (T)s->cm, cg = (T)s->cg;                                                      \
        const bool decoupled = s->kind == ADAMW;                                                   \
        if (vmax) { /* AMSGrad (Adam or AdamW; Nadam refuses it) */                                \
            for (int64_t i = begin; i < end; i++) {                                                \
                if (decoupled) w[i] *= decay;                                                      \
                ADAM_MOMENTS(T);                                                                   \
                (void)gi;                                                                          \
                T vm = vmax[i], vi = v[i];                                                         \
                vmax[i] = vi > vm ? vi : vm;                                                       \
                w[i] -= lr_t * m[i] / (SQRT(vmax[i] * vcorr) + eps);                               \
            }                                                                                      \
        } else if (s->kind == NADAM) {                                                             \
            for (int64_t i = begin; i < end; i++) {                                                \
                ADAM_MOMENTS(T);                                                                   \
                w[i] -= lr * (cm * m[i] + cg * gi) / (SQRT(v[i] * vcorr) + eps);                   \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = begin; i < end; i++) {                                                \
                if (decoupled) w[i] *= decay;                                                      \
                ADAM_MOMENTS(T);                                                                   \
                (void)gi;                                                                          \
                w[i] -= lr_t * m[i] / (SQRT(v[i] * vcorr) + eps);                                  \
            }                                                                                      \
        }                                                                                          \
    }
ADAM_UPDATE(float, sqrtf)
ADAM_UPDATE(double, sqrt)

static void adam_update(rb_optimizer *opt, int64_t begin, int64_t end)
{
    adam_state *s = opt->state;
    if (rb_tensor_dtype(s->w) == RB_F32)
        adam_float(s, (float)opt->lr, begin, end);
    else
        adam_double(s, opt->lr, begin, end);
}

/* Nadam's momentum at step t. */
static double nadam_mu(const adam_state *s, double t)
{
    return s->cfg.beta1 * (1.0 - 0.5 * pow(0.96, 0.004 * t));
}

/* Per-step scalars for step t (steps already counts this one). */
static void adam_prepare(rb_optimizer *opt)
{
    adam_state *s = opt->state;
    double t = (double)opt->steps;
    s->lr_t = opt->lr / (1.0 - pow(s->cfg.beta1, t));
    s->vcorr = 1.0 / (1.0 - pow(s->cfg.beta2, t));
    s->decay = 1.0 - opt->lr * s->cfg.weight_decay;
    if (s->kind == NADAM) {
        /* The product of mu_i up to t, kept across steps (rebuilt after a restored count). */
        if (s->mu_steps != opt->steps - 1) {
            s->mu_prod = 1.0;
            for (int64_t i = 1; i < opt->steps; i++)
                s->mu_prod *= nadam_mu(s, (double)i);
        }
        double mu = nadam_mu(s, t), mu_next = nadam_mu(s, t + 1);
        s->mu_prod *= mu;
        s->mu_steps = opt->steps;
        s->cm = mu_next / (1.0 - s->mu_prod * mu_next);
        s->cg = (1.0 - mu) / (1.0 - s->mu_prod);
    }
}

static rb_optimizer *adam_like(const char *name, adam_kind kind, rb_params *p, rb_adam_config cfg)
{
    if (cfg.beta1 == 0) cfg.beta1 = 0.9;
    if (cfg.beta2 == 0) cfg.beta2 = 0.999;
    if (cfg.eps == 0) cfg.eps = 1e-7;
    if (cfg.beta1 < 0 || cfg.beta1 >= 1 || cfg.beta2 < 0 || cfg.beta2 >= 1 || cfg.eps < 0 ||
        cfg.weight_decay < 0) {
        rb_error(
            RB_ERR_ARGUMENT,
            "rb_%s_new: need betas in [0, 1), eps > 0 and weight_decay >= 0 (got %g, %g, %g, %g)",
            name, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay);
        return NULL;
    }
    if (kind != ADAMW && cfg.weight_decay != 0) {
        rb_error(
            RB_ERR_ARGUMENT,
            "rb_%s_new: weight decay %g: use rb_adamw_new for decoupled decay, or an L2 penalty in the loss",
            name, cfg.weight_decay);
        return NULL;
    }
    if (kind == NADAM && cfg.amsgrad) {
        rb_error(RB_ERR_ARGUMENT, "rb_nadam_new: amsgrad is not defined for Nadam");
        return NULL;
    }
    rb_optimizer *opt =
        rb__optimizer_new(cfg.amsgrad ? (kind == ADAMW ? "adamw_amsgrad" : "amsgrad") : name, p,
                          cfg.lr, sizeof(adam_state));
    if (!opt) return NULL;
    adam_state *s = opt->state;
    s->cfg = cfg;
    s->kind = kind;
    s->w = rb_params_flat_values(p);
    s->g = rb_params_flat_grads(p);
    s->m = rb__optimizer_state(opt, "adam.m");
    s->v = rb__optimizer_state(opt, "adam.v");
    s->vmax = cfg.amsgrad ? rb__optimizer_state(opt, "adam.vmax") : NULL;
    s->mu_steps = -1;
    opt->update = adam_update;
    opt->prepare = adam_prepare;
    return opt;
}

rb_optimizer *rb_adam_new(rb_params *p, rb_adam_config cfg)
{
    return adam_like("adam", ADAM, p, cfg);
}

rb_optimizer *rb_adamw_new(rb_params *p, rb_adam_config cfg)
{
    if (cfg.weight_decay == 0) cfg.weight_decay = 0.01;
    return adam_like("adamw", ADAMW, p, cfg);
}

rb_optimizer *rb_nadam_new(rb_params *p, rb_adam_config cfg)
{
    return adam_like("nadam", NADAM, p, cfg);
}
