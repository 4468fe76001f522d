/* rb_train_step: the five calls of a training step (record, forward, gradients, release,
 * update) as one, for a loss written as a C function. Public API only. */
#include <math.h>

#include "ruban.h"

/* The loss's value, or an error: a step must not update from a loss it cannot trust. */
static rb_status check_loss(rb_tensor *loss, double *value)
{
    if (!loss) {
        if (rb_last_status() != RB_OK) return rb_last_status();
        return rb_error(RB_ERR_ARGUMENT,
                        "rb_train_step: the loss function returned NULL without an error");
    }
    if (rb_tensor_size(loss) != 1 ||
        !(rb_tensor_dtype(loss) == RB_F32 || rb_tensor_dtype(loss) == RB_F64)) {
        char shape[96];
        return rb_error(
            RB_ERR_SHAPE,
            "rb_train_step: the loss must be a float scalar, got %s %s (reduce it, e.g. with rb_mean)",
            rb_dtype_name(rb_tensor_dtype(loss)),
            rb_tensor_shape_string(loss, shape, sizeof shape));
    }
    *value = rb_tensor_item(loss);
    if (!isfinite(*value))
        return rb_error(RB_ERR_NONFINITE,
                        "rb_train_step: the loss is %g; the parameters were not updated", *value);
    return RB_OK;
}

double rb_train_step(rb_params *params, rb_optimizer *opt, rb_loss_fn loss_fn, void *user)
{
    if (!params || !opt || !loss_fn) {
        rb_error(RB_ERR_ARGUMENT, "rb_train_step: parameters, optimizer or loss function is NULL");
        return NAN;
    }
    if (rb_optimizer_params(opt) != params) {
        rb_error(RB_ERR_ARGUMENT,
                 "rb_train_step: the optimizer was made for another parameter store");
        return NAN;
    }
    /* 1. record, 2. forward */
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    if (!tape) return NAN;
    double value = NAN;
    rb_tensor *loss = loss_fn(user);
    rb_status st = check_loss(loss, &value);
    /* 3. gradients into the store, of the loss and the layers' penalties */
    if (st == RB_OK)
        st = rb_tape_gradient_params(tape, rb_add(loss, rb_layers_regularization(params)), params);
    /* 4. free the step's tensors, 5. update, then bound the layers' weights */
    rb_tape_end(tape);
    if (st == RB_OK) st = rb_optimizer_step(opt);
    if (st == RB_OK) st = rb_layers_apply_constraints(params);
    return st == RB_OK ? value : NAN;
}
