/* Lecture notes - a training loop without the high-level API: the same network (784-128-10
 * with ReLU and dropout 0.2, Adam) trained on MNIST twice from the same seed, once by rb_fit and
 * once by the loop below, which spells out what rb_fit does: shuffled minibatches, a tape per
 * step, the loss, the gradients into the parameter store, the update, and after each epoch the
 * validation set in evaluation mode. The two histories must agree to the last bit, and so
 * must the final weights: the program exits with status 1 when they do not (its test in the
 * suite then fails). A third run, the loop with its batches shuffled by another seed, is the
 * control: same algorithm, other numbers.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/notes/training_loop/report.html.
 * --help lists the flags (--train, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] = "what exactly does rb_fit do, written out by hand?";
static const char expectation[] =
    " 1. The explicit loop and rb_fit draw the same batches (one shuffling generator seeded\n"
    "    alike), the same dropout masks (the layers' generators, seeded by the model) and apply\n"
    "    the same operations in the same order, so every number of the two histories (training\n"
    "    loss and accuracy averaged over each epoch's batches, validation loss and accuracy)\n"
    "    agrees bit for bit, at every seed, and so do the final weights.\n"
    " 2. Bit-identical means the same operations on the same data in the same order, not only\n"
    "    the same algorithm: the loop with its batches shuffled by another seed gives other\n"
    "    numbers from the first epoch on, though a final accuracy within a point of rb_fit's.";
static const char limits[] =
    "one network, 10,000 training and 2,000 validation images, 3 epochs and 2 seeds unless\n"
    "--epochs and --seeds say more; the loop covers what this network uses (no penalties,\n"
    "constraints, clipping, schedules or early stopping: rb_fit's other options).";

enum { MAX_SEEDS = 16 };
enum { BATCH = 64 };

/* The final weights of each run, compared after the experiment. */
typedef struct kept {
    float *weights[3][MAX_SEEDS];
    int64_t size;
} kept;

static rb_model *mlp(uint64_t seed)
{
    rb_model *m = rb_model_new(RB_F32, "mlp", RB_SHAPE(784));
    rb_model_seed(m, seed);
    rb_model_add(m, RB_DENSE(.units = 128, .activation = RB_ACT_RELU));
    rb_model_add(m, RB_DROPOUT(.rate = 0.2));
    rb_model_add(m, RB_DENSE(.units = 10));
    return m;
}

/* Rows of logits (N, C) whose largest entry (the first of ties) is at the label. */
static int64_t correct(rb_tensor *logits, rb_tensor *labels)
{
    rb_scope *scope = rb_scope_begin();
    const int64_t *p = rb_tensor_i64(rb_argmax(logits, 1, false)), *y = rb_tensor_i64(labels);
    int64_t hits = 0;
    for (int64_t i = 0; i < rb_tensor_size(labels); i++)
        hits += p[i] == y[i];
    rb_scope_end(scope);
    return hits;
}

/* Tells the experiment's display where the loop is, as rb_fit tells its progress hook. */
static void report(const rb_run *run, rb_progress_event e)
{
    e.epochs = run->epochs, e.metric_name = "accuracy", e.percent = true, e.remaining = -1;
    rb_progress_report(run->progress, &e);
}

/* What rb_fit does for this network, step by step. */
static rb_history *explicit_loop(rb_model *m, rb_optimizer *opt, const rb_run *run,
                                 uint64_t shuffle_seed)
{
    rb_history *h = calloc(1, sizeof *h);
    h->epochs = calloc((size_t)run->epochs, sizeof *h->epochs);
    h->metric = RB_METRIC_ACCURACY;
    h->has_validation = true;
    rb_params *params = rb_model_params(m);
    rb_batcher *batches = rb_batcher_new(run->train->x, run->train->y, BATCH, true, shuffle_seed);
    for (int epoch = 1; epoch <= run->epochs; epoch++) {
        double t0 = rb_now(), loss_sum = 0, hits = 0;
        int64_t seen = 0, step = 0;
        rb_model_set_training(m, true); /* dropout on */
        rb_tensor *x, *y;
        while (rb_batcher_next(batches, &x, &y)) {
            rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT); /* 1. record */
            rb_tensor *logits = rb_model_forward(m, x);     /* 2. forward */
            rb_tensor *loss = rb_softmax_cross_entropy(logits, y);
            rb_tape_gradient_params(tape, loss, params); /* 3. gradients */
            int64_t n = rb_tensor_dim(x, 0);
            loss_sum += rb_tensor_item(loss) * (double)n; /* 4. this epoch's sums */
            hits += (double)correct(logits, y);
            seen += n;
            rb_tape_end(tape);      /* 5. free the step */
            rb_optimizer_step(opt); /* 6. update */
            report(run, (rb_progress_event){.epoch = epoch,
                                            .step = ++step,
                                            .steps = rb_batcher_num_batches(batches),
                                            .loss = loss_sum / (double)seen,
                                            .metric = hits / (double)seen,
                                            .val_loss = NAN,
                                            .val_metric = NAN,
                                            .seconds = rb_now() - t0});
        }
        rb_epoch_record *r = &h->epochs[h->n++];
        *r = (rb_epoch_record){.epoch = epoch,
                               .loss = loss_sum / (double)seen,
                               .metric = hits / (double)seen,
                               .lr = rb_optimizer_lr(opt)};
        /* Validation in evaluation mode (dropout off), in batches of 256 as rb_fit does. */
        rb_evaluate(rb_trainable_of_model(m), run->validation, RB_LOSS_SOFTMAX_CROSS_ENTROPY,
                    RB_METRIC_ACCURACY, 256, &r->val_loss, &r->val_metric);
        r->seconds = rb_now() - t0;
        report(run, (rb_progress_event){.epoch = epoch,
                                        .step = step,
                                        .steps = step,
                                        .epoch_end = true,
                                        .loss = r->loss,
                                        .metric = r->metric,
                                        .val_loss = r->val_loss,
                                        .val_metric = r->val_metric,
                                        .seconds = r->seconds});
    }
    rb_batcher_free(batches);
    rb_model_set_training(m, false);
    return h;
}

static rb_history *train_one(const rb_run *run)
{
    kept *k = run->user_data;
    int loop = (int)rb_config_get(run->config, "loop", 0); /* 0 rb_fit, 1 loop, 2 reshuffled */
    bool by_hand = loop > 0;
    rb_model *m = mlp(run->seed);
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 1e-3});
    rb_history *h = by_hand ? explicit_loop(m, opt, run, run->seed + (loop == 2 ? 1000 : 0))
                            : rb_fit(rb_trainable_of_model(m), opt, run->train,
                                     (rb_fit_config){.epochs = run->epochs,
                                                     .batch_size = BATCH,
                                                     .seed = run->seed,
                                                     .progress = run->progress,
                                                     .metric = RB_METRIC_ACCURACY,
                                                     .validation = run->validation});
    if (run->repeat < MAX_SEEDS) {
        rb_tensor *flat = rb_params_flat_values(rb_model_params(m));
        k->size = rb_tensor_size(flat);
        float *copy = malloc(sizeof(float) * (size_t)k->size);
        memcpy(copy, rb_tensor_f32(flat), sizeof(float) * (size_t)k->size);
        k->weights[loop][run->repeat] = copy;
    }
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* Whether two histories agree to the last bit; the first difference into why. */
static bool same_history(const rb_history *a, const rb_history *b, char *why, size_t size)
{
    if (a->n != b->n) {
        snprintf(why, size, "%d epochs against %d", a->n, b->n);
        return false;
    }
    for (int e = 0; e < a->n; e++) {
        const rb_epoch_record *p = &a->epochs[e], *q = &b->epochs[e];
        const char *field = p->loss != q->loss               ? "training loss"
                            : p->metric != q->metric         ? "training accuracy"
                            : p->val_loss != q->val_loss     ? "validation loss"
                            : p->val_metric != q->val_metric ? "validation accuracy"
                                                             : NULL;
        if (field) {
            snprintf(why, size, "epoch %d: %s differs", e + 1, field);
            return false;
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "notes",
                                               .name = "training_loop",
                                               .title = "A training loop without rb_fit",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 3,
                                               .seeds = 2});
    int train_rows = rb_study_int(s, "train", 10000, "training images");
    rb_study_start(s);
    rb_dataset all, train, validation, head;
    rb_mnist_load(NULL, &all, NULL);
    int64_t rows = rb_study_quick(s) ? 2500 : train_rows + 2000;
    rb_dataset_head(&all, rows < rb_dataset_rows(&all) ? rows : rb_dataset_rows(&all), &head);
    rb_split(&head,
             (rb_split_config){.validation = rb_study_quick(s) ? 0.2 : 2000.0 / rows, .seed = 1},
             &train, &validation, NULL);
    rb_model *m = mlp(1);
    rb_study_model(s, "784-128-10 with dropout", m, RB_BY_HAND(784 * 128 + 128 + 128 * 10 + 10));
    rb_model_free(m);

    static kept k;
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "both"}, train_one, &k);
    rb_experiment_add(e, "rb_fit", 1, (const char *[]){"loop"}, (double[]){0});
    rb_experiment_add(e, "explicit tape loop", 1, (const char *[]){"loop"}, (double[]){1});
    rb_experiment_add(e, "explicit loop, batches shuffled by another seed", 1,
                      (const char *[]){"loop"}, (double[]){2});
    rb_experiment_run(e, &train, &validation);

    /* Epoch by epoch, the first seed's numbers side by side. */
    const rb_history *fit = rb_experiment_history(e, 0, 0), *loop = rb_experiment_history(e, 1, 0);
    rb_table *t = rb_study_table(s, "First seed, epoch by epoch (rb_fit / explicit loop)",
                                 "epoch|training loss|training accuracy|validation loss|"
                                 "validation accuracy");
    for (int i = 0; i < fit->n && i < loop->n; i++) {
        const rb_epoch_record *a = &fit->epochs[i], *b = &loop->epochs[i];
        rb_table_row(t, "%d|%.9g / %.9g|%.4f%% / %.4f%%|%.9g / %.9g|%.2f%% / %.2f%%", i + 1,
                     a->loss, b->loss, 100 * a->metric, 100 * b->metric, a->val_loss, b->val_loss,
                     100 * a->val_metric, 100 * b->val_metric);
    }

    bool identical = true;
    int runs = rb_experiment_runs(e, 0) < MAX_SEEDS ? rb_experiment_runs(e, 0) : MAX_SEEDS;
    char why[160] = "", detail[128];
    for (int r = 0; r < runs && identical; r++) {
        identical = same_history(rb_experiment_history(e, 0, r), rb_experiment_history(e, 1, r),
                                 detail, sizeof detail);
        if (identical && memcmp(k.weights[0][r], k.weights[1][r], sizeof(float) * (size_t)k.size))
            identical = false, snprintf(detail, sizeof detail, "the final weights differ");
        if (!identical) snprintf(why, sizeof why, "seed %d: %s", r + 1, detail);
    }
    rb_study_check(s, "every number of the two histories and every final weight agree bit for bit",
                   identical, "%s", identical ? "identical at every seed and epoch" : why);
    const rb_history *other = rb_experiment_history(e, 2, 0);
    double apart = rb_experiment_final(e, 2) - rb_experiment_final(e, 0);
    rb_study_check(s,
                   "batches in another order give other numbers from the first epoch on, and "
                   "a final accuracy within a point",
                   !same_history(fit, other, detail, sizeof detail) &&
                       other->epochs[0].loss != fit->epochs[0].loss && fabs(apart) < 0.01,
                   "epoch 1 training loss %.9g against %.9g; final validation accuracy %+.2f "
                   "points",
                   other->epochs[0].loss, fit->epochs[0].loss, 100 * apart);

    for (int r = 0; r < runs; r++)
        for (int c = 0; c < 3; c++)
            free(k.weights[c][r]);
    rb_dataset_free(&train);
    rb_dataset_free(&validation);
    rb_dataset_free(&head);
    rb_dataset_free(&all);
    int status = rb_study_finish(s);
    return identical ? status : 1;
}
