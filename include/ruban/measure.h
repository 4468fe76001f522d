/* ruban/measure.h - measured values with their spread over seeds, comparisons that call a
 * difference inside the noise a tie, and verdicts on an expectation stated before running.
 *
 *     rb_measure he = rb_measure_of(3, (double[]){0.961, 0.958, 0.963}, true);
 *     rb_measure glorot = rb_measure_of(3, (double[]){0.952, 0.955, 0.949}, true);
 *     char text[512];
 *     rb_verdict(text, sizeof text, "He", he, RB_HIGHER, "Glorot", glorot, 0);
 *     // "as expected: He (96.07% ± 0.25, 3 runs) is 0.87 points above Glorot (95.20% ± 0.30,
 *     //  3 runs): 3.8 times the noise (0.23 points)"
 *
 * The noise of a difference is its standard error: the seed-to-seed standard deviation of one
 * run (pooled over both sides, at least `floor`) times sqrt(1/na + 1/nb). A difference within
 * RB_TIE_WITHIN times the noise is a tie. With one run per side and no floor the noise is not
 * measured, and the sentences say so.
 */
#ifndef RUBAN_MEASURE_H
#define RUBAN_MEASURE_H

#include <stddef.h>

#include "ruban/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values measured over runs (seeds, folds), or a stated constant (n = 0: a threshold). */
typedef struct rb_measure {
    double mean, sd, min, max; /* sd: sample standard deviation (0 for one value) */
    int n;                     /* values measured; 0 for a constant */
    bool percent;              /* a fraction shown in percent, differences in points */
} rb_measure;

/* Differences within this many times their noise are ties. */
#define RB_TIE_WITHIN 2.0

/* The measure of n values (NaN values are left out; none left: mean NaN, n 0). */
RB_API rb_measure rb_measure_of(int n, const double *values, bool percent);
/* A constant to compare with (a threshold, a baseline): no noise of its own. */
RB_API rb_measure rb_measure_value(double value, bool percent);
/* "96.07% ± 0.25" (mean ± sd), "0.0123 ± 0.0004", "96.07%" for one run or a constant. */
RB_API void rb_measure_format(char *out, size_t size, rb_measure m);
/* The size of a difference in the measure's unit: "0.87 points" for percentages, "0.0123"
 * otherwise. */
RB_API void rb_measure_format_diff(char *out, size_t size, double diff, bool percent);

typedef enum rb_order { RB_LOWER = -1, RB_TIE = 0, RB_HIGHER = 1 } rb_order;

typedef struct rb_comparison {
    double diff;    /* a.mean - b.mean */
    double noise;   /* standard error of diff; 0 when not measured */
    double effect;  /* diff / noise; NaN when the noise is not measured */
    rb_order order; /* RB_TIE when |diff| <= RB_TIE_WITHIN * noise */
} rb_comparison;

/* Compare a with b. floor: the seed-to-seed standard deviation of one run assumed at least
 * (what one seed cannot measure; 0: nothing assumed). */
RB_API rb_comparison rb_measure_compare(rb_measure a, rb_measure b, double floor);
/* Whether "a is `expected` b" holds as measured, and a sentence into out: "as expected: ..." or
 * "not as expected, because ...", giving both measures, the difference and its size relative
 * to the noise. */
RB_API bool rb_verdict(char *out, size_t size, const char *a_label, rb_measure a, rb_order expected,
                       const char *b_label, rb_measure b, double floor);

#ifdef __cplusplus
}
#endif
#endif
