/* fit, evaluate, predict: the training loop written once (public API only). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fit_dist.h"
#include "metrics.h"

/* ---- models: the rb_model adapter, C functions, what a trainable leaves NULL ---- */

static rb_tensor *model_forward(void *m, rb_tensor *x) { return rb_model_forward(m, x); }
static void model_set_training(void *m, bool on) { rb_model_set_training(m, on); }
static rb_tensor *model_regularization(void *m) { return rb_model_regularization(m); }
static rb_status model_apply_constraints(void *m) { return rb_model_apply_constraints(m); }

rb_trainable rb_trainable_of_model(rb_model *m)
{
    rb_trainable t = {m,
                      model_forward,
                      rb_model_params(m),
                      model_set_training,
                      model_regularization,
                      model_apply_constraints,
                      NULL};
    return t;
}

rb_trainable rb_trainable_of_function(rb_params *params, rb_forward_fn forward, void *user)
{
    return (rb_trainable){.model = user, .params = params, .forward_fn = forward};
}

static bool has_forward(rb_trainable t) { return t.forward || t.forward_fn; }

static rb_tensor *forward_of(rb_trainable t, rb_tensor *x, bool training)
{
    return t.forward_fn ? t.forward_fn(t.model, x, training) : t.forward(t.model, x);
}

static void set_mode(rb_trainable t, bool training)
{
    if (t.set_training)
        t.set_training(t.model, training);
    else
        rb_layers_set_training(t.params, training);
}

static rb_tensor *penalty_of(rb_trainable t)
{
    return t.regularization ? t.regularization(t.model) : rb_layers_regularization(t.params);
}

static rb_status constrain(rb_trainable t)
{
    return t.apply_constraints ? t.apply_constraints(t.model)
                               : rb_layers_apply_constraints(t.params);
}

/* ---- evaluate and predict ---- */

/* Loss and metric of a data set in evaluation mode. */
static rb_status evaluate_k(rb_trainable t, const rb_dataset *data, rb_loss loss, rb_metric metric,
                            int k, int64_t batch, double *loss_out, double *metric_out, rb_dist *d)
{
    if (!has_forward(t) || !data || !data->x || !data->y)
        return rb_error(RB_ERR_ARGUMENT, "rb_evaluate: model or data missing");
    if (batch <= 0) batch = 256;
    set_mode(t, false);
    rb_batcher *b = rb_batcher_new(data->x, data->y, batch, false, 0);
    if (!b) return rb_last_status();
    double loss_sum = 0;
    int64_t count = 0;
    metric_acc acc;
    metric_start(&acc, metric, k);
    rb_tensor *x, *y;
    rb_status st = RB_OK;
    while (rb_batcher_next(b, &x, &y)) {
        rb_scope *s = rb_scope_begin();
        rb_tensor *out = forward_of(t, x, false);
        rb_tensor *l = rb_loss_apply(loss, out, y);
        int64_t n = rb_tensor_dim(x, 0);
        if (!l)
            st = rb_last_status();
        else {
            loss_sum += rb_tensor_item(l) * (double)n;
            metric_add(&acc, out, y);
            count += n;
        }
        rb_scope_end(s);
        if (st != RB_OK) break;
    }
    rb_batcher_free(b);
    if (st != RB_OK) return st;
    if (rb__fit_dist_reduce(d, &loss_sum, &count, &acc) != RB_OK) return rb_last_status();
    if (loss_out) *loss_out = count ? loss_sum / (double)count : NAN;
    if (metric_out) *metric_out = metric_value(&acc);
    return RB_OK;
}

rb_status rb_evaluate(rb_trainable t, const rb_dataset *data, rb_loss loss, rb_metric metric,
                      int64_t batch, double *loss_out, double *metric_out)
{
    return evaluate_k(t, data, loss, metric, 5, batch, loss_out, metric_out, NULL);
}

rb_tensor *rb_predict(rb_trainable t, rb_tensor *x, int64_t batch)
{
    if (!has_forward(t) || !x) {
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
        rb_tensor *out = forward_of(t, xb, false);
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
            out = forward_of(t, xb, false);
        }
        if (!out || !result) {
            rb_scope_end(s);
            rb_tensor_free(result);
            rb_batcher_free(b);
            return NULL;
        }
        size_t bytes = (size_t)rb_tensor_size(out) * rb_dtype_size(rb_tensor_dtype(out));
        rb_tensor *c = rb_contiguous(out);
        memcpy((char *)rb_tensor_data(result) +
                   (size_t)row * (bytes / (size_t)rb_tensor_dim(out, 0)),
               rb_tensor_data(c), bytes);
        row += rb_tensor_dim(out, 0);
        rb_scope_end(s);
    }
    rb_batcher_free(b);
    return result;
}

/* ---- fit ---- */

static bool percent_metric(rb_metric m)
{
    return m == RB_METRIC_ACCURACY || m == RB_METRIC_TOP_K_ACCURACY;
}

/* The last `fraction` of train's rows as a validation set, and the rest: two copies. */
static rb_status split(const rb_dataset *train, double fraction, rb_dataset *fit_part,
                       rb_dataset *val_part)
{
    int64_t n = rb_dataset_rows(train), n_val = (int64_t)((double)n * fraction);
    if (n_val < 1 || n_val >= n)
        return rb_error(RB_ERR_ARGUMENT, "rb_fit: validation_split %g leaves %lld of %lld rows",
                        fraction, (long long)n_val, (long long)n);
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)n);
    if (!rows) return rb_error(RB_ERR_MEMORY, "rb_fit: out of memory");
    for (int64_t i = 0; i < n; i++)
        rows[i] = i;
    rb_status st = rb_dataset_take(train, rows, n - n_val, fit_part);
    if (st == RB_OK && (st = rb_dataset_take(train, rows + n - n_val, n_val, val_part)) != RB_OK)
        rb_dataset_free(fit_part);
    free(rows);
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

/* Copies of every variable's values (trainable or not: BatchNorm's running statistics too),
 * for early stopping's best epoch. */
typedef struct snapshot {
    int n;
    void **values;
} snapshot;

static bool snapshot_take(snapshot *s, rb_params *p)
{
    int n = rb_params_count(p);
    if (!s->values) {
        s->values = calloc((size_t)(n ? n : 1), sizeof(void *));
        if (!s->values) return false;
        s->n = n;
    }
    for (int i = 0; i < s->n; i++) {
        rb_tensor *v = rb_params_at(p, i);
        size_t bytes = (size_t)rb_tensor_size(v) * rb_dtype_size(rb_tensor_dtype(v));
        if (!s->values[i] && !(s->values[i] = malloc(bytes ? bytes : 1))) return false;
        memcpy(s->values[i], rb_tensor_data(v), bytes);
    }
    return true;
}

static void snapshot_restore(const snapshot *s, rb_params *p)
{
    for (int i = 0; i < s->n; i++) {
        rb_tensor *v = rb_params_at(p, i);
        memcpy(rb_tensor_data(v), s->values[i],
               (size_t)rb_tensor_size(v) * rb_dtype_size(rb_tensor_dtype(v)));
    }
    rb_params_touch(p);
}

static void snapshot_free(snapshot *s)
{
    for (int i = 0; s->values && i < s->n; i++)
        free(s->values[i]);
    free(s->values);
}

/* The monitored value of an epoch, and whether larger is better. */
static double monitored(const rb_fit_config *c, const rb_epoch_record *r, bool has_val,
                        bool *maximize)
{
    rb_monitor m = c->monitor;
    if (m == RB_MONITOR_AUTO) m = has_val ? RB_MONITOR_VAL_LOSS : RB_MONITOR_LOSS;
    bool metric = m == RB_MONITOR_VAL_METRIC || m == RB_MONITOR_METRIC;
    *maximize = metric && rb_metric_higher_is_better(c->metric);
    switch (m) {
    case RB_MONITOR_VAL_LOSS: return r->val_loss;
    case RB_MONITOR_VAL_METRIC: return r->val_metric;
    case RB_MONITOR_METRIC: return r->metric;
    default: return r->loss;
    }
}

/* Layers made without an input shape get it from one training row, in evaluation mode and
 * outside any tape: every variable then exists before the first update, the job's broadcast
 * and the best weights' copy. */
static rb_status build_layers(rb_trainable t, rb_tensor *x)
{
    if (rb_layers_unbuilt(t.params) == 0) return RB_OK;
    int64_t start[RB_MAX_DIMS] = {0}, stop[RB_MAX_DIMS];
    int ndim = rb_tensor_ndim(x);
    memcpy(stop, rb_tensor_shape(x), sizeof(int64_t) * (size_t)ndim);
    stop[0] = 1;
    set_mode(t, false);
    rb_scope *s = rb_scope_begin();
    bool ok = forward_of(t, rb_slice(x, start, stop, NULL), false) != NULL;
    rb_scope_end(s);
    if (ok) return RB_OK;
    if (rb_last_status() != RB_OK) return rb_last_status();
    return rb_error(RB_ERR_STATE, "rb_fit: the model's forward returned NULL without an error");
}

static rb_status check_config(const rb_fit_config *c, bool has_val)
{
    rb_monitor m = c->monitor;
    if ((m == RB_MONITOR_VAL_LOSS || m == RB_MONITOR_VAL_METRIC) && !has_val)
        return rb_error(RB_ERR_ARGUMENT, "rb_fit: monitoring a validation value needs "
                                         "validation data or validation_split");
    if ((m == RB_MONITOR_VAL_METRIC || m == RB_MONITOR_METRIC) && c->metric == RB_METRIC_NONE)
        return rb_error(RB_ERR_ARGUMENT, "rb_fit: monitoring a metric needs cfg.metric");
    if (c->patience < 0 || c->min_delta < 0 || c->clip_norm < 0 || c->clip_value < 0 ||
        c->top_k < 0)
        return rb_error(RB_ERR_ARGUMENT, "rb_fit: patience, min_delta, clip_norm, clip_value and "
                                         "top_k must be >= 0");
    return RB_OK;
}

rb_history *rb_fit(rb_trainable t, rb_optimizer *opt, const rb_dataset *train, rb_fit_config c)
{
    if (!has_forward(t) || !t.params || !opt || !train || !train->x || !train->y) {
        rb_error(RB_ERR_ARGUMENT, "rb_fit: model, parameters, optimizer or data missing");
        return NULL;
    }
    if (c.epochs <= 0) c.epochs = 1;
    if (c.batch_size <= 0) c.batch_size = 32;
    if (check_config(&c, c.validation || c.validation_split > 0) != RB_OK) return NULL;
    if (build_layers(t, train->x) != RB_OK) return NULL;
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
    snapshot best_weights = {0};
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
    /* Across ranks: this rank's slices of the batches and of the validation rows, rank 0's
     * weights; only rank 0 prints. */
    rb_dataset val_shard = {0};
    bool root = rb_dist_is_root(c.dist);
    if (rb__fit_dist_begin(c.dist, t, opt, b, validation, &val_shard) != RB_OK) {
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
    bool failed = false, maximize = false;
    double best = NAN;
    int since_best = 0;
    for (int epoch = 1; epoch <= c.epochs && !failed; epoch++) {
        char title[96];
        snprintf(title, sizeof title, "%s%sepoch %d/%d", c.label ? c.label : "", c.label ? " " : "",
                 epoch, c.epochs);
        rb_progress *bar = c.quiet || c.progress.fn || !root
                               ? NULL
                               : rb_progress_begin(stdout, title, rb_batcher_num_batches(b));
        rb_progress_event event = {.epoch = epoch,
                                   .epochs = c.epochs,
                                   .steps = rb_batcher_num_batches(b),
                                   .loss = NAN,
                                   .metric = NAN,
                                   .val_loss = NAN,
                                   .val_metric = NAN,
                                   .remaining = -1,
                                   .metric_name = c.metric ? rb_metric_name(c.metric) : NULL,
                                   .percent = percent_metric(c.metric)};
        set_mode(t, true);
        double loss_sum = 0, t0 = rb_now();
        metric_acc acc;
        metric_start(&acc, c.metric, c.top_k);
        int64_t seen = 0, steps = 0;
        rb_tensor *x, *y;
        while (rb_batcher_next(b, &x, &y)) {
            if (c.drop_last && rb_batcher_batch_rows(b) < c.batch_size && steps > 0) continue;
            if (c.augment && rb_augment(x, c.augment, &augment_rng) != RB_OK) {
                failed = true;
                break;
            }
            rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
            rb_tensor *out = forward_of(t, x, true);
            rb_tensor *loss = rb_loss_apply(c.loss, out, y);
            rb_tensor *total = rb_add(loss, penalty_of(t));
            if (!total || rb_tape_gradient_params(tape, total, t.params) != RB_OK) {
                rb_tape_end(tape);
                failed = true;
                break;
            }
            int64_t n = rb_tensor_dim(x, 0);
            loss_sum += rb_tensor_item(loss) * (double)n;
            metric_add(&acc, out, y);
            seen += n;
            rb_tape_end(tape);
            if (rb__fit_dist_gradients(c.dist, t.params, n, b) != RB_OK) {
                failed = true;
                break;
            }
            if ((c.clip_value > 0 && rb_clip_grad_value(t.params, c.clip_value) != RB_OK) ||
                (c.clip_norm > 0 && rb_clip_grad_norm(t.params, c.clip_norm) < 0)) {
                failed = true;
                break;
            }
            /* Max-norm constraints bound the weights the update gave. */
            if (rb_optimizer_step(opt) != RB_OK || constrain(t) != RB_OK) {
                failed = true;
                break;
            }
            if (c.scheduler) rb_scheduler_step(c.scheduler);
            steps++;
            if (c.progress.fn && root) {
                event.step = steps;
                event.loss = loss_sum / (double)seen;
                event.metric = metric_value(&acc);
                event.seconds = rb_now() - t0;
                rb_progress_report(c.progress, &event);
            }
            if (bar) {
                if (c.metric != RB_METRIC_NONE)
                    rb_progress_update(bar, steps, "loss %.4f - %s %.4f", loss_sum / (double)seen,
                                       rb_metric_name(c.metric), metric_value(&acc));
                else
                    rb_progress_update(bar, steps, "loss %.4f", loss_sum / (double)seen);
            }
        }
        /* The others wait for this rank in the next collective: stop the job, naming it. */
        if (failed && c.dist) rb_dist_fail(c.dist, rb_last_error());
        if (!failed && rb__fit_dist_reduce(c.dist, &loss_sum, &seen, &acc) != RB_OK) failed = true;
        if (failed || !grow(h)) {
            failed = true;
            if (bar) rb_progress_end(bar, "failed: %s", rb_last_error());
            break;
        }
        rb_epoch_record *r = &h->epochs[h->n++];
        r->epoch = epoch;
        r->loss = loss_sum / (double)(seen ? seen : 1);
        r->metric = metric_value(&acc);
        r->val_loss = r->val_metric = NAN;
        r->lr = rb_optimizer_lr(opt);
        /* Every rank evaluates its slice with rank 0's moving statistics (BatchNorm). */
        if (validation && (rb_dist_broadcast_buffers(c.dist, t.params) != RB_OK ||
                           evaluate_k(t, c.dist ? &val_shard : validation, c.loss, c.metric,
                                      c.top_k, 256, &r->val_loss, &r->val_metric, c.dist) != RB_OK))
            failed = true;
        if (failed && c.dist) rb_dist_fail(c.dist, rb_last_error());
        r->seconds = rb_now() - t0;
        /* Early stopping and plateaus watch one value. */
        double value = monitored(&c, r, validation != NULL, &maximize);
        bool improved =
            isnan(best) || (maximize ? value > best + c.min_delta : value < best - c.min_delta);
        if (improved && !isnan(value)) {
            best = value;
            h->best_epoch = epoch;
            since_best = 0;
            if (c.restore_best && !snapshot_take(&best_weights, t.params)) {
                rb_error(RB_ERR_MEMORY, "rb_fit: out of memory keeping the best weights");
                failed = true;
            }
        } else {
            since_best++;
        }
        if (c.scheduler) rb_scheduler_epoch_end(c.scheduler, value);
        if (c.progress.fn && root) {
            event.epoch_end = true;
            event.step = steps;
            event.loss = r->loss;
            event.metric = r->metric;
            event.val_loss = r->val_loss;
            event.val_metric = r->val_metric;
            event.seconds = r->seconds;
            rb_progress_report(c.progress, &event);
        }
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
        if (c.patience > 0 && since_best >= c.patience && epoch < c.epochs) {
            h->stopped_early = true;
            if (!c.quiet && root)
                printf("early stopping after epoch %d: no improvement for %d epochs (best: epoch "
                       "%d)\n",
                       epoch, c.patience, h->best_epoch);
            break;
        }
    }
    if (!failed && c.restore_best && best_weights.values && h->best_epoch != h->n) {
        snapshot_restore(&best_weights, t.params);
        h->restored = true;
    }
    snapshot_free(&best_weights);
    if (!failed && rb_dist_broadcast_buffers(c.dist, t.params) != RB_OK) failed = true;
    rb_dataset_free(&val_shard);
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

/* ---- history ---- */

rb_history *rb_history_new(rb_metric metric, bool has_validation)
{
    rb_history *h = calloc(1, sizeof *h);
    if (!h) {
        rb_error(RB_ERR_MEMORY, "rb_history_new: out of memory");
        return NULL;
    }
    h->metric = metric;
    h->has_validation = has_validation;
    return h;
}

rb_status rb_history_add(rb_history *h, rb_epoch_record record)
{
    if (!h) return rb_error(RB_ERR_ARGUMENT, "rb_history_add: NULL history");
    rb_epoch_record *e = realloc(h->epochs, sizeof *e * (size_t)(h->n + 1));
    if (!e) return rb_error(RB_ERR_MEMORY, "rb_history_add: out of memory");
    h->epochs = e;
    e[h->n++] = record;
    const rb_epoch_record *best = h->best_epoch > 0 ? &e[h->best_epoch - 1] : NULL;
    if (!best || (h->has_validation ? record.val_loss < best->val_loss : record.loss < best->loss))
        h->best_epoch = h->n;
    return RB_OK;
}

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
        if (isnan(best) || (rb_metric_higher_is_better(h->metric) ? v > best : v < best)) best = v;
    }
    return best;
}

rb_status rb_history_write_csv(const rb_history *h, const char *path)
{
    if (!h || !path) return rb_error(RB_ERR_ARGUMENT, "rb_history_write_csv: NULL argument");
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_history_write_csv") != RB_OK) return rb_last_status();
    FILE *f = w.f;
    fprintf(f, "epoch,loss,%s,val_loss,val_%s,lr,seconds\n", rb_metric_name(h->metric),
            rb_metric_name(h->metric));
    for (int i = 0; i < h->n; i++) {
        const rb_epoch_record *r = &h->epochs[i];
        fprintf(f, "%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.3f\n", r->epoch, r->loss, r->metric, r->val_loss,
                r->val_metric, r->lr, r->seconds);
    }
    return rb_atomic_file_commit(&w);
}

void rb_history_free(rb_history *h)
{
    if (!h) return;
    free(h->epochs);
    free(h);
}
