/* Files written whole or not at all (a temporary beside the target, fsync, rename, fsync of the
 * folder), stale temporaries of dead savers removed, and files opened for reading with their
 * size known before anything is allocated for them. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core.h"
#include "ruban/files.h"

/* Temporaries are "<name>.tmp.<pid>.<n>": the pid tells whether their writer still lives, n
 * keeps two writers of one process (threads) apart. */
#define TMP_MARK ".tmp."

static atomic_uint temp_serial;

/* "dir" and "name" of a path, as new strings ("." for a bare name). */
static bool split_path(const char *path, char **dir, char **name)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) : 1;
    *dir = rb__malloc(dir_len + 1);
    *name = rb__malloc(strlen(slash ? slash + 1 : path) + 1);
    if (!*dir || !*name) {
        rb__free(*dir);
        rb__free(*name);
        return false;
    }
    if (!slash)
        strcpy(*dir, ".");
    else if (slash == path)
        strcpy(*dir, "/");
    else {
        memcpy(*dir, path, dir_len);
        (*dir)[dir_len] = '\0';
    }
    strcpy(*name, slash ? slash + 1 : path);
    return true;
}

/* The pid of a temporary of `name` ("<name>.tmp.<pid>" or "<name>.tmp.<pid>.<n>"), or 0 when
 * entry is no such temporary. */
static pid_t temporary_pid(const char *entry, const char *name)
{
    size_t n = strlen(name), mark = strlen(TMP_MARK);
    if (strncmp(entry, name, n) != 0 || strncmp(entry + n, TMP_MARK, mark) != 0) return 0;
    const char *p = entry + n + mark;
    long long pid = 0;
    if (*p < '1' || *p > '9') return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        pid = pid * 10 + (*p - '0');
        if (pid > INT32_MAX) return 0;
    }
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9') return 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    }
    return *p == '\0' ? (pid_t)pid : 0;
}

/* Remove the temporaries of `name` in dir whose writer is dead (kill answers ESRCH). Those of
 * live processes, this one included, are theirs to finish. Best effort: errors are ignored. */
static void remove_stale(const char *dir, const char *name)
{
    DIR *d = opendir(dir);
    if (!d) return;
    size_t dir_len = strlen(dir);
    for (struct dirent *e; (e = readdir(d));) {
        pid_t pid = temporary_pid(e->d_name, name);
        if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
        char *stale = rb__malloc(dir_len + strlen(e->d_name) + 2);
        if (!stale) break;
        sprintf(stale, "%s/%s", dir, e->d_name);
        unlink(stale);
        rb__free(stale);
    }
    closedir(d);
}

static void release(rb_atomic_file *w)
{
    rb__free(w->path);
    rb__free(w->temp);
    w->path = w->temp = NULL;
    w->f = NULL;
}

rb_status rb_atomic_file_begin(rb_atomic_file *w, const char *path, const char *who)
{
    if (!who) who = "rb_atomic_file_begin";
    if (!w || !path || !*path) {
        if (w) *w = (rb_atomic_file){0};
        return rb_error(RB_ERR_ARGUMENT, "%s: no file name given", who);
    }
    *w = (rb_atomic_file){.who = who};
    char *dir, *name;
    if (!split_path(path, &dir, &name)) return rb_last_status();
    remove_stale(dir, name);
    rb__free(dir);
    rb__free(name);
    size_t len = strlen(path) + 64;
    w->path = rb__malloc(strlen(path) + 1);
    w->temp = rb__malloc(len);
    if (!w->path || !w->temp) {
        release(w);
        return rb_last_status();
    }
    strcpy(w->path, path);
    unsigned serial = atomic_fetch_add(&temp_serial, 1);
    snprintf(w->temp, len, "%s" TMP_MARK "%ld.%u", path, (long)getpid(), serial);
    int fd = open(w->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 && !(w->f = fdopen(fd, "wb"))) {
        close(fd);
        unlink(w->temp);
    }
    if (!w->f) {
        rb_status st = rb_error(RB_ERR_IO, "%s: cannot write '%s': %s", who, path, strerror(errno));
        release(w);
        return st;
    }
    return RB_OK;
}

void rb_atomic_file_abort(rb_atomic_file *w)
{
    if (!w || !w->f) return;
    fclose(w->f);
    unlink(w->temp);
    release(w);
}

/* fsync of the folder holding path, so that the rename itself survives a power cut.
 * Filesystems that cannot sync a folder (EINVAL) are not an error. */
static bool sync_folder(const char *path)
{
    char *dir, *name;
    if (!split_path(path, &dir, &name)) return false;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = fd >= 0 && (fsync(fd) == 0 || errno == EINVAL || errno == EROFS);
    if (fd >= 0) close(fd);
    rb__free(dir);
    rb__free(name);
    return ok;
}

/* Rename temp over path and sync the folder; temp is removed on failure. `why` is the failure
 * already seen before the rename, if any. */
static rb_status publish(const char *temp, const char *path, const char *who, const char *why,
                         int err)
{
    if (!why && rename(temp, path) != 0) why = "rename failed", err = errno;
    if (why) {
        unlink(temp);
        return rb_error(RB_ERR_IO, "%s: cannot write '%s': %s%s%s", who, path, why, err ? ": " : "",
                        err ? strerror(err) : "");
    }
    if (!sync_folder(path))
        return rb_error(RB_ERR_IO, "%s: '%s' is written but its folder cannot be synced: %s", who,
                        path, strerror(errno));
    return RB_OK;
}

rb_status rb_atomic_file_commit(rb_atomic_file *w)
{
    if (!w || !w->f) return rb_error(RB_ERR_ARGUMENT, "rb_atomic_file_commit: nothing to commit");
    const char *why = NULL;
    int err = 0;
    if (ferror(w->f))
        why = "write failed";
    else if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        why = "flush failed", err = errno;
    if (fclose(w->f) != 0 && !why) why = "close failed", err = errno;
    w->f = NULL;
    rb_status st = publish(w->temp, w->path, w->who, why, err);
    release(w);
    return st;
}

rb_status rb_file_publish(const char *temp, const char *path, const char *who)
{
    if (!who) who = "rb_file_publish";
    if (!temp || !path) return rb_error(RB_ERR_ARGUMENT, "%s: no file name given", who);
    const char *why = NULL;
    int err = 0, fd = open(temp, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        why = "its temporary cannot be opened", err = errno;
    else if (fsync(fd) != 0)
        why = "flush failed", err = errno;
    if (fd >= 0) close(fd);
    return publish(temp, path, who, why, err);
}

FILE *rb_file_open_read(const char *path, const char *who, int64_t *size)
{
    if (!who) who = "rb_file_open_read";
    if (size) *size = 0;
    if (!path) return rb__fail(RB_ERR_ARGUMENT, "%s: path is NULL", who);
    FILE *f = fopen(path, "rb");
    if (!f) return rb__fail(RB_ERR_IO, "%s: cannot open '%s': %s", who, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        int err = errno;
        fclose(f);
        return rb__fail(RB_ERR_IO, "%s: cannot read '%s': %s", who, path, strerror(err));
    }
    if (S_ISDIR(st.st_mode)) {
        fclose(f);
        return rb__fail(RB_ERR_IO, "%s: '%s' is a folder, not a file", who, path);
    }
    if (size) *size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    return f;
}
