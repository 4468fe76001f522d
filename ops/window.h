/* 2-D window geometry shared by convolution and pooling. */
#ifndef RUBAN_OPS_WINDOW_H
#define RUBAN_OPS_WINDOW_H

#include "op_impl.h"

/* A window resolved against an (N, H, W, C) input: sizes, strides, dilations, paddings and
 * the output extent. */
typedef struct rb__geom {
    int kh, kw, sh, sw, dh, dw, pt, pb, pl, pr;
    int64_t H, W, Ho, Wo;
} rb__geom;

/* Fill g for a window over an H x W input; pooling windows default their stride to their
 * size. Raises an error naming op and returns false on misuse or a window that does not fit. */
bool rb__window_resolve(const char *op, int64_t H, int64_t W, int64_t kh, int64_t kw,
                        rb_window2d win, bool pooling, rb__geom *g);
/* Geometry <-> op attributes (i[0..9], i[14..15]; f[0] = pad value). */
void rb__window_to_attrs(const rb__geom *g, rb_attrs *at, double pad_value);
rb__geom rb__window_of_attrs(const rb_attrs *at, int64_t Ho, int64_t Wo);

/* Patches between an image batch x (N, H, W, C) and cols (..., Ho, Wo, kh, kw, C). cols may
 * hold only part of the batch: `first` is the first row (im2col: an (n, oh) pair) or image
 * (col2im) it starts at. */
typedef struct rb__patch_plan {
    const char *x;
    char *cols;
    rb__geom g;
    int64_t C;
    rb_dtype dtype;
    double pad_value;
    int64_t first;
} rb__patch_plan;

/* im2col of the (n, oh) rows [begin, end). */
void rb__im2col_rows(const rb__patch_plan *p, int64_t begin, int64_t end);
/* col2im of images [begin, end), added into x (which the caller zeroes). */
void rb__col2im_images(const rb__patch_plan *p, int64_t begin, int64_t end);

/* The fused convolution (ops/conv2d.c): x (N, H, W, C), w (kh, kw, C, Cout), bias (Cout) or
 * NULL, one group, checked by the caller. */
rb_tensor *rb__conv2d_fused(rb_tensor *x, rb_tensor *w, rb_tensor *bias, const rb__geom *g,
                            rb_epilogue epi);

#endif
