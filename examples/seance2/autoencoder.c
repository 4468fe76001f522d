/* Séance 2 - a convolutional autoencoder on MNIST digits.
 *
 * The encoder halves the resolution twice with strided convolutions (28x28x1 -> 7x7xC, the
 * code: 49 C numbers); the decoder doubles it back with transposed convolutions. The network
 * learns to reproduce its input through that bottleneck. Pixels are intensities in [0, 1], so
 * the loss is the binary cross-entropy of the output logits against them (a sigmoid output
 * with a squared error saturates: once the sigmoid is near 0 its gradient vanishes and
 * training stalls on black images).
 *
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/seance2/autoencoder/report.html, with test
 * digits above their reconstructions. --help lists the flags (--codes, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "can a network squeeze a digit into a few hundred numbers and rebuild it from them, and how\n"
    "does the size of the code matter?";
static const char expectation[] =
    " 1. After 3 epochs the reconstructions from a 7x7x8 code (392 numbers, half the pixels) are\n"
    "    recognisable digits, slightly blurred: a classifier trained on the original digits\n"
    "    reads them almost as well as the originals (within 2 points).\n"
    " 2. Their error is several times (at least 3 times) lower than that of the best constant\n"
    "    guess, the mean image.\n"
    " 3. A smaller code (7x7x2, 98 numbers) rebuilds less well: a higher validation loss.";
static const char limits[] =
    "3 epochs and one seed unless --seeds says more; the losses of two runs differ by far less\n"
    "than the gap between code sizes. A pixelwise loss favours blur over sharp but shifted\n"
    "strokes, and the reading test uses one small dense classifier (2 epochs), not a person.\n"
    "Validation on 10,000 training images held out; the table's errors are on the test set.";

/* 28x28x1 -> 14x14x16 -> 7x7x32 -> 7x7xC (the code) -> 14x14x32 -> 28x28x16 -> 28x28x1 logits */
static rb_model *autoencoder(uint64_t seed, int code)
{
    rb_model *m = rb_model_new(RB_F32, "autoencoder", RB_SHAPE(28, 28, 1));
    rb_model_seed(m, seed);
    rb_window2d down = {.stride = {2, 2}, .padding = RB_PAD_SAME}, same = {.padding = RB_PAD_SAME};
    rb_model_add(
        m, RB_CONV2D(.units = 16, .kernel = {3, 3}, .window = down, .activation = RB_ACT_RELU));
    rb_model_add(
        m, RB_CONV2D(.units = 32, .kernel = {3, 3}, .window = down, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_CONV2D(.units = code, .kernel = {3, 3}, .window = same));
    rb_model_add(m, RB_CONV2D_TRANSPOSE(.units = 32, .kernel = {3, 3}, .window = down,
                                        .activation = RB_ACT_RELU));
    rb_model_add(m, RB_CONV2D_TRANSPOSE(.units = 16, .kernel = {3, 3}, .window = down,
                                        .activation = RB_ACT_RELU));
    rb_model_add(m, RB_CONV2D(.units = 1, .kernel = {3, 3}, .window = same));
    return m;
}

static rb_history *train_autoencoder(const rb_run *run)
{
    rb_model *m = autoencoder(run->seed, (int)rb_config_get(run->config, "code channels", 8));
    /* Inputs are their own targets. */
    rb_dataset train = {.x = run->train->x, .y = run->train->x},
               validation = {.x = run->validation->x, .y = run->validation->x};
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &train,
                           (rb_fit_config){.epochs = run->epochs,
                                           .batch_size = 128,
                                           .seed = run->seed,
                                           .progress = run->progress,
                                           .loss = RB_LOSS_BCE_LOGITS,
                                           .validation = &validation});
    keep_first_seed(run->user_data, run, m);
    rb_optimizer_free(opt);
    return h;
}

/* The best constant guess, each pixel at its training mean (clipped away from 0 and 1): its
 * binary cross-entropy and squared error on images x. */
static void mean_image_errors(const rb_tensor *train_x, const rb_tensor *x, double *bce,
                              double *mse)
{
    const int64_t pixels = 28 * 28, n = rb_tensor_dim(train_x, 0), m = rb_tensor_dim(x, 0);
    const float *t = rb_tensor_f32(train_x), *v = rb_tensor_f32(x);
    double mean[28 * 28] = {0}, b = 0, s = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < pixels; p++)
            mean[p] += t[i * pixels + p] / (double)n;
    for (int64_t i = 0; i < m; i++)
        for (int64_t p = 0; p < pixels; p++) {
            double q = fmin(fmax(mean[p], 1e-6), 1 - 1e-6), y = v[i * pixels + p];
            b -= y * log(q) + (1 - y) * log(1 - q);
            s += (y - q) * (y - q);
        }
    *bce = b / (double)(m * pixels);
    *mse = s / (double)(m * pixels);
}

/* A small dense classifier trained on the original digits: the reader of reconstructions. */
static rb_model *reader(const rb_dataset *train, uint64_t seed, int epochs)
{
    rb_model *m = rb_model_new(RB_F32, "reader", RB_SHAPE(28, 28, 1));
    rb_model_seed(m, seed);
    rb_model_add(m, RB_FLATTEN);
    rb_model_add(m, RB_DENSE(.units = 128, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_DENSE(.units = 10));
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3});
    rb_history_free(rb_fit(rb_trainable_of_model(m), opt, train,
                           (rb_fit_config){.epochs = epochs,
                                           .batch_size = 128,
                                           .seed = seed,
                                           .quiet = true,
                                           .metric = RB_METRIC_ACCURACY}));
    rb_optimizer_free(opt);
    return m;
}

static double accuracy_on(rb_model *m, rb_tensor *x, rb_tensor *labels)
{
    double loss, acc;
    rb_evaluate(rb_trainable_of_model(m), &(rb_dataset){.x = x, .y = labels},
                RB_LOSS_SOFTMAX_CROSS_ENTROPY, RB_METRIC_ACCURACY, 0, &loss, &acc);
    return acc;
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "seance2",
                                               .name = "autoencoder",
                                               .title = "A convolutional autoencoder",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 3});
    double codes[4];
    int n_codes = rb_study_list(s, "codes", "8,2", codes, 4,
                                "channels of the 7x7 code (the first is the main one)");
    rb_study_start(s);

    rb_dataset train, validation, test;
    load_image_split(s, false, 1200, &train, &validation, &test); /* --quick: 1,200 images */
    const int c = (int)codes[0];
    rb_model *m = autoencoder(1, c);
    char label[64];
    snprintf(label, sizeof label, "autoencoder, 7x7xc code (c = %d)", c);
    rb_study_model(s, label, m,
                   RB_BY_HAND((3 * 3 * 1 * 16 + 16) + (3 * 3 * 16 * 32 + 32) +
                              (3 * 3 * 32 * c + c) + (3 * 3 * c * 32 + 32) +
                              (3 * 3 * 32 * 16 + 16) + (3 * 3 * 16 * 1 + 1)));
    rb_model_free(m);

    kept_models kept = {{NULL}};
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "codes", .metric = "cross-entropy"},
                            train_autoencoder, &kept);
    char name[64];
    for (int i = 0; i < n_codes; i++) {
        snprintf(name, sizeof name, "7x7x%g code (%g numbers)", codes[i], 49 * codes[i]);
        rb_experiment_add(e, name, 1, (const char *[]){"code channels"}, &codes[i]);
    }
    double base_bce, base_mse, test_bce, test_mse;
    mean_image_errors(train.x, validation.x, &base_bce, &base_mse);
    rb_experiment_add_baseline(e, "mean image", base_bce);
    rb_experiment_run(e, &train, &validation);

    /* On the test set: errors, and how well a classifier of the originals reads each code's
     * reconstructions. */
    mean_image_errors(train.x, test.x, &test_bce, &test_mse);
    rb_model *r = reader(&train, 1, rb_study_quick(s) ? 1 : 2);
    double read_originals = accuracy_on(r, test.x, test.y);
    rb_table *t = rb_study_table(
        s, "Test set: reconstruction errors and a classifier of the original digits reading them",
        "images|numbers kept|cross-entropy|squared error|times lower than the mean image|read "
        "correctly");
    rb_table_row(t, "originals|784| | | |%.2f%%", 100 * read_originals);
    rb_table_row(t, "mean image (constant guess)|0|%.4f|%.5f|1| ", test_bce, test_mse);
    enum { SHOWN = 16 };
    rb_scope *scope = rb_scope_begin();
    rb_tensor *shown[9] = {
        rb_slice(test.x, (int64_t[]){0, 0, 0, 0}, (int64_t[]){SHOWN, 28, 28, 1}, NULL)};
    double mse[8], read[8];
    for (int i = 0; i < n_codes; i++) {
        rb_tensor *rebuilt =
            rb_sigmoid(rb_predict(rb_trainable_of_model(kept.model[i]), test.x, 500));
        double bce = 0;
        rb_evaluate(rb_trainable_of_model(kept.model[i]), &(rb_dataset){.x = test.x, .y = test.x},
                    RB_LOSS_BCE_LOGITS, RB_METRIC_NONE, 500, &bce, NULL);
        mse[i] = rb_tensor_item(rb_mse(rebuilt, test.x));
        read[i] = accuracy_on(r, rebuilt, test.y);
        rb_table_row(t, "reconstructions, %s|%g|%.4f|%.5f|%.1f|%.2f%%",
                     rb_experiment_config_at(e, i)->name, 49 * codes[i], bce, mse[i],
                     test_mse / mse[i], 100 * read[i]);
        shown[i + 1] =
            rb_slice(rebuilt, (int64_t[]){0, 0, 0, 0}, (int64_t[]){SHOWN, 28, 28, 1}, NULL);
    }

    /* 16 test digits in two groups of 8 columns: the originals, then each code's rebuild. */
    rb_tensor *rows[18];
    const char *labels[9] = {"original"};
    char label_text[8][48];
    for (int i = 0; i < n_codes; i++) {
        snprintf(label_text[i], sizeof label_text[i], "reconstruction, %g numbers", 49 * codes[i]);
        labels[i + 1] = label_text[i];
    }
    int n_rows = 0;
    for (int half = 0; half < 2; half++)
        for (int k = 0; k <= n_codes; k++)
            rows[n_rows++] = rb_slice(shown[k], (int64_t[]){8 * half, 0, 0, 0},
                                      (int64_t[]){8 * half + 8, 28, 28, 1}, NULL);
    rb_study_images(s, "reconstructions", rb_concat(n_rows, rows, 0),
                    (rb_image_grid){.columns = 8,
                                    .title = "Test digits and their reconstructions",
                                    .row_labels = labels,
                                    .n_row_labels = n_codes + 1});
    rb_scope_end(scope);

    rb_study_check(s, "the 392-number code's reconstructions read almost as well as the originals",
                   read[0] >= read_originals - 0.02,
                   "the classifier reads %.2f%% of the reconstructions, %.2f%% of the originals",
                   100 * read[0], 100 * read_originals);
    rb_study_check(s, "their error at least 3 times lower than the mean image's",
                   3 * mse[0] <= test_mse, "squared error %.5f against %.5f: %.1f times lower",
                   mse[0], test_mse, test_mse / mse[0]);
    for (int i = 1; i < n_codes; i++)
        if (codes[i] < codes[0])
            rb_study_expect(s, "a smaller code rebuilds less well: a higher validation loss",
                            rb_experiment_config_at(e, i)->name,
                            rb_experiment_measure(e, i, RB_FINAL_SCORE), RB_HIGHER,
                            rb_experiment_config_at(e, 0)->name,
                            rb_experiment_measure(e, 0, RB_FINAL_SCORE));

    rb_model_free(r);
    kept_models_free(&kept);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&test);
    return rb_study_finish(s);
}
