/* Séance 1 - initialisation of a deep dense network on MNIST: Glorot, He and plain random
 * weights, each drawn from a normal and a uniform law, under ReLU and under tanh.
 *
 * The question, the expectation stated before running and the limits of the
 * comparison are the strings below; the program prints them.
 */
#include "../common.h"

static const char question[] = "does the initial scale of the weights matter once training starts?";
static const char expectation[] =
    "in a 6-layer network the signal must keep its scale\n"
    "from layer to layer. He (variance 2 / fan_in) keeps ReLU activations steady and trains best\n"
    "with ReLU; Glorot (2 / (fan_in + fan_out)) suits tanh; plain random weights of std 0.05 "
    "shrink\n"
    "the signal at every layer (0.05 x sqrt(128) < 1), so those networks start slowly, tanh "
    "worst.\n"
    "Normal and uniform laws of the same variance (Glorot, He) behave alike; Keras's plain random\n"
    "laws do not share one (normal std 0.05, uniform on [-0.05, 0.05]: std 0.029).";
static const char limits[] =
    "one seed, 5 epochs of plain SGD (lr 0.02, batch 50): a longer run or an adaptive\n"
    "optimizer narrows the gaps. These deep networks without normalisation are sensitive: one\n"
    "SGD step can move validation accuracy by a point or two, so compare the best-epoch column\n"
    "too. The activation scales are measured on 1,000 images before training.";

enum { DEPTH = 6, WIDTH = 128 };

static const rb_init inits[] = {RB_INIT_GLOROT_NORMAL, RB_INIT_GLOROT_UNIFORM,
                                RB_INIT_HE_NORMAL,     RB_INIT_HE_UNIFORM,
                                RB_INIT_RANDOM_NORMAL, RB_INIT_RANDOM_UNIFORM};
static const rb_activation acts[] = {RB_ACT_RELU, RB_ACT_TANH};

static rb_model *deep_net(uint64_t seed, rb_init init, rb_activation act)
{
    rb_model *m = rb_model_new(RB_F32, "deep", RB_SHAPE(784));
    rb_model_seed(m, seed);
    for (int i = 0; i < DEPTH; i++)
        rb_model_add(m, RB_DENSE(.units = WIDTH, .activation = act, .kernel_init = {.kind = init}));
    rb_model_add(m, RB_DENSE(.units = 10, .kernel_init = {.kind = init}));
    return m;
}

static rb_history *train_one(const rb_run *run)
{
    rb_model *m = deep_net(run->seed, inits[(int)rb_config_get(run->config, "init", 0)],
                           acts[(int)rb_config_get(run->config, "act", 0)]);
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.02});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = 5,
                                           .batch_size = 50,
                                           .seed = run->seed,
                                           .quiet = true,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* Standard deviation of each hidden layer's output on one batch, before any training. */
static void activation_scales(rb_init init, rb_activation act, rb_tensor *batch, double *std)
{
    rb_model *m = deep_net(1, init, act);
    rb_scope *scope = rb_scope_begin();
    rb_tensor *h = batch;
    for (int i = 0; i < DEPTH; i++) {
        h = rb_layer_forward(rb_model_layer_at(m, i), h);
        std[i] = sqrt(rb_tensor_item(rb_var(h, RB_ALL_AXES, false, 0)));
    }
    rb_scope_end(scope);
    rb_model_free(m);
}

int main(void)
{
    rb_set_error_handler(exit_on_error, NULL);
    announce(question, expectation);
    rb_dataset all, test, train, validation;
    rb_mnist_load(NULL, &all, &test);
    rb_split(&all, (rb_split_config){.validation = 10000.0 / 60000, .seed = 1}, &train, &validation,
             NULL);

    /* One experiment per activation: six initialisations each. */
    rb_experiment *e[2];
    const char *names[2] = {"seance1/initialisation_relu", "seance1/initialisation_tanh"};
    char name[64];
    for (int a = 0; a < 2; a++) {
        e[a] = rb_experiment_new((rb_experiment_config){.name = names[a]}, train_one, NULL);
        for (int i = 0; i < 6; i++) {
            snprintf(name, sizeof name, "%s, %s", rb_init_name(inits[i]), a == 0 ? "relu" : "tanh");
            rb_experiment_add(e[a], name, 2, (const char *[]){"init", "act"}, (double[]){i, a});
        }
    }

    /* Before training: does the signal keep its scale through the layers? */
    rb_dataset batch;
    rb_dataset_head(&train, 1000, &batch);
    printf("standard deviation of each hidden layer's output at initialisation (1,000 images):\n");
    printf("%-26s", "initialisation");
    for (int i = 0; i < DEPTH; i++)
        printf("  layer %d", i + 1);
    printf("\n");
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < rb_experiment_count(e[a]); c++) {
            const rb_config *cfg = rb_experiment_config_at(e[a], c);
            double std[DEPTH];
            activation_scales(inits[(int)rb_config_get(cfg, "init", 0)],
                              acts[(int)rb_config_get(cfg, "act", 0)], batch.x, std);
            printf("%-26s", cfg->name);
            for (int i = 0; i < DEPTH; i++)
                printf(" %8.4f", std[i]);
            printf("\n");
        }

    for (int a = 0; a < 2; a++)
        rb_experiment_run(e[a], &train, &validation);
    /* Configurations 0-1 Glorot, 2-3 He, 4-5 plain random (normal, uniform). */
    printf("\nexpected: under ReLU, He ahead of Glorot and of plain random: %s (%.2f%%, %.2f%%, "
           "%.2f%%)\n",
           rb_experiment_final(e[0], 2) > rb_experiment_final(e[0], 0) &&
                   rb_experiment_final(e[0], 2) > rb_experiment_final(e[0], 4)
               ? "yes"
               : "no",
           100 * rb_experiment_final(e[0], 2), 100 * rb_experiment_final(e[0], 0),
           100 * rb_experiment_final(e[0], 4));
    printf("expected: under tanh, Glorot ahead of plain random: %s (%.2f%% vs %.2f%%)\n",
           rb_experiment_final(e[1], 0) > rb_experiment_final(e[1], 4) ? "yes" : "no",
           100 * rb_experiment_final(e[1], 0), 100 * rb_experiment_final(e[1], 4));
    printf("expected: normal and uniform alike (within 2 points) for Glorot and He: %s\n",
           fabs(rb_experiment_final(e[0], 0) - rb_experiment_final(e[0], 1)) < 0.02 &&
                   fabs(rb_experiment_final(e[0], 2) - rb_experiment_final(e[0], 3)) < 0.02 &&
                   fabs(rb_experiment_final(e[1], 0) - rb_experiment_final(e[1], 1)) < 0.02 &&
                   fabs(rb_experiment_final(e[1], 2) - rb_experiment_final(e[1], 3)) < 0.02
               ? "yes"
               : "no");

    for (int a = 0; a < 2; a++)
        rb_experiment_free(e[a]);
    rb_dataset_free(&batch);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    printf("\nlimits: %s\n", limits);
    return 0;
}
