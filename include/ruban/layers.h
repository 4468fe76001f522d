/* ruban/layers.h - layers: Dense, convolutions, pooling, normalisation, dropout, sharpened
 * cosine similarity, residual blocks.
 *
 * A layer is described by a spec (designated initialisers, zero fields take Keras's defaults;
 * a field its kind does not use is refused) and built for a per-sample input shape (without
 * the batch axis, channels last), given at creation or taken from its first call. Its
 * variables live in a parameter store, which owns the layer too. A layer has no backward pass
 * of its own: its forward calls differentiable ops.
 *
 *     rb_params *p = rb_params_new(RB_F32);
 *     rb_layer *conv = rb_layer_new(p, RB_CONV2D(.units = 32, .kernel = {3, 3},
 *                                                .activation = RB_ACT_RELU),
 *                                   RB_SHAPE(28, 28, 1));
 *     rb_tensor *y = rb_layer_forward(conv, x);           // x (N, 28, 28, 1) -> (N, 26, 26, 32)
 *     rb_layer *dense = rb_layer_new(p, RB_DENSE(.units = 10), 0, NULL); // shape at first call
 *     rb_tensor *logits = rb_layer_forward(dense, rb_flatten(y));       // kernel (21632, 10)
 *
 * Most programs use layers through a model (ruban/model.h), which chains them, names them,
 * switches them between training and evaluation and prints a summary.
 */
#ifndef RUBAN_LAYERS_H
#define RUBAN_LAYERS_H

#include "ruban/base.h"
#include "ruban/conv.h"
#include "ruban/error.h"
#include "ruban/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rb_activation {
    RB_ACT_NONE = 0,
    RB_ACT_RELU,
    RB_ACT_LEAKY_RELU, /* slope alpha for x < 0 (default 0.01, PyTorch's) */
    RB_ACT_ELU,
    RB_ACT_SELU,
    RB_ACT_GELU,
    RB_ACT_SIGMOID,
    RB_ACT_TANH,
    RB_ACT_SOFTPLUS,
    RB_ACT_SOFTMAX,    /* over the last axis */
    RB_ACT_LOG_SOFTMAX /* over the last axis: log-probabilities, for rb_nll and RB_LOSS_NLL */
} rb_activation;

/* Apply an activation (alpha for leaky ReLU and ELU; 0 means 0.01 and 1.0). */
RB_API rb_tensor *rb_activate(rb_tensor *x, rb_activation act, double alpha);
RB_API const char *rb_activation_name(rb_activation act);

typedef enum rb_layer_kind {
    RB_LAYER_DENSE,            /* units; kernel (in, units), bias (units) */
    RB_LAYER_CONV1D,           /* units filters, kernel[0]; window.stride[0]... (N, L, C) */
    RB_LAYER_CONV2D,           /* units filters, kernel {kh, kw}, window */
    RB_LAYER_CONV2D_TRANSPOSE, /* units filters, kernel, window (stride, padding) */
    RB_LAYER_SCS2D,            /* sharpened cosine similarity: units, kernel, window */
    RB_LAYER_MAX_POOL1D,       /* kernel[0], window.stride[0] (default: the window) */
    RB_LAYER_AVG_POOL1D,
    RB_LAYER_MAX_POOL2D, /* kernel {kh, kw}, window (stride default: the window) */
    RB_LAYER_AVG_POOL2D,
    RB_LAYER_MAX_ABS_POOL2D,
    RB_LAYER_GLOBAL_AVG_POOL2D,
    RB_LAYER_GLOBAL_MAX_POOL2D,
    RB_LAYER_UPSAMPLE2D, /* kernel {sh, sw}: repeat factors */
    RB_LAYER_FLATTEN,
    RB_LAYER_DROPOUT,       /* rate */
    RB_LAYER_ALPHA_DROPOUT, /* rate; keeps SELU's mean and variance */
    RB_LAYER_BATCH_NORM,    /* momentum (0.99), epsilon (1e-3), over the last axis */
    RB_LAYER_LAYER_NORM,    /* epsilon (1e-3), over the last axis */
    RB_LAYER_ACTIVATION,    /* activation */
    RB_LAYER_RESIDUAL,      /* units filters, kernel (3x3), window.stride[0], bn, momentum */
    RB_LAYER_SIMPLE_RNN,    /* units; activation (default tanh); (N, T, F) sequences */
    RB_LAYER_LSTM,          /* units; gates i, f, c, o as Keras; forget-gate bias 1 */
    RB_LAYER_GRU,           /* units; gates z, r, h; reset applied before the matmul (Cho
                             * et al. 2014, Keras's reset_after = false) */
    RB_LAYER_KIND_COUNT
} rb_layer_kind;

/* Where a residual block puts its BatchNorm layers. */
typedef enum rb_bn_placement {
    RB_BN_AFTER_CONV = 0, /* conv -> BN -> activation (He et al. 2015) */
    RB_BN_BEFORE_CONV,    /* BN -> activation -> conv ("pre-activation", He et al. 2016) */
    RB_BN_NONE
} rb_bn_placement;

typedef struct rb_layer_spec {
    rb_layer_kind kind;
    const char *name;         /* default: "<kind>_<n>", unique in the store */
    int64_t units;            /* Dense units, convolution filters */
    int kernel[2];            /* window size (1-D layers use kernel[0]) */
    rb_window2d window;       /* stride, dilation, padding, groups (1-D: index 0) */
    rb_activation activation; /* applied after the layer (default none; LSTM and GRU have
                               * fixed gate activations and refuse it) */
    double alpha;             /* leaky ReLU / ELU parameter */
    bool no_bias;             /* Dense and convolutions have a bias unless set (the other
                               * kinds refuse it) */
    rb_init_spec kernel_init; /* default Glorot uniform */
    rb_init_spec bias_init;   /* default zeros */
    /* Penalties and constraint of the kernels, as Keras's kernel_regularizer and
     * kernel_constraint: every kernel of the layer (both directions of a bidirectional one,
     * each convolution of a residual block), not biases. A kind without a kernel refuses
     * them (BatchNorm's gamma and beta take none). */
    double l2, l1;      /* lambda / 2 ||w||^2 and lambda |w| added by rb_layer_regularization */
    double max_norm;    /* every column (weights into one unit) scaled back to this L2 norm by
                         * rb_layer_apply_constraints, 0: none */
    double rate;        /* dropout rate */
    double momentum;    /* BatchNorm: moving = momentum moving + (1 - momentum) batch */
    double epsilon;     /* BatchNorm / LayerNorm */
    rb_bn_placement bn; /* residual blocks */
    uint64_t seed;      /* initialisation and dropout randomness (0: the store's) */
    /* Recurrent layers: */
    bool return_sequences;       /* output every step (N, T, units), else the last (N, units) */
    bool bidirectional;          /* also read the sequence backwards; outputs concatenated
                                  * (2 units), as Keras's Bidirectional(layer) */
    rb_init_spec recurrent_init; /* default orthogonal */
    /* The same penalties and constraint for the recurrent kernels (Keras's
     * recurrent_regularizer and recurrent_constraint); .l2, .l1 and .max_norm act on the
     * input kernels only. */
    double recurrent_l2, recurrent_l1, recurrent_max_norm;
} rb_layer_spec;

/* Spec constructors, one per kind, all of the same form: RB_DENSE(.units = 10, .activation =
 * RB_ACT_RELU), RB_FLATTEN(), RB_BATCH_NORM(.momentum = 0.9). */
#define RB_DENSE(...)            ((rb_layer_spec){.kind = RB_LAYER_DENSE, __VA_ARGS__})
#define RB_CONV1D(...)           ((rb_layer_spec){.kind = RB_LAYER_CONV1D, __VA_ARGS__})
#define RB_CONV2D(...)           ((rb_layer_spec){.kind = RB_LAYER_CONV2D, __VA_ARGS__})
#define RB_CONV2D_TRANSPOSE(...) ((rb_layer_spec){.kind = RB_LAYER_CONV2D_TRANSPOSE, __VA_ARGS__})
#define RB_SCS2D(...)            ((rb_layer_spec){.kind = RB_LAYER_SCS2D, __VA_ARGS__})
#define RB_MAX_POOL1D(...)       ((rb_layer_spec){.kind = RB_LAYER_MAX_POOL1D, __VA_ARGS__})
#define RB_AVG_POOL1D(...)       ((rb_layer_spec){.kind = RB_LAYER_AVG_POOL1D, __VA_ARGS__})
#define RB_MAX_POOL2D(...)       ((rb_layer_spec){.kind = RB_LAYER_MAX_POOL2D, __VA_ARGS__})
#define RB_AVG_POOL2D(...)       ((rb_layer_spec){.kind = RB_LAYER_AVG_POOL2D, __VA_ARGS__})
#define RB_MAX_ABS_POOL2D(...)   ((rb_layer_spec){.kind = RB_LAYER_MAX_ABS_POOL2D, __VA_ARGS__})
#define RB_UPSAMPLE2D(...)       ((rb_layer_spec){.kind = RB_LAYER_UPSAMPLE2D, __VA_ARGS__})
#define RB_DROPOUT(...)          ((rb_layer_spec){.kind = RB_LAYER_DROPOUT, __VA_ARGS__})
#define RB_ALPHA_DROPOUT(...)    ((rb_layer_spec){.kind = RB_LAYER_ALPHA_DROPOUT, __VA_ARGS__})
#define RB_ACTIVATION(...)       ((rb_layer_spec){.kind = RB_LAYER_ACTIVATION, __VA_ARGS__})
#define RB_RESIDUAL(...)         ((rb_layer_spec){.kind = RB_LAYER_RESIDUAL, __VA_ARGS__})
#define RB_SIMPLE_RNN(...)       ((rb_layer_spec){.kind = RB_LAYER_SIMPLE_RNN, __VA_ARGS__})
#define RB_LSTM(...)             ((rb_layer_spec){.kind = RB_LAYER_LSTM, __VA_ARGS__})
#define RB_GRU(...)              ((rb_layer_spec){.kind = RB_LAYER_GRU, __VA_ARGS__})
/* These five were constants once (RB_FLATTEN without parentheses); that form still compiles:
 * the bare name becomes a constant spec, the name followed by (...) the macro. */
#define RB_FLATTEN            rb__spec_flatten
#define RB_GLOBAL_AVG_POOL2D  rb__spec_global_avg_pool2d
#define RB_GLOBAL_MAX_POOL2D  rb__spec_global_max_pool2d
#define RB_BATCH_NORM         rb__spec_batch_norm
#define RB_LAYER_NORM         rb__spec_layer_norm
#define rb__spec_flatten(...) ((rb_layer_spec){.kind = RB_LAYER_FLATTEN, __VA_ARGS__})
#define rb__spec_global_avg_pool2d(...)                                                            \
    ((rb_layer_spec){.kind = RB_LAYER_GLOBAL_AVG_POOL2D, __VA_ARGS__})
#define rb__spec_global_max_pool2d(...)                                                            \
    ((rb_layer_spec){.kind = RB_LAYER_GLOBAL_MAX_POOL2D, __VA_ARGS__})
#define rb__spec_batch_norm(...) ((rb_layer_spec){.kind = RB_LAYER_BATCH_NORM, __VA_ARGS__})
#define rb__spec_layer_norm(...) ((rb_layer_spec){.kind = RB_LAYER_LAYER_NORM, __VA_ARGS__})
static const rb_layer_spec rb__spec_flatten = {.kind = RB_LAYER_FLATTEN};
static const rb_layer_spec rb__spec_global_avg_pool2d = {.kind = RB_LAYER_GLOBAL_AVG_POOL2D};
static const rb_layer_spec rb__spec_global_max_pool2d = {.kind = RB_LAYER_GLOBAL_MAX_POOL2D};
static const rb_layer_spec rb__spec_batch_norm = {.kind = RB_LAYER_BATCH_NORM};
static const rb_layer_spec rb__spec_layer_norm = {.kind = RB_LAYER_LAYER_NORM};

typedef struct rb_layer rb_layer;

/* Build a layer for inputs of per-sample shape (ndim, shape), e.g. RB_SHAPE(28, 28, 1); its
 * variables are "<name>.kernel", "<name>.bias", ... in p, initialised from the spec. With
 * (0, NULL) the shape comes from the first call, which creates the variables then, from a
 * random stream drawn now (the same weights as if the shape had been given). Owned by p. NULL
 * and an error on a bad spec (naming a field its kind does not use) or shape. */
RB_API rb_layer *rb_layer_new(rb_params *p, rb_layer_spec spec, int ndim, const int64_t *shape);
/* Apply the layer to a batch x (N, ...input shape), building it at its first call if it was
 * made without an input shape. Dropout and BatchNorm follow the layer's mode. */
RB_API rb_tensor *rb_layer_forward(rb_layer *layer, rb_tensor *x);
/* Whether the layer has its input shape and variables (false until the first call of a layer
 * made without an input shape). */
RB_API bool rb_layer_built(const rb_layer *layer);
/* Training (default) or evaluation mode: dropout off and BatchNorm on its moving statistics
 * in evaluation. */
RB_API void rb_layer_set_training(rb_layer *layer, bool training);
/* Batch statistics for BatchNorm in training: x (..., C) -> (2, C), the mean (row 0) and
 * biased variance (row 1) to normalise with, differentiable (default: rb_moments). */
typedef rb_tensor *(*rb_batch_stats_fn)(void *ctx, rb_tensor *x);
/* Make BatchNorm layers (this one, or those inside a residual block) compute their training
 * statistics with fn(ctx, x) (NULL: back to rb_moments); the moving statistics follow them.
 * Returns the number of BatchNorm layers changed. */
RB_API int rb_layer_set_batch_stats(rb_layer *layer, rb_batch_stats_fn fn, void *ctx);

RB_API const char *rb_layer_name(const rb_layer *layer);
/* Keras's type name ("Conv2D", "BatchNormalization", ...). */
RB_API const char *rb_layer_type(const rb_layer *layer);
/* Per-sample output shape into shape[] (RB_MAX_DIMS room); returns its ndim, or -1 and an error
 * (RB_ERR_STATE) when the layer is not built yet. */
RB_API int rb_layer_output_shape(const rb_layer *layer, int64_t *shape);
/* Number of scalar parameters (trainable only, or all); -1 and an error (RB_ERR_STATE) when
 * the layer is not built yet. */
RB_API int64_t rb_layer_num_params(const rb_layer *layer, bool trainable_only);
/* The layer's weight tensors (NULL if it has none): kernel, bias, the recurrent kernel of
 * SimpleRNN, LSTM and GRU (the forward direction's; a bidirectional layer's backward ones are
 * variables 3..5), and for BatchNorm gamma, beta, moving mean and variance as "variable" 0..3
 * in that order. A residual block's weights are those of its sub-layers. */
RB_API rb_tensor *rb_layer_kernel(const rb_layer *layer);
RB_API rb_tensor *rb_layer_bias(const rb_layer *layer);
RB_API rb_tensor *rb_layer_recurrent_kernel(const rb_layer *layer);
RB_API rb_tensor *rb_layer_variable(const rb_layer *layer, int i);
/* The spec's penalties of this layer's kernels (sub-layers included) as a scalar to add to a
 * loss (0 if none); rb_model_regularization sums them, which rb_fit adds to its loss. */
RB_API rb_tensor *rb_layer_regularization(const rb_layer *layer);
/* Apply the spec's max-norm constraints in place (after an optimizer step). */
RB_API rb_status rb_layer_apply_constraints(rb_layer *layer);

/* ---- every layer made in a store (a model written as a C function of layers) ----
 * rb_fit and rb_train_step use these for layers outside an rb_model; sub-layers count through
 * their blocks, layers not built yet are skipped. */
/* Sum of the spec penalties of every layer of p (a scalar to add to the loss; 0 if none). */
RB_API rb_tensor *rb_layers_regularization(rb_params *p);
/* Apply the max-norm constraints of every layer of p (after each optimizer step). */
RB_API rb_status rb_layers_apply_constraints(rb_params *p);
/* Training or evaluation mode for every layer of p. */
RB_API void rb_layers_set_training(rb_params *p, bool training);
/* Number of layers of p waiting for their first call to be built. */
RB_API int rb_layers_unbuilt(const rb_params *p);

/* ---- recurrent layers beyond rb_layer_forward ----
 * A state is h (N, units) and, for LSTM, the cell c (N, units). Variables: "<name>.kernel"
 * (F, G units), "<name>.recurrent_kernel" (units, G units), "<name>.bias" (G units), G = 1, 4
 * or 3 gates in Keras's order; a bidirectional layer adds "<name>.backward_*". */
typedef struct rb_rnn_state {
    rb_tensor *h, *c;
} rb_rnn_state;

/* One step of the layer's cell from your own loop: x_t (N, F) and state (NULL: zeros) -> the
 * next state into *next; returns next->h. Recorded on the active tape like any op. A layer
 * made without an input shape must see a whole sequence first (RB_ERR_STATE otherwise). */
RB_API rb_tensor *rb_rnn_cell(rb_layer *layer, rb_tensor *x_t, const rb_rnn_state *state,
                              rb_rnn_state *next);
/* The layer over x (N, T, F) from `initial` (NULL: zeros), returning what rb_layer_forward
 * returns. When not NULL: *final receives the last state, and steps[0..T) the hidden state
 * after each time step (the tensors the tape differentiates: their gradients show how far
 * back errors reach). Both are the forward direction's for a bidirectional layer. */
RB_API rb_tensor *rb_rnn_forward(rb_layer *layer, rb_tensor *x, const rb_rnn_state *initial,
                                 rb_rnn_state *final, rb_tensor **steps);

#ifdef __cplusplus
}
#endif
#endif
