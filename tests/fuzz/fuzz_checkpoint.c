/* Checkpoints (rb_checkpoint_load): the input is a safetensors file, loaded into a small model
 * (Dense, BatchNorm, Dense: trainable and non-trainable variables), with its Adam (AMSGrad)
 * optimizer state when built with FUZZ_WITH_OPTIMIZER, without otherwise. A refused load must
 * leave every byte of the model and the optimizer as it was.
 *
 * With RUBAN_FUZZ_SEEDS=<folder> in the environment, the target writes checkpoints of its own
 * model there instead (weights only, with Adam's state, with SGD's) and exits: the seeds of
 * scripts/fuzz-corpus.py. */
#include "fuzz.h"

#ifdef FUZZ_WITH_OPTIMIZER
#define LOAD_OPTIMIZER opt
#else
#define LOAD_OPTIMIZER NULL
#endif

static rb_model *model;
static rb_optimizer *opt;

/* Every byte of the variables and the optimizer's state, its step count and rate. */
typedef struct snapshot {
    unsigned char *bytes;
    size_t size;
    int64_t steps;
    double lr;
} snapshot;

static size_t take(unsigned char *out)
{
    rb_params *p = rb_model_params(model);
    size_t n = 0;
    for (int i = 0; i < rb_params_count(p); i++) {
        rb_tensor *v = rb_params_at(p, i);
        size_t bytes = (size_t)rb_tensor_size(v) * rb_dtype_size(rb_tensor_dtype(v));
        if (out) memcpy(out + n, rb_tensor_data(v), bytes);
        n += bytes;
    }
    for (int k = 0; k < rb_optimizer_state_count(opt); k++) {
        rb_tensor *s = rb_params_state(p, rb_optimizer_state_name(opt, k));
        size_t bytes = (size_t)rb_tensor_size(s) * rb_dtype_size(rb_tensor_dtype(s));
        if (out) memcpy(out + n, rb_tensor_data(s), bytes);
        n += bytes;
    }
    return n;
}

static snapshot before, after;

static void snap(snapshot *s)
{
    take(s->bytes);
    s->steps = rb_optimizer_steps(opt);
    s->lr = rb_optimizer_lr(opt);
}

static void free_all(void)
{
    free(before.bytes);
    free(after.bytes);
    rb_optimizer_free(opt);
    rb_model_free(model);
}

static void write_seeds(const char *folder)
{
    char path[2048];
    rb_params *p = rb_model_params(model);
    rb_optimizer_set_steps(opt, 3);
    snprintf(path, sizeof path, "%s/weights.safetensors", folder);
    rb_status st = rb_checkpoint_save(path, p, NULL);
    snprintf(path, sizeof path, "%s/adam.safetensors", folder);
    if (st == RB_OK) st = rb_checkpoint_save(path, p, opt);
    rb_optimizer *sgd = rb_sgd_new(p, (rb_sgd_config){.lr = 0.1, .momentum = 0.9});
    snprintf(path, sizeof path, "%s/sgd.safetensors", folder);
    if (st == RB_OK) st = sgd ? rb_checkpoint_save(path, p, sgd) : rb_last_status();
    rb_optimizer_free(sgd);
    FUZZ_CHECK(st == RB_OK, "%s", rb_last_error());
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    model = rb_model_new(RB_F32, "net", RB_SHAPE(4));
    rb_model_seed(model, 1);
    rb_model_add(model, RB_DENSE(.units = 3, .activation = RB_ACT_RELU));
    rb_model_add(model, RB_BATCH_NORM());
    rb_model_add(model, RB_DENSE(.units = 2));
    opt = rb_adam_new(rb_model_params(model), (rb_adam_config){.lr = 0.01, .amsgrad = true});
    FUZZ_CHECK(model && opt && rb_model_num_params(model, false) > 0, "no model: %s",
               rb_last_error());
    atexit(free_all);
    const char *seeds = getenv("RUBAN_FUZZ_SEEDS");
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    size_t size = take(NULL);
    before = (snapshot){malloc(size), size, 0, 0};
    after = (snapshot){malloc(size), size, 0, 0};
    FUZZ_CHECK(before.bytes && after.bytes, "out of memory");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("input.safetensors", data, size);
    rb_error_clear();
    snap(&before);
    rb_status st = rb_checkpoint_load(path, rb_model_params(model), LOAD_OPTIMIZER);
    if (st == RB_OK) return 0;
    fuzz_check_refusal(st, path);
    snap(&after);
    FUZZ_CHECK(memcmp(before.bytes, after.bytes, before.size) == 0 &&
                   before.steps == after.steps && before.lr == after.lr,
               "a refused load changed the model or the optimizer");
    return 0;
}
