/* Pooling and upsampling. Max, max-abs and average pooling are single-pass ops whose backward
 * passes are ops too (a scatter at the saved winners; the adjoint of the average), so second
 * derivatives still work; global pooling and upsampling are compositions. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "op_impl.h"
#include "parallel.h"
#include "window.h"

/* Windows of a pooling op over x (N, H, W, C), or false after an error naming op. */
static bool pool_geometry(const char *op, rb_tensor *x, int kh, int kw, rb_window2d win,
                          rb__geom *g)
{
    if (!rb__check_inputs(op, 1, &x) || !rb__check_float(op, x)) return false;
    if (x->ndim != 4) {
        rb_error(RB_ERR_SHAPE, "rb_%s: expects images (N, H, W, C), got %s", op, rb__shp(x));
        return false;
    }
    if (win.groups > 1) {
        rb_error(RB_ERR_ARGUMENT, "rb_%s: pooling has no groups", op);
        return false;
    }
    return rb__window_resolve(op, x->shape[1], x->shape[2], kh, kw, win, true, g);
}

/* ---- max and max-abs pooling: one pass keeping the winner's position ---- */

enum { POOL_MAX = 0, POOL_MAX_ABS = 1 };

static rb_tensor *max_pool(const char *op, int mode, rb_tensor *x, int kh, int kw, rb_window2d win)
{
    rb__geom g;
    if (!pool_geometry(op, x, kh, kw, win, &g)) return NULL;
    rb_attrs at = {0};
    rb__window_to_attrs(&g, &at, 0.0);
    at.i[10] = mode;
    int64_t shape[4] = {x->shape[0], g.Ho, g.Wo, x->shape[3]};
    return rb__apply(RB__OP_max_pool2d, 1, &x, &at, x->dtype, 4, shape);
}

rb_tensor *rb_max_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win)
{
    return max_pool("max_pool2d", POOL_MAX, x, kh, kw, win);
}

rb_tensor *rb_max_abs_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win)
{
    return max_pool("max_abs_pool2d", POOL_MAX_ABS, x, kh, kw, win);
}

typedef struct pool_plan {
    const void *x;
    void *y;
    int64_t *where; /* flat index of each output's winner in x, or NULL */
    rb__geom g;
    int64_t C;
    int mode;
} pool_plan;

/* One window position's channels against the running best: branch-free, so that it
 * vectorises. A NaN wins and then stays. pos holds the winning window position. */
#define POOL_UPDATE(T, FABS)                                                                       \
    static inline void pool_update_##T(T *restrict best, int32_t *restrict pos,                    \
                                       const T *restrict v, int64_t C, int32_t here, bool by_abs)  \
    {                                                                                              \
        if (by_abs)                                                                                \
            for (int64_t c = 0; c < C; c++) {                                                      \
                T a = v[c], b = best[c];                                                           \
                bool take = (FABS(a) > FABS(b) || a != a) && b == b;                               \
                best[c] = take ? a : b;                                                            \
                pos[c] = take ? here : pos[c];                                                     \
            }                                                                                      \
        else                                                                                       \
            for (int64_t c = 0; c < C; c++) {                                                      \
                T a = v[c], b = best[c];                                                           \
                bool take = (a > b || a != a) && b == b;                                           \
                best[c] = take ? a : b;                                                            \
                pos[c] = take ? here : pos[c];                                                     \
            }                                                                                      \
    }
POOL_UPDATE(float, fabsf)
POOL_UPDATE(double, fabs)

/* Rows are (n, oh) pairs; each output pixel's window is scanned position by position with the
 * channels innermost. The first winner is kept at ties (as PyTorch and TensorFlow do); windows
 * lying wholly in the padding give 0. */
#define MAX_POOL_ROWS(T, FABS)                                                                     \
    static void max_pool_rows_##T(void *arg, int64_t begin, int64_t end)                           \
    {                                                                                              \
        const pool_plan *p = arg;                                                                  \
        const rb__geom *g = &p->g;                                                                 \
        const T *x = p->x;                                                                         \
        T *y = p->y;                                                                               \
        const int64_t C = p->C;                                                                    \
        const bool by_abs = p->mode == POOL_MAX_ABS;                                               \
        /* Per-thread scratch: the winners' window positions and each position's offset. */        \
        rb__arena *scratch = rb__scratch_arena();                                                  \
        rb__arena_mark mark = rb__arena_get_mark(scratch);                                         \
        int32_t *pos = p->where ? rb__scratch(sizeof(int32_t) * (size_t)C) : NULL;                 \
        int64_t *where_of = rb__scratch(sizeof(int64_t) * (size_t)(g->kh * g->kw));                \
        if ((p->where && !pos) || !where_of) return;                                               \
        for (int64_t r = begin; r < end; r++) {                                                    \
            int64_t n = r / g->Ho, oh = r % g->Ho;                                                 \
            for (int64_t ow = 0; ow < g->Wo; ow++) {                                               \
                int64_t o = (r * g->Wo + ow) * C;                                                  \
                T *best = y + o;                                                                   \
                int64_t first = -1; /* flat index of the window's first real position */           \
                int32_t here = 0;                                                                  \
                for (int i = 0; i < g->kh; i++) {                                                  \
                    int64_t yy = oh * g->sh + (int64_t)i * g->dh - g->pt;                          \
                    for (int j = 0; j < g->kw; j++) {                                              \
                        int64_t xx = ow * g->sw + (int64_t)j * g->dw - g->pl;                      \
                        if (yy < 0 || yy >= g->H || xx < 0 || xx >= g->W) continue;                \
                        int64_t k = ((n * g->H + yy) * g->W + xx) * C;                             \
                        where_of[here] = k;                                                        \
                        if (first < 0) {                                                           \
                            first = k;                                                             \
                            for (int64_t c = 0; c < C; c++)                                        \
                                best[c] = x[k + c];                                                \
                            if (pos)                                                               \
                                for (int64_t c = 0; c < C; c++)                                    \
                                    pos[c] = 0;                                                    \
                        } else if (pos) {                                                          \
                            pool_update_##T(best, pos, x + k, C, here, by_abs);                    \
                        } else {                                                                   \
                            for (int64_t c = 0; c < C; c++) {                                      \
                                T a = x[k + c], b = best[c];                                       \
                                bool take =                                                        \
                                    ((by_abs ? FABS(a) > FABS(b) : a > b) || a != a) && b == b;    \
                                best[c] = take ? a : b;                                            \
                            }                                                                      \
                        }                                                                          \
                        here++;                                                                    \
                    }                                                                              \
                }                                                                                  \
                if (first < 0) { /* only padding */                                                \
                    for (int64_t c = 0; c < C; c++)                                                \
                        best[c] = 0;                                                               \
                    if (p->where) /* no winner: the gradient goes nowhere */                        \
                        for (int64_t c = 0; c < C; c++)                                            \
                            p->where[o + c] = -1;                                                  \
                } else if (p->where) {                                                             \
                    for (int64_t c = 0; c < C; c++)                                                \
                        p->where[o + c] = where_of[pos[c]] + c;                                    \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        rb__arena_release(scratch, mark);                                                          \
    }
MAX_POOL_ROWS(float, fabsf)
MAX_POOL_ROWS(double, fabs)

/* Windows that tile the image (stride = window, no padding, no dilation), the usual case. The
 * window rows are merged first, then the columns, each over whole output rows (contiguous
 * runs, which vectorise whatever the channel count). The winner is the general kernel's: the
 * first in row-major window order, so a tie between columns goes to the smaller window row. */
static bool windows_tile(const rb__geom *g)
{
    return g->sh == g->kh && g->sw == g->kw && g->dh == 1 && g->dw == 1 && g->pt == 0 &&
           g->pb == 0 && g->pl == 0 && g->pr == 0;
}

/* The merges below are written for the vectoriser: restrict pointers, branch-free selects,
 * and by_abs a constant in each inlined copy. */
#define RB__INLINE static inline __attribute__((always_inline))
#define MAX_POOL_TILED(T, FABS)                                                                    \
    RB__INLINE bool wins_##T(T a, T b, bool by_abs)                                                \
    {                                                                                              \
        return ((by_abs ? FABS(a) > FABS(b) : a > b) | (a != a)) & (b == b);                       \
    }                                                                                              \
                                                                                                   \
    /* v[k] = the winner of v[k] (earlier rows) and x[k] (row i), row[k] its row. */               \
    RB__INLINE void merge_row_##T(T *restrict v, int32_t *restrict row, const T *restrict x,       \
                                  int64_t n, int32_t i, bool by_abs)                               \
    {                                                                                              \
        if (row)                                                                                   \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T a = x[k], b = v[k];                                                              \
                bool take = wins_##T(a, b, by_abs);                                                \
                v[k] = take ? a : b;                                                               \
                row[k] = take ? i : row[k];                                                        \
            }                                                                                      \
        else                                                                                       \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T a = x[k], b = v[k];                                                              \
                v[k] = wins_##T(a, b, by_abs) ? a : b;                                             \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    /* best[k] = the winner of best[k] and its column-j neighbour a[k] (rows arow, brow); a        \
     * tie goes to the smaller row, then to the earlier column. */                                 \
    RB__INLINE void merge_col_##T(T *restrict best, int32_t *restrict brow,                        \
                                  int32_t *restrict bcol, const T *restrict a,                     \
                                  const int32_t *restrict arow, int64_t n, int32_t j, bool by_abs) \
    {                                                                                              \
        if (brow)                                                                                  \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T x = a[k], b = best[k];                                                           \
                bool ahead = wins_##T(x, b, by_abs), behind = wins_##T(b, x, by_abs);              \
                bool take = ahead | (!behind & (arow[k] < brow[k]));                               \
                best[k] = take ? x : b;                                                            \
                brow[k] = take ? arow[k] : brow[k];                                                \
                bcol[k] = take ? j : bcol[k];                                                      \
            }                                                                                      \
        else                                                                                       \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T x = a[k], b = best[k];                                                           \
                best[k] = wins_##T(x, b, by_abs) ? x : b;                                          \
            }                                                                                      \
    }                                                                                              \
                                                                                                   \
    RB__INLINE void max_pool_tiled_row_##T(                                                        \
        const pool_plan *p, int64_t r, T *restrict v, T *restrict h, int32_t *restrict vrow,       \
        int32_t *restrict hrow, int32_t *restrict hcol, bool by_abs)                               \
    {                                                                                              \
        const rb__geom *g = &p->g;                                                                 \
        const int64_t C = p->C, kw = g->kw, span = g->Wo * kw * C, live = span - (kw - 1) * C;     \
        int64_t n = r / g->Ho, top = (r % g->Ho) * g->kh;                                          \
        const T *x = (const T *)p->x + (n * g->H + top) * g->W * C;                                \
        memcpy(v, x, sizeof(T) * (size_t)span);                                                    \
        if (vrow) memset(vrow, 0, sizeof(int32_t) * (size_t)span);                                 \
        for (int i = 1; i < g->kh; i++)                                                            \
            merge_row_##T(v, vrow, x + i * g->W * C, span, i, by_abs);                             \
        /* Columns: column j folded onto position k - j C; only window starts are kept. */         \
        memcpy(h, v, sizeof(T) * (size_t)live);                                                    \
        if (vrow) {                                                                                \
            memcpy(hrow, vrow, sizeof(int32_t) * (size_t)live);                                    \
            memset(hcol, 0, sizeof(int32_t) * (size_t)live);                                       \
        }                                                                                          \
        for (int j = 1; j < kw; j++)                                                               \
            merge_col_##T(h, vrow ? hrow : NULL, hcol, v + j * C, vrow ? vrow + j * C : NULL,      \
                          live, j, by_abs);                                                        \
        T *y = (T *)p->y + r * g->Wo * C;                                                          \
        for (int64_t ow = 0; ow < g->Wo; ow++)                                                     \
            for (int64_t c = 0; c < C; c++)                                                        \
                y[ow * C + c] = h[ow * kw * C + c];                                                \
        if (vrow) {                                                                                \
            int64_t *where = p->where + r * g->Wo * C;                                             \
            /* The winner's flat index: the row block's start plus an offset within the block's   \
             * kh rows, in 32 bits when they fit (vectorised: AVX2 has no 64-bit multiply). */     \
            const int64_t base = (n * g->H + top) * g->W * C;                                      \
            if ((int64_t)g->kh * g->W * C < INT32_MAX) {                                           \
                const int32_t row_len = (int32_t)(g->W * C), Ci = (int32_t)C;                      \
                for (int64_t ow = 0; ow < g->Wo; ow++) {                                           \
                    const int32_t *wr = hrow + ow * kw * C, *wc = hcol + ow * kw * C;              \
                    const int32_t start = (int32_t)(ow * kw * C);                                  \
                    int64_t *out = where + ow * C;                                                 \
                    for (int32_t c = 0; c < Ci; c++)                                               \
                        out[c] = base + (int64_t)(wr[c] * row_len + start + wc[c] * Ci + c);       \
                }                                                                                  \
            } else {                                                                               \
                for (int64_t ow = 0; ow < g->Wo; ow++)                                             \
                    for (int64_t c = 0; c < C; c++) {                                              \
                        int64_t k = ow * kw * C + c;                                               \
                        where[ow * C + c] =                                                        \
                            ((n * g->H + top + hrow[k]) * g->W + ow * kw + hcol[k]) * C + c;       \
                    }                                                                              \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void max_pool_tiled_##T(void *arg, int64_t begin, int64_t end)                          \
    {                                                                                              \
        const pool_plan *p = arg;                                                                  \
        const int64_t span = p->g.Wo * p->g.kw * p->C;                                             \
        const bool track = p->where != NULL;                                                       \
        rb__arena *scratch = rb__scratch_arena();                                                  \
        rb__arena_mark mark = rb__arena_get_mark(scratch);                                         \
        T *v = rb__scratch(2 * sizeof(T) * (size_t)span), *h = v ? v + span : NULL;                \
        int32_t *vrow = track ? rb__scratch(3 * sizeof(int32_t) * (size_t)span) : NULL;            \
        int32_t *hrow = vrow ? vrow + span : NULL, *hcol = vrow ? vrow + 2 * span : NULL;          \
        if (!v || (track && !vrow)) return;                                                        \
        for (int64_t r = begin; r < end; r++)                                                      \
            if (p->mode == POOL_MAX_ABS)                                                           \
                max_pool_tiled_row_##T(p, r, v, h, vrow, hrow, hcol, true);                        \
            else                                                                                   \
                max_pool_tiled_row_##T(p, r, v, h, vrow, hrow, hcol, false);                       \
        rb__arena_release(scratch, mark);                                                          \
    }
MAX_POOL_TILED(float, fabsf)
MAX_POOL_TILED(double, fabs)

rb_status rb__fwd_max_pool2d(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]), *y = n->out;
    if (!x) return rb_last_status();
    rb_tensor *where = NULL;
    if (n->recorded) {
        where = rb__tensor_new(RB_I64, y->ndim, y->shape, "max_pool2d");
        if (!where) return rb_last_status();
        rb_node_save(n, 0, where);
    }
    pool_plan p = {x->data,
                   y->data,
                   where ? where->data : NULL,
                   rb__window_of_attrs(&n->attrs, y->shape[1], y->shape[2]),
                   x->shape[3],
                   (int)n->attrs.i[10]};
    int64_t rows = y->shape[0] * y->shape[1];
    bool f32 = x->dtype == RB_F32;
    rb__range_fn kernel = windows_tile(&p.g) ? (f32 ? max_pool_tiled_float : max_pool_tiled_double)
                                             : (f32 ? max_pool_rows_float : max_pool_rows_double);
    rb__parallel_for(rows, RB__GRAIN / (y->size / (rows ? rows : 1) + 1) + 1, kernel, &p);
    return RB_OK;
}

void rb__bwd_max_pool2d(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    /* The gradient goes to each window's winner: a scatter at the saved positions, which
     * is linear in g (second derivatives are zero, as for any piecewise linear op). Windows
     * that do not overlap have distinct winners: the scatter then runs in parallel. */
    rb_tensor *x = n->in[0];
    rb__geom geo = rb__window_of_attrs(&n->attrs, n->out->shape[1], n->out->shape[2]);
    bool apart = geo.sh >= (int64_t)(geo.kh - 1) * geo.dh + 1 &&
                 geo.sw >= (int64_t)(geo.kw - 1) * geo.dw + 1;
    rb_grad_add(ctx, n, 0,
                apart ? rb__scatter_add_distinct(g, n->saved[0], x->ndim, x->shape)
                      : rb__scatter_add(g, n->saved[0], x->ndim, x->shape));
}

/* ---- average pooling and its adjoint; padded positions are not counted (Keras) ---- */

rb_tensor *rb_avg_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win)
{
    rb__geom g;
    if (!pool_geometry("avg_pool2d", x, kh, kw, win, &g)) return NULL;
    rb_attrs at = {0};
    rb__window_to_attrs(&g, &at, 0.0);
    int64_t shape[4] = {x->shape[0], g.Ho, g.Wo, x->shape[3]};
    return rb__apply(RB__OP_avg_pool2d, 1, &x, &at, x->dtype, 4, shape);
}

/* Number of real pixels in window (oh, ow). */
static int64_t window_count(const rb__geom *g, int64_t oh, int64_t ow)
{
    int64_t rows = 0, cols = 0;
    for (int i = 0; i < g->kh; i++) {
        int64_t y = oh * g->sh + (int64_t)i * g->dh - g->pt;
        rows += y >= 0 && y < g->H;
    }
    for (int j = 0; j < g->kw; j++) {
        int64_t x = ow * g->sw + (int64_t)j * g->dw - g->pl;
        cols += x >= 0 && x < g->W;
    }
    return rows * cols;
}

/* Forward (images -> windows, averaging) or adjoint (windows -> images, spreading), one image
 * per task so that the adjoint's overlapping writes never race. */
#define AVG_POOL_IMAGES(T)                                                                         \
    static void avg_pool_images_##T(void *arg, int64_t begin, int64_t end)                         \
    {                                                                                              \
        const pool_plan *p = arg;                                                                  \
        const rb__geom *g = &p->g;                                                                 \
        const int64_t C = p->C;                                                                    \
        bool adjoint = p->mode;                                                                    \
        for (int64_t n = begin; n < end; n++)                                                      \
            for (int64_t oh = 0; oh < g->Ho; oh++)                                                 \
                for (int64_t ow = 0; ow < g->Wo; ow++) {                                           \
                    int64_t count = window_count(g, oh, ow);                                       \
                    T scale = count ? (T)1 / (T)count : (T)0;                                      \
                    int64_t o = ((n * g->Ho + oh) * g->Wo + ow) * C;                               \
                    T *win = adjoint ? (T *)p->x + o : (T *)p->y + o;                              \
                    if (!adjoint)                                                                  \
                        for (int64_t c = 0; c < C; c++)                                            \
                            win[c] = 0;                                                            \
                    for (int i = 0; i < g->kh; i++) {                                              \
                        int64_t yy = oh * g->sh + (int64_t)i * g->dh - g->pt;                      \
                        if (yy < 0 || yy >= g->H) continue;                                        \
                        for (int j = 0; j < g->kw; j++) {                                          \
                            int64_t xx = ow * g->sw + (int64_t)j * g->dw - g->pl;                  \
                            if (xx < 0 || xx >= g->W) continue;                                    \
                            int64_t k = ((n * g->H + yy) * g->W + xx) * C;                         \
                            if (adjoint) {                                                         \
                                T *img = (T *)p->y + k;                                            \
                                for (int64_t c = 0; c < C; c++)                                    \
                                    img[c] += win[c] * scale;                                      \
                            } else {                                                               \
                                const T *img = (const T *)p->x + k;                                \
                                for (int64_t c = 0; c < C; c++)                                    \
                                    win[c] += img[c];                                              \
                            }                                                                      \
                        }                                                                          \
                    }                                                                              \
                    if (!adjoint)                                                                  \
                        for (int64_t c = 0; c < C; c++)                                            \
                            win[c] *= scale;                                                       \
                }                                                                                  \
    }
AVG_POOL_IMAGES(float)
AVG_POOL_IMAGES(double)

/* adjoint = false: in is the image (N,H,W,C), out the windows; true: the reverse. */
static rb_status avg_pool_run(rb_node *n, bool adjoint)
{
    rb_tensor *in = rb__contiguous(n->in[0]), *out = n->out;
    if (!in) return rb_last_status();
    const rb_tensor *windows = adjoint ? in : out;
    pool_plan p = {
        in->data,     out->data,
        NULL,         rb__window_of_attrs(&n->attrs, windows->shape[1], windows->shape[2]),
        in->shape[3], adjoint};
    if (adjoint) memset(out->data, 0, (size_t)out->size * rb_dtype_size(out->dtype));
    rb__parallel_for(out->shape[0], 1,
                     out->dtype == RB_F32 ? avg_pool_images_float : avg_pool_images_double, &p);
    return RB_OK;
}

rb_status rb__fwd_avg_pool2d(rb_node *n) { return avg_pool_run(n, false); }
rb_status rb__fwd_avg_unpool2d(rb_node *n) { return avg_pool_run(n, true); }

void rb__bwd_avg_pool2d(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_attrs at = n->attrs;
    rb_tensor *x = n->in[0];
    rb_grad_add(ctx, n, 0, rb__apply(RB__OP_avg_unpool2d, 1, &g, &at, g->dtype, 4, x->shape));
}

void rb__bwd_avg_unpool2d(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *gg)
{
    rb_attrs at = n->attrs;
    rb_tensor *windows = n->in[0];
    rb_grad_add(ctx, n, 0, rb__apply(RB__OP_avg_pool2d, 1, &gg, &at, gg->dtype, 4, windows->shape));
}

/* 1-D pools: a sequence (N, L, C) is an image of one row. */
static rb_tensor *pool1d(rb_tensor *(*pool2d)(rb_tensor *, int, int, rb_window2d), const char *op,
                         rb_tensor *x, int k, rb_window1d win)
{
    if (!rb__check_inputs(op, 1, &x)) return NULL;
    if (x->ndim != 3)
        return rb__fail(RB_ERR_SHAPE, "rb_%s: expects sequences (N, L, C), got %s", op, rb__shp(x));
    rb_window2d w2 = {.stride = {1, win.stride},
                      .dilation = {1, win.dilation},
                      .padding = win.padding,
                      .pad = {0, 0, win.pad[0], win.pad[1]}};
    rb_tensor *y =
        pool2d(rb_reshape(x, RB_SHAPE(x->shape[0], 1, x->shape[1], x->shape[2])), 1, k, w2);
    if (!y) return NULL;
    return rb_reshape(y, RB_SHAPE(y->shape[0], y->shape[2], y->shape[3]));
}

rb_tensor *rb_max_pool1d(rb_tensor *x, int k, rb_window1d win)
{
    return pool1d(rb_max_pool2d, "max_pool1d", x, k, win);
}

rb_tensor *rb_avg_pool1d(rb_tensor *x, int k, rb_window1d win)
{
    return pool1d(rb_avg_pool2d, "avg_pool1d", x, k, win);
}

static bool check_images(const char *op, rb_tensor *x)
{
    if (!rb__check_inputs(op, 1, &x)) return false;
    if (x->ndim == 4) return true;
    rb_error(RB_ERR_SHAPE, "rb_%s: expects images (N, H, W, C), got %s", op, rb__shp(x));
    return false;
}

rb_tensor *rb_global_avg_pool2d(rb_tensor *x)
{
    if (!check_images("global_avg_pool2d", x)) return NULL;
    return rb_mean(x, RB_AXES(1, 2), false);
}

rb_tensor *rb_global_max_pool2d(rb_tensor *x)
{
    if (!check_images("global_max_pool2d", x)) return NULL;
    return rb_max(x, RB_AXES(1, 2), false);
}

rb_tensor *rb_upsample2d(rb_tensor *x, int sh, int sw)
{
    if (!check_images("upsample2d", x)) return NULL;
    if (sh < 1 || sw < 1)
        return rb__fail(RB_ERR_ARGUMENT, "rb_upsample2d: factors %dx%d must be positive", sh, sw);
    int64_t N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    /* Repeat each pixel by broadcasting two inserted axes (its gradient sums them back). */
    rb_tensor *y = rb_reshape(x, RB_SHAPE(N, H, 1, W, 1, C));
    y = rb_broadcast_to(y, RB_SHAPE(N, H, sh, W, sw, C));
    return rb_reshape(y, RB_SHAPE(N, H * sh, W * sw, C));
}
