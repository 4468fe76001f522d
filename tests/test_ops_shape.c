/* Forward values of the shape and indexing ops: reshape and its relatives, permute, transpose,
 * broadcast_to, sum_to, contiguous, cast, slice, concat, stack, pad, gather and one_hot,
 * with the errors that name the offending shapes, indices and labels; the gradients of
 * stepped slices against hand-computed values. */
#include "elementwise.h"
#include "op_impl.h"
#include "opcheck.h"

/* ---- reshape, flatten, expand_dims, squeeze ---- */

static void reshape_infers_one_extent_from_minus_one(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    CHECK_SHAPE(rb_reshape(x, RB_SHAPE(3, -1)), 3, 2);
    CHECK_SHAPE(rb_reshape(x, RB_SHAPE(-1)), 6);
    CHECK_SHAPE(rb_reshape(x, RB_SHAPE(1, -1, 2)), 1, 3, 2);
    CHECK_TENSOR(rb_reshape(x, RB_SHAPE(3, -1)), 0, 1, 2, 3, 4, 5, 6);
    rb_tensor *s = rb_reshape(T64(RB_SHAPE(1, 1), 7), RB_SCALAR);
    assert_int_equal(rb_tensor_ndim(s), 0);
    CHECK_TENSOR(s, 0, 7);
}

static void reshape_of_a_contiguous_tensor_is_a_view_sharing_data(void **state)
{
    (void)state;
    rb_tensor *x = T32(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    rb_tensor *y = rb_reshape(x, RB_SHAPE(6));
    assert_ptr_equal(rb_tensor_data(y), rb_tensor_data(x));
    CHECK_STATUS_OK(rb_tensor_set(x, (int64_t[]){1, 0}, 40));
    CHECK_TENSOR(y, 0, 1, 2, 3, 40, 5, 6); /* the write shows through the view */
}

static void reshape_of_a_strided_view_copies_in_row_major_order(void **state)
{
    (void)state;
    rb_tensor *t = rb_transpose(T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6), 0, 1); /* (3, 2) */
    rb_tensor *y = rb_reshape(t, RB_SHAPE(2, 3));
    assert_true(rb_tensor_is_contiguous(y));
    assert_ptr_not_equal(rb_tensor_data(y), rb_tensor_data(t));
    CHECK_TENSOR(y, 0, 1, 4, 2, 5, 3, 6);
}

static void reshape_refuses_wrong_sizes_and_ambiguous_shapes(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    CHECK_FAILS(rb_reshape(x, RB_SHAPE(4, 2)), RB_ERR_SHAPE, "[2,3] has 6 elements");
    CHECK_FAILS(rb_reshape(x, RB_SHAPE(4, -1)), RB_ERR_SHAPE, "cannot infer -1 in [4,-1]");
    CHECK_FAILS(rb_reshape(x, RB_SHAPE(-1, -1)), RB_ERR_SHAPE, "bad shape [-1,-1]");
    CHECK_FAILS(rb_reshape(x, RB_SHAPE(-2, -3)), RB_ERR_SHAPE, "bad shape");
}

static void flatten_keeps_the_batch_axis(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_arange(RB_F32, 0, 24, 1);
    rb_tensor *f = rb_flatten(rb_reshape(x, RB_SHAPE(2, 3, 4)));
    CHECK_SHAPE(f, 2, 12);
    assert_ptr_equal(rb_tensor_data(f), rb_tensor_data(x));
    CHECK_SHAPE(rb_flatten(rb_tensor_zeros(RB_F64, RB_SHAPE(5))), 5, 1);
    CHECK_SHAPE(rb_flatten(rb_tensor_zeros(RB_F64, RB_SHAPE(3, 7))), 3, 7);
    CHECK_FAILS(rb_flatten(rb_tensor_scalar(RB_F32, 1)), RB_ERR_SHAPE, "scalar");
}

static void expand_dims_inserts_an_axis_of_one(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    CHECK_SHAPE(rb_expand_dims(x, 0), 1, 2, 3);
    CHECK_SHAPE(rb_expand_dims(x, 1), 2, 1, 3);
    CHECK_SHAPE(rb_expand_dims(x, 2), 2, 3, 1);
    CHECK_SHAPE(rb_expand_dims(x, -1), 2, 3, 1);
    CHECK_TENSOR(rb_expand_dims(x, 1), 0, 1, 2, 3, 4, 5, 6);
    CHECK_FAILS(rb_expand_dims(x, 3), RB_ERR_AXIS, "axis 3 out of range");
}

static void squeeze_removes_an_axis_of_one_and_refuses_others(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(2, 1, 3));
    CHECK_SHAPE(rb_squeeze(x, 1), 2, 3);
    CHECK_SHAPE(rb_squeeze(x, -2), 2, 3);
    assert_ptr_equal(rb_tensor_data(rb_squeeze(x, 1)), rb_tensor_data(x));
    CHECK_FAILS(rb_squeeze(x, 0), RB_ERR_SHAPE, "axis 0 of [2,1,3] has extent 2, not 1");
    CHECK_FAILS(rb_squeeze(x, 3), RB_ERR_AXIS, "axis 3");
}

/* ---- permute, transpose ---- */

static void permute_reorders_axes_as_a_view(void **state)
{
    (void)state;
    double v[24];
    fill_uniform(v, 24, -1, 1, 130);
    rb_tensor *x = tensor_of(RB_F64, RB_SHAPE(2, 3, 4), v);
    rb_tensor *p = rb_permute(x, (const int[]){2, 0, 1}); /* p[k, i, j] = x[i, j, k] */
    CHECK_SHAPE(p, 4, 2, 3);
    assert_ptr_equal(rb_tensor_data(p), rb_tensor_data(x));
    double expect[24];
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                expect[(k * 2 + i) * 3 + j] = v[(i * 3 + j) * 4 + k];
    CHECK_VALUES(p, expect, 24, 0, 0);
    CHECK_SAME_BITS(rb_permute(x, (const int[]){0, 1, 2}), x);
}

static void permute_refuses_repeated_or_out_of_range_entries(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3, 4));
    CHECK_FAILS(rb_permute(x, (const int[]){0, 0, 1}), RB_ERR_AXIS, "repeated");
    CHECK_FAILS(rb_permute(x, (const int[]){0, 1, 3}), RB_ERR_AXIS, "out of range");
}

static void transpose_swaps_two_axes(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    CHECK_TENSOR(rb_transpose(x, 0, 1), 0, 1, 4, 2, 5, 3, 6);
    CHECK_TENSOR(rb_transpose(x, -1, -2), 0, 1, 4, 2, 5, 3, 6);
    rb_tensor *b = rb_reshape(rb_tensor_arange(RB_F64, 0, 12, 1), RB_SHAPE(2, 3, 2));
    rb_tensor *t = rb_transpose(b, -2, -1); /* t[n, i, j] = b[n, j, i] */
    CHECK_SHAPE(t, 2, 2, 3);
    CHECK_TENSOR(t, 0, 0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11);
    CHECK_FAILS(rb_transpose(x, 0, 2), RB_ERR_AXIS, "axis 2");
}

/* ---- broadcast_to, sum_to ---- */

static void broadcast_to_repeats_along_new_and_unit_axes(void **state)
{
    (void)state;
    CHECK_TENSOR(rb_broadcast_to(T64(RB_SHAPE(3), 1, 2, 3), RB_SHAPE(2, 3)), 0, 1, 2, 3, 1, 2, 3);
    rb_tensor *c = rb_broadcast_to(T32(RB_SHAPE(2, 1), 5, 6), RB_SHAPE(2, 3));
    assert_true(rb_tensor_is_contiguous(c));
    CHECK_TENSOR(c, 0, 5, 5, 5, 6, 6, 6);
    CHECK_TENSOR(rb_broadcast_to(rb_tensor_scalar(RB_F64, 7), RB_SHAPE(2, 2)), 0, 7, 7, 7, 7);
    CHECK_SHAPE(rb_broadcast_to(T64(RB_SHAPE(1, 2), 1, 2), RB_SHAPE(3, 4, 2)), 3, 4, 2);
}

static void broadcast_to_refuses_incompatible_shapes(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(3));
    CHECK_FAILS(rb_broadcast_to(x, RB_SHAPE(2, 4)), RB_ERR_SHAPE,
                "[3] does not broadcast to [2,4]");
    CHECK_FAILS(rb_broadcast_to(rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3)), RB_SHAPE(3)), RB_ERR_SHAPE,
                "does not broadcast");
}

static void sum_to_sums_the_broadcast_axes(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    CHECK_TENSOR(rb_sum_to(x, RB_SHAPE(3)), 0, 5, 7, 9);
    CHECK_TENSOR(rb_sum_to(x, RB_SHAPE(2, 1)), 0, 6, 15);
    CHECK_SHAPE(rb_sum_to(x, RB_SHAPE(2, 1)), 2, 1);
    CHECK_TENSOR(rb_sum_to(x, RB_SHAPE(1, 1)), 0, 21);
    CHECK_TENSOR(rb_sum_to(x, RB_SCALAR), 0, 21);
    rb_tensor *same = rb_sum_to(x, RB_SHAPE(2, 3));
    assert_ptr_not_equal(rb_tensor_data(same), rb_tensor_data(x)); /* always a new tensor */
    CHECK_SAME_BITS(same, x);
    rb_tensor *cube = rb_reshape(rb_tensor_arange(RB_F32, 0, 24, 1), RB_SHAPE(2, 3, 4));
    /* out[j] = sum over i < 2, k < 4 of (12 i + 4 j + k) = 4*12 + 8*4j + 2*(0+1+2+3) = 60 + 32 j */
    CHECK_TENSOR(rb_sum_to(cube, RB_SHAPE(3, 1)), 0, 60, 92, 124);
    CHECK_FAILS(rb_sum_to(x, RB_SHAPE(4)), RB_ERR_SHAPE, "[2,3] cannot be summed to [4]");
}

/* ---- contiguous, cast ---- */

static void contiguous_copies_a_view_into_row_major_order(void **state)
{
    (void)state;
    rb_tensor *x = T32(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    rb_tensor *t = rb_transpose(x, 0, 1);
    rb_tensor *c = rb_contiguous(t);
    assert_true(rb_tensor_is_contiguous(c));
    assert_ptr_not_equal(rb_tensor_data(c), rb_tensor_data(x));
    const float *p = rb_tensor_f32(c);
    const float expect[6] = {1, 4, 2, 5, 3, 6};
    for (int i = 0; i < 6; i++)
        CHECK_CLOSE(p[i], expect[i], 0);
    rb_tensor *c2 = rb_contiguous(x); /* a copy even when already contiguous */
    assert_ptr_not_equal(rb_tensor_data(c2), rb_tensor_data(x));
    CHECK_SAME_BITS(c2, x);
}

static void cast_rounds_to_float32_and_widens_exactly(void **state)
{
    (void)state;
    enum { N = 1000 };
    double v[N], expect[N];
    fill_uniform(v, N, -1e3, 1e3, 131);
    rb_tensor *d = tensor_of(RB_F64, RB_SHAPE(N), v);
    for (int i = 0; i < N; i++)
        expect[i] = f32(v[i]);
    rb_tensor *f = rb_cast(d, RB_F32);
    assert_int_equal(rb_tensor_dtype(f), RB_F32);
    CHECK_VALUES(f, expect, N, 0, 0);
    rb_tensor *back = rb_cast(f, RB_F64);
    assert_int_equal(rb_tensor_dtype(back), RB_F64);
    CHECK_VALUES(back, expect, N, 0, 0);
}

static void cast_to_int64_truncates_toward_zero_and_back(void **state)
{
    (void)state;
    rb_tensor *i = rb_cast(T64(RB_SHAPE(5), 1.7, -2.2, 3, -0.5, 1e12), RB_I64);
    assert_int_equal(rb_tensor_dtype(i), RB_I64);
    const int64_t *p = rb_tensor_i64(i);
    const int64_t expect[5] = {1, -2, 3, 0, 1000000000000};
    for (int k = 0; k < 5; k++)
        assert_int_equal(p[k], expect[k]);
    CHECK_TENSOR(rb_cast(TI64(RB_SHAPE(3), -4, 0, 9), RB_F32), 0, -4, 0, 9);
    CHECK_TENSOR(rb_cast(rb_transpose(T32(RB_SHAPE(2, 2), 1, 2, 3, 4), 0, 1), RB_F64), 0, 1, 3, 2,
                 4);
    CHECK_FAILS(rb_cast(T32(RB_SHAPE(1), 1), (rb_dtype)7), RB_ERR_DTYPE, "invalid dtype 7");
}

/* ---- slice ---- */

static void slice_takes_ranges_with_steps(void **state)
{
    (void)state;
    rb_tensor *x = rb_reshape(rb_tensor_arange(RB_F64, 0, 20, 1), RB_SHAPE(4, 5));
    rb_tensor *s = rb_slice(x, (int64_t[]){1, 0}, (int64_t[]){3, 5}, NULL);
    CHECK_SHAPE(s, 2, 5);
    CHECK_TENSOR(s, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    rb_tensor *st = rb_slice(x, (int64_t[]){0, 1}, (int64_t[]){4, 5}, (int64_t[]){2, 3});
    CHECK_SHAPE(st, 2, 2);
    CHECK_TENSOR(st, 0, 1, 4, 11, 14);
    /* a view: element [0, 0] of the slice is element [1, 0] of x */
    assert_ptr_equal(rb_tensor_data(s), (double *)rb_tensor_data(x) + 5);
}

static void slice_counts_negative_bounds_from_the_end(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_arange(RB_F64, 0, 10, 1);
    CHECK_TENSOR(rb_slice(x, (int64_t[]){-3}, (int64_t[]){10}, NULL), 0, 7, 8, 9);
    CHECK_TENSOR(rb_slice(x, (int64_t[]){0}, (int64_t[]){-8}, NULL), 0, 0, 1);
    CHECK_TENSOR(rb_slice(x, (int64_t[]){-4}, (int64_t[]){-1}, NULL), 0, 6, 7, 8);
    CHECK_TENSOR(rb_slice(x, (int64_t[]){-100}, (int64_t[]){2}, NULL), 0, 0, 1);
}

static void slice_clips_bounds_beyond_the_end(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_arange(RB_F32, 0, 5, 1);
    CHECK_TENSOR(rb_slice(x, (int64_t[]){3}, (int64_t[]){100}, NULL), 0, 3, 4);
    CHECK_TENSOR(rb_slice(x, (int64_t[]){1}, (int64_t[]){100}, (int64_t[]){3}), 0, 1, 4);
}

static void slice_can_be_empty(void **state)
{
    (void)state;
    rb_tensor *x = rb_reshape(rb_tensor_arange(RB_F32, 0, 6, 1), RB_SHAPE(2, 3));
    CHECK_SHAPE(rb_slice(x, (int64_t[]){1, 2}, (int64_t[]){1, 3}, NULL), 0, 1);
    CHECK_SHAPE(rb_slice(x, (int64_t[]){0, 3}, (int64_t[]){2, 10}, NULL), 2, 0);
    CHECK_SHAPE(rb_slice(x, (int64_t[]){2, 0}, (int64_t[]){0, 3}, NULL), 0, 3);
    CHECK_SHAPE(rb_neg(rb_slice(x, (int64_t[]){5, 0}, (int64_t[]){9, 3}, NULL)), 0, 3);
}

static void slice_refuses_a_step_that_is_not_positive(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(4));
    CHECK_FAILS(rb_slice(x, (int64_t[]){0}, (int64_t[]){4}, (int64_t[]){0}), RB_ERR_ARGUMENT,
                "step 0 on axis 0");
    CHECK_FAILS(rb_slice(x, (int64_t[]){3}, (int64_t[]){0}, (int64_t[]){-1}), RB_ERR_ARGUMENT,
                "must be positive");
}

/* ---- slice gradients: they land on the elements the slice took, and nowhere else ---- */

/* dy/dx copied into `into` (made before the tape began), then the tape ends: the checks run
 * after it, so a failing one leaves no tape open. */
static rb_tensor *gradient_then_end(rb_tape *tape, rb_tensor *y, rb_tensor *x, rb_tensor *into)
{
    rb_tensor *g = rb_tape_gradient1(tape, y, x);
    rb_status st = g ? rb_tensor_assign(into, g) : rb_last_status();
    rb_tape_end(tape);
    return st == RB_OK ? into : NULL;
}

/* d/dx sum(w * slice(x)), w = 1, 2, 3... in the slice's row-major order. */
static rb_tensor *weighted_slice_gradient(rb_dtype dtype, int ndim, const int64_t *shape,
                                          const int64_t *start, const int64_t *stop,
                                          const int64_t *step)
{
    rb_tensor *x = rb_tensor_zeros(dtype, ndim, shape), *g = rb_tensor_zeros(dtype, ndim, shape);
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x);
    rb_tensor *s = rb_slice(x, start, stop, step);
    rb_tensor *w =
        rb_add_scalar(rb_reshape(rb_tensor_arange(dtype, 0, (double)rb_tensor_size(s), 1),
                                 rb_tensor_ndim(s), rb_tensor_shape(s)),
                      1.0);
    return gradient_then_end(tape, rb_sum(rb_mul(w, s), RB_ALL_AXES, false), x, g);
}

static void
the_gradient_of_a_slice_stepping_on_the_last_axis_lands_on_the_taken_elements(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        rb_dtype dt = k ? RB_F32 : RB_F64;
        /* x[1:6:2] takes elements 1, 3 and 5 with weights 1, 2, 3 */
        CHECK_TENSOR(weighted_slice_gradient(dt, RB_SHAPE(6), (int64_t[]){1}, (int64_t[]){6},
                                             (int64_t[]){2}),
                     0, 0, 1, 0, 2, 0, 3);
        /* x[:, ::2] of a (2, 6) tensor: columns 0, 2 and 4 of both rows */
        CHECK_TENSOR(weighted_slice_gradient(dt, RB_SHAPE(2, 6), (int64_t[]){0, 0},
                                             (int64_t[]){2, 6}, (int64_t[]){1, 2}),
                     0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0);
    }
}

static void the_gradient_of_a_slice_stepping_on_every_axis_lands_on_the_taken_elements(void **state)
{
    (void)state;
    /* x[0:3:2, 1:4:2, 1:5:3] of a (3, 4, 5) tensor takes i in {0, 2}, j in {1, 3}, k in {1, 4}:
     * weights 1..8 in that order. */
    rb_tensor *g = weighted_slice_gradient(RB_F64, RB_SHAPE(3, 4, 5), (int64_t[]){0, 1, 1},
                                           (int64_t[]){3, 4, 5}, (int64_t[]){2, 2, 3});
    double expect[60] = {0};
    expect[0 * 20 + 1 * 5 + 1] = 1;
    expect[0 * 20 + 1 * 5 + 4] = 2;
    expect[0 * 20 + 3 * 5 + 1] = 3;
    expect[0 * 20 + 3 * 5 + 4] = 4;
    expect[2 * 20 + 1 * 5 + 1] = 5;
    expect[2 * 20 + 1 * 5 + 4] = 6;
    expect[2 * 20 + 3 * 5 + 1] = 7;
    expect[2 * 20 + 3 * 5 + 4] = 8;
    CHECK_SHAPE(g, 3, 4, 5);
    for (int i = 0; i < 60; i++)
        if (rb_tensor_get_flat(g, i) != expect[i])
            fail_msg("gradient[%d] = %g, expected %g", i, rb_tensor_get_flat(g, i), expect[i]);
}

static void gradients_of_overlapping_stepped_slices_add_up(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F64, RB_SHAPE(8)), *g = rb_tensor_zeros(RB_F64, RB_SHAPE(8));
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x);
    /* sum(x[0:8:2]) + 2 sum(x[0:8:3]): elements 0, 2, 4, 6 and twice 0, 3, 6 */
    rb_tensor *y = rb_add(
        rb_sum(rb_slice(x, (int64_t[]){0}, (int64_t[]){8}, (int64_t[]){2}), RB_ALL_AXES, false),
        rb_mul_scalar(
            rb_sum(rb_slice(x, (int64_t[]){0}, (int64_t[]){8}, (int64_t[]){3}), RB_ALL_AXES, false),
            2));
    CHECK_TENSOR(gradient_then_end(tape, y, x, g), 0, 3, 0, 1, 2, 1, 0, 3, 0);
}

static void the_gradient_of_a_slice_of_a_stepped_slice_composes_their_steps(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(12)),
              *g = rb_tensor_zeros(RB_F32, RB_SHAPE(12));
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x);
    /* x[1::2] = elements 1, 3, 5, 7, 9, 11; of those, [0::3] = elements 1 and 7 */
    rb_tensor *outer = rb_slice(x, (int64_t[]){1}, (int64_t[]){12}, (int64_t[]){2});
    rb_tensor *inner = rb_slice(outer, (int64_t[]){0}, (int64_t[]){6}, (int64_t[]){3});
    CHECK_TENSOR(gradient_then_end(tape, rb_sum(inner, RB_ALL_AXES, false), x, g), 0, 0, 1, 0, 0, 0,
                 0, 0, 1, 0, 0, 0, 0);
}

static void
the_gradient_of_a_stepped_slice_of_a_transposed_view_lands_on_the_taken_elements(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F64, RB_SHAPE(3, 4)),
              *g = rb_tensor_zeros(RB_F64, RB_SHAPE(3, 4));
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x);
    /* x^T is (4, 3); its rows 0, 2 and columns 0, 2 are x[0, 0], x[2, 0], x[0, 2], x[2, 2] */
    rb_tensor *s =
        rb_slice(rb_transpose(x, 0, 1), (int64_t[]){0, 0}, (int64_t[]){4, 3}, (int64_t[]){2, 2});
    rb_tensor *w = T64(RB_SHAPE(2, 2), 1, 2, 3, 4);
    CHECK_TENSOR(gradient_then_end(tape, rb_sum(rb_mul(w, s), RB_ALL_AXES, false), x, g), 0, 1, 0,
                 3, 0, 0, 0, 0, 0, 2, 0, 4, 0);
}

/* ---- kernels writing through views (what a slice's backward adds into) ---- */

/* Rows 0 and 2, columns 5, 3 and 1 (a negative step) of a zero (4, 6) tensor. */
static rb_tensor *stepped_output(rb_tensor **base)
{
    *base = rb_tensor_zeros(RB_F64, RB_SHAPE(4, 6));
    return rb__tensor_view(*base, 2, (int64_t[]){2, 3}, (int64_t[]){12, -2}, 5);
}

/* The base after writing v[0..6) through stepped_output, in row-major order. */
#define CHECK_WRITTEN_THROUGH_VIEW(base, v)                                                        \
    CHECK_TENSOR(base, 0, 0, v[2], 0, v[1], 0, v[0], 0, 0, 0, 0, 0, 0, 0, v[5], 0, v[4], 0, v[3],  \
                 0, 0, 0, 0, 0, 0)

static void elementwise_kernels_write_through_a_stepped_output_view(void **state)
{
    (void)state;
    rb_tensor *a = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6), *b = T64(RB_SHAPE(3), 10, 20, 30), *base;
    rb__binary(RB__B_ADD, a, b, stepped_output(&base));
    CHECK_WRITTEN_THROUGH_VIEW(base, ((double[]){11, 22, 33, 14, 25, 36}));
    rb__unary(RB__U_NEG, a, stepped_output(&base), 0, 0);
    CHECK_WRITTEN_THROUGH_VIEW(base, ((double[]){-1, -2, -3, -4, -5, -6}));
    rb_tensor *acc = stepped_output(&base); /* accumulation in place, as a slice's backward does */
    rb__add_into(acc, a);
    rb__add_into(acc, a);
    CHECK_WRITTEN_THROUGH_VIEW(base, ((double[]){2, 4, 6, 8, 10, 12}));
}

static void where_writes_through_a_stepped_output_view(void **state)
{
    (void)state;
    rb_tensor *cond = T64(RB_SHAPE(2, 3), 1, 0, 1, 0, 1, 0), *base;
    rb_tensor *a = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6), *b = T64(RB_SHAPE(1), -1);
    rb_node node = {.n_in = 3, .out = stepped_output(&base)};
    node.in = node.in_inline;
    node.in[0] = cond;
    node.in[1] = a;
    node.in[2] = b;
    CHECK_STATUS_OK(rb__fwd_where(&node));
    CHECK_WRITTEN_THROUGH_VIEW(base, ((double[]){1, -1, 3, -1, 5, -1}));
}

/* ---- concat, stack, pad ---- */

static void concat_joins_along_axis_zero_and_one(void **state)
{
    (void)state;
    rb_tensor *a = T64(RB_SHAPE(2, 2), 1, 2, 3, 4);
    rb_tensor *b = T64(RB_SHAPE(1, 2), 5, 6);
    rb_tensor *c = T64(RB_SHAPE(2, 1), 7, 8);
    rb_tensor *v = rb_concat(2, (rb_tensor *[]){a, b}, 0);
    CHECK_SHAPE(v, 3, 2);
    CHECK_TENSOR(v, 0, 1, 2, 3, 4, 5, 6);
    rb_tensor *h = rb_concat(3, (rb_tensor *[]){c, a, c}, 1);
    CHECK_SHAPE(h, 2, 4);
    CHECK_TENSOR(h, 0, 7, 1, 2, 7, 8, 3, 4, 8);
    CHECK_SAME_BITS(rb_concat(2, (rb_tensor *[]){a, c}, -1),
                    rb_concat(2, (rb_tensor *[]){a, c}, 1));
    CHECK_SAME_BITS(rb_concat(1, (rb_tensor *[]){a}, 0), a);
}

static void concat_accepts_strided_views(void **state)
{
    (void)state;
    rb_tensor *a = T32(RB_SHAPE(2, 2), 1, 2, 3, 4);
    CHECK_TENSOR(rb_concat(2, (rb_tensor *[]){rb_transpose(a, 0, 1), a}, 0), 0, 1, 3, 2, 4, 1, 2, 3,
                 4);
}

static void concat_refuses_mismatched_shapes_naming_them(void **state)
{
    (void)state;
    rb_tensor *a = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 3));
    rb_tensor *b = rb_tensor_zeros(RB_F32, RB_SHAPE(2, 4));
    CHECK_FAILS(rb_concat(2, (rb_tensor *[]){a, b}, 0), RB_ERR_SHAPE,
                "tensor 1 has shape [2,4], tensor 0 has [2,3]");
    CHECK_FAILS(rb_concat(2, (rb_tensor *[]){a, rb_tensor_zeros(RB_F32, RB_SHAPE(6))}, 0),
                RB_ERR_SHAPE, "[6]");
    CHECK_FAILS(rb_concat(2, (rb_tensor *[]){a, rb_tensor_zeros(RB_F64, RB_SHAPE(2, 3))}, 0),
                RB_ERR_DTYPE, "dtypes differ");
    CHECK_FAILS(rb_concat(2, (rb_tensor *[]){a, b}, 2), RB_ERR_AXIS, "axis 2");
    CHECK_FAILS(rb_concat(0, (rb_tensor *[]){a}, 0), RB_ERR_ARGUMENT, "at least one");
}

static void stack_joins_along_a_new_axis(void **state)
{
    (void)state;
    rb_tensor *a = T64(RB_SHAPE(3), 1, 2, 3);
    rb_tensor *b = T64(RB_SHAPE(3), 4, 5, 6);
    rb_tensor *s0 = rb_stack(2, (rb_tensor *[]){a, b}, 0);
    CHECK_SHAPE(s0, 2, 3);
    CHECK_TENSOR(s0, 0, 1, 2, 3, 4, 5, 6);
    rb_tensor *s1 = rb_stack(2, (rb_tensor *[]){a, b}, 1);
    CHECK_SHAPE(s1, 3, 2);
    CHECK_TENSOR(s1, 0, 1, 4, 2, 5, 3, 6);
    CHECK_SAME_BITS(rb_stack(2, (rb_tensor *[]){a, b}, -1), s1);
    rb_tensor *sc =
        rb_stack(2, (rb_tensor *[]){rb_tensor_scalar(RB_F32, 1), rb_tensor_scalar(RB_F32, 2)}, 0);
    CHECK_SHAPE(sc, 2);
    CHECK_TENSOR(sc, 0, 1, 2);
    CHECK_FAILS(rb_stack(2, (rb_tensor *[]){a, rb_tensor_zeros(RB_F64, RB_SHAPE(4))}, 0),
                RB_ERR_SHAPE, "tensor 1 has shape [4], tensor 0 has [3]");
}

static void stack_joins_more_than_64_tensors(void **state)
{
    (void)state;
    rb_tensor *xs[100];
    for (int i = 0; i < 100; i++)
        xs[i] = T64(RB_SHAPE(2), i, -i);
    rb_tensor *y = rb_stack(100, xs, 1);
    CHECK_SHAPE(y, 2, 100);
    for (int i = 0; i < 100; i++) {
        CHECK_CLOSE(rb_tensor_get(y, (int64_t[]){0, i}), i, 0);
        CHECK_CLOSE(rb_tensor_get(y, (int64_t[]){1, i}), -i, 0);
    }
}

static void pad_surrounds_with_a_constant(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 2), 1, 2, 3, 4);
    rb_tensor *p = rb_pad(x, (int64_t[]){1, 0}, (int64_t[]){0, 2}, -1);
    CHECK_SHAPE(p, 3, 4);
    CHECK_TENSOR(p, 0, -1, -1, -1, -1, 1, 2, -1, -1, 3, 4, -1, -1);
    rb_tensor *z = rb_pad(T32(RB_SHAPE(1), 5), (int64_t[]){2}, (int64_t[]){1}, 0);
    CHECK_TENSOR(z, 0, 0, 0, 5, 0);
    CHECK_SAME_BITS(rb_pad(x, (int64_t[]){0, 0}, (int64_t[]){0, 0}, 9), x);
    CHECK_FAILS(rb_pad(x, (int64_t[]){0, -1}, (int64_t[]){0, 0}, 0), RB_ERR_ARGUMENT,
                "negative padding on axis 1");
}

/* ---- gather, one_hot ---- */

static void gather_picks_rows_along_axis_zero(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3, 2), 10, 11, 20, 21, 30, 31);
    rb_tensor *g = rb_gather(x, TI64(RB_SHAPE(4), 2, 0, 2, 1), 0); /* repeated index 2 */
    CHECK_SHAPE(g, 4, 2);
    CHECK_TENSOR(g, 0, 30, 31, 10, 11, 30, 31, 20, 21);
}

static void gather_picks_columns_along_axis_one(void **state)
{
    (void)state;
    rb_tensor *x = T32(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    rb_tensor *g = rb_gather(x, TI64(RB_SHAPE(2), 2, 2), 1);
    CHECK_SHAPE(g, 2, 2);
    CHECK_TENSOR(g, 0, 3, 3, 6, 6);
    CHECK_SAME_BITS(rb_gather(x, TI64(RB_SHAPE(2), 0, 1), -1),
                    rb_slice(x, (int64_t[]){0, 0}, (int64_t[]){2, 2}, NULL));
}

static void gather_with_2d_indices_inserts_their_shape(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    rb_tensor *idx = TI64(RB_SHAPE(2, 2), 0, 2, 1, 1);
    rb_tensor *g = rb_gather(x, idx, 1); /* shape x[:1] + (2, 2) = (2, 2, 2) */
    CHECK_SHAPE(g, 2, 2, 2);
    CHECK_TENSOR(g, 0, 1, 3, 2, 2, 4, 6, 5, 5);
    rb_tensor *rows = rb_gather(x, TI64(RB_SHAPE(2, 2), 1, 0, 1, 1), 0); /* (2, 2, 3) */
    CHECK_SHAPE(rows, 2, 2, 3);
    CHECK_TENSOR(rows, 0, 4, 5, 6, 1, 2, 3, 4, 5, 6, 4, 5, 6);
}

static void gather_refuses_an_index_out_of_range_naming_it(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(3, 2));
    CHECK_FAILS(rb_gather(x, TI64(RB_SHAPE(3), 0, 5, 1), 0), RB_ERR_ARGUMENT,
                "index 5 at position 1");
    CHECK_FAILS(rb_gather(x, TI64(RB_SHAPE(1), -1), 0), RB_ERR_ARGUMENT, "index -1");
    CHECK_FAILS(rb_gather(x, TI64(RB_SHAPE(1), 2), 1), RB_ERR_ARGUMENT, "index 2");
    CHECK_FAILS(rb_gather(x, T32(RB_SHAPE(1), 0), 0), RB_ERR_DTYPE, "must be int64");
}

static void one_hot_sets_a_single_one_per_label(void **state)
{
    (void)state;
    rb_tensor *h = rb_one_hot(TI64(RB_SHAPE(3), 2, 0, 3), 4, RB_F32);
    assert_int_equal(rb_tensor_dtype(h), RB_F32);
    CHECK_SHAPE(h, 3, 4);
    CHECK_TENSOR(h, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1);
    rb_tensor *h2 = rb_one_hot(TI64(RB_SHAPE(2, 2), 1, 0, 0, 2), 3, RB_F64);
    assert_int_equal(rb_tensor_dtype(h2), RB_F64);
    CHECK_SHAPE(h2, 2, 2, 3);
    CHECK_TENSOR(h2, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1);
}

static void one_hot_refuses_labels_out_of_range(void **state)
{
    (void)state;
    CHECK_FAILS(rb_one_hot(TI64(RB_SHAPE(3), 0, 4, 1), 4, RB_F32), RB_ERR_ARGUMENT,
                "label 4 at position 1 is out of range for depth 4");
    CHECK_FAILS(rb_one_hot(TI64(RB_SHAPE(1), -1), 4, RB_F32), RB_ERR_ARGUMENT, "label -1");
    CHECK_FAILS(rb_one_hot(TI64(RB_SHAPE(1), 0), 0, RB_F32), RB_ERR_ARGUMENT, "depth 0");
    CHECK_FAILS(rb_one_hot(T32(RB_SHAPE(1), 0), 2, RB_F32), RB_ERR_DTYPE, "must be int64");
    CHECK_FAILS(rb_one_hot(TI64(RB_SHAPE(1), 0), 2, RB_I64), RB_ERR_DTYPE, "float32 or float64");
}

/* Steps and paddings near INT64_MAX are refused or handled, never wrapped. */
static void huge_steps_and_paddings_do_not_wrap(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_from_data(RB_F64, RB_SHAPE(6), (double[]){0, 1, 2, 3, 4, 5});
    const int64_t start[] = {1}, stop[] = {6}, step[] = {INT64_MAX};
    rb_tensor *one = rb_slice(x, start, stop, step); /* one element: x[1] */
    CHECK_OK(one);
    CHECK_SHAPE(one, 1);
    CHECK_TENSOR(one, 0, 1);
    CHECK_FAILS(rb_pad(x, (int64_t[]){INT64_MAX}, (int64_t[]){1}, 0), RB_ERR_SHAPE,
                "rb_pad: padding 9223372036854775807,1 on axis 0 of [6] is too large");
}

static void the_gradient_of_a_slice_with_a_huge_step_reaches_one_element(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_from_data(RB_F64, RB_SHAPE(2, 6),
                                       (double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x);
    const int64_t start[] = {0, 1}, stop[] = {2, 6}, step[] = {1, INT64_MAX};
    rb_tensor *y = rb_sum(rb_slice(x, start, stop, step), 0, NULL, false);
    rb_tensor *g = NULL;
    assert_int_equal(rb_tape_gradient(tape, y, 1, &x, &g), RB_OK);
    CHECK_TENSOR(g, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0);
    rb_tape_end(tape);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(reshape_infers_one_extent_from_minus_one),
        TEST(reshape_of_a_contiguous_tensor_is_a_view_sharing_data),
        TEST(reshape_of_a_strided_view_copies_in_row_major_order),
        TEST(reshape_refuses_wrong_sizes_and_ambiguous_shapes),
        TEST(flatten_keeps_the_batch_axis),
        TEST(expand_dims_inserts_an_axis_of_one),
        TEST(squeeze_removes_an_axis_of_one_and_refuses_others),
        TEST(permute_reorders_axes_as_a_view),
        TEST(permute_refuses_repeated_or_out_of_range_entries),
        TEST(transpose_swaps_two_axes),
        TEST(broadcast_to_repeats_along_new_and_unit_axes),
        TEST(broadcast_to_refuses_incompatible_shapes),
        TEST(sum_to_sums_the_broadcast_axes),
        TEST(contiguous_copies_a_view_into_row_major_order),
        TEST(cast_rounds_to_float32_and_widens_exactly),
        TEST(cast_to_int64_truncates_toward_zero_and_back),
        TEST(slice_takes_ranges_with_steps),
        TEST(slice_counts_negative_bounds_from_the_end),
        TEST(slice_clips_bounds_beyond_the_end),
        TEST(slice_can_be_empty),
        TEST(slice_refuses_a_step_that_is_not_positive),
        TEST(the_gradient_of_a_slice_stepping_on_the_last_axis_lands_on_the_taken_elements),
        TEST(the_gradient_of_a_slice_stepping_on_every_axis_lands_on_the_taken_elements),
        TEST(gradients_of_overlapping_stepped_slices_add_up),
        TEST(the_gradient_of_a_slice_of_a_stepped_slice_composes_their_steps),
        TEST(the_gradient_of_a_stepped_slice_of_a_transposed_view_lands_on_the_taken_elements),
        TEST(elementwise_kernels_write_through_a_stepped_output_view),
        TEST(where_writes_through_a_stepped_output_view),
        TEST(concat_joins_along_axis_zero_and_one),
        TEST(concat_accepts_strided_views),
        TEST(concat_refuses_mismatched_shapes_naming_them),
        TEST(stack_joins_along_a_new_axis),
        TEST(stack_joins_more_than_64_tensors),
        TEST(pad_surrounds_with_a_constant),
        TEST(gather_picks_rows_along_axis_zero),
        TEST(gather_picks_columns_along_axis_one),
        TEST(gather_with_2d_indices_inserts_their_shape),
        TEST(gather_refuses_an_index_out_of_range_naming_it),
        TEST(one_hot_sets_a_single_one_per_label),
        TEST(one_hot_refuses_labels_out_of_range),
        TEST(huge_steps_and_paddings_do_not_wrap),
        TEST(the_gradient_of_a_slice_with_a_huge_step_reaches_one_element),
    };
    return RUN_TESTS(tests, argc, argv);
}
