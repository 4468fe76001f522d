/* Small collectives: barrier, metric sums in rank order, byte broadcasts. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "dist_impl.h"

rb_status rb_dist_barrier(rb_dist *d)
{
    if (!d) return RB_OK; /* a job of one process */
    MPI_Request req;
    rb__dist_begin(d, "rb_dist_barrier");
    rb__dist_check(d, MPI_Ibarrier(d->comm, &req), "rb_dist_barrier");
    rb__dist_wait(d, 1, &req, "rb_dist_barrier");
    return RB_OK;
}

rb_status rb_dist_sum(rb_dist *d, double *values, int n)
{
    if (n < 0 || (n > 0 && !values))
        return rb_error(RB_ERR_ARGUMENT, "rb_dist_sum: %d values at %p", n, (void *)values);
    if (!d || n == 0 || d->size == 1) return RB_OK;
    /* Every rank gathers all contributions and adds them in rank order: the same bits
     * everywhere, so decisions taken from them (early stopping) agree. */
    double *all = malloc(sizeof *all * (size_t)n * (size_t)d->size);
    if (!all) return rb_error(RB_ERR_MEMORY, "rb_dist_sum: out of memory");
    MPI_Request req;
    rb__dist_begin(d, "rb_dist_sum");
    rb__dist_check(d, MPI_Iallgather(values, n, MPI_DOUBLE, all, n, MPI_DOUBLE, d->comm, &req),
                   "rb_dist_sum");
    rb__dist_wait(d, 1, &req, "rb_dist_sum");
    d->stats.bytes += (int64_t)sizeof(double) * n;
    for (int i = 0; i < n; i++) {
        double s = all[i];
        for (int r = 1; r < d->size; r++)
            s += all[(size_t)r * (size_t)n + (size_t)i];
        values[i] = s;
    }
    free(all);
    return RB_OK;
}

void rb__dist_bcast_bytes(rb_dist *d, void *data, int64_t bytes, int root, const char *what)
{
    const int64_t piece = INT_MAX / 2;
    for (int64_t off = 0; off < bytes; off += piece) {
        int len = (int)(bytes - off < piece ? bytes - off : piece);
        MPI_Request req;
        rb__dist_begin(d, what);
        rb__dist_check(d, MPI_Ibcast((char *)data + off, len, MPI_BYTE, root, d->comm, &req), what);
        rb__dist_wait(d, 1, &req, what);
        d->stats.bytes += len;
    }
}

rb_status rb_dist_broadcast(rb_dist *d, void *data, int64_t bytes, int root)
{
    if (!d) return RB_OK;
    if (bytes < 0 || (bytes > 0 && !data) || root < 0 || root >= d->size)
        return rb_error(RB_ERR_ARGUMENT, "rb_dist_broadcast: %lld bytes from rank %d of %d",
                        (long long)bytes, root, d->size);
    rb__dist_bcast_bytes(d, data, bytes, root, "rb_dist_broadcast");
    return RB_OK;
}
