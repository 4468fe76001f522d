/* A study's flags: the common ones, the study's own typed settings, usage and its errors. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "study_internal.h"

void rb__study_usage_error(rb_study *s, const char *fmt, ...)
{
    if (s->error[0]) return; /* the first error is the one to fix */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
}

/* The value of argument i: after '=' in it, else the next argument (marked used). */
static const char *value_of(rb_study *s, int i, const char *flag)
{
    const char *eq = strchr(s->argv[i], '=');
    if (eq) return eq + 1;
    if (i + 1 < s->argc) {
        s->used[i + 1] = true;
        return s->argv[i + 1];
    }
    rb__study_usage_error(s, "%s needs a value", flag);
    return NULL;
}

/* Whether argument i is --name or --name=... */
static bool is_flag(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, name, n) == 0 &&
           (arg[2 + n] == '\0' || arg[2 + n] == '=');
}

/* The last value given for --name (its arguments marked used), or NULL. */
static const char *find_value(rb_study *s, const char *name)
{
    const char *v = NULL;
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", name);
    for (int i = 1; i < s->argc; i++)
        if (!s->used[i] && is_flag(s->argv[i], name)) {
            s->used[i] = true;
            v = value_of(s, i, flag);
        }
    return v;
}

static bool parse_long(const char *text, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false",
                                                                                "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, yes[i]) == 0) return *out = true;
        if (strcmp(text, no[i]) == 0) return !(*out = false);
    }
    return false;
}

/* An integer flag in [lo, hi]: its value, or fallback (and an error when malformed). */
static long int_flag(rb_study *s, const char *name, long lo, long hi, long fallback)
{
    const char *v = find_value(s, name);
    long out;
    if (!v) return fallback;
    if (parse_long(v, lo, hi, &out)) return out;
    rb__study_usage_error(s, "--%s expects a whole number from %ld to %ld, got '%s'", name, lo, hi,
                          v);
    return fallback;
}

void rb__study_parse_common(rb_study *s)
{
    for (int i = 1; i < s->argc; i++)
        if (strcmp(s->argv[i], "--help") == 0 || strcmp(s->argv[i], "-h") == 0)
            s->used[i] = s->help = true;
        else if (strcmp(s->argv[i], "--quick") == 0)
            s->used[i] = s->quick = true;
    s->epochs = (int)int_flag(s, "epochs", 1, 100000, 0);
    s->seed = (uint64_t)int_flag(s, "seed", 1, 1000000000, 1);
    long seeds = int_flag(s, "seeds", 1, 1000, 0);
    s->seeds_given = seeds > 0;
    s->seeds = seeds > 0 ? (int)seeds : s->info.seeds > 0 ? s->info.seeds : 1;
    s->threads = (int)int_flag(s, "threads", 1, 4096, 0);
    const char *out = find_value(s, "out");
    if (out && !*out) rb__study_usage_error(s, "--out expects a folder");
    snprintf(s->out, sizeof s->out, "%s", out && *out ? out : "results");
    for (size_t n = strlen(s->out); n > 1 && s->out[n - 1] == '/'; n--)
        s->out[n - 1] = '\0'; /* "results/" and "results" are one folder */
    if (out && strlen(out) >= sizeof s->out - 200)
        rb__study_usage_error(s, "--out: a folder name of %zu characters is too long", strlen(out));
}

/* ---- the study's own settings ---- */

static const char *const common_names[] = {"help",  "quick",   "epochs", "seed",
                                           "seeds", "threads", "out"};

/* Records a setting for the usage text; false (and an error) when it cannot be declared. */
static bool declare(rb_study *s, const char *name, const char *kind, const char *fallback,
                    const char *help)
{
    if (!s) return false;
    if (!name || !*name || strlen(name) >= sizeof s->settings->name || strchr(name, '=')) {
        rb_error(RB_ERR_ARGUMENT, "rb_study: setting name '%s' is empty, too long or has '='",
                 name ? name : "(null)");
        return false;
    }
    if (s->started) {
        rb_error(RB_ERR_STATE, "rb_study: setting --%s declared after rb_study_start", name);
        return false;
    }
    for (size_t i = 0; i < sizeof common_names / sizeof *common_names; i++)
        if (strcmp(name, common_names[i]) == 0) {
            rb_error(RB_ERR_ARGUMENT, "rb_study: --%s is a common flag", name);
            return false;
        }
    for (int i = 0; i < s->n_settings; i++)
        if (strcmp(s->settings[i].name, name) == 0) {
            rb_error(RB_ERR_ARGUMENT, "rb_study: setting --%s declared twice", name);
            return false;
        }
    if (!rb__grow((void **)&s->settings, &s->cap_settings, s->n_settings, sizeof *s->settings))
        return false;
    rb__setting *d = &s->settings[s->n_settings++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    snprintf(d->fallback, sizeof d->fallback, "%s", fallback ? fallback : "");
    snprintf(d->help, sizeof d->help, "%s", help ? help : "");
    return true;
}

int rb_study_int(rb_study *s, const char *name, int fallback, const char *help)
{
    char text[32];
    snprintf(text, sizeof text, "%d", fallback);
    if (!declare(s, name, "N", text, help)) return fallback;
    const char *v = find_value(s, name);
    long out;
    if (!v) return fallback;
    if (parse_long(v, -2147483647L, 2147483647L, &out)) return (int)out;
    rb__study_usage_error(s, "--%s expects a whole number, got '%s'", name, v);
    return fallback;
}

double rb_study_double(rb_study *s, const char *name, double fallback, const char *help)
{
    char text[32];
    snprintf(text, sizeof text, "%g", fallback);
    if (!declare(s, name, "X", text, help)) return fallback;
    const char *v = find_value(s, name);
    double out;
    if (!v) return fallback;
    if (parse_double(v, &out)) return out;
    rb__study_usage_error(s, "--%s expects a number, got '%s'", name, v);
    return fallback;
}

bool rb_study_bool(rb_study *s, const char *name, bool fallback, const char *help)
{
    if (!declare(s, name, "", fallback ? "yes" : "no", help)) return fallback;
    bool value = fallback;
    char negated[64];
    snprintf(negated, sizeof negated, "no-%s", name);
    for (int i = 1; i < s->argc; i++) {
        if (s->used[i]) continue;
        const char *arg = s->argv[i];
        if (is_flag(arg, negated) || is_flag(arg, name)) {
            s->used[i] = true;
            const char *eq = strchr(arg, '=');
            bool given = true;
            if (eq && !parse_bool(eq + 1, &given))
                rb__study_usage_error(s, "--%s expects yes or no, got '%s'", name, eq + 1);
            value = is_flag(arg, negated) ? !given : given;
        }
    }
    return value;
}

const char *rb_study_string(rb_study *s, const char *name, const char *fallback, const char *help)
{
    if (!declare(s, name, "TEXT", fallback, help)) return fallback;
    const char *v = find_value(s, name);
    return v ? v : fallback;
}

int rb_study_choice(rb_study *s, const char *name, const char *choices, const char *fallback,
                    const char *help)
{
    if (!choices || !fallback) {
        rb_error(RB_ERR_ARGUMENT, "rb_study_choice: --%s without choices or fallback",
                 name ? name : "(null)");
        return 0;
    }
    char kind[sizeof s->settings->kind];
    snprintf(kind, sizeof kind, "%s", strlen(choices) < sizeof kind ? choices : "CHOICE");
    int fallback_index = -1;
    if (!declare(s, name, kind, fallback, help)) return 0;
    if (strlen(choices) >= sizeof kind) {
        /* Long choices go into the help instead of the placeholder. */
        rb__setting *d = &s->settings[s->n_settings - 1];
        snprintf(d->help, sizeof d->help, "%.120s (one of %.70s)", help ? help : "", choices);
    }
    const char *v = find_value(s, name);
    int index = 0, found = -1;
    for (const char *c = choices; *c; index++) {
        size_t n = strcspn(c, "|");
        if (strlen(fallback) == n && strncmp(c, fallback, n) == 0) fallback_index = index;
        if (v && strlen(v) == n && strncmp(c, v, n) == 0) found = index;
        c += n + (c[n] == '|');
    }
    if (fallback_index < 0) {
        rb_error(RB_ERR_ARGUMENT, "rb_study_choice: fallback '%s' is not one of '%s'", fallback,
                 choices);
        return 0;
    }
    if (v && found < 0)
        rb__study_usage_error(s, "--%s expects one of %s, got '%s'", name, choices, v);
    return found >= 0 ? found : fallback_index;
}

/* Parses "0.1,0.03,1e-3" into values; false when malformed or longer than cap. */
static bool parse_list(const char *text, double *values, int cap, int *count)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        char item[64];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item || n == cap) return false;
        memcpy(item, p, len);
        item[len] = '\0';
        if (!parse_double(item, &values[n++])) return false;
        p += len;
        if (*p == ',' && !*++p) return false; /* a trailing comma */
    }
    *count = n;
    return n > 0;
}

int rb_study_list(rb_study *s, const char *name, const char *fallback, double *values, int cap,
                  const char *help)
{
    if (!values || cap < 1 || !fallback) {
        rb_error(RB_ERR_ARGUMENT, "rb_study_list: --%s needs room for values and a fallback",
                 name ? name : "(null)");
        return 0;
    }
    int n = 0;
    if (!parse_list(fallback, values, cap, &n)) {
        rb_error(RB_ERR_ARGUMENT,
                 "rb_study_list: fallback '%s' of --%s is not a list of at most %d numbers",
                 fallback, name ? name : "(null)", cap);
        return 0;
    }
    if (!declare(s, name, "LIST", fallback, help)) return n;
    const char *v = find_value(s, name);
    if (!v) return n;
    double given[256];
    int m = 0;
    if (parse_list(v, given, cap < 256 ? cap : 256, &m)) {
        memcpy(values, given, sizeof(double) * (size_t)m);
        return m;
    }
    rb__study_usage_error(s, "--%s expects up to %d numbers separated by commas, got '%s'", name,
                          cap, v);
    return n;
}

/* The index of the choice text[0, n) among choices "a|b|c", or -1. */
static int choice_index(const char *choices, const char *text, size_t n)
{
    int index = 0;
    for (const char *c = choices; *c; index++) {
        size_t len = strcspn(c, "|");
        if (len == n && strncmp(c, text, n) == 0) return index;
        c += len + (c[len] == '|');
    }
    return -1;
}

/* Parses "lstm,gru" into indices of choices; false when a name is unknown or repeated, the list
 * malformed or longer than cap. */
static bool parse_choices(const char *text, const char *choices, int *indices, int cap, int *count)
{
    int n = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, ",");
        int index = choice_index(choices, p, len);
        if (len == 0 || index < 0 || n == cap) return false;
        for (int i = 0; i < n; i++)
            if (indices[i] == index) return false;
        indices[n++] = index;
        p += len;
        if (*p == ',' && !*++p) return false; /* a trailing comma */
    }
    *count = n;
    return n > 0;
}

int rb_study_choices(rb_study *s, const char *name, const char *choices, const char *fallback,
                     int *indices, int cap, const char *help)
{
    int n = 0;
    if (!choices || !*choices || !fallback || !indices || cap < 1 ||
        !parse_choices(fallback, choices, indices, cap, &n)) {
        rb_error(RB_ERR_ARGUMENT,
                 "rb_study_choices: fallback '%s' of --%s is not a list of at most %d of '%s'",
                 fallback ? fallback : "(null)", name ? name : "(null)", cap,
                 choices ? choices : "(null)");
        return 0;
    }
    char described[sizeof s->settings->help];
    snprintf(described, sizeof described, "%.120s (any of %.70s)", help ? help : "", choices);
    if (!declare(s, name, "LIST", fallback, described)) return n;
    const char *v = find_value(s, name);
    if (!v) return n;
    int given[256], m = 0;
    if (parse_choices(v, choices, given, cap < 256 ? cap : 256, &m)) {
        memcpy(indices, given, sizeof(int) * (size_t)m);
        return m;
    }
    rb__study_usage_error(s, "--%s expects up to %d of %s separated by commas, each once, got '%s'",
                          name, cap, choices, v);
    return n;
}

/* ---- usage ---- */

static const char *program_name(const rb_study *s)
{
    const char *p = s->argc > 0 && s->argv[0] ? s->argv[0] : s->name;
    const char *slash = strrchr(p, '/');
    return slash ? slash + 1 : p;
}

static void flag_line(FILE *f, const char *flag, const char *help, const char *fallback)
{
    fprintf(f, "  %-24s %s", flag, help);
    if (fallback && *fallback) fprintf(f, " (default: %s)", fallback);
    fprintf(f, "\n");
}

void rb_study_usage(const rb_study *s, FILE *f, bool full)
{
    if (!s || !f) return;
    fprintf(f, "usage: %s [--help] [--quick] [--epochs N] [--seed N]", program_name(s));
    fprintf(f, " [--seeds N] [--threads N] [--out DIR]");
    for (int i = 0; i < s->n_settings; i++) {
        const rb__setting *d = &s->settings[i];
        if (d->kind[0])
            fprintf(f, " [--%s %s]", d->name, d->kind);
        else
            fprintf(f, " [--[no-]%s]", d->name);
    }
    fprintf(f, "\n");
    if (!full) return;
    fprintf(f, "\n%s", s->title);
    if (s->info.question) fprintf(f, ": %s", s->info.question);
    fprintf(f, "\n\ncommon flags:\n");
    char epochs[64], seeds[16], threads[64], out[1000];
    if (s->info.epochs > 0)
        snprintf(epochs, sizeof epochs, "%d", s->info.epochs);
    else
        snprintf(epochs, sizeof epochs, "each experiment's own");
    snprintf(seeds, sizeof seeds, "%d", s->info.seeds > 0 ? s->info.seeds : 1);
    snprintf(threads, sizeof threads, "%d, the cores available", rb_num_threads());
    snprintf(out, sizeof out, "results; the report goes to <out>/%s/%s/", s->seance, s->name);
    char quick[96];
    snprintf(quick, sizeof quick, "a few seconds on a subset, %d epochs, 1 thread (for tests)",
             s->info.quick_epochs > 0 ? s->info.quick_epochs : 2);
    flag_line(f, "--help, -h", "this text", NULL);
    flag_line(f, "--quick", quick, NULL);
    flag_line(f, "--epochs N", "epochs of every training run", epochs);
    flag_line(f, "--seed N", "seed of the first run of each configuration", "1");
    flag_line(f, "--seeds N", "runs of each configuration (seeds N, N+1, ...)", seeds);
    flag_line(f, "--threads N", "threads for ruban and BLIS", threads);
    flag_line(f, "--out DIR", "results folder", out);
    if (s->n_settings) fprintf(f, "\nsettings of this study:\n");
    for (int i = 0; i < s->n_settings; i++) {
        const rb__setting *d = &s->settings[i];
        char flag[96];
        if (d->kind[0])
            snprintf(flag, sizeof flag, "--%s %s", d->name, d->kind);
        else
            snprintf(flag, sizeof flag, "--[no-]%s", d->name);
        flag_line(f, flag, d->help, d->fallback);
    }
    fprintf(f, "\nA value follows its flag or an '=': --epochs 3, --epochs=3, --lr 0.1,0.01.\n");
}

const char *rb_study_error(const rb_study *s) { return s ? s->error : ""; }

int rb_study_parse(rb_study *s)
{
    if (!s) return 2;
    if (s->help) {
        if (!s->info.quiet) rb_study_usage(s, stdout, true);
        return 0;
    }
    for (int i = 1; i < s->argc && !s->error[0]; i++)
        if (!s->used[i])
            rb__study_usage_error(s,
                                  strncmp(s->argv[i], "-", 1) == 0 ? "unknown flag '%s'"
                                                                   : "unexpected argument '%s'",
                                  s->argv[i]);
    if (s->error[0]) {
        if (!s->info.quiet) {
            fprintf(stderr, "%s: %s\n", program_name(s), s->error);
            rb_study_usage(s, stderr, false);
            fprintf(stderr, "(%s --help for every flag and its default)\n", program_name(s));
        }
        return 2;
    }
    return -1;
}
