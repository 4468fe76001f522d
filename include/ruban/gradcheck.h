/* ruban/gradcheck.h - compare tape gradients with finite differences.
 *
 * rb_gradcheck() takes any C function of tensors (a new op, a layer, a whole model) and checks
 * the gradient the tape computes against central finite differences in float64, element by
 * element, as PyTorch's gradcheck does. It projects the output on a fixed random direction v
 * and checks d(sum(v * f(x)))/dx, which catches any wrong Jacobian entry. Elements where f has
 * a kink (ReLU or abs at 0, ties in max) are detected by their disagreeing one-sided
 * differences and skipped (and counted). rb_gradgradcheck() checks second derivatives through
 * nested tapes the same way.
 *
 *     static rb_tensor *f(rb_tensor *const *x, int n, void *ud) {
 *         (void)n; (void)ud;
 *         return rb_tanh(rb_matmul(x[0], x[1]));
 *     }
 *     rb_tensor *in[2] = {a, b};                                  // float64 tensors
 *     rb_gradcheck_report r;
 *     if (!rb_gradcheck(f, NULL, 2, in, NULL, &r)) puts(r.message);
 */
#ifndef RUBAN_GRADCHECK_H
#define RUBAN_GRADCHECK_H

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The function under test: inputs -> one float64 tensor (any shape). Its temporaries belong
 * to the tape gradcheck runs it under. */
typedef rb_tensor *(*rb_fn)(rb_tensor *const *inputs, int n, void *user_data);

typedef struct rb_gradcheck_options {
    double eps;      /* finite-difference step (default 1e-6) */
    double atol;     /* pass if |analytic - numeric| <= atol + rtol |numeric| (defaults 1e-5, */
    double rtol;     /* 1e-3) */
    uint64_t seed;   /* for the random projection (default 0 is a fixed seed too) */
    bool keep_kinks; /* check elements at kinks too (normally skipped) */
} rb_gradcheck_options;

typedef struct rb_gradcheck_report {
    bool passed;
    int64_t checked;       /* elements compared */
    int64_t skipped_kinks; /* elements skipped at a kink */
    /* The worst element (largest error relative to the tolerance). */
    int input;
    int ndim;
    int64_t index[RB_MAX_DIMS];
    double analytic, numeric, abs_error, rel_error;
    char message[512]; /* a readable summary; names the worst element on failure */
} rb_gradcheck_report;

/* Check first derivatives of fn at the given float64 inputs (non-float inputs, e.g. labels,
 * are passed through unchecked). Inputs are perturbed in place and restored. opts may be NULL.
 * Returns report->passed; false with an error recorded if fn itself fails. */
RB_API bool rb_gradcheck(rb_fn fn, void *user_data, int n, rb_tensor *const *inputs,
                         const rb_gradcheck_options *opts, rb_gradcheck_report *report);
/* Check second derivatives: gradcheck of x -> sum(u * d(sum(v * fn(x)))/dx) with random u, v,
 * which needs every backward rule on the path to be differentiable itself. */
RB_API bool rb_gradgradcheck(rb_fn fn, void *user_data, int n, rb_tensor *const *inputs,
                             const rb_gradcheck_options *opts, rb_gradcheck_report *report);

#ifdef __cplusplus
}
#endif
#endif
