/* fit / evaluate / predict, the history CSV, and PNG output. */
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

/* Two Gaussian blobs in 2-D, label 1 for the blob at (+2, +2): linearly separable. */
static rb_dataset blobs(int64_t n, uint64_t seed)
{
    rb_rng rng = rb_rng_make(seed);
    rb_dataset d = {.x = rb_tensor_empty(RB_F32, RB_SHAPE(n, 2)),
                    .y = rb_tensor_empty(RB_I64, RB_SHAPE(n))};
    float *x = rb_tensor_data(d.x);
    int64_t *y = rb_tensor_i64(d.y);
    for (int64_t i = 0; i < n; i++) {
        y[i] = i % 2;
        double centre = y[i] ? 2.0 : -2.0;
        x[2 * i] = (float)(centre + rb_rng_normal(&rng));
        x[2 * i + 1] = (float)(centre + rb_rng_normal(&rng));
    }
    return d;
}

static rb_model *classifier(void)
{
    rb_model *m = rb_model_new(RB_F32, "blobs", RB_SHAPE(2));
    rb_model_seed(m, 3);
    rb_model_add(m, RB_DENSE(.units = 8, .activation = RB_ACT_TANH));
    rb_model_add(m, RB_DENSE(.units = 2));
    return m;
}

static void fit_learns_separable_blobs_and_records_history(void **state)
{
    (void)state;
    rb_dataset train = blobs(600, 1), test = blobs(200, 2);
    rb_model *m = classifier();
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
    double t0 = rb_now();
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &train,
                           (rb_fit_config){.epochs = 4,
                                           .batch_size = 50,
                                           .seed = 5,
                                           .quiet = true,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = &test});
    double wall = rb_now() - t0;
    CHECK_OK(h);
    assert_int_equal(h->n, 4);
    assert_true(h->has_validation);
    /* Each epoch took time, and together no more than the whole call. */
    double seconds = 0;
    for (int e = 0; e < 4; e++) {
        assert_int_equal(h->epochs[e].epoch, e + 1);
        CHECK_CLOSE(h->epochs[e].lr, 0.1, 1e-12);
        assert_true(h->epochs[e].seconds > 0);
        seconds += h->epochs[e].seconds;
    }
    if (!(seconds <= wall)) fail_msg("epochs took %g s in a call of %g s", seconds, wall);
    assert_true(h->epochs[3].loss < h->epochs[0].loss);
    assert_true(rb_history_last(h)->val_metric >= 0.97);
    /* The best metric is the highest validation accuracy of the run, not the training one. */
    double best = -1;
    for (int e = 0; e < 4; e++)
        if (h->epochs[e].val_metric > best) best = h->epochs[e].val_metric;
    CHECK_CLOSE(rb_history_best_metric(h), best, 0);
    assert_int_equal(rb_optimizer_steps(opt), 4 * 12);
    assert_false(rb_model_training(m)); /* left in evaluation mode */

    /* The recorded validation matches a separate evaluation of the final model. */
    double loss, acc;
    CHECK_STATUS_OK(rb_evaluate(rb_trainable_of_model(m), &test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                                RB_METRIC_ACCURACY, 64, &loss, &acc));
    CHECK_CLOSE(loss, rb_history_last(h)->val_loss, 1e-6);
    CHECK_CLOSE(acc, rb_history_last(h)->val_metric, 0);

    /* The CSV holds a header and one line per epoch with the recorded values. */
    char path[] = "/tmp/ruban_history_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    CHECK_STATUS_OK(rb_history_write_csv(h, path));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n");
    for (int e = 0; e < 4; e++) {
        int epoch;
        double l, a, vl, va, lr, s;
        assert_non_null(fgets(line, sizeof line, f));
        assert_int_equal(
            sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf,%lf", &epoch, &l, &a, &vl, &va, &lr, &s), 7);
        assert_int_equal(epoch, e + 1);
        CHECK_CLOSE(l, h->epochs[e].loss, 1e-5 * fabs(l));
        CHECK_CLOSE(va, h->epochs[e].val_metric, 1e-5);
    }
    assert_null(fgets(line, sizeof line, f));
    fclose(f);
    remove(path);

    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* A loop written by hand records its epochs as rb_fit does; best_epoch follows the lowest
 * validation loss, or the training loss without validation. */
static void a_history_built_by_hand_keeps_its_epochs_and_best_epoch(void **state)
{
    (void)state;
    rb_history *h = rb_history_new(RB_METRIC_ACCURACY, true);
    CHECK_OK(h);
    assert_int_equal(h->n, 0);
    assert_null(rb_history_last(h));
    const double val_loss[4] = {0.9, 0.5, 0.6, 0.55};
    for (int e = 0; e < 4; e++)
        CHECK_STATUS_OK(rb_history_add(h, (rb_epoch_record){.epoch = e + 1,
                                                            .loss = 1.0 / (e + 1),
                                                            .metric = 0.8 + 0.01 * e,
                                                            .val_loss = val_loss[e],
                                                            .val_metric = 0.7 + 0.02 * e,
                                                            .lr = 0.1,
                                                            .seconds = 1}));
    assert_int_equal(h->n, 4);
    assert_int_equal(h->metric, RB_METRIC_ACCURACY);
    assert_true(h->has_validation);
    assert_int_equal(h->best_epoch, 2);
    CHECK_CLOSE(rb_history_last(h)->val_metric, 0.76, 1e-12);
    CHECK_CLOSE(rb_history_best_metric(h), 0.76, 1e-12);
    rb_history_free(h);

    h = rb_history_new(RB_METRIC_NONE, false);
    CHECK_OK(h);
    for (int e = 0; e < 3; e++)
        CHECK_STATUS_OK(rb_history_add(
            h,
            (rb_epoch_record){.epoch = e + 1, .loss = 1 + e, .val_loss = NAN, .val_metric = NAN}));
    assert_int_equal(h->best_epoch, 1);
    rb_history_free(h);
    CHECK_FAILS(rb_history_add(NULL, (rb_epoch_record){0}), RB_ERR_ARGUMENT, "NULL history");
}

/* evaluate averages over rows, whatever the batch size (the last batch is short). */
static void evaluate_and_predict_do_not_depend_on_batch_size(void **state)
{
    (void)state;
    rb_dataset d = blobs(37, 4);
    rb_model *m = classifier();
    rb_trainable t = rb_trainable_of_model(m);
    rb_tensor *all = rb_model_forward(m, d.x);
    double want_loss = rb_tensor_item(rb_softmax_cross_entropy(all, d.y));
    for (int64_t batch = 1; batch <= 40; batch += 13) {
        double loss, mse;
        CHECK_STATUS_OK(rb_evaluate(t, &d, RB_LOSS_SOFTMAX_CROSS_ENTROPY, RB_METRIC_ACCURACY, batch,
                                    &loss, &mse));
        CHECK_CLOSE(loss, want_loss, 1e-6);
        rb_tensor *p = rb_predict(t, d.x, batch);
        CHECK_SHAPE(p, 37, 2);
        CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(p, all)), RB_ALL_AXES, false)), 0, 1e-6);
    }
    rb_model_free(m);
}

static void regression_metrics_and_validation_split(void **state)
{
    (void)state;
    /* y = 3x - 1 with a little noise; a single Dense unit fits it. */
    rb_rng rng = rb_rng_make(9);
    rb_dataset d = {.x = rb_tensor_uniform(RB_F32, RB_SHAPE(200, 1), -1, 1, &rng)};
    d.y = rb_add(rb_mul_scalar(d.x, 3), rb_tensor_normal(RB_F32, RB_SHAPE(200, 1), -1, 0.01, &rng));
    rb_model *m = rb_model_new(RB_F32, "line", RB_SHAPE(1));
    rb_model_add(m, RB_DENSE(.units = 1));
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 0.1});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &d,
                           (rb_fit_config){.epochs = 30,
                                           .batch_size = 20,
                                           .loss = RB_LOSS_MSE,
                                           .metric = RB_METRIC_MAE,
                                           .validation_split = 0.25,
                                           .quiet = true});
    CHECK_OK(h);
    assert_true(h->has_validation);
    assert_int_equal(rb_optimizer_steps(opt), 30 * 8); /* 150 rows left for training */
    assert_true(rb_history_last(h)->val_loss < 1e-2);
    assert_true(rb_history_last(h)->val_metric < 0.1);
    /* For MAE lower is better: the best is the lowest validation MAE of the run. */
    double best = rb_history_best_metric(h), lowest = INFINITY;
    for (int e = 0; e < h->n; e++)
        if (h->epochs[e].val_metric < lowest) lowest = h->epochs[e].val_metric;
    CHECK_CLOSE(best, lowest, 0);
    rb_history_free(h);

    CHECK_FAILS(rb_fit(rb_trainable_of_model(m), opt, &d,
                       (rb_fit_config){.validation_split = 1.0, .quiet = true}),
                RB_ERR_ARGUMENT, "validation_split");
    CHECK_FAILS(rb_fit(rb_trainable_of_model(m), NULL, &d, (rb_fit_config){.quiet = true}),
                RB_ERR_ARGUMENT, "rb_fit");
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* A loss that does not fit the output stops fit with the loss's own message. */
static void fit_reports_a_mismatched_loss(void **state)
{
    (void)state;
    rb_dataset d = blobs(20, 6);
    rb_model *m = classifier();
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
    CHECK_FAILS(rb_fit(rb_trainable_of_model(m), opt, &d,
                       (rb_fit_config){.loss = RB_LOSS_MSE, .quiet = true}),
                RB_ERR_DTYPE, "rb_mse: dtypes differ");
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* Classes as targets of other losses: MSE against one-hot rows trains the classifier and the
 * accuracy reads the rows' labels; NLL of a log-softmax output is the fused cross-entropy. */
static void classes_train_with_mse_on_one_hot_rows_and_with_nll(void **state)
{
    (void)state;
    rb_dataset train = blobs(600, 1), test = blobs(200, 2);
    rb_dataset train_rows = {.x = train.x, .y = rb_one_hot(train.y, 2, RB_F32)};
    rb_dataset test_rows = {.x = test.x, .y = rb_one_hot(test.y, 2, RB_F32)};
    rb_model *m = classifier();
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &train_rows,
                           (rb_fit_config){.epochs = 4,
                                           .batch_size = 50,
                                           .quiet = true,
                                           .loss = RB_LOSS_MSE,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = &test_rows});
    CHECK_OK(h);
    assert_true(rb_history_last(h)->val_metric >= 0.97);
    double acc_labels, acc_rows, loss;
    CHECK_STATUS_OK(rb_evaluate(rb_trainable_of_model(m), &test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                                RB_METRIC_ACCURACY, 0, &loss, &acc_labels));
    CHECK_STATUS_OK(rb_evaluate(rb_trainable_of_model(m), &test_rows, RB_LOSS_MSE,
                                RB_METRIC_ACCURACY, 0, &loss, &acc_rows));
    CHECK_CLOSE(acc_rows, acc_labels, 0);
    CHECK_CLOSE(acc_rows, rb_history_last(h)->val_metric, 0);
    CHECK_CLOSE(loss, rb_history_last(h)->val_loss, 1e-6);

    rb_scope *scope = rb_scope_begin();
    rb_tensor *logits = rb_predict(rb_trainable_of_model(m), test.x, 0);
    double fused = rb_tensor_item(rb_loss_apply(RB_LOSS_SOFTMAX_CROSS_ENTROPY, logits, test.y));
    CHECK_CLOSE(rb_tensor_item(rb_loss_apply(RB_LOSS_NLL, rb_log_softmax(logits, 1), test.y)),
                fused, 1e-6);
    assert_string_equal(rb_loss_name(RB_LOSS_NLL), "nll");
    /* Rows that are not one-hot are no labels: NaN, as for soft targets. */
    rb_dataset zeros = {.x = test.x, .y = rb_tensor_zeros(RB_F32, RB_SHAPE(200, 2))};
    CHECK_STATUS_OK(rb_evaluate(rb_trainable_of_model(m), &zeros, RB_LOSS_MSE, RB_METRIC_ACCURACY,
                                0, &loss, &acc_rows));
    assert_true(isnan(acc_rows));
    rb_scope_end(scope);
    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_model_free(m);
    rb_tensor_free(train_rows.y);
    rb_tensor_free(test_rows.y);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
}

/* Image batches are augmented before each step: training differs from the plain run, the
 * same seed repeats it exactly, and a bad augmentation stops fit with its message. */
static void fit_augments_image_batches_reproducibly(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(11);
    rb_dataset d = {.x = rb_tensor_uniform(RB_F32, RB_SHAPE(64, 6, 6, 1), 0, 1, &rng),
                    .y = rb_tensor_zeros(RB_I64, RB_SHAPE(64))};
    for (int64_t i = 0; i < 64; i++)
        rb_tensor_i64(d.y)[i] = i % 2;
    const rb_augment_config aug = {.max_shift = 1, .hflip = true};
    double final_loss[3];
    for (int run = 0; run < 3; run++) {
        rb_model *m = rb_model_new(RB_F32, "tiny", RB_SHAPE(6, 6, 1));
        rb_model_seed(m, 5);
        rb_model_add(m, RB_FLATTEN());
        rb_model_add(m, RB_DENSE(.units = 2));
        rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
        rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &d,
                               (rb_fit_config){.epochs = 2,
                                               .batch_size = 16,
                                               .seed = 3,
                                               .quiet = true,
                                               .augment = run ? &aug : NULL});
        CHECK_OK(h);
        final_loss[run] = rb_history_last(h)->loss;
        rb_history_free(h);
        rb_optimizer_free(opt);
        rb_model_free(m);
    }
    assert_true(final_loss[1] != final_loss[0]);
    assert_true(final_loss[1] == final_loss[2]);

    rb_model *m = rb_model_new(RB_F32, "tiny", RB_SHAPE(6, 6, 1));
    rb_model_add(m, RB_FLATTEN());
    rb_model_add(m, RB_DENSE(.units = 2));
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
    const rb_augment_config bad = {.max_shift = -1};
    CHECK_FAILS(
        rb_fit(rb_trainable_of_model(m), opt, &d, (rb_fit_config){.quiet = true, .augment = &bad}),
        RB_ERR_ARGUMENT, "rb_augment");
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* ---- constraints, and models written as C functions ---- */

/* The largest L2 norm of a column (the weights into one unit) among the store's kernels. */
static double largest_kernel_column_norm(rb_params *p)
{
    double worst = 0;
    for (int v = 0; v < rb_params_count(p); v++) {
        rb_tensor *w = rb_params_at(p, v);
        const char *name = rb_tensor_name(w);
        if (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "kernel") != 0) continue;
        int64_t cols = rb_tensor_dim(w, -1), size = rb_tensor_size(w);
        for (int64_t c = 0; c < cols; c++) {
            double sq = 0;
            for (int64_t i = c; i < size; i += cols)
                sq += rb_tensor_get_flat(w, i) * rb_tensor_get_flat(w, i);
            if (sqrt(sq) > worst) worst = sqrt(sq);
        }
    }
    return worst;
}

typedef struct norm_watch {
    rb_params *params;
    int64_t steps;
    double worst;
} norm_watch;

static void watch_norms(void *ctx, const rb_progress_event *e)
{
    norm_watch *w = ctx;
    if (e->epoch_end) return;
    w->steps++;
    double n = largest_kernel_column_norm(w->params);
    if (n > w->worst) w->worst = n;
}

/* The largest kernel column norm seen after each of fit's updates. */
static double worst_norm_in_fit(double max_norm)
{
    rb_dataset d = blobs(600, 1);
    rb_model *m = rb_model_new(RB_F32, "bounded", RB_SHAPE(2));
    rb_model_seed(m, 3);
    rb_model_add(m, RB_DENSE(.units = 8, .activation = RB_ACT_TANH, .max_norm = max_norm));
    rb_model_add(m, RB_DENSE(.units = 2, .max_norm = max_norm));
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.5});
    norm_watch w = {rb_model_params(m), 0, 0};
    rb_history *h = rb_fit(
        rb_trainable_of_model(m), opt, &d,
        (rb_fit_config){.epochs = 3, .batch_size = 50, .seed = 2, .progress = {watch_norms, &w}});
    CHECK_OK(h);
    assert_int_equal(w.steps, 3 * 12);
    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_model_free(m);
    return w.worst;
}

static void fit_keeps_max_norm_constraints_after_every_update(void **state)
{
    (void)state;
    /* Unconstrained, this training takes columns well past the bound. */
    double free_norm = worst_norm_in_fit(0);
    if (!(free_norm > 1.0)) fail_msg("unconstrained columns reach only %g", free_norm);
    double bounded = worst_norm_in_fit(0.5);
    if (!(bounded <= 0.5 + 1e-6))
        fail_msg("a column norm reached %.9g with .max_norm = 0.5", bounded);
}

/* The rb_model of fit_trains_a_function_as_the_same_model, as a C function over its layers. */
typedef struct function_net {
    rb_layer *hidden, *drop, *out;
    int64_t training_calls, evaluation_calls;
} function_net;

static rb_tensor *function_forward(void *user, rb_tensor *x, bool training)
{
    function_net *n = user;
    if (training)
        n->training_calls++;
    else
        n->evaluation_calls++;
    return rb_layer_forward(n->out, rb_layer_forward(n->drop, rb_layer_forward(n->hidden, x)));
}

static rb_layer_spec net_spec(int i)
{
    switch (i) {
    case 0: return RB_DENSE(.units = 8, .activation = RB_ACT_TANH, .l2 = 1e-2);
    case 1: return RB_DROPOUT(.rate = 0.25);
    default: return RB_DENSE(.units = 2, .max_norm = 0.8);
    }
}

static void fit_trains_a_function_as_the_same_model(void **state)
{
    (void)state;
    rb_dataset train = blobs(300, 1), test = blobs(100, 2);
    rb_fit_config cfg = {.epochs = 3,
                         .batch_size = 50,
                         .seed = 5,
                         .quiet = true,
                         .metric = RB_METRIC_ACCURACY,
                         .validation = &test};
    rb_model *m = rb_model_new(RB_F32, "stack", RB_SHAPE(2));
    rb_model_seed(m, 3);
    for (int i = 0; i < 3; i++)
        CHECK_OK(rb_model_add(m, net_spec(i)));
    rb_optimizer *opt_m = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.5});
    rb_history *hm = rb_fit(rb_trainable_of_model(m), opt_m, &train, cfg);
    CHECK_OK(hm);

    /* The same layers made alone, their shapes taken at the first call; the optimizer exists
     * before their variables. */
    rb_params *p = rb_params_new(RB_F32);
    rb_params_seed(p, 3);
    function_net n = {rb_layer_new(p, net_spec(0), 0, NULL), rb_layer_new(p, net_spec(1), 0, NULL),
                      rb_layer_new(p, net_spec(2), 0, NULL), 0, 0};
    rb_optimizer *opt_f = rb_sgd_new(p, (rb_sgd_config){.lr = 0.5});
    rb_trainable t = rb_trainable_of_function(p, function_forward, &n);
    rb_history *hf = rb_fit(t, opt_f, &train, cfg);
    CHECK_OK(hf);
    assert_int_equal(n.training_calls, 3 * 6);
    assert_true(n.evaluation_calls >= 3); /* validation after each epoch */
    assert_int_equal(rb_layers_unbuilt(p), 0);

    for (int e = 0; e < 3; e++) {
        if (hf->epochs[e].loss != hm->epochs[e].loss ||
            hf->epochs[e].val_loss != hm->epochs[e].val_loss)
            fail_msg("epoch %d: loss %.9g / %.9g as a function, %.9g / %.9g as a model", e + 1,
                     hf->epochs[e].loss, hf->epochs[e].val_loss, hm->epochs[e].loss,
                     hm->epochs[e].val_loss);
    }
    rb_tensor *vm = rb_params_flat_values(rb_model_params(m)), *vf = rb_params_flat_values(p);
    assert_int_equal(rb_tensor_size(vf), rb_tensor_size(vm));
    assert_memory_equal(rb_tensor_data(vf), rb_tensor_data(vm),
                        (size_t)rb_tensor_size(vm) * sizeof(float));
    /* Predictions are made in evaluation mode: dropout off, the same outputs twice. */
    rb_tensor *once = rb_predict(t, test.x, 64), *twice = rb_predict(t, test.x, 64);
    rb_tensor *model_out = rb_predict(rb_trainable_of_model(m), test.x, 64);
    CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(once, twice)), RB_ALL_AXES, false)), 0, 0);
    CHECK_CLOSE(rb_tensor_item(rb_max(rb_abs(rb_sub(once, model_out)), RB_ALL_AXES, false)), 0, 0);
    rb_tensor_free(once);
    rb_tensor_free(twice);
    rb_tensor_free(model_out);

    rb_history_free(hm);
    rb_history_free(hf);
    rb_optimizer_free(opt_m);
    rb_optimizer_free(opt_f);
    rb_model_free(m);
    rb_params_free(p);
}

static rb_tensor *silent_failure(void *user, rb_tensor *x, bool training)
{
    (void)user, (void)x, (void)training;
    return NULL;
}

static void fit_reports_a_function_that_returns_null(void **state)
{
    (void)state;
    rb_dataset d = blobs(20, 6);
    rb_params *p = rb_params_new(RB_F32);
    rb_layer_new(p, RB_DENSE(.units = 2), 0, NULL);
    rb_optimizer *opt = rb_sgd_new(p, (rb_sgd_config){.lr = 0.1});
    CHECK_FAILS(rb_fit(rb_trainable_of_function(p, silent_failure, NULL), opt, &d,
                       (rb_fit_config){.quiet = true}),
                RB_ERR_STATE, "rb_fit: the model's forward returned NULL without an error");
    rb_optimizer_free(opt);
    rb_params_free(p);
}

/* ---- PNG ---- */

static uint32_t read_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parse a PNG written by ruban: check the signature and every chunk's CRC, return the IHDR
 * fields and the inflated scanlines. */
static unsigned char *read_png(const char *path, uint32_t *w, uint32_t *h, int *colour,
                               size_t *raw_len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char file[1 << 20];
    size_t len = fread(file, 1, sizeof file, f);
    fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_true(len > 8 && memcmp(file, sig, 8) == 0);
    unsigned char idat[1 << 16];
    size_t idat_len = 0, pos = 8;
    bool ended = false;
    while (pos + 12 <= len && !ended) {
        uint32_t n = read_be32(file + pos);
        const unsigned char *type = file + pos + 4, *data = file + pos + 8;
        assert_true(pos + 12 + n <= len);
        uLong crc = crc32(crc32(0L, type, 4), data, n);
        assert_int_equal(read_be32(data + n), (uint32_t)crc);
        if (!memcmp(type, "IHDR", 4)) {
            *w = read_be32(data);
            *h = read_be32(data + 4);
            assert_int_equal(data[8], 8);
            *colour = data[9];
        } else if (!memcmp(type, "IDAT", 4)) {
            memcpy(idat + idat_len, data, n);
            idat_len += n;
        } else if (!memcmp(type, "IEND", 4))
            ended = true;
        pos += 12 + n;
    }
    assert_true(ended);
    assert_int_equal(pos, len);
    uLongf out_len = 1 << 20;
    unsigned char *raw = malloc(out_len);
    assert_int_equal(uncompress(raw, &out_len, idat, (uLong)idat_len), Z_OK);
    *raw_len = out_len;
    return raw;
}

static void png_files_are_valid_and_hold_the_pixels(void **state)
{
    (void)state;
    char path[] = "/tmp/ruban_png_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    const uint8_t rgb[2 * 3 * 3] = {0, 1, 2, 3, 4, 5, 250, 251, 252, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    CHECK_STATUS_OK(rb_png_write(path, 3, 2, 3, rgb));
    uint32_t w, h;
    int colour;
    size_t n;
    unsigned char *raw = read_png(path, &w, &h, &colour, &n);
    assert_int_equal(w, 3);
    assert_int_equal(h, 2);
    assert_int_equal(colour, 2);
    assert_int_equal(n, 2 * (1 + 9));
    for (int y = 0; y < 2; y++) {
        assert_int_equal(raw[y * 10], 0); /* filter: none */
        assert_memory_equal(raw + y * 10 + 1, rgb + y * 9, 9);
    }
    free(raw);

    /* A grid of two 2x2 grey images, 2 columns, 1 pixel of padding: 7 x 4 pixels. */
    rb_tensor *images = T64(RB_SHAPE(2, 2, 2), 0, 1, 0.5, -3, 2, 0.25, 1, 0);
    CHECK_STATUS_OK(rb_image_grid_png(path, images, 2, 1));
    raw = read_png(path, &w, &h, &colour, &n);
    assert_int_equal(w, 7);
    assert_int_equal(h, 4);
    assert_int_equal(colour, 0);
    const unsigned char *row1 = raw + 1 * 8 + 1, *row2 = raw + 2 * 8 + 1;
    /* Values are clipped to [0, 1] and scaled to 0..255; gaps are grey. */
    const unsigned char want1[7] = {96, 0, 255, 96, 255, 64, 96};
    const unsigned char want2[7] = {96, 128, 0, 96, 255, 0, 96};
    assert_memory_equal(row1, want1, 7);
    assert_memory_equal(row2, want2, 7);
    free(raw);
    remove(path);

    CHECK_FAILS(rb_png_write(path, 0, 2, 1, rgb), RB_ERR_ARGUMENT, "0x2");
    CHECK_FAILS(rb_image_grid_png(path, rb_tensor_zeros(RB_F64, RB_SHAPE(2, 2, 2, 2)), 2, 1),
                RB_ERR_SHAPE, "(N, H, W, 1|3)");
    CHECK_FAILS(rb_png_write("/nonexistent-dir/x.png", 3, 2, 1, rgb), RB_ERR_IO,
                "/nonexistent-dir/x.png");
}

/* A data set held as bytes trains, evaluates and predicts exactly as its float twin (each
 * byte / 255 as float32, the values rb_mnist_load gives): the same history to the last bit,
 * with a validation split, augmentation and a model built on the first row. */
static void a_byte_data_set_trains_exactly_as_its_float_twin(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(21);
    int64_t n = 96, px = 6 * 6;
    rb_dataset bytes = {.x = rb_tensor_empty(RB_U8, RB_SHAPE(n, 6, 6, 1)),
                        .y = rb_tensor_empty(RB_I64, RB_SHAPE(n))};
    rb_dataset floats = {.x = rb_tensor_empty(RB_F32, RB_SHAPE(n, 6, 6, 1)), .y = bytes.y};
    for (int64_t i = 0; i < n * px; i++) {
        uint8_t v = (uint8_t)rb_rng_below(&rng, 256);
        rb_tensor_u8(bytes.x)[i] = v;
        rb_tensor_f32(floats.x)[i] = (float)v * (float)(1.0 / 255);
    }
    for (int64_t i = 0; i < n; i++)
        rb_tensor_i64(bytes.y)[i] = (rb_tensor_u8(bytes.x)[i * px] > 127);
    const rb_augment_config aug = {.max_shift = 1};
    rb_history *h[2];
    double eval_loss[2], eval_acc[2];
    rb_tensor *pred[2];
    for (int k = 0; k < 2; k++) {
        rb_model *m = rb_model_new(RB_F32, "tiny", RB_SHAPE(6, 6, 1));
        rb_model_seed(m, 2);
        rb_model_add(m, RB_FLATTEN());
        rb_model_add(m, RB_DENSE(.units = 8, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_DROPOUT(.rate = 0.25));
        rb_model_add(m, RB_DENSE(.units = 2));
        rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 0.01});
        const rb_dataset *d = k ? &floats : &bytes;
        h[k] = rb_fit(rb_trainable_of_model(m), opt, d,
                      (rb_fit_config){.epochs = 3,
                                      .batch_size = 16,
                                      .seed = 4,
                                      .quiet = true,
                                      .metric = RB_METRIC_ACCURACY,
                                      .validation_split = 0.25,
                                      .augment = &aug});
        CHECK_OK(h[k]);
        CHECK_STATUS_OK(rb_evaluate(rb_trainable_of_model(m), d, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                                    RB_METRIC_ACCURACY, 10, &eval_loss[k], &eval_acc[k]));
        pred[k] = rb_predict(rb_trainable_of_model(m), d->x, 7);
        CHECK_OK(pred[k]);
        rb_optimizer_free(opt);
        rb_model_free(m);
    }
    assert_int_equal(h[0]->n, h[1]->n);
    for (int e = 0; e < h[0]->n; e++) {
        assert_true(h[0]->epochs[e].loss == h[1]->epochs[e].loss);
        assert_true(h[0]->epochs[e].val_loss == h[1]->epochs[e].val_loss);
    }
    assert_true(eval_loss[0] == eval_loss[1] && eval_acc[0] == eval_acc[1]);
    assert_int_equal(rb_tensor_dtype(pred[0]), RB_F32);
    assert_memory_equal(rb_tensor_f32(pred[0]), rb_tensor_f32(pred[1]),
                        sizeof(float) * (size_t)rb_tensor_size(pred[0]));
    rb_history_free(h[0]);
    rb_history_free(h[1]);
    rb_tensor_free(pred[0]);
    rb_tensor_free(pred[1]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(fit_learns_separable_blobs_and_records_history),
        TEST(a_history_built_by_hand_keeps_its_epochs_and_best_epoch),
        TEST(evaluate_and_predict_do_not_depend_on_batch_size),
        TEST(regression_metrics_and_validation_split),
        TEST(fit_reports_a_mismatched_loss),
        TEST(classes_train_with_mse_on_one_hot_rows_and_with_nll),
        TEST(fit_augments_image_batches_reproducibly),
        TEST(a_byte_data_set_trains_exactly_as_its_float_twin),
        TEST(fit_keeps_max_norm_constraints_after_every_update),
        TEST(fit_trains_a_function_as_the_same_model),
        TEST(fit_reports_a_function_that_returns_null),
        TEST(png_files_are_valid_and_hold_the_pixels),
    };
    return RUN_TESTS(tests, argc, argv);
}
