/* Per-op timing: forward and backward seconds summed per built-in op (custom ops share one
 * row). Off by default; one branch per op when off. */
#include <stdlib.h>
#include <string.h>

#include "op_impl.h"
#include "profile.h"

typedef struct op_time {
    double forward, backward;
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

void rb__profile_end(const rb_op_def *def, double start, bool backward)
{
    depth--;
    if (start < 0) return;
    double seconds = rb_now() - start;
    op_time *t = &times[row_of(def)];
    if (backward) {
        t->backward += seconds;
        t->backward_calls++;
    } else {
        t->forward += seconds;
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
    fprintf(f, "%-24s %10s %12s %10s %12s %8s\n", "op", "calls", "forward ms", "bwd calls",
            "backward ms", "share");
    for (int i = 0; i < n; i++) {
        const op_time *t = &times[order[i]];
        const char *name = order[i] < RB__OP_COUNT ? rb__ops[order[i]].name : "(custom ops)";
        fprintf(f, "%-24s %10lld %12.2f %10lld %12.2f %7.1f%%\n", name, t->calls, 1e3 * t->forward,
                t->backward_calls, 1e3 * t->backward,
                wall > 0 ? 100 * (t->forward + t->backward) / wall : 0);
    }
    fprintf(f, "(time of ops run inside another op or a backward rule counts for that one)\n");
    fprintf(f,
            "%-24s %10s %12.2f ms of %.2f ms profiled (%.1f%% outside ops: optimizer, "
            "data, user code)\n",
            "total in ops", "", 1e3 * in_ops, 1e3 * wall,
            wall > 0 ? 100 * (wall - in_ops) / wall : 0);
}
