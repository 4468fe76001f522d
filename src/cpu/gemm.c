/* BLIS GEMM with strided operands. */
#include <blis.h>
#include <stdlib.h>
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

/* Row-major copy of columns [c_lo, c_hi) of a strided float or double matrix into dst (row
 * stride m.cols), in 32x32 tiles so that a transposed source is read and written a cache line at
 * a time. */
#define PACKED_COPY_LOOP(T)                                                                        \
    do {                                                                                           \
        const T *src = (const T *)m.data;                                                          \
        T *out = (T *)dst;                                                                         \
        for (int64_t r0 = 0; r0 < m.rows; r0 += 32)                                                \
            for (int64_t c0 = c_lo; c0 < c_hi; c0 += 32) {                                         \
                int64_t r1 = r0 + 32 < m.rows ? r0 + 32 : m.rows;                                  \
                int64_t c1 = c0 + 32 < c_hi ? c0 + 32 : c_hi;                                      \
                for (int64_t r = r0; r < r1; r++)                                                  \
                    for (int64_t c = c0; c < c1; c++)                                              \
                        out[r * m.cols + c] = src[r * m.rs + c * m.cs];                            \
            }                                                                                      \
    } while (0)

static void copy_columns(rb_dtype dtype, rb__mat m, void *dst, int64_t c_lo, int64_t c_hi)
{
    if (dtype == RB_F32)
        PACKED_COPY_LOOP(float);
    else
        PACKED_COPY_LOOP(double);
}

/* A row-major scratch matrix of m's shape from the current owner, filled now when `fill`
 * (otherwise the caller fills it, a block of columns at a time). */
static rb__mat packed_copy(rb_dtype dtype, rb__mat m, rb_tensor **holder, bool fill)
{
    int64_t shape[2] = {m.rows, m.cols};
    rb_tensor *t = rb__tensor_scratch(dtype, 2, shape);
    *holder = t;
    if (!t) return m;
    if (fill) copy_columns(dtype, m, t->data, 0, m.cols);
    rb__mat out = {t->data, m.rows, m.cols, m.cols, 1};
    return out;
}

/* BLIS 0.9 sends small products to its "sup" path (no packing). Measured on Zen 3 for the
 * shapes of dense and convolution layers: sup is 1.5-4x faster when the output is skinny (few
 * rows or columns: convolution outputs, weight gradients) and for small products, while the
 * packed path wins for large products and when A is transposed, which it absorbs while packing.
 * sup is slow (4-5x) on a transposed B: small ones are copied row-major first (see gemm). The
 * choice must not depend on the thread count: the two paths round differently, and training
 * is bit-identical at any thread count. */
static bool use_sup(rb__mat a, int64_t m, int64_t n, int64_t k)
{
    if (m <= 64 || n <= 64) return true;
    if ((double)m * (double)n * (double)k >= 16e6) return false;
    return a.cs == 1;
}

/* B small enough to copy to row-major for the sup path (elements). */
enum { SUP_B_COPY_LIMIT = 1 << 18 };

/* One BLIS call on `threads` threads, down the path chosen for the whole product. */
static void blis(rb_dtype dtype, rb__mat a, rb__mat b, rb__mat c, double alpha, double beta,
                 bool sup, int threads)
{
    int64_t m = c.rows, n = c.cols, k = a.cols;
    rntm_t rntm; /* a runtime object per call: the thread count and the sup choice */
    bli_rntm_init_from_global(&rntm);
    bli_rntm_set_num_threads(threads, &rntm);
    if (sup)
        bli_rntm_enable_l3_sup(&rntm);
    else
        bli_rntm_disable_l3_sup(&rntm);
    if (dtype == RB_F32) {
        float al = (float)alpha, be = (float)beta;
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &al, a.data, a.rs, a.cs, b.data,
                     b.rs, b.cs, &be, c.data, c.rs, c.cs, NULL, &rntm);
    } else {
        double al = alpha, be = beta;
        bli_dgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &al, a.data, a.rs, a.cs, b.data,
                     b.rs, b.cs, &be, c.data, c.rs, c.cs, NULL, &rntm);
    }
}

/* Products of a training step are small (a minibatch of 128 rows): BLIS's own threads share
 * packed panels and meet at barriers inside the call, which cost more than they save there.
 * Below SPLIT_FLOPS ruban splits C into SPLIT_PARTS blocks of columns (or rows), each a
 * one-thread BLIS call on the same path, and the threads share the blocks out. The blocks do
 * not depend on the thread count, even at one thread: BLIS picks its kernel and loop order
 * from a call's shape, so a block's elements can round differently than in the whole product
 * (128x128 times 128x512 did in two blocks of 256 columns), and training is bit-identical at
 * any thread count. */
#define SPLIT_FLOPS 2e9
enum {
    SPLIT_ALIGN = 16, /* split points on micro-tile boundaries */
    SPLIT_PARTS = 4   /* at most: more threads than this leave small products to fewer threads */
};

typedef struct split_call {
    rb_dtype dtype;
    rb__mat a, b, c;
    rb__mat b_source; /* when b is a copy still to fill: its strided source (split by columns) */
    double alpha, beta;
    bool sup, by_cols, fill_b;
    int parts;
} split_call;

static void split_part(void *ctx, int64_t begin, int64_t end)
{
    const split_call *s = ctx;
    int64_t extent = s->by_cols ? s->c.cols : s->c.rows;
    for (int64_t p = begin; p < end; p++) {
        int64_t lo = extent * p / s->parts / SPLIT_ALIGN * SPLIT_ALIGN;
        int64_t hi =
            p + 1 == s->parts ? extent : extent * (p + 1) / s->parts / SPLIT_ALIGN * SPLIT_ALIGN;
        if (hi <= lo) continue;
        size_t es = rb_dtype_size(s->dtype);
        rb__mat a = s->a, b = s->b, c = s->c;
        if (s->fill_b) copy_columns(s->dtype, s->b_source, s->b.data, lo, hi);
        if (s->by_cols) {
            b.data = (char *)b.data + (size_t)(lo * b.cs) * es;
            b.cols = hi - lo;
            c.data = (char *)c.data + (size_t)(lo * c.cs) * es;
            c.cols = hi - lo;
        } else {
            a.data = (char *)a.data + (size_t)(lo * a.rs) * es;
            a.rows = hi - lo;
            c.data = (char *)c.data + (size_t)(lo * c.rs) * es;
            c.rows = hi - lo;
        }
        blis(s->dtype, a, b, c, s->alpha, s->beta, s->sup, 1);
    }
}

static void gemm(rb_dtype dtype, rb__mat a, bool ta, rb__mat b, bool tb, rb__mat c, double alpha,
                 double beta, bool serial)
{
    if (ta) a = transposed(a);
    if (tb) b = transposed(b);
    a = canonical(a);
    b = canonical(b);
    c = canonical(c);
    rb_tensor *ha = NULL, *hb = NULL; /* scratch copies, released with the op */
    if (needs_copy(a)) a = packed_copy(dtype, a, &ha, true);
    if (needs_copy(b)) b = packed_copy(dtype, b, &hb, true);
    int64_t m = c.rows, n = c.cols, k = a.cols;
    if (m <= 0 || n <= 0) return;
    bool sup = use_sup(a, m, n, k);
    bool copy_b = sup && b.cs != 1 && b.rows * b.cols <= SUP_B_COPY_LIMIT;
    int threads = serial ? 1 : rb__threads();
    double flops = 2.0 * (double)m * (double)n * (double)k;
    if (!serial && flops < SPLIT_FLOPS) {
        bool by_cols = n >= m;
        int64_t extent = by_cols ? n : m;
        int parts = (int)(extent / SPLIT_ALIGN < SPLIT_PARTS ? extent / SPLIT_ALIGN : SPLIT_PARTS);
        if (parts >= 2) {
            /* Split by columns, each part copies the columns of b it multiplies: the copy
             * runs on the threads instead of before them. */
            bool fill_b = copy_b && by_cols;
            rb__mat source = b;
            if (copy_b) b = packed_copy(dtype, b, &hb, !fill_b);
            fill_b = fill_b && hb;
            split_call s = {dtype, a, b, c, source, alpha, beta, sup, by_cols, fill_b, parts};
            rb__parallel_tasks(parts, split_part, &s);
            return;
        }
    }
    if (copy_b) b = packed_copy(dtype, b, &hb, true);
    blis(dtype, a, b, c, alpha, beta, sup, threads);
}

void rb__gemm(rb_dtype dtype, rb__mat a, bool ta, rb__mat b, bool tb, rb__mat c, double alpha,
              double beta)
{
    rb__threads(); /* the runtime (kernel choice, threads) must precede BLIS's initialisation */
    gemm(dtype, a, ta, b, tb, c, alpha, beta, false);
}

void rb__gemm_serial(rb_dtype dtype, rb__mat a, bool ta, rb__mat b, bool tb, rb__mat c,
                     double alpha, double beta)
{
    gemm(dtype, a, ta, b, tb, c, alpha, beta, true);
}

void rb__gemm_tensors(const rb_tensor *a, bool ta, const rb_tensor *b, bool tb, rb_tensor *c,
                      double alpha, double beta)
{
    rb__gemm(c->dtype, rb__mat_of(a, 0), ta, rb__mat_of(b, 0), tb, rb__mat_of(c, 0), alpha, beta);
}
