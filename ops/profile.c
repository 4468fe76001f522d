/* Per-op timing: forward and backward seconds summed per built-in op (custom ops share one
 * row), with the bytes the op must move at least, so that memory-bound ops (pooling,
 * elementwise) show how close they run to the memory's bandwidth. Off by default; one branch
 * per op when off. */
#include <stdlib.h>
#include <string.h>

#include "op_impl.h"
#include "profile.h"

typedef struct op_time {
    double forward, backward;
    double forward_bytes, backward_bytes;
    long long calls, backward_calls;
} op_time;

static op_time times[RB__OP_COUNT + 1]; /* the last row collects custom ops */
bool rb__profiling;
static double started, total;

static int row_of(const rb_op_def *def)
{
    if (def >= rb__ops && def < rb__ops + RB__OP_COUNT) return (int)(def - rb__ops);
    return RB__OP_COUNT;
}

static _Thread_local int depth;

double rb__profile_begin(void) { return depth++ == 0 ? rb_now() : -1.0; }

/* Bytes an application of the op must move at least: its inputs read and its output written;
 * its backward reads the output's gradient and the inputs and writes the inputs' gradients. */
static double bytes_of(const rb_node *n, bool backward)
{
    if (n->n_in > 0 && n->in[0] && n->out->version == n->in[0]->version)
        return 0; /* a view (it shares its base's version counter): no data moved */
    double in = 0, out = (double)n->out->size * (double)rb_dtype_size(n->out->dtype);
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i]) in += (double)n->in[i]->size * (double)rb_dtype_size(n->in[i]->dtype);
    return backward ? out + 2 * in : in + out;
}

void rb__profile_end(const rb_node *node, double start, bool backward)
{
    depth--;
    if (start < 0) return;
    double seconds = rb_now() - start;
    op_time *t = &times[row_of(node->def)];
    if (backward) {
        t->backward += seconds;
        t->backward_bytes += bytes_of(node, true);
        t->backward_calls++;
    } else {
        t->forward += seconds;
        t->forward_bytes += bytes_of(node, false);
        t->calls++;
    }
}

void rb_profile_start(void)
{
    rb__profiling = true;
    started = rb_now();
}

void rb_profile_stop(void)
{
    if (rb__profiling) total += rb_now() - started;
    rb__profiling = false;
}

void rb_profile_reset(void)
{
    memset(times, 0, sizeof times);
    total = 0;
    started = rb_now();
}

static int by_total(const void *a, const void *b)
{
    const op_time *x = &times[*(const int *)a], *y = &times[*(const int *)b];
    double tx = x->forward + x->backward, ty = y->forward + y->backward;
    return (tx < ty) - (tx > ty);
}

void rb_profile_print(FILE *f)
{
    if (!f) return;
    double wall = total + (rb__profiling ? rb_now() - started : 0);
    int order[RB__OP_COUNT + 1], n = 0;
    double in_ops = 0;
    for (int k = 0; k <= RB__OP_COUNT; k++)
        if (times[k].calls || times[k].backward_calls) {
            order[n++] = k;
            in_ops += times[k].forward + times[k].backward;
        }
    qsort(order, (size_t)n, sizeof order[0], by_total);
    fprintf(f, "%-24s %10s %12s %8s %10s %12s %8s %8s\n", "op", "calls", "forward ms", "GB/s",
            "bwd calls", "backward ms", "GB/s", "share");
    for (int i = 0; i < n; i++) {
        const op_time *t = &times[order[i]];
        const char *name = order[i] < RB__OP_COUNT ? rb__ops[order[i]].name : "(custom ops)";
        char fwd_rate[16] = "-", bwd_rate[16] = "-";
        if (t->forward > 0 && t->forward_bytes > 0)
            snprintf(fwd_rate, sizeof fwd_rate, "%.1f", t->forward_bytes / t->forward / 1e9);
        if (t->backward > 0 && t->backward_bytes > 0)
            snprintf(bwd_rate, sizeof bwd_rate, "%.1f", t->backward_bytes / t->backward / 1e9);
        fprintf(f, "%-24s %10lld %12.2f %8s %10lld %12.2f %8s %7.1f%%\n", name, t->calls,
                1e3 * t->forward, fwd_rate, t->backward_calls, 1e3 * t->backward, bwd_rate,
                wall > 0 ? 100 * (t->forward + t->backward) / wall : 0);
    }
    fprintf(f, "(time of ops run inside another op or a backward rule counts for that one; GB/s: "
               "the bytes an op must move at least - inputs and output, and their gradients "
               "backward - per second, the measure of memory-bound ops such as pooling)\n");
    fprintf(f,
            "%-24s %10s %12.2f ms of %.2f ms profiled (%.1f%% outside ops: optimizer, "
            "data, user code)\n",
            "total in ops", "", 1e3 * in_ops, 1e3 * wall,
            wall > 0 ? 100 * (wall - in_ops) / wall : 0);
}
