/* Models: a parameter store, the layers it owns (a sequential stack and free-standing ones),
 * the training switch, the summary, and the ResNet builder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer_impl.h"

struct rb_model {
    char name[64];
    rb_params *params;
    int in_ndim;
    int64_t in_shape[RB_MAX_DIMS];
    rb_layer **layers; /* every layer, in order of creation */
    bool *chained;     /* part of the sequential stack */
    int n, cap;
    bool training;
};

rb_model *rb_model_new(rb_dtype dtype, const char *name, int ndim, const int64_t *shape)
{
    if (ndim < 1 || ndim >= RB_MAX_DIMS || !shape) {
        rb_error(RB_ERR_SHAPE, "rb_model_new: per-sample input shape needs 1 to %d axes",
                 RB_MAX_DIMS - 1);
        return NULL;
    }
    rb_model *m = calloc(1, sizeof *m);
    if (!m) {
        rb_error(RB_ERR_MEMORY, "rb_model_new: out of memory");
        return NULL;
    }
    m->params = rb_params_new(dtype);
    if (!m->params) {
        free(m);
        return NULL;
    }
    snprintf(m->name, sizeof m->name, "%s", name ? name : "model");
    m->in_ndim = ndim;
    memcpy(m->in_shape, shape, sizeof(int64_t) * (size_t)ndim);
    m->training = true;
    return m;
}

void rb_model_free(rb_model *m)
{
    if (!m) return;
    rb_params_free(m->params); /* frees the layers too */
    free(m->layers);
    free(m->chained);
    free(m);
}

void rb_model_seed(rb_model *m, uint64_t seed)
{
    if (m) rb_params_seed(m->params, seed);
}

static bool track(rb_model *m, rb_layer *l, bool chained)
{
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 16;
        rb_layer **layers = realloc(m->layers, sizeof *layers * (size_t)cap);
        bool *ch = layers ? realloc(m->chained, sizeof *ch * (size_t)cap) : NULL;
        if (layers) m->layers = layers;
        if (!layers || !ch) {
            rb_error(RB_ERR_MEMORY, "rb_model_add: out of memory");
            return false;
        }
        m->chained = ch;
        m->cap = cap;
    }
    rb_layer_set_training(l, m->training);
    m->layers[m->n] = l;
    m->chained[m->n++] = chained;
    return true;
}

int rb_model_output_shape(const rb_model *m, int64_t *shape)
{
    if (!m || !shape) return -1;
    for (int i = m->n - 1; i >= 0; i--)
        if (m->chained[i]) return rb_layer_output_shape(m->layers[i], shape);
    memcpy(shape, m->in_shape, sizeof(int64_t) * (size_t)m->in_ndim);
    return m->in_ndim;
}

rb_layer *rb_model_add(rb_model *m, rb_layer_spec spec)
{
    if (!m) {
        rb_error(RB_ERR_ARGUMENT, "rb_model_add: model is NULL");
        return NULL;
    }
    int64_t shape[RB_MAX_DIMS];
    int nd = rb_model_output_shape(m, shape);
    rb_layer *l = rb_layer_new(m->params, spec, nd, shape);
    return l && track(m, l, true) ? l : NULL;
}

rb_layer *rb_model_layer(rb_model *m, rb_layer_spec spec, int ndim, const int64_t *shape)
{
    if (!m) {
        rb_error(RB_ERR_ARGUMENT, "rb_model_layer: model is NULL");
        return NULL;
    }
    rb_layer *l = rb_layer_new(m->params, spec, ndim, shape);
    return l && track(m, l, false) ? l : NULL;
}

rb_tensor *rb_model_forward(rb_model *m, rb_tensor *x)
{
    if (!m) {
        rb_error(RB_ERR_ARGUMENT, "rb_model_forward: model is NULL");
        return NULL;
    }
    for (int i = 0; i < m->n && x; i++)
        if (m->chained[i]) x = rb_layer_forward(m->layers[i], x);
    return x;
}

void rb_model_set_training(rb_model *m, bool training)
{
    if (!m) return;
    m->training = training;
    for (int i = 0; i < m->n; i++)
        rb_layer_set_training(m->layers[i], training);
}

bool rb_model_training(const rb_model *m) { return m && m->training; }
rb_params *rb_model_params(const rb_model *m) { return m ? m->params : NULL; }
int rb_model_num_layers(const rb_model *m) { return m ? m->n : 0; }
const char *rb_model_name(const rb_model *m) { return m ? m->name : ""; }

rb_layer *rb_model_layer_at(const rb_model *m, int i)
{
    return m && i >= 0 && i < m->n ? m->layers[i] : NULL;
}

int64_t rb_model_num_params(const rb_model *m, bool trainable_only)
{
    int64_t n = 0;
    for (int i = 0; m && i < m->n; i++) {
        int64_t k = rb_layer_num_params(m->layers[i], trainable_only);
        if (k < 0) return -1; /* not built yet: the error names it */
        n += k;
    }
    return n;
}

rb_tensor *rb_model_regularization(const rb_model *m)
{
    if (!m) {
        rb_error(RB_ERR_ARGUMENT, "rb_model_regularization: model is NULL");
        return NULL;
    }
    rb_tensor *total = rb_tensor_scalar(rb_params_dtype(m->params), 0.0);
    for (int i = 0; i < m->n; i++) {
        rb_layer *l = m->layers[i];
        if (rb__layer_penalised(l)) total = rb_add(total, rb_layer_regularization(l));
    }
    return total;
}

rb_status rb_model_apply_constraints(rb_model *m)
{
    if (!m) return rb_error(RB_ERR_ARGUMENT, "rb_model_apply_constraints: model is NULL");
    for (int i = 0; i < m->n; i++) {
        rb_status st = rb_layer_apply_constraints(m->layers[i]);
        if (st != RB_OK) return st;
    }
    return RB_OK;
}

/* Sum of squares of the gradients of a layer's trainable variables, its sub-layers' included
 * (float64 accumulation); false when the layer has none. */
static bool grad_squares(const rb_layer *l, rb_params *p, double *sum)
{
    bool any = false;
    for (int i = 0; i < l->n_vars; i++) {
        if (!rb_params_is_trainable(l->vars[i])) continue;
        const rb_tensor *g = rb_params_grad(p, l->vars[i]);
        if (!g) continue;
        int64_t n = rb_tensor_size(g);
        if (rb_tensor_dtype(g) == RB_F64) {
            const double *v = rb_tensor_data((rb_tensor *)g);
            for (int64_t k = 0; k < n; k++)
                *sum += v[k] * v[k];
        } else {
            const float *v = rb_tensor_data((rb_tensor *)g);
            for (int64_t k = 0; k < n; k++)
                *sum += (double)v[k] * v[k];
        }
        any = true;
    }
    for (int i = 0; i < l->n_children; i++)
        any |= grad_squares(l->children[i], p, sum);
    return any;
}

int rb_model_grad_norms(const rb_model *m, double *norms, int cap)
{
    if (!m || (cap > 0 && !norms)) {
        rb_error(RB_ERR_ARGUMENT, "rb_model_grad_norms: model or output missing");
        return -1;
    }
    for (int i = 0; i < m->n && i < cap; i++) {
        double sum = 0;
        norms[i] = grad_squares(m->layers[i], m->params, &sum) ? sqrt(sum) : NAN;
    }
    return m->n;
}

/* ---- summary ---- */

static void with_commas(char *buf, size_t size, long long v)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", v);
    size_t n = strlen(digits), out = 0;
    for (size_t i = 0; i < n && out + 2 < size; i++) {
        if (i && (n - i) % 3 == 0) buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
}

static void bytes_text(char *buf, size_t size, double bytes)
{
    if (bytes >= 1 << 20)
        snprintf(buf, size, "%.2f MB", bytes / (1 << 20));
    else if (bytes >= 1 << 10)
        snprintf(buf, size, "%.2f KB", bytes / (1 << 10));
    else
        snprintf(buf, size, "%.0f B", bytes);
}

/* "name (type)" of layer i. */
static void layer_label(const rb_model *m, int i, char *out, size_t size)
{
    snprintf(out, size, "%s (%s)", m->layers[i]->name, m->layers[i]->cls->type);
}

void rb_model_summary(const rb_model *m, FILE *f)
{
    if (!m || !f) return;
    /* The first column widens to the longest label (Keras's 38 at least). */
    int width = 38;
    char label[160];
    for (int i = 0; i < m->n; i++) {
        layer_label(m, i, label, sizeof label);
        if ((int)strlen(label) > width) width = (int)strlen(label);
    }
    char rule[256], bold[256];
    int line = width + 35 < (int)sizeof rule - 1 ? width + 35 : (int)sizeof rule - 1;
    memset(rule, '_', (size_t)line);
    memset(bold, '=', (size_t)line);
    rule[line] = bold[line] = '\0';
    fprintf(f, "Model: \"%s\"\n%s\n", m->name, rule);
    fprintf(f, " %-*s %-22s %10s\n%s\n", width, "Layer (type)", "Output Shape", "Param #", bold);
    long long all = 0, trainable = 0;
    int unbuilt = 0;
    for (int i = 0; i < m->n; i++) {
        const rb_layer *l = m->layers[i];
        char shape[64] = "(None", count[32];
        layer_label(m, i, label, sizeof label);
        if (!l->built) { /* as Keras shows a layer not called yet */
            unbuilt++;
            fprintf(f, " %-*s %-22s %10s\n", width, label, "? (not built yet)", "?");
            continue;
        }
        for (int d = 0; d < l->out_ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), ", %lld",
                     (long long)l->out_shape[d]);
        strncat(shape, ")", sizeof shape - strlen(shape) - 1);
        all += rb_layer_num_params(l, false);
        trainable += rb_layer_num_params(l, true);
        with_commas(count, sizeof count, rb_layer_num_params(l, false));
        fprintf(f, " %-*s %-22s %10s\n", width, label, shape, count);
    }
    double es = (double)rb_dtype_size(rb_params_dtype(m->params));
    char a[32], t[32], n[32], ab[32], tb[32], nb[32];
    with_commas(a, sizeof a, all);
    with_commas(t, sizeof t, trainable);
    with_commas(n, sizeof n, all - trainable);
    bytes_text(ab, sizeof ab, (double)all * es);
    bytes_text(tb, sizeof tb, (double)trainable * es);
    bytes_text(nb, sizeof nb, (double)(all - trainable) * es);
    fprintf(f,
            "%s\nTotal params: %s (%s)\nTrainable params: %s (%s)\nNon-trainable params: %s "
            "(%s)\n",
            bold, a, ab, t, tb, n, nb);
    if (unbuilt)
        fprintf(f, "Not counted: %d layer%s not built yet (built at the first call)\n", unbuilt,
                unbuilt > 1 ? "s" : "");
    fprintf(f, "%s\n", rule);
}

/* ---- ResNet builder ---- */

rb_model *rb_resnet(rb_dtype dtype, const char *name, const int64_t input_shape[3],
                    rb_resnet_config c)
{
    if (!input_shape) {
        rb_error(RB_ERR_ARGUMENT, "rb_resnet: input shape is NULL");
        return NULL;
    }
    int stem = c.stem_filters ? c.stem_filters : 16, k = c.stem_kernel ? c.stem_kernel : 3;
    int stages = c.stages ? c.stages : 3;
    if (stages < 1 || stages > 8) {
        rb_error(RB_ERR_ARGUMENT, "rb_resnet: 1 to 8 stages, got %d", stages);
        return NULL;
    }
    rb_model *m = rb_model_new(dtype, name ? name : "resnet", 3, input_shape);
    if (!m) return NULL;
    rb_model_seed(m, c.seed);
    bool bn = c.bn != RB_BN_NONE, after = c.bn == RB_BN_AFTER_CONV;
    bool ok = rb_model_add(m, RB_CONV2D(.units = stem, .kernel = {k, k}, .no_bias = after,
                                        .window = {.padding = RB_PAD_SAME},
                                        .activation = after ? RB_ACT_NONE : RB_ACT_RELU));
    rb_layer_spec bn_relu = RB_BATCH_NORM(.momentum = c.bn_momentum, .activation = RB_ACT_RELU);
    if (ok && after) ok = rb_model_add(m, bn_relu) != NULL;
    if (ok && c.stem_pool) ok = rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2})) != NULL;
    for (int s = 0; ok && s < stages; s++) {
        int blocks = c.blocks[s] ? c.blocks[s] : 2;
        int width = c.widths[s] ? c.widths[s] : stem << s;
        for (int b = 0; ok && b < blocks; b++) {
            int stride = s > 0 && b == 0 ? 2 : 1;
            ok = rb_model_add(m, RB_RESIDUAL(.units = width, .bn = c.bn,
                                             .momentum = bn ? c.bn_momentum : 0,
                                             .window = {.stride = {stride, stride}})) != NULL;
        }
    }
    /* Pre-activation blocks leave their sum unnormalised: one last BN and ReLU. */
    if (ok && bn && !after) ok = rb_model_add(m, bn_relu) != NULL;
    if (ok)
        ok = rb_model_add(m, RB_GLOBAL_AVG_POOL2D()) &&
             rb_model_add(m, RB_DENSE(.units = c.classes ? c.classes : 10));
    if (!ok) {
        rb_model_free(m);
        return NULL;
    }
    return m;
}
