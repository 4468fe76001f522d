/* Every op's gradient against finite differences in float64, on random shapes including
 * broadcasting; second derivatives for the elementwise, matmul, reduction and shape ops.
 * One test walks the op table: an op without a case here fails the suite. */
#include <stdlib.h>

#include "testutil.h"

/* Value domains for random inputs, chosen away from the ops' kinks and poles. */
typedef enum domain { ANY, POS, NONZERO, UNIT, LABELS } domain;

typedef struct input_spec {
    const char *shape; /* "3x4", "" for a scalar */
    domain dom;
    int64_t classes; /* LABELS: values in [0, classes) */
} input_spec;

typedef struct op_case {
    const char *label;  /* test name */
    const char *covers; /* op table names this case exercises, comma-separated */
    rb_fn fn;
    int n;
    input_spec in[4];
    bool gradgrad;
} op_case;

#define X(i) (x[i])
#define FN(name, expr)                                                                             \
    static rb_tensor *name(rb_tensor *const *x, int n, void *ud)                                   \
    {                                                                                              \
        (void)n;                                                                                   \
        (void)ud;                                                                                  \
        return (expr);                                                                             \
    }

/* arithmetic */
FN(f_add, rb_add(X(0), X(1)))
FN(f_sub, rb_sub(X(0), X(1)))
FN(f_mul, rb_mul(X(0), X(1)))
FN(f_div, rb_div(X(0), X(1)))
FN(f_pow, rb_pow(X(0), X(1)))
FN(f_maximum, rb_maximum(X(0), X(1)))
FN(f_minimum, rb_minimum(X(0), X(1)))
FN(f_add_scalar, rb_add_scalar(X(0), 1.5))
FN(f_mul_scalar, rb_mul_scalar(X(0), -2.5))
FN(f_pow_scalar, rb_pow_scalar(X(0), 2.5))
FN(f_pow_scalar2, rb_pow_scalar(X(0), 2.0))
/* unary */
FN(f_neg, rb_neg(X(0)))
FN(f_square, rb_square(X(0)))
FN(f_sqrt, rb_sqrt(X(0)))
FN(f_rsqrt, rb_rsqrt(X(0)))
FN(f_exp, rb_exp(X(0)))
FN(f_log, rb_log(X(0)))
FN(f_abs, rb_abs(X(0)))
FN(f_sign, rb_mul(rb_sign(X(0)), rb_square(X(0))))
FN(f_clamp, rb_clamp(X(0), -0.5, 0.5))
FN(f_erf, rb_erf(X(0)))
/* activations */
FN(f_relu, rb_relu(X(0)))
/* The same mask at every evaluation: a generator made afresh from one seed each call. */
static rb_tensor *f_dropout(rb_tensor *const *x, int n, void *ud)
{
    (void)n;
    (void)ud;
    rb_rng rng = rb_rng_make(7);
    return rb_mul(rb_dropout(X(0), 0.4, &rng), X(0)); /* x^2 where kept: a second derivative */
}
FN(f_relu_sq, rb_mul(rb_relu(X(0)), X(0)))
FN(f_leaky, rb_leaky_relu(X(0), 0.1))
FN(f_elu, rb_elu(X(0), 1.3))
FN(f_selu, rb_selu(X(0)))
FN(f_sigmoid, rb_sigmoid(X(0)))
FN(f_tanh, rb_tanh(X(0)))
FN(f_softplus, rb_softplus(X(0)))
FN(f_gelu, rb_gelu(X(0)))
FN(f_softmax_last, rb_softmax(X(0), -1))
FN(f_softmax_first, rb_softmax(X(0), 0))
FN(f_log_softmax, rb_log_softmax(X(0), 1))
FN(f_ce_sparse, rb_softmax_cross_entropy(X(0), X(1)))
FN(f_ce_dense, rb_softmax_cross_entropy(X(0), rb_softmax(X(1), 1)))
/* selection */
FN(f_where, rb_where(rb_greater(X(2), rb_tensor_scalar(RB_F64, 0)), X(0), X(1)))
FN(f_greater, rb_where(rb_greater(X(0), X(1)), rb_mul_scalar(X(0), 2), X(1)))
FN(f_greater_equal, rb_where(rb_greater_equal(X(0), X(1)), rb_mul_scalar(X(0), 2), X(1)))
FN(f_less, rb_where(rb_less(X(0), X(1)), rb_mul_scalar(X(0), 2), X(1)))
FN(f_less_equal, rb_where(rb_less_equal(X(0), X(1)), rb_mul_scalar(X(0), 2), X(1)))
FN(f_equal, rb_mul(rb_add_scalar(rb_equal(X(0), X(1)), 1), X(0)))
FN(f_not_equal, rb_mul(rb_not_equal(X(0), X(1)), X(0)))
/* reductions */
FN(f_sum_all, rb_sum(X(0), RB_ALL_AXES, false))
FN(f_sum_axes, rb_sum(X(0), RB_AXES(0, 2), true))
FN(f_sum_last, rb_sum(X(0), RB_AXES(-1), false))
FN(f_mean, rb_mean(X(0), RB_AXES(1), false))
FN(f_max, rb_max(X(0), RB_AXES(1), false))
FN(f_max_all, rb_max(X(0), RB_ALL_AXES, false))
FN(f_min, rb_min(X(0), RB_AXES(0), true))
FN(f_var, rb_var(X(0), RB_AXES(0), false, 1))
FN(f_argmax, rb_mul(X(0), rb_one_hot(rb_argmax(X(0), 1, false), 4, RB_F64)))
FN(f_argmin, rb_mul(X(0), rb_one_hot(rb_argmin(X(0), 1, false), 4, RB_F64)))
/* shapes */
FN(f_reshape, rb_reshape(X(0), RB_SHAPE(4, -1)))
FN(f_reshape_copy, rb_reshape(rb_transpose(X(0), 0, 1), RB_SHAPE(12)))
FN(f_permute, rb_permute(X(0), (const int[]){2, 0, 1}))
FN(f_transpose_mul, rb_mul(rb_transpose(X(0), 0, 1), X(1)))
FN(f_broadcast_to, rb_broadcast_to(X(0), RB_SHAPE(2, 3, 4)))
FN(f_sum_to, rb_sum_to(X(0), RB_SHAPE(3, 1)))
FN(f_copy, rb_contiguous(rb_transpose(X(0), 0, 1)))
FN(f_cast, rb_cast(X(0), RB_F64))
FN(f_expand_squeeze, rb_squeeze(rb_mul(rb_expand_dims(X(0), 1), rb_expand_dims(X(0), 1)), 1))
FN(f_flatten, rb_flatten(X(0)))
/* indexing */
FN(f_slice,
   rb_slice(X(0), (const int64_t[]){1, -3}, (const int64_t[]){4, 5}, (const int64_t[]){2, 1}))
/* Steps on the last axis, on every axis, slices of slices and of a transposed view, and two
 * overlapping slices whose gradients add into the same elements. */
FN(f_slice_last_step,
   rb_slice(X(0), (const int64_t[]){1}, (const int64_t[]){6}, (const int64_t[]){2}))
FN(f_slice_columns_step,
   rb_slice(X(0), (const int64_t[]){0, 0}, (const int64_t[]){2, 6}, (const int64_t[]){1, 2}))
FN(f_slice_every_axis, rb_slice(X(0), (const int64_t[]){0, 1, 1}, (const int64_t[]){3, 4, 5},
                                (const int64_t[]){2, 2, 3}))
FN(f_slice_of_slice,
   rb_slice(rb_slice(X(0), (const int64_t[]){0, 1}, (const int64_t[]){5, 6},
                     (const int64_t[]){2, 2}),
            (const int64_t[]){0, 0}, (const int64_t[]){3, 3}, (const int64_t[]){2, 2}))
FN(f_slice_of_transpose, rb_slice(rb_transpose(X(0), 0, 1), (const int64_t[]){0, 1},
                                  (const int64_t[]){5, 4}, (const int64_t[]){3, 2}))
FN(f_slices_overlapping,
   rb_add(rb_slice(X(0), (const int64_t[]){0}, (const int64_t[]){8}, (const int64_t[]){2}),
          rb_mul_scalar(rb_slice(X(0), (const int64_t[]){0}, (const int64_t[]){10},
                                 (const int64_t[]){3}),
                        -1.5)))
FN(f_concat, rb_concat(3, (rb_tensor *[]){X(0), X(1), X(2)}, 1))
FN(f_stack, rb_stack(2, (rb_tensor *[]){X(0), X(1)}, 1))
FN(f_pad, rb_pad(X(0), (const int64_t[]){1, 0}, (const int64_t[]){2, 1}, 0.5))
FN(f_gather0, rb_gather(X(0), X(1), 0))
FN(f_gather1, rb_gather(X(0), X(1), 1))
/* matrix products */
FN(f_matmul, rb_matmul(X(0), X(1)))
FN(f_matmul_t, rb_matmul(rb_transpose(X(0), 0, 1), X(1)))
FN(f_matvec, rb_matmul(X(0), X(1)))
FN(f_linear, rb_linear(X(0), X(1), X(2)))
FN(f_linear_nobias, rb_linear(X(0), X(1), NULL))
/* losses */
FN(f_mse, rb_mse(X(0), X(1)))
FN(f_mae, rb_mae(X(0), X(1)))
FN(f_huber, rb_huber(X(0), X(1), 1.0))
FN(f_bce, rb_bce(X(0), X(1)))
FN(f_bce_logits, rb_bce_logits(X(0), X(1)))
FN(f_cce, rb_cce(rb_softmax(X(0), 1), rb_softmax(X(1), 1)))
FN(f_sparse_cce, rb_sparse_cce(rb_softmax(X(0), 1), X(1)))
FN(f_nll, rb_nll(rb_log_softmax(X(0), 1), X(1)))
/* convolution and pooling */
static const rb_window2d SAME = {.padding = RB_PAD_SAME};
FN(f_im2col, rb_im2col(X(0), 2, 3,
                       (rb_window2d){.stride = {2, 1},
                                     .dilation = {1, 2},
                                     .padding = RB_PAD_EXPLICIT,
                                     .pad = {1, 0, 2, 1}},
                       0.0))
FN(f_col2im, rb_col2im(X(0), 4, 5, (rb_window2d){.stride = {1, 2}, .padding = RB_PAD_SAME}))
FN(f_conv2d, rb_conv2d(X(0), X(1), X(2), SAME))
FN(f_conv2d_strided, rb_conv2d(X(0), X(1), NULL,
                               (rb_window2d){.stride = {2, 2},
                                             .dilation = {1, 2},
                                             .padding = RB_PAD_EXPLICIT,
                                             .pad = {1, 1, 0, 2}}))
FN(f_conv2d_relu, rb_conv2d_ex(X(0), X(1), X(2), SAME, RB_EPILOGUE_RELU))
FN(f_linear_relu, rb_linear_ex(X(0), X(1), X(2), RB_EPILOGUE_RELU))
FN(f_conv2d_groups, rb_conv2d(X(0), X(1), X(2), (rb_window2d){.groups = 2}))
FN(f_conv2d_pointwise, rb_conv2d(X(0), X(1), X(2), (rb_window2d){0}))
FN(f_conv1d, rb_conv1d(X(0), X(1), X(2), (rb_window1d){.stride = 2, .padding = RB_PAD_SAME}))
FN(f_conv2d_transpose,
   rb_conv2d_transpose(X(0), X(1), X(2),
                       (rb_window2d){
                           .stride = {2, 2}, .padding = RB_PAD_SAME, .output_padding = {1, 0}}))
FN(f_max_pool, rb_max_pool2d(X(0), 2, 2, (rb_window2d){0}))
FN(f_max_pool_same,
   rb_max_pool2d(X(0), 3, 3, (rb_window2d){.stride = {2, 2}, .padding = RB_PAD_SAME}))
FN(f_avg_pool_same, rb_avg_pool2d(X(0), 2, 3, (rb_window2d){.padding = RB_PAD_SAME}))
FN(f_max_abs_pool, rb_max_abs_pool2d(X(0), 2, 2, (rb_window2d){0}))
FN(f_pool1d,
   rb_add(rb_max_pool1d(X(0), 2, (rb_window1d){0}), rb_avg_pool1d(X(0), 2, (rb_window1d){0})))
FN(f_global_pools, rb_add(rb_global_avg_pool2d(X(0)), rb_global_max_pool2d(X(0))))
FN(f_take, rb_take(X(0), X(1)))
FN(f_moments, rb_moments(X(0)))
FN(f_batch_norm, rb_batch_norm(X(0), X(1), X(2), X(3), 1e-3))
FN(f_bn_composed, rb_batch_norm(X(0), rb_moments(X(0)), X(1), X(2), 1e-3))
FN(f_bn_train, rb_batch_norm_train(X(0), X(1), X(2), NULL, NULL, 0, 1e-3, RB_EPILOGUE_NONE))
FN(f_bn_train_relu, rb_batch_norm_train(X(0), X(1), X(2), NULL, NULL, 0, 1e-3, RB_EPILOGUE_RELU))
/* Three steps of 2 rows, 2 units: xw (6, 8), U (2, 8), h0 and c0 (2, 2). */
FN(f_lstm_sequence, rb_lstm_sequence(X(0), X(1), X(2), X(3), 3))
FN(f_bn_relu, rb_batch_norm_ex(X(0), X(1), X(2), X(3), 1e-3, RB_EPILOGUE_RELU))
FN(f_upsample, rb_mul(rb_upsample2d(X(0), 2, 3), rb_upsample2d(X(0), 2, 3)))

/* a small MLP: composition of everything a training step uses */
FN(f_mlp,
   rb_softmax_cross_entropy(rb_linear(rb_tanh(rb_linear(X(0), X(1), X(2))), X(3), NULL),
                            rb_tensor_from_data(RB_I64, RB_SHAPE(3), (const int64_t[]){0, 2, 1})))

#define IN(s, d)                                                                                   \
    {                                                                                              \
        s, d, 0                                                                                    \
    }
#define LAB(s, k)                                                                                  \
    {                                                                                              \
        s, LABELS, k                                                                               \
    }

static const op_case cases[] = {
    {"add_same_shape", "add", f_add, 2, {IN("3x4", ANY), IN("3x4", ANY)}, true},
    {"add_broadcast_row", "add", f_add, 2, {IN("3x4", ANY), IN("4", ANY)}, true},
    {"add_broadcast_both", "add", f_add, 2, {IN("3x1", ANY), IN("1x4", ANY)}, true},
    {"sub_broadcast", "sub", f_sub, 2, {IN("2x3", ANY), IN("2x1", ANY)}, true},
    {"mul_broadcast_3d", "mul", f_mul, 2, {IN("2x3x4", ANY), IN("3x1", ANY)}, true},
    {"mul_scalar_tensor", "mul", f_mul, 2, {IN("2x3", ANY), IN("", ANY)}, true},
    {"div_broadcast", "div", f_div, 2, {IN("3x4", ANY), IN("4", NONZERO)}, true},
    {"pow_tensors", "pow", f_pow, 2, {IN("2x3", POS), IN("2x3", ANY)}, true},
    {"maximum", "maximum", f_maximum, 2, {IN("3x4", ANY), IN("4", ANY)}, true},
    {"minimum", "minimum", f_minimum, 2, {IN("3x4", ANY), IN("3x4", ANY)}, true},
    {"add_scalar", "add_scalar", f_add_scalar, 1, {IN("2x3", ANY)}, true},
    {"mul_scalar", "mul_scalar", f_mul_scalar, 1, {IN("2x3", ANY)}, true},
    {"pow_scalar", "pow_scalar", f_pow_scalar, 1, {IN("2x3", POS)}, true},
    {"pow_scalar_square", "pow_scalar", f_pow_scalar2, 1, {IN("2x3", ANY)}, true},
    {"neg", "neg", f_neg, 1, {IN("2x3", ANY)}, true},
    {"square", "square", f_square, 1, {IN("2x3", ANY)}, true},
    {"sqrt", "sqrt", f_sqrt, 1, {IN("2x3", POS)}, true},
    {"rsqrt", "rsqrt", f_rsqrt, 1, {IN("2x3", POS)}, true},
    {"exp", "exp", f_exp, 1, {IN("2x3", ANY)}, true},
    {"log", "log", f_log, 1, {IN("2x3", POS)}, true},
    {"abs", "abs", f_abs, 1, {IN("2x3", NONZERO)}, true},
    {"sign_times_square", "sign", f_sign, 1, {IN("2x3", NONZERO)}, true},
    {"clamp", "clamp", f_clamp, 1, {IN("3x4", ANY)}, true},
    {"erf", "erf", f_erf, 1, {IN("2x3", ANY)}, true},
    {"relu", "relu,relu_grad", f_relu, 1, {IN("3x4", NONZERO)}, true},
    {"dropout", "dropout", f_dropout, 1, {IN("5x7", ANY)}, true},
    {"relu_times_x", "relu,relu_grad", f_relu_sq, 1, {IN("3x4", NONZERO)}, true},
    {"leaky_relu", "leaky_relu", f_leaky, 1, {IN("3x4", NONZERO)}, true},
    {"elu", "elu", f_elu, 1, {IN("3x4", NONZERO)}, true},
    {"selu", "elu", f_selu, 1, {IN("3x4", NONZERO)}, true},
    {"sigmoid", "sigmoid,sigmoid_grad", f_sigmoid, 1, {IN("3x4", ANY)}, true},
    {"tanh", "tanh,tanh_grad", f_tanh, 1, {IN("3x4", ANY)}, true},
    {"softplus", "softplus", f_softplus, 1, {IN("3x4", ANY)}, true},
    {"gelu", "gelu", f_gelu, 1, {IN("3x4", ANY)}, true},
    {"softmax_last_axis", "softmax", f_softmax_last, 1, {IN("3x5", ANY)}, true},
    {"softmax_first_axis", "softmax", f_softmax_first, 1, {IN("4x2x3", ANY)}, true},
    {"log_softmax", "log_softmax", f_log_softmax, 1, {IN("3x5", ANY)}, true},
    {"softmax_cross_entropy_labels",
     "softmax_cross_entropy,one_hot",
     f_ce_sparse,
     2,
     {IN("5x4", ANY), LAB("5", 4)},
     true},
    {"softmax_cross_entropy_probabilities",
     "softmax_cross_entropy",
     f_ce_dense,
     2,
     {IN("5x4", ANY), IN("5x4", ANY)},
     true},
    {"where", "where", f_where, 3, {IN("3x4", ANY), IN("4", ANY), IN("3x4", NONZERO)}, true},
    {"greater", "greater", f_greater, 2, {IN("3x4", ANY), IN("3x4", ANY)}, false},
    {"greater_equal", "greater_equal", f_greater_equal, 2, {IN("3x4", ANY), IN("4", ANY)}, false},
    {"less", "less", f_less, 2, {IN("3x4", ANY), IN("3x4", ANY)}, false},
    {"less_equal", "less_equal", f_less_equal, 2, {IN("3x4", ANY), IN("3x4", ANY)}, false},
    {"equal", "equal", f_equal, 2, {IN("3x4", ANY), IN("3x4", ANY)}, false},
    {"not_equal", "not_equal", f_not_equal, 2, {IN("3x4", ANY), IN("3x4", ANY)}, false},
    {"sum_all", "sum", f_sum_all, 1, {IN("3x4", ANY)}, true},
    {"sum_axes_keepdims", "sum", f_sum_axes, 1, {IN("2x3x4", ANY)}, true},
    {"sum_last_axis", "sum", f_sum_last, 1, {IN("2x3x4", ANY)}, true},
    {"mean", "sum,mul_scalar", f_mean, 1, {IN("3x4", ANY)}, true},
    {"max_axis", "max", f_max, 1, {IN("3x4", ANY)}, true},
    {"max_all", "max", f_max_all, 1, {IN("3x4", ANY)}, true},
    {"min_keepdims", "min", f_min, 1, {IN("3x4", ANY)}, true},
    {"var", "sum,sub,square", f_var, 1, {IN("4x3", ANY)}, true},
    {"argmax_selects", "argmax,one_hot", f_argmax, 1, {IN("3x4", ANY)}, false},
    {"argmin_selects", "argmin,one_hot", f_argmin, 1, {IN("3x4", ANY)}, false},
    {"reshape_view", "reshape", f_reshape, 1, {IN("2x6", ANY)}, true},
    {"reshape_copy", "reshape", f_reshape_copy, 1, {IN("3x4", ANY)}, true},
    {"permute", "permute", f_permute, 1, {IN("2x3x4", ANY)}, true},
    {"transpose_mul", "permute,mul", f_transpose_mul, 2, {IN("3x2", ANY), IN("2x3", ANY)}, true},
    {"broadcast_to", "broadcast_to", f_broadcast_to, 1, {IN("3x1", ANY)}, true},
    {"sum_to", "sum,reshape", f_sum_to, 1, {IN("2x3x4", ANY)}, true},
    {"copy", "copy", f_copy, 1, {IN("3x4", ANY)}, true},
    {"cast", "cast", f_cast, 1, {IN("3x4", ANY)}, true},
    {"expand_dims_squeeze", "reshape", f_expand_squeeze, 1, {IN("3x4", ANY)}, true},
    {"flatten", "reshape", f_flatten, 1, {IN("2x3x2", ANY)}, true},
    {"slice_steps_negative", "slice,slice_scatter", f_slice, 1, {IN("5x6", ANY)}, true},
    {"slice_step_last_axis", "slice,slice_scatter", f_slice_last_step, 1, {IN("6", ANY)}, true},
    {"slice_step_columns", "slice,slice_scatter", f_slice_columns_step, 1, {IN("2x6", ANY)}, true},
    {"slice_step_every_axis", "slice", f_slice_every_axis, 1, {IN("3x4x5", ANY)}, true},
    {"slice_of_a_slice", "slice,slice_scatter", f_slice_of_slice, 1, {IN("5x6", ANY)}, true},
    {"slice_of_a_transpose", "slice,permute", f_slice_of_transpose, 1, {IN("4x5", ANY)}, true},
    {"slices_overlapping", "slice,add", f_slices_overlapping, 1, {IN("10", ANY)}, true},
    {"concat", "concat", f_concat, 3, {IN("2x1", ANY), IN("2x3", ANY), IN("2x2", ANY)}, true},
    {"stack", "concat,reshape", f_stack, 2, {IN("2x3", ANY), IN("2x3", ANY)}, true},
    {"pad", "pad", f_pad, 1, {IN("2x3", ANY)}, true},
    {"gather_rows_repeated",
     "gather,gather_scatter",
     f_gather0,
     2,
     {IN("4x3", ANY), LAB("5", 4)},
     true},
    {"gather_columns_2d_indices",
     "gather,gather_scatter",
     f_gather1,
     2,
     {IN("2x5x2", ANY), LAB("2x3", 5)},
     true},
    {"matmul", "matmul", f_matmul, 2, {IN("3x4", ANY), IN("4x5", ANY)}, true},
    {"matmul_transposed_view",
     "matmul,permute",
     f_matmul_t,
     2,
     {IN("4x3", ANY), IN("4x2", ANY)},
     true},
    {"matmul_batched_broadcast", "matmul", f_matmul, 2, {IN("2x3x4", ANY), IN("4x5", ANY)}, true},
    {"matmul_batch_both", "matmul", f_matmul, 2, {IN("2x1x3x4", ANY), IN("3x4x2", ANY)}, true},
    {"matmul_matrix_vector", "matmul,reshape", f_matvec, 2, {IN("3x4", ANY), IN("4", ANY)}, true},
    {"matmul_vector_matrix", "matmul,reshape", f_matvec, 2, {IN("4", ANY), IN("4x3", ANY)}, true},
    {"matmul_dot", "matmul,reshape", f_matvec, 2, {IN("4", ANY), IN("4", ANY)}, true},
    {"linear", "linear", f_linear, 3, {IN("5x4", ANY), IN("4x3", ANY), IN("3", ANY)}, true},
    {"linear_3d_input",
     "linear,reshape",
     f_linear,
     3,
     {IN("2x3x4", ANY), IN("4x3", ANY), IN("3", ANY)},
     true},
    {"linear_without_bias", "matmul", f_linear_nobias, 2, {IN("5x4", ANY), IN("4x3", ANY)}, true},
    {"mse", "sub,square", f_mse, 2, {IN("4x3", ANY), IN("4x3", ANY)}, true},
    {"mae", "abs", f_mae, 2, {IN("4x3", ANY), IN("4x3", ANY)}, true},
    {"huber", "where,abs", f_huber, 2, {IN("4x3", ANY), IN("4x3", ANY)}, true},
    {"bce", "log,clamp", f_bce, 2, {IN("4x3", UNIT), IN("4x3", UNIT)}, true},
    {"bce_logits", "softplus", f_bce_logits, 2, {IN("4x3", ANY), IN("4x3", UNIT)}, true},
    {"cce", "log,clamp", f_cce, 2, {IN("4x3", ANY), IN("4x3", ANY)}, true},
    {"sparse_cce", "one_hot", f_sparse_cce, 2, {IN("4x3", ANY), LAB("4", 3)}, true},
    {"nll", "log_softmax,one_hot", f_nll, 2, {IN("4x3", ANY), LAB("4", 3)}, true},
    {"im2col_strided_dilated_padded", "im2col,col2im", f_im2col, 1, {IN("2x4x5x3", ANY)}, true},
    {"col2im", "col2im,im2col", f_col2im, 1, {IN("2x4x3x1x3x2", ANY)}, true},
    {"conv2d_same_bias",
     "conv2d,im2col,col2im",
     f_conv2d,
     3,
     {IN("2x5x4x3", ANY), IN("3x3x3x4", ANY), IN("4", ANY)},
     true},
    {"conv2d_stride_dilation_padding",
     "im2col,matmul",
     f_conv2d_strided,
     2,
     {IN("2x6x7x2", ANY), IN("2x3x2x3", ANY)},
     true},
    {"conv2d_relu_epilogue",
     "conv2d",
     f_conv2d_relu,
     3,
     {IN("2x4x4x2", ANY), IN("3x3x2x3", ANY), IN("3", ANY)},
     true},
    {"linear_relu_epilogue",
     "linear",
     f_linear_relu,
     3,
     {IN("5x4", ANY), IN("4x3", ANY), IN("3", ANY)},
     true},
    {"conv2d_groups",
     "im2col,matmul,permute",
     f_conv2d_groups,
     3,
     {IN("2x4x4x4", ANY), IN("2x2x2x6", ANY), IN("6", ANY)},
     true},
    {"conv2d_pointwise",
     "linear",
     f_conv2d_pointwise,
     3,
     {IN("2x3x3x3", ANY), IN("1x1x3x2", ANY), IN("2", ANY)},
     true},
    {"conv1d", "im2col", f_conv1d, 3, {IN("2x7x3", ANY), IN("3x3x2", ANY), IN("2", ANY)}, true},
    {"conv2d_transpose",
     "col2im,matmul",
     f_conv2d_transpose,
     3,
     {IN("2x3x2x3", ANY), IN("3x3x2x3", ANY), IN("2", ANY)},
     true},
    {"max_pool2d", "max_pool2d,scatter_add,take", f_max_pool, 1, {IN("2x4x6x3", ANY)}, true},
    {"max_pool2d_same_padding",
     "max_pool2d,scatter_add",
     f_max_pool_same,
     1,
     {IN("1x5x5x2", ANY)},
     true},
    {"avg_pool2d_same_padding",
     "avg_pool2d,avg_unpool2d",
     f_avg_pool_same,
     1,
     {IN("2x3x5x2", ANY)},
     true},
    {"max_abs_pool2d", "max_pool2d", f_max_abs_pool, 1, {IN("2x4x4x3", NONZERO)}, true},
    {"pool1d", "max_pool2d,avg_pool2d", f_pool1d, 1, {IN("2x6x3", ANY)}, true},
    {"moments", "moments", f_moments, 1, {IN("3x2x4", ANY)}, true},
    {"batch_norm_given_stats",
     "batch_norm",
     f_batch_norm,
     4,
     {IN("5x3", ANY), IN("2x3", POS), IN("3", ANY), IN("3", ANY)},
     true},
    {"batch_norm_of_moments",
     "batch_norm,moments",
     f_bn_composed,
     3,
     {IN("4x2x3", ANY), IN("3", ANY), IN("3", ANY)},
     true},
    {"batch_norm_train",
     "batch_norm_train",
     f_bn_train,
     3,
     {IN("4x2x3", ANY), IN("3", ANY), IN("3", ANY)},
     true},
    {"batch_norm_train_relu",
     "batch_norm_train",
     f_bn_train_relu,
     3,
     {IN("5x3", ANY), IN("3", NONZERO), IN("3", ANY)},
     true},
    {"lstm_sequence",
     "lstm_sequence",
     f_lstm_sequence,
     4,
     {IN("6x8", ANY), IN("2x8", ANY), IN("2x2", ANY), IN("2x2", ANY)},
     true},
    {"batch_norm_relu",
     "batch_norm",
     f_bn_relu,
     4,
     {IN("5x3", ANY), IN("2x3", POS), IN("3", NONZERO), IN("3", ANY)},
     true},
    {"take", "take,scatter_add", f_take, 2, {IN("3x4", ANY), LAB("2x3", 12)}, true},
    {"global_pools", "sum,max", f_global_pools, 1, {IN("2x3x4x3", ANY)}, true},
    {"upsample2d", "broadcast_to", f_upsample, 1, {IN("2x2x3x2", ANY)}, true},
    {"mlp_composition",
     "linear,tanh,softmax_cross_entropy",
     f_mlp,
     4,
     {IN("3x4", ANY), IN("4x5", ANY), IN("5", ANY), IN("5x3", ANY)},
     true},
};

enum { N_CASES = sizeof cases / sizeof cases[0] };

static int parse_shape(const char *s, int64_t *shape)
{
    int nd = 0;
    while (*s) {
        shape[nd++] = strtoll(s, (char **)&s, 10);
        if (*s == 'x') s++;
    }
    return nd;
}

static rb_tensor *make_input(const input_spec *in, rb_rng *rng)
{
    int64_t shape[RB_MAX_DIMS];
    int nd = parse_shape(in->shape, shape);
    if (in->dom == LABELS) {
        rb_tensor *t = rb_tensor_empty(RB_I64, nd, shape);
        for (int64_t i = 0; i < rb_tensor_size(t); i++)
            rb_tensor_i64(t)[i] = rb_rng_below(rng, in->classes);
        return t;
    }
    rb_tensor *t = rb_tensor_empty(RB_F64, nd, shape);
    double *d = rb_tensor_f64(t);
    for (int64_t i = 0; i < rb_tensor_size(t); i++) {
        double u = rb_rng_uniform(rng);
        switch (in->dom) {
        case ANY: d[i] = 4 * u - 2; break;
        case POS: d[i] = 0.3 + 1.7 * u; break;
        case NONZERO: d[i] = (u < 0.5 ? -1 : 1) * (0.1 + 1.8 * fabs(2 * u - 1)); break;
        case UNIT: d[i] = 0.05 + 0.9 * u; break;
        case LABELS: break;
        }
    }
    return t;
}

/* Each case is a cmocka test whose state is the case; it runs in its own scope. */
static void run_case(void **state)
{
    const op_case *c = *state;
    rb_error_clear();
    rb_scope *scope = rb_scope_begin();
    rb_rng rng = rb_rng_make(1234);
    rb_tensor *in[4];
    for (int i = 0; i < c->n; i++)
        in[i] = make_input(&c->in[i], &rng);
    rb_gradcheck_report r;
    bool ok = rb_gradcheck(c->fn, NULL, c->n, in, NULL, &r);
    if (!ok) fail_msg("%s: %s", c->label, r.message);
    if (r.checked == 0) fail_msg("%s: nothing was checked (%s)", c->label, r.message);
    if (c->gradgrad) {
        ok = rb_gradgradcheck(c->fn, NULL, c->n, in, NULL, &r);
        if (!ok) fail_msg("%s second order: %s", c->label, r.message);
    }
    rb_scope_end(scope);
    if (rb_last_status() != RB_OK) fail_msg("%s left an error: %s", c->label, rb_last_error());
}

static bool covered(const char *op)
{
    size_t len = strlen(op);
    for (int k = 0; k < N_CASES; k++) {
        const char *p = cases[k].covers;
        while ((p = strstr(p, op)) != NULL) {
            bool starts = p == cases[k].covers || p[-1] == ',';
            bool ends = p[len] == '\0' || p[len] == ',';
            if (starts && ends) return true;
            p += len;
        }
    }
    return false;
}

static void every_op_in_the_table_has_a_gradcheck_case(void **state)
{
    (void)state;
    for (int k = 0; k < rb_op_count(); k++)
        if (!covered(rb_op_name(k))) fail_msg("op '%s' has no gradcheck case", rb_op_name(k));
}

int main(int argc, char **argv)
{
    struct CMUnitTest tests[N_CASES + 1];
    for (int k = 0; k < N_CASES; k++) {
        tests[k] = (struct CMUnitTest){cases[k].label, run_case, NULL, NULL, (void *)&cases[k]};
    }
    tests[N_CASES] =
        (struct CMUnitTest)cmocka_unit_test(every_op_in_the_table_has_a_gradcheck_case);
    cmocka_set_message_output(CM_OUTPUT_TAP);
    if (argc > 1) cmocka_set_test_filter(argv[1]);
    return _cmocka_run_group_tests("gradcheck_ops", tests, N_CASES + 1, NULL, NULL);
}
