/* ruban/preprocess.h - preparing data: scalers and ZCA whitening fitted on training data, row
 * selection, shuffled (and stratified) train/validation/test splits, k-fold cross-validation.
 *
 *     rb_dataset train, val, test;
 *     rb_split(&all, (rb_split_config){.validation = 0.15, .test = 0.15, .seed = 1,
 *                                      .stratify = true}, &train, &val, &test);
 *     rb_scaler *s = rb_scaler_fit(RB_SCALE_STANDARD, train.x, false);
 *     rb_scaler_transform_inplace(s, train.x);            // the same statistics for all three
 *     rb_scaler_transform_inplace(s, val.x);
 *     rb_scaler_transform_inplace(s, test.x);
 *     rb_scaler_free(s);
 *     rb_zca *z = rb_zca_fit(train.x, 0.1);               // or ZCA whitening, the same way
 *     rb_zca_transform_inplace(z, test.x);
 *     rb_zca_free(z);
 *
 * One-hot encoding is the op rb_one_hot (ruban/ops.h).
 */
#ifndef RUBAN_PREPROCESS_H
#define RUBAN_PREPROCESS_H

#include "ruban/base.h"
#include "ruban/data.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- scalers ---- */
typedef enum rb_scale_kind {
    RB_SCALE_STANDARD, /* (x - mean) / std; a constant feature gets std 1, as scikit-learn does */
    RB_SCALE_MINMAX    /* (x - min) / (max - min) into [0, 1]; a constant feature maps to 0 */
} rb_scale_kind;

typedef struct rb_scaler rb_scaler;

/* Statistics of x (float, at least 1-D) per feature: over every axis but the last (columns of
 * a table, channels of NHWC images), or over all elements when global is true. The caller
 * owns the scaler. */
RB_API rb_scaler *rb_scaler_fit(rb_scale_kind kind, const rb_tensor *x, bool global);
/* Scaled x as a new tensor (an op on the tape when one records it), or in place. The last
 * dimension of x must match the fitted features (unless global). */
RB_API rb_tensor *rb_scaler_transform(const rb_scaler *s, rb_tensor *x);
RB_API rb_status rb_scaler_transform_inplace(const rb_scaler *s, rb_tensor *x);
/* Back to the original units (predictions of a scaled regression target). */
RB_API rb_tensor *rb_scaler_inverse(const rb_scaler *s, rb_tensor *x);
/* Fitted statistics per feature: shift and scale such that transform(x) = (x - shift) / scale
 * (mean and std, or min and max - min). Tensors owned by the scaler. */
RB_API const rb_tensor *rb_scaler_shift(const rb_scaler *s);
RB_API const rb_tensor *rb_scaler_scale(const rb_scaler *s);
RB_API void rb_scaler_free(rb_scaler *s);

/* ---- ZCA whitening ---- */
/* Whitening fitted on training rows: x (N, ...) is read as N rows of D = size / N features
 * (images (N, H, W, C) give D = H W C); transform(x) = (x - mean) W with
 * W = U diag(1 / sqrt(lambda + epsilon)) U^T from the covariance's eigendecomposition
 * U diag(lambda) U^T, so whitened training rows have covariance close to the identity while
 * staying as close as possible to the original pixels. The eigendecomposition is LAPACK's
 * divide and conquer: ssyevd for float32 rows (whose covariance is known to float precision
 * only), dsyevd for float64. */
typedef struct rb_zca rb_zca;

/* Fit on x (float32 or float64, at least 2 rows); epsilon >= 0 is added to every eigenvalue
 * (it damps the directions of smallest variance; 0 needs a non-singular covariance). The
 * covariance divides by N - 1. The caller owns the result; NULL and an error on bad input,
 * non-finite values, more than RB_ZCA_MAX_FEATURES features or a LAPACK failure. */
RB_API rb_zca *rb_zca_fit(const rb_tensor *x, double epsilon);
#define RB_ZCA_MAX_FEATURES 32000 /* LAPACK's workspace sizes are 32-bit (2 D^2 + 6 D + 1) */
/* Whitened x as a new tensor of x's shape and dtype (ops: recorded by an active tape), or in
 * place (rows in blocks, bounded memory). x's rows must have the fitted row shape and dtype. */
RB_API rb_tensor *rb_zca_transform(const rb_zca *z, rb_tensor *x);
RB_API rb_status rb_zca_transform_inplace(const rb_zca *z, rb_tensor *x);
/* Back from whitened rows: x W^-1 + mean, W^-1 = U diag(sqrt(lambda + epsilon)) U^T. */
RB_API rb_tensor *rb_zca_inverse(const rb_zca *z, rb_tensor *x);
/* Fitted statistics, owned by z: the mean (D) and the whitening matrix W (D, D) in x's dtype,
 * the covariance's eigenvalues (D) in float64, largest first (before epsilon is added). */
RB_API const rb_tensor *rb_zca_mean(const rb_zca *z);
RB_API const rb_tensor *rb_zca_matrix(const rb_zca *z);
RB_API const rb_tensor *rb_zca_eigenvalues(const rb_zca *z);
RB_API double rb_zca_epsilon(const rb_zca *z);
RB_API void rb_zca_free(rb_zca *z);

/* ---- rows ---- */
/* The rows of d listed in rows[0..n) (any order, repeats allowed), copied with d's metadata
 * into out (the caller owns it). */
RB_API rb_status rb_dataset_take(const rb_dataset *d, const int64_t *rows, int64_t n,
                                 rb_dataset *out);
/* Number of rows of a data set (its x's first dimension). */
RB_API int64_t rb_dataset_rows(const rb_dataset *d);

/* ---- splits ---- */
typedef struct rb_split_config {
    double validation; /* fraction of rows for validation (may be 0) */
    double test;       /* fraction of rows for test (may be 0) */
    uint64_t seed;     /* shuffling */
    bool stratify;     /* keep each class's share in every part (y int64 labels) */
    bool no_shuffle;   /* keep the file's order: train first, then validation, then test */
} rb_split_config;

/* Split d's rows into train, validation and test (either of the last two may be NULL when
 * its fraction is 0). Part sizes are rounded per class when stratifying. */
RB_API rb_status rb_split(const rb_dataset *d, rb_split_config config, rb_dataset *train,
                          rb_dataset *validation, rb_dataset *test);

/* ---- k-fold cross-validation ---- */
typedef struct rb_kfold rb_kfold;
/* k folds of n rows, shuffled with seed; with labels (int64, n of them) each fold keeps the
 * classes' shares (stratified). Fold sizes differ by at most one row (per class when
 * stratified). */
RB_API rb_kfold *rb_kfold_new(int64_t n, int k, uint64_t seed, const rb_tensor *labels);
RB_API int rb_kfold_count(const rb_kfold *kf);
/* Rows of fold i: its validation rows (*n_val of them) and the others (*n_train). Pointers
 * into the kfold object. */
RB_API const int64_t *rb_kfold_validation_rows(const rb_kfold *kf, int i, int64_t *n_val);
RB_API const int64_t *rb_kfold_train_rows(const rb_kfold *kf, int i, int64_t *n_train);
/* Both parts of fold i as data sets (copies; the caller frees them). */
RB_API rb_status rb_kfold_split(const rb_kfold *kf, int i, const rb_dataset *d, rb_dataset *train,
                                rb_dataset *validation);
RB_API void rb_kfold_free(rb_kfold *kf);

#ifdef __cplusplus
}
#endif
#endif
