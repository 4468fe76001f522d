/* Image augmentation: per-image random geometry (rotation, shift, crop, flip) as one inverse
 * mapping, then cutout and noise. Every random draw is made in image order before the
 * parallel loop, so results do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets_impl.h"

/* Below about this many pixel values per thread, one thread is faster than forking. */
#define PARALLEL_GRAIN 32768

typedef struct draw {
    double cos_a, sin_a; /* rotation */
    bool rotate;
    int dy, dx; /* shift of the content, pixels */
    bool flip;
    int cut_y, cut_x; /* cutout centre */
    uint64_t noise_seed;
} draw;

typedef struct plan {
    const rb_augment_config *c;
    const draw *draws;
    void *data;
    bool f32;
    int64_t h, w, ch;
    double *scratch; /* one image per image index, (N, H, W, C) doubles */
} plan;

static double get(const plan *p, int64_t i)
{
    return p->f32 ? ((float *)p->data)[i] : ((double *)p->data)[i];
}
static void put(const plan *p, int64_t i, double v)
{
    if (p->f32)
        ((float *)p->data)[i] = (float)v;
    else
        ((double *)p->data)[i] = v;
}

/* Source pixel (sy, sx) of image n, channel k, or fill outside. */
static double pixel(const plan *p, int64_t n, int64_t sy, int64_t sx, int64_t k)
{
    if (sy < 0 || sy >= p->h || sx < 0 || sx >= p->w) return p->c->fill;
    return get(p, ((n * p->h + sy) * p->w + sx) * p->ch + k);
}

/* Output (y, x) shows the source point reached by undoing flip, shift and rotation. */
static double sample(const plan *p, int64_t n, const draw *d, int64_t y, int64_t x, int64_t k)
{
    double fx = d->flip ? (double)(p->w - 1 - x) : (double)x;
    double sy = (double)y - d->dy, sx = fx - d->dx;
    if (!d->rotate) return pixel(p, n, (int64_t)sy, (int64_t)sx, k);
    double cy = (double)(p->h - 1) / 2, cx = (double)(p->w - 1) / 2;
    double ry = cy + d->cos_a * (sy - cy) - d->sin_a * (sx - cx);
    double rx = cx + d->sin_a * (sy - cy) + d->cos_a * (sx - cx);
    double y0 = floor(ry), x0 = floor(rx), ty = ry - y0, tx = rx - x0;
    int64_t iy = (int64_t)y0, ix = (int64_t)x0;
    return (1 - ty) * ((1 - tx) * pixel(p, n, iy, ix, k) + tx * pixel(p, n, iy, ix + 1, k)) +
           ty * ((1 - tx) * pixel(p, n, iy + 1, ix, k) + tx * pixel(p, n, iy + 1, ix + 1, k));
}

static void augment_images(void *ctx, int64_t begin, int64_t end)
{
    const plan *p = ctx;
    const rb_augment_config *c = p->c;
    int64_t per_image = p->h * p->w * p->ch;
    for (int64_t n = begin; n < end; n++) {
        const draw *d = &p->draws[n];
        double *out = p->scratch + n * per_image;
        for (int64_t y = 0; y < p->h; y++)
            for (int64_t x = 0; x < p->w; x++)
                for (int64_t k = 0; k < p->ch; k++)
                    out[(y * p->w + x) * p->ch + k] = sample(p, n, d, y, x, k);
        if (c->cutout > 0) {
            int64_t y0 = d->cut_y - c->cutout / 2, x0 = d->cut_x - c->cutout / 2;
            for (int64_t y = y0 < 0 ? 0 : y0; y < y0 + c->cutout && y < p->h; y++)
                for (int64_t x = x0 < 0 ? 0 : x0; x < x0 + c->cutout && x < p->w; x++)
                    for (int64_t k = 0; k < p->ch; k++)
                        out[(y * p->w + x) * p->ch + k] = c->fill;
        }
        if (c->noise_std > 0) {
            rb_rng rng = rb_rng_make(d->noise_seed);
            for (int64_t i = 0; i < per_image; i++)
                out[i] += c->noise_std * rb_rng_normal(&rng);
        }
        for (int64_t i = 0; i < per_image; i++)
            put(p, n * per_image + i, out[i]);
    }
}

rb_status rb_augment(rb_tensor *images, const rb_augment_config *c, rb_rng *rng)
{
    if (!images || !c || !rng) return rb_error(RB_ERR_ARGUMENT, "rb_augment: NULL argument");
    rb_dtype dtype = rb_tensor_dtype(images);
    const int64_t *shape = rb_tensor_shape(images);
    if (rb_tensor_ndim(images) != 4 || (dtype != RB_F32 && dtype != RB_F64))
        return rb_error(RB_ERR_SHAPE, "rb_augment: expects float images (N, H, W, C), got %s",
                        rb__shp(images));
    if (!rb_tensor_is_contiguous(images))
        return rb_error(
            RB_ERR_ARGUMENT,
            "rb_augment: images must be contiguous (augment a copy: rb_contiguous), got a strided %s",
            rb__shp(images));
    if (c->max_shift < 0 || c->crop_padding < 0 || c->cutout < 0 || !(c->noise_std >= 0) ||
        !(c->max_rotation >= 0 && c->max_rotation <= 180))
        return rb_error(
            RB_ERR_ARGUMENT,
            "rb_augment: shift %d, crop padding %d, cutout %d, noise %g, rotation %g: need non-negative values (rotation <= 180)",
            c->max_shift, c->crop_padding, c->cutout, c->noise_std, c->max_rotation);
    int64_t n = shape[0];
    plan p = {c, NULL, rb_tensor_data(images), dtype == RB_F32, shape[1], shape[2], shape[3], NULL};
    draw *draws = malloc(sizeof(draw) * (size_t)(n ? n : 1));
    p.scratch =
        malloc(sizeof(double) * (size_t)(rb_tensor_size(images) ? rb_tensor_size(images) : 1));
    if (!draws || !p.scratch) {
        free(draws);
        free(p.scratch);
        return rb_error(RB_ERR_MEMORY, "rb_augment: out of memory for %s", rb__shp(images));
    }
    const double pi = 3.14159265358979323846;
    int shift = c->max_shift + c->crop_padding;
    for (int64_t i = 0; i < n; i++) {
        draw *d = &draws[i];
        double angle = c->max_rotation > 0 ? (2 * rb_rng_uniform(rng) - 1) * c->max_rotation : 0;
        d->rotate = angle != 0;
        d->cos_a = cos(angle * pi / 180);
        d->sin_a = sin(angle * pi / 180);
        d->dy = shift ? (int)rb_rng_below(rng, 2 * shift + 1) - shift : 0;
        d->dx = shift ? (int)rb_rng_below(rng, 2 * shift + 1) - shift : 0;
        d->flip = c->hflip && (rb_rng_u64(rng) & 1);
        d->cut_y = c->cutout ? (int)rb_rng_below(rng, p.h) : 0;
        d->cut_x = c->cutout ? (int)rb_rng_below(rng, p.w) : 0;
        d->noise_seed = c->noise_std > 0 ? rb_rng_u64(rng) : 0;
    }
    p.draws = draws;
    int64_t per_image = p.h * p.w * p.ch;
    rb_parallel_for(n, per_image > 0 ? (PARALLEL_GRAIN + per_image - 1) / per_image : 1,
                    augment_images, &p);
    rb_tensor_mark_modified(images);
    free(draws);
    free(p.scratch);
    return RB_OK;
}
