/* ruban/image.h - saving images: PNG files and grids of image tensors.
 *
 *     rb_image_grid_png("reconstructions.png", images, 8, 2);  // images (N, 28, 28, 1) in [0, 1]
 */
#ifndef RUBAN_IMAGE_H
#define RUBAN_IMAGE_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write 8-bit pixels (rows of width * channels bytes; 1 channel: grey, 3: RGB) as a PNG,
 * atomically (temporary file, then rename). */
RB_API rb_status rb_png_write(const char *path, int width, int height, int channels,
                              const uint8_t *pixels);
/* Tile images (N, H, W) or (N, H, W, C) with C 1 or 3, values in [0, 1] (clipped), `columns`
 * per row with `padding` grey pixels around them, into a PNG. */
RB_API rb_status rb_image_grid_png(const char *path, const rb_tensor *images, int columns,
                                   int padding);

#ifdef __cplusplus
}
#endif
#endif
