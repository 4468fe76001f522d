/* Measures behind dist/'s choices (README, "Data-parallel training"): run with
 * `mpirun -np 2 build/tests/mpi/comm_probe`. Not a test.
 *
 * 1. Bucket size: time to sum a gradient slab (the MLP's 0.94 MB, the CNN's 4.8 MB) over the
 *    ranks with every bucket's MPI_Iallreduce in flight at once, as dist/gradients.c does,
 *    for several bucket sizes; and the deterministic reduction (alltoall, rank-order sum,
 *    allgather) for its cost.
 * 2. Overlap: does a started MPI_Iallreduce progress while this rank computes without calling
 *    MPI (what overlapping it with backward would need)? Compare the wait after a compute
 *    phase with the blocking time. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double now(void) { return MPI_Wtime(); }

/* Sum n floats in buckets of `per` elements, all in flight; returns seconds. */
static double buckets(float *g, int n, int per)
{
    int count = (n + per - 1) / per;
    MPI_Request *reqs = malloc(sizeof *reqs * (size_t)count);
    double t0 = now();
    for (int b = 0; b < count; b++) {
        int len = n - b * per < per ? n - b * per : per;
        MPI_Iallreduce(MPI_IN_PLACE, g + (size_t)b * per, len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                       &reqs[b]);
    }
    MPI_Waitall(count, reqs, MPI_STATUSES_IGNORE);
    free(reqs);
    return now() - t0;
}

/* The deterministic reduction of one bucket (as dist/gradients.c); returns seconds. */
static double ordered(float *g, int n, int W, int me, float *recv)
{
    int sn[64], sa[64], rn[64], ra[64];
    int lo = (int)((long)n * me / W), mine = (int)((long)n * (me + 1) / W) - lo;
    for (int j = 0; j < W; j++) {
        sa[j] = (int)((long)n * j / W);
        sn[j] = (int)((long)n * (j + 1) / W) - sa[j];
        rn[j] = mine;
        ra[j] = j * mine;
    }
    double t0 = now();
    MPI_Alltoallv(g, sn, sa, MPI_FLOAT, recv, rn, ra, MPI_FLOAT, MPI_COMM_WORLD);
    for (int k = 0; k < mine; k++) {
        float s = recv[k];
        for (int r = 1; r < W; r++)
            s += recv[(size_t)r * mine + k];
        g[lo + k] = s;
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, g, sn, sa, MPI_FLOAT, MPI_COMM_WORLD);
    return now() - t0;
}

/* About `seconds` of arithmetic that never calls MPI. */
static double compute(double seconds)
{
    volatile double x = 1;
    double t0 = now();
    while (now() - t0 < seconds)
        for (int i = 0; i < 10000; i++)
            x = x * 1.0000001 + 1e-9;
    return x;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int me, W;
    MPI_Comm_rank(MPI_COMM_WORLD, &me);
    MPI_Comm_size(MPI_COMM_WORLD, &W);
    const int reps = 41;
    const int slabs[2] = {235146, 1199882}; /* MLP and CNN parameters */
    const int bucket_bytes[6] = {64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 0};
    float *g = malloc(sizeof(float) * 1199882), *recv = malloc(sizeof(float) * 1199882);
    double t[64];
    for (int s = 0; s < 2; s++) {
        int n = slabs[s];
        if (me == 0)
            printf("\nslab of %d floats (%.2f MB), %d ranks: median of %d\n", n, 4e-6 * n, W, reps);
        for (int b = 0; b < 6; b++) {
            int per = bucket_bytes[b] ? bucket_bytes[b] / 4 : n;
            for (int i = 0; i < n; i++)
                g[i] = (float)(i % 13);
            for (int k = 0; k < reps; k++)
                t[k] = buckets(g, n, per);
            if (me == 0)
                printf("  buckets of %8d bytes: %7.3f ms (%.2f GB/s of slab)\n", per * 4,
                       1e3 * median(t, reps), 4e-9 * n / median(t, reps));
        }
        for (int k = 0; k < reps; k++) {
            double sum = 0;
            for (int lo = 0; lo < n; lo += (4 << 20) / 4) {
                int len = n - lo < (4 << 20) / 4 ? n - lo : (4 << 20) / 4;
                sum += ordered(g + lo, len, W, me, recv);
            }
            t[k] = sum;
        }
        if (me == 0) printf("  deterministic, 4 MiB buckets: %7.3f ms\n", 1e3 * median(t, reps));
    }
    /* Overlap: start, compute 5 ms without MPI, then wait. */
    int n = slabs[1];
    double blocking[64], waited[64], polled[64];
    for (int k = 0; k < reps; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        blocking[k] = buckets(g, n, n);
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, g, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
        compute(0.005);
        double t0 = now();
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        waited[k] = now() - t0;
        MPI_Barrier(MPI_COMM_WORLD);
        /* The same with a test every 0.1 ms of compute (a hook between backward ops). */
        MPI_Iallreduce(MPI_IN_PLACE, g, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
        int done = 0;
        for (int i = 0; i < 50; i++) {
            compute(0.0001);
            if (!done) MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        }
        t0 = now();
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        polled[k] = now() - t0;
    }
    if (me == 0)
        printf("\noverlap, CNN slab: blocking %.3f ms; after 5 ms of compute without MPI calls the wait is still %.3f ms; with a test every 0.1 ms, %.3f ms\n",
               1e3 * median(blocking, reps), 1e3 * median(waited, reps),
               1e3 * median(polled, reps));
    free(g);
    free(recv);
    MPI_Finalize();
    return 0;
}
