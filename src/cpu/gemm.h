/* The one door to BLIS: every matrix product in ruban goes through here. */
#ifndef RUBAN_SRC_GEMM_H
#define RUBAN_SRC_GEMM_H

#include "core.h"

/* A strided matrix: element (r, c) is at data[r*rs + c*cs]. */
typedef struct rb__mat {
    void *data;
    int64_t rows, cols, rs, cs;
} rb__mat;

/* C = alpha * op(A) op(B) + beta * C with op a transpose when ta/tb. Shapes must agree
 * (rows(op A) = rows C, cols(op A) = rows(op B), cols(op B) = cols C). Transposes are passed
 * to BLIS as swapped strides, never copied. */
void rb__gemm(rb_dtype dtype, rb__mat a, bool ta, rb__mat b, bool tb, rb__mat c, double alpha,
              double beta);
/* The same on one thread, for calls made from inside ruban's own parallel loops (BLIS never
 * runs threaded inside them: no oversubscription). Results are identical either way: BLIS
 * splits rows and columns among threads, never the inner dimension. */
void rb__gemm_serial(rb_dtype dtype, rb__mat a, bool ta, rb__mat b, bool tb, rb__mat c,
                     double alpha, double beta);

/* The matrix formed by the last two axes of t at a given data offset (in elements). */
rb__mat rb__mat_of(const rb_tensor *t, int64_t offset);

/* 2-D tensors: c = alpha * op(a) op(b) + beta * c. */
void rb__gemm_tensors(const rb_tensor *a, bool ta, const rb_tensor *b, bool tb, rb_tensor *c,
                      double alpha, double beta);

#endif
