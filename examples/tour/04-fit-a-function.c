/* Tour 04: a model written as a plain C function of layers, trained by rb_fit - points inside
 * or outside a circle, a network with a skip connection whose layers take their input shapes
 * from their first call. */
#include <math.h>
#include <stdio.h>

#include <ruban.h>

/* 1. The model: its layers, and a C function of tensors calling them. */
typedef struct net {
    rb_layer *in, *hidden, *out;
} net;

static rb_tensor *forward(void *user, rb_tensor *x, bool training)
{
    net *n = user;
    (void)training; /* rb_fit switches the layers (dropout, BatchNorm); this is for your ops */
    rb_tensor *h = rb_layer_forward(n->in, x);
    h = rb_add(h, rb_layer_forward(n->hidden, h)); /* a skip connection */
    return rb_layer_forward(n->out, h);
}

/* 2. Data: points of the square [-1, 1]^2, labelled 1 inside the circle of radius 0.7. */
static rb_dataset circle(int64_t n, uint64_t seed)
{
    rb_rng rng = rb_rng_make(seed);
    rb_dataset d = {.x = rb_tensor_uniform(RB_F32, RB_SHAPE(n, 2), -1, 1, &rng),
                    .y = rb_tensor_empty(RB_I64, RB_SHAPE(n))};
    const float *p = rb_tensor_data(d.x);
    for (int64_t i = 0; i < n; i++)
        rb_tensor_i64(d.y)[i] = hypot(p[2 * i], p[2 * i + 1]) < 0.7;
    return d;
}

int main(void)
{
    rb_scope *scope = rb_scope_begin();
    rb_dataset train = circle(2000, 1), test = circle(500, 2);

    /* 3. Layers made alone, without input shapes: (0, NULL) means "from the first call". */
    rb_params *params = rb_params_new(RB_F32);
    rb_params_seed(params, 1);
    net n = {rb_layer_new(params, RB_DENSE(.units = 16, .activation = RB_ACT_TANH), 0, NULL),
             rb_layer_new(params, RB_DENSE(.units = 16, .activation = RB_ACT_TANH), 0, NULL),
             rb_layer_new(params, RB_DENSE(.units = 2), 0, NULL)};
    rb_optimizer *opt = rb_adam_new(params, (rb_adam_config){.lr = 0.01});

    /* 4. rb_fit takes the function and the store: no adapter to write. */
    rb_history *h = rb_fit(rb_trainable_of_function(params, forward, &n), opt, &train,
                           (rb_fit_config){.epochs = 20,
                                           .batch_size = 32,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = &test,
                                           .quiet = true});
    if (h) {
        printf("after %d epochs: loss %.4f, test accuracy %.1f%%\n", h->n, rb_history_last(h)->loss,
               100 * rb_history_last(h)->val_metric);
        printf("the first layer found its input: %lld parameters (2 x 16 + 16)\n",
               (long long)rb_layer_num_params(n.in, false));
    }

    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_params_free(params);
    rb_scope_end(scope);
    if (rb_last_status() != RB_OK) {
        fprintf(stderr, "error: %s\n", rb_last_error());
        return 1;
    }
    return 0;
}
