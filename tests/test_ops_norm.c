/* BatchNorm's fused kernels (rb_batch_norm_train, rb_batch_norm_ex) against a loop in double:
 * channel counts whose rows the kernels group (1, 3, 6, 16, 63: fewer than 64 values a row) and
 * counts they take row by row (64, 100, 300), row counts that leave a partial group, with and
 * without the ReLU epilogue; the output and the gradients of x, gamma and beta of
 * sum(y * r) for a fixed r, in float64 and float32, and the same bits at 1 and 2 threads. */
#include <math.h>

#include "opcheck.h"

typedef struct bn_case {
    int64_t rows, C;
} bn_case;

static const bn_case cases[] = {{37, 1},  {70, 3},   {131, 6},  {301, 16}, {129, 63},
                                {200, 64}, {45, 100}, {19, 300}, {5, 16}};

/* y = relu?((x - mean) / sqrt(var + eps) gamma + beta) and, for the loss sum(y * r), dx,
 * dgamma, dbeta; batch moments, biased variance. */
static void reference(const double *x, const double *gamma, const double *beta, const double *r,
                      int64_t R, int64_t C, double eps, bool relu, double *y, double *dx,
                      double *dgamma, double *dbeta)
{
    for (int64_t c = 0; c < C; c++) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < R; i++)
            mean += x[i * C + c];
        mean /= (double)R;
        for (int64_t i = 0; i < R; i++)
            var += (x[i * C + c] - mean) * (x[i * C + c] - mean);
        var /= (double)R;
        double inv = 1 / sqrt(var + eps), sum_g = 0, sum_gxhat = 0;
        for (int64_t i = 0; i < R; i++) {
            double xhat = (x[i * C + c] - mean) * inv, v = xhat * gamma[c] + beta[c];
            y[i * C + c] = relu && v <= 0 ? 0 : v;
            double g = relu && v <= 0 ? 0 : r[i * C + c]; /* dL/d(pre-activation) */
            sum_g += g;
            sum_gxhat += g * xhat;
        }
        dgamma[c] = sum_gxhat;
        dbeta[c] = sum_g;
        for (int64_t i = 0; i < R; i++) {
            double xhat = (x[i * C + c] - mean) * inv, v = xhat * gamma[c] + beta[c];
            double g = relu && v <= 0 ? 0 : r[i * C + c];
            dx[i * C + c] =
                gamma[c] * inv * (g - sum_g / (double)R - xhat * sum_gxhat / (double)R);
        }
    }
}

static void check_case(rb_dtype dtype, bn_case k, bool relu, double tol)
{
    int64_t R = k.rows, C = k.C, n = R * C;
    double *x = malloc(sizeof(double) * (size_t)n), *r = malloc(sizeof(double) * (size_t)n);
    double *y = malloc(sizeof(double) * (size_t)n), *dx = malloc(sizeof(double) * (size_t)n);
    double *gamma = malloc(sizeof(double) * (size_t)C), *beta = malloc(sizeof(double) * (size_t)C);
    double *dgamma = malloc(sizeof(double) * (size_t)C), *dbeta = malloc(sizeof(double) * (size_t)C);
    assert_non_null(x && r && y && dx && gamma && beta && dgamma && dbeta);
    fill_uniform(x, n, -2, 3, (uint64_t)(R * 1000 + C));
    fill_uniform(r, n, -1, 1, (uint64_t)(R * 1000 + C + 1));
    fill_uniform(gamma, C, 0.5, 1.5, (uint64_t)C + 2);
    fill_uniform(beta, C, -0.5, 0.5, (uint64_t)C + 3);
    rb_scope *s = rb_scope_begin();
    rb_tensor *tx = tensor_of(dtype, RB_SHAPE(R, C), x), *tr = tensor_of(dtype, RB_SHAPE(R, C), r);
    rb_tensor *tg = tensor_of(dtype, RB_SHAPE(C), gamma), *tb = tensor_of(dtype, RB_SHAPE(C), beta);
    reference(x, gamma, beta, r, R, C, 1e-3, relu, y, dx, dgamma, dbeta);
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tape_watch(tape, tx);
    rb_tape_watch(tape, tg);
    rb_tape_watch(tape, tb);
    rb_tensor *out = rb_batch_norm_train(tx, tg, tb, NULL, NULL, 0, 1e-3,
                                         relu ? RB_EPILOGUE_RELU : RB_EPILOGUE_NONE);
    rb_tensor *loss = rb_sum(rb_mul(out, tr), RB_ALL_AXES, false);
    rb_tensor *grads[3];
    assert_int_equal(rb_tape_gradient(tape, loss, 3, (rb_tensor *[]){tx, tg, tb}, grads), RB_OK);
    CHECK_VALUES(out, y, n, tol, tol);
    CHECK_VALUES(grads[0], dx, n, tol, tol);
    CHECK_VALUES(grads[1], dgamma, C, tol, tol * (double)R);
    CHECK_VALUES(grads[2], dbeta, C, tol, tol * (double)R);
    rb_tape_end(tape);
    rb_scope_end(s);
    free(x), free(r), free(y), free(dx), free(gamma), free(beta), free(dgamma), free(dbeta);
}

static void batch_norm_train_matches_a_loop_in_float64(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int relu = 0; relu < 2; relu++)
            check_case(RB_F64, cases[i], relu, 1e-11);
}

static void batch_norm_train_matches_a_loop_in_float32(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int relu = 0; relu < 2; relu++)
            check_case(RB_F32, cases[i], relu, 2e-5);
}

/* y = relu?((x - mean) inv gamma + beta) with given statistics, the evaluation path. */
static void batch_norm_with_given_statistics_matches_a_loop(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t R = cases[i].rows, C = cases[i].C, n = R * C;
        double *x = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n);
        double *st = malloc(sizeof(double) * (size_t)(4 * C));
        assert_non_null(x && y && st);
        double *gamma = st + 2 * C, *beta = st + 3 * C;
        fill_uniform(x, n, -2, 3, (uint64_t)i);
        fill_uniform(st, C, -1, 1, (uint64_t)i + 10);       /* means */
        fill_uniform(st + C, C, 0.1, 2, (uint64_t)i + 11);  /* variances */
        fill_uniform(gamma, 2 * C, 0.5, 1.5, (uint64_t)i + 12);
        rb_scope *s = rb_scope_begin();
        rb_tensor *tx = tensor_of(RB_F32, RB_SHAPE(R, C), x);
        rb_tensor *ts = tensor_of(RB_F32, RB_SHAPE(2, C), st);
        rb_tensor *tg = tensor_of(RB_F32, RB_SHAPE(C), gamma);
        rb_tensor *tb = tensor_of(RB_F32, RB_SHAPE(C), beta);
        for (int64_t j = 0; j < n; j++) {
            int64_t c = j % C;
            double v = (x[j] - st[c]) / sqrt(st[C + c] + 1e-3) * gamma[c] + beta[c];
            y[j] = v > 0 ? v : 0;
        }
        CHECK_VALUES(rb_batch_norm_ex(tx, ts, tg, tb, 1e-3, RB_EPILOGUE_RELU), y, n, 1e-5, 1e-5);
        rb_scope_end(s);
        free(x), free(y), free(st);
    }
}

/* The output and every gradient, bit for bit, at 1 and 2 threads (rows split differently). */
static void batch_norm_is_the_same_with_one_or_two_threads(void **state)
{
    (void)state;
    int saved = rb_num_threads();
    double *at[2][4]; /* values copied out: the tensors go with their tape */
    int64_t size[4];
    for (int t = 0; t < 2; t++) {
        rb_set_num_threads(t + 1);
        rb_rng rng = rb_rng_make(5);
        rb_tensor *x = rb_tensor_normal(RB_F32, RB_SHAPE(4099, 16), 1, 2, &rng);
        rb_tensor *g = rb_tensor_uniform(RB_F32, RB_SHAPE(16), 0.5, 1.5, &rng);
        rb_tensor *b = rb_tensor_uniform(RB_F32, RB_SHAPE(16), -0.5, 0.5, &rng);
        rb_tensor *r = rb_tensor_normal(RB_F32, RB_SHAPE(4099, 16), 0, 1, &rng);
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tape_watch(tape, x);
        rb_tape_watch(tape, g);
        rb_tape_watch(tape, b);
        rb_tensor *y = rb_batch_norm_train(x, g, b, NULL, NULL, 0, 1e-3, RB_EPILOGUE_RELU);
        rb_tensor *grads[3];
        assert_int_equal(rb_tape_gradient(tape, rb_sum(rb_mul(y, r), RB_ALL_AXES, false), 3,
                                          (rb_tensor *[]){x, g, b}, grads),
                         RB_OK);
        rb_tensor *outs[4] = {y, grads[0], grads[1], grads[2]};
        for (int k = 0; k < 4; k++) {
            at[t][k] = values_of(outs[k]);
            size[k] = rb_tensor_size(outs[k]);
            assert_non_null(at[t][k]);
        }
        rb_tape_end(tape);
    }
    rb_set_num_threads(saved);
    for (int k = 0; k < 4; k++) {
        assert_memory_equal(at[0][k], at[1][k], sizeof(double) * (size_t)size[k]);
        free(at[0][k]), free(at[1][k]);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(batch_norm_train_matches_a_loop_in_float64),
        TEST(batch_norm_train_matches_a_loop_in_float32),
        TEST(batch_norm_with_given_statistics_matches_a_loop),
        TEST(batch_norm_is_the_same_with_one_or_two_threads),
    };
    return RUN_TESTS(tests, argc, argv);
}
