/* Tour 03: a model as a C function, the tape, gradients into a parameter store, an optimizer
 * step - fitting y = 3x - 1 plus noise with a one-hidden-layer network. */
#include <stdio.h>

#include <ruban.h>

typedef struct model {
    rb_layer *hidden, *out;
} model;

static rb_tensor *predict(const model *m, rb_tensor *x)
{
    return rb_layer_forward(m->out, rb_tanh(rb_layer_forward(m->hidden, x)));
}

int main(void)
{
    rb_rng rng = rb_rng_make(1);
    rb_scope *data = rb_scope_begin();
    rb_tensor *x = rb_tensor_uniform(RB_F32, RB_SHAPE(256, 1), -1, 1, &rng);
    rb_tensor *y = rb_add(rb_add_scalar(rb_mul_scalar(x, 3.0), -1.0),
                          rb_tensor_normal(RB_F32, RB_SHAPE(256, 1), 0, 0.1, &rng));

    rb_params *params = rb_params_new(RB_F32); /* owns the layers and their variables */
    model m = {rb_layer_new(params, RB_DENSE(.units = 16), RB_SHAPE(1)),
               rb_layer_new(params, RB_DENSE(.units = 1), RB_SHAPE(16))};
    rb_optimizer *opt = rb_adam_new(params, (rb_adam_config){.lr = 0.05});

    /* The comments number the five moves of a step, aligned by hand. */
    /* clang-format off */
    for (int step = 1; step <= 200; step++) {
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);  /* 1. record */
        rb_tensor *loss = rb_mse(predict(&m, x), y);     /* 2. forward */
        rb_tape_gradient_params(tape, loss, params);      /* 3. gradients into the store */
        if (step % 50 == 0) printf("step %3d  mse %.4f\n", step, rb_tensor_item(loss));
        rb_tape_end(tape);                                /* 4. free the step's tensors */
        rb_optimizer_step(opt);                           /* 5. update */
    }
    /* clang-format on */

    rb_optimizer_free(opt);
    rb_params_free(params);
    rb_scope_end(data);
    if (rb_last_status() != RB_OK) {
        fprintf(stderr, "error: %s\n", rb_last_error());
        return 1;
    }
    return 0;
}
