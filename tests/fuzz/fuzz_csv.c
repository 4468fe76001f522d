/* CSV files (rb_csv_load). The first two bytes of an input choose the options, the rest is the
 * file: byte 0 bits 0..4 classification, no header, float64, non-finite values allowed, target
 * by name ("target"); byte 1 bits 0..2 the delimiter (default, ',', ';', tab, space, '|', ':',
 * 'x'), bits 3..7 the target column modulo 6 (0: the last). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    rb_csv_options o = {
        .classification = data[0] & 1,
        .no_header = data[0] & 2,
        .dtype = data[0] & 4 ? RB_F64 : RB_F32,
        .allow_nonfinite = data[0] & 8,
        .target = data[0] & 16 ? "target" : NULL,
        .delimiter = "\0,;\t |:x"[data[1] & 7],
        .target_column = (data[1] >> 3) % 6,
    };
    const char *path = fuzz_write("input.csv", data + 2, size - 2);
    rb_error_clear();
    rb_dataset d;
    rb_status st = rb_csv_load(path, o, &d);
    if (st != RB_OK) {
        fuzz_check_empty(&d);
        fuzz_check_refusal(st, path);
        return 0;
    }
    fuzz_check_dataset(&d);
    rb_dtype want = o.dtype;
    FUZZ_CHECK(rb_tensor_dtype(d.x) == want, "x of another dtype");
    FUZZ_CHECK(rb_tensor_dtype(d.y) == (o.classification ? RB_I64 : want), "y of another dtype");
    rb_dataset_free(&d);
    return 0;
}
