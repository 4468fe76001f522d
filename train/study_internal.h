/* A study's state, shared by its files (internal to train/). */
#ifndef RUBAN_TRAIN_STUDY_INTERNAL_H
#define RUBAN_TRAIN_STUDY_INTERNAL_H

#include "experiment_internal.h"

/* One declared setting, for the usage text. */
typedef struct rb__setting {
    char name[48];
    char kind[12]; /* "N", "X", "LIST", "TEXT", "a|b|c", "" for booleans */
    char fallback[160];
    char help[200];
} rb__setting;

typedef enum rb__block_kind {
    RB__TEXT,       /* markdown */
    RB__EXPERIMENT, /* an experiment's table, best configuration and pictures */
    RB__TABLE,      /* a table filled row by row */
    RB__PICTURE     /* an SVG or PNG file of the study's folder */
} rb__block_kind;

struct rb_table {
    char *markdown; /* title, header and rows so far */
    int columns;
    bool quiet;
};

typedef struct rb__block {
    rb__block_kind kind;
    char *text;       /* TEXT; PICTURE: the file (relative to the study's folder) */
    char *title;      /* PICTURE */
    rb_experiment *e; /* EXPERIMENT */
    rb_table *table;  /* TABLE */
} rb__block;

typedef struct rb__verdict {
    char *expectation, *text;
    bool holds;
} rb__verdict;

typedef struct rb__model {
    char *label, *summary, *by_hand;
    int64_t counted, reported;
} rb__model;

struct rb_study {
    rb_study_info info;
    char seance[64], name[64], title[160];
    char out[900], dir[1100];
    char *command; /* the command line, shell-quoted */
    /* Arguments: used[i] once a flag consumed argv[i]. */
    int argc;
    char **argv;
    bool *used;
    bool started, help, quick;
    char error[512]; /* the first usage error */
    int epochs;      /* --epochs (0: not given) */
    int seeds;       /* --seeds or info.seeds */
    bool seeds_given;
    uint64_t seed;
    int threads;
    int n_settings, cap_settings;
    rb__setting *settings;
    /* The report. */
    double start;
    char date[64];
    double load; /* the machine's load average when the study began (NaN: unknown) */
    int n_blocks, cap_blocks;
    rb__block *blocks;
    int n_verdicts, cap_verdicts;
    rb__verdict *verdicts;
    int n_models, cap_models;
    rb__model *models;
    int n_experiments, cap_experiments;
    rb_experiment **experiments;
    rb_progress_display display;
    bool finished;
};

/* Grows an array of count elements of size bytes to hold one more; false when out of memory. */
bool rb__grow(void **items, int *cap, int count, size_t size);
char *rb__strdup(const char *s);
/* printf into a new string (the caller frees it). */
char *rb__format(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Creates a folder and its parents. */
rb_status rb__make_dirs(const char *dir, const char *who);

/* Flags: the common ones at rb_study_new, the study's own as they are declared. */
void rb__study_parse_common(rb_study *s);
void rb__study_usage_error(rb_study *s, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The report: markdown text (the caller frees it), both files, the index of every report. */
char *rb__study_markdown(const rb_study *s, bool complete);
rb_status rb__study_write_files(rb_study *s, bool complete);
/* Markdown (the subset the report uses) into HTML; images are inlined from folder. */
rb_status rb__markdown_to_html(const char *markdown, const char *folder, FILE *out);
/* Escapes text for HTML. */
void rb__html_escape(FILE *f, const char *text, size_t n);

#endif
