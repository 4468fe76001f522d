/* ruban/params.h - the parameter store: variables, their gradients, optimizer state.
 *
 * A store owns its variables and keeps them in contiguous slabs (values, gradients and each
 * optimizer state share one layout), so an optimizer step is one loop and a checkpoint one
 * write. Trainable variables are watched by every tape automatically.
 *
 *     rb_params *p = rb_params_new(RB_F32);
 *     rb_tensor *w = rb_params_add(p, "fc1.w", RB_SHAPE(784, 256), true);
 *     ...
 *     rb_tape_gradient_params(tape, loss, p);     // fills rb_params_grad(p, w)
 *     rb_params_free(p);                          // frees w, its gradient and any state
 */
#ifndef RUBAN_PARAMS_H
#define RUBAN_PARAMS_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* New empty store of float variables of the given dtype (RB_F32 or RB_F64). */
RB_API rb_params *rb_params_new(rb_dtype dtype);
/* Free the store, its variables, gradients, state and attached objects; NULL accepted. */
RB_API void rb_params_free(rb_params *p);

/* Add a zero-initialised variable with a unique name (at most 63 characters). Trainable
 * variables get a gradient and are watched by tapes; others (running statistics) do not.
 * Owned by the store; NULL on a duplicate name or bad shape. */
RB_API rb_tensor *rb_params_add(rb_params *p, const char *name, int ndim, const int64_t *shape,
                                bool trainable);
/* Variable by name, or NULL (no error). */
RB_API rb_tensor *rb_params_find(const rb_params *p, const char *name);
/* Number of variables, and variable i in order of addition. */
RB_API int rb_params_count(const rb_params *p);
RB_API rb_tensor *rb_params_at(const rb_params *p, int i);
RB_API bool rb_params_is_trainable(const rb_tensor *var);
/* Gradient tensor of a trainable variable of this store (same shape), or NULL and an error. */
RB_API rb_tensor *rb_params_grad(const rb_params *p, const rb_tensor *var);
/* Number of scalar values in trainable (or all) variables. */
RB_API int64_t rb_params_size(const rb_params *p, bool trainable_only);
/* Set every gradient to zero. */
RB_API void rb_params_zero_grad(rb_params *p);
RB_API rb_dtype rb_params_dtype(const rb_params *p);

/* ---- for optimizers: flat 1-D views over the trainable slabs ----
 * Element k of the values, the gradients and every state slab belong to the same variable;
 * padding between variables stays zero. */
RB_API rb_tensor *rb_params_flat_values(rb_params *p);
RB_API rb_tensor *rb_params_flat_grads(rb_params *p);
/* A named zero-initialised state slab ("adam.m"), created on first request. */
RB_API rb_tensor *rb_params_state(rb_params *p, const char *name);
/* Offset of trainable variable var within the flat slabs, or -1. */
RB_API int64_t rb_params_offset(const rb_params *p, const rb_tensor *var);
/* Call after changing values in place (optimizer steps): tapes that recorded the old values
 * then refuse to compute gradients from them. */
RB_API void rb_params_touch(rb_params *p);

/* Free obj with free_fn when the store is freed (layers attach themselves this way). */
RB_API rb_status rb_params_attach(rb_params *p, void *obj, void (*free_fn)(void *obj));
/* The first attached object whose free function is free_fn, or NULL. */
RB_API void *rb_params_attachment(const rb_params *p, void (*free_fn)(void *obj));

/* The store's random generator, used to initialise variables created through it (seed 0 at
 * creation). */
RB_API rb_rng *rb_params_rng(rb_params *p);
RB_API void rb_params_seed(rb_params *p, uint64_t seed);

/* moving = momentum * moving + (1 - momentum) * value, in place (value broadcasts to moving's
 * shape or has its number of elements); for running statistics. Not recorded on tapes. */
RB_API rb_status rb_params_moving_average(rb_tensor *moving, const rb_tensor *value,
                                          double momentum);

#ifdef __cplusplus
}
#endif
#endif
