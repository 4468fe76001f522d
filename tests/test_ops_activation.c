/* Forward values of the activations, softmax, log-softmax and the fused softmax cross-entropy:
 * literal values computed with Python's math module (the command is in a comment), and loops
 * over the textbook formulas in double precision. */
#include "opcheck.h"

#define SELU_ALPHA 1.6732632423543772 /* Keras / PyTorch constants */
#define SELU_SCALE 1.0507009873554805

/* ---- the elementwise activations against their formulas ---- */

typedef struct act_case {
    const char *name;
    rb_tensor *(*fn)(rb_tensor *x);
    double (*ref)(double v);
    double atol; /* absolute slack: gelu's 1 + erf cancels for x < 0, losing relative digits */
} act_case;

static rb_tensor *leaky_0_1(rb_tensor *x) { return rb_leaky_relu(x, 0.1); }
static rb_tensor *elu_1_3(rb_tensor *x) { return rb_elu(x, 1.3); }
static double r_relu(double v) { return v > 0 ? v : 0; }
static double r_leaky(double v) { return v > 0 ? v : 0.1 * v; }
static double r_elu(double v) { return v > 0 ? v : 1.3 * (exp(v) - 1); }
static double r_selu(double v) { return SELU_SCALE * (v > 0 ? v : SELU_ALPHA * (exp(v) - 1)); }
static double r_sigmoid(double v) { return 1 / (1 + exp(-v)); }
static double r_softplus(double v) { return log1p(exp(v)); } /* fine for |v| < 700 */
/* x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2, accurate in the negative tail too */
static double r_gelu(double v) { return 0.5 * v * erfc(-v / sqrt(2.0)); }

static const act_case ACTS[] = {
    {"relu", rb_relu, r_relu, 0},
    {"leaky_relu", leaky_0_1, r_leaky, 0},
    {"elu", elu_1_3, r_elu, 0},
    {"selu", rb_selu, r_selu, 0},
    {"sigmoid", rb_sigmoid, r_sigmoid, 0},
    {"tanh", rb_tanh, tanh, 0},
    {"softplus", rb_softplus, r_softplus, 0},
    {"gelu", rb_gelu, r_gelu, 1e-15},
};
enum { N_ACTS = sizeof ACTS / sizeof ACTS[0] };

static void check_activations(rb_dtype dtype, double rtol, double atol_scale)
{
    enum { N = 301 };
    double v[N], expect[N];
    for (int k = 0; k < N_ACTS; k++) {
        fill_uniform(v, N, -6, 6, 40 + (uint64_t)k);
        v[0] = 0;
        rb_tensor *x = tensor_of(dtype, RB_SHAPE(N), v);
        for (int i = 0; i < N; i++)
            expect[i] = ACTS[k].ref(v[i]);
        rb_tensor *y = ACTS[k].fn(x);
        if (!y) fail_msg("rb_%s failed: %s", ACTS[k].name, rb_last_error());
        assert_int_equal(rb_tensor_dtype(y), dtype);
        check_values_(y, ACTS[k].name, expect, N, rtol, ACTS[k].atol * atol_scale, __FILE__,
                      __LINE__);
    }
}

static void activations_match_their_formulas_in_float64(void **state)
{
    (void)state;
    check_activations(RB_F64, 1e-14, 1);
}

static void activations_match_their_formulas_in_float32(void **state)
{
    (void)state;
    check_activations(RB_F32, 1e-6, 1e8); /* gelu: 1e-7 */
}

/* ---- literal values ---- */

static void relu_and_leaky_relu_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(5), -2, -0.5, 0, 0.5, 3);
    CHECK_TENSOR(rb_relu(x), 0, 0, 0, 0, 0.5, 3);
    CHECK_TENSOR(rb_leaky_relu(x, 0.1), 1e-16, -0.2, -0.05, 0, 0.5, 3);
    CHECK_TENSOR(rb_leaky_relu(x, 0), 0, 0, 0, 0, 0.5, 3);
    CHECK_TENSOR(rb_relu(T32(RB_SHAPE(3), -1, 0, 2.5f)), 0, 0, 0, 2.5);
}

/* python3 -c 'import math; print([x if x > 0 else 1.3*math.expm1(x) for x in (-3,-1,0,.5,2)])' */
static void elu_matches_python(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(5), -3, -1, 0, 0.5, 2);
    CHECK_REL(rb_elu(x, 1.3), 1e-15, -1.235276811121777, -0.8217567264771249, 0, 0.5, 2);
}

/* a, s = 1.6732632423543772, 1.0507009873554805
 * [s*(x if x > 0 else a*math.expm1(x)) for x in (-3, -1, 0, .5, 2)] */
static void selu_uses_the_keras_constants(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(5), -3, -1, 0, 0.5, 2);
    CHECK_REL(rb_selu(x), 1e-15, -1.6705687287671118, -1.1113307378125625, 0, 0.5253504936777402,
              2.101401974710961);
    /* far negative: -scale * alpha */
    CHECK_REL(rb_selu(T64(RB_SHAPE(1), -50)), 1e-15, -SELU_SCALE * SELU_ALPHA);
}

/* [1/(1+math.exp(-x)) for x in (-2, 0, .5, 3)] */
static void sigmoid_matches_python(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(4), -2, 0, 0.5, 3);
    CHECK_REL(rb_sigmoid(x), 1e-15, 0.11920292202211755, 0.5, 0.6224593312018546,
              0.9525741268224334);
    CHECK_REL(rb_sigmoid(T32(RB_SHAPE(4), -2, 0, 0.5, 3)), 1e-6, 0.11920292202211755, 0.5,
              0.6224593312018546, 0.9525741268224334);
}

/* math.exp(-100) / (1 + math.exp(-100)) = 3.720075976020836e-44 */
static void sigmoid_of_large_magnitudes_is_finite_and_saturates(void **state)
{
    (void)state;
    rb_tensor *y = rb_sigmoid(T64(RB_SHAPE(4), -100, 100, -800, 800));
    CHECK_REL(y, 1e-14, 3.720075976020836e-44, 1, 0, 1);
    rb_tensor *y32 = rb_sigmoid(T32(RB_SHAPE(4), -100, 100, -800, 800));
    const float *v = rb_tensor_f32(y32);
    for (int i = 0; i < 4; i++)
        assert_true(isfinite(v[i]));
    assert_true(v[0] >= 0 && v[0] < 1e-40f); /* a float32 subnormal or 0 */
    CHECK_TENSOR(y32, 1e-40, 0, 1, 0, 1);
}

/* [math.tanh(x) for x in (-2, 0, .5, 3)] */
static void tanh_matches_python_and_saturates(void **state)
{
    (void)state;
    CHECK_REL(rb_tanh(T64(RB_SHAPE(4), -2, 0, 0.5, 3)), 1e-15, -0.9640275800758169, 0,
              0.46211715726000974, 0.9950547536867305);
    CHECK_TENSOR(rb_tanh(T32(RB_SHAPE(2), -100, 100)), 0, -1, 1);
}

/* float32 tanh and sigmoid use ruban's own vectorised exp: within a few ulp of float64. */
static void float32_tanh_and_sigmoid_are_within_a_few_ulp(void **state)
{
    (void)state;
    rb_tensor *x64 = rb_tensor_linspace(RB_F64, -40, 40, 200001);
    rb_tensor *x32 = rb_cast(x64, RB_F32);
    rb_tensor *exact_x = rb_cast(x32, RB_F64); /* the float32 inputs, exactly */
    rb_tensor *(*fns[2])(rb_tensor *) = {rb_tanh, rb_sigmoid};
    for (int f = 0; f < 2; f++) {
        rb_tensor *fast = rb_cast(fns[f](x32), RB_F64), *want = fns[f](exact_x);
        const double *a = rb_tensor_f64(fast), *b = rb_tensor_f64(want);
        double worst = 0;
        for (int64_t i = 0; i < rb_tensor_size(fast); i++) {
            if (fabs(b[i]) < 1e-37) continue; /* float32 subnormals: absolute check below */
            double rel = fabs(a[i] - b[i]) / fabs(b[i]);
            if (rel > worst) worst = rel;
        }
        if (worst > 3e-7) fail_msg("%s: relative error %.3g > 3e-7", f ? "sigmoid" : "tanh", worst);
    }
    /* Far tails: exact saturation and subnormal sigmoid. */
    CHECK_TENSOR(rb_tanh(T32(RB_SHAPE(4), -9, 9, 1e-30, -1e-30)), 1e-37, -1, 1, 1e-30, -1e-30);
    CHECK_TENSOR(rb_sigmoid(T32(RB_SHAPE(3), -95, -104.5, 95)), 2e-43, 5.5e-42, 0, 1);
}

/* [math.log1p(math.exp(x)) for x in (-2, 0, .5, 3, -100)] */
static void softplus_matches_python(void **state)
{
    (void)state;
    CHECK_REL(rb_softplus(T64(RB_SHAPE(4), -2, 0, 0.5, 3)), 1e-15, 0.1269280110429725,
              0.6931471805599453, 0.9740769841801067, 3.048587351573742);
}

static void softplus_is_stable_for_large_magnitudes(void **state)
{
    (void)state;
    /* softplus(100) = 100 + log1p(e^-100) rounds to 100; softplus(-100) = 3.720075976020836e-44 */
    CHECK_REL(rb_softplus(T64(RB_SHAPE(3), 100, -100, 1000)), 1e-14, 100, 3.720075976020836e-44,
              1000);
    rb_tensor *y32 = rb_softplus(T32(RB_SHAPE(3), 100, -100, 1000));
    const float *v = rb_tensor_f32(y32);
    for (int i = 0; i < 3; i++)
        assert_true(isfinite(v[i]));
    CHECK_TENSOR(y32, 1e-40, 100, 3.72e-44, 1000);
}

/* [0.5*x*(1+math.erf(x/math.sqrt(2))) for x in (-3, -1, 0, .5, 1, 2)] */
static void gelu_is_the_exact_erf_form(void **state)
{
    (void)state;
    const double expect[] = {-0.00404969409489031, -0.15865525393145707, 0,
                             0.34573123063700656,  0.8413447460685429,   1.9544997361036416};
    CHECK_VALUES(rb_gelu(T64(RB_SHAPE(6), -3, -1, 0, 0.5, 1, 2)), expect, 6, 1e-14, 0);
    CHECK_VALUES(rb_gelu(T32(RB_SHAPE(6), -3, -1, 0, 0.5, 1, 2)), expect, 6, 1e-6, 1e-8);
}

/* ---- softmax and log-softmax ---- */

/* Softmax (or log-softmax) of x (outer, len, inner) along the middle axis, by the formula. */
static void ref_softmax(const double *x, double *y, int64_t outer, int64_t len, int64_t inner,
                        bool log_form)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const double *xl = x + o * len * inner + i;
            double *yl = y + o * len * inner + i;
            double m = -INFINITY, s = 0;
            for (int64_t r = 0; r < len; r++)
                m = fmax(m, xl[r * inner]);
            for (int64_t r = 0; r < len; r++)
                s += exp(xl[r * inner] - m);
            for (int64_t r = 0; r < len; r++)
                yl[r * inner] = log_form ? xl[r * inner] - m - log(s) : exp(xl[r * inner] - m) / s;
        }
}

static void check_softmax(rb_dtype dtype, int axis, bool log_form, double rtol, double atol)
{
    /* x: (3, 4, 5) */
    double x[60], expect[60];
    fill_uniform(x, 60, -5, 5, 50 + (uint64_t)axis);
    rb_tensor *t = tensor_of(dtype, RB_SHAPE(3, 4, 5), x);
    int a = axis < 0 ? axis + 3 : axis;
    int64_t shape[3] = {3, 4, 5}, outer = 1, inner = 1;
    for (int d = 0; d < a; d++)
        outer *= shape[d];
    for (int d = a + 1; d < 3; d++)
        inner *= shape[d];
    ref_softmax(x, expect, outer, shape[a], inner, log_form);
    rb_tensor *y = log_form ? rb_log_softmax(t, axis) : rb_softmax(t, axis);
    CHECK_SHAPE(y, 3, 4, 5);
    assert_int_equal(rb_tensor_dtype(y), dtype);
    CHECK_VALUES(y, expect, 60, rtol, atol);
}

static void softmax_along_the_last_axis_matches_the_formula(void **state)
{
    (void)state;
    check_softmax(RB_F64, -1, false, 1e-14, 0);
    check_softmax(RB_F32, 2, false, 1e-6, 0);
}

static void softmax_along_the_first_and_middle_axes_matches_the_formula(void **state)
{
    (void)state;
    check_softmax(RB_F64, 0, false, 1e-14, 0);
    check_softmax(RB_F64, 1, false, 1e-14, 0);
    check_softmax(RB_F32, 0, false, 1e-6, 0);
}

static void log_softmax_matches_the_formula_along_any_axis(void **state)
{
    (void)state;
    check_softmax(RB_F64, -1, true, 1e-14, 1e-15);
    check_softmax(RB_F64, 0, true, 1e-14, 1e-15);
    check_softmax(RB_F32, 1, true, 1e-6, 1e-6);
}

static void softmax_rows_sum_to_one(void **state)
{
    (void)state;
    double x[24];
    fill_uniform(x, 24, -10, 10, 60);
    rb_tensor *y = rb_softmax(tensor_of(RB_F32, RB_SHAPE(4, 6), x), 1);
    double v[24];
    rb_tensor_to_doubles(y, v, 24);
    for (int r = 0; r < 4; r++) {
        double s = 0;
        for (int c = 0; c < 6; c++) {
            assert_true(v[r * 6 + c] > 0 && v[r * 6 + c] < 1);
            s += v[r * 6 + c];
        }
        CHECK_CLOSE(s, 1, 1e-6);
    }
}

/* python: m = max(v); e = [exp(x - m) for x in v]; [x / sum(e) for x in e] for v = (0, 1, 2)
 * (shifting the logits changes nothing) */
static void softmax_is_stable_for_large_logits(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1000, 1001, 1002, -1000, -999, -998);
    CHECK_REL(rb_softmax(x, 1), 1e-14, 0.09003057317038046, 0.24472847105479764, 0.6652409557748218,
              0.09003057317038046, 0.24472847105479764, 0.6652409557748218);
    CHECK_REL(rb_softmax(T32(RB_SHAPE(1, 3), 1000, 1001, 1002), 1), 1e-6, 0.09003057317038046,
              0.24472847105479764, 0.6652409557748218);
}

/* python: [x - m - math.log(sum(e)) for x in v] for v = (0, 1, 2) */
static void log_softmax_is_stable_for_large_logits(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1000, 1001, 1002, -1000, -999, -998);
    CHECK_REL(rb_log_softmax(x, -1), 1e-12, -2.4076059644443806, -1.4076059644443804,
              -0.4076059644443804, -2.4076059644443806, -1.4076059644443804, -0.4076059644443804);
}

/* The results are O(1) and representable to 1e-7; computing (x - max) - log(sum) keeps that
 * precision whatever the logits' magnitude, as PyTorch does. */
static void log_softmax_in_float32_keeps_full_precision_for_large_logits(void **state)
{
    (void)state;
    CHECK_REL(rb_log_softmax(T32(RB_SHAPE(1, 3), 1000, 1001, 1002), 1), 1e-6, -2.4076059644443806,
              -1.4076059644443804, -0.4076059644443804);
}

static void softmax_refuses_bad_axes_and_scalars(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_softmax(x, 2), RB_ERR_AXIS, "axis 2 out of range");
    CHECK_FAILS(rb_log_softmax(x, -3), RB_ERR_AXIS, "axis -3");
    CHECK_FAILS(rb_softmax(rb_tensor_scalar(RB_F32, 1), 0), RB_ERR_SHAPE, "at least one axis");
}

/* ---- fused softmax cross-entropy ---- */

/* Mean over rows of sum_c t[c] (logsumexp(x) - x[c]), t one-hot (labels) or probabilities. */
static double ref_cross_entropy(const double *x, const double *t, const int64_t *labels, int64_t B,
                                int64_t C)
{
    double total = 0;
    for (int64_t b = 0; b < B; b++) {
        const double *xr = x + b * C;
        double m = -INFINITY, s = 0;
        for (int64_t c = 0; c < C; c++)
            m = fmax(m, xr[c]);
        for (int64_t c = 0; c < C; c++)
            s += exp(xr[c] - m);
        double lse = m + log(s);
        for (int64_t c = 0; c < C; c++) {
            double tc = labels ? (double)(labels[b] == c) : t[b * C + c];
            total += tc * (lse - xr[c]);
        }
    }
    return total / (double)B;
}

/* l0 = log(e + e^2 + e^3); ((l0 - 3) + log(3)) / 2 = 0.753109126556245 */
static void cross_entropy_with_int64_labels_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *logits = T64(RB_SHAPE(2, 3), 1, 2, 3, 1, 1, 1);
    rb_tensor *loss = rb_softmax_cross_entropy(logits, TI64(RB_SHAPE(2), 2, 0));
    assert_int_equal(rb_tensor_ndim(loss), 0);
    CHECK_REL(loss, 1e-15, 0.753109126556245);
    rb_tensor *l32 =
        rb_softmax_cross_entropy(T32(RB_SHAPE(2, 3), 1, 2, 3, 1, 1, 1), TI64(RB_SHAPE(2), 2, 0));
    assert_int_equal(rb_tensor_dtype(l32), RB_F32);
    CHECK_REL(l32, 1e-6, 0.753109126556245);
}

/* row 0: l0 - (.1*1 + .2*2 + .7*3) = l0 - 2.6; row 1: log(3); the mean, in python:
 * 0.9531091265562449 */
static void cross_entropy_with_probability_targets_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *logits = T64(RB_SHAPE(2, 3), 1, 2, 3, 1, 1, 1);
    rb_tensor *t = T64(RB_SHAPE(2, 3), 0.1, 0.2, 0.7, 1.0 / 3, 1.0 / 3, 1.0 / 3);
    CHECK_REL(rb_softmax_cross_entropy(logits, t), 1e-15, 0.9531091265562449);
}

static void cross_entropy_matches_a_loop_on_random_logits(void **state)
{
    (void)state;
    enum { B = 7, C = 10 };
    double x[B * C], t[B * C], lab[B];
    int64_t labels[B];
    fill_uniform(x, B * C, -8, 8, 70);
    fill_uniform(t, B * C, 0, 1, 71);
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int c = 0; c < C; c++)
            s += t[b * C + c];
        for (int c = 0; c < C; c++)
            t[b * C + c] /= s;
        labels[b] = (b * 3 + 1) % C;
        lab[b] = (double)labels[b];
    }
    rb_tensor *li = tensor_of(RB_I64, RB_SHAPE(B), lab);
    rb_tensor *x64 = tensor_of(RB_F64, RB_SHAPE(B, C), x);
    rb_tensor *t64 = tensor_of(RB_F64, RB_SHAPE(B, C), t);
    CHECK_REL(rb_softmax_cross_entropy(x64, li), 1e-14, ref_cross_entropy(x, NULL, labels, B, C));
    CHECK_REL(rb_softmax_cross_entropy(x64, t64), 1e-14, ref_cross_entropy(x, t, NULL, B, C));
    rb_tensor *x32 = tensor_of(RB_F32, RB_SHAPE(B, C), x); /* rounds x to float */
    rb_tensor *t32 = tensor_of(RB_F32, RB_SHAPE(B, C), t);
    CHECK_REL(rb_softmax_cross_entropy(x32, li), 1e-6, ref_cross_entropy(x, NULL, labels, B, C));
    CHECK_REL(rb_softmax_cross_entropy(x32, t32), 1e-6, ref_cross_entropy(x, t, NULL, B, C));
}

static void cross_entropy_is_stable_for_large_logits(void **state)
{
    (void)state;
    /* each row's loss is logsumexp - x[label] = 1000 (+ log1p(e^-1000), nothing) */
    rb_tensor *labels = TI64(RB_SHAPE(2), 1, 0);
    CHECK_REL(rb_softmax_cross_entropy(T64(RB_SHAPE(2, 2), 1000, 0, -1000, 0), labels), 1e-14,
              1000);
    CHECK_REL(rb_softmax_cross_entropy(T32(RB_SHAPE(2, 2), 1000, 0, -1000, 0), labels), 1e-6, 1000);
    /* a confident, correct prediction costs about e^-1000: zero, not NaN */
    CHECK_TENSOR(rb_softmax_cross_entropy(T32(RB_SHAPE(1, 2), 1000, 0), TI64(RB_SHAPE(1), 0)), 0,
                 0);
}

static void cross_entropy_refuses_bad_labels_and_shapes(void **state)
{
    (void)state;
    rb_tensor *logits = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_softmax_cross_entropy(logits, TI64(RB_SHAPE(2), 0, 3)), RB_ERR_ARGUMENT,
                "label 3 at row 1");
    CHECK_FAILS(rb_softmax_cross_entropy(logits, TI64(RB_SHAPE(2), -1, 0)), RB_ERR_ARGUMENT,
                "label -1");
    CHECK_FAILS(rb_softmax_cross_entropy(logits, TI64(RB_SHAPE(3), 0, 1, 2)), RB_ERR_SHAPE, "[3]");
    CHECK_FAILS(rb_softmax_cross_entropy(logits, rb_tensor_zeros(RB_F32, RB_SHAPE(2, 4))),
                RB_ERR_SHAPE, "[2,4]");
    CHECK_FAILS(
        rb_softmax_cross_entropy(rb_tensor_zeros(RB_F32, RB_SHAPE(3)), TI64(RB_SHAPE(1), 0)),
        RB_ERR_SHAPE, "(batch, classes)");
    CHECK_FAILS(rb_softmax_cross_entropy(logits, rb_tensor_zeros(RB_F64, RB_SHAPE(2, 3))),
                RB_ERR_DTYPE, "dtypes differ");
}

/* rb_dropout gives the bits of the composition it replaces (draws, comparison, scale, product)
 * and leaves the generator where the composition leaves it: for both dtypes, rates, sizes that
 * end inside a chunk of draws, a strided input; its gradient is the same mask times the
 * upstream gradient. */
static void dropout_matches_the_composition_bit_for_bit(void **state)
{
    (void)state;
    const rb_dtype dtypes[2] = {RB_F32, RB_F64};
    const double rates[3] = {0.1, 0.5, 0.9};
    const int64_t sizes[3] = {1, 257, 3001};
    for (int d = 0; d < 2; d++)
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 3; s++) {
                rb_rng init = rb_rng_make(11);
                rb_tensor *x = rb_tensor_normal(dtypes[d], RB_SHAPE(sizes[s], 2), 0, 1, &init);
                rb_tensor *xt = rb_transpose(x, 0, 1); /* strided */
                rb_rng a = rb_rng_make(5), b = rb_rng_make(5);
                rb_tensor *u = rb_tensor_uniform(dtypes[d], RB_SHAPE(2, sizes[s]), 0, 1, &a);
                rb_tensor *keep = rb_greater_equal(u, rb_tensor_scalar(dtypes[d], rates[r]));
                rb_tensor *want = rb_mul(xt, rb_mul_scalar(keep, 1.0 / (1.0 - rates[r])));
                rb_tensor *got = rb_dropout(xt, rates[r], &b);
                CHECK_SAME_BITS(got, want);
                assert_true(rb_rng_u64(&a) == rb_rng_u64(&b)); /* the stream goes on alike */
                /* gradient of sum(y * w): w where kept, scaled */
                rb_tensor *w = rb_tensor_normal(dtypes[d], RB_SHAPE(2, sizes[s]), 0, 1, &init);
                rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
                rb_tape_watch(tape, x);
                rb_rng c = rb_rng_make(5);
                rb_tensor *y = rb_dropout(rb_transpose(x, 0, 1), rates[r], &c);
                rb_tensor *g = rb_tape_gradient1(tape, rb_sum(rb_mul(y, w), RB_ALL_AXES, false), x);
                CHECK_SAME_BITS(g, rb_transpose(rb_mul(w, rb_mul_scalar(keep, 1.0 / (1.0 - rates[r]))), 0, 1));
                rb_tape_end(tape);
            }
}

/* About rate of the values dropped, the others scaled; rate 0 keeps everything; the same at
 * 1 and 2 threads; a rate outside [0, 1) and integer tensors are refused. */
static void dropout_drops_about_rate_and_refuses_bad_rates(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(200, 500));
    rb_rng rng = rb_rng_make(3);
    rb_tensor *y = rb_dropout(x, 0.3, &rng);
    double zeros = rb_tensor_item(rb_mean(rb_equal(y, rb_tensor_scalar(RB_F32, 0)), RB_ALL_AXES, false));
    CHECK_CLOSE(zeros, 0.3, 0.005);
    CHECK_CLOSE(rb_tensor_item(rb_max(y, RB_ALL_AXES, false)), (float)(1 / 0.7), 0);
    rb_rng zero = rb_rng_make(3);
    CHECK_SAME_BITS(rb_dropout(x, 0, &zero), x);
    int saved = rb_num_threads();
    rb_tensor *at[2];
    for (int t = 0; t < 2; t++) {
        rb_set_num_threads(t + 1);
        rb_rng r = rb_rng_make(9);
        at[t] = rb_dropout(x, 0.5, &r);
    }
    rb_set_num_threads(saved);
    CHECK_SAME_BITS(at[0], at[1]);
    CHECK_FAILS(rb_dropout(x, 1.0, &rng), RB_ERR_ARGUMENT, "rate 1 must be in [0, 1)");
    CHECK_FAILS(rb_dropout(x, -0.1, &rng), RB_ERR_ARGUMENT, "rate -0.1");
    CHECK_FAILS(rb_dropout(x, NAN, &rng), RB_ERR_ARGUMENT, "rate nan");
    CHECK_FAILS(rb_dropout(rb_tensor_zeros(RB_I64, RB_SHAPE(2)), 0.5, &rng), RB_ERR_DTYPE,
                "rb_dropout: expects a float32 or float64 tensor, got int64");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(activations_match_their_formulas_in_float64),
        TEST(dropout_matches_the_composition_bit_for_bit),
        TEST(dropout_drops_about_rate_and_refuses_bad_rates),
        TEST(activations_match_their_formulas_in_float32),
        TEST(relu_and_leaky_relu_worked_by_hand),
        TEST(elu_matches_python),
        TEST(selu_uses_the_keras_constants),
        TEST(sigmoid_matches_python),
        TEST(sigmoid_of_large_magnitudes_is_finite_and_saturates),
        TEST(tanh_matches_python_and_saturates),
        TEST(float32_tanh_and_sigmoid_are_within_a_few_ulp),
        TEST(softplus_matches_python),
        TEST(softplus_is_stable_for_large_magnitudes),
        TEST(gelu_is_the_exact_erf_form),
        TEST(softmax_along_the_last_axis_matches_the_formula),
        TEST(softmax_along_the_first_and_middle_axes_matches_the_formula),
        TEST(log_softmax_matches_the_formula_along_any_axis),
        TEST(softmax_rows_sum_to_one),
        TEST(softmax_is_stable_for_large_logits),
        TEST(log_softmax_is_stable_for_large_logits),
        TEST(log_softmax_in_float32_keeps_full_precision_for_large_logits),
        TEST(softmax_refuses_bad_axes_and_scalars),
        TEST(cross_entropy_with_int64_labels_worked_by_hand),
        TEST(cross_entropy_with_probability_targets_worked_by_hand),
        TEST(cross_entropy_matches_a_loop_on_random_logits),
        TEST(cross_entropy_is_stable_for_large_logits),
        TEST(cross_entropy_refuses_bad_labels_and_shapes),
    };
    return RUN_TESTS(tests, argc, argv);
}
