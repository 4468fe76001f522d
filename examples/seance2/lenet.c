/* Séance 2 - convolutional networks on Fashion-MNIST: LeNet and three of its choices.
 *
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance2/lenet/report.html.
 * --help lists the flags: the choices compared (--kernels, --acts, --pools), --lr, --quick ...
 */
#include "../common.h"

static const char question[] =
    "what do the kernel size, the activation and the pooling of a LeNet-style network change\n"
    "on Fashion-MNIST?";
static const char expectation[] =
    " 1. The LeNet baseline (5x5 kernels, ReLU, max pooling) reaches about 89-90% validation\n"
    "    accuracy in 5 epochs.\n"
    " 2. tanh instead of ReLU trains a little slower: a little behind after 5 epochs.\n"
    " 3. Average pooling loses a little against max pooling.\n"
    " 4. 3x3 kernels do about as well (a tie); the second, unpadded, convolution then leaves a\n"
    "    6x6 rather than 5x5 map, so the first dense layer grows and the model has more\n"
    "    parameters, not fewer.";
static const char limits[] =
    "2 seeds per configuration unless --seeds says more: a run's final accuracy varies by about\n"
    "0.2 point from seed to seed, so differences under ~0.6 point are ties; 5 epochs only, one\n"
    "optimizer setting (Adam 1e-3, batch 64) that may suit one variant better than another; each\n"
    "choice changed alone from the baseline, not in combination. Validation on 10,000 training\n"
    "images held out; the test set is used once, for the configuration that did best on\n"
    "validation. Inputs are standardised with the training part's statistics.";

static const char *const act_names = "relu|tanh|sigmoid|elu|gelu";
static const rb_activation acts[] = {RB_ACT_RELU, RB_ACT_TANH, RB_ACT_SIGMOID, RB_ACT_ELU,
                                     RB_ACT_GELU};
static const char *const pool_names[] = {"max", "average"};
static const rb_layer_kind pools[] = {RB_LAYER_MAX_POOL2D, RB_LAYER_AVG_POOL2D};
static double learning_rate = 1e-3; /* --lr */

/* LeNet-5 adapted to 28x28 inputs (the first convolution keeps the size). */
static rb_model *lenet(uint64_t seed, int k, rb_activation act, rb_layer_kind pool)
{
    rb_model *m = rb_model_new(RB_F32, "lenet", RB_SHAPE(28, 28, 1));
    rb_model_seed(m, seed);
    rb_model_add(m, RB_CONV2D(.units = 6, .kernel = {k, k}, .activation = act,
                              .window = {.padding = RB_PAD_SAME}));
    rb_model_add(m, (rb_layer_spec){.kind = pool, .kernel = {2, 2}});
    rb_model_add(m, RB_CONV2D(.units = 16, .kernel = {k, k}, .activation = act));
    rb_model_add(m, (rb_layer_spec){.kind = pool, .kernel = {2, 2}});
    rb_model_add(m, RB_FLATTEN);
    rb_model_add(m, RB_DENSE(.units = 120, .activation = act));
    rb_model_add(m, RB_DENSE(.units = 84, .activation = act));
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

static rb_history *train_lenet(const rb_run *run)
{
    const rb_config *c = run->config;
    rb_model *m =
        lenet(run->seed, (int)rb_config_get(c, "kernel", 5), acts[(int)rb_config_get(c, "act", 0)],
              pools[(int)rb_config_get(c, "pool", 0)]);
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = learning_rate});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    keep_first_seed(run->user_data, run, m);
    rb_optimizer_free(opt);
    return h;
}

/* Parameters of LeNet with k x k kernels, counted by hand: after the "same" convolution and
 * the first pooling the map is 14x14; the second convolution leaves 15 - k, pooled to half. */
static void count_by_hand(rb_study *s, int k)
{
    int side = (14 - k + 1) / 2;
    rb_model *m = lenet(1, k, RB_ACT_RELU, RB_LAYER_MAX_POOL2D);
    char label[96];
    snprintf(label, sizeof label, "LeNet, %dx%d kernels (k = %d, side = %d)", k, k, k, side);
    rb_study_model(s, label, m,
                   RB_BY_HAND((k * k * 1 * 6 + 6) + (k * k * 6 * 16 + 16) +
                              (side * side * 16 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)));
    rb_model_free(m);
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance2",
                                               .name = "lenet",
                                               .title = "LeNet: kernels, activation, pooling",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 5,
                                               .seeds = 2,
                                               .noise = 0.002});
    double kernels[4];
    int k_acts[5], k_pools[2];
    int n_kernels = rb_study_list(s, "kernels", "5,3", kernels, 4,
                                  "kernel sizes (the first is the baseline's)");
    int n_acts = rb_study_choices(s, "acts", act_names, "relu,tanh", k_acts, 5,
                                  "activations (the first is the baseline's)");
    int n_pools = rb_study_choices(s, "pools", "max|avg", "max,avg", k_pools, 2,
                                   "poolings (the first is the baseline's)");
    learning_rate = rb_study_double(s, "lr", 1e-3, "Adam's learning rate");
    rb_study_start(s);

    rb_dataset train, validation, test;
    load_image_split(s, true, 1500, &train, &validation, &test); /* --quick: 1,500 images */
    rb_scaler *scaler = rb_scaler_fit(RB_SCALE_STANDARD, train.x, false);
    rb_dataset *parts[3] = {&train, &validation, &test};
    for (int p = 0; p < 3; p++)
        rb_scaler_transform_inplace(scaler, parts[p]->x);
    rb_scaler_free(scaler);
    for (int i = 0; i < n_kernels; i++)
        count_by_hand(s, (int)kernels[i]);

    /* The baseline, then each choice changed alone. */
    kept_models kept = {{NULL}};
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "variants"}, train_lenet, &kept);
    const char *keys[3] = {"kernel", "act", "pool"};
    const double base[3] = {kernels[0], k_acts[0], k_pools[0]};
    const char *act0 = rb_activation_name(acts[k_acts[0]]), *pool0 = pool_names[k_pools[0]];
    char name[128];
    snprintf(name, sizeof name, "baseline: %gx%g, %s, %s pooling", base[0], base[0], act0, pool0);
    rb_experiment_add(e, name, 3, keys, base);
    for (int i = 1; i < n_kernels; i++) {
        snprintf(name, sizeof name, "%gx%g kernels", kernels[i], kernels[i]);
        rb_experiment_add(e, name, 3, keys, (double[]){kernels[i], base[1], base[2]});
    }
    for (int i = 1; i < n_acts; i++) {
        snprintf(name, sizeof name, "%s instead of %s", rb_activation_name(acts[k_acts[i]]), act0);
        rb_experiment_add(e, name, 3, keys, (double[]){base[0], k_acts[i], base[2]});
    }
    for (int i = 1; i < n_pools; i++) {
        snprintf(name, sizeof name, "%s instead of %s pooling", pool_names[k_pools[i]], pool0);
        rb_experiment_add(e, name, 3, keys, (double[]){base[0], base[1], k_pools[i]});
    }
    rb_experiment_run(e, &train, &validation);

    /* Each variant against the baseline (configuration 0), within the seed-to-seed noise. */
    rb_measure baseline = rb_experiment_measure(e, 0, RB_FINAL_SCORE);
    rb_study_expect(s, "the baseline reaches about 89-90% in 5 epochs (at least 88.5%)", "baseline",
                    baseline, RB_HIGHER, "88.5%", rb_measure_value(0.885, true));
    for (int i = 1; i < rb_experiment_count(e); i++) {
        const rb_config *c = rb_experiment_config_at(e, i);
        bool kernel = rb_config_get(c, "kernel", 0) != base[0];
        char expected[192];
        snprintf(expected, sizeof expected, "%s: %s", c->name,
                 kernel ? "about as well as the baseline (a tie)"
                        : "a little behind the baseline after 5 epochs");
        rb_study_expect(s, expected, c->name, rb_experiment_measure(e, i, RB_FINAL_SCORE),
                        kernel ? RB_TIE : RB_LOWER, "the baseline", baseline);
        if (kernel && rb_config_get(c, "kernel", 0) < base[0]) {
            int64_t smaller = rb_model_num_params(kept.model[i], false),
                    larger = rb_model_num_params(kept.model[0], false);
            rb_study_check(s, "smaller kernels give the model more parameters, not fewer",
                           smaller > larger, "%s: %lld parameters, the baseline %lld", c->name,
                           (long long)smaller, (long long)larger);
        }
    }

    /* The test set, once: the configuration that did best on validation (its first seed). */
    int best = rb_experiment_best(e);
    double test_loss, test_acc;
    rb_evaluate(rb_trainable_of_model(kept.model[best]), &test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                RB_METRIC_ACCURACY, 0, &test_loss, &test_acc);
    rb_study_say(
        s, "Test accuracy of '%s' (best on validation), first seed: **%.2f%%** on %lld images.",
        rb_experiment_config_at(e, best)->name, 100 * test_acc, (long long)rb_dataset_rows(&test));

    kept_models_free(&kept);
    for (int p = 0; p < 3; p++)
        rb_dataset_free(parts[p]);
    return rb_study_finish(s);
}
