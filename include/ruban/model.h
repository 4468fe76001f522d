/* ruban/model.h - models: Keras-style Sequential stacks, functional models, a summary, one
 * switch between training and evaluation, a ResNet builder.
 *
 *     rb_model *m = rb_model_new(RB_F32, "lenet5", RB_SHAPE(32, 32, 1));
 *     rb_model_add(m, RB_CONV2D(.units = 6, .kernel = {5, 5}, .activation = RB_ACT_TANH));
 *     rb_model_add(m, RB_AVG_POOL2D(.kernel = {2, 2}));
 *     ...
 *     rb_model_summary(m, stdout);                       // 61,706 parameters, as Keras says
 *     rb_tensor *logits = rb_model_forward(m, x);
 *
 * A functional model (skip connections, several inputs or outputs) is a C function of tensors
 * calling layers made with rb_model_layer(): the model still owns them, names them, lists
 * them in the summary and switches their mode.
 */
#ifndef RUBAN_MODEL_H
#define RUBAN_MODEL_H

#include <stdio.h>

#include "ruban/base.h"
#include "ruban/error.h"
#include "ruban/layers.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_model rb_model;

/* A new model with its own parameter store of the given dtype, for inputs of per-sample shape
 * (ndim, shape). The caller owns it (rb_model_free). */
RB_API rb_model *rb_model_new(rb_dtype dtype, const char *name, int ndim, const int64_t *shape);
RB_API void rb_model_free(rb_model *m);
/* Seed for the initialisation and dropout of layers added from now on (default 0). */
RB_API void rb_model_seed(rb_model *m, uint64_t seed);

/* Append a layer to the sequential stack; its input is the previous layer's output. Returns
 * the layer (owned by the model) or NULL and an error. */
RB_API rb_layer *rb_model_add(rb_model *m, rb_layer_spec spec);
/* A layer of a functional model, built for the given per-sample input shape, or at its first
 * call with (0, NULL) (see rb_layer_new): owned, named and switched by the model, not
 * chained. */
RB_API rb_layer *rb_model_layer(rb_model *m, rb_layer_spec spec, int ndim, const int64_t *shape);

/* The sequential stack applied to x (N, ...input shape). */
RB_API rb_tensor *rb_model_forward(rb_model *m, rb_tensor *x);
/* Training (default) or evaluation mode for every layer. */
RB_API void rb_model_set_training(rb_model *m, bool training);
RB_API bool rb_model_training(const rb_model *m);

RB_API rb_params *rb_model_params(const rb_model *m);
RB_API int rb_model_num_layers(const rb_model *m);
RB_API rb_layer *rb_model_layer_at(const rb_model *m, int i);
RB_API const char *rb_model_name(const rb_model *m);
/* Per-sample output shape of the stack; returns its ndim. */
RB_API int rb_model_output_shape(const rb_model *m, int64_t *shape);
/* Parameters of every layer; -1 and an error naming it when a layer is not built yet. */
RB_API int64_t rb_model_num_params(const rb_model *m, bool trainable_only);

/* Sum of the layers' regularisation terms (a scalar to add to the loss; 0 if none). */
RB_API rb_tensor *rb_model_regularization(const rb_model *m);
/* Apply every layer's constraints (call after each optimizer step). */
RB_API rb_status rb_model_apply_constraints(rb_model *m);

/* The L2 norm of each layer's gradient (its trainable variables' gradients together, those
 * of its sub-layers included), as the store holds them after rb_tape_gradient_params (inside
 * rb_fit: after each step, e.g. from its progress hook), into norms[0 .. cap); NaN for a layer
 * without trainable variables. Layers in rb_model_layer_at's order. Returns the number of
 * layers (more than cap: the rest are not written), -1 on error. */
RB_API int rb_model_grad_norms(const rb_model *m, double *norms, int cap);

/* Keras-style table: layer name and type, output shape, parameters; totals of trainable and
 * non-trainable parameters with their size in bytes. A layer not built yet shows "?" and the
 * totals say how many were not counted. */
RB_API void rb_model_summary(const rb_model *m, FILE *f);

/* ---- ResNet builder ---- */
typedef struct rb_resnet_config {
    int stem_filters;   /* first convolution (default 16) */
    int stem_kernel;    /* its size (default 3) */
    bool stem_pool;     /* 2x2 max pooling after the stem */
    int stages;         /* number of stages (default 3) */
    int blocks[8];      /* residual blocks per stage (default 2) */
    int widths[8];      /* filters per stage (default stem_filters * 2^stage) */
    rb_bn_placement bn; /* BatchNorm placement in the blocks (and the stem) */
    double bn_momentum; /* of every BatchNorm (default Keras's 0.99; PyTorch's is 0.9) */
    int classes;        /* dense output size (default 10); logits */
    uint64_t seed;
} rb_resnet_config;

/* A ResNet for images of per-sample shape (H, W, C): stem conv (+ BN + ReLU) [+ pool], stages
 * of residual blocks (the first block of each stage after the first halves the resolution,
 * with a 1x1 projection shortcut), global average pooling, dense logits. */
RB_API rb_model *rb_resnet(rb_dtype dtype, const char *name, const int64_t input_shape[3],
                           rb_resnet_config config);

#ifdef __cplusplus
}
#endif
#endif
