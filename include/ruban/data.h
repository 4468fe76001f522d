/* ruban/data.h - data sets: IDX files, MNIST, minibatches.
 *
 *     rb_dataset train, test;
 *     if (rb_mnist_load(NULL, &train, &test) != RB_OK) { puts(rb_last_error()); return 1; }
 *     rb_batcher *b = rb_batcher_new(train.x, train.y, 128, true, 42);
 *     rb_tensor *xb, *yb;
 *     while (rb_batcher_next(b, &xb, &yb)) { ... one training step ... }
 *     rb_batcher_free(b);
 *     rb_dataset_free(&train);
 *     rb_dataset_free(&test);
 */
#ifndef RUBAN_DATA_H
#define RUBAN_DATA_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Inputs, targets and, from the loaders of ruban/datasets.h, what is known of them (NULL
 * otherwise); the caller owns all three (rb_dataset_free). */
typedef struct rb_dataset {
    rb_tensor *x;
    rb_tensor *y;
    struct rb_dataset_meta *meta;
} rb_dataset;

RB_API void rb_dataset_free(rb_dataset *d);

/* Read an IDX file (plain or gzip-compressed, recognised by content) into a new tensor of the
 * given dtype, each value multiplied by scale (e.g. 1/255 for pixels). The header is
 * validated; truncated files, extra bytes, bad magic numbers and unknown types are refused
 * with the file name and byte offset. The tensor is owned by the caller. */
RB_API rb_status rb_idx_load(const char *path, rb_dtype dtype, double scale, rb_tensor **out);

/* Find data file `file` of data set `set` ("mnist"): in dir when given, else in
 * $RUBAN_DATA/<set>, the cache ($XDG_CACHE_HOME or ~/.cache)/ruban/<set>, then Debian's
 * /usr/share/datasets/<set>; the name may also carry a .gz suffix. Writes the path found into
 * out; RB_ERR_NOT_FOUND with a message listing the places tried otherwise. */
RB_API rb_status rb_data_find(const char *set, const char *file, const char *dir, char *out,
                              size_t size);

/* MNIST: images (N, 784) float32 in [0, 1], labels (N) int64. dir may be NULL to search as
 * rb_data_find does; test may be NULL to load the training set only. A missing set gives a
 * message saying how to fetch it. */
RB_API rb_status rb_mnist_load(const char *dir, rb_dataset *train, rb_dataset *test);
/* Fashion-MNIST (Debian's dataset-fashion-mnist), same format and shapes as MNIST. */
RB_API rb_status rb_fashion_mnist_load(const char *dir, rb_dataset *train, rb_dataset *test);
/* The same with the images as the files hold them: uint8 0..255, a quarter of the memory
 * (MNIST's training images: 47 MB instead of 188). Ops take floats: draw batches through
 * rb_batcher_convert(b, RB_F32, 1.0 / 255), which gives the bits rb_mnist_load holds. */
RB_API rb_status rb_mnist_load_bytes(const char *dir, rb_dataset *train, rb_dataset *test);
RB_API rb_status rb_fashion_mnist_load_bytes(const char *dir, rb_dataset *train,
                                             rb_dataset *test);
/* Its class names, by label. */
RB_API extern const char *const rb_fashion_mnist_classes[10];
/* The first n rows of a data set, copied (the caller owns the result). */
RB_API rb_status rb_dataset_head(const rb_dataset *d, int64_t n, rb_dataset *out);

/* Minibatches over the first axis of x and y, reshuffled every epoch when shuffle is true. */
typedef struct rb_batcher rb_batcher;
/* x and y must outlive the batcher; y may be NULL. */
RB_API rb_batcher *rb_batcher_new(rb_tensor *x, rb_tensor *y, int64_t batch_size, bool shuffle,
                                  uint64_t seed);
/* Next minibatch into *xb, *yb (tensors owned by the batcher, overwritten by the next call;
 * the last batch of an epoch may be smaller). Returns false at the end of an epoch, after
 * which the next call starts a new one. */
RB_API bool rb_batcher_next(rb_batcher *b, rb_tensor **xb, rb_tensor **yb);
/* Batches per epoch. */
RB_API int64_t rb_batcher_num_batches(const rb_batcher *b);
/* Data-parallel training: from now on return only this rank's slice of each batch (rows
 * [m rank / world, m (rank + 1) / world) of a batch of m rows of the shuffled order). Every
 * rank given the same data, batch size and seed then sees disjoint slices covering each
 * epoch; a last batch with fewer rows than ranks is skipped on every rank. Call before the
 * first batch of an epoch; batch_size must be at least world. */
RB_API rb_status rb_batcher_shard(rb_batcher *b, int rank, int world);
/* From now on give x's batches as dtype (RB_F32 or RB_F64), each value times scale: images held
 * as bytes come out as floats in [0, 1] with scale 1 / 255. At the start of an epoch only. */
RB_API rb_status rb_batcher_convert(rb_batcher *b, rb_dtype dtype, double scale);
/* Rows of the batch last returned, every rank's slice included (its own without a shard). */
RB_API int64_t rb_batcher_batch_rows(const rb_batcher *b);
RB_API void rb_batcher_free(rb_batcher *b);

#ifdef __cplusplus
}
#endif
#endif
