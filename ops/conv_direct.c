/* Direct 2-D convolution for float32, stride 1: no patch matrix. A register tile of R output
 * pixels of one row times 8 or 16 output channels accumulates, tap by tap and channel by
 * channel, an input value broadcast against a vector of weights. With few channels this beats
 * patches + GEMM twice over: the patch matrix costs more to build than to multiply, and the
 * GEMM's 16-wide register tile is mostly empty for 6 output channels (LeNet).
 *
 * The input is read through a zero-padded copy, so the tile loop has no edge cases; an output
 * row shorter than a tile's multiple ends with a tile shifted back over pixels already
 * computed (the same values are written twice). Weights are packed with the output channels
 * rounded up to a multiple of 8 and zero-filled, so every weight load is a full vector. */
#include <string.h>

#include "conv_direct.h"
#include "parallel.h"

#define VL 8 /* floats per vector: AVX2's; the compiler splits or merges for other widths */
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));

/* The products must become fused multiply-adds where the CPU has them (the ISO C mode the
 * library is compiled in turns contraction off). */
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")

/* Every lane v ("0 + v" would add a zero: not an identity for -0.0, so not folded away). */
static inline vf splat(float v) { return (vf){v, v, v, v, v, v, v, v}; }

static inline vf load(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The first `lanes` lanes of v at p. Fixed-size copies compile to a few moves; a masked
 * store (vmaskmovps) is microcoded and slow on AMD, and memcpy of a variable size is a call. */
static inline void store(float *p, vf v, int64_t lanes, bool relu)
{
    if (relu) v = (vf)((vi)v & (v > 0)); /* as the scalar epilogue: NaN gives 0 */
    switch (lanes) {
    case 1: memcpy(p, &v, 1 * sizeof(float)); break;
    case 2: memcpy(p, &v, 2 * sizeof(float)); break;
    case 3: memcpy(p, &v, 3 * sizeof(float)); break;
    case 4: memcpy(p, &v, 4 * sizeof(float)); break;
    case 5: memcpy(p, &v, 5 * sizeof(float)); break;
    case 6: memcpy(p, &v, 6 * sizeof(float)); break;
    case 7: memcpy(p, &v, 7 * sizeof(float)); break;
    default: memcpy(p, &v, sizeof v); break;
    }
}

/* One tile: R pixels starting at x (the tap (0,0) input of the first pixel) and NV vectors of
 * output channels starting at packed weight column w, into y (pixel stride ys). */
#define TILE(NV, R)                                                                                \
    static void tile_##NV##_##R(const rb__direct_conv *p, const float *x, const float *w,          \
                                const float *bias, float *y, int64_t lanes)                        \
    {                                                                                              \
        vf acc[R][NV];                                                                             \
        for (int v = 0; v < NV; v++) {                                                             \
            vf b = bias ? load(bias + v * VL) : (vf){0};                                           \
            for (int r = 0; r < R; r++)                                                            \
                acc[r][v] = b;                                                                     \
        }                                                                                          \
        const int64_t C = p->C, WpC = p->Wp * C, CoutP = p->CoutP;                                 \
        for (int i = 0; i < p->kh; i++)                                                            \
            for (int j = 0; j < p->kw; j++) {                                                      \
                const float *xt = x + i * WpC + j * C;                                             \
                const float *wt = w + (int64_t)(i * p->kw + j) * C * CoutP;                        \
                for (int64_t c = 0; c < C; c++, wt += CoutP) {                                     \
                    vf wv[NV];                                                                     \
                    for (int v = 0; v < NV; v++)                                                   \
                        wv[v] = load(wt + v * VL);                                                 \
                    for (int r = 0; r < R; r++) {                                                  \
                        vf xv = splat(xt[r * C + c]);                                              \
                        for (int v = 0; v < NV; v++)                                               \
                            acc[r][v] += xv * wv[v];                                               \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        for (int r = 0; r < R; r++)                                                                \
            for (int v = 0; v < NV; v++) {                                                         \
                int64_t left = lanes - v * VL;                                                     \
                if (left > 0)                                                                      \
                    store(y + r * p->Cout + v * VL, acc[r][v], left < VL ? left : VL, p->relu);    \
            }                                                                                      \
    }

TILE(1, 14)
TILE(1, 12)
TILE(1, 10)
TILE(1, 8)
TILE(1, 7)
TILE(1, 6)
TILE(1, 5)
TILE(1, 4)
TILE(1, 3)
TILE(1, 2)
TILE(1, 1)
TILE(2, 6)
TILE(2, 5)
TILE(2, 4)
TILE(2, 3)
TILE(2, 2)
TILE(2, 1)

#pragma GCC pop_options

typedef void (*tile_fn)(const rb__direct_conv *, const float *, const float *, const float *,
                        float *, int64_t);

/* The cost model of a tile (measured on Zen 3 with 16->16 3x3 and 6->16 5x5 layers): fewer
 * than FMA_CHAINS accumulators leave the FMA units waiting on latency, and each pass over the
 * taps costs about TILE_OVERHEAD pixels' worth of loop and address work. */
#define FMA_CHAINS    10
#define TILE_OVERHEAD 1.5

/* The tile of NV vectors for output rows of Wo pixels that costs least: the pixels computed
 * (tiles overlap at the end of a row) over the fraction of the FMA units the tile keeps busy,
 * plus its overhead. The widths keep the accumulators, a weight vector per NV and a broadcast
 * within 16 vector registers. */
static tile_fn tile_for(int nv, int64_t Wo, int *R)
{
    static const struct {
        int nv, r;
        tile_fn fn;
    } tiles[] = {{1, 14, tile_1_14}, {1, 12, tile_1_12}, {1, 10, tile_1_10}, {1, 8, tile_1_8},
                 {1, 7, tile_1_7},   {1, 6, tile_1_6},   {1, 5, tile_1_5},   {1, 4, tile_1_4},
                 {1, 3, tile_1_3},   {1, 2, tile_1_2},   {1, 1, tile_1_1},   {2, 6, tile_2_6},
                 {2, 5, tile_2_5},   {2, 4, tile_2_4},   {2, 3, tile_2_3},   {2, 2, tile_2_2},
                 {2, 1, tile_2_1}};
    tile_fn best = NULL;
    double best_cost = 0;
    for (size_t k = 0; k < sizeof tiles / sizeof tiles[0]; k++) {
        int r = tiles[k].r;
        if (tiles[k].nv != nv || r > Wo) continue;
        double busy = nv * r >= FMA_CHAINS ? 1.0 : (double)(nv * r) / FMA_CHAINS;
        double cost = (double)((Wo + r - 1) / r * r) / busy * (1 + TILE_OVERHEAD / r);
        if (!best || cost < best_cost) {
            best = tiles[k].fn;
            best_cost = cost;
            *R = r;
        }
    }
    return best;
}

void rb__direct_conv_rows(const rb__direct_conv *p, int64_t begin, int64_t end)
{
    for (int64_t row = begin; row < end; row++) {
        int64_t n = row / p->Ho, oh = row % p->Ho;
        const float *x = p->x + ((n - p->first) * p->Hp + oh) * p->Wp * p->C;
        float *y = p->y + row * p->Wo * p->Cout;
        /* Output channels in blocks of 16, then one of 8 for what is left. */
        for (int64_t co = 0; co < p->Cout; co += 2 * VL) {
            int64_t lanes = p->Cout - co;
            int nv = lanes > VL ? 2 : 1, R = 1;
            if (lanes > 2 * VL) lanes = 2 * VL;
            tile_fn tile = tile_for(nv, p->Wo, &R);
            for (int64_t ow = 0; ow < p->Wo; ow += R) {
                int64_t at = ow + R <= p->Wo ? ow : p->Wo - R; /* the last tile shifted back */
                tile(p, x + at * p->C, p->w + co, p->bias ? p->bias + co : NULL,
                     y + at * p->Cout + co, lanes);
            }
        }
    }
}

int64_t rb__direct_conv_packed_cols(int64_t cout) { return (cout + VL - 1) / VL * VL; }

void rb__direct_conv_pack(const float *w, int64_t taps, int64_t C, int64_t Cout, float *out)
{
    int64_t CoutP = rb__direct_conv_packed_cols(Cout);
    memset(out, 0, sizeof(float) * (size_t)(taps * C * CoutP));
    for (int64_t row = 0; row < taps * C; row++)
        memcpy(out + row * CoutP, w + row * Cout, sizeof(float) * (size_t)Cout);
}

void rb__direct_conv_pad(const float *x, int64_t images, int64_t H, int64_t W, int64_t C, int pt,
                         int pl, int64_t Hp, int64_t Wp, float *out)
{
    memset(out, 0, sizeof(float) * (size_t)(images * Hp * Wp * C));
    for (int64_t n = 0; n < images; n++)
        for (int64_t h = 0; h < H; h++)
            memcpy(out + ((n * Hp + h + pt) * Wp + pl) * C, x + (n * H + h) * W * C,
                   sizeof(float) * (size_t)(W * C));
}
