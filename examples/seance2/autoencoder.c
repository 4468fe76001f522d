/* Séance 2 - a convolutional autoencoder on MNIST digits.
 *
 * The encoder halves the resolution twice with strided convolutions (28x28x1 -> 7x7x8, 392
 * numbers: half the pixels); the decoder doubles it back with transposed convolutions. The
 * network learns to reproduce its input through that bottleneck. Pixels are intensities in
 * [0, 1], so the loss is the binary cross-entropy of the output logits against them (a sigmoid
 * output with a squared error saturates: once the sigmoid is near 0 its gradient vanishes and
 * training stalls on black images).
 * The question, the expectation stated before running and the limits of the
 * comparison are the strings below; the program prints them.
 *
 * Output: results/seance2/autoencoder/reconstructions.png (originals on the odd rows,
 * reconstructions below each of them).
 */
#include "../common.h"

static const char question[] =
    "can a network squeeze a digit into 392 numbers and rebuild it from them?";
static const char expectation[] =
    "after 3 epochs the reconstructions are recognisable\n"
    "digits, slightly blurred; the test error is several times lower than that of the best\n"
    "constant guess (the mean image).";
static const char limits[] =
    "3 epochs, one seed; a pixelwise loss favours blur over sharp but shifted strokes.";

int main(void)
{
    rb_set_error_handler(exit_on_error, NULL);
    announce(question, expectation);
    rb_dataset train, test;
    load_images(false, &train, &test);
    const char *dir = results_dir("seance2/autoencoder");

    rb_model *m = rb_model_new(RB_F32, "autoencoder", RB_SHAPE(28, 28, 1));
    rb_model_seed(m, 1);
    rb_window2d down = {.stride = {2, 2}, .padding = RB_PAD_SAME};
    rb_model_add(m, RB_CONV2D(.units = 16, .kernel = {3, 3}, .window = down,
                              .activation = RB_ACT_RELU)); /* 14x14x16 */
    rb_model_add(m, RB_CONV2D(.units = 32, .kernel = {3, 3}, .window = down,
                              .activation = RB_ACT_RELU)); /* 7x7x32 */
    rb_model_add(m, RB_CONV2D(.units = 8, .kernel = {3, 3},
                              .window = {.padding = RB_PAD_SAME})); /* 7x7x8: the code */
    rb_model_add(m, RB_CONV2D_TRANSPOSE(.units = 32, .kernel = {3, 3}, .window = down,
                                        .activation = RB_ACT_RELU)); /* 14x14x32 */
    rb_model_add(m, RB_CONV2D_TRANSPOSE(.units = 16, .kernel = {3, 3}, .window = down,
                                        .activation = RB_ACT_RELU)); /* 28x28x16 */
    rb_model_add(m, RB_CONV2D(.units = 1, .kernel = {3, 3},
                              .window = {.padding = RB_PAD_SAME})); /* 28x28x1 logits */
    rb_model_summary(m, stdout);

    /* Inputs are their own targets. */
    rb_dataset train_ae = {.x = train.x, .y = train.x}, test_ae = {.x = test.x, .y = test.x};
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3});
    rb_trainable t = rb_trainable_of_model(m);
    rb_history *h = rb_fit(t, opt, &train_ae,
                           (rb_fit_config){.epochs = 3,
                                           .batch_size = 128,
                                           .seed = 7,
                                           .loss = RB_LOSS_BCE_LOGITS,
                                           .validation = &test_ae,
                                           .label = "autoencoder"});
    char path[320];
    snprintf(path, sizeof path, "%s/history.csv", dir);
    rb_history_write_csv(h, path);

    /* Reconstruction error of the test set against the best constant guess (every pixel at
     * its training mean). */
    rb_scope *scope = rb_scope_begin();
    rb_tensor *test_rebuilt = rb_sigmoid(rb_predict(t, test.x, 500));
    double test_mse = rb_tensor_item(rb_mse(test_rebuilt, test.x));
    rb_tensor *mean_image = rb_mean(train.x, RB_AXES(0), true);
    double baseline =
        rb_tensor_item(rb_mean(rb_square(rb_sub(test.x, mean_image)), RB_ALL_AXES, false));

    /* 16 test digits, each above its reconstruction. */
    enum { SHOWN = 16 };
    rb_tensor *originals =
        rb_slice(test.x, (int64_t[]){0, 0, 0, 0}, (int64_t[]){SHOWN, 28, 28, 1}, NULL);
    rb_tensor *rebuilt =
        rb_slice(test_rebuilt, (int64_t[]){0, 0, 0, 0}, (int64_t[]){SHOWN, 28, 28, 1}, NULL);
    rb_tensor *rows[4] = {
        rb_slice(originals, (int64_t[]){0, 0, 0, 0}, (int64_t[]){8, 28, 28, 1}, NULL),
        rb_slice(rebuilt, (int64_t[]){0, 0, 0, 0}, (int64_t[]){8, 28, 28, 1}, NULL),
        rb_slice(originals, (int64_t[]){8, 0, 0, 0}, (int64_t[]){16, 28, 28, 1}, NULL),
        rb_slice(rebuilt, (int64_t[]){8, 0, 0, 0}, (int64_t[]){16, 28, 28, 1}, NULL)};
    snprintf(path, sizeof path, "%s/reconstructions.png", dir);
    rb_image_grid_png(path, rb_concat(4, rows, 0), 8, 2);
    rb_scope_end(scope);

    printf("\n%-34s %10s\n", "", "test MSE");
    printf("%-34s %10.5f\n", "mean image (constant guess)", baseline);
    printf("%-34s %10.5f\n", "autoencoder, 7x7x8 code", test_mse);
    printf("\nexpected: several times below the constant guess: %s (%.1fx lower)\n",
           test_mse * 3 < baseline ? "yes" : "no", baseline / test_mse);
    printf("pictures: %s (originals above their reconstructions)\n", path);
    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_model_free(m);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    printf("\nlimits: %s\n", limits);
    return 0;
}
