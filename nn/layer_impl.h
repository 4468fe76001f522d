/* What nn/ files share about layers. Layers use the public API only. */
#ifndef RUBAN_NN_LAYER_IMPL_H
#define RUBAN_NN_LAYER_IMPL_H

#include <stdio.h>

#include "ruban.h"

#define LAYER_MAX_VARS     6
#define LAYER_MAX_CHILDREN 6

/* What a variable is to the spec: .l1, .l2 and .max_norm act on kernels, .recurrent_* on
 * recurrent kernels (Keras's kernel_ and recurrent_ regularizer and constraint); rb_layer_bias
 * shows the first bias. */
typedef enum var_role { ROLE_OTHER = 0, ROLE_KERNEL, ROLE_RECURRENT_KERNEL, ROLE_BIAS } var_role;

typedef struct layer_class {
    const char *type;     /* Keras's class name, shown by the summary */
    const char *basename; /* default names: "<basename>", "<basename>_1", ... */
    /* Check the spec against the input shape, set the output shape, create variables. */
    bool (*build)(rb_layer *l, rb_params *p);
    rb_tensor *(*forward)(rb_layer *l, rb_tensor *x);
} layer_class;

struct rb_layer {
    const layer_class *cls;
    rb_layer_spec spec;
    char name[64];
    rb_params *params; /* the store that owns it, where a deferred build puts its variables */
    bool built;        /* false until the first call when made without an input shape */
    bool child;        /* a sub-layer (residual blocks): its parent answers for it */
    int in_ndim, out_ndim;
    int64_t in_shape[RB_MAX_DIMS], out_shape[RB_MAX_DIMS];
    rb_tensor *vars[LAYER_MAX_VARS]; /* kernel, bias / gamma, beta, mean, variance / ... */
    var_role roles[LAYER_MAX_VARS];
    int n_vars;
    rb_layer *children[LAYER_MAX_CHILDREN]; /* residual blocks */
    int n_children;
    rb_rng rng;                 /* dropout */
    rb_batch_stats_fn stats_fn; /* BatchNorm's training statistics, if not rb_moments */
    void *stats_ctx;
    rb_dtype dtype;
    bool training;
};

enum { VAR_KERNEL = 0, VAR_BIAS = 1 };

/* Per-kind classes, defined next to their forward passes. */
extern const layer_class rb__dense_class, rb__conv1d_class, rb__conv2d_class,
    rb__conv2d_transpose_class, rb__scs2d_class, rb__max_pool1d_class, rb__avg_pool1d_class,
    rb__max_pool2d_class, rb__avg_pool2d_class, rb__max_abs_pool2d_class,
    rb__global_avg_pool2d_class, rb__global_max_pool2d_class, rb__upsample2d_class,
    rb__flatten_class, rb__dropout_class, rb__alpha_dropout_class, rb__batch_norm_class,
    rb__layer_norm_class, rb__activation_class, rb__residual_class, rb__simple_rnn_class,
    rb__lstm_class, rb__gru_class;

/* Create variable "<layer name>.<suffix>" of the given shape, initialised by init. */
rb_tensor *rb__layer_var(rb_layer *l, rb_params *p, const char *suffix, int ndim,
                         const int64_t *shape, bool trainable, rb_init_spec init);
/* The same for a trainable weight with a role (kernel, recurrent kernel, bias). */
rb_tensor *rb__layer_weight(rb_layer *l, rb_params *p, const char *suffix, int ndim,
                            const int64_t *shape, rb_init_spec init, var_role role);
/* Whether the layer or one of its sub-layers adds a penalty to the loss. */
bool rb__layer_penalised(const rb_layer *l);
/* Whether the spec asks only for what its kind uses (fields, penalties), else false and an
 * error naming the first field it does not use. */
bool rb__layer_check_spec(const rb_layer *l);
/* Raise "layer '<name>' (<type>): <message>" and return false. */
bool rb__layer_fail(const rb_layer *l, rb_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Apply the spec's activation. */
rb_tensor *rb__layer_activate(const rb_layer *l, rb_tensor *x);
/* Whether the layer applies its spec's ReLU itself (a fused epilogue). */
bool rb__layer_fuses_activation(const rb_layer *l);
/* Build a layer made without an input shape for the batch x (N, ...) of its first call; true
 * at once when built. */
bool rb__layer_build_at_first_call(rb_layer *l, rb_tensor *x);
/* A child layer (residual blocks) built in the same store, named "<parent>_<suffix>". */
rb_layer *rb__layer_child(rb_layer *parent, rb_params *p, const char *suffix, rb_layer_spec spec,
                          int ndim, const int64_t *shape);

#endif
