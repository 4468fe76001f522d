/* What op implementations share: the descriptor table, input checks, broadcasting. */
#ifndef RUBAN_SRC_OP_IMPL_H
#define RUBAN_SRC_OP_IMPL_H

#include "core.h"
#include "ruban/conv.h"
#include "kernels.h"
#include "op_list.h"
#include "tape_impl.h"

typedef enum rb__op_id {
#define RB__OP_ENUM(name, arity, kind) RB__OP_##name,
    RB__OP_LIST(RB__OP_ENUM)
#undef RB__OP_ENUM
        RB__OP_COUNT
} rb__op_id;

extern const rb_op_def rb__ops[RB__OP_COUNT];
#define RB__OPDEF(name) (&rb__ops[RB__OP_##name])

/* Prototypes of every forward and backward rule named in the list. */
#define RB__OP_PROTO_DIFF(name)                                                                    \
    rb_status rb__fwd_##name(rb_node *node);                                                       \
    void rb__bwd_##name(rb_grad_ctx *ctx, const rb_node *node, rb_tensor *g);
#define RB__OP_PROTO_NODIFF(name)       rb_status rb__fwd_##name(rb_node *node);
#define RB__OP_PROTO(name, arity, kind) RB__OP_PROTO_##kind(name)
RB__OP_LIST(RB__OP_PROTO)
#undef RB__OP_PROTO

/* Allocate the output and run op `id` on inputs (recording it when a tape watches one). */
rb_tensor *rb__apply(rb__op_id id, int n_in, rb_tensor *const *in, const rb_attrs *attrs,
                     rb_dtype dtype, int ndim, const int64_t *shape);

/* Run view op `id`: its output is a view of x (shape, strides, offset in elements). */
rb_tensor *rb__view_op(rb__op_id id, rb_tensor *x, const rb_attrs *attrs, int ndim,
                       const int64_t *shape, const int64_t *strides, int64_t offset);

/* Patches of x (N, H, W, C) for op (named in errors); pooling windows default their stride
 * to the window size. */
rb_tensor *rb__patches(const char *op, rb_tensor *x, int kh, int kw, rb_window2d win, bool pooling,
                       double pad_value);

/* Zeros of the given shape with g[i] added at flat position indices[i] (differentiable; the
 * adjoint of rb_take). */
rb_tensor *rb__scatter_add(rb_tensor *g, rb_tensor *indices, int ndim, const int64_t *shape);
rb_tensor *rb__scatter_add_distinct(rb_tensor *g, rb_tensor *indices, int ndim,
                                    const int64_t *shape);

/* g where y > 0, else 0: the gradient through a ReLU whose output (or input) is y
 * (differentiable). */
rb_tensor *rb__relu_mask(rb_tensor *g, rb_tensor *y);

/* ---- checks: each raises an error naming the op and returns false ---- */
/* Inputs non-NULL (a NULL means an earlier op failed: keep its message). */
bool rb__check_inputs(const char *op, int n, rb_tensor *const *in);
bool rb__check_float(const char *op, const rb_tensor *x);
bool rb__check_same_dtype(const char *op, const rb_tensor *a, const rb_tensor *b);
/* NumPy broadcast of two shapes into (ndim, shape) without raising: -1 if they broadcast,
 * else the first result axis where they clash. */
int rb__broadcast_quiet(int na, const int64_t *sa, int nb, const int64_t *sb, int *ndim,
                        int64_t *shape);
/* NumPy broadcast of two shapes into (ndim, shape). */
bool rb__broadcast_shapes(const char *op, const rb_tensor *a, const rb_tensor *b, int *ndim,
                          int64_t *shape);
/* Normalise a possibly negative axis of a rank-ndim tensor; -1 after an error. */
int rb__norm_axis(const char *op, int ndim, int axis);
/* The normalised axis of a float tensor along which an op works (softmax, argmax): the tensor
 * needs that axis and it must not be empty. -1 after an error. */
int rb__check_line_axis(const char *op, const rb_tensor *x, int axis);
/* Checks (non-NULL, float, same dtype, broadcastable) and application of a broadcasting
 * binary op. */
rb_tensor *rb__apply_binary(rb__op_id id, rb_tensor *a, rb_tensor *b);
/* Bitmask of the axes listed (all axes when n == 0 and axes == NULL). */
bool rb__axes_mask(const char *op, int ndim, int n, const int *axes, unsigned *mask);

/* g summed down to x's shape when x was broadcast (identity otherwise). */
rb_tensor *rb__unbroadcast(rb_tensor *g, const rb_tensor *x);

/* Shape of x with the masked axes kept as 1 (keepdims) or dropped. */
int rb__reduced_shape(const rb_tensor *x, unsigned mask, bool keepdims, int64_t *shape);

#endif
