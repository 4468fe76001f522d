/* Séance 2 - a small ResNet on Fashion-MNIST, with and without BatchNorm; its residual block
 * written by hand with the functional API beside the library's builder.
 *
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance2/resnet/report.html.
 * --help lists the flags (--placements, --momenta, --lr, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "what does BatchNorm bring to a small residual network, and what does its momentum change?";
static const char expectation[] =
    " 1. With BatchNorm the network learns faster: several points of training accuracy ahead of\n"
    "    the same network without it after 3 epochs, and ahead on validation too.\n"
    " 2. Pre-activation blocks (BatchNorm before the convolution) land close to the\n"
    "    post-activation ones (a tie).\n"
    " 3. In evaluation BatchNorm uses moving averages of the batch statistics; with Keras's\n"
    "    momentum 0.99 they average over the last ~100 steps and lag behind weights that still\n"
    "    change fast, so validation accuracy after the first epoch is lower than with PyTorch's\n"
    "    0.9 (~10 steps), which the other BatchNorm configurations use.\n"
    " 4. The residual block written by hand with the functional API (layers called as functions\n"
    "    of tensors) is the builder's block: the same parameter count and, given the same\n"
    "    weights, the same outputs.";
static const char limits[] =
    "one seed per configuration unless --seeds says more: after 3 epochs a BatchNorm network's\n"
    "validation accuracy is taken to move by about half a point from seed to seed (not measured\n"
    "here; more in the first epoch), so differences under ~1.5 points are ties; 3 epochs only (the\n"
    "ranking can change with longer training); one learning rate for all (Adam 1e-3), which may\n"
    "suit one configuration better than another. 3 epochs on 30,000 of the 50,000 training\n"
    "images (--train), so that the four trainings stay under 5 minutes on 2 cores (all 50,000\n"
    "took 6.5 minutes here while another program ran). Validation on 10,000 training images held\n"
    "out; the test set is used once, for the configuration that did best on validation.";

static const char *const placement_names[] = {"after", "before", "none"};
static double learning_rate = 1e-3; /* --lr */

/* The builder: a 16-filter 3x3 stem (+ BatchNorm + ReLU) with 2x2 max pooling, two stages of
 * two residual blocks (16 then 32 filters, the second stage at half the resolution), global
 * average pooling, dense logits. */
static rb_model *resnet(uint64_t seed, rb_bn_placement bn, double momentum)
{
    return rb_resnet(RB_F32, "resnet", (int64_t[]){28, 28, 1},
                     (rb_resnet_config){.stem_filters = 16,
                                        .stem_pool = true,
                                        .stages = 2,
                                        .blocks = {2, 2},
                                        .widths = {16, 32},
                                        .bn = bn,
                                        .bn_momentum = momentum,
                                        .classes = 10,
                                        .seed = seed});
}

/* ---- the same network by hand: layers called as functions of tensors ---- */

typedef struct block {
    rb_layer *conv1, *bn1, *conv2, *bn2, *proj, *proj_bn; /* proj: NULL when shapes agree */
} block;

typedef struct hand_resnet {
    rb_model *m; /* owns the layers, names them, switches them between training and evaluation */
    rb_layer *stem, *stem_bn, *pool, *gap, *dense;
    block blocks[4];
} hand_resnet;

static rb_layer *layer(rb_model *m, rb_layer_spec spec, const int64_t shape[3])
{
    return rb_model_layer(m, spec, 3, shape);
}

/* A block (BatchNorm after each convolution) for inputs `in`, its output shape into `out`. */
static block block_new(rb_model *m, const int64_t in[3], int64_t filters, int stride,
                       double momentum, int64_t out[3])
{
    rb_window2d strided = {.stride = {stride, stride}, .padding = RB_PAD_SAME};
    rb_layer_spec bn = {.kind = RB_LAYER_BATCH_NORM, .momentum = momentum};
    rb_layer_spec bn_relu = bn;
    bn_relu.activation = RB_ACT_RELU;
    block b = {0};
    b.conv1 = layer(
        m, RB_CONV2D(.units = filters, .kernel = {3, 3}, .window = strided, .no_bias = true), in);
    rb_layer_output_shape(b.conv1, out);
    b.bn1 = layer(m, bn_relu, out);
    b.conv2 = layer(m,
                    RB_CONV2D(.units = filters, .kernel = {3, 3},
                              .window = {.padding = RB_PAD_SAME}, .no_bias = true),
                    out);
    b.bn2 = layer(m, bn, out);
    if (stride != 1 || in[2] != filters) { /* the shortcut must change shape too */
        b.proj = layer(
            m, RB_CONV2D(.units = filters, .kernel = {1, 1}, .window = strided, .no_bias = true),
            in);
        b.proj_bn = layer(m, bn, out);
    }
    return b;
}

/* relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) */
static rb_tensor *residual_block(const block *b, rb_tensor *x)
{
    rb_tensor *shortcut = b->proj ? rb_layer_forward(b->proj_bn, rb_layer_forward(b->proj, x)) : x;
    rb_tensor *h = rb_layer_forward(b->bn1, rb_layer_forward(b->conv1, x)); /* BN, then ReLU */
    h = rb_layer_forward(b->bn2, rb_layer_forward(b->conv2, h));
    return rb_relu(rb_add(h, shortcut));
}

static rb_tensor *hand_forward(void *net, rb_tensor *x)
{
    const hand_resnet *r = net;
    rb_tensor *h = rb_layer_forward(r->stem, x);
    h = rb_layer_forward(r->pool, rb_layer_forward(r->stem_bn, h));
    for (int b = 0; b < 4; b++)
        h = residual_block(&r->blocks[b], h);
    return rb_layer_forward(r->dense, rb_layer_forward(r->gap, h));
}

/* Layers created in the builder's order: their variables come in the same order. */
static hand_resnet hand_resnet_new(uint64_t seed, double momentum)
{
    hand_resnet r = {.m = rb_model_new(RB_F32, "resnet by hand", RB_SHAPE(28, 28, 1))};
    rb_model_seed(r.m, seed);
    int64_t shape[3] = {28, 28, 1};
    r.stem = layer(r.m,
                   RB_CONV2D(.units = 16, .kernel = {3, 3}, .window = {.padding = RB_PAD_SAME},
                             .no_bias = true),
                   shape);
    rb_layer_output_shape(r.stem, shape);
    r.stem_bn =
        layer(r.m,
              (rb_layer_spec){
                  .kind = RB_LAYER_BATCH_NORM, .momentum = momentum, .activation = RB_ACT_RELU},
              shape);
    r.pool = layer(r.m, RB_MAX_POOL2D(.kernel = {2, 2}), shape);
    rb_layer_output_shape(r.pool, shape);
    const int64_t widths[4] = {16, 16, 32, 32};
    const int strides[4] = {1, 1, 2, 1};
    for (int b = 0; b < 4; b++) {
        int64_t in[3] = {shape[0], shape[1], shape[2]};
        r.blocks[b] = block_new(r.m, in, widths[b], strides[b], momentum, shape);
    }
    r.gap = layer(r.m, RB_GLOBAL_AVG_POOL2D, shape);
    r.dense = rb_model_layer(r.m, RB_DENSE(.units = 10), RB_SHAPE(32));
    return r;
}

/* Parameter counts, logits of both models on a batch: the same network? */
static void compare_with_builder(rb_study *s, const rb_dataset *batch, double momentum)
{
    rb_model *built = resnet(1, RB_BN_AFTER_CONV, momentum);
    hand_resnet hand = hand_resnet_new(1, momentum);
    /* BatchNorm: gamma, beta and the two moving statistics, 4 numbers per channel. */
#define BY_HAND                                                                                    \
    RB_BY_HAND((3 * 3 * 1 * 16 + 4 * 16) +                                                         \
               2 * (3 * 3 * 16 * 16 + 4 * 16 + 3 * 3 * 16 * 16 + 4 * 16) +                         \
               (3 * 3 * 16 * 32 + 4 * 32 + 3 * 3 * 32 * 32 + 4 * 32 + 1 * 1 * 16 * 32 + 4 * 32) +  \
               (3 * 3 * 32 * 32 + 4 * 32 + 3 * 3 * 32 * 32 + 4 * 32) + (32 * 10 + 10))
    rb_study_model(s, "builder (rb_resnet), BatchNorm after", built, BY_HAND);
    rb_study_model(s, "by hand, functional API", hand.m, BY_HAND);
    rb_study_check(
        s, "the hand-written network has the builder's parameter count",
        rb_model_num_params(hand.m, false) == rb_model_num_params(built, false) &&
            rb_model_num_params(hand.m, true) == rb_model_num_params(built, true),
        "%lld parameters by hand (%lld trainable), %lld from the builder (%lld)",
        (long long)rb_model_num_params(hand.m, false), (long long)rb_model_num_params(hand.m, true),
        (long long)rb_model_num_params(built, false), (long long)rb_model_num_params(built, true));
    /* The builder's weights into the hand-written network, variable by variable. */
    rb_params *from = rb_model_params(built), *to = rb_model_params(hand.m);
    for (int i = 0; i < rb_params_count(from) && i < rb_params_count(to); i++)
        rb_tensor_assign(rb_params_at(to, i), rb_params_at(from, i));
    /* In training mode: BatchNorm normalises with the batch's own statistics. */
    rb_scope *scope = rb_scope_begin();
    rb_tensor *diff = rb_sub(rb_model_forward(built, batch->x), hand_forward(&hand, batch->x));
    double largest = rb_tensor_item(rb_max(rb_abs(diff), RB_ALL_AXES, false));
    rb_scope_end(scope);
    rb_study_check(s, "given the builder's weights, the hand-written network gives its logits",
                   largest == 0, "largest difference over %lld images x 10 logits: %g",
                   (long long)rb_dataset_rows(batch), largest);
    rb_model_free(hand.m);
    rb_model_free(built);
}

static rb_history *train_resnet(const rb_run *run)
{
    rb_model *m = resnet(run->seed, (rb_bn_placement)rb_config_get(run->config, "bn", 0),
                         rb_config_get(run->config, "momentum", 0.9));
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = learning_rate});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 128,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    keep_first_seed(run->user_data, run, m);
    rb_optimizer_free(opt);
    return h;
}

/* Validation accuracy after the first epoch, over the runs of configuration i. */
static rb_measure first_epoch(const rb_experiment *e, int i)
{
    double v[64];
    int n = rb_experiment_runs(e, i) < 64 ? rb_experiment_runs(e, i) : 64;
    for (int r = 0; r < n; r++)
        v[r] = rb_experiment_history(e, i, r)->epochs[0].val_metric;
    return rb_measure_of(n, v, true);
}

/* The configuration with this placement and momentum (-1 when not run). */
static int find(const rb_experiment *e, rb_bn_placement bn, double momentum)
{
    for (int i = 0; i < rb_experiment_count(e); i++) {
        const rb_config *c = rb_experiment_config_at(e, i);
        if (rb_config_get(c, "bn", -1) == bn &&
            (bn == RB_BN_NONE || rb_config_get(c, "momentum", 0) == momentum))
            return i;
    }
    return -1;
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s =
        rb_study_new(argc, argv,
                     (rb_study_info){.seance = "seance2",
                                     .name = "resnet",
                                     .title = "A small ResNet: BatchNorm and its momentum",
                                     .question = question,
                                     .expectation = expectation,
                                     .limits = limits,
                                     .epochs = 3,
                                     .noise = 0.005});
    int placements[3];
    double momenta[4];
    int n_placements =
        rb_study_choices(s, "placements", "after|before|none", "after,before,none", placements, 3,
                         "BatchNorm placements in the residual blocks");
    int n_momenta = rb_study_list(s, "momenta", "0.9,0.99", momenta, 4,
                                  "BatchNorm momenta (the first for every placement, the others "
                                  "with BatchNorm after the convolutions)");
    int train_rows = rb_study_int(s, "train", 30000, "training images (of 50,000)");
    learning_rate = rb_study_double(s, "lr", 1e-3, "Adam's learning rate");
    rb_study_start(s);

    rb_dataset train, validation, test, batch;
    load_image_split(s, true, 720, &train, &validation, &test); /* --quick: 720 images */
    keep_first_rows(&train, train_rows);
    rb_dataset_head(&validation, 100, &batch);
    compare_with_builder(s, &batch, momenta[0]);

    kept_models kept = {{NULL}};
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "batchnorm"}, train_resnet, &kept);
    const char *keys[2] = {"bn", "momentum"};
    char name[128];
    for (int i = 0; i < n_placements; i++) {
        rb_bn_placement bn = (rb_bn_placement)placements[i];
        if (bn == RB_BN_NONE)
            snprintf(name, sizeof name, "no BatchNorm");
        else
            snprintf(name, sizeof name, "BatchNorm %s each conv, momentum %g", placement_names[bn],
                     momenta[0]);
        rb_experiment_add(e, name, 2, keys, (double[]){bn, bn == RB_BN_NONE ? 0 : momenta[0]});
    }
    for (int i = 1; i < n_momenta; i++) {
        snprintf(name, sizeof name, "BatchNorm after each conv, momentum %g", momenta[i]);
        rb_experiment_add(e, name, 2, keys, (double[]){RB_BN_AFTER_CONV, momenta[i]});
    }
    rb_experiment_run(e, &train, &validation);

    rb_table *t = rb_study_table(
        s, "Validation accuracy after the first and the last epoch, training accuracy at the end",
        "configuration|parameters|validation, epoch 1|validation, last epoch|training, last "
        "epoch");
    for (int i = 0; i < rb_experiment_count(e); i++) {
        char first[64], last[64], training[64];
        rb_measure_format(first, sizeof first, first_epoch(e, i));
        rb_measure_format(last, sizeof last, rb_experiment_measure(e, i, RB_FINAL_VAL_METRIC));
        rb_measure_format(training, sizeof training, rb_experiment_measure(e, i, RB_FINAL_METRIC));
        rb_table_row(t, "%s|%lld|%s|%s|%s", rb_experiment_config_at(e, i)->name,
                     (long long)rb_model_num_params(kept.model[i], false), first, last, training);
    }

    int after = find(e, RB_BN_AFTER_CONV, momenta[0]),
        before = find(e, RB_BN_BEFORE_CONV, momenta[0]);
    int none = find(e, RB_BN_NONE, 0),
        slow = n_momenta > 1 ? find(e, RB_BN_AFTER_CONV, momenta[1]) : -1;
    if (after >= 0 && none >= 0) {
        rb_study_expect(s, "with BatchNorm, training accuracy several points ahead after 3 epochs",
                        "BatchNorm after", rb_experiment_measure(e, after, RB_FINAL_METRIC),
                        RB_HIGHER, "no BatchNorm", rb_experiment_measure(e, none, RB_FINAL_METRIC));
        rb_study_expect(s, "with BatchNorm, ahead on validation too", "BatchNorm after",
                        rb_experiment_measure(e, after, RB_FINAL_SCORE), RB_HIGHER, "no BatchNorm",
                        rb_experiment_measure(e, none, RB_FINAL_SCORE));
    }
    if (after >= 0 && before >= 0)
        rb_study_expect(s, "pre-activation blocks close to post-activation ones (a tie)",
                        "BatchNorm before", rb_experiment_measure(e, before, RB_FINAL_SCORE),
                        RB_TIE, "BatchNorm after", rb_experiment_measure(e, after, RB_FINAL_SCORE));
    if (after >= 0 && slow >= 0) {
        char a[64], b[64], expected[160];
        snprintf(a, sizeof a, "momentum %g", momenta[1]);
        snprintf(b, sizeof b, "momentum %g", momenta[0]);
        snprintf(expected, sizeof expected,
                 "momentum %g lags %g: lower validation accuracy after the first epoch", momenta[1],
                 momenta[0]);
        rb_study_expect(s, expected, a, first_epoch(e, slow), RB_LOWER, b, first_epoch(e, after));
    }

    /* The test set, once: the configuration that did best on validation (its first seed). */
    int best = rb_experiment_best(e);
    double test_loss, test_acc;
    rb_evaluate(rb_trainable_of_model(kept.model[best]), &test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                RB_METRIC_ACCURACY, 0, &test_loss, &test_acc);
    rb_study_say(s,
                 "Test accuracy of '%s' (best on validation), first seed: **%.2f%%** on %lld "
                 "images.",
                 rb_experiment_config_at(e, best)->name, 100 * test_acc,
                 (long long)rb_dataset_rows(&test));

    kept_models_free(&kept);
    rb_dataset *sets[] = {&train, &validation, &test, &batch};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        rb_dataset_free(sets[i]);
    return rb_study_finish(s);
}
