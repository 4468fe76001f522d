/* rb_tape_gradient: replay a tape backward, accumulating gradients. */
#include <string.h>

#include "core.h"
#include "elementwise.h"
#include "gemm.h"
#include "kernels.h"
#include "profile.h"
#include "tape_impl.h"

/* Generations tell this call's per-tensor scratch from stale values of earlier calls. */
static _Thread_local uint64_t generation;
static _Thread_local bool in_gradient;
/* The op whose backward rule is running, for messages of ops that fail inside it. */
static _Thread_local const char *backward_of;

const char *rb__backward_context(void) { return backward_of; }

/* How a tensor's gradient accumulator may be updated. */
enum {
    ACC_BORROWED, /* another op's tensor: replace, never write into it */
    ACC_OWNED,    /* made by this call for this tensor alone: may be updated in place */
    ACC_SINK      /* the parameter store's gradient tensor */
};

bool rb_grad_needed(const rb_grad_ctx *ctx, const rb_node *n, int i)
{
    if (!ctx || !n || i < 0 || i >= n->n_in) return false;
    return n->in[i]->dep_gen == ctx->gen;
}

static void backward_failed(rb_grad_ctx *ctx) { ctx->failed = true; }

static bool check_grad(rb_grad_ctx *ctx, const rb_node *n, int i, const rb_tensor *g)
{
    rb_tensor *x = n->in[i];
    if (!g) {
        if (rb_last_status() == RB_OK)
            rb_error(RB_ERR_STATE,
                     "rb_tape_gradient: backward of rb_%s gave no gradient for input %d",
                     n->def->name, i);
        backward_failed(ctx);
        return false;
    }
    if (!rb_tensor_same_shape(g, x) || g->dtype != x->dtype) {
        rb_error(RB_ERR_SHAPE,
                 "rb_tape_gradient: backward of rb_%s gave a %s%s gradient for input %d of %s%s",
                 n->def->name, rb_dtype_name(g->dtype), rb__shp(g), i, rb_dtype_name(x->dtype),
                 rb__shp(x));
        backward_failed(ctx);
        return false;
    }
    if (rb_anomaly_mode()) {
        int64_t bad = rb__find_nonfinite(g);
        if (bad >= 0) {
            rb_error(
                RB_ERR_NONFINITE,
                "rb_tape_gradient: backward of rb_%s produced %s at flat index %lld of the gradient of input %d %s",
                n->def->name, rb__nonfinite_name(rb__get_flat(g, bad)), (long long)bad, i,
                rb__shp(x));
            backward_failed(ctx);
            return false;
        }
    }
    return true;
}

/* Make x's accumulator writable in place (fast mode only). */
static rb_tensor *owned_accumulator(rb_tensor *x)
{
    if (x->grad_state == ACC_BORROWED) {
        rb_tensor *copy = rb_tensor_copy(x->grad_acc);
        if (!copy) return NULL;
        x->grad_acc = copy;
        x->grad_state = ACC_OWNED;
    }
    return x->grad_acc;
}

void rb_grad_add(rb_grad_ctx *ctx, const rb_node *n, int i, rb_tensor *g)
{
    if (!ctx || ctx->failed || !n || i < 0 || i >= n->n_in) return;
    rb_tensor *x = n->in[i];
    /* A NULL gradient is an op that failed: the call fails even when input i needs none (a
     * backward rule may report its failure through any input). */
    if (!g) {
        check_grad(ctx, n, i, g);
        return;
    }
    if (x->dep_gen != ctx->gen) return;
    if (!check_grad(ctx, n, i, g)) return;
    if (x->grad_gen != ctx->gen) {
        x->grad_gen = ctx->gen;
        x->grad_acc = g;
        x->grad_state = ACC_BORROWED;
        return;
    }
    if (ctx->create_graph) {
        x->grad_acc = rb_add(x->grad_acc, g);
        x->grad_state = ACC_BORROWED;
        if (!x->grad_acc) backward_failed(ctx);
        return;
    }
    rb_tensor *acc = owned_accumulator(x);
    if (!acc) {
        backward_failed(ctx);
        return;
    }
    rb__add_into(acc, g);
}

void rb__grad_add_region(rb_grad_ctx *ctx, const rb_node *n, int i, const rb_tensor *g,
                         const int64_t *start, const int64_t *step)
{
    if (!ctx || ctx->failed) return;
    if (!g) {
        check_grad(ctx, n, i, g);
        return;
    }
    rb_tensor *x = n->in[i];
    if (x->dep_gen != ctx->gen) return;
    if (g->dtype != x->dtype || g->ndim != x->ndim) {
        rb_error(
            RB_ERR_SHAPE,
            "rb_tape_gradient: backward of rb_%s gave a %s%s region gradient for input %d of %s%s",
            n->def->name, rb_dtype_name(g->dtype), rb__shp(g), i, rb_dtype_name(x->dtype),
            rb__shp(x));
        backward_failed(ctx);
        return;
    }
    if (rb_anomaly_mode() && rb__find_nonfinite(g) >= 0) {
        rb_error(RB_ERR_NONFINITE,
                 "rb_tape_gradient: backward of rb_%s produced %s in the gradient of input %d %s",
                 n->def->name, rb__nonfinite_name(rb__get_flat(g, rb__find_nonfinite(g))), i,
                 rb__shp(x));
        backward_failed(ctx);
        return;
    }
    rb_tensor *acc;
    if (x->grad_gen != ctx->gen) {
        acc = rb__tensor_new(x->dtype, x->ndim, x->shape, n->def->name);
        if (!acc) {
            backward_failed(ctx);
            return;
        }
        rb__fill(acc, 0.0);
        x->grad_gen = ctx->gen;
        x->grad_acc = acc;
        x->grad_state = ACC_OWNED;
    } else if (!(acc = owned_accumulator(x))) {
        backward_failed(ctx);
        return;
    }
    /* The region: acc's elements from start, every step, with g's shape. */
    rb_tensor view = *acc;
    int64_t offset = 0;
    for (int d = 0; d < acc->ndim; d++) {
        offset += start[d] * acc->strides[d];
        view.shape[d] = g->shape[d];
        view.strides[d] = acc->strides[d] * step[d];
    }
    view.size = g->size;
    view.data = (char *)acc->data + offset * (int64_t)rb_dtype_size(acc->dtype);
    rb__tensor_update_contiguous(&view);
    rb__add_into(&view, g);
}

void rb__grad_add_gemm(rb_grad_ctx *ctx, const rb_node *n, int i, const rb_tensor *a, bool ta,
                       const rb_tensor *b, bool tb)
{
    if (!ctx || ctx->failed) return;
    if (!a || !b) { /* an operand that could not be made */
        check_grad(ctx, n, i, NULL);
        return;
    }
    rb_tensor *x = n->in[i];
    if (x->dep_gen != ctx->gen) return;
    float beta = 1.0f;
    rb_tensor *dst;
    if (x->grad_gen != ctx->gen) {
        x->grad_gen = ctx->gen;
        beta = 0.0f;
        if (ctx->params_mode && x->var_grad) {
            dst = x->var_grad;
            x->grad_state = ACC_SINK;
        } else {
            dst = rb__tensor_new(x->dtype, x->ndim, x->shape, n->def->name);
            x->grad_state = ACC_OWNED;
        }
        x->grad_acc = dst;
    } else {
        dst = owned_accumulator(x);
    }
    if (!dst) {
        backward_failed(ctx);
        return;
    }
    rb__gemm_tensors(a, ta, b, tb, dst, 1.0, beta);
    if (rb_anomaly_mode() && !check_grad(ctx, n, i, dst)) return;
}

/* ---- the replay ---- */

static rb_status fail_state(const char *msg)
{
    return rb_error(RB_ERR_STATE, "rb_tape_gradient: %s", msg);
}

/* Marks every node whose output depends on a source; returns the target's producer. */
static void mark_dependencies(rb_tape *t, uint64_t gen, const rb_node *last)
{
    for (rb_node *n = t->first; n; n = n->next) {
        bool dep = false;
        for (int i = 0; i < n->n_in && !dep; i++)
            dep = n->in[i]->dep_gen == gen;
        if (dep && rb__is_float(n->out->dtype)) {
            n->mark = gen;
            n->out->dep_gen = gen;
        }
        if (n == last) break;
    }
}

static rb_status check_versions(const rb_node *n)
{
    const char *what;
    int which;
    if (rb__node_inputs_unchanged(n, &what, &which)) return RB_OK;
    return rb_error(
        RB_ERR_STATE,
        "rb_tape_gradient: %s %d of rb_%s was modified in place after it was recorded; its gradient would be wrong",
        what, which, n->def->name);
}

static rb_status replay(rb_grad_ctx *ctx, rb_tensor *target, rb_tensor *seed)
{
    rb_tape *t = ctx->tape;
    rb_node *last = rb__producer(target, t);
    mark_dependencies(t, ctx->gen, last);
    if (target->dep_gen != ctx->gen) return RB_OK; /* no path: every gradient is zero */
    rb_tensor *g0 = seed ? seed : rb_tensor_ones(target->dtype, target->ndim, target->shape);
    if (!g0) return rb_last_status();
    target->grad_gen = ctx->gen;
    target->grad_acc = g0;
    target->grad_state = ACC_BORROWED;
    for (rb_node *n = last; n; n = n->prev) {
        if (n->mark != ctx->gen || n->out->grad_gen != ctx->gen) continue;
        rb_status st = check_versions(n);
        if (st != RB_OK) return st;
        ctx->node = n;
        rb__arena *scratch = rb__scratch_arena();
        rb__arena_mark mark = rb__arena_get_mark(scratch);
        backward_of = n->def->name;
        uint64_t errors = rb__error_count();
        double t0 = rb__profiling ? rb__profile_begin() : 0;
        n->def->backward(ctx, n, n->out->grad_acc);
        if (rb__profiling) rb__profile_end(n, t0, true);
        backward_of = NULL;
        rb__arena_release(scratch, mark);
        /* An error raised inside the rule fails the call, even if the rule went on: its
         * gradients would be missing or wrong. */
        if (rb__error_count() != errors) ctx->failed = true;
        if (ctx->failed) {
            if (rb_last_status() == RB_OK)
                rb_error(RB_ERR_STATE, "rb_tape_gradient: backward of rb_%s failed", n->def->name);
            return rb_last_status();
        }
    }
    return RB_OK;
}

static rb_status begin_call(rb_grad_ctx *ctx, rb_tape *t, rb_tensor *target)
{
    if (!t) return rb_error(RB_ERR_ARGUMENT, "rb_tape_gradient: tape is NULL");
    if (!target) {
        if (rb_last_status() == RB_OK)
            rb_error(RB_ERR_ARGUMENT, "rb_tape_gradient: target is NULL");
        return rb_last_status();
    }
    if (!t->serial) return fail_state("the tape has ended");
    if (t->used)
        return fail_state(
            "a non-persistent tape gives one gradient call; begin it with RB_TAPE_PERSISTENT for more");
    if (in_gradient) return fail_state("called from inside a backward rule");
    if (!rb__is_float(target->dtype))
        return rb_error(RB_ERR_DTYPE, "rb_tape_gradient: target is %s, not a float tensor",
                        rb_dtype_name(target->dtype));
    memset(ctx, 0, sizeof *ctx);
    ctx->gen = ++generation;
    ctx->tape = t;
    return RB_OK;
}

/* Runs the replay with the tape paused and its arena as the owner of new tensors. */
static rb_status run_replay(rb_grad_ctx *ctx, rb_tensor *target, rb_tensor *seed)
{
    rb_tape *t = ctx->tape;
    bool was_recording = t->recording;
    rb__tape_pause(t);
    ctx->create_graph = rb__other_tape_recording(t);
    rb_status st = rb__owner_push(t->arena, ctx);
    if (st == RB_OK) {
        in_gradient = true;
        st = replay(ctx, target, seed);
        in_gradient = false;
        rb__owner_pop(ctx);
    }
    if (was_recording) rb__tape_resume(t);
    if (!(t->flags & RB_TAPE_PERSISTENT)) t->used = true;
    return st;
}

rb_status rb_tape_gradient_seeded(rb_tape *t, rb_tensor *target, rb_tensor *seed, int n,
                                  rb_tensor *const *sources, rb_tensor **grads)
{
    rb_grad_ctx ctx;
    rb_status st = begin_call(&ctx, t, target);
    if (st != RB_OK) return st;
    if (n < 0 || (n > 0 && (!sources || !grads)))
        return rb_error(RB_ERR_ARGUMENT, "rb_tape_gradient: bad source list (n=%d)", n);
    for (int i = 0; i < n; i++) {
        grads[i] = NULL;
        if (!sources[i]) return rb_error(RB_ERR_ARGUMENT, "rb_tape_gradient: source %d is NULL", i);
        if (!rb__is_float(sources[i]->dtype))
            return rb_error(RB_ERR_DTYPE, "rb_tape_gradient: source %d is %s, not float", i,
                            rb_dtype_name(sources[i]->dtype));
    }
    if (seed && (!rb_tensor_same_shape(seed, target) || seed->dtype != target->dtype))
        return rb_error(RB_ERR_SHAPE, "rb_tape_gradient: seed %s%s differs from target %s%s",
                        rb_dtype_name(seed->dtype), rb__shp(seed), rb_dtype_name(target->dtype),
                        rb__shp(target));
    for (int i = 0; i < n; i++)
        sources[i]->dep_gen = ctx.gen;
    st = run_replay(&ctx, target, seed);
    if (st != RB_OK) return st;
    rb__owner_push(t->arena, &ctx);
    for (int i = 0; i < n; i++) {
        rb_tensor *s = sources[i];
        grads[i] =
            s->grad_gen == ctx.gen ? s->grad_acc : rb_tensor_zeros(s->dtype, s->ndim, s->shape);
        if (!grads[i]) st = rb_last_status();
    }
    rb__owner_pop(&ctx);
    return st;
}

rb_status rb_tape_gradient(rb_tape *t, rb_tensor *target, int n, rb_tensor *const *sources,
                           rb_tensor **grads)
{
    return rb_tape_gradient_seeded(t, target, NULL, n, sources, grads);
}

rb_tensor *rb_tape_gradient1(rb_tape *t, rb_tensor *target, rb_tensor *source)
{
    rb_tensor *g = NULL;
    if (!source) {
        if (rb_last_status() == RB_OK)
            rb_error(RB_ERR_ARGUMENT, "rb_tape_gradient: source is NULL");
        return NULL;
    }
    if (rb_tape_gradient(t, target, 1, &source, &g) != RB_OK) return NULL;
    return g;
}

rb_status rb_tape_gradient_params(rb_tape *t, rb_tensor *loss, rb_params *p)
{
    rb_grad_ctx ctx;
    rb_status st = begin_call(&ctx, t, loss);
    if (st != RB_OK) return st;
    if (!p) return rb_error(RB_ERR_ARGUMENT, "rb_tape_gradient_params: store is NULL");
    ctx.params_mode = true;
    int count = rb_params_count(p);
    for (int i = 0; i < count; i++) {
        rb_tensor *v = rb_params_at(p, i);
        if (v->flags & RB__TRAINABLE) v->dep_gen = ctx.gen;
    }
    st = run_replay(&ctx, loss, NULL);
    if (st != RB_OK) return st;
    for (int i = 0; i < count; i++) {
        rb_tensor *v = rb_params_at(p, i);
        if (!(v->flags & RB__TRAINABLE)) continue;
        rb_tensor *dst = v->var_grad;
        if (v->grad_gen != ctx.gen)
            rb__fill(dst, 0.0);
        else if (v->grad_acc != dst)
            rb__copy_strided(dst, v->grad_acc);
        rb__bump_version(dst);
    }
    return RB_OK;
}
