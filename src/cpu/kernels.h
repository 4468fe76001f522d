/* Shared kernels: fill, strided copy with conversion, and the n-d strided iterator that
 * elementwise ops use to honour broadcasting and views. */
#ifndef RUBAN_SRC_KERNELS_H
#define RUBAN_SRC_KERNELS_H

#include "core.h"

#define RB__MAX_OPERANDS 4

/* Inner loop over n elements: ptrs[k] points at operand k's first element, strides[k] is its
 * step in elements (0 for a broadcast operand). Every operand's stride must be honoured, the
 * output's (operand 0) too: outputs can be views with any step. */
typedef void (*rb__inner_fn)(int64_t n, char **ptrs, const int64_t *strides, void *ctx);

typedef struct rb__operand {
    char *data;
    size_t elem_size;
    const int64_t *strides; /* ndim strides in elements (0 on broadcast axes) */
} rb__operand;

/* Run inner over the index space `shape` (ndim axes) for nops operands, merging axes where
 * every operand allows it, in parallel over fixed chunks when the space is large. */
void rb__iterate(int ndim, const int64_t *shape, int nops, const rb__operand *ops,
                 rb__inner_fn inner, void *ctx);

/* Set every element (any layout) to value. */
void rb__fill(rb_tensor *t, double value);
/* Copy src into dst (same shape, any layouts, dtype converted). */
void rb__copy_strided(rb_tensor *dst, const rb_tensor *src);
/* t itself when contiguous, else a contiguous copy in scratch memory (valid until the op
 * returns). */
rb_tensor *rb__contiguous(rb_tensor *t);

/* Strides of t broadcast to ndim axes (t's axes aligned to the right; missing and extent-1
 * axes get stride 0). */
void rb__broadcast_strides(const rb_tensor *t, int ndim, int64_t *out);

#endif
