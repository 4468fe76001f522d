/* Dense layer: rb_linear over variables held in a parameter store. */
#include <stdio.h>
#include <stdlib.h>

#include "ruban.h"

struct rb_dense {
    rb_tensor *w, *b;
};

rb_dense *rb_dense_new(rb_params *p, const char *name, int64_t in, int64_t out, rb_init init,
                       rb_rng *rng)
{
    if (!p || !name) {
        rb_error(RB_ERR_ARGUMENT, "rb_dense_new: store or name is NULL");
        return NULL;
    }
    if (in < 1 || out < 1) {
        rb_error(RB_ERR_ARGUMENT, "rb_dense_new: '%s': sizes must be positive (in %lld, out %lld)",
                 name, (long long)in, (long long)out);
        return NULL;
    }
    char wname[80], bname[80];
    snprintf(wname, sizeof wname, "%s.w", name);
    snprintf(bname, sizeof bname, "%s.b", name);
    rb_tensor *w = rb_params_add(p, wname, RB_SHAPE(in, out), true);
    rb_tensor *b = w ? rb_params_add(p, bname, RB_SHAPE(out), true) : NULL;
    if (!b || rb_init_fill(w, init, rng) != RB_OK) return NULL;
    rb_dense *layer = malloc(sizeof *layer);
    if (!layer) {
        rb_error(RB_ERR_MEMORY, "rb_dense_new: out of memory");
        return NULL;
    }
    layer->w = w;
    layer->b = b;
    if (rb_params_attach(p, layer, free) != RB_OK) {
        free(layer);
        return NULL;
    }
    return layer;
}

rb_tensor *rb_dense_forward(const rb_dense *layer, rb_tensor *x)
{
    if (!layer) {
        rb_error(RB_ERR_ARGUMENT, "rb_dense_forward: layer is NULL");
        return NULL;
    }
    return rb_linear(x, layer->w, layer->b);
}

rb_tensor *rb_dense_weight(const rb_dense *layer) { return layer ? layer->w : NULL; }
rb_tensor *rb_dense_bias(const rb_dense *layer) { return layer ? layer->b : NULL; }
