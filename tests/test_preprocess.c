/* Scalers (standard, min-max), row selection, train/validation/test splits and k-fold
 * cross-validation. Expected statistics are worked out by hand from small tables; splits are
 * checked through an id column (x[:, 0] = row number) that makes every row recognisable. */
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

/* ---- helpers ---- */

/* n rows: x (n, 2) float64 with x[i] = (i, 10 i) and y (n) int64 with y[i] = label(i). */
static int64_t label_mod3(int64_t i) { return i % 3; }
static int64_t label_80_20(int64_t i) { return i % 5 == 0; } /* 80% class 0, 20% class 1 */

static rb_dataset id_table(int64_t n, int64_t (*label)(int64_t))
{
    rb_dataset d = {.x = rb_tensor_empty(RB_F64, RB_SHAPE(n, 2)),
                    .y = rb_tensor_empty(RB_I64, RB_SHAPE(n))};
    double *x = rb_tensor_f64(d.x);
    int64_t *y = rb_tensor_i64(d.y);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = (double)i;
        x[2 * i + 1] = 10.0 * (double)i;
        y[i] = label(i);
    }
    return d;
}

/* The ids (x[:, 0]) of a part, checking that each of its rows is intact: x[:, 1] and y still
 * belong to the same original row. Returns the row count. */
static int64_t part_ids(const rb_dataset *part, int64_t (*label)(int64_t), int64_t *ids)
{
    if (!part->x) return 0;
    int64_t n = rb_tensor_dim(part->x, 0);
    assert_int_equal(rb_tensor_dim(part->x, 1), 2);
    assert_int_equal(rb_tensor_dim(part->y, 0), n);
    const double *x = rb_tensor_f64(part->x);
    const int64_t *y = rb_tensor_i64(part->y);
    for (int64_t i = 0; i < n; i++) {
        ids[i] = (int64_t)x[2 * i];
        if (x[2 * i + 1] != 10.0 * x[2 * i] || y[i] != label(ids[i]))
            fail_msg("row %lld of a part (id %lld) has x1 %g, y %lld: rows were mixed up",
                     (long long)i, (long long)ids[i], x[2 * i + 1], (long long)y[i]);
    }
    return n;
}

static bool increasing(const int64_t *v, int64_t n)
{
    for (int64_t i = 1; i < n; i++)
        if (v[i] <= v[i - 1]) return false;
    return true;
}

/* ---- scalers ---- */

static void standard_scaler_uses_each_columns_mean_and_population_std(void **state)
{
    (void)state;
    /* Column 0: 1, 2, 3 -> mean 2, variance (1 + 0 + 1) / 3. Column 1: 10, 20, 60 -> mean 30,
     * variance (400 + 100 + 900) / 3. */
    rb_tensor *x = T64(RB_SHAPE(3, 2), 1, 10, 2, 20, 3, 60);
    rb_scaler *s = rb_scaler_fit(RB_SCALE_STANDARD, x, false);
    CHECK_OK(s);
    double sd0 = sqrt(2.0 / 3), sd1 = sqrt(1400.0 / 3);
    CHECK_SHAPE((rb_tensor *)rb_scaler_shift(s), 2);
    CHECK_TENSOR((rb_tensor *)rb_scaler_shift(s), 1e-12, 2, 30);
    CHECK_TENSOR((rb_tensor *)rb_scaler_scale(s), 1e-12, sd0, sd1);
    rb_tensor *z = rb_scaler_transform(s, x);
    CHECK_TENSOR(z, 1e-12, -1 / sd0, -20 / sd1, 0, -10 / sd1, 1 / sd0, 30 / sd1);
    rb_scaler_free(s);
}

static void standard_scaler_on_images_pools_all_axes_but_the_channels(void **state)
{
    (void)state;
    /* (N=2, H=1, W=2, C=2): channel 0 holds 1, 3, 5, 7 (mean 4, variance (9+1+1+9)/4 = 5),
     * channel 1 holds 0, 0, 4, 4 (mean 2, std 2). */
    rb_tensor *x = T32(RB_SHAPE(2, 1, 2, 2), 1, 0, 3, 0, 5, 4, 7, 4);
    rb_scaler *s = rb_scaler_fit(RB_SCALE_STANDARD, x, false);
    CHECK_OK(s);
    assert_int_equal(rb_tensor_dtype(rb_scaler_shift(s)), RB_F32);
    CHECK_TENSOR((rb_tensor *)rb_scaler_shift(s), 1e-6, 4, 2);
    CHECK_TENSOR((rb_tensor *)rb_scaler_scale(s), 1e-6, sqrt(5.0), 2);
    CHECK_STATUS_OK(rb_scaler_transform_inplace(s, x));
    double r5 = sqrt(5.0);
    CHECK_TENSOR(x, 1e-6, -3 / r5, -1, -1 / r5, -1, 1 / r5, 1, 3 / r5, 1);
    rb_scaler_free(s);
}

static void global_standard_scaler_pools_every_element(void **state)
{
    (void)state;
    /* 1, 10, 2, 20, 3, 60: mean 96 / 6 = 16; squared deviations 225, 36, 196, 16, 169, 1936. */
    rb_tensor *x = T64(RB_SHAPE(3, 2), 1, 10, 2, 20, 3, 60);
    rb_scaler *s = rb_scaler_fit(RB_SCALE_STANDARD, x, true);
    CHECK_OK(s);
    double sd = sqrt(2578.0 / 6);
    assert_int_equal(rb_tensor_ndim(rb_scaler_shift(s)), 0);
    CHECK_TENSOR((rb_tensor *)rb_scaler_shift(s), 1e-12, 16);
    CHECK_TENSOR((rb_tensor *)rb_scaler_scale(s), 1e-12, sd);
    /* Global statistics apply to any shape, whatever its last dimension. */
    rb_tensor *other = T64(RB_SHAPE(3), 16, 16 + sd, 16 - 2 * sd);
    CHECK_TENSOR(rb_scaler_transform(s, other), 1e-12, 0, 1, -2);
    rb_scaler_free(s);
}

static void constant_feature_gets_scale_one_instead_of_a_division_by_zero(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3, 2), 5, 1, 5, 2, 5, 3);
    for (int kind = 0; kind < 2; kind++) {
        rb_scaler *s = rb_scaler_fit(kind ? RB_SCALE_MINMAX : RB_SCALE_STANDARD, x, false);
        CHECK_OK(s);
        CHECK_CLOSE(rb_tensor_get(rb_scaler_shift(s), (int64_t[]){0}), 5, 0);
        CHECK_CLOSE(rb_tensor_get(rb_scaler_scale(s), (int64_t[]){0}), 1, 0);
        rb_tensor *z = rb_scaler_transform(s, x);
        CHECK_OK(z);
        for (int64_t r = 0; r < 3; r++) {
            double v = rb_tensor_get(z, (int64_t[]){r, 0});
            if (v != 0)
                fail_msg("kind %d: constant column scaled to %g at row %lld, expected 0", kind, v,
                         (long long)r);
        }
        rb_scaler_free(s);
    }
}

static void minmax_scaler_maps_each_column_onto_zero_one(void **state)
{
    (void)state;
    /* Column 0: 1, 3, 2 -> min 1, range 2. Column 1: -2, 0, 6 -> min -2, range 8. */
    rb_tensor *x = T64(RB_SHAPE(3, 2), 1, -2, 3, 0, 2, 6);
    rb_scaler *s = rb_scaler_fit(RB_SCALE_MINMAX, x, false);
    CHECK_OK(s);
    CHECK_TENSOR((rb_tensor *)rb_scaler_shift(s), 0, 1, -2);
    CHECK_TENSOR((rb_tensor *)rb_scaler_scale(s), 0, 2, 8);
    CHECK_TENSOR(rb_scaler_transform(s, x), 1e-15, 0, 0, 1, 0.25, 0.5, 1);
    /* New data keeps the training statistics (and may leave [0, 1]). */
    CHECK_TENSOR(rb_scaler_transform(s, T64(RB_SHAPE(1, 2), 5, -6)), 1e-15, 2, -0.5);
    rb_scaler_free(s);
}

static void transform_as_an_op_equals_transform_inplace(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(7);
    for (int f32 = 0; f32 < 2; f32++) {
        rb_dtype dt = f32 ? RB_F32 : RB_F64;
        rb_tensor *x = rb_tensor_normal(dt, RB_SHAPE(50, 4), 3.0, 2.0, &rng);
        for (int kind = 0; kind < 2; kind++) {
            rb_scaler *s = rb_scaler_fit(kind ? RB_SCALE_MINMAX : RB_SCALE_STANDARD, x, false);
            CHECK_OK(s);
            rb_tensor *op = rb_scaler_transform(s, x), *inplace = rb_tensor_copy(x);
            CHECK_OK(op);
            CHECK_STATUS_OK(rb_scaler_transform_inplace(s, inplace));
            double a[200], b[200];
            CHECK_STATUS_OK(rb_tensor_to_doubles(op, a, 200));
            CHECK_STATUS_OK(rb_tensor_to_doubles(inplace, b, 200));
            /* float64: the same arithmetic; float32: the op rounds after the subtraction too. */
            for (int i = 0; i < 200; i++)
                CHECK_CLOSE(a[i], b[i], f32 ? 1e-6 * (1 + fabs(b[i])) : 0);
            rb_scaler_free(s);
        }
    }
}

static void inverse_undoes_transform(void **state)
{
    (void)state;
    rb_rng rng = rb_rng_make(8);
    rb_tensor *x = rb_tensor_uniform(RB_F64, RB_SHAPE(20, 3), -50, 80, &rng);
    double orig[60], back[60];
    CHECK_STATUS_OK(rb_tensor_to_doubles(x, orig, 60));
    for (int kind = 0; kind < 2; kind++)
        for (int global = 0; global < 2; global++) {
            rb_scaler *s = rb_scaler_fit(kind ? RB_SCALE_MINMAX : RB_SCALE_STANDARD, x, global);
            CHECK_OK(s);
            rb_tensor *z = rb_scaler_transform(s, x);
            CHECK_OK(z);
            /* The transform did something: not the identity. */
            assert_true(fabs(rb_tensor_get(z, (int64_t[]){0, 0}) - orig[0]) > 1e-3);
            CHECK_STATUS_OK(rb_tensor_to_doubles(rb_scaler_inverse(s, z), back, 60));
            for (int i = 0; i < 60; i++)
                CHECK_CLOSE(back[i], orig[i], 1e-12 * (1 + fabs(orig[i])));
            rb_scaler_free(s);
        }
}

static void scaler_refuses_other_feature_counts_dtypes_and_non_float_data(void **state)
{
    (void)state;
    rb_tensor *x = T64(RB_SHAPE(3, 2), 1, 10, 2, 20, 3, 60);
    rb_scaler *s = rb_scaler_fit(RB_SCALE_STANDARD, x, false);
    CHECK_OK(s);
    rb_tensor *three = rb_tensor_zeros(RB_F64, RB_SHAPE(4, 3));
    CHECK_FAILS(rb_scaler_transform(s, three), RB_ERR_SHAPE,
                "rb_scaler_transform: fitted on 2 features");
    CHECK_FAILS(rb_scaler_transform_inplace(s, three), RB_ERR_SHAPE, "rb_scaler_transform_inplace");
    CHECK_FAILS(rb_scaler_inverse(s, three), RB_ERR_SHAPE, "rb_scaler_inverse");
    assert_int_equal(rb_scaler_transform_inplace(s, three), RB_ERR_SHAPE);
    rb_error_clear();
    CHECK_FAILS(rb_scaler_transform(s, rb_tensor_zeros(RB_F32, RB_SHAPE(3, 2))), RB_ERR_DTYPE,
                "fitted on float64");
    CHECK_FAILS(rb_scaler_transform_inplace(s, rb_tensor_zeros(RB_I64, RB_SHAPE(3, 2))),
                RB_ERR_DTYPE, "rb_scaler_transform_inplace");
    rb_scaler_free(s);

    CHECK_FAILS(rb_scaler_fit(RB_SCALE_STANDARD, TI64(RB_SHAPE(2, 1), 1, 2), false),
                RB_ERR_ARGUMENT, "float");
    CHECK_FAILS(rb_scaler_fit(RB_SCALE_MINMAX, rb_tensor_zeros(RB_F32, RB_SHAPE(0, 2)), false),
                RB_ERR_ARGUMENT, "non-empty");
    CHECK_FAILS(rb_scaler_fit((rb_scale_kind)7, x, false), RB_ERR_ARGUMENT, "unknown kind 7");
    CHECK_FAILS(rb_scaler_fit(RB_SCALE_STANDARD, NULL, false), RB_ERR_ARGUMENT, "NULL");
}

/* ---- rows ---- */

static void take_copies_the_listed_rows_in_order_with_repeats(void **state)
{
    (void)state;
    rb_dataset d = id_table(5, label_mod3), out;
    CHECK_STATUS_OK(rb_dataset_take(&d, (int64_t[]){3, 0, 3, 4}, 4, &out));
    CHECK_SHAPE(out.x, 4, 2);
    CHECK_TENSOR(out.x, 0, 3, 30, 0, 0, 3, 30, 4, 40);
    CHECK_TENSOR(out.y, 0, 0, 0, 0, 1);
    assert_null(out.meta);
    assert_int_equal(rb_dataset_rows(&out), 4);
    /* A copy: writing to it leaves the source alone. */
    rb_tensor_set(out.x, (int64_t[]){0, 0}, -1);
    CHECK_CLOSE(rb_tensor_get(d.x, (int64_t[]){3, 0}), 3, 0);
    rb_dataset_free(&out);

    CHECK_STATUS_OK(rb_dataset_take(&d, NULL, 0, &out));
    CHECK_SHAPE(out.x, 0, 2);
    CHECK_SHAPE(out.y, 0);
    rb_dataset_free(&out);
}

static void take_reads_the_rows_of_a_strided_view(void **state)
{
    (void)state;
    /* x = transpose of [[0, 1, 2], [10, 11, 12]]: rows (0, 10), (1, 11), (2, 12). */
    rb_tensor *base = T32(RB_SHAPE(2, 3), 0, 1, 2, 10, 11, 12);
    rb_dataset d = {.x = rb_transpose(base, 0, 1)}, out;
    assert_false(rb_tensor_is_contiguous(d.x));
    CHECK_STATUS_OK(rb_dataset_take(&d, (int64_t[]){2, 0}, 2, &out));
    assert_null(out.y);
    CHECK_TENSOR(out.x, 0, 2, 12, 0, 10);
    rb_dataset_free(&out);
}

static void take_refuses_rows_outside_the_data_set(void **state)
{
    (void)state;
    rb_dataset d = id_table(5, label_mod3), out;
    CHECK_FAILS(rb_dataset_take(&d, (int64_t[]){0, 5}, 2, &out), RB_ERR_ARGUMENT,
                "row 5 (entry 1) outside 0..4");
    assert_null(out.x);
    assert_null(out.y);
    CHECK_FAILS(rb_dataset_take(&d, (int64_t[]){-1}, 1, &out), RB_ERR_ARGUMENT, "row -1");
    d.y = rb_tensor_zeros(RB_I64, RB_SHAPE(4));
    CHECK_FAILS(rb_dataset_take(&d, (int64_t[]){0}, 1, &out), RB_ERR_SHAPE, "differ in rows");
}

static void take_copies_the_metadata_of_a_loaded_set(void **state)
{
    (void)state;
    const char *path = test_path("small.csv");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("alpha,beta,kind\n1,2,0\n3,4,1\n5,6,1\n", f);
    fclose(f);
    rb_dataset d, out;
    rb_status st = rb_csv_load(path, (rb_csv_options){.classification = true}, &d);
    CHECK_STATUS_OK(st);
    CHECK_STATUS_OK(rb_dataset_take(&d, (int64_t[]){2, 0}, 2, &out));
    CHECK_TENSOR(out.x, 0, 5, 6, 1, 2);
    CHECK_TENSOR(out.y, 0, 1, 0);
    assert_non_null(out.meta);
    assert_true(out.meta != d.meta);
    assert_string_equal(out.meta->name, "small.csv");
    assert_int_equal(out.meta->n_features, 2);
    assert_string_equal(out.meta->feature_names[1], "beta");
    assert_string_equal(out.meta->target_name, "kind");
    assert_int_equal(out.meta->n_classes, 2);
    /* Independent copies: freeing the source leaves the part's metadata intact. */
    rb_dataset_free(&d);
    assert_string_equal(out.meta->feature_names[0], "alpha");
    rb_dataset_free(&out);
}

/* ---- splits ---- */

static void split_sizes_follow_the_fractions(void **state)
{
    (void)state;
    rb_dataset d = id_table(100, label_mod3), tr, va, te;
    CHECK_STATUS_OK(
        rb_split(&d, (rb_split_config){.validation = 0.2, .test = 0.1, .seed = 1}, &tr, &va, &te));
    assert_int_equal(rb_dataset_rows(&tr), 70);
    assert_int_equal(rb_dataset_rows(&va), 20);
    assert_int_equal(rb_dataset_rows(&te), 10);
    rb_dataset_free(&tr);
    rb_dataset_free(&va);
    rb_dataset_free(&te);

    /* A part with fraction 0 may be left out. */
    CHECK_STATUS_OK(rb_split(&d, (rb_split_config){.validation = 0.25, .seed = 1}, &tr, &va, NULL));
    assert_int_equal(rb_dataset_rows(&tr), 75);
    assert_int_equal(rb_dataset_rows(&va), 25);
    rb_dataset_free(&tr);
    rb_dataset_free(&va);
}

static void split_parts_are_disjoint_and_cover_every_row_once(void **state)
{
    (void)state;
    enum { N = 97 };
    rb_dataset d = id_table(N, label_mod3), parts[3];
    CHECK_STATUS_OK(rb_split(&d, (rb_split_config){.validation = 0.15, .test = 0.3, .seed = 9},
                             &parts[0], &parts[1], &parts[2]));
    int seen[N] = {0};
    int64_t ids[N], total = 0;
    for (int p = 0; p < 3; p++) {
        int64_t n = part_ids(&parts[p], label_mod3, ids);
        assert_true(n > 0);
        total += n;
        for (int64_t i = 0; i < n; i++) {
            assert_in_range(ids[i], 0, N - 1);
            seen[ids[i]]++;
        }
        rb_dataset_free(&parts[p]);
    }
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++)
        if (seen[i] != 1) fail_msg("row %d is in %d parts", i, seen[i]);
}

static void split_with_the_same_seed_is_the_same_and_another_seed_differs(void **state)
{
    (void)state;
    enum { N = 60 };
    rb_dataset d = id_table(N, label_mod3), tr[3], va[3];
    uint64_t seeds[3] = {4, 4, 5};
    int64_t ids_tr[3][N], ids_va[3][N];
    for (int k = 0; k < 3; k++) {
        CHECK_STATUS_OK(rb_split(&d, (rb_split_config){.validation = 0.3, .seed = seeds[k]}, &tr[k],
                                 &va[k], NULL));
        assert_int_equal(part_ids(&tr[k], label_mod3, ids_tr[k]), 42);
        assert_int_equal(part_ids(&va[k], label_mod3, ids_va[k]), 18);
        rb_dataset_free(&tr[k]);
        rb_dataset_free(&va[k]);
    }
    assert_memory_equal(ids_tr[0], ids_tr[1], sizeof ids_tr[0][0] * 42);
    assert_memory_equal(ids_va[0], ids_va[1], sizeof ids_va[0][0] * 18);
    assert_memory_not_equal(ids_tr[0], ids_tr[2], sizeof ids_tr[0][0] * 42);
    /* Shuffled: the training rows are not simply the first ones in file order. */
    assert_false(increasing(ids_tr[0], 42));
}

static void split_without_shuffling_keeps_the_file_order(void **state)
{
    (void)state;
    enum { N = 100 };
    rb_dataset d = id_table(N, label_mod3), parts[3];
    CHECK_STATUS_OK(rb_split(
        &d, (rb_split_config){.validation = 0.2, .test = 0.1, .no_shuffle = true, .seed = 3},
        &parts[0], &parts[1], &parts[2]));
    int64_t ids[N], first[3] = {0, 70, 90}, count[3] = {70, 20, 10};
    for (int p = 0; p < 3; p++) {
        assert_int_equal(part_ids(&parts[p], label_mod3, ids), count[p]);
        for (int64_t i = 0; i < count[p]; i++)
            if (ids[i] != first[p] + i)
                fail_msg("part %d, row %lld is row %lld of the file, expected %lld", p,
                         (long long)i, (long long)ids[i], (long long)(first[p] + i));
        rb_dataset_free(&parts[p]);
    }
}

/* Rows of each class in a part. */
static void count_classes(const rb_dataset *part, int64_t counts[2])
{
    counts[0] = counts[1] = 0;
    const int64_t *y = rb_tensor_i64(part->y);
    for (int64_t i = 0; i < rb_dataset_rows(part); i++)
        counts[y[i]]++;
}

static void stratified_split_keeps_each_classs_share_in_every_part(void **state)
{
    (void)state;
    rb_dataset d = id_table(100, label_80_20), tr, va;
    for (uint64_t seed = 0; seed < 5; seed++) {
        CHECK_STATUS_OK(
            rb_split(&d, (rb_split_config){.validation = 0.25, .seed = seed, .stratify = true}, &tr,
                     &va, NULL));
        int64_t ctr[2], cva[2], ids[100];
        part_ids(&tr, label_80_20, ids);
        part_ids(&va, label_80_20, ids);
        count_classes(&tr, ctr);
        count_classes(&va, cva);
        assert_int_equal(ctr[0], 60);
        assert_int_equal(ctr[1], 15);
        assert_int_equal(cva[0], 20);
        assert_int_equal(cva[1], 5);
        rb_dataset_free(&tr);
        rb_dataset_free(&va);
    }
}

static void stratified_split_shuffles_the_classes_together_within_each_part(void **state)
{
    (void)state;
    rb_dataset d = id_table(100, label_80_20), tr, va;
    CHECK_STATUS_OK(rb_split(&d, (rb_split_config){.validation = 0.25, .seed = 2, .stratify = true},
                             &tr, &va, NULL));
    /* A shuffled part does not list all rows of class 0 before those of class 1. */
    const rb_dataset *parts[2] = {&tr, &va};
    for (int p = 0; p < 2; p++) {
        const int64_t *y = rb_tensor_i64(parts[p]->y);
        int64_t n = rb_dataset_rows(parts[p]), descents = 0;
        for (int64_t i = 1; i < n; i++)
            descents += y[i] < y[i - 1];
        if (descents == 0)
            fail_msg("part %d (%lld rows) lists its rows sorted by class", p, (long long)n);
    }
    rb_dataset_free(&tr);
    rb_dataset_free(&va);
}

static void stratified_split_without_shuffling_keeps_the_file_order(void **state)
{
    (void)state;
    /* Class 1 is rows 0, 5, ..., 95; a quarter of each class, its last rows, validates: class
     * 1's rows 75..95 and class 0's last 20 rows, which are the others from 76 on. */
    rb_dataset d = id_table(100, label_80_20), tr, va;
    CHECK_STATUS_OK(
        rb_split(&d, (rb_split_config){.validation = 0.25, .stratify = true, .no_shuffle = true},
                 &tr, &va, NULL));
    int64_t ids[100];
    assert_int_equal(part_ids(&tr, label_80_20, ids), 75);
    for (int64_t i = 0; i < 75; i++)
        if (ids[i] != i)
            fail_msg("training row %lld is row %lld of the file", (long long)i, (long long)ids[i]);
    assert_int_equal(part_ids(&va, label_80_20, ids), 25);
    for (int64_t i = 0; i < 25; i++)
        if (ids[i] != 75 + i)
            fail_msg("validation row %lld is row %lld of the file, expected %lld", (long long)i,
                     (long long)ids[i], (long long)(75 + i));
    rb_dataset_free(&tr);
    rb_dataset_free(&va);
}

static void split_refuses_invalid_fractions_and_missing_labels(void **state)
{
    (void)state;
    rb_dataset d = id_table(10, label_mod3), tr, va, te;
    CHECK_FAILS(rb_split(&d, (rb_split_config){.validation = -0.1}, &tr, &va, &te), RB_ERR_ARGUMENT,
                "fractions validation -0.1 and test 0");
    assert_null(tr.x);
    CHECK_FAILS(rb_split(&d, (rb_split_config){.test = 1}, &tr, &va, &te), RB_ERR_ARGUMENT,
                "leave rows for training");
    CHECK_FAILS(rb_split(&d, (rb_split_config){.validation = 0.5, .test = 0.5}, &tr, &va, &te),
                RB_ERR_ARGUMENT, "leave rows for training");
    CHECK_FAILS(rb_split(&d, (rb_split_config){.validation = NAN}, &tr, &va, &te), RB_ERR_ARGUMENT,
                "fractions");
    CHECK_FAILS(rb_split(&d, (rb_split_config){.validation = 0.2}, &tr, NULL, NULL),
                RB_ERR_ARGUMENT, "needs an output");
    /* Rounding may leave nothing for training: refused rather than an empty part. */
    rb_dataset one = id_table(1, label_mod3);
    CHECK_FAILS(rb_split(&one, (rb_split_config){.validation = 0.6}, &tr, &va, NULL),
                RB_ERR_ARGUMENT, "no rows left for training");
    assert_null(tr.x);
    assert_null(va.x);
    /* Stratifying needs int64 class labels. */
    rb_dataset unlabelled = {.x = d.x};
    CHECK_FAILS(rb_split(&unlabelled, (rb_split_config){.validation = 0.2, .stratify = true}, &tr,
                         &va, NULL),
                RB_ERR_ARGUMENT, "stratifying needs int64 labels");
    rb_dataset real_y = {.x = d.x, .y = rb_tensor_zeros(RB_F32, RB_SHAPE(10))};
    CHECK_FAILS(
        rb_split(&real_y, (rb_split_config){.validation = 0.2, .stratify = true}, &tr, &va, NULL),
        RB_ERR_ARGUMENT, "stratifying needs int64 labels");
}

/* ---- k-fold ---- */

static void every_row_validates_in_exactly_one_fold(void **state)
{
    (void)state;
    enum { N = 23, K = 5 };
    rb_kfold *kf = rb_kfold_new(N, K, 11, NULL);
    CHECK_OK(kf);
    assert_int_equal(rb_kfold_count(kf), K);
    int seen[N] = {0};
    int64_t total = 0;
    for (int f = 0; f < K; f++) {
        int64_t nv;
        const int64_t *v = rb_kfold_validation_rows(kf, f, &nv);
        CHECK_OK(v);
        total += nv;
        for (int64_t i = 0; i < nv; i++) {
            assert_in_range(v[i], 0, N - 1);
            seen[v[i]]++;
        }
    }
    assert_int_equal(total, N);
    for (int i = 0; i < N; i++)
        if (seen[i] != 1) fail_msg("row %d validates in %d folds", i, seen[i]);
    rb_kfold_free(kf);
}

static void training_rows_of_a_fold_are_exactly_the_other_rows(void **state)
{
    (void)state;
    enum { N = 23, K = 5 };
    rb_kfold *kf = rb_kfold_new(N, K, 12, NULL);
    CHECK_OK(kf);
    for (int f = 0; f < K; f++) {
        int64_t nv, nt;
        const int64_t *v = rb_kfold_validation_rows(kf, f, &nv);
        const int64_t *t = rb_kfold_train_rows(kf, f, &nt);
        CHECK_OK(t);
        assert_int_equal(nt + nv, N);
        int in[N] = {0};
        for (int64_t i = 0; i < nv; i++)
            in[v[i]] += 1;
        for (int64_t i = 0; i < nt; i++) {
            assert_in_range(t[i], 0, N - 1);
            in[t[i]] += 2;
        }
        /* 1: validation only, 2: training only; anything else is a row missing or repeated. */
        for (int i = 0; i < N; i++)
            if (in[i] != 1 && in[i] != 2)
                fail_msg("fold %d: row %d in validation %d times and training %d times", f, i,
                         in[i] % 2, in[i] / 2);
    }
    rb_kfold_free(kf);
}

static void fold_sizes_differ_by_at_most_one_row(void **state)
{
    (void)state;
    int64_t ns[] = {23, 10, 7, 100};
    int ks[] = {5, 10, 3, 7};
    for (int c = 0; c < 4; c++) {
        rb_kfold *kf = rb_kfold_new(ns[c], ks[c], 1, NULL);
        CHECK_OK(kf);
        int64_t lo = ns[c] / ks[c], hi = (ns[c] + ks[c] - 1) / ks[c];
        for (int f = 0; f < ks[c]; f++) {
            int64_t nv;
            rb_kfold_validation_rows(kf, f, &nv);
            if (nv < lo || nv > hi)
                fail_msg("%lld rows in %d folds: fold %d has %lld rows", (long long)ns[c], ks[c], f,
                         (long long)nv);
        }
        rb_kfold_free(kf);
    }
}

static void same_seed_gives_the_same_folds(void **state)
{
    (void)state;
    rb_kfold *a = rb_kfold_new(40, 4, 3, NULL), *b = rb_kfold_new(40, 4, 3, NULL),
             *c = rb_kfold_new(40, 4, 4, NULL);
    CHECK_OK(a && b && c);
    int64_t na, nb, nc;
    const int64_t *va = rb_kfold_validation_rows(a, 0, &na),
                  *vb = rb_kfold_validation_rows(b, 0, &nb),
                  *vc = rb_kfold_validation_rows(c, 0, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(va, vb, sizeof *va * (size_t)na);
    assert_int_equal(na, nc);
    assert_memory_not_equal(va, vc, sizeof *va * (size_t)na);
    rb_kfold_free(a);
    rb_kfold_free(b);
    rb_kfold_free(c);
}

static void stratified_folds_keep_each_classs_count_within_one(void **state)
{
    (void)state;
    /* 24 rows: 13 of class 0, 7 of class 1, 4 of class 2, interleaved. */
    enum { N = 24, K = 4 };
    int64_t labels[N], per_class[3] = {0};
    for (int i = 0; i < N; i++) {
        labels[i] = i < 8 ? i % 3 : (i < 16 ? (i % 2 == 0 ? 0 : 1) : (i % 4 == 3 ? 2 : 0));
        per_class[labels[i]]++;
    }
    assert_int_equal(per_class[0], 13);
    assert_int_equal(per_class[1], 7);
    assert_int_equal(per_class[2], 4);
    rb_kfold *kf = rb_kfold_new(N, K, 5, rb_tensor_from_data(RB_I64, RB_SHAPE(N), labels));
    CHECK_OK(kf);
    for (int f = 0; f < K; f++) {
        int64_t nv, count[3] = {0};
        const int64_t *v = rb_kfold_validation_rows(kf, f, &nv);
        assert_in_range(nv, N / K, N / K);
        for (int64_t i = 0; i < nv; i++)
            count[labels[v[i]]]++;
        for (int c = 0; c < 3; c++)
            if (count[c] < per_class[c] / K || count[c] > (per_class[c] + K - 1) / K)
                fail_msg("fold %d has %lld rows of class %d (of %lld in %d folds)", f,
                         (long long)count[c], c, (long long)per_class[c], K);
    }
    rb_kfold_free(kf);
}

static void kfold_split_returns_the_rows_of_the_fold(void **state)
{
    (void)state;
    enum { N = 17, K = 4 };
    rb_dataset d = id_table(N, label_mod3), tr, va;
    rb_kfold *kf = rb_kfold_new(N, K, 21, d.y);
    CHECK_OK(kf);
    for (int f = 0; f < K; f++) {
        CHECK_STATUS_OK(rb_kfold_split(kf, f, &d, &tr, &va));
        int64_t nt, nv, ids[N];
        const int64_t *t = rb_kfold_train_rows(kf, f, &nt),
                      *v = rb_kfold_validation_rows(kf, f, &nv);
        assert_int_equal(part_ids(&tr, label_mod3, ids), nt);
        assert_memory_equal(ids, t, sizeof *t * (size_t)nt);
        assert_int_equal(part_ids(&va, label_mod3, ids), nv);
        assert_memory_equal(ids, v, sizeof *v * (size_t)nv);
        rb_dataset_free(&tr);
        rb_dataset_free(&va);
    }
    rb_kfold_free(kf);
}

static void kfold_refuses_bad_fold_counts_and_other_data_sets(void **state)
{
    (void)state;
    CHECK_FAILS(rb_kfold_new(10, 1, 0, NULL), RB_ERR_ARGUMENT, "1 folds of 10 rows");
    CHECK_FAILS(rb_kfold_new(3, 4, 0, NULL), RB_ERR_ARGUMENT, "4 folds of 3 rows");
    CHECK_FAILS(rb_kfold_new(5, 2, 0, TI64(RB_SHAPE(4), 0, 1, 0, 1)), RB_ERR_ARGUMENT,
                "int64 labels (N) for 5 rows");
    CHECK_FAILS(rb_kfold_new(3, 2, 0, TI64(RB_SHAPE(3), 0, -1, 0)), RB_ERR_ARGUMENT,
                "label -1 at row 1");
    rb_kfold *kf = rb_kfold_new(10, 3, 0, NULL);
    CHECK_OK(kf);
    rb_dataset other = id_table(11, label_mod3), tr, va;
    CHECK_FAILS(rb_kfold_split(kf, 0, &other, &tr, &va), RB_ERR_SHAPE,
                "folds of 10 rows, data set of 11");
    rb_dataset d = id_table(10, label_mod3);
    CHECK_FAILS(rb_kfold_split(kf, 3, &d, &tr, &va), RB_ERR_ARGUMENT, "no fold 3");
    CHECK_FAILS(rb_kfold_validation_rows(kf, -1, NULL), RB_ERR_ARGUMENT, "no fold -1");
    rb_kfold_free(kf);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(standard_scaler_uses_each_columns_mean_and_population_std),
        TEST(standard_scaler_on_images_pools_all_axes_but_the_channels),
        TEST(global_standard_scaler_pools_every_element),
        TEST(constant_feature_gets_scale_one_instead_of_a_division_by_zero),
        TEST(minmax_scaler_maps_each_column_onto_zero_one),
        TEST(transform_as_an_op_equals_transform_inplace),
        TEST(inverse_undoes_transform),
        TEST(scaler_refuses_other_feature_counts_dtypes_and_non_float_data),
        TEST(take_copies_the_listed_rows_in_order_with_repeats),
        TEST(take_reads_the_rows_of_a_strided_view),
        TEST(take_refuses_rows_outside_the_data_set),
        TEST_DIR(take_copies_the_metadata_of_a_loaded_set),
        TEST(split_sizes_follow_the_fractions),
        TEST(split_parts_are_disjoint_and_cover_every_row_once),
        TEST(split_with_the_same_seed_is_the_same_and_another_seed_differs),
        TEST(split_without_shuffling_keeps_the_file_order),
        TEST(stratified_split_keeps_each_classs_share_in_every_part),
        TEST(stratified_split_shuffles_the_classes_together_within_each_part),
        TEST(stratified_split_without_shuffling_keeps_the_file_order),
        TEST(split_refuses_invalid_fractions_and_missing_labels),
        TEST(every_row_validates_in_exactly_one_fold),
        TEST(training_rows_of_a_fold_are_exactly_the_other_rows),
        TEST(fold_sizes_differ_by_at_most_one_row),
        TEST(same_seed_gives_the_same_folds),
        TEST(stratified_folds_keep_each_classs_count_within_one),
        TEST(kfold_split_returns_the_rows_of_the_fold),
        TEST(kfold_refuses_bad_fold_counts_and_other_data_sets),
    };
    return RUN_TESTS(tests, argc, argv);
}
