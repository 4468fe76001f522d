/* Losses composed of differentiable ops (the fused softmax cross-entropy is in softmax.c).
 * Each returns a scalar: the mean over the batch (and over elements for the regression
 * losses), as Keras does. */
#include "op_impl.h"

/* Keras's clipping epsilon for probabilities. */
#define PROB_EPS 1e-7

static bool same_shape(const char *op, rb_tensor *a, rb_tensor *b)
{
    rb_tensor *in[2] = {a, b};
    if (!rb__check_inputs(op, 2, in) || !rb__check_float(op, a) || !rb__check_same_dtype(op, a, b))
        return false;
    if (rb_tensor_same_shape(a, b)) return true;
    /* No silent broadcasting: (B, 1) against (B) would average a B x B matrix. */
    rb_error(RB_ERR_SHAPE, "rb_%s: prediction %s and target %s differ in shape (reshape one)", op,
             rb__shp(a), rb__shp(b));
    return false;
}

static rb_tensor *mean_all(rb_tensor *x) { return rb_mean(x, RB_ALL_AXES, false); }

rb_tensor *rb_mse(rb_tensor *pred, rb_tensor *target)
{
    if (!same_shape("mse", pred, target)) return NULL;
    return mean_all(rb_square(rb_sub(pred, target)));
}

rb_tensor *rb_mae(rb_tensor *pred, rb_tensor *target)
{
    if (!same_shape("mae", pred, target)) return NULL;
    return mean_all(rb_abs(rb_sub(pred, target)));
}

rb_tensor *rb_huber(rb_tensor *pred, rb_tensor *target, double delta)
{
    if (!same_shape("huber", pred, target)) return NULL;
    if (!(delta > 0)) return rb__fail(RB_ERR_ARGUMENT, "rb_huber: delta %g must be > 0", delta);
    rb_tensor *d = rb_sub(pred, target);
    rb_tensor *ad = rb_abs(d);
    rb_tensor *quadratic = rb_mul_scalar(rb_square(d), 0.5);
    rb_tensor *linear = rb_mul_scalar(rb_add_scalar(ad, -0.5 * delta), delta);
    rb_tensor *small = rb_less_equal(ad, rb_tensor_scalar(pred->dtype, delta));
    return mean_all(rb_where(small, quadratic, linear));
}

rb_tensor *rb_bce(rb_tensor *p, rb_tensor *target)
{
    if (!same_shape("bce", p, target)) return NULL;
    rb_tensor *pc = rb_clamp(p, PROB_EPS, 1.0 - PROB_EPS);
    rb_tensor *pos = rb_mul(target, rb_log(pc));
    rb_tensor *neg =
        rb_mul(rb_add_scalar(rb_neg(target), 1.0), rb_log(rb_add_scalar(rb_neg(pc), 1.0)));
    return rb_neg(mean_all(rb_add(pos, neg)));
}

rb_tensor *rb_bce_logits(rb_tensor *logits, rb_tensor *target)
{
    if (!same_shape("bce_logits", logits, target)) return NULL;
    /* softplus(z) - z t equals -t log s(z) - (1-t) log(1 - s(z)) and never overflows. */
    return mean_all(rb_sub(rb_softplus(logits), rb_mul(logits, target)));
}

static bool check_probs_2d(const char *op, const rb_tensor *p)
{
    if (p->ndim == 2 && p->shape[0] > 0) return true;
    rb_error(RB_ERR_SHAPE, "rb_%s: probabilities must be (batch, classes), got %s", op, rb__shp(p));
    return false;
}

rb_tensor *rb_cce(rb_tensor *p, rb_tensor *target)
{
    if (!same_shape("cce", p, target) || !check_probs_2d("cce", p)) return NULL;
    rb_tensor *logp = rb_log(rb_clamp(p, PROB_EPS, 1.0 - PROB_EPS));
    rb_tensor *per_row = rb_sum(rb_mul(target, logp), RB_AXES(1), false);
    return rb_neg(rb_mean(per_row, RB_ALL_AXES, false));
}

/* Rows of class scores (B, C) and int64 labels (B). */
static bool check_labels(const char *op, rb_tensor *p, rb_tensor *labels)
{
    rb_tensor *in[2] = {p, labels};
    if (!rb__check_inputs(op, 2, in) || !rb__check_float(op, p) || !check_probs_2d(op, p))
        return false;
    if (labels->dtype == RB_I64 && labels->ndim == 1 && labels->shape[0] == p->shape[0])
        return true;
    rb_error(RB_ERR_SHAPE, "rb_%s: labels must be int64 (%lld), got %s%s", op,
             (long long)p->shape[0], rb_dtype_name(labels->dtype), rb__shp(labels));
    return false;
}

rb_tensor *rb_sparse_cce(rb_tensor *p, rb_tensor *labels)
{
    if (!check_labels("sparse_cce", p, labels)) return NULL;
    rb_tensor *target = rb_one_hot(labels, p->shape[1], p->dtype);
    return rb_cce(p, target);
}

rb_tensor *rb_nll(rb_tensor *logp, rb_tensor *labels)
{
    if (!check_labels("nll", logp, labels)) return NULL;
    /* The one-hot mask picks each row's log-probability; no clipping: logp is finite. */
    rb_tensor *picked =
        rb_sum(rb_mul(rb_one_hot(labels, logp->shape[1], logp->dtype), logp), RB_AXES(1), false);
    return rb_neg(rb_mean(picked, RB_ALL_AXES, false));
}
