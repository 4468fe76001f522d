/* <out>/index.html: every report found in <out>/<seance>/<study>/report.html, rebuilt from the
 * folder each time a report is written (under a lock, so two studies finishing together both
 * end up in it). */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "study_internal.h"

typedef struct entry {
    char seance[64], study[64], title[160], question[600], verdicts[64], date[64], duration[32],
        run[32];
} entry;

/* The content of <meta name="ruban-<name>" content="...">, unescaped. */
static void meta_value(const char *html, const char *name, char *out, size_t size)
{
    char key[64];
    snprintf(key, sizeof key, "<meta name=\"ruban-%s\" content=\"", name);
    out[0] = '\0';
    const char *p = strstr(html, key);
    if (!p) return;
    p += strlen(key);
    size_t k = 0;
    static const char *const codes[][2] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}};
    while (*p && *p != '"' && k + 1 < size) {
        bool coded = false;
        for (int c = 0; c < 4 && !coded; c++)
            if (strncmp(p, codes[c][0], strlen(codes[c][0])) == 0) {
                out[k++] = codes[c][1][0];
                p += strlen(codes[c][0]);
                coded = true;
            }
        if (!coded) out[k++] = *p++;
    }
    out[k] = '\0';
}

/* Reads the head of a report (its meta tags come first). */
static bool read_entry(const char *out, const char *seance, const char *study, entry *e)
{
    char path[2400], head[16384];
    snprintf(path, sizeof path, "%s/%s/%s/report.html", out, seance, study);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    head[n] = '\0';
    memset(e, 0, sizeof *e);
    snprintf(e->seance, sizeof e->seance, "%s", seance);
    snprintf(e->study, sizeof e->study, "%s", study);
    meta_value(head, "title", e->title, sizeof e->title);
    meta_value(head, "question", e->question, sizeof e->question);
    meta_value(head, "verdicts", e->verdicts, sizeof e->verdicts);
    meta_value(head, "date", e->date, sizeof e->date);
    meta_value(head, "duration", e->duration, sizeof e->duration);
    meta_value(head, "run", e->run, sizeof e->run);
    if (!e->title[0]) snprintf(e->title, sizeof e->title, "%s", study);
    return true;
}

static int by_place(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->seance, y->seance);
    return c ? c : strcmp(x->study, y->study);
}

/* Names of the sub-folders of dir (hidden ones left out); the caller frees them. */
static int subfolders(const char *dir, char (**names)[64])
{
    *names = NULL;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.' || strlen(ent->d_name) >= 64) continue;
        char path[2400];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        DIR *sub = opendir(path);
        if (!sub) continue;
        closedir(sub);
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            void *grown = realloc(*names, sizeof **names * (size_t)cap);
            if (!grown) break;
            *names = grown;
        }
        snprintf((*names)[n++], 64, "%s", ent->d_name);
    }
    closedir(d);
    return n;
}

static void cell(FILE *f, const char *text) { rb__html_escape(f, text, strlen(text)); }

static const char head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>ruban: course reports</title>\n<style>\n"
    "body{font-family:system-ui,sans-serif;max-width:1180px;margin:0 auto;padding:1.5em}\n"
    "table{border-collapse:collapse;width:100%}th{background:#f3f3f3}\n"
    "th,td{border:1px solid #ccc;padding:.35em .6em;text-align:left;vertical-align:top}\n"
    ".quick{color:#946200}\n</style>\n</head>\n<body>\n<h1>Course reports</h1>\n";

static const char *const columns[6] = {"study", "question", "verdicts", "run", "date", "duration"};

static rb_status write_index(const char *out, const entry *entries, int n)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/index.html", out);
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_study_write_index") != RB_OK) return rb_last_status();
    FILE *f = w.f;
    fputs(head, f);
    fprintf(f,
            "<p>%d report%s, one per study: question, expectation, tables, curves, verdicts.</p>\n",
            n, n == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        if (i == 0 || strcmp(entries[i].seance, entries[i - 1].seance) != 0) {
            if (i) fputs("</tbody></table>\n", f);
            fputs("<h2>", f);
            cell(f, entries[i].seance);
            fputs("</h2>\n<table><thead><tr>", f);
            for (int c = 0; c < 6; c++)
                fprintf(f, "<th>%s</th>", columns[c]);
            fputs("</tr></thead><tbody>\n", f);
        }
        const entry *e = &entries[i];
        fputs("<tr><td><a href=\"", f);
        cell(f, e->seance);
        fputc('/', f);
        cell(f, e->study);
        fputs("/report.html\">", f);
        cell(f, e->title);
        fputs("</a></td><td>", f);
        cell(f, e->question);
        fputs("</td><td>", f);
        cell(f, e->verdicts);
        fprintf(f, "</td><td%s>", strcmp(e->run, "full") ? " class=\"quick\"" : "");
        cell(f, e->run);
        fputs("</td><td>", f);
        cell(f, e->date);
        fputs("</td><td>", f);
        cell(f, e->duration);
        fputs("</td></tr>\n", f);
    }
    if (n) fputs("</tbody></table>\n", f);
    fputs("</body>\n</html>\n", f);
    return rb_atomic_file_commit(&w);
}

rb_status rb_study_write_index(const char *out)
{
    if (!out) return rb_error(RB_ERR_ARGUMENT, "rb_study_write_index: no folder");
    rb_status st = rb__make_dirs(out, "rb_study_write_index");
    if (st != RB_OK) return st;
    char lock_path[1200];
    snprintf(lock_path, sizeof lock_path, "%s/.index.lock", out);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock >= 0) flock(lock, LOCK_EX);
    char(*seances)[64] = NULL;
    int n_seances = subfolders(out, &seances), n = 0, cap = 0;
    entry *entries = NULL;
    for (int i = 0; i < n_seances; i++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%s", out, seances[i]);
        char(*studies)[64] = NULL;
        int n_studies = subfolders(dir, &studies);
        for (int j = 0; j < n_studies; j++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                entry *grown = realloc(entries, sizeof *entries * (size_t)cap);
                if (!grown) break;
                entries = grown;
            }
            if (read_entry(out, seances[i], studies[j], &entries[n])) n++;
        }
        free(studies);
    }
    free(seances);
    if (n > 1) qsort(entries, (size_t)n, sizeof *entries, by_place);
    st = write_index(out, entries, n);
    free(entries);
    if (lock >= 0) close(lock); /* releases the lock */
    return st;
}
