/* NumPy-style printing of tensors, eliding the middle of long axes. */
#include <math.h>

#include "core.h"

enum { EDGE = 3, FULL_LIMIT = 1000 };

static void print_value(FILE *f, const rb_tensor *t, int64_t flat)
{
    double v = rb__get_flat(t, flat);
    if (!rb__is_float(t->dtype))
        fprintf(f, "%lld", (long long)v);
    else
        fprintf(f, "% .5g", v);
}

static void print_axis(FILE *f, const rb_tensor *t, int axis, int64_t base, bool elide, int indent)
{
    int64_t n = t->shape[axis];
    int64_t step = 1;
    for (int d = axis + 1; d < t->ndim; d++)
        step *= t->shape[d];
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (elide && n > 2 * EDGE && i == EDGE) {
            fprintf(f, axis == t->ndim - 1 ? " ...," : "\n%*s...,",
                    axis == t->ndim - 1 ? 0 : indent + 1, "");
            i = n - EDGE - 1;
            continue;
        }
        if (axis == t->ndim - 1)
            print_value(f, t, base + i);
        else
            print_axis(f, t, axis + 1, base + i * step, elide, indent + 1);
        if (i < n - 1) {
            fputc(',', f);
            if (axis == t->ndim - 1)
                fputc(' ', f);
            else {
                for (int d = axis + 1; d < t->ndim; d++)
                    fputc('\n', f);
                fprintf(f, "%*s", indent + 1, "");
            }
        }
    }
    fputc(']', f);
}

void rb_tensor_fprint(FILE *f, const rb_tensor *t, const char *name)
{
    if (!f) return;
    if (!t) {
        fprintf(f, "%s: (null)\n", name ? name : "tensor");
        return;
    }
    const char *label = name && *name ? name : (t->name[0] ? t->name : "tensor");
    fprintf(f, "%s: %s%s\n", label, rb_dtype_name(t->dtype), rb__shp(t));
    if (t->ndim == 0) {
        print_value(f, t, 0);
        fputc('\n', f);
        return;
    }
    if (t->size == 0) {
        fprintf(f, "[]\n");
        return;
    }
    print_axis(f, t, 0, 0, t->size > FULL_LIMIT, 0);
    fputc('\n', f);
}

void rb_tensor_print(const rb_tensor *t, const char *name) { rb_tensor_fprint(stdout, t, name); }
