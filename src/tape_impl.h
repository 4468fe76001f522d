/* Internal view of tapes, nodes and the gradient call. */
#ifndef RUBAN_SRC_TAPE_IMPL_H
#define RUBAN_SRC_TAPE_IMPL_H

#include "core.h"

#define RB__NODE_INLINE 4
#define RB__NODE_SAVED  4

struct rb_node {
    const rb_op_def *def;
    int n_in;
    rb_tensor **in; /* in_inline or an arena array */
    rb_tensor *in_inline[RB__NODE_INLINE];
    uint32_t *in_version; /* versions of the inputs when recorded */
    uint32_t in_version_inline[RB__NODE_INLINE];
    rb_tensor *out;
    uint32_t out_version;
    rb_tensor *saved[RB__NODE_SAVED];
    rb_attrs attrs;
    rb_node *prev, *next;
    int64_t seq;
    uint64_t mark; /* equals the gradient generation when the node depends on a source */
    bool recorded; /* set before forward: some tape will keep this node */
};

struct rb_tape {
    uint64_t serial; /* unique per begin: stale watch entries never match */
    unsigned flags;
    bool recording; /* false while its own gradient is replayed */
    bool used;      /* a non-persistent tape after its gradient call */
    rb__arena *arena;
    rb__arena *own_arena; /* kept across reuse of the struct */
    rb_node *first, *last;
    int64_t n_nodes;
    struct rb_tape *next_free;
};

struct rb_grad_ctx {
    uint64_t gen;
    rb_tape *tape;
    bool create_graph; /* another tape may record the backward ops: no in-place tricks */
    bool params_mode;  /* gradients go into a parameter store */
    bool failed;
    const rb_node *node; /* node whose backward is running, for messages */
};

/* Thread-local count of tapes currently recording; ops check it before anything else. */
extern _Thread_local int rb__recording_tapes;

/* Run def's forward on inputs into out (already allocated with its final shape), then record
 * the node on every recording tape that watches an input. Returns out, or NULL on error. */
rb_tensor *rb__op_run(const rb_op_def *def, int n_in, rb_tensor *const *in, const rb_attrs *attrs,
                      rb_tensor *out);

/* Whether some tape other than the one replaying may record ops: backward rules then use
 * only out-of-place public ops. */
static inline bool rb__grad_create_graph(const rb_grad_ctx *ctx) { return ctx->create_graph; }

/* Fast path for matmul-like backward: add alpha * op(A) op(B) to input i's gradient directly
 * with one GEMM (into the parameter store's gradient when possible). A and B are 2-D
 * strided views; ta/tb transpose them. Only valid when !create_graph. */
/* Add g into the part of input i's gradient that starts at start[d] and advances step[d] per
 * element along each axis (the slice g came from). The accumulator starts as zeros once per
 * gradient call: slicing a tensor T times costs T slices, not T full-size scatters. Only valid
 * when !create_graph. */
void rb__grad_add_region(rb_grad_ctx *ctx, const rb_node *node, int i, const rb_tensor *g,
                         const int64_t *start, const int64_t *step);
void rb__grad_add_gemm(rb_grad_ctx *ctx, const rb_node *node, int i, const rb_tensor *a, bool ta,
                       const rb_tensor *b, bool tb);

/* Check a tensor for NaN/Inf; returns the flat index of the first one or -1. */
int64_t rb__find_nonfinite(const rb_tensor *t);
/* Name of the op whose backward rule is running on this thread, or NULL. */
const char *rb__backward_context(void);
/* "NaN", "+Inf" or "-Inf". */
const char *rb__nonfinite_name(double v);

/* The node of tape t that produced x, or NULL. */
rb_node *rb__producer(rb_tensor *x, const rb_tape *t);
/* Whether tape t watches x (explicitly, as a recorded output, or as a trainable variable). */
bool rb__watched_by(rb_tensor *x, const rb_tape *t);
/* Suspend / restore a tape's recording around its own gradient call. */
void rb__tape_pause(rb_tape *t);
void rb__tape_resume(rb_tape *t);
/* Whether a tape other than `except` is active and may record. */
bool rb__other_tape_recording(const rb_tape *except);

/* Version check helpers for nodes. */
bool rb__node_inputs_unchanged(const rb_node *n, const char **what, int *which);

#endif
