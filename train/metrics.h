/* Metrics accumulated over the batches of an epoch or of an evaluation (internal to train/). */
#ifndef RUBAN_TRAIN_METRICS_H
#define RUBAN_TRAIN_METRICS_H

#include "ruban.h"

typedef struct metric_acc {
    rb_metric metric;
    int k;                  /* top-k */
    double hits;            /* accuracies */
    double abs_sum, sq_sum; /* MAE, MSE, R^2's SSE: over every value */
    double y_sum, yy_sum;   /* R^2's SST: sums of target - shift */
    double shift;
    double values;  /* values seen (MSE, MAE, R^2) */
    double samples; /* rows seen (accuracies) */
    bool invalid;   /* labels of the wrong kind: the metric is NaN */
} metric_acc;

void metric_start(metric_acc *a, rb_metric metric, int k);
/* Add a batch of outputs against targets (inside the caller's scope or tape). */
void metric_add(metric_acc *a, rb_tensor *out, rb_tensor *target);
/* The metric so far (NaN for RB_METRIC_NONE or nothing seen). */
double metric_value(const metric_acc *a);

#endif
