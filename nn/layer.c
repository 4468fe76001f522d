/* Layers: building from a spec, names, the forward wrapper, accessors, regularisation. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "layer_impl.h"

static const layer_class *const classes[RB_LAYER_KIND_COUNT] = {
    [RB_LAYER_DENSE] = &rb__dense_class,
    [RB_LAYER_CONV1D] = &rb__conv1d_class,
    [RB_LAYER_CONV2D] = &rb__conv2d_class,
    [RB_LAYER_CONV2D_TRANSPOSE] = &rb__conv2d_transpose_class,
    [RB_LAYER_SCS2D] = &rb__scs2d_class,
    [RB_LAYER_MAX_POOL1D] = &rb__max_pool1d_class,
    [RB_LAYER_AVG_POOL1D] = &rb__avg_pool1d_class,
    [RB_LAYER_MAX_POOL2D] = &rb__max_pool2d_class,
    [RB_LAYER_AVG_POOL2D] = &rb__avg_pool2d_class,
    [RB_LAYER_MAX_ABS_POOL2D] = &rb__max_abs_pool2d_class,
    [RB_LAYER_GLOBAL_AVG_POOL2D] = &rb__global_avg_pool2d_class,
    [RB_LAYER_GLOBAL_MAX_POOL2D] = &rb__global_max_pool2d_class,
    [RB_LAYER_UPSAMPLE2D] = &rb__upsample2d_class,
    [RB_LAYER_FLATTEN] = &rb__flatten_class,
    [RB_LAYER_DROPOUT] = &rb__dropout_class,
    [RB_LAYER_ALPHA_DROPOUT] = &rb__alpha_dropout_class,
    [RB_LAYER_BATCH_NORM] = &rb__batch_norm_class,
    [RB_LAYER_LAYER_NORM] = &rb__layer_norm_class,
    [RB_LAYER_ACTIVATION] = &rb__activation_class,
    [RB_LAYER_RESIDUAL] = &rb__residual_class,
    [RB_LAYER_SIMPLE_RNN] = &rb__simple_rnn_class,
    [RB_LAYER_LSTM] = &rb__lstm_class,
    [RB_LAYER_GRU] = &rb__gru_class,
};

/* ---- activations ---- */

const char *rb_activation_name(rb_activation act)
{
    static const char *names[] = {"linear",  "relu", "leaky_relu", "elu",     "selu",       "gelu",
                                  "sigmoid", "tanh", "softplus",   "softmax", "log_softmax"};
    return (unsigned)act < sizeof names / sizeof names[0] ? names[act] : "unknown";
}

rb_tensor *rb_activate(rb_tensor *x, rb_activation act, double alpha)
{
    switch (act) {
    case RB_ACT_NONE: return x;
    case RB_ACT_RELU: return rb_relu(x);
    case RB_ACT_LEAKY_RELU: return rb_leaky_relu(x, alpha > 0 ? alpha : 0.01);
    case RB_ACT_ELU: return rb_elu(x, alpha > 0 ? alpha : 1.0);
    case RB_ACT_SELU: return rb_selu(x);
    case RB_ACT_GELU: return rb_gelu(x);
    case RB_ACT_SIGMOID: return rb_sigmoid(x);
    case RB_ACT_TANH: return rb_tanh(x);
    case RB_ACT_SOFTPLUS: return rb_softplus(x);
    case RB_ACT_SOFTMAX: return rb_softmax(x, -1);
    case RB_ACT_LOG_SOFTMAX: return rb_log_softmax(x, -1);
    }
    rb_error(RB_ERR_ARGUMENT, "rb_activate: unknown activation %d", (int)act);
    return NULL;
}

rb_tensor *rb__layer_activate(const rb_layer *l, rb_tensor *x)
{
    return rb_activate(x, l->spec.activation, l->spec.alpha);
}

/* ---- the store's record of its layers: names ("dense", "dense_1", ... as Keras numbers
 * them), and the layers users made, for the functions over every layer of a store ---- */

typedef struct layer_registry {
    int counts[RB_LAYER_KIND_COUNT];
    int n_names, cap;
    char (*names)[64];
    rb_layer **layers; /* made by rb_layer_new, in order; sub-layers are their parents' */
    int n_layers, layers_cap;
} layer_registry;

static void registry_free(void *obj)
{
    layer_registry *r = obj;
    free(r->names);
    free(r->layers);
    free(r);
}

static layer_registry *registry_of(const rb_params *p)
{
    return rb_params_attachment(p, registry_free);
}

static layer_registry *registry_for(rb_params *p)
{
    layer_registry *r = registry_of(p);
    if (r) return r;
    r = calloc(1, sizeof *r);
    if (!r) {
        rb_error(RB_ERR_MEMORY, "rb_layer_new: out of memory");
        return NULL;
    }
    if (rb_params_attach(p, r, registry_free) != RB_OK) {
        free(r);
        return NULL;
    }
    return r;
}

static bool name_taken(const layer_registry *r, const char *name)
{
    for (int i = 0; i < r->n_names; i++)
        if (strcmp(r->names[i], name) == 0) return true;
    return false;
}

static bool register_name(rb_params *p, rb_layer *l)
{
    layer_registry *r = registry_for(p);
    if (!r) return false;
    if (l->spec.name) {
        if (strlen(l->spec.name) == 0 || strlen(l->spec.name) > 48)
            return rb__layer_fail(l, RB_ERR_ARGUMENT, "a name needs 1 to 48 characters");
        snprintf(l->name, sizeof l->name, "%s", l->spec.name);
        if (name_taken(r, l->name))
            return rb__layer_fail(l, RB_ERR_ARGUMENT, "another layer of this store is named so");
    } else {
        do {
            int k = r->counts[l->spec.kind]++;
            if (k == 0)
                snprintf(l->name, sizeof l->name, "%s", l->cls->basename);
            else
                snprintf(l->name, sizeof l->name, "%s_%d", l->cls->basename, k);
        } while (name_taken(r, l->name));
    }
    if (r->n_names == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        char(*names)[64] = realloc(r->names, sizeof *names * (size_t)cap);
        if (!names) {
            rb_error(RB_ERR_MEMORY, "rb_layer_new: out of memory");
            return false;
        }
        r->names = names;
        r->cap = cap;
    }
    memcpy(r->names[r->n_names++], l->name, 64);
    return true;
}

static bool register_layer(rb_params *p, rb_layer *l)
{
    layer_registry *r = registry_for(p);
    if (!r) return false;
    if (r->n_layers == r->layers_cap) {
        int cap = r->layers_cap ? 2 * r->layers_cap : 16;
        rb_layer **layers = realloc(r->layers, sizeof *layers * (size_t)cap);
        if (!layers) {
            rb_error(RB_ERR_MEMORY, "rb_layer_new: out of memory");
            return false;
        }
        r->layers = layers;
        r->layers_cap = cap;
    }
    r->layers[r->n_layers++] = l;
    return true;
}

/* ---- building ---- */

bool rb__layer_fail(const rb_layer *l, rb_status status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rb_error(status, "layer '%s' (%s): %s",
             l->name[0] ? l->name : (l->spec.name ? l->spec.name : "?"), l->cls->type, msg);
    return false;
}

rb_tensor *rb__layer_var(rb_layer *l, rb_params *p, const char *suffix, int ndim,
                         const int64_t *shape, bool trainable, rb_init_spec init)
{
    if (l->n_vars == LAYER_MAX_VARS) {
        rb__layer_fail(l, RB_ERR_STATE, "too many variables");
        return NULL;
    }
    char name[128];
    snprintf(name, sizeof name, "%s.%s", l->name, suffix);
    rb_tensor *v = rb_params_add(p, name, ndim, shape, trainable);
    if (!v || rb_init_fill(v, init, &l->rng) != RB_OK) return NULL;
    l->roles[l->n_vars] = ROLE_OTHER;
    l->vars[l->n_vars++] = v;
    return v;
}

rb_tensor *rb__layer_weight(rb_layer *l, rb_params *p, const char *suffix, int ndim,
                            const int64_t *shape, rb_init_spec init, var_role role)
{
    rb_tensor *v = rb__layer_var(l, p, suffix, ndim, shape, true, init);
    if (v) l->roles[l->n_vars - 1] = role;
    return v;
}

static void layer_free(void *obj) { free(obj); }

/* The per-sample input shape, checked. */
static bool set_input_shape(rb_layer *l, int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim >= RB_MAX_DIMS || !shape)
        return rb__layer_fail(l, RB_ERR_SHAPE, "needs a per-sample input shape of 1 to %d axes",
                              RB_MAX_DIMS - 1);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return rb__layer_fail(l, RB_ERR_SHAPE, "input extent %lld on axis %d",
                                  (long long)shape[i], i);
        l->in_shape[i] = shape[i];
    }
    l->in_ndim = ndim;
    return true;
}

/* Variables and output shape for the input shape set; a failed build leaves the layer
 * unbuilt. */
static bool build_for_input(rb_layer *l)
{
    if (!l->cls->build(l, l->params)) {
        l->in_ndim = 0;
        return false;
    }
    l->built = true;
    return true;
}

/* A layer named, seeded and owned by p, built for (ndim, shape), or waiting for its first call
 * when ndim is 0 and shape NULL. parent: the block a sub-layer belongs to (the library wrote
 * its spec, so it is not checked again). */
static rb_layer *create(rb_params *p, rb_layer_spec spec, int ndim, const int64_t *shape,
                        rb_layer *parent, const char *forced_name)
{
    if (!p) {
        rb_error(RB_ERR_ARGUMENT, "rb_layer_new: parameter store is NULL");
        return NULL;
    }
    if ((unsigned)spec.kind >= RB_LAYER_KIND_COUNT) {
        rb_error(RB_ERR_ARGUMENT, "rb_layer_new: unknown layer kind %d", (int)spec.kind);
        return NULL;
    }
    rb_layer *l = calloc(1, sizeof *l);
    if (!l) {
        rb_error(RB_ERR_MEMORY, "rb_layer_new: out of memory");
        return NULL;
    }
    l->cls = classes[spec.kind];
    l->spec = spec;
    l->params = p;
    l->child = parent != NULL;
    l->training = parent ? parent->training : true;
    l->dtype = rb_params_dtype(p);
    if (forced_name) l->spec.name = forced_name;
    bool deferred = ndim == 0 && !shape;
    if ((!deferred && !set_input_shape(l, ndim, shape)) || !register_name(p, l) ||
        (!parent && !rb__layer_check_spec(l))) {
        free(l);
        return NULL;
    }
    /* The layer's own stream, drawn now: its weights do not depend on when it is built. */
    l->rng = spec.seed ? rb_rng_make(spec.seed) : rb_rng_split(rb_params_rng(p));
    /* Attached first, so that a failed build still frees it with the store. */
    if (rb_params_attach(p, l, layer_free) != RB_OK) {
        free(l);
        return NULL;
    }
    if (!deferred && !build_for_input(l)) return NULL;
    if (!parent && !register_layer(p, l)) return NULL;
    return l;
}

rb_layer *rb_layer_new(rb_params *p, rb_layer_spec spec, int ndim, const int64_t *shape)
{
    return create(p, spec, ndim, shape, NULL, NULL);
}

bool rb__layer_build_at_first_call(rb_layer *l, rb_tensor *x)
{
    if (l->built) return true;
    int ndim = rb_tensor_ndim(x) - 1;
    if (ndim < 1) {
        char got[96];
        return rb__layer_fail(
            l, RB_ERR_SHAPE,
            "built at its first call, it needs a batch (N, ...) of 2 axes or more, got %s",
            rb_tensor_shape_string(x, got, sizeof got));
    }
    return set_input_shape(l, ndim, rb_tensor_shape(x) + 1) && build_for_input(l);
}

rb_layer *rb__layer_child(rb_layer *parent, rb_params *p, const char *suffix, rb_layer_spec spec,
                          int ndim, const int64_t *shape)
{
    if (parent->n_children == LAYER_MAX_CHILDREN) {
        rb__layer_fail(parent, RB_ERR_STATE, "too many sub-layers");
        return NULL;
    }
    static _Thread_local char name[64];
    snprintf(name, sizeof name, "%.48s_%.8s", parent->name, suffix);
    spec.seed = rb_rng_u64(&parent->rng) | 1;
    rb_layer *child = create(p, spec, ndim, shape, parent, name);
    if (!child) return NULL;
    parent->children[parent->n_children++] = child;
    /* A block built at its first call may have been given its statistics before. */
    if (child->cls == &rb__batch_norm_class) {
        child->stats_fn = parent->stats_fn;
        child->stats_ctx = parent->stats_ctx;
    }
    return child;
}

/* ---- use ---- */

bool rb__layer_fuses_activation(const rb_layer *l)
{
    if (l->spec.activation != RB_ACT_RELU) return false;
    switch (l->spec.kind) {
    case RB_LAYER_BATCH_NORM:
    case RB_LAYER_DENSE:
    case RB_LAYER_CONV2D: return true;
    default: return false;
    }
}

rb_tensor *rb_layer_forward(rb_layer *l, rb_tensor *x)
{
    if (!l) {
        rb_error(RB_ERR_ARGUMENT, "rb_layer_forward: layer is NULL");
        return NULL;
    }
    if (!x || !rb__layer_build_at_first_call(l, x)) return NULL;
    bool fits = rb_tensor_ndim(x) == l->in_ndim + 1;
    for (int i = 0; fits && i < l->in_ndim; i++)
        fits = rb_tensor_dim(x, i + 1) == l->in_shape[i];
    if (!fits) {
        char got[96], want[96] = "(N";
        rb_tensor_shape_string(x, got, sizeof got);
        for (int i = 0; i < l->in_ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), ", %lld",
                     (long long)l->in_shape[i]);
        strncat(want, ")", sizeof want - strlen(want) - 1);
        rb__layer_fail(l, RB_ERR_SHAPE, "expects input %s, got %s", want, got);
        return NULL;
    }
    rb_tensor *y = l->cls->forward(l, x);
    /* Residual blocks and recurrent cells apply their activation inside; some layers fuse a
     * ReLU. */
    if (l->spec.kind == RB_LAYER_RESIDUAL || l->spec.kind == RB_LAYER_SIMPLE_RNN ||
        l->spec.kind == RB_LAYER_LSTM || l->spec.kind == RB_LAYER_GRU ||
        rb__layer_fuses_activation(l))
        return y;
    return rb__layer_activate(l, y);
}

void rb_layer_set_training(rb_layer *l, bool training)
{
    if (!l) return;
    l->training = training;
    for (int i = 0; i < l->n_children; i++)
        rb_layer_set_training(l->children[i], training);
}

int rb_layer_set_batch_stats(rb_layer *l, rb_batch_stats_fn fn, void *ctx)
{
    if (!l) return 0;
    /* Kept by every layer: the BatchNorm layers of a block built later inherit it. */
    l->stats_fn = fn;
    l->stats_ctx = ctx;
    int changed = l->cls == &rb__batch_norm_class;
    for (int i = 0; i < l->n_children; i++)
        changed += rb_layer_set_batch_stats(l->children[i], fn, ctx);
    return changed;
}

const char *rb_layer_name(const rb_layer *l) { return l ? l->name : ""; }
const char *rb_layer_type(const rb_layer *l) { return l ? l->cls->type : ""; }
bool rb_layer_built(const rb_layer *l) { return l && l->built; }

/* False and an error naming the layer when it waits for its first call. */
static bool check_built(const rb_layer *l, const char *who)
{
    if (l->built) return true;
    rb_error(
        RB_ERR_STATE,
        "%s: layer '%s' (%s) is not built yet: its input shape, output shape and parameters come with its first call",
        who, l->name, l->cls->type);
    return false;
}

int rb_layer_output_shape(const rb_layer *l, int64_t *shape)
{
    if (!l || !shape) {
        rb_error(RB_ERR_ARGUMENT, "rb_layer_output_shape: layer or shape is NULL");
        return -1;
    }
    if (!check_built(l, "rb_layer_output_shape")) return -1;
    memcpy(shape, l->out_shape, sizeof(int64_t) * (size_t)l->out_ndim);
    return l->out_ndim;
}

int64_t rb_layer_num_params(const rb_layer *l, bool trainable_only)
{
    int64_t n = 0;
    if (!l) return 0;
    if (!check_built(l, "rb_layer_num_params")) return -1;
    for (int i = 0; i < l->n_vars; i++)
        if (!trainable_only || rb_params_is_trainable(l->vars[i])) n += rb_tensor_size(l->vars[i]);
    for (int i = 0; i < l->n_children; i++)
        n += rb_layer_num_params(l->children[i], trainable_only);
    return n;
}

/* The first variable of a role, or NULL. */
static rb_tensor *first_of(const rb_layer *l, var_role role)
{
    for (int i = 0; l && i < l->n_vars; i++)
        if (l->roles[i] == role) return l->vars[i];
    return NULL;
}

rb_tensor *rb_layer_kernel(const rb_layer *l) { return first_of(l, ROLE_KERNEL); }
rb_tensor *rb_layer_bias(const rb_layer *l) { return first_of(l, ROLE_BIAS); }
rb_tensor *rb_layer_recurrent_kernel(const rb_layer *l)
{
    return first_of(l, ROLE_RECURRENT_KERNEL);
}

rb_tensor *rb_layer_variable(const rb_layer *l, int i)
{
    return l && i >= 0 && i < l->n_vars ? l->vars[i] : NULL;
}

bool rb__layer_penalised(const rb_layer *l)
{
    const rb_layer_spec *s = &l->spec;
    if (s->l2 > 0 || s->l1 > 0 || s->recurrent_l2 > 0 || s->recurrent_l1 > 0) return true;
    for (int i = 0; i < l->n_children; i++)
        if (rb__layer_penalised(l->children[i])) return true;
    return false;
}

static rb_tensor *add_term(rb_tensor *total, rb_tensor *term)
{
    return total ? rb_add(total, term) : term;
}

rb_tensor *rb_layer_regularization(const rb_layer *l)
{
    if (!l) {
        rb_error(RB_ERR_ARGUMENT, "rb_layer_regularization: layer is NULL");
        return NULL;
    }
    rb_tensor *total = NULL;
    for (int i = 0; i < l->n_vars; i++) {
        bool recurrent = l->roles[i] == ROLE_RECURRENT_KERNEL;
        if (l->roles[i] != ROLE_KERNEL && !recurrent) continue;
        double l2 = recurrent ? l->spec.recurrent_l2 : l->spec.l2;
        double l1 = recurrent ? l->spec.recurrent_l1 : l->spec.l1;
        if (l2 > 0) total = add_term(total, rb_l2_penalty(l->vars[i], l2));
        if (l1 > 0) total = add_term(total, rb_l1_penalty(l->vars[i], l1));
    }
    for (int i = 0; i < l->n_children; i++)
        if (rb__layer_penalised(l->children[i]))
            total = add_term(total, rb_layer_regularization(l->children[i]));
    return total ? total : rb_tensor_scalar(l->dtype, 0.0);
}

rb_status rb_layer_apply_constraints(rb_layer *l)
{
    if (!l) return rb_error(RB_ERR_ARGUMENT, "rb_layer_apply_constraints: layer is NULL");
    for (int i = 0; i < l->n_vars; i++) {
        double bound = l->roles[i] == ROLE_KERNEL             ? l->spec.max_norm
                       : l->roles[i] == ROLE_RECURRENT_KERNEL ? l->spec.recurrent_max_norm
                                                              : 0;
        rb_status st = bound > 0 ? rb_max_norm(l->vars[i], bound) : RB_OK;
        if (st != RB_OK) return st;
    }
    for (int i = 0; i < l->n_children; i++) {
        rb_status st = rb_layer_apply_constraints(l->children[i]);
        if (st != RB_OK) return st;
    }
    return RB_OK;
}

/* ---- every layer of a store ---- */

rb_tensor *rb_layers_regularization(rb_params *p)
{
    if (!p) {
        rb_error(RB_ERR_ARGUMENT, "rb_layers_regularization: parameter store is NULL");
        return NULL;
    }
    const layer_registry *r = registry_of(p);
    rb_tensor *total = NULL;
    for (int i = 0; r && i < r->n_layers; i++)
        if (r->layers[i]->built && rb__layer_penalised(r->layers[i]))
            total = add_term(total, rb_layer_regularization(r->layers[i]));
    return total ? total : rb_tensor_scalar(rb_params_dtype(p), 0.0);
}

rb_status rb_layers_apply_constraints(rb_params *p)
{
    if (!p)
        return rb_error(RB_ERR_ARGUMENT, "rb_layers_apply_constraints: parameter store is NULL");
    const layer_registry *r = registry_of(p);
    for (int i = 0; r && i < r->n_layers; i++) {
        rb_status st = r->layers[i]->built ? rb_layer_apply_constraints(r->layers[i]) : RB_OK;
        if (st != RB_OK) return st;
    }
    return RB_OK;
}

void rb_layers_set_training(rb_params *p, bool training)
{
    const layer_registry *r = p ? registry_of(p) : NULL;
    for (int i = 0; r && i < r->n_layers; i++)
        rb_layer_set_training(r->layers[i], training);
}

int rb_layers_unbuilt(const rb_params *p)
{
    const layer_registry *r = p ? registry_of(p) : NULL;
    int n = 0;
    for (int i = 0; r && i < r->n_layers; i++)
        n += !r->layers[i]->built;
    return n;
}
