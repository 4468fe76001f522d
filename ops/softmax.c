/* Softmax, log-softmax and the fused softmax cross-entropy, along one axis. */
#include <math.h>
#include <string.h>

#include "op_impl.h"
#include "parallel.h"

/* x viewed as (outer, len, inner) around the softmax axis; lines are (outer, inner) pairs. */
typedef struct lines {
    const void *x;
    void *y;
    int64_t len, inner;
    bool log;
} lines;

#define SOFTMAX_LINES(T, EXP, LOG)                                                                 \
    static void softmax_lines_##T(void *arg, int64_t begin, int64_t end)                           \
    {                                                                                              \
        const lines *L = arg;                                                                      \
        const T *x = L->x;                                                                         \
        T *y = L->y;                                                                               \
        int64_t len = L->len, inner = L->inner;                                                    \
        for (int64_t line = begin; line < end; line++) {                                           \
            int64_t o = line / inner, i = line % inner;                                            \
            const T *xl = x + o * len * inner + i;                                                 \
            T *yl = y + o * len * inner + i;                                                       \
            T m = xl[0];                                                                           \
            for (int64_t r = 1; r < len; r++)                                                      \
                if (xl[r * inner] > m) m = xl[r * inner];                                          \
            double s = 0;                                                                          \
            for (int64_t r = 0; r < len; r++) {                                                    \
                T e = EXP(xl[r * inner] - m);                                                      \
                s += e;                                                                            \
                if (!L->log) yl[r * inner] = e;                                                    \
            }                                                                                      \
            if (L->log) { /* (x - m) - log s: no large intermediate to round */                    \
                T ls = (T)log(s);                                                                  \
                for (int64_t r = 0; r < len; r++)                                                  \
                    yl[r * inner] = (xl[r * inner] - m) - ls;                                      \
            } else {                                                                               \
                T inv = (T)(1.0 / s);                                                              \
                for (int64_t r = 0; r < len; r++)                                                  \
                    yl[r * inner] *= inv;                                                          \
            }                                                                                      \
        }                                                                                          \
    }
SOFTMAX_LINES(float, expf, logf)
SOFTMAX_LINES(double, exp, log)

static void softmax_kernel(const rb_tensor *x, rb_tensor *y, int axis, bool log)
{
    lines L = {x->data, y->data, x->shape[axis], 1, log};
    for (int d = axis + 1; d < x->ndim; d++)
        L.inner *= x->shape[d];
    int64_t n_lines = L.len ? x->size / L.len : 0;
    int64_t grain = RB__GRAIN / (L.len ? L.len : 1) + 1;
    rb__parallel_for(n_lines, grain,
                     x->dtype == RB_F32 ? softmax_lines_float : softmax_lines_double, &L);
}

static rb_tensor *softmax_op(rb__op_id id, rb_tensor *x, int axis)
{
    const char *name = rb__ops[id].name;
    if (!rb__check_inputs(name, 1, &x)) return NULL;
    int a = rb__check_line_axis(name, x, axis);
    if (a < 0) return NULL;
    rb_attrs at = {.i = {a}};
    return rb__apply(id, 1, &x, &at, x->dtype, x->ndim, x->shape);
}

rb_tensor *rb_softmax(rb_tensor *x, int axis) { return softmax_op(RB__OP_softmax, x, axis); }
rb_tensor *rb_log_softmax(rb_tensor *x, int axis)
{
    return softmax_op(RB__OP_log_softmax, x, axis);
}

static rb_status softmax_forward(rb_node *n, bool log)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    if (!x) return rb_last_status();
    softmax_kernel(x, n->out, (int)n->attrs.i[0], log);
    return RB_OK;
}

rb_status rb__fwd_softmax(rb_node *n) { return softmax_forward(n, false); }
rb_status rb__fwd_log_softmax(rb_node *n) { return softmax_forward(n, true); }

void rb__bwd_softmax(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    /* y (g - sum(g y)) along the axis */
    int axis = (int)n->attrs.i[0];
    rb_tensor *y = n->out;
    rb_tensor *dot = rb_sum(rb_mul(g, y), RB_AXES(axis), true);
    rb_grad_add(ctx, n, 0, rb_mul(y, rb_sub(g, dot)));
}

void rb__bwd_log_softmax(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    /* g - softmax(x) sum(g) along the axis */
    int axis = (int)n->attrs.i[0];
    rb_tensor *total = rb_sum(g, RB_AXES(axis), true);
    rb_grad_add(ctx, n, 0, rb_sub(g, rb_mul(rb_exp(n->out), total)));
}

/* ---- fused softmax cross-entropy: logits (B, C); labels int64 (B) or float (B, C) ---- */

rb_tensor *rb_softmax_cross_entropy(rb_tensor *logits, rb_tensor *labels)
{
    const char *name = "softmax_cross_entropy";
    rb_tensor *in[2] = {logits, labels};
    if (!rb__check_inputs(name, 2, in) || !rb__check_float(name, logits)) return NULL;
    if (logits->ndim != 2)
        return rb__fail(RB_ERR_SHAPE, "rb_%s: logits must be (batch, classes), got %s", name,
                        rb__shp(logits));
    int64_t B = logits->shape[0], C = logits->shape[1];
    if (B == 0 || C == 0)
        return rb__fail(RB_ERR_EMPTY, "rb_%s: empty logits %s", name, rb__shp(logits));
    if (labels->dtype == RB_I64) {
        if (labels->ndim != 1 || labels->shape[0] != B)
            return rb__fail(RB_ERR_SHAPE,
                            "rb_%s: integer labels must be (%lld), got %s for logits %s", name,
                            (long long)B, rb__shp(labels), rb__shp(logits));
        for (int64_t b = 0; b < B; b++) {
            int64_t k = (int64_t)rb__get_flat(labels, b);
            if (k < 0 || k >= C)
                return rb__fail(RB_ERR_ARGUMENT,
                                "rb_%s: label %lld at row %lld is out of range for %lld classes",
                                name, (long long)k, (long long)b, (long long)C);
        }
    } else {
        if (!rb__check_same_dtype(name, logits, labels)) return NULL;
        if (!rb_tensor_same_shape(logits, labels))
            return rb__fail(RB_ERR_SHAPE, "rb_%s: probability targets %s must match logits %s",
                            name, rb__shp(labels), rb__shp(logits));
    }
    return rb__apply(RB__OP_softmax_cross_entropy, 2, in, NULL, logits->dtype, 0, NULL);
}

typedef struct ce_ctx {
    const rb_tensor *x, *labels;
    void *probs;
    double *row_loss;
    int64_t C;
} ce_ctx;

#define CE_ROWS(T, EXP)                                                                            \
    static void ce_rows_##T(void *arg, int64_t begin, int64_t end)                                 \
    {                                                                                              \
        const ce_ctx *c = arg;                                                                     \
        const T *x = c->x->data;                                                                   \
        T *p = c->probs;                                                                           \
        int64_t C = c->C;                                                                          \
        for (int64_t b = begin; b < end; b++) {                                                    \
            const T *xr = x + b * C;                                                               \
            T *pr = p + b * C;                                                                     \
            T m = xr[0];                                                                           \
            for (int64_t k = 1; k < C; k++)                                                        \
                if (xr[k] > m) m = xr[k];                                                          \
            double s = 0;                                                                          \
            for (int64_t k = 0; k < C; k++) {                                                      \
                pr[k] = EXP(xr[k] - m);                                                            \
                s += pr[k];                                                                        \
            }                                                                                      \
            double lse = (double)m + log(s), inv = 1.0 / s;                                        \
            for (int64_t k = 0; k < C; k++)                                                        \
                pr[k] = (T)(pr[k] * inv);                                                          \
            if (c->labels->dtype == RB_I64) {                                                      \
                int64_t k = ((const int64_t *)c->labels->data)[b];                                 \
                c->row_loss[b] = lse - (double)xr[k];                                              \
            } else {                                                                               \
                const T *t = (const T *)c->labels->data + b * C;                                   \
                double l = 0;                                                                      \
                for (int64_t k = 0; k < C; k++)                                                    \
                    l += (double)t[k] * (lse - (double)xr[k]);                                     \
                c->row_loss[b] = l;                                                                \
            }                                                                                      \
        }                                                                                          \
    }
CE_ROWS(float, expf)
CE_ROWS(double, exp)

rb_status rb__fwd_softmax_cross_entropy(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    rb_tensor *labels = rb__contiguous(n->in[1]);
    if (!x || !labels) return rb_last_status();
    int64_t B = x->shape[0], C = x->shape[1];
    /* Backward reuses the probabilities: keep them with the tape when one records us. */
    rb_tensor *probs = n->recorded ? rb__tensor_new(x->dtype, 2, x->shape, "softmax_cross_entropy")
                                   : rb__tensor_scratch(x->dtype, 2, x->shape);
    int64_t bshape[1] = {B};
    rb_tensor *row_loss = rb__tensor_scratch(RB_F64, 1, bshape);
    if (!probs || !row_loss) return rb_last_status();
    ce_ctx c = {x, labels, probs->data, row_loss->data, C};
    rb__parallel_for(B, RB__GRAIN / (C + 1) + 1,
                     x->dtype == RB_F32 ? ce_rows_float : ce_rows_double, &c);
    /* Sum the rows in order: the same result whatever the thread count. */
    double total = 0;
    for (int64_t b = 0; b < B; b++)
        total += c.row_loss[b];
    rb__set_flat(n->out, 0, total / (double)B);
    if (n->recorded) rb_node_save(n, 0, probs);
    return RB_OK;
}

/* (softmax(x) - target) * g / B straight from the saved probabilities. */
static rb_tensor *ce_logit_grad_fast(const rb_node *n, rb_tensor *g)
{
    rb_tensor *p = n->saved[0], *labels = n->in[1];
    int64_t B = p->shape[0], C = p->shape[1];
    double scale = rb__get_flat(g, 0) / (double)B;
    rb_tensor *d = rb__tensor_new(p->dtype, 2, p->shape, "softmax_cross_entropy");
    if (!d) return NULL;
    labels = rb__contiguous(labels);
    if (!labels) return NULL;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t k = 0; k < C; k++) {
            int64_t i = b * C + k;
            double target = labels->dtype == RB_I64
                                ? (double)(((const int64_t *)labels->data)[b] == k)
                                : rb__get_flat(labels, i);
            if (p->dtype == RB_F32)
                ((float *)d->data)[i] = (float)((((float *)p->data)[i] - target) * scale);
            else
                ((double *)d->data)[i] = (((double *)p->data)[i] - target) * scale;
        }
    }
    return d;
}

void rb__bwd_softmax_cross_entropy(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0], *labels = n->in[1];
    double inv_b = 1.0 / (double)x->shape[0];
    if (rb_grad_needed(ctx, n, 0)) {
        if (!rb__grad_create_graph(ctx) && n->saved[0]) {
            rb_grad_add(ctx, n, 0, ce_logit_grad_fast(n, g));
        } else {
            rb_tensor *target =
                labels->dtype == RB_I64 ? rb_one_hot(labels, x->shape[1], x->dtype) : labels;
            rb_tensor *d = rb_sub(rb_softmax(x, 1), target);
            rb_grad_add(ctx, n, 0, rb_mul(d, rb_mul_scalar(g, inv_b)));
        }
    }
    if (labels->dtype != RB_I64 && rb_grad_needed(ctx, n, 1)) /* -log softmax(x) g / B */
        rb_grad_add(ctx, n, 1, rb_mul(rb_log_softmax(x, 1), rb_mul_scalar(g, -inv_b)));
}
