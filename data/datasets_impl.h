/* Shared by the data-set loaders: whole-file reads, a numeric CSV reader that reports file and
 * line, and metadata helpers. Internal. */
#ifndef RUBAN_SRC_DATASETS_IMPL_H
#define RUBAN_SRC_DATASETS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "ruban.h"
#include "ruban/datasets.h"

/* Raise an error and evaluate to NULL: `return RB__FAIL(RB_ERR_SHAPE, "...", ...);`. */
#define RB__FAIL(...) (rb_error(__VA_ARGS__), NULL)
#define rb__shp       rb_tensor_shape_text

/* A tensor of src's dtype and shape with `rows` on the first axis, owned by the caller. */
rb_tensor *rb__rows_like(const rb_tensor *src, int64_t rows);
/* The same of another dtype. */
rb_tensor *rb__rows_like_as(const rb_tensor *src, int64_t rows, rb_dtype dtype);
/* Copy row r of src into row i of dst (same dtype and row shape; any layout of src, dst
 * contiguous). Safe to call from several threads on different rows. */
void rb__copy_row(rb_tensor *dst, int64_t i, const rb_tensor *src, int64_t r);
/* The same into a float dst of any dtype, each value times scale: uint8 pixels to float32 as
 * (float)v * (float)scale, the bits rb_idx_load gives for the same file. */
void rb__copy_row_scaled(rb_tensor *dst, int64_t i, const rb_tensor *src, int64_t r,
                         double scale);

/* rb_data_find with one more system folder to search last (NULL: none). */
rb_status rb__data_find_in(const char *set, const char *file, const char *dir,
                           const char *system_dir, char *out, size_t size);

/* The whole file, decompressed if it is gzip (zlib reads plain files as they are), with a
 * terminating NUL. Errors name `who` (the public loader) and the file. The caller frees *text. */
rb_status rb__read_text(const char *path, const char *who, char **text, size_t *len);

/* The file's lines, split in place (the text is modified). Line i starts at lines[i]; "\r\n"
 * endings are accepted. */
typedef struct rb__lines {
    char **line;
    int64_t n;
} rb__lines;
rb_status rb__split_lines(char *text, rb__lines *out);
void rb__lines_free(rb__lines *l);

/* Split one line into fields at `delim`, in place; strips blanks and one pair of double
 * quotes around each field. Returns the field count (fields beyond max are counted, not
 * stored). */
int rb__split_fields(char *line, char delim, char **fields, int max);

/* What a numeric field may hold: finite values up to max_abs (FLT_MAX for float32 data,
 * DBL_MAX otherwise) unless non-finite ones (nan, inf, overflows) are allowed. */
typedef struct rb__number_rule {
    const char *who; /* the public loader, for messages */
    bool allow_nonfinite;
    double max_abs;
} rb__number_rule;

/* Numeric rows: lines [first, lines->n) of `path`, each with exactly `cols` fields, into
 * values (row-major, rows x cols; caller frees). Blank lines at the end are ignored; any other
 * malformed line, or a field the rule refuses, fails with "path:line: column k: ...". */
rb_status rb__parse_numeric_rows(const char *path, rb__lines *lines, int64_t first, int cols,
                                 char delim, rb__number_rule rule, double **values, int64_t *rows);

/* Metadata: a new record with n_features unnamed features (names set afterwards with
 * rb__meta_set_name), or NULL on allocation failure (error recorded). */
rb_dataset_meta *rb__meta_new(const char *name, const char *source, int n_features, int n_classes);
/* Copy s into *slot (freeing what was there); false when out of memory. */
bool rb__meta_set_name(char **slot, const char *s);
rb_dataset_meta *rb__meta_copy(const rb_dataset_meta *m);
void rb__meta_free(rb_dataset_meta *m);

#endif
