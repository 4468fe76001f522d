/* A minimal PNG writer (8-bit grey or RGB, no interlacing) on top of zlib, and image grids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ruban.h"

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One chunk: length, type, data, CRC of type and data. */
static bool write_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t len)
{
    unsigned char head[8];
    be32(head, len);
    memcpy(head + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (len) crc = crc32(crc, data, len);
    unsigned char tail[4];
    be32(tail, (uint32_t)crc);
    return fwrite(head, 1, 8, f) == 8 && (len == 0 || fwrite(data, 1, len, f) == len) &&
           fwrite(tail, 1, 4, f) == 4;
}

/* Largest chunk written: PNG allows 2^31 - 1 bytes; a larger IDAT is split. */
#define CHUNK_MAX ((size_t)1 << 30)

rb_status rb_png_write(const char *path, int width, int height, int channels, const uint8_t *pixels)
{
    if (!path || !pixels || width < 1 || height < 1 || (channels != 1 && channels != 3))
        return rb_error(RB_ERR_ARGUMENT, "rb_png_write: bad image %dx%d with %d channel(s)", width,
                        height, channels);
    /* Each scanline starts with its filter type (0: none). */
    size_t row = (size_t)width * (size_t)channels;
    if (rb_shape_count(RB_ERR_ARGUMENT, "rb_png_write", 2,
                       (const int64_t[]){height, (int64_t)row + 1}, 1) < 0)
        return rb_last_status();
    size_t raw_len = (row + 1) * (size_t)height;
    unsigned char *raw = malloc(raw_len);
    uLongf packed_len = compressBound((uLong)raw_len);
    unsigned char *packed = malloc(packed_len);
    if (!raw || !packed) {
        free(raw);
        free(packed);
        return rb_error(RB_ERR_MEMORY, "rb_png_write: out of memory: %zu bytes requested",
                        raw_len + (size_t)packed_len);
    }
    for (int y = 0; y < height; y++) {
        raw[(size_t)y * (row + 1)] = 0;
        memcpy(raw + (size_t)y * (row + 1) + 1, pixels + (size_t)y * row, row);
    }
    int z = compress2(packed, &packed_len, raw, (uLong)raw_len, 6);
    free(raw);
    if (z != Z_OK) {
        free(packed);
        return rb_error(RB_ERR_IO, "rb_png_write: compression failed (%d)", z);
    }
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_png_write") != RB_OK) {
        free(packed);
        return rb_last_status();
    }
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char ihdr[13];
    be32(ihdr, (uint32_t)width);
    be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;                        /* bit depth */
    ihdr[9] = channels == 1 ? 0 : 2;    /* grey or RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filters, no interlace */
    bool ok = fwrite(signature, 1, 8, w.f) == 8 && write_chunk(w.f, "IHDR", ihdr, 13);
    for (size_t at = 0; ok && at < packed_len; at += CHUNK_MAX) {
        size_t n = packed_len - at < CHUNK_MAX ? packed_len - at : CHUNK_MAX;
        ok = write_chunk(w.f, "IDAT", packed + at, (uint32_t)n);
    }
    ok = ok && write_chunk(w.f, "IEND", NULL, 0);
    free(packed);
    if (!ok) {
        rb_atomic_file_abort(&w);
        return rb_error(RB_ERR_IO, "rb_png_write: cannot write '%s'", path);
    }
    return rb_atomic_file_commit(&w);
}

rb_status rb_image_grid_png(const char *path, const rb_tensor *images, int columns, int padding)
{
    if (!images) return rb_error(RB_ERR_ARGUMENT, "rb_image_grid_png: images is NULL");
    int nd = rb_tensor_ndim(images);
    int64_t c = nd == 4 ? rb_tensor_shape(images)[3] : 1;
    if ((nd != 3 && nd != 4) || (c != 1 && c != 3) || rb_tensor_shape(images)[0] < 1)
        return rb_error(RB_ERR_SHAPE,
                        "rb_image_grid_png: expects (N, H, W) or (N, H, W, 1|3), got %s",
                        rb_tensor_shape_text(images));
    if (columns < 1 || padding < 0)
        return rb_error(RB_ERR_ARGUMENT, "rb_image_grid_png: %d columns, padding %d", columns,
                        padding);
    int64_t n = rb_tensor_shape(images)[0], h = rb_tensor_shape(images)[1],
            w = rb_tensor_shape(images)[2];
    int64_t cols = n < columns ? n : columns, rows = (n + columns - 1) / columns;
    /* Each product is checked; the padding terms (below 2^62) cannot then overflow a sum. */
    int64_t tiles_w =
        rb_shape_count(RB_ERR_SHAPE, "rb_image_grid_png", 2, (const int64_t[]){cols, w}, 1);
    int64_t tiles_h =
        rb_shape_count(RB_ERR_SHAPE, "rb_image_grid_png", 2, (const int64_t[]){rows, h}, 1);
    if (tiles_w < 0 || tiles_h < 0) return rb_last_status();
    int64_t W = tiles_w + (cols + 1) * padding, H = tiles_h + (rows + 1) * padding;
    if (W > INT32_MAX || H > INT32_MAX)
        return rb_error(
            RB_ERR_SHAPE,
            "rb_image_grid_png: a %lldx%lld grid is larger than PNG allows (2^31 - 1 pixels a side)",
            (long long)W, (long long)H);
    int64_t bytes =
        rb_shape_count(RB_ERR_SHAPE, "rb_image_grid_png", 3, (const int64_t[]){H, W, c}, 1);
    if (bytes < 0) return rb_last_status();
    uint8_t *px = malloc((size_t)bytes);
    if (!px)
        return rb_error(RB_ERR_MEMORY, "rb_image_grid_png: out of memory: %lld bytes requested",
                        (long long)bytes);
    memset(px, 96, (size_t)bytes); /* grey gaps, visible against black backgrounds */
    for (int64_t k = 0; k < n; k++) {
        int64_t ox = padding + (k % columns) * (w + padding),
                oy = padding + (k / columns) * (h + padding);
        for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++)
                for (int64_t ch = 0; ch < c; ch++) {
                    double v = rb_tensor_get_flat(images, ((k * h + y) * w + x) * c + ch);
                    v = v < 0 ? 0 : (v > 1 ? 1 : v);
                    px[((oy + y) * W + ox + x) * c + ch] = (uint8_t)(v * 255.0 + 0.5);
                }
    }
    rb_status st = rb_png_write(path, (int)W, (int)H, (int)c, px);
    free(px);
    return st;
}
