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
 * w -= lr m^ / (sqrt(v^) + eps) with bias-corrected m^, v^. Zero fields take the defaults
 * beta1 0.9, beta2 0.999, eps 1e-7 (Keras's). */
typedef struct rb_adam_config {
    double lr;
    double beta1, beta2, eps;
} rb_adam_config;

/* New optimizers for the trainable variables of p (owned by the caller; free with
 * rb_optimizer_free). NULL and an error on a bad configuration. */
RB_API rb_optimizer *rb_sgd_new(rb_params *p, rb_sgd_config config);
RB_API rb_optimizer *rb_adam_new(rb_params *p, rb_adam_config config);

/* Apply one update from the store's current gradients. */
RB_API rb_status rb_optimizer_step(rb_optimizer *opt);
/* Learning rate (schedules set it between steps). */
RB_API double rb_optimizer_lr(const rb_optimizer *opt);
RB_API void rb_optimizer_set_lr(rb_optimizer *opt, double lr);
/* Updates applied so far. */
RB_API int64_t rb_optimizer_steps(const rb_optimizer *opt);
RB_API const char *rb_optimizer_name(const rb_optimizer *opt);
RB_API void rb_optimizer_free(rb_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
