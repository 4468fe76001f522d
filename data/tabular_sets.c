/* scikit-learn's small tabular sets (the CSV files Debian's python3-sklearn ships) and
 * California housing (StatLib's cal_housing.data), with sklearn's feature names. */
#include <float.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "datasets_impl.h"

/* Where Debian's python3-sklearn keeps them. */
#define SKLEARN_SYSTEM_DIR "/usr/lib/python3/dist-packages/sklearn/datasets/data"

static const char *const iris_features[] = {"sepal length (cm)", "sepal width (cm)",
                                            "petal length (cm)", "petal width (cm)"};
static const char *const wine_features[] = {
    "alcohol",         "malic_acid",      "ash",        "alcalinity_of_ash",
    "magnesium",       "total_phenols",   "flavanoids", "nonflavanoid_phenols",
    "proanthocyanins", "color_intensity", "hue",        "od280/od315_of_diluted_wines",
    "proline"};
static const char *const cancer_measures[] = {
    "radius",      "texture",   "perimeter",      "area",     "smoothness",
    "compactness", "concavity", "concave points", "symmetry", "fractal dimension"};

typedef enum layout {
    COUNTS_AND_CLASSES, /* "N,F,class names..." then rows of F features and a label */
    COUNTS_THEN_HEADER, /* "N,F" then a header line then rows (boston) */
    BARE_ROWS           /* rows only, label last (digits) */
} layout;

typedef struct sklearn_set {
    const char *name, *file;
    layout layout;
    int features, classes; /* classes 0: regression */
} sklearn_set;

static const sklearn_set sklearn_sets[] = {
    {"iris", "iris.csv", COUNTS_AND_CLASSES, 4, 3},
    {"wine", "wine_data.csv", COUNTS_AND_CLASSES, 13, 3},
    {"breast_cancer", "breast_cancer.csv", COUNTS_AND_CLASSES, 30, 2},
    {"digits", "digits.csv", BARE_ROWS, 64, 10},
    {"boston", "boston_house_prices.csv", COUNTS_THEN_HEADER, 13, 0},
};

/* Feature and class names that the CSV files do not carry (sklearn's loaders hard-code them). */
static bool name_features(const sklearn_set *s, rb_dataset_meta *m, char **header)
{
    char buf[48];
    for (int i = 0; i < s->features; i++) {
        const char *name = buf;
        if (strcmp(s->name, "iris") == 0)
            name = iris_features[i];
        else if (strcmp(s->name, "wine") == 0)
            name = wine_features[i];
        else if (strcmp(s->name, "breast_cancer") == 0) {
            const char *measure = cancer_measures[i % 10];
            if (i < 10)
                snprintf(buf, sizeof buf, "mean %s", measure);
            else if (i < 20)
                snprintf(buf, sizeof buf, "%s error", measure);
            else
                snprintf(buf, sizeof buf, "worst %s", measure);
        } else if (strcmp(s->name, "digits") == 0)
            snprintf(buf, sizeof buf, "pixel_%d_%d", i / 8, i % 8);
        else
            name = header[i];
        if (!rb__meta_set_name(&m->feature_names[i], name)) return false;
    }
    if (strcmp(s->name, "digits") == 0)
        for (int c = 0; c < 10; c++) {
            snprintf(buf, sizeof buf, "%d", c);
            if (!rb__meta_set_name(&m->class_names[c], buf)) return false;
        }
    return rb__meta_set_name(&m->target_name, s->classes ? "target" : header[s->features]);
}

/* The first line's counts (and class names) against what the set should hold. */
static rb_status check_counts(const char *path, const sklearn_set *s, char *line, char **classes,
                              int64_t *declared_rows)
{
    char *fields[64];
    int n = rb__split_fields(line, ',', fields, 64);
    char *end;
    long rows = n >= 2 ? strtol(fields[0], &end, 10) : -1;
    if (n >= 2 && (*end || rows == LONG_MAX)) rows = -1;
    long features = n >= 2 ? strtol(fields[1], &end, 10) : -1;
    if (n >= 2 && *end) features = -1;
    if (n < 2 || rows <= 0 || features != s->features)
        return rb_error(RB_ERR_FORMAT, "%s:1: expected '<rows>,%d,...' for %s", path, s->features,
                        s->name);
    if (s->layout == COUNTS_AND_CLASSES) {
        if (n != 2 + s->classes)
            return rb_error(RB_ERR_FORMAT, "%s:1: %d class names, expected %d", path, n - 2,
                            s->classes);
        for (int c = 0; c < s->classes; c++)
            classes[c] = fields[2 + c];
    }
    *declared_rows = rows;
    return RB_OK;
}

static rb_status build(const char *path, const sklearn_set *s, rb__lines *lines, rb_dataset *out)
{
    int64_t first = 0, declared = -1;
    char *classes[16] = {0}, *header[64] = {0};
    rb_status st = RB_OK;
    if (s->layout != BARE_ROWS) {
        if (lines->n < 2) return rb_error(RB_ERR_FORMAT, "'%s': truncated after line 1", path);
        st = check_counts(path, s, lines->line[0], classes, &declared);
        first = 1;
    }
    if (st == RB_OK && s->layout == COUNTS_THEN_HEADER) {
        if (rb__split_fields(lines->line[1], ',', header, 64) != s->features + 1)
            st = rb_error(RB_ERR_FORMAT, "%s:2: expected %d column names", path, s->features + 1);
        first = 2;
    }
    double *v = NULL;
    int64_t rows = 0;
    int cols = s->features + 1;
    if (st == RB_OK)
        st =
            rb__parse_numeric_rows(path, lines, first, cols, ',',
                                   (rb__number_rule){"rb_sklearn_load", false, FLT_MAX}, &v, &rows);
    if (st == RB_OK && rows == 0)
        st = rb_error(RB_ERR_FORMAT, "rb_sklearn_load: '%s' has no data rows", path);
    if (st == RB_OK && declared >= 0 && rows != declared)
        st = rb_error(RB_ERR_FORMAT, "'%s': %lld data rows, its first line says %lld", path,
                      (long long)rows, (long long)declared);
    for (int64_t i = 0; st == RB_OK && s->classes && i < rows; i++) {
        double label = v[i * cols + s->features];
        if (!(label >= 0 && label < s->classes && label == (double)(int)label))
            st = rb_error(RB_ERR_FORMAT, "%s:%lld: label %g is not a class of %s (0..%d)", path,
                          (long long)(first + i + 1), label, s->name, s->classes - 1);
    }
    if (st == RB_OK) {
        out->x = rb_tensor_empty_persistent(RB_F32, RB_SHAPE(rows, s->features));
        out->y = s->classes ? rb_tensor_empty_persistent(RB_I64, RB_SHAPE(rows))
                            : rb_tensor_empty_persistent(RB_F32, RB_SHAPE(rows, 1));
        out->meta = rb__meta_new(s->name, path, s->features, s->classes);
        if (!out->x || !out->y || !out->meta) st = rb_last_status();
    }
    if (st == RB_OK) {
        float *x = rb_tensor_f32(out->x);
        for (int64_t i = 0; i < rows; i++) {
            for (int f = 0; f < s->features; f++)
                x[i * s->features + f] = (float)v[i * cols + f];
            double target = v[i * cols + s->features];
            if (s->classes)
                rb_tensor_i64(out->y)[i] = (int64_t)target;
            else
                rb_tensor_f32(out->y)[i] = (float)target;
        }
        for (int c = 0; c < s->classes && classes[0]; c++)
            if (!rb__meta_set_name(&out->meta->class_names[c], classes[c])) st = rb_last_status();
        if (st == RB_OK && !name_features(s, out->meta, header)) st = rb_last_status();
    }
    free(v);
    return st;
}

rb_status rb_sklearn_load(const char *name, const char *dir, rb_dataset *out)
{
    if (!name || !out) return rb_error(RB_ERR_ARGUMENT, "rb_sklearn_load: NULL argument");
    *out = (rb_dataset){0};
    const sklearn_set *s = NULL;
    for (size_t i = 0; i < sizeof sklearn_sets / sizeof *sklearn_sets; i++)
        if (strcmp(sklearn_sets[i].name, name) == 0) s = &sklearn_sets[i];
    if (!s)
        return rb_error(
            RB_ERR_NOT_FOUND,
            "rb_sklearn_load: no set '%s' (known: iris, wine, breast_cancer, digits, boston)",
            name);
    char path[1024];
    if (rb__data_find_in("sklearn", s->file, dir, SKLEARN_SYSTEM_DIR, path, sizeof path) != RB_OK)
        return rb_last_status();
    char *text;
    size_t len;
    rb_status st = rb__read_text(path, "rb_sklearn_load", &text, &len);
    if (st != RB_OK) return st;
    rb__lines lines = {0};
    st = rb__split_lines(text, &lines);
    if (st == RB_OK) st = build(path, s, &lines, out);
    if (st != RB_OK) rb_dataset_free(out);
    rb__lines_free(&lines);
    free(text);
    return st;
}

/* ---- California housing ---- */

/* cal_housing.data columns: longitude, latitude, housingMedianAge, totalRooms, totalBedrooms,
 * population, households, medianIncome, medianHouseValue. */
enum { LON, LAT, AGE, ROOMS, BEDROOMS, POPULATION, HOUSEHOLDS, INCOME, VALUE, CAL_COLS };

static const char *const california_features[8] = {"MedInc",    "HouseAge",   "AveRooms",
                                                   "AveBedrms", "Population", "AveOccup",
                                                   "Latitude",  "Longitude"};

rb_status rb_california_housing_load(const char *path, rb_dataset *out)
{
    if (!out) return rb_error(RB_ERR_ARGUMENT, "rb_california_housing_load: NULL output");
    *out = (rb_dataset){0};
    char found[1024];
    if (!path) {
        if (rb__data_find_in("california_housing", "cal_housing.data", NULL, NULL, found,
                             sizeof found) != RB_OK)
            return rb_last_status();
        path = found;
    }
    char *text;
    size_t len;
    rb_status st = rb__read_text(path, "rb_california_housing_load", &text, &len);
    if (st != RB_OK) return st;
    rb__lines lines = {0};
    double *v = NULL;
    int64_t rows = 0;
    st = rb__split_lines(text, &lines);
    if (st == RB_OK)
        st = rb__parse_numeric_rows(path, &lines, 0, CAL_COLS, ',',
                                    (rb__number_rule){"rb_california_housing_load", false, FLT_MAX},
                                    &v, &rows);
    if (st == RB_OK && rows == 0)
        st = rb_error(RB_ERR_FORMAT, "rb_california_housing_load: '%s' has no data rows", path);
    for (int64_t i = 0; st == RB_OK && i < rows; i++)
        if (!(v[i * CAL_COLS + HOUSEHOLDS] > 0))
            st = rb_error(
                RB_ERR_FORMAT,
                "%s:%lld: column %d (households) is %g; it divides rooms, bedrooms and population",
                path, (long long)(i + 1), HOUSEHOLDS + 1, v[i * CAL_COLS + HOUSEHOLDS]);
    if (st == RB_OK) {
        out->x = rb_tensor_empty_persistent(RB_F32, RB_SHAPE(rows, 8));
        out->y = rb_tensor_empty_persistent(RB_F32, RB_SHAPE(rows, 1));
        out->meta = rb__meta_new("california_housing", path, 8, 0);
        if (!out->x || !out->y || !out->meta) st = rb_last_status();
    }
    if (st == RB_OK) {
        float *x = rb_tensor_f32(out->x), *y = rb_tensor_f32(out->y);
        for (int64_t i = 0; i < rows; i++) {
            const double *r = v + i * CAL_COLS;
            double f[8] = {r[INCOME],
                           r[AGE],
                           r[ROOMS] / r[HOUSEHOLDS],
                           r[BEDROOMS] / r[HOUSEHOLDS],
                           r[POPULATION],
                           r[POPULATION] / r[HOUSEHOLDS],
                           r[LAT],
                           r[LON]};
            for (int k = 0; k < 8; k++)
                x[i * 8 + k] = (float)f[k];
            y[i] = (float)(r[VALUE] / 100000.0);
        }
        for (int k = 0; k < 8 && st == RB_OK; k++)
            if (!rb__meta_set_name(&out->meta->feature_names[k], california_features[k]))
                st = rb_last_status();
        if (st == RB_OK && !rb__meta_set_name(&out->meta->target_name, "MedHouseVal"))
            st = rb_last_status();
    }
    if (st != RB_OK) rb_dataset_free(out);
    free(v);
    rb__lines_free(&lines);
    free(text);
    return st;
}
