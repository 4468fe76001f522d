/* Branch-free float32 exp, tanh and sigmoid that the compiler vectorises (glibc's expf and
 * tanhf are scalar calls, which made tanh layers twice as slow as ReLU ones).
 *
 * exp: Cody-Waite reduction x = k ln2 + r, |r| <= ln2 / 2, the Cephes degree-6 polynomial
 * for e^r, and 2^k built in the exponent bits; about 1.5 ulp. The activations only need e^y
 * for y <= 0, which rb__exp_neg_f32 gives down to the subnormals. */
#ifndef RUBAN_SRC_FASTMATH_H
#define RUBAN_SRC_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^r for |r| <= ln2 / 2 and the reduction of x: x = k ln2 + r. */
static inline float rb__exp_reduced_f32(float x, float *k_out)
{
    float k = rintf(x * 1.44269504088896341f);
    float r = x - k * 0.693359375f; /* ln2 split in two: the high part is exact in k * hi */
    r = r + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    *k_out = k;
    return p * r * r + r + 1.0f;
}

/* 2^n for integer n in [-126, 127], from the exponent bits. */
static inline float rb__pow2i_f32(float n)
{
    int32_t bits = ((int32_t)n + 127) << 23;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* e^x, x clamped to [-87.3, 88.3] (results stay normal floats). */
static inline float rb__exp_clamped_f32(float x)
{
    x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    float k, y = rb__exp_reduced_f32(x, &k);
    return y * rb__pow2i_f32(k);
}

/* e^y for y <= 0, subnormal results included: 2^k is applied as 2^(k + 64) 2^-64, the last
 * product rounding once into the subnormal range; 0 below -104 (under half the smallest
 * subnormal). */
static inline float rb__exp_neg_f32(float y)
{
    float c = y < -104.0f ? -104.0f : y;
    float k, v = rb__exp_reduced_f32(c, &k);
    v = v * rb__pow2i_f32(k + 64.0f) * 5.42101086242752217e-20f;
    return y < -104.0f ? 0.0f : v;
}

/* tanh: the Cephes odd polynomial near 0 (where (1 - e^-2|x|) / (1 + e^-2|x|) would cancel),
 * else that formula; both computed and one selected, so the loop stays vectorised. */
static inline float rb__tanh_f32(float x)
{
    float a = fabsf(x), z = x * x;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    float small = p * z * x + x;
    float e = rb__exp_neg_f32(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    return a < 0.625f ? small : copysignf(big, x);
}

/* sigmoid from e = e^-|x| in (0, 1]: 1 / (1 + e) for x >= 0, e / (1 + e) below. */
static inline float rb__sigmoid_f32(float x)
{
    float e = rb__exp_neg_f32(-fabsf(x));
    float inv = 1.0f / (1.0f + e);
    return x >= 0 ? inv : e * inv;
}

#endif
