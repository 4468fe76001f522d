/* Checkpoints in the safetensors format (this code assumes a little-endian host, as x86-64): an
 * 8-byte little-endian header length, a JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value"}}, then the tensors' bytes, little-endian, row-major, with
 * no holes. Loading validates everything before it changes anything. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ruban.h"

/* ---- what goes in a file ---- */

typedef struct entry {
    char name[160];
    rb_dtype dtype;
    int ndim;
    int64_t shape[RB_MAX_DIMS];
    uint64_t begin, end;
    const void *data; /* saving: where the bytes are */
    int64_t count;    /* values */
} entry;

static const char *dtype_code(rb_dtype d)
{
    return d == RB_F32 ? "F32" : d == RB_F64 ? "F64" : d == RB_U8 ? "U8" : "I64";
}

/* Variables, then for each optimizer state slab one entry per trainable variable. */
static int collect(rb_params *p, const rb_optimizer *opt, entry **out, const char *who)
{
    int nv = rb_params_count(p), ns = opt ? rb_optimizer_state_count(opt) : 0, n = 0;
    size_t count = (size_t)nv * (size_t)(1 + ns) + 1;
    entry *e = calloc(count, sizeof *e);
    if (!e) {
        rb_error(RB_ERR_MEMORY, "%s: out of memory: %zu bytes requested", who, count * sizeof *e);
        return -1;
    }
    size_t es = rb_dtype_size(rb_params_dtype(p));
    for (int i = 0; i < nv; i++) {
        rb_tensor *v = rb_params_at(p, i);
        entry *x = &e[n++];
        snprintf(x->name, sizeof x->name, "%s", rb_tensor_name(v));
        x->dtype = rb_tensor_dtype(v);
        x->ndim = rb_tensor_ndim(v);
        memcpy(x->shape, rb_tensor_shape(v), sizeof(int64_t) * (size_t)x->ndim);
        x->data = rb_tensor_data(v);
        x->count = rb_tensor_size(v);
    }
    for (int k = 0; k < ns; k++) {
        const char *state = rb_optimizer_state_name(opt, k);
        rb_tensor *slab = rb_params_state(p, state);
        for (int i = 0; i < nv && slab; i++) {
            rb_tensor *v = rb_params_at(p, i);
            if (!rb_params_is_trainable(v)) continue;
            entry *x = &e[n++];
            snprintf(x->name, sizeof x->name, "%s/%s", state, rb_tensor_name(v));
            x->dtype = rb_tensor_dtype(v);
            x->ndim = rb_tensor_ndim(v);
            memcpy(x->shape, rb_tensor_shape(v), sizeof(int64_t) * (size_t)x->ndim);
            x->data = (const char *)rb_tensor_data(slab) + (size_t)rb_params_offset(p, v) * es;
            x->count = rb_tensor_size(v);
        }
    }
    *out = e;
    return n;
}

/* ---- saving ---- */

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

rb_status rb_checkpoint_save(const char *path, rb_params *p, const rb_optimizer *opt)
{
    if (!path || !p) return rb_error(RB_ERR_ARGUMENT, "rb_checkpoint_save: NULL argument");
    if (opt && rb_optimizer_params(opt) != p)
        return rb_error(RB_ERR_ARGUMENT,
                        "rb_checkpoint_save: the optimizer belongs to another parameter store");
    entry *e;
    int n = collect(p, opt, &e, "rb_checkpoint_save");
    if (n < 0) return rb_last_status();
    /* The header goes to memory first: its length comes before it in the file. */
    char *header = NULL;
    size_t header_len = 0;
    FILE *h = open_memstream(&header, &header_len);
    if (!h) {
        free(e);
        return rb_error(RB_ERR_MEMORY, "rb_checkpoint_save: out of memory for the header");
    }
    uint64_t offset = 0;
    fputc('{', h);
    fprintf(h, "\"__metadata__\":{\"format\":\"ruban\"");
    if (opt) {
        fprintf(h, ",\"optimizer\":");
        put_json_string(h, rb_optimizer_name(opt));
        fprintf(h, ",\"optimizer.steps\":\"%lld\",\"optimizer.lr\":\"%.17g\"",
                (long long)rb_optimizer_steps(opt), rb_optimizer_lr(opt));
    }
    fputc('}', h);
    for (int i = 0; i < n; i++) {
        size_t bytes = (size_t)e[i].count * rb_dtype_size(e[i].dtype);
        e[i].begin = offset;
        e[i].end = offset += bytes;
        fputc(',', h);
        put_json_string(h, e[i].name);
        fprintf(h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_code(e[i].dtype));
        for (int d = 0; d < e[i].ndim; d++)
            fprintf(h, "%s%lld", d ? "," : "", (long long)e[i].shape[d]);
        fprintf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)e[i].begin,
                (unsigned long long)e[i].end);
    }
    fputc('}', h);
    /* Pad with spaces so that the data starts 8-byte aligned, as the format recommends. */
    while (ftell(h) % 8 != 0)
        fputc(' ', h);
    fclose(h);

    rb_atomic_file w;
    rb_status st = rb_atomic_file_begin(&w, path, "rb_checkpoint_save");
    if (st == RB_OK) {
        unsigned char len[8];
        for (int b = 0; b < 8; b++)
            len[b] = (unsigned char)((uint64_t)header_len >> (8 * b));
        fwrite(len, 1, 8, w.f);
        fwrite(header, 1, header_len, w.f);
        for (int i = 0; i < n; i++)
            fwrite(e[i].data, 1, (size_t)(e[i].end - e[i].begin), w.f);
        st = rb_atomic_file_commit(&w); /* fails on any write error above */
    }
    free(header);
    free(e);
    return st;
}

/* ---- reading the header: a small JSON reader for the safetensors layout ---- */

typedef struct reader {
    const char *path, *s;
    size_t pos, len;
    rb_status st;
} reader;

static bool fail_at(reader *r, const char *what)
{
    if (r->st == RB_OK)
        r->st = rb_error(RB_ERR_FORMAT, "rb_checkpoint_load: '%s': header byte %zu: %s", r->path,
                         r->pos + 8, what);
    return false;
}

static void blank(reader *r)
{
    while (r->pos < r->len && r->s[r->pos] && strchr(" \t\r\n", r->s[r->pos]))
        r->pos++;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool expect(reader *r, char c)
{
    blank(r);
    if (r->pos < r->len && r->s[r->pos] == c) {
        r->pos++;
        return true;
    }
    char msg[48];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return fail_at(r, msg);
}

static bool peek(reader *r, char c)
{
    blank(r);
    return r->pos < r->len && r->s[r->pos] == c;
}

static bool read_string(reader *r, char *out, size_t size)
{
    if (!expect(r, '"')) return false;
    size_t n = 0;
    while (r->pos < r->len && r->s[r->pos] != '"') {
        char c = r->s[r->pos++];
        if (c == '\\') {
            if (r->pos >= r->len) break;
            char e = r->s[r->pos++];
            c = e == 'n'   ? '\n'
                : e == 't' ? '\t'
                : e == 'r' ? '\r'
                : e == 'b' ? '\b'
                : e == 'f' ? '\f'
                           : e;
            if (e == 'u') {
                /* Four hex digits read here: the header is not NUL-terminated, so no scanf. */
                int v = 0;
                for (int k = 0; k < 4; k++) {
                    int d = r->pos < r->len ? hex_digit(r->s[r->pos]) : -1;
                    if (d < 0) return fail_at(r, "\\u needs four hex digits");
                    v = v * 16 + d;
                    r->pos++;
                }
                if (v > 0x7f) return fail_at(r, "only ASCII \\u escapes are read");
                c = (char)v;
            }
        }
        if (n + 1 >= size) return fail_at(r, "string too long");
        out[n++] = c;
    }
    out[n] = '\0';
    return expect(r, '"');
}

static bool read_uint(reader *r, uint64_t *v)
{
    blank(r);
    size_t start = r->pos;
    uint64_t x = 0;
    while (r->pos < r->len && r->s[r->pos] >= '0' && r->s[r->pos] <= '9') {
        if (x > (UINT64_MAX - 9) / 10) return fail_at(r, "number too large");
        x = x * 10 + (uint64_t)(r->s[r->pos++] - '0');
    }
    if (r->pos == start) return fail_at(r, "expected a non-negative integer");
    *v = x;
    return true;
}

/* [u, u, ...] into v (at most max values). */
static bool read_uints(reader *r, uint64_t *v, int max, int *n)
{
    *n = 0;
    if (!expect(r, '[')) return false;
    if (peek(r, ']')) return expect(r, ']');
    do {
        if (*n >= max) return fail_at(r, "too many values");
        if (!read_uint(r, &v[(*n)++])) return false;
    } while (peek(r, ',') && expect(r, ','));
    return expect(r, ']');
}

typedef struct file_meta {
    char optimizer[64];
    int64_t steps;
    double lr;
    bool has_optimizer, has_steps, has_lr;
} file_meta;

/* A step count: decimal digits only, at most INT64_MAX. */
static bool parse_steps(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - (*s - '0')) / 10) return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return true;
}

/* A learning rate: a whole number, finite and positive. */
static bool parse_lr(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v) || !(v > 0)) return false;
    *out = v;
    return true;
}

static bool read_metadata(reader *r, file_meta *m)
{
    if (!expect(r, '{')) return false;
    if (peek(r, '}')) return expect(r, '}');
    do {
        char key[160], value[256], msg[320];
        if (!read_string(r, key, sizeof key) || !expect(r, ':') ||
            !read_string(r, value, sizeof value))
            return false;
        if (strcmp(key, "optimizer") == 0) {
            snprintf(m->optimizer, sizeof m->optimizer, "%.63s", value);
            m->has_optimizer = true;
        } else if (strcmp(key, "optimizer.steps") == 0) {
            snprintf(msg, sizeof msg, "optimizer.steps '%.40s' is not a step count", value);
            if (!(m->has_steps = parse_steps(value, &m->steps))) return fail_at(r, msg);
        } else if (strcmp(key, "optimizer.lr") == 0) {
            snprintf(msg, sizeof msg, "optimizer.lr '%.40s' is not a positive finite number",
                     value);
            if (!(m->has_lr = parse_lr(value, &m->lr))) return fail_at(r, msg);
        }
    } while (peek(r, ',') && expect(r, ','));
    return expect(r, '}');
}

static bool read_entry(reader *r, entry *e)
{
    bool dtype = false, shape = false, offsets = false;
    if (!expect(r, '{')) return false;
    do {
        char key[32];
        if (!read_string(r, key, sizeof key) || !expect(r, ':')) return false;
        if (strcmp(key, "dtype") == 0) {
            char d[16];
            if (!read_string(r, d, sizeof d)) return false;
            if (strcmp(d, "F32") == 0)
                e->dtype = RB_F32;
            else if (strcmp(d, "F64") == 0)
                e->dtype = RB_F64;
            else if (strcmp(d, "I64") == 0)
                e->dtype = RB_I64;
            else if (strcmp(d, "U8") == 0)
                e->dtype = RB_U8;
            else
                return fail_at(r, "dtype not one of F32, F64, I64, U8");
            dtype = true;
        } else if (strcmp(key, "shape") == 0) {
            uint64_t v[RB_MAX_DIMS];
            if (!read_uints(r, v, RB_MAX_DIMS, &e->ndim)) return false;
            for (int d = 0; d < e->ndim; d++) {
                if (v[d] > (uint64_t)INT64_MAX) return fail_at(r, "dimension too large");
                e->shape[d] = (int64_t)v[d];
            }
            shape = true;
        } else if (strcmp(key, "data_offsets") == 0) {
            uint64_t v[2];
            int n;
            if (!read_uints(r, v, 2, &n)) return false;
            if (n != 2 || v[1] < v[0]) return fail_at(r, "data_offsets must be [begin, end]");
            e->begin = v[0];
            e->end = v[1];
            offsets = true;
        } else
            return fail_at(r, "unknown key in a tensor entry");
    } while (peek(r, ',') && expect(r, ','));
    if (!expect(r, '}')) return false;
    if (!dtype || !shape || !offsets)
        return fail_at(r, "tensor entry lacks dtype, shape or data_offsets");
    char who[300];
    snprintf(who, sizeof who, "rb_checkpoint_load: '%s': header byte %zu: tensor '%s'", r->path,
             r->pos + 8, e->name);
    e->count = rb_shape_count(RB_ERR_FORMAT, who, e->ndim, e->shape, rb_dtype_size(e->dtype));
    if (e->count < 0) {
        if (r->st == RB_OK) r->st = RB_ERR_FORMAT;
        return false;
    }
    return true;
}

static int cmp_begin(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_name(const void *a, const void *b)
{
    const entry *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Pointers to the n entries sorted by name, for lookups and the duplicate check (a header may
 * hold many names: a sort, not a pairwise comparison). NULL when out of memory. */
static const entry **by_name(const entry *e, int n, const char *who)
{
    size_t count = n > 0 ? (size_t)n : 1;
    const entry **index = malloc(sizeof *index * count);
    if (!index) {
        rb_error(RB_ERR_MEMORY, "%s: out of memory: %zu bytes requested", who,
                 sizeof *index * count);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        index[i] = &e[i];
    qsort(index, (size_t)n, sizeof *index, cmp_name);
    return index;
}

static const entry *find(const entry **index, int n, const char *name)
{
    entry key;
    snprintf(key.name, sizeof key.name, "%s", name);
    const entry *k = &key, **hit = bsearch(&k, index, (size_t)n, sizeof *index, cmp_name);
    return hit ? *hit : NULL;
}

/* The whole file, its size checked before anything is allocated for it. */
static rb_status read_bytes(const char *path, unsigned char **bytes, size_t *size)
{
    int64_t len;
    *bytes = NULL;
    FILE *f = rb_file_open_read(path, "rb_checkpoint_load", &len);
    if (!f) return rb_last_status();
    rb_status st = RB_OK;
    unsigned char *b = NULL;
    if (len < 0)
        st = rb_error(RB_ERR_IO, "rb_checkpoint_load: '%s' is not a regular file", path);
    else if (len < 8)
        st = rb_error(RB_ERR_FORMAT,
                      "rb_checkpoint_load: '%s': %lld bytes, shorter than the 8-byte header length",
                      path, (long long)len);
    else if ((uint64_t)len > (uint64_t)RB_MAX_BYTES || (size_t)len != (uint64_t)len)
        st = rb_error(RB_ERR_FORMAT, "rb_checkpoint_load: '%s': %lld bytes is too large", path,
                      (long long)len);
    else if (!(b = malloc((size_t)len)))
        st =
            rb_error(RB_ERR_MEMORY, "rb_checkpoint_load: '%s': out of memory: %lld bytes requested",
                     path, (long long)len);
    else if (fread(b, 1, (size_t)len, f) != (size_t)len)
        st = rb_error(RB_ERR_IO, "rb_checkpoint_load: '%s': read failed before byte %lld", path,
                      (long long)len);
    fclose(f);
    if (st != RB_OK) {
        free(b);
        return st;
    }
    *bytes = b;
    *size = (size_t)len;
    return RB_OK;
}

/* The entries of the header, in file order. */
static rb_status parse_header(const char *path, const unsigned char *b, uint64_t hlen, entry **out,
                              int *count, file_meta *meta)
{
    reader r = {path, (const char *)b + 8, 0, (size_t)hlen, RB_OK};
    size_t cap = 16;
    int n = 0;
    entry *e = malloc(sizeof *e * cap);
    bool ok = e && expect(&r, '{');
    if (ok && !peek(&r, '}')) do {
            char name[160];
            if (!(ok = read_string(&r, name, sizeof name) && expect(&r, ':'))) break;
            if (strcmp(name, "__metadata__") == 0) {
                ok = read_metadata(&r, meta);
                continue;
            }
            if ((size_t)n == cap) {
                entry *bigger = cap < INT32_MAX / 2 ? realloc(e, sizeof *e * cap * 2) : NULL;
                if (!bigger) {
                    ok = false;
                    break;
                }
                e = bigger;
                cap *= 2;
            }
            memset(&e[n], 0, sizeof e[n]);
            snprintf(e[n].name, sizeof e[n].name, "%s", name);
            ok = read_entry(&r, &e[n]);
            n++;
        } while (ok && peek(&r, ',') && expect(&r, ','));
    if (ok) ok = expect(&r, '}');
    rb_status st = r.st;
    if (st == RB_OK && !ok)
        st = rb_error(RB_ERR_MEMORY, "rb_checkpoint_load: '%s': out of memory: %zu bytes requested",
                      path, sizeof *e * cap * 2);
    if (st != RB_OK) {
        free(e);
        return st;
    }
    *out = e;
    *count = n;
    return RB_OK;
}

/* Each tensor's bytes where its offsets say, covering the data exactly, each name once. */
static rb_status check_layout(const char *path, const unsigned char *b, uint64_t hlen,
                              uint64_t data_len, entry *e, int n)
{
    qsort(e, (size_t)n, sizeof *e, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        uint64_t want = (uint64_t)e[i].count * rb_dtype_size(e[i].dtype); /* <= RB_MAX_BYTES */
        if (e[i].end - e[i].begin != want)
            return rb_error(RB_ERR_FORMAT,
                            "rb_checkpoint_load: '%s': '%s' spans %llu bytes, its shape needs %llu",
                            path, e[i].name, (unsigned long long)(e[i].end - e[i].begin),
                            (unsigned long long)want);
        if (e[i].begin != at)
            return rb_error(
                RB_ERR_FORMAT,
                "rb_checkpoint_load: '%s': '%s' starts at data byte %llu, expected %llu (a hole or an overlap)",
                path, e[i].name, (unsigned long long)e[i].begin, (unsigned long long)at);
        if (e[i].end > data_len)
            return rb_error(
                RB_ERR_FORMAT,
                "rb_checkpoint_load: '%s': '%s' ends at data byte %llu of %llu: the file is truncated",
                path, e[i].name, (unsigned long long)e[i].end, (unsigned long long)data_len);
        at = e[i].end;
        e[i].data = b + 8 + hlen + e[i].begin;
    }
    if (at != data_len)
        return rb_error(RB_ERR_FORMAT, "rb_checkpoint_load: '%s': %llu bytes after the last tensor",
                        path, (unsigned long long)(data_len - at));
    return RB_OK;
}

/* Parse and check the file's own consistency (sizes, offsets, no holes, overlaps or repeated
 * names). *index lists the entries by name. */
static rb_status read_file(const char *path, unsigned char **bytes, entry **out,
                           const entry ***index, int *count, file_meta *meta)
{
    size_t len = 0;
    *out = NULL;
    *index = NULL;
    rb_status st = read_bytes(path, bytes, &len);
    if (st != RB_OK) return st;
    const unsigned char *b = *bytes;
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)b[i] << (8 * i);
    if (hlen > (uint64_t)len - 8)
        st = rb_error(
            RB_ERR_FORMAT,
            "rb_checkpoint_load: '%s': header of %llu bytes announced, file has %zu bytes (truncated, or not a safetensors file)",
            path, (unsigned long long)hlen, len);
    entry *e = NULL;
    int n = 0;
    if (st == RB_OK) st = parse_header(path, b, hlen, &e, &n, meta);
    if (st == RB_OK) st = check_layout(path, b, hlen, (uint64_t)len - 8 - hlen, e, n);
    const entry **names = st == RB_OK ? by_name(e, n, "rb_checkpoint_load") : NULL;
    if (st == RB_OK && !names) st = rb_last_status();
    for (int i = 1; st == RB_OK && i < n; i++)
        if (strcmp(names[i - 1]->name, names[i]->name) == 0)
            st = rb_error(RB_ERR_FORMAT, "rb_checkpoint_load: '%s': tensor '%s' appears twice",
                          path, names[i]->name);
    if (st != RB_OK) {
        free(names);
        free(e);
        free(*bytes);
        *bytes = NULL;
        return st;
    }
    *out = e;
    *index = names;
    *count = n;
    return RB_OK;
}

static void shape_text(char *out, size_t size, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(out, size, "[");
    for (int d = 0; d < ndim && k < size; d++)
        k += (size_t)snprintf(out + k, size - k, d ? ",%lld" : "%lld", (long long)shape[d]);
    if (k < size) snprintf(out + k, size - k, "]");
}

rb_status rb_checkpoint_load(const char *path, rb_params *p, rb_optimizer *opt)
{
    if (!path || !p) return rb_error(RB_ERR_ARGUMENT, "rb_checkpoint_load: NULL argument");
    if (opt && rb_optimizer_params(opt) != p)
        return rb_error(RB_ERR_ARGUMENT,
                        "rb_checkpoint_load: the optimizer belongs to another parameter store");
    unsigned char *bytes;
    entry *file, *want = NULL;
    const entry **file_index, **want_index = NULL;
    int n_file;
    file_meta meta = {0};
    rb_status st = read_file(path, &bytes, &file, &file_index, &n_file, &meta);
    if (st != RB_OK) return st;
    int n_want = collect(p, opt, &want, "rb_checkpoint_load");
    if (n_want < 0) st = rb_last_status();
    if (st == RB_OK && !(want_index = by_name(want, n_want, "rb_checkpoint_load")))
        st = rb_last_status();
    if (st == RB_OK && opt &&
        (!meta.has_optimizer || strcmp(meta.optimizer, rb_optimizer_name(opt)) != 0))
        st =
            rb_error(RB_ERR_ARGUMENT, "rb_checkpoint_load: '%s': holds %s%s%s, the optimizer is %s",
                     path, meta.has_optimizer ? "the state of '" : "no optimizer state",
                     meta.has_optimizer ? meta.optimizer : "", meta.has_optimizer ? "'" : "",
                     rb_optimizer_name(opt));
    if (st == RB_OK && opt && (!meta.has_steps || !meta.has_lr))
        st = rb_error(
            RB_ERR_FORMAT,
            "rb_checkpoint_load: '%s': the optimizer state comes without its %s in the metadata",
            path, meta.has_steps ? "optimizer.lr" : "optimizer.steps");
    /* Everything the model needs, with matching shapes and dtypes... */
    for (int i = 0; st == RB_OK && i < n_want; i++) {
        const entry *f = find(file_index, n_file, want[i].name);
        char a[96], b[96];
        if (!f) {
            st = rb_error(RB_ERR_NOT_FOUND, "rb_checkpoint_load: '%s': no tensor '%s'", path,
                          want[i].name);
            break;
        }
        bool same = f->dtype == want[i].dtype && f->ndim == want[i].ndim;
        for (int d = 0; same && d < f->ndim; d++)
            same = f->shape[d] == want[i].shape[d];
        if (!same) {
            shape_text(a, sizeof a, f->ndim, f->shape);
            shape_text(b, sizeof b, want[i].ndim, want[i].shape);
            st =
                rb_error(RB_ERR_SHAPE,
                         "rb_checkpoint_load: '%s': '%s' is %s%s in the file, %s%s in the model",
                         path, want[i].name, dtype_code(f->dtype), a, dtype_code(want[i].dtype), b);
        }
    }
    /* ... and nothing the model lacks (optimizer state is skipped when no optimizer is given). */
    for (int i = 0; st == RB_OK && i < n_file; i++)
        if (!find(want_index, n_want, file[i].name) && (opt || !strchr(file[i].name, '/')))
            st = rb_error(RB_ERR_NOT_FOUND,
                          "rb_checkpoint_load: '%s': tensor '%s' has no place in the model", path,
                          file[i].name);
    /* Only now: copy. */
    for (int i = 0; st == RB_OK && i < n_want; i++) {
        const entry *f = find(file_index, n_file, want[i].name);
        memcpy((void *)want[i].data, f->data, (size_t)(f->end - f->begin));
    }
    if (st == RB_OK) {
        rb_params_touch(p);
        if (opt) {
            rb_optimizer_set_steps(opt, meta.steps);
            rb_optimizer_set_lr(opt, meta.lr);
        }
    }
    free(want_index);
    free(want);
    free(file_index);
    free(file);
    free(bytes);
    return st;
}
