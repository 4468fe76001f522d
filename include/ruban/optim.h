/* ruban/optim.h - optimizers over a parameter store.
 *
 * An optimizer sees parameters and their gradients, never the tape. Its state (momentum,
 * moments) lives in the store's slabs; one step is one pass over them.
 *
 *     rb_optimizer *opt = rb_sgd_new(params, (rb_sgd_config){.lr = 0.05, .momentum = 0.9});
 *     ... rb_tape_gradient_params(tape, loss, params); rb_optimizer_step(opt); ...
 *     rb_optimizer_free(opt);
 */
#ifndef RUBAN_OPTIM_H
#define RUBAN_OPTIM_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_optimizer rb_optimizer;

/* SGD as PyTorch writes it: g += weight_decay w; v = momentum v + g; w -= lr (nesterov ?
 * g + momentum v : v). momentum 0 is plain SGD. */
typedef struct rb_sgd_config {
    double lr;
    double momentum;
    bool nesterov;
    double weight_decay;
} rb_sgd_config;

/* Adam (Kingma & Ba 2015, Algorithm 1): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * w -= lr m^ / (sqrt(v^) + eps) with bias-corrected m^ = m / (1 - b1^t), v^ = v / (1 - b2^t).
 * Zero fields take the defaults beta1 0.9, beta2 0.999, eps 1e-7 (Keras's).
 * amsgrad (Reddi et al. 2018, as PyTorch): v^ uses vmax = max(vmax, v) instead of v.
 * AdamW (Loshchilov & Hutter 2019): w -= lr weight_decay w first, decoupled from the moments
 * (weight_decay default 0.01 for rb_adamw_new; ignored by rb_adam_new, which refuses it).
 * Nadam (Dozat 2016, as PyTorch's NAdam): Nesterov momentum with the schedule
 * mu_t = b1 (1 - 0.5 * 0.96^(0.004 t)); m^ = mu_(t+1) m / (1 - prod_(i<=t+1) mu_i) +
 * (1 - mu_t) g / (1 - prod_(i<=t) mu_i). */
typedef struct rb_adam_config {
    double lr;
    double beta1, beta2, eps;
    bool amsgrad;
    double weight_decay;
} rb_adam_config;

/* Adagrad (Duchi et al. 2011, as Keras): acc += g^2; w -= lr g / sqrt(acc + eps). Defaults:
 * initial_accumulator 0.1, eps 1e-7. */
typedef struct rb_adagrad_config {
    double lr;
    double initial_accumulator, eps;
} rb_adagrad_config;

/* Adadelta (Zeiler 2012): Eg = rho Eg + (1-rho) g^2; d = sqrt(Ed + eps) / sqrt(Eg + eps) g;
 * Ed = rho Ed + (1-rho) d^2; w -= lr d. Defaults rho 0.95, eps 1e-7 (Keras's; the paper's
 * lr is 1). */
typedef struct rb_adadelta_config {
    double lr;
    double rho, eps;
} rb_adadelta_config;

/* RMSprop (Hinton 2012, as PyTorch): v = rho v + (1-rho) g^2; step = g / (sqrt(v) + eps);
 * with momentum: b = momentum b + step, w -= lr b; else w -= lr step. Defaults rho 0.9,
 * eps 1e-7 (Keras's). */
typedef struct rb_rmsprop_config {
    double lr;
    double rho, eps, momentum;
} rb_rmsprop_config;

/* New optimizers for the trainable variables of p (owned by the caller; free with
 * rb_optimizer_free). NULL and an error on a bad configuration. */
RB_API rb_optimizer *rb_sgd_new(rb_params *p, rb_sgd_config config);
RB_API rb_optimizer *rb_adam_new(rb_params *p, rb_adam_config config);
RB_API rb_optimizer *rb_adamw_new(rb_params *p, rb_adam_config config);
RB_API rb_optimizer *rb_nadam_new(rb_params *p, rb_adam_config config);
RB_API rb_optimizer *rb_adagrad_new(rb_params *p, rb_adagrad_config config);
RB_API rb_optimizer *rb_adadelta_new(rb_params *p, rb_adadelta_config config);
RB_API rb_optimizer *rb_rmsprop_new(rb_params *p, rb_rmsprop_config config);

/* ---- gradient clipping (between rb_tape_gradient_params and rb_optimizer_step) ---- */
/* Scale all gradients of p by max_norm / norm when their global L2 norm exceeds max_norm;
 * returns the norm before clipping (summed in a fixed order: the same at any thread count),
 * or a negative value and an error. */
RB_API double rb_clip_grad_norm(rb_params *p, double max_norm);
/* Clamp every gradient value into [-limit, limit]. */
RB_API rb_status rb_clip_grad_value(rb_params *p, double limit);

/* Apply one update from the store's current gradients. */
RB_API rb_status rb_optimizer_step(rb_optimizer *opt);
/* Learning rate (schedules set it between steps). */
RB_API double rb_optimizer_lr(const rb_optimizer *opt);
RB_API void rb_optimizer_set_lr(rb_optimizer *opt, double lr);
/* Updates applied so far (restored by checkpoints). */
RB_API int64_t rb_optimizer_steps(const rb_optimizer *opt);
RB_API void rb_optimizer_set_steps(rb_optimizer *opt, int64_t steps);
/* The optimizer's state slabs in the store ("adam.m", ...): their number, and name i. */
RB_API int rb_optimizer_state_count(const rb_optimizer *opt);
RB_API const char *rb_optimizer_state_name(const rb_optimizer *opt, int i);
RB_API rb_params *rb_optimizer_params(const rb_optimizer *opt);
RB_API const char *rb_optimizer_name(const rb_optimizer *opt);
RB_API void rb_optimizer_free(rb_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
