/* rb_fit's training features: early stopping (patience, min_delta, monitors, best-weight
 * restore), top-k accuracy and R^2 metrics, gradient clipping and schedules inside fit.
 *
 * Most tests train a single Dense unit on y = x with full batches, starting from w = b = 0,
 * while the validation targets are 0.5 x: the validation loss falls while w climbs towards
 * 0.5, then rises as w goes on to 1. Training is deterministic, so the per-epoch values of a
 * plain run predict, through the rule written out in each test, what early stopping must do. */
#include <stdlib.h>

#include "testutil.h"

/* x uniform in [-1, 1] (n, 1), y = slope x. */
static rb_dataset line_data(int64_t n, double slope, uint64_t seed)
{
    rb_rng rng = rb_rng_make(seed);
    rb_dataset d = {.x = rb_tensor_uniform(RB_F64, RB_SHAPE(n, 1), -1, 1, &rng)};
    d.y = rb_mul_scalar(d.x, slope);
    return d;
}

/* One Dense unit, w = b = 0. */
static rb_model *line_model(void)
{
    rb_model *m = rb_model_new(RB_F64, "line", RB_SHAPE(1));
    rb_layer *dense = rb_model_add(m, RB_DENSE(.units = 1));
    assert_non_null(dense);
    rb_tensor_fill(rb_layer_kernel(dense), 0);
    rb_tensor_fill(rb_layer_bias(dense), 0);
    return m;
}

static bool same_weights(rb_params *a, rb_params *b)
{
    if (rb_params_count(a) != rb_params_count(b)) return false;
    for (int i = 0; i < rb_params_count(a); i++) {
        rb_tensor *x = rb_params_at(a, i), *y = rb_params_at(b, i);
        size_t bytes = (size_t)rb_tensor_size(x) * rb_dtype_size(rb_tensor_dtype(x));
        if (rb_tensor_size(x) != rb_tensor_size(y) ||
            memcmp(rb_tensor_data(x), rb_tensor_data(y), bytes) != 0)
            return false;
    }
    return true;
}

/* A run of the line model with SGD (lr 0.3) on full batches of 64 rows. */
typedef struct run {
    rb_model *m;
    rb_optimizer *opt;
    rb_history *h;
} run;

static run fit_line(const rb_dataset *train, rb_fit_config cfg)
{
    run r;
    r.m = line_model();
    r.opt = rb_sgd_new(rb_model_params(r.m), (rb_sgd_config){.lr = 0.3});
    cfg.batch_size = 64;
    cfg.loss = RB_LOSS_MSE;
    cfg.quiet = true;
    cfg.seed = 1;
    r.h = rb_fit(rb_trainable_of_model(r.m), r.opt, train, cfg);
    CHECK_OK(r.h);
    return r;
}

static void run_free(run *r)
{
    rb_history_free(r->h);
    rb_optimizer_free(r->opt);
    rb_model_free(r->m);
}

/* Keras's EarlyStopping, written out: an epoch improves when its value beats the best so far
 * by more than min_delta (below for losses, above when maximizing); training stops after the
 * epoch that makes `patience` epochs in a row without improvement. Gives the best epoch and
 * the last epoch run (1-based) for the values of a run that did not stop. */
static void early_stopping_rule(const double *values, int n, int patience, double min_delta,
                                bool maximize, int *best_epoch, int *last_epoch)
{
    double best = maximize ? -INFINITY : INFINITY;
    int since = 0;
    *best_epoch = 0;
    *last_epoch = n;
    for (int e = 1; e <= n; e++) {
        double v = values[e - 1];
        bool better = maximize ? v > best + min_delta : v < best - min_delta;
        if (better) {
            best = v;
            *best_epoch = e;
            since = 0;
        } else if (++since >= patience && e < n) {
            *last_epoch = e;
            return;
        }
    }
}

enum { EPOCHS = 14 };

static void early_stopping_stops_after_patience_epochs_without_improvement(void **state)
{
    (void)state;
    rb_dataset train = line_data(64, 1.0, 1), val = line_data(64, 0.5, 2);
    /* The plain run: every epoch's validation loss. */
    run plain = fit_line(&train, (rb_fit_config){.epochs = EPOCHS, .validation = &val});
    assert_int_equal(plain.h->n, EPOCHS);
    assert_false(plain.h->stopped_early);
    double val_loss[EPOCHS];
    for (int e = 0; e < EPOCHS; e++)
        val_loss[e] = plain.h->epochs[e].val_loss;
    int best, last;
    early_stopping_rule(val_loss, EPOCHS, 3, 0, false, &best, &last);
    /* The data does what the test needs: improvement for a few epochs, then none. */
    assert_true(best > 1);
    assert_true(last == best + 3 && last < EPOCHS);
    assert_true(val_loss[best] > val_loss[best - 1]);

    run stopped =
        fit_line(&train, (rb_fit_config){.epochs = EPOCHS, .validation = &val, .patience = 3});
    assert_true(stopped.h->stopped_early);
    assert_int_equal(stopped.h->n, last);
    assert_int_equal(stopped.h->best_epoch, best);
    assert_false(stopped.h->restored);
    assert_int_equal(rb_optimizer_steps(stopped.opt), last);
    for (int e = 0; e < last; e++)
        CHECK_CLOSE(stopped.h->epochs[e].val_loss, val_loss[e], 0);
    /* Without restore_best the weights are those of the last epoch run. */
    run shorter = fit_line(&train, (rb_fit_config){.epochs = last, .validation = &val});
    assert_true(same_weights(rb_model_params(stopped.m), rb_model_params(shorter.m)));
    /* The plain run knew its best epoch too, without stopping. */
    assert_int_equal(plain.h->best_epoch, best);

    /* Patience that runs out exactly at the last epoch is not early stopping. */
    run edge = fit_line(&train, (rb_fit_config){.epochs = last, .validation = &val, .patience = 3});
    assert_int_equal(edge.h->n, last);
    assert_false(edge.h->stopped_early);
    run_free(&edge);
    run_free(&shorter);
    run_free(&stopped);
    run_free(&plain);
}

/* min_delta: an improvement must exceed it, measured from the best value so far (not from the
 * previous epoch). Monitored: the training loss (no validation data). */
static void min_delta_counts_only_improvements_larger_than_it(void **state)
{
    (void)state;
    rb_dataset train = line_data(64, 1.0, 3);
    run plain = fit_line(&train, (rb_fit_config){.epochs = EPOCHS});
    double loss[EPOCHS];
    for (int e = 0; e < EPOCHS; e++)
        loss[e] = plain.h->epochs[e].loss;
    /* The training loss falls at every epoch: without min_delta nothing stops. */
    for (int e = 1; e < EPOCHS; e++)
        assert_true(loss[e] < loss[e - 1]);
    int best0, last0;
    early_stopping_rule(loss, EPOCHS, 2, 0, false, &best0, &last0);
    assert_int_equal(last0, EPOCHS);
    run no_delta = fit_line(&train, (rb_fit_config){.epochs = EPOCHS, .patience = 2});
    assert_false(no_delta.h->stopped_early);
    assert_int_equal(no_delta.h->best_epoch, EPOCHS);

    /* A min_delta between the 5th epoch's gain and the gain of the 5th and 6th together: the
     * 5th does not count, the 6th does (against the best, the 4th). */
    double d5 = loss[3] - loss[4], d6 = loss[4] - loss[5];
    double min_delta = d5 + 0.5 * d6;
    int best, last;
    early_stopping_rule(loss, EPOCHS, 2, min_delta, false, &best, &last);
    assert_true(best >= 6 && last < EPOCHS); /* the 6th did count */
    run delta =
        fit_line(&train, (rb_fit_config){.epochs = EPOCHS, .patience = 2, .min_delta = min_delta});
    assert_true(delta.h->stopped_early);
    assert_int_equal(delta.h->best_epoch, best);
    assert_int_equal(delta.h->n, last);
    run_free(&delta);
    run_free(&no_delta);
    run_free(&plain);
}

/* Monitoring a metric follows its direction: R^2 on the validation data is maximized. */
static void a_metric_monitor_follows_the_metrics_direction(void **state)
{
    (void)state;
    rb_dataset train = line_data(64, 1.0, 1), val = line_data(64, 0.5, 2);
    run plain = fit_line(
        &train, (rb_fit_config){.epochs = EPOCHS, .validation = &val, .metric = RB_METRIC_R2});
    double r2[EPOCHS];
    for (int e = 0; e < EPOCHS; e++)
        r2[e] = plain.h->epochs[e].val_metric;
    int best, last;
    early_stopping_rule(r2, EPOCHS, 2, 0, true, &best, &last);
    assert_true(best > 1 && last < EPOCHS);
    run stopped = fit_line(&train, (rb_fit_config){.epochs = EPOCHS,
                                                   .validation = &val,
                                                   .metric = RB_METRIC_R2,
                                                   .patience = 2,
                                                   .monitor = RB_MONITOR_VAL_METRIC});
    assert_true(stopped.h->stopped_early);
    assert_int_equal(stopped.h->best_epoch, best);
    assert_int_equal(stopped.h->n, last);
    /* The best R^2 is the largest one. */
    for (int e = 0; e < EPOCHS; e++)
        assert_true(r2[e] <= r2[best - 1]);
    /* The MAE of the training data only falls (lower is better): no stop. */
    run mae = fit_line(&train, (rb_fit_config){.epochs = EPOCHS,
                                               .metric = RB_METRIC_MAE,
                                               .patience = 2,
                                               .monitor = RB_MONITOR_METRIC});
    assert_false(mae.h->stopped_early);
    assert_int_equal(mae.h->best_epoch, EPOCHS);
    run_free(&mae);
    run_free(&stopped);
    run_free(&plain);
}

static void impossible_monitors_are_refused(void **state)
{
    (void)state;
    rb_dataset train = line_data(64, 1.0, 1);
    rb_model *m = line_model();
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
    rb_trainable t = rb_trainable_of_model(m);
    CHECK_FAILS(rb_fit(t, opt, &train,
                       (rb_fit_config){.quiet = true,
                                       .loss = RB_LOSS_MSE,
                                       .patience = 2,
                                       .monitor = RB_MONITOR_VAL_LOSS}),
                RB_ERR_ARGUMENT, "validation data");
    CHECK_FAILS(rb_fit(t, opt, &train,
                       (rb_fit_config){.quiet = true,
                                       .loss = RB_LOSS_MSE,
                                       .metric = RB_METRIC_MAE,
                                       .monitor = RB_MONITOR_VAL_METRIC}),
                RB_ERR_ARGUMENT, "validation data");
    CHECK_FAILS(
        rb_fit(t, opt, &train,
               (rb_fit_config){.quiet = true, .loss = RB_LOSS_MSE, .monitor = RB_MONITOR_METRIC}),
        RB_ERR_ARGUMENT, "needs cfg.metric");
    CHECK_FAILS(rb_fit(t, opt, &train,
                       (rb_fit_config){.quiet = true,
                                       .loss = RB_LOSS_MSE,
                                       .validation = &train,
                                       .monitor = RB_MONITOR_VAL_METRIC}),
                RB_ERR_ARGUMENT, "needs cfg.metric");
    CHECK_FAILS(
        rb_fit(t, opt, &train, (rb_fit_config){.quiet = true, .loss = RB_LOSS_MSE, .patience = -1}),
        RB_ERR_ARGUMENT, "patience");
    CHECK_FAILS(rb_fit(t, opt, &train,
                       (rb_fit_config){.quiet = true, .loss = RB_LOSS_MSE, .clip_norm = -1}),
                RB_ERR_ARGUMENT, "clip_norm");
    /* Nothing was trained by the refused calls. */
    assert_int_equal(rb_optimizer_steps(opt), 0);
    /* A validation monitor with validation_split is fine. */
    rb_history *h = rb_fit(t, opt, &train,
                           (rb_fit_config){.quiet = true,
                                           .loss = RB_LOSS_MSE,
                                           .validation_split = 0.25,
                                           .monitor = RB_MONITOR_VAL_LOSS,
                                           .patience = 1});
    CHECK_OK(h);
    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* ---- restoring the best weights ---- */

/* Dense(4, tanh) -> BatchNorm -> Dense(1), float64, trained by Adam on y = x0 + x1 in
 * shuffled batches of 16, validated on y = 0.3 (x0 + x1): the validation loss falls, then
 * rises as the outputs grow past the validation targets. */
static rb_model *bn_model(void)
{
    rb_model *m = rb_model_new(RB_F64, "bn", RB_SHAPE(2));
    rb_model_seed(m, 21);
    CHECK_OK(rb_model_add(m, RB_DENSE(.units = 4, .activation = RB_ACT_TANH)));
    CHECK_OK(rb_model_add(m, RB_BATCH_NORM()));
    CHECK_OK(rb_model_add(m, RB_DENSE(.units = 1)));
    return m;
}

static rb_dataset sum_data(double scale, uint64_t seed)
{
    rb_rng rng = rb_rng_make(seed);
    rb_dataset d = {.x = rb_tensor_uniform(RB_F64, RB_SHAPE(48, 2), -1, 1, &rng)};
    d.y = rb_mul_scalar(rb_sum(d.x, RB_AXES(1), true), scale);
    return d;
}

static run fit_bn(const rb_dataset *train, rb_fit_config cfg)
{
    run r;
    r.m = bn_model();
    r.opt = rb_adam_new(rb_model_params(r.m), (rb_adam_config){.lr = 0.05});
    cfg.batch_size = 16;
    cfg.loss = RB_LOSS_MSE;
    cfg.quiet = true;
    cfg.seed = 4;
    r.h = rb_fit(rb_trainable_of_model(r.m), r.opt, train, cfg);
    CHECK_OK(r.h);
    return r;
}

static void restore_best_puts_back_the_best_epochs_weights_exactly(void **state)
{
    (void)state;
    rb_dataset train = sum_data(1, 5), val = sum_data(0.3, 6);
    run best_run = fit_bn(
        &train,
        (rb_fit_config){.epochs = 30, .validation = &val, .patience = 2, .restore_best = true});
    assert_true(best_run.h->stopped_early);
    assert_true(best_run.h->restored);
    int best = best_run.h->best_epoch;
    assert_true(best > 1 && best < best_run.h->n); /* a later epoch than the first */
    /* The best epoch has the lowest validation loss of the run. */
    for (int e = 0; e < best_run.h->n; e++)
        assert_true(best_run.h->epochs[e].val_loss >= best_run.h->epochs[best - 1].val_loss);

    /* The same training stopped at the best epoch by its epoch count: the same weights, bit
     * for bit, moving statistics included. */
    run at_best = fit_bn(&train, (rb_fit_config){.epochs = best, .validation = &val});
    assert_true(same_weights(rb_model_params(best_run.m), rb_model_params(at_best.m)));
    rb_tensor *mean =
        rb_params_find(rb_model_params(best_run.m), "batch_normalization.moving_mean");
    CHECK_OK(mean);
    assert_true(rb_tensor_f64(mean)[0] != 0);
    /* The restored model evaluates to the best epoch's validation loss. */
    double loss;
    CHECK_STATUS_OK(rb_evaluate(rb_trainable_of_model(best_run.m), &val, RB_LOSS_MSE,
                                RB_METRIC_NONE, 0, &loss, NULL));
    CHECK_CLOSE(loss, best_run.h->epochs[best - 1].val_loss, 1e-12);

    /* Without restore_best the weights are the last epoch's, which differ. */
    run last = fit_bn(&train, (rb_fit_config){.epochs = 30, .validation = &val, .patience = 2});
    assert_int_equal(last.h->n, best_run.h->n);
    assert_false(last.h->restored);
    assert_false(same_weights(rb_model_params(best_run.m), rb_model_params(last.m)));
    /* When the best epoch is the last one, nothing is restored. */
    run_free(&last);
    last = fit_bn(
        &train,
        (rb_fit_config){.epochs = best, .validation = &val, .patience = 2, .restore_best = true});
    assert_false(last.h->restored);
    assert_int_equal(last.h->best_epoch, best);
    assert_true(same_weights(rb_model_params(last.m), rb_model_params(at_best.m)));
    run_free(&last);
    run_free(&at_best);
    run_free(&best_run);
}

/* ---- metrics ---- */

/* A "model" whose outputs are its inputs: forward(x) = x + 0 w, with w a trainable variable
 * (so that fit has something to update, which never changes the outputs). */
static rb_tensor *pass_through(void *model, rb_tensor *x)
{
    return rb_add(x, rb_mul_scalar((rb_tensor *)model, 0.0));
}

static rb_trainable fixed_outputs(rb_params *p, int64_t width)
{
    rb_tensor *w = rb_params_add(p, "w", RB_SHAPE(width), true);
    assert_non_null(w);
    return (rb_trainable){.model = w, .forward = pass_through, .params = p};
}

/* Six rows of six logits. Rank of the label = the number of logits strictly above it (ties
 * with the label count as hits, as tf.math.in_top_k):
 *   row 0  [5 1 2 3 4 0]        label 0: 0 above
 *   row 1  [5 1 2 3 4 0]        label 4: 1 above
 *   row 2  [5 1 2 3 4 0]        label 2: 3 above
 *   row 3  [0 0 0 9 0 0]        label 5: 1 above (tied with four others)
 *   row 4  [1 2 3 4 5 6]        label 0: 5 above
 *   row 5  [.1 .2 .3 .25 .15 .05] label 3: 1 above
 * Hits: top-1 row 0 (1 of 6); top-2 rows 0, 1, 3, 5 (4); top-3 the same (4); top-5 all but
 * row 4 (5). */
static rb_dataset six_rows(void)
{
    rb_dataset d = {.x = T64(RB_SHAPE(6, 6), 5, 1, 2, 3, 4, 0, 5, 1, 2, 3, 4, 0, 5, 1, 2, 3, 4, 0,
                             0, 0, 0, 9, 0, 0, 1, 2, 3, 4, 5, 6, 0.1, 0.2, 0.3, 0.25, 0.15, 0.05),
                    .y = TI64(RB_SHAPE(6), 0, 4, 2, 5, 0, 3)};
    return d;
}

static double fit_metric(rb_trainable t, rb_optimizer *opt, const rb_dataset *d, rb_metric metric,
                         int top_k, int64_t batch, double *val_metric)
{
    rb_history *h = rb_fit(t, opt, d,
                           (rb_fit_config){.epochs = 1,
                                           .batch_size = batch,
                                           .metric = metric,
                                           .top_k = top_k,
                                           .validation = d,
                                           .quiet = true,
                                           .seed = 9});
    CHECK_OK(h);
    double m = h->epochs[0].metric;
    *val_metric = h->epochs[0].val_metric;
    rb_history_free(h);
    return m;
}

static void top_k_accuracy_counts_labels_among_the_k_largest_outputs(void **state)
{
    (void)state;
    rb_dataset d = six_rows();
    rb_params *p = rb_params_new(RB_F64);
    rb_trainable t = fixed_outputs(p, 6);
    rb_optimizer *opt = rb_sgd_new(p, (rb_sgd_config){.lr = 0.1});
    double val;
    /* In fit, with top_k, over one batch and over shuffled batches of 4 and 2. */
    CHECK_CLOSE(fit_metric(t, opt, &d, RB_METRIC_TOP_K_ACCURACY, 2, 6, &val), 4.0 / 6, 1e-15);
    CHECK_CLOSE(val, 4.0 / 6, 1e-15);
    CHECK_CLOSE(fit_metric(t, opt, &d, RB_METRIC_TOP_K_ACCURACY, 2, 4, &val), 4.0 / 6, 1e-15);
    CHECK_CLOSE(fit_metric(t, opt, &d, RB_METRIC_TOP_K_ACCURACY, 3, 6, &val), 4.0 / 6, 1e-15);
    CHECK_CLOSE(val, 4.0 / 6, 1e-15);
    CHECK_CLOSE(fit_metric(t, opt, &d, RB_METRIC_TOP_K_ACCURACY, 1, 6, &val), 1.0 / 6, 1e-15);
    CHECK_CLOSE(fit_metric(t, opt, &d, RB_METRIC_TOP_K_ACCURACY, 0, 6, &val), 5.0 / 6, 1e-15);
    CHECK_CLOSE(val, 5.0 / 6, 1e-15); /* top_k 0: 5 */
    CHECK_CLOSE(fit_metric(t, opt, &d, RB_METRIC_ACCURACY, 0, 2, &val), 1.0 / 6, 1e-15);
    /* rb_evaluate uses k = 5, whatever the batch. */
    for (int64_t batch = 1; batch <= 6; batch++) {
        double acc;
        CHECK_STATUS_OK(rb_evaluate(t, &d, RB_LOSS_SOFTMAX_CROSS_ENTROPY, RB_METRIC_TOP_K_ACCURACY,
                                    batch, NULL, &acc));
        CHECK_CLOSE(acc, 5.0 / 6, 1e-15);
    }
    assert_true(rb_metric_higher_is_better(RB_METRIC_TOP_K_ACCURACY));
    assert_string_equal(rb_metric_name(RB_METRIC_TOP_K_ACCURACY), "top_k_accuracy");
    /* Float labels are not class labels: the metric is NaN. */
    rb_dataset soft = {.x = d.x, .y = rb_softmax(d.x, -1)};
    double nan_acc;
    CHECK_STATUS_OK(rb_evaluate(t, &soft, RB_LOSS_SOFTMAX_CROSS_ENTROPY, RB_METRIC_TOP_K_ACCURACY,
                                0, NULL, &nan_acc));
    assert_true(isnan(nan_acc));
    rb_optimizer_free(opt);
    rb_params_free(p);
}

/* R^2 of predictions p against targets y, written out: 1 - sum (p - y)^2 / sum (y - mean y)^2. */
static double r2_of(const double *p, const double *y, int n)
{
    double mean = 0, sse = 0, sst = 0;
    for (int i = 0; i < n; i++)
        mean += y[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        sse += (p[i] - y[i]) * (p[i] - y[i]);
        sst += (y[i] - mean) * (y[i] - mean);
    }
    return 1 - sse / sst;
}

static void r2_is_computed_over_the_whole_set_not_averaged_over_batches(void **state)
{
    (void)state;
    /* Predictions (the inputs of the pass-through model) and targets, 10 rows. */
    const double pred[10] = {1.0, 2.1, 2.9, 4.2, 5.0, 0.5, 0.4, 0.8, 9.0, 8.5};
    const double target[10] = {1.2, 2.0, 3.1, 3.9, 5.3, 0.2, 0.9, 0.6, 8.0, 9.1};
    rb_dataset d = {.x = rb_tensor_from_data(RB_F64, RB_SHAPE(10, 1), pred),
                    .y = rb_tensor_from_data(RB_F64, RB_SHAPE(10, 1), target)};
    double want = r2_of(pred, target, 10);
    /* The mean of per-batch R^2 over batches of 4, 4 and 2 rows is something else. */
    double per_batch =
        (r2_of(pred, target, 4) + r2_of(pred + 4, target + 4, 4) + r2_of(pred + 8, target + 8, 2)) /
        3;
    assert_true(fabs(per_batch - want) > 0.05);

    rb_params *p = rb_params_new(RB_F64);
    rb_trainable t = fixed_outputs(p, 1);
    for (int64_t batch = 1; batch <= 10; batch++) {
        double r2, mse;
        CHECK_STATUS_OK(rb_evaluate(t, &d, RB_LOSS_MSE, RB_METRIC_R2, batch, &mse, &r2));
        CHECK_CLOSE(r2, want, 1e-12);
    }
    /* fit's training metric accumulates over the epoch's shuffled batches the same way. */
    rb_optimizer *opt = rb_sgd_new(p, (rb_sgd_config){.lr = 0.1});
    rb_history *h = rb_fit(t, opt, &d,
                           (rb_fit_config){.epochs = 2,
                                           .batch_size = 4,
                                           .loss = RB_LOSS_MSE,
                                           .metric = RB_METRIC_R2,
                                           .validation = &d,
                                           .quiet = true});
    CHECK_OK(h);
    for (int e = 0; e < 2; e++) {
        CHECK_CLOSE(h->epochs[e].metric, want, 1e-12);
        CHECK_CLOSE(h->epochs[e].val_metric, want, 1e-12);
    }
    rb_history_free(h);
    /* The whole-set score function agrees. */
    rb_regression_scores scores;
    CHECK_STATUS_OK(rb_regression_scores_of(d.x, d.y, &scores));
    CHECK_CLOSE(scores.r2, want, 1e-12);
    assert_true(rb_metric_higher_is_better(RB_METRIC_R2));
    rb_optimizer_free(opt);
    rb_params_free(p);
}

/* Targets far from zero (1e8 + t, t in [-1, 1]) keep their precision: the sums behind SST
 * are not the naive sum of y^2 minus (sum y)^2 / n. */
static void r2_keeps_its_precision_for_targets_far_from_zero(void **state)
{
    (void)state;
    enum { ROWS = 40 };
    double pred[ROWS], target[ROWS];
    rb_rng rng = rb_rng_make(13);
    for (int i = 0; i < ROWS; i++) {
        double t = 2 * rb_rng_uniform(&rng) - 1;
        target[i] = 1e8 + t;
        pred[i] = 1e8 + 0.9 * t;
    }
    rb_dataset d = {.x = rb_tensor_from_data(RB_F64, RB_SHAPE(ROWS, 1), pred),
                    .y = rb_tensor_from_data(RB_F64, RB_SHAPE(ROWS, 1), target)};
    double want = r2_of(pred, target, ROWS);
    assert_true(want > 0.95 && want < 0.999);
    rb_params *p = rb_params_new(RB_F64);
    rb_trainable t = fixed_outputs(p, 1);
    double r2;
    CHECK_STATUS_OK(rb_evaluate(t, &d, RB_LOSS_MSE, RB_METRIC_R2, 7, NULL, &r2));
    CHECK_CLOSE(r2, want, 1e-6);
    /* Constant targets: R^2 is undefined. */
    rb_dataset flat = {.x = d.x, .y = rb_tensor_full(RB_F64, RB_SHAPE(ROWS, 1), 3.0)};
    CHECK_STATUS_OK(rb_evaluate(t, &flat, RB_LOSS_MSE, RB_METRIC_R2, 7, NULL, &r2));
    assert_true(isnan(r2));
    rb_params_free(p);
}

/* ---- clipping and schedules in fit ---- */

/* Two Gaussian blobs in 2-D, labels 0 and 1, and a small float64 classifier. */
static rb_dataset blobs(int64_t n, uint64_t seed)
{
    rb_rng rng = rb_rng_make(seed);
    rb_dataset d = {.x = rb_tensor_empty(RB_F64, RB_SHAPE(n, 2)),
                    .y = rb_tensor_empty(RB_I64, RB_SHAPE(n))};
    for (int64_t i = 0; i < n; i++) {
        rb_tensor_i64(d.y)[i] = i % 2;
        double centre = i % 2 ? 1.5 : -1.5;
        rb_tensor_f64(d.x)[2 * i] = centre + rb_rng_normal(&rng);
        rb_tensor_f64(d.x)[2 * i + 1] = centre + rb_rng_normal(&rng);
    }
    return d;
}

static rb_model *classifier(void)
{
    rb_model *m = rb_model_new(RB_F64, "blobs", RB_SHAPE(2));
    rb_model_seed(m, 8);
    rb_model_add(m, RB_DENSE(.units = 5, .activation = RB_ACT_TANH));
    rb_model_add(m, RB_DENSE(.units = 2));
    return m;
}

static double distance(rb_params *a, rb_params *b)
{
    double s = 0;
    for (int i = 0; i < rb_params_count(a); i++) {
        const double *x = rb_tensor_f64(rb_params_at(a, i)), *y = rb_tensor_f64(rb_params_at(b, i));
        for (int64_t k = 0; k < rb_tensor_size(rb_params_at(a, i)); k++)
            s += (x[k] - y[k]) * (x[k] - y[k]);
    }
    return sqrt(s);
}

static rb_model *fit_blobs(const rb_dataset *d, double clip_norm, double clip_value)
{
    rb_model *m = classifier();
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.5});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, d,
                           (rb_fit_config){.epochs = 2,
                                           .batch_size = 10,
                                           .seed = 2,
                                           .quiet = true,
                                           .clip_norm = clip_norm,
                                           .clip_value = clip_value});
    CHECK_OK(h);
    assert_int_equal(rb_optimizer_steps(opt), 8);
    rb_history_free(h);
    rb_optimizer_free(opt);
    return m;
}

static void clipping_in_fit_bounds_each_update_and_a_loose_limit_changes_nothing(void **state)
{
    (void)state;
    rb_dataset d = blobs(40, 3);
    rb_model *start = classifier();
    rb_model *plain = fit_blobs(&d, 0, 0);
    /* A limit far above every gradient: bit for bit the plain run. */
    rb_model *loose = fit_blobs(&d, 1e9, 0);
    assert_true(same_weights(rb_model_params(plain), rb_model_params(loose)));
    rb_model *loose_value = fit_blobs(&d, 0, 1e9);
    assert_true(same_weights(rb_model_params(plain), rb_model_params(loose_value)));
    /* A tight norm: each of the 8 SGD steps moves the weights by at most lr 1e-3 = 5e-4. */
    rb_model *tight = fit_blobs(&d, 1e-3, 0);
    assert_false(same_weights(rb_model_params(plain), rb_model_params(tight)));
    double moved = distance(rb_model_params(tight), rb_model_params(start));
    assert_true(moved <= 8 * 0.5 * 1e-3 * (1 + 1e-9));
    assert_true(moved > 1e-3); /* and they did move */
    assert_true(distance(rb_model_params(plain), rb_model_params(start)) > 0.1);
    /* A tight value limit: each step moves each weight by at most lr 1e-4. */
    rb_model *clamped = fit_blobs(&d, 0, 1e-4);
    assert_false(same_weights(rb_model_params(plain), rb_model_params(clamped)));
    for (int i = 0; i < rb_params_count(rb_model_params(start)); i++) {
        rb_tensor *a = rb_params_at(rb_model_params(start), i);
        rb_tensor *b = rb_params_at(rb_model_params(clamped), i);
        for (int64_t k = 0; k < rb_tensor_size(a); k++)
            assert_true(fabs(rb_tensor_f64(a)[k] - rb_tensor_f64(b)[k]) <=
                        8 * 0.5 * 1e-4 * (1 + 1e-9));
    }
    rb_model_free(clamped);
    rb_model_free(tight);
    rb_model_free(loose_value);
    rb_model_free(loose);
    rb_model_free(plain);
    rb_model_free(start);
}

/* A per-step schedule in fit: the scheduler moves after every update, the history records the
 * rate the optimizer holds at the end of each epoch, and the training equals a hand-written
 * loop that steps the scheduler after each update. 40 rows in batches of 10: 4 steps an
 * epoch. */
static void a_per_step_scheduler_in_fit_sets_the_rate_after_every_update(void **state)
{
    (void)state;
    rb_dataset d = line_data(40, 1.0, 7);
    const rb_schedule sched = {
        .kind = RB_SCHEDULE_EXPONENTIAL, .decay = 0.05, .warmup = 2, .per_step = true};
    rb_model *m = line_model();
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
    rb_scheduler *s = rb_scheduler_new(opt, sched);
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &d,
                           (rb_fit_config){.epochs = 3,
                                           .batch_size = 10,
                                           .loss = RB_LOSS_MSE,
                                           .scheduler = s,
                                           .seed = 5,
                                           .quiet = true});
    CHECK_OK(h);
    assert_int_equal(rb_optimizer_steps(opt), 12);
    /* Warmup of 2 steps, then 0.1 exp(-0.05 (t - 2)). */
    CHECK_CLOSE(rb_optimizer_lr(opt), 0.1 * exp(-0.05 * 10), 1e-15);
    for (int e = 0; e < 3; e++) {
        double t = 4.0 * (e + 1);
        CHECK_CLOSE(h->epochs[e].lr, 0.1 * exp(-0.05 * (t - 2)), 1e-15);
    }

    /* The same training by hand. */
    rb_model *hand = line_model();
    rb_optimizer *hand_opt = rb_sgd_new(rb_model_params(hand), (rb_sgd_config){.lr = 0.1});
    rb_scheduler *hand_s = rb_scheduler_new(hand_opt, sched);
    rb_batcher *b = rb_batcher_new(d.x, d.y, 10, true, 5);
    rb_model_set_training(hand, true);
    for (int e = 0; e < 3; e++) {
        rb_tensor *x, *y;
        while (rb_batcher_next(b, &x, &y)) {
            rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
            rb_tensor *loss =
                rb_add(rb_mse(rb_model_forward(hand, x), y), rb_model_regularization(hand));
            CHECK_STATUS_OK(rb_tape_gradient_params(tape, loss, rb_model_params(hand)));
            rb_tape_end(tape);
            CHECK_STATUS_OK(rb_optimizer_step(hand_opt));
            rb_scheduler_step(hand_s);
        }
        rb_scheduler_epoch_end(hand_s, NAN);
    }
    assert_true(same_weights(rb_model_params(m), rb_model_params(hand)));
    /* A constant rate gives other weights: the schedule mattered. */
    rb_model *constant = line_model();
    rb_optimizer *constant_opt = rb_sgd_new(rb_model_params(constant), (rb_sgd_config){.lr = 0.1});
    rb_history *hc =
        rb_fit(rb_trainable_of_model(constant), constant_opt, &d,
               (rb_fit_config){
                   .epochs = 3, .batch_size = 10, .loss = RB_LOSS_MSE, .seed = 5, .quiet = true});
    CHECK_OK(hc);
    assert_false(same_weights(rb_model_params(m), rb_model_params(constant)));
    rb_history_free(hc);
    rb_optimizer_free(constant_opt);
    rb_model_free(constant);
    rb_batcher_free(b);
    rb_scheduler_free(hand_s);
    rb_optimizer_free(hand_opt);
    rb_model_free(hand);
    rb_history_free(h);
    rb_scheduler_free(s);
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* A per-epoch schedule: each epoch runs at, and records, schedule(epoch - 1). */
static void a_per_epoch_scheduler_in_fit_records_each_epochs_rate(void **state)
{
    (void)state;
    rb_dataset d = line_data(40, 1.0, 7);
    const rb_schedule sched = {.kind = RB_SCHEDULE_STEP, .step_size = 2, .gamma = 0.5};
    rb_model *m = line_model();
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.2});
    rb_scheduler *s = rb_scheduler_new(opt, sched);
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &d,
                           (rb_fit_config){.epochs = 5,
                                           .batch_size = 10,
                                           .loss = RB_LOSS_MSE,
                                           .scheduler = s,
                                           .seed = 5,
                                           .quiet = true});
    CHECK_OK(h);
    const double want[5] = {0.2, 0.2, 0.1, 0.1, 0.05};
    for (int e = 0; e < 5; e++)
        CHECK_CLOSE(h->epochs[e].lr, want[e], 1e-15);
    CHECK_CLOSE(rb_optimizer_lr(opt), 0.05, 1e-15); /* schedule(5) for a sixth epoch */
    rb_history_free(h);
    rb_scheduler_free(s);
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* Reduce on plateau in fit is told the monitored value (here the validation loss) at the end
 * of each epoch: replaying the plateau rule on the recorded losses gives the recorded rates. */
static void reduce_on_plateau_in_fit_watches_the_monitored_value(void **state)
{
    (void)state;
    rb_dataset train = line_data(64, 1.0, 1), val = line_data(64, 0.5, 2);
    rb_model *m = line_model();
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.3});
    rb_scheduler *s = rb_scheduler_new(
        opt, (rb_schedule){.kind = RB_SCHEDULE_PLATEAU, .patience = 1, .factor = 0.5});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &train,
                           (rb_fit_config){.epochs = 10,
                                           .batch_size = 64,
                                           .loss = RB_LOSS_MSE,
                                           .validation = &val,
                                           .scheduler = s,
                                           .quiet = true});
    CHECK_OK(h);
    double lr = 0.3, best = INFINITY;
    int reductions = 0;
    for (int e = 0; e < h->n; e++) {
        CHECK_CLOSE(h->epochs[e].lr, lr, 1e-15);
        if (h->epochs[e].val_loss < best)
            best = h->epochs[e].val_loss;
        else {
            lr *= 0.5; /* patience 1: every epoch without improvement halves it */
            reductions++;
        }
    }
    assert_true(reductions >= 2);
    CHECK_CLOSE(rb_optimizer_lr(opt), lr, 1e-15);
    rb_history_free(h);
    rb_scheduler_free(s);
    rb_optimizer_free(opt);
    rb_model_free(m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(early_stopping_stops_after_patience_epochs_without_improvement),
        TEST(min_delta_counts_only_improvements_larger_than_it),
        TEST(a_metric_monitor_follows_the_metrics_direction),
        TEST(impossible_monitors_are_refused),
        TEST(restore_best_puts_back_the_best_epochs_weights_exactly),
        TEST(top_k_accuracy_counts_labels_among_the_k_largest_outputs),
        TEST(r2_is_computed_over_the_whole_set_not_averaged_over_batches),
        TEST(r2_keeps_its_precision_for_targets_far_from_zero),
        TEST(clipping_in_fit_bounds_each_update_and_a_loose_limit_changes_nothing),
        TEST(a_per_step_scheduler_in_fit_sets_the_rate_after_every_update),
        TEST(a_per_epoch_scheduler_in_fit_records_each_epochs_rate),
        TEST(reduce_on_plateau_in_fit_watches_the_monitored_value),
    };
    return RUN_TESTS(tests, argc, argv);
}
