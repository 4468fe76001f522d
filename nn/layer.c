/* Layers: building from a spec, names, the forward wrapper, accessors, regularisation. */
#include <float.h>
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
    static const char *names[] = {"linear", "relu",    "leaky_relu", "elu",      "selu",
                                  "gelu",   "sigmoid", "tanh",       "softplus", "softmax"};
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
    }
    rb_error(RB_ERR_ARGUMENT, "rb_activate: unknown activation %d", (int)act);
    return NULL;
}

rb_tensor *rb__layer_activate(const rb_layer *l, rb_tensor *x)
{
    return rb_activate(x, l->spec.activation, l->spec.alpha);
}

/* ---- names: "dense", "dense_1", ... per store, as Keras numbers them ---- */

typedef struct name_registry {
    int counts[RB_LAYER_KIND_COUNT];
    int n_names, cap;
    char (*names)[64];
} name_registry;

static void registry_free(void *obj)
{
    name_registry *r = obj;
    free(r->names);
    free(r);
}

static name_registry *registry_of(rb_params *p)
{
    name_registry *r = rb_params_attachment(p, registry_free);
    if (r) return r;
    r = calloc(1, sizeof *r);
    if (!r || rb_params_attach(p, r, registry_free) != RB_OK) {
        free(r);
        return NULL;
    }
    return r;
}

static bool name_taken(const name_registry *r, const char *name)
{
    for (int i = 0; i < r->n_names; i++)
        if (strcmp(r->names[i], name) == 0) return true;
    return false;
}

static bool register_name(rb_params *p, rb_layer *l)
{
    name_registry *r = registry_of(p);
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

/* ---- penalties and constraints: which kinds have what they act on ---- */

static bool kind_has_kernel(rb_layer_kind kind)
{
    switch (kind) {
    case RB_LAYER_DENSE:
    case RB_LAYER_CONV1D:
    case RB_LAYER_CONV2D:
    case RB_LAYER_CONV2D_TRANSPOSE:
    case RB_LAYER_SCS2D:
    case RB_LAYER_RESIDUAL: /* its convolutions' */
    case RB_LAYER_SIMPLE_RNN:
    case RB_LAYER_LSTM:
    case RB_LAYER_GRU: return true;
    default: return false;
    }
}

static bool kind_is_recurrent(rb_layer_kind kind)
{
    return kind == RB_LAYER_SIMPLE_RNN || kind == RB_LAYER_LSTM || kind == RB_LAYER_GRU;
}

/* Negative or non-finite coefficients, and coefficients a kind has nothing to apply to, are
 * refused: ignoring them would silently train another model than the one asked for. */
static bool check_penalties(const rb_layer *l)
{
    const rb_layer_spec *s = &l->spec;
    const struct {
        const char *field;
        double value;
        bool recurrent;
    } fields[] = {{"l2", s->l2, false},
                  {"l1", s->l1, false},
                  {"max_norm", s->max_norm, false},
                  {"recurrent_l2", s->recurrent_l2, true},
                  {"recurrent_l1", s->recurrent_l1, true},
                  {"recurrent_max_norm", s->recurrent_max_norm, true}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        double v = fields[i].value;
        if (!(v >= 0 && v <= DBL_MAX))
            return rb__layer_fail(l, RB_ERR_ARGUMENT, ".%s = %g: needs a finite value >= 0",
                                  fields[i].field, v);
        bool applies = fields[i].recurrent ? kind_is_recurrent(s->kind) : kind_has_kernel(s->kind);
        if (v > 0 && !applies)
            return rb__layer_fail(l, RB_ERR_ARGUMENT,
                                  ".%s = %g: this kind has no %s to apply it to", fields[i].field,
                                  v, fields[i].recurrent ? "recurrent kernel" : "kernel");
    }
    return true;
}

static void layer_free(void *obj) { free(obj); }

static rb_layer *build(rb_params *p, rb_layer_spec spec, int ndim, const int64_t *shape,
                       const char *forced_name)
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
    l->training = true;
    l->dtype = rb_params_dtype(p);
    if (forced_name) spec.name = l->spec.name = forced_name;
    if (ndim < 1 || ndim >= RB_MAX_DIMS || !shape) {
        rb__layer_fail(l, RB_ERR_SHAPE, "needs a per-sample input shape of 1 to %d axes",
                       RB_MAX_DIMS - 1);
        free(l);
        return NULL;
    }
    l->in_ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) {
            rb__layer_fail(l, RB_ERR_SHAPE, "input extent %lld on axis %d", (long long)shape[i], i);
            free(l);
            return NULL;
        }
        l->in_shape[i] = shape[i];
    }
    if (!register_name(p, l) || !check_penalties(l)) {
        free(l);
        return NULL;
    }
    l->rng = spec.seed ? rb_rng_make(spec.seed) : rb_rng_split(rb_params_rng(p));
    /* Attached first, so that a failed build still frees it with the store. */
    if (rb_params_attach(p, l, layer_free) != RB_OK) {
        free(l);
        return NULL;
    }
    if (!l->cls->build(l, p)) return NULL;
    return l;
}

rb_layer *rb_layer_new(rb_params *p, rb_layer_spec spec, int ndim, const int64_t *shape)
{
    return build(p, spec, ndim, shape, NULL);
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
    rb_layer *child = build(p, spec, ndim, shape, name);
    if (child) parent->children[parent->n_children++] = child;
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
    if (!x) return NULL;
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
    /* Residual blocks apply their activation inside; some layers fuse a ReLU. */
    /* Residual blocks and recurrent cells apply their activation inside. */
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
    int changed = 0;
    if (l->cls == &rb__batch_norm_class) {
        l->stats_fn = fn;
        l->stats_ctx = ctx;
        changed++;
    }
    for (int i = 0; i < l->n_children; i++)
        changed += rb_layer_set_batch_stats(l->children[i], fn, ctx);
    return changed;
}

const char *rb_layer_name(const rb_layer *l) { return l ? l->name : ""; }
const char *rb_layer_type(const rb_layer *l) { return l ? l->cls->type : ""; }

int rb_layer_output_shape(const rb_layer *l, int64_t *shape)
{
    if (!l || !shape) return -1;
    memcpy(shape, l->out_shape, sizeof(int64_t) * (size_t)l->out_ndim);
    return l->out_ndim;
}

int64_t rb_layer_num_params(const rb_layer *l, bool trainable_only)
{
    int64_t n = 0;
    if (!l) return 0;
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
