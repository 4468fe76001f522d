/* ruban/checkpoint.h - saving and restoring training state in the safetensors format.
 *
 * A checkpoint holds every variable of a parameter store under its name ("dense.kernel") and,
 * when an optimizer is given, its state per variable ("adam.m/dense.kernel") with its name,
 * step count and learning rate in the metadata. The files open in PyTorch
 * (safetensors.torch.load_file) and NumPy tooling.
 *
 *     rb_checkpoint_save("run.safetensors", rb_model_params(m), opt);
 *     ...
 *     if (rb_checkpoint_load("run.safetensors", rb_model_params(m), opt) != RB_OK)
 *         puts(rb_last_error());   // the model and optimizer are left as they were
 */
#ifndef RUBAN_CHECKPOINT_H
#define RUBAN_CHECKPOINT_H

#include "ruban/base.h"
#include "ruban/error.h"
#include "ruban/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write p's variables (and opt's state when opt is not NULL) to path, atomically: a
 * temporary file, flushed to disk, then renamed over path. */
RB_API rb_status rb_checkpoint_save(const char *path, rb_params *p, const rb_optimizer *opt);
/* Read a checkpoint into p (and opt when not NULL). Every variable must be in the file with
 * the same shape and dtype, and nothing else may be (except optimizer state when opt is
 * NULL); any mismatch, truncation or malformed header is refused with the name, shapes or
 * byte offset at fault, before anything is changed. */
RB_API rb_status rb_checkpoint_load(const char *path, rb_params *p, rb_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
