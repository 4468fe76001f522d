/* Gradient averaging: every rank's weighted gradients summed over the store's contiguous
 * gradient slab, bucket by bucket.
 *
 * Default: one MPI_Iallreduce per bucket, all in flight at once (MPI pipelines them; the
 * summation order is MPI's). Deterministic: per bucket, each rank gathers one chunk of every
 * rank's bucket (alltoall), adds them in rank order, and the chunks are shared back
 * (allgather): the traffic of a ring allreduce, and sums that depend on nothing but the
 * ranks' values. */
#include <stdlib.h>
#include <string.h>

#include "dist_impl.h"

static void scale(void *data, int64_t n, rb_dtype dtype, double w)
{
    if (dtype == RB_F64) {
        double *x = data;
        for (int64_t i = 0; i < n; i++)
            x[i] *= w;
    } else {
        float *x = data, wf = (float)w;
        for (int64_t i = 0; i < n; i++)
            x[i] *= wf;
    }
}

static void reduce_buckets(rb_dist *d, char *data, int64_t n, rb_dtype dtype, int64_t per)
{
    const char *what = "rb_dist_average_gradients";
    size_t es = rb_dtype_size(dtype);
    int count = (int)((n + per - 1) / per);
    MPI_Request *reqs = rb__dist_scratch(d, sizeof *reqs * (size_t)count);
    if (!reqs) rb__dist_abort(d, "%s: out of memory for %d requests", what, count);
    for (int b = 0; b < count; b++) {
        int64_t lo = b * per, len = n - lo < per ? n - lo : per;
        rb__dist_begin(d, what);
        rb__dist_check(d,
                       MPI_Iallreduce(MPI_IN_PLACE, data + (size_t)lo * es, (int)len,
                                      rb__dist_mpi_type(dtype), MPI_SUM, d->comm, &reqs[b]),
                       what);
    }
    rb__dist_wait(d, count, reqs, what);
    d->stats.bytes += n * (int64_t)es;
}

/* In place: bucket (len elements) := sum over ranks of their buckets, in rank order. */
static void reduce_ordered(rb_dist *d, char *bucket, int len, rb_dtype dtype)
{
    const char *what = "rb_dist_average_gradients (deterministic)";
    int W = d->size, me = d->rank;
    size_t es = rb_dtype_size(dtype);
    int lo_me = (int)((int64_t)len * me / W), mine = (int)((int64_t)len * (me + 1) / W) - lo_me;
    size_t counts_bytes = sizeof(int) * 4 * (size_t)W;
    char *space = rb__dist_scratch(d, counts_bytes + (size_t)W * (size_t)mine * es + 64);
    if (!space) rb__dist_abort(d, "%s: out of memory", what);
    int *send_n = (int *)space, *send_at = send_n + W, *recv_n = send_at + W, *recv_at = recv_n + W;
    char *recv = space + (counts_bytes + 63) / 64 * 64;
    for (int j = 0; j < W; j++) {
        send_at[j] = (int)((int64_t)len * j / W);
        send_n[j] = (int)((int64_t)len * (j + 1) / W) - send_at[j];
        recv_n[j] = mine;
        recv_at[j] = j * mine;
    }
    MPI_Datatype type = rb__dist_mpi_type(dtype);
    MPI_Request req;
    rb__dist_begin(d, what);
    rb__dist_check(
        d,
        MPI_Ialltoallv(bucket, send_n, send_at, type, recv, recv_n, recv_at, type, d->comm, &req),
        what);
    rb__dist_wait(d, 1, &req, what);
    if (dtype == RB_F64) {
        double *out = (double *)bucket + lo_me, *in = (double *)recv;
        for (int k = 0; k < mine; k++) {
            double s = in[k];
            for (int r = 1; r < W; r++)
                s += in[(size_t)r * (size_t)mine + (size_t)k];
            out[k] = s;
        }
    } else {
        float *out = (float *)bucket + lo_me, *in = (float *)recv;
        for (int k = 0; k < mine; k++) {
            float s = in[k];
            for (int r = 1; r < W; r++)
                s += in[(size_t)r * (size_t)mine + (size_t)k];
            out[k] = s;
        }
    }
    rb__dist_begin(d, what);
    rb__dist_check(d,
                   MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, bucket, send_n, send_at,
                                   type, d->comm, &req),
                   what);
    rb__dist_wait(d, 1, &req, what);
    d->stats.bytes += (int64_t)len * (int64_t)es;
}

rb_status rb_dist_average_gradients(rb_dist *d, rb_params *p, double weight)
{
    if (!p) return rb_error(RB_ERR_ARGUMENT, "rb_dist_average_gradients: store is NULL");
    if (!d) return RB_OK;
    rb_tensor *g = rb_params_flat_grads(p);
    if (!g) return rb_last_status();
    rb_dtype dtype = rb_tensor_dtype(g);
    int64_t n = rb_tensor_size(g);
    size_t es = rb_dtype_size(dtype);
    char *data = rb_tensor_data(g);
    if (weight <= 0) weight = 1.0 / d->size;
    double t0 = MPI_Wtime();
    if (weight != 1.0) scale(data, n, dtype, weight);
    int64_t per = d->config.bucket_bytes / (int64_t)es;
    if (per < 1) per = 1;
    if (per > (1 << 28)) per = 1 << 28; /* MPI counts are ints */
    if (d->size > 1 && n > 0) {
        if (!d->config.deterministic)
            reduce_buckets(d, data, n, dtype, per);
        else
            for (int64_t lo = 0; lo < n; lo += per)
                reduce_ordered(d, data + (size_t)lo * es, (int)(n - lo < per ? n - lo : per),
                               dtype);
    }
    rb_tensor_mark_modified(g);
    d->stats.grad_seconds += MPI_Wtime() - t0;
    d->stats.grad_calls++;
    return RB_OK;
}
