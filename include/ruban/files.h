/* ruban/files.h - files written whole or not at all, and files opened for reading with their
 * size checked first.
 *
 * A writer writes to a temporary file beside the target ("<name>.tmp.<pid>.<n>"), which commit
 * flushes to disk and renames over the target: a crash at any moment leaves the old file or
 * the new one, never half of one. Temporaries left by savers that died are removed by the next
 * writer of the same target.
 *
 *     rb_atomic_file w;
 *     if (rb_atomic_file_begin(&w, "run/history.csv", "my_save") != RB_OK) return rb_last_status();
 *     fprintf(w.f, "epoch,loss\n1,0.5\n");
 *     return rb_atomic_file_commit(&w);     // or rb_atomic_file_abort(&w) to give up
 */
#ifndef RUBAN_FILES_H
#define RUBAN_FILES_H

#include <stdio.h>

#include "ruban/base.h"
#include "ruban/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A file being written: write to f (binary mode), then commit or abort exactly once. */
typedef struct rb_atomic_file {
    FILE *f;         /* the temporary file */
    char *path;      /* the target */
    char *temp;      /* the temporary's name */
    const char *who; /* the function named in error messages */
} rb_atomic_file;

/* Create the temporary beside path (after removing stale ones of dead processes) and open it
 * in w->f. RB_ERR_IO "who: cannot write 'path': reason" if it cannot be created. `who` (a
 * function name, kept until the commit) names the writer in later errors too. */
RB_API rb_status rb_atomic_file_begin(rb_atomic_file *w, const char *path, const char *who);
/* Flush and fsync the temporary, rename it over the target and fsync the folder. Any write
 * error seen on w->f fails the commit (RB_ERR_IO) and removes the temporary; w is released. */
RB_API rb_status rb_atomic_file_commit(rb_atomic_file *w);
/* Give up: close and remove the temporary, release w; the target is untouched. */
RB_API void rb_atomic_file_abort(rb_atomic_file *w);
/* Put a complete file that another program wrote at temp (beside path) in place as a commit
 * does: fsync it, rename it over path, fsync the folder. On failure temp is removed and
 * RB_ERR_IO names who and path. */
RB_API rb_status rb_file_publish(const char *temp, const char *path, const char *who);

/* Open a file for reading ("rb") and give its size in bytes (-1 when it is not a regular file,
 * a pipe for instance). A missing or unreadable file and a folder ("is a folder") are refused
 * with RB_ERR_IO naming `who` and the path. The caller closes the stream. */
RB_API FILE *rb_file_open_read(const char *path, const char *who, int64_t *size);

#ifdef __cplusplus
}
#endif
#endif
