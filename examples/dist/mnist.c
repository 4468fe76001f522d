/* Data-parallel MNIST: the MLP (784-256-128-10) or the CNN (conv 32 and 64 @3x3, max-pool,
 * dropout, dense 128) trained by every rank of an MPI job on its slice of each batch.
 *
 *     mpirun -np 2 build/examples/dist-mnist                 # the MLP, 3 epochs
 *     mpirun -np 2 build/examples/dist-mnist --model cnn --rows 12000 --epochs 1
 *     build/examples/dist-mnist                              # one process, same numbers
 *
 * Question: do N ranks train the same model as one process on the same global batch, and
 * how fast?
 * Expectation (announced before running): the same test accuracy as one process (about 97.5%
 * for the MLP after 3 epochs) whatever the number of ranks; on one machine, 2 ranks x 1
 * thread about as fast as 1 process x 2 threads, the allreduce a few percent of the time.
 * Limits: one seed; on one machine the "network" is shared memory, so the communication time
 * says little about a real cluster (README projects it); ranks sharing cores with other
 * work slow each other down.
 */
#include "../common.h"

static rb_dist *job; /* for the error handler */

/* An error on any rank stops the whole job with a message naming the rank. */
static void stop_job(rb_status status, const char *message, void *user_data)
{
    (void)status;
    (void)user_data;
    rb_dist_fail(job, message);
    exit(1);
}

/* The value after --name, or fallback. */
static const char *flag(int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return fallback;
}

/* Rows of an epoch in rank r's slices (rb_batcher_shard). */
static int64_t rows_of_rank(int64_t n, int64_t batch, int r, int size)
{
    int64_t last = n % batch, rows = n / batch * (batch * (r + 1) / size - batch * r / size);
    return rows + (last >= size ? last * (r + 1) / size - last * r / size : 0);
}

static rb_model *build(bool cnn)
{
    const rb_init_spec he = {.kind = RB_INIT_HE_NORMAL};
    rb_model *m = cnn ? rb_model_new(RB_F32, "cnn", RB_SHAPE(28, 28, 1))
                      : rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_seed(m, 42); /* the same on every rank; rb_fit also copies rank 0's */
    if (cnn) {
        rb_model_add(m, RB_CONV2D(.units = 32, .kernel = {3, 3}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_CONV2D(.units = 64, .kernel = {3, 3}, .activation = RB_ACT_RELU));
        rb_model_add(m, RB_MAX_POOL2D(.kernel = {2, 2}));
        rb_model_add(m, RB_DROPOUT(.rate = 0.25));
        rb_model_add(m, RB_FLATTEN);
    }
    rb_model_add(m,
                 RB_DENSE(.units = cnn ? 128 : 256, .activation = RB_ACT_RELU, .kernel_init = he));
    if (!cnn) rb_model_add(m, RB_DENSE(.units = 128, .activation = RB_ACT_RELU, .kernel_init = he));
    if (cnn) rb_model_add(m, RB_DROPOUT(.rate = 0.5));
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

int main(int argc, char **argv)
{
    /* 1. Join the job (a job of one process without mpirun). */
    rb_dist_config cfg = {.deterministic = flag(argc, argv, "--deterministic", NULL) != NULL};
    job = rb_dist_init(&argc, &argv, cfg);
    if (!job && rb_dist_available()) {
        fprintf(stderr, "%s\n", rb_last_error());
        return 1;
    }
    if (!job) printf("%s: one process\n", rb_last_error());
    rb_set_error_handler(stop_job, NULL);
    bool root = rb_dist_is_root(job), cnn = strcmp(flag(argc, argv, "--model", "mlp"), "cnn") == 0;
    int size = rb_dist_size(job), epochs = atoi(flag(argc, argv, "--epochs", cnn ? "1" : "3"));
    int64_t batch = atoll(flag(argc, argv, "--batch", "128"));
    if (root)
        printf("%d rank%s x %d thread%s, global batch %lld (%lld rows per rank)\n", size,
               size == 1 ? "" : "s", rb_num_threads(), rb_num_threads() == 1 ? "" : "s",
               (long long)batch, (long long)(batch / size));

    /* 2. Data: every rank loads it (each machine needs the files); a subset with --rows. */
    rb_dataset all, train, test;
    rb_mnist_load(NULL, &all, &test);
    int64_t rows = atoll(flag(argc, argv, "--rows", "0"));
    if (rows > 0 && rows < rb_dataset_rows(&all)) {
        rb_dataset_head(&all, rows, &train);
        rb_dataset_free(&all);
    } else {
        train = all;
    }
    if (cnn) {
        rb_tensor_set_shape(train.x, RB_SHAPE(rb_dataset_rows(&train), 28, 28, 1));
        rb_tensor_set_shape(test.x, RB_SHAPE(rb_dataset_rows(&test), 28, 28, 1));
    }

    /* 3. Model and training: rb_fit shards the batches and sums the gradients. */
    rb_model *m = build(cnn);
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3});
    double t0 = rb_now();
    rb_history *h = rb_fit(rb_trainable_of_model(m), opt, &train,
                           (rb_fit_config){.epochs = epochs,
                                           .batch_size = batch,
                                           .seed = 7,
                                           .metric = RB_METRIC_ACCURACY,
                                           .label = rb_model_name(m),
                                           .dist = job});
    double seconds = rb_now() - t0;

    /* 4. Throughput and communication of every rank, gathered on rank 0. */
    rb_dist_stats s = rb_dist_get_stats(job);
    int64_t mine = rows_of_rank(rb_dataset_rows(&train), batch, rb_dist_rank(job), size) * h->n;
    double *per = calloc((size_t)size * 4, sizeof *per);
    int r = rb_dist_rank(job);
    per[4 * r] = (double)mine, per[4 * r + 1] = seconds, per[4 * r + 2] = s.grad_seconds;
    per[4 * r + 3] = (double)s.grad_calls;
    rb_dist_sum(job, per, size * 4);
    double acc = 0;
    if (root) {
        rb_evaluate(rb_trainable_of_model(m), &test, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                    RB_METRIC_ACCURACY, 256, NULL, &acc);
        printf("\n| rank | samples/s | gradient sums (s) | share of time |\n|---|---|---|---|\n");
        double slowest = 0;
        for (int k = 0; k < size; k++) {
            printf("| %d | %.0f | %.3f | %.1f%% |\n", k, per[4 * k] / per[4 * k + 1],
                   per[4 * k + 2], 100 * per[4 * k + 2] / per[4 * k + 1]);
            slowest = per[4 * k + 1] > slowest ? per[4 * k + 1] : slowest;
        }
        int64_t n_params = rb_params_size(rb_model_params(m), true);
        double step_bytes = 4.0 * (double)n_params;
        printf("\ntotal: %.0f samples/s over %d rank%s; test accuracy %.2f%%\n",
               (double)rb_dataset_rows(&train) * h->n / slowest, size, size == 1 ? "" : "s",
               100 * acc);
        printf("communication: %.2f ms per step (%lld steps), gradient slab %.2f MB; a ring allreduce sends %.2f MB per rank and step\n",
               1e3 * per[2] / (per[3] > 0 ? per[3] : 1), (long long)per[3], step_bytes / 1e6,
               2.0 * (size - 1) / size * step_bytes / 1e6);
    }

    free(per);
    rb_history_free(h);
    rb_optimizer_free(opt);
    rb_model_free(m);
    rb_dataset_free(&train);
    rb_dataset_free(&test);
    rb_dist_free(job);
    return 0;
}
