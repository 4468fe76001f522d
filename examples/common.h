/* Helpers shared by the example programs (not part of the library). */
#ifndef RUBAN_EXAMPLES_COMMON_H
#define RUBAN_EXAMPLES_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    for (int64_t i = 0; i < n; i++)
        hits += p[i] == y[i];
    rb_scope_end(scope);
    return n ? (double)hits / (double)n : 0.0;
}

/* Fashion-MNIST or MNIST with images shaped (N, 28, 28, 1) for convolutions. */
static inline void load_images(bool fashion, rb_dataset *train, rb_dataset *test)
{
    if (fashion)
        rb_fashion_mnist_load(NULL, train, test);
    else
        rb_mnist_load(NULL, train, test);
    rb_tensor_set_shape(train->x, RB_SHAPE(rb_tensor_dim(train->x, 0), 28, 28, 1));
    rb_tensor_set_shape(test->x, RB_SHAPE(rb_tensor_dim(test->x, 0), 28, 28, 1));
}

/* Fashion-MNIST or MNIST as images (N, 28, 28, 1): 50,000 training images, 10,000 held out
 * from them for validation (split seed 1, as in every program) and the test set. Under --quick,
 * the first `quick` training images (a sixth held out) and as many test images. */
static inline void load_image_split(const rb_study *s, bool fashion, int64_t quick,
                                    rb_dataset *train, rb_dataset *validation, rb_dataset *test)
{
    rb_dataset all;
    load_images(fashion, &all, test);
    rb_study_shrink(s, &all, quick);
    rb_study_shrink(s, test, quick);
    rb_split(&all, (rb_split_config){.validation = 10000.0 / 60000, .seed = 1}, train, validation,
             NULL);
    rb_dataset_free(&all);
}

/* Keeps the first `rows` of a training set that the split has already shuffled (all of them
 * when rows <= 0 or when it has fewer). */
static inline void keep_first_rows(rb_dataset *train, int64_t rows)
{
    if (rows <= 0 || rows >= rb_dataset_rows(train)) return;
    rb_dataset head;
    rb_dataset_head(train, rows, &head);
    rb_dataset_free(train);
    *train = head;
}

/* The first seed's trained model of each configuration (up to 16), kept for the test set. */
typedef struct kept_models {
    rb_model *model[16];
} kept_models;

/* Keep m when it comes from the first seed of its configuration; free it otherwise. */
static inline void keep_first_seed(kept_models *kept, const rb_run *run, rb_model *m)
{
    if (run->repeat == 0 && run->index < 16) {
        rb_model_free(kept->model[run->index]);
        kept->model[run->index] = m;
    } else
        rb_model_free(m);
}

static inline void kept_models_free(kept_models *kept)
{
    for (int i = 0; i < 16; i++)
        rb_model_free(kept->model[i]);
}

/* Inputs standardised with the training set's mean and standard deviation (one of each for
 * all pixels), in place: centred inputs of unit scale suit the default initialisers. */
static inline void standardize_images(rb_dataset *train, rb_dataset *test)
{
    rb_scope *scope = rb_scope_begin();
    double mean = rb_tensor_item(rb_mean(train->x, RB_ALL_AXES, false));
    double std = sqrt(rb_tensor_item(rb_var(train->x, RB_ALL_AXES, false, 0)));
    rb_tensor *sets[2] = {train->x, test->x};
    for (int s = 0; s < 2; s++) {
        float *v = rb_tensor_data(sets[s]);
        for (int64_t i = 0; i < rb_tensor_size(sets[s]); i++)
            v[i] = (float)((v[i] - mean) / std);
    }
    rb_scope_end(scope);
}

#endif
