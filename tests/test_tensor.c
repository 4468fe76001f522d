/* Tensors: creation, dtypes, shapes, access, views, printing. */
#include <stdlib.h>

#include "testutil.h"

/* Under AddressSanitizer an impossible allocation must return NULL, as malloc does, instead of
 * ending the process: the out-of-memory test needs it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static void zeros_has_shape_and_zero_values(void **state)
{
    (void)state;
    rb_tensor *t = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_SHAPE(t, 2, 3);
    assert_int_equal(rb_tensor_size(t), 6);
    assert_int_equal(rb_tensor_dtype(t), RB_F32);
    CHECK_TENSOR(t, 0, 0, 0, 0, 0, 0, 0);
}

static void ones_full_and_scalar_hold_their_value(void **state)
{
    (void)state;
    CHECK_TENSOR(rb_tensor_ones(RB_F64, RB_SHAPE(3)), 0, 1, 1, 1);
    CHECK_TENSOR(rb_tensor_full(RB_I64, RB_SHAPE(2), 7), 0, 7, 7);
    rb_tensor *s = rb_tensor_scalar(RB_F32, 2.5);
    assert_int_equal(rb_tensor_ndim(s), 0);
    assert_int_equal(rb_tensor_size(s), 1);
    CHECK_CLOSE(rb_tensor_item(s), 2.5, 0);
}

static void from_data_copies_row_major(void **state)
{
    (void)state;
    float data[6] = {1, 2, 3, 4, 5, 6};
    rb_tensor *t = rb_tensor_from_data(RB_F32, RB_SHAPE(2, 3), data);
    data[0] = 100; /* a copy: the tensor must not change */
    CHECK_CLOSE(rb_tensor_get(t, (int64_t[]){0, 0}), 1, 0);
    CHECK_CLOSE(rb_tensor_get(t, (int64_t[]){1, 2}), 6, 0);
    assert_int_equal(rb_tensor_strides(t)[0], 3);
    assert_int_equal(rb_tensor_strides(t)[1], 1);
}

static void arange_and_linspace_follow_numpy(void **state)
{
    (void)state;
    CHECK_TENSOR(rb_tensor_arange(RB_F64, 0, 5, 1), 0, 0, 1, 2, 3, 4);
    CHECK_TENSOR(rb_tensor_arange(RB_F64, 1, 2, 0.25), 1e-12, 1, 1.25, 1.5, 1.75);
    CHECK_TENSOR(rb_tensor_arange(RB_I64, 5, 0, -2), 0, 5, 3, 1);
    CHECK_TENSOR(rb_tensor_linspace(RB_F64, 0, 1, 5), 1e-12, 0, 0.25, 0.5, 0.75, 1);
    CHECK_TENSOR(rb_tensor_linspace(RB_F32, 2, 3, 1), 0, 2);
}

static void copy_is_independent(void **state)
{
    (void)state;
    rb_tensor *a = T64(RB_SHAPE(2), 1, 2);
    rb_tensor *b = rb_tensor_copy(a);
    rb_tensor_fill(a, 9);
    CHECK_TENSOR(b, 0, 1, 2);
    CHECK_TENSOR(rb_tensor_zeros_like(a), 0, 0, 0);
}

static void set_get_and_fill_write_in_place(void **state)
{
    (void)state;
    rb_tensor *t = rb_tensor_zeros(RB_F64, RB_SHAPE(2, 2));
    CHECK_STATUS_OK(rb_tensor_set(t, (int64_t[]){1, 0}, 3.5));
    CHECK_TENSOR(t, 0, 0, 0, 3.5, 0);
    CHECK_STATUS_OK(rb_tensor_fill(t, -1));
    CHECK_TENSOR(t, 0, -1, -1, -1, -1);
    rb_tensor *src = T32(RB_SHAPE(2, 2), 1, 2, 3, 4);
    CHECK_STATUS_OK(rb_tensor_assign(t, src)); /* converts float32 to float64 */
    CHECK_TENSOR(t, 0, 1, 2, 3, 4);
}

static void typed_access_checks_the_dtype(void **state)
{
    (void)state;
    rb_tensor *t = rb_tensor_zeros(RB_F32, RB_SHAPE(2));
    assert_non_null(rb_tensor_f32(t));
    CHECK_FAILS(rb_tensor_f64(t), RB_ERR_DTYPE, "float32");
    CHECK_FAILS(rb_tensor_i64(t), RB_ERR_DTYPE, "not int64");
}

static void bad_shapes_are_refused_with_a_message(void **state)
{
    (void)state;
    CHECK_FAILS(rb_tensor_zeros(RB_F32, RB_SHAPE(2, -1)), RB_ERR_SHAPE, "negative extent");
    CHECK_FAILS(rb_tensor_zeros(RB_F32, 9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}),
                RB_ERR_SHAPE, "at most 8");
    CHECK_FAILS(rb_tensor_linspace(RB_F32, 0, 1, 0), RB_ERR_ARGUMENT, "n must be >= 1");
    CHECK_FAILS(rb_tensor_arange(RB_F32, 0, 1, 0), RB_ERR_ARGUMENT, "bad range");
}

/* 2^40 x 2^40 float32 is 2^82 bytes: the element count overflows int64. */
static void a_shape_whose_size_overflows_is_refused(void **state)
{
    (void)state;
    const int64_t big = (int64_t)1 << 40;
    CHECK_FAILS(rb_tensor_empty(RB_F32, RB_SHAPE(big, big)), RB_ERR_SHAPE, "too large");
    CHECK_FAILS(rb_tensor_empty_persistent(RB_F64, RB_SHAPE(3, INT64_MAX / 4)), RB_ERR_SHAPE,
                "[3,2305843009213693951]");
    CHECK_FAILS(rb_tensor_zeros(RB_I64, RB_SHAPE(big, 1, big)), RB_ERR_SHAPE, "rb_tensor_zeros");
    rb_tensor *t = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_tensor_set_shape(t, RB_SHAPE(big, big, 0)), RB_ERR_SHAPE, "too large");
}

/* No elements, but the strides of the first axes (2^80) would overflow. */
static void a_zero_extent_does_not_hide_the_other_extents(void **state)
{
    (void)state;
    const int64_t big = (int64_t)1 << 40;
    CHECK_FAILS(rb_tensor_empty(RB_F32, RB_SHAPE(0, big, big)), RB_ERR_SHAPE, "[0,");
    CHECK_FAILS(rb_tensor_zeros(RB_F64, RB_SHAPE(big, 0, big, big)), RB_ERR_SHAPE, "too large");
    CHECK_FAILS(rb_tensor_empty(RB_F32, RB_SHAPE(2, 0, -3)), RB_ERR_SHAPE, "negative extent");
    /* Empty tensors of a sane size stay allowed. */
    rb_tensor *e = rb_tensor_empty(RB_F32, RB_SHAPE(0, big));
    CHECK_SHAPE(e, 0, big);
    assert_int_equal(rb_tensor_size(e), 0);
}

/* (2^62 + 4) x 4 elements wrap to 16 in int64: the view of 16 elements is refused. */
static void a_view_whose_size_wraps_is_refused(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(16));
    CHECK_FAILS(rb_reshape(x, RB_SHAPE(((int64_t)1 << 62) + 4, 4)), RB_ERR_SHAPE,
                "a view of [16]: shape [4611686018427387908,4] is too large");
    rb_tensor *e = rb_tensor_zeros(RB_F32, RB_SHAPE(0));
    CHECK_FAILS(rb_reshape(e, RB_SHAPE(0, (int64_t)1 << 40, (int64_t)1 << 40)), RB_ERR_SHAPE,
                "too large");
    CHECK_SHAPE(rb_reshape(x, RB_SHAPE(2, -1)), 2, 8);
}

/* The one size check, as data readers and training tools reach it. */
static void shape_count_checks_every_extent_and_the_byte_size(void **state)
{
    (void)state;
    assert_int_equal(rb_shape_count(RB_ERR_SHAPE, "t", RB_SHAPE(2, 3, 4), 8), 24);
    assert_int_equal(rb_shape_count(RB_ERR_SHAPE, "t", RB_SCALAR, 4), 1);
    assert_int_equal(rb_shape_count(RB_ERR_SHAPE, "t", RB_SHAPE(5, 0, 7), 4), 0);
    /* The limit itself passes, one element more does not. */
    assert_int_equal(rb_shape_count(RB_ERR_SHAPE, "t", RB_SHAPE(RB_MAX_BYTES / 8), 8),
                     RB_MAX_BYTES / 8);
    CHECK_FAILS(rb_shape_count(RB_ERR_FORMAT, "reader: 'f.idx'", RB_SHAPE(RB_MAX_BYTES / 8 + 1), 8),
                RB_ERR_FORMAT, "reader: 'f.idx': shape [9007199254740993] is too large");
    CHECK_FAILS(rb_shape_count(RB_ERR_SHAPE, "t", RB_SHAPE(0, INT64_MAX, 2), 1), RB_ERR_SHAPE,
                "too large");
    CHECK_FAILS(rb_shape_count(RB_ERR_ARGUMENT, "t", RB_SHAPE(4, -1), 1), RB_ERR_ARGUMENT,
                "t: shape [4,-1] has a negative extent");
    CHECK_FAILS(rb_shape_count(RB_ERR_SHAPE, "t", 2, NULL, 1), RB_ERR_ARGUMENT, "no shape");
}

/* An int64 tensor cannot hold NaN, infinities or values beyond 2^63 (converting them is
 * undefined behaviour in C): refused, the tensor unchanged. */
static void values_an_int64_tensor_cannot_hold_are_refused(void **state)
{
    (void)state;
    rb_tensor *t = rb_tensor_full(RB_I64, RB_SHAPE(2), 5);
    CHECK_FAILS(rb_tensor_set(t, (int64_t[]){0}, NAN), RB_ERR_ARGUMENT, "does not fit an int64");
    CHECK_FAILS(rb_tensor_set_flat(t, 1, 1e30), RB_ERR_ARGUMENT, "1e+30 does not fit an int64");
    CHECK_FAILS(rb_tensor_fill(t, INFINITY), RB_ERR_ARGUMENT, "rb_tensor_fill");
    CHECK_FAILS(rb_tensor_set_flat(t, 0, 0x1p63), RB_ERR_ARGUMENT, "does not fit");
    CHECK_TENSOR(t, 0, 5, 5);
    CHECK_STATUS_OK(rb_tensor_set_flat(t, 0, -0x1p63)); /* INT64_MIN itself fits */
    assert_true(rb_tensor_i64(t)[0] == INT64_MIN);
    CHECK_FAILS(rb_tensor_full(RB_I64, RB_SHAPE(2), NAN), RB_ERR_ARGUMENT, "rb_tensor_full");
    CHECK_FAILS(rb_tensor_scalar(RB_I64, -1e19), RB_ERR_ARGUMENT, "rb_tensor_scalar");
    CHECK_FAILS(rb_tensor_arange(RB_I64, 0, 1e30, 1e29), RB_ERR_ARGUMENT, "does not fit");
    CHECK_FAILS(rb_tensor_linspace(RB_I64, 0, 1e19, 3), RB_ERR_ARGUMENT, "does not fit");
    rb_tensor *src = T64(RB_SHAPE(2), 1, NAN), *dst = rb_tensor_full(RB_I64, RB_SHAPE(2), 3);
    CHECK_FAILS(rb_tensor_assign(dst, src), RB_ERR_ARGUMENT, "rb_tensor_assign");
    CHECK_TENSOR(dst, 0, 3, 3);
    /* Float tensors take them as they are. */
    rb_tensor *f = rb_tensor_full(RB_F64, RB_SHAPE(1), NAN);
    CHECK_STATUS_OK(rb_tensor_set_flat(f, 0, INFINITY));
}

/* uint8 holds what a byte holds: 0 to 255 (fractions cut toward zero, as C converts); NaN, -1
 * or 256 are refused, the tensor unchanged. It is a quarter of float32's size, prints as
 * integers, converts both ways with rb_cast and is never differentiated. */
static void a_uint8_tensor_holds_bytes(void **state)
{
    (void)state;
    assert_string_equal(rb_dtype_name(RB_U8), "uint8");
    assert_int_equal(rb_dtype_size(RB_U8), 1);
    rb_tensor *t = rb_tensor_full(RB_U8, RB_SHAPE(2, 2), 7);
    CHECK_STATUS_OK(rb_tensor_set(t, (int64_t[]){0, 1}, 255));
    CHECK_STATUS_OK(rb_tensor_set_flat(t, 2, 3.9));
    CHECK_TENSOR(t, 0, 7, 255, 3, 7);
    assert_int_equal(rb_tensor_u8(t)[1], 255);
    CHECK_FAILS(rb_tensor_f32(t), RB_ERR_DTYPE, "tensor is uint8, not float32");
    CHECK_FAILS(rb_tensor_set_flat(t, 0, 256), RB_ERR_ARGUMENT, "256 does not fit a uint8 tensor");
    CHECK_FAILS(rb_tensor_set_flat(t, 0, -1), RB_ERR_ARGUMENT, "-1 does not fit a uint8");
    CHECK_FAILS(rb_tensor_fill(t, NAN), RB_ERR_ARGUMENT, "nan does not fit a uint8");
    CHECK_FAILS(rb_tensor_full(RB_U8, RB_SHAPE(1), 300), RB_ERR_ARGUMENT, "rb_tensor_full");
    CHECK_TENSOR(t, 0, 7, 255, 3, 7);
    /* rb_cast both ways: floats that are no byte are refused, with the value. */
    rb_tensor *f = rb_cast(t, RB_F32);
    assert_int_equal(rb_tensor_dtype(f), RB_F32);
    CHECK_TENSOR(f, 0, 7, 255, 3, 7);
    CHECK_TENSOR(rb_cast(T64(RB_SHAPE(3), 0, 2.5, 255), RB_U8), 0, 0, 2, 255);
    CHECK_FAILS(rb_cast(T64(RB_SHAPE(2), 1, 256), RB_U8), RB_ERR_ARGUMENT, "rb_cast: 256");
    CHECK_FAILS(rb_cast(T64(RB_SHAPE(1), NAN), RB_I64), RB_ERR_ARGUMENT, "nan does not fit an int64");
    CHECK_FAILS(rb_cast(rb_tensor_full(RB_I64, RB_SHAPE(1), -3), RB_U8), RB_ERR_ARGUMENT, "-3");
    CHECK_TENSOR(rb_cast(t, RB_I64), 0, 7, 255, 3, 7);
    /* Shape ops move bytes; arithmetic refuses them; padding must be a byte. */
    CHECK_TENSOR(rb_transpose(t, 0, 1), 0, 7, 3, 255, 7);
    CHECK_TENSOR(rb_pad(t, (int64_t[]){0, 1}, (int64_t[]){0, 0}, 9), 0, 9, 7, 255, 9, 3, 7);
    CHECK_FAILS(rb_pad(t, (int64_t[]){0, 1}, (int64_t[]){0, 0}, -1), RB_ERR_ARGUMENT,
                "rb_pad: -1 does not fit a uint8");
    CHECK_FAILS(rb_add(t, t), RB_ERR_DTYPE, "rb_add: expects a float32 or float64 tensor, got uint8");
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    CHECK_FAILS(rb_tape_watch(tape, t), RB_ERR_DTYPE, "with respect to a uint8 tensor");
    rb_tape_end(tape);
    rb_tensor *dst = rb_tensor_zeros(RB_U8, RB_SHAPE(2, 2));
    CHECK_FAILS(rb_tensor_assign(dst, rb_mul_scalar(f, 2)), RB_ERR_ARGUMENT, "510 does not fit");
    CHECK_TENSOR(dst, 0, 0, 0, 0, 0);
    CHECK_STATUS_OK(rb_tensor_assign(dst, f));
    CHECK_TENSOR(dst, 0, 7, 255, 3, 7);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    rb_tensor_fprint(mem, t, "t");
    fclose(mem);
    assert_non_null(strstr(text, "uint8[2,2]"));
    assert_non_null(strstr(text, "[7, 255]"));
    free(text);
}

/* arange's count is a double; a count beyond any tensor is refused before conversion. */
static void arange_with_an_absurd_count_is_refused(void **state)
{
    (void)state;
    CHECK_FAILS(rb_tensor_arange(RB_F32, 0, 1e300, 1e-300), RB_ERR_ARGUMENT, "too many");
    CHECK_FAILS(rb_tensor_arange(RB_F64, 0, 1, 1e-30), RB_ERR_ARGUMENT, "too many");
    CHECK_FAILS(rb_tensor_arange(RB_F32, 0, (double)((int64_t)1 << 55), 1), RB_ERR_SHAPE,
                "too large");
}

/* Far below RB_MAX_BYTES, far above any machine: the message names the call and the bytes. */
static void out_of_memory_names_the_function_and_the_request(void **state)
{
    (void)state;
    CHECK_FAILS(rb_tensor_empty_persistent(RB_F32, RB_SHAPE((int64_t)1 << 50)), RB_ERR_MEMORY,
                "rb_tensor_empty_persistent: out of memory: 45035996273");
    rb_scope *s = rb_scope_begin();
    CHECK_FAILS(rb_tensor_zeros(RB_F64, RB_SHAPE(1 << 20, 1 << 30)), RB_ERR_MEMORY,
                "rb_tensor_zeros: out of memory");
    rb_scope_end(s);
}

static void index_out_of_range_is_an_error_not_a_crash(void **state)
{
    (void)state;
    rb_tensor *t = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_tensor_get(t, (int64_t[]){2, 0}), RB_ERR_ARGUMENT, "out of range on axis 0");
    CHECK_FAILS(rb_tensor_set(t, (int64_t[]){0, 3}, 1), RB_ERR_ARGUMENT, "axis 1");
    CHECK_FAILS(rb_tensor_item(t), RB_ERR_SHAPE, "6 elements, not 1");
    CHECK_FAILS(rb_tensor_dim(t, 2), RB_ERR_AXIS, "axis 2 out of range");
    assert_int_equal(rb_tensor_dim(t, -1), 3);
}

static void empty_tensors_exist_but_reductions_refuse_them(void **state)
{
    (void)state;
    rb_tensor *e = rb_tensor_zeros(RB_F32, RB_SHAPE(0, 3));
    assert_int_equal(rb_tensor_size(e), 0);
    CHECK_SHAPE(rb_add(e, e), 0, 3);
    CHECK_FAILS(rb_mean(e, RB_ALL_AXES, false), RB_ERR_EMPTY, "no elements");
    CHECK_FAILS(rb_max(e, RB_AXES(0), false), RB_ERR_EMPTY, "empty axis 0");
    CHECK_TENSOR(rb_sum(e, RB_AXES(0), false), 0, 0, 0, 0); /* an empty sum is 0 */
}

static void reshape_of_contiguous_is_a_view(void **state)
{
    (void)state;
    rb_tensor *a = T32(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    rb_tensor *b = rb_reshape(a, RB_SHAPE(3, -1));
    CHECK_SHAPE(b, 3, 2);
    assert_ptr_equal(rb_tensor_data(a), rb_tensor_data(b));
    CHECK_FAILS(rb_reshape(a, RB_SHAPE(4, 2)), RB_ERR_SHAPE, "6 elements");
    CHECK_FAILS(rb_reshape(a, RB_SHAPE(4, -1)), RB_ERR_SHAPE, "cannot infer");
}

static void transpose_is_a_strided_view(void **state)
{
    (void)state;
    rb_tensor *a = T32(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    rb_tensor *t = rb_transpose(a, 0, 1);
    CHECK_SHAPE(t, 3, 2);
    assert_false(rb_tensor_is_contiguous(t));
    assert_ptr_equal(rb_tensor_data(a), rb_tensor_data(t));
    CHECK_TENSOR(t, 0, 1, 4, 2, 5, 3, 6); /* read in row-major order of the view */
    rb_tensor *c = rb_contiguous(t);
    assert_true(rb_tensor_is_contiguous(c));
    CHECK_TENSOR(rb_reshape(t, RB_SHAPE(6)), 0, 1, 4, 2, 5, 3, 6); /* reshape copies */
}

static void cast_converts_values(void **state)
{
    (void)state;
    rb_tensor *a = T64(RB_SHAPE(3), 1.7, -2.2, 3);
    CHECK_TENSOR(rb_cast(a, RB_F32), 1e-6, 1.7, -2.2, 3);
    CHECK_TENSOR(rb_cast(a, RB_I64), 0, 1, -2, 3);
    assert_int_equal(rb_tensor_dtype(rb_cast(a, RB_I64)), RB_I64);
}

static void heap_tensors_are_freed_by_the_caller(void **state)
{
    (void)state;
    rb_scope_end(*state); /* no owner: the caller owns what it makes */
    rb_memory_stat before, after;
    rb_memory_stats(&before);
    rb_tensor *a = rb_tensor_ones(RB_F32, RB_SHAPE(4));
    rb_tensor *v = rb_reshape(a, RB_SHAPE(2, 2));
    rb_tensor_free(v);
    rb_tensor_free(a);
    rb_tensor_free(NULL);
    rb_memory_stats(&after);
    assert_int_equal(after.heap_allocations - before.heap_allocations,
                     after.heap_frees - before.heap_frees);
    *state = rb_scope_begin();
}

static void print_shows_dtype_shape_and_values(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rb_tensor *t = T32(RB_SHAPE(2, 2), 1, 2, 3, 4);
    rb_tensor_fprint(f, t, "w");
    fclose(f);
    assert_non_null(strstr(buf, "w: float32[2,2]"));
    assert_non_null(strstr(buf, "[[ 1,  2],"));
    free(buf);
    char s[32];
    assert_string_equal(rb_tensor_shape_string(t, s, sizeof s), "[2,2]");
}

static void long_axes_are_elided_when_printing(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rb_tensor_fprint(f, rb_tensor_arange(RB_I64, 0, 2000, 1), "r");
    fclose(f);
    assert_non_null(strstr(buf, "..."));
    assert_non_null(strstr(buf, "1999"));
    assert_true(len < 200);
    free(buf);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(zeros_has_shape_and_zero_values),
        TEST(ones_full_and_scalar_hold_their_value),
        TEST(from_data_copies_row_major),
        TEST(arange_and_linspace_follow_numpy),
        TEST(copy_is_independent),
        TEST(set_get_and_fill_write_in_place),
        TEST(typed_access_checks_the_dtype),
        TEST(bad_shapes_are_refused_with_a_message),
        TEST(a_shape_whose_size_overflows_is_refused),
        TEST(a_zero_extent_does_not_hide_the_other_extents),
        TEST(a_view_whose_size_wraps_is_refused),
        TEST(shape_count_checks_every_extent_and_the_byte_size),
        TEST(values_an_int64_tensor_cannot_hold_are_refused),
        TEST(a_uint8_tensor_holds_bytes),
        TEST(arange_with_an_absurd_count_is_refused),
        TEST(out_of_memory_names_the_function_and_the_request),
        TEST(index_out_of_range_is_an_error_not_a_crash),
        TEST(empty_tensors_exist_but_reductions_refuse_them),
        TEST(reshape_of_contiguous_is_a_view),
        TEST(transpose_is_a_strided_view),
        TEST(cast_converts_values),
        TEST(heap_tensors_are_freed_by_the_caller),
        TEST(print_shows_dtype_shape_and_values),
        TEST(long_axes_are_elided_when_printing),
    };
    return RUN_TESTS(tests, argc, argv);
}
