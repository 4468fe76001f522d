/* Internal core: the tensor struct, owners and arenas, error helpers. Never installed.
 * Internal non-static symbols are prefixed rb__. */
#ifndef RUBAN_SRC_CORE_H
#define RUBAN_SRC_CORE_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

/* The engine's public modules only: the private header never pulls in the umbrella (layers
 * above the engine, datasets, training tools). */
#include "ruban/base.h"
#include "ruban/error.h"
#include "ruban/gradcheck.h"
#include "ruban/op_def.h"
#include "ruban/ops.h"
#include "ruban/params.h"
#include "ruban/random.h"
#include "ruban/runtime.h"
#include "ruban/tape.h"
#include "ruban/tensor.h"
#include "ruban/version.h"

/* Most tapes that may be active (nested) at once on one thread. */
#define RB__MAX_TAPES 8
/* Most owners (tapes and scopes) that may be stacked at once on one thread. */
#define RB__MAX_OWNERS 32
/* Data alignment, enough for AVX-512 loads. */
#define RB__ALIGN 64

typedef struct rb_node rb_node;
typedef struct rb__arena rb__arena;

/* Who frees a tensor's header and data. */
typedef enum rb__owner_kind {
    RB__OWN_HEAP,      /* header and data in one heap block, freed by rb_tensor_free */
    RB__OWN_HEAP_VIEW, /* heap header, borrowed data */
    RB__OWN_ARENA,     /* both in a tape's or scope's arena */
    RB__OWN_STORE      /* a parameter store's slab */
} rb__owner_kind;

enum rb__tensor_flags {
    RB__VARIABLE = 1u << 0,  /* lives in a parameter store */
    RB__TRAINABLE = 1u << 1, /* watched automatically by every tape */
    RB__CONTIGUOUS = 1u << 2
};

/* A tape that recorded the op producing this tensor (node) or that watches it (node NULL). */
typedef struct rb__watch {
    uint64_t tape_serial;
    rb_node *node;
} rb__watch;

struct rb_tensor {
    void *data;
    int64_t shape[RB_MAX_DIMS];
    int64_t strides[RB_MAX_DIMS];
    int64_t size;
    rb_dtype dtype;
    int ndim;
    rb__owner_kind owner;
    unsigned flags;
    uint32_t own_version;
    uint32_t *version; /* bumped by in-place writes; a view shares its base's counter */
    int n_watch;
    rb__watch watch[RB__MAX_TAPES];
    /* Scratch of the gradient call in progress, valid when *_gen equals its generation. */
    uint64_t dep_gen;
    uint64_t grad_gen;
    rb_tensor *grad_acc;
    int grad_state;
    /* For variables: the store's gradient tensor. */
    rb_tensor *var_grad;
    char name[64];
};

/* ---- errors ---- */
rb_status rb__verror(rb_status status, const char *fmt, va_list ap);
/* Errors raised so far on this thread, including those the record did not keep: tells whether
 * a call raised one whatever the record held before. */
uint64_t rb__error_count(void);
/* Record an error and return NULL, for `return rb__fail(...)` in functions returning
 * pointers. */
void *rb__fail(rb_status status, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Formats a shape as "[2,3]" into a caller buffer of at least RB__SHAPE_STR bytes. */
#define RB__SHAPE_STR 96
char *rb__shape_str(char *buf, int ndim, const int64_t *shape);
/* "[2,3]" of a tensor into one of a few rotating thread-local buffers, for messages. */
const char *rb__shp(const rb_tensor *t);

/* ---- heap with accounting (rb_memory_stats counts these) ---- */
void *rb__malloc(size_t size);
void *rb__calloc(size_t count, size_t size);
void *rb__realloc(void *p, size_t size);
void *rb__aligned_alloc(size_t size); /* RB__ALIGN-aligned */
/* The same, an error naming `who` and the request if it fails. */
void *rb__aligned_alloc_for(size_t size, const char *who);
void rb__free(void *p);
/* Record "who: out of memory: N bytes requested" (or the request above RB_MAX_BYTES) and
 * return NULL. */
void *rb__oom(const char *who, size_t size);

/* ---- arenas: bump allocators released in one go ---- */
rb__arena *rb__arena_new(void);
void rb__arena_free(rb__arena *a);
/* RB__ALIGN-aligned block; NULL and an RB_ERR_MEMORY error if the heap is exhausted. */
void *rb__arena_alloc(rb__arena *a, size_t size);
void *rb__arena_alloc_for(rb__arena *a, size_t size, const char *who);
/* Forget every allocation, keeping the memory (coalesced into one block) for reuse. */
void rb__arena_reset(rb__arena *a);
/* Stack discipline: release everything allocated after a mark (memory kept for reuse). */
typedef struct rb__arena_mark {
    void *block;
    size_t used, total;
} rb__arena_mark;
rb__arena_mark rb__arena_get_mark(const rb__arena *a);
void rb__arena_release(rb__arena *a, rb__arena_mark m);

/* ---- scratch: per-thread memory for kernel temporaries ----
 * Valid until the op (or backward step) that asked for it returns. */
rb__arena *rb__scratch_arena(void);
void *rb__scratch(size_t size);
/* Uninitialised contiguous tensor in scratch memory. */
rb_tensor *rb__tensor_scratch(rb_dtype dtype, int ndim, const int64_t *shape);
size_t rb__arena_used(const rb__arena *a);
size_t rb__arena_capacity(const rb__arena *a);

/* ---- owners: where new tensors go ---- */
/* Arena of the innermost tape or scope, or NULL when the caller owns new tensors. */
rb__arena *rb__current_arena(void);
rb_status rb__owner_push(rb__arena *arena, const void *who);
void rb__owner_pop(const void *who);
bool rb__owner_is_top(const void *who);
/* Arena of the innermost active tape, or NULL. */
rb__arena *rb__innermost_tape_arena(void);
/* Allocate raw memory from the current owner (arena) or the heap when there is none; heap
 * blocks must then be released by the caller. */

/* ---- tensors ---- */
/* New contiguous tensor with uninitialised data, from the current owner. Validates shape. */
rb_tensor *rb__tensor_new(rb_dtype dtype, int ndim, const int64_t *shape, const char *who);
/* The same on the heap, whatever owner is active: for what the caller or a store owns (data
 * sets, fitted statistics), freed with rb_tensor_free. */
rb_tensor *rb__tensor_heap(rb_dtype dtype, int ndim, const int64_t *shape, const char *who);
/* New header viewing base's data with the given shape/strides, offset in elements. */
rb_tensor *rb__tensor_view(const rb_tensor *base, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t offset);
/* Row-major strides of a shape; returns the element count. */
int64_t rb__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/* Recompute the contiguous flag from shape and strides. */
void rb__tensor_update_contiguous(rb_tensor *t);
/* Signals an in-place write so that tapes holding the old values can refuse to use them. */
static inline void rb__bump_version(rb_tensor *t) { (*t->version)++; }
/* Element read/write as double at a flat row-major position (honours strides). */
double rb__get_flat(const rb_tensor *t, int64_t i);
void rb__set_flat(rb_tensor *t, int64_t i, double v);
/* Byte offset of a flat row-major position (honours strides). */
int64_t rb__offset_of_flat(const rb_tensor *t, int64_t i);

static inline bool rb__is_float(rb_dtype d) { return d == RB_F32 || d == RB_F64; }
static inline bool rb__valid_dtype(rb_dtype d)
{
    return d == RB_F32 || d == RB_F64 || d == RB_I64 || d == RB_U8;
}
/* Whether value converts to dtype without undefined behaviour: an int64 holds no NaN, no
 * infinity and nothing outside [-2^63, 2^63), a uint8 nothing outside [0, 256) (fractions are
 * cut toward zero); raises the error naming who when it does not. */
bool rb__value_fits(rb_dtype dtype, double value, const char *who);
/* The Philox stream position (key, counter) a fill of n values of dtype takes from r (NULL: the
 * default generator), r advanced past it as rb_fill_uniform advances it; and the uniform [0, 1)
 * values k in [begin, end) of such a reservation, as rb_tensor_uniform(dtype, .., 0, 1, r) gives
 * them before rounding to dtype. Ops that draw element by element (rb_dropout) keep the stream. */
void rb__rng_reserve(rb_rng *r, rb_dtype dtype, int64_t n, uint64_t *key, uint64_t *counter);
void rb__rng_uniforms(uint64_t key, uint64_t counter, rb_dtype dtype, int64_t begin, int64_t end,
                      double *out);

#endif
