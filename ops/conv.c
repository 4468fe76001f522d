/* Patches (im2col and its adjoint col2im) and the convolutions built on them: one GEMM over
 * the whole minibatch, channels last. */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "op_impl.h"
#include "parallel.h"
#include "window.h"

static bool check_image(const char *op, const rb_tensor *x)
{
    if (!rb__check_float(op, x)) return false;
    if (x->ndim == 4) return true;
    rb_error(RB_ERR_SHAPE, "rb_%s: expects images (N, H, W, C), got %s", op, rb__shp(x));
    return false;
}

/* ---- im2col ---- */

static rb_tensor *im2col_geom(rb_tensor *x, const rb__geom *g, double pad_value)
{
    int64_t shape[6] = {x->shape[0], g->Ho, g->Wo, g->kh, g->kw, x->shape[3]};
    rb_attrs at = {0};
    rb__window_to_attrs(g, &at, pad_value);
    return rb__apply(RB__OP_im2col, 1, &x, &at, x->dtype, 6, shape);
}

rb_tensor *rb__patches(const char *op, rb_tensor *x, int kh, int kw, rb_window2d win, bool pooling,
                       double pad_value)
{
    if (!rb__check_inputs(op, 1, &x) || !check_image(op, x)) return NULL;
    rb__geom g;
    if (!rb__window_resolve(op, x->shape[1], x->shape[2], kh, kw, win, pooling, &g)) return NULL;
    return im2col_geom(x, &g, pad_value);
}

rb_tensor *rb_im2col(rb_tensor *x, int kh, int kw, rb_window2d win, double pad_value)
{
    return rb__patches("im2col", x, kh, kw, win, false, pad_value);
}

/* Unaligned 32- and 16-byte blocks that may alias anything: one load and one store each (a
 * char buffer between memcpys compiled to 16-byte halves through the stack: im2col ran at half
 * speed). */
typedef char block32 __attribute__((vector_size(32), aligned(1), may_alias));
typedef char block16 __attribute__((vector_size(16), aligned(1), may_alias));

/* Copy n bytes (a few hundred at most, typically) without a libc call: moves of a fixed size,
 * the last overlapping. */
static inline void copy_small(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const char *s = src;
    if (n > 512) {
        memcpy(d, s, n);
    } else if (n >= 32) { /* 32-byte moves, the last one overlapping */
        size_t i = 0;
        for (; i + 32 < n; i += 32)
            *(block32 *)(d + i) = *(const block32 *)(s + i);
        block32 last = *(const block32 *)(s + n - 32);
        *(block32 *)(d + n - 32) = last;
    } else if (n >= 16) {
        block16 a = *(const block16 *)s, b = *(const block16 *)(s + n - 16);
        *(block16 *)d = a;
        *(block16 *)(d + n - 16) = b;
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    }
}

/* Rows are (n, oh) pairs; each writes its own part of cols. With unit dilation a window row
 * lying inside the image is kw * C contiguous values in both x and cols: one small copy. */
#define IM2COL_ROWS(T)                                                                             \
    static void im2col_rows_##T(void *arg, int64_t begin, int64_t end)                             \
    {                                                                                              \
        const rb__patch_plan *p = arg;                                                             \
        const rb__geom *g = &p->g;                                                                 \
        const int64_t C = p->C, kw = g->kw, span = kw * C;                                         \
        const T pad = (T)p->pad_value, *x = (const T *)p->x;                                       \
        const T *rows[64];                                                                         \
        for (int64_t r = begin; r < end; r++) {                                                    \
            int64_t n = r / g->Ho, oh = r % g->Ho;                                                 \
            T *dst = (T *)p->cols + (r - p->first) * g->Wo * g->kh * span;                         \
            /* The kh image rows this output row reads (NULL: padding). */                         \
            for (int i = 0; i < g->kh && i < 64; i++) {                                            \
                int64_t y = oh * g->sh + (int64_t)i * g->dh - g->pt;                               \
                rows[i] = y < 0 || y >= g->H ? NULL : x + (n * g->H + y) * g->W * C;               \
            }                                                                                      \
            for (int64_t ow = 0; ow < g->Wo; ow++) {                                               \
                int64_t x0 = ow * g->sw - g->pl;                                                   \
                bool inside = g->dw == 1 && x0 >= 0 && x0 + kw <= g->W;                            \
                for (int i = 0; i < g->kh; i++, dst += span) {                                     \
                    const T *row = i < 64 ? rows[i] : NULL;                                        \
                    if (i >= 64) {                                                                 \
                        int64_t y = oh * g->sh + (int64_t)i * g->dh - g->pt;                       \
                        row = y < 0 || y >= g->H ? NULL : x + (n * g->H + y) * g->W * C;           \
                    }                                                                              \
                    if (!row) {                                                                    \
                        for (int64_t e = 0; e < span; e++)                                         \
                            dst[e] = pad;                                                          \
                    } else if (inside) {                                                           \
                        copy_small(dst, row + x0 * C, (size_t)span * sizeof(T));                   \
                    } else {                                                                       \
                        for (int64_t j = 0; j < kw; j++) {                                         \
                            int64_t xx = x0 + j * g->dw;                                           \
                            T *d = dst + j * C;                                                    \
                            if (xx < 0 || xx >= g->W)                                              \
                                for (int64_t c = 0; c < C; c++)                                    \
                                    d[c] = pad;                                                    \
                            else                                                                   \
                                copy_small(d, row + xx * C, (size_t)C * sizeof(T));                \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
IM2COL_ROWS(float)
IM2COL_ROWS(double)

rb_status rb__fwd_im2col(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]), *out = n->out;
    if (!x) return rb_last_status();
    rb__patch_plan p = {x->data,
                        out->data,
                        rb__window_of_attrs(&n->attrs, out->shape[1], out->shape[2]),
                        x->shape[3],
                        x->dtype,
                        n->attrs.f[0],
                        0};
    int64_t rows = x->shape[0] * out->shape[1];
    int64_t per_row = out->size / (rows ? rows : 1);
    rb__parallel_for(rows, RB__GRAIN / (per_row + 1) + 1,
                     x->dtype == RB_F32 ? im2col_rows_float : im2col_rows_double, &p);
    return RB_OK;
}

void rb__bwd_im2col(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_attrs at = n->attrs;
    rb_tensor *x = n->in[0];
    rb_grad_add(ctx, n, 0, rb__apply(RB__OP_col2im, 1, &g, &at, g->dtype, 4, x->shape));
}

/* ---- col2im: the adjoint, summing overlapping patches ---- */

rb_tensor *rb_col2im(rb_tensor *cols, int64_t h, int64_t w, rb_window2d win)
{
    if (!rb__check_inputs("col2im", 1, &cols) || !rb__check_float("col2im", cols)) return NULL;
    if (cols->ndim != 6)
        return rb__fail(RB_ERR_SHAPE, "rb_col2im: expects patches (N, Ho, Wo, kh, kw, C), got %s",
                        rb__shp(cols));
    rb__geom g;
    if (!rb__window_resolve("col2im", h, w, cols->shape[3], cols->shape[4], win, false, &g))
        return NULL;
    if (g.Ho != cols->shape[1] || g.Wo != cols->shape[2])
        return rb__fail(
            RB_ERR_SHAPE,
            "rb_col2im: patches %s do not come from a %lldx%lld image with this window (it gives %lldx%lld positions)",
            rb__shp(cols), (long long)h, (long long)w, (long long)g.Ho, (long long)g.Wo);
    rb_attrs at = {0};
    rb__window_to_attrs(&g, &at, 0.0);
    int64_t shape[4] = {cols->shape[0], h, w, cols->shape[5]};
    return rb__apply(RB__OP_col2im, 1, &cols, &at, cols->dtype, 4, shape);
}

#define COL2IM_IMAGES(T)                                                                           \
    static void col2im_##T(void *arg, int64_t begin, int64_t end)                                  \
    {                                                                                              \
        const rb__patch_plan *p = arg;                                                             \
        const rb__geom *g = &p->g;                                                                 \
        const int64_t C = p->C, kw = g->kw, span = kw * C;                                         \
        const T *src = (const T *)p->cols + (begin - p->first) * g->Ho * g->Wo * g->kh * span;     \
        T *img = (T *)p->x;                                                                        \
        for (int64_t n = begin; n < end; n++)                                                      \
            for (int64_t oh = 0; oh < g->Ho; oh++)                                                 \
                for (int64_t ow = 0; ow < g->Wo; ow++) {                                           \
                    int64_t x0 = ow * g->sw - g->pl;                                               \
                    bool inside = g->dw == 1 && x0 >= 0 && x0 + kw <= g->W;                        \
                    for (int i = 0; i < g->kh; i++, src += span) {                                 \
                        int64_t y = oh * g->sh + (int64_t)i * g->dh - g->pt;                       \
                        if (y < 0 || y >= g->H) continue;                                          \
                        T *row = img + (n * g->H + y) * g->W * C;                                  \
                        if (inside) {                                                              \
                            T *dst = row + x0 * C;                                                 \
                            for (int64_t e = 0; e < span; e++)                                     \
                                dst[e] += src[e];                                                  \
                            continue;                                                              \
                        }                                                                          \
                        for (int64_t j = 0; j < kw; j++) {                                         \
                            int64_t xx = x0 + j * g->dw;                                           \
                            if (xx < 0 || xx >= g->W) continue;                                    \
                            for (int64_t c = 0; c < C; c++)                                        \
                                row[xx * C + c] += src[j * C + c];                                 \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
    }
COL2IM_IMAGES(float)
COL2IM_IMAGES(double)

void rb__im2col_rows(const rb__patch_plan *p, int64_t begin, int64_t end)
{
    if (p->dtype == RB_F32)
        im2col_rows_float((void *)p, begin, end);
    else
        im2col_rows_double((void *)p, begin, end);
}

void rb__col2im_images(const rb__patch_plan *p, int64_t begin, int64_t end)
{
    if (p->dtype == RB_F32)
        col2im_float((void *)p, begin, end);
    else
        col2im_double((void *)p, begin, end);
}

rb_status rb__fwd_col2im(rb_node *n)
{
    rb_tensor *cols = rb__contiguous(n->in[0]), *out = n->out;
    if (!cols) return rb_last_status();
    memset(out->data, 0, (size_t)out->size * rb_dtype_size(out->dtype));
    /* The image is the output here; the plan's x field carries it. */
    rb__patch_plan p = {out->data,
                        cols->data,
                        rb__window_of_attrs(&n->attrs, cols->shape[1], cols->shape[2]),
                        out->shape[3],
                        out->dtype,
                        0.0,
                        0};
    /* One image per task: overlapping patches of an image are summed by one thread, in order. */
    rb__parallel_for(out->shape[0], 1, out->dtype == RB_F32 ? col2im_float : col2im_double, &p);
    return RB_OK;
}

void rb__bwd_col2im(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *cols = n->in[0];
    rb__geom gm = rb__window_of_attrs(&n->attrs, cols->shape[1], cols->shape[2]);
    rb_grad_add(ctx, n, 0, im2col_geom(g, &gm, 0.0));
}

/* ---- convolutions ---- */

/* y (M, Cout) of a grouped product: cols (M, kh*kw, groups, Cg) against w (kh*kw*Cg, groups,
 * Cout/groups), one batched GEMM over the groups. */
static rb_tensor *grouped_product(rb_tensor *cols, rb_tensor *w, int64_t M, int64_t khkw,
                                  int64_t groups, int64_t cg, int64_t cout)
{
    rb_tensor *a = rb_reshape(cols, RB_SHAPE(M, khkw, groups, cg));
    a = rb_reshape(rb_permute(a, (const int[]){2, 0, 1, 3}), RB_SHAPE(groups, M, khkw * cg));
    rb_tensor *b = rb_reshape(w, RB_SHAPE(khkw * cg, groups, cout / groups));
    b = rb_permute(b, (const int[]){1, 0, 2});
    rb_tensor *y = rb_matmul(a, b); /* (groups, M, Cout/groups) */
    return rb_reshape(rb_permute(y, (const int[]){1, 0, 2}), RB_SHAPE(M, cout));
}

rb_tensor *rb_conv2d(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window2d win)
{
    return rb_conv2d_ex(x, w, bias, win, RB_EPILOGUE_NONE);
}

rb_tensor *rb_conv2d_ex(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window2d win,
                        rb_epilogue epi)
{
    rb_tensor *in[2] = {x, w};
    if (!rb__check_inputs("conv2d", 2, in) || !check_image("conv2d", x) ||
        !rb__check_same_dtype("conv2d", x, w))
        return NULL;
    if (bias == NULL && rb_last_status() != RB_OK) return NULL; /* a failed bias expression */
    int64_t groups = win.groups ? win.groups : 1, cin = x->shape[3];
    if (w->ndim != 4 || groups < 1 || cin % groups || w->shape[2] * groups != cin ||
        w->shape[3] % groups)
        return rb__fail(
            RB_ERR_SHAPE,
            "rb_conv2d: kernel %s does not fit input %s with %lld group(s) (expected (kh, kw, %lld, Cout), Cout a multiple of the groups)",
            rb__shp(w), rb__shp(x), (long long)groups,
            (long long)(groups > 0 ? cin / groups : cin));
    int64_t cout = w->shape[3], kh = w->shape[0], kw = w->shape[1];
    if (bias && (bias->ndim != 1 || bias->shape[0] != cout || bias->dtype != x->dtype))
        return rb__fail(RB_ERR_SHAPE, "rb_conv2d: bias %s%s must be (%lld) %s",
                        rb_dtype_name(bias->dtype), rb__shp(bias), (long long)cout,
                        rb_dtype_name(x->dtype));
    rb__geom g;
    if (!rb__window_resolve("conv2d", x->shape[1], x->shape[2], kh, kw, win, false, &g))
        return NULL;
    int64_t N = x->shape[0], M = N * g.Ho * g.Wo, K = kh * kw * cin / groups;
    /* A 1x1 unit-stride convolution is a plain product: no patches needed. */
    bool pointwise =
        kh == 1 && kw == 1 && g.sh == 1 && g.sw == 1 && !g.pt && !g.pb && !g.pl && !g.pr;
    if (groups == 1 && !pointwise) return rb__conv2d_fused(x, w, bias, &g, epi);
    rb_tensor *cols = pointwise ? x : im2col_geom(x, &g, 0.0);
    rb_tensor *y;
    if (groups == 1) {
        rb_tensor *a = rb_reshape(cols, RB_SHAPE(M, K));
        rb_tensor *b = rb_reshape(w, RB_SHAPE(K, cout));
        y = bias ? rb_linear(a, b, bias) : rb_matmul(a, b);
    } else {
        y = grouped_product(cols, w, M, kh * kw, groups, cin / groups, cout);
        if (bias) y = rb_add(y, bias);
    }
    y = rb_reshape(y, RB_SHAPE(N, g.Ho, g.Wo, cout));
    return epi == RB_EPILOGUE_RELU ? rb_relu(y) : y;
}

rb_tensor *rb_conv1d(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window1d win)
{
    rb_tensor *in[2] = {x, w};
    if (!rb__check_inputs("conv1d", 2, in)) return NULL;
    if (x->ndim != 3 || w->ndim != 3)
        return rb__fail(
            RB_ERR_SHAPE,
            "rb_conv1d: expects x (N, L, Cin) and w (k, Cin/groups, Cout), got %s and %s",
            rb__shp(x), rb__shp(w));
    rb_window2d w2 = {.stride = {1, win.stride},
                      .dilation = {1, win.dilation},
                      .padding = win.padding,
                      .pad = {0, 0, win.pad[0], win.pad[1]},
                      .groups = win.groups};
    rb_tensor *x4 = rb_reshape(x, RB_SHAPE(x->shape[0], 1, x->shape[1], x->shape[2]));
    rb_tensor *w4 = rb_reshape(w, RB_SHAPE(1, w->shape[0], w->shape[1], w->shape[2]));
    rb_tensor *y = rb_conv2d(x4, w4, bias, w2);
    if (!y) return NULL;
    return rb_reshape(y, RB_SHAPE(y->shape[0], y->shape[2], y->shape[3]));
}

/* Geometry of the convolution whose adjoint the transposed convolution is: input (Ho, Wo)
 * (the transposed output) and output (H, W) (the transposed input). */
static bool transpose_geom(const rb_tensor *x, int64_t kh, int64_t kw, rb_window2d win, rb__geom *g)
{
    if (kh < 1 || kw < 1 || kh > INT_MAX / 2 || kw > INT_MAX / 2) {
        rb_error(RB_ERR_ARGUMENT,
                 "rb_conv2d_transpose: window %lldx%lld must be positive and below %d",
                 (long long)kh, (long long)kw, INT_MAX / 2);
        return false;
    }
    int s[2] = {win.stride[0] ? win.stride[0] : 1, win.stride[1] ? win.stride[1] : 1};
    int d[2] = {win.dilation[0] ? win.dilation[0] : 1, win.dilation[1] ? win.dilation[1] : 1};
    int64_t in[2] = {x->shape[1], x->shape[2]}, out[2];
    int before[2], after[2];
    for (int a = 0; a < 2; a++) {
        int64_t eff = (int64_t)d[a] * ((a ? kw : kh) - 1) + 1;
        int extra = win.output_padding[a];
        if (s[a] < 1 || d[a] < 1 || extra < 0 || extra >= s[a]) {
            rb_error(
                RB_ERR_ARGUMENT,
                "rb_conv2d_transpose: need stride, dilation >= 1 and 0 <= output_padding < stride (axis %d: %d, %d, %d)",
                a, s[a], d[a], extra);
            return false;
        }
        if (eff > INT_MAX / 2 || in[a] > RB_MAX_BYTES / s[a]) {
            rb_error(
                RB_ERR_ARGUMENT,
                "rb_conv2d_transpose: axis %d: a window spanning %lld positions at stride %d over %lld positions is too large",
                a + 1, (long long)eff, s[a], (long long)in[a]);
            return false;
        }
        if (win.padding == RB_PAD_SAME) { /* Keras: in * stride positions */
            out[a] = in[a] * s[a];
            int64_t total = (in[a] - 1) * s[a] + eff - out[a];
            if (total < 0) total = 0; /* stride beyond the window: the last rows get nothing */
            before[a] = (int)(total / 2);
            after[a] = (int)(total - before[a]);
        } else {
            before[a] = win.padding == RB_PAD_EXPLICIT ? win.pad[2 * a] : 0;
            after[a] = win.padding == RB_PAD_EXPLICIT ? win.pad[2 * a + 1] : 0;
            out[a] = (in[a] - 1) * s[a] + eff - before[a] - after[a];
        }
        /* output_padding adds rows at the bottom/right that no input position reaches (the
         * equivalent convolution ignores them: extra < stride). */
        out[a] += extra;
        if (out[a] < 1) {
            rb_error(RB_ERR_SHAPE,
                     "rb_conv2d_transpose: padding leaves no output on axis %d for input %s", a + 1,
                     rb__shp(x));
            return false;
        }
    }
    rb_window2d fw = {.stride = {s[0], s[1]},
                      .dilation = {d[0], d[1]},
                      .padding = RB_PAD_EXPLICIT,
                      .pad = {before[0], after[0], before[1], after[1]}};
    if (!rb__window_resolve("conv2d_transpose", out[0], out[1], kh, kw, fw, false, g)) return false;
    if (g->Ho != in[0] || g->Wo != in[1]) {
        rb_error(RB_ERR_SHAPE, "rb_conv2d_transpose: inconsistent geometry for input %s",
                 rb__shp(x));
        return false;
    }
    return true;
}

rb_tensor *rb_conv2d_transpose(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window2d win)
{
    rb_tensor *in[2] = {x, w};
    if (!rb__check_inputs("conv2d_transpose", 2, in) || !check_image("conv2d_transpose", x) ||
        !rb__check_same_dtype("conv2d_transpose", x, w))
        return NULL;
    if (bias == NULL && rb_last_status() != RB_OK) return NULL;
    if (win.groups > 1)
        return rb__fail(RB_ERR_ARGUMENT, "rb_conv2d_transpose: groups are not supported");
    if (w->ndim != 4 || w->shape[3] != x->shape[3])
        return rb__fail(RB_ERR_SHAPE,
                        "rb_conv2d_transpose: kernel %s must be (kh, kw, Cout, %lld) for input %s",
                        rb__shp(w), (long long)x->shape[3], rb__shp(x));
    int64_t kh = w->shape[0], kw = w->shape[1], cout = w->shape[2], cin = x->shape[3];
    if (bias && (bias->ndim != 1 || bias->shape[0] != cout))
        return rb__fail(RB_ERR_SHAPE, "rb_conv2d_transpose: bias %s must be (%lld)", rb__shp(bias),
                        (long long)cout);
    rb__geom g;
    if (!transpose_geom(x, kh, kw, win, &g)) return NULL;
    int64_t N = x->shape[0], M = N * x->shape[1] * x->shape[2];
    /* Each input pixel spreads its channels over a kh x kw x Cout patch ... */
    rb_tensor *wt = rb_transpose(rb_reshape(w, RB_SHAPE(kh * kw * cout, cin)), 0, 1);
    rb_tensor *cols = rb_matmul(rb_reshape(x, RB_SHAPE(M, cin)), wt);
    cols = rb_reshape(cols, RB_SHAPE(N, x->shape[1], x->shape[2], kh, kw, cout));
    /* ... and overlapping patches add up. */
    rb_attrs at = {0};
    rb__window_to_attrs(&g, &at, 0.0);
    if (!cols) return NULL;
    int64_t shape[4] = {N, g.H, g.W, cout};
    rb_tensor *y = rb__apply(RB__OP_col2im, 1, &cols, &at, x->dtype, 4, shape);
    return bias ? rb_add(y, bias) : y;
}
