/* ruban/tensor.h - n-dimensional arrays: creation, access, printing.
 *
 * A tensor has a dtype, up to RB_MAX_DIMS dimensions (row-major) and strides in elements;
 * views (reshape, transpose, slice of a contiguous block) share their base's data.
 *
 * Ownership: every function that returns a new tensor allocates it from the current owner,
 * the innermost active tape or scope (see ruban/tape.h), which releases it in one go; with no
 * tape or scope active the caller owns it and frees it with rb_tensor_free(). Parameters
 * belong to their rb_params store.
 *
 *     rb_tensor *x = rb_tensor_from_data(RB_F32, RB_SHAPE(2, 2), (float[]){1, 2, 3, 4});
 *     rb_tensor_print(x, "x");
 *     rb_tensor_free(x);
 */
#ifndef RUBAN_TENSOR_H
#define RUBAN_TENSOR_H

#include <stdio.h>

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sizes ---- */

/* Largest block of memory ruban asks for, in bytes (2^56: more than any 64-bit machine maps).
 * Every size is checked against it before any arithmetic on it can overflow. */
#define RB_MAX_BYTES ((int64_t)1 << 56)
/* Element count of a shape whose elements take elem_size bytes, checked: every extent must be
 * >= 0 and the product of the non-zero extents (so every stride too) times elem_size at most
 * RB_MAX_BYTES. Otherwise -1 and the error `status` "who: shape [..] ...". The one size check
 * of the library: tensors, parameters, strides, and the readers' headers. */
RB_API int64_t rb_shape_count(rb_status status, const char *who, int ndim, const int64_t *shape,
                              size_t elem_size);

/* ---- creation (result owned by the current owner; NULL on error) ---- */

/* Uninitialised tensor of the given shape. */
RB_API rb_tensor *rb_tensor_empty(rb_dtype dtype, int ndim, const int64_t *shape);
/* Tensor filled with zeros / ones / a value. */
RB_API rb_tensor *rb_tensor_zeros(rb_dtype dtype, int ndim, const int64_t *shape);
RB_API rb_tensor *rb_tensor_ones(rb_dtype dtype, int ndim, const int64_t *shape);
RB_API rb_tensor *rb_tensor_full(rb_dtype dtype, int ndim, const int64_t *shape, double value);
/* Uninitialised tensor that the caller owns whatever tape or scope is active (free it with
 * rb_tensor_free): for data sets, fitted statistics and buffers that outlive a scope. */
RB_API rb_tensor *rb_tensor_empty_persistent(rb_dtype dtype, int ndim, const int64_t *shape);
/* 0-dimensional tensor holding one value. */
RB_API rb_tensor *rb_tensor_scalar(rb_dtype dtype, double value);
/* Copy of a C array laid out row-major, of the element type of dtype (float, double,
 * int64_t). */
RB_API rb_tensor *rb_tensor_from_data(rb_dtype dtype, int ndim, const int64_t *shape,
                                      const void *data);
/* 1-D tensor start, start+step, ... up to but excluding stop (NumPy's arange). */
RB_API rb_tensor *rb_tensor_arange(rb_dtype dtype, double start, double stop, double step);
/* 1-D tensor of n evenly spaced values from start to stop inclusive (n >= 1). */
RB_API rb_tensor *rb_tensor_linspace(rb_dtype dtype, double start, double stop, int64_t n);
/* Contiguous copy with the same dtype and values; not recorded on any tape (use rb_cast or
 * rb_contiguous for a differentiable copy). */
RB_API rb_tensor *rb_tensor_copy(const rb_tensor *t);
/* Same shape and dtype as t, zero-filled. */
RB_API rb_tensor *rb_tensor_zeros_like(const rb_tensor *t);

/* Free a tensor the caller owns (created outside any tape or scope). Tensors owned by a tape,
 * scope or parameter store are left to their owner; NULL is accepted. A view must be freed
 * before its base. */
RB_API void rb_tensor_free(rb_tensor *t);

/* ---- shape and data access ---- */

RB_API rb_dtype rb_tensor_dtype(const rb_tensor *t);
RB_API int rb_tensor_ndim(const rb_tensor *t);
/* Extent of one axis; negative axes count from the end. -1 (and an error) if out of range. */
RB_API int64_t rb_tensor_dim(const rb_tensor *t, int axis);
/* Pointer to the ndim extents / strides (in elements). */
RB_API const int64_t *rb_tensor_shape(const rb_tensor *t);
RB_API const int64_t *rb_tensor_strides(const rb_tensor *t);
/* Number of elements (1 for a scalar, 0 if some extent is 0). */
RB_API int64_t rb_tensor_size(const rb_tensor *t);
/* True if elements are laid out row-major without gaps. */
RB_API bool rb_tensor_is_contiguous(const rb_tensor *t);
/* True if both tensors have the same shape. */
RB_API bool rb_tensor_same_shape(const rb_tensor *a, const rb_tensor *b);

/* Pointer to the first element. rb_tensor_f32/f64/i64 check the dtype (NULL and an error if
 * it differs). Index with the strides unless rb_tensor_is_contiguous(). */
RB_API void *rb_tensor_data(const rb_tensor *t);
RB_API float *rb_tensor_f32(const rb_tensor *t);
RB_API double *rb_tensor_f64(const rb_tensor *t);
RB_API int64_t *rb_tensor_i64(const rb_tensor *t);
RB_API uint8_t *rb_tensor_u8(const rb_tensor *t);

/* Value of a one-element tensor as double (NaN and an error otherwise). */
RB_API double rb_tensor_item(const rb_tensor *t);
/* Element at a full index (ndim coordinates), as double; NaN and an error if out of range. */
RB_API double rb_tensor_get(const rb_tensor *t, const int64_t *index);
/* Write one element (converted to the dtype; a value an int64 tensor cannot hold, NaN,
 * infinite or out of range, is refused with RB_ERR_ARGUMENT). */
RB_API rb_status rb_tensor_set(rb_tensor *t, const int64_t *index, double value);
/* Element at row-major position i (0 <= i < size, honouring strides and views), as double;
 * NaN and an error if out of range. */
RB_API double rb_tensor_get_flat(const rb_tensor *t, int64_t i);
/* Write the element at row-major position i (converted to the dtype, as rb_tensor_set). */
RB_API rb_status rb_tensor_set_flat(rb_tensor *t, int64_t i, double value);
/* Say that t's values were written through rb_tensor_data() (or its typed variants): tapes
 * that saved the old values then refuse to differentiate through them instead of using the
 * new ones. The rb_tensor_set* calls do this themselves. */
RB_API void rb_tensor_mark_modified(rb_tensor *t);
/* Fill every element in place (the value converted as rb_tensor_set does). */
RB_API rb_status rb_tensor_fill(rb_tensor *t, double value);
/* Copy src's values into dst in place (same shape; dtypes may differ, values are converted;
 * a float value an int64 dst cannot hold is refused, dst unchanged). */
RB_API rb_status rb_tensor_assign(rb_tensor *dst, const rb_tensor *src);
/* Give a contiguous tensor you own a new shape with the same number of elements, in place
 * (e.g. a loaded (N, 784) image set as (N, 28, 28, 1)). Views of it keep their old shape. */
RB_API rb_status rb_tensor_set_shape(rb_tensor *t, int ndim, const int64_t *shape);
/* Copy all elements, row-major, converted to double, into out[0..n). Errors if n is too small. */
RB_API rb_status rb_tensor_to_doubles(const rb_tensor *t, double *out, int64_t n);

/* ---- names and printing ---- */

/* Attach a name (copied, at most 63 characters) shown by printing and tape dumps. */
RB_API void rb_tensor_set_name(rb_tensor *t, const char *name);
/* The name, or "" if none. */
RB_API const char *rb_tensor_name(const rb_tensor *t);
/* Write "[2,3]" into buf (always NUL-terminated); returns buf. */
RB_API char *rb_tensor_shape_string(const rb_tensor *t, char *buf, size_t size);
/* "[2,3]" in one of 8 rotating thread-local buffers (valid for the next 7 calls on this
 * thread), for error messages: rb_error(..., "%s vs %s", rb_tensor_shape_text(a), ...). */
RB_API const char *rb_tensor_shape_text(const rb_tensor *t);
/* Print "name: float32[2,3]" and the values, NumPy style, eliding the middle of long axes. */
RB_API void rb_tensor_fprint(FILE *f, const rb_tensor *t, const char *name);
RB_API void rb_tensor_print(const rb_tensor *t, const char *name);

#ifdef __cplusplus
}
#endif
#endif
