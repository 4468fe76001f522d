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

/* One block per series, separated by two blank lines (gnuplot's "index"). A run of NaNs
 * between points is one blank line (a gap): two in a row would start a new index. */
static void write_series(FILE *f, const rb_series *series)
{
    fputs("# ", f);
    for (const char *c = series->label ? series->label : ""; *c; c++)
        fputc(*c == '\n' || *c == '\r' ? ' ' : *c, f);
    fputc('\n', f);
    bool points = false, gap = false;
    for (int i = 0; i < series->n; i++) {
        if (isnan(series->y[i])) {
            gap = points;
            continue;
        }
        if (gap) fprintf(f, "\n");
        fprintf(f, "%.10g %.10g", series->x[i], series->y[i]);
        if (series->err) fprintf(f, " %.10g", series->err[i]);
        fprintf(f, "\n");
        points = true;
        gap = false;
    }
    fprintf(f, "\n\n");
}

static rb_status write_data(const char *path, int n, const rb_series *series)
{
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_plot_lines") != RB_OK) return rb_last_status();
    for (int s = 0; s < n; s++)
        write_series(w.f, &series[s]);
    return rb_atomic_file_commit(&w);
}

/* 16 colours told apart easily (Tableau's 10, then darker variants). */
enum { COLORS = 16 };
static const char *const palette[COLORS] = {
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#0b3d66", "#7a1414", "#145214", "#8a4a00", "#4b2a73", "#000000"};

/* The style of series s: its colour (palette index), line or markers, dashes. */
static void series_style(FILE *f, const rb_series *series, int s, int index)
{
    int color = series[s].color > 0 ? (series[s].color - 1) % COLORS + 1 : s % COLORS + 1;
    if (series[s].err)
        fprintf(f, " index %d using 1:2:3 with yerrorlines lt %d pt 7 ps 0.5 dt %d title ", index,
                color, series[s].dashed ? 2 : 1);
    else if (series[s].points)
        fprintf(f, " index %d using 1:2 with points lt %d pt 7 ps 0.6 title ", index, color);
    else
        fprintf(f, " index %d using 1:2 with linespoints lt %d pt 7 ps 0.5 dt %d title ", index,
                color, series[s].dashed ? 2 : 1);
    quoted(f, series[s].label ? series[s].label : "");
}

static bool marker_in(const rb_marker *m, int panel)
{
    return panel < 0 || m->panel < 0 || m->panel == panel;
}

static void marker_color(FILE *f, const rb_marker *m)
{
    if (m->color > 0)
        fprintf(f, "lt %d", (m->color - 1) % COLORS + 1);
    else
        fprintf(f, "lc rgb '#444444'");
}

/* Markers are arrows from the bottom to the top of the panel (set before each plot). */
static void set_markers(FILE *f, rb_plot p, int panel)
{
    fprintf(f, "  unset arrow\n");
    for (int m = 0; m < p.n_markers; m++) {
        if (!marker_in(&p.markers[m], panel) || isnan(p.markers[m].x)) continue;
        fprintf(f, "  set arrow from %.10g, graph 0 to %.10g, graph 1 nohead ", p.markers[m].x,
                p.markers[m].x);
        marker_color(f, &p.markers[m]);
        fprintf(f, " lw 1.5 dt 4 front\n");
    }
}

/* One plot command: the series of one panel (-1: all of them), the baselines, then the
 * markers' legend entries. */
static void plot_panel(FILE *f, const char *data, rb_plot p, int n, const rb_series *series,
                       int panel)
{
    set_markers(f, p, panel);
    fprintf(f, "  plot ");
    int drawn = 0;
    for (int s = 0; s < n; s++) {
        if (panel >= 0 && series[s].panel != panel) continue;
        fprintf(f, "%s", drawn++ ? ", \\\n    " : "\\\n    ");
        quoted(f, data);
        series_style(f, series, s, s);
    }
    for (int b = 0; b < p.n_baselines; b++) {
        fprintf(f, "%s%.10g with lines lc rgb '#000000' lw 1.5 dt 3 title ",
                drawn++ ? ", \\\n    " : "\\\n    ", p.baselines[b].y);
        quoted(f, p.baselines[b].label ? p.baselines[b].label : "");
    }
    for (int m = 0; m < p.n_markers; m++) {
        if (!marker_in(&p.markers[m], panel) || isnan(p.markers[m].x)) continue;
        fprintf(f, "%sNaN with lines ", drawn++ ? ", \\\n    " : "\\\n    ");
        marker_color(f, &p.markers[m]);
        fprintf(f, " lw 1.5 dt 4 title ");
        quoted(f, p.markers[m].label ? p.markers[m].label : "");
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

/* The script's first lines: how to render it, the axes, the palette. */
static void script_head(FILE *f, const char *path, rb_plot p)
{
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
}

/* Opens the loop drawing both pictures (PNG, then SVG) into <base>.<ext><suffix>. */
static void each_terminal(FILE *f, const char *base, int width, int height)
{
    fprintf(f, "do for [t in 'pngcairo svg'] {\n");
    fprintf(f, "  if (t eq 'pngcairo') { set terminal pngcairo size %d,%d font ',11' }\n", width,
            height);
    fprintf(f, "  if (t eq 'svg') { set terminal svg size %d,%d dynamic font ',11' }\n", width,
            height);
    fprintf(f, "  set output ");
    fprintf(f, "sprintf('%%s.%%s%%s', ");
    quoted(f, base);
    fprintf(f, ", t eq 'pngcairo' ? 'png' : 'svg', suffix)\n");
}

/* The script draws both pictures; outputs go to temporary names renamed afterwards. */
static rb_status write_script(const char *path, const char *base, const char *data, rb_plot p,
                              int n, const rb_series *series)
{
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_plot_lines") != RB_OK) return rb_last_status();
    FILE *f = w.f;
    script_head(f, path, p);
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
    each_terminal(f, base, width, height);
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

/* base as an absolute path into out (the script names its files by absolute paths, so it
 * renders from any folder). */
static rb_status absolute_base(const char *base, const char *who, char *out, size_t size)
{
    char folder[4096], resolved[PATH_MAX];
    snprintf(folder, sizeof folder, "%s", base);
    char *slash = strrchr(folder, '/');
    const char *leaf = slash ? slash + 1 : base;
    if (slash) *slash = '\0';
    if (!realpath(slash ? (folder[0] ? folder : "/") : ".", resolved))
        return rb_error(RB_ERR_IO, "%s: cannot write '%s': %s", who, base, strerror(errno));
    if (strlen(resolved) > 2000 || strlen(leaf) > 1000 || size < 3010)
        return rb_error(RB_ERR_ARGUMENT, "%s: path '%s/%s' is too long", who, resolved, leaf);
    snprintf(out, size, "%.2000s/%.1000s", strcmp(resolved, "/") ? resolved : "", leaf);
    return RB_OK;
}

/* Run the script and put both pictures in place (or say how to render them later). */
static rb_status render(const char *base, const char *data, const char *script, const char *who)
{
    if (!rb_plot_available()) {
        fprintf(
            stderr,
            "gnuplot not found (sudo apt-get install gnuplot-nox): %s and %s are written; render them with: gnuplot %s\n",
            data, script, script);
        return RB_OK;
    }
    char tmp[3200], out[3200];
    const char *exts[2] = {"png", "svg"};
    bool ran = run_gnuplot(script);
    for (int i = 0; i < 2; i++) {
        snprintf(tmp, sizeof tmp, "%s.%s.tmp", base, exts[i]);
        snprintf(out, sizeof out, "%s.%s", base, exts[i]);
        if (!ran)
            remove(tmp); /* no half picture left behind */
        else if (rb_file_publish(tmp, out, who) != RB_OK)
            return rb_last_status();
    }
    if (!ran) return rb_error(RB_ERR_IO, "%s: gnuplot failed on '%s'", who, script);
    return RB_OK;
}

static rb_status check_markers(rb_plot p, const char *who)
{
    if (p.n_baselines < 0 || (p.n_baselines > 0 && !p.baselines))
        return rb_error(RB_ERR_ARGUMENT, "%s: %d baselines without values", who, p.n_baselines);
    if (p.n_markers < 0 || (p.n_markers > 0 && !p.markers))
        return rb_error(RB_ERR_ARGUMENT, "%s: %d markers without values", who, p.n_markers);
    return RB_OK;
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
    if (check_markers(p, "rb_plot_lines") != RB_OK) return rb_last_status();
    char data[3100], script[3100], absolute[3010];
    if (absolute_base(base, "rb_plot_lines", absolute, sizeof absolute) != RB_OK)
        return rb_last_status();
    base = absolute;
    snprintf(data, sizeof data, "%s.dat", base);
    snprintf(script, sizeof script, "%s.gp", base);
    rb_status st = write_data(data, n, series);
    if (st == RB_OK) st = write_script(script, base, data, p, n, series);
    if (st != RB_OK) return st;
    return render(base, data, script, "rb_plot_lines");
}

/* ---- surfaces ---- */

static rb_status check_surface(rb_surface g)
{
    const char *who = "rb_plot_surface";
    if (g.nx < 2 || g.ny < 2 || !g.x || !g.y || !g.z)
        return rb_error(RB_ERR_ARGUMENT, "%s: a grid of at least 2 x 2 values is needed (%d x %d)",
                        who, g.nx, g.ny);
    if (g.levels < 0) return rb_error(RB_ERR_ARGUMENT, "%s: %d contour levels", who, g.levels);
    for (int i = 1; i < g.nx; i++)
        if (!(g.x[i] > g.x[i - 1]) || !isfinite(g.x[i]) || !isfinite(g.x[0]))
            return rb_error(RB_ERR_ARGUMENT, "%s: x[%d] = %g does not follow x[%d] = %g", who, i,
                            g.x[i], i - 1, g.x[i - 1]);
    for (int j = 1; j < g.ny; j++)
        if (!(g.y[j] > g.y[j - 1]) || !isfinite(g.y[j]) || !isfinite(g.y[0]))
            return rb_error(RB_ERR_ARGUMENT, "%s: y[%d] = %g does not follow y[%d] = %g", who, j,
                            g.y[j], j - 1, g.y[j - 1]);
    for (int64_t k = 0; k < (int64_t)g.nx * g.ny; k++)
        if (!isfinite(g.z[k]) || (g.logz && g.z[k] <= 0))
            return rb_error(RB_ERR_ARGUMENT, "%s: z[%lld] = %g at (%g, %g) is not %s", who,
                            (long long)k, g.z[k], g.x[k % g.nx], g.y[k / g.nx],
                            g.logz ? "positive (logz)" : "finite");
    return RB_OK;
}

/* Block 0: the grid as rows of "x y z" (gnuplot's grid format); then one block per series. */
static rb_status write_surface_data(const char *path, rb_surface g, int n, const rb_series *series)
{
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_plot_surface") != RB_OK) return rb_last_status();
    FILE *f = w.f;
    fprintf(f, "# surface\n");
    for (int j = 0; j < g.ny; j++) {
        for (int i = 0; i < g.nx; i++)
            fprintf(f, "%.10g %.10g %.10g\n", g.x[i], g.y[j], g.z[(int64_t)j * g.nx + i]);
        fprintf(f, "\n");
    }
    fprintf(f, "\n");
    for (int s = 0; s < n; s++)
        write_series(f, &series[s]);
    return rb_atomic_file_commit(&w);
}

/* Contours are traced by gnuplot into a data block first, then drawn over the heat map in a
 * 2-D plot with the paths. */
static rb_status write_surface_script(const char *path, const char *base, const char *data,
                                      rb_plot p, rb_surface g, int n, const rb_series *series)
{
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_plot_surface") != RB_OK) return rb_last_status();
    FILE *f = w.f;
    p.logx = p.logy = false;
    script_head(f, path, p);
    fprintf(f, "unset grid\n");
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t k = 0; k < (int64_t)g.nx * g.ny; k++) {
        if (g.z[k] < lo) lo = g.z[k];
        if (g.z[k] > hi) hi = g.z[k];
    }
    int levels = g.levels ? g.levels : 10;
    fprintf(f, "set contour base\nunset surface\nset view map\nset cntrparam levels discrete ");
    for (int k = 0; k < levels; k++) {
        double u = (k + 0.5) / levels;
        fprintf(f, "%s%.10g", k ? "," : "", g.logz ? lo * pow(hi / lo, u) : lo + (hi - lo) * u);
    }
    fprintf(f, "\nset table $contours\nsplot ");
    quoted(f, data);
    fprintf(f, " index 0 using 1:2:3 with lines notitle\nunset table\nunset contour\n");
    /* Each value is the centre of an image pixel: the axes end half a pixel beyond. */
    double dx = (g.x[g.nx - 1] - g.x[0]) / (g.nx - 1), dy = (g.y[g.ny - 1] - g.y[0]) / (g.ny - 1);
    fprintf(f, "set xrange [%.10g:%.10g]\nset yrange [%.10g:%.10g]\n", g.x[0] - dx / 2,
            g.x[g.nx - 1] + dx / 2, g.y[0] - dy / 2, g.y[g.ny - 1] + dy / 2);
    if (g.logz) {
        /* Ticks at 1, 2 and 5 times each power of ten: a log axis spanning one decade would
         * otherwise show a single number. */
        fprintf(f, "set logscale cb\nset cbrange [%.10g:%.10g]\n", lo, hi);
        int ticks = 0;
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && ticks < 2) break; /* gnuplot's own ticks then */
            if (pass == 1) fprintf(f, "set cbtics (");
            int written = 0;
            for (double d = pow(10, floor(log10(lo))); d <= hi; d *= 10)
                for (int k = 0; k < 3; k++) {
                    double v = d * (k == 0 ? 1 : k == 1 ? 2 : 5);
                    if (v < lo || v > hi) continue;
                    if (pass == 0)
                        ticks++;
                    else
                        fprintf(f, "%s%.10g", written++ ? ", " : "", v);
                }
            if (pass == 1) fprintf(f, ")\n");
        }
    }
    fprintf(f, "set cblabel ");
    quoted(f, g.zlabel ? g.zlabel : "");
    /* Light greys for low values: coloured paths stay visible everywhere. */
    fprintf(f, " noenhanced\nset palette defined (0 '#ffffff', 1 '#e0e0e0', 2 '#a8a8a8', 3 "
               "'#6e6e6e')\n");
    each_terminal(f, base, 1000, 700);
    fprintf(f, "  set title ");
    quoted(f, p.title ? p.title : "");
    fprintf(f, " noenhanced\n  set key below noenhanced\n");
    set_markers(f, p, -1);
    fprintf(f, "  plot ");
    quoted(f, data);
    fprintf(f, " index 0 using 1:2:3 with image notitle, \\\n    $contours using 1:2 with lines "
               "lc rgb '#505050' lw 1 notitle");
    for (int s = 0; s < n; s++) {
        fprintf(f, ", \\\n    ");
        quoted(f, data);
        series_style(f, series, s, s + 1);
    }
    fprintf(f, "\n  set output\n}\n");
    return rb_atomic_file_commit(&w);
}

rb_status rb_plot_surface(const char *base, rb_plot p, rb_surface g, int n, const rb_series *series)
{
    if (!base || n < 0 || (n > 0 && !series))
        return rb_error(RB_ERR_ARGUMENT, "rb_plot_surface: nothing to plot");
    if (check_surface(g) != RB_OK) return rb_last_status();
    for (int s = 0; s < n; s++)
        if (series[s].n < 0 || (series[s].n > 0 && (!series[s].x || !series[s].y)))
            return rb_error(RB_ERR_ARGUMENT, "rb_plot_surface: series %d has no data", s);
    if (check_markers(p, "rb_plot_surface") != RB_OK) return rb_last_status();
    char data[3100], script[3100], absolute[3010];
    if (absolute_base(base, "rb_plot_surface", absolute, sizeof absolute) != RB_OK)
        return rb_last_status();
    base = absolute;
    snprintf(data, sizeof data, "%s.dat", base);
    snprintf(script, sizeof script, "%s.gp", base);
    rb_status st = write_surface_data(data, g, n, series);
    if (st == RB_OK) st = write_surface_script(script, base, data, p, g, n, series);
    if (st != RB_OK) return st;
    return render(base, data, script, "rb_plot_surface");
}
