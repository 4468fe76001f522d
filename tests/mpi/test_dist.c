/* Data-parallel training over MPI, run by mpirun with 2 ranks (meson test --suite mpi): the
 * job, sums, broadcasts, sharding, gradient averaging, equivalence with one process (to
 * float tolerance, and bit for bit in deterministic mode), rank-0-only output, checkpoints
 * and synchronised BatchNorm. Rank 0 speaks TAP; the others' reports go to stderr. */
#include <stdlib.h>
#include <unistd.h>

#include "../testutil.h"

static rb_dist *job;

/* Whether bytes are the same on every rank (every rank gets the same answer). */
static bool same_everywhere(const void *data, size_t bytes)
{
    char *ref = malloc(bytes ? bytes : 1);
    memcpy(ref, data, bytes);
    rb_dist_broadcast(job, ref, (int64_t)bytes, 0);
    double differs = memcmp(ref, data, bytes) != 0;
    free(ref);
    rb_dist_sum(job, &differs, 1);
    return differs == 0;
}

/* Blobs: n rows of 4 features around one of 3 centres, labels int64 (the same everywhere). */
static rb_dataset blobs(int64_t n, uint64_t seed)
{
    rb_dataset d = {rb_tensor_empty(RB_F32, RB_SHAPE(n, 4)), rb_tensor_empty(RB_I64, RB_SHAPE(n)),
                    NULL};
    rb_rng rng = rb_rng_make(seed);
    float *x = rb_tensor_f32(d.x);
    int64_t *y = rb_tensor_i64(d.y);
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int64_t)(rb_rng_uniform(&rng) * 3) % 3;
        for (int j = 0; j < 4; j++)
            x[i * 4 + j] = (float)((j == y[i] ? 2.0 : 0.0) + rb_rng_normal(&rng));
    }
    return d;
}

static rb_model *mlp(uint64_t seed, int64_t hidden, bool batch_norm)
{
    rb_model *m = rb_model_new(RB_F32, "mlp", RB_SHAPE(4));
    rb_model_seed(m, seed);
    rb_model_add(m,
                 RB_DENSE(.units = hidden, .activation = batch_norm ? RB_ACT_NONE : RB_ACT_TANH));
    if (batch_norm)
        rb_model_add(m, (rb_layer_spec){.kind = RB_LAYER_BATCH_NORM,
                                        .momentum = 0.9,
                                        .activation = RB_ACT_RELU});
    rb_model_add(m, RB_DENSE(.units = 3));
    return m;
}

static float *values_of(rb_model *m)
{
    return rb_tensor_f32(rb_params_flat_values(rb_model_params(m)));
}
static int64_t count_of(rb_model *m)
{
    return rb_tensor_size(rb_params_flat_values(rb_model_params(m)));
}

/* Gradient of the mean loss over rows [lo, hi) of d into the store. */
static void gradient_of_rows(rb_model *m, const rb_dataset *d, int64_t lo, int64_t hi)
{
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)(hi - lo));
    for (int64_t i = lo; i < hi; i++)
        rows[i - lo] = i;
    rb_dataset part;
    CHECK_STATUS_OK(rb_dataset_take(d, rows, hi - lo, &part));
    free(rows);
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *loss = rb_softmax_cross_entropy(rb_model_forward(m, part.x), part.y);
    CHECK_STATUS_OK(rb_tape_gradient_params(tape, loss, rb_model_params(m)));
    rb_tape_end(tape);
    rb_dataset_free(&part);
}

static void job_knows_ranks_and_machine(void **state)
{
    (void)state;
    assert_int_equal(rb_dist_size(job), 2);
    assert_int_equal(rb_dist_local_size(job), 2);
    assert_int_equal(rb_dist_local_rank(job), rb_dist_rank(job));
    assert_true(rb_dist_is_root(job) == (rb_dist_rank(job) == 0));
    assert_int_equal(rb_num_threads(), 1); /* two ranks share this machine's cores */
    assert_true(rb_dist_available());
}

static void sums_are_in_rank_order_and_the_same_everywhere(void **state)
{
    (void)state;
    int r = rb_dist_rank(job);
    double v[3] = {0.1 * (r + 1), r == 0 ? 1e16 : 1.0, r == 0 ? 1.0 : 1e16};
    CHECK_STATUS_OK(rb_dist_sum(job, v, 3));
    assert_true(v[0] == 0.1 + 0.2);
    assert_true(v[1] == 1e16 + 1.0 && v[2] == 1.0 + 1e16);
    assert_true(same_everywhere(v, sizeof v));
    CHECK_STATUS_OK(rb_dist_barrier(job));
}

static void broadcast_gives_rank_0s_weights_and_optimizer_state(void **state)
{
    (void)state;
    int r = rb_dist_rank(job);
    rb_model *m = mlp(100 + (uint64_t)r, 8, false);
    rb_params *p = rb_model_params(m);
    rb_optimizer *opt = rb_adam_new(p, (rb_adam_config){.lr = 0.01 * (r + 1)});
    rb_tensor *g = rb_params_flat_grads(p);
    for (int64_t i = 0; i < rb_tensor_size(g); i++)
        rb_tensor_f32(g)[i] = (float)(r + 1) * 0.01f * (float)(i % 7);
    CHECK_STATUS_OK(rb_optimizer_step(opt));
    if (r == 1) CHECK_STATUS_OK(rb_optimizer_step(opt));
    assert_false(same_everywhere(values_of(m), sizeof(float) * (size_t)count_of(m)));
    CHECK_STATUS_OK(rb_dist_broadcast_params(job, p, opt));
    assert_true(same_everywhere(values_of(m), sizeof(float) * (size_t)count_of(m)));
    rb_tensor *mom = rb_params_state(p, "adam.m");
    assert_true(same_everywhere(rb_tensor_data(mom), sizeof(float) * (size_t)rb_tensor_size(mom)));
    assert_int_equal(rb_optimizer_steps(opt), 1);
    CHECK_CLOSE(rb_optimizer_lr(opt), 0.01, 0);
    rb_optimizer_free(opt);
    rb_model_free(m);
}

static void different_models_are_refused_on_every_rank_naming_the_rank(void **state)
{
    (void)state;
    int r = rb_dist_rank(job);
    rb_model *m = mlp(1, r == 1 ? 12 : 8, false);
    CHECK_FAILS(rb_dist_broadcast_params(job, rb_model_params(m), NULL), RB_ERR_SHAPE,
                "rank 1's model differs from rank 0's");
    rb_error_clear();
    rb_status st = rb_dist_broadcast_params(job, rb_model_params(m), NULL);
    assert_true(
        strstr(
            rb_last_error(),
            "'dense.kernel' float32 [4,12] trainable vs 'dense.kernel' float32 [4,8] trainable") !=
        NULL);
    assert_int_equal(st, RB_ERR_SHAPE);
    rb_error_clear();
    rb_model_free(m);
    /* A layer more on one rank: the counts differ. */
    m = mlp(1, 8, r == 0);
    CHECK_FAILS(rb_dist_broadcast_params(job, rb_model_params(m), NULL), RB_ERR_SHAPE,
                "rank 1's model differs from rank 0's: 4 variables");
    rb_model_free(m);
}

/* Every row of an epoch once over the ranks, each batch the union of the ranks' slices of the
 * single-process batch. */
static void check_shards(int64_t n, int64_t batch, int64_t covered)
{
    rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(n, 1));
    rb_tensor *y = rb_tensor_empty(RB_I64, RB_SHAPE(n));
    for (int64_t i = 0; i < n; i++)
        rb_tensor_i64(y)[i] = i;
    rb_batcher *mine = rb_batcher_new(x, y, batch, true, 5),
               *whole = rb_batcher_new(x, y, batch, true, 5);
    CHECK_STATUS_OK(rb_batcher_shard(mine, rb_dist_rank(job), 2));
    assert_int_equal(rb_batcher_num_batches(mine), (covered + batch - 1) / batch);
    double *seen = calloc((size_t)n, sizeof *seen);
    for (int epoch = 0; epoch < 2; epoch++) {
        memset(seen, 0, sizeof *seen * (size_t)n);
        rb_tensor *xb, *yb, *xw, *yw;
        int64_t batches = 0;
        while (rb_batcher_next(mine, &xb, &yb)) {
            assert_true(rb_batcher_next(whole, &xw, &yw));
            assert_int_equal(rb_batcher_batch_rows(mine), rb_tensor_dim(yw, 0));
            int64_t m = rb_tensor_dim(yw, 0), lo = m * rb_dist_rank(job) / 2;
            assert_int_equal(rb_tensor_dim(yb, 0), m * (rb_dist_rank(job) + 1) / 2 - lo);
            for (int64_t i = 0; i < rb_tensor_dim(yb, 0); i++) {
                assert_int_equal(rb_tensor_i64(yb)[i], rb_tensor_i64(yw)[lo + i]);
                seen[rb_tensor_i64(yb)[i]] += 1;
            }
            batches++;
        }
        if (covered < n) assert_true(rb_batcher_next(whole, &xw, &yw)); /* the skipped one */
        assert_false(rb_batcher_next(whole, &xw, &yw));
        assert_int_equal(batches, rb_batcher_num_batches(mine));
        CHECK_STATUS_OK(rb_dist_sum(job, seen, (int)n));
        int64_t once = 0;
        for (int64_t i = 0; i < n; i++) {
            assert_true(seen[i] <= 1);
            once += seen[i] == 1;
        }
        assert_int_equal(once, covered);
    }
    free(seen);
    rb_batcher_free(mine);
    rb_batcher_free(whole);
    rb_tensor_free(x);
    rb_tensor_free(y);
}

static void shards_are_disjoint_and_cover_each_epoch(void **state)
{
    (void)state;
    check_shards(103, 10, 103); /* last batch of 3 rows: split 1 + 2 */
    check_shards(101, 10, 100); /* last batch of 1 row: skipped on both ranks */
}

static void averaged_gradients_are_the_global_batch_gradient(void **state)
{
    (void)state;
    int r = rb_dist_rank(job);
    rb_dataset d = blobs(63, 3); /* uneven slices: 31 and 32 rows */
    rb_model *m = mlp(7, 16, false), *one = mlp(7, 16, false);
    int64_t lo = 63 * r / 2, hi = 63 * (r + 1) / 2;
    gradient_of_rows(m, &d, lo, hi);
    CHECK_STATUS_OK(rb_dist_average_gradients(job, rb_model_params(m), (double)(hi - lo) / 63));
    gradient_of_rows(one, &d, 0, 63);
    rb_tensor *g = rb_params_flat_grads(rb_model_params(m));
    rb_tensor *want = rb_params_flat_grads(rb_model_params(one));
    for (int64_t i = 0; i < rb_tensor_size(g); i++)
        CHECK_CLOSE(rb_tensor_f32(g)[i], rb_tensor_f32(want)[i], 1e-6);
    assert_true(same_everywhere(rb_tensor_data(g), sizeof(float) * (size_t)rb_tensor_size(g)));
    rb_model_free(m);
    rb_model_free(one);
    rb_dataset_free(&d);
}

/* Deterministic mode: SGD steps equal, bit for bit, one process that adds the ranks' weighted
 * slice gradients in rank order. Small buckets: several per step. */
static void deterministic_mode_is_bit_identical_to_rank_order_sums(void **state)
{
    (void)state;
    rb_dist *det =
        rb_dist_init(NULL, NULL, (rb_dist_config){.deterministic = true, .bucket_bytes = 256});
    CHECK_OK(det);
    int r = rb_dist_rank(det);
    rb_dataset d = blobs(61, 4);
    rb_model *m = mlp(9, 16, false), *one = mlp(9, 16, false);
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1, .momentum = 0.9});
    rb_optimizer *opt1 =
        rb_sgd_new(rb_model_params(one), (rb_sgd_config){.lr = 0.1, .momentum = 0.9});
    rb_tensor *g1 = rb_params_flat_grads(rb_model_params(one));
    int64_t n = rb_tensor_size(g1);
    float *acc = malloc(sizeof(float) * (size_t)n);
    for (int step = 0; step < 5; step++) {
        gradient_of_rows(m, &d, 61 * r / 2, 61 * (r + 1) / 2);
        CHECK_STATUS_OK(rb_dist_average_gradients(det, rb_model_params(m),
                                                  (double)(61 * (r + 1) / 2 - 61 * r / 2) / 61));
        CHECK_STATUS_OK(rb_optimizer_step(opt));
        for (int k = 0; k < 2; k++) {
            gradient_of_rows(one, &d, 61 * k / 2, 61 * (k + 1) / 2);
            float w = (float)((double)(61 * (k + 1) / 2 - 61 * k / 2) / 61);
            for (int64_t i = 0; i < n; i++)
                acc[i] = k == 0 ? rb_tensor_f32(g1)[i] * w : acc[i] + rb_tensor_f32(g1)[i] * w;
        }
        memcpy(rb_tensor_f32(g1), acc, sizeof(float) * (size_t)n);
        CHECK_STATUS_OK(rb_optimizer_step(opt1));
    }
    assert_memory_equal(values_of(m), values_of(one), sizeof(float) * (size_t)count_of(m));
    free(acc);
    rb_optimizer_free(opt);
    rb_optimizer_free(opt1);
    rb_model_free(m);
    rb_model_free(one);
    rb_dataset_free(&d);
    rb_dist_free(det);
}

static rb_history *fit(rb_model *m, rb_optimizer *opt, const rb_dataset *train,
                       const rb_dataset *val, rb_dist *d, bool quiet)
{
    return rb_fit(rb_trainable_of_model(m), opt, train,
                  (rb_fit_config){.epochs = 3,
                                  .batch_size = 32,
                                  .seed = 11,
                                  .metric = RB_METRIC_ACCURACY,
                                  .validation = val,
                                  .quiet = quiet,
                                  .dist = d});
}

static void two_ranks_train_like_one_process(void **state)
{
    (void)state;
    rb_dataset train = blobs(203, 5), val = blobs(51, 6);
    rb_model *m = mlp(13, 16, false), *one = mlp(13, 16, false);
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 0.01});
    rb_optimizer *opt1 = rb_adam_new(rb_model_params(one), (rb_adam_config){.lr = 0.01});
    rb_history *h = fit(m, opt, &train, &val, job, true),
               *h1 = fit(one, opt1, &train, &val, NULL, true);
    CHECK_OK(h);
    CHECK_OK(h1);
    assert_int_equal(h->n, h1->n);
    for (int e = 0; e < h->n; e++) {
        CHECK_CLOSE(h->epochs[e].loss, h1->epochs[e].loss, 1e-5 * h1->epochs[e].loss);
        CHECK_CLOSE(h->epochs[e].metric, h1->epochs[e].metric, 1e-12);
        CHECK_CLOSE(h->epochs[e].val_loss, h1->epochs[e].val_loss, 1e-5 * h1->epochs[e].val_loss);
        CHECK_CLOSE(h->epochs[e].val_metric, h1->epochs[e].val_metric, 1e-12);
    }
    for (int64_t i = 0; i < count_of(m); i++)
        CHECK_CLOSE(values_of(m)[i], values_of(one)[i], 1e-4);
    assert_true(same_everywhere(values_of(m), sizeof(float) * (size_t)count_of(m)));
    assert_true(same_everywhere(&h->epochs[2].loss, sizeof(double)));
    rb_history_free(h);
    rb_history_free(h1);
    rb_optimizer_free(opt);
    rb_optimizer_free(opt1);
    rb_model_free(m);
    rb_model_free(one);
    rb_dataset_free(&train);
    rb_dataset_free(&val);
}

static void fit_refuses_ranks_with_other_data(void **state)
{
    (void)state;
    rb_dataset train = blobs(rb_dist_rank(job) == 1 ? 90 : 100, 5);
    rb_model *m = mlp(13, 8, false);
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
    CHECK_FAILS(fit(m, opt, &train, NULL, job, true), RB_ERR_ARGUMENT,
                "rb_fit: rank 1 has 3 batches per epoch and 0 validation rows, rank 0 4 and 0");
    rb_optimizer_free(opt);
    rb_model_free(m);
    rb_dataset_free(&train);
}

/* What a call prints on stdout, into buf. */
static void capture_stdout_of_fit(char *buf, size_t size)
{
    rb_dataset train = blobs(100, 7);
    rb_model *m = mlp(3, 8, false);
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
    char path[] = "/tmp/ruban-mpi-stdout-XXXXXX";
    int fd = mkstemp(path), saved = dup(1);
    fflush(stdout);
    dup2(fd, 1);
    rb_history *h = fit(m, opt, &train, NULL, job, false);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    CHECK_OK(h);
    ssize_t k = pread(fd, buf, size - 1, 0);
    buf[k > 0 ? k : 0] = '\0';
    close(fd);
    unlink(path);
    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_model_free(m);
    rb_dataset_free(&train);
}

static void only_rank_0_prints_progress(void **state)
{
    (void)state;
    char out[8192];
    capture_stdout_of_fit(out, sizeof out);
    if (rb_dist_rank(job) == 0)
        assert_non_null(strstr(out, "epoch 3/3"));
    else
        assert_string_equal(out, "");
}

static rb_history *experiment_run(const rb_run *run)
{
    rb_model *m = mlp(run->seed, 8, false);
    rb_optimizer *opt = rb_sgd_new(rb_model_params(m),
                                   (rb_sgd_config){.lr = rb_config_get(run->config, "lr", 0.1)});
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, run->train,
                           (rb_fit_config){.epochs = 2,
                                           .batch_size = 16,
                                           .seed = run->seed,
                                           .metric = RB_METRIC_ACCURACY,
                                           .validation = run->validation,
                                           .quiet = true, /* TAP on stdout */
                                           .dist = run->dist});
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* Each rank names its own folder: only rank 0's gets written. */
static void only_rank_0_writes_experiment_results(void **state)
{
    (void)state;
    int r = rb_dist_rank(job);
    char dir[128], file[160];
    int pid = (int)getpid();
    double p = pid;
    CHECK_STATUS_OK(rb_dist_broadcast(job, &p, sizeof p, 0));
    snprintf(dir, sizeof dir, "/tmp/ruban-mpi-exp-%d-rank%d", (int)p, r);
    rb_dataset train = blobs(96, 12), val = blobs(30, 13);
    rb_experiment *e = rb_experiment_new(
        (rb_experiment_config){.name = "lr", .dir = dir, .quiet = true, .dist = job},
        experiment_run, NULL);
    CHECK_STATUS_OK(rb_experiment_add_values(e, "lr", 2, (double[]){0.1, 0.5}));
    CHECK_STATUS_OK(rb_experiment_run(e, &train, &val));
    snprintf(file, sizeof file, "%s/summary.md", dir);
    assert_true(exists(file) == (r == 0));
    assert_true(exists(dir) == (r == 0));
    double final = rb_experiment_final(e, 1);
    assert_true(same_everywhere(&final, sizeof final));
    if (r == 0) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
    rb_experiment_free(e);
    rb_dataset_free(&train);
    rb_dataset_free(&val);
}

static void checkpoints_of_a_job_load_in_one_process_and_back(void **state)
{
    (void)state;
    int r = rb_dist_rank(job);
    char path[64];
    snprintf(path, sizeof path, "/tmp/ruban-mpi-ckpt-%d.safetensors", (int)getpid());
    CHECK_STATUS_OK(rb_dist_broadcast(job, path, sizeof path, 0)); /* rank 0's name */
    /* A job's checkpoint, written by rank 0, read by one process (each rank on its own). */
    rb_dataset train = blobs(64, 8);
    rb_model *m = mlp(21, 8, true), *one = mlp(99, 8, true);
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 0.01});
    rb_optimizer *opt1 = rb_adam_new(rb_model_params(one), (rb_adam_config){.lr = 0.5});
    rb_history *h = fit(m, opt, &train, NULL, job, true);
    CHECK_OK(h);
    CHECK_STATUS_OK(rb_dist_checkpoint_save(job, path, rb_model_params(m), opt));
    CHECK_STATUS_OK(rb_checkpoint_load(path, rb_model_params(one), opt1));
    assert_memory_equal(values_of(m), values_of(one), sizeof(float) * (size_t)count_of(m));
    rb_tensor *moving = rb_params_find(rb_model_params(one), "batch_normalization.moving_mean");
    assert_memory_equal(
        rb_tensor_data(moving),
        rb_tensor_data(rb_params_find(rb_model_params(m), "batch_normalization.moving_mean")),
        sizeof(float) * 8);
    assert_int_equal(rb_optimizer_steps(opt1), rb_optimizer_steps(opt));
    CHECK_STATUS_OK(rb_dist_barrier(job));
    /* One process's checkpoint (rank 0 alone, plain API) loaded by the job. */
    rb_model *solo = mlp(55, 8, true), *mine = mlp(60 + (uint64_t)r, 8, true);
    if (r == 0) CHECK_STATUS_OK(rb_checkpoint_save(path, rb_model_params(solo), NULL));
    CHECK_STATUS_OK(rb_dist_checkpoint_load(job, path, rb_model_params(mine), NULL));
    assert_memory_equal(values_of(mine), values_of(solo), sizeof(float) * (size_t)count_of(m));
    /* A missing file: every rank gets rank 0's error. */
    if (r == 0) unlink(path);
    CHECK_FAILS(rb_dist_checkpoint_load(job, path, rb_model_params(mine), NULL), RB_ERR_IO, path);
    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_optimizer_free(opt1);
    rb_model_free(m);
    rb_model_free(one);
    rb_model_free(solo);
    rb_model_free(mine);
    rb_dataset_free(&train);
}

/* One training step's gradients and moving mean: 2 ranks with synchronised BatchNorm against
 * one process on the whole batch. */
static void synchronised_batch_norm_uses_the_global_batch(void **state)
{
    (void)state;
    int r = rb_dist_rank(job);
    rb_dataset d = blobs(20, 9);
    rb_model *m = mlp(31, 6, true), *one = mlp(31, 6, true), *local = mlp(31, 6, true);
    assert_int_equal(rb_dist_sync_batch_norm(job, m), 1);
    gradient_of_rows(m, &d, 10 * r, 10 * r + 10);
    CHECK_STATUS_OK(rb_dist_average_gradients(job, rb_model_params(m), 0.5));
    gradient_of_rows(local, &d, 10 * r, 10 * r + 10);
    CHECK_STATUS_OK(rb_dist_average_gradients(job, rb_model_params(local), 0.5));
    gradient_of_rows(one, &d, 0, 20);
    rb_tensor *g = rb_params_flat_grads(rb_model_params(m));
    rb_tensor *gl = rb_params_flat_grads(rb_model_params(local));
    rb_tensor *want = rb_params_flat_grads(rb_model_params(one));
    double off = 0;
    for (int64_t i = 0; i < rb_tensor_size(g); i++) {
        CHECK_CLOSE(rb_tensor_f32(g)[i], rb_tensor_f32(want)[i], 1e-5);
        off = fmax(off, fabs(rb_tensor_f32(gl)[i] - rb_tensor_f32(want)[i]));
    }
    assert_true(off > 1e-3); /* per-rank statistics give another gradient */
    const char *mm = "batch_normalization.moving_mean";
    rb_tensor *a = rb_params_find(rb_model_params(m), mm),
              *b = rb_params_find(rb_model_params(one), mm);
    for (int c = 0; c < 6; c++)
        CHECK_CLOSE(rb_tensor_f32(a)[c], rb_tensor_f32(b)[c], 1e-6);
    rb_model_free(m);
    rb_model_free(one);
    rb_model_free(local);
    rb_dataset_free(&d);
}

int main(int argc, char **argv)
{
    job = rb_dist_init(&argc, &argv, (rb_dist_config){.timeout = 60});
    if (!job) {
        fprintf(stderr, "%s\n", rb_last_error());
        return 1;
    }
    if (rb_dist_rank(job) != 0) dup2(2, 1); /* one TAP stream; the others' reports on stderr */
    const struct CMUnitTest tests[] = {
        TEST(job_knows_ranks_and_machine),
        TEST(sums_are_in_rank_order_and_the_same_everywhere),
        TEST(broadcast_gives_rank_0s_weights_and_optimizer_state),
        TEST(different_models_are_refused_on_every_rank_naming_the_rank),
        TEST(shards_are_disjoint_and_cover_each_epoch),
        TEST(averaged_gradients_are_the_global_batch_gradient),
        TEST(deterministic_mode_is_bit_identical_to_rank_order_sums),
        TEST(two_ranks_train_like_one_process),
        TEST(fit_refuses_ranks_with_other_data),
        TEST(only_rank_0_prints_progress),
        TEST(only_rank_0_writes_experiment_results),
        TEST(checkpoints_of_a_job_load_in_one_process_and_back),
        TEST(synchronised_batch_norm_uses_the_global_batch),
    };
    int failed = RUN_TESTS(tests, argc, argv);
    rb_dist_free(job);
    return failed;
}
