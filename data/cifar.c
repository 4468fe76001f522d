/* CIFAR-10, binary version: records of one label byte and 3 x 1,024 pixel bytes (red, green,
 * blue planes of 32 x 32, row-major), turned channels-last. */
#include <stdlib.h>
#include <string.h>

#include "datasets_impl.h"

enum { SIDE = 32, PLANE = SIDE * SIDE, RECORD = 1 + 3 * PLANE };

const char *const rb_cifar10_classes[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                            "dog",      "frog",       "horse", "ship", "truck"};

/* Records of `bytes` into x (N, 32, 32, 3), float32 in [0, 1] (xf) or the bytes (xb), and y. */
static rb_status decode(const char *who, const char *path, const unsigned char *bytes,
                        int64_t records, float *xf, uint8_t *xb, int64_t *y)
{
    for (int64_t r = 0; r < records; r++) {
        const unsigned char *rec = bytes + r * RECORD;
        if (rec[0] > 9)
            return rb_error(RB_ERR_FORMAT,
                            "%s: '%s': byte %lld (label of record %lld) is %d, not a class 0..9",
                            who, path, (long long)(r * RECORD), (long long)r, rec[0]);
        y[r] = rec[0];
        if (xb) {
            uint8_t *img = xb + r * PLANE * 3;
            for (int p = 0; p < PLANE; p++)
                for (int c = 0; c < 3; c++)
                    img[p * 3 + c] = rec[1 + c * PLANE + p];
            continue;
        }
        float *img = xf + r * PLANE * 3;
        for (int p = 0; p < PLANE; p++)
            for (int c = 0; c < 3; c++)
                img[p * 3 + c] = rec[1 + c * PLANE + p] * (1.0f / 255.0f);
    }
    return RB_OK;
}

static rb_status load_files(const char *const *paths, int n_files, const char *name,
                            const char *who, rb_dtype dtype, rb_dataset *out)
{
    *out = (rb_dataset){0};
    unsigned char *blobs[8] = {0};
    size_t sizes[8] = {0};
    int64_t total = 0;
    rb_status st = RB_OK;
    for (int i = 0; i < n_files && st == RB_OK; i++) {
        int64_t size;
        FILE *f = rb_file_open_read(paths[i], who, &size);
        if (!f) {
            st = rb_last_status();
            break;
        }
        /* The size is checked before anything is allocated for the file. */
        if (size < 0)
            st = rb_error(RB_ERR_IO, "%s: '%s' is not a regular file", who, paths[i]);
        else if (size == 0 || size % RECORD != 0)
            st = rb_error(
                RB_ERR_FORMAT,
                "%s: '%s': %lld bytes is not a whole number of %d-byte records (truncated after byte %lld?)",
                who, paths[i], (long long)size, RECORD, (long long)(size - size % RECORD));
        else if ((uint64_t)size > (uint64_t)RB_MAX_BYTES)
            st = rb_error(RB_ERR_FORMAT, "%s: '%s': %lld bytes is too large", who, paths[i],
                          (long long)size);
        else if (!(blobs[i] = malloc((size_t)size)))
            st = rb_error(RB_ERR_MEMORY, "%s: '%s': out of memory: %lld bytes requested", who,
                          paths[i], (long long)size);
        else if (fread(blobs[i], 1, (size_t)size, f) != (size_t)size)
            st = rb_error(RB_ERR_IO, "%s: '%s': read failed before byte %lld", who, paths[i],
                          (long long)size);
        fclose(f);
        if (st != RB_OK) break;
        sizes[i] = (size_t)size;
        total += size / RECORD; /* at most RB_MAX_BYTES / RECORD per file */
    }
    if (st == RB_OK) {
        out->x = rb_tensor_empty_persistent(dtype, RB_SHAPE(total, SIDE, SIDE, 3)); /* checked */
        out->y = rb_tensor_empty_persistent(RB_I64, RB_SHAPE(total));
        out->meta = rb__meta_new(name, paths[0], PLANE * 3, 10);
        if (!out->x || !out->y || !out->meta) st = rb_last_status();
    }
    int64_t row = 0;
    for (int i = 0; i < n_files && st == RB_OK; i++) {
        int64_t records = (int64_t)(sizes[i] / RECORD);
        bool bytes = dtype == RB_U8;
        st = decode(who, paths[i], blobs[i], records,
                    bytes ? NULL : rb_tensor_f32(out->x) + row * PLANE * 3,
                    bytes ? rb_tensor_u8(out->x) + row * PLANE * 3 : NULL,
                    rb_tensor_i64(out->y) + row);
        row += records;
    }
    char buf[32];
    for (int k = 0; st == RB_OK && k < PLANE * 3; k++) {
        snprintf(buf, sizeof buf, "pixel_%d_%d_%c", k / (SIDE * 3), k / 3 % SIDE, "rgb"[k % 3]);
        if (!rb__meta_set_name(&out->meta->feature_names[k], buf)) st = rb_last_status();
    }
    for (int c = 0; st == RB_OK && c < 10; c++)
        if (!rb__meta_set_name(&out->meta->class_names[c], rb_cifar10_classes[c]))
            st = rb_last_status();
    if (st == RB_OK && !rb__meta_set_name(&out->meta->target_name, "label")) st = rb_last_status();
    for (int i = 0; i < n_files; i++)
        free(blobs[i]);
    if (st != RB_OK) rb_dataset_free(out);
    return st;
}

rb_status rb_cifar10_load_batch(const char *path, rb_dataset *out)
{
    if (!path || !out) return rb_error(RB_ERR_ARGUMENT, "rb_cifar10_load_batch: NULL argument");
    return load_files(&path, 1, "cifar10", "rb_cifar10_load_batch", RB_F32, out);
}

static rb_status load_sets(const char *dir, rb_dtype dtype, const char *who, rb_dataset *train,
                           rb_dataset *test)
{
    if (!train || !test) return rb_error(RB_ERR_ARGUMENT, "%s: NULL output", who);
    *train = *test = (rb_dataset){0};
    char found[6][1024];
    const char *paths[6];
    for (int i = 0; i < 6; i++) {
        char file[32];
        if (i < 5)
            snprintf(file, sizeof file, "data_batch_%d.bin", i + 1);
        else
            snprintf(file, sizeof file, "test_batch.bin");
        if (rb__data_find_in("cifar10", file, dir, NULL, found[i], sizeof found[i]) != RB_OK)
            return rb_last_status();
        paths[i] = found[i];
    }
    rb_status st = load_files(paths, 5, "cifar10", who, dtype, train);
    if (st == RB_OK) st = load_files(paths + 5, 1, "cifar10", who, dtype, test);
    if (st != RB_OK) rb_dataset_free(train);
    return st;
}

rb_status rb_cifar10_load(const char *dir, rb_dataset *train, rb_dataset *test)
{
    return load_sets(dir, RB_F32, "rb_cifar10_load", train, test);
}

rb_status rb_cifar10_load_bytes(const char *dir, rb_dataset *train, rb_dataset *test)
{
    return load_sets(dir, RB_U8, "rb_cifar10_load_bytes", train, test);
}
