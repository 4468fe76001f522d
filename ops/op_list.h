/* The list of built-in ops: X(name, arity, DIFF|NODIFF). Adding an op is one line here plus
 * rb__fwd_<name> (and rb__bwd_<name> when DIFF) in its family's file under ops/. The enum,
 * the name table and the descriptor table are all generated from this list. */
#ifndef RUBAN_SRC_OP_LIST_H
#define RUBAN_SRC_OP_LIST_H

#define RB__OP_LIST(X)                                                                             \
    /* arithmetic with broadcasting (ops/arith.c) */                                               \
    X(add, 2, DIFF)                                                                                \
    X(sub, 2, DIFF)                                                                                \
    X(mul, 2, DIFF)                                                                                \
    X(div, 2, DIFF)                                                                                \
    X(pow, 2, DIFF)                                                                                \
    X(maximum, 2, DIFF)                                                                            \
    X(minimum, 2, DIFF)                                                                            \
    X(add_scalar, 1, DIFF)                                                                         \
    X(mul_scalar, 1, DIFF)                                                                         \
    X(pow_scalar, 1, DIFF)                                                                         \
    /* unary math (ops/unary.c) */                                                                 \
    X(neg, 1, DIFF)                                                                                \
    X(square, 1, DIFF)                                                                             \
    X(sqrt, 1, DIFF)                                                                               \
    X(rsqrt, 1, DIFF)                                                                              \
    X(exp, 1, DIFF)                                                                                \
    X(log, 1, DIFF)                                                                                \
    X(abs, 1, DIFF)                                                                                \
    X(sign, 1, NODIFF)                                                                             \
    X(clamp, 1, DIFF)                                                                              \
    X(erf, 1, DIFF)                                                                                \
    /* activations (ops/activation.c) */                                                           \
    X(relu, 1, DIFF)                                                                               \
    X(relu_grad, 2, DIFF)                                                                          \
    X(leaky_relu, 1, DIFF)                                                                         \
    X(elu, 1, DIFF)                                                                                \
    X(sigmoid, 1, DIFF)                                                                            \
    X(sigmoid_grad, 2, DIFF)                                                                       \
    X(tanh, 1, DIFF)                                                                               \
    X(tanh_grad, 2, DIFF)                                                                          \
    X(softplus, 1, DIFF)                                                                           \
    X(gelu, 1, DIFF)                                                                               \
    /* softmax family (ops/softmax.c) */                                                           \
    X(softmax, 1, DIFF)                                                                            \
    X(log_softmax, 1, DIFF)                                                                        \
    X(softmax_cross_entropy, 2, DIFF)                                                              \
    /* dropout, its mask recomputed from the generator's stream (ops/dropout.c) */                 \
    X(dropout, 1, DIFF)                                                                            \
    /* comparisons and selection (ops/select.c) */                                                 \
    X(where, 3, DIFF)                                                                              \
    X(greater, 2, NODIFF)                                                                          \
    X(greater_equal, 2, NODIFF)                                                                    \
    X(less, 2, NODIFF)                                                                             \
    X(less_equal, 2, NODIFF)                                                                       \
    X(equal, 2, NODIFF)                                                                            \
    X(not_equal, 2, NODIFF)                                                                        \
    /* reductions (ops/reduce.c) */                                                                \
    X(sum, 1, DIFF)                                                                                \
    X(max, 1, DIFF)                                                                                \
    X(min, 1, DIFF)                                                                                \
    X(argmax, 1, NODIFF)                                                                           \
    X(argmin, 1, NODIFF)                                                                           \
    /* shapes and copies (ops/shape.c) */                                                          \
    X(reshape, 1, DIFF)                                                                            \
    X(permute, 1, DIFF)                                                                            \
    X(broadcast_to, 1, DIFF)                                                                       \
    X(copy, 1, DIFF)                                                                               \
    X(cast, 1, DIFF)                                                                               \
    /* indexing (ops/index.c) */                                                                   \
    X(slice, 1, DIFF)                                                                              \
    X(slice_scatter, 1, DIFF)                                                                      \
    X(concat, -1, DIFF)                                                                            \
    X(pad, 1, DIFF)                                                                                \
    X(gather, 2, DIFF)                                                                             \
    X(gather_scatter, 2, DIFF)                                                                     \
    X(one_hot, 1, NODIFF)                                                                          \
    /* matrix products (ops/matmul.c) */                                                           \
    X(matmul, 2, DIFF)                                                                             \
    X(linear, 3, DIFF)                                                                             \
    /* patches for convolution and pooling (ops/conv.c) */                                         \
    X(im2col, 1, DIFF)                                                                             \
    X(col2im, 1, DIFF)                                                                             \
    X(conv2d, -1, DIFF)                                                                            \
    /* pooling (ops/pool.c) and the flat gather/scatter behind max pooling (ops/index.c) */        \
    X(max_pool2d, 1, DIFF)                                                                         \
    X(avg_pool2d, 1, DIFF)                                                                         \
    X(avg_unpool2d, 1, DIFF)                                                                       \
    X(take, 2, DIFF)                                                                               \
    X(scatter_add, 2, DIFF)                                                                        \
    /* normalisation (ops/norm.c) */                                                               \
    X(moments, 1, DIFF)                                                                            \
    X(batch_norm, 4, DIFF)                                                                         \
    X(batch_norm_train, -1, DIFF)                                                                  \
    /* recurrences (ops/rnn.c) */                                                                  \
    X(lstm_sequence, 4, DIFF)

#endif
