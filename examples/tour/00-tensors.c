/* Tour 00: tensors - creation, broadcasting, reductions, views, errors. */
#include <stdio.h>

#include <ruban.h>

int main(void)
{
    /* 1. A scope owns every tensor made until it ends: no frees to write. */
    rb_scope *scope = rb_scope_begin();

    /* 2. Creation: from a C array, or filled. Shapes are written with RB_SHAPE. */
    rb_tensor *x = rb_tensor_from_data(RB_F32, RB_SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    rb_tensor *b = rb_tensor_from_data(RB_F32, RB_SHAPE(3), (float[]){10, 20, 30});
    rb_tensor_print(x, "x");

    /* 3. Elementwise ops broadcast like NumPy: (2,3) + (3) adds b to every row. */
    rb_tensor_print(rb_add(x, b), "x + b");

    /* 4. Reductions over any axes, with or without keepdims. */
    rb_tensor_print(rb_sum(x, RB_AXES(1), false), "row sums");
    rb_tensor_print(rb_mean(x, RB_ALL_AXES, false), "mean");

    /* 5. Views share data: a transpose is strides, not a copy. */
    rb_tensor *xt = rb_transpose(x, 0, 1);
    printf("transpose shares data: %s\n", rb_tensor_data(xt) == rb_tensor_data(x) ? "yes" : "no");
    rb_tensor_print(rb_matmul(x, xt), "x x^T");

    /* 6. Errors: a failing op returns NULL and so does everything built on it; one check at
     *    the end finds the first message. */
    rb_tensor *bad = rb_relu(rb_matmul(x, x));
    if (!bad) printf("expected error: %s\n", rb_last_error());
    rb_error_clear();

    rb_scope_end(scope);
    return 0;
}
