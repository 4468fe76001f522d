/* Finite-difference gradient checks (first and second order). */
#include <math.h>
#include <string.h>

#include "core.h"

#define MAX_INPUTS 16
/* Mixed into the caller's seed for the projection direction, so that it differs from the
 * random inputs a test may have drawn with the same seed. */
#define DIRECTION_SEED_SALT 0x5eedull
/* The same for the second-order check's directions (on the output and on the gradient). */
#define SECOND_ORDER_SEED_SALT 0x99ull

typedef struct check {
    rb_fn fn;
    void *ud;
    int n;
    rb_tensor *const *inputs;
    rb_gradcheck_options o;
    rb_tensor *v; /* projection direction, shape of fn's output (heap, float64) */
} check;

static rb_gradcheck_options with_defaults(const rb_gradcheck_options *opts)
{
    rb_gradcheck_options o = opts ? *opts : (rb_gradcheck_options){0};
    if (o.eps <= 0) o.eps = 1e-6;
    if (o.atol <= 0) o.atol = 1e-5;
    if (o.rtol <= 0) o.rtol = 1e-3;
    return o;
}

static bool checked_input(const rb_tensor *x) { return x->dtype == RB_F64; }

/* sum(v * fn(inputs)) evaluated under a tape that records nothing (it only owns memory). */
static bool projected_value(check *c, double *out)
{
    rb_tape *t = rb_tape_begin(RB_TAPE_MANUAL_WATCH);
    if (!t) return false;
    rb_tensor *y = c->fn(c->inputs, c->n, c->ud);
    bool ok = y != NULL;
    if (ok) {
        rb_tensor *l = rb_sum(rb_mul(y, c->v), RB_ALL_AXES, false);
        ok = l != NULL;
        if (ok) *out = rb_tensor_item(l);
    }
    rb_tape_end(t);
    return ok;
}

/* The tape's gradient of sum(v * fn) for every checked input, copied into analytic[i]. */
static bool analytic_gradients(check *c, double **analytic)
{
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    if (!t) return false;
    rb_tensor *src[MAX_INPUTS], *grads[MAX_INPUTS];
    int map[MAX_INPUTS], ns = 0;
    for (int i = 0; i < c->n; i++)
        if (checked_input(c->inputs[i])) {
            rb_tape_watch(t, c->inputs[i]);
            src[ns] = c->inputs[i];
            map[ns++] = i;
        }
    rb_tensor *y = c->fn(c->inputs, c->n, c->ud);
    rb_tensor *l = y ? rb_sum(rb_mul(y, c->v), RB_ALL_AXES, false) : NULL;
    bool ok = l && rb_tape_gradient(t, l, ns, src, grads) == RB_OK;
    for (int k = 0; ok && k < ns; k++)
        rb_tensor_to_doubles(grads[k], analytic[map[k]], grads[k]->size);
    rb_tape_end(t);
    return ok;
}

static void coords_of(const rb_tensor *x, int64_t flat, int64_t *idx)
{
    for (int d = x->ndim - 1; d >= 0; d--) {
        idx[d] = flat % x->shape[d];
        flat /= x->shape[d];
    }
}

/* A check's failure to run at all: the error recorded, its message in the report. */
static bool refuse(rb_gradcheck_report *r, const char *prefix)
{
    snprintf(r->message, sizeof r->message, "%s%s", prefix, rb_last_error());
    return false;
}

/* Inputs present and float64 (finite differences in float32 are too coarse); the number of
 * elements that will be checked in *count. */
static bool check_inputs(const check *c, rb_gradcheck_report *r, int *count)
{
    if (c->n < 1 || c->n > MAX_INPUTS) {
        rb_error(RB_ERR_ARGUMENT, "rb_gradcheck: 1 to %d inputs, got %d", MAX_INPUTS, c->n);
        return refuse(r, "");
    }
    *count = 0;
    for (int i = 0; i < c->n; i++) {
        rb_tensor *x = c->inputs[i];
        if (!x) {
            rb_error(RB_ERR_ARGUMENT, "rb_gradcheck: input %d is NULL", i);
            return refuse(r, "");
        }
        if (x->dtype == RB_F32) {
            rb_error(
                RB_ERR_DTYPE,
                "rb_gradcheck: input %d is float32; check gradients in float64 (rb_cast) so finite differences are accurate",
                i);
            return refuse(r, "");
        }
        *count += checked_input(x);
    }
    return true;
}

/* The random projection direction v, shaped like fn's output (one plain evaluation), owned
 * by the caller's owner or the heap: it must outlive the evaluation tapes. */
static bool make_direction(check *c, rb_gradcheck_report *r)
{
    rb_tape *probe = rb_tape_begin(RB_TAPE_MANUAL_WATCH);
    rb_tensor *y0 = probe ? c->fn(c->inputs, c->n, c->ud) : NULL;
    if (!y0 || y0->dtype != RB_F64) {
        if (y0)
            rb_error(RB_ERR_DTYPE, "rb_gradcheck: the function returned %s, not float64",
                     rb_dtype_name(y0->dtype));
        rb_tape_end(probe);
        return refuse(r, "function failed: ");
    }
    int ndim = y0->ndim;
    int64_t shape[RB_MAX_DIMS];
    memcpy(shape, y0->shape, sizeof shape);
    rb_tape_end(probe);
    rb_rng rng = rb_rng_make(c->o.seed ^ DIRECTION_SEED_SALT);
    c->v = rb__tensor_new(RB_F64, ndim, shape, "rb_gradcheck");
    if (!c->v) return false;
    rb_fill_normal(c->v, 0.0, 1.0, &rng);
    return true;
}

/* Compare element k of input i: central differences against the analytic gradient a, the
 * worst element so far kept in the report. False when fn fails. */
static bool check_element(check *c, int i, int64_t k, double a, double base, double *worst,
                          rb_gradcheck_report *r)
{
    rb_tensor *x = c->inputs[i];
    double x0 = rb__get_flat(x, k), e = c->o.eps, lp = 0, lm = 0;
    rb__set_flat(x, k, x0 + e);
    bool ok = projected_value(c, &lp);
    rb__set_flat(x, k, x0 - e);
    ok = ok && projected_value(c, &lm);
    rb__set_flat(x, k, x0);
    if (!ok) return refuse(r, "function failed: ");
    double numeric = (lp - lm) / (2 * e);
    /* One-sided slopes that disagree: the element sits on a kink (ReLU at 0, a tie in max),
     * where no finite difference is the derivative. */
    double right = (lp - base) / e, left = (base - lm) / e;
    if (!c->o.keep_kinks && fabs(right - left) > 1e-3 + 1e-2 * fmax(fabs(right), fabs(left))) {
        r->skipped_kinks++;
        return true;
    }
    double err = fabs(a - numeric), tol = c->o.atol + c->o.rtol * fabs(numeric);
    double ratio = isfinite(err) ? err / tol : INFINITY;
    r->checked++;
    if (ratio > *worst || (isnan(a) && *worst < INFINITY)) {
        *worst = isnan(a) ? INFINITY : ratio;
        r->input = i;
        r->ndim = x->ndim;
        coords_of(x, k, r->index);
        r->analytic = a;
        r->numeric = numeric;
        r->abs_error = err;
        r->rel_error = err / fmax(fabs(numeric), 1e-12);
    }
    if (!(ratio <= 1.0)) r->passed = false;
    return true;
}

/* The report's one-line verdict. */
static void describe(rb_gradcheck_report *r, int count)
{
    char idx[RB__SHAPE_STR] = "[]";
    if (r->input >= 0) rb__shape_str(idx, r->ndim, r->index);
    if (r->checked == 0 && count > 0 && r->skipped_kinks > 0) {
        r->passed = false;
        snprintf(r->message, sizeof r->message,
                 "every element (%lld) sat on a kink: choose inputs away from them",
                 (long long)r->skipped_kinks);
    } else {
        snprintf(
            r->message, sizeof r->message,
            "%s: %lld elements checked, %lld kinks skipped; worst: input %d at %s, analytic %.10g vs numeric %.10g (abs error %.3g, rel error %.3g)",
            r->passed ? "gradients match" : "GRADIENT MISMATCH", (long long)r->checked,
            (long long)r->skipped_kinks, r->input, idx, r->analytic, r->numeric, r->abs_error,
            r->rel_error);
    }
}

static bool run_check(check *c, rb_gradcheck_report *r)
{
    memset(r, 0, sizeof *r);
    r->input = -1;
    int count;
    if (!check_inputs(c, r, &count) || !make_direction(c, r)) return false;
    double *analytic[MAX_INPUTS] = {0};
    bool ok = true;
    for (int i = 0; i < c->n && ok; i++)
        if (checked_input(c->inputs[i])) {
            analytic[i] =
                rb__calloc((size_t)(c->inputs[i]->size ? c->inputs[i]->size : 1), sizeof(double));
            ok = analytic[i] != NULL;
        }
    double base = 0;
    ok = ok && analytic_gradients(c, analytic) && projected_value(c, &base);
    if (!ok) refuse(r, "function failed: ");
    double worst = -1;
    r->passed = ok;
    for (int i = 0; ok && i < c->n; i++)
        if (checked_input(c->inputs[i]))
            for (int64_t k = 0; ok && k < c->inputs[i]->size; k++)
                ok = check_element(c, i, k, analytic[i][k], base, &worst, r);
    if (ok)
        describe(r, count);
    else
        r->passed = false; /* fn failed part-way: nothing was shown to match */
    for (int i = 0; i < c->n; i++)
        rb__free(analytic[i]);
    if (c->v->owner == RB__OWN_HEAP) rb_tensor_free(c->v);
    return ok && r->passed;
}

bool rb_gradcheck(rb_fn fn, void *ud, int n, rb_tensor *const *inputs,
                  const rb_gradcheck_options *opts, rb_gradcheck_report *report)
{
    rb_gradcheck_report local;
    check c = {fn, ud, n, inputs, with_defaults(opts), NULL};
    if (!fn || (n > 0 && !inputs)) {
        rb_error(RB_ERR_ARGUMENT, "rb_gradcheck: function or inputs missing");
        if (report) report->passed = false;
        return false;
    }
    return run_check(&c, report ? report : &local);
}

/* ---- second order ---- */

typedef struct gg_ctx {
    rb_fn fn;
    void *ud;
    rb_tensor *v;             /* cotangent of fn's output */
    rb_tensor *u[MAX_INPUTS]; /* cotangents of the first gradients */
} gg_ctx;

/* x -> sum_i sum(u_i * d(sum(v * fn(x)))/dx_i): differentiable only if every backward rule
 * is. Runs under an enclosing tape, so its inner tape shares that tape's memory. */
static rb_tensor *first_gradient_projection(rb_tensor *const *x, int n, void *arg)
{
    gg_ctx *g = arg;
    rb_tape *t = rb_tape_begin(RB_TAPE_DEFAULT);
    if (!t) return NULL;
    rb_tensor *src[MAX_INPUTS], *grads[MAX_INPUTS];
    int map[MAX_INPUTS], ns = 0;
    for (int i = 0; i < n; i++)
        if (checked_input(x[i])) {
            rb_tape_watch(t, x[i]);
            src[ns] = x[i];
            map[ns++] = i;
        }
    rb_tensor *y = g->fn(x, n, g->ud);
    rb_tensor *l = y ? rb_sum(rb_mul(y, g->v), RB_ALL_AXES, false) : NULL;
    rb_tensor *total = NULL;
    if (l && rb_tape_gradient(t, l, ns, src, grads) == RB_OK) {
        for (int k = 0; k < ns; k++) {
            rb_tensor *term = rb_sum(rb_mul(grads[k], g->u[map[k]]), RB_ALL_AXES, false);
            total = total ? rb_add(total, term) : term;
        }
    }
    rb_tape_end(t);
    return total;
}

bool rb_gradgradcheck(rb_fn fn, void *ud, int n, rb_tensor *const *inputs,
                      const rb_gradcheck_options *opts, rb_gradcheck_report *report)
{
    rb_gradcheck_report local;
    if (!report) report = &local;
    memset(report, 0, sizeof *report);
    if (!fn || n < 1 || n > MAX_INPUTS || !inputs) {
        rb_error(RB_ERR_ARGUMENT, "rb_gradgradcheck: function or inputs missing");
        return false;
    }
    rb_gradcheck_options o = with_defaults(opts);
    rb_rng rng = rb_rng_make(o.seed ^ SECOND_ORDER_SEED_SALT);
    gg_ctx g = {fn, ud, NULL, {0}};
    bool ok = true;
    /* Output shape for v, from one evaluation. */
    rb_tape *probe = rb_tape_begin(RB_TAPE_MANUAL_WATCH);
    rb_tensor *y0 = probe ? fn(inputs, n, ud) : NULL;
    int ndim = y0 ? y0->ndim : 0;
    int64_t shape[RB_MAX_DIMS] = {0};
    if (y0) memcpy(shape, y0->shape, sizeof shape);
    rb_tape_end(probe);
    if (!y0) {
        snprintf(report->message, sizeof report->message, "function failed: %s", rb_last_error());
        return false;
    }
    g.v = rb__tensor_new(RB_F64, ndim, shape, "rb_gradgradcheck");
    ok = g.v && rb_fill_normal(g.v, 0, 1, &rng) == RB_OK;
    for (int i = 0; ok && i < n; i++)
        if (inputs[i] && checked_input(inputs[i])) {
            g.u[i] = rb__tensor_new(RB_F64, inputs[i]->ndim, inputs[i]->shape, "rb_gradgradcheck");
            ok = g.u[i] && rb_fill_normal(g.u[i], 0, 1, &rng) == RB_OK;
        }
    bool passed = ok && rb_gradcheck(first_gradient_projection, &g, n, inputs, &o, report);
    rb_tensor_free(g.v);
    for (int i = 0; i < n; i++)
        rb_tensor_free(g.u[i]);
    return passed;
}
