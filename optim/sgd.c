/* SGD with momentum, Nesterov momentum and L2 weight decay (PyTorch's formulation). */

#include "optimizer.h"

typedef struct sgd_state {
    rb_sgd_config cfg;
    rb_tensor *w, *g, *v; /* flat slabs */
} sgd_state;

#define SGD_UPDATE(T)                                                                              \
    static void sgd_##T(const sgd_state *s, T lr, int64_t begin, int64_t end)                      \
    {                                                                                              \
        T *w = rb_tensor_data(s->w), *v = s->v ? rb_tensor_data(s->v) : NULL;                      \
        const T *g = rb_tensor_data(s->g);                                                         \
        const T mu = (T)s->cfg.momentum, wd = (T)s->cfg.weight_decay;                              \
        if (!v) {                                                                                  \
            for (int64_t i = begin; i < end; i++)                                                  \
                w[i] -= lr * (g[i] + wd * w[i]);                                                   \
        } else if (s->cfg.nesterov) {                                                              \
            for (int64_t i = begin; i < end; i++) {                                                \
                T gi = g[i] + wd * w[i];                                                           \
                v[i] = mu * v[i] + gi;                                                             \
                w[i] -= lr * (gi + mu * v[i]);                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = begin; i < end; i++) {                                                \
                v[i] = mu * v[i] + g[i] + wd * w[i];                                               \
                w[i] -= lr * v[i];                                                                 \
            }                                                                                      \
        }                                                                                          \
    }
SGD_UPDATE(float)
SGD_UPDATE(double)

static void sgd_update(rb_optimizer *opt, int64_t begin, int64_t end)
{
    const sgd_state *s = opt->state;
    if (rb_tensor_dtype(s->w) == RB_F32)
        sgd_float(s, (float)opt->lr, begin, end);
    else
        sgd_double(s, opt->lr, begin, end);
}

rb_optimizer *rb_sgd_new(rb_params *p, rb_sgd_config cfg)
{
    if (cfg.momentum < 0 || cfg.momentum >= 1 || cfg.weight_decay < 0) {
        rb_error(RB_ERR_ARGUMENT,
                 "rb_sgd_new: need 0 <= momentum < 1 and weight_decay >= 0 (got %g, %g)",
                 cfg.momentum, cfg.weight_decay);
        return NULL;
    }
    if (cfg.nesterov && cfg.momentum == 0) {
        rb_error(RB_ERR_ARGUMENT, "rb_sgd_new: Nesterov momentum needs momentum > 0");
        return NULL;
    }
    rb_optimizer *opt = rb__optimizer_new("sgd", p, cfg.lr, sizeof(sgd_state));
    if (!opt) return NULL;
    sgd_state *s = opt->state;
    s->cfg = cfg;
    s->w = rb_params_flat_values(p);
    s->g = rb_params_flat_grads(p);
    s->v = cfg.momentum > 0 ? rb__optimizer_state(opt, "sgd.momentum") : NULL;
    opt->update = sgd_update;
    return opt;
}
