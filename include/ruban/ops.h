/* ruban/ops.h - differentiable operations on tensors.
 *
 * Every op returns a new tensor owned by the current owner (ruban/tensor.h), records itself on
 * each active tape that watches one of its inputs, and works in float32 and float64 (unless
 * noted). Elementwise binary ops broadcast like NumPy. A NULL input gives NULL at once, so an
 * expression fails through to one check at the end (ruban/error.h).
 *
 *     rb_tensor *h = rb_relu(rb_linear(x, w1, b1));          // x: (B, 784), w1: (784, 256)
 *     rb_tensor *loss = rb_softmax_cross_entropy(rb_linear(h, w2, b2), labels);
 *     if (!loss) fprintf(stderr, "%s\n", rb_last_error());
 */
#ifndef RUBAN_OPS_H
#define RUBAN_OPS_H

#include "ruban/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arithmetic (broadcasting; a and b of the same float dtype) ---- */
RB_API rb_tensor *rb_add(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_sub(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_mul(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_div(rb_tensor *a, rb_tensor *b);
/* a^b elementwise; the gradient with respect to b needs a > 0. */
RB_API rb_tensor *rb_pow(rb_tensor *a, rb_tensor *b);
/* Elementwise larger / smaller; at ties the gradient is split evenly. */
RB_API rb_tensor *rb_maximum(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_minimum(rb_tensor *a, rb_tensor *b);
/* x + c, x * c, x^c with a constant c. */
RB_API rb_tensor *rb_add_scalar(rb_tensor *x, double c);
RB_API rb_tensor *rb_mul_scalar(rb_tensor *x, double c);
RB_API rb_tensor *rb_pow_scalar(rb_tensor *x, double c);

/* ---- elementwise math ---- */
RB_API rb_tensor *rb_neg(rb_tensor *x);
RB_API rb_tensor *rb_square(rb_tensor *x);
RB_API rb_tensor *rb_sqrt(rb_tensor *x);
/* 1 / sqrt(x). */
RB_API rb_tensor *rb_rsqrt(rb_tensor *x);
RB_API rb_tensor *rb_exp(rb_tensor *x);
/* Natural logarithm. */
RB_API rb_tensor *rb_log(rb_tensor *x);
/* |x|; gradient sign(x) (0 at 0). */
RB_API rb_tensor *rb_abs(rb_tensor *x);
/* -1, 0 or 1; not differentiable (zero gradient). */
RB_API rb_tensor *rb_sign(rb_tensor *x);
/* min(max(x, lo), hi); gradient 1 inside [lo, hi], 0 outside. */
RB_API rb_tensor *rb_clamp(rb_tensor *x, double lo, double hi);
/* Gauss error function. */
RB_API rb_tensor *rb_erf(rb_tensor *x);

/* ---- activations ---- */
RB_API rb_tensor *rb_relu(rb_tensor *x);
/* x if x > 0 else alpha * x. */
RB_API rb_tensor *rb_leaky_relu(rb_tensor *x, double alpha);
/* x if x > 0 else alpha * (exp(x) - 1). */
RB_API rb_tensor *rb_elu(rb_tensor *x, double alpha);
/* Scaled ELU with the self-normalising constants (Klambauer et al., 2017). */
RB_API rb_tensor *rb_selu(rb_tensor *x);
RB_API rb_tensor *rb_sigmoid(rb_tensor *x);
RB_API rb_tensor *rb_tanh(rb_tensor *x);
/* log(1 + exp(x)), computed without overflow. */
RB_API rb_tensor *rb_softplus(rb_tensor *x);
/* Exact GELU: x * Phi(x), Phi the standard normal CDF (PyTorch's default). */
RB_API rb_tensor *rb_gelu(rb_tensor *x);
/* Softmax and log-softmax along one axis (numerically stable). */
RB_API rb_tensor *rb_softmax(rb_tensor *x, int axis);
RB_API rb_tensor *rb_log_softmax(rb_tensor *x, int axis);
/* Inverted dropout: each value kept with probability 1 - rate and scaled by 1 / (1 - rate), else
 * 0 (rate in [0, 1)). The draws are rb_tensor_uniform(x's dtype and shape, 0, 1, rng) >= rate,
 * the same stream (rng NULL: the default generator), but no mask is stored: backward draws it
 * again. */
RB_API rb_tensor *rb_dropout(rb_tensor *x, double rate, rb_rng *rng);

/* ---- comparisons (results 0/1 in the inputs' dtype; not differentiable) and selection ---- */
RB_API rb_tensor *rb_greater(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_greater_equal(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_less(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_less_equal(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_equal(rb_tensor *a, rb_tensor *b);
RB_API rb_tensor *rb_not_equal(rb_tensor *a, rb_tensor *b);
/* cond != 0 ? a : b, broadcasting all three; cond may be of any dtype. Gradients flow to the
 * selected side only. */
RB_API rb_tensor *rb_where(rb_tensor *cond, rb_tensor *a, rb_tensor *b);

/* ---- reductions over a set of axes (RB_AXES(...) or RB_ALL_AXES) ---- */
RB_API rb_tensor *rb_sum(rb_tensor *x, int n_axes, const int *axes, bool keepdims);
RB_API rb_tensor *rb_mean(rb_tensor *x, int n_axes, const int *axes, bool keepdims);
/* Largest / smallest value; at ties the gradient is split evenly among the tied elements. */
RB_API rb_tensor *rb_max(rb_tensor *x, int n_axes, const int *axes, bool keepdims);
RB_API rb_tensor *rb_min(rb_tensor *x, int n_axes, const int *axes, bool keepdims);
/* Variance with `correction` degrees of freedom removed (0: population, 1: sample). */
RB_API rb_tensor *rb_var(rb_tensor *x, int n_axes, const int *axes, bool keepdims, int correction);
/* Index (int64) of the first largest / smallest element along one axis; not differentiable. */
RB_API rb_tensor *rb_argmax(rb_tensor *x, int axis, bool keepdims);
RB_API rb_tensor *rb_argmin(rb_tensor *x, int axis, bool keepdims);

/* ---- matrix products ---- */
/* a: (..., M, K), b: (..., K, N) -> (..., M, N), batch axes broadcast; 1-D a or b is treated
 * as a row / column vector (and that axis dropped), as in NumPy. Transposed views (rb_transpose)
 * go to BLIS as strides without a copy. */
RB_API rb_tensor *rb_matmul(rb_tensor *a, rb_tensor *b);
/* x: (B, in), w: (in, out), bias: (out) or NULL -> (B, out) = x w + bias, the bias added in
 * the product's epilogue. */
RB_API rb_tensor *rb_linear(rb_tensor *x, rb_tensor *w, rb_tensor *bias);

/* ---- shapes (views share data where the layout allows) ---- */
/* New shape with the same number of elements; one extent may be -1 (inferred). A view when x
 * is contiguous, else a copy. */
RB_API rb_tensor *rb_reshape(rb_tensor *x, int ndim, const int64_t *shape);
/* (B, ...) -> (B, prod(...)). */
RB_API rb_tensor *rb_flatten(rb_tensor *x);
/* Reorder axes: output axis i is input axis perm[i] (a view). */
RB_API rb_tensor *rb_permute(rb_tensor *x, const int *perm);
/* Swap two axes (a view); rb_transpose(x, -2, -1) transposes matrices. */
RB_API rb_tensor *rb_transpose(rb_tensor *x, int axis0, int axis1);
/* Insert an extent-1 axis at `axis` / remove extent-1 axis `axis` (views). */
RB_API rb_tensor *rb_expand_dims(rb_tensor *x, int axis);
RB_API rb_tensor *rb_squeeze(rb_tensor *x, int axis);
/* Broadcast to a shape (materialised); gradient sums back. */
RB_API rb_tensor *rb_broadcast_to(rb_tensor *x, int ndim, const int64_t *shape);
/* Sum x down to a shape x broadcasts from (the adjoint of rb_broadcast_to). */
RB_API rb_tensor *rb_sum_to(rb_tensor *x, int ndim, const int64_t *shape);
/* Contiguous copy, differentiable. */
RB_API rb_tensor *rb_contiguous(rb_tensor *x);
/* Convert dtype; between float types the gradient converts back; to int64 it stops. */
RB_API rb_tensor *rb_cast(rb_tensor *x, rb_dtype dtype);

/* ---- indexing ---- */
/* Elements start[i] <= k < stop[i] with step step[i] (> 0) along each axis; negative start or
 * stop count from the end and are clipped like Python slices. NULL step means all 1. */
RB_API rb_tensor *rb_slice(rb_tensor *x, const int64_t *start, const int64_t *stop,
                           const int64_t *step);
/* Join tensors of equal shape except along axis. */
RB_API rb_tensor *rb_concat(int n, rb_tensor *const *xs, int axis);
/* Stack tensors of equal shape along a new axis. */
RB_API rb_tensor *rb_stack(int n, rb_tensor *const *xs, int axis);
/* Pad with a constant: before[i] and after[i] elements on each axis (>= 0). */
RB_API rb_tensor *rb_pad(rb_tensor *x, const int64_t *before, const int64_t *after, double value);
/* TensorFlow's gather: pick slices along axis at int64 indices; the output shape is
 * x.shape[:axis] + indices.shape + x.shape[axis+1:]. */
RB_API rb_tensor *rb_gather(rb_tensor *x, rb_tensor *indices, int axis);
/* Elements of x at flat (row-major) int64 positions; the result has the indices' shape. */
RB_API rb_tensor *rb_take(rb_tensor *x, rb_tensor *indices);
/* int64 labels of any shape -> float tensor with a trailing axis of `depth` one-hot values. */
RB_API rb_tensor *rb_one_hot(rb_tensor *labels, int64_t depth, rb_dtype dtype);

/* ---- fused epilogues: an activation applied to a product's or a normalisation's output in
 * the same pass (and its gradient mask in the backward pass): f(x) then rb_relu, cheaper ---- */
typedef enum rb_epilogue { RB_EPILOGUE_NONE = 0, RB_EPILOGUE_RELU } rb_epilogue;
/* ---- recurrences ---- */
/* The LSTM recurrence over T steps in one op: xw (T N, 4u) holds each step's input projection
 * x_t W + b as time-major rows (step t: rows t N to (t+1) N - 1), gates i, f, g, o in Keras's
 * order; U (u, 4u) the recurrent kernel; h0, c0 (N, u) the initial state. Returns the hidden
 * states (T N, u), time-major. One product h U per step; backward gets dU in one product. */
RB_API rb_tensor *rb_lstm_sequence(rb_tensor *xw, rb_tensor *u, rb_tensor *h0, rb_tensor *c0,
                                   int64_t steps);

/* rb_linear followed by the epilogue. */
RB_API rb_tensor *rb_linear_ex(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_epilogue epi);

/* ---- normalisation over every axis but the last (channels) ---- */
/* (..., C) -> (2, C): per-channel mean (row 0) and biased variance (row 1) over all the other
 * axes, accumulated in double. */
RB_API rb_tensor *rb_moments(rb_tensor *x);
/* (x - mean) / sqrt(var + eps) * gamma + beta with stats (2, C) as rb_moments gives and
 * gamma, beta (C): BatchNorm's normalisation in one pass (and two backward). */
RB_API rb_tensor *rb_batch_norm(rb_tensor *x, rb_tensor *stats, rb_tensor *gamma, rb_tensor *beta,
                                double eps);
RB_API rb_tensor *rb_batch_norm_ex(rb_tensor *x, rb_tensor *stats, rb_tensor *gamma,
                                   rb_tensor *beta, double eps, rb_epilogue epi);
/* BatchNorm in training: normalises x with its own batch moments (the result of
 * rb_batch_norm(x, rb_moments(x), ...) with the epilogue, in two passes forward and two
 * backward). When given, moving_mean and moving_var (C) follow the batch moments in place,
 * moving = momentum moving + (1 - momentum) batch (Keras's convention; not differentiated). */
RB_API rb_tensor *rb_batch_norm_train(rb_tensor *x, rb_tensor *gamma, rb_tensor *beta,
                                      rb_tensor *moving_mean, rb_tensor *moving_var,
                                      double momentum, double eps, rb_epilogue epi);

/* ---- losses (scalar results: the mean over the batch, or over all elements) ---- */
/* mean((pred - target)^2). */
RB_API rb_tensor *rb_mse(rb_tensor *pred, rb_tensor *target);
/* mean(|pred - target|). */
RB_API rb_tensor *rb_mae(rb_tensor *pred, rb_tensor *target);
/* mean of 0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta); d = pred - target. */
RB_API rb_tensor *rb_huber(rb_tensor *pred, rb_tensor *target, double delta);
/* Binary cross-entropy of probabilities p in (0, 1) (clipped to [eps, 1 - eps], eps 1e-7 as
 * Keras) against targets in [0, 1]. */
RB_API rb_tensor *rb_bce(rb_tensor *p, rb_tensor *target);
/* Binary cross-entropy on logits: mean(softplus(z) - z * target), stable for any z. */
RB_API rb_tensor *rb_bce_logits(rb_tensor *logits, rb_tensor *target);
/* Categorical cross-entropy of probabilities (B, C) against one-hot or soft targets (B, C):
 * mean over B of -sum_c target log(p) (p clipped to [eps, 1 - eps]). */
RB_API rb_tensor *rb_cce(rb_tensor *p, rb_tensor *target);
/* The same with int64 class labels (B). */
RB_API rb_tensor *rb_sparse_cce(rb_tensor *p, rb_tensor *labels);
/* Negative log-likelihood of log-probabilities logp (B, C) (a log-softmax's output) at int64
 * class labels (B): -mean over B of logp[b, labels[b]], PyTorch's nll_loss. rb_nll(
 * rb_log_softmax(z, 1), labels) equals rb_softmax_cross_entropy(z, labels). Errors: shapes,
 * dtypes, a label outside [0, C). */
RB_API rb_tensor *rb_nll(rb_tensor *logp, rb_tensor *labels);
/* Fused softmax + cross-entropy on logits (B, C): labels are int64 classes (B) or float
 * probabilities (B, C). Mean over B. Stable and fast; the usual classification loss. */
RB_API rb_tensor *rb_softmax_cross_entropy(rb_tensor *logits, rb_tensor *labels);

#ifdef __cplusplus
}
#endif
#endif
