/* A study: its life (flags, start, finish), its experiments and their progress, and what the
 * program adds to its report (paragraphs, tables, plots, images, models, verdicts). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "study_internal.h"

/* ---- small helpers shared by the study's files ---- */

bool rb__grow(void **items, int *cap, int count, size_t size)
{
    if (count < *cap) return true;
    int grown = *cap ? 2 * *cap : 8;
    void *p = realloc(*items, size * (size_t)grown);
    if (!p) {
        rb_error(RB_ERR_MEMORY, "rb_study: out of memory");
        return false;
    }
    *items = p;
    *cap = grown;
    return true;
}

char *rb__strdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *vformat(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text) vsnprintf(text, (size_t)n + 1, fmt, again);
    va_end(again);
    return text;
}

char *rb__format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    return text;
}

rb_status rb__make_dirs(const char *dir, const char *who)
{
    char path[1200];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return rb_error(RB_ERR_IO, "%s: cannot create '%s': %s", who, path,
                                strerror(errno));
            *p = '/';
        }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return rb_error(RB_ERR_IO, "%s: cannot create '%s': %s", who, path, strerror(errno));
    return RB_OK;
}

/* The command line as a shell would take it back: arguments with special characters quoted. */
static char *command_line(int argc, char **argv)
{
    size_t size = 1;
    for (int i = 0; i < argc; i++)
        size += 4 * strlen(argv[i] ? argv[i] : "") + 3;
    char *out = malloc(size), *p = out;
    if (!out) return NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i] ? argv[i] : "";
        bool plain = *a != '\0';
        for (const char *c = a; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+",
                        *c))
                plain = false;
        if (i) *p++ = ' ';
        if (!plain) *p++ = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\'' && !plain) {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else
                *p++ = *c;
        }
        if (!plain) *p++ = '\'';
    }
    *p = '\0';
    return out;
}

/* ---- life of a study ---- */

static const char quick_note[] =
    "quick run (--quick): a few seconds on a subset; its numbers are not the study's results.";

rb_study *rb_study_new(int argc, char **argv, rb_study_info info)
{
    rb_study *s = calloc(1, sizeof *s);
    bool *used = calloc((size_t)(argc > 0 ? argc : 1), sizeof *used);
    char *command = command_line(argc > 0 && argv ? argc : 0, argv);
    if (!s || !used || !command) {
        free(s), free(used), free(command);
        rb_error(RB_ERR_MEMORY, "rb_study_new: out of memory");
        return NULL;
    }
    s->info = info;
    s->argc = argc > 0 && argv ? argc : 0;
    s->argv = argv;
    s->used = used;
    s->command = command;
    snprintf(s->seance, sizeof s->seance, "%s", info.seance ? info.seance : "studies");
    snprintf(s->name, sizeof s->name, "%s", info.name ? info.name : "study");
    snprintf(s->title, sizeof s->title, "%s", info.title ? info.title : s->name);
    if (s->info.quick_epochs < 1) s->info.quick_epochs = 2;
    s->start = rb_now();
    time_t now = time(NULL);
    struct tm local;
    if (localtime_r(&now, &local)) strftime(s->date, sizeof s->date, "%Y-%m-%d %H:%M %Z", &local);
    /* Other programs running change the timings: the page says how busy the machine was. */
    s->load = NAN;
    FILE *loadavg = fopen("/proc/loadavg", "r");
    if (loadavg) {
        if (fscanf(loadavg, "%lf", &s->load) != 1) s->load = NAN;
        fclose(loadavg);
    }
    rb__study_parse_common(s);
    snprintf(s->dir, sizeof s->dir, "%s/%s/%s", s->out, s->seance, s->name);
    return s;
}

static void say_raw(const rb_study *s, const char *text)
{
    if (s->info.quiet) return;
    fputs(text, stdout);
    fflush(stdout);
}

void rb_study_start(rb_study *s)
{
    int code = rb_study_parse(s);
    if (code >= 0) {
        rb_study_free(s);
        exit(code);
    }
    /* A quick run trains on a few thousand rows: one thread does it as fast and, unlike two,
     * stays fast on a machine busy with other programs (results do not depend on threads). */
    if (s->threads > 0 || s->quick) rb_set_num_threads(s->threads > 0 ? s->threads : 1);
    s->started = true;
    rb__make_dirs(s->dir, "rb_study_start");
    if (s->info.quiet) return;
    printf("%s (%s)\n\n", s->title, s->seance);
    if (s->info.question) printf("question: %s\n\n", s->info.question);
    if (s->info.expectation)
        printf("expected (stated before running):\n%s\n\n", s->info.expectation);
    if (s->quick) printf("%s\n\n", quick_note);
    fflush(stdout);
}

bool rb_study_quick(const rb_study *s) { return s && s->quick; }
uint64_t rb_study_seed(const rb_study *s) { return s ? s->seed : 1; }
int rb_study_seeds(const rb_study *s) { return s ? s->seeds : 1; }
const char *rb_study_dir(const rb_study *s) { return s ? s->dir : ""; }

int rb_study_epochs(const rb_study *s, int fallback)
{
    if (!s) return fallback;
    if (s->epochs > 0) return s->epochs;
    if (s->quick)
        return fallback > 0 && fallback < s->info.quick_epochs ? fallback : s->info.quick_epochs;
    return fallback;
}

rb_status rb_study_shrink(const rb_study *s, rb_dataset *d, int64_t rows)
{
    if (!s || !d || !d->x) return rb_error(RB_ERR_ARGUMENT, "rb_study_shrink: NULL argument");
    if (!s->quick || rows <= 0 || rows >= rb_dataset_rows(d)) return RB_OK;
    rb_dataset head;
    rb_status st = rb_dataset_head(d, rows, &head);
    if (st != RB_OK) return st;
    rb_dataset_free(d);
    *d = head;
    return RB_OK;
}

void rb_study_free(rb_study *s)
{
    if (!s) return;
    for (int i = 0; i < s->n_blocks; i++) {
        free(s->blocks[i].text);
        free(s->blocks[i].title);
        if (s->blocks[i].table) free(s->blocks[i].table->markdown);
        free(s->blocks[i].table);
    }
    for (int i = 0; i < s->n_verdicts; i++) {
        free(s->verdicts[i].expectation);
        free(s->verdicts[i].text);
    }
    for (int i = 0; i < s->n_models; i++) {
        free(s->models[i].label);
        free(s->models[i].summary);
        free(s->models[i].by_hand);
    }
    for (int i = 0; i < s->n_experiments; i++)
        rb_experiment_free(s->experiments[i]);
    free(s->blocks);
    free(s->verdicts);
    free(s->models);
    free(s->experiments);
    free(s->settings);
    free(s->used);
    free(s->command);
    free(s);
}

rb_status rb_study_write_report(rb_study *s)
{
    if (!s) return rb_error(RB_ERR_ARGUMENT, "rb_study_write_report: NULL study");
    return rb__study_write_files(s, s->finished);
}

int rb_study_finish(rb_study *s)
{
    if (!s) return 1;
    if (s->info.limits && !s->info.quiet) printf("\nlimits: %s\n", s->info.limits);
    s->finished = true;
    rb_status st = rb__study_write_files(s, true);
    if (!s->info.quiet) {
        if (st == RB_OK)
            printf("\nreport: %s/report.html (and report.md); every report: %s/index.html\n",
                   s->dir, s->out);
        else
            fprintf(stderr, "the report could not be written: %s\n", rb_last_error());
    }
    rb_study_free(s);
    return st == RB_OK ? 0 : 1;
}

/* ---- experiments and their progress ---- */

/* Adds to the experiment's own estimate the runs of experiments not started yet, each taking
 * the mean duration of the runs done so far in the study (or of the current run). */
static void on_progress(void *ctx, rb_experiment *current, rb_progress_event *event)
{
    rb_study *s = ctx;
    double done_seconds = 0;
    int done = 0, waiting = 0;
    for (int i = 0; i < s->n_experiments; i++) {
        rb_experiment *e = s->experiments[i];
        done += e->done_runs;
        done_seconds += e->done_seconds;
        if (e != current && e->planned_runs == 0 && e->done_runs == 0)
            waiting += e->n * e->cfg.seeds;
    }
    if (event->remaining >= 0 && waiting > 0) {
        double share =
            event->epochs > 0
                ? ((event->epoch - 1) +
                   (event->steps > 0 ? (double)event->step / (double)event->steps : 1.0)) /
                      event->epochs
                : 0;
        double run = done        ? done_seconds / done
                     : share > 0 ? (rb_now() - current->run_start) / share
                                 : NAN;
        event->remaining = isnan(run) ? -1 : event->remaining + waiting * run;
    }
    if (!s->info.quiet) rb_progress_show(&s->display, event);
}

static bool add_block(rb_study *s, rb__block b)
{
    if (!rb__grow((void **)&s->blocks, &s->cap_blocks, s->n_blocks, sizeof *s->blocks)) {
        free(b.text);
        free(b.title);
        return false;
    }
    s->blocks[s->n_blocks++] = b;
    return true;
}

static void on_done(void *ctx, rb_experiment *e)
{
    rb_study *s = ctx;
    for (int i = 0; i < s->n_blocks; i++)
        if (s->blocks[i].kind == RB__EXPERIMENT && s->blocks[i].e == e) return;
    add_block(s, (rb__block){.kind = RB__EXPERIMENT, .e = e});
    /* A page after each experiment: a long study can be read while it runs. */
    rb__study_write_files(s, false);
}

rb_experiment *rb_study_experiment(rb_study *s, rb_experiment_config cfg, rb_run_fn fn,
                                   void *user_data)
{
    if (!s || !cfg.name || !*cfg.name) {
        rb_error(RB_ERR_ARGUMENT, "rb_study_experiment: a study and an experiment name are needed");
        return NULL;
    }
    if (!rb__grow((void **)&s->experiments, &s->cap_experiments, s->n_experiments,
                  sizeof *s->experiments))
        return NULL;
    char dir[1300], title[200];
    snprintf(dir, sizeof dir, "%s/%s", s->dir, cfg.name);
    snprintf(title, sizeof title, "%s/%s", s->name, cfg.name);
    if (!cfg.dir) cfg.dir = dir;
    if (s->seeds_given || cfg.seeds < 1) cfg.seeds = s->seeds;
    if (!cfg.seed) cfg.seed = s->seed;
    if (!cfg.noise) cfg.noise = s->info.noise;
    if (s->epochs > 0)
        cfg.epochs = s->epochs;
    else {
        if (!cfg.epochs) cfg.epochs = s->info.epochs;
        if (s->quick && (cfg.epochs <= 0 || cfg.epochs > s->info.quick_epochs))
            cfg.epochs = s->info.quick_epochs;
    }
    cfg.quiet = cfg.quiet || s->info.quiet;
    rb_experiment *e = rb_experiment_new(cfg, fn, user_data);
    if (!e) return NULL;
    s->experiments[s->n_experiments++] = e;
    rb__experiment_observe(e,
                           (rb__experiment_observer){
                               .progress = on_progress, .done = on_done, .ctx = s, .title = title});
    return e;
}

/* ---- what the program adds to the report ---- */

void rb_study_say(rb_study *s, const char *fmt, ...)
{
    if (!s || !fmt) return;
    va_list ap;
    va_start(ap, fmt);
    char *text = vformat(fmt, ap);
    va_end(ap);
    if (!text) return;
    say_raw(s, "\n");
    say_raw(s, text);
    say_raw(s, "\n");
    add_block(s, (rb__block){.kind = RB__TEXT, .text = text});
}

void rb_study_section(rb_study *s, const char *title)
{
    if (!s || !title) return;
    if (!s->info.quiet) printf("\n== %s ==\n", title);
    add_block(s, (rb__block){.kind = RB__TEXT, .text = rb__format("### %s", title)});
}

/* "a|b|c" as a markdown row "| a | b | c |", and its number of cells. */
static char *markdown_row(const char *cells, int *count)
{
    size_t n = strlen(cells);
    char *row = malloc(3 * n + 8), *p = row;
    if (!row) return NULL;
    int k = 1;
    p += sprintf(p, "| ");
    for (const char *c = cells; *c; c++) {
        if (*c == '|') {
            p += sprintf(p, " | ");
            k++;
        } else if (*c != '\n')
            *p++ = *c;
    }
    sprintf(p, " |\n");
    if (count) *count = k;
    return row;
}

static bool table_append(rb_table *t, const char *text)
{
    size_t old = t->markdown ? strlen(t->markdown) : 0, add = strlen(text);
    char *grown = realloc(t->markdown, old + add + 1);
    if (!grown) return false;
    memcpy(grown + old, text, add + 1);
    t->markdown = grown;
    return true;
}

rb_table *rb_study_table(rb_study *s, const char *title, const char *columns)
{
    if (!s || !columns) {
        rb_error(RB_ERR_ARGUMENT, "rb_study_table: a study and columns are needed");
        return NULL;
    }
    rb_table *t = calloc(1, sizeof *t);
    char *header = markdown_row(columns, t ? &t->columns : NULL);
    char *heading = rb__format("**%s**\n\n", title ? title : "");
    if (!t || !header || !heading || !table_append(t, title ? heading : "") ||
        !table_append(t, header)) {
        if (t) free(t->markdown);
        free(t), free(header), free(heading);
        rb_error(RB_ERR_MEMORY, "rb_study_table: out of memory");
        return NULL;
    }
    for (int i = 0; i < t->columns; i++)
        table_append(t, i ? "---|" : "|---|");
    table_append(t, "\n");
    t->quiet = s->info.quiet;
    if (!t->quiet) printf("\n%s%s", title ? heading : "", strstr(t->markdown, "| "));
    free(header);
    free(heading);
    if (!add_block(s, (rb__block){.kind = RB__TABLE, .table = t})) {
        free(t->markdown);
        free(t);
        return NULL;
    }
    return t;
}

void rb_table_row(rb_table *t, const char *fmt, ...)
{
    if (!t || !fmt) return;
    va_list ap;
    va_start(ap, fmt);
    char *cells = vformat(fmt, ap);
    va_end(ap);
    char *row = cells ? markdown_row(cells, NULL) : NULL;
    if (row && table_append(t, row) && !t->quiet) {
        fputs(row, stdout);
        fflush(stdout);
    }
    free(row);
    free(cells);
}

static void add_picture(rb_study *s, const char *file, const char *title)
{
    add_block(s, (rb__block){.kind = RB__PICTURE,
                             .text = rb__strdup(file),
                             .title = rb__strdup(title ? title : "")});
}

rb_status rb_study_plot(rb_study *s, const char *file, rb_plot plot, int n, const rb_series *series)
{
    if (!s || !file)
        return rb_error(RB_ERR_ARGUMENT, "rb_study_plot: a study and a file are needed");
    char base[1400], svg[160];
    snprintf(base, sizeof base, "%s/%s", s->dir, file);
    rb_status st = rb__make_dirs(s->dir, "rb_study_plot");
    if (st == RB_OK) st = rb_plot_lines(base, plot, n, series);
    if (st != RB_OK) return st;
    snprintf(svg, sizeof svg, "%s.svg", file);
    add_picture(s, svg, plot.title);
    if (!s->info.quiet) printf("plot: %s.png\n", base);
    return RB_OK;
}

rb_status rb_study_surface(rb_study *s, const char *file, rb_plot plot, rb_surface surface, int n,
                           const rb_series *paths)
{
    if (!s || !file)
        return rb_error(RB_ERR_ARGUMENT, "rb_study_surface: a study and a file are needed");
    char base[1400], svg[160];
    snprintf(base, sizeof base, "%s/%s", s->dir, file);
    rb_status st = rb__make_dirs(s->dir, "rb_study_surface");
    if (st == RB_OK) st = rb_plot_surface(base, plot, surface, n, paths);
    if (st != RB_OK) return st;
    snprintf(svg, sizeof svg, "%s.svg", file);
    add_picture(s, svg, plot.title);
    if (!s->info.quiet) printf("plot: %s.png\n", base);
    return RB_OK;
}

rb_status rb_study_images(rb_study *s, const char *file, const rb_tensor *images,
                          rb_image_grid grid)
{
    if (!s || !file)
        return rb_error(RB_ERR_ARGUMENT, "rb_study_images: a study and a file are needed");
    char path[1400], png[160];
    snprintf(path, sizeof path, "%s/%s.png", s->dir, file);
    rb_status st = rb__make_dirs(s->dir, "rb_study_images");
    if (st == RB_OK) st = rb_plot_images(path, images, grid);
    if (st != RB_OK) return st;
    snprintf(png, sizeof png, "%s.png", file);
    add_picture(s, png, grid.title);
    if (!s->info.quiet) printf("images: %s\n", path);
    return RB_OK;
}

static bool add_verdict(rb_study *s, const char *expectation, const char *text, bool holds)
{
    if (!s->info.quiet) {
        printf("\nexpected: %s\n  -> %s\n", expectation ? expectation : "", text);
        fflush(stdout);
    }
    if (rb__grow((void **)&s->verdicts, &s->cap_verdicts, s->n_verdicts, sizeof *s->verdicts))
        s->verdicts[s->n_verdicts++] =
            (rb__verdict){rb__strdup(expectation ? expectation : ""), rb__strdup(text), holds};
    return holds;
}

bool rb_study_check(rb_study *s, const char *expectation, bool holds, const char *fmt, ...)
{
    if (!s) return holds;
    char *measured = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        measured = vformat(fmt, ap);
        va_end(ap);
    }
    char *text = rb__format("%s%s", holds ? "as expected: " : "not as expected, because ",
                            measured ? measured : "");
    add_verdict(s, expectation, text ? text : "", holds);
    free(measured);
    free(text);
    return holds;
}

bool rb_study_expect(rb_study *s, const char *expectation, const char *a_label, rb_measure a,
                     rb_order expected, const char *b_label, rb_measure b)
{
    char text[1024];
    bool holds =
        rb_verdict(text, sizeof text, a_label, a, expected, b_label, b, s ? s->info.noise : 0);
    return s ? add_verdict(s, expectation, text, holds) : holds;
}

void rb_study_model(rb_study *s, const char *label, const rb_model *m, const char *by_hand,
                    int64_t counted)
{
    if (!s || !m) return;
    char *summary = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&summary, &size);
    if (f) {
        rb_model_summary(m, f);
        fclose(f);
    }
    int64_t reported = rb_model_num_params(m, false);
    if (!s->info.quiet) {
        printf("\n%s", summary ? summary : "");
        printf("parameters of %s: %lld by hand (%s), %lld reported by the library: %s\n",
               label ? label : rb_model_name(m), (long long)counted, by_hand ? by_hand : "",
               (long long)reported, counted == reported ? "they agree" : "THEY DIFFER");
    }
    if (rb__grow((void **)&s->models, &s->cap_models, s->n_models, sizeof *s->models))
        s->models[s->n_models++] =
            (rb__model){rb__strdup(label ? label : rb_model_name(m)), summary,
                        rb__strdup(by_hand ? by_hand : ""), counted, reported};
    else
        free(summary);
    if (counted != reported) {
        static const char differ[] =
            "not as expected, because the library counts %lld parameters, the hand %lld (%s)";
        char *text =
            rb__format(differ, (long long)reported, (long long)counted, by_hand ? by_hand : "");
        add_verdict(s, "the parameter count by hand matches the library's", text ? text : "",
                    false);
        free(text);
    }
}
