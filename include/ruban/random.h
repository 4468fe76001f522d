/* ruban/random.h - seeded, counter-based random numbers (Philox4x32-10).
 *
 * A generator is a key and a counter: value k of a fill depends only on (key, counter + k), so
 * the same seed gives bit-identical tensors whatever the thread count. Generators are plain
 * structs you can keep anywhere; NULL means this thread's default generator (seed 0 until
 * rb_seed()).
 *
 *     rb_rng rng = rb_rng_make(42);
 *     rb_tensor *w = rb_tensor_normal(RB_F32, RB_SHAPE(784, 256), 0.0, 0.05, &rng);
 */
#ifndef RUBAN_RANDOM_H
#define RUBAN_RANDOM_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct rb_rng {
    uint64_t key;
    uint64_t counter;
};

/* A generator seeded with seed. */
RB_API rb_rng rb_rng_make(uint64_t seed);
RB_API void rb_rng_seed(rb_rng *rng, uint64_t seed);
/* An independent generator for a sub-task (e.g. one per layer), derived from rng. */
RB_API rb_rng rb_rng_split(rb_rng *rng);
/* Reseed this thread's default generator. */
RB_API void rb_seed(uint64_t seed);
RB_API rb_rng *rb_default_rng(void);

/* Scalars: 64 random bits; uniform in [0, 1); standard normal; uniform integer in [0, n). */
RB_API uint64_t rb_rng_u64(rb_rng *rng);
RB_API double rb_rng_uniform(rb_rng *rng);
RB_API double rb_rng_normal(rb_rng *rng);
RB_API int64_t rb_rng_below(rb_rng *rng, int64_t n);
/* Shuffle idx[0..n) in place (Fisher-Yates). */
RB_API void rb_rng_shuffle(rb_rng *rng, int64_t *idx, int64_t n);

/* Fill a float tensor in place: normal(mean, std), uniform [lo, hi), or normal truncated to
 * two standard deviations (resampled, as Keras's TruncatedNormal). */
RB_API rb_status rb_fill_normal(rb_tensor *t, double mean, double std, rb_rng *rng);
RB_API rb_status rb_fill_uniform(rb_tensor *t, double lo, double hi, rb_rng *rng);
RB_API rb_status rb_fill_truncated_normal(rb_tensor *t, double mean, double std, rb_rng *rng);

/* New tensors (owned by the current owner). */
RB_API rb_tensor *rb_tensor_normal(rb_dtype dtype, int ndim, const int64_t *shape, double mean,
                                   double std, rb_rng *rng);
RB_API rb_tensor *rb_tensor_uniform(rb_dtype dtype, int ndim, const int64_t *shape, double lo,
                                    double hi, rb_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
