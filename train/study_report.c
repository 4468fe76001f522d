/* A study's report: one markdown text, written as report.md and, converted with its pictures
 * inlined, as a self-contained report.html; then the index of every report. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "study_internal.h"

/* Console text as markdown: lines starting with "1." or "-" begin list items, other lines
 * continue the paragraph or item before them. */
static void console_markdown(FILE *f, const char *text)
{
    if (!text) return;
    bool in_item = false, started = false;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, "\n");
        const char *line = p;
        while (line < p + n && *line == ' ')
            line++;
        size_t rest = (size_t)(p + n - line), digits = 0;
        while (digits < rest && line[digits] >= '0' && line[digits] <= '9')
            digits++;
        bool item =
            (digits > 0 && digits + 1 < rest && line[digits] == '.' && line[digits + 1] == ' ') ||
            (rest > 1 && line[0] == '-' && line[1] == ' ');
        if (rest == 0) {
            if (started) fputs("\n\n", f);
            started = in_item = false;
        } else if (item) {
            fputs(started && !in_item ? "\n\n" : started ? "\n" : "", f);
            fwrite(line, 1, rest, f);
            started = in_item = true;
        } else {
            fputs(started ? " " : "", f);
            fwrite(line, 1, rest, f);
            started = true;
        }
        p += n + (p[n] == '\n');
    }
    fputs("\n\n", f);
}

/* The CPU's name as the kernel reports it, else its vendor, family and model. */
static void cpu_name(char *out, size_t size, const rb_runtime_info *info)
{
    snprintf(out, size, "%s family %u model %u", info->cpu_vendor, info->cpu_family,
             info->cpu_model);
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            char *v = strchr(line, ':') + 1;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = '\0';
            if (*v)
                snprintf(out, size, "%s (%s family %u model %u)", v, info->cpu_vendor,
                         info->cpu_family, info->cpu_model);
            break;
        }
    fclose(f);
}

static int verdicts_held(const rb_study *s)
{
    int held = 0;
    for (int i = 0; i < s->n_verdicts; i++)
        held += s->verdicts[i].holds;
    return held;
}

/* The path of an experiment's results folder relative to the study's. */
static const char *relative(const rb_study *s, const char *path)
{
    size_t n = strlen(s->dir);
    return strncmp(path, s->dir, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

/* A picture line, or a note when it was not rendered (gnuplot missing). */
static void picture_line(FILE *f, const rb_study *s, const char *file, const char *title)
{
    char path[2400], alt[256];
    snprintf(path, sizeof path, "%s/%s", s->dir, file);
    snprintf(alt, sizeof alt, "%s", title && *title ? title : file);
    for (char *c = alt; *c; c++)
        if (*c == '[' || *c == ']') *c = *c == '[' ? '(' : ')';
    if (access(path, R_OK) == 0)
        fprintf(f, "![%s](%s)\n\n", alt, file);
    else
        fprintf(f, "*%s*: not rendered (gnuplot missing); `gnuplot %.*s.gp` draws it.\n\n", alt,
                (int)(strrchr(file, '.') ? strrchr(file, '.') - file : (long)strlen(file)), file);
}

static void experiment_block(FILE *f, const rb_study *s, const rb_experiment *e)
{
    fprintf(f, "### %s\n\n", e->name);
    if (!rb__first_history(e)) {
        fprintf(f, "Not run.\n\n");
        return;
    }
    rb__experiment_write_table(e, f);
    char sentence[1024];
    rb__experiment_best_sentence(e, sentence, sizeof sentence);
    fprintf(f, "\n%s\n\n", sentence);
    const char *folder = relative(s, e->out_dir);
    for (int k = 0; k < e->n_pictures; k++) {
        char file[1200];
        snprintf(file, sizeof file, "%s/%s.svg", folder, e->pictures[k].file);
        picture_line(f, s, file, e->pictures[k].title);
    }
}

static void verdict_item(FILE *f, const rb__verdict *v)
{
    static const char yes[] = "as expected: ", no[] = "not as expected, because ";
    const char *text = v->text;
    if (strncmp(text, yes, strlen(yes)) == 0) text += strlen(yes);
    if (strncmp(text, no, strlen(no)) == 0) text += strlen(no);
    fprintf(f, "- %s → **%s**%s%s\n", v->expectation, v->holds ? "as expected" : "not as expected",
            v->holds ? ": " : ", because ", text);
}

static const char quick_page[] =
    "a few seconds on a subset, to check that the program works; its numbers are not results.";
static const char tie_rule[] =
    "A difference within %g times its noise (the seed-to-seed spread) counts as a tie.\n";

char *rb__study_markdown(const rb_study *s, bool complete)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return NULL;
    char took[32];
    rb_format_duration(took, sizeof took, rb_now() - s->start);
    fprintf(f, "# %s\n\n%s · study `%s` · %s · %s%s\n\n", s->title, s->seance, s->name, s->date,
            took, complete ? "" : " so far");
    if (s->quick) fprintf(f, "> **Quick run** (`--quick`): %s\n\n", quick_page);
    if (!complete)
        fprintf(f, "> **Still running**: this page was written before the study finished.\n\n");
    if (s->info.question) {
        fprintf(f, "## Question\n\n");
        console_markdown(f, s->info.question);
    }
    if (s->info.expectation) {
        fprintf(f, "## Expected, stated before running\n\n");
        console_markdown(f, s->info.expectation);
    }
    fprintf(f, "## Verdicts\n\n");
    if (s->n_verdicts == 0) fprintf(f, "No expectation was checked%s.\n", complete ? "" : " yet");
    for (int i = 0; i < s->n_verdicts; i++)
        verdict_item(f, &s->verdicts[i]);
    if (s->n_verdicts) fprintf(f, "\n%d of %d as expected. ", verdicts_held(s), s->n_verdicts);
    if (s->n_verdicts) fprintf(f, tie_rule, RB_TIE_WITHIN);
    fprintf(f, "\n## Results\n\n");
    for (int i = 0; i < s->n_blocks; i++) {
        const rb__block *b = &s->blocks[i];
        switch (b->kind) {
        case RB__TEXT: fprintf(f, "%s\n\n", b->text ? b->text : ""); break;
        case RB__TABLE: fprintf(f, "%s\n", b->table->markdown); break;
        case RB__PICTURE: picture_line(f, s, b->text, b->title); break;
        case RB__EXPERIMENT: experiment_block(f, s, b->e); break;
        }
    }
    if (s->n_models) fprintf(f, "## Model%s\n\n", s->n_models > 1 ? "s" : "");
    for (int i = 0; i < s->n_models; i++) {
        const rb__model *m = &s->models[i];
        fprintf(f, "**%s**: %lld parameters by hand, `%s`; ", m->label, (long long)m->counted,
                m->by_hand);
        fprintf(f, "%lld reported by the library (`rb_model_num_params`): %s.\n\n",
                (long long)m->reported,
                m->counted == m->reported ? "they agree" : "**they differ**");
        fprintf(f, "```\n%s```\n\n", m->summary ? m->summary : "");
    }
    if (s->info.limits) {
        fprintf(f, "## Limits\n\n");
        console_markdown(f, s->info.limits);
    }
    rb_runtime_info info;
    rb_runtime_get_info(&info);
    char cpu[400];
    cpu_name(cpu, sizeof cpu, &info);
    fprintf(f, "## How this page was made\n\n| | |\n|---|---|\n");
    fprintf(f, "| command | `%s` |\n", s->command);
    fprintf(f, "| machine | %s; %d cores available, %d thread%s; BLIS %s kernels", cpu,
            info.num_cores, info.num_threads, info.num_threads > 1 ? "s" : "", info.blis_arch);
    if (!isnan(s->load)) fprintf(f, "; load average %.2f at the start", s->load);
    fprintf(f, " |\n");
    fprintf(f, "| date | %s |\n| duration | %s%s (%.1f s) |\n", s->date, took,
            complete ? "" : " so far", rb_now() - s->start);
    fprintf(f, "| runs | %d seed%s from seed %llu%s |\n", s->seeds, s->seeds > 1 ? "s" : "",
            (unsigned long long)s->seed, s->quick ? "; quick run" : "");
    fprintf(f, "| ruban | %s |\n", RUBAN_VERSION);
    fclose(f);
    return text;
}

static const char style[] =
    "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;line-height:1.45}"
    "main{max-width:1180px;margin:0 auto;padding:1.5em}"
    "h1{margin-bottom:.2em}"
    "h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.95em}"
    "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}"
    "tbody tr:nth-child(even){background:#fafafa}"
    "figure{margin:1em 0}"
    "figure svg,figure img{max-width:100%;height:auto;display:block;border:1px solid #eee}"
    "figure img{image-rendering:pixelated}"
    "figcaption{font-size:.9em;color:#555}"
    "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.85em}"
    "code{background:#f3f3f3;padding:0 .2em}"
    "pre code{background:none;padding:0}"
    "blockquote{border-left:4px solid #e0a000;background:#fff8e5;margin:1em 0;padding:.3em 1em}"
    ".missing{color:#a00}";

/* The page's facts for the index, as meta tags. */
static void meta(FILE *f, const char *name, const char *content)
{
    fprintf(f, "<meta name=\"ruban-%s\" content=\"", name);
    rb__html_escape(f, content, strlen(content));
    fputs("\">\n", f);
}

static rb_status write_html(rb_study *s, const char *markdown, bool complete)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/report.html", s->dir);
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_study_write_report") != RB_OK) return rb_last_status();
    FILE *f = w.f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", f);
    fputs("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    rb__html_escape(f, s->title, strlen(s->title));
    fputs(" (", f);
    rb__html_escape(f, s->seance, strlen(s->seance));
    fputs(")</title>\n", f);
    char verdicts[64], took[32];
    snprintf(verdicts, sizeof verdicts, "%d of %d as expected", verdicts_held(s), s->n_verdicts);
    rb_format_duration(took, sizeof took, rb_now() - s->start);
    meta(f, "seance", s->seance);
    meta(f, "study", s->name);
    meta(f, "title", s->title);
    meta(f, "question", s->info.question ? s->info.question : "");
    meta(f, "verdicts", verdicts);
    meta(f, "date", s->date);
    meta(f, "duration", took);
    meta(f, "run", !complete ? "still running" : s->quick ? "quick" : "full");
    fprintf(f, "<style>%s</style>\n</head>\n<body>\n<main>\n", style);
    rb_status st = rb__markdown_to_html(markdown, s->dir, f);
    fputs("</main>\n</body>\n</html>\n", f);
    if (st != RB_OK) {
        rb_atomic_file_abort(&w);
        return st;
    }
    return rb_atomic_file_commit(&w);
}

rb_status rb__study_write_files(rb_study *s, bool complete)
{
    rb_status st = rb__make_dirs(s->dir, "rb_study_write_report");
    if (st != RB_OK) return st;
    char *markdown = rb__study_markdown(s, complete);
    if (!markdown) return rb_error(RB_ERR_MEMORY, "rb_study_write_report: out of memory");
    char path[1300];
    snprintf(path, sizeof path, "%s/report.md", s->dir);
    rb_atomic_file w;
    st = rb_atomic_file_begin(&w, path, "rb_study_write_report");
    if (st == RB_OK) {
        fputs(markdown, w.f);
        st = rb_atomic_file_commit(&w);
    }
    if (st == RB_OK) st = write_html(s, markdown, complete);
    free(markdown);
    if (st == RB_OK) st = rb_study_write_index(s->out);
    return st;
}
