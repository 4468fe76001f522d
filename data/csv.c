/* Generic CSV files of numeric columns: features and one target column. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets_impl.h"

/* Index of the target column among cols, from the options; -1 with an error otherwise. */
static int target_index(const char *path, rb_csv_options o, char **names, int cols)
{
    if (o.target) {
        if (o.no_header)
            return rb_error(RB_ERR_ARGUMENT,
                            "rb_csv_load: '%s': a target by name ('%s') needs a header line", path,
                            o.target),
                   -1;
        for (int c = 0; c < cols; c++)
            if (strcmp(names[c], o.target) == 0) return c;
        char known[512] = "";
        for (int c = 0; c < cols && strlen(known) < sizeof known - 64; c++) {
            strncat(known, c ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, names[c], sizeof known - strlen(known) - 1);
        }
        return rb_error(RB_ERR_NOT_FOUND, "rb_csv_load: '%s' has no column '%s' (columns: %s)",
                        path, o.target, known),
               -1;
    }
    if (o.target_column < 0 || o.target_column > cols)
        return rb_error(RB_ERR_ARGUMENT, "rb_csv_load: '%s': target column %d of %d", path,
                        o.target_column, cols),
               -1;
    return o.target_column ? o.target_column - 1 : cols - 1;
}

/* x, y and meta from parsed values (rows x cols), the target at column t. */
static rb_status assemble(const char *path, rb_csv_options o, char **names, int cols, int t,
                          const double *v, int64_t rows, rb_dataset *out)
{
    int64_t n_classes = 0;
    if (o.classification)
        for (int64_t i = 0; i < rows; i++) {
            double label = v[i * cols + t];
            if (!(label >= 0 && label == floor(label) && label < 1e6))
                return rb_error(
                    RB_ERR_FORMAT,
                    "%s:%lld: class label %g in column %d is not a small non-negative integer",
                    path, (long long)(i + 1 + !o.no_header), label, t + 1);
            if ((int64_t)label + 1 > n_classes) n_classes = (int64_t)label + 1;
        }
    rb_dtype dtype = o.dtype == RB_F64 ? RB_F64 : RB_F32;
    out->x = rb_tensor_empty_persistent(dtype, RB_SHAPE(rows, cols - 1));
    out->y = o.classification ? rb_tensor_empty_persistent(RB_I64, RB_SHAPE(rows))
                              : rb_tensor_empty_persistent(dtype, RB_SHAPE(rows, 1));
    out->meta = rb__meta_new(path, path, cols - 1, (int)n_classes);
    if (!out->x || !out->y || !out->meta) return rb_last_status();
    for (int64_t i = 0; i < rows; i++) {
        int64_t k = 0;
        for (int c = 0; c < cols; c++) {
            double value = v[i * cols + c];
            if (c == t) {
                if (o.classification)
                    rb_tensor_i64(out->y)[i] = (int64_t)value;
                else if (dtype == RB_F32)
                    rb_tensor_f32(out->y)[i] = (float)value;
                else
                    rb_tensor_f64(out->y)[i] = value;
            } else if (dtype == RB_F32)
                rb_tensor_f32(out->x)[i * (cols - 1) + k++] = (float)value;
            else
                rb_tensor_f64(out->x)[i * (cols - 1) + k++] = value;
        }
    }
    char generated[24];
    int k = 0;
    for (int c = 0; c < cols; c++) {
        const char *name =
            names ? names[c] : (snprintf(generated, sizeof generated, "c%d", c + 1), generated);
        if (!rb__meta_set_name(c == t ? &out->meta->target_name : &out->meta->feature_names[k],
                               name))
            return rb_last_status();
        if (c != t) k++;
    }
    for (int64_t c = 0; c < n_classes; c++) {
        snprintf(generated, sizeof generated, "%lld", (long long)c);
        if (!rb__meta_set_name(&out->meta->class_names[c], generated)) return rb_last_status();
    }
    return RB_OK;
}

rb_status rb_csv_load(const char *path, rb_csv_options o, rb_dataset *out)
{
    if (!path || !out) return rb_error(RB_ERR_ARGUMENT, "rb_csv_load: NULL argument");
    *out = (rb_dataset){0};
    char delim = o.delimiter ? o.delimiter : ',';
    char *text;
    size_t len;
    rb_status st = rb__read_text(path, "rb_csv_load", &text, &len);
    if (st != RB_OK) return st;
    rb__lines lines = {0};
    char **names = NULL;
    double *values = NULL;
    int64_t rows = 0;
    int cols = 0, t = -1;
    st = rb__split_lines(text, &lines);
    if (st == RB_OK && lines.n == 0)
        st = rb_error(RB_ERR_FORMAT, "rb_csv_load: '%s' is empty", path);
    if (st == RB_OK) {
        /* The first line fixes the column count; it names them unless no_header. */
        char *first = strdup(lines.line[0]);
        cols = first ? rb__split_fields(first, delim, NULL, 0) : 0;
        names = cols ? malloc(sizeof(char *) * (size_t)cols) : NULL;
        if (!first || !names)
            st = rb_error(RB_ERR_MEMORY, "rb_csv_load: '%s': out of memory for the header line",
                          path);
        else if (cols < 2)
            st =
                rb_error(RB_ERR_FORMAT, "%s:1: %d column; needs features and a target", path, cols);
        else if (!o.no_header)
            rb__split_fields(lines.line[0], delim, names, cols);
        free(first);
    }
    if (st == RB_OK && (t = target_index(path, o, names, cols)) < 0) st = rb_last_status();
    if (st == RB_OK)
        st = rb__parse_numeric_rows(path, &lines, o.no_header ? 0 : 1, cols, delim,
                                    (rb__number_rule){"rb_csv_load", o.allow_nonfinite,
                                                      o.dtype == RB_F64 ? DBL_MAX : FLT_MAX},
                                    &values, &rows);
    if (st == RB_OK && rows == 0)
        st = rb_error(RB_ERR_FORMAT, "rb_csv_load: '%s' has no data rows", path);
    if (st == RB_OK) st = assemble(path, o, o.no_header ? NULL : names, cols, t, values, rows, out);
    if (st == RB_OK) {
        /* A CSV's name is its file name without folders. */
        const char *base = strrchr(path, '/');
        if (!rb__meta_set_name(&out->meta->name, base ? base + 1 : path)) st = rb_last_status();
    }
    if (st != RB_OK) rb_dataset_free(out);
    free(values);
    free(names);
    rb__lines_free(&lines);
    free(text);
    return st;
}
