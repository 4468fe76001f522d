/* Séance 1 - initialisation of a deep dense network on MNIST: Glorot, He and plain random
 * weights, each drawn from a normal and a uniform law, under ReLU and under tanh.
 *
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance1/initialisation/report.html.
 * --help lists the flags (--lr, --seeds, --quick ...).
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
    "one seed unless --seeds says more, 5 epochs of plain SGD (lr 0.02, batch 50): a longer run\n"
    "or an adaptive optimizer narrows the gaps. These deep networks without normalisation are\n"
    "sensitive: one SGD step can move validation accuracy by a point or two, so the verdicts take\n"
    "0.7 point as one run's noise (differences under 2 points are ties); compare the best-epoch\n"
    "column too. The activation scales are measured on 1,000 images before training.";

enum { DEPTH = 6, WIDTH = 128 };
static double learning_rate = 0.02; /* --lr */

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
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = learning_rate});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 50,
                                           .seed = run->seed,
                                           .progress = run->progress,
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

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance1",
                                               .name = "initialisation",
                                               .title = "Initialisation of a deep dense network",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 5,
                                               .noise = 0.007});
    learning_rate = rb_study_double(s, "lr", 0.02, "SGD learning rate");
    rb_study_start(s);
    rb_dataset all, test, train, validation;
    rb_mnist_load(NULL, &all, &test);
    rb_study_shrink(s, &all, 6000); /* --quick: 5,000 to train, 1,000 to validate */
    rb_split(&all, (rb_split_config){.validation = 10000.0 / 60000, .seed = 1}, &train, &validation,
             NULL);
    rb_model *m = deep_net(1, RB_INIT_HE_NORMAL, RB_ACT_RELU);
    rb_study_model(
        s, "6 hidden layers of 128", m,
        RB_BY_HAND(784 * WIDTH + WIDTH + (DEPTH - 1) * (WIDTH * WIDTH + WIDTH) + WIDTH * 10 + 10));
    rb_model_free(m);

    /* One experiment per activation: six initialisations each. */
    rb_experiment *e[2];
    const char *names[2] = {"relu", "tanh"};
    char name[64];
    for (int a = 0; a < 2; a++) {
        e[a] = rb_study_experiment(s, (rb_experiment_config){.name = names[a]}, train_one, NULL);
        for (int i = 0; i < 6; i++) {
            snprintf(name, sizeof name, "%s, %s", rb_init_name(inits[i]), names[a]);
            rb_experiment_add(e[a], name, 2, (const char *[]){"init", "act"}, (double[]){i, a});
        }
    }

    /* Before training: does the signal keep its scale through the layers? */
    rb_dataset batch;
    rb_dataset_head(&train, 1000, &batch);
    rb_table *scales = rb_study_table(
        s, "Standard deviation of each hidden layer's output at initialisation (1,000 images)",
        "initialisation|layer 1|layer 2|layer 3|layer 4|layer 5|layer 6");
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < rb_experiment_count(e[a]); c++) {
            const rb_config *cfg = rb_experiment_config_at(e[a], c);
            double std[DEPTH];
            activation_scales(inits[(int)rb_config_get(cfg, "init", 0)],
                              acts[(int)rb_config_get(cfg, "act", 0)], batch.x, std);
            rb_table_row(scales, "%s|%.4f|%.4f|%.4f|%.4f|%.4f|%.4f", cfg->name, std[0], std[1],
                         std[2], std[3], std[4], std[5]);
        }

    for (int a = 0; a < 2; a++)
        rb_experiment_run(e[a], &train, &validation);
    /* Configurations 0-1 Glorot, 2-3 He, 4-5 plain random (normal, uniform). */
    rb_study_expect(s, "under ReLU, He ahead of Glorot", "He normal",
                    rb_experiment_measure(e[0], 2, RB_FINAL_SCORE), RB_HIGHER, "Glorot normal",
                    rb_experiment_measure(e[0], 0, RB_FINAL_SCORE));
    rb_study_expect(s, "under ReLU, He ahead of plain random weights", "He normal",
                    rb_experiment_measure(e[0], 2, RB_FINAL_SCORE), RB_HIGHER, "random normal",
                    rb_experiment_measure(e[0], 4, RB_FINAL_SCORE));
    rb_study_expect(s, "under tanh, Glorot ahead of plain random weights", "Glorot normal",
                    rb_experiment_measure(e[1], 0, RB_FINAL_SCORE), RB_HIGHER, "random normal",
                    rb_experiment_measure(e[1], 4, RB_FINAL_SCORE));
    for (int a = 0; a < 2; a++)
        for (int law = 0; law < 4; law += 2) {
            char expected[96];
            snprintf(expected, sizeof expected, "under %s, %s normal and uniform alike",
                     a ? "tanh" : "ReLU", law ? "He" : "Glorot");
            rb_study_expect(s, expected, rb_experiment_config_at(e[a], law)->name,
                            rb_experiment_measure(e[a], law, RB_FINAL_SCORE), RB_TIE,
                            rb_experiment_config_at(e[a], law + 1)->name,
                            rb_experiment_measure(e[a], law + 1, RB_FINAL_SCORE));
        }

    rb_dataset_free(&batch);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
