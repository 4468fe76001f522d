/* ruban/datasets.h - tabular and image data sets: CSV files, scikit-learn's small sets,
 * California housing, CIFAR-10, with their metadata (names of features and classes, source);
 * series generated from a seed (cylinder-bell-funnel).
 *
 *     rb_dataset iris;
 *     if (rb_sklearn_load("iris", NULL, &iris) != RB_OK) { puts(rb_last_error()); return 1; }
 *     printf("%s: %d features, classes %s...\n", iris.meta->source, iris.meta->n_features,
 *            iris.meta->class_names[0]);
 *     rb_dataset_free(&iris);                              // tensors and metadata
 *
 * Files are found as rb_data_find (ruban/data.h) says: the given folder, $RUBAN_DATA/<set>,
 * the cache, then the system place of the package that ships the set; a missing set gives a
 * message naming the command that fetches it (scripts/fetch-data.sh). Malformed files are
 * refused with the file and the line (text) or byte offset (binary) at fault.
 */
#ifndef RUBAN_DATASETS_H
#define RUBAN_DATASETS_H

#include "ruban/base.h"
#include "ruban/data.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a loader knows of its data set; owned by the rb_dataset (rb_dataset_free). */
typedef struct rb_dataset_meta {
    char *name;   /* "iris" */
    char *source; /* the file read */
    int n_features;
    char **feature_names; /* n_features names */
    char *target_name;
    int n_classes;      /* classification: y int64 labels 0..n_classes-1; 0: regression */
    char **class_names; /* n_classes names, or NULL */
} rb_dataset_meta;

/* ---- CSV ---- */
typedef struct rb_csv_options {
    const char *target;   /* target column by name (needs a header) ... */
    int target_column;    /* ... or by position, 1-based; 0 (and no name): the last column */
    bool classification;  /* the target holds class labels 0, 1, ...: y becomes int64 */
    bool no_header;       /* the first line is data (columns are then named c1, c2, ...) */
    char delimiter;       /* default ',' */
    rb_dtype dtype;       /* of x and of a regression y: RB_F32 (default) or RB_F64 */
    bool allow_nonfinite; /* accept nan, inf and numbers beyond the dtype's range (as +-inf) */
} rb_csv_options;

/* A CSV file (plain or gzip) of numeric columns: x (N, columns - 1) and y (N) from the target
 * column. Ragged rows, empty or non-numeric fields, and unless allowed nan, inf and numbers
 * the dtype cannot hold (1e999; 1e39 in float32) are refused with "file:line: column k".
 * Fills out->meta (feature names from the header). */
RB_API rb_status rb_csv_load(const char *path, rb_csv_options options, rb_dataset *out);

/* ---- scikit-learn's small sets, as Debian's python3-sklearn ships them ---- */
/* name: "iris" (150 x 4, 3 classes), "wine" (178 x 13, 3 classes), "breast_cancer" (569 x 30,
 * 2 classes), "digits" (1797 x 64 pixel values 0..16, 10 classes), "boston" (506 x 13,
 * regression on MEDV; kept for teaching its known flaws, scikit-learn dropped its loader).
 * dir may be NULL (search: set "sklearn"). x float32 as in the file, y as in meta. */
RB_API rb_status rb_sklearn_load(const char *name, const char *dir, rb_dataset *out);

/* ---- California housing (StatLib's cal_housing.data, 20,640 districts) ---- */
/* The 8 features of scikit-learn's fetch_california_housing: MedInc, HouseAge, AveRooms
 * (rooms / households), AveBedrms, Population, AveOccup (population / households), Latitude,
 * Longitude; target MedHouseVal in units of 100,000 dollars. x (N, 8) and y (N, 1) float32.
 * path: the file, or NULL to search set "california_housing". */
RB_API rb_status rb_california_housing_load(const char *path, rb_dataset *out);

/* ---- CIFAR-10, binary version ---- */
/* One batch file of 3,073-byte records (label, then 1,024 red, green and blue bytes): x
 * (N, 32, 32, 3) float32 in [0, 1] (channels last), y (N) int64. */
RB_API rb_status rb_cifar10_load_batch(const char *path, rb_dataset *out);
/* data_batch_1..5.bin (50,000 images) and test_batch.bin (10,000); dir may be NULL (search:
 * set "cifar10"). */
RB_API rb_status rb_cifar10_load(const char *dir, rb_dataset *train, rb_dataset *test);
/* The same with x as the files' bytes, uint8 0..255 (154 MB for the training set instead of
 * 614); draw float batches with rb_batcher_convert(b, RB_F32, 1.0 / 255). */
RB_API rb_status rb_cifar10_load_bytes(const char *dir, rb_dataset *train, rb_dataset *test);
RB_API extern const char *const rb_cifar10_classes[10];

/* ---- generated sets ---- */
/* Cylinder-bell-funnel (Saito 1994), a univariate series classification task whose classes
 * differ in shape, not in where their event happens: n series of `length` steps (0: 128), row
 * i of class i mod 3 (0 cylinder, 1 bell, 2 funnel). A series is (6 + eta) times a plateau, a
 * ramp up or a ramp down on [a, b], plus N(0, 1) noise at every step, with eta ~ N(0, 1) and,
 * for 128 steps, a uniform in [16, 32] and b - a in [32, 96] (scaled to the length; b cut at
 * the end). x (n, length, 1) float32 (channels last, for Conv1D), y (n) int64, meta with the
 * class names; the same seed gives the same set. Fails on n < 1 or length < 8. */
RB_API rb_status rb_cylinder_bell_funnel(int64_t n, int length, uint64_t seed, rb_dataset *out);

#ifdef __cplusplus
}
#endif
#endif
