/* Tensor headers and storage: creation from the current owner, access, in-place writes. */
#include <math.h>
#include <string.h>

#include "core.h"
#include "kernels.h"

const char *rb_dtype_name(rb_dtype dtype)
{
    switch (dtype) {
    case RB_F32: return "float32";
    case RB_F64: return "float64";
    case RB_I64: return "int64";
    case RB_U8: return "uint8";
    }
    return "invalid-dtype";
}

size_t rb_dtype_size(rb_dtype dtype)
{
    switch (dtype) {
    case RB_F32: return sizeof(float);
    case RB_F64: return sizeof(double);
    case RB_I64: return sizeof(int64_t);
    case RB_U8: return sizeof(uint8_t);
    }
    return 0;
}

char *rb__shape_str(char *buf, int ndim, const int64_t *shape)
{
    size_t n = 0, cap = RB__SHAPE_STR;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

const char *rb__shp(const rb_tensor *t)
{
    static _Thread_local char ring[8][RB__SHAPE_STR];
    static _Thread_local int next;
    char *buf = ring[next++ & 7];
    if (!t) return "(null)";
    return rb__shape_str(buf, t->ndim, t->shape);
}

int64_t rb__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    /* Unsigned, so that a shape not yet checked wraps instead of being undefined; whoever
     * makes a tensor of it checks it with rb_shape_count. */
    uint64_t size = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = (int64_t)size;
        size *= (uint64_t)shape[i];
    }
    return (int64_t)size;
}

void rb__tensor_update_contiguous(rb_tensor *t)
{
    int64_t expect = 1;
    bool contiguous = true;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != expect) contiguous = false;
        expect *= t->shape[i];
    }
    if (contiguous)
        t->flags |= RB__CONTIGUOUS;
    else
        t->flags &= ~(unsigned)RB__CONTIGUOUS;
}

/* Why a shape is refused. */
static const char *const too_large = "is too large", *const negative = "has a negative extent";

/* The count of a shape, or -1 with *problem saying why not. The product of the non-zero
 * extents bounds every stride, so a zero extent does not end the check: [0, 2^40, 2^40] has no
 * elements but strides that overflow. */
static int64_t count_of(int ndim, const int64_t *shape, size_t elem_size, const char **problem)
{
    int64_t limit = RB_MAX_BYTES / (int64_t)(elem_size ? elem_size : 1), product = 1, count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            *problem = negative;
            return -1;
        }
        if (shape[i] > 0 && product > limit / shape[i]) {
            *problem = too_large;
            return -1;
        }
        if (shape[i] > 0)
            product *= shape[i];
        else
            count = 0;
    }
    return count ? product : 0;
}

int64_t rb_shape_count(rb_status status, const char *who, int ndim, const int64_t *shape,
                       size_t elem_size)
{
    if (!who) who = "rb_shape_count";
    if (ndim < 0 || (ndim > 0 && !shape)) {
        rb_error(RB_ERR_ARGUMENT, "%s: no shape of %d dimensions given", who, ndim);
        return -1;
    }
    const char *problem = NULL;
    int64_t count = count_of(ndim, shape, elem_size, &problem);
    char s[RB__SHAPE_STR];
    if (count < 0 && problem == too_large)
        rb_error(status, "%s: shape %s is too large (more than %lld bytes of %zu-byte elements)",
                 who, rb__shape_str(s, ndim, shape), (long long)RB_MAX_BYTES, elem_size);
    else if (count < 0)
        rb_error(status, "%s: shape %s %s", who, rb__shape_str(s, ndim, shape), problem);
    return count;
}

static bool valid_shape(rb_dtype dtype, int ndim, const int64_t *shape, const char *who)
{
    if (!rb__valid_dtype(dtype)) {
        rb__fail(RB_ERR_DTYPE, "%s: invalid dtype %d", who, (int)dtype);
        return false;
    }
    if (ndim < 0 || ndim > RB_MAX_DIMS) {
        rb__fail(RB_ERR_SHAPE, "%s: %d dimensions requested, at most %d supported", who, ndim,
                 RB_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        rb__fail(RB_ERR_ARGUMENT, "%s: shape is NULL for %d dimensions", who, ndim);
        return false;
    }
    return rb_shape_count(RB_ERR_SHAPE, who, ndim, shape, rb_dtype_size(dtype)) >= 0;
}

static void init_header(rb_tensor *t, rb_dtype dtype, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->size = rb__contiguous_strides(ndim, shape, t->strides);
    t->flags = RB__CONTIGUOUS;
    t->version = &t->own_version;
}

static rb_tensor *tensor_in(rb__arena *arena, rb_dtype dtype, int ndim, const int64_t *shape,
                            const char *who)
{
    if (!valid_shape(dtype, ndim, shape, who)) return NULL;
    int64_t size = rb_shape_count(RB_ERR_SHAPE, who, ndim, shape, rb_dtype_size(dtype));
    size_t bytes = (size_t)size * rb_dtype_size(dtype); /* at most RB_MAX_BYTES */
    size_t header = (sizeof(rb_tensor) + RB__ALIGN - 1) / RB__ALIGN * RB__ALIGN;
    unsigned char *block = arena ? rb__arena_alloc_for(arena, header + bytes, who)
                                 : rb__aligned_alloc_for(header + bytes, who);
    if (!block) return NULL;
    rb_tensor *t = (rb_tensor *)block;
    init_header(t, dtype, ndim, shape);
    t->data = block + header;
    t->owner = arena ? RB__OWN_ARENA : RB__OWN_HEAP;
    return t;
}

rb_tensor *rb__tensor_new(rb_dtype dtype, int ndim, const int64_t *shape, const char *who)
{
    return tensor_in(rb__current_arena(), dtype, ndim, shape, who);
}

rb_tensor *rb__tensor_heap(rb_dtype dtype, int ndim, const int64_t *shape, const char *who)
{
    return tensor_in(NULL, dtype, ndim, shape, who);
}

rb_tensor *rb_tensor_empty_persistent(rb_dtype dtype, int ndim, const int64_t *shape)
{
    return tensor_in(NULL, dtype, ndim, shape, "rb_tensor_empty_persistent");
}

rb_tensor *rb__tensor_scratch(rb_dtype dtype, int ndim, const int64_t *shape)
{
    rb__arena *a = rb__scratch_arena();
    if (!a) return NULL;
    return tensor_in(a, dtype, ndim, shape, "scratch");
}

rb_tensor *rb__tensor_view(const rb_tensor *base, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t offset)
{
    /* An op's size arithmetic may have wrapped ((2^62 + 4) x 4 elements "are" 16). The
     * message is made only when the check fails: views are made in inner loops. */
    const char *problem;
    if (count_of(ndim, shape, rb_dtype_size(base->dtype), &problem) < 0) {
        char who[RB__SHAPE_STR + 16];
        snprintf(who, sizeof who, "a view of %s", rb__shp(base));
        rb_shape_count(RB_ERR_SHAPE, who, ndim, shape, rb_dtype_size(base->dtype));
        return NULL;
    }
    rb__arena *arena = rb__current_arena();
    rb_tensor *t = arena ? rb__arena_alloc(arena, sizeof *t) : rb__aligned_alloc(sizeof *t);
    if (!t) return NULL;
    init_header(t, base->dtype, ndim, shape);
    for (int i = 0; i < ndim; i++)
        t->strides[i] = strides[i];
    t->data = (char *)base->data + offset * (int64_t)rb_dtype_size(base->dtype);
    t->owner = arena ? RB__OWN_ARENA : RB__OWN_HEAP_VIEW;
    t->version = base->version;
    rb__tensor_update_contiguous(t);
    return t;
}

void rb_tensor_free(rb_tensor *t)
{
    if (!t) return;
    if (t->owner == RB__OWN_HEAP || t->owner == RB__OWN_HEAP_VIEW) rb__free(t);
}

/* ---- creation ---- */

bool rb__value_fits(rb_dtype dtype, double value, const char *who)
{
    if (rb__is_float(dtype) || (dtype == RB_I64 && value >= -0x1p63 && value < 0x1p63) ||
        (dtype == RB_U8 && value >= 0 && value < 256))
        return true;
    rb_error(RB_ERR_ARGUMENT, "%s: %g does not fit a%s %s tensor", who, value,
             dtype == RB_I64 ? "n" : "", rb_dtype_name(dtype));
    return false;
}

rb_tensor *rb_tensor_empty(rb_dtype dtype, int ndim, const int64_t *shape)
{
    return rb__tensor_new(dtype, ndim, shape, "rb_tensor_empty");
}

rb_tensor *rb_tensor_full(rb_dtype dtype, int ndim, const int64_t *shape, double value)
{
    if (!rb__value_fits(dtype, value, "rb_tensor_full")) return NULL;
    rb_tensor *t = rb__tensor_new(dtype, ndim, shape, "rb_tensor_full");
    if (t) rb__fill(t, value);
    return t;
}

rb_tensor *rb_tensor_zeros(rb_dtype dtype, int ndim, const int64_t *shape)
{
    rb_tensor *t = rb__tensor_new(dtype, ndim, shape, "rb_tensor_zeros");
    if (t) memset(t->data, 0, (size_t)t->size * rb_dtype_size(dtype));
    return t;
}

rb_tensor *rb_tensor_ones(rb_dtype dtype, int ndim, const int64_t *shape)
{
    rb_tensor *t = rb__tensor_new(dtype, ndim, shape, "rb_tensor_ones");
    if (t) rb__fill(t, 1.0);
    return t;
}

rb_tensor *rb_tensor_scalar(rb_dtype dtype, double value)
{
    if (!rb__value_fits(dtype, value, "rb_tensor_scalar")) return NULL;
    rb_tensor *t = rb__tensor_new(dtype, 0, NULL, "rb_tensor_scalar");
    if (t) rb__fill(t, value);
    return t;
}

rb_tensor *rb_tensor_zeros_like(const rb_tensor *like)
{
    if (!like) return rb__fail(RB_ERR_ARGUMENT, "rb_tensor_zeros_like: tensor is NULL");
    return rb_tensor_zeros(like->dtype, like->ndim, like->shape);
}

rb_tensor *rb_tensor_from_data(rb_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    rb_tensor *t = rb__tensor_new(dtype, ndim, shape, "rb_tensor_from_data");
    if (!t) return NULL;
    if (!data && t->size > 0) return rb__fail(RB_ERR_ARGUMENT, "rb_tensor_from_data: data is NULL");
    if (t->size) memcpy(t->data, data, (size_t)t->size * rb_dtype_size(dtype));
    return t;
}

rb_tensor *rb_tensor_arange(rb_dtype dtype, double start, double stop, double step)
{
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step))
        return rb__fail(RB_ERR_ARGUMENT, "rb_tensor_arange: bad range start=%g stop=%g step=%g",
                        start, stop, step);
    double count = ceil((stop - start) / step);
    if (!(count <= (double)RB_MAX_BYTES))
        return rb__fail(RB_ERR_ARGUMENT,
                        "rb_tensor_arange: %g values from start=%g stop=%g step=%g are too many",
                        count, start, stop, step);
    int64_t n = count > 0 ? (int64_t)count : 0;
    if (n > 0 && (!rb__value_fits(dtype, start, "rb_tensor_arange") ||
                  !rb__value_fits(dtype, start + (double)(n - 1) * step, "rb_tensor_arange")))
        return NULL;
    rb_tensor *t = rb__tensor_new(dtype, 1, &n, "rb_tensor_arange");
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++)
        rb__set_flat(t, i, start + (double)i * step);
    return t;
}

rb_tensor *rb_tensor_linspace(rb_dtype dtype, double start, double stop, int64_t n)
{
    if (n < 1)
        return rb__fail(RB_ERR_ARGUMENT, "rb_tensor_linspace: n must be >= 1, got %lld",
                        (long long)n);
    if (!rb__value_fits(dtype, start, "rb_tensor_linspace") ||
        !rb__value_fits(dtype, stop, "rb_tensor_linspace"))
        return NULL;
    rb_tensor *t = rb__tensor_new(dtype, 1, &n, "rb_tensor_linspace");
    if (!t) return NULL;
    double step = n > 1 ? (stop - start) / (double)(n - 1) : 0.0;
    for (int64_t i = 0; i < n; i++)
        rb__set_flat(t, i, i == n - 1 && n > 1 ? stop : start + (double)i * step);
    return t;
}

rb_tensor *rb_tensor_copy(const rb_tensor *src)
{
    if (!src) return rb__fail(RB_ERR_ARGUMENT, "rb_tensor_copy: tensor is NULL");
    rb_tensor *t = rb__tensor_new(src->dtype, src->ndim, src->shape, "rb_tensor_copy");
    if (t) rb__copy_strided(t, src);
    return t;
}

/* ---- access ---- */

rb_dtype rb_tensor_dtype(const rb_tensor *t) { return t ? t->dtype : RB_F32; }
int rb_tensor_ndim(const rb_tensor *t) { return t ? t->ndim : -1; }
const int64_t *rb_tensor_shape(const rb_tensor *t) { return t ? t->shape : NULL; }
const int64_t *rb_tensor_strides(const rb_tensor *t) { return t ? t->strides : NULL; }
int64_t rb_tensor_size(const rb_tensor *t) { return t ? t->size : 0; }
bool rb_tensor_is_contiguous(const rb_tensor *t) { return t && (t->flags & RB__CONTIGUOUS); }
void *rb_tensor_data(const rb_tensor *t) { return t ? t->data : NULL; }

int64_t rb_tensor_dim(const rb_tensor *t, int axis)
{
    if (!t) return -1;
    int a = axis < 0 ? axis + t->ndim : axis;
    if (a < 0 || a >= t->ndim) {
        rb_error(RB_ERR_AXIS, "rb_tensor_dim: axis %d out of range for shape %s", axis, rb__shp(t));
        return -1;
    }
    return t->shape[a];
}

bool rb_tensor_same_shape(const rb_tensor *a, const rb_tensor *b)
{
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

static void *typed_data(const rb_tensor *t, rb_dtype want, const char *who)
{
    if (!t) return rb__fail(RB_ERR_ARGUMENT, "%s: tensor is NULL", who);
    if (t->dtype != want)
        return rb__fail(RB_ERR_DTYPE, "%s: tensor is %s, not %s", who, rb_dtype_name(t->dtype),
                        rb_dtype_name(want));
    return t->data;
}

float *rb_tensor_f32(const rb_tensor *t) { return typed_data(t, RB_F32, "rb_tensor_f32"); }
double *rb_tensor_f64(const rb_tensor *t) { return typed_data(t, RB_F64, "rb_tensor_f64"); }
int64_t *rb_tensor_i64(const rb_tensor *t) { return typed_data(t, RB_I64, "rb_tensor_i64"); }
uint8_t *rb_tensor_u8(const rb_tensor *t) { return typed_data(t, RB_U8, "rb_tensor_u8"); }

int64_t rb__offset_of_flat(const rb_tensor *t, int64_t i)
{
    if (t->flags & RB__CONTIGUOUS) return i;
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t e = t->shape[d];
        off += (i % e) * t->strides[d];
        i /= e;
    }
    return off;
}

double rb__get_flat(const rb_tensor *t, int64_t i)
{
    int64_t o = rb__offset_of_flat(t, i);
    switch (t->dtype) {
    case RB_F32: return ((const float *)t->data)[o];
    case RB_F64: return ((const double *)t->data)[o];
    case RB_I64: return (double)((const int64_t *)t->data)[o];
    case RB_U8: return ((const uint8_t *)t->data)[o];
    }
    return NAN;
}

void rb__set_flat(rb_tensor *t, int64_t i, double v)
{
    int64_t o = rb__offset_of_flat(t, i);
    switch (t->dtype) {
    case RB_F32: ((float *)t->data)[o] = (float)v; break;
    case RB_F64: ((double *)t->data)[o] = v; break;
    case RB_I64: ((int64_t *)t->data)[o] = (int64_t)v; break;
    case RB_U8: ((uint8_t *)t->data)[o] = (uint8_t)v; break;
    }
}

double rb_tensor_item(const rb_tensor *t)
{
    if (!t) {
        rb_error(RB_ERR_ARGUMENT, "rb_tensor_item: tensor is NULL");
        return NAN;
    }
    if (t->size != 1) {
        rb_error(RB_ERR_SHAPE, "rb_tensor_item: tensor of shape %s has %lld elements, not 1",
                 rb__shp(t), (long long)t->size);
        return NAN;
    }
    return rb__get_flat(t, 0);
}

static bool flat_index(const rb_tensor *t, const int64_t *index, int64_t *flat, const char *who)
{
    if (!t) {
        rb_error(RB_ERR_ARGUMENT, "%s: tensor is NULL", who);
        return false;
    }
    if (t->ndim > 0 && !index) {
        rb_error(RB_ERR_ARGUMENT, "%s: index is NULL", who);
        return false;
    }
    int64_t f = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d]) {
            rb_error(RB_ERR_ARGUMENT, "%s: index %lld out of range on axis %d of shape %s", who,
                     (long long)index[d], d, rb__shp(t));
            return false;
        }
        f = f * t->shape[d] + index[d];
    }
    *flat = f;
    return true;
}

double rb_tensor_get(const rb_tensor *t, const int64_t *index)
{
    int64_t f;
    if (!flat_index(t, index, &f, "rb_tensor_get")) return NAN;
    return rb__get_flat(t, f);
}

rb_status rb_tensor_set(rb_tensor *t, const int64_t *index, double value)
{
    int64_t f;
    if (!flat_index(t, index, &f, "rb_tensor_set")) return rb_last_status();
    if (!rb__value_fits(t->dtype, value, "rb_tensor_set")) return rb_last_status();
    rb__set_flat(t, f, value);
    rb__bump_version(t);
    return RB_OK;
}

static bool flat_in_range(const rb_tensor *t, int64_t i, const char *who)
{
    if (!t) {
        rb_error(RB_ERR_ARGUMENT, "%s: tensor is NULL", who);
        return false;
    }
    if (i < 0 || i >= t->size) {
        rb_error(RB_ERR_ARGUMENT, "%s: position %lld out of range for %s (%lld elements)", who,
                 (long long)i, rb__shp(t), (long long)t->size);
        return false;
    }
    return true;
}

double rb_tensor_get_flat(const rb_tensor *t, int64_t i)
{
    return flat_in_range(t, i, "rb_tensor_get_flat") ? rb__get_flat(t, i) : NAN;
}

rb_status rb_tensor_set_flat(rb_tensor *t, int64_t i, double value)
{
    if (!flat_in_range(t, i, "rb_tensor_set_flat")) return rb_last_status();
    if (!rb__value_fits(t->dtype, value, "rb_tensor_set_flat")) return rb_last_status();
    rb__set_flat(t, i, value);
    rb__bump_version(t);
    return RB_OK;
}

void rb_tensor_mark_modified(rb_tensor *t)
{
    if (t) rb__bump_version(t);
}

rb_status rb_tensor_fill(rb_tensor *t, double value)
{
    if (!t) return rb_error(RB_ERR_ARGUMENT, "rb_tensor_fill: tensor is NULL");
    if (!rb__value_fits(t->dtype, value, "rb_tensor_fill")) return rb_last_status();
    rb__fill(t, value);
    rb__bump_version(t);
    return RB_OK;
}

rb_status rb_tensor_assign(rb_tensor *dst, const rb_tensor *src)
{
    if (!dst || !src) return rb_error(RB_ERR_ARGUMENT, "rb_tensor_assign: tensor is NULL");
    if (!rb_tensor_same_shape(dst, src))
        return rb_error(RB_ERR_SHAPE, "rb_tensor_assign: shapes differ: %s <- %s", rb__shp(dst),
                        rb__shp(src));
    if (!rb__is_float(dst->dtype) && dst->dtype != src->dtype)
        for (int64_t i = 0; i < src->size; i++)
            if (!rb__value_fits(dst->dtype, rb__get_flat(src, i), "rb_tensor_assign"))
                return rb_last_status();
    rb__copy_strided(dst, src);
    rb__bump_version(dst);
    return RB_OK;
}

rb_status rb_tensor_to_doubles(const rb_tensor *t, double *out, int64_t n)
{
    if (!t || !out) return rb_error(RB_ERR_ARGUMENT, "rb_tensor_to_doubles: NULL argument");
    if (n < t->size)
        return rb_error(RB_ERR_ARGUMENT, "rb_tensor_to_doubles: buffer of %lld for %lld elements",
                        (long long)n, (long long)t->size);
    for (int64_t i = 0; i < t->size; i++)
        out[i] = rb__get_flat(t, i);
    return RB_OK;
}

void rb_tensor_set_name(rb_tensor *t, const char *name)
{
    if (!t) return;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
}

const char *rb_tensor_name(const rb_tensor *t) { return t ? t->name : ""; }

char *rb_tensor_shape_string(const rb_tensor *t, char *buf, size_t size)
{
    char s[RB__SHAPE_STR];
    if (!buf || size == 0) return buf;
    snprintf(buf, size, "%s", t ? rb__shape_str(s, t->ndim, t->shape) : "(null)");
    return buf;
}

const char *rb_tensor_shape_text(const rb_tensor *t) { return rb__shp(t); }

rb_status rb_tensor_set_shape(rb_tensor *t, int ndim, const int64_t *shape)
{
    if (!t) return rb_error(RB_ERR_ARGUMENT, "rb_tensor_set_shape: tensor is NULL");
    if (!(t->flags & RB__CONTIGUOUS))
        return rb_error(RB_ERR_ARGUMENT, "rb_tensor_set_shape: %s is not contiguous", rb__shp(t));
    if (!valid_shape(t->dtype, ndim, shape, "rb_tensor_set_shape")) return rb_last_status();
    int64_t size =
        rb_shape_count(RB_ERR_SHAPE, "rb_tensor_set_shape", ndim, shape, rb_dtype_size(t->dtype));
    if (size != t->size) {
        char s[RB__SHAPE_STR];
        return rb_error(RB_ERR_SHAPE, "rb_tensor_set_shape: %s has %lld elements, %s has %lld",
                        rb__shp(t), (long long)t->size, rb__shape_str(s, ndim, shape),
                        (long long)size);
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    rb__contiguous_strides(ndim, shape, t->strides);
    return RB_OK;
}
