/* Convolution and pooling against direct (naive) reference implementations written here. */
#include <limits.h>
#include <stdlib.h>

#include "testutil.h"

typedef struct geo {
    int kh, kw, sh, sw, dh, dw, pt, pl;
    int64_t H, W, Ho, Wo;
} geo;

/* Resolve a window the way the library documents it (TensorFlow's "same"). */
static geo geometry(int64_t H, int64_t W, int kh, int kw, rb_window2d win, bool pooling)
{
    geo g = {kh,
             kw,
             win.stride[0] ? win.stride[0] : (pooling ? kh : 1),
             win.stride[1] ? win.stride[1] : (pooling ? kw : 1),
             win.dilation[0] ? win.dilation[0] : 1,
             win.dilation[1] ? win.dilation[1] : 1,
             0,
             0,
             H,
             W,
             0,
             0};
    int64_t eh = (int64_t)g.dh * (kh - 1) + 1, ew = (int64_t)g.dw * (kw - 1) + 1, pb = 0, pr = 0;
    if (win.padding == RB_PAD_SAME) {
        int64_t oh = (H + g.sh - 1) / g.sh, ow = (W + g.sw - 1) / g.sw;
        int64_t th = (oh - 1) * g.sh + eh - H, tw = (ow - 1) * g.sw + ew - W;
        th = th < 0 ? 0 : th;
        tw = tw < 0 ? 0 : tw;
        g.pt = (int)(th / 2);
        pb = th - g.pt;
        g.pl = (int)(tw / 2);
        pr = tw - g.pl;
    } else if (win.padding == RB_PAD_EXPLICIT) {
        g.pt = win.pad[0];
        pb = win.pad[1];
        g.pl = win.pad[2];
        pr = win.pad[3];
    }
    g.Ho = (H + g.pt + pb - eh) / g.sh + 1;
    g.Wo = (W + g.pl + pr - ew) / g.sw + 1;
    return g;
}

static rb_tensor *random_tensor(rb_dtype dt, int ndim, const int64_t *shape, rb_rng *rng)
{
    return rb_tensor_uniform(dt, ndim, shape, -1, 1, rng);
}

static double at4(rb_tensor *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return rb_tensor_get(t, (int64_t[]){a, b, c, d});
}

/* Direct definition: y[n,oh,ow,co] = b[co] + sum_{i,j,ci} x[n, oh s + i d - p, ...] w[i,j,ci,co]
 * over the group of co. */
static void check_conv(int64_t N, int64_t H, int64_t W, int64_t cin, int64_t cout, int kh, int kw,
                       rb_window2d win, bool with_bias)
{
    rb_rng rng = rb_rng_make((uint64_t)(H * 131 + W * 17 + kh * 7 + kw));
    int groups = win.groups ? win.groups : 1;
    rb_tensor *x = random_tensor(RB_F64, RB_SHAPE(N, H, W, cin), &rng);
    rb_tensor *w = random_tensor(RB_F64, RB_SHAPE(kh, kw, cin / groups, cout), &rng);
    rb_tensor *b = with_bias ? random_tensor(RB_F64, RB_SHAPE(cout), &rng) : NULL;
    rb_tensor *y = rb_conv2d(x, w, b, win);
    geo g = geometry(H, W, kh, kw, win, false);
    CHECK_SHAPE(y, N, g.Ho, g.Wo, cout);
    int64_t cg = cin / groups, og = cout / groups;
    for (int64_t n = 0; n < N; n++)
        for (int64_t oh = 0; oh < g.Ho; oh++)
            for (int64_t ow = 0; ow < g.Wo; ow++)
                for (int64_t co = 0; co < cout; co++) {
                    double s = b ? rb_tensor_get(b, &co) : 0;
                    int64_t grp = co / og;
                    for (int i = 0; i < kh; i++)
                        for (int j = 0; j < kw; j++) {
                            int64_t r = oh * g.sh + i * g.dh - g.pt,
                                    c = ow * g.sw + j * g.dw - g.pl;
                            if (r < 0 || r >= H || c < 0 || c >= W) continue;
                            for (int64_t ci = 0; ci < cg; ci++)
                                s += at4(x, n, r, c, grp * cg + ci) * at4(w, i, j, ci, co);
                        }
                    double got = at4(y, n, oh, ow, co);
                    if (fabs(got - s) > 1e-12)
                        fail_msg("conv at (%lld,%lld,%lld,%lld): %.15g, direct %.15g", (long long)n,
                                 (long long)oh, (long long)ow, (long long)co, got, s);
                }
}

static void conv2d_equals_the_direct_definition(void **state)
{
    (void)state;
    check_conv(2, 5, 6, 3, 4, 3, 3, (rb_window2d){0}, true);
    check_conv(2, 7, 5, 2, 3, 3, 2, (rb_window2d){.padding = RB_PAD_SAME}, true);
    check_conv(1, 8, 9, 3, 2, 3, 3, (rb_window2d){.stride = {2, 3}, .padding = RB_PAD_SAME}, false);
    check_conv(2, 9, 8, 2, 2, 3, 2, (rb_window2d){.dilation = {2, 3}}, true);
    check_conv(
        1, 6, 7, 2, 3, 2, 3,
        (rb_window2d){
            .stride = {2, 1}, .dilation = {2, 1}, .padding = RB_PAD_EXPLICIT, .pad = {1, 2, 0, 3}},
        true);
    check_conv(2, 5, 5, 4, 6, 3, 3, (rb_window2d){.groups = 2, .padding = RB_PAD_SAME}, true);
    check_conv(1, 4, 4, 3, 3, 1, 1, (rb_window2d){.groups = 3}, false); /* depthwise 1x1 */
    check_conv(3, 4, 5, 5, 2, 1, 1, (rb_window2d){0}, true);            /* pointwise shortcut */
    check_conv(1, 3, 3, 1, 1, 3, 3, (rb_window2d){0}, false);           /* a single output */
}

static void float32_convolution_matches_float64(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(4);
    rb_tensor *x = random_tensor(RB_F64, RB_SHAPE(4, 12, 12, 8), &rng);
    rb_tensor *w = random_tensor(RB_F64, RB_SHAPE(3, 3, 8, 16), &rng);
    rb_window2d win = {.padding = RB_PAD_SAME};
    rb_tensor *y64 = rb_conv2d(x, w, NULL, win);
    rb_tensor *y32 = rb_conv2d(rb_cast(x, RB_F32), rb_cast(w, RB_F32), NULL, win);
    double err =
        rb_tensor_item(rb_max(rb_abs(rb_sub(rb_cast(y32, RB_F64), y64)), RB_ALL_AXES, false));
    assert_true(err < 1e-5);
}

/* float32 forward, input gradient and weight gradient against float64 (whose kernels are
 * patches + GEMM), for shapes that exercise the float32 direct kernels' edges: one input
 * channel, output channels not a multiple of the vector width or above two vectors, output
 * rows narrower than a tile, asymmetric padding, bias and the ReLU epilogue. */
static void check_conv32(int64_t H, int64_t W, int64_t cin, int64_t cout, int k, rb_window2d win,
                         bool relu)
{
    rb_rng rng = rb_rng_make((uint64_t)(H * 7 + cin * 3 + cout));
    rb_tensor *x = random_tensor(RB_F64, RB_SHAPE(3, H, W, cin), &rng);
    rb_tensor *w = random_tensor(RB_F64, RB_SHAPE(k, k, cin, cout), &rng);
    rb_tensor *b = random_tensor(RB_F64, RB_SHAPE(cout), &rng);
    rb_tensor *in64[3] = {x, w, b}, *in32[3], *g64[3], *g32[3], *y[2];
    for (int i = 0; i < 3; i++)
        in32[i] = rb_cast(in64[i], RB_F32);
    /* One tape at a time (a tape inside another would record the backward, which then takes
     * its differentiable path); what each computes is kept in the test's scope. */
    rb_tensor *v = NULL; /* a fixed direction: the gradients of <y, v> are compared */
    for (int prec = 0; prec < 2; prec++) {
        rb_tensor **in = prec ? in32 : in64, **grads = prec ? g32 : g64;
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        for (int i = 0; i < 3; i++)
            rb_tape_watch(tape, in[i]);
        rb_tensor *out = relu ? rb_conv2d_ex(in[0], in[1], in[2], win, RB_EPILOGUE_RELU)
                              : rb_conv2d(in[0], in[1], in[2], win);
        rb_tensor *dir = v ? rb_cast(v, RB_F32) : rb_tanh(rb_mul_scalar(rb_stop_gradient(out), 3));
        rb_tape_gradient(tape, rb_sum(rb_mul(out, dir), RB_ALL_AXES, false), 3, in, grads);
        rb_tensor *keep[4] = {out, grads[0], grads[1], grads[2]}, *kept[4];
        for (int i = 0; i < 4; i++) {
            CHECK_OK(keep[i]);
            kept[i] = rb_tensor_empty_persistent(rb_tensor_dtype(keep[i]), rb_tensor_ndim(keep[i]),
                                                 rb_tensor_shape(keep[i]));
            rb_tensor_assign(kept[i], keep[i]);
        }
        if (!v) {
            v = rb_tensor_empty_persistent(RB_F64, rb_tensor_ndim(out), rb_tensor_shape(out));
            rb_tensor_assign(v, dir);
        }
        rb_tape_end(tape);
        y[prec] = kept[0];
        for (int i = 0; i < 3; i++)
            grads[i] = kept[i + 1];
    }
    const char *what[4] = {"output", "input gradient", "kernel gradient", "bias gradient"};
    rb_tensor *a[4] = {y[1], g32[0], g32[1], g32[2]}, *e[4] = {y[0], g64[0], g64[1], g64[2]};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(a[i]);
        double scale = rb_tensor_item(rb_max(rb_abs(e[i]), RB_ALL_AXES, false)) + 1;
        double err =
            rb_tensor_item(rb_max(rb_abs(rb_sub(rb_cast(a[i], RB_F64), e[i])), RB_ALL_AXES, false));
        if (!(err <= 2e-5 * scale))
            fail_msg("%lldx%lld, %lld->%lld channels, %dx%d: float32 %s off by %g (scale %g)",
                     (long long)H, (long long)W, (long long)cin, (long long)cout, k, k, what[i],
                     err, scale);
    }
    for (int i = 0; i < 3; i++) {
        rb_tensor_free(g64[i]);
        rb_tensor_free(g32[i]);
    }
    rb_tensor_free(y[0]);
    rb_tensor_free(y[1]);
    rb_tensor_free(v);
}

static void float32_convolution_and_gradients_match_float64(void **state)
{
    (void)state;
    rb_window2d same = {.padding = RB_PAD_SAME}, valid = {0};
    check_conv32(28, 28, 1, 6, 5, same, true);   /* LeNet's first layer */
    check_conv32(14, 14, 6, 16, 5, valid, true); /* its second: rows of 10 pixels */
    check_conv32(9, 9, 16, 16, 3, same, false);
    check_conv32(7, 11, 3, 20, 3, same, true);  /* 16 + 4 output channels */
    check_conv32(6, 6, 5, 40, 3, valid, false); /* 16 + 16 + 8 */
    check_conv32(5, 3, 2, 7, 3, valid, true);   /* rows of one pixel */
    check_conv32(8, 8, 4, 9, 4, same, true);    /* an even kernel: asymmetric padding */
    check_conv32(8, 9, 2, 5, 3, (rb_window2d){.padding = RB_PAD_EXPLICIT, .pad = {2, 0, 1, 2}},
                 false);
    check_conv32(10, 10, 3, 8, 3, (rb_window2d){.stride = {2, 2}, .padding = RB_PAD_SAME}, true);
}

static void conv1d_equals_the_direct_definition(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(5);
    rb_tensor *x = random_tensor(RB_F64, RB_SHAPE(2, 9, 3), &rng);
    rb_tensor *w = random_tensor(RB_F64, RB_SHAPE(3, 3, 2), &rng);
    rb_tensor *y = rb_conv1d(x, w, NULL, (rb_window1d){.stride = 2, .dilation = 2});
    /* Lo = (9 - 5) / 2 + 1 = 3 */
    CHECK_SHAPE(y, 2, 3, 2);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t o = 0; o < 3; o++)
            for (int64_t co = 0; co < 2; co++) {
                double s = 0;
                for (int64_t k = 0; k < 3; k++)
                    for (int64_t ci = 0; ci < 3; ci++)
                        s += rb_tensor_get(x, (int64_t[]){n, o * 2 + k * 2, ci}) *
                             rb_tensor_get(w, (int64_t[]){k, ci, co});
                CHECK_CLOSE(rb_tensor_get(y, (int64_t[]){n, o, co}), s, 1e-12);
            }
}

/* Transposed convolution by its definition: every input pixel adds w * x to a window of the
 * output. */
static void check_transpose(int64_t H, int64_t W, int kh, int kw, rb_window2d win, int64_t expect_h,
                            int64_t expect_w, int pt, int pl)
{
    rb_rng rng = rb_rng_make(6);
    int64_t N = 2, cin = 3, cout = 2;
    rb_tensor *x = random_tensor(RB_F64, RB_SHAPE(N, H, W, cin), &rng);
    rb_tensor *w = random_tensor(RB_F64, RB_SHAPE(kh, kw, cout, cin), &rng);
    rb_tensor *y = rb_conv2d_transpose(x, w, NULL, win);
    CHECK_SHAPE(y, N, expect_h, expect_w, cout);
    int s0 = win.stride[0] ? win.stride[0] : 1, s1 = win.stride[1] ? win.stride[1] : 1;
    rb_tensor *ref = rb_tensor_zeros(RB_F64, RB_SHAPE(N, expect_h, expect_w, cout));
    double *r = rb_tensor_f64(ref);
    for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t v = 0; v < W; v++)
                for (int i = 0; i < kh; i++)
                    for (int j = 0; j < kw; j++) {
                        int64_t oh = h * s0 + i - pt, ow = v * s1 + j - pl;
                        if (oh < 0 || oh >= expect_h || ow < 0 || ow >= expect_w) continue;
                        for (int64_t co = 0; co < cout; co++)
                            for (int64_t ci = 0; ci < cin; ci++)
                                r[((n * expect_h + oh) * expect_w + ow) * cout + co] +=
                                    at4(x, n, h, v, ci) * at4(w, i, j, co, ci);
                    }
    double err = rb_tensor_item(rb_max(rb_abs(rb_sub(y, ref)), RB_ALL_AXES, false));
    if (err > 1e-12) fail_msg("transposed convolution differs from its definition by %g", err);
}

static void transposed_convolution_equals_its_definition(void **state)
{
    (void)state;
    check_transpose(3, 4, 3, 3, (rb_window2d){0}, 5, 6, 0, 0);                /* valid */
    check_transpose(3, 4, 3, 3, (rb_window2d){.stride = {2, 2}}, 7, 9, 0, 0); /* strided */
    /* Keras: in * stride positions; the one padded row goes at the bottom, as in the
     * convolution (6 -> 3, same) this is the adjoint of. */
    check_transpose(3, 4, 3, 3, (rb_window2d){.stride = {2, 2}, .padding = RB_PAD_SAME}, 6, 8, 0,
                    0);
    check_transpose(2, 2, 2, 2, (rb_window2d){.stride = {2, 2}, .padding = RB_PAD_SAME}, 4, 4, 0,
                    0); /* the decoder's upsampling block */
    check_transpose(3, 3, 3, 3,
                    (rb_window2d){.stride = {2, 2},
                                  .padding = RB_PAD_EXPLICIT,
                                  .pad = {1, 1, 1, 1},
                                  .output_padding = {1, 0}},
                    6, 5, 1, 1);
}

static void transposed_convolution_is_the_adjoint_of_convolution(void **state)
{
    (void)state;
    /* <conv(x, w), y> == <x, conv_transpose(y, w)> with the kernel axes matched. */
    rb_rng rng = rb_rng_make(7);
    rb_window2d win = {.stride = {2, 2}, .padding = RB_PAD_SAME};
    rb_tensor *x = random_tensor(RB_F64, RB_SHAPE(2, 6, 6, 3), &rng);
    rb_tensor *w = random_tensor(RB_F64, RB_SHAPE(3, 3, 3, 4), &rng); /* (kh, kw, Cin, Cout) */
    rb_tensor *cx = rb_conv2d(x, w, NULL, win);                       /* (2, 3, 3, 4) */
    rb_tensor *y = random_tensor(RB_F64, RB_SHAPE(2, 3, 3, 4), &rng);
    rb_tensor *ty = rb_conv2d_transpose(y, w, NULL, win); /* w read as (kh, kw, Cout=3, Cin=4) */
    CHECK_SHAPE(ty, 2, 6, 6, 3);
    double left = rb_tensor_item(rb_sum(rb_mul(cx, y), RB_ALL_AXES, false));
    double right = rb_tensor_item(rb_sum(rb_mul(x, ty), RB_ALL_AXES, false));
    CHECK_CLOSE(left, right, 1e-10);
}

typedef enum pool_kind { MAXP, AVGP, MAXABSP } pool_kind;

static void check_pool(pool_kind kind, int64_t H, int64_t W, int kh, int kw, rb_window2d win)
{
    rb_rng rng = rb_rng_make((uint64_t)(H * 3 + W + kind));
    rb_tensor *x = random_tensor(RB_F64, RB_SHAPE(2, H, W, 3), &rng);
    rb_tensor *y = kind == MAXP   ? rb_max_pool2d(x, kh, kw, win)
                   : kind == AVGP ? rb_avg_pool2d(x, kh, kw, win)
                                  : rb_max_abs_pool2d(x, kh, kw, win);
    geo g = geometry(H, W, kh, kw, win, true);
    CHECK_SHAPE(y, 2, g.Ho, g.Wo, 3);
    for (int64_t n = 0; n < 2; n++)
        for (int64_t oh = 0; oh < g.Ho; oh++)
            for (int64_t ow = 0; ow < g.Wo; ow++)
                for (int64_t c = 0; c < 3; c++) {
                    double best = kind == MAXP ? -INFINITY : 0, sum = 0;
                    int count = 0;
                    for (int i = 0; i < kh; i++)
                        for (int j = 0; j < kw; j++) {
                            int64_t r = oh * g.sh + i * g.dh - g.pt,
                                    q = ow * g.sw + j * g.dw - g.pl;
                            if (r < 0 || r >= H || q < 0 || q >= W) continue;
                            double v = at4(x, n, r, q, c);
                            sum += v;
                            count++;
                            if (kind == MAXP && v > best) best = v;
                            if (kind == MAXABSP && fabs(v) > fabs(best)) best = v;
                        }
                    double want = kind == AVGP ? sum / count : best;
                    double got = at4(y, n, oh, ow, c);
                    if (fabs(got - want) > 1e-12)
                        fail_msg("pool %d at (%lld,%lld,%lld,%lld): %.15g, direct %.15g", kind,
                                 (long long)n, (long long)oh, (long long)ow, (long long)c, got,
                                 want);
                }
}

static void pooling_equals_the_direct_definition(void **state)
{
    (void)state;
    for (pool_kind k = MAXP; k <= MAXABSP; k++) {
        check_pool(k, 4, 6, 2, 2, (rb_window2d){0});
        check_pool(k, 5, 5, 2, 2, (rb_window2d){0}); /* the last row and column are dropped */
        check_pool(k, 5, 7, 3, 3, (rb_window2d){.stride = {2, 2}, .padding = RB_PAD_SAME});
        check_pool(k, 6, 6, 3, 2, (rb_window2d){.stride = {1, 2}, .padding = RB_PAD_SAME});
    }
}

/* The first winner in row-major window order takes the value and the gradient, also on ties
 * and NaNs (a NaN wins and stays), for the tiled kernel (stride = window) and the general one. */
static void check_pool_ties(rb_dtype dt, bool by_abs, int k, rb_window2d win)
{
    const int64_t H = 6, W = 8, C = 3;
    rb_rng rng = rb_rng_make(21);
    rb_tensor *x = rb_tensor_empty(dt, RB_SHAPE(1, H, W, C));
    for (int64_t i = 0; i < H * W * C; i++) { /* few distinct values: many ties */
        double v = (double)rb_rng_below(&rng, 3) - 1;
        rb_tensor_set_flat(x, i, rb_rng_below(&rng, 17) == 0 ? NAN : v);
    }
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x);
    rb_tensor *y = by_abs ? rb_max_abs_pool2d(x, k, k, win) : rb_max_pool2d(x, k, k, win);
    rb_tensor *dx = rb_tape_gradient1(tape, rb_sum(y, RB_ALL_AXES, false), x);
    CHECK_OK(dx);
    geo g = geometry(H, W, k, k, win, true);
    rb_tensor *want = rb_tensor_zeros(RB_F64, RB_SHAPE(1, H, W, C));
    for (int64_t oh = 0; oh < g.Ho; oh++)
        for (int64_t ow = 0; ow < g.Wo; ow++)
            for (int64_t c = 0; c < C; c++) {
                double best = NAN;
                int64_t at = -1;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int64_t r = oh * g.sh + i - g.pt, q = ow * g.sw + j - g.pl;
                        if (r < 0 || r >= H || q < 0 || q >= W) continue;
                        double v = at4(x, 0, r, q, c);
                        bool wins =
                            at < 0 || (!isnan(best) &&
                                       (isnan(v) || (by_abs ? fabs(v) > fabs(best) : v > best)));
                        if (wins) best = v, at = (r * W + q) * C + c;
                    }
                double got = at4(y, 0, oh, ow, c);
                if (!(got == best || (isnan(got) && isnan(best))))
                    fail_msg("%s %dx%d at (%lld,%lld,%lld): %g, want %g",
                             by_abs ? "max-abs" : "max", k, k, (long long)oh, (long long)ow,
                             (long long)c, got, best);
                rb_tensor_set_flat(want, at, rb_tensor_get_flat(want, at) + 1);
            }
    for (int64_t i = 0; i < H * W * C; i++)
        if (rb_tensor_get_flat(dx, i) != rb_tensor_get_flat(want, i))
            fail_msg("%s %dx%d: gradient %g at %lld, want %g", by_abs ? "max-abs" : "max", k, k,
                     rb_tensor_get_flat(dx, i), (long long)i, rb_tensor_get_flat(want, i));
    rb_tape_end(tape);
}

static void pooling_winners_are_the_first_on_ties_and_nans(void **state)
{
    (void)state;
    for (int abs = 0; abs < 2; abs++)
        for (rb_dtype dt = RB_F32; dt <= RB_F64; dt++) {
            check_pool_ties(dt, abs, 2, (rb_window2d){0});                /* tiled */
            check_pool_ties(dt, abs, 3, (rb_window2d){0});                /* tiled, 3x3 */
            check_pool_ties(dt, abs, 2, (rb_window2d){.stride = {1, 1}}); /* overlapping */
            check_pool_ties(dt, abs, 3, (rb_window2d){.stride = {2, 2}, .padding = RB_PAD_SAME});
        }
}

static void global_pooling_and_upsampling(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(1, 2, 2, 2), 1, -1, 2, -2, 3, -3, 6, 0);
    CHECK_TENSOR(rb_global_avg_pool2d(x), 1e-15, 3, -1.5);
    CHECK_TENSOR(rb_global_max_pool2d(x), 0, 6, 0);
    rb_tensor *u = rb_upsample2d(T64(RB_SHAPE(1, 1, 2, 1), 1, 2), 2, 2);
    CHECK_SHAPE(u, 1, 2, 4, 1);
    CHECK_TENSOR(u, 0, 1, 1, 2, 2, 1, 1, 2, 2);
}

static void im2col_and_col2im_are_adjoint(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(8);
    rb_window2d win = {.stride = {2, 1}, .dilation = {1, 2}, .padding = RB_PAD_SAME};
    rb_tensor *x = random_tensor(RB_F64, RB_SHAPE(2, 5, 6, 3), &rng);
    rb_tensor *c = rb_im2col(x, 3, 2, win, 0.0);
    CHECK_SHAPE(c, 2, 3, 6, 3, 2, 3);
    rb_tensor *y = random_tensor(RB_F64, 6, rb_tensor_shape(c), &rng);
    double left = rb_tensor_item(rb_sum(rb_mul(c, y), RB_ALL_AXES, false));
    double right = rb_tensor_item(rb_sum(rb_mul(x, rb_col2im(y, 5, 6, win)), RB_ALL_AXES, false));
    CHECK_CLOSE(left, right, 1e-11);
    /* A padded position holds the pad value. */
    rb_tensor *p =
        rb_im2col(T64(RB_SHAPE(1, 1, 1, 1), 5), 3, 3, (rb_window2d){.padding = RB_PAD_SAME}, -7);
    CHECK_TENSOR(p, 0, -7, -7, -7, -7, 5, -7, -7, -7, -7);
}

static void impossible_shapes_are_refused_clearly(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(2, 4, 4, 3));
    rb_tensor *w5 = rb_tensor_ones(RB_F32, RB_SHAPE(5, 5, 3, 8));
    CHECK_FAILS(rb_conv2d(x, w5, NULL, (rb_window2d){0}), RB_ERR_SHAPE,
                "rb_conv2d: a 5x5 window (dilation 1x1, 5x5 when dilated) does not fit in the "
                "4x4 input");
    CHECK_OK(rb_conv2d(x, w5, NULL, (rb_window2d){.padding = RB_PAD_SAME})); /* padded: fits */
    rb_tensor *w_bad = rb_tensor_ones(RB_F32, RB_SHAPE(3, 3, 2, 8));
    CHECK_FAILS(rb_conv2d(x, w_bad, NULL, (rb_window2d){0}), RB_ERR_SHAPE,
                "kernel [3,3,2,8] does not fit input [2,4,4,3]");
    CHECK_FAILS(rb_conv2d(x, rb_tensor_ones(RB_F32, RB_SHAPE(3, 3, 1, 8)), NULL,
                          (rb_window2d){.groups = 2}),
                RB_ERR_SHAPE, "2 group(s)");
    CHECK_FAILS(rb_conv2d(x, rb_tensor_ones(RB_F32, RB_SHAPE(1, 1, 3, 8)),
                          rb_tensor_ones(RB_F32, RB_SHAPE(4)), (rb_window2d){0}),
                RB_ERR_SHAPE, "bias");
    CHECK_FAILS(rb_conv2d(rb_tensor_ones(RB_F32, RB_SHAPE(4, 4, 3)), w5, NULL, (rb_window2d){0}),
                RB_ERR_SHAPE, "expects images (N, H, W, C)");
    CHECK_FAILS(rb_max_pool2d(x, 5, 5, (rb_window2d){0}), RB_ERR_SHAPE,
                "rb_max_pool2d: a 5x5 window");
    CHECK_FAILS(rb_conv2d(x, rb_tensor_ones(RB_F32, RB_SHAPE(1, 1, 3, 8)), NULL,
                          (rb_window2d){.stride = {-1, 1}}),
                RB_ERR_ARGUMENT, "must be positive");
    CHECK_FAILS(rb_upsample2d(x, 0, 2), RB_ERR_ARGUMENT, "factors");
}

/* Dilated windows past int arithmetic are refused, not wrapped: the extent and the "same"
 * padding of a 3x3 window dilated INT_MAX times overflowed an int. */
static void windows_too_large_for_int_arithmetic_are_refused(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(1, 4, 4, 3));
    rb_tensor *w3 = rb_tensor_ones(RB_F32, RB_SHAPE(3, 3, 3, 8));
    CHECK_FAILS(
        rb_conv2d(x, w3, NULL, (rb_window2d){.dilation = {INT_MAX, 1}, .padding = RB_PAD_SAME}),
        RB_ERR_ARGUMENT, "spans 4294967295x3 positions: too large");
    CHECK_FAILS(rb_max_pool2d(x, 3, 3, (rb_window2d){.dilation = {1, INT_MAX}}), RB_ERR_ARGUMENT,
                "rb_max_pool2d: a 3x3 window dilated 1x2147483647");
    rb_tensor *wt = rb_tensor_ones(RB_F32, RB_SHAPE(3, 3, 8, 3));
    CHECK_FAILS(rb_conv2d_transpose(x, wt, NULL, (rb_window2d){.dilation = {INT_MAX, 1}}),
                RB_ERR_ARGUMENT, "rb_conv2d_transpose: axis 1: a window spanning 4294967295");
    /* A large but representable window still works. */
    CHECK_OK(rb_conv2d(x, w3, NULL, (rb_window2d){.dilation = {1000, 1}, .padding = RB_PAD_SAME}));
}

/* Windows of max pooling that lie wholly in the padding output 0, a constant: their gradient
 * goes nowhere. It went to x[0] (their saved winner was position 0): a 2 x 2 input padded by 2
 * with 2 x 2 windows at stride 1 gave x[0] a gradient of 20 instead of 4. */
static rb_tensor *padded_pool(rb_tensor *const *x, int n, void *ud)
{
    (void)n;
    rb_window2d w = {.stride = {1, 1}, .padding = RB_PAD_EXPLICIT, .pad = {2, 2, 2, 1}};
    rb_tensor *y = ud ? rb_max_abs_pool2d(x[0], 2, 2, w) : rb_max_pool2d(x[0], 2, 2, w);
    return rb_mul(y, y); /* a second derivative to check too */
}

static void max_pool_windows_wholly_in_the_padding_send_no_gradient(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_full(RB_F64, RB_SHAPE(1, 2, 2, 1), 1.0);
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x);
    rb_window2d w = {.stride = {1, 1}, .padding = RB_PAD_EXPLICIT, .pad = {2, 2, 2, 2}};
    rb_tensor *y = rb_max_pool2d(x, 2, 2, w);
    CHECK_SHAPE(y, 1, 5, 5, 1);
    /* 9 windows hold a real element; ties go to the first in window order */
    CHECK_TENSOR(rb_tape_gradient1(tape, rb_sum(y, RB_ALL_AXES, false), x), 0, 4, 2, 2, 1);
    rb_tape_end(tape);
    rb_rng rng = rb_rng_make(4);
    rb_tensor *in = rb_tensor_normal(RB_F64, RB_SHAPE(2, 3, 2, 3), 0, 1, &rng);
    rb_gradcheck_report r;
    for (int abs = 0; abs < 2; abs++) {
        void *ud = abs ? (void *)1 : NULL;
        assert_true(rb_gradcheck(padded_pool, ud, 1, &in, NULL, &r) || (puts(r.message), 0));
        assert_true(rb_gradgradcheck(padded_pool, ud, 1, &in, NULL, &r) || (puts(r.message), 0));
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(conv2d_equals_the_direct_definition),
        TEST(max_pool_windows_wholly_in_the_padding_send_no_gradient),
        TEST(float32_convolution_matches_float64),
        TEST(float32_convolution_and_gradients_match_float64),
        TEST(conv1d_equals_the_direct_definition),
        TEST(transposed_convolution_equals_its_definition),
        TEST(transposed_convolution_is_the_adjoint_of_convolution),
        TEST(pooling_equals_the_direct_definition),
        TEST(pooling_winners_are_the_first_on_ties_and_nans),
        TEST(global_pooling_and_upsampling),
        TEST(im2col_and_col2im_are_adjoint),
        TEST(impossible_shapes_are_refused_clearly),
        TEST(windows_too_large_for_int_arithmetic_are_refused),
    };
    return RUN_TESTS(tests, argc, argv);
}
