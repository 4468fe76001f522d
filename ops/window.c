/* 2-D window geometry: output extents and paddings (TensorFlow's "same" rule). */
#include <limits.h>
#include <string.h>

#include "window.h"

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
    if (before > INT_MAX || after > INT_MAX) return -1; /* the paddings are ints */
    if (pad_before) *pad_before = (int)before;
    if (pad_after) *pad_after = (int)after;
    int64_t span = n + before + after - eff;
    if (span < 0) return -1;
    return span / stride + 1;
}

bool rb__window_resolve(const char *op, int64_t H, int64_t W, int64_t kh, int64_t kw,
                        rb_window2d win, bool pooling, rb__geom *g)
{
    /* Kernel extents come from weight shapes too (int64): refused, not truncated, past int. */
    if (kh < 1 || kw < 1 || kh > INT_MAX / 2 || kw > INT_MAX / 2) {
        rb_error(RB_ERR_ARGUMENT, "rb_%s: window %lldx%lld must be positive and below %d", op,
                 (long long)kh, (long long)kw, INT_MAX / 2);
        return false;
    }
    g->kh = (int)kh;
    g->kw = (int)kw;
    g->sh = win.stride[0] ? win.stride[0] : (pooling ? g->kh : 1);
    g->sw = win.stride[1] ? win.stride[1] : (pooling ? g->kw : 1);
    g->dh = win.dilation[0] ? win.dilation[0] : 1;
    g->dw = win.dilation[1] ? win.dilation[1] : 1;
    if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1) {
        rb_error(RB_ERR_ARGUMENT,
                 "rb_%s: window %dx%d, stride %dx%d and dilation %dx%d must be positive", op, g->kh,
                 g->kw, g->sh, g->sw, g->dh, g->dw);
        return false;
    }
    /* The dilated extent bounds the "same" padding, kept in ints: no real window comes near. */
    int64_t span_h = (int64_t)g->dh * (kh - 1) + 1, span_w = (int64_t)g->dw * (kw - 1) + 1;
    if (span_h > INT_MAX / 2 || span_w > INT_MAX / 2) {
        rb_error(RB_ERR_ARGUMENT,
                 "rb_%s: a %dx%d window dilated %dx%d spans %lldx%lld positions: too large", op,
                 g->kh, g->kw, g->dh, g->dw, (long long)span_h, (long long)span_w);
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
        rb_error(
            RB_ERR_SHAPE,
            "rb_%s: a %dx%d window (dilation %dx%d, %dx%d when dilated) does not fit in the %lldx%lld input padded by %d,%d,%d,%d (top, bottom, left, right)",
            op, g->kh, g->kw, g->dh, g->dw, (int)span_h, (int)span_w, (long long)H, (long long)W,
            g->pt, g->pb, g->pl, g->pr);
        return false;
    }
    return true;
}

void rb__window_to_attrs(const rb__geom *g, rb_attrs *at, double pad_value)
{
    int64_t v[] = {g->kh, g->kw, g->sh, g->sw, g->pt, g->pl, g->dh, g->dw, g->H, g->W};
    memcpy(at->i, v, sizeof v);
    at->i[14] = g->pb;
    at->i[15] = g->pr;
    at->f[0] = pad_value;
}

rb__geom rb__window_of_attrs(const rb_attrs *at, int64_t Ho, int64_t Wo)
{
    rb__geom g = {(int)at->i[0],
                  (int)at->i[1],
                  (int)at->i[2],
                  (int)at->i[3],
                  (int)at->i[6],
                  (int)at->i[7],
                  (int)at->i[4],
                  (int)at->i[14],
                  (int)at->i[5],
                  (int)at->i[15],
                  at->i[8],
                  at->i[9],
                  Ho,
                  Wo};
    return g;
}
