/* Séance 1 - dense networks on MNIST: the learning rate, the depth, and training for long.
 *
 * The question, the expectation stated before running and the limits of the
 * comparison are the strings below; the program prints them.
 */
#include "../common.h"

static const char question[] =
    "(1) how does SGD's learning rate change what 5 epochs achieve? (2) do more hidden\n"
    "layers help a dense network on MNIST? (3) what happens when a network trains for many epochs\n"
    "on little data?";
static const char expectation[] =
    " 1. lr 0.001 is far too slow for 5 epochs (well under 90%), 0.01 still slow; the best lies\n"
    "    between 0.1 and 1 (~97%); 1.0 is past the best: the largest steps overshoot.\n"
    " 2. No hidden layer (softmax regression) stops near 92%; one hidden layer of 128 units "
    "reaches\n"
    "    ~96-97%; more layers add up to a point in 5 epochs; the gains shrink with depth.\n"
    " 3. On 5,000 images with Adam, training accuracy reaches 100% within ~15 epochs while\n"
    "    validation accuracy stalls near 94% and validation loss turns back up: overfitting.";
static const char limits[] =
    "one seed per configuration (differences under ~0.3 point are noise); plain SGD\n"
    "(batch 64, no momentum) in 1 and 2 so that the learning rate acts alone; 5 epochs, which\n"
    "favours larger learning rates; validation on 10,000 images held out of the training set,\n"
    "the test set used once at the end.";

/* A stack of `depth` ReLU layers of `width` units, then 10 logits. */
static rb_model *dense_net(uint64_t seed, int depth, int width)
{
    rb_model *m = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_seed(m, seed);
    for (int i = 0; i < depth; i++)
        rb_model_add(m, RB_DENSE(.units = width, .activation = RB_ACT_RELU,
                                 .kernel_init = {.kind = RB_INIT_HE_NORMAL}));
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

/* One run of any of the three experiments: the settings come from the configuration. */
static rb_history *train_mlp(const rb_run *run)
{
    rb_model *m = dense_net(run->seed, (int)rb_config_get(run->config, "hidden layers", 1),
                            (int)rb_config_get(run->config, "units", 128));
    double lr = rb_config_get(run->config, "lr", 0.1);
    rb_optimizer *opt = rb_config_get(run->config, "adam", 0)
                            ? rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3})
                            : rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = lr});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = (int)rb_config_get(run->config, "epochs", 5),
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .quiet = true,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* Final validation accuracy against the learning rate, on a log axis. */
static void plot_sweep(rb_experiment *e, const double *lrs, int n)
{
    double acc[16];
    for (int i = 0; i < n; i++)
        acc[i] = 100 * rb_experiment_final(e, i);
    char base[1024];
    snprintf(base, sizeof base, "%s/final_accuracy_vs_lr", rb_experiment_dir(e));
    rb_plot_lines(base,
                  (rb_plot){"Validation accuracy after 5 epochs of SGD", "learning rate",
                            "validation accuracy (%)", .logx = true},
                  1, &(rb_series){.label = "validation", .n = n, .x = lrs, .y = acc});
    printf("sweep plot: %s.png\n", base);
}

int main(void)
{
    rb_set_error_handler(exit_on_error, NULL);
    announce(question, expectation);
    rb_dataset all, test, train, validation;
    rb_mnist_load(NULL, &all, &test);
    rb_split(&all, (rb_split_config){.validation = 10000.0 / 60000, .seed = 1}, &train, &validation,
             NULL);

    /* 1. Learning rate. */
    const double lrs[] = {1.0, 0.3, 0.1, 0.03, 0.01, 0.001};
    rb_experiment *lr =
        rb_experiment_new((rb_experiment_config){.name = "seance1/learning_rate"}, train_mlp, NULL);
    rb_experiment_add_values(lr, "lr", 6, lrs);
    rb_experiment_run(lr, &train, &validation);
    plot_sweep(lr, lrs, 6);
    int best_lr = rb_experiment_best(lr);
    printf("expected: lr 0.001 far behind (under 90%%): %s; the best between 0.1 and 1: %s (%s)\n",
           rb_experiment_final(lr, 5) < 0.9 ? "yes" : "no",
           lrs[best_lr] >= 0.1 && lrs[best_lr] <= 1 ? "yes" : "no",
           rb_experiment_config_at(lr, best_lr)->name);

    /* 2. Depth, at a learning rate that did well above. */
    rb_experiment *depth =
        rb_experiment_new((rb_experiment_config){.name = "seance1/depth"}, train_mlp, NULL);
    rb_experiment_add_values(depth, "hidden layers", 5, (double[]){0, 1, 2, 3, 5});
    rb_experiment_run(depth, &train, &validation);
    printf("expected: a hidden layer adds several points over none: %s (%.2f%% vs %.2f%%)\n",
           rb_experiment_final(depth, 1) > rb_experiment_final(depth, 0) + 0.03 ? "yes" : "no",
           100 * rb_experiment_final(depth, 1), 100 * rb_experiment_final(depth, 0));

    /* 3. Long training on 5,000 images. */
    rb_dataset small;
    rb_dataset_head(&train, 5000, &small);
    rb_experiment *longer =
        rb_experiment_new((rb_experiment_config){.name = "seance1/long_training"}, train_mlp, NULL);
    rb_experiment_add(longer, "5,000 images, Adam, 60 epochs", 3,
                      (const char *[]){"epochs", "units", "adam"}, (double[]){60, 256, 1});
    rb_experiment_run(longer, &small, &validation);
    const rb_history *h = rb_experiment_history(longer, 0, 0);
    int lowest = 0;
    for (int k = 1; k < h->n; k++)
        if (h->epochs[k].val_loss < h->epochs[lowest].val_loss) lowest = k;
    printf("\nlong training: validation loss lowest at epoch %d (%.4f), %.4f at epoch %d; "
           "training accuracy %.2f%%, validation %.2f%%\n",
           h->epochs[lowest].epoch, h->epochs[lowest].val_loss, h->epochs[h->n - 1].val_loss, h->n,
           100 * h->epochs[h->n - 1].metric, 100 * h->epochs[h->n - 1].val_metric);
    printf("expected: validation loss turns back up (overfitting): %s\n",
           h->epochs[h->n - 1].val_loss > h->epochs[lowest].val_loss * 1.1 ? "yes" : "no");

    /* The test set, once: the best depth retrained on all 60,000 images. */
    int best = rb_experiment_best(depth);
    rb_run run = {rb_experiment_config_at(depth, best), best, 1, 0, -1, &all, &test, NULL};
    rb_history *final = train_mlp(&run);
    printf("\ntest accuracy of '%s' trained on all 60,000 images for 5 epochs: %.2f%%\n",
           rb_experiment_config_at(depth, best)->name, 100 * rb_history_last(final)->val_metric);

    rb_history_free(final);
    rb_experiment_free(lr);
    rb_experiment_free(depth);
    rb_experiment_free(longer);
    rb_dataset_free(&small);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    printf("\nlimits: %s\n", limits);
    return 0;
}
