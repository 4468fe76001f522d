/* Tour 03: a model as a C function, the tape, gradients into a parameter store, an optimizer
 * step - fitting y = 3x - 1 plus noise with a one-hidden-layer network; then the same step in
 * one call. */
#include <math.h>
#include <stdio.h>

#include <ruban.h>

typedef struct model {
    rb_layer *hidden, *out;
    rb_tensor *x, *y; /* the batch, for the loss function of section 3 */
} model;

static rb_tensor *predict(const model *m, rb_tensor *x)
{
    return rb_layer_forward(m->out, rb_tanh(rb_layer_forward(m->hidden, x)));
}

/* The loss of a step as a function of your data: rb_train_step calls it while recording. */
static rb_tensor *loss_of(void *user)
{
    model *m = user;
    return rb_mse(predict(m, m->x), m->y);
}

int main(void)
{
    /* 1. Data, and layers whose variables live in a parameter store. */
    rb_rng rng = rb_rng_make(1);
    rb_scope *data = rb_scope_begin();
    rb_tensor *x = rb_tensor_uniform(RB_F32, RB_SHAPE(256, 1), -1, 1, &rng);
    rb_tensor *y = rb_add(rb_add_scalar(rb_mul_scalar(x, 3.0), -1.0),
                          rb_tensor_normal(RB_F32, RB_SHAPE(256, 1), 0, 0.1, &rng));

    rb_params *params = rb_params_new(RB_F32); /* owns the layers and their variables */
    model m = {rb_layer_new(params, RB_DENSE(.units = 16), RB_SHAPE(1)),
               rb_layer_new(params, RB_DENSE(.units = 1), RB_SHAPE(16)), x, y};
    rb_optimizer *opt = rb_adam_new(params, (rb_adam_config){.lr = 0.05});

    /* 2. A training step by hand: the comments number its five moves, aligned by hand. */
    /* clang-format off */
    for (int step = 1; step <= 100; step++) {
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);  /* 1. record */
        rb_tensor *loss = rb_mse(predict(&m, x), y);     /* 2. forward */
        rb_tape_gradient_params(tape, loss, params);      /* 3. gradients into the store */
        if (step % 50 == 0) printf("step %3d  mse %.4f\n", step, rb_tensor_item(loss));
        rb_tape_end(tape);                                /* 4. free the step's tensors */
        rb_optimizer_step(opt);                           /* 5. update */
    }
    /* clang-format on */

    /* 3. The same five moves in one call; NaN and the error kept if the step failed. */
    for (int step = 101; step <= 200; step++) {
        double mse = rb_train_step(params, opt, loss_of, &m);
        if (isnan(mse)) break;
        if (step % 50 == 0) printf("step %3d  mse %.4f\n", step, mse);
    }

    rb_optimizer_free(opt);
    rb_params_free(params);
    rb_scope_end(data);
    if (rb_last_status() != RB_OK) {
        fprintf(stderr, "error: %s\n", rb_last_error());
        return 1;
    }
    return 0;
}
