/* Without gnuplot (run with PATH pointing nowhere), a plot still leaves its data and its
 * script, says how to render them, and succeeds. */
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static void without_gnuplot_the_data_and_script_are_written(void **state)
{
    (void)state;
    assert_false(rb_plot_available());
    char base[128], path[160];
    snprintf(base, sizeof base, "%s", test_path("curve"));
    const double x[3] = {1, 2, 3}, y[3] = {0.5, 0.25, 0.125};
    rb_series s = {.label = "loss", .n = 3, .x = x, .y = y};
    CHECK_STATUS_OK(rb_plot_lines(base, (rb_plot){.title = "t", .logy = true}, 1, &s));
    const char *present[2] = {"dat", "gp"}, *absent[4] = {"png", "svg", "png.tmp", "svg.tmp"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s.%s", base, present[i]);
        if (access(path, R_OK) != 0) fail_msg("%s was not written", path);
    }
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s.%s", base, absent[i]);
        if (access(path, F_OK) == 0) fail_msg("%s exists although gnuplot is missing", path);
    }
    /* The script names the data by its absolute path, so it renders from anywhere later. */
    snprintf(path, sizeof path, "%s.gp", base);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    snprintf(path, sizeof path, "'%s.dat'", base);
    assert_non_null(strstr(text, path));
    assert_non_null(strstr(text, "set logscale y"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST_DIR(without_gnuplot_the_data_and_script_are_written),
    };
    return RUN_TESTS(tests, argc, argv);
}
