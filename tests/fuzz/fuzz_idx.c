/* IDX files (rb_idx_load): the input is the file, plain or gzip, read into each dtype. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        rb_dtype dtype;
        double scale;
    } reads[] = {{RB_F32, 1.0 / 255.0}, {RB_F64, 0.5}, {RB_I64, 1.0}, {RB_U8, 1.0}};
    const char *path = fuzz_write("input-idx3-ubyte", data, size);
    for (size_t k = 0; k < sizeof reads / sizeof reads[0]; k++) {
        rb_error_clear();
        rb_tensor *t = NULL;
        rb_status st = rb_idx_load(path, reads[k].dtype, reads[k].scale, &t);
        if (st != RB_OK) {
            FUZZ_CHECK(!t, "a refused load returned a tensor");
            fuzz_check_refusal(st, path);
            continue;
        }
        FUZZ_CHECK(t && rb_tensor_dtype(t) == reads[k].dtype, "not a tensor of the dtype asked");
        int ndim = rb_tensor_ndim(t);
        FUZZ_CHECK(ndim >= 1 && ndim <= RB_MAX_DIMS, "%d dimensions", ndim);
        volatile double sum = fuzz_touch(t);
        (void)sum;
        rb_tensor_free(t);
    }
    return 0;
}
