/* Shared by the fused recurrence ops (ops/rnn.c, ops/gru.c). Internal. */
#ifndef RUBAN_OPS_RNN_IMPL_H
#define RUBAN_OPS_RNN_IMPL_H

#include <math.h>

#include "fastmath.h"
#include "gemm.h"
#include "op_impl.h"
#include "parallel.h"

/* Rows per thread chunk: about RB__GRAIN / 8 gate values (a few transcendental functions
 * each), for gates of width g units. */
#define RB__RNN_ROW_GRAIN(g) ((RB__GRAIN / 8 + (g)-1) / (g))

static inline double rb__sigmoid_f64(double v)
{
    return v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v));
}

/* A row-major matrix over data. */
static inline rb__mat rb__mat_rows(void *data, int64_t rows, int64_t cols)
{
    return (rb__mat){data, rows, cols, cols, 1};
}

#endif
