/* Image augmentation: each transformation checked on images whose pixels say where they came
 * from (value 1 + their flat position), so a shift or flip is recovered exactly; rotation on
 * a radially symmetric image; cutout and noise by counting and measuring; seeds and thread
 * counts never change a result. */
#include <stdlib.h>

#include "testutil.h"

/* (n, h, w, c) images, every image holding 1, 2, 3, ... in row-major order: the value of a
 * pixel tells its source position. */
static rb_tensor *numbered(rb_dtype dt, int64_t n, int64_t h, int64_t w, int64_t c)
{
    rb_tensor *t = rb_tensor_empty(dt, RB_SHAPE(n, h, w, c));
    int64_t per = h * w * c;
    for (int64_t i = 0; i < n * per; i++) {
        double v = (double)(1 + i % per);
        if (dt == RB_F32)
            rb_tensor_f32(t)[i] = (float)v;
        else
            rb_tensor_f64(t)[i] = v;
    }
    return t;
}

static double at(const rb_tensor *t, int64_t i)
{
    return rb_tensor_dtype(t) == RB_F32 ? (double)rb_tensor_f32(t)[i] : rb_tensor_f64(t)[i];
}

/* The translation (dy, dx) that image n of `out` shows of a numbered image, checking that
 * every pixel is either the numbered pixel it came from, exactly, or fill where the source
 * lies outside. */
static void recover_shift(const rb_tensor *out, int64_t n, double fill, int *dy, int *dx)
{
    int64_t h = rb_tensor_dim(out, 1), w = rb_tensor_dim(out, 2), c = rb_tensor_dim(out, 3);
    int64_t base = n * h * w * c;
    bool found = false;
    for (int64_t y = 0; y < h && !found; y++)
        for (int64_t x = 0; x < w && !found; x++) {
            double v = at(out, base + (y * w + x) * c);
            if (v == fill) continue;
            int64_t src = ((int64_t)v - 1) / c;
            *dy = (int)(y - src / w);
            *dx = (int)(x - src % w);
            found = true;
        }
    if (!found) fail_msg("image %lld is all fill", (long long)n);
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++)
            for (int64_t k = 0; k < c; k++) {
                int64_t sy = y - *dy, sx = x - *dx;
                bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
                double want = inside ? (double)(1 + (sy * w + sx) * c + k) : fill;
                double got = at(out, base + (y * w + x) * c + k);
                if (got != want)
                    fail_msg("image %lld shifted by (%d, %d): pixel (%lld, %lld, %lld) = %g, "
                             "expected %g",
                             (long long)n, *dy, *dx, (long long)y, (long long)x, (long long)k, got,
                             want);
            }
}

/* ---- no change ---- */

static void an_all_zero_config_leaves_images_unchanged(void **state)
{
    (void)state;
    for (int f32 = 0; f32 < 2; f32++) {
        rb_rng data = rb_rng_make(1), rng = rb_rng_make(2);
        rb_tensor *x = rb_tensor_uniform(f32 ? RB_F32 : RB_F64, RB_SHAPE(6, 5, 4, 3), -1, 1, &data);
        rb_tensor *before = rb_tensor_copy(x);
        CHECK_STATUS_OK(rb_augment(x, &(rb_augment_config){0}, &rng));
        assert_memory_equal(rb_tensor_data(x), rb_tensor_data(before),
                            (size_t)rb_tensor_size(x) * (f32 ? sizeof(float) : sizeof(double)));
    }
    /* An empty batch is fine too. */
    rb_rng rng = rb_rng_make(3);
    CHECK_STATUS_OK(rb_augment(rb_tensor_zeros(RB_F32, RB_SHAPE(0, 4, 4, 1)),
                               &(rb_augment_config){.max_shift = 1, .noise_std = 1}, &rng));
}

/* ---- geometry ---- */

/* Every image a whole-pixel translation within [-s, s], values kept exactly, uncovered
 * pixels fill; over many images every offset occurs. */
static void check_translations(rb_dtype dt, rb_augment_config c, int s)
{
    enum { N = 300 };
    rb_tensor *x = numbered(dt, N, 9, 7, 2);
    rb_rng rng = rb_rng_make(17);
    CHECK_STATUS_OK(rb_augment(x, &c, &rng));
    int seen_y[64] = {0}, seen_x[64] = {0};
    for (int64_t n = 0; n < N; n++) {
        int dy, dx;
        recover_shift(x, n, c.fill, &dy, &dx);
        if (dy < -s || dy > s || dx < -s || dx > s)
            fail_msg("image %lld shifted by (%d, %d), beyond %d", (long long)n, dy, dx, s);
        seen_y[dy + s]++;
        seen_x[dx + s]++;
    }
    for (int d = 0; d <= 2 * s; d++)
        if (!seen_y[d] || !seen_x[d])
            fail_msg("offset %d never drawn (%d times along y, %d along x)", d - s, seen_y[d],
                     seen_x[d]);
}

static void shift_translates_by_whole_pixels_within_max_shift_and_fills_the_rest(void **state)
{
    (void)state;
    check_translations(RB_F64, (rb_augment_config){.max_shift = 2, .fill = -1.5}, 2);
    check_translations(RB_F32, (rb_augment_config){.max_shift = 2, .fill = -1.5}, 2);
}

static void shift_moves_a_single_bright_pixel_within_max_shift(void **state)
{
    (void)state;
    enum { N = 100, H = 11, W = 11 };
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(N, H, W, 1));
    float *p = rb_tensor_f32(x);
    for (int n = 0; n < N; n++)
        p[(n * H + 5) * W + 5] = 0.7f;
    rb_rng rng = rb_rng_make(5);
    CHECK_STATUS_OK(rb_augment(x, &(rb_augment_config){.max_shift = 3}, &rng));
    for (int n = 0; n < N; n++) {
        int bright = 0;
        for (int y = 0; y < H; y++)
            for (int x2 = 0; x2 < W; x2++) {
                float v = p[(n * H + y) * W + x2];
                if (v == 0.7f) {
                    bright++;
                    assert_in_range(y, 5 - 3, 5 + 3);
                    assert_in_range(x2, 5 - 3, 5 + 3);
                } else if (v != 0)
                    fail_msg("image %d: pixel (%d, %d) = %g", n, y, x2, (double)v);
            }
        assert_int_equal(bright, 1);
    }
}

static void crop_padding_is_a_shift_within_the_padding(void **state)
{
    (void)state;
    check_translations(RB_F64, (rb_augment_config){.crop_padding = 3}, 3);
    check_translations(RB_F32, (rb_augment_config){.crop_padding = 1, .fill = 0.5}, 1);
}

static void hflip_mirrors_about_half_of_the_images_exactly(void **state)
{
    (void)state;
    enum { N = 400, H = 5, W = 6, C = 2 };
    rb_tensor *x = numbered(RB_F64, N, H, W, C);
    rb_rng rng = rb_rng_make(23);
    CHECK_STATUS_OK(rb_augment(x, &(rb_augment_config){.hflip = true}, &rng));
    const double *p = rb_tensor_f64(x);
    int flipped = 0;
    for (int n = 0; n < N; n++) {
        bool same = true, mirror = true;
        for (int y = 0; y < H; y++)
            for (int x2 = 0; x2 < W; x2++)
                for (int k = 0; k < C; k++) {
                    double v = p[((n * H + y) * W + x2) * C + k];
                    same = same && v == 1 + (y * W + x2) * C + k;
                    mirror = mirror && v == 1 + (y * W + (W - 1 - x2)) * C + k;
                }
        if (!same && !mirror) fail_msg("image %d is neither the original nor its mirror", n);
        flipped += mirror;
    }
    /* Binomial(400, 1/2): mean 200, standard deviation 10. */
    assert_in_range(flipped, 150, 250);
}

/* Uniform values in [0.2, 0.8] (fill 0.5 inside that range). */
static void rotation_keeps_the_centre_pixel_and_the_input_range(void **state)
{
    (void)state;
    enum { N = 50, S = 9 };
    rb_rng data = rb_rng_make(31), rng = rb_rng_make(32);
    rb_tensor *x = rb_tensor_uniform(RB_F64, RB_SHAPE(N, S, S, 1), 0.2, 0.8, &data);
    rb_tensor *before = rb_tensor_copy(x);
    CHECK_STATUS_OK(rb_augment(x, &(rb_augment_config){.max_rotation = 15, .fill = 0.5}, &rng));
    const double *p = rb_tensor_f64(x), *q = rb_tensor_f64(before);
    int changed = 0;
    for (int n = 0; n < N; n++) {
        int64_t centre = (n * S + S / 2) * S + S / 2;
        CHECK_CLOSE(p[centre], q[centre], 1e-12);
        bool differs = false;
        for (int i = 0; i < S * S; i++) {
            double v = p[n * S * S + i];
            if (!(v >= 0.2 - 1e-12 && v <= 0.8 + 1e-12))
                fail_msg("image %d, pixel %d = %.17g outside [0.2, 0.8]", n, i, v);
            differs = differs || v != q[n * S * S + i];
        }
        changed += differs;
    }
    assert_true(changed > N / 2);
}

static void rotation_turns_a_radially_symmetric_image_about_its_centre(void **state)
{
    (void)state;
    /* r^2 from the centre of a 9x9 image is unchanged by any rotation about the centre;
     * bilinear sampling of a sum of squares errs by at most 1/4 per axis. Turning about another
     * point would move the centre by more than a pixel at 15 degrees. */
    enum { N = 40, S = 9 };
    rb_tensor *x = rb_tensor_empty(RB_F64, RB_SHAPE(N, S, S, 1));
    double *p = rb_tensor_f64(x);
    for (int n = 0; n < N; n++)
        for (int y = 0; y < S; y++)
            for (int x2 = 0; x2 < S; x2++)
                p[(n * S + y) * S + x2] = (y - 4) * (y - 4) + (x2 - 4) * (x2 - 4);
    rb_rng rng = rb_rng_make(41);
    CHECK_STATUS_OK(rb_augment(x, &(rb_augment_config){.max_rotation = 15}, &rng));
    int changed = 0;
    for (int n = 0; n < N; n++) {
        bool differs = false;
        for (int y = 0; y < S; y++)
            for (int x2 = 0; x2 < S; x2++) {
                double r2 = (y - 4) * (y - 4) + (x2 - 4) * (x2 - 4), v = p[(n * S + y) * S + x2];
                if (r2 > 9) continue; /* the source stays inside the image within radius 3 */
                if (fabs(v - r2) > 0.5 + 1e-12)
                    fail_msg("image %d: pixel (%d, %d) at r^2 %g became %g", n, y, x2, r2, v);
                differs = differs || v != r2;
            }
        changed += differs;
    }
    assert_true(changed > N / 2);
}

static void rotation_up_to_180_degrees_is_allowed_and_more_refused(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(1);
    rb_tensor *x = rb_tensor_ones(RB_F32, RB_SHAPE(4, 5, 5, 1));
    CHECK_STATUS_OK(rb_augment(x, &(rb_augment_config){.max_rotation = 180}, &rng));
    /* The centre of an odd-sized image stays put whatever the angle. */
    for (int64_t n = 0; n < 4; n++)
        CHECK_CLOSE(rb_tensor_get(x, (int64_t[]){n, 2, 2, 0}), 1, 0);
    CHECK_FAILS(rb_augment(x, &(rb_augment_config){.max_rotation = 180.5}, &rng), RB_ERR_ARGUMENT,
                "rotation <= 180");
    CHECK_FAILS(rb_augment(x, &(rb_augment_config){.max_rotation = NAN}, &rng), RB_ERR_ARGUMENT,
                "rotation");
}

/* ---- cutout and noise ---- */

static void cutout_fills_one_square_that_may_overhang(void **state)
{
    (void)state;
    enum { N = 200, S = 12, C = 2, CUT = 4 };
    rb_tensor *x = rb_tensor_ones(RB_F64, RB_SHAPE(N, S, S, C));
    rb_rng rng = rb_rng_make(51);
    CHECK_STATUS_OK(rb_augment(x, &(rb_augment_config){.cutout = CUT}, &rng));
    const double *p = rb_tensor_f64(x);
    int full = 0, clipped = 0;
    for (int n = 0; n < N; n++) {
        int count = 0, y0 = S, y1 = -1, x0 = S, x1 = -1;
        for (int y = 0; y < S; y++)
            for (int x2 = 0; x2 < S; x2++) {
                const double *px = p + ((n * S + y) * S + x2) * C;
                if (px[0] != px[1] || (px[0] != 0 && px[0] != 1))
                    fail_msg("image %d: pixel (%d, %d) holds %g, %g", n, y, x2, px[0], px[1]);
                if (px[0] == 1) continue;
                count++;
                y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
                x0 = x2 < x0 ? x2 : x0, x1 = x2 > x1 ? x2 : x1;
            }
        if (count == 0 || count > CUT * CUT)
            fail_msg("image %d: %d pixels cut out, expected 1..%d", n, count, CUT * CUT);
        /* One axis-aligned rectangle (a square clipped by the border). */
        assert_int_equal((y1 - y0 + 1) * (x1 - x0 + 1), count);
        assert_true(y1 - y0 < CUT && x1 - x0 < CUT);
        full += count == CUT * CUT;
        clipped += count < CUT * CUT;
    }
    assert_true(full > 0);
    assert_true(clipped > 0);
}

static void noise_has_the_requested_std_and_zero_mean(void **state)
{
    (void)state;
    enum { N = 64, S = 16 };
    const double std = 0.1;
    for (int f32 = 0; f32 < 2; f32++) {
        rb_tensor *x = rb_tensor_zeros(f32 ? RB_F32 : RB_F64, RB_SHAPE(N, S, S, 1));
        rb_rng rng = rb_rng_make(61);
        CHECK_STATUS_OK(rb_augment(x, &(rb_augment_config){.noise_std = std}, &rng));
        int64_t n = rb_tensor_size(x);
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = at(x, i);
            sum += v;
            sq += v * v;
        }
        double mean = sum / (double)n, sd = sqrt(sq / (double)n - mean * mean);
        /* 16,384 values: the mean's standard error is 0.1 / 128, the std's about 0.00055. */
        CHECK_CLOSE(mean, 0, 4 * std / 128);
        CHECK_CLOSE(sd, std, 0.003);
        /* Each image draws its own noise. */
        assert_true(at(x, 0) != at(x, S * S));
    }
}

/* ---- determinism and dtypes ---- */

static const rb_augment_config everything = {.max_shift = 2,
                                             .crop_padding = 1,
                                             .hflip = true,
                                             .max_rotation = 20,
                                             .cutout = 3,
                                             .noise_std = 0.05,
                                             .fill = 0.25};

static void same_seed_gives_bit_identical_batches(void **state)
{
    (void)state;
    rb_rng data = rb_rng_make(71);
    rb_tensor *a = rb_tensor_uniform(RB_F32, RB_SHAPE(8, 10, 10, 3), 0, 1, &data);
    rb_tensor *b = rb_tensor_copy(a), *c = rb_tensor_copy(a);
    rb_rng ra = rb_rng_make(9), rb = rb_rng_make(9), rc = rb_rng_make(10);
    CHECK_STATUS_OK(rb_augment(a, &everything, &ra));
    CHECK_STATUS_OK(rb_augment(b, &everything, &rb));
    CHECK_STATUS_OK(rb_augment(c, &everything, &rc));
    size_t bytes = (size_t)rb_tensor_size(a) * sizeof(float);
    assert_memory_equal(rb_tensor_data(a), rb_tensor_data(b), bytes);
    assert_memory_not_equal(rb_tensor_data(a), rb_tensor_data(c), bytes);
    /* Both generators moved on by the same draws: the next batch matches too. */
    assert_true(ra.key == rb.key && ra.counter == rb.counter);
    CHECK_STATUS_OK(rb_augment(a, &everything, &ra));
    CHECK_STATUS_OK(rb_augment(b, &everything, &rb));
    assert_memory_equal(rb_tensor_data(a), rb_tensor_data(b), bytes);
}

static void one_or_two_threads_give_bit_identical_batches(void **state)
{
    (void)state;
    /* 128 images of 16x16x3: large enough to be split across threads. */
    rb_rng data = rb_rng_make(81);
    rb_tensor *a = rb_tensor_uniform(RB_F32, RB_SHAPE(128, 16, 16, 3), 0, 1, &data);
    rb_tensor *b = rb_tensor_copy(a);
    rb_rng ra = rb_rng_make(4), rb = rb_rng_make(4);
    int previous = rb_set_num_threads(1);
    rb_status sa = rb_augment(a, &everything, &ra);
    rb_set_num_threads(2);
    rb_status sb = rb_augment(b, &everything, &rb);
    rb_set_num_threads(previous);
    CHECK_STATUS_OK(sa);
    CHECK_STATUS_OK(sb);
    assert_memory_equal(rb_tensor_data(a), rb_tensor_data(b),
                        (size_t)rb_tensor_size(a) * sizeof(float));
}

static void float32_images_get_the_float64_result_rounded(void **state)
{
    (void)state;
    /* The same images (float32 values) in both dtypes, the same seed: the same draws and the
     * same arithmetic, float32 rounding once at the end. */
    rb_rng data = rb_rng_make(91);
    rb_tensor *x32 = rb_tensor_uniform(RB_F32, RB_SHAPE(12, 7, 8, 3), -1, 1, &data);
    rb_tensor *x64 = rb_tensor_zeros(RB_F64, RB_SHAPE(12, 7, 8, 3));
    CHECK_STATUS_OK(rb_tensor_assign(x64, x32));
    rb_rng r32 = rb_rng_make(5), r64 = rb_rng_make(5);
    CHECK_STATUS_OK(rb_augment(x32, &everything, &r32));
    CHECK_STATUS_OK(rb_augment(x64, &everything, &r64));
    const float *p = rb_tensor_f32(x32);
    const double *q = rb_tensor_f64(x64);
    int changed = 0;
    for (int64_t i = 0; i < rb_tensor_size(x32); i++) {
        if (p[i] != (float)q[i])
            fail_msg("element %lld: float32 %.9g, float64 %.17g", (long long)i, (double)p[i], q[i]);
        changed += fabs(q[i] - (double)p[i]) > 0;
    }
    assert_true(changed > 0); /* noise made values that float32 cannot hold exactly */
}

/* ---- errors ---- */

static void augment_refuses_other_ranks_strided_images_and_negative_parameters(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(1);
    rb_augment_config ok = {.max_shift = 1};
    CHECK_FAILS(rb_augment(rb_tensor_zeros(RB_F32, RB_SHAPE(4, 5, 5)), &ok, &rng), RB_ERR_SHAPE,
                "(N, H, W, C), got [4,5,5]");
    CHECK_FAILS(rb_augment(rb_tensor_zeros(RB_I64, RB_SHAPE(1, 5, 5, 1)), &ok, &rng), RB_ERR_SHAPE,
                "float images");
    rb_tensor *x = numbered(RB_F32, 2, 3, 4, 1);
    rb_tensor *t = rb_transpose(x, 1, 2);
    CHECK_OK(t);
    CHECK_FAILS(rb_augment(t, &ok, &rng), RB_ERR_ARGUMENT, "contiguous");
    rb_augment_config bad[] = {{.max_shift = -1},   {.crop_padding = -2}, {.cutout = -3},
                               {.noise_std = -0.1}, {.noise_std = NAN},   {.max_rotation = -5}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_FAILS(rb_augment(x, &bad[i], &rng), RB_ERR_ARGUMENT, "need non-negative values");
    /* A refused call leaves the images alone. */
    for (int64_t i = 0; i < 12; i++)
        CHECK_CLOSE(at(x, i), (double)(1 + i), 0);
    CHECK_FAILS(rb_augment(x, NULL, &rng), RB_ERR_ARGUMENT, "NULL");
    CHECK_FAILS(rb_augment(x, &ok, NULL), RB_ERR_ARGUMENT, "NULL");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(an_all_zero_config_leaves_images_unchanged),
        TEST(shift_translates_by_whole_pixels_within_max_shift_and_fills_the_rest),
        TEST(shift_moves_a_single_bright_pixel_within_max_shift),
        TEST(crop_padding_is_a_shift_within_the_padding),
        TEST(hflip_mirrors_about_half_of_the_images_exactly),
        TEST(rotation_keeps_the_centre_pixel_and_the_input_range),
        TEST(rotation_turns_a_radially_symmetric_image_about_its_centre),
        TEST(rotation_up_to_180_degrees_is_allowed_and_more_refused),
        TEST(cutout_fills_one_square_that_may_overhang),
        TEST(noise_has_the_requested_std_and_zero_mean),
        TEST(same_seed_gives_bit_identical_batches),
        TEST(one_or_two_threads_give_bit_identical_batches),
        TEST(float32_images_get_the_float64_result_rounded),
        TEST(augment_refuses_other_ranks_strided_images_and_negative_parameters),
    };
    return RUN_TESTS(tests, argc, argv);
}
