/* Tour 01: the gradient tape - gradients, several uses, second derivatives. */
#include <stdio.h>

#include <ruban.h>

int main(void)
{
    rb_scope *scope = rb_scope_begin();
    rb_tensor *x = rb_tensor_from_data(RB_F64, RB_SHAPE(3), (double[]){1, 2, 3});

    /* 1. Record y = sum(x^2 + 3x) and ask for dy/dx = 2x + 3. */
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, x); /* parameters are watched automatically; plain tensors on request */
    rb_tensor *y = rb_sum(rb_add(rb_square(x), rb_mul_scalar(x, 3)), RB_ALL_AXES, false);
    rb_tensor_print(rb_tape_gradient1(tape, y, x), "dy/dx");
    rb_tape_end(tape); /* releases y, the gradient and the record */

    /* 2. Second derivatives: an outer tape records the inner tape's backward pass. */
    rb_tape *outer = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(outer, x);
    rb_tape *inner = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(inner, x);
    rb_tensor *cube = rb_pow_scalar(x, 3);
    rb_tensor *first = rb_tape_gradient1(inner, cube, x); /* 3x^2 */
    rb_tape_end(inner);
    rb_tensor *second = rb_tape_gradient1(outer, first, x); /* 6x */
    rb_tensor_print(first, "d(x^3)/dx");
    rb_tensor_print(second, "d2(x^3)/dx2");
    rb_tape_end(outer);

    rb_scope_end(scope);
    return 0;
}
