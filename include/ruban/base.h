/* ruban/base.h - types shared by every module: dtypes, the export macro, shape helpers.
 *
 *     rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));   // a 2x3 float32 tensor
 *     rb_tensor *s = rb_sum(x, RB_AXES(-1), false);             // shape (2)
 */
#ifndef RUBAN_BASE_H
#define RUBAN_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(RUBAN_BUILDING_LIBRARY) && defined(__GNUC__)
#define RB_API __attribute__((visibility("default")))
#else
#define RB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Maximum number of dimensions of a tensor. */
#define RB_MAX_DIMS 8

/* Element types. Float32 trains, float64 checks gradients, int64 holds labels and indices,
 * uint8 holds images as their files give them (a quarter of float32's memory; ops refuse it:
 * rb_cast or a converting rb_batcher turns it into floats). */
typedef enum rb_dtype { RB_F32 = 0, RB_F64 = 1, RB_I64 = 2, RB_U8 = 3 } rb_dtype;

/* Name of a dtype ("float32", "float64", "int64", "uint8"). */
RB_API const char *rb_dtype_name(rb_dtype dtype);
/* Size in bytes of one element of the dtype. */
RB_API size_t rb_dtype_size(rb_dtype dtype);

/* Opaque handles; each module's header documents who owns them. */
typedef struct rb_tensor rb_tensor;
typedef struct rb_tape rb_tape;
typedef struct rb_scope rb_scope;
typedef struct rb_params rb_params;
typedef struct rb_rng rb_rng;

/* RB_SHAPE(2, 3) expands to the pair `2, (const int64_t[]){2, 3}` taken by functions that
 * accept (int ndim, const int64_t *shape). RB_SHAPE() is not allowed: use RB_SCALAR. */
#define RB__NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, n, ...) n
#define RB__NARGS(...)                                     RB__NARGS_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define RB_SHAPE(...)                                                                              \
    RB__NARGS(__VA_ARGS__), (const int64_t[]) { __VA_ARGS__ }
/* The shape of a 0-dimensional (scalar) tensor. */
#define RB_SCALAR 0, (const int64_t *)NULL

/* RB_AXES(0, -1) expands to `2, (const int[]){0, -1}` for reductions; negative axes count
 * from the end. RB_ALL_AXES selects every axis. */
#define RB_AXES(...)                                                                               \
    RB__NARGS(__VA_ARGS__), (const int[]) { __VA_ARGS__ }
#define RB_ALL_AXES 0, (const int *)NULL

#ifdef __cplusplus
}
#endif
#endif
