/* Losses by name, and metrics accumulated exactly over many batches (public API only). */
#include <math.h>
#include <stdlib.h>

#include "metrics.h"

const char *rb_loss_name(rb_loss loss)
{
    switch (loss) {
    case RB_LOSS_SOFTMAX_CROSS_ENTROPY: return "softmax_cross_entropy";
    case RB_LOSS_MSE: return "mse";
    case RB_LOSS_MAE: return "mae";
    case RB_LOSS_BCE_LOGITS: return "bce_logits";
    case RB_LOSS_HUBER: return "huber";
    case RB_LOSS_NLL: return "nll";
    }
    return "unknown";
}

const char *rb_metric_name(rb_metric metric)
{
    switch (metric) {
    case RB_METRIC_NONE: return "none";
    case RB_METRIC_ACCURACY: return "accuracy";
    case RB_METRIC_MSE: return "mse";
    case RB_METRIC_MAE: return "mae";
    case RB_METRIC_TOP_K_ACCURACY: return "top_k_accuracy";
    case RB_METRIC_R2: return "r2";
    }
    return "unknown";
}

bool rb_metric_higher_is_better(rb_metric m)
{
    return m == RB_METRIC_ACCURACY || m == RB_METRIC_TOP_K_ACCURACY || m == RB_METRIC_R2;
}

rb_tensor *rb_loss_apply(rb_loss loss, rb_tensor *out, rb_tensor *target)
{
    switch (loss) {
    case RB_LOSS_SOFTMAX_CROSS_ENTROPY: return rb_softmax_cross_entropy(out, target);
    case RB_LOSS_MSE: return rb_mse(out, target);
    case RB_LOSS_MAE: return rb_mae(out, target);
    case RB_LOSS_BCE_LOGITS: return rb_bce_logits(out, target);
    case RB_LOSS_HUBER: return rb_huber(out, target, 1.0);
    case RB_LOSS_NLL: return rb_nll(out, target);
    }
    rb_error(RB_ERR_ARGUMENT, "rb_loss_apply: unknown loss %d", (int)loss);
    return NULL;
}

void metric_start(metric_acc *a, rb_metric metric, int k)
{
    *a = (metric_acc){.metric = metric, .k = k > 0 ? k : 5};
}

/* Rows whose label is among the k largest outputs (k = 1: argmax; ties count as hits). The
 * labels are int64 (N), or one-hot rows (N, C): a single 1 among 0s (soft targets are not
 * labels: *ok is false). */
static double class_hits(const metric_acc *a, rb_tensor *out, rb_tensor *target, bool *ok)
{
    int64_t n = rb_tensor_dim(out, 0), c = rb_tensor_size(out) / (n ? n : 1);
    bool labels = rb_tensor_dtype(target) == RB_I64 && rb_tensor_size(target) == n;
    bool rows = rb_tensor_dtype(target) != RB_I64 && c > 1 && rb_tensor_dim(target, 0) == n &&
                rb_tensor_size(target) == n * c;
    *ok = labels || rows;
    if (!*ok) return 0;
    int k = a->metric == RB_METRIC_ACCURACY ? 1 : a->k;
    rb_tensor *o = rb_cast(rb_contiguous(out), RB_F64);
    rb_tensor *t = rows ? rb_cast(rb_contiguous(target), RB_F64) : NULL;
    const double *v = rb_tensor_f64(o), *tv = rows ? rb_tensor_f64(t) : NULL;
    const int64_t *y = labels ? rb_tensor_i64(target) : NULL;
    double hits = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t label = labels ? y[i] : -1;
        for (int64_t j = 0; rows && j < c; j++) {
            double e = tv[i * c + j];
            if (e == 1 && label < 0)
                label = j;
            else if (e != 0) {
                *ok = false;
                return 0;
            }
        }
        if (label < 0 || label >= c) {
            if (!rows) continue; /* an int64 label out of range: a miss */
            *ok = false;         /* a row of zeros is no label */
            return 0;
        }
        if (k == 1) {
            int64_t best = 0; /* argmax, first of ties, as rb_argmax */
            for (int64_t j = 1; j < c; j++)
                if (v[i * c + j] > v[i * c + best]) best = j;
            hits += best == label;
        } else {
            int64_t above = 0;
            for (int64_t j = 0; j < c; j++)
                above += v[i * c + j] > v[i * c + label];
            hits += above < k;
        }
    }
    return hits;
}

void metric_add(metric_acc *a, rb_tensor *out, rb_tensor *target)
{
    if (a->metric == RB_METRIC_NONE || a->invalid || !out || !target) return;
    if (a->metric == RB_METRIC_ACCURACY || a->metric == RB_METRIC_TOP_K_ACCURACY) {
        bool ok;
        a->hits += class_hits(a, out, target, &ok);
        a->samples += (double)rb_tensor_dim(out, 0);
        if (!ok) a->invalid = true;
        return;
    }
    int64_t n = rb_tensor_size(out);
    if (rb_tensor_size(target) != n || rb_tensor_dtype(target) == RB_I64) {
        a->invalid = true;
        return;
    }
    double *p = malloc(sizeof(double) * (size_t)n * 2);
    if (!p) {
        a->invalid = true;
        return;
    }
    double *y = p + n;
    rb_tensor_to_doubles(out, p, n);
    rb_tensor_to_doubles(target, y, n);
    /* Sums of targets around the first one seen: no cancellation in SST for large values. */
    if (a->values == 0 && n > 0) a->shift = y[0];
    for (int64_t i = 0; i < n; i++) {
        double d = p[i] - y[i], c = y[i] - a->shift;
        a->abs_sum += fabs(d);
        a->sq_sum += d * d;
        a->y_sum += c;
        a->yy_sum += c * c;
    }
    a->values += (double)n;
    free(p);
}

double metric_value(const metric_acc *a)
{
    if (a->metric == RB_METRIC_NONE || a->invalid) return NAN;
    switch (a->metric) {
    case RB_METRIC_ACCURACY:
    case RB_METRIC_TOP_K_ACCURACY: return a->samples ? a->hits / a->samples : NAN;
    case RB_METRIC_MSE: return a->values ? a->sq_sum / a->values : NAN;
    case RB_METRIC_MAE: return a->values ? a->abs_sum / a->values : NAN;
    case RB_METRIC_R2: {
        double sst = a->yy_sum - a->y_sum * a->y_sum / a->values;
        return a->values && sst > 0 ? 1.0 - a->sq_sum / sst : NAN;
    }
    case RB_METRIC_NONE: break;
    }
    return NAN;
}

/* ---- regression scores of whole prediction sets ---- */

rb_status rb_regression_scores_of(const rb_tensor *pred, const rb_tensor *target,
                                  rb_regression_scores *out)
{
    if (!pred || !target || !out)
        return rb_error(RB_ERR_ARGUMENT, "rb_regression_scores_of: NULL argument");
    int64_t n = rb_tensor_size(pred);
    bool same = rb_tensor_ndim(pred) == rb_tensor_ndim(target);
    for (int d = 0; same && d < rb_tensor_ndim(pred); d++)
        same = rb_tensor_dim(pred, d) == rb_tensor_dim(target, d);
    if (!same || n == 0 || rb_tensor_dtype(pred) == RB_I64 || rb_tensor_dtype(target) == RB_I64) {
        char a[96], b[96];
        return rb_error(
            RB_ERR_SHAPE,
            "rb_regression_scores_of: predictions %s and targets %s must be float tensors of one non-empty shape",
            rb_tensor_shape_string(pred, a, sizeof a), rb_tensor_shape_string(target, b, sizeof b));
    }
    double *p = malloc(sizeof(double) * (size_t)n * 2);
    if (!p) return rb_error(RB_ERR_MEMORY, "rb_regression_scores_of: out of memory");
    double *y = p + n, mean = 0, sse = 0, sae = 0, sst = 0;
    rb_tensor_to_doubles(pred, p, n);
    rb_tensor_to_doubles(target, y, n);
    for (int64_t i = 0; i < n; i++)
        mean += y[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        sse += (p[i] - y[i]) * (p[i] - y[i]);
        sae += fabs(p[i] - y[i]);
        sst += (y[i] - mean) * (y[i] - mean);
    }
    free(p);
    out->rmse = sqrt(sse / (double)n);
    out->mae = sae / (double)n;
    out->r2 = sst > 0 ? 1 - sse / sst : NAN;
    return RB_OK;
}
