/* Patches (im2col and its adjoint col2im) and the convolutions built on them: one GEMM over
 * the whole minibatch, channels last. */
#include <math.h>
#include <string.h>

#include "op_impl.h"
#include "parallel.h"

/* ---- window geometry ---- */

int64_t rb_window_output(int64_t n, int k, int stride, int dilation, rb_padding padding,
                         const int *explicit_pad, int *pad_before, int *pad_after)
{
    int64_t eff = (int64_t)dilation * (k - 1) + 1;
    int64_t before = 0, after = 0;
    if (padding == RB_PAD_SAME) {
        int64_t out = (n + stride - 1) / stride;
        int64_t total = (out - 1) * stride + eff - n;
        if (total < 0) total = 0;
        before = total / 2;
        after = total - before;
    } else if (padding == RB_PAD_EXPLICIT && explicit_pad) {
        before = explicit_pad[0];
        after = explicit_pad[1];
    }
    if (pad_before) *pad_before = (int)before;
    if (pad_after) *pad_after = (int)after;
    int64_t span = n + before + after - eff;
    if (span < 0) return -1;
    return span / stride + 1;
}

/* A 2-D window resolved against an input: everything the kernels and messages need. */
typedef struct geom {
    int kh, kw, sh, sw, dh, dw, pt, pb, pl, pr;
    int64_t H, W, Ho, Wo;
} geom;

/* Fill g for a window over an (N, H, W, C) input; default_stride is 1 (convolution) or 0 for
 * "the window size" (pooling). Raises an error naming op and returns false on misuse. */
static bool resolve(const char *op, int64_t H, int64_t W, int kh, int kw, rb_window2d win,
                    bool pooling, geom *g)
{
    g->kh = kh;
    g->kw = kw;
    g->sh = win.stride[0] ? win.stride[0] : (pooling ? kh : 1);
    g->sw = win.stride[1] ? win.stride[1] : (pooling ? kw : 1);
    g->dh = win.dilation[0] ? win.dilation[0] : 1;
    g->dw = win.dilation[1] ? win.dilation[1] : 1;
    if (kh < 1 || kw < 1 || g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1) {
        rb_error(RB_ERR_ARGUMENT, "rb_%s: window %dx%d, stride %dx%d and dilation %dx%d must be "
                                  "positive", op, kh, kw, g->sh, g->sw, g->dh, g->dw);
        return false;
    }
    if (win.padding == RB_PAD_EXPLICIT)
        for (int k = 0; k < 4; k++)
            if (win.pad[k] < 0) {
                rb_error(RB_ERR_ARGUMENT, "rb_%s: negative padding %d", op, win.pad[k]);
                return false;
            }
    if (win.padding != RB_PAD_VALID && win.padding != RB_PAD_SAME &&
        win.padding != RB_PAD_EXPLICIT) {
        rb_error(RB_ERR_ARGUMENT, "rb_%s: unknown padding mode %d", op, (int)win.padding);
        return false;
    }
    g->H = H;
    g->W = W;
    g->Ho = rb_window_output(H, kh, g->sh, g->dh, win.padding, &win.pad[0], &g->pt, &g->pb);
    g->Wo = rb_window_output(W, kw, g->sw, g->dw, win.padding, &win.pad[2], &g->pl, &g->pr);
    if (g->Ho < 1 || g->Wo < 1) {
        rb_error(RB_ERR_SHAPE, "rb_%s: a %dx%d window (dilation %dx%d, %dx%d when dilated) does "
                               "not fit in the %lldx%lld input padded by %d,%d,%d,%d "
                               "(top, bottom, left, right)",
                 op, kh, kw, g->dh, g->dw, g->dh * (kh - 1) + 1, g->dw * (kw - 1) + 1,
                 (long long)H, (long long)W, g->pt, g->pb, g->pl, g->pr);
        return false;
    }
    return true;
}

static void geom_to_attrs(const geom *g, rb_attrs *at, double pad_value)
{
    int64_t v[] = {g->kh, g->kw, g->sh, g->sw, g->pt, g->pl, g->dh, g->dw, g->H, g->W};
    memcpy(at->i, v, sizeof v);
    at->f[0] = pad_value;
}

static geom geom_of_attrs(const rb_attrs *at, int64_t Ho, int64_t Wo)
{
    geom g = {(int)at->i[0], (int)at->i[1], (int)at->i[2], (int)at->i[3], (int)at->i[6],
              (int)at->i[7], (int)at->i[4], 0, (int)at->i[5], 0, at->i[8], at->i[9], Ho, Wo};
    return g;
}

static bool check_image(const char *op, const rb_tensor *x)
{
    if (!rb__check_float(op, x)) return false;
    if (x->ndim == 4) return true;
    rb_error(RB_ERR_SHAPE, "rb_%s: expects images (N, H, W, C), got %s", op, rb__shp(x));
    return false;
}

/* ---- im2col ---- */

static rb_tensor *im2col_geom(rb_tensor *x, const geom *g, double pad_value)
{
    int64_t shape[6] = {x->shape[0], g->Ho, g->Wo, g->kh, g->kw, x->shape[3]};
    rb_attrs at = {0};
    geom_to_attrs(g, &at, pad_value);
    return rb__apply(RB__OP_im2col, 1, &x, &at, x->dtype, 6, shape);
}

rb_tensor *rb__patches(const char *op, rb_tensor *x, int kh, int kw, rb_window2d win,
                       bool pooling, double pad_value)
{
    if (!rb__check_inputs(op, 1, &x) || !check_image(op, x)) return NULL;
    geom g;
    if (!resolve(op, x->shape[1], x->shape[2], kh, kw, win, pooling, &g)) return NULL;
    return im2col_geom(x, &g, pad_value);
}

rb_tensor *rb_im2col(rb_tensor *x, int kh, int kw, rb_window2d win, double pad_value)
{
    return rb__patches("im2col", x, kh, kw, win, false, pad_value);
}

typedef struct patch_plan {
    const char *x; /* (N, H, W, C) */
    char *cols;    /* (N, Ho, Wo, kh, kw, C) */
    geom g;
    int64_t C;
    size_t es;
    rb_dtype dtype;
    double pad_value;
} patch_plan;

static void fill_value(char *dst, int64_t n, rb_dtype dtype, double v)
{
    if (v == 0.0) {
        memset(dst, 0, (size_t)n * rb_dtype_size(dtype));
    } else if (dtype == RB_F32) {
        for (int64_t i = 0; i < n; i++) ((float *)dst)[i] = (float)v;
    } else {
        for (int64_t i = 0; i < n; i++) ((double *)dst)[i] = v;
    }
}

/* Rows are (n, oh) pairs; each writes its own part of cols. */
static void im2col_rows(void *arg, int64_t begin, int64_t end)
{
    const patch_plan *p = arg;
    const geom *g = &p->g;
    size_t chunk = (size_t)p->C * p->es;
    for (int64_t r = begin; r < end; r++) {
        int64_t n = r / g->Ho, oh = r % g->Ho;
        char *dst = p->cols + (size_t)r * (size_t)(g->Wo * g->kh * g->kw) * chunk;
        for (int64_t ow = 0; ow < g->Wo; ow++)
            for (int i = 0; i < g->kh; i++) {
                int64_t y = oh * g->sh + (int64_t)i * g->dh - g->pt;
                for (int j = 0; j < g->kw; j++, dst += chunk) {
                    int64_t xx = ow * g->sw + (int64_t)j * g->dw - g->pl;
                    if (y < 0 || y >= g->H || xx < 0 || xx >= g->W)
                        fill_value(dst, p->C, p->dtype, p->pad_value);
                    else
                        memcpy(dst, p->x + (size_t)((n * g->H + y) * g->W + xx) * chunk, chunk);
                }
            }
    }
}

rb_status rb__fwd_im2col(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]), *out = n->out;
    if (!x) return rb_last_status();
    patch_plan p = {x->data, out->data, geom_of_attrs(&n->attrs, out->shape[1], out->shape[2]),
                    x->shape[3], rb_dtype_size(x->dtype), x->dtype, n->attrs.f[0]};
    int64_t rows = x->shape[0] * out->shape[1];
    int64_t per_row = out->size / (rows ? rows : 1);
    rb__parallel_for(rows, RB__GRAIN / (per_row + 1) + 1, im2col_rows, &p);
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
    geom g;
    if (!resolve("col2im", h, w, (int)cols->shape[3], (int)cols->shape[4], win, false, &g))
        return NULL;
    if (g.Ho != cols->shape[1] || g.Wo != cols->shape[2])
        return rb__fail(RB_ERR_SHAPE, "rb_col2im: patches %s do not come from a %lldx%lld image "
                                      "with this window (it gives %lldx%lld positions)",
                        rb__shp(cols), (long long)h, (long long)w, (long long)g.Ho,
                        (long long)g.Wo);
    rb_attrs at = {0};
    geom_to_attrs(&g, &at, 0.0);
    int64_t shape[4] = {cols->shape[0], h, w, cols->shape[5]};
    return rb__apply(RB__OP_col2im, 1, &cols, &at, cols->dtype, 4, shape);
}

#define COL2IM_IMAGES(T)                                                                       \
    static void col2im_##T(void *arg, int64_t begin, int64_t end)                              \
    {                                                                                          \
        const patch_plan *p = arg;                                                             \
        const geom *g = &p->g;                                                                 \
        int64_t C = p->C;                                                                      \
        const T *cols = (const T *)p->cols;                                                    \
        T *img = (T *)p->x;                                                                    \
        for (int64_t n = begin; n < end; n++) {                                                \
            const T *src = cols + n * g->Ho * g->Wo * g->kh * g->kw * C;                       \
            for (int64_t oh = 0; oh < g->Ho; oh++)                                             \
                for (int64_t ow = 0; ow < g->Wo; ow++)                                         \
                    for (int i = 0; i < g->kh; i++) {                                          \
                        int64_t y = oh * g->sh + (int64_t)i * g->dh - g->pt;                   \
                        for (int j = 0; j < g->kw; j++, src += C) {                            \
                            int64_t xx = ow * g->sw + (int64_t)j * g->dw - g->pl;              \
                            if (y < 0 || y >= g->H || xx < 0 || xx >= g->W) continue;          \
                            T *dst = img + ((n * g->H + y) * g->W + xx) * C;                   \
                            for (int64_t c = 0; c < C; c++) dst[c] += src[c];                  \
                        }                                                                      \
                    }                                                                          \
        }                                                                                      \
    }
COL2IM_IMAGES(float)
COL2IM_IMAGES(double)

rb_status rb__fwd_col2im(rb_node *n)
{
    rb_tensor *cols = rb__contiguous(n->in[0]), *out = n->out;
    if (!cols) return rb_last_status();
    memset(out->data, 0, (size_t)out->size * rb_dtype_size(out->dtype));
    /* The image is the output here; patch_plan's x field carries it. */
    patch_plan p = {out->data, cols->data, geom_of_attrs(&n->attrs, cols->shape[1], cols->shape[2]),
                    out->shape[3], rb_dtype_size(out->dtype), out->dtype, 0.0};
    /* One image per task: overlapping patches of an image are summed by one thread, in order. */
    rb__parallel_for(out->shape[0], 1, out->dtype == RB_F32 ? col2im_float : col2im_double, &p);
    return RB_OK;
}

void rb__bwd_col2im(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *cols = n->in[0];
    geom gm = geom_of_attrs(&n->attrs, cols->shape[1], cols->shape[2]);
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
    rb_tensor *in[2] = {x, w};
    if (!rb__check_inputs("conv2d", 2, in) || !check_image("conv2d", x) ||
        !rb__check_same_dtype("conv2d", x, w))
        return NULL;
    if (bias == NULL && rb_last_status() != RB_OK) return NULL; /* a failed bias expression */
    int64_t groups = win.groups ? win.groups : 1, cin = x->shape[3];
    if (w->ndim != 4 || groups < 1 || cin % groups || w->shape[2] * groups != cin ||
        w->shape[3] % groups)
        return rb__fail(RB_ERR_SHAPE, "rb_conv2d: kernel %s does not fit input %s with %lld "
                                      "group(s) (expected (kh, kw, %lld, Cout), Cout a multiple "
                                      "of the groups)",
                        rb__shp(w), rb__shp(x), (long long)groups,
                        (long long)(groups > 0 ? cin / groups : cin));
    int64_t cout = w->shape[3], kh = w->shape[0], kw = w->shape[1];
    if (bias && (bias->ndim != 1 || bias->shape[0] != cout || bias->dtype != x->dtype))
        return rb__fail(RB_ERR_SHAPE, "rb_conv2d: bias %s%s must be (%lld) %s",
                        rb_dtype_name(bias->dtype), rb__shp(bias), (long long)cout,
                        rb_dtype_name(x->dtype));
    geom g;
    if (!resolve("conv2d", x->shape[1], x->shape[2], (int)kh, (int)kw, win, false, &g))
        return NULL;
    int64_t N = x->shape[0], M = N * g.Ho * g.Wo, K = kh * kw * cin / groups;
    /* A 1x1 unit-stride convolution is a plain product: no patches needed. */
    bool pointwise = kh == 1 && kw == 1 && g.sh == 1 && g.sw == 1 && !g.pt && !g.pb && !g.pl &&
                     !g.pr;
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
    return rb_reshape(y, RB_SHAPE(N, g.Ho, g.Wo, cout));
}

rb_tensor *rb_conv1d(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window1d win)
{
    rb_tensor *in[2] = {x, w};
    if (!rb__check_inputs("conv1d", 2, in)) return NULL;
    if (x->ndim != 3 || w->ndim != 3)
        return rb__fail(RB_ERR_SHAPE, "rb_conv1d: expects x (N, L, Cin) and w (k, Cin/groups, "
                                      "Cout), got %s and %s", rb__shp(x), rb__shp(w));
    rb_window2d w2 = {.stride = {1, win.stride}, .dilation = {1, win.dilation},
                      .padding = win.padding, .pad = {0, 0, win.pad[0], win.pad[1]},
                      .groups = win.groups};
    rb_tensor *x4 = rb_reshape(x, RB_SHAPE(x->shape[0], 1, x->shape[1], x->shape[2]));
    rb_tensor *w4 = rb_reshape(w, RB_SHAPE(1, w->shape[0], w->shape[1], w->shape[2]));
    rb_tensor *y = rb_conv2d(x4, w4, bias, w2);
    if (!y) return NULL;
    return rb_reshape(y, RB_SHAPE(y->shape[0], y->shape[2], y->shape[3]));
}

/* Geometry of the convolution whose adjoint the transposed convolution is: input (Ho, Wo)
 * (the transposed output) and output (H, W) (the transposed input). */
static bool transpose_geom(const rb_tensor *x, int kh, int kw, rb_window2d win, geom *g)
{
    int s[2] = {win.stride[0] ? win.stride[0] : 1, win.stride[1] ? win.stride[1] : 1};
    int d[2] = {win.dilation[0] ? win.dilation[0] : 1, win.dilation[1] ? win.dilation[1] : 1};
    int64_t in[2] = {x->shape[1], x->shape[2]}, out[2];
    int before[2], after[2];
    for (int a = 0; a < 2; a++) {
        int eff = d[a] * ((a ? kw : kh) - 1) + 1, extra = win.output_padding[a];
        if (s[a] < 1 || d[a] < 1 || extra < 0 || extra >= s[a]) {
            rb_error(RB_ERR_ARGUMENT, "rb_conv2d_transpose: need stride, dilation >= 1 and 0 <= "
                                      "output_padding < stride (axis %d: %d, %d, %d)",
                     a, s[a], d[a], extra);
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
            rb_error(RB_ERR_SHAPE, "rb_conv2d_transpose: padding leaves no output on axis %d "
                                   "for input %s", a + 1, rb__shp(x));
            return false;
        }
    }
    rb_window2d fw = {.stride = {s[0], s[1]}, .dilation = {d[0], d[1]},
                      .padding = RB_PAD_EXPLICIT,
                      .pad = {before[0], after[0], before[1], after[1]}};
    if (!resolve("conv2d_transpose", out[0], out[1], kh, kw, fw, false, g)) return false;
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
        return rb__fail(RB_ERR_SHAPE, "rb_conv2d_transpose: kernel %s must be (kh, kw, Cout, %lld) "
                                      "for input %s",
                        rb__shp(w), (long long)x->shape[3], rb__shp(x));
    int64_t kh = w->shape[0], kw = w->shape[1], cout = w->shape[2], cin = x->shape[3];
    if (bias && (bias->ndim != 1 || bias->shape[0] != cout))
        return rb__fail(RB_ERR_SHAPE, "rb_conv2d_transpose: bias %s must be (%lld)", rb__shp(bias),
                        (long long)cout);
    geom g;
    if (!transpose_geom(x, (int)kh, (int)kw, win, &g)) return NULL;
    int64_t N = x->shape[0], M = N * x->shape[1] * x->shape[2];
    /* Each input pixel spreads its channels over a kh x kw x Cout patch ... */
    rb_tensor *wt = rb_transpose(rb_reshape(w, RB_SHAPE(kh * kw * cout, cin)), 0, 1);
    rb_tensor *cols = rb_matmul(rb_reshape(x, RB_SHAPE(M, cin)), wt);
    cols = rb_reshape(cols, RB_SHAPE(N, x->shape[1], x->shape[2], kh, kw, cout));
    /* ... and overlapping patches add up. */
    rb_attrs at = {0};
    geom_to_attrs(&g, &at, 0.0);
    if (!cols) return NULL;
    int64_t shape[4] = {N, g.H, g.W, cout};
    rb_tensor *y = rb__apply(RB__OP_col2im, 1, &cols, &at, x->dtype, 4, shape);
    return bias ? rb_add(y, bias) : y;
}
