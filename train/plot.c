/* Line plots through gnuplot: data and script files, then one gnuplot run per picture. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ruban.h"

bool rb_plot_available(void)
{
    static int found = -1;
    if (found >= 0) return found;
    found = 0;
    const char *path = getenv("PATH");
    if (!path) path = "/usr/bin:/bin";
    char dir[4096];
    while (*path && !found) {
        size_t n = strcspn(path, ":");
        snprintf(dir, sizeof dir, "%.*s/gnuplot", (int)n, path);
        found = access(dir, X_OK) == 0;
        path += n + (path[n] == ':');
    }
    return found;
}

/* gnuplot strings are single-quoted: double any quote. */
static void quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; s && *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static rb_status write_data(const char *path, int n, const rb_series *series)
{
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_plot_lines") != RB_OK) return rb_last_status();
    FILE *f = w.f;
    /* One block per series, separated by two blank lines (gnuplot's "index"). A run of NaNs
     * between points is one blank line (a gap): two in a row would start a new index. */
    for (int s = 0; s < n; s++) {
        fputs("# ", f);
        for (const char *c = series[s].label ? series[s].label : ""; *c; c++)
            fputc(*c == '\n' || *c == '\r' ? ' ' : *c, f);
        fputc('\n', f);
        bool points = false, gap = false;
        for (int i = 0; i < series[s].n; i++) {
            if (isnan(series[s].y[i])) {
                gap = points;
                continue;
            }
            if (gap) fprintf(f, "\n");
            fprintf(f, "%.10g %.10g", series[s].x[i], series[s].y[i]);
            if (series[s].err) fprintf(f, " %.10g", series[s].err[i]);
            fprintf(f, "\n");
            points = true;
            gap = false;
        }
        fprintf(f, "\n\n");
    }
    return rb_atomic_file_commit(&w);
}

/* 16 colours told apart easily (Tableau's 10, then darker variants). */
enum { COLORS = 16 };
static const char *const palette[COLORS] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#0b3d66", "#7a1414", "#145214", "#8a4a00", "#4b2a73", "#000000"};

/* One plot command: the series of one panel (-1: all of them), then the baselines. */
static void plot_panel(FILE *f, const char *data, rb_plot p, int n, const rb_series *series,
                       int panel)
{
    fprintf(f, "  plot ");
    int drawn = 0;
    for (int s = 0; s < n; s++) {
        if (panel >= 0 && series[s].panel != panel) continue;
        int color = series[s].color > 0 ? (series[s].color - 1) % COLORS + 1 : s % COLORS + 1;
        fprintf(f, "%s", drawn++ ? ", \\\n    " : "\\\n    ");
        quoted(f, data);
        if (series[s].err)
            fprintf(f, " index %d using 1:2:3 with yerrorlines lt %d pt 7 ps 0.5 dt %d title ", s,
                    color, series[s].dashed ? 2 : 1);
        else
            fprintf(f, " index %d using 1:2 with linespoints lt %d pt 7 ps 0.5 dt %d title ", s,
                    color, series[s].dashed ? 2 : 1);
        quoted(f, series[s].label ? series[s].label : "");
    }
    for (int b = 0; b < p.n_baselines; b++) {
        fprintf(f, "%s%.10g with lines lc rgb '#000000' lw 1.5 dt 3 title ",
                drawn++ ? ", \\\n    " : "\\\n    ", p.baselines[b].y);
        quoted(f, p.baselines[b].label ? p.baselines[b].label : "");
    }
    if (!drawn) fprintf(f, "NaN notitle");
    fprintf(f, "\n");
}

/* Small multiples share their axes, so panels compare at a glance. */
static void shared_ranges(FILE *f, rb_plot p, int n, const rb_series *series)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int s = 0; s < n; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            double e = series[s].err && !isnan(series[s].err[i]) ? fabs(series[s].err[i]) : 0;
            if (isnan(y) || isnan(x) || (p.logx && x <= 0)) continue;
            if (x < xlo) xlo = x;
            if (x > xhi) xhi = x;
            if (y - e < ylo && !(p.logy && y - e <= 0)) ylo = y - e;
            if (y + e > yhi) yhi = y + e;
        }
    for (int b = 0; b < p.n_baselines; b++) {
        double y = p.baselines[b].y;
        if (isnan(y) || (p.logy && y <= 0)) continue;
        if (y < ylo) ylo = y;
        if (y > yhi) yhi = y;
    }
    if (xlo < xhi) fprintf(f, "set xrange [%.10g:%.10g]\n", xlo, xhi);
    if (!(ylo < yhi)) return;
    if (p.logy)
        fprintf(f, "set yrange [%.10g:%.10g]\n", ylo / 1.1, yhi * 1.1);
    else
        fprintf(f, "set yrange [%.10g:%.10g]\n", ylo - 0.05 * (yhi - ylo),
                yhi + 0.05 * (yhi - ylo));
}

/* The script draws both pictures; outputs go to temporary names renamed afterwards. */
static rb_status write_script(const char *path, const char *base, const char *data, rb_plot p,
                              int n, const rb_series *series)
{
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_plot_lines") != RB_OK) return rb_last_status();
    FILE *f = w.f;
    fprintf(f, "# Render with: gnuplot %s\n", path);
    /* ruban renders to temporary names (suffix '.tmp'), renamed once complete. */
    fprintf(f, "if (!exists('suffix')) suffix = ''\n");
    fprintf(f, "set xlabel ");
    quoted(f, p.xlabel ? p.xlabel : "");
    fprintf(f, " noenhanced\nset ylabel ");
    quoted(f, p.ylabel ? p.ylabel : "");
    fprintf(f, " noenhanced\nset grid\n");
    if (p.logx) fprintf(f, "set logscale x\nset format x '%%g'\n");
    if (p.logy) fprintf(f, "set logscale y\nset format y '%%g'\n");
    for (int i = 0; i < COLORS; i++)
        fprintf(f, "set linetype %d lc rgb '%s' lw 2\n", i + 1, palette[i]);
    /* Whole-number x values (epochs) get whole-number ticks when there are few of them. */
    double max_x = 0;
    bool whole = true;
    for (int s = 0; s < n; s++)
        for (int i = 0; i < series[s].n; i++) {
            if (series[s].x[i] > max_x) max_x = series[s].x[i];
            if (series[s].x[i] != floor(series[s].x[i])) whole = false;
        }
    if (whole && !p.logx && max_x <= 12) fprintf(f, "set xtics 1\n");
    int panels = p.panels > 1 ? p.panels : 1;
    int columns = p.columns > 0 ? p.columns : panels <= 3 ? panels : panels == 4 ? 2 : 3;
    if (columns > panels) columns = panels;
    int rows = (panels + columns - 1) / columns;
    int width = panels > 1 ? 60 + 440 * columns : 1000;
    int height = panels > 1 ? 70 + 340 * rows : 560;
    if (panels > 1) shared_ranges(f, p, n, series);
    fprintf(f, "do for [t in 'pngcairo svg'] {\n");
    fprintf(f, "  if (t eq 'pngcairo') { set terminal pngcairo size %d,%d font ',11' }\n", width,
            height);
    fprintf(f, "  if (t eq 'svg') { set terminal svg size %d,%d dynamic font ',11' }\n", width,
            height);
    fprintf(f, "  set output ");
    fprintf(f, "sprintf('%%s.%%s%%s', ");
    quoted(f, base);
    fprintf(f, ", t eq 'pngcairo' ? 'png' : 'svg', suffix)\n");
    if (panels == 1) {
        fprintf(f, "  set title ");
        quoted(f, p.title ? p.title : "");
        fprintf(f, " noenhanced\n  set key outside right top noenhanced\n");
        plot_panel(f, data, p, n, series, -1);
    } else {
        fprintf(f, "  set multiplot layout %d,%d title ", rows, columns);
        quoted(f, p.title ? p.title : "");
        fprintf(f, " noenhanced\n  set key below horizontal noenhanced\n");
        for (int k = 0; k < panels; k++) {
            fprintf(f, "  set title ");
            quoted(f, p.panel_titles && p.panel_titles[k] ? p.panel_titles[k] : "");
            fprintf(f, " noenhanced\n");
            plot_panel(f, data, p, n, series, k);
        }
        fprintf(f, "  unset multiplot\n");
    }
    fprintf(f, "  set output\n}\n");
    return rb_atomic_file_commit(&w);
}

/* gnuplot script, without a shell; its error output shows on stderr. */
static bool run_gnuplot(const char *script)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", "-e", "suffix='.tmp'", script, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

rb_status rb_plot_lines(const char *base, rb_plot p, int n, const rb_series *series)
{
    if (!base || n < 1 || !series)
        return rb_error(RB_ERR_ARGUMENT, "rb_plot_lines: nothing to plot");
    for (int s = 0; s < n; s++)
        if (series[s].n < 0 || (series[s].n > 0 && (!series[s].x || !series[s].y)))
            return rb_error(RB_ERR_ARGUMENT, "rb_plot_lines: series %d has no data", s);
    for (int s = 0; s < n; s++)
        if (series[s].panel < 0 || series[s].panel >= (p.panels > 1 ? p.panels : 1))
            return rb_error(RB_ERR_ARGUMENT, "rb_plot_lines: series %d is in panel %d of %d", s,
                            series[s].panel, p.panels > 1 ? p.panels : 1);
    if (p.n_baselines < 0 || (p.n_baselines > 0 && !p.baselines))
        return rb_error(RB_ERR_ARGUMENT, "rb_plot_lines: %d baselines without values",
                        p.n_baselines);
    char data[3100], script[3100], tmp[3200], out[3200], absolute[3010];
    /* The script names its files by absolute paths, so it renders from any folder. */
    char folder[4096], resolved[PATH_MAX];
    snprintf(folder, sizeof folder, "%s", base);
    char *slash = strrchr(folder, '/');
    const char *leaf = slash ? slash + 1 : base;
    if (slash) *slash = '\0';
    if (!realpath(slash ? (folder[0] ? folder : "/") : ".", resolved))
        return rb_error(RB_ERR_IO, "rb_plot_lines: cannot write '%s': %s", base, strerror(errno));
    if (strlen(resolved) > 2000 || strlen(leaf) > 1000)
        return rb_error(RB_ERR_ARGUMENT, "rb_plot_lines: path '%s/%s' is too long", resolved, leaf);
    snprintf(absolute, sizeof absolute, "%.2000s/%.1000s", strcmp(resolved, "/") ? resolved : "",
             leaf);
    base = absolute;
    snprintf(data, sizeof data, "%s.dat", base);
    snprintf(script, sizeof script, "%s.gp", base);
    rb_status st = write_data(data, n, series);
    if (st == RB_OK) st = write_script(script, base, data, p, n, series);
    if (st != RB_OK) return st;
    if (!rb_plot_available()) {
        fprintf(stderr,
                "gnuplot not found (sudo apt-get install gnuplot-nox): %s and %s are "
                "written; render them with: gnuplot %s\n",
                data, script, script);
        return RB_OK;
    }
    const char *exts[2] = {"png", "svg"};
    bool ran = run_gnuplot(script);
    for (int i = 0; i < 2; i++) {
        snprintf(tmp, sizeof tmp, "%s.%s.tmp", base, exts[i]);
        snprintf(out, sizeof out, "%s.%s", base, exts[i]);
        if (!ran)
            remove(tmp); /* no half picture left behind */
        else if (rb_file_publish(tmp, out, "rb_plot_lines") != RB_OK)
            return rb_last_status();
    }
    if (!ran) return rb_error(RB_ERR_IO, "rb_plot_lines: gnuplot failed on '%s'", script);
    return RB_OK;
}
