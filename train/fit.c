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

/* Data sets held as bytes (rb_mnist_load_bytes, ...) are fed as floats of the parameters'
 * dtype (float32 when there are none yet), each value / 255: the values the float loaders
 * hold, so a byte set trains exactly as its float twin. */
#define BYTE_SCALE (1.0 / 255)

static rb_dtype feed_dtype(rb_trainable t)
{
    return t.params && rb_params_count(t.params) > 0 ? rb_tensor_dtype(rb_params_at(t.params, 0))
                                                     : RB_F32;
}

static rb_batcher *batches_of(rb_trainable t, rb_tensor *x, rb_tensor *y, int64_t batch,
                              bool shuffle, uint64_t seed)
{
    rb_batcher *b = rb_batcher_new(x, y, batch, shuffle, seed);
    if (b && rb_tensor_dtype(x) == RB_U8 &&
        rb_batcher_convert(b, feed_dtype(t), BYTE_SCALE) != RB_OK) {
        rb_batcher_free(b);
        return NULL;
    }
    return b;
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
    rb_batcher *b = batches_of(t, data->x, data->y, batch, false, 0);
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
    rb_batcher *b = batches_of(t, x, NULL, batch, false, 0);
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
    rb_tensor *row = rb_slice(x, start, stop, NULL);
    if (row && rb_tensor_dtype(x) == RB_U8) /* as batches_of feeds it */
        row = rb_mul_scalar(rb_cast(row, feed_dtype(t)), BYTE_SCALE);
    bool ok = forward_of(t, row, false) != NULL;
    rb_scope_end(s);
    if (ok) return RB_OK;
    if (rb_last_status() != RB_OK) return rb_last_status();
    return rb_error(RB_ERR_STATE, "rb_fit: the model's forward returned NULL without an error");
}

static rb_status check_config(const rb_fit_config *c, bool has_val)
{
    rb_monitor m = c->monitor;
    if ((m == RB_MONITOR_VAL_LOSS || m == RB_MONITOR_VAL_METRIC) && !has_val)
        return rb_error(
            RB_ERR_ARGUMENT,
            "rb_fit: monitoring a validation value needs validation data or validation_split");
    if ((m == RB_MONITOR_VAL_METRIC || m == RB_MONITOR_METRIC) && c->metric == RB_METRIC_NONE)
        return rb_error(RB_ERR_ARGUMENT, "rb_fit: monitoring a metric needs cfg.metric");
    if (c->patience < 0 || c->min_delta < 0 || c->clip_norm < 0 || c->clip_value < 0 ||
        c->top_k < 0)
        return rb_error(
            RB_ERR_ARGUMENT,
            "rb_fit: patience, min_delta, clip_norm, clip_value and top_k must be >= 0");
    return RB_OK;
}

/* Augmentation draws from its own stream (the seed mixed with this), so that shuffling is the
 * same with or without it. */
#define AUGMENT_SEED_SALT 0x61756720u /* "aug " */
/* Rows per batch when evaluating the validation set. */
enum { VALIDATION_BATCH = 256 };

/* One call of rb_fit: what its steps share. */
typedef struct fit_run {
    rb_trainable t;
    rb_optimizer *opt;
    rb_fit_config c;
    rb_dataset fit_part, held_out; /* the training rows; rows split off for validation */
    const rb_dataset *validation;
    rb_dataset val_shard; /* this rank's validation rows (distributed) */
    rb_batcher *batches;
    rb_rng augment_rng;
    rb_history *h;
    bool root; /* the rank that prints (always, without a job) */
    snapshot best_weights;
    double best; /* the monitored value's best so far */
    bool maximize;
    int since_best;
} fit_run;

/* Data, history and batches; false (error recorded) when something is missing. */
static bool fit_prepare(fit_run *r, const rb_dataset *train)
{
    r->fit_part = *train;
    r->validation = r->c.validation;
    if (!r->validation && r->c.validation_split > 0) {
        if (split(train, r->c.validation_split, &r->fit_part, &r->held_out) != RB_OK) return false;
        r->validation = &r->held_out;
    }
    r->h = calloc(1, sizeof *r->h);
    if (!r->h) {
        rb_error(RB_ERR_MEMORY, "rb_fit: out of memory");
        return false;
    }
    r->h->metric = r->c.metric;
    r->h->has_validation = r->validation != NULL;
    r->batches = batches_of(r->t, r->fit_part.x, r->fit_part.y, r->c.batch_size, true, r->c.seed);
    r->augment_rng = rb_rng_make(r->c.seed ^ AUGMENT_SEED_SALT);
    r->best = NAN;
    r->root = rb_dist_is_root(r->c.dist);
    /* Across ranks: this rank's slices of the batches and of the validation rows, rank 0's
     * weights; only rank 0 prints. */
    return r->batches && rb__fit_dist_begin(r->c.dist, r->t, r->opt, r->batches, r->validation,
                                            &r->val_shard) == RB_OK;
}

static void fit_release(fit_run *r)
{
    snapshot_free(&r->best_weights);
    rb_dataset_free(&r->val_shard);
    rb_batcher_free(r->batches);
    if (r->held_out.x) {
        rb_dataset_free(&r->fit_part);
        rb_dataset_free(&r->held_out);
    }
}

/* One minibatch: forward, loss and penalties, gradients (averaged across ranks), clipping,
 * the update and the constraints. The loss and metric of the batch go into the sums. */
static bool train_batch(fit_run *r, rb_tensor *x, rb_tensor *y, double *loss_sum, int64_t *seen,
                        metric_acc *acc)
{
    const rb_fit_config *c = &r->c;
    if (c->augment && rb_augment(x, c->augment, &r->augment_rng) != RB_OK) return false;
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *out = forward_of(r->t, x, true);
    rb_tensor *loss = rb_loss_apply(c->loss, out, y);
    rb_tensor *total = rb_add(loss, penalty_of(r->t));
    if (!total || rb_tape_gradient_params(tape, total, r->t.params) != RB_OK) {
        rb_tape_end(tape);
        return false;
    }
    int64_t n = rb_tensor_dim(x, 0);
    *loss_sum += rb_tensor_item(loss) * (double)n;
    metric_add(acc, out, y);
    *seen += n;
    rb_tape_end(tape);
    if (rb__fit_dist_gradients(c->dist, r->t.params, n, r->batches) != RB_OK) return false;
    if ((c->clip_value > 0 && rb_clip_grad_value(r->t.params, c->clip_value) != RB_OK) ||
        (c->clip_norm > 0 && rb_clip_grad_norm(r->t.params, c->clip_norm) < 0))
        return false;
    /* Max-norm constraints bound the weights the update gave. */
    if (rb_optimizer_step(r->opt) != RB_OK || constrain(r->t) != RB_OK) return false;
    if (c->scheduler) rb_scheduler_step(c->scheduler);
    return true;
}

/* The bar's text after a step or at the end of an epoch (validation values when r has them). */
static void bar_text(const rb_fit_config *c, const rb_epoch_record *e, bool validation, char *text,
                     size_t size)
{
    int k = snprintf(text, size, "loss %.4f", e->loss);
    if (c->metric != RB_METRIC_NONE)
        k += snprintf(text + k, size - (size_t)k, " - %s %.4f", rb_metric_name(c->metric),
                      e->metric);
    if (validation) k += snprintf(text + k, size - (size_t)k, " - val_loss %.4f", e->val_loss);
    if (validation && c->metric != RB_METRIC_NONE)
        snprintf(text + k, size - (size_t)k, " - val_%s %.4f", rb_metric_name(c->metric),
                 e->val_metric);
}

/* Every minibatch of one epoch, with progress; the epoch's training loss and metric in e. */
static bool train_epoch(fit_run *r, rb_progress_event *event, rb_progress *bar, rb_epoch_record *e)
{
    const rb_fit_config *c = &r->c;
    set_mode(r->t, true);
    double loss_sum = 0, t0 = rb_now();
    metric_acc acc;
    metric_start(&acc, c->metric, c->top_k);
    int64_t seen = 0, steps = 0;
    bool ok = true;
    rb_tensor *x, *y;
    while (ok && rb_batcher_next(r->batches, &x, &y)) {
        if (c->drop_last && rb_batcher_batch_rows(r->batches) < c->batch_size && steps > 0)
            continue;
        if (!(ok = train_batch(r, x, y, &loss_sum, &seen, &acc))) break;
        steps++;
        rb_epoch_record so_far = {.loss = loss_sum / (double)seen, .metric = metric_value(&acc)};
        if (c->progress.fn && r->root) {
            event->step = steps;
            event->loss = so_far.loss;
            event->metric = so_far.metric;
            event->seconds = rb_now() - t0;
            rb_progress_report(c->progress, event);
        }
        if (bar) {
            char text[192];
            bar_text(c, &so_far, false, text, sizeof text);
            rb_progress_update(bar, steps, "%s", text);
        }
    }
    /* The others wait for this rank in the next collective: stop the job, naming it. */
    if (!ok && c->dist) rb_dist_fail(c->dist, rb_last_error());
    if (ok && rb__fit_dist_reduce(c->dist, &loss_sum, &seen, &acc) != RB_OK) ok = false;
    event->step = steps;
    e->loss = loss_sum / (double)(seen ? seen : 1);
    e->metric = metric_value(&acc);
    e->seconds = rb_now() - t0;
    return ok;
}

/* After an epoch: validation (every rank its slice, with rank 0's BatchNorm statistics), the
 * monitored value, the best weights, the scheduler's epoch end. */
static bool end_epoch(fit_run *r, rb_epoch_record *e, double started)
{
    const rb_fit_config *c = &r->c;
    bool ok = true;
    if (r->validation &&
        (rb_dist_broadcast_buffers(c->dist, r->t.params) != RB_OK ||
         evaluate_k(r->t, c->dist ? &r->val_shard : r->validation, c->loss, c->metric, c->top_k,
                    VALIDATION_BATCH, &e->val_loss, &e->val_metric, c->dist) != RB_OK))
        ok = false;
    if (!ok && c->dist) rb_dist_fail(c->dist, rb_last_error());
    e->seconds = rb_now() - started;
    /* Early stopping and plateaus watch one value. */
    double value = monitored(c, e, r->validation != NULL, &r->maximize);
    bool improved = isnan(r->best) ||
                    (r->maximize ? value > r->best + c->min_delta : value < r->best - c->min_delta);
    if (improved && !isnan(value)) {
        r->best = value;
        r->h->best_epoch = e->epoch;
        r->since_best = 0;
        if (c->restore_best && !snapshot_take(&r->best_weights, r->t.params)) {
            rb_error(RB_ERR_MEMORY, "rb_fit: out of memory keeping the best weights");
            ok = false;
        }
    } else {
        r->since_best++;
    }
    if (c->scheduler) rb_scheduler_epoch_end(c->scheduler, value);
    return ok;
}

/* Whether early stopping ends the fit after epoch e (it says so unless quiet). */
static bool stop_early(fit_run *r, int epoch)
{
    const rb_fit_config *c = &r->c;
    if (!(c->patience > 0 && r->since_best >= c->patience && epoch < c->epochs)) return false;
    r->h->stopped_early = true;
    if (!c->quiet && r->root)
        printf("early stopping after epoch %d: no improvement for %d epochs (best: epoch %d)\n",
               epoch, c->patience, r->h->best_epoch);
    return true;
}

/* One epoch, recorded in the history: training, validation, progress. */
static bool run_epoch(fit_run *r, int epoch)
{
    const rb_fit_config *c = &r->c;
    char title[96];
    snprintf(title, sizeof title, "%s%sepoch %d/%d", c->label ? c->label : "", c->label ? " " : "",
             epoch, c->epochs);
    int64_t batches = rb_batcher_num_batches(r->batches);
    rb_progress *bar =
        c->quiet || c->progress.fn || !r->root ? NULL : rb_progress_begin(stdout, title, batches);
    rb_progress_event event = {.epoch = epoch,
                               .epochs = c->epochs,
                               .steps = batches,
                               .loss = NAN,
                               .metric = NAN,
                               .val_loss = NAN,
                               .val_metric = NAN,
                               .remaining = -1,
                               .metric_name = c->metric ? rb_metric_name(c->metric) : NULL,
                               .percent = percent_metric(c->metric)};
    double started = rb_now();
    rb_epoch_record e = {.epoch = epoch, .val_loss = NAN, .val_metric = NAN};
    if (!train_epoch(r, &event, bar, &e) || !grow(r->h)) {
        if (bar) rb_progress_end(bar, "failed: %s", rb_last_error());
        return false;
    }
    e.lr = rb_optimizer_lr(r->opt);
    bool ok = end_epoch(r, &e, started);
    r->h->epochs[r->h->n++] = e;
    if (c->progress.fn && r->root) {
        event.epoch_end = true;
        event.loss = e.loss;
        event.metric = e.metric;
        event.val_loss = e.val_loss;
        event.val_metric = e.val_metric;
        event.seconds = e.seconds;
        rb_progress_report(c->progress, &event);
    }
    if (bar) {
        char text[192];
        bar_text(c, &e, r->validation != NULL, text, sizeof text);
        rb_progress_end(bar, "%s", text);
    }
    return ok;
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
    fit_run r = {.t = t, .opt = opt, .c = c};
    bool ok = fit_prepare(&r, train);
    for (int epoch = 1; ok && epoch <= c.epochs; epoch++)
        if (!(ok = run_epoch(&r, epoch)) || stop_early(&r, epoch)) break;
    if (ok && c.restore_best && r.best_weights.values && r.h->best_epoch != r.h->n) {
        snapshot_restore(&r.best_weights, t.params);
        r.h->restored = true;
    }
    if (ok && rb_dist_broadcast_buffers(c.dist, t.params) != RB_OK) ok = false;
    set_mode(t, false);
    fit_release(&r);
    if (!ok) {
        rb_history_free(r.h);
        return NULL;
    }
    return r.h;
}

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
