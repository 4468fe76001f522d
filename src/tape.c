/* Tapes: the thread-local tape stack, watching, and recording op applications. */
#include <math.h>
#include <string.h>

#include "core.h"
#include "profile.h"
#include "tape_impl.h"

static _Thread_local rb_tape *tapes[RB__MAX_TAPES];
static _Thread_local int n_tapes;
_Thread_local int rb__recording_tapes;
static _Thread_local uint64_t next_serial = 1;
static _Thread_local rb_tape *free_tapes;
static _Thread_local int n_free_tapes;
static bool anomaly_mode;

rb__arena *rb__innermost_tape_arena(void) { return n_tapes ? tapes[n_tapes - 1]->arena : NULL; }

bool rb_set_anomaly_mode(bool on)
{
    bool previous = anomaly_mode;
    anomaly_mode = on;
    return previous;
}

bool rb_anomaly_mode(void) { return anomaly_mode; }

rb_tape *rb_tape_begin(unsigned flags)
{
    if (n_tapes == RB__MAX_TAPES)
        return rb__fail(RB_ERR_STATE, "rb_tape_begin: at most %d tapes may be nested",
                        RB__MAX_TAPES);
    rb_tape *t = free_tapes;
    if (t) {
        free_tapes = t->next_free;
        n_free_tapes--;
    } else {
        t = rb__calloc(1, sizeof *t);
        if (!t) return NULL;
    }
    rb__arena *own = t->own_arena;
    memset(t, 0, sizeof *t);
    t->own_arena = own;
    if (n_tapes) {
        /* Nested: the outer tape may need our tensors for its backward pass. */
        t->arena = tapes[0]->arena;
    } else {
        if (!t->own_arena) t->own_arena = rb__arena_new();
        if (!t->own_arena) {
            rb__free(t);
            return NULL;
        }
        t->arena = t->own_arena;
    }
    if (rb__owner_push(t->arena, t) != RB_OK) {
        rb__arena_free(t->own_arena);
        rb__free(t);
        return NULL;
    }
    t->serial = next_serial++;
    t->flags = flags;
    t->recording = true;
    tapes[n_tapes++] = t;
    rb__recording_tapes++;
    return t;
}

void rb_tape_end(rb_tape *t)
{
    if (!t) return;
    if (!n_tapes || tapes[n_tapes - 1] != t || !rb__owner_is_top(t)) {
        rb_error(
            RB_ERR_STATE,
            "rb_tape_end: the tape is not the innermost tape and owner; end the tapes and scopes begun inside it first");
        return;
    }
    n_tapes--;
    if (t->recording) rb__recording_tapes--;
    rb__owner_pop(t);
    if (t->arena == t->own_arena) rb__arena_reset(t->own_arena);
    t->serial = 0;
    t->first = t->last = NULL;
    if (n_free_tapes < 4) {
        t->next_free = free_tapes;
        free_tapes = t;
        n_free_tapes++;
    } else {
        rb__arena_free(t->own_arena);
        rb__free(t);
    }
}

int64_t rb_tape_num_ops(const rb_tape *t) { return t ? t->n_nodes : 0; }

static bool tape_is_active(uint64_t serial)
{
    for (int i = 0; i < n_tapes; i++)
        if (tapes[i]->serial == serial) return true;
    return false;
}

/* Entry of tensor x for tape serial, or NULL. */
static rb__watch *find_watch(rb_tensor *x, uint64_t serial)
{
    for (int k = 0; k < x->n_watch; k++)
        if (x->watch[k].tape_serial == serial) return &x->watch[k];
    return NULL;
}

static rb_status add_watch(rb_tensor *x, uint64_t serial, rb_node *node)
{
    rb__watch *w = find_watch(x, serial);
    if (w) {
        w->node = node;
        return RB_OK;
    }
    if (x->n_watch == RB__MAX_TAPES) {
        /* Drop entries of tapes that have ended. */
        int kept = 0;
        for (int k = 0; k < x->n_watch; k++)
            if (tape_is_active(x->watch[k].tape_serial)) x->watch[kept++] = x->watch[k];
        x->n_watch = kept;
        if (kept == RB__MAX_TAPES)
            return rb_error(RB_ERR_STATE, "tensor %s watched by too many tapes", rb__shp(x));
    }
    x->watch[x->n_watch].tape_serial = serial;
    x->watch[x->n_watch].node = node;
    x->n_watch++;
    return RB_OK;
}

rb_node *rb__producer(rb_tensor *x, const rb_tape *t)
{
    rb__watch *w = find_watch(x, t->serial);
    return w ? w->node : NULL;
}

bool rb__watched_by(rb_tensor *x, const rb_tape *t)
{
    if ((x->flags & RB__TRAINABLE) && !(t->flags & RB_TAPE_MANUAL_WATCH)) return true;
    return find_watch(x, t->serial) != NULL;
}

rb_status rb_tape_watch(rb_tape *t, rb_tensor *x)
{
    if (!t || !x) return rb_error(RB_ERR_ARGUMENT, "rb_tape_watch: tape or tensor is NULL");
    if (!t->serial) return rb_error(RB_ERR_STATE, "rb_tape_watch: the tape has ended");
    if (!rb__is_float(x->dtype))
        return rb_error(RB_ERR_DTYPE,
                        "rb_tape_watch: cannot differentiate with respect to a %s tensor",
                        rb_dtype_name(x->dtype));
    if (find_watch(x, t->serial)) return RB_OK;
    return add_watch(x, t->serial, NULL);
}

rb_tensor *rb_stop_gradient(rb_tensor *x)
{
    if (!x) return NULL;
    rb_tensor *v = rb__tensor_view(x, x->ndim, x->shape, x->strides, 0);
    return v;
}

/* ---- recording ---- */

static rb_node *copy_node(const rb_node *src, rb__arena *arena)
{
    rb_node *n = rb__arena_alloc(arena, sizeof *n);
    if (!n) return NULL;
    *n = *src;
    if (src->n_in <= RB__NODE_INLINE) {
        n->in = n->in_inline;
        n->in_version = n->in_version_inline;
    } else {
        n->in = rb__arena_alloc(arena, sizeof(rb_tensor *) * (size_t)src->n_in);
        n->in_version = rb__arena_alloc(arena, sizeof(uint32_t) * (size_t)src->n_in);
        if (!n->in || !n->in_version) return NULL;
    }
    memcpy(n->in, src->in, sizeof(rb_tensor *) * (size_t)src->n_in);
    for (int i = 0; i < src->n_in; i++)
        n->in_version[i] = *src->in[i]->version;
    n->out_version = *src->out->version;
    n->prev = n->next = NULL;
    return n;
}

/* Whether tape t must record an op with these inputs. */
static bool tape_wants(const rb_tape *t, const rb_node *node)
{
    if (!t->recording) return false;
    for (int i = 0; i < node->n_in; i++)
        if (rb__is_float(node->in[i]->dtype) && rb__watched_by(node->in[i], t)) return true;
    return false;
}

static bool any_tape_wants(const rb_node *node)
{
    for (int k = 0; k < n_tapes; k++)
        if (tape_wants(tapes[k], node)) return true;
    return false;
}

static rb_status record(const rb_node *node)
{
    for (int k = 0; k < n_tapes; k++) {
        rb_tape *t = tapes[k];
        if (!tape_wants(t, node)) continue;
        rb_node *n = copy_node(node, t->arena);
        if (!n) return rb_last_status();
        n->seq = t->n_nodes++;
        n->prev = t->last;
        if (t->last)
            t->last->next = n;
        else
            t->first = n;
        t->last = n;
        rb_status st = add_watch(node->out, t->serial, n);
        if (st != RB_OK) return st;
    }
    return RB_OK;
}

const char *rb__nonfinite_name(double v) { return isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"); }

int64_t rb__find_nonfinite(const rb_tensor *t)
{
    if (!rb__is_float(t->dtype)) return -1;
    for (int64_t i = 0; i < t->size; i++)
        if (!isfinite(rb__get_flat(t, i))) return i;
    return -1;
}

static void describe_inputs(const rb_node *n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n->n_in && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", rb__shp(n->in[i]));
}

rb_tensor *rb__op_run(const rb_op_def *def, int n_in, rb_tensor *const *in, const rb_attrs *attrs,
                      rb_tensor *out)
{
    if (!out) return NULL;
    rb_node node;
    memset(&node, 0, sizeof node);
    node.def = def;
    node.n_in = n_in;
    node.in = (rb_tensor **)in;
    node.out = out;
    if (attrs) node.attrs = *attrs;
    node.recorded =
        rb__recording_tapes && def->backward && rb__is_float(out->dtype) && any_tape_wants(&node);
    rb__arena *scratch = rb__scratch_arena();
    rb__arena_mark mark = rb__arena_get_mark(scratch);
    double t0 = rb__profiling ? rb__profile_begin() : 0;
    rb_status st = def->forward(&node);
    if (rb__profiling) rb__profile_end(&node, t0, false);
    rb__arena_release(scratch, mark);
    if (st != RB_OK) return NULL;
    if (anomaly_mode) {
        int64_t bad = rb__find_nonfinite(out);
        if (bad >= 0) {
            char inputs[512], context[96] = "";
            describe_inputs(&node, inputs, sizeof inputs);
            if (rb__backward_context())
                snprintf(context, sizeof context, ", in the backward of rb_%s",
                         rb__backward_context());
            return rb__fail(RB_ERR_NONFINITE,
                            "rb_%s: produced %s at flat index %lld of its output %s (inputs %s)%s",
                            def->name, rb__nonfinite_name(rb__get_flat(out, bad)), (long long)bad,
                            rb__shp(out), inputs, context);
        }
    }
    if (node.recorded && record(&node) != RB_OK) return NULL;
    return out;
}

/* ---- public op application and node access ---- */

rb_tensor *rb_op_apply(const rb_op_def *def, int n_inputs, rb_tensor *const *inputs,
                       const rb_attrs *attrs, rb_dtype out_dtype, int out_ndim,
                       const int64_t *out_shape)
{
    if (!def || !def->forward || !def->name)
        return rb__fail(RB_ERR_ARGUMENT, "rb_op_apply: op definition incomplete");
    if (n_inputs < 0 || (n_inputs > 0 && !inputs) || (def->arity >= 0 && n_inputs != def->arity))
        return rb__fail(RB_ERR_ARGUMENT, "rb_%s: expects %d inputs, got %d", def->name, def->arity,
                        n_inputs);
    for (int i = 0; i < n_inputs; i++)
        if (!inputs[i]) {
            if (rb_last_status() == RB_OK)
                rb_error(RB_ERR_ARGUMENT, "rb_%s: input %d is NULL", def->name, i);
            return NULL;
        }
    rb_tensor *out = rb__tensor_new(out_dtype, out_ndim, out_shape, def->name);
    return rb__op_run(def, n_inputs, inputs, attrs, out);
}

int rb_node_num_inputs(const rb_node *n) { return n ? n->n_in : 0; }
rb_tensor *rb_node_input(const rb_node *n, int i)
{
    return n && i >= 0 && i < n->n_in ? n->in[i] : NULL;
}
rb_tensor *rb_node_output(const rb_node *n) { return n ? n->out : NULL; }
const rb_attrs *rb_node_attrs(const rb_node *n) { return n ? &n->attrs : NULL; }
void rb_node_save(rb_node *n, int slot, rb_tensor *t)
{
    if (n && slot >= 0 && slot < RB__NODE_SAVED) n->saved[slot] = t;
}
bool rb_node_is_recorded(const rb_node *n) { return n && n->recorded; }

rb_tensor *rb_node_saved(const rb_node *n, int slot)
{
    return n && slot >= 0 && slot < RB__NODE_SAVED ? n->saved[slot] : NULL;
}

bool rb__node_inputs_unchanged(const rb_node *n, const char **what, int *which)
{
    for (int i = 0; i < n->n_in; i++)
        if (*n->in[i]->version != n->in_version[i]) {
            *what = "input";
            *which = i;
            return false;
        }
    if (*n->out->version != n->out_version) {
        *what = "output";
        *which = 0;
        return false;
    }
    return true;
}

/* ---- tape access for the gradient module ---- */

void rb__tape_pause(rb_tape *t)
{
    if (t->recording) {
        t->recording = false;
        rb__recording_tapes--;
    }
}

void rb__tape_resume(rb_tape *t)
{
    if (!t->recording && t->serial) {
        t->recording = true;
        rb__recording_tapes++;
    }
}

bool rb__other_tape_recording(const rb_tape *except)
{
    for (int i = 0; i < n_tapes; i++)
        if (tapes[i] != except && tapes[i]->recording) return true;
    return false;
}
