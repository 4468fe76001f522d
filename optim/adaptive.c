/* Per-coordinate adaptive methods that predate Adam: Adagrad (Duchi et al. 2011), Adadelta
 * (Zeiler 2012) and RMSprop (Hinton's 2012 lecture, PyTorch's formulation). */
#include <math.h>

#include "optimizer.h"

typedef enum adaptive_kind { ADAGRAD, ADADELTA, RMSPROP } adaptive_kind;

typedef struct adaptive_state {
    adaptive_kind kind;
    double rho, eps, momentum, initial;
    rb_tensor *w, *g, *a, *b; /* a: accumulated g^2; b: Adadelta's d^2 or RMSprop's momentum */
} adaptive_state;

/* One loop per method, with the tests outside: a test of b inside the loop vectorises into
 * masked loads from NULL, a microcode assist per vector on AMD Zen. */
#define ADAPTIVE_UPDATE(T, SQRT)                                                                   \
    static void adaptive_##T(const adaptive_state *s, T lr, int64_t begin, int64_t end)            \
    {                                                                                              \
        T *w = rb_tensor_data(s->w), *a = rb_tensor_data(s->a);                                    \
        T *b = s->b ? rb_tensor_data(s->b) : NULL;                                                 \
        const T *g = rb_tensor_data(s->g);                                                         \
        const T rho = (T)s->rho, eps = (T)s->eps, mu = (T)s->momentum;                             \
        switch (s->kind) {                                                                         \
        case ADAGRAD:                                                                              \
            for (int64_t i = begin; i < end; i++) {                                                \
                a[i] += g[i] * g[i];                                                               \
                w[i] -= lr * g[i] / SQRT(a[i] + eps);                                              \
            }                                                                                      \
            break;                                                                                 \
        case ADADELTA:                                                                             \
            for (int64_t i = begin; i < end; i++) {                                                \
                T gi = g[i];                                                                       \
                a[i] = rho * a[i] + ((T)1 - rho) * gi * gi;                                        \
                T d = SQRT(b[i] + eps) / SQRT(a[i] + eps) * gi;                                    \
                b[i] = rho * b[i] + ((T)1 - rho) * d * d;                                          \
                w[i] -= lr * d;                                                                    \
            }                                                                                      \
            break;                                                                                 \
        case RMSPROP:                                                                              \
            if (b)                                                                                 \
                for (int64_t i = begin; i < end; i++) {                                            \
                    T gi = g[i];                                                                   \
                    a[i] = rho * a[i] + ((T)1 - rho) * gi * gi;                                    \
                    b[i] = mu * b[i] + gi / (SQRT(a[i]) + eps);                                    \
                    w[i] -= lr * b[i];                                                             \
                }                                                                                  \
            else                                                                                   \
                for (int64_t i = begin; i < end; i++) {                                            \
                    T gi = g[i];                                                                   \
                    a[i] = rho * a[i] + ((T)1 - rho) * gi * gi;                                    \
                    w[i] -= lr * (gi / (SQRT(a[i]) + eps));                                        \
                }                                                                                  \
            break;                                                                                 \
        }                                                                                          \
    }
ADAPTIVE_UPDATE(float, sqrtf)
ADAPTIVE_UPDATE(double, sqrt)

static void adaptive_update(rb_optimizer *opt, int64_t begin, int64_t end)
{
    adaptive_state *s = opt->state;
    if (rb_tensor_dtype(s->w) == RB_F32)
        adaptive_float(s, (float)opt->lr, begin, end);
    else
        adaptive_double(s, opt->lr, begin, end);
}

/* Adagrad's accumulator starts at initial_accumulator (on the first step, so that a restored
 * checkpoint keeps its own; a checkpoint of step 0 starts afresh). */
static void adagrad_prepare(rb_optimizer *opt)
{
    adaptive_state *s = opt->state;
    if (opt->steps == 1) {
        rb_tensor *a = s->a;
        int64_t n = rb_tensor_size(a);
        if (rb_tensor_dtype(a) == RB_F32)
            for (int64_t i = 0; i < n; i++)
                rb_tensor_f32(a)[i] = (float)s->initial;
        else
            for (int64_t i = 0; i < n; i++)
                rb_tensor_f64(a)[i] = s->initial;
    }
}

static rb_optimizer *adaptive_new(const char *name, adaptive_kind kind, rb_params *p, double lr,
                                  double rho, double eps, double momentum, double initial)
{
    if (rho < 0 || rho >= 1 || eps < 0 || momentum < 0 || momentum >= 1 || initial < 0) {
        rb_error(
            RB_ERR_ARGUMENT,
            "rb_%s_new: need rho and momentum in [0, 1), eps >= 0 and a non-negative initial accumulator (got %g, %g, %g, %g)",
            name, rho, momentum, eps, initial);
        return NULL;
    }
    rb_optimizer *opt = rb__optimizer_new(name, p, lr, sizeof(adaptive_state));
    if (!opt) return NULL;
    adaptive_state *s = opt->state;
    s->kind = kind;
    s->rho = rho;
    s->eps = eps;
    s->momentum = momentum;
    s->initial = initial;
    s->w = rb_params_flat_values(p);
    s->g = rb_params_flat_grads(p);
    const char *acc =
        kind == ADAGRAD ? "adagrad.acc" : (kind == ADADELTA ? "adadelta.g2" : "rmsprop.v");
    s->a = rb__optimizer_state(opt, acc);
    if (kind == ADADELTA) s->b = rb__optimizer_state(opt, "adadelta.d2");
    if (kind == RMSPROP && momentum > 0) s->b = rb__optimizer_state(opt, "rmsprop.momentum");
    opt->update = adaptive_update;
    if (kind == ADAGRAD) opt->prepare = adagrad_prepare;
    return opt;
}

rb_optimizer *rb_adagrad_new(rb_params *p, rb_adagrad_config c)
{
    if (c.initial_accumulator == 0) c.initial_accumulator = 0.1;
    if (c.eps == 0) c.eps = 1e-7;
    return adaptive_new("adagrad", ADAGRAD, p, c.lr, 0, c.eps, 0, c.initial_accumulator);
}

rb_optimizer *rb_adadelta_new(rb_params *p, rb_adadelta_config c)
{
    if (c.rho == 0) c.rho = 0.95;
    if (c.eps == 0) c.eps = 1e-7;
    return adaptive_new("adadelta", ADADELTA, p, c.lr, c.rho, c.eps, 0, 0);
}

rb_optimizer *rb_rmsprop_new(rb_params *p, rb_rmsprop_config c)
{
    if (c.rho == 0) c.rho = 0.9;
    if (c.eps == 0) c.eps = 1e-7;
    return adaptive_new("rmsprop", RMSPROP, p, c.lr, c.rho, c.eps, c.momentum, 0);
}
