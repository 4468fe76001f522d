/* Checkpoints in the safetensors format: bit-exact round trips of weights, BatchNorm's moving
 * statistics and optimizer state; resuming training from a checkpoint; the file layout, read
 * back here by an independent parser; and refusals that leave the model and the optimizer
 * exactly as they were. Files go to a fresh temporary folder per test, removed afterwards. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* ---- a temporary folder per test ---- */

/* The whole file (the caller frees it). */
static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)n + 1);
    assert_non_null(bytes);
    *size = fread(bytes, 1, (size_t)n, f);
    fclose(f);
    assert_int_equal(*size, (size_t)n);
    return bytes;
}

static void spill(const char *path, const void *bytes, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(bytes, 1, size, f), size);
    fclose(f);
}

/* No temporary file (name containing ".tmp") left in folder. */
static void check_no_tmp_files(const char *folder)
{
    DIR *d = opendir(folder);
    if (!d) fail_msg("cannot list %s", folder);
    char left[256] = "";
    for (struct dirent *ent; (ent = readdir(d));)
        if (strstr(ent->d_name, ".tmp")) snprintf(left, sizeof left, "%s", ent->d_name);
    closedir(d);
    if (left[0]) fail_msg("temporary file %s/%s was left behind", folder, left);
}

/* ---- a model with BatchNorm, fixed batches, a hand-written training loop ---- */

/* Dense(6, ReLU) -> BatchNorm -> Dense(units), float32, for 4 inputs. */
static rb_model *net(uint64_t seed, int64_t units, bool last_bias)
{
    rb_model *m = rb_model_new(RB_F32, "net", RB_SHAPE(4));
    rb_model_seed(m, seed);
    CHECK_OK(rb_model_add(m, RB_DENSE(.units = 6, .activation = RB_ACT_RELU)));
    CHECK_OK(rb_model_add(m, RB_BATCH_NORM()));
    CHECK_OK(rb_model_add(m, RB_DENSE(.units = units, .no_bias = !last_bias)));
    return m;
}

enum { BATCHES = 6, ROWS = 8 };

typedef struct batches {
    rb_tensor *x[BATCHES], *y[BATCHES];
} batches;

static batches make_batches(uint64_t seed)
{
    batches b;
    rb_rng rng = rb_rng_make(seed);
    for (int i = 0; i < BATCHES; i++) {
        b.x[i] = rb_tensor_normal(RB_F32, RB_SHAPE(ROWS, 4), 0.5, 2.0, &rng);
        b.y[i] = rb_tensor_empty(RB_I64, RB_SHAPE(ROWS));
        for (int r = 0; r < ROWS; r++)
            rb_tensor_i64(b.y[i])[r] = rb_rng_below(&rng, 3);
    }
    return b;
}

/* Steps first .. first + count - 1, step k on batch k mod BATCHES. */
static void train(rb_model *m, rb_optimizer *opt, const batches *b, int first, int count)
{
    rb_model_set_training(m, true);
    for (int k = first; k < first + count; k++) {
        rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
        rb_tensor *out = rb_model_forward(m, b->x[k % BATCHES]);
        rb_tensor *loss = rb_softmax_cross_entropy(out, b->y[k % BATCHES]);
        CHECK_OK(loss);
        CHECK_STATUS_OK(rb_tape_gradient_params(tape, loss, rb_model_params(m)));
        rb_tape_end(tape);
        CHECK_STATUS_OK(rb_optimizer_step(opt));
    }
}

typedef enum kind { ADAM, AMSGRAD, ADAMW, NADAM, ADAGRAD, ADADELTA, RMSPROP, SGD, KINDS } kind;

static rb_optimizer *optimizer(kind k, rb_params *p, double lr)
{
    switch (k) {
    case ADAM: return rb_adam_new(p, (rb_adam_config){.lr = lr});
    case AMSGRAD: return rb_adam_new(p, (rb_adam_config){.lr = lr, .amsgrad = true});
    case ADAMW: return rb_adamw_new(p, (rb_adam_config){.lr = lr, .weight_decay = 0.05});
    case NADAM: return rb_nadam_new(p, (rb_adam_config){.lr = lr});
    case ADAGRAD: return rb_adagrad_new(p, (rb_adagrad_config){.lr = lr});
    case ADADELTA: return rb_adadelta_new(p, (rb_adadelta_config){.lr = lr * 100});
    case RMSPROP: return rb_rmsprop_new(p, (rb_rmsprop_config){.lr = lr, .momentum = 0.5});
    case SGD: return rb_sgd_new(p, (rb_sgd_config){.lr = lr, .momentum = 0.9, .nesterov = true});
    case KINDS: break;
    }
    return NULL;
}

/* Every byte of every variable (trainable or not) and of every state slab of opt where it
 * belongs to a trainable variable (the padding between variables is not state), with the
 * step count and the learning rate. */
typedef struct snapshot {
    size_t size;
    unsigned char *bytes;
    int64_t steps;
    double lr;
} snapshot;

static snapshot take(rb_params *p, const rb_optimizer *opt)
{
    snapshot s = {0};
    size_t cap = 0;
    for (int i = 0; i < rb_params_count(p); i++) {
        rb_tensor *v = rb_params_at(p, i);
        cap += (size_t)rb_tensor_size(v) * rb_dtype_size(rb_tensor_dtype(v));
    }
    int ns = opt ? rb_optimizer_state_count(opt) : 0;
    size_t slab =
        (size_t)rb_tensor_size(rb_params_flat_values(p)) * rb_dtype_size(rb_params_dtype(p));
    cap += (size_t)ns * slab;
    s.bytes = malloc(cap ? cap : 1);
    assert_non_null(s.bytes);
    for (int i = 0; i < rb_params_count(p); i++) {
        rb_tensor *v = rb_params_at(p, i);
        size_t n = (size_t)rb_tensor_size(v) * rb_dtype_size(rb_tensor_dtype(v));
        memcpy(s.bytes + s.size, rb_tensor_data(v), n);
        s.size += n;
    }
    size_t es = rb_dtype_size(rb_params_dtype(p));
    for (int k = 0; k < ns; k++) {
        const char *base = rb_tensor_data(rb_params_state(p, rb_optimizer_state_name(opt, k)));
        for (int i = 0; i < rb_params_count(p); i++) {
            rb_tensor *v = rb_params_at(p, i);
            if (!rb_params_is_trainable(v)) continue;
            size_t n = (size_t)rb_tensor_size(v) * es;
            memcpy(s.bytes + s.size, base + (size_t)rb_params_offset(p, v) * es, n);
            s.size += n;
        }
    }
    s.steps = opt ? rb_optimizer_steps(opt) : -1;
    s.lr = opt ? rb_optimizer_lr(opt) : -1;
    return s;
}

static bool same(const snapshot *a, const snapshot *b)
{
    return a->size == b->size && memcmp(a->bytes, b->bytes, a->size) == 0 && a->steps == b->steps &&
           a->lr == b->lr;
}

static const char *const kind_names[KINDS] = {"adam",    "amsgrad",  "adamw",   "nadam",
                                              "adagrad", "adadelta", "rmsprop", "sgd"};

/* ---- round trips ---- */

static void
a_round_trip_restores_weights_moving_statistics_and_optimizer_state_bit_for_bit(void **state)
{
    (void)state;
    batches b = make_batches(1);
    for (kind k = 0; k < KINDS; k++) {
        rb_model *m = net(1, 3, true);
        rb_optimizer *opt = optimizer(k, rb_model_params(m), 0.01);
        CHECK_OK(opt);
        train(m, opt, &b, 0, 5);
        /* BatchNorm's moving statistics (not trainable) have moved away from 0 and 1. */
        rb_tensor *mean = rb_params_find(rb_model_params(m), "batch_normalization.moving_mean");
        CHECK_OK(mean);
        assert_false(rb_params_is_trainable(mean));
        assert_true(rb_tensor_f32(mean)[0] != 0.0f);
        const char *path = test_path("run.safetensors");
        CHECK_STATUS_OK(rb_checkpoint_save(path, rb_model_params(m), opt));
        check_no_tmp_files(test_dir());

        /* A model built from another seed and a new optimizer with another rate. */
        rb_model *fresh = net(99, 3, true);
        rb_optimizer *fresh_opt = optimizer(k, rb_model_params(fresh), 0.5);
        snapshot want = take(rb_model_params(m), opt);
        snapshot before = take(rb_model_params(fresh), fresh_opt);
        assert_false(same(&want, &before));
        CHECK_STATUS_OK(rb_checkpoint_load(path, rb_model_params(fresh), fresh_opt));
        snapshot got = take(rb_model_params(fresh), fresh_opt);
        if (!same(&want, &got))
            fail_msg("%s: the loaded state differs from the saved one", kind_names[k]);
        assert_int_equal(rb_optimizer_steps(fresh_opt), 5);
        CHECK_CLOSE(rb_optimizer_lr(fresh_opt), rb_optimizer_lr(opt), 0);
        free(want.bytes);
        free(before.bytes);
        free(got.bytes);
        rb_optimizer_free(fresh_opt);
        rb_model_free(fresh);
        rb_optimizer_free(opt);
        rb_model_free(m);
    }
}

/* Train 4 steps, save, train 5 more; versus: load into a new model and optimizer, train the
 * same 5 steps on the same batches. The two end bit for bit equal, for every optimizer (the
 * bias corrections, Nadam's momentum product and Adagrad's initial accumulator depend on the
 * restored step count). */
static void training_resumed_from_a_checkpoint_matches_uninterrupted_training(void **state)
{
    (void)state;
    batches b = make_batches(2);
    for (kind k = 0; k < KINDS; k++) {
        rb_model *m = net(3, 3, true);
        rb_optimizer *opt = optimizer(k, rb_model_params(m), 0.02);
        train(m, opt, &b, 0, 4);
        const char *path = test_path("resume.safetensors");
        CHECK_STATUS_OK(rb_checkpoint_save(path, rb_model_params(m), opt));
        train(m, opt, &b, 4, 5);

        rb_model *resumed = net(4, 3, true);
        rb_optimizer *resumed_opt = optimizer(k, rb_model_params(resumed), 0.3);
        CHECK_STATUS_OK(rb_checkpoint_load(path, rb_model_params(resumed), resumed_opt));
        train(resumed, resumed_opt, &b, 4, 5);

        snapshot want = take(rb_model_params(m), opt);
        snapshot got = take(rb_model_params(resumed), resumed_opt);
        if (!same(&want, &got))
            fail_msg("%s: resumed training differs from uninterrupted training", kind_names[k]);
        assert_int_equal(rb_optimizer_steps(resumed_opt), 9);
        free(want.bytes);
        free(got.bytes);

        /* Not a vacuous comparison: a model that skipped the load ends elsewhere. */
        rb_model *cold = net(3, 3, true);
        rb_optimizer *cold_opt = optimizer(k, rb_model_params(cold), 0.02);
        train(cold, cold_opt, &b, 4, 5);
        snapshot c = take(rb_model_params(cold), cold_opt);
        want = take(rb_model_params(m), opt);
        assert_false(same(&want, &c));
        free(want.bytes);
        free(c.bytes);
        rb_optimizer_free(cold_opt);
        rb_model_free(cold);

        rb_optimizer_free(resumed_opt);
        rb_model_free(resumed);
        rb_optimizer_free(opt);
        rb_model_free(m);
    }
}

/* Going back: an optimizer that trained on reloads an earlier checkpoint (also one saved
 * before any step) and replays the same steps exactly. */
static void reloading_an_earlier_checkpoint_replays_training_exactly(void **state)
{
    (void)state;
    batches b = make_batches(9);
    for (kind k = 0; k < KINDS; k++) {
        for (int at = 0; at <= 2; at += 2) {
            rb_model *m = net(11, 3, true);
            rb_optimizer *opt = optimizer(k, rb_model_params(m), 0.02);
            train(m, opt, &b, 0, at);
            const char *path = test_path("early.safetensors");
            CHECK_STATUS_OK(rb_checkpoint_save(path, rb_model_params(m), opt));
            train(m, opt, &b, at, 3);
            snapshot first = take(rb_model_params(m), opt);
            train(m, opt, &b, at + 3, 2); /* wander off further */
            CHECK_STATUS_OK(rb_checkpoint_load(path, rb_model_params(m), opt));
            assert_int_equal(rb_optimizer_steps(opt), at);
            train(m, opt, &b, at, 3);
            snapshot again = take(rb_model_params(m), opt);
            if (!same(&first, &again))
                fail_msg("%s: training from the checkpoint of step %d differs the second time",
                         kind_names[k], at);
            free(first.bytes);
            free(again.bytes);
            rb_optimizer_free(opt);
            rb_model_free(m);
        }
    }
}

/* ---- the layout, parsed here ---- */

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The entry `"name":{...}` of header: its dtype, shape and data offsets. Fails the test when
 * the name is absent or the entry lacks a field. */
typedef struct parsed {
    char dtype[8];
    int ndim;
    int64_t shape[8];
    uint64_t begin, end;
} parsed;

static parsed entry_of(const char *header, const char *name)
{
    char key[200];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *at = strstr(header, key);
    if (!at) fail_msg("tensor %s is not in the header", name);
    if (strstr(at + 1, key)) fail_msg("tensor %s is in the header twice", name);
    const char *open = at + strlen(key);
    while (*open == ' ')
        open++;
    assert_int_equal(*open, '{');
    const char *close = strchr(open, '}');
    assert_non_null(close);
    char body[512];
    snprintf(body, sizeof body, "%.*s", (int)(close - open + 1), open);
    parsed e = {0};
    const char *d = strstr(body, "\"dtype\"");
    const char *s = strstr(body, "\"shape\"");
    const char *o = strstr(body, "\"data_offsets\"");
    if (!d || !s || !o) fail_msg("entry %s lacks a field: %s", name, body);
    assert_int_equal(sscanf(d, "\"dtype\" : \"%7[A-Z0-9]\"", e.dtype), 1);
    s = strchr(s, '[') + 1;
    while (*s != ']') {
        char *end;
        e.shape[e.ndim++] = strtoll(s, &end, 10);
        assert_true(end != s);
        s = end;
        while (*s == ',' || *s == ' ')
            s++;
    }
    unsigned long long b0, b1;
    assert_int_equal(sscanf(strchr(o, '['), "[ %llu , %llu ]", &b0, &b1), 2);
    e.begin = b0;
    e.end = b1;
    return e;
}

static void check_entry(const char *header, const unsigned char *data, const char *name,
                        const rb_tensor *like, const void *values)
{
    parsed e = entry_of(header, name);
    assert_string_equal(e.dtype, "F32");
    assert_int_equal(e.ndim, rb_tensor_ndim(like));
    for (int d = 0; d < e.ndim; d++)
        assert_int_equal(e.shape[d], rb_tensor_dim(like, d));
    size_t bytes = (size_t)rb_tensor_size(like) * sizeof(float);
    assert_int_equal(e.end - e.begin, bytes);
    if (memcmp(data + e.begin, values, bytes) != 0)
        fail_msg("the bytes of %s in the file are not its values", name);
}

static void the_file_follows_the_safetensors_layout(void **state)
{
    (void)state;
    batches b = make_batches(3);
    rb_model *m = net(5, 3, true);
    rb_params *p = rb_model_params(m);
    rb_optimizer *opt = rb_adam_new(p, (rb_adam_config){.lr = 0.01});
    train(m, opt, &b, 0, 3);
    const char *path = test_path("layout.safetensors");
    CHECK_STATUS_OK(rb_checkpoint_save(path, p, opt));

    size_t size;
    unsigned char *file = slurp(path, &size);
    assert_true(size > 8);
    /* 8 bytes: the header's length, little-endian; the data starts 8-byte aligned. */
    uint64_t hlen = le64(file);
    assert_true(8 + hlen <= size);
    assert_int_equal(hlen % 8, 0);
    char *header = malloc(hlen + 1);
    memcpy(header, file + 8, hlen);
    header[hlen] = '\0';
    assert_int_equal(strlen(header), hlen); /* text, no NUL inside */
    assert_int_equal(header[0], '{');
    size_t last = hlen;
    while (last > 0 && header[last - 1] == ' ')
        last--; /* padding: spaces only */
    assert_int_equal(header[last - 1], '}');
    const unsigned char *data = file + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;

    /* Every variable under its own name, its bytes its values; Adam's moments per trainable
     * variable under "adam.m/<name>" and "adam.v/<name>". */
    uint64_t covered = 0;
    int entries = 0, trainable = 0;
    for (int i = 0; i < rb_params_count(p); i++) {
        rb_tensor *v = rb_params_at(p, i);
        check_entry(header, data, rb_tensor_name(v), v, rb_tensor_data(v));
        parsed e = entry_of(header, rb_tensor_name(v));
        covered += e.end - e.begin;
        entries++;
        if (!rb_params_is_trainable(v)) continue;
        trainable++;
        for (int k = 0; k < 2; k++) {
            const char *slab = k ? "adam.v" : "adam.m";
            char name[200];
            snprintf(name, sizeof name, "%s/%s", slab, rb_tensor_name(v));
            const float *values = rb_tensor_f32(rb_params_state(p, slab)) + rb_params_offset(p, v);
            check_entry(header, data, name, v, values);
            parsed s = entry_of(header, name);
            covered += s.end - s.begin;
            entries++;
        }
    }
    assert_int_equal(rb_params_count(p), 8);
    assert_int_equal(trainable, 6); /* the moving statistics have no optimizer state */
    assert_null(strstr(header, "adam.m/batch_normalization.moving_mean"));
    /* Nothing else: as many entries as data_offsets, and the data is exactly the tensors. */
    int offsets = 0;
    const char *field = "\"data_offsets\"";
    for (const char *q = strstr(header, field); q; q = strstr(q + 1, field))
        offsets++;
    assert_int_equal(offsets, entries);
    assert_int_equal(covered, data_size);
    /* The step count and the optimizer in the metadata. */
    const char *meta = strstr(header, "\"__metadata__\"");
    assert_non_null(meta);
    assert_non_null(strstr(meta, "\"optimizer\":\"adam\""));
    assert_non_null(strstr(meta, "\"optimizer.steps\":\"3\""));
    /* A spot check against a value read by hand: the first kernel value as little-endian
     * float32 at its offset. */
    parsed k = entry_of(header, "dense.kernel");
    float first;
    memcpy(&first, data + k.begin, 4);
    assert_true(first == rb_tensor_f32(rb_params_find(p, "dense.kernel"))[0]);
    free(header);
    free(file);
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* ---- refusals ---- */

/* Load must fail with status and a message containing every needle (NULL ends the list), and
 * leave every byte of the model, the optimizer's slabs, its step count and rate unchanged. */
#define CHECK_REFUSED(path, p, opt, status, ...)                                                   \
    check_refused_((path), (p), (opt), (status), (const char *[]){__VA_ARGS__, NULL}, __FILE__,    \
                   __LINE__)

static void check_refused_(const char *path, rb_params *p, rb_optimizer *opt, rb_status status,
                           const char **needles, const char *file, int line)
{
    snapshot before = take(p, opt);
    rb_error_clear();
    rb_status st = rb_checkpoint_load(path, p, opt);
    char message[512];
    snprintf(message, sizeof message, "%s", rb_last_error());
    rb_error_clear();
    snapshot after = take(p, opt);
    bool unchanged = same(&before, &after);
    free(before.bytes);
    free(after.bytes);
    if (st != status)
        FAIL_AT(file, line, "loading %s: expected %s, got %s (\"%s\")", path,
                rb_status_name(status), rb_status_name(st), message);
    for (int i = 0; needles[i]; i++)
        if (!strstr(message, needles[i]))
            FAIL_AT(file, line, "loading %s: message \"%s\" lacks \"%s\"", path, message,
                    needles[i]);
    if (!unchanged)
        FAIL_AT(file, line, "loading %s was refused but changed the model or optimizer", path);
}

/* A trained model and optimizer, saved, then trained one step further (so that a partial load
 * would show). */
typedef struct fixture {
    rb_model *m;
    rb_optimizer *opt;
    unsigned char *file;
    size_t size;
    uint64_t hlen;
} fixture;

static fixture saved_then_moved_on(const char *name)
{
    batches b = make_batches(4);
    fixture f;
    f.m = net(6, 3, true);
    f.opt = rb_adam_new(rb_model_params(f.m), (rb_adam_config){.lr = 0.01});
    train(f.m, f.opt, &b, 0, 3);
    CHECK_STATUS_OK(rb_checkpoint_save(test_path(name), rb_model_params(f.m), f.opt));
    train(f.m, f.opt, &b, 3, 1);
    f.file = slurp(test_path(name), &f.size);
    f.hlen = le64(f.file);
    return f;
}

static void fixture_free(fixture *f)
{
    free(f->file);
    rb_optimizer_free(f->opt);
    rb_model_free(f->m);
}

static void truncated_files_are_refused_and_change_nothing(void **state)
{
    (void)state;
    fixture f = saved_then_moved_on("good.safetensors");
    rb_params *p = rb_model_params(f.m);
    const char *cut = test_path("cut.safetensors");
    /* Inside the length. */
    spill(cut, f.file, 0);
    CHECK_REFUSED(cut, p, f.opt, RB_ERR_FORMAT, "0 bytes", "shorter than the 8-byte");
    spill(cut, f.file, 5);
    CHECK_REFUSED(cut, p, f.opt, RB_ERR_FORMAT, "5 bytes", "shorter than the 8-byte");
    /* Inside the header. */
    spill(cut, f.file, 8 + (size_t)f.hlen / 2);
    CHECK_REFUSED(cut, p, f.opt, RB_ERR_FORMAT, "header of", "truncated");
    spill(cut, f.file, 8);
    CHECK_REFUSED(cut, p, f.opt, RB_ERR_FORMAT, "header of");
    /* Inside the data: early, and one byte short. */
    spill(cut, f.file, 8 + (size_t)f.hlen + 10);
    CHECK_REFUSED(cut, p, f.opt, RB_ERR_FORMAT, "truncated");
    spill(cut, f.file, f.size - 1);
    CHECK_REFUSED(cut, p, f.opt, RB_ERR_FORMAT, "truncated");
    /* The untouched file still loads (and then does change the model). */
    snapshot before = take(p, f.opt);
    CHECK_STATUS_OK(rb_checkpoint_load(test_path("good.safetensors"), p, f.opt));
    snapshot after = take(p, f.opt);
    assert_false(same(&before, &after));
    assert_int_equal(rb_optimizer_steps(f.opt), 3);
    free(before.bytes);
    free(after.bytes);
    fixture_free(&f);
}

static void a_header_length_past_the_end_or_malformed_json_is_refused(void **state)
{
    (void)state;
    fixture f = saved_then_moved_on("good.safetensors");
    rb_params *p = rb_model_params(f.m);
    const char *bad = test_path("bad.safetensors");
    unsigned char *copy = malloc(f.size);

    /* A header length that points past the end of the file. */
    memcpy(copy, f.file, f.size);
    uint64_t past = f.size;
    for (int i = 0; i < 8; i++)
        copy[i] = (unsigned char)(past >> (8 * i));
    spill(bad, copy, f.size);
    CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "header of", "announced");
    /* ... or far past it (no overflow). */
    memset(copy, 0xff, 8);
    spill(bad, copy, f.size);
    CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "header of");

    /* Malformed JSON of the same length: the object does not open... */
    memcpy(copy, f.file, f.size);
    copy[8] = '[';
    spill(bad, copy, f.size);
    CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "header byte", "expected '{'");
    /* ... a colon is missing after a name... */
    memcpy(copy, f.file, f.size);
    char *h = (char *)copy + 8;
    char *colon = strstr(h, "\"dense.bias\":");
    assert_non_null(colon);
    colon[strlen("\"dense.bias\"")] = ' ';
    spill(bad, copy, f.size);
    CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "header byte", "expected ':'");
    /* ... the header ends before the last brace... */
    memcpy(copy, f.file, f.size);
    h = (char *)copy + 8;
    size_t end = f.hlen;
    while (h[end - 1] == ' ')
        end--;
    h[end - 1] = ' ';
    spill(bad, copy, f.size);
    CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "header byte");
    /* ... or an entry has a dtype ruban does not know. */
    memcpy(copy, f.file, f.size);
    h = (char *)copy + 8;
    char *dtype = strstr(h, "\"F32\"");
    assert_non_null(dtype);
    memcpy(dtype, "\"BF6\"", 5);
    spill(bad, copy, f.size);
    CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "dtype");
    /* data_offsets that leave a hole between two tensors. */
    memcpy(copy, f.file, f.size);
    h = (char *)copy + 8;
    char *offsets = strstr(h, "\"data_offsets\":[0,");
    assert_non_null(offsets);
    offsets[strlen("\"data_offsets\":[")] = '4';
    spill(bad, copy, f.size);
    CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "spans");
    free(copy);
    fixture_free(&f);
}

static void a_variable_of_another_shape_is_refused_with_both_shapes(void **state)
{
    (void)state;
    fixture f = saved_then_moved_on("good.safetensors");
    /* The same network with 4 outputs: dense_1.kernel is (6, 4) in the file, (6, 3) here. */
    batches b = make_batches(5);
    rb_model *wide = net(6, 4, true);
    rb_optimizer *wide_opt = rb_adam_new(rb_model_params(wide), (rb_adam_config){.lr = 0.01});
    train(wide, wide_opt, &b, 0, 2);
    CHECK_STATUS_OK(
        rb_checkpoint_save(test_path("wide.safetensors"), rb_model_params(wide), wide_opt));
    CHECK_REFUSED(test_path("wide.safetensors"), rb_model_params(f.m), f.opt, RB_ERR_SHAPE,
                  "'dense_1.kernel'", "[6,4]", "[6,3]");
    /* Without the optimizer too. */
    CHECK_REFUSED(test_path("wide.safetensors"), rb_model_params(f.m), NULL, RB_ERR_SHAPE,
                  "'dense_1.kernel'", "[6,4]", "[6,3]");
    rb_optimizer_free(wide_opt);
    rb_model_free(wide);
    fixture_free(&f);
}

static void a_missing_variable_or_an_extra_tensor_is_refused(void **state)
{
    (void)state;
    fixture f = saved_then_moved_on("good.safetensors");
    batches b = make_batches(6);
    /* The same network without the last bias. */
    rb_model *lean = net(6, 3, false);
    rb_optimizer *lean_opt = rb_adam_new(rb_model_params(lean), (rb_adam_config){.lr = 0.01});
    train(lean, lean_opt, &b, 0, 2);
    CHECK_STATUS_OK(
        rb_checkpoint_save(test_path("lean.safetensors"), rb_model_params(lean), lean_opt));
    /* The full model misses dense_1.bias in the lean file. */
    CHECK_REFUSED(test_path("lean.safetensors"), rb_model_params(f.m), f.opt, RB_ERR_NOT_FOUND,
                  "no tensor 'dense_1.bias'");
    CHECK_REFUSED(test_path("lean.safetensors"), rb_model_params(f.m), NULL, RB_ERR_NOT_FOUND,
                  "no tensor 'dense_1.bias'");
    /* The lean model has no place for the full file's dense_1.bias. */
    CHECK_REFUSED(test_path("good.safetensors"), rb_model_params(lean), lean_opt, RB_ERR_NOT_FOUND,
                  "'dense_1.bias'", "no place");
    CHECK_REFUSED(test_path("good.safetensors"), rb_model_params(lean), NULL, RB_ERR_NOT_FOUND,
                  "'dense_1.bias'", "no place");
    rb_optimizer_free(lean_opt);
    rb_model_free(lean);
    fixture_free(&f);
}

static void optimizer_state_must_match_the_optimizer(void **state)
{
    (void)state;
    fixture f = saved_then_moved_on("adam.safetensors");
    rb_params *p = rb_model_params(f.m);
    /* Another optimizer on the same store. */
    rb_optimizer *rms = rb_rmsprop_new(p, (rb_rmsprop_config){.lr = 0.01});
    CHECK_REFUSED(test_path("adam.safetensors"), p, rms, RB_ERR_ARGUMENT, "'adam'", "rmsprop");
    rb_optimizer *ams = rb_adam_new(p, (rb_adam_config){.lr = 0.01, .amsgrad = true});
    CHECK_REFUSED(test_path("adam.safetensors"), p, ams, RB_ERR_ARGUMENT, "'adam'", "amsgrad");
    /* A file without optimizer state, loaded with an optimizer. */
    CHECK_STATUS_OK(rb_checkpoint_save(test_path("plain.safetensors"), p, NULL));
    batches b = make_batches(7);
    train(f.m, f.opt, &b, 0, 1);
    CHECK_REFUSED(test_path("plain.safetensors"), p, f.opt, RB_ERR_ARGUMENT, "no optimizer state",
                  "adam");
    /* An optimizer of another store. */
    rb_model *other = net(6, 3, true);
    rb_optimizer *other_opt = rb_adam_new(rb_model_params(other), (rb_adam_config){.lr = 0.01});
    CHECK_REFUSED(test_path("adam.safetensors"), p, other_opt, RB_ERR_ARGUMENT,
                  "another parameter store");
    CHECK_FAILS(rb_checkpoint_save(test_path("x.safetensors"), p, other_opt), RB_ERR_ARGUMENT,
                "another parameter store");
    /* A file that is not there. */
    CHECK_REFUSED(test_path("absent.safetensors"), p, f.opt, RB_ERR_IO, "absent.safetensors",
                  "cannot open");
    rb_optimizer_free(other_opt);
    rb_model_free(other);
    rb_optimizer_free(ams);
    rb_optimizer_free(rms);
    fixture_free(&f);
}

static void loading_without_an_optimizer_takes_the_weights_and_ignores_optimizer_state(void **state)
{
    (void)state;
    batches b = make_batches(8);
    rb_model *m = net(7, 3, true);
    rb_optimizer *opt = rb_adam_new(rb_model_params(m), (rb_adam_config){.lr = 0.01});
    train(m, opt, &b, 0, 4);
    CHECK_STATUS_OK(
        rb_checkpoint_save(test_path("with_adam.safetensors"), rb_model_params(m), opt));

    /* Another model with its own optimizer state, which the load must not touch. */
    rb_model *other = net(8, 3, true);
    rb_optimizer *other_opt = rb_adam_new(rb_model_params(other), (rb_adam_config){.lr = 0.07});
    train(other, other_opt, &b, 2, 2);
    snapshot state_before = take(rb_model_params(other), other_opt);
    CHECK_STATUS_OK(
        rb_checkpoint_load(test_path("with_adam.safetensors"), rb_model_params(other), NULL));
    /* Weights (and moving statistics) are the saved ones... */
    snapshot want = take(rb_model_params(m), NULL), got = take(rb_model_params(other), NULL);
    assert_true(same(&want, &got));
    /* ... while the optimizer's slabs, step count and rate are its own. */
    snapshot state_after = take(rb_model_params(other), other_opt);
    size_t weights = want.size;
    assert_memory_equal(state_after.bytes + weights, state_before.bytes + weights,
                        state_after.size - weights);
    assert_int_equal(rb_optimizer_steps(other_opt), 2);
    CHECK_CLOSE(rb_optimizer_lr(other_opt), 0.07, 0);
    /* A store that never had an optimizer loads the same file. */
    rb_model *bare = net(9, 3, true);
    CHECK_STATUS_OK(
        rb_checkpoint_load(test_path("with_adam.safetensors"), rb_model_params(bare), NULL));
    snapshot bare_got = take(rb_model_params(bare), NULL);
    assert_true(same(&want, &bare_got));
    /* The loaded model predicts as the saved one (evaluation mode uses the moving statistics). */
    rb_model_set_training(m, false);
    rb_model_set_training(bare, false);
    rb_tensor *ym = rb_model_forward(m, b.x[0]), *yb = rb_model_forward(bare, b.x[0]);
    assert_memory_equal(rb_tensor_data(ym), rb_tensor_data(yb), sizeof(float) * ROWS * 3);
    free(bare_got.bytes);
    free(want.bytes);
    free(got.bytes);
    free(state_before.bytes);
    free(state_after.bytes);
    rb_model_free(bare);
    rb_optimizer_free(other_opt);
    rb_model_free(other);
    rb_optimizer_free(opt);
    rb_model_free(m);
}

static void a_failed_save_reports_an_io_error_and_leaves_no_temporary_file(void **state)
{
    (void)state;
    rb_model *m = net(10, 3, true);
    rb_params *p = rb_model_params(m);
    rb_optimizer *opt = rb_adam_new(p, (rb_adam_config){.lr = 0.01});
    /* A folder that does not exist. */
    CHECK_FAILS(rb_checkpoint_save(test_path("missing/ck.safetensors"), p, opt), RB_ERR_IO,
                "cannot write");
    check_no_tmp_files(test_dir());
    /* The temporary file is written but cannot be renamed over a folder: it is removed. */
    const char *taken = test_path("taken.safetensors");
    assert_int_equal(mkdir(taken, 0755), 0);
    CHECK_FAILS(rb_checkpoint_save(taken, p, opt), RB_ERR_IO, "taken.safetensors");
    check_no_tmp_files(test_dir());
    struct stat st;
    assert_int_equal(stat(taken, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* A successful save over an existing file replaces it, and leaves nothing else. */
    const char *path = test_path("ok.safetensors");
    spill(path, "old", 3);
    CHECK_STATUS_OK(rb_checkpoint_save(path, p, opt));
    check_no_tmp_files(test_dir());
    size_t size;
    unsigned char *file = slurp(path, &size);
    assert_true(size >= 8 + le64(file));
    assert_true(memcmp(file, "old", 3) != 0);
    free(file);
    CHECK_STATUS_OK(rb_checkpoint_load(path, p, opt));
    CHECK_FAILS(rb_checkpoint_save(NULL, p, opt), RB_ERR_ARGUMENT, "NULL");
    CHECK_FAILS(rb_checkpoint_load(path, NULL, NULL), RB_ERR_ARGUMENT, "NULL");
    rb_optimizer_free(opt);
    rb_model_free(m);
}

/* ---- hostile headers ---- */

/* A file of the given header text (padded with spaces to 8 bytes) and data bytes. */
static void write_safetensors(const char *path, const char *header, const void *data,
                              size_t data_len)
{
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    for (int b = 0; b < 8; b++)
        fputc((int)(padded >> (8 * b)) & 0xff, f);
    fputs(header, f);
    for (size_t i = hlen; i < padded; i++)
        fputc(' ', f);
    if (data_len) assert_int_equal(fwrite(data, 1, data_len, f), data_len);
    fclose(f);
}

/* The file with the first `from` of its header replaced by `to` (lengths may differ). */
static void rewrite_header(const fixture *f, const char *from, const char *to, const char *path)
{
    char *header = malloc(f->hlen + strlen(to) + 1);
    assert_non_null(header);
    memcpy(header, f->file + 8, f->hlen);
    header[f->hlen] = '\0';
    size_t end = strlen(header);
    while (end > 0 && header[end - 1] == ' ')
        header[--end] = '\0';
    char *at = strstr(header, from);
    if (!at) fail_msg("'%s' is not in the header", from);
    memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
    memcpy(at, to, strlen(to));
    write_safetensors(path, header, f->file + 8 + f->hlen, f->size - 8 - f->hlen);
    free(header);
}

/* A \u escape whose digits end the header: the parser reads them within the header (a scan
 * for a terminator would read past the buffer), and wants four hex digits. */
static void unicode_escapes_are_read_within_the_header(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    rb_params_add(p, "w", RB_SHAPE(1), true);
    const char *bad = test_path("escape.safetensors");
    /* The header is exactly `{"\u0041` (8 bytes, no padding) and the file ends there. */
    FILE *f = fopen(bad, "wb");
    assert_non_null(f);
    fwrite("\x08\0\0\0\0\0\0\0{\"\\u0041", 1, 16, f);
    fclose(f);
    CHECK_REFUSED(bad, p, NULL, RB_ERR_FORMAT, "header byte 16", "expected '\"'");
    write_safetensors(bad, "{\"w\\u00zz\":{}}", NULL, 0);
    CHECK_REFUSED(bad, p, NULL, RB_ERR_FORMAT, "\\u needs four hex digits");
    write_safetensors(bad, "{\"w\\u+041\":{}}", NULL, 0);
    CHECK_REFUSED(bad, p, NULL, RB_ERR_FORMAT, "\\u needs four hex digits");
    write_safetensors(bad, "{\"w\\u00", NULL, 0);
    CHECK_REFUSED(bad, p, NULL, RB_ERR_FORMAT, "\\u needs four hex digits");
    /* An escaped name that is right loads. */
    float one = 1;
    write_safetensors(bad, "{\"\\u0077\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                      &one, 4);
    CHECK_STATUS_OK(rb_checkpoint_load(bad, p, NULL));
    CHECK_TENSOR(rb_params_find(p, "w"), 0, 1);
    rb_params_free(p);
}

/* 2^120 elements wrap to 0 bytes, which matched the empty data: the product is checked. */
static void shapes_whose_size_overflows_are_refused(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    rb_params_add(p, "w", RB_SHAPE(1), true);
    const char *bad = test_path("huge.safetensors");
    write_safetensors(bad,
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776,"
                      "1099511627776],\"data_offsets\":[0,0]}}",
                      NULL, 0);
    CHECK_REFUSED(bad, p, NULL, RB_ERR_FORMAT, "tensor 'w'", "too large");
    /* A zero extent does not hide the others. */
    write_safetensors(bad,
                      "{\"w\":{\"dtype\":\"F64\",\"shape\":[0,4294967296,4294967296],"
                      "\"data_offsets\":[0,0]}}",
                      NULL, 0);
    CHECK_REFUSED(bad, p, NULL, RB_ERR_FORMAT, "[0,4294967296,4294967296] is too large");
    write_safetensors(bad,
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[9223372036854775808],"
                      "\"data_offsets\":[0,4]}}",
                      "\0\0\0\0", 4);
    CHECK_REFUSED(bad, p, NULL, RB_ERR_FORMAT, "dimension too large");
    rb_params_free(p);
}

/* The learning rate and the step count are checked before they are applied. */
static void metadata_that_makes_no_sense_is_refused(void **state)
{
    (void)state;
    fixture f = saved_then_moved_on("good.safetensors");
    rb_params *p = rb_model_params(f.m);
    const char *bad = test_path("meta.safetensors");
    char *lr = strstr((char *)f.file + 8, "\"optimizer.lr\":\"");
    assert_non_null(lr);
    char from[64];
    snprintf(from, sizeof from, "%.*s", (int)(strchr(lr + 16, '"') - lr + 1), lr);
    const char *lrs[] = {"inf", "nan", "-0.5", "0", "1e999", "0.1x", ""};
    for (size_t i = 0; i < sizeof lrs / sizeof *lrs; i++) {
        char to[64];
        snprintf(to, sizeof to, "\"optimizer.lr\":\"%s\"", lrs[i]);
        rewrite_header(&f, from, to, bad);
        CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "optimizer.lr", "not a positive finite");
        CHECK_REFUSED(bad, p, NULL, RB_ERR_FORMAT, "optimizer.lr");
    }
    const char *steps[] = {"-3", "12abc", "99999999999999999999", " 7", ""};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char to[64];
        snprintf(to, sizeof to, "\"optimizer.steps\":\"%s\"", steps[i]);
        rewrite_header(&f, "\"optimizer.steps\":\"3\"", to, bad);
        CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "optimizer.steps", "not a step count");
    }
    /* Optimizer state without its step count. */
    rewrite_header(&f, "\"optimizer.steps\":\"3\"", "\"optimizer.stepz\":\"3\"", bad);
    CHECK_REFUSED(bad, p, f.opt, RB_ERR_FORMAT, "without its optimizer.steps");
    /* The untouched values load. */
    rewrite_header(&f, "\"optimizer.steps\":\"3\"", "\"optimizer.steps\":\"3\"", bad);
    CHECK_STATUS_OK(rb_checkpoint_load(bad, p, f.opt));
    assert_int_equal(rb_optimizer_steps(f.opt), 3);
    fixture_free(&f);
}

/* 100,000 names (and a repeated one) are checked in well under a second: not pairwise. */
static void a_header_of_many_names_is_checked_quickly(void **state)
{
    (void)state;
    enum { NAMES = 100000 };
    size_t cap = (size_t)NAMES * 80 + 64, used = 0;
    char *header = malloc(cap);
    float *data = calloc(NAMES + 1, sizeof(float));
    assert_non_null(header);
    assert_non_null(data);
    used += (size_t)snprintf(header, cap, "{");
    for (int i = 0; i < NAMES; i++)
        used += (size_t)snprintf(
            header + used, cap - used,
            "%s\"t%06d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[%d,%d]}", i ? "," : "",
            i, 4 * i, 4 * i + 4);
    snprintf(header + used, cap - used, "}");
    const char *path = test_path("many.safetensors");
    write_safetensors(path, header, data, sizeof(float) * NAMES);
    rb_params *p = rb_params_new(RB_F32);
    rb_params_add(p, "t000000", RB_SHAPE(1), true);
    double t0 = rb_now();
    CHECK_REFUSED(path, p, NULL, RB_ERR_NOT_FOUND, "'t000001' has no place in the model");
    double seconds = rb_now() - t0;
    if (seconds > 5) fail_msg("checking 100,000 names took %.1f s", seconds);
    /* The last name repeats the first. */
    char *last = strstr(header, "\"t099999\"");
    assert_non_null(last);
    memcpy(last, "\"t000000\"", 9);
    write_safetensors(path, header, data, sizeof(float) * NAMES);
    t0 = rb_now();
    CHECK_REFUSED(path, p, NULL, RB_ERR_FORMAT, "tensor 't000000' appears twice");
    seconds = rb_now() - t0;
    if (seconds > 5) fail_msg("finding the repeated name took %.1f s", seconds);
    rb_params_free(p);
    free(data);
    free(header);
}

static void a_folder_is_not_a_checkpoint(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32);
    rb_params_add(p, "w", RB_SHAPE(1), true);
    CHECK_REFUSED(test_dir(), p, NULL, RB_ERR_IO, "is a folder");
    rb_params_free(p);
}

/* ---- a saver killed at random moments ---- */

enum { KILL_VALUES = 1 << 20, KILL_ROUNDS = 25 };

/* Every value of w equals the first (the file is one complete save) and is one a saver wrote. */
static void check_one_whole_save(const char *path, rb_params *p, int round)
{
    rb_error_clear();
    rb_status st = rb_checkpoint_load(path, p, NULL);
    if (st != RB_OK) fail_msg("round %d: the checkpoint does not load: %s", round, rb_last_error());
    const float *w = rb_tensor_f32(rb_params_find(p, "w"));
    for (int64_t i = 1; i < KILL_VALUES; i++)
        if (w[i] != w[0])
            fail_msg("round %d: value %lld is %g, value 0 is %g", round, (long long)i, w[i], w[0]);
    if (!(w[0] >= 1)) fail_msg("round %d: the file holds %g, no saver wrote it", round, w[0]);
}

static int count_temporaries(const char *folder)
{
    DIR *d = opendir(folder);
    int n = 0;
    for (struct dirent *ent; d && (ent = readdir(d));)
        n += strstr(ent->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
}

/* A child saves in a loop and is killed at random moments: the file is always the old save or
 * a new one, whole; the temporaries the kills leave are gone after the next save. */
static void a_saver_killed_at_random_moments_leaves_a_whole_file(void **state)
{
    (void)state;
    rb_params *p = rb_params_new(RB_F32), *check = rb_params_new(RB_F32);
    float *w = rb_tensor_f32(rb_params_add(p, "w", RB_SHAPE(KILL_VALUES), true));
    rb_params_add(check, "w", RB_SHAPE(KILL_VALUES), true);
    const char *path = test_path("killed.safetensors");
    for (int64_t i = 0; i < KILL_VALUES; i++)
        w[i] = 1;
    /* Kills fall within twice the time of one save, most of them mid-write. */
    double t0 = rb_now();
    CHECK_STATUS_OK(rb_checkpoint_save(path, p, NULL));
    int64_t window = (int64_t)(2e6 * (rb_now() - t0)) + 1000;
    rb_rng rng = rb_rng_make(2024);
    int left = 0;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        fflush(NULL);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            for (int k = 2;; k++) { /* plain loops: no OpenMP in a forked child */
                for (int64_t i = 0; i < KILL_VALUES; i++)
                    w[i] = (float)k;
                rb_checkpoint_save(path, p, NULL);
            }
        }
        usleep((useconds_t)rb_rng_below(&rng, window));
        kill(child, SIGKILL);
        int status;
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFSIGNALED(status));
        check_one_whole_save(path, check, round);
        left += count_temporaries(test_dir()) > 0;
    }
    printf("# %d of %d kills left a temporary behind\n", left, KILL_ROUNDS);
    assert_true(left > 0); /* else no kill fell mid-write and the cleanup went untested */
    CHECK_STATUS_OK(rb_checkpoint_save(path, p, NULL));
    assert_int_equal(count_temporaries(test_dir()), 0);
    check_one_whole_save(path, check, KILL_ROUNDS);
    rb_params_free(check);
    rb_params_free(p);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST_DIR(a_round_trip_restores_weights_moving_statistics_and_optimizer_state_bit_for_bit),
        TEST_DIR(training_resumed_from_a_checkpoint_matches_uninterrupted_training),
        TEST_DIR(reloading_an_earlier_checkpoint_replays_training_exactly),
        TEST_DIR(the_file_follows_the_safetensors_layout),
        TEST_DIR(truncated_files_are_refused_and_change_nothing),
        TEST_DIR(a_header_length_past_the_end_or_malformed_json_is_refused),
        TEST_DIR(a_variable_of_another_shape_is_refused_with_both_shapes),
        TEST_DIR(a_missing_variable_or_an_extra_tensor_is_refused),
        TEST_DIR(optimizer_state_must_match_the_optimizer),
        TEST_DIR(loading_without_an_optimizer_takes_the_weights_and_ignores_optimizer_state),
        TEST_DIR(a_failed_save_reports_an_io_error_and_leaves_no_temporary_file),
        TEST_DIR(unicode_escapes_are_read_within_the_header),
        TEST_DIR(shapes_whose_size_overflows_are_refused),
        TEST_DIR(metadata_that_makes_no_sense_is_refused),
        TEST_DIR(a_header_of_many_names_is_checked_quickly),
        TEST_DIR(a_folder_is_not_a_checkpoint),
        TEST_DIR(a_saver_killed_at_random_moments_leaves_a_whole_file),
    };
    return RUN_TESTS(tests, argc, argv);
}
