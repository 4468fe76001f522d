/* Pooling and upsampling, composed of patches (rb_im2col), reductions and shape ops: every
 * gradient (including second derivatives) comes from those ops. */
#include <math.h>

#include "op_impl.h"

/* Patches of a pooling window (stride defaults to the window), or NULL after an error. */
static rb_tensor *pool_patches(const char *op, rb_tensor *x, int kh, int kw, rb_window2d win,
                               double pad_value)
{
    if (win.groups > 1) return rb__fail(RB_ERR_ARGUMENT, "rb_%s: pooling has no groups", op);
    return rb__patches(op, x, kh, kw, win, true, pad_value);
}

rb_tensor *rb_max_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win)
{
    rb_tensor *cols = pool_patches("max_pool2d", x, kh, kw, win, -INFINITY);
    return rb_max(cols, RB_AXES(3, 4), false);
}

rb_tensor *rb_avg_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win)
{
    rb_tensor *cols = pool_patches("avg_pool2d", x, kh, kw, win, 0.0);
    if (!cols) return NULL;
    rb_tensor *sum = rb_sum(cols, RB_AXES(3, 4), false);
    bool padded = win.padding != RB_PAD_VALID;
    if (!padded) return rb_mul_scalar(sum, 1.0 / (kh * kw));
    /* Count only the real pixels of each window: the same patches taken over ones. */
    rb_tensor *ones = rb_tensor_ones(x->dtype, RB_SHAPE(1, x->shape[1], x->shape[2], 1));
    rb_tensor *count = rb_sum(rb__patches("avg_pool2d", ones, kh, kw, win, true, 0.0),
                              RB_AXES(3, 4), false);
    return rb_div(sum, count);
}

rb_tensor *rb_max_abs_pool2d(rb_tensor *x, int kh, int kw, rb_window2d win)
{
    rb_tensor *cols = pool_patches("max_abs_pool2d", x, kh, kw, win, 0.0);
    if (!cols) return NULL;
    int64_t N = cols->shape[0], Ho = cols->shape[1], Wo = cols->shape[2], C = cols->shape[5];
    int64_t K = (int64_t)kh * kw;
    rb_tensor *flat = rb_reshape(cols, RB_SHAPE(N, Ho, Wo, K, C));
    /* The position of largest magnitude selects the signed value (a constant mask: the
     * gradient flows to that element only). */
    rb_tensor *pick = rb_one_hot(rb_argmax(rb_abs(flat), 3, false), K, x->dtype); /* N,Ho,Wo,C,K */
    rb_tensor *mask = rb_permute(pick, (const int[]){0, 1, 2, 4, 3});
    return rb_sum(rb_mul(flat, mask), RB_AXES(3), false);
}

/* 1-D pools: a sequence (N, L, C) is an image of one row. */
static rb_tensor *pool1d(rb_tensor *(*pool2d)(rb_tensor *, int, int, rb_window2d), const char *op,
                         rb_tensor *x, int k, rb_window1d win)
{
    if (!rb__check_inputs(op, 1, &x)) return NULL;
    if (x->ndim != 3)
        return rb__fail(RB_ERR_SHAPE, "rb_%s: expects sequences (N, L, C), got %s", op,
                        rb__shp(x));
    rb_window2d w2 = {.stride = {1, win.stride}, .dilation = {1, win.dilation},
                      .padding = win.padding, .pad = {0, 0, win.pad[0], win.pad[1]}};
    rb_tensor *y = pool2d(rb_reshape(x, RB_SHAPE(x->shape[0], 1, x->shape[1], x->shape[2])), 1,
                          k, w2);
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
