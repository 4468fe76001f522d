/* A tape's record as a Graphviz DOT graph. */
#include <stdio.h>

#include "core.h"
#include "ruban/files.h"
#include "tape_impl.h"

static void tensor_node(FILE *f, const rb_tensor *t)
{
    const char *shape = t->flags & RB__VARIABLE ? "box3d" : "ellipse";
    const char *fill = t->flags & RB__VARIABLE ? "lightblue" : "white";
    fprintf(f, "  t%p [shape=%s, style=filled, fillcolor=%s, label=\"%s%s%s\\n%s\"];\n",
            (const void *)t, shape, fill, t->name, t->name[0] ? "\\n" : "", rb_dtype_name(t->dtype),
            rb__shp(t));
}

rb_status rb_tape_write_dot(const rb_tape *tape, FILE *f)
{
    if (!tape || !f) return rb_error(RB_ERR_ARGUMENT, "rb_tape_write_dot: NULL argument");
    if (!tape->serial) return rb_error(RB_ERR_STATE, "rb_tape_write_dot: the tape has ended");
    fprintf(f, "digraph tape {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
    /* Inputs that no recorded op produced are drawn once, when first used. */
    for (const rb_node *n = tape->first; n; n = n->next) {
        fprintf(f, "  n%p [shape=box, style=\"rounded,filled\", fillcolor=khaki, label=\"%s\"];\n",
                (const void *)n, n->def->name);
        for (int i = 0; i < n->n_in; i++) {
            bool produced = false;
            for (const rb_node *m = tape->first; m != n && !produced; m = m->next)
                produced = m->out == n->in[i];
            bool seen = produced;
            for (const rb_node *m = tape->first; m != n && !seen; m = m->next)
                for (int k = 0; k < m->n_in && !seen; k++)
                    seen = m->in[k] == n->in[i];
            if (!seen) tensor_node(f, n->in[i]);
            fprintf(f, "  t%p -> n%p;\n", (const void *)n->in[i], (const void *)n);
        }
        tensor_node(f, n->out);
        fprintf(f, "  n%p -> t%p;\n", (const void *)n, (const void *)n->out);
    }
    fprintf(f, "}\n");
    return ferror(f) ? rb_error(RB_ERR_IO, "rb_tape_write_dot: write failed") : RB_OK;
}

rb_status rb_tape_save_dot(const rb_tape *tape, const char *path)
{
    if (!path) return rb_error(RB_ERR_ARGUMENT, "rb_tape_save_dot: path is NULL");
    if (!tape) return rb_error(RB_ERR_ARGUMENT, "rb_tape_save_dot: tape is NULL");
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "rb_tape_save_dot") != RB_OK) return rb_last_status();
    if (rb_tape_write_dot(tape, w.f) != RB_OK) {
        rb_atomic_file_abort(&w);
        return rb_last_status();
    }
    return rb_atomic_file_commit(&w);
}
