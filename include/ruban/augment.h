/* ruban/augment.h - random image augmentation, applied to each minibatch in place.
 *
 *     rb_augment_config aug = {.max_shift = 2, .hflip = true, .max_rotation = 10,
 *                              .cutout = 8, .noise_std = 0.05};
 *     rb_rng rng = rb_rng_make(42);
 *     while (rb_batcher_next(b, &x, &y)) {
 *         rb_augment(x, &aug, &rng);       // x (N, H, W, C): new random changes every batch
 *         ... training step ...
 *     }
 *
 * Each image draws its own transformation from rng, in order, so the same seed gives the same
 * batches whatever the thread count. Geometric changes (rotation about the centre, shift,
 * crop, flip) are one inverse mapping with bilinear sampling (exact pixels when there is no
 * rotation); uncovered pixels become fill. Cutout and noise come after them.
 */
#ifndef RUBAN_AUGMENT_H
#define RUBAN_AUGMENT_H

#include "ruban/base.h"
#include "ruban/error.h"
#include "ruban/random.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_augment_config {
    int max_shift;       /* random translation by up to this many pixels along each axis */
    int crop_padding;    /* random crop: pad by this much, crop back to size (a shift in
                          * [-p, p] along each axis, as torchvision's RandomCrop(padding=p)) */
    bool hflip;          /* mirror left-right with probability 1/2 */
    double max_rotation; /* degrees; angle uniform in [-max, max] */
    int cutout;          /* side of a square set to fill at a random centre (may overhang) */
    double noise_std;    /* Gaussian noise added to every value (not clipped) */
    double fill;         /* value of uncovered and cut-out pixels (default 0) */
} rb_augment_config;

/* Augment float images (N, H, W, C) in place. */
RB_API rb_status rb_augment(rb_tensor *images, const rb_augment_config *config, rb_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
