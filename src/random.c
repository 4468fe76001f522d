/* Philox4x32-10 (Salmon et al., SC'11): a counter-based generator, so that any element of a
 * random fill can be computed independently and in parallel with identical results. */
#include <math.h>

#include "core.h"
#include "kernels.h"
#include "parallel.h"

typedef struct block4 {
    uint32_t v[4];
} block4;

static block4 philox(uint64_t key, uint64_t counter)
{
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0x2545F491u, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    block4 b = {{c0, c1, c2, c3}};
    return b;
}

/* Mix a user seed so that nearby seeds give unrelated keys (splitmix64 finaliser). */
static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rb_rng_seed(rb_rng *r, uint64_t seed)
{
    if (!r) return;
    r->key = mix(seed);
    r->counter = 0;
}

rb_rng rb_rng_make(uint64_t seed)
{
    rb_rng r;
    rb_rng_seed(&r, seed);
    return r;
}

static _Thread_local rb_rng default_rng;
static _Thread_local bool default_seeded;

rb_rng *rb_default_rng(void)
{
    if (!default_seeded) {
        rb_rng_seed(&default_rng, 0);
        default_seeded = true;
    }
    return &default_rng;
}

void rb_seed(uint64_t seed)
{
    rb_rng_seed(&default_rng, seed);
    default_seeded = true;
}

static rb_rng *use(rb_rng *r) { return r ? r : rb_default_rng(); }

uint64_t rb_rng_u64(rb_rng *r)
{
    r = use(r);
    block4 b = philox(r->key, r->counter++);
    return ((uint64_t)b.v[0] << 32) | b.v[1];
}

rb_rng rb_rng_split(rb_rng *r)
{
    rb_rng child;
    child.key = mix(rb_rng_u64(r));
    child.counter = 0;
    return child;
}

/* 53 random bits -> [0, 1). */
static double to_unit(uint32_t hi, uint32_t lo)
{
    uint64_t bits = (((uint64_t)hi << 32) | lo) >> 11;
    return (double)bits * 0x1.0p-53;
}

double rb_rng_uniform(rb_rng *r)
{
    r = use(r);
    block4 b = philox(r->key, r->counter++);
    return to_unit(b.v[0], b.v[1]);
}

/* Box-Muller on one Philox block: two independent standard normals. */
static void normal_pair(uint64_t key, uint64_t counter, double *z0, double *z1)
{
    block4 b = philox(key, counter);
    double u1 = 1.0 - to_unit(b.v[0], b.v[1]); /* (0, 1]: log is finite */
    double u2 = to_unit(b.v[2], b.v[3]);
    double radius = sqrt(-2.0 * log(u1)), angle = 6.283185307179586476925 * u2;
    *z0 = radius * cos(angle);
    *z1 = radius * sin(angle);
}

double rb_rng_normal(rb_rng *r)
{
    r = use(r);
    double z0, z1;
    normal_pair(r->key, r->counter++, &z0, &z1);
    return z0;
}

int64_t rb_rng_below(rb_rng *r, int64_t n)
{
    if (n <= 1) return 0;
    /* Rejection keeps every value equally likely. */
    uint64_t un = (uint64_t)n, limit = UINT64_MAX - UINT64_MAX % un;
    uint64_t v;
    do
        v = rb_rng_u64(r);
    while (v >= limit);
    return (int64_t)(v % un);
}

void rb_rng_shuffle(rb_rng *r, int64_t *idx, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = rb_rng_below(r, i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* ---- tensor fills ----
 * Each Philox block gives four 32-bit words. float32 values take one word each (24 bits of
 * uniform precision; a normal pair takes two words), float64 values two words: value k of a
 * fill uses block counter + k / per_block, so any element can be computed on its own. */

typedef enum fill_kind { FILL_NORMAL, FILL_UNIFORM } fill_kind;

typedef struct fill_plan {
    rb_tensor *t;
    fill_kind kind;
    double a, b;
    uint64_t key, counter;
    int per_block; /* values per Philox block: 4 (float32) or 2 (float64) */
} fill_plan;

static inline float unit24(uint32_t w) { return (float)(w >> 8) * 0x1.0p-24f; }

/* The per_block values of block `index`, scaled: uniform in [a, b) or normal(a, b). */
static void block_values(const fill_plan *p, uint64_t index, double *out)
{
    block4 blk = philox(p->key, p->counter + index);
    if (p->per_block == 4) { /* float32 */
        if (p->kind == FILL_UNIFORM) {
            for (int i = 0; i < 4; i++)
                out[i] = p->a + (p->b - p->a) * unit24(blk.v[i]);
        } else {
            for (int i = 0; i < 4; i += 2) {
                float u1 = 1.0f - unit24(blk.v[i]), u2 = unit24(blk.v[i + 1]);
                float radius = sqrtf(-2.0f * logf(u1)), angle = 6.28318530717958647692f * u2;
                out[i] = p->a + p->b * (double)(radius * cosf(angle));
                out[i + 1] = p->a + p->b * (double)(radius * sinf(angle));
            }
        }
    } else if (p->kind == FILL_UNIFORM) {
        out[0] = p->a + (p->b - p->a) * to_unit(blk.v[0], blk.v[1]);
        out[1] = p->a + (p->b - p->a) * to_unit(blk.v[2], blk.v[3]);
    } else {
        double u1 = 1.0 - to_unit(blk.v[0], blk.v[1]), u2 = to_unit(blk.v[2], blk.v[3]);
        double radius = sqrt(-2.0 * log(u1)), angle = 6.283185307179586476925 * u2;
        out[0] = p->a + p->b * radius * cos(angle);
        out[1] = p->a + p->b * radius * sin(angle);
    }
}

static void fill_range(void *arg, int64_t begin, int64_t end)
{
    const fill_plan *p = arg;
    const int per = p->per_block;
    const bool contiguous = p->t->flags & RB__CONTIGUOUS;
    double v[4];
    for (int64_t k = begin; k < end;) {
        uint64_t blk = (uint64_t)(k / per);
        block_values(p, blk, v);
        for (int i = (int)(k % per); i < per && k < end; i++, k++) {
            if (!contiguous)
                rb__set_flat(p->t, k, v[i]);
            else if (p->t->dtype == RB_F32)
                ((float *)p->t->data)[k] = (float)v[i];
            else
                ((double *)p->t->data)[k] = v[i];
        }
    }
}

static rb_status fill(rb_tensor *t, fill_kind kind, double a, double b, rb_rng *r, const char *who)
{
    if (!t) return rb_error(RB_ERR_ARGUMENT, "%s: tensor is NULL", who);
    if (!rb__is_float(t->dtype))
        return rb_error(RB_ERR_DTYPE, "%s: tensor is %s, not float", who, rb_dtype_name(t->dtype));
    r = use(r);
    int per = t->dtype == RB_F32 ? 4 : 2;
    fill_plan p = {t, kind, a, b, r->key, r->counter, per};
    rb__parallel_for(t->size, 16384, fill_range, &p);
    r->counter += (uint64_t)(t->size + per - 1) / (uint64_t)per;
    rb__bump_version(t);
    return RB_OK;
}

void rb__rng_reserve(rb_rng *r, rb_dtype dtype, int64_t n, uint64_t *key, uint64_t *counter)
{
    r = use(r);
    uint64_t per = dtype == RB_F32 ? 4 : 2;
    *key = r->key;
    *counter = r->counter;
    r->counter += ((uint64_t)n + per - 1) / per;
}

enum { LANES = 8 };

/* Blocks counter, counter + 1, ..., counter + LANES - 1 at once, lane by lane within each round
 * so that the compiler vectorises them (the same words as philox()). */
static void philox_lanes(uint64_t key, uint64_t counter, uint32_t out[4][LANES])
{
    uint32_t c0[LANES], c1[LANES], c2[LANES], c3[LANES];
    for (int l = 0; l < LANES; l++) {
        uint64_t ctr = counter + (uint64_t)l;
        c0[l] = (uint32_t)ctr;
        c1[l] = (uint32_t)(ctr >> 32);
        c2[l] = 0x2545F491u;
        c3[l] = 0;
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        for (int l = 0; l < LANES; l++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0[l], p1 = (uint64_t)0xCD9E8D57u * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = (uint32_t)p1;
            c3[l] = (uint32_t)p0;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int l = 0; l < LANES; l++) {
        out[0][l] = c0[l];
        out[1][l] = c1[l];
        out[2][l] = c2[l];
        out[3][l] = c3[l];
    }
}

void rb__rng_uniforms(uint64_t key, uint64_t counter, rb_dtype dtype, int64_t begin, int64_t end,
                      double *out)
{
    fill_plan p = {NULL, FILL_UNIFORM, 0.0, 1.0, key, counter, dtype == RB_F32 ? 4 : 2};
    double v[4];
    int64_t k = begin;
    /* float32 values (one word each) from whole groups of LANES blocks; the rest one block at a
     * time. unit24(w) is exact in double: the same values as block_values gives. */
    const int64_t group = 4 * LANES;
    if (dtype == RB_F32) {
        for (; k < end && k % 4 != 0;) {
            block_values(&p, (uint64_t)(k / 4), v);
            for (int i = (int)(k % 4); i < 4 && k < end; i++, k++)
                out[k - begin] = v[i];
        }
        for (; k + group <= end; k += group) {
            uint32_t w[4][LANES];
            philox_lanes(key, counter + (uint64_t)(k / 4), w);
            for (int l = 0; l < LANES; l++)
                for (int i = 0; i < 4; i++)
                    out[k - begin + 4 * l + i] = (double)unit24(w[i][l]);
        }
    }
    for (; k < end;) {
        block_values(&p, (uint64_t)(k / p.per_block), v);
        for (int i = (int)(k % p.per_block); i < p.per_block && k < end; i++, k++)
            out[k - begin] = v[i];
    }
}

rb_status rb_fill_normal(rb_tensor *t, double mean, double std, rb_rng *r)
{
    if (!(std >= 0)) return rb_error(RB_ERR_ARGUMENT, "rb_fill_normal: std %g < 0", std);
    return fill(t, FILL_NORMAL, mean, std, r, "rb_fill_normal");
}

rb_status rb_fill_uniform(rb_tensor *t, double lo, double hi, rb_rng *r)
{
    if (!(lo <= hi)) return rb_error(RB_ERR_ARGUMENT, "rb_fill_uniform: lo %g > hi %g", lo, hi);
    return fill(t, FILL_UNIFORM, lo, hi, r, "rb_fill_uniform");
}

rb_status rb_fill_truncated_normal(rb_tensor *t, double mean, double std, rb_rng *r)
{
    if (!(std >= 0)) return rb_error(RB_ERR_ARGUMENT, "rb_fill_truncated_normal: std %g < 0", std);
    if (!t) return rb_error(RB_ERR_ARGUMENT, "rb_fill_truncated_normal: tensor is NULL");
    if (!rb__is_float(t->dtype))
        return rb_error(RB_ERR_DTYPE, "rb_fill_truncated_normal: tensor is %s, not float",
                        rb_dtype_name(t->dtype));
    /* Sequential resampling: each draw depends on the previous rejections. */
    r = use(r);
    for (int64_t k = 0; k < t->size; k++) {
        double z;
        do
            z = rb_rng_normal(r);
        while (fabs(z) > 2.0);
        rb__set_flat(t, k, mean + std * z);
    }
    rb__bump_version(t);
    return RB_OK;
}

rb_tensor *rb_tensor_normal(rb_dtype dtype, int ndim, const int64_t *shape, double mean, double std,
                            rb_rng *r)
{
    if (!(std >= 0)) return rb__fail(RB_ERR_ARGUMENT, "rb_tensor_normal: std %g < 0", std);
    if (!rb__is_float(dtype))
        return rb__fail(RB_ERR_DTYPE, "rb_tensor_normal: dtype must be float");
    rb_tensor *t = rb__tensor_new(dtype, ndim, shape, "rb_tensor_normal");
    if (t) rb_fill_normal(t, mean, std, r);
    return t;
}

rb_tensor *rb_tensor_uniform(rb_dtype dtype, int ndim, const int64_t *shape, double lo, double hi,
                             rb_rng *r)
{
    if (!(lo <= hi)) return rb__fail(RB_ERR_ARGUMENT, "rb_tensor_uniform: lo %g > hi %g", lo, hi);
    if (!rb__is_float(dtype))
        return rb__fail(RB_ERR_DTYPE, "rb_tensor_uniform: dtype must be float");
    rb_tensor *t = rb__tensor_new(dtype, ndim, shape, "rb_tensor_uniform");
    if (t) rb_fill_uniform(t, lo, hi, r);
    return t;
}
