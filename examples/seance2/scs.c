/* Séance 2 - sharpened cosine similarity (SCS) against its convolutional twin.
 *
 * SCS (Pisoni 2020, Rohrer 2022) replaces the dot product of a convolution by a cosine
 * similarity between the patch and the kernel, raised to a learnable power p and protected by a
 * learnable floor q:  sign(s.x) * (|s.x| / ((|s| + q)(|x| + q)))^p.  It needs no activation
 * function and no normalisation, and pairs with max-abs pooling (the signed value of largest
 * magnitude), since strong negative similarities carry as much information as positive ones.
 *
 * The question, the expectation stated before running and the limits of the
 * comparison are the strings below; the program prints them.
 */
#include "../common.h"

static const char question[] =
    "how does a small SCS network compare with a convolutional network of the same\n"
    "shape but several times more parameters?";
static const char expectation[] =
    "the SCS network, with about a fifth of the\n"
    "parameters, comes within two or three points of the convolutional twin on Fashion-MNIST\n"
    "(both around 88-90% after 5 epochs).";
static const char limits[] =
    "one seed each, 5 epochs, widths chosen by hand, not tuned; the test set serves as\n"
    "validation. SCS is slower per parameter than a convolution (norms of every patch).";

/* Three blocks: layer 5x5 (or 3x3 last) "same", pooling 2x2; then dense logits. */
static rb_model *network(bool scs, const int widths[3])
{
    rb_model *m = rb_model_new(RB_F32, scs ? "scs" : "conv twin", RB_SHAPE(28, 28, 1));
    rb_model_seed(m, 1);
    const int kernels[3] = {5, 5, 3};
    for (int b = 0; b < 3; b++) {
        rb_window2d same = {.padding = RB_PAD_SAME};
        int k = kernels[b];
        if (scs) {
            rb_model_add(m, RB_SCS2D(.units = widths[b], .kernel = {k, k}, .window = same));
            rb_model_add(m, RB_MAX_ABS_POOL2D(.kernel = {2, 2}));
        } else {
            rb_model_add(m, RB_CONV2D(.units = widths[b], .kernel = {k, k}, .window = same,
                                      .activation = RB_ACT_RELU));
            rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        }
    }
    rb_model_add(m, RB_FLATTEN);
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

int main(void)
{
    rb_set_error_handler(exit_on_error, NULL);
    announce(question, expectation);
    rb_dataset train, test;
    load_images(true, &train, &test);
    const char *dir = results_dir("seance2/scs");

    const char *names[2] = {"convolutional twin (ReLU, max pool)", "SCS (max-abs pool)"};
    const int widths[2][3] = {{24, 48, 64}, {8, 16, 32}};
    double test_acc[2], train_acc[2], seconds[2];
    int64_t params[2];
    for (int i = 0; i < 2; i++) {
        rb_model *m = network(i == 1, widths[i]);
        rb_model_summary(m, stdout);
        params[i] = rb_model_num_params(m, true);
        rb_optimizer *opt =
            rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = i ? 1e-2 : 1e-3});
        rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &train,
                               (rb_fit_config){.epochs = 5,
                                               .batch_size = 128,
                                               .seed = 7,
                                               .metric = RB_METRIC_ACCURACY,
                                               .validation = &test,
                                               .label = names[i]});
        char csv[320];
        snprintf(csv, sizeof csv, "%s/history_%s.csv", dir, i ? "scs" : "conv");
        rb_history_write_csv(h, csv);
        test_acc[i] = rb_history_last(h)->val_metric;
        train_acc[i] = rb_history_last(h)->metric;
        seconds[i] = 0;
        for (int e = 0; e < h->n; e++)
            seconds[i] += h->epochs[e].seconds;
        rb_history_free(h);
        rb_optimizer_free(opt);
        rb_model_free(m);
    }

    printf("\n%-38s %8s %10s %10s %8s\n", "network", "params", "train acc", "test acc", "seconds");
    for (int i = 0; i < 2; i++)
        printf("%-38s %8lld %9.2f%% %9.2f%% %8.1f\n", names[i], (long long)params[i],
               100 * train_acc[i], 100 * test_acc[i], seconds[i]);
    printf("\nparameter ratio conv/SCS: %.1f; accuracy gap: %.2f points\n",
           (double)params[0] / (double)params[1], 100 * (test_acc[0] - test_acc[1]));
    printf("expected: SCS within 3 points with far fewer parameters: %s\n",
           test_acc[0] - test_acc[1] <= 0.03 ? "yes" : "no");
    printf("per-epoch histories: %s/history_*.csv\n", dir);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    printf("\nlimits: %s\n", limits);
    return 0;
}
