/* The optimizer suite, gradient clipping and learning-rate schedules, against the published
 * rules written out again here.
 *
 * Every optimizer runs three steps on a float64 store of two variables, a = [1, -2] and
 * b = [0.5, 3, -1], with gradients set directly in the store (different at each step; the
 * second and third make AMSGrad's running maximum of v differ from v). After each step the
 * values must equal a reference computed in this file from the update rule quoted in the
 * comment above it, element by element, in plain double arithmetic. */
#include <stdlib.h>

#include "testutil.h"

enum { N = 5, STEPS = 3 };

/* Values of a then b, and the gradient of each step (a's two, then b's three). */
static const double X0[N] = {1, -2, 0.5, 3, -1};
static const double G[STEPS][N] = {
    {0.5, -0.25, 1.0, 2.0, -0.75},
    {0.1, 0.5, -0.02, 0.3, -0.75}, /* b[0] and b[1] drop sharply: v falls below its maximum */
    {-0.4, 0.05, 0.05, -0.01, 0.2},
};

typedef struct store {
    rb_params *p;
    rb_tensor *a, *b;
} store;

static store make_store(void)
{
    store s;
    s.p = rb_params_new(RB_F64);
    s.a = rb_params_add(s.p, "a", RB_SHAPE(2), true);
    s.b = rb_params_add(s.p, "b", RB_SHAPE(3), true);
    assert_non_null(s.b);
    for (int i = 0; i < 2; i++)
        rb_tensor_f64(s.a)[i] = X0[i];
    for (int i = 0; i < 3; i++)
        rb_tensor_f64(s.b)[i] = X0[2 + i];
    return s;
}

/* Write step t's gradients into the store's gradient tensors and apply one update. */
static void step(rb_optimizer *opt, store *s, int t)
{
    double *ga = rb_tensor_f64(rb_params_grad(s->p, s->a));
    double *gb = rb_tensor_f64(rb_params_grad(s->p, s->b));
    for (int i = 0; i < 2; i++)
        ga[i] = G[t][i];
    for (int i = 0; i < 3; i++)
        gb[i] = G[t][2 + i];
    CHECK_STATUS_OK(rb_optimizer_step(opt));
}

/* The five values of a slab laid out as the store's variables (values or a state slab). */
static void read_values(const store *s, const char *state, double out[N])
{
    if (!state) {
        for (int i = 0; i < 2; i++)
            out[i] = rb_tensor_f64(s->a)[i];
        for (int i = 0; i < 3; i++)
            out[2 + i] = rb_tensor_f64(s->b)[i];
        return;
    }
    rb_tensor *slab = rb_params_state(s->p, state);
    assert_non_null(slab);
    const double *v = rb_tensor_f64(slab);
    int64_t oa = rb_params_offset(s->p, s->a), ob = rb_params_offset(s->p, s->b);
    for (int i = 0; i < 2; i++)
        out[i] = v[oa + i];
    for (int i = 0; i < 3; i++)
        out[2 + i] = v[ob + i];
}

#define CHECK_VALUES(s, state, want, tol)                                                          \
    check_values_((s), (state), (want), (tol), __FILE__, __LINE__)

static void check_values_(const store *s, const char *state, const double want[N], double tol,
                          const char *file, int line)
{
    double got[N];
    read_values(s, state, got);
    for (int i = 0; i < N; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i]))))
            FAIL_AT(file, line, "%s[%d] = %.17g, the rule gives %.17g", state ? state : "value", i,
                    got[i], want[i]);
}

/* ---- the adaptive methods ---- */

/* Adagrad (Duchi et al. 2011, in Keras's form):
 *     acc_0 = initial_accumulator
 *     acc_t = acc_(t-1) + g_t^2
 *     w_t   = w_(t-1) - lr g_t / sqrt(acc_t + eps) */
static void adagrad_rule(double lr, double initial, double eps, double w[N], double acc[N], int t)
{
    for (int i = 0; i < N; i++) {
        if (t == 0) acc[i] = initial;
        acc[i] = acc[i] + G[t][i] * G[t][i];
        w[i] = w[i] - lr * G[t][i] / sqrt(acc[i] + eps);
    }
}

static void adagrad_matches_the_rule_for_three_steps(void **state)
{
    (void)state;
    store s = make_store();
    const double lr = 0.2, initial = 0.3, eps = 1e-4;
    rb_optimizer *opt = rb_adagrad_new(
        s.p, (rb_adagrad_config){.lr = lr, .initial_accumulator = initial, .eps = eps});
    CHECK_OK(opt);
    double w[N], acc[N];
    memcpy(w, X0, sizeof w);
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        adagrad_rule(lr, initial, eps, w, acc, t);
        CHECK_VALUES(&s, NULL, w, 1e-14);
        CHECK_VALUES(&s, "adagrad.acc", acc, 1e-14);
    }
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* Keras's defaults: the accumulator starts at 0.1 (not 0 as in PyTorch) and eps is 1e-7. */
static void adagrad_starts_its_accumulator_at_one_tenth_by_default(void **state)
{
    (void)state;
    store s = make_store();
    rb_optimizer *opt = rb_adagrad_new(s.p, (rb_adagrad_config){.lr = 0.5});
    CHECK_OK(opt);
    double w[N], acc[N];
    memcpy(w, X0, sizeof w);
    step(opt, &s, 0);
    adagrad_rule(0.5, 0.1, 1e-7, w, acc, 0);
    CHECK_VALUES(&s, "adagrad.acc", acc, 1e-15);
    CHECK_CLOSE(acc[2], 0.1 + 1.0, 1e-15); /* b[0]: 0.1 + 1^2 */
    CHECK_VALUES(&s, NULL, w, 1e-14);
    /* b[0] by hand: 0.5 - 0.5 * 1 / sqrt(1.1 + 1e-7). */
    CHECK_CLOSE(rb_tensor_f64(s.b)[0], 0.5 - 0.5 / sqrt(1.1000001), 1e-15);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* Adadelta (Zeiler 2012, Algorithm 1, with a learning rate as Keras and PyTorch):
 *     Eg_t = rho Eg_(t-1) + (1 - rho) g_t^2
 *     d_t  = sqrt(Ed_(t-1) + eps) / sqrt(Eg_t + eps) g_t
 *     Ed_t = rho Ed_(t-1) + (1 - rho) d_t^2
 *     w_t  = w_(t-1) - lr d_t */
static void adadelta_rule(double lr, double rho, double eps, double w[N], double eg[N],
                          double ed[N], int t)
{
    for (int i = 0; i < N; i++) {
        double g = G[t][i];
        eg[i] = rho * eg[i] + (1 - rho) * g * g;
        double d = sqrt(ed[i] + eps) / sqrt(eg[i] + eps) * g;
        ed[i] = rho * ed[i] + (1 - rho) * d * d;
        w[i] -= lr * d;
    }
}

static void adadelta_matches_the_rule_for_three_steps(void **state)
{
    (void)state;
    store s = make_store();
    const double lr = 1.0, rho = 0.8, eps = 1e-3;
    rb_optimizer *opt =
        rb_adadelta_new(s.p, (rb_adadelta_config){.lr = lr, .rho = rho, .eps = eps});
    CHECK_OK(opt);
    double w[N], eg[N] = {0}, ed[N] = {0};
    memcpy(w, X0, sizeof w);
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        adadelta_rule(lr, rho, eps, w, eg, ed, t);
        CHECK_VALUES(&s, NULL, w, 1e-14);
        CHECK_VALUES(&s, "adadelta.g2", eg, 1e-14);
        CHECK_VALUES(&s, "adadelta.d2", ed, 1e-14);
    }
    /* The first step by hand for a[0]: d = sqrt(1e-3) / sqrt(0.2 * 0.25 + 1e-3) * 0.5. */
    double eg0 = 0.2 * 0.25, d0 = sqrt(1e-3) / sqrt(eg0 + 1e-3) * 0.5;
    double ed0 = 0.2 * d0 * d0;
    double eg1 = 0.8 * eg0 + 0.2 * 0.01, d1 = sqrt(ed0 + 1e-3) / sqrt(eg1 + 1e-3) * 0.1;
    double ed1 = 0.8 * ed0 + 0.2 * d1 * d1;
    double eg2 = 0.8 * eg1 + 0.2 * 0.16, d2 = sqrt(ed1 + 1e-3) / sqrt(eg2 + 1e-3) * -0.4;
    CHECK_CLOSE(rb_tensor_f64(s.a)[0], 1 - d0 - d1 - d2, 1e-14);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* RMSprop (Hinton 2012, lecture 6e, in PyTorch's form):
 *     v_t    = rho v_(t-1) + (1 - rho) g_t^2
 *     step_t = g_t / (sqrt(v_t) + eps)
 *     without momentum: w_t = w_(t-1) - lr step_t
 *     with momentum:    b_t = momentum b_(t-1) + step_t;  w_t = w_(t-1) - lr b_t */
static void rmsprop_rule(double lr, double rho, double eps, double momentum, double w[N],
                         double v[N], double buf[N], int t)
{
    for (int i = 0; i < N; i++) {
        double g = G[t][i];
        v[i] = rho * v[i] + (1 - rho) * g * g;
        double st = g / (sqrt(v[i]) + eps);
        if (momentum > 0) {
            buf[i] = momentum * buf[i] + st;
            st = buf[i];
        }
        w[i] -= lr * st;
    }
}

static void rmsprop_matches_the_rule_for_three_steps(void **state)
{
    (void)state;
    store s = make_store();
    const double lr = 0.01, rho = 0.7, eps = 1e-5;
    rb_optimizer *opt = rb_rmsprop_new(s.p, (rb_rmsprop_config){.lr = lr, .rho = rho, .eps = eps});
    CHECK_OK(opt);
    double w[N], v[N] = {0}, buf[N] = {0};
    memcpy(w, X0, sizeof w);
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        rmsprop_rule(lr, rho, eps, 0, w, v, buf, t);
        CHECK_VALUES(&s, NULL, w, 1e-14);
        CHECK_VALUES(&s, "rmsprop.v", v, 1e-14);
    }
    rb_optimizer_free(opt);
    rb_params_free(s.p);
    /* a[0] after one step by hand: 1 - 0.01 * 0.5 / (sqrt(0.3 * 0.25) + 1e-5). */
    s = make_store();
    opt = rb_rmsprop_new(s.p, (rb_rmsprop_config){.lr = lr, .rho = rho, .eps = eps});
    step(opt, &s, 0);
    CHECK_CLOSE(rb_tensor_f64(s.a)[0], 1 - 0.01 * 0.5 / (sqrt(0.3 * 0.25) + 1e-5), 1e-15);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

static void rmsprop_with_momentum_matches_the_rule_for_three_steps(void **state)
{
    (void)state;
    store s = make_store();
    const double lr = 0.01, rho = 0.7, eps = 1e-5, momentum = 0.6;
    rb_optimizer *opt = rb_rmsprop_new(
        s.p, (rb_rmsprop_config){.lr = lr, .rho = rho, .eps = eps, .momentum = momentum});
    CHECK_OK(opt);
    double w[N], v[N] = {0}, buf[N] = {0}, plain[N], pv[N] = {0}, pbuf[N] = {0};
    memcpy(w, X0, sizeof w);
    memcpy(plain, X0, sizeof plain);
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        rmsprop_rule(lr, rho, eps, momentum, w, v, buf, t);
        rmsprop_rule(lr, rho, eps, 0, plain, pv, pbuf, t);
        CHECK_VALUES(&s, NULL, w, 1e-14);
        CHECK_VALUES(&s, "rmsprop.momentum", buf, 1e-14);
    }
    /* Momentum made a difference far beyond the tolerance. */
    assert_true(fabs(w[0] - plain[0]) > 1e-3);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* ---- the Adam family ---- */

/* Adam (Kingma & Ba 2015, Algorithm 1) with AdamW's decoupled decay (Loshchilov & Hutter 2019,
 * Algorithm 2, as PyTorch's AdamW) and AMSGrad's maximum (Reddi et al. 2018, as PyTorch):
 *     w     = w (1 - lr weight_decay)                        (AdamW only)
 *     m_t   = b1 m_(t-1) + (1 - b1) g_t
 *     v_t   = b2 v_(t-1) + (1 - b2) g_t^2
 *     vmax_t = max(vmax_(t-1), v_t)                          (AMSGrad only)
 *     m^ = m_t / (1 - b1^t),  v^ = (AMSGrad ? vmax_t : v_t) / (1 - b2^t)
 *     w_t   = w - lr m^ / (sqrt(v^) + eps) */
typedef struct adam_ref {
    double w[N], m[N], v[N], vmax[N];
} adam_ref;

static void adam_rule(double lr, double b1, double b2, double eps, double wd, bool amsgrad,
                      adam_ref *r, int t)
{
    int k = t + 1; /* the paper counts steps from 1 */
    for (int i = 0; i < N; i++) {
        double g = G[t][i];
        r->w[i] *= 1 - lr * wd;
        r->m[i] = b1 * r->m[i] + (1 - b1) * g;
        r->v[i] = b2 * r->v[i] + (1 - b2) * g * g;
        r->vmax[i] = r->v[i] > r->vmax[i] ? r->v[i] : r->vmax[i];
        double mhat = r->m[i] / (1 - pow(b1, k));
        double vhat = (amsgrad ? r->vmax[i] : r->v[i]) / (1 - pow(b2, k));
        r->w[i] -= lr * mhat / (sqrt(vhat) + eps);
    }
}

static adam_ref adam_start(void)
{
    adam_ref r;
    memset(&r, 0, sizeof r);
    memcpy(r.w, X0, sizeof r.w);
    return r;
}

static void amsgrad_keeps_the_largest_second_moment(void **state)
{
    (void)state;
    store s = make_store();
    const double lr = 0.05, b1 = 0.8, b2 = 0.9, eps = 1e-6;
    rb_optimizer *opt = rb_adam_new(
        s.p, (rb_adam_config){.lr = lr, .beta1 = b1, .beta2 = b2, .eps = eps, .amsgrad = true});
    CHECK_OK(opt);
    assert_string_equal(rb_optimizer_name(opt), "amsgrad");
    adam_ref r = adam_start(), plain = adam_start();
    int below_max = 0;
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        adam_rule(lr, b1, b2, eps, 0, true, &r, t);
        adam_rule(lr, b1, b2, eps, 0, false, &plain, t);
        for (int i = 0; i < N; i++)
            below_max += r.v[i] < r.vmax[i];
        CHECK_VALUES(&s, NULL, r.w, 1e-14);
        CHECK_VALUES(&s, "adam.m", r.m, 1e-14);
        CHECK_VALUES(&s, "adam.v", r.v, 1e-14);
        CHECK_VALUES(&s, "adam.vmax", r.vmax, 1e-14);
    }
    /* The data exercised the maximum, and it changed the result (plain Adam differs). */
    assert_true(below_max >= 3);
    double got[N];
    read_values(&s, "adam.vmax", got);
    double v[N];
    read_values(&s, "adam.v", v);
    assert_true(got[2] > v[2] * 1.1); /* b[0]: v fell after the first step's large gradient */
    assert_true(got[3] > v[3] * 1.1); /* b[1] too */
    double largest = 0;
    for (int i = 0; i < N; i++)
        largest = fmax(largest, fabs(r.w[i] - plain.w[i]));
    assert_true(largest > 1e-4);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

static void adamw_decays_weights_apart_from_the_moments(void **state)
{
    (void)state;
    store s = make_store();
    const double lr = 0.05, wd = 0.2;
    rb_optimizer *opt = rb_adamw_new(s.p, (rb_adam_config){.lr = lr, .weight_decay = wd});
    CHECK_OK(opt);
    assert_string_equal(rb_optimizer_name(opt), "adamw");
    adam_ref r = adam_start();
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        adam_rule(lr, 0.9, 0.999, 1e-7, wd, false, &r, t);
        CHECK_VALUES(&s, NULL, r.w, 1e-14);
        /* The moments see the raw gradient only (no wd w added to it). */
        CHECK_VALUES(&s, "adam.m", r.m, 1e-14);
        CHECK_VALUES(&s, "adam.v", r.v, 1e-14);
    }
    rb_optimizer_free(opt);
    rb_params_free(s.p);
    /* First step by hand for a[0] (m^ = g, v^ = g^2):
     * 1 (1 - 0.05 0.2) - 0.05 0.5 / (0.5 + 1e-7). */
    s = make_store();
    opt = rb_adamw_new(s.p, (rb_adam_config){.lr = lr, .weight_decay = wd});
    step(opt, &s, 0);
    CHECK_CLOSE(rb_tensor_f64(s.a)[0], 0.99 - 0.05 * 0.5 / (0.5 + 1e-7), 1e-15);
    rb_optimizer_free(opt);
    rb_params_free(s.p);

    /* AdamW with AMSGrad has its own name and the third slab. */
    s = make_store();
    opt = rb_adamw_new(s.p, (rb_adam_config){.lr = lr, .weight_decay = wd, .amsgrad = true});
    CHECK_OK(opt);
    assert_string_equal(rb_optimizer_name(opt), "adamw_amsgrad");
    r = adam_start();
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        adam_rule(lr, 0.9, 0.999, 1e-7, wd, true, &r, t);
        CHECK_VALUES(&s, NULL, r.w, 1e-14);
    }
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* Nadam (Dozat 2016) as PyTorch's NAdam (momentum_decay psi = 0.004):
 *     mu_t  = b1 (1 - 0.5 * 0.96^(t psi)),   P_t = mu_1 mu_2 ... mu_t
 *     m_t   = b1 m_(t-1) + (1 - b1) g_t,     v_t = b2 v_(t-1) + (1 - b2) g_t^2
 *     denom = sqrt(v_t / (1 - b2^t)) + eps
 *     w_t   = w_(t-1) - lr (1 - mu_t) / (1 - P_t) g_t / denom
 *                     - lr mu_(t+1) / (1 - P_t mu_(t+1)) m_t / denom */
static double nadam_mu(double b1, int t) { return b1 * (1 - 0.5 * pow(0.96, t * 0.004)); }

static void nadam_rule(double lr, double b1, double b2, double eps, adam_ref *r, int t)
{
    int k = t + 1;
    double product = 1;
    for (int i = 1; i <= k; i++)
        product *= nadam_mu(b1, i);
    double mu = nadam_mu(b1, k), mu_next = nadam_mu(b1, k + 1);
    for (int i = 0; i < N; i++) {
        double g = G[t][i];
        r->m[i] = b1 * r->m[i] + (1 - b1) * g;
        r->v[i] = b2 * r->v[i] + (1 - b2) * g * g;
        double denom = sqrt(r->v[i] / (1 - pow(b2, k))) + eps;
        r->w[i] -= lr * (1 - mu) / (1 - product) * g / denom;
        r->w[i] -= lr * mu_next / (1 - product * mu_next) * r->m[i] / denom;
    }
}

static void nadam_matches_pytorchs_nadam_for_three_steps(void **state)
{
    (void)state;
    store s = make_store();
    const double lr = 0.02, b1 = 0.85, b2 = 0.95, eps = 1e-6;
    rb_optimizer *opt =
        rb_nadam_new(s.p, (rb_adam_config){.lr = lr, .beta1 = b1, .beta2 = b2, .eps = eps});
    CHECK_OK(opt);
    assert_string_equal(rb_optimizer_name(opt), "nadam");
    adam_ref r = adam_start(), adam = adam_start();
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        nadam_rule(lr, b1, b2, eps, &r, t);
        adam_rule(lr, b1, b2, eps, 0, false, &adam, t);
        CHECK_VALUES(&s, NULL, r.w, 1e-13);
        CHECK_VALUES(&s, "adam.m", r.m, 1e-14);
        CHECK_VALUES(&s, "adam.v", r.v, 1e-14);
    }
    assert_true(fabs(r.w[0] - adam.w[0]) > 1e-4); /* not plain Adam */
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* ---- defaults, refusals, state slabs ---- */

typedef rb_optimizer *(*make_fn)(rb_params *p, bool explicit_defaults);

static rb_optimizer *adam_defaults(rb_params *p, bool e)
{
    return rb_adam_new(p,
                       e ? (rb_adam_config){.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-7}
                         : (rb_adam_config){.lr = 0.01});
}
static rb_optimizer *adamw_defaults(rb_params *p, bool e)
{
    return rb_adamw_new(p, e ? (rb_adam_config){.lr = 0.01,
                                                .beta1 = 0.9,
                                                .beta2 = 0.999,
                                                .eps = 1e-7,
                                                .weight_decay = 0.01}
                             : (rb_adam_config){.lr = 0.01});
}
static rb_optimizer *nadam_defaults(rb_params *p, bool e)
{
    return rb_nadam_new(p,
                        e ? (rb_adam_config){.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-7}
                          : (rb_adam_config){.lr = 0.01});
}
static rb_optimizer *adagrad_defaults(rb_params *p, bool e)
{
    return rb_adagrad_new(
        p, e ? (rb_adagrad_config){.lr = 0.1, .initial_accumulator = 0.1, .eps = 1e-7}
             : (rb_adagrad_config){.lr = 0.1});
}
static rb_optimizer *adadelta_defaults(rb_params *p, bool e)
{
    return rb_adadelta_new(p, e ? (rb_adadelta_config){.lr = 1, .rho = 0.95, .eps = 1e-7}
                                : (rb_adadelta_config){.lr = 1});
}
static rb_optimizer *rmsprop_defaults(rb_params *p, bool e)
{
    return rb_rmsprop_new(p, e ? (rb_rmsprop_config){.lr = 0.01, .rho = 0.9, .eps = 1e-7}
                               : (rb_rmsprop_config){.lr = 0.01});
}

/* Three steps with zero fields equal three steps with the documented defaults spelled out,
 * bit for bit; and the defaults are the ones the rules above give. */
static void zero_fields_take_the_documented_defaults(void **state)
{
    (void)state;
    const make_fn makers[] = {adam_defaults,    adamw_defaults,    nadam_defaults,
                              adagrad_defaults, adadelta_defaults, rmsprop_defaults};
    for (size_t k = 0; k < sizeof makers / sizeof makers[0]; k++) {
        store zero = make_store(), spelled = make_store();
        rb_optimizer *oz = makers[k](zero.p, false), *os = makers[k](spelled.p, true);
        CHECK_OK(oz);
        CHECK_OK(os);
        for (int t = 0; t < STEPS; t++) {
            step(oz, &zero, t);
            step(os, &spelled, t);
        }
        double wz[N], ws[N];
        read_values(&zero, NULL, wz);
        read_values(&spelled, NULL, ws);
        if (memcmp(wz, ws, sizeof wz) != 0)
            fail_msg("%s: zero fields differ from the documented defaults", rb_optimizer_name(oz));
        assert_true(fabs(wz[0] - X0[0]) > 1e-4); /* the steps did move the values */
        rb_optimizer_free(oz);
        rb_optimizer_free(os);
        rb_params_free(zero.p);
        rb_params_free(spelled.p);
    }

    /* And the defaults are those of the rules: Adam, AdamW (decay 0.01), Adadelta, RMSprop. */
    store s = make_store();
    rb_optimizer *opt = adamw_defaults(s.p, false);
    adam_ref r = adam_start();
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        adam_rule(0.01, 0.9, 0.999, 1e-7, 0.01, false, &r, t);
    }
    CHECK_VALUES(&s, NULL, r.w, 1e-14);
    rb_optimizer_free(opt);
    rb_params_free(s.p);

    s = make_store();
    opt = adadelta_defaults(s.p, false);
    double w[N], eg[N] = {0}, ed[N] = {0};
    memcpy(w, X0, sizeof w);
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        adadelta_rule(1, 0.95, 1e-7, w, eg, ed, t);
    }
    CHECK_VALUES(&s, NULL, w, 1e-14);
    rb_optimizer_free(opt);
    rb_params_free(s.p);

    s = make_store();
    opt = rmsprop_defaults(s.p, false);
    double v[N] = {0}, buf[N] = {0};
    memcpy(w, X0, sizeof w);
    for (int t = 0; t < STEPS; t++) {
        step(opt, &s, t);
        rmsprop_rule(0.01, 0.9, 1e-7, 0, w, v, buf, t);
    }
    CHECK_VALUES(&s, NULL, w, 1e-14);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

static void bad_settings_are_refused_with_their_reason(void **state)
{
    (void)state;
    store s = make_store();
    CHECK_FAILS(rb_adagrad_new(s.p, (rb_adagrad_config){.lr = 0}), RB_ERR_ARGUMENT,
                "learning rate must be > 0");
    CHECK_FAILS(rb_adagrad_new(s.p, (rb_adagrad_config){.lr = 0.1, .initial_accumulator = -1}),
                RB_ERR_ARGUMENT, "rb_adagrad_new");
    CHECK_FAILS(rb_adagrad_new(s.p, (rb_adagrad_config){.lr = 0.1, .eps = -1e-3}), RB_ERR_ARGUMENT,
                "eps");
    CHECK_FAILS(rb_adadelta_new(s.p, (rb_adadelta_config){.lr = 1, .rho = 1}), RB_ERR_ARGUMENT,
                "rho");
    CHECK_FAILS(rb_adadelta_new(s.p, (rb_adadelta_config){.lr = -1}), RB_ERR_ARGUMENT,
                "rb_adadelta_new: learning rate");
    CHECK_FAILS(rb_rmsprop_new(s.p, (rb_rmsprop_config){.lr = 0.1, .momentum = 1}), RB_ERR_ARGUMENT,
                "momentum");
    CHECK_FAILS(rb_rmsprop_new(s.p, (rb_rmsprop_config){.lr = 0.1, .rho = -0.5}), RB_ERR_ARGUMENT,
                "rho");
    CHECK_FAILS(rb_adam_new(s.p, (rb_adam_config){.lr = 0.1, .weight_decay = 0.01}),
                RB_ERR_ARGUMENT, "rb_adamw_new");
    CHECK_FAILS(rb_adam_new(s.p, (rb_adam_config){.lr = 0.1, .beta2 = 1}), RB_ERR_ARGUMENT,
                "betas");
    CHECK_FAILS(rb_adam_new(s.p, (rb_adam_config){.lr = 0.1, .eps = -1}), RB_ERR_ARGUMENT, "eps");
    CHECK_FAILS(rb_adamw_new(s.p, (rb_adam_config){.lr = 0.1, .weight_decay = -0.1}),
                RB_ERR_ARGUMENT, "weight_decay");
    CHECK_FAILS(rb_nadam_new(s.p, (rb_adam_config){.lr = 0.1, .amsgrad = true}), RB_ERR_ARGUMENT,
                "amsgrad is not defined for Nadam");
    CHECK_FAILS(rb_nadam_new(s.p, (rb_adam_config){.lr = 0.1, .beta1 = -0.1}), RB_ERR_ARGUMENT,
                "rb_nadam_new");
    CHECK_FAILS(rb_rmsprop_new(NULL, (rb_rmsprop_config){.lr = 0.1}), RB_ERR_ARGUMENT,
                "store is NULL");
    /* Nothing was registered in the store by the refused optimizers: a valid one still works. */
    rb_optimizer *opt = rb_adagrad_new(s.p, (rb_adagrad_config){.lr = 0.1});
    CHECK_OK(opt);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

static void each_optimizer_names_its_state_slabs(void **state)
{
    (void)state;
    struct {
        const char *name;
        int count;
        const char *states[3];
    } want[] = {
        {"sgd", 0, {NULL}},
        {"sgd", 1, {"sgd.momentum"}},
        {"adam", 2, {"adam.m", "adam.v"}},
        {"amsgrad", 3, {"adam.m", "adam.v", "adam.vmax"}},
        {"adamw", 2, {"adam.m", "adam.v"}},
        {"nadam", 2, {"adam.m", "adam.v"}},
        {"adagrad", 1, {"adagrad.acc"}},
        {"adadelta", 2, {"adadelta.g2", "adadelta.d2"}},
        {"rmsprop", 1, {"rmsprop.v"}},
        {"rmsprop", 2, {"rmsprop.v", "rmsprop.momentum"}},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        store s = make_store();
        rb_optimizer *opt = NULL;
        switch (k) {
        case 0: opt = rb_sgd_new(s.p, (rb_sgd_config){.lr = 0.1}); break;
        case 1: opt = rb_sgd_new(s.p, (rb_sgd_config){.lr = 0.1, .momentum = 0.9}); break;
        case 2: opt = rb_adam_new(s.p, (rb_adam_config){.lr = 0.1}); break;
        case 3: opt = rb_adam_new(s.p, (rb_adam_config){.lr = 0.1, .amsgrad = true}); break;
        case 4: opt = rb_adamw_new(s.p, (rb_adam_config){.lr = 0.1}); break;
        case 5: opt = rb_nadam_new(s.p, (rb_adam_config){.lr = 0.1}); break;
        case 6: opt = rb_adagrad_new(s.p, (rb_adagrad_config){.lr = 0.1}); break;
        case 7: opt = rb_adadelta_new(s.p, (rb_adadelta_config){.lr = 0.1}); break;
        case 8: opt = rb_rmsprop_new(s.p, (rb_rmsprop_config){.lr = 0.1}); break;
        case 9: opt = rb_rmsprop_new(s.p, (rb_rmsprop_config){.lr = 0.1, .momentum = 0.5}); break;
        }
        CHECK_OK(opt);
        assert_string_equal(rb_optimizer_name(opt), want[k].name);
        assert_int_equal(rb_optimizer_state_count(opt), want[k].count);
        for (int i = 0; i < want[k].count; i++) {
            assert_string_equal(rb_optimizer_state_name(opt, i), want[k].states[i]);
            /* The slab exists in the store under that name, as long as the values. */
            rb_tensor *slab = rb_params_state(s.p, want[k].states[i]);
            assert_int_equal(rb_tensor_size(slab), rb_tensor_size(rb_params_flat_values(s.p)));
        }
        assert_null(rb_optimizer_state_name(opt, want[k].count));
        assert_null(rb_optimizer_state_name(opt, -1));
        assert_ptr_equal(rb_optimizer_params(opt), s.p);
        assert_int_equal(rb_optimizer_steps(opt), 0);
        rb_optimizer_free(opt);
        rb_params_free(s.p);
    }
    assert_int_equal(rb_optimizer_state_count(NULL), 0);
    assert_null(rb_optimizer_state_name(NULL, 0));
}

/* ---- gradient clipping ---- */

/* Gradients a = [3, 0], b = [0, 4, 0]: global norm 5. */
static store clip_store(void)
{
    store s = make_store();
    double *ga = rb_tensor_f64(rb_params_grad(s.p, s.a));
    double *gb = rb_tensor_f64(rb_params_grad(s.p, s.b));
    ga[0] = 3;
    ga[1] = 0;
    gb[0] = 0;
    gb[1] = -4;
    gb[2] = 0;
    return s;
}

static void clip_grad_norm_returns_the_norm_and_scales_only_above_max_norm(void **state)
{
    (void)state;
    store s = clip_store();
    rb_tensor *ga = rb_params_grad(s.p, s.a), *gb = rb_params_grad(s.p, s.b);
    /* Below and at the limit: the norm, and the gradients untouched. */
    CHECK_CLOSE(rb_clip_grad_norm(s.p, 10), 5, 1e-15);
    CHECK_TENSOR(ga, 0, 3, 0);
    CHECK_TENSOR(gb, 0, 0, -4, 0);
    CHECK_CLOSE(rb_clip_grad_norm(s.p, 5), 5, 1e-15);
    CHECK_TENSOR(ga, 0, 3, 0);
    CHECK_TENSOR(gb, 0, 0, -4, 0);
    /* Above: the norm before clipping is returned, every gradient scaled by 2 / 5. */
    CHECK_CLOSE(rb_clip_grad_norm(s.p, 2), 5, 1e-15);
    CHECK_TENSOR(ga, 1e-15, 1.2, 0);
    CHECK_TENSOR(gb, 1e-15, 0, -1.6, 0);
    CHECK_CLOSE(rb_clip_grad_norm(s.p, 100), 2, 1e-15); /* the new norm is max_norm */
    CHECK_FAILS(rb_clip_grad_norm(s.p, 0), RB_ERR_ARGUMENT, "max_norm must be > 0");
    CHECK_FAILS(rb_clip_grad_norm(s.p, NAN), RB_ERR_ARGUMENT, "max_norm");
    CHECK_FAILS(rb_clip_grad_norm(NULL, 1), RB_ERR_ARGUMENT, "store is NULL");
    assert_true(rb_clip_grad_norm(NULL, 1) < 0);
    rb_error_clear();
    rb_params_free(s.p);
}

static void clip_grad_value_clamps_each_gradient(void **state)
{
    (void)state;
    store s = make_store();
    rb_tensor *ga = rb_params_grad(s.p, s.a), *gb = rb_params_grad(s.p, s.b);
    rb_tensor_assign(ga, T64(RB_SHAPE(2), -3, 0.2));
    rb_tensor_assign(gb, T64(RB_SHAPE(3), 5, -0.5, 1));
    CHECK_STATUS_OK(rb_clip_grad_value(s.p, 1));
    CHECK_TENSOR(ga, 0, -1, 0.2);
    CHECK_TENSOR(gb, 0, 1, -0.5, 1);
    CHECK_STATUS_OK(rb_clip_grad_value(s.p, 0.3));
    CHECK_TENSOR(ga, 0, -0.3, 0.2);
    CHECK_TENSOR(gb, 0, 0.3, -0.3, 0.3);
    CHECK_FAILS(rb_clip_grad_value(s.p, 0), RB_ERR_ARGUMENT, "limit must be > 0");
    CHECK_FAILS(rb_clip_grad_value(s.p, -1), RB_ERR_ARGUMENT, "limit");
    CHECK_FAILS(rb_clip_grad_value(NULL, 1), RB_ERR_ARGUMENT, "store is NULL");
    CHECK_TENSOR(ga, 0, -0.3, 0.2); /* refusals changed nothing */
    rb_params_free(s.p);
}

/* A store of 140,009 values (two variables) with random gradients. */
static rb_params *big_store(rb_tensor **a, rb_tensor **b, uint64_t seed)
{
    rb_params *p = rb_params_new(RB_F64);
    *a = rb_params_add(p, "big", RB_SHAPE(350, 400), true);
    *b = rb_params_add(p, "small", RB_SHAPE(9), true);
    rb_rng rng = rb_rng_make(seed);
    rb_tensor_assign(*a, rb_tensor_uniform(RB_F64, RB_SHAPE(350, 400), -1, 1, &rng));
    rb_tensor_assign(*b, rb_tensor_uniform(RB_F64, RB_SHAPE(9), -1, 1, &rng));
    rb_tensor_assign(rb_params_grad(p, *a),
                     rb_tensor_uniform(RB_F64, RB_SHAPE(350, 400), -1, 1, &rng));
    rb_tensor_assign(rb_params_grad(p, *b), rb_tensor_uniform(RB_F64, RB_SHAPE(9), -3, 3, &rng));
    return p;
}

static double sum_of_squares(const rb_tensor *t)
{
    double s = 0;
    const double *v = rb_tensor_f64(t);
    for (int64_t i = 0; i < rb_tensor_size(t); i++)
        s += v[i] * v[i];
    return s;
}

static void clip_grad_norm_is_the_same_with_one_or_two_threads(void **state)
{
    (void)state;
    rb_tensor *a, *b;
    rb_params *p = big_store(&a, &b, 17);
    assert_true(rb_params_size(p, true) > 100000);
    double want = sqrt(sum_of_squares(rb_params_grad(p, a)) + sum_of_squares(rb_params_grad(p, b)));
    int previous = rb_set_num_threads(1);
    double one = rb_clip_grad_norm(p, 1e9);
    rb_set_num_threads(2);
    double two = rb_clip_grad_norm(p, 1e9);
    rb_set_num_threads(previous);
    assert_true(one == two); /* bit for bit */
    CHECK_CLOSE(one, want, 1e-12 * want);

    /* Clipping to a third of the norm: every gradient scaled alike, the new norm is the limit. */
    double g0 = rb_tensor_f64(rb_params_grad(p, a))[12345];
    double g1 = rb_tensor_f64(rb_params_grad(p, b))[4];
    rb_set_num_threads(2);
    double before = rb_clip_grad_norm(p, want / 3);
    rb_set_num_threads(previous);
    CHECK_CLOSE(before, want, 1e-12 * want);
    CHECK_CLOSE(rb_tensor_f64(rb_params_grad(p, a))[12345], g0 / 3, 1e-15);
    CHECK_CLOSE(rb_tensor_f64(rb_params_grad(p, b))[4], g1 / 3, 1e-15);
    double after =
        sqrt(sum_of_squares(rb_params_grad(p, a)) + sum_of_squares(rb_params_grad(p, b)));
    CHECK_CLOSE(after, want / 3, 1e-12 * want);
    rb_params_free(p);
}

/* An optimizer step splits the slabs across threads: the result does not depend on it. */
static void optimizer_steps_are_the_same_with_one_or_two_threads(void **state)
{
    (void)state;
    rb_tensor *a1, *b1, *a2, *b2;
    rb_params *p1 = big_store(&a1, &b1, 5), *p2 = big_store(&a2, &b2, 5);
    rb_optimizer *o1 = rb_adam_new(p1, (rb_adam_config){.lr = 0.01, .amsgrad = true});
    rb_optimizer *o2 = rb_adam_new(p2, (rb_adam_config){.lr = 0.01, .amsgrad = true});
    int previous = rb_set_num_threads(1);
    for (int t = 0; t < 2; t++)
        CHECK_STATUS_OK(rb_optimizer_step(o1));
    rb_set_num_threads(2);
    for (int t = 0; t < 2; t++)
        CHECK_STATUS_OK(rb_optimizer_step(o2));
    rb_set_num_threads(previous);
    assert_memory_equal(rb_tensor_data(a1), rb_tensor_data(a2), sizeof(double) * 350 * 400);
    assert_memory_equal(rb_tensor_data(b1), rb_tensor_data(b2), sizeof(double) * 9);
    /* ... and the last element of the big variable did move (the whole range was updated). */
    rb_tensor *fresh_a, *fresh_b;
    rb_params *p0 = big_store(&fresh_a, &fresh_b, 5);
    assert_true(rb_tensor_f64(a2)[350 * 400 - 1] != rb_tensor_f64(fresh_a)[350 * 400 - 1]);
    rb_params_free(p0);
    rb_optimizer_free(o1);
    rb_optimizer_free(o2);
    rb_params_free(p1);
    rb_params_free(p2);
}

/* ---- schedules ---- */

static const double PI = 3.14159265358979323846;

/* The formulas of ruban/schedule.h, with t counted after a warmup of w (w > 0):
 *     warmup (t < w) lr0 (t + 1) / w
 *     time decay     lr0 / (1 + decay u)          u = t - w
 *     step decay     lr0 gamma^floor(u / step_size)
 *     exponential    lr0 exp(-decay u)
 *     cosine         min_lr + (lr0 - min_lr) (1 + cos(pi u / period)) / 2 for u < period,
 *                    then min_lr */
static void schedules_follow_their_formulas(void **state)
{
    (void)state;
    const double lr0 = 0.4;
    const int64_t ts[] = {0, 1, 2, 3, 5, 6, 9, 10, 11, 40};
    for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++) {
        int64_t t = ts[k];
        double u = (double)t;
        rb_schedule c = {.kind = RB_SCHEDULE_CONSTANT};
        CHECK_CLOSE(rb_schedule_lr(&c, lr0, t), lr0, 0);
        rb_schedule td = {.kind = RB_SCHEDULE_TIME_DECAY, .decay = 0.5};
        CHECK_CLOSE(rb_schedule_lr(&td, lr0, t), lr0 / (1 + 0.5 * u), 1e-15);
        rb_schedule st = {.kind = RB_SCHEDULE_STEP, .step_size = 3, .gamma = 0.5};
        CHECK_CLOSE(rb_schedule_lr(&st, lr0, t), lr0 * pow(0.5, (double)(t / 3)), 1e-15);
        rb_schedule st10 = {.kind = RB_SCHEDULE_STEP, .step_size = 4}; /* gamma 0: 0.1 */
        CHECK_CLOSE(rb_schedule_lr(&st10, lr0, t), lr0 * pow(0.1, (double)(t / 4)), 1e-15);
        rb_schedule ex = {.kind = RB_SCHEDULE_EXPONENTIAL, .decay = 0.1};
        CHECK_CLOSE(rb_schedule_lr(&ex, lr0, t), lr0 * exp(-0.1 * u), 1e-15);
        rb_schedule cs = {.kind = RB_SCHEDULE_COSINE, .period = 10, .min_lr = 0.01};
        double cosine = t < 10 ? 0.01 + (lr0 - 0.01) * (1 + cos(PI * u / 10)) / 2 : 0.01;
        CHECK_CLOSE(rb_schedule_lr(&cs, lr0, t), cosine, 1e-15);
        rb_schedule pl = {.kind = RB_SCHEDULE_PLATEAU};
        CHECK_CLOSE(rb_schedule_lr(&pl, lr0, t), lr0, 0);
    }
    /* Points worked out by hand. */
    rb_schedule cs = {.kind = RB_SCHEDULE_COSINE, .period = 10, .min_lr = 0.01};
    CHECK_CLOSE(rb_schedule_lr(&cs, 0.4, 0), 0.4, 1e-15);
    CHECK_CLOSE(rb_schedule_lr(&cs, 0.4, 5), 0.205, 1e-15); /* half way: the mean */
    CHECK_CLOSE(rb_schedule_lr(&cs, 0.4, 10), 0.01, 1e-15); /* the floor */
    CHECK_CLOSE(rb_schedule_lr(&cs, 0.4, 1000), 0.01, 0);   /* and it stays there */
    rb_schedule st = {.kind = RB_SCHEDULE_STEP, .step_size = 3, .gamma = 0.5};
    CHECK_CLOSE(rb_schedule_lr(&st, 0.4, 2), 0.4, 1e-15);
    CHECK_CLOSE(rb_schedule_lr(&st, 0.4, 3), 0.2, 1e-15);
    CHECK_CLOSE(rb_schedule_lr(&st, 0.4, 6), 0.1, 1e-15);

    /* Warmup: a linear rise over w steps, then the schedule with t counted from its end. */
    const int64_t w = 4;
    rb_schedule wc = {.kind = RB_SCHEDULE_COSINE, .period = 10, .min_lr = 0.01, .warmup = w};
    rb_schedule ws = {.kind = RB_SCHEDULE_STEP, .step_size = 3, .gamma = 0.5, .warmup = w};
    rb_schedule wt = {.kind = RB_SCHEDULE_TIME_DECAY, .decay = 0.5, .warmup = w};
    rb_schedule wp = {.kind = RB_SCHEDULE_PLATEAU, .warmup = w};
    for (int64_t t = 0; t < 30; t++) {
        double u = (double)(t - w);
        double cosine = t < w ? lr0 * (double)(t + 1) / (double)w
                              : (u < 10 ? 0.01 + (lr0 - 0.01) * (1 + cos(PI * u / 10)) / 2 : 0.01);
        double stepped =
            t < w ? lr0 * (double)(t + 1) / (double)w : lr0 * pow(0.5, (double)((t - w) / 3));
        double timed = t < w ? lr0 * (double)(t + 1) / (double)w : lr0 / (1 + 0.5 * u);
        double plateau = t < w ? lr0 * (double)(t + 1) / (double)w : lr0;
        CHECK_CLOSE(rb_schedule_lr(&wc, lr0, t), cosine, 1e-15);
        CHECK_CLOSE(rb_schedule_lr(&ws, lr0, t), stepped, 1e-15);
        CHECK_CLOSE(rb_schedule_lr(&wt, lr0, t), timed, 1e-15);
        CHECK_CLOSE(rb_schedule_lr(&wp, lr0, t), plateau, 1e-15);
    }
    CHECK_CLOSE(rb_schedule_lr(&wc, 0.4, 0), 0.1, 1e-15); /* lr0 / w */
    CHECK_CLOSE(rb_schedule_lr(&wc, 0.4, 3), 0.4, 1e-15); /* lr0 at the end of the warmup */
    CHECK_CLOSE(rb_schedule_lr(&wc, 0.4, 4), 0.4, 1e-15); /* the cosine starts at lr0 */
    CHECK_CLOSE(rb_schedule_lr(&wc, 0.4, 14), 0.01, 1e-15);

    assert_string_equal(rb_schedule_name(RB_SCHEDULE_CONSTANT), "constant");
    assert_string_equal(rb_schedule_name(RB_SCHEDULE_COSINE), "cosine");
    assert_string_equal(rb_schedule_name(RB_SCHEDULE_PLATEAU), "reduce_on_plateau");
    assert_string_equal(rb_schedule_name((rb_schedule_kind)42), "unknown");
}

static rb_optimizer *sgd_at(store *s, double lr)
{
    *s = make_store();
    rb_optimizer *opt = rb_sgd_new(s->p, (rb_sgd_config){.lr = lr});
    assert_non_null(opt);
    return opt;
}

static void a_per_epoch_scheduler_moves_the_rate_at_each_epoch_end(void **state)
{
    (void)state;
    store s;
    rb_optimizer *opt = sgd_at(&s, 0.8);
    rb_schedule sched = {.kind = RB_SCHEDULE_STEP, .step_size = 2, .gamma = 0.5, .warmup = 2};
    rb_scheduler *r = rb_scheduler_new(opt, sched);
    CHECK_OK(r);
    assert_int_equal(rb_scheduler_schedule(r)->kind, RB_SCHEDULE_STEP);
    /* Epoch e (from 0) runs at: warmup 0.4, 0.8; then 0.8, 0.8, 0.4, 0.4, 0.2. */
    const double want[] = {0.4, 0.8, 0.8, 0.8, 0.4, 0.4, 0.2};
    for (int e = 0; e < 7; e++) {
        CHECK_CLOSE(rb_optimizer_lr(opt), want[e], 1e-15);
        CHECK_CLOSE(rb_optimizer_lr(opt), rb_schedule_lr(&sched, 0.8, e), 0);
        for (int k = 0; k < 3; k++) {
            step(opt, &s, k);
            rb_scheduler_step(r); /* a per-epoch schedule ignores steps */
            CHECK_CLOSE(rb_optimizer_lr(opt), want[e], 1e-15);
        }
        rb_scheduler_epoch_end(r, 1.0);
    }
    /* The rate was really used: a step at the current rate moves a[0] by lr g. */
    double before = rb_tensor_f64(s.a)[0];
    step(opt, &s, 0);
    CHECK_CLOSE(rb_tensor_f64(s.a)[0], before - 0.2 * 0.5, 1e-15);
    rb_scheduler_free(r);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

static void a_per_step_scheduler_moves_the_rate_after_each_step(void **state)
{
    (void)state;
    store s;
    rb_optimizer *opt = sgd_at(&s, 0.3);
    rb_schedule sched = {
        .kind = RB_SCHEDULE_EXPONENTIAL, .decay = 0.2, .warmup = 3, .per_step = true};
    rb_scheduler *r = rb_scheduler_new(opt, sched);
    CHECK_OK(r);
    CHECK_CLOSE(rb_optimizer_lr(opt), 0.1, 1e-15); /* warmup: 0.3 / 3 */
    for (int64_t t = 1; t <= 10; t++) {
        step(opt, &s, (int)(t % 3));
        rb_scheduler_step(r);
        double want = t < 3 ? 0.3 * (double)(t + 1) / 3 : 0.3 * exp(-0.2 * (double)(t - 3));
        CHECK_CLOSE(rb_optimizer_lr(opt), want, 1e-15);
        if (t % 4 == 0) {
            rb_scheduler_epoch_end(r, 5.0); /* epochs do not move a per-step schedule */
            CHECK_CLOSE(rb_optimizer_lr(opt), want, 1e-15);
        }
    }
    rb_scheduler_free(r);
    rb_optimizer_free(opt);
    rb_params_free(s.p);

    /* A cosine per step reaches its floor and stays there. */
    opt = sgd_at(&s, 1.0);
    r = rb_scheduler_new(
        opt,
        (rb_schedule){.kind = RB_SCHEDULE_COSINE, .period = 4, .min_lr = 0.05, .per_step = true});
    const double want[] = {1.0,   0.05 + 0.95 * (1 + cos(PI / 4)) / 2,
                           0.525, 0.05 + 0.95 * (1 + cos(3 * PI / 4)) / 2,
                           0.05,  0.05,
                           0.05};
    for (int t = 0; t < 7; t++) {
        CHECK_CLOSE(rb_optimizer_lr(opt), want[t], 1e-15);
        rb_scheduler_step(r);
    }
    rb_scheduler_free(r);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* Reduce on plateau, epoch by epoch: lr0 1, factor 0.5, patience 2, min_delta 0.1, cooldown 1,
 * min_lr 0.2. An epoch improves when its value is below the best so far minus 0.1; after
 * patience epochs without improvement the rate is halved (not below 0.2) and the next
 * `cooldown` epochs are not counted. */
static void reduce_on_plateau_follows_patience_min_delta_cooldown_and_floor(void **state)
{
    (void)state;
    store s;
    rb_optimizer *opt = sgd_at(&s, 1.0);
    rb_scheduler *r = rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_PLATEAU,
                                                          .factor = 0.5,
                                                          .patience = 2,
                                                          .min_delta = 0.1,
                                                          .cooldown = 1,
                                                          .min_lr = 0.2});
    CHECK_OK(r);
    struct {
        double value, lr_after;
    } epochs[] = {
        {10.0, 1.0},  /* first value: the best */
        {9.95, 1.0},  /* better, but by less than min_delta: bad epoch 1 */
        {9.95, 0.5},  /* bad epoch 2 = patience: halved, cooldown 1 */
        {9.99, 0.5},  /* cooldown: not counted */
        {9.99, 0.5},  /* bad epoch 1 */
        {9.85, 0.5},  /* 0.15 below the best (10): improvement, count reset */
        {9.80, 0.5},  /* 0.05 below the new best: bad epoch 1 */
        {9.80, 0.25}, /* bad epoch 2: halved */
        {9.80, 0.25}, /* cooldown */
        {9.80, 0.25}, /* bad 1 */
        {9.80, 0.2},  /* bad 2: 0.125 is below min_lr: the floor */
        {9.80, 0.2},  /* cooldown */
        {9.80, 0.2},  /* bad 1 */
        {9.80, 0.2},  /* bad 2: stays at the floor */
        {NAN, 0.2},   /* a NaN epoch is ignored */
    };
    CHECK_CLOSE(rb_optimizer_lr(opt), 1.0, 0);
    for (size_t e = 0; e < sizeof epochs / sizeof epochs[0]; e++) {
        rb_scheduler_epoch_end(r, epochs[e].value);
        if (fabs(rb_optimizer_lr(opt) - epochs[e].lr_after) > 1e-15)
            fail_msg("after epoch %zu (value %g): lr %g, expected %g", e + 1, epochs[e].value,
                     rb_optimizer_lr(opt), epochs[e].lr_after);
        rb_scheduler_step(r); /* steps change nothing */
        CHECK_CLOSE(rb_optimizer_lr(opt), epochs[e].lr_after, 1e-15);
    }
    rb_scheduler_free(r);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* The cooldown counts the epochs after a reduction, improving or not. */
static void plateau_cooldown_counts_epochs_after_a_reduction(void **state)
{
    (void)state;
    store s;
    rb_optimizer *opt = sgd_at(&s, 1.0);
    rb_scheduler *r = rb_scheduler_new(
        opt,
        (rb_schedule){.kind = RB_SCHEDULE_PLATEAU, .factor = 0.5, .patience = 2, .cooldown = 2});
    const double values[] = {5, 5, 5, /* bad, bad: halved at epoch 3 */
                             4,       /* cooldown 1 of 2 (an improvement) */
                             4,       /* cooldown 2 of 2 */
                             4, 4};   /* bad 1, bad 2: halved again at epoch 7 */
    const double lr_after[] = {1, 1, 0.5, 0.5, 0.5, 0.5, 0.25};
    for (size_t e = 0; e < sizeof values / sizeof values[0]; e++) {
        rb_scheduler_epoch_end(r, values[e]);
        if (fabs(rb_optimizer_lr(opt) - lr_after[e]) > 1e-15)
            fail_msg("after epoch %zu: lr %g, expected %g", e + 1, rb_optimizer_lr(opt),
                     lr_after[e]);
    }
    rb_scheduler_free(r);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

/* maximize: the value should rise (an accuracy); default factor 0.1 and patience 10. */
static void reduce_on_plateau_can_maximize_and_has_keras_defaults(void **state)
{
    (void)state;
    store s;
    rb_optimizer *opt = sgd_at(&s, 1.0);
    rb_scheduler *r = rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_PLATEAU,
                                                          .patience = 1,
                                                          .factor = 0.5,
                                                          .maximize = true,
                                                          .min_delta = 0.01});
    const double values[] = {0.50, 0.60, 0.605, 0.70, 0.65, 0.75, 0.755};
    /* 0.5 the first; 0.6 better; 0.605 not better by 0.01: halved (patience 1); 0.7 better;
     * 0.65 worse: halved; 0.75 better; 0.755 not by 0.01: halved. */
    const double lr_after[] = {1, 1, 0.5, 0.5, 0.25, 0.25, 0.125};
    for (size_t e = 0; e < sizeof values / sizeof values[0]; e++) {
        rb_scheduler_epoch_end(r, values[e]);
        if (fabs(rb_optimizer_lr(opt) - lr_after[e]) > 1e-15)
            fail_msg("after epoch %zu (value %g): lr %g, expected %g", e + 1, values[e],
                     rb_optimizer_lr(opt), lr_after[e]);
    }
    rb_scheduler_free(r);
    rb_optimizer_free(opt);
    rb_params_free(s.p);

    /* Defaults: 9 flat epochs keep the rate, the 10th (after the first) divides it by 10. */
    opt = sgd_at(&s, 1.0);
    r = rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_PLATEAU});
    rb_scheduler_epoch_end(r, 3.0);
    for (int e = 0; e < 9; e++)
        rb_scheduler_epoch_end(r, 3.0);
    CHECK_CLOSE(rb_optimizer_lr(opt), 1.0, 0);
    rb_scheduler_epoch_end(r, 3.0);
    CHECK_CLOSE(rb_optimizer_lr(opt), 0.1, 1e-15);
    rb_scheduler_free(r);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

static void invalid_schedules_are_refused(void **state)
{
    (void)state;
    store s;
    rb_optimizer *opt = sgd_at(&s, 0.5);
    CHECK_FAILS(rb_scheduler_new(NULL, (rb_schedule){0}), RB_ERR_ARGUMENT, "optimizer is NULL");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_STEP}), RB_ERR_ARGUMENT,
                "step_size >= 1");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_COSINE}), RB_ERR_ARGUMENT,
                "period >= 1");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_CONSTANT, .warmup = -1}),
                RB_ERR_ARGUMENT, "warmup");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_TIME_DECAY, .decay = -1}),
                RB_ERR_ARGUMENT, "decay");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_EXPONENTIAL, .decay = -1}),
                RB_ERR_ARGUMENT, "decay");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_PLATEAU, .per_step = true}),
                RB_ERR_ARGUMENT, "per epoch");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_PLATEAU, .factor = 1}),
                RB_ERR_ARGUMENT, "factor");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_PLATEAU, .patience = -1}),
                RB_ERR_ARGUMENT, "patience");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_PLATEAU, .cooldown = -2}),
                RB_ERR_ARGUMENT, "cooldown");
    CHECK_FAILS(rb_scheduler_new(
                    opt, (rb_schedule){.kind = RB_SCHEDULE_COSINE, .period = 5, .min_lr = -0.1}),
                RB_ERR_ARGUMENT, "min_lr");
    CHECK_FAILS(rb_scheduler_new(
                    opt, (rb_schedule){.kind = RB_SCHEDULE_STEP, .step_size = 2, .gamma = -0.5}),
                RB_ERR_ARGUMENT, "gamma");
    CHECK_FAILS(rb_scheduler_new(
                    opt, (rb_schedule){.kind = RB_SCHEDULE_STEP, .step_size = 2, .gamma = 1.5}),
                RB_ERR_ARGUMENT, "gamma");
    CHECK_FAILS(rb_scheduler_new(opt, (rb_schedule){.kind = (rb_schedule_kind)9}), RB_ERR_ARGUMENT,
                "unknown kind");
    /* Refusals left the rate alone. */
    CHECK_CLOSE(rb_optimizer_lr(opt), 0.5, 0);
    rb_optimizer_free(opt);
    rb_params_free(s.p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(adagrad_matches_the_rule_for_three_steps),
        TEST(adagrad_starts_its_accumulator_at_one_tenth_by_default),
        TEST(adadelta_matches_the_rule_for_three_steps),
        TEST(rmsprop_matches_the_rule_for_three_steps),
        TEST(rmsprop_with_momentum_matches_the_rule_for_three_steps),
        TEST(amsgrad_keeps_the_largest_second_moment),
        TEST(adamw_decays_weights_apart_from_the_moments),
        TEST(nadam_matches_pytorchs_nadam_for_three_steps),
        TEST(zero_fields_take_the_documented_defaults),
        TEST(bad_settings_are_refused_with_their_reason),
        TEST(each_optimizer_names_its_state_slabs),
        TEST(clip_grad_norm_returns_the_norm_and_scales_only_above_max_norm),
        TEST(clip_grad_value_clamps_each_gradient),
        TEST(clip_grad_norm_is_the_same_with_one_or_two_threads),
        TEST(optimizer_steps_are_the_same_with_one_or_two_threads),
        TEST(schedules_follow_their_formulas),
        TEST(a_per_epoch_scheduler_moves_the_rate_at_each_epoch_end),
        TEST(a_per_step_scheduler_moves_the_rate_after_each_step),
        TEST(reduce_on_plateau_follows_patience_min_delta_cooldown_and_floor),
        TEST(plateau_cooldown_counts_epochs_after_a_reduction),
        TEST(reduce_on_plateau_can_maximize_and_has_keras_defaults),
        TEST(invalid_schedules_are_refused),
    };
    return RUN_TESTS(tests, argc, argv);
}
