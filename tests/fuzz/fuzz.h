/* Shared by the fuzz targets (libFuzzer): the readers read files, so each input is written to a
 * file in a temporary folder of this process, removed at exit. Besides what the sanitizers
 * catch (memory errors, leaks, undefined behaviour), every target checks the loaders' contract:
 * a refusal returns the status it records, leaves no output behind and names the file. */
#ifndef RUBAN_FUZZ_H
#define RUBAN_FUZZ_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ruban.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken contract: say which and abort, so that libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond);                       \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char fuzz_dir_[1024];

static inline void fuzz_remove_dir_(void)
{
    DIR *d = opendir(fuzz_dir_);
    if (!d) return;
    char path[2048];
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(path, sizeof path, "%s/%s", fuzz_dir_, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(fuzz_dir_);
}

/* The folder the inputs go to, made on first use ($TMPDIR or /tmp). */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/ruban-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        FUZZ_CHECK(mkdtemp(fuzz_dir_), "cannot make a folder %s", fuzz_dir_);
        atexit(fuzz_remove_dir_);
    }
    return fuzz_dir_;
}

/* Write bytes to file `name` of the folder; returns its path (valid until the next call). */
static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    static char path[2048];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f, "cannot write %s", path);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size, "cannot write %zu bytes to %s", size, path);
    FUZZ_CHECK(fclose(f) == 0, "cannot write %s", path);
    return path;
}

/* A refusal: the status returned is the one recorded, and the message names the file. Clears
 * the error for the next input. */
static inline void fuzz_check_refusal(rb_status st, const char *path)
{
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    FUZZ_CHECK(st != RB_OK, "no error");
    FUZZ_CHECK(rb_last_status() == st, "returned %s, recorded %s (\"%s\")", rb_status_name(st),
               rb_status_name(rb_last_status()), rb_last_error());
    FUZZ_CHECK(strstr(rb_last_error(), name), "the message \"%s\" does not name %s",
               rb_last_error(), name);
    rb_error_clear();
}

/* Read every element (a tensor smaller than its shape says is then a sanitizer report); the sum
 * is returned so that the reads are not optimised away. */
static inline double fuzz_touch(const rb_tensor *t)
{
    double sum = 0;
    int64_t n = rb_tensor_size(t);
    for (int64_t i = 0; i < n; i++)
        sum += rb_tensor_get_flat(t, i);
    return sum;
}

/* A data set the loaders returned: x and y hold the same number of rows, every value and every
 * name of the metadata can be read, class labels are classes. */
static inline void fuzz_check_dataset(const rb_dataset *d)
{
    FUZZ_CHECK(d->x && d->y && d->meta, "a missing part");
    int64_t rows = rb_tensor_dim(d->x, 0);
    FUZZ_CHECK(rows >= 1 && rb_tensor_dim(d->y, 0) == rows, "%lld rows of x, %lld of y",
               (long long)rows, (long long)rb_tensor_dim(d->y, 0));
    FUZZ_CHECK(rb_tensor_size(d->x) / rows == d->meta->n_features, "%lld values a row, %d features",
               (long long)(rb_tensor_size(d->x) / rows), d->meta->n_features);
    volatile double sum = fuzz_touch(d->x) + fuzz_touch(d->y);
    (void)sum;
    size_t len = strlen(d->meta->name) + strlen(d->meta->source) + strlen(d->meta->target_name);
    for (int i = 0; i < d->meta->n_features; i++)
        len += strlen(d->meta->feature_names[i]);
    for (int c = 0; c < d->meta->n_classes && d->meta->class_names; c++)
        len += strlen(d->meta->class_names[c]);
    (void)len;
    if (d->meta->n_classes > 0) {
        FUZZ_CHECK(rb_tensor_dtype(d->y) == RB_I64, "class labels not int64");
        for (int64_t i = 0; i < rb_tensor_size(d->y); i++)
            FUZZ_CHECK(rb_tensor_i64(d->y)[i] >= 0 && rb_tensor_i64(d->y)[i] < d->meta->n_classes,
                       "label %lld of %d classes", (long long)rb_tensor_i64(d->y)[i],
                       d->meta->n_classes);
    }
}

/* A refused data set holds nothing. */
static inline void fuzz_check_empty(const rb_dataset *d)
{
    FUZZ_CHECK(!d->x && !d->y && !d->meta, "a refused load left a part behind");
}

#endif
