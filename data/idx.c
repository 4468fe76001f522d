/* IDX files (the MNIST format): a magic number naming the element type and rank, big-endian
 * extents, then the values. zlib reads plain and gzip files alike. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
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

rb_status rb_idx_load(const char *path, rb_dtype dtype, double scale, rb_tensor **out)
{
    if (!out) return rb_error(RB_ERR_ARGUMENT, "rb_idx_load: out is NULL");
    *out = NULL;
    if (!path) return rb_error(RB_ERR_ARGUMENT, "rb_idx_load: path is NULL");
    gzFile f = gzopen(path, "rb");
    if (!f) return rb_error(RB_ERR_IO, "rb_idx_load: cannot open '%s'", path);
    unsigned char head[4 + 4 * RB_MAX_DIMS];
    long long got = read_fully(f, head, 4);
    if (got < 0) return fail(f, RB_ERR_FORMAT, path, "corrupt compressed data in the header");
    if (got < 4)
        return fail(f, RB_ERR_FORMAT, path, "truncated at byte %lld of the 4-byte magic number",
                    got);
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
    int64_t shape[RB_MAX_DIMS], count = 1;
    for (int d = 0; d < ndim; d++) {
        shape[d] = be32(head + 4 + 4 * d);
        if (shape[d] > 0 && count > (INT64_MAX / 16) / shape[d])
            return fail(f, RB_ERR_FORMAT, path, "extents too large at byte %d", 4 + 4 * d);
        count *= shape[d];
    }
    long long header = 4 + 4 * (long long)ndim, payload = (long long)count * (long long)type->size;
    unsigned char *raw = malloc((size_t)payload + 1);
    if (!raw) return fail(f, RB_ERR_MEMORY, path, "out of memory for %lld bytes", payload + 1);
    got = read_fully(f, raw, (size_t)payload);
    if (got < 0) {
        free(raw);
        return fail(f, RB_ERR_FORMAT, path, "corrupt compressed data after byte %lld", header);
    }
    if (got < payload) {
        free(raw);
        return fail(f, RB_ERR_FORMAT, path, "truncated at byte %lld of %lld", header + got,
                    header + payload);
    }
    unsigned char extra;
    if (read_fully(f, &extra, 1) > 0) {
        free(raw);
        return fail(f, RB_ERR_FORMAT, path,
                    "unexpected data after byte %lld (the header "
                    "announces %lld bytes)",
                    header + payload, header + payload);
    }
    gzclose(f);
    rb_tensor *t = rb_tensor_empty_persistent(dtype, ndim, shape);
    if (!t) {
        free(raw);
        return rb_last_status();
    }
    if (dtype == RB_F32 && type->code == 0x08) {
        float *dst = rb_tensor_data(t), s = (float)scale; /* the common case, kept fast */
        for (int64_t i = 0; i < count; i++)
            dst[i] = (float)raw[i] * s;
    } else {
        for (int64_t i = 0; i < count; i++)
            rb_tensor_set_flat(t, i, decode(type, raw + (size_t)i * type->size) * scale);
    }
    free(raw);
    *out = t;
    return RB_OK;
}
