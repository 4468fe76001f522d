/* Data sets: locating files, MNIST, copies of the first rows. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "datasets_impl.h"

rb_tensor *rb__rows_like_as(const rb_tensor *src, int64_t rows, rb_dtype dtype)
{
    int64_t shape[RB_MAX_DIMS];
    int ndim = rb_tensor_ndim(src);
    memcpy(shape, rb_tensor_shape(src), sizeof(int64_t) * (size_t)ndim);
    shape[0] = rows;
    return rb_tensor_empty_persistent(dtype, ndim, shape);
}

rb_tensor *rb__rows_like(const rb_tensor *src, int64_t rows)
{
    return rb__rows_like_as(src, rows, rb_tensor_dtype(src));
}

void rb__copy_row_scaled(rb_tensor *dst, int64_t i, const rb_tensor *src, int64_t r,
                         double scale)
{
    int64_t rows = rb_tensor_dim(src, 0), per_row = rows ? rb_tensor_size(src) / rows : 0;
    bool contiguous = rb_tensor_is_contiguous(src) && rb_tensor_is_contiguous(dst);
    if (contiguous && rb_tensor_dtype(src) == RB_U8 && rb_tensor_dtype(dst) == RB_F32) {
        const uint8_t *in = rb_tensor_u8(src) + r * per_row;
        float *out = rb_tensor_f32(dst) + i * per_row, s = (float)scale;
        for (int64_t k = 0; k < per_row; k++)
            out[k] = (float)in[k] * s;
        return;
    }
    void *out = rb_tensor_data(dst);
    for (int64_t k = 0; k < per_row; k++) {
        double v = rb_tensor_get_flat(src, r * per_row + k) * scale;
        int64_t o = i * per_row + k;
        if (rb_tensor_dtype(dst) == RB_F32)
            ((float *)out)[o] = (float)v;
        else
            ((double *)out)[o] = v;
    }
}

void rb__copy_row(rb_tensor *dst, int64_t i, const rb_tensor *src, int64_t r)
{
    int64_t rows = rb_tensor_dim(src, 0), per_row = rows ? rb_tensor_size(src) / rows : 0;
    if (rb_tensor_is_contiguous(src) && rb_tensor_is_contiguous(dst)) {
        size_t es = rb_dtype_size(rb_tensor_dtype(src));
        memcpy((char *)rb_tensor_data(dst) + (size_t)(i * per_row) * es,
               (const char *)rb_tensor_data(src) + (size_t)(r * per_row) * es,
               (size_t)per_row * es);
        return;
    }
    /* dst is contiguous (made by rb__rows_like); a strided source is read element by element.
     * Written directly, not with rb_tensor_set_flat: rows are copied from several threads. */
    void *out = rb_tensor_data(dst);
    for (int64_t k = 0; k < per_row; k++) {
        double v = rb_tensor_get_flat(src, r * per_row + k);
        int64_t o = i * per_row + k;
        switch (rb_tensor_dtype(dst)) {
        case RB_F32: ((float *)out)[o] = (float)v; break;
        case RB_F64: ((double *)out)[o] = v; break;
        case RB_I64: ((int64_t *)out)[o] = (int64_t)v; break;
        case RB_U8: ((uint8_t *)out)[o] = (uint8_t)v; break;
        }
    }
}

void rb_dataset_free(rb_dataset *d)
{
    if (!d) return;
    rb_tensor_free(d->x);
    rb_tensor_free(d->y);
    rb__meta_free(d->meta);
    d->x = d->y = NULL;
    d->meta = NULL;
}

static bool readable(const char *path) { return access(path, R_OK) == 0; }

/* Try dir/file and dir/file.gz. */
static bool try_dir(const char *dir, const char *file, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", dir, file);
    if (readable(out)) return true;
    snprintf(out, size, "%s/%s.gz", dir, file);
    return readable(out);
}

rb_status rb__data_find_in(const char *set, const char *file, const char *dir,
                           const char *system_dir, char *out, size_t size)
{
    if (!set || !file || !out || size == 0)
        return rb_error(RB_ERR_ARGUMENT, "rb_data_find: NULL argument");
    char tried[2048] = "";
    char place[1024];
    if (dir) {
        if (try_dir(dir, file, out, size)) return RB_OK;
        return rb_error(RB_ERR_NOT_FOUND, "%s: '%s' not found in %s", set, file, dir);
    }
    const char *places[4];
    char env_place[1024] = "", cache_place[1024], debian_place[1024];
    int n = 0;
    const char *env = getenv("RUBAN_DATA");
    if (env && *env) {
        snprintf(env_place, sizeof env_place, "%s/%s", env, set);
        places[n++] = env_place;
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(cache_place, sizeof cache_place, "%s/ruban/%s", xdg, set);
    else
        snprintf(cache_place, sizeof cache_place, "%s/.cache/ruban/%s", home ? home : ".", set);
    places[n++] = cache_place;
    /* Debian's dataset packages (dataset-fashion-mnist), then the package of this set. */
    snprintf(debian_place, sizeof debian_place, "/usr/share/datasets/%s", set);
    places[n++] = debian_place;
    if (system_dir) places[n++] = system_dir;
    for (int i = 0; i < n; i++) {
        snprintf(place, sizeof place, "%s", places[i]);
        if (try_dir(place, file, out, size)) return RB_OK;
        if (i) strncat(tried, ", ", sizeof tried - strlen(tried) - 1);
        strncat(tried, place, sizeof tried - strlen(tried) - 1);
    }
    return rb_error(
        RB_ERR_NOT_FOUND,
        "%s: '%s' not found (looked in %s); fetch it with scripts/fetch-data.sh %s, or set RUBAN_DATA to a folder holding %s/",
        set, file, tried, set, set);
}

rb_status rb_data_find(const char *set, const char *file, const char *dir, char *out, size_t size)
{
    return rb__data_find_in(set, file, dir, NULL, out, size);
}

/* Images (N, rows, cols) flattened to (N, rows*cols), float32 in [0, 1] or the file's bytes
 * (uint8), and labels (N). */
static rb_status load_split(const char *set, const char *dir, const char *images,
                            const char *labels, rb_dtype dtype, rb_dataset *out)
{
    char path[1024];
    *out = (rb_dataset){0};
    if (rb_data_find(set, images, dir, path, sizeof path) != RB_OK) return rb_last_status();
    rb_tensor *x = NULL, *y = NULL;
    if (rb_idx_load(path, dtype, dtype == RB_U8 ? 1.0 : 1.0 / 255.0, &x) != RB_OK)
        return rb_last_status();
    if (rb_tensor_ndim(x) != 3) {
        rb_tensor_free(x);
        return rb_error(RB_ERR_FORMAT,
                        "loading %s: '%s' holds %d-D data, expected images (N, rows, cols)", set,
                        path, rb_tensor_ndim(x));
    }
    if (rb_data_find(set, labels, dir, path, sizeof path) != RB_OK ||
        rb_idx_load(path, RB_I64, 1.0, &y) != RB_OK) {
        rb_tensor_free(x);
        return rb_last_status();
    }
    int64_t n = rb_tensor_dim(x, 0);
    if (rb_tensor_ndim(y) != 1 || rb_tensor_dim(y, 0) != n) {
        rb_status st = rb_error(RB_ERR_FORMAT, "loading %s: '%s' has %lld labels for %lld images",
                                set, path, (long long)rb_tensor_size(y), (long long)n);
        rb_tensor_free(x);
        rb_tensor_free(y);
        return st;
    }
    /* A contiguous reshape: the same block seen as (N, 784). */
    rb_tensor_set_shape(x, RB_SHAPE(n, rb_tensor_dim(x, 1) * rb_tensor_dim(x, 2)));
    out->x = x;
    out->y = y;
    return RB_OK;
}

/* MNIST and Fashion-MNIST share their file names and format. */
static rb_status load_mnist_like(const char *set, const char *dir, rb_dtype dtype,
                                 rb_dataset *train, rb_dataset *test)
{
    if (!train) return rb_error(RB_ERR_ARGUMENT, "loading %s: NULL output", set);
    *train = (rb_dataset){0};
    if (test) *test = (rb_dataset){0};
    rb_status st =
        load_split(set, dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte", dtype, train);
    if (st == RB_OK && test)
        st = load_split(set, dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", dtype,
                        test);
    if (st != RB_OK) rb_dataset_free(train);
    return st;
}

rb_status rb_mnist_load(const char *dir, rb_dataset *train, rb_dataset *test)
{
    return load_mnist_like("mnist", dir, RB_F32, train, test);
}

rb_status rb_fashion_mnist_load(const char *dir, rb_dataset *train, rb_dataset *test)
{
    return load_mnist_like("fashion-mnist", dir, RB_F32, train, test);
}

rb_status rb_mnist_load_bytes(const char *dir, rb_dataset *train, rb_dataset *test)
{
    return load_mnist_like("mnist", dir, RB_U8, train, test);
}

rb_status rb_fashion_mnist_load_bytes(const char *dir, rb_dataset *train, rb_dataset *test)
{
    return load_mnist_like("fashion-mnist", dir, RB_U8, train, test);
}

const char *const rb_fashion_mnist_classes[10] = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                  "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};

rb_status rb_dataset_head(const rb_dataset *d, int64_t n, rb_dataset *out)
{
    if (!d || !out || !d->x) return rb_error(RB_ERR_ARGUMENT, "rb_dataset_head: NULL argument");
    *out = (rb_dataset){0};
    int64_t rows = rb_tensor_dim(d->x, 0);
    if (n < 0 || n > rows)
        return rb_error(RB_ERR_ARGUMENT, "rb_dataset_head: %lld rows asked of %lld", (long long)n,
                        (long long)rows);
    rb_tensor *src[2] = {d->x, d->y};
    rb_tensor **dst[2] = {&out->x, &out->y};
    for (int k = 0; k < 2; k++) {
        if (!src[k]) continue;
        rb_tensor *t = rb__rows_like(src[k], n);
        if (!t) {
            rb_dataset_free(out);
            return rb_last_status();
        }
        for (int64_t i = 0; i < n; i++)
            rb__copy_row(t, i, src[k], i);
        *dst[k] = t;
    }
    if (d->meta && !(out->meta = rb__meta_copy(d->meta))) {
        rb_dataset_free(out);
        return rb_last_status();
    }
    return RB_OK;
}
