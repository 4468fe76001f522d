/* Fill, strided copy and the strided iterator behind every elementwise op. */
#include <string.h>

#include "kernels.h"
#include "parallel.h"

void rb__broadcast_strides(const rb_tensor *t, int ndim, int64_t *out)
{
    int lead = ndim - t->ndim;
    for (int i = 0; i < ndim; i++) {
        int j = i - lead;
        out[i] = (j < 0 || t->shape[j] == 1) ? 0 : t->strides[j];
    }
}

typedef struct iter_plan {
    int ndim;
    int64_t shape[RB_MAX_DIMS];
    int nops;
    char *base[RB__MAX_OPERANDS];
    size_t esize[RB__MAX_OPERANDS];
    int64_t strides[RB__MAX_OPERANDS][RB_MAX_DIMS];
    rb__inner_fn inner;
    void *ctx;
} iter_plan;

/* Runs the flat positions [begin, end) of the plan: rows of the innermost axis, split at the
 * chunk boundaries. */
static void iterate_range(void *arg, int64_t begin, int64_t end)
{
    const iter_plan *p = arg;
    int nd = p->ndim;
    int64_t inner_len = p->shape[nd - 1];
    int64_t idx[RB_MAX_DIMS];
    int64_t row = begin / inner_len, col = begin % inner_len;
    for (int d = nd - 2; d >= 0; d--) {
        idx[d] = row % p->shape[d];
        row /= p->shape[d];
    }
    char *ptrs[RB__MAX_OPERANDS];
    int64_t inner_strides[RB__MAX_OPERANDS];
    for (int k = 0; k < p->nops; k++)
        inner_strides[k] = p->strides[k][nd - 1];
    int64_t pos = begin;
    while (pos < end) {
        int64_t n = inner_len - col;
        if (n > end - pos) n = end - pos;
        for (int k = 0; k < p->nops; k++) {
            int64_t off = col * p->strides[k][nd - 1];
            for (int d = 0; d < nd - 1; d++)
                off += idx[d] * p->strides[k][d];
            ptrs[k] = p->base[k] + off * (int64_t)p->esize[k];
        }
        p->inner(n, ptrs, inner_strides, p->ctx);
        pos += n;
        col = 0;
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < p->shape[d]) break;
            idx[d] = 0;
        }
    }
}

void rb__iterate(int ndim, const int64_t *shape, int nops, const rb__operand *ops,
                 rb__inner_fn inner, void *ctx)
{
    iter_plan p;
    p.nops = nops;
    p.inner = inner;
    p.ctx = ctx;
    int64_t total = 1;
    for (int i = 0; i < ndim; i++)
        total *= shape[i];
    if (total == 0) return;
    for (int k = 0; k < nops; k++) {
        p.base[k] = ops[k].data;
        p.esize[k] = ops[k].elem_size;
    }
    /* Drop extent-1 axes, then merge neighbours whose strides chain for every operand. */
    int nd = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 1) continue;
        bool merge = nd > 0;
        for (int k = 0; merge && k < nops; k++)
            merge = p.strides[k][nd - 1] == ops[k].strides[i] * shape[i];
        if (merge) {
            p.shape[nd - 1] *= shape[i];
            for (int k = 0; k < nops; k++)
                p.strides[k][nd - 1] = ops[k].strides[i];
        } else {
            p.shape[nd] = shape[i];
            for (int k = 0; k < nops; k++)
                p.strides[k][nd] = ops[k].strides[i];
            nd++;
        }
    }
    if (nd == 0) {
        p.shape[0] = 1;
        for (int k = 0; k < nops; k++)
            p.strides[k][0] = 0;
        nd = 1;
    }
    p.ndim = nd;
    rb__parallel_for(total, RB__GRAIN, iterate_range, &p);
}

/* ---- fill ---- */

typedef struct fill_ctx {
    rb_dtype dtype;
    double value;
} fill_ctx;

static void fill_inner(int64_t n, char **ptrs, const int64_t *strides, void *arg)
{
    const fill_ctx *c = arg;
    double v = c->value;
    int64_t s = strides[0];
    switch (c->dtype) {
    case RB_F32: {
        float *o = (float *)ptrs[0], fv = (float)v;
        for (int64_t i = 0; i < n; i++)
            o[i * s] = fv;
        break;
    }
    case RB_F64: {
        double *o = (double *)ptrs[0];
        for (int64_t i = 0; i < n; i++)
            o[i * s] = v;
        break;
    }
    case RB_I64: {
        int64_t *o = (int64_t *)ptrs[0], iv = (int64_t)v;
        for (int64_t i = 0; i < n; i++)
            o[i * s] = iv;
        break;
    }
    case RB_U8: {
        uint8_t *o = (uint8_t *)ptrs[0], iv = (uint8_t)v;
        for (int64_t i = 0; i < n; i++)
            o[i * s] = iv;
        break;
    }
    }
}

void rb__fill(rb_tensor *t, double value)
{
    fill_ctx ctx = {t->dtype, value};
    rb__operand op = {t->data, rb_dtype_size(t->dtype), t->strides};
    rb__iterate(t->ndim, t->shape, 1, &op, fill_inner, &ctx);
}

/* ---- strided copy with conversion ---- */

typedef struct copy_ctx {
    rb_dtype to, from;
} copy_ctx;

#define COPY_LOOP(TO, FROM)                                                                        \
    do {                                                                                           \
        TO *o = (TO *)ptrs[0];                                                                     \
        const FROM *x = (const FROM *)ptrs[1];                                                     \
        int64_t so = strides[0], sx = strides[1];                                                  \
        if (so == 1 && sx == 1)                                                                    \
            for (int64_t i = 0; i < n; i++)                                                        \
                o[i] = (TO)x[i];                                                                   \
        else                                                                                       \
            for (int64_t i = 0; i < n; i++)                                                        \
                o[i * so] = (TO)x[i * sx];                                                         \
    } while (0)

static void copy_inner(int64_t n, char **ptrs, const int64_t *strides, void *arg)
{
    const copy_ctx *c = arg;
    if (c->to == c->from && strides[0] == 1 && strides[1] == 1) {
        memcpy(ptrs[0], ptrs[1], (size_t)n * rb_dtype_size(c->to));
        return;
    }
#define FROM_CASES(TO)                                                                             \
    switch (c->from) {                                                                             \
    case RB_F32: COPY_LOOP(TO, float); break;                                                      \
    case RB_F64: COPY_LOOP(TO, double); break;                                                     \
    case RB_I64: COPY_LOOP(TO, int64_t); break;                                                    \
    case RB_U8: COPY_LOOP(TO, uint8_t); break;                                                     \
    }
    switch (c->to) {
    case RB_F32: FROM_CASES(float); break;
    case RB_F64: FROM_CASES(double); break;
    case RB_I64: FROM_CASES(int64_t); break;
    case RB_U8: FROM_CASES(uint8_t); break;
    }
#undef FROM_CASES
}

void rb__copy_strided(rb_tensor *dst, const rb_tensor *src)
{
    copy_ctx c = {dst->dtype, src->dtype};
    rb__operand ops[2] = {{dst->data, rb_dtype_size(dst->dtype), dst->strides},
                          {src->data, rb_dtype_size(src->dtype), src->strides}};
    rb__iterate(dst->ndim, dst->shape, 2, ops, copy_inner, &c);
}

rb_tensor *rb__contiguous(rb_tensor *t)
{
    if (!t || (t->flags & RB__CONTIGUOUS)) return t;
    rb_tensor *c = rb__tensor_scratch(t->dtype, t->ndim, t->shape);
    if (c) rb__copy_strided(c, t);
    return c;
}
