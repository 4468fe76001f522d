/* Séance 2 - a small ResNet on Fashion-MNIST, with and without BatchNorm.
 *
 * The question, the expectation stated before running and the limits of the
 * comparison are the strings below; the program prints them.
 */
#include "../common.h"

static const char question[] =
    "what does BatchNorm bring to a small residual network, and what does its momentum\n"
    "change?";
static const char expectation[] =
    "with BatchNorm the network learns faster: several\n"
    "points of training accuracy ahead of the same network without it after 3 epochs, and ahead\n"
    "on the test set too. Pre-activation blocks (BatchNorm before the convolution) land close to\n"
    "the post-activation ones. In evaluation BatchNorm uses moving averages of the batch\n"
    "statistics; with Keras's momentum 0.99 they average over the last ~100 steps and lag behind\n"
    "weights that still change fast, so test accuracy in the first epochs is lower and jumpier\n"
    "than with PyTorch's 0.9 (~10 steps), which the other BatchNorm configurations use.";
static const char limits[] =
    "one seed per configuration, 3 epochs only (the ranking can change with longer\n"
    "training), the test set serves as validation (nothing is tuned on it), one learning rate for\n"
    "all (Adam 1e-3), which may suit one configuration better than another.";

typedef struct config {
    const char *name;
    rb_bn_placement bn;
    double momentum;
} config;

int main(void)
{
    rb_set_error_handler(exit_on_error, NULL);
    announce(question, expectation);
    rb_dataset train, test;
    load_images(true, &train, &test);
    const char *dir = results_dir("seance2/resnet");

    const config configs[] = {
        {"BatchNorm after each conv", RB_BN_AFTER_CONV, 0.9},
        {"BatchNorm before (pre-activation)", RB_BN_BEFORE_CONV, 0.9},
        {"no BatchNorm", RB_BN_NONE, 0},
        {"BatchNorm after, momentum 0.99", RB_BN_AFTER_CONV, 0.99},
    };
    enum { N = sizeof configs / sizeof configs[0], EPOCHS = 3 };
    double first_epoch[N], test_acc[N], train_acc[N], seconds[N];
    int64_t params[N];

    for (int i = 0; i < N; i++) {
        /* The builder: a 16-filter 3x3 stem (+ BatchNorm + ReLU) with 2x2 max pooling, two
         * stages of two residual blocks (16 then 32 filters, the second stage at half the
         * resolution), global average pooling, dense logits. */
        rb_model *m = rb_resnet(RB_F32, configs[i].name, (int64_t[]){28, 28, 1},
                                (rb_resnet_config){.stem_filters = 16,
                                                   .stem_pool = true,
                                                   .stages = 2,
                                                   .blocks = {2, 2},
                                                   .widths = {16, 32},
                                                   .bn = configs[i].bn,
                                                   .bn_momentum = configs[i].momentum,
                                                   .classes = 10,
                                                   .seed = 1});
        if (i == 0) rb_model_summary(m, stdout);
        params[i] = rb_model_num_params(m, false);
        rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3});
        rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &train,
                               (rb_fit_config){.epochs = EPOCHS,
                                               .batch_size = 128,
                                               .seed = 7,
                                               .metric = RB_METRIC_ACCURACY,
                                               .validation = &test,
                                               .label = configs[i].name});
        char csv[320];
        snprintf(csv, sizeof csv, "%s/history_%d.csv", dir, i);
        rb_history_write_csv(h, csv);
        first_epoch[i] = h->epochs[0].val_metric;
        test_acc[i] = rb_history_last(h)->val_metric;
        train_acc[i] = rb_history_last(h)->metric;
        seconds[i] = 0;
        for (int e = 0; e < h->n; e++)
            seconds[i] += h->epochs[e].seconds;
        rb_history_free(h);
        rb_optimizer_free(opt);
        rb_model_free(m);
    }

    printf("\n%-36s %8s %12s %10s %10s %8s\n", "configuration", "params", "test, ep. 1",
           "train acc", "test acc", "seconds");
    for (int i = 0; i < N; i++)
        printf("%-36s %8lld %11.2f%% %9.2f%% %9.2f%% %8.1f\n", configs[i].name,
               (long long)params[i], 100 * first_epoch[i], 100 * train_acc[i], 100 * test_acc[i],
               seconds[i]);
    printf("\nexpected: BatchNorm ahead in training accuracy: %s (%+.2f points); on the test set: "
           "%s (%+.2f)\n",
           train_acc[0] > train_acc[2] ? "yes" : "no", 100 * (train_acc[0] - train_acc[2]),
           test_acc[0] > test_acc[2] ? "yes" : "no", 100 * (test_acc[0] - test_acc[2]));
    printf("expected: momentum 0.99 behind 0.9 on the test set after epoch 1: %s (%+.2f points)\n",
           first_epoch[3] < first_epoch[0] ? "yes" : "no", 100 * (first_epoch[3] - first_epoch[0]));
    printf("per-epoch histories: %s/history_*.csv\n", dir);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    printf("\nlimits: %s\n", limits);
    return 0;
}
