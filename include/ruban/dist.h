/* ruban/dist.h - data-parallel training across processes and machines over MPI.
 *
 * Every rank (process) holds the whole model, trains on its own slice of each global batch,
 * and the ranks sum their weighted gradients before each update, so N ranks follow the
 * training of one process on the global batch. Start the program with Open MPI's mpirun
 * (`mpirun -np 2 prog`, `mpirun --hostfile hosts -np 8 prog`). Built without MPI (meson
 * -Dmpi=disabled), rb_dist_init fails with "built without MPI" and the rest of the library
 * works as ever.
 *
 *     rb_dist *d = rb_dist_init(&argc, &argv, (rb_dist_config){0});
 *     ... build the model and optimizer (the same on every rank) ...
 *     rb_dist_broadcast_params(d, params, opt);         // rank 0's weights and state everywhere
 *     rb_batcher_shard(b, rb_dist_rank(d), rb_dist_size(d));
 *     while (rb_batcher_next(b, &x, &y)) {
 *         ... forward, rb_tape_gradient_params ...
 *         rb_dist_average_gradients(d, params, (double)rows / rb_batcher_batch_rows(b));
 *         rb_optimizer_step(opt);
 *     }
 *     rb_dist_free(d);                                  // waits for the others, then finalises
 *
 * rb_fit does all of this given .dist (ruban/fit.h). BatchNorm layers use each rank's own
 * batch statistics (PyTorch's default); rb_dist_sync_batch_norm makes them use the global
 * batch's. Faults: a rank that fails (rb_dist_fail, or an error inside rb_fit), leaves early
 * (rb_dist_free while others still train) or stops answering makes every rank stop the job
 * with a message naming it; no collective waits longer than the timeout.
 */
#ifndef RUBAN_DIST_H
#define RUBAN_DIST_H

#include "ruban/base.h"
#include "ruban/error.h"
#include "ruban/checkpoint.h"
#include "ruban/model.h"
#include "ruban/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_dist rb_dist;

typedef struct rb_dist_config {
    /* Seconds a collective may wait for the other ranks before the job is stopped (default
     * 300, or RUBAN_DIST_TIMEOUT from the environment). */
    double timeout;
    /* Gradients are summed in buckets of this many bytes of the gradient slab (default
     * 4 MiB, or RUBAN_DIST_BUCKET_BYTES). */
    int64_t bucket_bytes;
    /* Sum gradients in rank order ((g0 + g1) + g2 ...) instead of MPI's own order: the result
     * then depends only on the ranks' gradients, and equals one process summing the ranks'
     * slices in that order bit for bit. Same traffic, one more pass over the slab. Also
     * RUBAN_DIST_DETERMINISTIC=1. */
    bool deterministic;
    /* Threads per rank (0: RUBAN_NUM_THREADS if set, else the cores of this machine divided
     * among its ranks). */
    int threads;
} rb_dist_config;

/* Communication counters of this rank since rb_dist_init. */
typedef struct rb_dist_stats {
    double seconds;      /* spent in collectives (waiting included) */
    double grad_seconds; /* of which summing gradients */
    int64_t bytes;       /* payload sent into collectives */
    int64_t collectives; /* count */
    int64_t grad_calls;  /* rb_dist_average_gradients calls */
} rb_dist_stats;

/* Whether this build of ruban has MPI. */
RB_API bool rb_dist_available(void);
/* Join the job: initialises MPI unless the program already did (argc, argv may be NULL),
 * reads rank, world size and the rank's place on its machine, sets the thread count. The
 * caller frees it with rb_dist_free. NULL and an error without MPI or when MPI fails. */
RB_API rb_dist *rb_dist_init(int *argc, char ***argv, rb_dist_config config);
/* Leave the job: waits (at most the timeout) until every rank has called it, then finalises
 * MPI if rb_dist_init initialised it. NULL accepted. */
RB_API void rb_dist_free(rb_dist *d);

/* Rank in the job (0 .. size - 1), number of ranks, rank among the ranks on this machine and
 * their number. A NULL d is a job of one process: 0, 1, 0, 1. */
RB_API int rb_dist_rank(const rb_dist *d);
RB_API int rb_dist_size(const rb_dist *d);
RB_API int rb_dist_local_rank(const rb_dist *d);
RB_API int rb_dist_local_size(const rb_dist *d);
/* Whether this rank prints and writes files: rank 0, or any process when d is NULL. */
RB_API bool rb_dist_is_root(const rb_dist *d);
RB_API rb_dist_stats rb_dist_get_stats(const rb_dist *d);
RB_API const rb_dist_config *rb_dist_get_config(const rb_dist *d);

/* ---- collectives: every rank calls them in the same order; with a NULL d (one process)
 * they do nothing and return RB_OK ---- */
/* Wait until every rank has reached this call. */
RB_API rb_status rb_dist_barrier(rb_dist *d);
/* Sum n doubles over the ranks, in place, in rank order: every rank gets the same bits.
 * For metrics (loss sums, counts, hits). */
RB_API rb_status rb_dist_sum(rb_dist *d, double *values, int n);
/* Copy bytes from root's buffer into every other rank's. */
RB_API rb_status rb_dist_broadcast(rb_dist *d, void *data, int64_t bytes, int root);

/* Check that every rank has the same variables (names, shapes, dtypes, trainable) and, when
 * opt is not NULL, the same optimizer; then copy rank 0's variables, optimizer state, step
 * count and learning rate to every rank. A mismatch fails on every rank with
 * RB_ERR_SHAPE, naming the rank and the first variable that differs. */
RB_API rb_status rb_dist_broadcast_params(rb_dist *d, rb_params *p, rb_optimizer *opt);
/* Copy rank 0's non-trainable variables (BatchNorm's moving statistics) to every rank. */
RB_API rb_status rb_dist_broadcast_buffers(rb_dist *d, rb_params *p);
/* Replace every rank's gradients by the sum over ranks of weight x gradient, in buckets
 * over the store's gradient slab. weight = this rank's rows / the global batch's rows gives
 * the gradient of the global batch's mean loss; weight <= 0 means 1 / size. */
RB_API rb_status rb_dist_average_gradients(rb_dist *d, rb_params *p, double weight);

/* Checkpoints (ruban/checkpoint.h) of a job: rank 0 writes the file, or reads it and gives
 * its contents to every rank; every rank returns rank 0's status. The files are the same as
 * a single process's, so either side loads the other's. */
RB_API rb_status rb_dist_checkpoint_save(rb_dist *d, const char *path, rb_params *p,
                                         const rb_optimizer *opt);
RB_API rb_status rb_dist_checkpoint_load(rb_dist *d, const char *path, rb_params *p,
                                         rb_optimizer *opt);

/* Make the BatchNorm layers of m (those inside residual blocks too) normalise in training
 * with the mean and variance of the global batch (every rank's rows), as PyTorch's
 * SyncBatchNorm; their moving statistics then agree on every rank. Costs two small
 * collectives per layer and step. Returns the number of layers changed, or -1 and an
 * error. */
RB_API int rb_dist_sync_batch_norm(rb_dist *d, rb_model *m);

/* Report that this rank failed: prints "rank R failed: why" and stops the job; the other
 * ranks, wherever they wait, stop naming this rank. Does not return when d is a job of
 * more than one rank. */
RB_API void rb_dist_fail(rb_dist *d, const char *why);

#ifdef __cplusplus
}
#endif
#endif
