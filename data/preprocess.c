/* Scalers, row selection, splits and k-fold cross-validation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "datasets_impl.h"
#include "ruban/preprocess.h"

/* ---- scalers ---- */

struct rb_scaler {
    rb_scale_kind kind;
    bool global;
    rb_tensor *shift, *scale; /* (F) or () */
};

rb_scaler *rb_scaler_fit(rb_scale_kind kind, const rb_tensor *x, bool global)
{
    if (!x) return RB__FAIL(RB_ERR_ARGUMENT, "rb_scaler_fit: x is NULL");
    if ((rb_tensor_dtype(x) != RB_F32 && rb_tensor_dtype(x) != RB_F64) || rb_tensor_ndim(x) < 1 ||
        rb_tensor_size(x) == 0)
        return RB__FAIL(RB_ERR_ARGUMENT, "rb_scaler_fit: needs a non-empty float tensor, got %s",
                        rb__shp(x));
    if (kind != RB_SCALE_STANDARD && kind != RB_SCALE_MINMAX)
        return RB__FAIL(RB_ERR_ARGUMENT, "rb_scaler_fit: unknown kind %d", (int)kind);
    int64_t features = global ? 1 : rb_tensor_shape(x)[rb_tensor_ndim(x) - 1];
    int64_t rows = rb_tensor_size(x) / features;
    rb_scaler *s = calloc(1, sizeof *s);
    if (!s) return RB__FAIL(RB_ERR_MEMORY, "rb_scaler_fit: out of memory");
    s->kind = kind;
    s->global = global;
    s->shift = rb_tensor_empty_persistent(rb_tensor_dtype(x), global ? 0 : 1, &features);
    s->scale = rb_tensor_empty_persistent(rb_tensor_dtype(x), global ? 0 : 1, &features);
    double *acc = calloc((size_t)features * 2, sizeof(double));
    if (!s->shift || !s->scale || !acc) {
        free(acc);
        rb_scaler_free(s);
        return RB__FAIL(RB_ERR_MEMORY, "rb_scaler_fit: out of memory");
    }
    /* Element i belongs to feature i % features (the last axis varies fastest). Two passes in
     * double for the standard deviation: mean first, then squared deviations. */
    double *a = acc, *b = acc + features;
    for (int64_t f = 0; f < features; f++) {
        a[f] = kind == RB_SCALE_MINMAX ? INFINITY : 0;
        b[f] = kind == RB_SCALE_MINMAX ? -INFINITY : 0;
    }
    int64_t n = rb_tensor_size(x);
    for (int64_t i = 0; i < n; i++) {
        double v = rb_tensor_get_flat(x, i);
        int64_t f = i % features;
        if (kind == RB_SCALE_MINMAX) {
            if (v < a[f]) a[f] = v;
            if (v > b[f]) b[f] = v;
        } else
            a[f] += v;
    }
    if (kind == RB_SCALE_STANDARD) {
        for (int64_t f = 0; f < features; f++)
            a[f] /= (double)rows;
        for (int64_t i = 0; i < n; i++) {
            double d = rb_tensor_get_flat(x, i) - a[i % features];
            b[i % features] += d * d;
        }
    }
    for (int64_t f = 0; f < features; f++) {
        double spread = kind == RB_SCALE_STANDARD ? sqrt(b[f] / (double)rows) : b[f] - a[f];
        /* A constant feature is left unscaled (scikit-learn's choice), not divided by 0. */
        rb_tensor_set_flat(s->shift, f, a[f]);
        rb_tensor_set_flat(s->scale, f, spread > 0 && isfinite(spread) ? spread : 1.0);
    }
    free(acc);
    return s;
}

static bool fits(const rb_scaler *s, const rb_tensor *x, const char *who)
{
    if (!s || !x) {
        if (rb_last_status() == RB_OK) rb_error(RB_ERR_ARGUMENT, "%s: NULL argument", who);
        return false;
    }
    if (rb_tensor_dtype(x) != rb_tensor_dtype(s->shift)) {
        rb_error(RB_ERR_DTYPE, "%s: fitted on %s, given %s", who,
                 rb_dtype_name(rb_tensor_dtype(s->shift)), rb__shp(x));
        return false;
    }
    if (!s->global && (rb_tensor_ndim(x) < 1 ||
                       rb_tensor_shape(x)[rb_tensor_ndim(x) - 1] != rb_tensor_shape(s->shift)[0])) {
        rb_error(RB_ERR_SHAPE, "%s: fitted on %lld features, given %s", who,
                 (long long)rb_tensor_shape(s->shift)[0], rb__shp(x));
        return false;
    }
    return true;
}

rb_tensor *rb_scaler_transform(const rb_scaler *s, rb_tensor *x)
{
    if (!fits(s, x, "rb_scaler_transform")) return NULL;
    return rb_div(rb_sub(x, s->shift), s->scale);
}

rb_tensor *rb_scaler_inverse(const rb_scaler *s, rb_tensor *x)
{
    if (!fits(s, x, "rb_scaler_inverse")) return NULL;
    return rb_add(rb_mul(x, s->scale), s->shift);
}

rb_status rb_scaler_transform_inplace(const rb_scaler *s, rb_tensor *x)
{
    if (!fits(s, x, "rb_scaler_transform_inplace")) return rb_last_status();
    int64_t features = s->global ? 1 : rb_tensor_shape(s->shift)[0], n = rb_tensor_size(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t f = i % features;
        rb_tensor_set_flat(x, i,
                           (rb_tensor_get_flat(x, i) - rb_tensor_get_flat(s->shift, f)) /
                               rb_tensor_get_flat(s->scale, f));
    }
    rb_tensor_mark_modified(x);
    return RB_OK;
}

const rb_tensor *rb_scaler_shift(const rb_scaler *s) { return s ? s->shift : NULL; }
const rb_tensor *rb_scaler_scale(const rb_scaler *s) { return s ? s->scale : NULL; }

void rb_scaler_free(rb_scaler *s)
{
    if (!s) return;
    rb_tensor_free(s->shift);
    rb_tensor_free(s->scale);
    free(s);
}

/* ---- rows ---- */

int64_t rb_dataset_rows(const rb_dataset *d) { return d && d->x ? rb_tensor_shape(d->x)[0] : 0; }

rb_status rb_dataset_take(const rb_dataset *d, const int64_t *rows, int64_t n, rb_dataset *out)
{
    if (!d || !d->x || !out || (n > 0 && !rows))
        return rb_error(RB_ERR_ARGUMENT, "rb_dataset_take: NULL argument");
    *out = (rb_dataset){0};
    int64_t total = rb_tensor_shape(d->x)[0];
    if (d->y && (rb_tensor_ndim(d->y) < 1 || rb_tensor_shape(d->y)[0] != total))
        return rb_error(RB_ERR_SHAPE, "rb_dataset_take: x %s and y %s differ in rows",
                        rb__shp(d->x), rb__shp(d->y));
    for (int64_t i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= total)
            return rb_error(RB_ERR_ARGUMENT,
                            "rb_dataset_take: row %lld (entry %lld) outside 0..%lld",
                            (long long)rows[i], (long long)i, (long long)total - 1);
    const rb_tensor *src[2] = {d->x, d->y};
    rb_tensor **dst[2] = {&out->x, &out->y};
    for (int k = 0; k < 2; k++) {
        if (!src[k]) continue;
        rb_tensor *t = rb__rows_like(src[k], n);
        if (!t) {
            rb_dataset_free(out);
            return rb_last_status();
        }
        for (int64_t i = 0; i < n; i++)
            rb__copy_row(t, i, src[k], rows[i]);
        *dst[k] = t;
    }
    if (d->meta && !(out->meta = rb__meta_copy(d->meta))) {
        rb_dataset_free(out);
        return rb_last_status();
    }
    return RB_OK;
}

/* ---- splits ---- */

/* Labels as class ids 0..K-1, validated; K in *classes. */
static rb_status class_ids(const rb_tensor *y, int64_t n, const char *who, int64_t *classes)
{
    if (!y || rb_tensor_dtype(y) != RB_I64 || rb_tensor_ndim(y) != 1 || rb_tensor_shape(y)[0] != n)
        return rb_error(RB_ERR_ARGUMENT,
                        "%s: stratifying needs int64 labels (N) for %lld rows, got %s", who,
                        (long long)n, y ? rb__shp(y) : "none");
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (int64_t)rb_tensor_get_flat(y, i);
        if (c < 0 || c > 1000000)
            return rb_error(RB_ERR_ARGUMENT, "%s: label %lld at row %lld is not a class id", who,
                            (long long)c, (long long)i);
        if (c + 1 > k) k = c + 1;
    }
    *classes = k;
    return RB_OK;
}

/* Rows grouped by class (stable within a class), each group shuffled: order[], with group g
 * at [start[g], start[g + 1]). Without stratification one group of all rows. */
static rb_status grouped_order(int64_t n, const rb_tensor *labels, bool shuffle, uint64_t seed,
                               const char *who, int64_t **order, int64_t **start, int64_t *groups)
{
    int64_t k = 1;
    if (labels && class_ids(labels, n, who, &k) != RB_OK) return rb_last_status();
    int64_t *o = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    int64_t *st = calloc((size_t)k + 1, sizeof(int64_t));
    if (!o || !st) {
        free(o);
        free(st);
        return rb_error(RB_ERR_MEMORY, "%s: out of memory", who);
    }
    for (int64_t i = 0; i < n; i++)
        st[(labels ? (int64_t)rb_tensor_get_flat(labels, i) : 0) + 1]++;
    for (int64_t g = 0; g < k; g++)
        st[g + 1] += st[g];
    int64_t *fill = malloc(sizeof(int64_t) * (size_t)k);
    if (!fill) {
        free(o);
        free(st);
        return rb_error(RB_ERR_MEMORY, "%s: out of memory", who);
    }
    memcpy(fill, st, sizeof(int64_t) * (size_t)k);
    for (int64_t i = 0; i < n; i++)
        o[fill[labels ? (int64_t)rb_tensor_get_flat(labels, i) : 0]++] = i;
    free(fill);
    rb_rng rng = rb_rng_make(seed);
    if (shuffle)
        for (int64_t g = 0; g < k; g++)
            rb_rng_shuffle(&rng, o + st[g], st[g + 1] - st[g]);
    *order = o;
    *start = st;
    *groups = k;
    return RB_OK;
}

static int by_row(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

rb_status rb_split(const rb_dataset *d, rb_split_config c, rb_dataset *train, rb_dataset *val,
                   rb_dataset *test)
{
    if (!d || !d->x || !train) return rb_error(RB_ERR_ARGUMENT, "rb_split: NULL argument");
    *train = (rb_dataset){0};
    if (val) *val = (rb_dataset){0};
    if (test) *test = (rb_dataset){0};
    if (!(c.validation >= 0 && c.test >= 0 && c.validation + c.test < 1))
        return rb_error(
            RB_ERR_ARGUMENT,
            "rb_split: fractions validation %g and test %g must be >= 0 and leave rows for training",
            c.validation, c.test);
    if ((c.validation > 0 && !val) || (c.test > 0 && !test))
        return rb_error(RB_ERR_ARGUMENT, "rb_split: a part with a fraction needs an output");
    int64_t n = rb_dataset_rows(d), *order, *start, groups;
    if (c.stratify && !d->y)
        return rb_error(RB_ERR_ARGUMENT,
                        "rb_split: stratifying needs int64 labels (N) for %lld rows, got none",
                        (long long)n);
    if (grouped_order(n, c.stratify ? d->y : NULL, !c.no_shuffle, c.seed, "rb_split", &order,
                      &start, &groups) != RB_OK)
        return rb_last_status();
    /* Per group: the first rows go to test, the next to validation, the rest to training;
     * then each part is reassembled in the shuffled order. */
    int64_t *parts[3], counts[3] = {0, 0, 0};
    for (int p = 0; p < 3; p++)
        parts[p] = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    rb_status st = parts[0] && parts[1] && parts[2]
                       ? RB_OK
                       : rb_error(RB_ERR_MEMORY, "rb_split: out of memory");
    for (int64_t g = 0; st == RB_OK && g < groups; g++) {
        int64_t size = start[g + 1] - start[g];
        int64_t n_test = (int64_t)llround(c.test * (double)size);
        int64_t n_val = (int64_t)llround(c.validation * (double)size);
        if (n_test + n_val > size) n_val = size - n_test;
        for (int64_t i = 0; i < size; i++) {
            int p = c.no_shuffle ? (i < size - n_val - n_test ? 0 : (i < size - n_test ? 1 : 2))
                                 : (i < n_test ? 2 : (i < n_test + n_val ? 1 : 0));
            parts[p][counts[p]++] = order[start[g] + i];
        }
    }
    /* Stratified parts were filled class by class: back to the file's order, or shuffled. */
    if (st == RB_OK && groups > 1) {
        rb_rng rng = rb_rng_make(c.seed), mix = rb_rng_split(&rng);
        for (int p = 0; p < 3; p++) {
            if (c.no_shuffle)
                qsort(parts[p], (size_t)counts[p], sizeof(int64_t), by_row);
            else
                rb_rng_shuffle(&mix, parts[p], counts[p]);
        }
    }
    if (st == RB_OK && counts[0] == 0)
        st = rb_error(RB_ERR_ARGUMENT, "rb_split: no rows left for training (%lld rows)",
                      (long long)n);
    if (st == RB_OK) st = rb_dataset_take(d, parts[0], counts[0], train);
    if (st == RB_OK && val) st = rb_dataset_take(d, parts[1], counts[1], val);
    if (st == RB_OK && test) st = rb_dataset_take(d, parts[2], counts[2], test);
    if (st != RB_OK) {
        rb_dataset_free(train);
        rb_dataset_free(val);
        rb_dataset_free(test);
    }
    for (int p = 0; p < 3; p++)
        free(parts[p]);
    free(order);
    free(start);
    return st;
}

/* ---- k-fold ---- */

struct rb_kfold {
    int k;
    int64_t n;
    int64_t *val_rows;   /* all rows, fold after fold */
    int64_t *val_start;  /* fold i: val_rows[val_start[i] .. val_start[i + 1]) */
    int64_t *train_rows; /* scratch for rb_kfold_train_rows: (k) x (n) */
};

rb_kfold *rb_kfold_new(int64_t n, int k, uint64_t seed, const rb_tensor *labels)
{
    if (k < 2 || n < k)
        return RB__FAIL(RB_ERR_ARGUMENT,
                        "rb_kfold_new: %d folds of %lld rows (needs 2 <= k <= rows)", k,
                        (long long)n);
    int64_t *order, *start, groups;
    if (grouped_order(n, labels, true, seed, "rb_kfold_new", &order, &start, &groups) != RB_OK)
        return NULL;
    rb_kfold *kf = calloc(1, sizeof *kf);
    int64_t *per_fold = calloc((size_t)k, sizeof(int64_t));
    if (kf) {
        kf->k = k;
        kf->n = n;
        kf->val_rows = malloc(sizeof(int64_t) * (size_t)n);
        kf->val_start = calloc((size_t)k + 1, sizeof(int64_t));
        kf->train_rows = malloc(sizeof(int64_t) * (size_t)n * (size_t)k);
    }
    if (!kf || !per_fold || !kf->val_rows || !kf->val_start || !kf->train_rows) {
        free(per_fold);
        free(order);
        free(start);
        rb_kfold_free(kf);
        return RB__FAIL(RB_ERR_MEMORY, "rb_kfold_new: out of memory");
    }
    /* Deal each class's rows round-robin over the folds, continuing where the previous class
     * stopped, so fold sizes stay within one row of each other overall and per class. */
    int64_t *fold_of = malloc(sizeof(int64_t) * (size_t)n);
    int next = 0;
    for (int64_t g = 0; fold_of && g < groups; g++)
        for (int64_t i = start[g]; i < start[g + 1]; i++) {
            fold_of[i] = next;
            per_fold[next]++;
            next = (next + 1) % k;
        }
    if (!fold_of) {
        free(per_fold);
        free(order);
        free(start);
        rb_kfold_free(kf);
        return RB__FAIL(RB_ERR_MEMORY, "rb_kfold_new: out of memory");
    }
    for (int f = 0; f < k; f++)
        kf->val_start[f + 1] = kf->val_start[f] + per_fold[f];
    memset(per_fold, 0, sizeof(int64_t) * (size_t)k);
    for (int64_t i = 0; i < n; i++) {
        int64_t f = fold_of[i];
        kf->val_rows[kf->val_start[f] + per_fold[f]++] = order[i];
    }
    /* Stratified folds were dealt class by class: mix the classes within each part. */
    rb_rng rng = rb_rng_make(seed), mix = rb_rng_split(&rng);
    for (int f = 0; groups > 1 && f < k; f++)
        rb_rng_shuffle(&mix, kf->val_rows + kf->val_start[f],
                       kf->val_start[f + 1] - kf->val_start[f]);
    for (int f = 0; f < k; f++) {
        int64_t *t = kf->train_rows + (int64_t)f * n, m = 0;
        for (int g = 0; g < k; g++)
            if (g != f)
                for (int64_t i = kf->val_start[g]; i < kf->val_start[g + 1]; i++)
                    t[m++] = kf->val_rows[i];
        if (groups > 1) rb_rng_shuffle(&mix, t, m);
    }
    free(fold_of);
    free(per_fold);
    free(order);
    free(start);
    return kf;
}

int rb_kfold_count(const rb_kfold *kf) { return kf ? kf->k : 0; }

const int64_t *rb_kfold_validation_rows(const rb_kfold *kf, int i, int64_t *n_val)
{
    if (!kf || i < 0 || i >= kf->k) return RB__FAIL(RB_ERR_ARGUMENT, "rb_kfold: no fold %d", i);
    if (n_val) *n_val = kf->val_start[i + 1] - kf->val_start[i];
    return kf->val_rows + kf->val_start[i];
}

const int64_t *rb_kfold_train_rows(const rb_kfold *kf, int i, int64_t *n_train)
{
    if (!kf || i < 0 || i >= kf->k) return RB__FAIL(RB_ERR_ARGUMENT, "rb_kfold: no fold %d", i);
    if (n_train) *n_train = kf->n - (kf->val_start[i + 1] - kf->val_start[i]);
    return kf->train_rows + (int64_t)i * kf->n;
}

rb_status rb_kfold_split(const rb_kfold *kf, int i, const rb_dataset *d, rb_dataset *train,
                         rb_dataset *val)
{
    if (!kf || !d || !train || !val)
        return rb_error(RB_ERR_ARGUMENT, "rb_kfold_split: NULL argument");
    if (rb_dataset_rows(d) != kf->n)
        return rb_error(RB_ERR_SHAPE, "rb_kfold_split: folds of %lld rows, data set of %lld",
                        (long long)kf->n, (long long)rb_dataset_rows(d));
    int64_t nt, nv;
    const int64_t *tr = rb_kfold_train_rows(kf, i, &nt), *va = rb_kfold_validation_rows(kf, i, &nv);
    if (!tr || !va) return rb_last_status();
    rb_status st = rb_dataset_take(d, tr, nt, train);
    if (st == RB_OK && (st = rb_dataset_take(d, va, nv, val)) != RB_OK) rb_dataset_free(train);
    return st;
}

void rb_kfold_free(rb_kfold *kf)
{
    if (!kf) return;
    free(kf->val_rows);
    free(kf->val_start);
    free(kf->train_rows);
    free(kf);
}
