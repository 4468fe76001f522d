/* ruban/fit.h - optional training helpers: one training step, fit, evaluate, predict,
 * per-epoch history.
 *
 * A hand-written loop (tape, gradient, optimizer step) stays first-class; rb_train_step makes
 * its five calls one, and rb_fit writes the whole loop once: shuffled minibatches, a progress
 * bar, validation after each epoch, a history that can be saved as CSV. The model is an
 * rb_model or a plain C function of tensors calling layers of a parameter store.
 *
 *     rb_trainable t = rb_trainable_of_model(model);  // or rb_trainable_of_function(p, fn, &net)
 *     rb_history *h = rb_fit(t, opt, &train, (rb_fit_config){.epochs = 5, .batch_size = 128,
 *                                                             .metric = RB_METRIC_ACCURACY,
 *                                                             .validation = &test});
 *     rb_history_write_csv(h, "history.csv");
 *     rb_history_free(h);
 */
#ifndef RUBAN_FIT_H
#define RUBAN_FIT_H

#include <stdio.h>

#include "ruban/augment.h"
#include "ruban/base.h"
#include "ruban/data.h"
#include "ruban/dist.h"
#include "ruban/error.h"
#include "ruban/model.h"
#include "ruban/optim.h"
#include "ruban/progress.h"
#include "ruban/schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- one training step ---- */

/* The loss of one step, computed from what user points to (the model's layers, the batch): a
 * scalar, recorded on the step's tape. */
typedef rb_tensor *(*rb_loss_fn)(void *user);

/* One step: record, loss_fn(user), gradients into params (of the loss plus the penalties of
 * params' layers), release the step's tensors, update with opt (made for params), apply the
 * layers' max-norm constraints. Returns the loss (without penalties), or NaN on failure with
 * the error kept (a NULL, non-scalar or non-finite loss, a failed gradient): then nothing is
 * updated. */
RB_API double rb_train_step(rb_params *params, rb_optimizer *opt, rb_loss_fn loss_fn, void *user);

/* ---- models for fit ---- */

/* A model written as a C function: the batch x (N, ...) -> outputs, training true during
 * training steps and false in evaluation (dropout and BatchNorm layers of the store are
 * switched by fit; the flag is for your own ops). user: your layers, as you like. */
typedef rb_tensor *(*rb_forward_fn)(void *user, rb_tensor *x, bool training);

/* What fit needs of a model: a forward function of a batch, its parameters and, optionally, a
 * training/evaluation switch, a regularisation term added to the loss and constraints applied
 * after each update. A NULL switch, regularisation or constraints means those of the layers
 * made in params (ruban/layers.h: rb_layers_set_training, ...). */
typedef struct rb_trainable {
    void *model;
    rb_tensor *(*forward)(void *model, rb_tensor *x);
    rb_params *params;
    void (*set_training)(void *model, bool training); /* may be NULL */
    rb_tensor *(*regularization)(void *model);        /* may be NULL */
    rb_status (*apply_constraints)(void *model);      /* may be NULL; after each update */
    rb_forward_fn forward_fn; /* used instead of forward when set (rb_trainable_of_function) */
} rb_trainable;

/* The trainable view of an rb_model (its stack, parameters, mode switch, regularisation,
 * constraints). */
RB_API rb_trainable rb_trainable_of_model(rb_model *m);
/* The trainable view of a model written as a C function over layers made in params: fit calls
 * forward(user, x, training); the layers' modes, penalties and constraints come from params. */
RB_API rb_trainable rb_trainable_of_function(rb_params *params, rb_forward_fn forward, void *user);

typedef enum rb_loss {
    RB_LOSS_SOFTMAX_CROSS_ENTROPY = 0, /* logits against int64 labels (or probabilities) */
    RB_LOSS_MSE,
    RB_LOSS_MAE,
    RB_LOSS_BCE_LOGITS,
    RB_LOSS_HUBER, /* delta 1 */
    RB_LOSS_NLL    /* log-probabilities (a log-softmax's output) against int64 labels */
} rb_loss;

typedef enum rb_metric {
    RB_METRIC_NONE = 0,
    RB_METRIC_ACCURACY, /* argmax of the output against int64 labels, or against one-hot
                         * target rows (MSE or BCE on classes); other float targets: NaN */
    RB_METRIC_MSE,
    RB_METRIC_MAE,
    RB_METRIC_TOP_K_ACCURACY, /* the label among the k largest outputs (k: top_k, default 5) */
    RB_METRIC_R2              /* 1 - SSE / SST over the whole set (every target value pooled:
                               * scikit-learn's r2_score for a single target column) */
} rb_metric;

/* What early stopping and reduce-on-plateau watch. AUTO: the validation loss when there is
 * validation data, else the training loss. */
typedef enum rb_monitor {
    RB_MONITOR_AUTO = 0,
    RB_MONITOR_VAL_LOSS,
    RB_MONITOR_VAL_METRIC,
    RB_MONITOR_LOSS,
    RB_MONITOR_METRIC
} rb_monitor;

RB_API const char *rb_loss_name(rb_loss loss);
RB_API const char *rb_metric_name(rb_metric metric);
/* Whether a larger value of the metric is better (accuracies, R^2). */
RB_API bool rb_metric_higher_is_better(rb_metric metric);
/* The loss of a batch (a scalar, differentiable). */
RB_API rb_tensor *rb_loss_apply(rb_loss loss, rb_tensor *output, rb_tensor *target);

typedef struct rb_fit_config {
    int epochs;         /* default 1 */
    int64_t batch_size; /* default 32 (Keras's) */
    uint64_t seed;      /* shuffling */
    rb_loss loss;
    rb_metric metric;
    const rb_dataset *validation;     /* evaluated after each epoch (not used for training) */
    double validation_split;          /* or: hold out this last fraction of the training set */
    const rb_augment_config *augment; /* image batches (N, H, W, C) changed at random before
                                       * each training step (ruban/augment.h) */
    bool drop_last;                   /* skip each epoch's last batch when it is smaller: its
                                       * noisier gradient can swing a sensitive network */
    bool quiet;                       /* no progress output */
    const char *label;                /* printed before the epochs ("lenet") */
    int top_k;                        /* for RB_METRIC_TOP_K_ACCURACY (default 5) */
    /* Gradients, between backward and the update: */
    double clip_norm;        /* scale to this global L2 norm when above it (0: off) */
    double clip_value;       /* clamp into [-clip_value, clip_value] (0: off) */
    rb_scheduler *scheduler; /* stepped after each update, told each epoch's monitored
                              * value (ruban/schedule.h) */
    /* Early stopping (Keras's EarlyStopping): */
    int patience;      /* stop after this many epochs without improvement (0: off) */
    double min_delta;  /* smallest change that counts as an improvement */
    bool restore_best; /* end with the weights of the best epoch (also without
                        * early stopping) */
    rb_monitor monitor;
    /* Told of each step and each epoch's end instead of the progress bar (an experiment's
     * run->progress shows which run it is and the time left; ruban/progress.h). */
    rb_progress_hook progress;
    /* Data-parallel training (ruban/dist.h): every rank calls rb_fit with the same data and
     * settings; batch_size is the global batch, each rank trains on its slice and the
     * gradients are summed. Rank 0's weights and optimizer state are given to all first; only
     * rank 0 prints or reports progress; the history's numbers are over all ranks. An error
     * on one rank during training stops the job (rb_dist_fail). NULL: one process. */
    rb_dist *dist;
} rb_fit_config;

typedef struct rb_epoch_record {
    int epoch;
    double loss, metric;         /* training, averaged over the epoch's batches */
    double val_loss, val_metric; /* NaN without validation */
    double lr, seconds;
} rb_epoch_record;

typedef struct rb_history {
    int n;
    rb_epoch_record *epochs;
    rb_metric metric;
    bool has_validation;
    int best_epoch;     /* of the monitored value (1-based) */
    bool stopped_early; /* early stopping ended the training before cfg.epochs */
    bool restored;      /* the weights are those of best_epoch */
} rb_history;

/* Train for cfg.epochs; returns the per-epoch history (the caller frees it) or NULL and an
 * error. Each step adds the model's penalties to the loss and applies its constraints after
 * the update; layers not built yet are built first on one training row. The model is left in
 * evaluation mode. A data set whose x is uint8 (rb_mnist_load_bytes, rb_cifar10_load_bytes)
 * is fed as float batches of the parameters' dtype, each value / 255: the values the float
 * loaders hold, so it trains exactly as they do (rb_evaluate and rb_predict alike). */
RB_API rb_history *rb_fit(rb_trainable t, rb_optimizer *opt, const rb_dataset *train,
                          rb_fit_config cfg);
/* Mean loss and metric over a data set in evaluation mode, in batches (batch 0: 256; top-k
 * accuracy uses k = 5). */
RB_API rb_status rb_evaluate(rb_trainable t, const rb_dataset *data, rb_loss loss, rb_metric metric,
                             int64_t batch, double *loss_out, double *metric_out);
/* The model's outputs for every row of x, in evaluation mode (a new tensor the caller owns). */
RB_API rb_tensor *rb_predict(rb_trainable t, rb_tensor *x, int64_t batch);

/* Regression quality of predictions against targets (same shape, float): root mean squared
 * error, mean absolute error, and R^2 = 1 - SSE / SST (SST around the targets' mean; NaN
 * when every target is equal). */
typedef struct rb_regression_scores {
    double rmse, mae, r2;
} rb_regression_scores;
RB_API rb_status rb_regression_scores_of(const rb_tensor *pred, const rb_tensor *target,
                                         rb_regression_scores *out);

/* An empty history, for a training loop written by hand (an experiment's run function returns
 * it like rb_fit's). The caller owns it; NULL when out of memory. */
RB_API rb_history *rb_history_new(rb_metric metric, bool has_validation);
/* Append one epoch's record (NaN where not measured); best_epoch then follows the lowest
 * validation loss (training loss without validation), as rb_fit's default monitor. */
RB_API rb_status rb_history_add(rb_history *h, rb_epoch_record record);
/* Write the history as CSV (epoch, loss, metric, val_loss, val_metric, lr, seconds), atomically
 * (temporary file, then rename). */
RB_API rb_status rb_history_write_csv(const rb_history *h, const char *path);
/* The last epoch's record (NULL if empty) and the best validation (or training) metric. */
RB_API const rb_epoch_record *rb_history_last(const rb_history *h);
RB_API double rb_history_best_metric(const rb_history *h);
RB_API void rb_history_free(rb_history *h);

#ifdef __cplusplus
}
#endif
#endif
