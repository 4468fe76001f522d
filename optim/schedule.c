/* Learning-rate schedules: the formulas, and a scheduler that applies them to an optimizer. */
#include <math.h>
#include <stdlib.h>

#include "ruban.h"

struct rb_scheduler {
    rb_schedule s;
    rb_optimizer *opt;
    double lr0, lr;
    int64_t t;   /* steps or epochs elapsed */
    double best; /* plateau */
    int bad_epochs, cooldown_left;
};

const char *rb_schedule_name(rb_schedule_kind kind)
{
    switch (kind) {
    case RB_SCHEDULE_CONSTANT: return "constant";
    case RB_SCHEDULE_TIME_DECAY: return "time_decay";
    case RB_SCHEDULE_STEP: return "step_decay";
    case RB_SCHEDULE_EXPONENTIAL: return "exponential";
    case RB_SCHEDULE_COSINE: return "cosine";
    case RB_SCHEDULE_PLATEAU: return "reduce_on_plateau";
    }
    return "unknown";
}

double rb_schedule_lr(const rb_schedule *s, double lr0, int64_t t)
{
    if (!s) return lr0;
    if (t < s->warmup) return lr0 * (double)(t + 1) / (double)s->warmup;
    double u = (double)(t - s->warmup);
    switch (s->kind) {
    case RB_SCHEDULE_CONSTANT:
    case RB_SCHEDULE_PLATEAU: return lr0;
    case RB_SCHEDULE_TIME_DECAY: return lr0 / (1.0 + s->decay * u);
    case RB_SCHEDULE_STEP:
        return lr0 * pow(s->gamma > 0 ? s->gamma : 0.1, floor(u / (double)s->step_size));
    case RB_SCHEDULE_EXPONENTIAL: return lr0 * exp(-s->decay * u);
    case RB_SCHEDULE_COSINE:
        if (u >= (double)s->period) return s->min_lr;
        return s->min_lr + (lr0 - s->min_lr) *
                               (1.0 + cos(3.14159265358979323846 * u / (double)s->period)) / 2.0;
    }
    return lr0;
}

rb_scheduler *rb_scheduler_new(rb_optimizer *opt, rb_schedule s)
{
    if (!opt) {
        rb_error(RB_ERR_ARGUMENT, "rb_scheduler_new: optimizer is NULL");
        return NULL;
    }
    const char *bad = NULL;
    if (s.warmup < 0)
        bad = "warmup must be >= 0";
    else if (s.kind == RB_SCHEDULE_STEP && s.step_size < 1)
        bad = "step decay needs step_size >= 1";
    else if (s.kind == RB_SCHEDULE_COSINE && s.period < 1)
        bad = "cosine needs period >= 1";
    else if ((s.kind == RB_SCHEDULE_TIME_DECAY || s.kind == RB_SCHEDULE_EXPONENTIAL) && s.decay < 0)
        bad = "decay must be >= 0";
    else if (s.kind == RB_SCHEDULE_PLATEAU && s.per_step)
        bad = "reduce-on-plateau works per epoch";
    else if (s.factor < 0 || s.factor >= 1 || s.gamma < 0 || s.gamma >= 1 || s.min_lr < 0 ||
             s.patience < 0 || s.cooldown < 0)
        bad = "factor and gamma in [0, 1), min_lr, patience and cooldown >= 0";
    else if ((int)s.kind < 0 || s.kind > RB_SCHEDULE_PLATEAU)
        bad = "unknown kind";
    if (bad) {
        rb_error(RB_ERR_ARGUMENT, "rb_scheduler_new (%s): %s", rb_schedule_name(s.kind), bad);
        return NULL;
    }
    if (s.kind == RB_SCHEDULE_PLATEAU) {
        if (s.factor == 0) s.factor = 0.1;
        if (s.patience == 0) s.patience = 10;
    }
    rb_scheduler *r = calloc(1, sizeof *r);
    if (!r) {
        rb_error(RB_ERR_MEMORY, "rb_scheduler_new: out of memory");
        return NULL;
    }
    r->s = s;
    r->opt = opt;
    r->lr0 = r->lr = rb_optimizer_lr(opt);
    r->best = s.maximize ? -INFINITY : INFINITY;
    rb_optimizer_set_lr(opt, rb_schedule_lr(&s, r->lr0, 0));
    return r;
}

static void advance(rb_scheduler *r)
{
    r->t++;
    if (r->s.kind != RB_SCHEDULE_PLATEAU || r->t <= r->s.warmup)
        rb_optimizer_set_lr(r->opt, rb_schedule_lr(&r->s, r->lr0, r->t));
    else
        rb_optimizer_set_lr(r->opt, r->lr);
}

void rb_scheduler_step(rb_scheduler *r)
{
    if (r && r->s.per_step) advance(r);
}

void rb_scheduler_epoch_end(rb_scheduler *r, double value)
{
    if (!r || r->s.per_step) return;
    if (r->s.kind == RB_SCHEDULE_PLATEAU && r->t >= r->s.warmup && !isnan(value)) {
        bool better =
            r->s.maximize ? value > r->best + r->s.min_delta : value < r->best - r->s.min_delta;
        if (better) {
            r->best = value;
            r->bad_epochs = 0;
            if (r->cooldown_left > 0) r->cooldown_left--; /* the cooldown counts every epoch */
        } else if (r->cooldown_left > 0) {
            r->cooldown_left--;
        } else if (++r->bad_epochs >= r->s.patience) {
            double reduced = r->lr * r->s.factor;
            r->lr = reduced > r->s.min_lr ? reduced : r->s.min_lr;
            r->bad_epochs = 0;
            r->cooldown_left = r->s.cooldown;
        }
    }
    advance(r);
}

const rb_schedule *rb_scheduler_schedule(const rb_scheduler *r) { return r ? &r->s : NULL; }

void rb_scheduler_free(rb_scheduler *r) { free(r); }
