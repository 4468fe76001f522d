/* Faults for tests/mpi/faults.py: `mpirun -np 2 fault_cases CASE`, where rank 1 misbehaves
 * and rank 0 trains on. Each case must end the job with a message naming rank 1. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ruban.h>

static rb_dist *job;

static void stop_job(rb_status status, const char *message, void *user_data)
{
    (void)status;
    (void)user_data;
    rb_dist_fail(job, message);
    exit(1);
}

static rb_model *model(int64_t units)
{
    rb_model *m = rb_model_new(RB_F32, "m", RB_SHAPE(4));
    rb_model_add(m, RB_DENSE(.units = units, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_DENSE(.units = 3));
    return m;
}

/* Steps of "training" as far as the other ranks can tell: gradient sums. */
static void steps(rb_model *m, int n)
{
    for (int i = 0; i < n; i++) {
        rb_dist_average_gradients(job, rb_model_params(m), 0);
        usleep(1000);
    }
}

int main(int argc, char **argv)
{
    job = rb_dist_init(&argc, &argv, (rb_dist_config){0});
    if (!job || argc < 2) return 2;
    const char *c = argv[1];
    bool bad = rb_dist_rank(job) == 1;
    rb_model *m = model(bad && strcmp(c, "mismatch") == 0 ? 9 : 8);
    if (rb_dist_broadcast_params(job, rb_model_params(m), NULL) != RB_OK) {
        fprintf(stderr, "rank %d: %s\n", rb_dist_rank(job), rb_last_error());
        rb_model_free(m);
        rb_dist_free(job);
        return 1;
    }
    steps(m, 3);
    if (bad && strcmp(c, "exit") == 0) exit(3); /* no rb_dist_free */
    if (bad && strcmp(c, "leave") == 0) {
        rb_model_free(m);
        rb_dist_free(job);
        return 0;
    }
    if (bad && strcmp(c, "crash") == 0) raise(SIGSEGV);
    if (bad && strcmp(c, "stuck") == 0) sleep(600);
    if (bad && strcmp(c, "missing-data") == 0) {
        rb_set_error_handler(stop_job, NULL); /* as the examples do */
        rb_dataset train, test;
        rb_mnist_load("/nonexistent/mnist", &train, &test);
    }
    if (strcmp(c, "fit") == 0) {
        /* Labels out of range on rank 1 only: its loss fails inside rb_fit. */
        rb_tensor *x = rb_tensor_zeros(RB_F32, RB_SHAPE(64, 4));
        rb_tensor *y = rb_tensor_zeros(RB_I64, RB_SHAPE(64));
        if (bad) rb_tensor_i64(y)[40] = 7;
        rb_dataset d = {x, y, NULL};
        rb_optimizer *opt = rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = 0.1});
        rb_fit(rb_trainable_of_model(m), opt, &d,
               (rb_fit_config){.epochs = 50, .batch_size = 8, .quiet = true, .dist = job});
    }
    steps(m, 100000); /* rank 0: would run for minutes */
    rb_model_free(m);
    rb_dist_free(job);
    return 0;
}
