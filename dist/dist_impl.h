/* What dist/ files share: the job handle and the timed, fault-watching wait every collective
 * goes through. Public API and MPI only. */
#ifndef RUBAN_DIST_IMPL_H
#define RUBAN_DIST_IMPL_H

#include <mpi.h>

#include "ruban.h"
#include "ruban/dist.h"

struct rb_dist {
    rb_dist_config config;
    MPI_Comm comm; /* collectives */
    MPI_Comm ctrl; /* point-to-point fault and farewell notices, off the collectives' path */
    int rank, size, local_rank, local_size;
    bool owns_mpi; /* rb_dist_init initialised MPI: rb_dist_free finalises it */
    int64_t seq;   /* collectives started by this rank */
    int64_t *bye;  /* per rank: collectives it had completed when it left, or -1 */
    int64_t *answers; /* after a timeout: per rank, the collective it said it is in, or -1 */
    rb_dist_stats stats;
    char *scratch; /* the deterministic reduction's receive buffer */
    size_t scratch_bytes;
};

/* Start the next collective: checks that no rank has already left before it. */
void rb__dist_begin(rb_dist *d, const char *what);
/* Wait for n requests, watching the control channel and the clock; a fault or the timeout
 * stops the job with a message naming what this rank waited for (never returns then). */
void rb__dist_wait(rb_dist *d, int n, MPI_Request *reqs, const char *what);
/* Check an MPI call's result: on failure, stop the job with its message. */
void rb__dist_check(rb_dist *d, int err, const char *what);
/* Print "rb_dist: rank R of N: message" on stderr and abort the job. */
_Noreturn void rb__dist_abort(rb_dist *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Make an exit() before rb_dist_free stop the job naming this rank (not the others' hang). */
void rb__dist_watch_exit(rb_dist *d);
/* The MPI datatype of a float dtype. */
MPI_Datatype rb__dist_mpi_type(rb_dtype dtype);
/* A buffer of at least bytes, kept by d between calls (NULL and an error if out of memory). */
void *rb__dist_scratch(rb_dist *d, size_t bytes);
/* Broadcast bytes from root in pieces MPI's int counts can hold. */
void rb__dist_bcast_bytes(rb_dist *d, void *data, int64_t bytes, int root, const char *what);

#endif
