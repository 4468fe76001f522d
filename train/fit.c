/* fit, evaluate, predict: the training loop written once (public API only). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ruban.h"

/* ---- the rb_model adapter ---- */

static rb_tensor *model_forward(void *m, rb_tensor *x) { return rb_model_forward(m, x); }
static void model_set_training(void *m, bool on) { rb_model_set_training(m, on); }
static rb_tensor *model_regularization(void *m) { return rb_model_regularization(m); }

rb_trainable rb_trainable_of_model(rb_model *m)
{
    rb_trainable t = {m, model_forward, rb_model_params(m), model_set_training,
                      model_regularization};
    return t;
}

/* ---- losses and metrics ---- */

const char *rb_loss_name(rb_loss loss)
{
    switch (loss) {
    case RB_LOSS_SOFTMAX_CROSS_ENTROPY: return "softmax_cross_entropy";
    case RB_LOSS_MSE: return "mse";
    case RB_LOSS_MAE: return "mae";
    case RB_LOSS_BCE_LOGITS: return "bce_logits";
    case RB_LOSS_HUBER: return "huber";
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
    }
    return "unknown";
}

rb_tensor *rb_loss_apply(rb_loss loss, rb_tensor *out, rb_tensor *target)
{
    switch (loss) {
    case RB_LOSS_SOFTMAX_CROSS_ENTROPY: return rb_softmax_cross_entropy(out, target);
    case RB_LOSS_MSE: return rb_mse(out, target);
    case RB_LOSS_MAE: return rb_mae(out, target);
    case RB_LOSS_BCE_LOGITS: return rb_bce_logits(out, target);
    case RB_LOSS_HUBER: return rb_huber(out, target, 1.0);
    }
    rb_error(RB_ERR_ARGUMENT, "rb_loss_apply: unknown loss %d", (int)loss);
    return NULL;
}

static bool higher_is_better(rb_metric m) { return m == RB_METRIC_ACCURACY; }

/* Sum over the batch of the metric's per-sample values (divided by the count later). */
static double metric_sum(rb_metric metric, rb_tensor *out, rb_tensor *target)
{
    int64_t n = rb_tensor_dim(out, 0);
    switch (metric) {
    case RB_METRIC_NONE: return 0;
    case RB_METRIC_ACCURACY: {
        rb_tensor *pred = rb_argmax(out, -1, false);
        if (!pred || rb_tensor_dtype(target) != RB_I64) return NAN;
        const int64_t *p = rb_tensor_i64(pred), *y = rb_tensor_i64(target);
        int64_t hits = 0;
        for (int64_t i = 0; i < n; i++) hits += p[i] == y[i];
        return (double)hits;
    }
    case RB_METRIC_MSE:
    case RB_METRIC_MAE: {
        rb_tensor *d = rb_sub(out, target);
        d = metric == RB_METRIC_MSE ? rb_square(d) : rb_abs(d);
        /* mean over the non-batch axes, summed over the batch */
        double per_sample = (double)rb_tensor_size(out) / (double)(n ? n : 1);
        return rb_tensor_item(rb_sum(d, RB_ALL_AXES, false)) / per_sample;
    }
    }
    return NAN;
}

/* ---- evaluate and predict ---- */

static void set_mode(rb_trainable t, bool training)
{
    if (t.set_training) t.set_training(t.model, training);
}

rb_status rb_evaluate(rb_trainable t, const rb_dataset *data, rb_loss loss, rb_metric metric,
                      int64_t batch, double *loss_out, double *metric_out)
{
    if (!t.forward || !data || !data->x || !data->y)
        return rb_error(RB_ERR_ARGUMENT, "rb_evaluate: model or data missing");
    if (batch <= 0) batch = 256;
    set_mode(t, false);
    rb_batcher *b = rb_batcher_new(data->x, data->y, batch, false, 0);
    if (!b) return rb_last_status();
    double loss_sum = 0, metric_total = 0;
    int64_t count = 0;
    rb_tensor *x, *y;
    rb_status st = RB_OK;
    while (rb_batcher_next(b, &x, &y)) {
        rb_scope *s = rb_scope_begin();
        rb_tensor *out = t.forward(t.model, x);
        rb_tensor *l = rb_loss_apply(loss, out, y);
        int64_t n = rb_tensor_dim(x, 0);
        if (!l) st = rb_last_status();
        else {
            loss_sum += rb_tensor_item(l) * (double)n;
            metric_total += metric_sum(metric, out, y);
            count += n;
        }
        rb_scope_end(s);
        if (st != RB_OK) break;
    }
    rb_batcher_free(b);
    if (st != RB_OK) return st;
    if (loss_out) *loss_out = count ? loss_sum / (double)count : NAN;
    if (metric_out) *metric_out = metric == RB_METRIC_NONE || !count ? NAN
                                                                     : metric_total / (double)count;
    return RB_OK;
}

rb_tensor *rb_predict(rb_trainable t, rb_tensor *x, int64_t batch)
{
    if (!t.forward || !x) {
        rb_error(RB_ERR_ARGUMENT, "rb_predict: model or input missing");
        return NULL;
    }
    if (batch <= 0) batch = 256;
    set_mode(t, false);
    int64_t n = rb_tensor_dim(x, 0);
    rb_tensor *result = NULL;
    rb_batcher *b = rb_batcher_new(x, NULL, batch, false, 0);
    if (!b) return NULL;
    rb_tensor *xb;
    int64_t row = 0;
    while (rb_batcher_next(b, &xb, NULL)) {
        rb_scope *s = rb_scope_begin();
        rb_tensor *out = t.forward(t.model, xb);
        if (out && !result) {
            /* The first batch gives the output shape; the result is made outside the scope (it
             * belongs to the caller), so that batch runs again in a fresh scope. */
            int64_t shape[RB_MAX_DIMS];
            int ndim = rb_tensor_ndim(out);
            rb_dtype dtype = rb_tensor_dtype(out);
            memcpy(shape, rb_tensor_shape(out), sizeof(int64_t) * (size_t)ndim);
            shape[0] = n;
            rb_scope_end(s);
            result = rb_tensor_empty(dtype, ndim, shape);
            s = rb_scope_begin();
            out = t.forward(t.model, xb);
        }
        if (!out || !result) {
            rb_scope_end(s);
            rb_tensor_free(result);
            rb_batcher_free(b);
            return NULL;
        }
        size_t bytes = (size_t)rb_tensor_size(out) * rb_dtype_size(rb_tensor_dtype(out));
        rb_tensor *c = rb_contiguous(out);
        memcpy((char *)rb_tensor_data(result) + (size_t)row * (bytes / (size_t)rb_tensor_dim(out, 0)),
               rb_tensor_data(c), bytes);
        row += rb_tensor_dim(out, 0);
        rb_scope_end(s);
    }
    rb_batcher_free(b);
    return result;
}

/* ---- fit ---- */

/* The last `fraction` of train's rows as a validation set, and the rest: two copies. */
static rb_status split(const rb_dataset *train, double fraction, rb_dataset *fit_part,
                       rb_dataset *val_part)
{
    int64_t n = rb_tensor_dim(train->x, 0), n_val = (int64_t)((double)n * fraction);
    if (n_val < 1 || n_val >= n)
        return rb_error(RB_ERR_ARGUMENT, "rb_fit: validation_split %g leaves %lld of %lld rows",
                        fraction, (long long)n_val, (long long)n);
    rb_dataset all;
    if (rb_dataset_head(train, n, &all) != RB_OK) return rb_last_status();
    rb_status st = rb_dataset_head(&all, n - n_val, fit_part);
    if (st == RB_OK) {
        /* The tail: reversed head of the reversed order would cost more; copy rows directly. */
        int64_t sx[RB_MAX_DIMS], sy[RB_MAX_DIMS];
        memcpy(sx, rb_tensor_shape(all.x), sizeof sx);
        memcpy(sy, rb_tensor_shape(all.y), sizeof sy);
        sx[0] = sy[0] = n_val;
        val_part->x = rb_tensor_empty(rb_tensor_dtype(all.x), rb_tensor_ndim(all.x), sx);
        val_part->y = rb_tensor_empty(rb_tensor_dtype(all.y), rb_tensor_ndim(all.y), sy);
        if (!val_part->x || !val_part->y) st = rb_last_status();
        else {
            size_t rx = (size_t)(rb_tensor_size(all.x) / n) * rb_dtype_size(rb_tensor_dtype(all.x));
            size_t ry = (size_t)(rb_tensor_size(all.y) / n) * rb_dtype_size(rb_tensor_dtype(all.y));
            memcpy(rb_tensor_data(val_part->x),
                   (char *)rb_tensor_data(all.x) + (size_t)(n - n_val) * rx, (size_t)n_val * rx);
            memcpy(rb_tensor_data(val_part->y),
                   (char *)rb_tensor_data(all.y) + (size_t)(n - n_val) * ry, (size_t)n_val * ry);
        }
    }
    rb_dataset_free(&all);
    return st;
}

static bool grow(rb_history *h)
{
    rb_epoch_record *e = realloc(h->epochs, sizeof *e * (size_t)(h->n + 1));
    if (!e) {
        rb_error(RB_ERR_MEMORY, "rb_fit: out of memory");
        return false;
    }
    h->epochs = e;
    return true;
}

rb_history *rb_fit(rb_trainable t, rb_optimizer *opt, const rb_dataset *train, rb_fit_config c)
{
    if (!t.forward || !t.params || !opt || !train || !train->x || !train->y) {
        rb_error(RB_ERR_ARGUMENT, "rb_fit: model, parameters, optimizer or data missing");
        return NULL;
    }
    if (c.epochs <= 0) c.epochs = 1;
    if (c.batch_size <= 0) c.batch_size = 32;
    rb_dataset fit_part = *train, held_out = {0};
    const rb_dataset *validation = c.validation;
    if (!validation && c.validation_split > 0) {
        if (split(train, c.validation_split, &fit_part, &held_out) != RB_OK) return NULL;
        validation = &held_out;
    }
    rb_history *h = calloc(1, sizeof *h);
    rb_batcher *b = rb_batcher_new(fit_part.x, fit_part.y, c.batch_size, true, c.seed);
    /* Augmentation draws from its own stream, so shuffling stays the same with or without. */
    rb_rng augment_rng = rb_rng_make(c.seed ^ 0x61756720u);
    if (!h || !b) {
        if (!h) rb_error(RB_ERR_MEMORY, "rb_fit: out of memory");
        free(h);
        rb_batcher_free(b);
        if (held_out.x) {
            rb_dataset_free(&fit_part);
            rb_dataset_free(&held_out);
        }
        return NULL;
    }
    h->metric = c.metric;
    h->has_validation = validation != NULL;
    bool failed = false;
    for (int epoch = 1; epoch <= c.epochs && !failed; epoch++) {
        char title[96];
        snprintf(title, sizeof title, "%s%sepoch %d/%d", c.label ? c.label : "",
                 c.label ? " " : "", epoch, c.epochs);
        rb_progress *bar = c.quiet ? NULL
                                   : rb_progress_begin(stdout, title, rb_batcher_num_batches(b));
        set_mode(t, true);
        double loss_sum = 0, metric_total = 0, t0 = rb_now();
        int64_t seen = 0, steps = 0;
        rb_tensor *x, *y;
        while (rb_batcher_next(b, &x, &y)) {
            if (c.drop_last && rb_tensor_dim(x, 0) < c.batch_size && steps > 0) continue;
            if (c.augment && rb_augment(x, c.augment, &augment_rng) != RB_OK) {
                failed = true;
                break;
            }
            rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
            rb_tensor *out = t.forward(t.model, x);
            rb_tensor *loss = rb_loss_apply(c.loss, out, y);
            rb_tensor *total = t.regularization ? rb_add(loss, t.regularization(t.model)) : loss;
            if (!total || rb_tape_gradient_params(tape, total, t.params) != RB_OK) {
                rb_tape_end(tape);
                failed = true;
                break;
            }
            int64_t n = rb_tensor_dim(x, 0);
            loss_sum += rb_tensor_item(loss) * (double)n;
            if (c.metric != RB_METRIC_NONE) metric_total += metric_sum(c.metric, out, y);
            seen += n;
            rb_tape_end(tape);
            rb_optimizer_step(opt);
            steps++;
            if (bar) {
                if (c.metric != RB_METRIC_NONE)
                    rb_progress_update(bar, steps, "loss %.4f - %s %.4f", loss_sum / (double)seen,
                                       rb_metric_name(c.metric), metric_total / (double)seen);
                else
                    rb_progress_update(bar, steps, "loss %.4f", loss_sum / (double)seen);
            }
        }
        if (failed || !grow(h)) {
            failed = true;
            if (bar) rb_progress_end(bar, "failed: %s", rb_last_error());
            break;
        }
        rb_epoch_record *r = &h->epochs[h->n++];
        r->epoch = epoch;
        r->loss = loss_sum / (double)(seen ? seen : 1);
        r->metric = c.metric == RB_METRIC_NONE ? NAN : metric_total / (double)(seen ? seen : 1);
        r->val_loss = r->val_metric = NAN;
        r->lr = rb_optimizer_lr(opt);
        if (validation &&
            rb_evaluate(t, validation, c.loss, c.metric, 256, &r->val_loss, &r->val_metric) != RB_OK)
            failed = true;
        r->seconds = rb_now() - t0;
        if (bar) {
            char text[192];
            int k = snprintf(text, sizeof text, "loss %.4f", r->loss);
            if (c.metric != RB_METRIC_NONE)
                k += snprintf(text + k, sizeof text - (size_t)k, " - %s %.4f",
                              rb_metric_name(c.metric), r->metric);
            if (validation)
                k += snprintf(text + k, sizeof text - (size_t)k, " - val_loss %.4f", r->val_loss);
            if (validation && c.metric != RB_METRIC_NONE)
                snprintf(text + k, sizeof text - (size_t)k, " - val_%s %.4f",
                         rb_metric_name(c.metric), r->val_metric);
            rb_progress_end(bar, "%s", text);
        }
    }
    set_mode(t, false);
    rb_batcher_free(b);
    if (held_out.x) {
        rb_dataset_free(&fit_part);
        rb_dataset_free(&held_out);
    }
    if (failed) {
        rb_history_free(h);
        return NULL;
    }
    return h;
}

/* ---- regression scores ---- */

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
        return rb_error(RB_ERR_SHAPE, "rb_regression_scores_of: predictions %s and targets %s "
                                      "must be float tensors of one non-empty shape",
                        rb_tensor_shape_string(pred, a, sizeof a),
                        rb_tensor_shape_string(target, b, sizeof b));
    }
    double *p = malloc(sizeof(double) * (size_t)n * 2);
    if (!p) return rb_error(RB_ERR_MEMORY, "rb_regression_scores_of: out of memory");
    double *y = p + n, mean = 0, sse = 0, sae = 0, sst = 0;
    rb_tensor_to_doubles(pred, p, n);
    rb_tensor_to_doubles(target, y, n);
    for (int64_t i = 0; i < n; i++) mean += y[i];
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

/* ---- history ---- */

const rb_epoch_record *rb_history_last(const rb_history *h)
{
    return h && h->n ? &h->epochs[h->n - 1] : NULL;
}

double rb_history_best_metric(const rb_history *h)
{
    if (!h || !h->n) return NAN;
    double best = NAN;
    for (int i = 0; i < h->n; i++) {
        double v = h->has_validation ? h->epochs[i].val_metric : h->epochs[i].metric;
        if (isnan(best) || (higher_is_better(h->metric) ? v > best : v < best)) best = v;
    }
    return best;
}

rb_status rb_history_write_csv(const rb_history *h, const char *path)
{
    if (!h || !path) return rb_error(RB_ERR_ARGUMENT, "rb_history_write_csv: NULL argument");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return rb_error(RB_ERR_IO, "rb_history_write_csv: cannot write '%s'", tmp);
    fprintf(f, "epoch,loss,%s,val_loss,val_%s,lr,seconds\n", rb_metric_name(h->metric),
            rb_metric_name(h->metric));
    for (int i = 0; i < h->n; i++) {
        const rb_epoch_record *r = &h->epochs[i];
        fprintf(f, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f\n", r->epoch, r->loss, r->metric, r->val_loss,
                r->val_metric, r->lr, r->seconds);
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        remove(tmp);
        return rb_error(RB_ERR_IO, "rb_history_write_csv: cannot write '%s'", path);
    }
    return RB_OK;
}

void rb_history_free(rb_history *h)
{
    if (!h) return;
    free(h->epochs);
    free(h);
}
