/* Forward values of the losses (mse, mae, huber, bce, bce_logits, cce, sparse_cce, nll): small
 * cases worked by hand (the arithmetic is in the comments, logarithms from Python's math
 * module), random cases against loops over the textbook formulas, clipping and stability at
 * the extremes, and the shape and dtype errors. */
#include "opcheck.h"

/* ---- regression losses ---- */

/* pred - target = (-0.5, 0, 1, -2) for all three hand cases below */
static rb_tensor *pred4(void) { return T64(RB_SHAPE(4), 1, 2, 3, 4); }
static rb_tensor *target4(void) { return T64(RB_SHAPE(4), 1.5, 2, 2, 6); }

/* (0.25 + 0 + 1 + 4) / 4 = 1.3125 */
static void mse_is_the_mean_squared_difference(void **state)
{
    (void)state;
    rb_tensor *loss = rb_mse(pred4(), target4());
    assert_int_equal(rb_tensor_ndim(loss), 0);
    CHECK_TENSOR(loss, 0, 1.3125);
    CHECK_TENSOR(rb_mse(pred4(), pred4()), 0, 0);
}

/* (0.5 + 0 + 1 + 2) / 4 = 0.875 */
static void mae_is_the_mean_absolute_difference(void **state)
{
    (void)state;
    CHECK_TENSOR(rb_mae(pred4(), target4()), 0, 0.875);
    CHECK_TENSOR(rb_mae(target4(), pred4()), 0, 0.875);
}

/* |d| <= 1: 0.5 d^2 -> 0.125, 0, 0.5 (at |d| = delta, still quadratic); |d| = 2: 1 * (2 - 0.5)
 * = 1.5; mean (0.125 + 0 + 0.5 + 1.5) / 4 = 0.53125 */
static void huber_mixes_both_regimes(void **state)
{
    (void)state;
    CHECK_TENSOR(rb_huber(pred4(), target4(), 1), 1e-15, 0.53125);
}

/* d = (0.5, -0.2): (0.125 + 0.02) / 2 = 0.0725, equal to half the mse */
static void huber_is_quadratic_for_small_differences(void **state)
{
    (void)state;
    rb_tensor *p = T64(RB_SHAPE(2), 0.5, -0.2), *t = rb_tensor_zeros(RB_F64, RB_SHAPE(2));
    CHECK_TENSOR(rb_huber(p, t, 1), 1e-15, 0.0725);
}

/* d = (3, -2): (3 - 0.5) + (2 - 0.5) = 4, mean 2; with delta 2: 2 (3 - 1) = 4 and 0.5 * 4 = 2,
 * mean 3 */
static void huber_is_linear_for_large_differences(void **state)
{
    (void)state;
    rb_tensor *p = T32(RB_SHAPE(2), 3, -2), *t = rb_tensor_zeros(RB_F32, RB_SHAPE(2));
    CHECK_TENSOR(rb_huber(p, t, 1), 1e-6, 2);
    CHECK_TENSOR(rb_huber(p, t, 2), 1e-6, 3);
}

static void huber_refuses_a_delta_that_is_not_positive(void **state)
{
    (void)state;
    CHECK_FAILS(rb_huber(pred4(), target4(), 0), RB_ERR_ARGUMENT, "delta 0 must be > 0");
    CHECK_FAILS(rb_huber(pred4(), target4(), -1), RB_ERR_ARGUMENT, "delta -1");
}

static void regression_losses_match_loops_on_random_batches(void **state)
{
    (void)state;
    enum { B = 16, C = 5, N = B * C };
    rb_dtype dtypes[2] = {RB_F64, RB_F32};
    for (int k = 0; k < 2; k++) {
        double p[N], t[N], se = 0, ae = 0, hub = 0;
        fill_uniform(p, N, -3, 3, 700);
        fill_uniform(t, N, -3, 3, 701);
        rb_tensor *tp = tensor_of(dtypes[k], RB_SHAPE(B, C), p);
        rb_tensor *tt = tensor_of(dtypes[k], RB_SHAPE(B, C), t);
        for (int i = 0; i < N; i++) {
            double d = p[i] - t[i];
            se += d * d;
            ae += fabs(d);
            hub += fabs(d) <= 1.5 ? 0.5 * d * d : 1.5 * (fabs(d) - 0.75);
        }
        double rtol = dtypes[k] == RB_F32 ? 1e-6 : 1e-14;
        CHECK_REL(rb_mse(tp, tt), rtol, se / N);
        CHECK_REL(rb_mae(tp, tt), rtol, ae / N);
        CHECK_REL(rb_huber(tp, tt, 1.5), rtol, hub / N);
        assert_int_equal(rb_tensor_dtype(rb_mse(tp, tt)), dtypes[k]);
    }
}

/* ---- binary cross-entropy ---- */

/* -(log 0.9 + log 0.8) / 2 = 0.164252033486018 */
static void bce_worked_by_hand(void **state)
{
    (void)state;
    CHECK_REL(rb_bce(T64(RB_SHAPE(2), 0.9, 0.2), T64(RB_SHAPE(2), 1, 0)), 1e-14, 0.164252033486018);
    CHECK_REL(rb_bce(T32(RB_SHAPE(2, 1), 0.9f, 0.2f), T32(RB_SHAPE(2, 1), 1, 0)), 1e-6,
              0.164252033486018);
}

static void bce_with_soft_targets_matches_a_loop(void **state)
{
    (void)state;
    enum { N = 50 };
    double p[N], t[N], sum = 0;
    fill_uniform(p, N, 0.01, 0.99, 702);
    fill_uniform(t, N, 0, 1, 703);
    for (int i = 0; i < N; i++)
        sum -= t[i] * log(p[i]) + (1 - t[i]) * log(1 - p[i]);
    CHECK_REL(rb_bce(tensor_of(RB_F64, RB_SHAPE(N), p), tensor_of(RB_F64, RB_SHAPE(N), t)), 1e-13,
              sum / N);
}

/* p = 0 with target 1 and p = 1 with target 0 are clipped to 1e-7 from the edge:
 * -log(1e-7) = 16.11809565095832 and -log(1 - (1 - 1e-7)) = 16.118095651484676 (python, in
 * double); mean 16.1180956512215. In float32 the bounds round to 1.0000000116860974e-07 and
 * 0.9999998807907104: -log of 1e-7 and of 1 - 0.99999988 are 16.118095639272223 and
 * 15.942385152878742, mean 16.030240396075482. */
static void bce_clips_probabilities_of_zero_and_one(void **state)
{
    (void)state;
    rb_tensor *l64 = rb_bce(T64(RB_SHAPE(2), 0, 1), T64(RB_SHAPE(2), 1, 0));
    CHECK_REL(l64, 1e-9, 16.1180956512215);
    rb_tensor *l32 = rb_bce(T32(RB_SHAPE(2), 0, 1), T32(RB_SHAPE(2), 1, 0));
    assert_true(isfinite(rb_tensor_item(l32)));
    CHECK_REL(l32, 1e-6, 16.030240396075482);
    /* on the right side, the clipped loss is about eps, not exactly 0 and not NaN */
    CHECK_TENSOR(rb_bce(T64(RB_SHAPE(2), 0, 1), T64(RB_SHAPE(2), 0, 1)), 1e-6, 0);
}

/* softplus(z) - z t with softplus(z) = log1p(e^z): z = (0, 2, -1), t = (1, 0, 0.5):
 * (log 2 - 0) + (2.1269280110429727 - 0) + (0.31326168751822286 + 0.5), mean
 * 1.2111122930403804 */
static void bce_logits_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *z = T64(RB_SHAPE(3), 0, 2, -1), *t = T64(RB_SHAPE(3), 1, 0, 0.5);
    CHECK_REL(rb_bce_logits(z, t), 1e-14, 1.2111122930403804);
    CHECK_REL(rb_bce_logits(T32(RB_SHAPE(3), 0, 2, -1), T32(RB_SHAPE(3), 1, 0, 0.5f)), 1e-6,
              1.2111122930403804);
}

static void bce_logits_equals_bce_of_the_sigmoid_for_moderate_logits(void **state)
{
    (void)state;
    enum { N = 40 };
    double z[N], t[N], sum = 0;
    fill_uniform(z, N, -8, 8, 704);
    fill_uniform(t, N, 0, 1, 705);
    for (int i = 0; i < N; i++) {
        double s = 1 / (1 + exp(-z[i]));
        sum -= t[i] * log(s) + (1 - t[i]) * log(1 - s);
    }
    CHECK_REL(
        rb_bce_logits(tensor_of(RB_F64, RB_SHAPE(4, 10), z), tensor_of(RB_F64, RB_SHAPE(4, 10), t)),
        1e-12, sum / N);
}

/* Right side: log1p(e^-100) = 3.7e-44 per element, so about 0. Wrong side: 100 per element. */
static void bce_logits_is_stable_for_large_logits(void **state)
{
    (void)state;
    rb_tensor *z64 = T64(RB_SHAPE(2), 100, -100), *z32 = T32(RB_SHAPE(2), 100, -100);
    CHECK_TENSOR(rb_bce_logits(z64, T64(RB_SHAPE(2), 1, 0)), 1e-40, 0);
    CHECK_TENSOR(rb_bce_logits(z32, T32(RB_SHAPE(2), 1, 0)), 1e-40, 0);
    CHECK_REL(rb_bce_logits(z64, T64(RB_SHAPE(2), 0, 1)), 1e-14, 100);
    CHECK_REL(rb_bce_logits(z32, T32(RB_SHAPE(2), 0, 1)), 1e-6, 100);
    CHECK_REL(rb_bce_logits(T32(RB_SHAPE(1), 1000), T32(RB_SHAPE(1), 0)), 1e-6, 1000);
}

/* ---- categorical cross-entropy ---- */

/* rows pick 0.5 and 0.8: -(log 0.5 + log 0.8) / 2 = 0.4581453659370775 */
static void cce_with_one_hot_targets_worked_by_hand(void **state)
{
    (void)state;
    rb_tensor *p = T64(RB_SHAPE(2, 3), 0.2, 0.3, 0.5, 0.1, 0.8, 0.1);
    rb_tensor *t = T64(RB_SHAPE(2, 3), 0, 0, 1, 0, 1, 0);
    rb_tensor *loss = rb_cce(p, t);
    assert_int_equal(rb_tensor_ndim(loss), 0);
    CHECK_REL(loss, 1e-14, 0.4581453659370775);
}

static void cce_with_soft_targets_matches_a_loop(void **state)
{
    (void)state;
    enum { B = 6, C = 4 };
    double p[B * C], t[B * C], sum = 0;
    fill_uniform(p, B * C, 0.05, 1, 706);
    fill_uniform(t, B * C, 0, 1, 707);
    for (int b = 0; b < B; b++) { /* normalise rows of p and t to sum to 1 */
        double sp = 0, st = 0;
        for (int c = 0; c < C; c++)
            sp += p[b * C + c], st += t[b * C + c];
        for (int c = 0; c < C; c++)
            p[b * C + c] /= sp, t[b * C + c] /= st;
    }
    rb_tensor *tp = tensor_of(RB_F32, RB_SHAPE(B, C), p);
    rb_tensor *tt = tensor_of(RB_F32, RB_SHAPE(B, C), t);
    for (int i = 0; i < B * C; i++)
        sum -= t[i] * log(p[i]);
    CHECK_REL(rb_cce(tp, tt), 1e-6, sum / B); /* the sum over classes, the mean over rows */
}

/* p = 0 for the true class is clipped to 1e-7: -log(1e-7) = 16.11809565095832 */
static void cce_clips_a_zero_probability(void **state)
{
    (void)state;
    rb_tensor *p = T64(RB_SHAPE(1, 2), 0, 1), *t = T64(RB_SHAPE(1, 2), 1, 0);
    CHECK_REL(rb_cce(p, t), 1e-9, 16.11809565095832);
    assert_true(
        isfinite(rb_tensor_item(rb_cce(T32(RB_SHAPE(1, 2), 0, 1), T32(RB_SHAPE(1, 2), 1, 0)))));
}

static void sparse_cce_equals_cce_of_the_one_hot_labels(void **state)
{
    (void)state;
    rb_tensor *p = T64(RB_SHAPE(2, 3), 0.2, 0.3, 0.5, 0.1, 0.8, 0.1);
    CHECK_REL(rb_sparse_cce(p, TI64(RB_SHAPE(2), 2, 1)), 1e-14, 0.4581453659370775);
    rb_tensor *p32 = T32(RB_SHAPE(3, 2), 0.25f, 0.75f, 0.5f, 0.5f, 0.125f, 0.875f);
    /* -(log 0.25 + log 0.5 + log 0.875) / 3 = (1.3862943611198906 + 0.6931471805599453 +
     * 0.13353139262452263) / 3 */
    CHECK_REL(rb_sparse_cce(p32, TI64(RB_SHAPE(3), 0, 1, 1)), 1e-6, 0.7376576447681195);
}

static void sparse_cce_refuses_bad_labels(void **state)
{
    (void)state;
    rb_tensor *p = rb_tensor_full(RB_F32, RB_SHAPE(2, 3), 1.0 / 3);
    CHECK_FAILS(rb_sparse_cce(p, TI64(RB_SHAPE(2), 0, 3)), RB_ERR_ARGUMENT, "label 3");
    CHECK_FAILS(rb_sparse_cce(p, TI64(RB_SHAPE(3), 0, 1, 2)), RB_ERR_SHAPE, "[3]");
    CHECK_FAILS(rb_sparse_cce(p, T32(RB_SHAPE(2), 0, 1)), RB_ERR_SHAPE, "int64");
}

/* -(log 0.5 + log 0.25) / 2 = (0.6931471805599453 + 1.3862943611198906) / 2 */
static void nll_is_minus_the_mean_log_probability_of_the_label(void **state)
{
    (void)state;
    rb_tensor *logp =
        T64(RB_SHAPE(2, 3), log(0.5), log(0.3), log(0.2), log(0.25), log(0.25), log(0.5));
    CHECK_REL(rb_nll(logp, TI64(RB_SHAPE(2), 0, 1)), 1e-14, 1.0397207708399179);
    /* Not clipped: a log-probability far below log(1e-7) counts in full. */
    CHECK_REL(rb_nll(T32(RB_SHAPE(1, 2), -40, 0), TI64(RB_SHAPE(1), 0)), 1e-6, 40);
}

/* log-softmax then NLL is the fused softmax cross-entropy, on random logits. */
static void nll_of_the_log_softmax_equals_softmax_cross_entropy(void **state)
{
    (void)state;
    enum { B = 6, C = 5 };
    double z[B * C];
    rb_rng rng = rb_rng_make(9);
    for (int i = 0; i < B * C; i++)
        z[i] = 3 * rb_rng_normal(&rng);
    rb_tensor *logits = tensor_of(RB_F64, RB_SHAPE(B, C), z);
    rb_tensor *labels = TI64(RB_SHAPE(B), 0, 3, 1, 4, 2, 0);
    double fused = rb_tensor_item(rb_softmax_cross_entropy(logits, labels));
    CHECK_REL(rb_nll(rb_log_softmax(logits, 1), labels), 1e-12, fused);
}

static void nll_refuses_bad_labels(void **state)
{
    (void)state;
    rb_tensor *logp = rb_tensor_full(RB_F32, RB_SHAPE(2, 3), log(1.0 / 3));
    CHECK_FAILS(rb_nll(logp, TI64(RB_SHAPE(2), 0, 3)), RB_ERR_ARGUMENT, "label 3");
    CHECK_FAILS(rb_nll(logp, TI64(RB_SHAPE(3), 0, 1, 2)), RB_ERR_SHAPE, "rb_nll: labels");
    CHECK_FAILS(rb_nll(logp, T32(RB_SHAPE(2), 0, 1)), RB_ERR_SHAPE, "int64");
    CHECK_FAILS(rb_nll(rb_tensor_full(RB_F32, RB_SHAPE(3), -1), TI64(RB_SHAPE(3), 0, 0, 0)),
                RB_ERR_SHAPE, "(batch, classes)");
}

/* ---- shape and dtype errors ---- */

static void losses_refuse_a_column_against_a_vector(void **state)
{
    (void)state;
    /* (4, 1) against (4) would broadcast to (4, 4) and average the wrong thing */
    rb_tensor *p = rb_tensor_full(RB_F32, RB_SHAPE(4, 1), 0.5);
    rb_tensor *t = rb_tensor_full(RB_F32, RB_SHAPE(4), 0.5);
    CHECK_FAILS(rb_mse(p, t), RB_ERR_SHAPE, "prediction [4,1] and target [4] differ in shape");
    CHECK_FAILS(rb_mae(p, t), RB_ERR_SHAPE, "[4,1]");
    CHECK_FAILS(rb_huber(p, t, 1), RB_ERR_SHAPE, "[4,1]");
    CHECK_FAILS(rb_bce(p, t), RB_ERR_SHAPE, "[4,1]");
    CHECK_FAILS(rb_bce_logits(t, p), RB_ERR_SHAPE, "prediction [4] and target [4,1]");
    CHECK_FAILS(rb_cce(p, rb_tensor_full(RB_F32, RB_SHAPE(4, 2), 0.5)), RB_ERR_SHAPE, "[4,2]");
}

static void categorical_losses_need_a_batch_of_class_rows(void **state)
{
    (void)state;
    rb_tensor *v = rb_tensor_full(RB_F32, RB_SHAPE(3), 0.5);
    CHECK_FAILS(rb_cce(v, v), RB_ERR_SHAPE, "(batch, classes), got [3]");
    CHECK_FAILS(rb_sparse_cce(v, TI64(RB_SHAPE(3), 0, 0, 0)), RB_ERR_SHAPE, "(batch, classes)");
}

static void losses_refuse_mixed_dtypes(void **state)
{
    (void)state;
    rb_tensor *p = rb_tensor_full(RB_F32, RB_SHAPE(2), 0.5);
    rb_tensor *t = rb_tensor_full(RB_F64, RB_SHAPE(2), 0.5);
    CHECK_FAILS(rb_mse(p, t), RB_ERR_DTYPE, "dtypes differ");
    CHECK_FAILS(rb_bce(t, p), RB_ERR_DTYPE, "dtypes differ");
    CHECK_FAILS(rb_mae(TI64(RB_SHAPE(2), 1, 2), TI64(RB_SHAPE(2), 1, 2)), RB_ERR_DTYPE, "int64");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(mse_is_the_mean_squared_difference),
        TEST(mae_is_the_mean_absolute_difference),
        TEST(huber_mixes_both_regimes),
        TEST(huber_is_quadratic_for_small_differences),
        TEST(huber_is_linear_for_large_differences),
        TEST(huber_refuses_a_delta_that_is_not_positive),
        TEST(regression_losses_match_loops_on_random_batches),
        TEST(bce_worked_by_hand),
        TEST(bce_with_soft_targets_matches_a_loop),
        TEST(bce_clips_probabilities_of_zero_and_one),
        TEST(bce_logits_worked_by_hand),
        TEST(bce_logits_equals_bce_of_the_sigmoid_for_moderate_logits),
        TEST(bce_logits_is_stable_for_large_logits),
        TEST(cce_with_one_hot_targets_worked_by_hand),
        TEST(cce_with_soft_targets_matches_a_loop),
        TEST(cce_clips_a_zero_probability),
        TEST(sparse_cce_equals_cce_of_the_one_hot_labels),
        TEST(sparse_cce_refuses_bad_labels),
        TEST(nll_is_minus_the_mean_log_probability_of_the_label),
        TEST(nll_of_the_log_softmax_equals_softmax_cross_entropy),
        TEST(nll_refuses_bad_labels),
        TEST(losses_refuse_a_column_against_a_vector),
        TEST(categorical_losses_need_a_batch_of_class_rows),
        TEST(losses_refuse_mixed_dtypes),
    };
    return RUN_TESTS(tests, argc, argv);
}
