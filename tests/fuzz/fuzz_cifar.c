/* CIFAR-10 batches (rb_cifar10_load_batch): the input is the file of 3,073-byte records. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("data_batch_1.bin", data, size);
    rb_error_clear();
    rb_dataset d;
    rb_status st = rb_cifar10_load_batch(path, &d);
    if (st != RB_OK) {
        fuzz_check_empty(&d);
        fuzz_check_refusal(st, path);
        return 0;
    }
    fuzz_check_dataset(&d);
    FUZZ_CHECK(rb_tensor_ndim(d.x) == 4 && rb_tensor_dim(d.x, 3) == 3, "x is not (N, 32, 32, 3)");
    FUZZ_CHECK(d.meta->n_classes == 10, "%d classes", d.meta->n_classes);
    rb_dataset_free(&d);
    return 0;
}
