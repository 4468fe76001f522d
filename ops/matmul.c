/* Matrix products through BLIS: matmul (2-D and batched, broadcasting batch axes) and linear
 * (x w + bias with the bias in the product's epilogue). */
#include <string.h>

#include "elementwise.h"
#include "gemm.h"
#include "op_impl.h"

/* ---- matmul ---- */

static rb_tensor *matmul_core(rb_tensor *a, rb_tensor *b)
{
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1];
    int64_t K2 = b->shape[b->ndim - 2], N = b->shape[b->ndim - 1];
    if (K != K2)
        return rb__fail(RB_ERR_SHAPE, "rb_matmul: inner dimensions differ: %s x %s (%lld vs %lld)",
                        rb__shp(a), rb__shp(b), (long long)K, (long long)K2);
    /* Broadcast the batch axes (all but the last two). */
    int nb;
    int64_t shape[RB_MAX_DIMS];
    if (rb__broadcast_quiet(a->ndim - 2, a->shape, b->ndim - 2, b->shape, &nb, shape) >= 0)
        return rb__fail(RB_ERR_SHAPE, "rb_matmul: batch axes of %s and %s do not broadcast",
                        rb__shp(a), rb__shp(b));
    if (nb + 2 > RB_MAX_DIMS) return rb__fail(RB_ERR_SHAPE, "rb_matmul: too many axes");
    shape[nb] = M;
    shape[nb + 1] = N;
    rb_tensor *in[2] = {a, b};
    return rb__apply(RB__OP_matmul, 2, in, NULL, a->dtype, nb + 2, shape);
}

rb_tensor *rb_matmul(rb_tensor *a, rb_tensor *b)
{
    rb_tensor *in[2] = {a, b};
    if (!rb__check_inputs("matmul", 2, in) || !rb__check_float("matmul", a) ||
        !rb__check_same_dtype("matmul", a, b))
        return NULL;
    if (a->ndim == 0 || b->ndim == 0)
        return rb__fail(RB_ERR_SHAPE, "rb_matmul: operands need at least one axis: %s x %s",
                        rb__shp(a), rb__shp(b));
    if (a->ndim == 1 && b->ndim == 1) /* dot product */
        return rb_reshape(matmul_core(rb_reshape(a, RB_SHAPE(1, a->shape[0])),
                                      rb_reshape(b, RB_SHAPE(b->shape[0], 1))),
                          RB_SCALAR);
    if (a->ndim == 1) { /* row vector, then drop that axis */
        rb_tensor *r = matmul_core(rb_reshape(a, RB_SHAPE(1, a->shape[0])), b);
        if (!r) return NULL;
        int64_t shape[RB_MAX_DIMS];
        int nd = 0;
        for (int d = 0; d < r->ndim; d++)
            if (d != r->ndim - 2) shape[nd++] = r->shape[d];
        return rb_reshape(r, nd, shape);
    }
    if (b->ndim == 1) { /* column vector, then drop that axis */
        rb_tensor *r = matmul_core(a, rb_reshape(b, RB_SHAPE(b->shape[0], 1)));
        if (!r) return NULL;
        return rb_reshape(r, r->ndim - 1, r->shape);
    }
    return matmul_core(a, b);
}

/* Whether the batch axes of t can be merged into its row axis: a (batch..., M, K) block that
 * is one row-major matrix of batch*M rows. */
static bool rows_mergeable(const rb_tensor *t)
{
    int nd = t->ndim;
    if (t->strides[nd - 1] != 1) return false;
    int64_t expect = t->strides[nd - 2];
    for (int d = nd - 2; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect) return false;
        expect *= t->shape[d];
    }
    return true;
}

rb_status rb__fwd_matmul(rb_node *n)
{
    rb_tensor *a = n->in[0], *b = n->in[1], *out = n->out;
    int nb = out->ndim - 2;
    int64_t batch = 1;
    for (int d = 0; d < nb; d++)
        batch *= out->shape[d];
    if (b->ndim == 2 && rows_mergeable(a)) {
        /* One GEMM over all batch rows. */
        rb__mat ma = rb__mat_of(a, 0), mc = rb__mat_of(out, 0);
        ma.rows *= batch;
        mc.rows *= batch;
        rb__gemm(out->dtype, ma, false, rb__mat_of(b, 0), false, mc, 1.0, 0.0);
        return RB_OK;
    }
    int64_t sa[RB_MAX_DIMS], sb[RB_MAX_DIMS];
    rb_tensor ba = *a, bb = *b;
    ba.ndim = a->ndim - 2;
    bb.ndim = b->ndim - 2;
    rb__broadcast_strides(&ba, nb, sa);
    rb__broadcast_strides(&bb, nb, sb);
    int64_t mn = out->shape[nb] * out->shape[nb + 1];
    for (int64_t i = 0; i < batch; i++) {
        int64_t oa = 0, ob = 0, rem = i;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t k = rem % out->shape[d];
            rem /= out->shape[d];
            oa += k * sa[d];
            ob += k * sb[d];
        }
        rb__gemm(out->dtype, rb__mat_of(a, oa), false, rb__mat_of(b, ob), false,
                 rb__mat_of(out, i * mn), 1.0, 0.0);
    }
    return RB_OK;
}

void rb__bwd_matmul(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *a = n->in[0], *b = n->in[1];
    bool fast = !rb__grad_create_graph(ctx) && a->ndim == 2 && b->ndim == 2;
    if (fast) {
        /* dA = G B^T, dB = A^T G, straight into the accumulators. */
        if (rb_grad_needed(ctx, n, 0)) rb__grad_add_gemm(ctx, n, 0, g, false, b, true);
        if (rb_grad_needed(ctx, n, 1)) rb__grad_add_gemm(ctx, n, 1, a, true, g, false);
        return;
    }
    if (rb_grad_needed(ctx, n, 0))
        rb_grad_add(ctx, n, 0, rb__unbroadcast(rb_matmul(g, rb_transpose(b, -2, -1)), a));
    if (rb_grad_needed(ctx, n, 1))
        rb_grad_add(ctx, n, 1, rb__unbroadcast(rb_matmul(rb_transpose(a, -2, -1), g), b));
}

/* ---- linear: x w + bias ---- */

rb_tensor *rb_linear(rb_tensor *x, rb_tensor *w, rb_tensor *bias)
{
    return rb_linear_ex(x, w, bias, RB_EPILOGUE_NONE);
}

rb_tensor *rb_linear_ex(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_epilogue epi)
{
    rb_tensor *in[3] = {x, w, bias};
    if (!rb__check_inputs("linear", 2, in) || !rb__check_float("linear", x) ||
        !rb__check_same_dtype("linear", x, w))
        return NULL;
    if (bias == NULL) {
        if (rb_last_status() != RB_OK) return NULL; /* a failed bias expression */
        rb_tensor *y = rb_matmul(x, w);
        return epi == RB_EPILOGUE_RELU ? rb_relu(y) : y;
    }
    if (!rb__check_same_dtype("linear", x, bias)) return NULL;
    if (x->ndim < 2 || w->ndim != 2 || bias->ndim != 1)
        return rb__fail(RB_ERR_SHAPE,
                        "rb_linear: expects x (batch, in), w (in, out), bias (out); got %s, %s, %s",
                        rb__shp(x), rb__shp(w), rb__shp(bias));
    int64_t in_f = x->shape[x->ndim - 1];
    if (w->shape[0] != in_f || bias->shape[0] != w->shape[1])
        return rb__fail(
            RB_ERR_SHAPE,
            "rb_linear: x %s, w %s and bias %s do not fit (in %lld vs %lld, out %lld vs %lld)",
            rb__shp(x), rb__shp(w), rb__shp(bias), (long long)in_f, (long long)w->shape[0],
            (long long)w->shape[1], (long long)bias->shape[0]);
    if (x->ndim > 2) { /* (..., in): fold the leading axes into the batch */
        int64_t out_shape[RB_MAX_DIMS];
        memcpy(out_shape, x->shape, sizeof out_shape);
        out_shape[x->ndim - 1] = w->shape[1];
        rb_tensor *y = rb_linear_ex(rb_reshape(x, RB_SHAPE(-1, in_f)), w, bias, epi);
        return rb_reshape(y, x->ndim, out_shape);
    }
    int64_t shape[2] = {x->shape[0], w->shape[1]};
    rb_attrs at = {.i = {epi}};
    return rb__apply(RB__OP_linear, 3, in, &at, x->dtype, 2, shape);
}

rb_status rb__fwd_linear(rb_node *n)
{
    rb_tensor *x = n->in[0], *w = n->in[1], *bias = n->in[2], *out = n->out;
    int64_t rows = out->shape[0], cols = out->shape[1];
    size_t es = rb_dtype_size(out->dtype);
    rb_tensor *b = rb__contiguous(bias);
    if (!b) return rb_last_status();
    /* Seed every row with the bias, then accumulate the product onto it (beta = 1). */
    for (int64_t r = 0; r < rows; r++)
        memcpy((char *)out->data + r * cols * (int64_t)es, b->data, (size_t)cols * es);
    rb__gemm_tensors(x, false, w, false, out, 1.0, 1.0);
    if (n->attrs.i[0] == RB_EPILOGUE_RELU) /* the epilogue, while the output is in cache */
        rb__unary(RB__U_RELU, out, out, 0, 0);
    return RB_OK;
}

void rb__bwd_linear(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0], *w = n->in[1];
    if (n->attrs.i[0] == RB_EPILOGUE_RELU) { /* through the ReLU: where the output is positive */
        g = rb__relu_mask(g, n->out);
    }
    if (!rb__grad_create_graph(ctx)) {
        if (rb_grad_needed(ctx, n, 0)) rb__grad_add_gemm(ctx, n, 0, g, false, w, true);
        if (rb_grad_needed(ctx, n, 1)) rb__grad_add_gemm(ctx, n, 1, x, true, g, false);
    } else {
        if (rb_grad_needed(ctx, n, 0)) rb_grad_add(ctx, n, 0, rb_matmul(g, rb_transpose(w, 0, 1)));
        if (rb_grad_needed(ctx, n, 1)) rb_grad_add(ctx, n, 1, rb_matmul(rb_transpose(x, 0, 1), g));
    }
    if (rb_grad_needed(ctx, n, 2)) rb_grad_add(ctx, n, 2, rb_sum(g, RB_AXES(0), false));
}
