/* Helpers shared by the example programs (not part of the library). */
#ifndef RUBAN_EXAMPLES_COMMON_H
#define RUBAN_EXAMPLES_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include <ruban.h>

/* A script's right reaction to an error: say what went wrong and stop. */
static inline void exit_on_error(rb_status status, const char *message, void *user_data)
{
    (void)user_data;
    fprintf(stderr, "error (%s): %s\n", rb_status_name(status), message);
    exit(1);
}

/* Fraction of rows of logits (N, C) whose largest entry is at the label. */
static inline double accuracy_of(rb_tensor *logits, rb_tensor *labels)
{
    rb_scope *scope = rb_scope_begin();
    rb_tensor *pred = rb_argmax(logits, 1, false);
    const int64_t *p = rb_tensor_i64(pred), *y = rb_tensor_i64(labels);
    int64_t n = rb_tensor_size(labels), hits = 0;
    for (int64_t i = 0; i < n; i++) hits += p[i] == y[i];
    rb_scope_end(scope);
    return n ? (double)hits / (double)n : 0.0;
}

#endif
