/* ruban/conv.h - convolution and pooling, channels last (Keras's layout).
 *
 * Images are (N, H, W, C), sequences (N, L, C). Convolution lowers to one GEMM over the whole
 * minibatch: rb_im2col gathers every receptive field into a row, a BLIS product applies the
 * kernels, and the backward pass runs the same way in reverse (rb_col2im scatters). Pooling
 * reduces the same patches. All of it is made of differentiable ops, second derivatives
 * included.
 *
 *     rb_tensor *y = rb_conv2d(x, w, b, (rb_window2d){.padding = RB_PAD_SAME});  // w: (3,3,1,32)
 *     rb_tensor *p = rb_max_pool2d(rb_relu(y), 2, 2, (rb_window2d){0});            // stride 2
 */
#ifndef RUBAN_CONV_H
#define RUBAN_CONV_H

#include "ruban/base.h"
#include "ruban/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rb_padding {
    RB_PAD_VALID = 0, /* no padding: the window stays inside the input */
    RB_PAD_SAME,      /* pad so that the output has ceil(size / stride) positions (TensorFlow's
                       * rule: the extra pixel, if any, goes at the bottom / right) */
    RB_PAD_EXPLICIT   /* the pad[] amounts */
} rb_padding;

/* Window geometry. Zero fields take the defaults: stride 1 for convolutions and the window
 * size for pooling, dilation 1, one group, valid padding. */
typedef struct rb_window2d {
    int stride[2]; /* rows, columns */
    int dilation[2];
    rb_padding padding;
    int pad[4];            /* RB_PAD_EXPLICIT: top, bottom, left, right */
    int groups;            /* convolution: input and output channels split in groups */
    int output_padding[2]; /* transposed convolution: extra rows/columns at the bottom/right */
} rb_window2d;

typedef struct rb_window1d {
    int stride, dilation;
    rb_padding padding;
    int pad[2]; /* RB_PAD_EXPLICIT: left, right */
    int groups;
} rb_window1d;

/* Output extent of a window of size k over n positions ((n + pads - dilation (k-1) - 1) /
 * stride + 1), with the padding it implies; -1 if the window does not fit. For pooling pass
 * stride = k when win's stride is 0. */
RB_API int64_t rb_window_output(int64_t n, int k, int stride, int dilation, rb_padding padding,
                                const int *explicit_pad, int *pad_before, int *pad_after);

/* ---- patches ---- */
/* x (N, H, W, C) -> (N, Ho, Wo, kh, kw, C): every kh x kw window (with stride, dilation and
 * padding by pad_value). Differentiable; its adjoint is rb_col2im. */
RB_API rb_tensor *rb_im2col(rb_tensor *x, int kh, int kw, rb_window2d win, double pad_value);
/* cols (N, Ho, Wo, kh, kw, C) -> (N, h, w, C): each patch added back where it came from. */
RB_API rb_tensor *rb_col2im(rb_tensor *cols, int64_t h, int64_t w, rb_window2d win);

/* ---- convolutions (cross-correlation, as every framework computes them) ---- */
/* x (N, H, W, Cin), w (kh, kw, Cin / groups, Cout), bias (Cout) or NULL -> (N, Ho, Wo, Cout). */
RB_API rb_tensor *rb_conv2d(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window2d win);
/* rb_conv2d followed by a fused epilogue (ruban/ops.h). */
RB_API rb_tensor *rb_conv2d_ex(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window2d win,
                               rb_epilogue epi);
/* x (N, L, Cin), w (k, Cin / groups, Cout), bias (Cout) or NULL -> (N, Lo, Cout). */
RB_API rb_tensor *rb_conv1d(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window1d win);
/* The adjoint of rb_conv2d (a "deconvolution"), for upsampling decoders: x (N, H, W, Cin),
 * w (kh, kw, Cout, Cin) as Keras's Conv2DTranspose, bias (Cout) or NULL -> (N, Ho, Wo, Cout)
 * with Ho = (H - 1) stride - pads + dilation (kh - 1) + 1 + output_padding. Groups must be 1. */
RB_API rb_tensor *rb_conv2d_transpose(rb_tensor *x, rb_tensor *w, rb_tensor *bias, rb_window2d win);

/* ---- pooling over kh x kw windows (stride defaults to the window) ---- */
RB_API rb_tensor *rb_max_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win);
/* Mean of each window; padded positions are not counted (Keras's rule). */
RB_API rb_tensor *rb_avg_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win);
/* The signed value of largest magnitude in each window (for sharpened cosine similarity
 * networks, whose outputs are signed). */
RB_API rb_tensor *rb_max_abs_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win);
RB_API rb_tensor *rb_max_pool1d(rb_tensor *x, int k, rb_window1d win);
RB_API rb_tensor *rb_avg_pool1d(rb_tensor *x, int k, rb_window1d win);
/* (N, H, W, C) -> (N, C): mean or max over all positions. */
RB_API rb_tensor *rb_global_avg_pool2d(rb_tensor *x);
RB_API rb_tensor *rb_global_max_pool2d(rb_tensor *x);
/* (N, H, W, C) -> (N, H sh, W sw, C), each pixel repeated (nearest neighbour). */
RB_API rb_tensor *rb_upsample2d(rb_tensor *x, int sh, int sw);

#ifdef __cplusplus
}
#endif
#endif
