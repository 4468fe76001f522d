/* Data: IDX files (good, compressed, malformed), locating data sets, MNIST, minibatches. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

/* Write bytes to the test folder's name, gzip-compressed when gz. */
static void write_file(const char *name, const unsigned char *bytes, size_t n, bool gz)
{
    if (gz) {
        gzFile f = gzopen(test_path(name), "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, bytes, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(test_path(name), "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, n, f), n);
        fclose(f);
    }
}

/* An IDX ubyte file with extents dims and payload bytes (count - drop of them). */
static size_t idx_bytes(unsigned char *out, unsigned type, int ndim, const uint32_t *dims,
                        const unsigned char *payload, size_t payload_len)
{
    size_t n = 0;
    out[n++] = 0;
    out[n++] = 0;
    out[n++] = (unsigned char)type;
    out[n++] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++) {
        out[n++] = (unsigned char)(dims[d] >> 24);
        out[n++] = (unsigned char)(dims[d] >> 16);
        out[n++] = (unsigned char)(dims[d] >> 8);
        out[n++] = (unsigned char)dims[d];
    }
    memcpy(out + n, payload, payload_len);
    return n + payload_len;
}

static void ubyte_images_load_scaled(void **state)
{
    (void)state;
    unsigned char buf[64], px[6] = {0, 51, 102, 153, 204, 255};
    size_t n = idx_bytes(buf, 0x08, 3, (uint32_t[]){1, 2, 3}, px, 6);
    write_file("img", buf, n, false);
    rb_tensor *t = NULL;
    CHECK_STATUS_OK(rb_idx_load(test_path("img"), RB_F32, 1.0 / 255, &t));
    CHECK_SHAPE(t, 1, 2, 3);
    CHECK_TENSOR(t, 1e-7, 0, 0.2, 0.4, 0.6, 0.8, 1.0);
    rb_tensor_free(t);
}

static void gzip_files_load_like_plain_ones(void **state)
{
    (void)state;
    unsigned char buf[64], lab[4] = {7, 2, 1, 0};
    size_t n = idx_bytes(buf, 0x08, 1, (uint32_t[]){4}, lab, 4);
    write_file("lab.gz", buf, n, true);
    rb_tensor *t = NULL;
    CHECK_STATUS_OK(rb_idx_load(test_path("lab.gz"), RB_I64, 1, &t));
    assert_int_equal(rb_tensor_dtype(t), RB_I64);
    CHECK_TENSOR(t, 0, 7, 2, 1, 0);
    rb_tensor_free(t);
}

static void big_endian_ints_and_floats_decode(void **state)
{
    (void)state;
    unsigned char buf[64];
    /* int32 -2 and 258, big-endian */
    unsigned char ints[8] = {0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x01, 0x02};
    write_file("ints", buf, idx_bytes(buf, 0x0C, 1, (uint32_t[]){2}, ints, 8), false);
    rb_tensor *t = NULL;
    CHECK_STATUS_OK(rb_idx_load(test_path("ints"), RB_F64, 1, &t));
    CHECK_TENSOR(t, 0, -2, 258);
    rb_tensor_free(t);
    unsigned char flt[4] = {0x3f, 0xc0, 0x00, 0x00}; /* 1.5f */
    write_file("flt", buf, idx_bytes(buf, 0x0D, 1, (uint32_t[]){1}, flt, 4), false);
    CHECK_STATUS_OK(rb_idx_load(test_path("flt"), RB_F32, 2, &t));
    CHECK_TENSOR(t, 0, 3.0);
    rb_tensor_free(t);
}

static void a_wrong_magic_number_is_refused_at_byte_0(void **state)
{
    (void)state;
    unsigned char bad[8] = {0x1f, 0x00, 0x08, 0x01, 0, 0, 0, 0};
    write_file("bad", bad, 8, false);
    rb_tensor *t = (rb_tensor *)1;
    CHECK_FAILS(rb_idx_load(test_path("bad"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "bad magic number 0x1f000801 at byte 0");
    assert_null(t);
    unsigned char type[8] = {0, 0, 0x07, 0x01, 0, 0, 0, 1};
    write_file("type", type, 8, false);
    CHECK_FAILS(rb_idx_load(test_path("type"), RB_F32, 1, &t), RB_ERR_FORMAT, "bad magic number");
    unsigned char dims[4] = {0, 0, 0x08, 9};
    write_file("dims", dims, 4, false);
    CHECK_FAILS(rb_idx_load(test_path("dims"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "9 dimensions at byte 3");
}

static void truncated_files_name_the_byte(void **state)
{
    (void)state;
    unsigned char buf[64], px[6] = {1, 2, 3, 4, 5, 6};
    size_t n = idx_bytes(buf, 0x08, 2, (uint32_t[]){2, 3}, px, 6);
    rb_tensor *t = NULL;
    write_file("short", buf, n - 2, false);
    CHECK_FAILS(rb_idx_load(test_path("short"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "truncated at byte 16 of 18");
    write_file("short.gz", buf, n - 2, true);
    CHECK_FAILS(rb_idx_load(test_path("short.gz"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "truncated at byte 16 of 18");
    /* A gzip trailer forged to claim the whole size over a short content: the payload goes
     * the streamed way (into a tensor allocated up front), and zlib's own check of the trailer
     * refuses the file. */
    FILE *g = fopen(test_path("short.gz"), "r+b");
    assert_non_null(g);
    assert_int_equal(fseek(g, -4, SEEK_END), 0);
    unsigned char isize[4] = {(unsigned char)n, 0, 0, 0};
    assert_int_equal(fwrite(isize, 1, 4, g), 4);
    fclose(g);
    CHECK_FAILS(rb_idx_load(test_path("short.gz"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "corrupt compressed data");
    write_file("head", buf, 6, false);
    CHECK_FAILS(rb_idx_load(test_path("head"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "truncated at byte 6 of the 12-byte header");
    write_file("empty", buf, 0, false);
    CHECK_FAILS(rb_idx_load(test_path("empty"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "truncated at byte 0 of the 4-byte magic number");
    assert_null(t);
}

static void extra_bytes_after_the_data_are_refused(void **state)
{
    (void)state;
    unsigned char buf[64], px[3] = {1, 2, 3};
    size_t n = idx_bytes(buf, 0x08, 1, (uint32_t[]){2}, px, 3);
    write_file("long", buf, n, false);
    rb_tensor *t = NULL;
    CHECK_FAILS(rb_idx_load(test_path("long"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "unexpected data after byte 10");
}

static void missing_and_corrupt_files_are_errors(void **state)
{
    (void)state;
    rb_tensor *t = NULL;
    CHECK_FAILS(rb_idx_load(test_path("nothing-here"), RB_F32, 1, &t), RB_ERR_IO, "cannot open");
    /* A gzip header followed by garbage. */
    unsigned char junk[32] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef};
    write_file("junk.gz", junk, sizeof junk, false);
    CHECK_FAILS(rb_idx_load(test_path("junk.gz"), RB_F32, 1, &t), RB_ERR_FORMAT, "junk.gz");
    assert_null(t);
}

/* 28 bytes whose header announces 2^32 (or 2^50) bytes of pixels: refused by comparing with
 * the file, before anything of that size is allocated, with the byte where the data ends. */
static void a_header_announcing_more_than_the_file_is_refused_before_allocating(void **state)
{
    (void)state;
    unsigned char buf[64], px[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    rb_tensor *t = NULL;
    size_t n = idx_bytes(buf, 0x08, 3, (uint32_t[]){65536, 256, 256}, px, 12);
    assert_int_equal(n, 28);
    write_file("claims-4gib", buf, n, false);
    CHECK_FAILS(rb_idx_load(test_path("claims-4gib"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "claims-4gib': truncated at byte 28 of 4294967312");
    n = idx_bytes(buf, 0x08, 3, (uint32_t[]){1u << 20, 1u << 20, 1u << 10}, px, 12);
    write_file("claims-1pib", buf, n, false);
    CHECK_FAILS(rb_idx_load(test_path("claims-1pib"), RB_I64, 1, &t), RB_ERR_FORMAT,
                "truncated at byte 28 of 1125899906842640");
    /* Compressed, the size is not known in advance: read in steps, it ends just the same. */
    write_file("claims-1pib.gz", buf, n, true);
    CHECK_FAILS(rb_idx_load(test_path("claims-1pib.gz"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "truncated at byte 28 of 1125899906842640");
    /* Extents whose product overflows: the header bytes are named. */
    n = idx_bytes(buf, 0x0E, 4, (uint32_t[]){~0u, ~0u, ~0u, ~0u}, px, 12);
    write_file("claims-2^128", buf, n, false);
    CHECK_FAILS(rb_idx_load(test_path("claims-2^128"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "the extents at bytes 4..19");
    assert_null(t);
}

/* Found by fuzzing (tests/fuzz/fuzz_idx.c): extents whose bytes fit as unsigned bytes but not as
 * the float32 or int64 asked for, with no element (a zero extent), are refused naming the file
 * and the header bytes, like every other size the header announces. */
static void extents_too_large_for_the_dtype_asked_name_the_file(void **state)
{
    (void)state;
    unsigned char buf[64], none[1] = {0};
    /* 0 x 2^27 x 2^28: 2^55 bytes of unsigned bytes, 2^57 of float32, 2^58 of int64. */
    size_t n = idx_bytes(buf, 0x08, 3, (uint32_t[]){0, 1u << 27, 1u << 28}, none, 0);
    write_file("wide-and-empty", buf, n, false);
    rb_tensor *t = NULL;
    CHECK_FAILS(rb_idx_load(test_path("wide-and-empty"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "wide-and-empty': the extents at bytes 4..15: shape [0,134217728,268435456] is too large");
    CHECK_FAILS(rb_idx_load(test_path("wide-and-empty"), RB_I64, 1, &t), RB_ERR_FORMAT,
                "wide-and-empty': the extents at bytes 4..15");
    assert_null(t);
    /* As 8-byte doubles the extents were always too large. */
    buf[2] = 0x0E;
    write_file("wide-doubles", buf, n, false);
    CHECK_FAILS(rb_idx_load(test_path("wide-doubles"), RB_F64, 1, &t), RB_ERR_FORMAT,
                "wide-doubles': the extents at bytes 4..15");
}

/* Found by fuzzing (tests/fuzz/fuzz_idx.c): a gzip file of 42 bytes whose header announces
 * 2^31 + 2 images of 28 x 28 and whose last four bytes (the content's size modulo 2^32) agree
 * with it, so the tensor was allocated up front: terabytes. Deflate packs at most 1,032 bytes
 * into one, so such a claim is read as it comes and found truncated. */
static void a_gzip_trailer_agreeing_modulo_2_32_allocates_nothing_large(void **state)
{
    (void)state;
    static const unsigned char found[42] = {
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x01, 0x30, 0x06, 0xcf,
        0xf9, 0x00, 0x00, 0x08, 0x03, 0x80, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x1c, 0x00,
        0x00, 0x00, 0x1c, 0x37, 0x53, 0xc9, 0xc4, 0x76, 0xc5, 0x52, 0x30, 0x06, 0x00, 0x00};
    write_file("agrees.gz", found, sizeof found, false);
    rb_tensor *t = NULL;
    CHECK_FAILS(rb_idx_load(test_path("agrees.gz"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "agrees.gz': truncated at byte 27 of 1683627181616");
    assert_null(t);
    /* Made on purpose: (2^20 + 1) x 2^20 bytes announced, 2^20 zeros written. */
    size_t size = 12 + ((size_t)1 << 20);
    unsigned char *bytes = calloc(size, 1);
    assert_non_null(bytes);
    idx_bytes(bytes, 0x08, 2, (uint32_t[]){(1u << 20) + 1, 1u << 20}, bytes, 0);
    write_file("claims-2^40.gz", bytes, size, true);
    free(bytes);
    CHECK_FAILS(rb_idx_load(test_path("claims-2^40.gz"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "claims-2^40.gz': truncated at byte 1048588 of 1099512676364");
    assert_null(t);
}

static void a_folder_is_not_an_idx_file(void **state)
{
    (void)state;
    rb_tensor *t = NULL;
    CHECK_FAILS(rb_idx_load(test_dir(), RB_F32, 1, &t), RB_ERR_IO, "is a folder");
    assert_null(t);
}

/* Doubles (type 0x0E) read as int64 labels: NaN, 1e30 and 2.5 are no labels. */
static void labels_an_int64_cannot_hold_are_refused_with_their_byte(void **state)
{
    (void)state;
    double values[3][3] = {{1, 2, NAN}, {1, 1e30, 0}, {2.5, 1, 0}};
    const char *needles[3] = {"value nan at byte 24 does not fit int64",
                              "value 1e+30 at byte 16 does not fit int64",
                              "value 2.5 at byte 8 is not a whole number"};
    for (int k = 0; k < 3; k++) {
        unsigned char payload[24], buf[64];
        for (int i = 0; i < 3; i++) {
            uint64_t u;
            memcpy(&u, &values[k][i], 8);
            for (int b = 0; b < 8; b++)
                payload[8 * i + b] = (unsigned char)(u >> (56 - 8 * b));
        }
        write_file("labels", buf, idx_bytes(buf, 0x0E, 1, (uint32_t[]){3}, payload, 24), false);
        rb_tensor *t = NULL;
        CHECK_FAILS(rb_idx_load(test_path("labels"), RB_I64, 1, &t), RB_ERR_FORMAT, needles[k]);
        assert_null(t);
        /* As float64 they load as they are. */
        CHECK_STATUS_OK(rb_idx_load(test_path("labels"), RB_F64, 1, &t));
        rb_tensor_free(t);
    }
    /* A double beyond float32's range is no float32 either. */
    unsigned char huge[8] = {0x7f, 0xe0, 0, 0, 0, 0, 0, 0}, buf[64]; /* 2^1023 */
    write_file("huge", buf, idx_bytes(buf, 0x0E, 1, (uint32_t[]){1}, huge, 8), false);
    rb_tensor *t = NULL;
    CHECK_FAILS(rb_idx_load(test_path("huge"), RB_F32, 1, &t), RB_ERR_FORMAT,
                "at byte 8 does not fit float32");
}

/* A tiny MNIST-shaped data set in the test folder's mnist/: n images of 28x28 and their labels. */
static void write_mini_mnist(int64_t n_train, int64_t n_labels)
{
    char sub[128];
    snprintf(sub, sizeof sub, "%s/mnist", test_dir());
    mkdir(sub, 0700);
    static unsigned char buf[16 + 20 * 784];
    unsigned char px[20 * 784], lab[20];
    for (int i = 0; i < 20 * 784; i++)
        px[i] = (unsigned char)(i % 256);
    for (int i = 0; i < 20; i++)
        lab[i] = (unsigned char)(i % 10);
    size_t n =
        idx_bytes(buf, 0x08, 3, (uint32_t[]){(uint32_t)n_train, 28, 28}, px, (size_t)n_train * 784);
    write_file("mnist/train-images-idx3-ubyte.gz", buf, n, true);
    n = idx_bytes(buf, 0x08, 1, (uint32_t[]){(uint32_t)n_labels}, lab, (size_t)n_labels);
    write_file("mnist/train-labels-idx1-ubyte", buf, n, false);
    n = idx_bytes(buf, 0x08, 3, (uint32_t[]){5, 28, 28}, px, 5 * 784);
    write_file("mnist/t10k-images-idx3-ubyte", buf, n, false);
    n = idx_bytes(buf, 0x08, 1, (uint32_t[]){5}, lab, 5);
    write_file("mnist/t10k-labels-idx1-ubyte", buf, n, false);
}

static void mnist_loads_flattened_images_and_labels(void **state)
{
    (void)state;
    write_mini_mnist(12, 12);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/mnist", test_dir());
    rb_dataset train, test;
    CHECK_STATUS_OK(rb_mnist_load(sub, &train, &test));
    CHECK_SHAPE(train.x, 12, 784);
    CHECK_SHAPE(train.y, 12);
    CHECK_SHAPE(test.x, 5, 784);
    CHECK_CLOSE(rb_tensor_get(train.x, (int64_t[]){0, 255}), 1.0, 1e-7);
    CHECK_CLOSE(rb_tensor_get(train.y, (int64_t[]){11}), 1, 0);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    /* RUBAN_DATA points at the parent folder holding mnist/. */
    setenv("RUBAN_DATA", test_dir(), 1);
    CHECK_STATUS_OK(rb_mnist_load(NULL, &train, &test));
    unsetenv("RUBAN_DATA");
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    /* The training set alone. */
    CHECK_STATUS_OK(rb_mnist_load(sub, &train, NULL));
    CHECK_SHAPE(train.x, 12, 784);
    rb_dataset_free(&train);
}

static void mnist_with_mismatched_labels_is_refused(void **state)
{
    (void)state;
    write_mini_mnist(12, 10);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/mnist", test_dir());
    rb_dataset train, test;
    CHECK_FAILS(rb_mnist_load(sub, &train, &test), RB_ERR_FORMAT, "10 labels for 12 images");
    assert_null(train.x);
}

static void a_missing_data_set_says_how_to_get_it(void **state)
{
    (void)state;
    rb_dataset train, test;
    setenv("XDG_CACHE_HOME", test_dir(), 1); /* an empty cache */
    unsetenv("RUBAN_DATA");
    CHECK_FAILS(rb_mnist_load(NULL, &train, &test), RB_ERR_NOT_FOUND, "scripts/fetch-data.sh");
    unsetenv("XDG_CACHE_HOME");
    char found[256];
    CHECK_FAILS(rb_data_find("mnist", "x", "/nonexistent", found, sizeof found), RB_ERR_NOT_FOUND,
                "'x' not found in /nonexistent");
}

static void batches_cover_every_row_once_per_epoch(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_arange(RB_F32, 0, 10, 1);
    rb_tensor *x2 = rb_reshape(x, RB_SHAPE(10, 1));
    rb_tensor *y = rb_tensor_arange(RB_I64, 0, 10, 1);
    rb_batcher *b = rb_batcher_new(x2, y, 4, true, 1);
    assert_int_equal(rb_batcher_num_batches(b), 3);
    int first_order[10], k = 0;
    for (int epoch = 0; epoch < 2; epoch++) {
        int seen[10] = {0}, sizes[3], nb = 0, pos = 0;
        rb_tensor *xb, *yb;
        while (rb_batcher_next(b, &xb, &yb)) {
            sizes[nb++] = (int)rb_tensor_dim(xb, 0);
            for (int64_t i = 0; i < rb_tensor_dim(xb, 0); i++) {
                int v = (int)rb_tensor_get(xb, (int64_t[]){i, 0});
                assert_int_equal(v, (int)rb_tensor_get(yb, (int64_t[]){i})); /* rows stay paired */
                seen[v]++;
                if (epoch == 0)
                    first_order[k++] = v;
                else if (v != first_order[pos])
                    k = -100; /* reshuffled */
                pos++;
            }
        }
        assert_int_equal(nb, 3);
        assert_int_equal(sizes[2], 2); /* the last batch is the rest */
        for (int i = 0; i < 10; i++)
            assert_int_equal(seen[i], 1);
    }
    assert_true(k < 0);
    rb_batcher_free(b);
}

static void batcher_arguments_are_checked(void **state)
{
    (void)state;
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(5, 2)),
              *y = rb_tensor_zeros(RB_I64, RB_SHAPE(4));
    CHECK_FAILS(rb_batcher_new(x, y, 2, false, 0), RB_ERR_SHAPE, "differ in rows");
    CHECK_FAILS(rb_batcher_new(x, NULL, 0, false, 0), RB_ERR_ARGUMENT, "batch size 0");
    rb_batcher *b = rb_batcher_new(x, NULL, 2, false, 0);
    CHECK_OK(b);
    rb_tensor *xb, *yb = NULL;
    assert_true(rb_batcher_next(b, &xb, &yb));
    assert_null(yb);
    rb_batcher_free(b);
}

static void dataset_head_copies_the_first_rows(void **state)
{
    (void)state;
    rb_dataset d = {.x = rb_tensor_arange(RB_F64, 0, 6, 1),
                    .y = rb_tensor_arange(RB_I64, 10, 16, 1)};
    rb_dataset h;
    CHECK_STATUS_OK(rb_dataset_head(&d, 2, &h));
    CHECK_TENSOR(h.x, 0, 0, 1);
    CHECK_TENSOR(h.y, 0, 10, 11);
    rb_dataset_free(&h); /* the copies belong to the caller, whatever scope is active */
    CHECK_FAILS(rb_dataset_head(&d, 7, &h), RB_ERR_ARGUMENT, "7 rows asked of 6");
}

/* MNIST as bytes: the same pixels, a quarter of the memory; batches drawn through a converting
 * batcher hold the bits rb_mnist_load holds, in the same order. */
static void mnist_as_bytes_gives_float_batches_equal_to_the_float_set(void **state)
{
    (void)state;
    write_mini_mnist(12, 12);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/mnist", test_dir());
    rb_dataset f, u, ft, ut;
    CHECK_STATUS_OK(rb_mnist_load(sub, &f, &ft));
    CHECK_STATUS_OK(rb_mnist_load_bytes(sub, &u, &ut));
    assert_int_equal(rb_tensor_dtype(u.x), RB_U8);
    CHECK_SHAPE(u.x, 12, 784);
    CHECK_SHAPE(ut.x, 5, 784);
    assert_int_equal(rb_tensor_u8(u.x)[255], 255);
    assert_int_equal(rb_tensor_dtype(u.y), RB_I64);
    rb_batcher *bf = rb_batcher_new(f.x, f.y, 5, true, 3), *bu = rb_batcher_new(u.x, u.y, 5, true, 3);
    CHECK_STATUS_OK(rb_batcher_convert(bu, RB_F32, 1.0 / 255));
    for (int epoch = 0; epoch < 2; epoch++) {
        rb_tensor *xf, *yf, *xu, *yu;
        int batches = 0;
        while (rb_batcher_next(bf, &xf, &yf)) {
            assert_true(rb_batcher_next(bu, &xu, &yu));
            assert_int_equal(rb_tensor_dtype(xu), RB_F32);
            CHECK_SHAPE(xu, rb_tensor_dim(xf, 0), 784); /* the last batch is smaller */
            assert_memory_equal(rb_tensor_f32(xf), rb_tensor_f32(xu),
                                sizeof(float) * (size_t)rb_tensor_size(xf));
            assert_memory_equal(rb_tensor_i64(yf), rb_tensor_i64(yu),
                                sizeof(int64_t) * (size_t)rb_tensor_size(yf));
            batches++;
        }
        assert_false(rb_batcher_next(bu, &xu, &yu));
        assert_int_equal(batches, 3);
    }
    /* float64 batches, another scale; refused: an integer dtype, a bad scale, mid-epoch. */
    rb_batcher *b = rb_batcher_new(u.x, NULL, 4, false, 0);
    CHECK_FAILS(rb_batcher_convert(b, RB_I64, 1), RB_ERR_DTYPE, "batches of int64 asked");
    CHECK_FAILS(rb_batcher_convert(b, RB_F32, NAN), RB_ERR_ARGUMENT, "scale nan");
    CHECK_STATUS_OK(rb_batcher_convert(b, RB_F64, 2));
    rb_tensor *xb;
    assert_true(rb_batcher_next(b, &xb, NULL));
    assert_int_equal(rb_tensor_dtype(xb), RB_F64);
    CHECK_CLOSE(rb_tensor_get(xb, (int64_t[]){0, 255}), 510, 0);
    CHECK_FAILS(rb_batcher_convert(b, RB_F32, 1), RB_ERR_STATE, "middle of an epoch");
    /* An op given the bytes says what it expects. */
    CHECK_FAILS(rb_relu(u.x), RB_ERR_DTYPE, "expects a float32 or float64 tensor, got uint8");
    rb_batcher_free(b);
    rb_batcher_free(bf);
    rb_batcher_free(bu);
    rb_dataset_free(&f);
    rb_dataset_free(&ft);
    rb_dataset_free(&u);
    rb_dataset_free(&ut);
}

/* A sharded batcher converts its slices too. */
static void a_sharded_batcher_converts_its_slice(void **state)
{
    (void)state;
    uint8_t v[12];
    for (int i = 0; i < 12; i++)
        v[i] = (uint8_t)(10 * i);
    rb_tensor *x = rb_tensor_from_data(RB_U8, RB_SHAPE(6, 2), v);
    rb_batcher *b = rb_batcher_new(x, NULL, 4, false, 0);
    CHECK_STATUS_OK(rb_batcher_convert(b, RB_F32, 0.5));
    CHECK_STATUS_OK(rb_batcher_shard(b, 1, 2));
    rb_tensor *xb;
    assert_true(rb_batcher_next(b, &xb, NULL));
    CHECK_TENSOR(xb, 0, 20, 25, 30, 35); /* rows 2 and 3 of the first batch, halved */
    assert_true(rb_batcher_next(b, &xb, NULL));
    CHECK_TENSOR(xb, 0, 50, 55); /* row 5 of the last batch (rows 4, 5) */
    rb_batcher_free(b);
}

/* IDX bytes as uint8: kept as they are; a value that is no byte is refused with its byte. */
static void idx_files_load_as_uint8(void **state)
{
    (void)state;
    unsigned char buf[64], px[6] = {0, 51, 102, 153, 204, 255};
    write_file("img8", buf, idx_bytes(buf, 0x08, 2, (uint32_t[]){2, 3}, px, 6), false);
    rb_tensor *t = NULL;
    CHECK_STATUS_OK(rb_idx_load(test_path("img8"), RB_U8, 1, &t));
    assert_int_equal(rb_tensor_dtype(t), RB_U8);
    assert_memory_equal(rb_tensor_u8(t), px, 6);
    rb_tensor_free(t);
    unsigned char ints[8] = {0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x01, 0x02}; /* int32 7, 258 */
    write_file("ints8", buf, idx_bytes(buf, 0x0C, 1, (uint32_t[]){2}, ints, 8), false);
    CHECK_FAILS(rb_idx_load(test_path("ints8"), RB_U8, 1, &t), RB_ERR_FORMAT,
                "value 258 at byte 12 is not a whole number in [0, 255]");
    CHECK_FAILS(rb_idx_load(test_path("img8"), RB_U8, 0.5, &t), RB_ERR_FORMAT,
                "value 25.5 at byte 13 is not a whole number in [0, 255]");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(ubyte_images_load_scaled),
        TEST(gzip_files_load_like_plain_ones),
        TEST(big_endian_ints_and_floats_decode),
        TEST(a_wrong_magic_number_is_refused_at_byte_0),
        TEST(truncated_files_name_the_byte),
        TEST(extra_bytes_after_the_data_are_refused),
        TEST(missing_and_corrupt_files_are_errors),
        TEST(a_header_announcing_more_than_the_file_is_refused_before_allocating),
        TEST(extents_too_large_for_the_dtype_asked_name_the_file),
        TEST(a_gzip_trailer_agreeing_modulo_2_32_allocates_nothing_large),
        TEST(a_folder_is_not_an_idx_file),
        TEST(labels_an_int64_cannot_hold_are_refused_with_their_byte),
        TEST(mnist_loads_flattened_images_and_labels),
        TEST(mnist_with_mismatched_labels_is_refused),
        TEST(a_missing_data_set_says_how_to_get_it),
        TEST(batches_cover_every_row_once_per_epoch),
        TEST(batcher_arguments_are_checked),
        TEST(dataset_head_copies_the_first_rows),
        TEST(mnist_as_bytes_gives_float_batches_equal_to_the_float_set),
        TEST(a_sharded_batcher_converts_its_slice),
        TEST(idx_files_load_as_uint8),
    };
    return RUN_TESTS_IN_DIR(tests, argc, argv);
}
