/* Direct float32 convolution with stride 1 and no dilation (ops/conv_direct.c), for the
 * fused conv2d op's forward pass when the input channels are few. */
#ifndef RUBAN_OPS_CONV_DIRECT_H
#define RUBAN_OPS_CONV_DIRECT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct rb__direct_conv {
    const float *x;    /* zero-padded images first.. (Hp, Wp, C each), contiguous */
    const float *w;    /* packed weights (kh kw C, CoutP), see rb__direct_conv_pack */
    const float *bias; /* CoutP values (zero-filled past Cout) or NULL */
    float *y;          /* output (N, Ho, Wo, Cout), indexed by global rows */
    int64_t first;     /* image that x starts at */
    int64_t Hp, Wp, C; /* padded input */
    int64_t Ho, Wo, Cout, CoutP;
    int kh, kw;
    bool relu; /* ReLU epilogue */
} rb__direct_conv;

/* Output rows [begin, end), a row being an (image, output row) pair; their images must lie in
 * the padded copy. */
void rb__direct_conv_rows(const rb__direct_conv *p, int64_t begin, int64_t end);

/* Output channels rounded up to the vector width: the packed weights' row length. */
int64_t rb__direct_conv_packed_cols(int64_t cout);

/* Pack w (taps, C, Cout) into out (taps C, CoutP), zero-filled past Cout. */
void rb__direct_conv_pack(const float *w, int64_t taps, int64_t C, int64_t Cout, float *out);

/* Images (images, H, W, C) into out (images, Hp, Wp, C) at offset (pt, pl), zeros around. */
void rb__direct_conv_pad(const float *x, int64_t images, int64_t H, int64_t W, int64_t C, int pt,
                         int pl, int64_t Hp, int64_t Wp, float *out);

#endif
