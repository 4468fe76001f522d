/* Séance 1 - dense networks on MNIST: the learning rate, the depth, and training for long.
 *
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance1/hyperparameters/report.html.
 * --help lists the flags: the sweeps (--lr, --depths), --units, --seeds, --quick ...
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
    "one seed per configuration unless --seeds says more; a run's accuracy varies by about\n"
    "0.15 point from seed to seed, so differences under ~0.4 point are ties; plain SGD (batch 64,\n"
    "no momentum) in 1 and 2 so that the learning rate acts alone; 5 epochs, which favours larger\n"
    "learning rates; validation on 10,000 images held out of the training set, the test set used\n"
    "once at the end.";

static int hidden_units = 128; /* --units */

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
                            (int)rb_config_get(run->config, "units", hidden_units));
    double lr = rb_config_get(run->config, "lr", 0.1);
    rb_optimizer *opt = rb_config_get(run->config, "adam", 0)
                            ? rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3})
                            : rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = lr});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 64,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation});
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* The index of the value v in a list (-1 when absent). */
static int index_of(const double *values, int n, double v)
{
    for (int i = 0; i < n; i++)
        if (values[i] == v) return i;
    return -1;
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance1",
                                               .name = "hyperparameters",
                                               .title = "Learning rate, depth, long training",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 5,
                                               .noise = 0.0015});
    double lrs[8], depths[8];
    int n_lrs = rb_study_list(s, "lr", "1,0.3,0.1,0.03,0.01,0.001", lrs, 8, "SGD learning rates");
    int n_depths = rb_study_list(s, "depths", "0,1,2,3,5", depths, 8, "numbers of hidden layers");
    hidden_units = rb_study_int(s, "units", 128, "units of each hidden layer (sweeps 1 and 2)");
    rb_study_start(s);

    rb_dataset all, test, train, validation;
    rb_mnist_load(NULL, &all, &test);
    rb_study_shrink(s, &all, 6000); /* --quick: 5,000 to train, 1,000 to validate */
    rb_study_shrink(s, &test, 2000);
    rb_split(&all, (rb_split_config){.validation = 10000.0 / 60000, .seed = 1}, &train, &validation,
             NULL);
    rb_model *one = dense_net(1, 1, hidden_units);
    rb_study_model(s, "one hidden layer", one,
                   RB_BY_HAND(784 * hidden_units + hidden_units + hidden_units * 10 + 10));
    rb_model_free(one);

    /* The three experiments, declared first so that the time left covers them all. */
    rb_experiment *lr =
        rb_study_experiment(s, (rb_experiment_config){.name = "learning_rate"}, train_mlp, NULL);
    rb_experiment_add_values(lr, "lr", n_lrs, lrs);
    rb_experiment *depth =
        rb_study_experiment(s, (rb_experiment_config){.name = "depth"}, train_mlp, NULL);
    rb_experiment_add_values(depth, "hidden layers", n_depths, depths);
    rb_experiment *longer = rb_study_experiment(
        s, (rb_experiment_config){.name = "long_training", .epochs = 60}, train_mlp, NULL);
    rb_experiment_add(longer, "5,000 images, Adam, 60 epochs", 2, (const char *[]){"units", "adam"},
                      (double[]){256, 1});

    /* 1. Learning rate. */
    rb_experiment_run(lr, &train, &validation);
    rb_experiment_plot_sweep(lr, (rb_sweep_plot){.key = "lr", .logx = true});
    int best_lr = rb_experiment_best(lr), slowest = 0, fastest = 0;
    for (int i = 1; i < n_lrs; i++) {
        if (lrs[i] < lrs[slowest]) slowest = i;
        if (lrs[i] > lrs[fastest]) fastest = i;
    }
    rb_study_expect(s, "the smallest rate is far too slow for 5 epochs: well under 90%",
                    rb_experiment_config_at(lr, slowest)->name,
                    rb_experiment_measure(lr, slowest, RB_FINAL_SCORE), RB_LOWER, "90%",
                    rb_measure_value(0.9, true));
    rb_study_check(s, "the best rate lies between 0.1 and 1",
                   lrs[best_lr] >= 0.1 && lrs[best_lr] <= 1, "the best is %s",
                   rb_experiment_config_at(lr, best_lr)->name);
    if (fastest != best_lr)
        rb_study_expect(s, "the largest rate is past the best: its steps overshoot",
                        rb_experiment_config_at(lr, fastest)->name,
                        rb_experiment_measure(lr, fastest, RB_FINAL_SCORE), RB_LOWER,
                        rb_experiment_config_at(lr, best_lr)->name,
                        rb_experiment_measure(lr, best_lr, RB_FINAL_SCORE));
    else
        rb_study_check(s, "the largest rate is past the best: its steps overshoot", false,
                       "the largest rate, %s, is the best",
                       rb_experiment_config_at(lr, fastest)->name);

    /* 2. Depth, at a learning rate that did well above. */
    rb_experiment_run(depth, &train, &validation);
    rb_experiment_plot_sweep(depth, (rb_sweep_plot){.key = "hidden layers"});
    int none = index_of(depths, n_depths, 0), single = index_of(depths, n_depths, 1);
    int best_depth = rb_experiment_best(depth);
    if (none >= 0 && single >= 0) {
        rb_study_expect(s, "one hidden layer beats none (softmax regression) by several points",
                        "1 hidden layer", rb_experiment_measure(depth, single, RB_FINAL_SCORE),
                        RB_HIGHER, "none", rb_experiment_measure(depth, none, RB_FINAL_SCORE));
        double gain = rb_experiment_final(depth, best_depth) - rb_experiment_final(depth, single);
        rb_study_check(s, "more hidden layers add at most about a point over one", gain <= 0.012,
                       "the best, %s, is %.2f points above one hidden layer",
                       rb_experiment_config_at(depth, best_depth)->name, 100 * gain);
    }

    /* 3. Long training on 5,000 images. */
    rb_dataset small;
    rb_dataset_head(&train, 5000, &small);
    rb_experiment_run(longer, &small, &validation);
    const rb_history *h = rb_experiment_history(longer, 0, 0);
    int lowest = 0;
    for (int k = 1; k < h->n; k++)
        if (h->epochs[k].val_loss < h->epochs[lowest].val_loss) lowest = k;
    const rb_epoch_record *last = rb_history_last(h);
    rb_study_check(s, "training accuracy reaches 100% while validation accuracy stalls",
                   last->metric >= 0.999 && last->val_metric < 0.97,
                   "training accuracy %.2f%%, validation %.2f%% after %d epochs",
                   100 * last->metric, 100 * last->val_metric, h->n);
    rb_study_check(s, "validation loss turns back up (overfitting)",
                   last->val_loss > 1.1 * h->epochs[lowest].val_loss,
                   "validation loss lowest at epoch %d (%.4f), %.4f at epoch %d",
                   h->epochs[lowest].epoch, h->epochs[lowest].val_loss, last->val_loss, h->n);

    /* The test set, once: the best depth retrained on all 60,000 images. */
    rb_experiment *final =
        rb_study_experiment(s, (rb_experiment_config){.name = "test"}, train_mlp, NULL);
    rb_experiment_add_config(final, rb_experiment_config_at(depth, best_depth));
    rb_experiment_run(final, &all, &test);
    rb_study_say(s,
                 "Test accuracy of '%s' trained on %lld images: **%.2f%%** (above, as validation).",
                 rb_experiment_config_at(depth, best_depth)->name, (long long)rb_dataset_rows(&all),
                 100 * rb_experiment_final(final, 0));

    rb_dataset_free(&small);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&all);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
