/* Images made up in CIFAR-10's binary format, for running the CIFAR-10 programs where the real
 * set cannot be fetched (and for the test suite): ten classes of shapes (disc, square,
 * triangle, bars, cross, ring, striped disc, checkerboard, two discs) drawn at a random place,
 * size, angle and colour over a smooth background of random colour, with noise and a random
 * contrast. Like photographs, neighbouring pixels and the three channels are strongly
 * correlated and the class lies in shapes and edges, not in colours; the set is much easier
 * than CIFAR-10. Not part of the library.
 */
#ifndef RUBAN_EXAMPLES_GENERATED_CIFAR_H
#define RUBAN_EXAMPLES_GENERATED_CIFAR_H

#include <math.h>
#include <stdio.h>

#include <ruban.h>

/* Whether the point (u, v), in units of the shape's radius, lies inside a shape of class c. */
static inline bool generated_cifar_inside(int c, double u, double v)
{
    double r = sqrt(u * u + v * v), a = fabs(u), b = fabs(v);
    switch (c) {
    case 0: return r < 1;
    case 1: return a < 0.8 && b < 0.8;
    case 2: return v > -0.7 && a < 0.6 * (0.8 - v) && v < 0.8;
    case 3: return b < 0.3 && a < 1;
    case 4: return a < 0.3 && b < 1;
    case 5: return (a < 0.25 && b < 1) || (b < 0.25 && a < 1);
    case 6: return r > 0.55 && r < 1;
    case 7: return r < 1 && sin(5 * (u + v)) > 0;
    case 8: return a < 0.9 && b < 0.9 && ((int)floor(2.2 * u + 4) + (int)floor(2.2 * v + 4)) % 2;
    default: return (u - 0.5) * (u - 0.5) + v * v < 0.2 || (u + 0.5) * (u + 0.5) + v * v < 0.2;
    }
}

/* n records (label byte, then the red, green and blue planes of 32 x 32 bytes) into path,
 * classes in turn. RB_OK, or RB_ERR_IO with the file named. */
static inline rb_status generated_cifar_write(const char *path, int64_t n, uint64_t seed)
{
    FILE *f = fopen(path, "wb");
    if (!f) return rb_error(RB_ERR_IO, "generated_cifar_write: cannot create '%s'", path);
    rb_rng rng = rb_rng_make(seed);
    unsigned char record[1 + 3 * 1024];
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % 10);
        double radius = 7 + 4 * rb_rng_uniform(&rng), angle = 0.6 * (rb_rng_uniform(&rng) - 0.5);
        double cx = 16 + 10 * (rb_rng_uniform(&rng) - 0.5),
               cy = 16 + 10 * (rb_rng_uniform(&rng) - 0.5);
        double back[3], fore[3], slope[2] = {rb_rng_normal(&rng) / 40, rb_rng_normal(&rng) / 40};
        double contrast = 0.5 + 0.5 * rb_rng_uniform(&rng);
        for (int k = 0; k < 3; k++) {
            back[k] = rb_rng_uniform(&rng);
            fore[k] = rb_rng_uniform(&rng);
        }
        record[0] = (unsigned char)c;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                double dx = x - cx, dy = y - cy;
                double u = (cos(angle) * dx + sin(angle) * dy) / radius;
                double v = (-sin(angle) * dx + cos(angle) * dy) / radius;
                bool in = generated_cifar_inside(c, u, v);
                for (int k = 0; k < 3; k++) {
                    double value = in ? fore[k] : back[k] + slope[0] * dx + slope[1] * dy;
                    value = 0.5 + contrast * (value - 0.5) + 0.06 * rb_rng_normal(&rng);
                    value = value < 0 ? 0 : value > 1 ? 1 : value;
                    record[1 + k * 1024 + y * 32 + x] = (unsigned char)lround(255 * value);
                }
            }
        if (fwrite(record, sizeof record, 1, f) != 1) {
            fclose(f);
            return rb_error(RB_ERR_IO, "generated_cifar_write: cannot write '%s'", path);
        }
    }
    return fclose(f) == 0 ? RB_OK
                          : rb_error(RB_ERR_IO, "generated_cifar_write: cannot write '%s'", path);
}

#endif
