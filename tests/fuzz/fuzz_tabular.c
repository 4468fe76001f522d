/* The tabular sets: scikit-learn's CSV files (rb_sklearn_load) and California housing
 * (rb_california_housing_load). The first byte of an input chooses the set (modulo 6: iris,
 * wine, breast_cancer, digits, boston, california_housing), the rest is its file. */
#include "fuzz.h"

static const struct {
    const char *name, *file;
} sets[] = {{"iris", "iris.csv"},
            {"wine", "wine_data.csv"},
            {"breast_cancer", "breast_cancer.csv"},
            {"digits", "digits.csv"},
            {"boston", "boston_house_prices.csv"},
            {"california_housing", "cal_housing.data"}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int s = data[0] % 6;
    const char *path = fuzz_write(sets[s].file, data + 1, size - 1);
    rb_error_clear();
    rb_dataset d;
    rb_status st = s < 5 ? rb_sklearn_load(sets[s].name, fuzz_dir(), &d)
                         : rb_california_housing_load(path, &d);
    if (st != RB_OK) {
        fuzz_check_empty(&d);
        fuzz_check_refusal(st, path);
    } else {
        fuzz_check_dataset(&d);
        FUZZ_CHECK(strcmp(d.meta->name, sets[s].name) == 0, "set '%s'", d.meta->name);
    }
    rb_dataset_free(&d);
    /* The next input may choose another set: this file must not be found then. */
    unlink(path);
    return 0;
}
