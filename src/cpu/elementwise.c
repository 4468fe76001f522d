/* Elementwise kernels. Each inner loop has a unit-stride path the compiler vectorises and a
 * general strided path, for the output as for the inputs; broadcast operands arrive with
 * stride 0. */
#include <math.h>

#include "elementwise.h"
#include "fastmath.h"
#include "kernels.h"

typedef struct unary_ctx {
    rb__unary_kind kind;
    double p0, p1;
} unary_ctx;

/* y = EXPR(v) over n elements; v is the input element. The output may be a view (a slice's
 * backward adds into a stepped region): its stride is honoured like the input's. */
#define UNARY_LOOP(T, EXPR)                                                                        \
    do {                                                                                           \
        if (sy == 1 && sx == 1)                                                                    \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T v = x[i];                                                                        \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        else if (sy == 1)                                                                          \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T v = x[i * sx];                                                                   \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        else                                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T v = x[i * sx];                                                                   \
                y[i * sy] = (EXPR);                                                                \
            }                                                                                      \
    } while (0)

#define DEFINE_UNARY(T, SUF, EXP, LOG, SQRT, FABS, ERF, EXPM1, LOG1P, POW, TANH, SIGMOID)          \
    static void unary_##SUF(int64_t n, char **ptrs, const int64_t *strides, void *arg)             \
    {                                                                                              \
        const unary_ctx *c = arg;                                                                  \
        T *y = (T *)ptrs[0];                                                                       \
        const T *x = (const T *)ptrs[1];                                                           \
        int64_t sy = strides[0], sx = strides[1];                                                  \
        const T p0 = (T)c->p0, p1 = (T)c->p1;                                                      \
        switch (c->kind) {                                                                         \
        case RB__U_NEG: UNARY_LOOP(T, -v); break;                                                  \
        case RB__U_SQUARE: UNARY_LOOP(T, v *v); break;                                             \
        case RB__U_SQRT: UNARY_LOOP(T, SQRT(v)); break;                                            \
        case RB__U_RSQRT: UNARY_LOOP(T, (T)1 / SQRT(v)); break;                                    \
        case RB__U_EXP: UNARY_LOOP(T, EXP(v)); break;                                              \
        case RB__U_LOG: UNARY_LOOP(T, LOG(v)); break;                                              \
        case RB__U_ABS: UNARY_LOOP(T, FABS(v)); break;                                             \
        case RB__U_SIGN: UNARY_LOOP(T, (T)((v > 0) - (v < 0))); break;                             \
        case RB__U_CLAMP: UNARY_LOOP(T, v < p0 ? p0 : (v > p1 ? p1 : v)); break;                   \
        case RB__U_ERF: UNARY_LOOP(T, ERF(v)); break;                                              \
        case RB__U_RELU: UNARY_LOOP(T, v > 0 ? v : (T)0); break;                                   \
        case RB__U_LEAKY: UNARY_LOOP(T, v > 0 ? v : p0 * v); break;                                \
        case RB__U_ELU: UNARY_LOOP(T, v > 0 ? v : p0 * EXPM1(v)); break;                           \
        case RB__U_SIGMOID: UNARY_LOOP(T, SIGMOID(v)); break;                                      \
        case RB__U_TANH: UNARY_LOOP(T, TANH(v)); break;                                            \
        case RB__U_SOFTPLUS: UNARY_LOOP(T, (v > 0 ? v : (T)0) + LOG1P(EXP(-FABS(v)))); break;      \
        case RB__U_GELU:                                                                           \
            UNARY_LOOP(T, (T)0.5 * v * ((T)1 + ERF(v * (T)0.70710678118654752440)));               \
            break;                                                                                 \
        case RB__U_ADD_S: UNARY_LOOP(T, v + p0); break;                                            \
        case RB__U_MUL_S: UNARY_LOOP(T, v *p0); break;                                             \
        case RB__U_POW_S: UNARY_LOOP(T, POW(v, p0)); break;                                        \
        case RB__U_STEP: UNARY_LOOP(T, v > 0 ? (T)1 : (T)0); break;                                \
        }                                                                                          \
        (void)p1;                                                                                  \
    }

static inline double sigmoid_f64(double v)
{
    return v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
}

DEFINE_UNARY(float, f32, expf, logf, sqrtf, fabsf, erff, expm1f, log1pf, powf, rb__tanh_f32,
             rb__sigmoid_f32)
DEFINE_UNARY(double, f64, exp, log, sqrt, fabs, erf, expm1, log1p, pow, tanh, sigmoid_f64)

void rb__unary(rb__unary_kind kind, const rb_tensor *x, rb_tensor *out, double p0, double p1)
{
    unary_ctx c = {kind, p0, p1};
    size_t es = rb_dtype_size(out->dtype);
    rb__operand ops[2] = {{out->data, es, out->strides}, {x->data, es, x->strides}};
    rb__iterate(out->ndim, out->shape, 2, ops, out->dtype == RB_F32 ? unary_f32 : unary_f64, &c);
}

/* o = EXPR(a, b) with a, b the operand elements; unit-stride and broadcast paths for a
 * contiguous output, the general one for a view (any strides, negative included). */
#define BINARY_LOOP(T, EXPR)                                                                       \
    do {                                                                                           \
        if (so != 1)                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T a = pa[i * sa], b = pb[i * sb];                                                  \
                o[i * so] = (EXPR);                                                                \
            }                                                                                      \
        else if (sa == 1 && sb == 1)                                                               \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T a = pa[i], b = pb[i];                                                            \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        else if (sa == 1 && sb == 0) {                                                             \
            const T b = *pb;                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T a = pa[i];                                                                       \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sa == 0 && sb == 1) {                                                           \
            const T a = *pa;                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T b = pb[i];                                                                       \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else                                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T a = pa[i * sa], b = pb[i * sb];                                                  \
                o[i] = (EXPR);                                                                     \
            }                                                                                      \
    } while (0)

#define DEFINE_BINARY(T, SUF, POW, FMAX, FMIN)                                                     \
    static void binary_##SUF(int64_t n, char **ptrs, const int64_t *strides, void *arg)            \
    {                                                                                              \
        rb__binary_kind kind = *(const rb__binary_kind *)arg;                                      \
        T *o = (T *)ptrs[0];                                                                       \
        const T *pa = (const T *)ptrs[1], *pb = (const T *)ptrs[2];                                \
        int64_t so = strides[0], sa = strides[1], sb = strides[2];                                 \
        switch (kind) {                                                                            \
        case RB__B_ADD: BINARY_LOOP(T, a + b); break;                                              \
        case RB__B_SUB: BINARY_LOOP(T, a - b); break;                                              \
        case RB__B_MUL: BINARY_LOOP(T, a *b); break;                                               \
        case RB__B_DIV: BINARY_LOOP(T, a / b); break;                                              \
        case RB__B_POW: BINARY_LOOP(T, POW(a, b)); break;                                          \
        case RB__B_MAX: BINARY_LOOP(T, a > b ? a : (b > a ? b : FMAX(a, b))); break;               \
        case RB__B_MIN: BINARY_LOOP(T, a < b ? a : (b < a ? b : FMIN(a, b))); break;               \
        case RB__B_GT: BINARY_LOOP(T, (T)(a > b)); break;                                          \
        case RB__B_GE: BINARY_LOOP(T, (T)(a >= b)); break;                                         \
        case RB__B_LT: BINARY_LOOP(T, (T)(a < b)); break;                                          \
        case RB__B_LE: BINARY_LOOP(T, (T)(a <= b)); break;                                         \
        case RB__B_EQ: BINARY_LOOP(T, (T)(a == b)); break;                                         \
        case RB__B_NE: BINARY_LOOP(T, (T)(a != b)); break;                                         \
        case RB__B_RELU_GRAD: BINARY_LOOP(T, b > 0 ? a : (T)0); break;                             \
        case RB__B_SIGMOID_GRAD: BINARY_LOOP(T, a *b *((T)1 - b)); break;                          \
        case RB__B_TANH_GRAD: BINARY_LOOP(T, a *((T)1 - b * b)); break;                            \
        }                                                                                          \
    }

DEFINE_BINARY(float, f32, powf, fmaxf, fminf)
DEFINE_BINARY(double, f64, pow, fmax, fmin)

void rb__binary(rb__binary_kind kind, const rb_tensor *a, const rb_tensor *b, rb_tensor *out)
{
    int64_t sa[RB_MAX_DIMS], sb[RB_MAX_DIMS];
    rb__broadcast_strides(a, out->ndim, sa);
    rb__broadcast_strides(b, out->ndim, sb);
    size_t es = rb_dtype_size(out->dtype);
    rb__operand ops[3] = {{out->data, es, out->strides}, {a->data, es, sa}, {b->data, es, sb}};
    rb__iterate(out->ndim, out->shape, 3, ops, out->dtype == RB_F32 ? binary_f32 : binary_f64,
                &kind);
}

void rb__add_into(rb_tensor *acc, const rb_tensor *g) { rb__binary(RB__B_ADD, acc, g, acc); }
