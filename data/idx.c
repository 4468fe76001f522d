/* IDX files (the MNIST format): a magic number naming the element type and rank, big-endian
 * extents, then the values. zlib reads plain and gzip files alike. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets_impl.h"

typedef struct idx_type {
    unsigned code;
    const char *name;
    size_t size;
} idx_type;

static const idx_type idx_types[] = {{0x08, "unsigned byte", 1}, {0x09, "signed byte", 1},
                                     {0x0B, "short", 2},         {0x0C, "int", 4},
                                     {0x0D, "float", 4},         {0x0E, "double", 8}};

static const idx_type *find_type(unsigned code)
{
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == code) return &idx_types[i];
    return NULL;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Big-endian value of one element as double. */
static double decode(const idx_type *t, const unsigned char *p)
{
    switch (t->code) {
    case 0x08: return p[0];
    case 0x09: return (signed char)p[0];
    case 0x0B: return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C: return (int32_t)be32(p);
    case 0x0D: {
        uint32_t u = be32(p);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case 0x0E: {
        uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    }
    return 0;
}

/* Read exactly n bytes; returns the count read (short on EOF) or -1 on a zlib error. */
static long long read_fully(gzFile f, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, buf + got, chunk);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

/* Close the file and raise "rb_idx_load: '<path>': <detail>". */
static rb_status fail(gzFile f, rb_status st, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static rb_status fail(gzFile f, rb_status st, const char *path, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (f) gzclose(f);
    return rb_error(st, "rb_idx_load: '%s': %s", path, detail);
}

/* The payload of a file whose size could not be checked, read progressively: memory grows with
 * what the file really holds, not with what its header announces. */
static rb_status read_payload(gzFile f, const char *path, long long header, long long payload,
                              unsigned char **out)
{
    size_t cap = payload < (1 << 20) ? (size_t)payload : (size_t)1 << 20, got = 0;
    unsigned char *raw = malloc(cap + 1);
    while (raw) {
        long long n = read_fully(f, raw + got, cap - got);
        if (n < 0) {
            free(raw);
            return fail(f, RB_ERR_FORMAT, path, "corrupt compressed data after byte %lld",
                        header + (long long)got);
        }
        got += (size_t)n;
        if (got < cap) {
            free(raw);
            return fail(f, RB_ERR_FORMAT, path, "truncated at byte %lld of %lld",
                        header + (long long)got, header + payload);
        }
        if (got == (size_t)payload) break;
        cap = (size_t)payload - cap < cap ? (size_t)payload : 2 * cap;
        unsigned char *bigger = realloc(raw, cap + 1);
        if (!bigger) free(raw);
        raw = bigger;
    }
    if (!raw) return fail(f, RB_ERR_MEMORY, path, "out of memory: %zu bytes requested", cap + 1);
    *out = raw;
    return RB_OK;
}

/* Value i of raw, scaled, into t; values that the dtype cannot hold (an int64 label that is
 * NaN, 1e30 or 2.5; a double beyond float32's range) are refused with their byte. */
static rb_status convert(const idx_type *type, const unsigned char *raw, int64_t first,
                         int64_t count, double scale, long long header, const char *path,
                         rb_tensor *t)
{
    rb_dtype dtype = rb_tensor_dtype(t);
    if (dtype == RB_F32 && type->code == 0x08) {
        float *dst = (float *)rb_tensor_data(t) + first, s = (float)scale; /* kept fast */
        for (int64_t i = 0; i < count; i++)
            dst[i] = (float)raw[i] * s;
        return RB_OK;
    }
    if (dtype == RB_U8 && type->code == 0x08 && scale == 1.0) { /* bytes as they are */
        memcpy(rb_tensor_u8(t) + first, raw, (size_t)count);
        return RB_OK;
    }
    for (int64_t k = 0; k < count; k++) {
        int64_t i = first + k;
        double v = decode(type, raw + (size_t)k * type->size) * scale;
        const char *why = NULL;
        if (dtype == RB_I64 && !(v >= -0x1p63 && v < 0x1p63))
            why = "does not fit int64";
        else if (dtype == RB_I64 && v != floor(v))
            why = "is not a whole number (int64 requested)";
        else if (dtype == RB_F32 && isfinite(v) && fabs(v) > FLT_MAX)
            why = "does not fit float32";
        else if (dtype == RB_U8 && !(v >= 0 && v <= 255 && v == floor(v)))
            why = "is not a whole number in [0, 255] (uint8 requested)";
        if (why)
            return rb_error(RB_ERR_FORMAT, "rb_idx_load: '%s': value %g at byte %lld %s", path, v,
                            header + i * (long long)type->size, why);
        switch (dtype) {
        case RB_F32: ((float *)rb_tensor_data(t))[i] = (float)v; break;
        case RB_F64: ((double *)rb_tensor_data(t))[i] = v; break;
        case RB_I64: ((int64_t *)rb_tensor_data(t))[i] = (int64_t)v; break;
        case RB_U8: ((uint8_t *)rb_tensor_data(t))[i] = (uint8_t)v; break;
        }
    }
    return RB_OK;
}

/* Elements read and converted a chunk at a time: memory holds the tensor and one chunk, not
 * the whole raw payload beside it (MNIST's training images: 47 MB). Only for a payload whose
 * size was checked against the file. */
enum { STREAM_CHUNK_BYTES = 1 << 20 };

static rb_status stream_payload(gzFile f, const idx_type *type, int64_t count, double scale,
                                long long header, const char *path, rb_tensor *t)
{
    /* A small file gets a chunk of its own size, not a megabyte. */
    int64_t per_chunk = STREAM_CHUNK_BYTES / (int64_t)type->size;
    if (count < per_chunk) per_chunk = count > 0 ? count : 1;
    unsigned char *raw = malloc((size_t)per_chunk * type->size);
    if (!raw)
        return fail(f, RB_ERR_MEMORY, path, "out of memory: %lld bytes requested",
                    (long long)per_chunk * (long long)type->size);
    rb_status st = RB_OK;
    for (int64_t first = 0; first < count && st == RB_OK; first += per_chunk) {
        int64_t n = count - first < per_chunk ? count - first : per_chunk;
        long long want = (long long)n * (long long)type->size;
        long long got = read_fully(f, raw, (size_t)want);
        long long at = header + first * (long long)type->size;
        if (got < 0)
            st = rb_error(RB_ERR_FORMAT,
                          "rb_idx_load: '%s': corrupt compressed data after byte %lld", path, at);
        else if (got < want)
            st = rb_error(RB_ERR_FORMAT, "rb_idx_load: '%s': truncated at byte %lld of %lld", path,
                          at + got, header + count * (long long)type->size);
        else
            st = convert(type, raw, first, n, scale, header, path, t);
    }
    free(raw);
    return st;
}

/* A gzip file's last four bytes hold the size of its content modulo 2^32 (RFC 1952): when it
 * agrees with the header's, the payload can be streamed into a tensor allocated up front. Only
 * for a size the file can hold: deflate packs at most 1,032 bytes into one, and a header of
 * 2^40 bytes in a file of 42 whose trailer agrees modulo 2^32 must not allocate terabytes. */
static bool gzip_trailer_agrees(int fd, int64_t file_size, long long end)
{
    unsigned char t[4];
    if (file_size < 18 || end / 1032 > file_size) return false;
    if (pread(fd, t, 4, (off_t)(file_size - 4)) != 4) return false;
    uint32_t isize =
        (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    return isize == (uint32_t)end;
}

rb_status rb_idx_load(const char *path, rb_dtype dtype, double scale, rb_tensor **out)
{
    if (!out) return rb_error(RB_ERR_ARGUMENT, "rb_idx_load: out is NULL");
    *out = NULL;
    if (!path) return rb_error(RB_ERR_ARGUMENT, "rb_idx_load: path is NULL");
    int64_t file_size;
    FILE *plain_file = rb_file_open_read(path, "rb_idx_load", &file_size);
    if (!plain_file) return rb_last_status();
    int fd = dup(fileno(plain_file)); /* nothing read yet: zlib starts at byte 0 */
    fclose(plain_file);
    gzFile f = fd >= 0 ? gzdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return rb_error(RB_ERR_IO, "rb_idx_load: cannot open '%s'", path);
    }
    unsigned char head[4 + 4 * RB_MAX_DIMS];
    long long got = read_fully(f, head, 4);
    if (got < 0) return fail(f, RB_ERR_FORMAT, path, "corrupt compressed data in the header");
    if (got < 4)
        return fail(f, RB_ERR_FORMAT, path, "truncated at byte %lld of the 4-byte magic number",
                    got);
    /* A plain file's size is known: the header's claims are checked against it up front. */
    bool sized = gzdirect(f) && file_size >= 0;
    const idx_type *type = find_type(head[2]);
    if (head[0] != 0 || head[1] != 0 || !type)
        return fail(f, RB_ERR_FORMAT, path, "bad magic number 0x%08llx at byte 0 (not an IDX file)",
                    (unsigned long long)be32(head));
    int ndim = head[3];
    if (ndim < 1 || ndim > RB_MAX_DIMS)
        return fail(f, RB_ERR_FORMAT, path, "%d dimensions at byte 3 (1 to %d supported)", ndim,
                    RB_MAX_DIMS);
    got = read_fully(f, head + 4, 4 * (size_t)ndim);
    if (got < 4 * ndim)
        return fail(f, RB_ERR_FORMAT, path, "truncated at byte %lld of the %lld-byte header",
                    4 + (got > 0 ? got : 0), 4 + 4 * (long long)ndim);
    int64_t shape[RB_MAX_DIMS];
    for (int d = 0; d < ndim; d++)
        shape[d] = be32(head + 4 + 4 * d);
    long long header = 4 + 4 * (long long)ndim;
    char who[1200];
    snprintf(who, sizeof who, "rb_idx_load: '%.1000s': the extents at bytes 4..%lld", path,
             header - 1);
    /* Checked for the larger of the file's elements and the tensor's: an empty shape of 2^55
     * unsigned bytes is 2^57 bytes of float32, too large for the tensor. */
    size_t widest = rb_dtype_size(dtype) > type->size ? rb_dtype_size(dtype) : type->size;
    int64_t count = rb_shape_count(RB_ERR_FORMAT, who, ndim, shape, widest);
    if (count < 0) {
        gzclose(f);
        return rb_last_status();
    }
    long long payload = (long long)count * (long long)type->size, end = header + payload;
    if (sized && file_size < end)
        return fail(f, RB_ERR_FORMAT, path, "truncated at byte %lld of %lld", (long long)file_size,
                    end);
    if (sized && file_size > end)
        return fail(f, RB_ERR_FORMAT, path,
                    "unexpected data after byte %lld (the header announces %lld bytes)", end, end);
    rb_status st;
    rb_tensor *t = NULL;
    unsigned char *raw = NULL;
    if (sized || gzip_trailer_agrees(fd, file_size, end)) {
        t = rb_tensor_empty_persistent(dtype, ndim, shape);
        if (!t) {
            gzclose(f);
            return rb_last_status();
        }
        st = stream_payload(f, type, count, scale, header, path, t);
        if (st != RB_OK) {
            gzclose(f);
            rb_tensor_free(t);
            return st;
        }
    } else if ((st = read_payload(f, path, header, payload, &raw)) != RB_OK)
        return st;
    unsigned char extra;
    if (read_fully(f, &extra, 1) > 0) {
        free(raw);
        rb_tensor_free(t);
        return fail(f, RB_ERR_FORMAT, path,
                    "unexpected data after byte %lld (the header announces %lld bytes)", end, end);
    }
    gzclose(f);
    if (raw) {
        t = rb_tensor_empty_persistent(dtype, ndim, shape);
        st = t ? convert(type, raw, 0, count, scale, header, path, t) : rb_last_status();
        free(raw);
    }
    if (st != RB_OK) {
        rb_tensor_free(t);
        return st;
    }
    *out = t;
    return RB_OK;
}
