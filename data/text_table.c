/* Text files for the loaders: whole-file reads through zlib (gzip or plain), lines, fields,
 * and numeric rows with errors that name the file, line and column. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "datasets_impl.h"

rb_status rb__read_text(const char *path, const char *who, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    int64_t size;
    FILE *plain = rb_file_open_read(path, who, &size);
    if (!plain) return rb_last_status();
    int fd = dup(fileno(plain));
    fclose(plain);
    gzFile f = fd >= 0 ? gzdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return rb_error(RB_ERR_IO, "%s: cannot open '%s': %s", who, path, strerror(errno));
    }
    /* Read in growing steps: a compressed file's size says nothing of its text. */
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        int got = gzread(f, buf + n, (unsigned)(cap - n));
        if (got < 0) {
            int code;
            const char *why = gzerror(f, &code);
            rb_status st = rb_error(RB_ERR_FORMAT, "%s: '%s': cannot read past byte %zu: %s", who,
                                    path, n, why);
            free(buf);
            gzclose(f);
            return st;
        }
        n += (size_t)got;
        if (got == 0) {
            /* zlib reports a gzip stream cut short only here, after returning what it had. */
            int code;
            const char *why = gzerror(f, &code);
            if (code != Z_OK) {
                rb_status st =
                    rb_error(RB_ERR_FORMAT,
                             "%s: '%s': compressed data ends early, after %zu bytes of text: %s",
                             who, path, n, why);
                free(buf);
                gzclose(f);
                return st;
            }
            break;
        }
        if (n == cap) {
            char *bigger = cap < (size_t)RB_MAX_BYTES / 2 ? realloc(buf, 2 * cap + 1) : NULL;
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    gzclose(f);
    if (!buf)
        return rb_error(RB_ERR_MEMORY,
                        "%s: '%s': out of memory: %zu bytes requested after reading %zu", who, path,
                        2 * cap + 1, n);
    buf[n] = '\0';
    const char *nul = memchr(buf, '\0', n);
    if (nul) {
        size_t at = (size_t)(nul - buf);
        free(buf);
        return rb_error(RB_ERR_FORMAT, "%s: '%s': byte %zu is NUL: not a text file", who, path, at);
    }
    *text = buf;
    *len = n;
    return RB_OK;
}

rb_status rb__split_lines(char *text, rb__lines *out)
{
    int64_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    out->line = malloc(sizeof(char *) * (size_t)n);
    out->n = 0;
    if (!out->line)
        return rb_error(RB_ERR_MEMORY, "out of memory splitting %lld lines", (long long)n);
    char *p = text;
    while (*p) {
        out->line[out->n++] = p;
        char *end = strchr(p, '\n');
        if (!end) break;
        if (end > p && end[-1] == '\r') end[-1] = '\0';
        *end = '\0';
        p = end + 1;
    }
    return RB_OK;
}

void rb__lines_free(rb__lines *l)
{
    if (!l) return;
    free(l->line);
    l->line = NULL;
    l->n = 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s[len - 1] = '\0';
        s++;
    }
    return s;
}

int rb__split_fields(char *line, char delim, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *end = strchr(p, delim);
        if (end) *end = '\0';
        if (n < max) fields[n] = trim(p);
        n++;
        if (!end) break;
        p = end + 1;
    }
    return n;
}

static bool blank(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* One number; the whole field must be used. NULL when it is one, otherwise why not. strtod
 * reads "nan", "inf" and overflows (1e999) as non-finite values: refused unless allowed, as
 * are finite values beyond max_abs (the range of the dtype they go to). */
static const char *parse_number(const char *field, bool allow_nonfinite, double max_abs,
                                double *out)
{
    char *end;
    errno = 0;
    double v = strtod(field, &end);
    if (end == field || *end != '\0') return "is not a number";
    if (!allow_nonfinite && !isfinite(v))
        return errno == ERANGE ? "overflows a double" : "is not a finite number";
    if (!allow_nonfinite && fabs(v) > max_abs) return "is out of range for float32";
    *out = v;
    return NULL;
}

rb_status rb__parse_numeric_rows(const char *path, rb__lines *lines, int64_t first, int cols,
                                 char delim, rb__number_rule rule, double **values, int64_t *rows)
{
    *values = NULL;
    *rows = 0;
    int64_t last = lines->n; /* blank lines at the end are not rows */
    while (last > first && blank(lines->line[last - 1]))
        last--;
    int64_t n = last - first > 0 ? last - first : 0;
    char who[1100];
    snprintf(who, sizeof who, "%s: '%.1000s'", rule.who, path);
    if (rb_shape_count(RB_ERR_FORMAT, who, 2, (const int64_t[]){n, cols}, sizeof(double)) < 0)
        return rb_last_status();
    size_t bytes = sizeof(double) * (size_t)(n * cols + 1);
    double *v = malloc(bytes);
    char **fields = malloc(sizeof(char *) * (size_t)cols);
    if (!v || !fields) {
        free(v);
        free(fields);
        return rb_error(RB_ERR_MEMORY, "%s: out of memory: %zu bytes requested for %lld rows", who,
                        bytes, (long long)n);
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t line_no = first + i + 1; /* 1-based, as editors count */
        int got = rb__split_fields(lines->line[first + i], delim, fields, cols);
        rb_status st = RB_OK;
        if (got != cols)
            st = rb_error(RB_ERR_FORMAT, "%s:%lld: %d fields, expected %d", path,
                          (long long)line_no, got, cols);
        for (int c = 0; st == RB_OK && c < cols; c++) {
            const char *why = *fields[c] ? parse_number(fields[c], rule.allow_nonfinite,
                                                        rule.max_abs, &v[i * cols + c])
                                         : "";
            if (!why) continue;
            if (!*fields[c])
                st = rb_error(RB_ERR_FORMAT, "%s:%lld: column %d is empty", path,
                              (long long)line_no, c + 1);
            else
                st = rb_error(RB_ERR_FORMAT, "%s:%lld: column %d: '%.40s' %s", path,
                              (long long)line_no, c + 1, fields[c], why);
        }
        if (st != RB_OK) {
            free(v);
            free(fields);
            return st;
        }
    }
    free(fields);
    *values = v;
    *rows = n;
    return RB_OK;
}
