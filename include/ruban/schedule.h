/* ruban/schedule.h - learning-rate schedules, per step or per epoch, attached to an optimizer.
 *
 *     rb_scheduler *s = rb_scheduler_new(opt, (rb_schedule){.kind = RB_SCHEDULE_COSINE,
 *                                                           .period = 20, .warmup = 2});
 *     for (epoch ...) {
 *         ... steps: rb_optimizer_step(opt); rb_scheduler_step(s); ...
 *         rb_scheduler_epoch_end(s, validation_loss);     // sets the next epoch's rate
 *     }
 *
 * With t counting epochs (default) or optimizer steps (per_step) from 0, and lr0 the
 * optimizer's rate when the scheduler is made:
 *   constant      lr0
 *   time decay    lr0 / (1 + decay t)
 *   step decay    lr0 gamma^floor(t / step_size)
 *   exponential   lr0 exp(-decay t)
 *   cosine        min_lr + (lr0 - min_lr) (1 + cos(pi t / period)) / 2, then min_lr
 *   plateau       lr0, multiplied by factor when the monitored value has not improved by
 *                 min_delta for patience epochs (then cooldown epochs of grace), not below
 *                 min_lr
 * A warmup of w steps or epochs first rises linearly from lr0 / w to lr0 (t counts from its
 * end for the schedule).
 */
#ifndef RUBAN_SCHEDULE_H
#define RUBAN_SCHEDULE_H

#include "ruban/base.h"
#include "ruban/error.h"
#include "ruban/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rb_schedule_kind {
    RB_SCHEDULE_CONSTANT = 0,
    RB_SCHEDULE_TIME_DECAY,
    RB_SCHEDULE_STEP,
    RB_SCHEDULE_EXPONENTIAL,
    RB_SCHEDULE_COSINE,
    RB_SCHEDULE_PLATEAU
} rb_schedule_kind;

typedef struct rb_schedule {
    rb_schedule_kind kind;
    bool per_step;     /* t counts optimizer steps (else epochs) */
    double decay;      /* time decay, exponential */
    int64_t step_size; /* step decay */
    double gamma;      /* step decay factor (default 0.1) */
    int64_t period;    /* cosine half period */
    double min_lr;     /* cosine floor, plateau floor */
    int64_t warmup;    /* linear warmup length (steps or epochs) */
    double factor;     /* plateau: multiplier (default 0.1) */
    int patience;      /* plateau: epochs without improvement (default 10, Keras's) */
    double min_delta;  /* plateau: smallest change counted as improvement */
    int cooldown;      /* plateau: epochs to wait after a reduction */
    bool maximize;     /* plateau: the monitored value should rise (accuracy) */
} rb_schedule;

/* The rate of a stateless schedule at t (plateau gives lr0), for plotting schedules. */
RB_API double rb_schedule_lr(const rb_schedule *s, double lr0, int64_t t);
RB_API const char *rb_schedule_name(rb_schedule_kind kind);

typedef struct rb_scheduler rb_scheduler;
/* Drive opt's learning rate from now on (sets the rate for t = 0). Caller owns it. */
RB_API rb_scheduler *rb_scheduler_new(rb_optimizer *opt, rb_schedule schedule);
/* After each optimizer step (per-step schedules move on). */
RB_API void rb_scheduler_step(rb_scheduler *s);
/* After each epoch, with the monitored value (plateau; others ignore it). */
RB_API void rb_scheduler_epoch_end(rb_scheduler *s, double monitored);
RB_API const rb_schedule *rb_scheduler_schedule(const rb_scheduler *s);
RB_API void rb_scheduler_free(rb_scheduler *s);

#ifdef __cplusplus
}
#endif
#endif
