/* Elementwise kernels shared by the op families: one enum per arity, strided and broadcast
 * operands handled by rb__iterate, float32 and float64. */
#ifndef RUBAN_SRC_ELEMENTWISE_H
#define RUBAN_SRC_ELEMENTWISE_H

#include "core.h"

typedef enum rb__unary_kind {
    RB__U_NEG,
    RB__U_SQUARE,
    RB__U_SQRT,
    RB__U_RSQRT,
    RB__U_EXP,
    RB__U_LOG,
    RB__U_ABS,
    RB__U_SIGN,
    RB__U_CLAMP, /* p0 = lo, p1 = hi */
    RB__U_ERF,
    RB__U_RELU,
    RB__U_LEAKY, /* p0 = alpha */
    RB__U_ELU,   /* p0 = alpha */
    RB__U_SIGMOID,
    RB__U_TANH,
    RB__U_SOFTPLUS,
    RB__U_GELU,
    RB__U_ADD_S, /* p0 = c */
    RB__U_MUL_S, /* p0 = c */
    RB__U_POW_S, /* p0 = c */
    RB__U_STEP   /* 1 where x > 0 else 0 */
} rb__unary_kind;

typedef enum rb__binary_kind {
    RB__B_ADD,
    RB__B_SUB,
    RB__B_MUL,
    RB__B_DIV,
    RB__B_POW,
    RB__B_MAX,
    RB__B_MIN,
    RB__B_GT,
    RB__B_GE,
    RB__B_LT,
    RB__B_LE,
    RB__B_EQ,
    RB__B_NE,
    RB__B_RELU_GRAD,    /* a = g, b = x: g where x > 0 */
    RB__B_SIGMOID_GRAD, /* a = g, b = y: g y (1 - y) */
    RB__B_TANH_GRAD     /* a = g, b = y: g (1 - y^2) */
} rb__binary_kind;

/* out = f(x) (same shape and float dtype; out and x any layout, out without overlapping
 * elements). */
void rb__unary(rb__unary_kind kind, const rb_tensor *x, rb_tensor *out, double p0, double p1);
/* out = f(a, b) with a and b broadcast to out's shape (all one float dtype; any layouts, out
 * without overlapping elements). out may be a (in-place accumulation). */
void rb__binary(rb__binary_kind kind, const rb_tensor *a, const rb_tensor *b, rb_tensor *out);
/* acc += g, same shape; acc may be a view (the region a slice's gradient adds into). */
void rb__add_into(rb_tensor *acc, const rb_tensor *g);

#endif
