/* Joining and leaving the job: MPI set-up, rank and machine layout, threads per rank. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist_impl.h"

bool rb_dist_available(void) { return true; }

static double env_double(const char *name, double fallback)
{
    const char *s = getenv(name);
    char *end;
    double v = s ? strtod(s, &end) : 0;
    return s && end != s && v > 0 ? v : fallback;
}

static void apply_defaults(rb_dist_config *c)
{
    if (c->timeout <= 0) c->timeout = env_double("RUBAN_DIST_TIMEOUT", 300);
    if (c->bucket_bytes <= 0)
        c->bucket_bytes = (int64_t)env_double("RUBAN_DIST_BUCKET_BYTES", 4 << 20);
    const char *det = getenv("RUBAN_DIST_DETERMINISTIC");
    if (det && strcmp(det, "0") != 0 && *det) c->deterministic = true;
}

/* Threads per rank: the user's choice, else this machine's cores shared among its ranks (a
 * rank per core by default; torchrun makes the same choice with OMP_NUM_THREADS). */
static void set_threads(const rb_dist *d)
{
    if (d->config.threads > 0) {
        rb_set_num_threads(d->config.threads);
        return;
    }
    if (getenv("RUBAN_NUM_THREADS")) return;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int share = (int)(cores / d->local_size);
    int mine = share > 0 ? share : 1;
    if (mine < rb_num_threads()) rb_set_num_threads(mine);
}

static rb_dist *fail_init(rb_dist *d, int err, const char *what)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(err, text, &len);
    rb_error(RB_ERR_STATE, "rb_dist_init: %s failed: %s", what, text);
    free(d);
    return NULL;
}

rb_dist *rb_dist_init(int *argc, char ***argv, rb_dist_config config)
{
    rb_dist *d = calloc(1, sizeof *d);
    if (!d) {
        rb_error(RB_ERR_MEMORY, "rb_dist_init: out of memory");
        return NULL;
    }
    apply_defaults(&config);
    d->config = config;
    int initialised = 0, finalised = 0, err;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (finalised) {
        free(d);
        rb_error(RB_ERR_STATE, "rb_dist_init: MPI was already finalised");
        return NULL;
    }
    if (!initialised) {
        /* Only the thread that calls ruban talks to MPI; OpenMP workers never do. */
        int provided;
        err = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (err != MPI_SUCCESS) return fail_init(d, err, "MPI_Init_thread");
        d->owns_mpi = true;
    }
    if ((err = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm)) != MPI_SUCCESS ||
        (err = MPI_Comm_dup(MPI_COMM_WORLD, &d->ctrl)) != MPI_SUCCESS)
        return fail_init(d, err, "MPI_Comm_dup");
    /* Errors come back to us, so a failure is reported with what this rank was doing. */
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(d->ctrl, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    MPI_Comm local;
    if ((err = MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                                   &local)) != MPI_SUCCESS)
        return fail_init(d, err, "MPI_Comm_split_type");
    MPI_Comm_rank(local, &d->local_rank);
    MPI_Comm_size(local, &d->local_size);
    MPI_Comm_free(&local);
    d->bye = malloc(sizeof *d->bye * (size_t)d->size);
    if (!d->bye) {
        MPI_Comm_free(&d->comm);
        MPI_Comm_free(&d->ctrl);
        free(d);
        rb_error(RB_ERR_MEMORY, "rb_dist_init: out of memory");
        return NULL;
    }
    for (int r = 0; r < d->size; r++)
        d->bye[r] = -1;
    set_threads(d);
    rb__dist_watch_exit(d);
    return d;
}

int rb_dist_rank(const rb_dist *d) { return d ? d->rank : 0; }
int rb_dist_size(const rb_dist *d) { return d ? d->size : 1; }
int rb_dist_local_rank(const rb_dist *d) { return d ? d->local_rank : 0; }
int rb_dist_local_size(const rb_dist *d) { return d ? d->local_size : 1; }
bool rb_dist_is_root(const rb_dist *d) { return !d || d->rank == 0; }

rb_dist_stats rb_dist_get_stats(const rb_dist *d)
{
    rb_dist_stats none = {0};
    return d ? d->stats : none;
}

const rb_dist_config *rb_dist_get_config(const rb_dist *d) { return d ? &d->config : NULL; }

void *rb__dist_scratch(rb_dist *d, size_t bytes)
{
    if (bytes <= d->scratch_bytes) return d->scratch;
    char *s = realloc(d->scratch, bytes);
    if (!s) {
        rb_error(RB_ERR_MEMORY, "rb_dist: out of memory for a %zu-byte buffer", bytes);
        return NULL;
    }
    d->scratch = s;
    d->scratch_bytes = bytes;
    return s;
}

MPI_Datatype rb__dist_mpi_type(rb_dtype dtype)
{
    return dtype == RB_F64 ? MPI_DOUBLE : dtype == RB_I64 ? MPI_INT64_T : MPI_FLOAT;
}
