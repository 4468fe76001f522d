/* ruban/tape.h - gradient tapes (GradientTape semantics), scopes, debugging aids.
 *
 * While a tape is active, every op that touches a tensor the tape watches is recorded on it;
 * trainable variables (parameters) are watched automatically, other tensors with
 * rb_tape_watch(). rb_tape_gradient() replays the record backward. Ops run while no tape is
 * active record nothing.
 *
 * Memory: a tape owns every tensor created while it is the innermost active tape or scope,
 * including gradients; rb_tape_end() releases them all. Read what you need (a loss value,
 * gradients) before ending it. A tape begun while another tape is active allocates from the
 * outer tape's memory, because the outer tape may need those tensors for its own backward
 * pass (second derivatives); they are released with the outer tape.
 *
 *     rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
 *     rb_tensor *loss = rb_mean(rb_square(rb_sub(rb_matmul(x, w), y)), RB_ALL_AXES, false);
 *     rb_tensor *dw = rb_tape_gradient1(tape, loss, w);       // owned by the tape
 *     ... use dw ...
 *     rb_tape_end(tape);                                      // frees loss, dw and the record
 */
#ifndef RUBAN_TAPE_H
#define RUBAN_TAPE_H

#include <stdio.h>

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum rb_tape_flags {
    RB_TAPE_DEFAULT = 0,
    /* Allow several gradient calls; otherwise a second call is an error. */
    RB_TAPE_PERSISTENT = 1u << 0,
    /* Do not watch trainable variables automatically: only rb_tape_watch()ed tensors. */
    RB_TAPE_MANUAL_WATCH = 1u << 1
};

/* Begin recording; the new tape is the innermost owner and tape. NULL if too many tapes are
 * nested (at most 8). */
RB_API rb_tape *rb_tape_begin(unsigned flags);
/* Stop recording and release everything the tape owns. Tapes and scopes end in reverse order
 * of beginning; NULL is accepted. */
RB_API void rb_tape_end(rb_tape *tape);
/* Watch a tensor so that ops using it are recorded. */
RB_API rb_status rb_tape_watch(rb_tape *tape, rb_tensor *t);
/* Number of ops recorded so far. */
RB_API int64_t rb_tape_num_ops(const rb_tape *tape);

/* Gradients of target (summed over its elements if it is not a scalar) with respect to each
 * source: grads[i] gets d(target)/d(sources[i]), same shape, owned by the tape; zeros where
 * no differentiable path links them. Under another active tape the backward ops are
 * recorded there, which gives higher derivatives. */
RB_API rb_status rb_tape_gradient(rb_tape *tape, rb_tensor *target, int n,
                                  rb_tensor *const *sources, rb_tensor **grads);
/* As rb_tape_gradient with an explicit output gradient (same shape as target) instead of
 * ones: computes the vector-Jacobian product seed^T J. */
RB_API rb_status rb_tape_gradient_seeded(rb_tape *tape, rb_tensor *target, rb_tensor *seed, int n,
                                         rb_tensor *const *sources, rb_tensor **grads);
/* One source; NULL on error. */
RB_API rb_tensor *rb_tape_gradient1(rb_tape *tape, rb_tensor *target, rb_tensor *source);
/* Gradients of loss with respect to every trainable variable of a store, written into the
 * store's gradient tensors (overwriting them; zero for variables the loss does not use). */
RB_API rb_status rb_tape_gradient_params(rb_tape *tape, rb_tensor *loss, rb_params *params);

/* A new tensor sharing t's values that no tape sees as depending on anything: gradients stop
 * there. Owned by the current owner. */
RB_API rb_tensor *rb_stop_gradient(rb_tensor *t);

/* ---- scopes: own the tensors created outside tapes, e.g. during evaluation ---- */

/* Begin a scope: tensors created until rb_scope_end() belong to it. Inside an active tape a
 * scope allocates from the tape (released with the tape). */
RB_API rb_scope *rb_scope_begin(void);
/* Release everything the scope owns. Must be the innermost owner; NULL is accepted. */
RB_API void rb_scope_end(rb_scope *scope);

/* ---- debugging ---- */

/* Anomaly mode: every op and every backward step checks its result for NaN or Inf and fails
 * with RB_ERR_NONFINITE naming the op and its input shapes. Slows everything; off by
 * default. Returns the previous setting. */
RB_API bool rb_set_anomaly_mode(bool on);
RB_API bool rb_anomaly_mode(void);

/* Write the tape's record as a Graphviz DOT graph (ops as boxes, tensors as ellipses with
 * shapes; variables highlighted). */
RB_API rb_status rb_tape_write_dot(const rb_tape *tape, FILE *f);
/* Same, into a file written atomically (temporary file, then rename). */
RB_API rb_status rb_tape_save_dot(const rb_tape *tape, const char *path);

#ifdef __cplusplus
}
#endif
#endif
