/* The same model everywhere: a check that every rank built the same variables and optimizer,
 * then rank 0's values, optimizer state and counters copied to all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_impl.h"

#define DIFF_BYTES 384

/* One line per variable ("dense.kernel float32 [784,256] trainable") and one for the
 * optimizer; the caller frees the text. */
static char *describe(rb_params *p, const rb_optimizer *opt)
{
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    int n = rb_params_count(p);
    for (int i = 0; s && i <= n; i++) {
        char line[256];
        if (i < n) {
            rb_tensor *v = rb_params_at(p, i);
            snprintf(line, sizeof line, "'%s' %s %s%s\n", rb_tensor_name(v),
                     rb_dtype_name(rb_tensor_dtype(v)), rb_tensor_shape_text(v),
                     rb_params_is_trainable(v) ? " trainable" : "");
        } else {
            snprintf(line, sizeof line, "optimizer %s with %d state slabs\n",
                     opt ? rb_optimizer_name(opt) : "(none)",
                     opt ? rb_optimizer_state_count(opt) : 0);
        }
        size_t k = strlen(line);
        if (len + k + 1 > cap) {
            char *t = realloc(s, cap = 2 * (len + k + 1));
            if (!t) {
                free(s);
                return NULL;
            }
            s = t;
        }
        memcpy(s + len, line, k + 1);
        len += k;
    }
    if (!s) rb_error(RB_ERR_MEMORY, "rb_dist_broadcast_params: out of memory");
    return s;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The first line of mine that differs from theirs, as "'a' ... vs 'b' ...". */
static void first_difference(const char *mine, const char *theirs, char *out, size_t size)
{
    while (*mine || *theirs) {
        size_t a = strcspn(mine, "\n"), b = strcspn(theirs, "\n");
        if (a != b || strncmp(mine, theirs, a) != 0) {
            snprintf(out, size, "%.*s vs %.*s", (int)(a ? a : 9), a ? mine : "(nothing)",
                     (int)(b ? b : 9), b ? theirs : "(nothing)");
            return;
        }
        mine += a + (mine[a] != '\0');
        theirs += b + (theirs[b] != '\0');
    }
    snprintf(out, size, "(same description, different order)");
}

/* Every rank learns every rank's summary; on a mismatch each finds its first difference
 * from rank 0 and all of them learn those. Returns the failing status on every rank. */
static rb_status check_same_model(rb_dist *d, rb_params *p, const rb_optimizer *opt)
{
    const char *who = "rb_dist_broadcast_params";
    char *text = describe(p, opt);
    if (!text) return rb_last_status();
    int64_t mine[3] = {(int64_t)fnv1a(text), rb_params_count(p), rb_params_size(p, false)};
    int64_t *all = malloc(sizeof(int64_t) * 3 * (size_t)d->size);
    char *diffs = malloc((size_t)DIFF_BYTES * (size_t)d->size);
    if (!all || !diffs) {
        free(text);
        free(all);
        free(diffs);
        return rb_error(RB_ERR_MEMORY, "%s: out of memory", who);
    }
    MPI_Request req;
    rb__dist_begin(d, who);
    rb__dist_check(d, MPI_Iallgather(mine, 3, MPI_INT64_T, all, 3, MPI_INT64_T, d->comm, &req),
                   who);
    rb__dist_wait(d, 1, &req, who);
    int bad = -1;
    for (int r = 1; r < d->size && bad < 0; r++)
        if (memcmp(&all[3 * r], &all[0], sizeof(int64_t) * 3) != 0) bad = r;
    rb_status st = RB_OK;
    if (bad >= 0) {
        /* Every rank takes part: rank 0's description, then each rank's first difference. */
        int64_t len = (int64_t)strlen(text) + 1;
        rb__dist_bcast_bytes(d, &len, sizeof len, 0, who);
        char *ref = d->rank == 0 ? text : malloc((size_t)len);
        char diff[DIFF_BYTES] = "";
        if (ref) {
            rb__dist_bcast_bytes(d, ref, len, 0, who);
            if (d->rank != 0) first_difference(text, ref, diff, sizeof diff);
        } else {
            rb__dist_abort(d, "%s: out of memory", who);
        }
        if (ref != text) free(ref);
        rb__dist_begin(d, who);
        rb__dist_check(
            d,
            MPI_Iallgather(diff, DIFF_BYTES, MPI_CHAR, diffs, DIFF_BYTES, MPI_CHAR, d->comm, &req),
            who);
        rb__dist_wait(d, 1, &req, who);
        const int64_t *b = &all[3 * bad];
        st = rb_error(RB_ERR_SHAPE,
                      "%s: rank %d's model differs from rank 0's: %lld variables of %lld values vs %lld of %lld; first difference: %s",
                      who, bad, (long long)b[1], (long long)b[2], (long long)all[1],
                      (long long)all[2], &diffs[(size_t)bad * DIFF_BYTES]);
    }
    free(text);
    free(all);
    free(diffs);
    return st;
}

static int64_t bytes_of(const rb_tensor *t)
{
    return rb_tensor_size(t) * (int64_t)rb_dtype_size(rb_tensor_dtype(t));
}

rb_status rb_dist_broadcast_buffers(rb_dist *d, rb_params *p)
{
    const char *who = "rb_dist_broadcast_buffers";
    if (!p) return rb_error(RB_ERR_ARGUMENT, "%s: store is NULL", who);
    if (!d) return RB_OK;
    /* Packed into one message: these are few and small. */
    int n = rb_params_count(p);
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        if (!rb_params_is_trainable(rb_params_at(p, i))) total += bytes_of(rb_params_at(p, i));
    if (total == 0) return RB_OK;
    char *buf = malloc((size_t)total);
    if (!buf) return rb_error(RB_ERR_MEMORY, "%s: out of memory", who);
    for (int pass = 0; pass < 2; pass++) {
        int64_t off = 0;
        for (int i = 0; i < n; i++) {
            rb_tensor *v = rb_params_at(p, i);
            if (rb_params_is_trainable(v)) continue;
            if (pass == 0)
                memcpy(buf + off, rb_tensor_data(v), (size_t)bytes_of(v));
            else
                memcpy(rb_tensor_data(v), buf + off, (size_t)bytes_of(v));
            off += bytes_of(v);
        }
        if (pass == 0) rb__dist_bcast_bytes(d, buf, total, 0, who);
    }
    free(buf);
    rb_params_touch(p);
    return RB_OK;
}

rb_status rb_dist_broadcast_params(rb_dist *d, rb_params *p, rb_optimizer *opt)
{
    const char *who = "rb_dist_broadcast_params";
    if (!p) return rb_error(RB_ERR_ARGUMENT, "%s: store is NULL", who);
    if (!d) return RB_OK;
    if (opt && rb_optimizer_params(opt) != p)
        return rb_error(RB_ERR_ARGUMENT, "%s: the optimizer belongs to another store", who);
    if (check_same_model(d, p, opt) != RB_OK) return rb_last_status();
    rb_tensor *values = rb_params_flat_values(p);
    if (!values) return rb_last_status();
    rb__dist_bcast_bytes(d, rb_tensor_data(values), bytes_of(values), 0, who);
    if (opt) {
        for (int k = 0; k < rb_optimizer_state_count(opt); k++) {
            rb_tensor *s = rb_params_state(p, rb_optimizer_state_name(opt, k));
            if (!s) return rb_last_status();
            rb__dist_bcast_bytes(d, rb_tensor_data(s), bytes_of(s), 0, who);
        }
        double counters[2] = {(double)rb_optimizer_steps(opt), rb_optimizer_lr(opt)};
        rb__dist_bcast_bytes(d, counters, sizeof counters, 0, who);
        rb_optimizer_set_steps(opt, (int64_t)counters[0]);
        rb_optimizer_set_lr(opt, counters[1]);
    }
    rb_params_touch(p);
    return rb_dist_broadcast_buffers(d, p);
}
