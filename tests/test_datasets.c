/* Tabular and image data sets: CSV, scikit-learn's sets, California housing, CIFAR-10, all on
 * files generated here (good and malformed ones), and their metadata. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

/* Write text to the test folder's name (gzip-compressed when the name ends in .gz); returns the
 * path. */
static const char *write_text(const char *name, const char *text)
{
    const char *path = test_path(name);
    size_t n = strlen(text);
    if (strstr(name, ".gz")) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, text, (unsigned)n), (int)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, n, f), n);
        fclose(f);
    }
    return path;
}

/* ---- CSV ---- */

static void csv_takes_the_last_column_as_target_and_names_features(void **state)
{
    (void)state;
    const char *p = write_text("a.csv", "width,height,\"area\"\r\n1,2,2\r\n3, 4.5 ,13.5\r\n\r\n");
    rb_dataset d;
    CHECK_STATUS_OK(rb_csv_load(p, (rb_csv_options){0}, &d));
    CHECK_SHAPE(d.x, 2, 2);
    CHECK_SHAPE(d.y, 2, 1);
    assert_int_equal(rb_tensor_dtype(d.x), RB_F32);
    CHECK_TENSOR(d.x, 0, 1, 2, 3, 4.5);
    CHECK_TENSOR(d.y, 0, 2, 13.5);
    assert_int_equal(d.meta->n_features, 2);
    assert_string_equal(d.meta->feature_names[1], "height");
    assert_string_equal(d.meta->target_name, "area");
    assert_string_equal(d.meta->name, "a.csv");
    assert_string_equal(d.meta->source, p);
    assert_int_equal(d.meta->n_classes, 0);
    rb_dataset_free(&d);
    assert_null(d.x);
    assert_null(d.meta);
}

static void csv_target_by_name_or_position_and_class_labels(void **state)
{
    (void)state;
    const char *p = write_text("b.csv.gz", "label;f1;f2\n1;0.5;-1\n0;1e-3;2\n2;7;8\n");
    rb_dataset d;
    CHECK_STATUS_OK(rb_csv_load(
        p,
        (rb_csv_options){
            .target = "label", .delimiter = ';', .classification = true, .dtype = RB_F64},
        &d));
    assert_int_equal(rb_tensor_dtype(d.x), RB_F64);
    assert_int_equal(rb_tensor_dtype(d.y), RB_I64);
    CHECK_TENSOR(d.x, 0, 0.5, -1, 1e-3, 2, 7, 8);
    CHECK_TENSOR(d.y, 0, 1, 0, 2);
    assert_int_equal(d.meta->n_classes, 3);
    assert_string_equal(d.meta->class_names[2], "2");
    assert_string_equal(d.meta->feature_names[0], "f1");
    rb_dataset_free(&d);

    p = write_text("c.csv", "5,1,2\n6,3,4\n");
    CHECK_STATUS_OK(rb_csv_load(p, (rb_csv_options){.no_header = true, .target_column = 1}, &d));
    CHECK_TENSOR(d.x, 0, 1, 2, 3, 4);
    CHECK_TENSOR(d.y, 0, 5, 6);
    assert_string_equal(d.meta->feature_names[0], "c2");
    assert_string_equal(d.meta->target_name, "c1");
    rb_dataset_free(&d);
}

static void malformed_csv_files_name_the_line_and_column(void **state)
{
    (void)state;
    rb_dataset d;
    const char *p = write_text("ragged.csv", "a,b,y\n1,2,3\n4,5\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){0}, &d), RB_ERR_FORMAT,
                "ragged.csv:3: 2 fields, expected 3");
    assert_null(d.x);
    p = write_text("word.csv", "a,b,y\n1,2,3\n4,five,6\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){0}, &d), RB_ERR_FORMAT,
                "word.csv:3: column 2: 'five' is not a number");
    p = write_text("hole.csv", "a,b,y\n1,,3\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){0}, &d), RB_ERR_FORMAT,
                "hole.csv:2: column 2 is empty");
    p = write_text("label.csv", "a,y\n1,0\n2,1.5\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){.classification = true}, &d), RB_ERR_FORMAT,
                "label.csv:3: class label 1.5");
    p = write_text("header.csv", "a,y\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){0}, &d), RB_ERR_FORMAT, "no data rows");
    p = write_text("empty.csv", "");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){0}, &d), RB_ERR_FORMAT, "is empty");
    p = write_text("named.csv", "a,b,y\n1,2,3\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){.target = "z"}, &d), RB_ERR_NOT_FOUND,
                "has no column 'z' (columns: a, b, y)");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){.target_column = 4}, &d), RB_ERR_ARGUMENT,
                "target column 4 of 3");
    CHECK_FAILS(rb_csv_load(test_path("absent.csv"), (rb_csv_options){0}, &d), RB_ERR_IO,
                "absent.csv");
    /* A gzip file cut short is refused, not read as a shorter table. */
    const char *gz = write_text("cut.csv.gz", "a,y\n1,2\n3,4\n5,6\n7,8\n9,10\n");
    FILE *f = fopen(gz, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    assert_int_equal(ftruncate(fileno(f), ftell(f) - 6), 0);
    fclose(f);
    CHECK_FAILS(rb_csv_load(gz, (rb_csv_options){0}, &d), RB_ERR_FORMAT, "cut.csv.gz");
}

/* strtod reads "nan", "inf" and 1e999 (as inf): no numbers of a data set unless asked for. */
static void csv_refuses_nan_inf_and_overflows_unless_asked(void **state)
{
    (void)state;
    rb_dataset d;
    const char *p = write_text("nan.csv", "a,b,y\n1,2,3\n4,NaN,6\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){0}, &d), RB_ERR_FORMAT,
                "nan.csv:3: column 2: 'NaN' is not a finite number");
    assert_null(d.x);
    p = write_text("inf.csv", "a,b,y\n1,-inf,3\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){.dtype = RB_F64}, &d), RB_ERR_FORMAT,
                "inf.csv:2: column 2: '-inf' is not a finite number");
    p = write_text("big.csv.gz", "a,b,y\n1,2,3\n1,2,1e999\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){.dtype = RB_F64}, &d), RB_ERR_FORMAT,
                "big.csv.gz:3: column 3: '1e999' overflows a double");
    /* 1e39 is a double but no float32. */
    p = write_text("f32.csv", "a,y\n1e39,1\n");
    CHECK_FAILS(rb_csv_load(p, (rb_csv_options){0}, &d), RB_ERR_FORMAT,
                "f32.csv:2: column 1: '1e39' is out of range for float32");
    CHECK_STATUS_OK(rb_csv_load(p, (rb_csv_options){.dtype = RB_F64}, &d));
    CHECK_TENSOR(d.x, 0, 1e39);
    rb_dataset_free(&d);
    /* Asked for, they load as non-finite values; tiny numbers are no overflow. */
    p = write_text("asked.csv", "a,b,y\nnan,inf,1e999\n1e39,-1e999,1e-400\n");
    CHECK_STATUS_OK(rb_csv_load(p, (rb_csv_options){.allow_nonfinite = true}, &d));
    assert_true(isnan(rb_tensor_f32(d.x)[0]));
    assert_true(isinf(rb_tensor_f32(d.x)[1]) && rb_tensor_f32(d.x)[1] > 0);
    assert_true(isinf(rb_tensor_f32(d.x)[2]) && rb_tensor_f32(d.x)[2] > 0);
    assert_true(isinf(rb_tensor_f32(d.x)[3]) && rb_tensor_f32(d.x)[3] < 0);
    assert_true(isinf(rb_tensor_f32(d.y)[0]) && rb_tensor_f32(d.y)[0] > 0);
    assert_true(rb_tensor_f32(d.y)[1] == 0);
    rb_dataset_free(&d);
    /* Class labels stay whole numbers whatever the option. */
    p = write_text("nanlabel.csv", "a,y\n1,nan\n");
    CHECK_FAILS(
        rb_csv_load(p, (rb_csv_options){.classification = true, .allow_nonfinite = true}, &d),
        RB_ERR_FORMAT, "nanlabel.csv:2: class label nan");
}

static void folders_are_not_data_files(void **state)
{
    (void)state;
    rb_dataset d;
    CHECK_FAILS(rb_csv_load(test_dir(), (rb_csv_options){0}, &d), RB_ERR_IO, "is a folder");
    CHECK_FAILS(rb_cifar10_load_batch(test_dir(), &d), RB_ERR_IO, "is a folder");
    CHECK_FAILS(rb_california_housing_load(test_dir(), &d), RB_ERR_IO, "is a folder");
    assert_null(d.x);
}

/* ---- scikit-learn's sets ---- */

static void sklearn_sets_read_their_layouts_with_names(void **state)
{
    (void)state;
    write_text("iris.csv", "3,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n"
                           "7.0,3.2,4.7,1.4,1\n6.3,3.3,6.0,2.5,2\n");
    rb_dataset d;
    CHECK_STATUS_OK(rb_sklearn_load("iris", test_dir(), &d));
    CHECK_SHAPE(d.x, 3, 4);
    CHECK_TENSOR(d.y, 0, 0, 1, 2);
    CHECK_CLOSE(rb_tensor_get(d.x, (int64_t[]){1, 2}), 4.7, 1e-6);
    assert_string_equal(d.meta->class_names[1], "versicolor");
    assert_string_equal(d.meta->feature_names[3], "petal width (cm)");
    assert_string_equal(d.meta->name, "iris");
    rb_dataset_free(&d);

    write_text("boston_house_prices.csv",
               "2,13,,,,,,,,,,,,\n\"CRIM\",\"ZN\",\"INDUS\",\"CHAS\",\"NOX\",\"RM\",\"AGE\","
               "\"DIS\",\"RAD\",\"TAX\",\"PTRATIO\",\"B\",\"LSTAT\",\"MEDV\"\n"
               "0.00632,18,2.31,0,0.538,6.575,65.2,4.09,1,296,15.3,396.9,4.98,24\n"
               "0.02731,0,7.07,0,0.469,6.421,78.9,4.9671,2,242,17.8,396.9,9.14,21.6\n");
    CHECK_STATUS_OK(rb_sklearn_load("boston", test_dir(), &d));
    CHECK_SHAPE(d.x, 2, 13);
    CHECK_TENSOR(d.y, 1e-6, 24, 21.6);
    assert_string_equal(d.meta->feature_names[12], "LSTAT");
    assert_string_equal(d.meta->target_name, "MEDV");
    assert_int_equal(d.meta->n_classes, 0);
    rb_dataset_free(&d);

    char digits[600] = "";
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < 64; k++)
            snprintf(digits + strlen(digits), 8, "%d,", (k + r) % 17);
        snprintf(digits + strlen(digits), 8, "%d\n", 7 + r);
    }
    write_text("digits.csv.gz", digits);
    CHECK_STATUS_OK(rb_sklearn_load("digits", test_dir(), &d));
    CHECK_SHAPE(d.x, 2, 64);
    CHECK_TENSOR(d.y, 0, 7, 8);
    CHECK_CLOSE(rb_tensor_get(d.x, (int64_t[]){1, 63}), 64 % 17, 0);
    assert_string_equal(d.meta->feature_names[9], "pixel_1_1");
    rb_dataset_free(&d);
}

static void sklearn_files_that_disagree_with_themselves_are_refused(void **state)
{
    (void)state;
    rb_dataset d;
    write_text("wine_data.csv",
               "3,13,class_0,class_1,class_2\n"
               "14.23,1.71,2.43,15.6,127,2.8,3.06,0.28,2.29,5.64,1.04,3.92,1065,0\n");
    CHECK_FAILS(rb_sklearn_load("wine", test_dir(), &d), RB_ERR_FORMAT,
                "1 data rows, its first line says 3");
    write_text("breast_cancer.csv", "1,30,malignant,benign\n1,2,3\n");
    CHECK_FAILS(rb_sklearn_load("breast_cancer", test_dir(), &d), RB_ERR_FORMAT,
                "breast_cancer.csv:2: 3 fields, expected 31");
    write_text("iris.csv", "1,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,3\n");
    CHECK_FAILS(rb_sklearn_load("iris", test_dir(), &d), RB_ERR_FORMAT,
                "label 3 is not a class of iris");
    write_text("iris.csv", "1,4,setosa,versicolor,virginica\n5.1,nan,1.4,0.2,1\n");
    CHECK_FAILS(rb_sklearn_load("iris", test_dir(), &d), RB_ERR_FORMAT,
                "iris.csv:2: column 2: 'nan' is not a finite number");
    write_text("iris.csv", "1x,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,1\n");
    CHECK_FAILS(rb_sklearn_load("iris", test_dir(), &d), RB_ERR_FORMAT, "iris.csv:1: expected");
    CHECK_FAILS(rb_sklearn_load("titanic", test_dir(), &d), RB_ERR_NOT_FOUND, "no set 'titanic'");
    CHECK_FAILS(rb_sklearn_load("iris", "/nonexistent", &d), RB_ERR_NOT_FOUND,
                "'iris.csv' not found");
}

/* ---- California housing ---- */

/* The first rows of StatLib's file, and the features scikit-learn derives from them. */
static void california_housing_features_match_scikit_learn(void **state)
{
    (void)state;
    const char *p =
        write_text("cal_housing.data", "-122.230000,37.880000,41.000000,880.000000,129.000000,322."
                                       "000000,126.000000,8.325200,452600.000000\n"
                                       "-122.220000,37.860000,21.000000,7099.000000,1106.000000,"
                                       "2401.000000,1138.000000,8.301400,358500.000000\n");
    rb_dataset d;
    CHECK_STATUS_OK(rb_california_housing_load(p, &d));
    CHECK_SHAPE(d.x, 2, 8);
    CHECK_SHAPE(d.y, 2, 1);
    /* fetch_california_housing().data[:2] and .target[:2] */
    CHECK_TENSOR(d.x, 1e-5, 8.3252, 41, 6.984127, 1.023810, 322, 2.555556, 37.88, -122.23, 8.3014,
                 21, 6.238137, 0.971880, 2401, 2.109842, 37.86, -122.22);
    CHECK_TENSOR(d.y, 1e-6, 4.526, 3.585);
    assert_string_equal(d.meta->feature_names[5], "AveOccup");
    assert_string_equal(d.meta->target_name, "MedHouseVal");
    rb_dataset_free(&d);

    p = write_text("zero.data", "-122.23,37.88,41,880,129,322,0,8.3252,452600\n");
    CHECK_FAILS(rb_california_housing_load(p, &d), RB_ERR_FORMAT,
                "zero.data:1: column 7 (households) is 0");
    p = write_text("short.data", "-122.23,37.88,41,880,129,322,126,8.3252\n");
    CHECK_FAILS(rb_california_housing_load(p, &d), RB_ERR_FORMAT,
                "short.data:1: 8 fields, expected 9");
}

/* Found by fuzzing (tests/fuzz/fuzz_tabular.c): the files without a first line of counts
 * (digits.csv, cal_housing.data) loaded as data sets of 0 rows when empty or blank; like a CSV
 * without rows they are refused. */
static void tabular_files_without_rows_are_refused(void **state)
{
    (void)state;
    rb_dataset d;
    const char *blank[] = {"", "\n", " \n\n"};
    for (int i = 0; i < 3; i++) {
        write_text("digits.csv", blank[i]);
        CHECK_FAILS(rb_sklearn_load("digits", test_dir(), &d), RB_ERR_FORMAT,
                    "digits.csv' has no data rows");
        assert_null(d.x);
        const char *p = write_text("cal_housing.data", blank[i]);
        CHECK_FAILS(rb_california_housing_load(p, &d), RB_ERR_FORMAT,
                    "cal_housing.data' has no data rows");
        assert_null(d.x);
    }
}

/* ---- CIFAR-10 ---- */

static void write_cifar(const char *name, int records, int bad_label_at, long cut)
{
    FILE *f = fopen(test_path(name), "wb");
    assert_non_null(f);
    long written = 0;
    for (int r = 0; r < records; r++) {
        unsigned char rec[3073];
        rec[0] = (unsigned char)(r == bad_label_at ? 10 : r % 10);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++)
                rec[1 + c * 1024 + p] = (unsigned char)((p + 85 * c + r) % 256);
        long n = cut >= 0 && written + 3073 > cut ? cut - written : 3073;
        if (n > 0) fwrite(rec, 1, (size_t)n, f);
        written += n > 0 ? n : 0;
    }
    fclose(f);
}

static void cifar10_records_become_channels_last_images(void **state)
{
    (void)state;
    write_cifar("batch.bin", 3, -1, -1);
    rb_dataset d;
    CHECK_STATUS_OK(rb_cifar10_load_batch(test_path("batch.bin"), &d));
    CHECK_SHAPE(d.x, 3, 32, 32, 3);
    CHECK_TENSOR(d.y, 0, 0, 1, 2);
    /* record 2, row 1, column 5: pixel p = 37; channel c holds (p + 85 c + 2) / 255 */
    for (int c = 0; c < 3; c++)
        CHECK_CLOSE(rb_tensor_get(d.x, (int64_t[]){2, 1, 5, c}), (37 + 85 * c + 2) / 255.0, 1e-7);
    assert_string_equal(d.meta->class_names[9], "truck");
    rb_dataset_free(&d);

    write_cifar("cut.bin", 2, -1, 3073 + 100);
    CHECK_FAILS(
        rb_cifar10_load_batch(test_path("cut.bin"), &d), RB_ERR_FORMAT,
        "3173 bytes is not a whole number of 3073-byte records (truncated after byte 3073?)");
    write_cifar("label.bin", 3, 1, -1);
    CHECK_FAILS(rb_cifar10_load_batch(test_path("label.bin"), &d), RB_ERR_FORMAT,
                "byte 3073 (label of record 1) is 10");
    assert_null(d.x);
    CHECK_FAILS(rb_cifar10_load(test_dir(), &d, &d), RB_ERR_NOT_FOUND, "data_batch_1.bin");
}

/* The whole set as bytes: the same pixels as the float set, a quarter of the memory; batches
 * converted by the batcher hold the float set's bits. */
static void cifar10_as_bytes_matches_the_float_set(void **state)
{
    (void)state;
    char name[32];
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", i);
        write_cifar(name, 2 + i, -1, -1);
    }
    write_cifar("test_batch.bin", 4, -1, -1);
    rb_dataset f, ft, b, bt;
    CHECK_STATUS_OK(rb_cifar10_load(test_dir(), &f, &ft));
    CHECK_STATUS_OK(rb_cifar10_load_bytes(test_dir(), &b, &bt));
    assert_int_equal(rb_tensor_dtype(b.x), RB_U8);
    CHECK_SHAPE(b.x, 25, 32, 32, 3);
    CHECK_SHAPE(bt.x, 4, 32, 32, 3);
    /* record 2 of the first file, row 1, column 5, channel 1: (37 + 85 + 2) */
    assert_int_equal(rb_tensor_u8(b.x)[((2 * 32 + 1) * 32 + 5) * 3 + 1], 124);
    assert_memory_equal(rb_tensor_i64(f.y), rb_tensor_i64(b.y), sizeof(int64_t) * 25);
    rb_batcher *bb = rb_batcher_new(b.x, b.y, 25, false, 0);
    CHECK_STATUS_OK(rb_batcher_convert(bb, RB_F32, 1.0 / 255));
    rb_tensor *xb;
    assert_true(rb_batcher_next(bb, &xb, NULL));
    assert_memory_equal(rb_tensor_f32(xb), rb_tensor_f32(f.x), sizeof(float) * 25 * 3072);
    rb_batcher_free(bb);
    rb_dataset_free(&f);
    rb_dataset_free(&ft);
    rb_dataset_free(&b);
    rb_dataset_free(&bt);
}

/* ---- locating data, metadata copies ---- */

static void ruban_data_is_searched_before_the_system_places(void **state)
{
    (void)state;
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sklearn", test_dir());
    mkdir(sub, 0755);
    write_text("sklearn/iris.csv", "1,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,1\n");
    const char *old = getenv("RUBAN_DATA");
    char *saved = old ? strdup(old) : NULL;
    setenv("RUBAN_DATA", test_dir(), 1);
    rb_dataset d;
    rb_status st = rb_sklearn_load("iris", NULL, &d);
    if (saved)
        setenv("RUBAN_DATA", saved, 1);
    else
        unsetenv("RUBAN_DATA");
    free(saved);
    CHECK_STATUS_OK(st);
    CHECK_SHAPE(d.x, 1, 4);
    assert_non_null(strstr(d.meta->source, "sklearn/iris.csv"));

    rb_dataset head;
    CHECK_STATUS_OK(rb_dataset_head(&d, 1, &head));
    assert_non_null(head.meta);
    assert_true(head.meta != d.meta);
    assert_string_equal(head.meta->class_names[1], "versicolor");
    rb_dataset_free(&head);
    rb_dataset_free(&d);
}

static void cylinder_bell_funnel_has_its_shape_labels_in_turn_and_class_names(void **state)
{
    (void)state;
    rb_dataset d;
    CHECK_STATUS_OK(rb_cylinder_bell_funnel(7, 0, 1, &d)); /* 0: Saito's 128 steps */
    CHECK_SHAPE(d.x, 7, 128, 1);
    CHECK_TENSOR(d.y, 0, 0, 1, 2, 0, 1, 2, 0);
    assert_int_equal(d.meta->n_classes, 3);
    assert_string_equal(d.meta->class_names[0], "cylinder");
    assert_string_equal(d.meta->class_names[1], "bell");
    assert_string_equal(d.meta->class_names[2], "funnel");
    assert_string_equal(d.meta->name, "cylinder_bell_funnel");
    rb_dataset_free(&d);
    CHECK_STATUS_OK(rb_cylinder_bell_funnel(2, 64, 1, &d));
    CHECK_SHAPE(d.x, 2, 64, 1);
    rb_dataset_free(&d);
}

static void cylinder_bell_funnel_repeats_with_its_seed_only(void **state)
{
    (void)state;
    rb_dataset a, b, c;
    CHECK_STATUS_OK(rb_cylinder_bell_funnel(30, 128, 5, &a));
    CHECK_STATUS_OK(rb_cylinder_bell_funnel(30, 128, 5, &b));
    CHECK_STATUS_OK(rb_cylinder_bell_funnel(30, 128, 6, &c));
    size_t bytes = sizeof(float) * 30 * 128;
    assert_memory_equal(rb_tensor_f32(a.x), rb_tensor_f32(b.x), bytes);
    assert_memory_not_equal(rb_tensor_f32(a.x), rb_tensor_f32(c.x), bytes);
    rb_dataset_free(&a);
    rb_dataset_free(&b);
    rb_dataset_free(&c);
}

static void cylinder_bell_funnel_classes_follow_saitos_shapes(void **state)
{
    (void)state;
    /* Averages over 1,000 series of each class. Before step 16 no event has begun: noise of
     * mean 0 and variance 1. Steps 32-47 lie inside every event (a <= 32, b >= a + 32): there
     * the cylinder averages 6, and a bell and a funnel add up to a cylinder (u + (1 - u) = 1),
     * the funnel above the bell (its ramp starts high). */
    enum { N = 3000, L = 128 };
    rb_dataset d;
    CHECK_STATUS_OK(rb_cylinder_bell_funnel(N, L, 11, &d));
    const float *x = rb_tensor_f32(d.x);
    double before = 0, before_sq = 0, inside[3] = {0, 0, 0};
    for (int64_t i = 0; i < N; i++)
        for (int t = 0; t < L; t++) {
            double v = x[i * L + t];
            if (t < 16) before += v / (N * 16.0), before_sq += v * v / (N * 16.0);
            if (t >= 32 && t < 48) inside[i % 3] += v / (N / 3 * 16.0);
        }
    CHECK_CLOSE(before, 0, 0.02);
    CHECK_CLOSE(before_sq, 1, 0.03);
    CHECK_CLOSE(inside[0], 6, 0.1);
    CHECK_CLOSE(inside[1] + inside[2], inside[0], 0.2);
    assert_true(inside[2] > inside[1] + 1);
    rb_dataset_free(&d);
}

static void cylinder_bell_funnel_refuses_impossible_sizes(void **state)
{
    (void)state;
    rb_dataset d;
    CHECK_FAILS(rb_cylinder_bell_funnel(0, 128, 1, &d), RB_ERR_ARGUMENT, "0 series");
    CHECK_FAILS(rb_cylinder_bell_funnel(10, 4, 1, &d), RB_ERR_ARGUMENT, "of 4 steps");
    CHECK_FAILS(rb_cylinder_bell_funnel(10, 128, 1, NULL), RB_ERR_ARGUMENT, "out is NULL");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST(csv_takes_the_last_column_as_target_and_names_features),
        TEST(csv_target_by_name_or_position_and_class_labels),
        TEST(malformed_csv_files_name_the_line_and_column),
        TEST(csv_refuses_nan_inf_and_overflows_unless_asked),
        TEST(folders_are_not_data_files),
        TEST(sklearn_sets_read_their_layouts_with_names),
        TEST(sklearn_files_that_disagree_with_themselves_are_refused),
        TEST(california_housing_features_match_scikit_learn),
        TEST(tabular_files_without_rows_are_refused),
        TEST(cifar10_records_become_channels_last_images),
        TEST(cifar10_as_bytes_matches_the_float_set),
        TEST(ruban_data_is_searched_before_the_system_places),
        TEST(cylinder_bell_funnel_has_its_shape_labels_in_turn_and_class_names),
        TEST(cylinder_bell_funnel_repeats_with_its_seed_only),
        TEST(cylinder_bell_funnel_classes_follow_saitos_shapes),
        TEST(cylinder_bell_funnel_refuses_impossible_sizes),
    };
    return RUN_TESTS_IN_DIR(tests, argc, argv);
}
