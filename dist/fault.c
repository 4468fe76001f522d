/* Faults: a timed wait for every collective, notices on a control channel (a rank that failed,
 * a rank that left), and the farewell that ends a job only when every rank has finished.
 *
 * MPI (Open MPI 4) has no timeout on collectives and a rank that leaves early leaves the
 * others blocked for ever, so every collective here is nonblocking and waited for by polling:
 * between tests this rank reads the control channel and watches the clock. */
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_impl.h"

enum { TAG_FAIL = 1, TAG_BYE = 2, TAG_QUERY = 3, TAG_ANSWER = 4 };
#define NOTICE_BYTES 1024
/* Seconds a failing rank keeps going after telling the others, so they can print the
 * reason before its abort ends the job. */
#define FAIL_GRACE 3.0
/* Seconds a rank that timed out waits for the others to say where they are. */
#define ROLL_CALL 2.0

_Noreturn void rb__dist_abort(rb_dist *d, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "rb_dist: rank %d of %d: %s\n", d->rank, d->size, msg);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    _Exit(1); /* MPI_Abort does not return; this is for a broken MPI */
}

void rb__dist_check(rb_dist *d, int err, const char *what)
{
    if (err == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(err, text, &len);
    rb__dist_abort(d, "%s: MPI failed: %s", what, text);
}

/* Receive every pending notice: a failure stops the job, a farewell is recorded. */
static void read_notices(rb_dist *d, const char *what)
{
    for (;;) {
        int flag = 0;
        MPI_Status st;
        rb__dist_check(d, MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, d->ctrl, &flag, &st), what);
        if (!flag) return;
        char buf[NOTICE_BYTES];
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        if (count > NOTICE_BYTES) count = NOTICE_BYTES;
        rb__dist_check(
            d,
            MPI_Recv(buf, count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, d->ctrl, MPI_STATUS_IGNORE),
            what);
        if (st.MPI_TAG == TAG_FAIL) {
            buf[count > 0 ? count - 1 : 0] = '\0';
            rb__dist_abort(d, "stopping the job: rank %d failed: %s", st.MPI_SOURCE, buf);
        }
        if (st.MPI_TAG == TAG_BYE && count == (int)sizeof(int64_t))
            memcpy(&d->bye[st.MPI_SOURCE], buf, sizeof(int64_t));
        if (st.MPI_TAG == TAG_QUERY) { /* a rank timed out: tell it where this one is */
            MPI_Request req;
            MPI_Isend(&d->seq, (int)sizeof d->seq, MPI_BYTE, st.MPI_SOURCE, TAG_ANSWER, d->ctrl,
                      &req);
            MPI_Request_free(&req);
        }
        if (st.MPI_TAG == TAG_ANSWER && count == (int)sizeof(int64_t) && d->answers)
            memcpy(&d->answers[st.MPI_SOURCE], buf, sizeof(int64_t));
    }
}

/* A rank that left before this rank's current collective will never join it. */
static void check_departed(rb_dist *d, const char *what)
{
    for (int r = 0; r < d->size; r++)
        if (d->bye[r] >= 0 && d->bye[r] < d->seq)
            rb__dist_abort(
                d,
                "stopping the job: rank %d left (rb_dist_free) after %lld collectives while this rank waits in %s, its collective %lld: the ranks did not run the same steps",
                r, (long long)d->bye[r], what, (long long)d->seq);
}

void rb__dist_begin(rb_dist *d, const char *what)
{
    d->seq++;
    d->stats.collectives++;
    read_notices(d, what);
    check_departed(d, what);
}

/* After a timeout: ask every rank where it is; name those that do not answer (stuck outside
 * ruban's collectives, or gone) and those in another collective. Does not return. */
_Noreturn static void roll_call(rb_dist *d, double waited, const char *what)
{
    int64_t *answers = malloc(sizeof *answers * (size_t)d->size);
    char silent[512] = "", elsewhere[512] = "";
    if (answers) {
        for (int r = 0; r < d->size; r++)
            answers[r] = r == d->rank ? d->seq : -1;
        d->answers = answers;
        for (int r = 0; r < d->size; r++)
            if (r != d->rank) {
                MPI_Request req;
                MPI_Isend(&d->seq, (int)sizeof d->seq, MPI_BYTE, r, TAG_QUERY, d->ctrl, &req);
                MPI_Request_free(&req);
            }
        for (double t0 = MPI_Wtime(); MPI_Wtime() - t0 < ROLL_CALL;) {
            read_notices(d, what);
            sched_yield();
        }
        for (int r = 0; r < d->size; r++) {
            size_t a = strlen(silent), b = strlen(elsewhere);
            if (answers[r] < 0 && a < sizeof silent - 16)
                snprintf(silent + a, sizeof silent - a, "%s%d", a ? ", " : "", r);
            else if (answers[r] >= 0 && answers[r] != d->seq && b < sizeof elsewhere - 48)
                snprintf(elsewhere + b, sizeof elsewhere - b, "%srank %d is at its collective %lld",
                         b ? ", " : "", r, (long long)answers[r]);
        }
    }
    rb__dist_abort(d, "stopping the job: waited %.0f s in %s (collective %lld) and not every rank joined: %s%s%s%s (RUBAN_DIST_TIMEOUT sets the limit)",
                   waited, what, (long long)d->seq, *silent ? "no answer from rank " : "", silent,
                   *silent && *elsewhere ? "; " : "",
                   *elsewhere ? elsewhere : (*silent ? "" : "the ranks run other steps"));
}

void rb__dist_wait(rb_dist *d, int n, MPI_Request *reqs, const char *what)
{
    double t0 = MPI_Wtime();
    for (long spins = 1;; spins++) {
        int done = 0;
        rb__dist_check(d, MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE), what);
        if (done) break;
        if ((spins & 63) == 0) {
            read_notices(d, what);
            check_departed(d, what);
            double waited = MPI_Wtime() - t0;
            if (waited > d->config.timeout) roll_call(d, waited, what);
        }
        /* Ranks may share cores with each other: let the one we wait for run. */
        if (spins > 1000) sched_yield();
    }
    d->stats.seconds += MPI_Wtime() - t0;
}

void rb_dist_fail(rb_dist *d, const char *why)
{
    if (!why) why = "unknown error";
    if (!d || d->size == 1) {
        fprintf(stderr, "rb_dist: rank 0 of 1 failed: %s\n", why);
        return;
    }
    char msg[NOTICE_BYTES];
    snprintf(msg, sizeof msg, "%s", why);
    int len = (int)strlen(msg) + 1;
    MPI_Request *reqs = calloc((size_t)d->size, sizeof *reqs);
    int k = 0;
    for (int r = 0; reqs && r < d->size; r++)
        if (r != d->rank) MPI_Isend(msg, len, MPI_BYTE, r, TAG_FAIL, d->ctrl, &reqs[k++]);
    fflush(stdout);
    fprintf(stderr, "rb_dist: rank %d of %d failed: %s\n", d->rank, d->size, msg);
    fflush(stderr);
    double t0 = MPI_Wtime();
    while (MPI_Wtime() - t0 < FAIL_GRACE && MPI_Wtime() - t0 < d->config.timeout) {
        int done = 0;
        if (reqs) MPI_Testall(k, reqs, &done, MPI_STATUSES_IGNORE);
        sched_yield();
    }
    free(reqs);
    MPI_Abort(MPI_COMM_WORLD, 1);
    _Exit(1);
}

/* The job an exit would abandon without a word: the one global here, for the atexit hook
 * (a rank that calls exit() on an error must still make the others stop, naming it). */
static rb_dist *exit_watch;

static void on_exit_before_free(void)
{
    int finalised = 1;
    MPI_Finalized(&finalised);
    if (exit_watch && !finalised && exit_watch->size > 1)
        rb_dist_fail(exit_watch, "it exited (exit() or the end of main) before rb_dist_free");
}

void rb__dist_watch_exit(rb_dist *d)
{
    static bool registered;
    if (!exit_watch) exit_watch = d;
    if (!registered && atexit(on_exit_before_free) == 0) registered = true;
}

/* Every rank tells the others how many collectives it completed, then waits for theirs: the
 * job ends only when all have finished, and a rank that left early is named by the others. */
static void farewell(rb_dist *d)
{
    const char *what = "rb_dist_free (waiting for every rank to finish)";
    int64_t done = d->seq;
    MPI_Request *reqs = calloc((size_t)d->size, sizeof *reqs);
    if (!reqs) rb__dist_abort(d, "rb_dist_free: out of memory");
    int k = 0;
    for (int r = 0; r < d->size; r++)
        if (r != d->rank)
            rb__dist_check(
                d, MPI_Isend(&done, (int)sizeof done, MPI_BYTE, r, TAG_BYE, d->ctrl, &reqs[k++]),
                what);
    double t0 = MPI_Wtime();
    for (;;) {
        read_notices(d, what);
        int missing = -1, sent = 0;
        for (int r = 0; r < d->size && missing < 0; r++)
            if (r != d->rank && d->bye[r] < 0) missing = r;
        rb__dist_check(d, MPI_Testall(k, reqs, &sent, MPI_STATUSES_IGNORE), what);
        if (missing < 0 && sent) break;
        if (MPI_Wtime() - t0 > d->config.timeout)
            rb__dist_abort(d,
                           "rb_dist_free: rank %d did not finish within %.0f s of this rank (RUBAN_DIST_TIMEOUT sets the limit)",
                           missing, d->config.timeout);
        sched_yield();
    }
    free(reqs);
    for (int r = 0; r < d->size; r++)
        if (r != d->rank && d->bye[r] != done)
            rb__dist_abort(d,
                           "rb_dist_free: rank %d finished after %lld collectives and this rank after %lld: the ranks did not run the same steps",
                           r, (long long)d->bye[r], (long long)done);
}

void rb_dist_free(rb_dist *d)
{
    if (!d) return;
    if (exit_watch == d) exit_watch = NULL;
    if (d->size > 1) farewell(d);
    MPI_Comm_free(&d->comm);
    MPI_Comm_free(&d->ctrl);
    if (d->owns_mpi) MPI_Finalize();
    free(d->bye);
    free(d->answers);
    free(d->scratch);
    free(d);
}
