/* ruban/linalg.h - classical least squares, the baseline a network should beat.
 *
 *     rb_tensor *w, *b;
 *     rb_linear_regression(train.x, train.y, 0.0, &w, &b);   // closed form
 *     rb_tensor *pred = rb_linear(test.x, w, b);             // x w + b
 */
#ifndef RUBAN_LINALG_H
#define RUBAN_LINALG_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Least squares with an intercept, in closed form (normal equations on centred data, solved
 * by Cholesky in float64): x (N, F), y (N) or (N, T) -> weights (F, T) and bias (T) in x's
 * dtype, minimising ||x w + b - y||^2 + ridge ||w||^2. New tensors the caller owns. Linearly
 * dependent features without ridge are refused with the feature at fault. */
RB_API rb_status rb_linear_regression(const rb_tensor *x, const rb_tensor *y, double ridge,
                                      rb_tensor **weights, rb_tensor **bias);

#ifdef __cplusplus
}
#endif
#endif
