/* BLIS GEMM with strided operands. */
#include <blis.h>
#include <string.h>

#include "gemm.h"
#include "parallel.h"

rb__mat rb__mat_of(const rb_tensor *t, int64_t offset)
{
    rb__mat m;
    int nd = t->ndim;
    size_t es = rb_dtype_size(t->dtype);
    m.data = (char *)t->data + offset * (int64_t)es;
    m.rows = nd >= 2 ? t->shape[nd - 2] : 1;
    m.cols = nd >= 1 ? t->shape[nd - 1] : 1;
    m.rs = nd >= 2 ? t->strides[nd - 2] : m.cols;
    m.cs = nd >= 1 ? t->strides[nd - 1] : 1;
    return m;
}

static rb__mat transposed(rb__mat m)
{
    rb__mat t = {m.data, m.cols, m.rows, m.cs, m.rs};
    return t;
}

/* BLIS wants one unit stride (or a proper general stride); extent-1 axes may carry any
 * stride in a view, so give them a canonical one. */
static rb__mat canonical(rb__mat m)
{
    if (m.rows == 1) m.rs = m.cols * (m.cs ? m.cs : 1);
    if (m.cols == 1) m.cs = m.rows * (m.rs ? m.rs : 1);
    if (m.rows == 1 && m.cols == 1) m.rs = m.cs = 1;
    return m;
}

/* Copy a matrix whose strides BLIS handles badly (broadcast zeros, no unit stride) into a
 * row-major buffer from the current owner. */
static bool needs_copy(rb__mat m) { return !(m.rs == 1 || m.cs == 1) || m.rs == 0 || m.cs == 0; }

static rb__mat packed_copy(rb_dtype dtype, rb__mat m, rb_tensor **holder)
{
    int64_t shape[2] = {m.rows, m.cols};
    rb_tensor *t = rb__tensor_scratch(dtype, 2, shape);
    *holder = t;
    if (!t) return m;
    size_t es = rb_dtype_size(dtype);
    for (int64_t r = 0; r < m.rows; r++)
        for (int64_t c = 0; c < m.cols; c++)
            memcpy((char *)t->data + (r * m.cols + c) * (int64_t)es,
                   (char *)m.data + (r * m.rs + c * m.cs) * (int64_t)es, es);
    rb__mat out = {t->data, m.rows, m.cols, m.cols, 1};
    return out;
}

/* BLIS 0.9 sends small products to its "sup" path (no packing). Measured on Zen 3 for the
 * shapes of dense layers: sup wins for small row-major operands but loses 10-30% on large
 * products and on transposed operands, which the packed path absorbs while packing. The
 * choice must not depend on the thread count: the two paths round differently, and training
 * is bit-identical at any thread count. */
static bool use_sup(rb__mat a, rb__mat b, int64_t m, int64_t n, int64_t k)
{
    double volume = (double)m * (double)n * (double)k;
    if (volume >= 16e6) return false;
    bool transposed = a.cs != 1 || b.cs != 1;
    return !(transposed && m >= 32 && n >= 32 && k >= 32);
}

void rb__gemm(rb_dtype dtype, rb__mat a, bool ta, rb__mat b, bool tb, rb__mat c, double alpha,
              double beta)
{
    rb__threads(); /* the runtime (kernel choice, threads) must precede BLIS's initialisation */
    if (ta) a = transposed(a);
    if (tb) b = transposed(b);
    a = canonical(a);
    b = canonical(b);
    c = canonical(c);
    rb_tensor *ha = NULL, *hb = NULL; /* scratch copies, released with the op */
    if (needs_copy(a)) a = packed_copy(dtype, a, &ha);
    if (needs_copy(b)) b = packed_copy(dtype, b, &hb);
    int64_t m = c.rows, n = c.cols, k = a.cols;
    if (m > 0 && n > 0) {
        /* A runtime object per call: the global thread count, and the sup choice. */
        rntm_t rntm;
        bli_rntm_init_from_global(&rntm);
        if (use_sup(a, b, m, n, k)) bli_rntm_enable_l3_sup(&rntm);
        else bli_rntm_disable_l3_sup(&rntm);
        if (dtype == RB_F32) {
            float al = (float)alpha, be = (float)beta;
            bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &al, a.data, a.rs, a.cs,
                         b.data, b.rs, b.cs, &be, c.data, c.rs, c.cs, NULL, &rntm);
        } else {
            double al = alpha, be = beta;
            bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &al, a.data, a.rs, a.cs,
                         b.data, b.rs, b.cs, &be, c.data, c.rs, c.cs, NULL, &rntm);
        }
    }
}

void rb__gemm_tensors(const rb_tensor *a, bool ta, const rb_tensor *b, bool tb, rb_tensor *c,
                      double alpha, double beta)
{
    rb__gemm(c->dtype, rb__mat_of(a, 0), ta, rb__mat_of(b, 0), tb, rb__mat_of(c, 0), alpha, beta);
}
