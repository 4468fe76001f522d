/* The markdown of a report as HTML: headings, paragraphs, lists, tables, quotes, code blocks,
 * **bold**, `code`, [links](url), and pictures on lines of their own, inlined (SVG as markup,
 * PNG as data) so that the page needs no other file. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "study_internal.h"

void rb__html_escape(FILE *f, const char *text, size_t n)
{
    for (size_t i = 0; i < n && text[i]; i++)
        switch (text[i]) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(text[i], f);
        }
}

/* Inline markup of n characters. */
static void inline_html(FILE *f, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *rest = s + i;
        const char *close;
        if (rest[0] == '`' && (close = memchr(rest + 1, '`', n - i - 1))) {
            fputs("<code>", f);
            rb__html_escape(f, rest + 1, (size_t)(close - rest - 1));
            fputs("</code>", f);
            i += (size_t)(close - rest) + 1;
        } else if (i + 1 < n && rest[0] == '*' && rest[1] == '*' &&
                   (close = strstr(rest + 2, "**")) && close < s + n) {
            fputs("<strong>", f);
            inline_html(f, rest + 2, (size_t)(close - rest - 2));
            fputs("</strong>", f);
            i += (size_t)(close - rest) + 2;
        } else if (rest[0] == '[' && (close = memchr(rest, ']', n - i)) && close + 1 < s + n &&
                   close[1] == '(' && memchr(close, ')', (size_t)(s + n - close))) {
            const char *url = close + 2, *end = memchr(close, ')', (size_t)(s + n - close));
            fputs("<a href=\"", f);
            rb__html_escape(f, url, (size_t)(end - url));
            fputs("\">", f);
            inline_html(f, rest + 1, (size_t)(close - rest - 1));
            fputs("</a>", f);
            i += (size_t)(end - rest) + 1;
        } else {
            rb__html_escape(f, rest, 1);
            i++;
        }
    }
}

static void inline_text(FILE *f, const char *s) { inline_html(f, s, strlen(s)); }

/* The whole file (the caller frees it), or NULL. */
static char *slurp(const char *path, size_t *size)
{
    int64_t bytes = 0;
    FILE *f = rb_file_open_read(path, "report", &bytes);
    if (!f) {
        rb_error_clear();
        return NULL;
    }
    char *text = bytes >= 0 ? malloc((size_t)bytes + 1) : NULL;
    size_t got = text ? fread(text, 1, (size_t)bytes, f) : 0;
    fclose(f);
    if (!text || got != (size_t)bytes) {
        free(text);
        return NULL;
    }
    text[got] = '\0';
    *size = got;
    return text;
}

/* An SVG's markup from its <svg> element on, with its ids made unique to this picture (several
 * gnuplot pictures on one page would otherwise share ids and borrow each other's clip paths). */
static void inline_svg(FILE *f, const char *svg, int picture)
{
    const char *p = strstr(svg, "<svg");
    if (!p) return;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "p%d-", picture);
    static const char *const refs[] = {"href='#", "href=\"#", "url(#"};
    while (*p) {
        bool done = false;
        if ((p[0] == ' ' || p[0] == '\t' || p[0] == '\n') && strncmp(p + 1, "id=", 3) == 0 &&
            (p[4] == '\'' || p[4] == '"')) {
            fwrite(p, 1, 5, f);
            fputs(prefix, f);
            p += 5;
            done = true;
        }
        for (int k = 0; k < 3 && !done; k++) {
            size_t n = strlen(refs[k]);
            if (strncmp(p, refs[k], n) == 0) {
                fwrite(p, 1, n, f);
                fputs(prefix, f);
                p += n;
                done = true;
            }
        }
        if (!done) fputc(*p++, f);
    }
}

static void base64(FILE *f, const unsigned char *data, size_t n)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (i + 1 < n ? (unsigned)data[i + 1] << 8 : 0) |
                     (i + 2 < n ? data[i + 2] : 0);
        fputc(digits[v >> 18 & 63], f);
        fputc(digits[v >> 12 & 63], f);
        fputc(i + 1 < n ? digits[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? digits[v & 63] : '=', f);
    }
}

static void picture(FILE *f, const char *alt, size_t alt_n, const char *file, size_t file_n,
                    const char *folder, int number)
{
    char path[2400], name[1200];
    snprintf(name, sizeof name, "%.*s", (int)(file_n < 1100 ? file_n : 1100), file);
    snprintf(path, sizeof path, "%s/%s", folder, name);
    size_t size = 0;
    char *data = slurp(path, &size);
    fputs("<figure>\n", f);
    size_t len = strlen(name);
    if (!data) {
        fputs("<p class=\"missing\">picture not found: ", f);
        rb__html_escape(f, name, len);
        fputs(" (without gnuplot, its .gp script renders it)</p>\n", f);
    } else if (len > 4 && strcmp(name + len - 4, ".svg") == 0) {
        inline_svg(f, data, number);
    } else {
        fputs("<img alt=\"", f);
        rb__html_escape(f, alt, alt_n);
        fputs("\" src=\"data:image/png;base64,", f);
        base64(f, (const unsigned char *)data, size);
        fputs("\">", f);
    }
    free(data);
    fputs("\n<figcaption>", f);
    inline_html(f, alt, alt_n);
    fputs("</figcaption>\n</figure>\n", f);
}

/* ---- blocks, line by line ---- */

typedef struct lines {
    char **at;
    int n;
} lines;

static lines split_lines(char *text)
{
    lines l = {NULL, 0};
    int cap = 1;
    for (const char *c = text; *c; c++)
        cap += *c == '\n';
    l.at = malloc(sizeof(char *) * (size_t)cap);
    if (!l.at) return l;
    char *p = text;
    while (*p) {
        char *nl = strchr(p, '\n');
        l.at[l.n++] = p;
        if (!nl) break;
        *nl = '\0';
        p = nl + 1;
    }
    return l;
}

static bool blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '\0';
}

static int ordered_item(const char *s)
{
    int k = 0;
    while (isdigit((unsigned char)s[k]))
        k++;
    return k > 0 && s[k] == '.' && s[k + 1] == ' ' ? k + 2 : 0;
}

static bool is_image(const char *s, const char **alt, size_t *alt_n, const char **file,
                     size_t *file_n)
{
    if (strncmp(s, "![", 2) != 0) return false;
    const char *close = strstr(s, "](");
    size_t n = strlen(s);
    if (!close || n < 4 || s[n - 1] != ')') return false;
    *alt = s + 2, *alt_n = (size_t)(close - s - 2);
    *file = close + 2, *file_n = (size_t)(s + n - 1 - *file);
    return true;
}

static void table_row(FILE *f, const char *row, const char *cell)
{
    const char *p = row + (row[0] == '|');
    fputs("<tr>", f);
    while (*p) {
        size_t n = strcspn(p, "|");
        if (p[n] == '\0' && blank(p)) break;
        const char *a = p, *b = p + n;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        fprintf(f, "<%s>", cell);
        inline_html(f, a, (size_t)(b - a));
        fprintf(f, "</%s>", cell);
        p += n + (p[n] == '|');
    }
    fputs("</tr>\n", f);
}

static bool separator_row(const char *s)
{
    for (; *s; s++)
        if (!strchr("|-: ", *s)) return false;
    return true;
}

rb_status rb__markdown_to_html(const char *markdown, const char *folder, FILE *f)
{
    char *text = rb__strdup(markdown ? markdown : "");
    lines l = text ? split_lines(text) : (lines){NULL, 0};
    if (!text || (!l.at && *text)) {
        free(text);
        return rb_error(RB_ERR_MEMORY, "report: out of memory");
    }
    int pictures = 0;
    for (int i = 0; i < l.n;) {
        const char *s = l.at[i], *alt, *file;
        size_t alt_n, file_n;
        int h = 0;
        while (s[h] == '#')
            h++;
        if (blank(s)) {
            i++;
        } else if (strncmp(s, "```", 3) == 0) {
            fputs("<pre><code>", f);
            for (i++; i < l.n && strncmp(l.at[i], "```", 3) != 0; i++) {
                rb__html_escape(f, l.at[i], strlen(l.at[i]));
                fputc('\n', f);
            }
            fputs("</code></pre>\n", f);
            i++;
        } else if (h >= 1 && h <= 6 && s[h] == ' ') {
            fprintf(f, "<h%d>", h);
            inline_text(f, s + h + 1);
            fprintf(f, "</h%d>\n", h);
            i++;
        } else if (is_image(s, &alt, &alt_n, &file, &file_n)) {
            picture(f, alt, alt_n, file, file_n, folder, ++pictures);
            i++;
        } else if (s[0] == '|') {
            fputs("<table>\n<thead>\n", f);
            table_row(f, s, "th");
            fputs("</thead>\n<tbody>\n", f);
            for (i++; i < l.n && l.at[i][0] == '|'; i++)
                if (!separator_row(l.at[i])) table_row(f, l.at[i], "td");
            fputs("</tbody>\n</table>\n", f);
        } else if (s[0] == '>') {
            fputs("<blockquote><p>", f);
            for (bool first = true; i < l.n && l.at[i][0] == '>'; i++, first = false) {
                if (!first) fputc(' ', f);
                inline_text(f, l.at[i] + 1 + (l.at[i][1] == ' '));
            }
            fputs("</p></blockquote>\n", f);
        } else if (strncmp(s, "- ", 2) == 0 || ordered_item(s)) {
            bool ordered = ordered_item(s) > 0;
            fputs(ordered ? "<ol>\n" : "<ul>\n", f);
            while (i < l.n) {
                int skip = ordered ? ordered_item(l.at[i]) : strncmp(l.at[i], "- ", 2) ? 0 : 2;
                if (!skip) break;
                fputs("<li>", f);
                inline_text(f, l.at[i] + skip);
                /* Indented lines continue the item. */
                for (i++; i < l.n && l.at[i][0] == ' ' && !blank(l.at[i]); i++) {
                    fputc(' ', f);
                    inline_text(f, l.at[i] + strspn(l.at[i], " "));
                }
                fputs("</li>\n", f);
            }
            fputs(ordered ? "</ol>\n" : "</ul>\n", f);
        } else {
            fputs("<p>", f);
            inline_text(f, s);
            for (i++; i < l.n && !blank(l.at[i]) && l.at[i][0] != '|' && l.at[i][0] != '#' &&
                      strncmp(l.at[i], "```", 3) != 0 && strncmp(l.at[i], "- ", 2) != 0;
                 i++) {
                fputc(' ', f);
                inline_text(f, l.at[i]);
            }
            fputs("</p>\n", f);
        }
    }
    free(l.at);
    free(text);
    return ferror(f) ? rb_error(RB_ERR_IO, "report: cannot write the HTML page") : RB_OK;
}
