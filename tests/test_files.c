/* Files written whole or not at all (ruban/files.h): commit, abort, write errors, stale
 * temporaries of dead savers, a saver killed at random moments; files opened for reading. */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* The whole file as a string ("" when absent; the caller frees it). */
static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    size_t n = 0, cap = 1 << 16;
    char *text = malloc(cap + 1);
    assert_non_null(text);
    while (f) {
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        text = realloc(text, 2 * cap + 1);
        assert_non_null(text);
        cap *= 2;
    }
    if (f) fclose(f);
    text[n] = '\0';
    if (size) *size = n;
    return text;
}

static void spill(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Names in test_dir() containing ".tmp", or 0. */
static int count_temporaries(void)
{
    DIR *d = opendir(test_dir());
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void a_commit_replaces_the_target_whole(void **state)
{
    (void)state;
    const char *path = test_path("out.txt");
    spill(path, "old");
    rb_atomic_file w;
    CHECK_STATUS_OK(rb_atomic_file_begin(&w, path, "test"));
    fputs("new ", w.f);
    /* Until the commit the target is the old file, the temporary sits beside it. */
    char *text = slurp(path, NULL);
    assert_string_equal(text, "old");
    free(text);
    assert_int_equal(count_temporaries(), 1);
    fputs("content", w.f);
    CHECK_STATUS_OK(rb_atomic_file_commit(&w));
    assert_null(w.f);
    text = slurp(path, NULL);
    assert_string_equal(text, "new content");
    free(text);
    assert_int_equal(count_temporaries(), 0);
    /* A bare file name is a file of the current folder. */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(test_dir()), 0);
    CHECK_STATUS_OK(rb_atomic_file_begin(&w, "bare.txt", "test"));
    fputs("here", w.f);
    rb_status st = rb_atomic_file_commit(&w);
    assert_int_equal(chdir(cwd), 0);
    CHECK_STATUS_OK(st);
    assert_true(exists(test_path("bare.txt")));
}

static void an_abort_leaves_the_target_and_no_temporary(void **state)
{
    (void)state;
    const char *path = test_path("kept.txt");
    spill(path, "kept");
    rb_atomic_file w;
    CHECK_STATUS_OK(rb_atomic_file_begin(&w, path, "test"));
    fputs("half of a", w.f);
    rb_atomic_file_abort(&w);
    char *text = slurp(path, NULL);
    assert_string_equal(text, "kept");
    free(text);
    assert_int_equal(count_temporaries(), 0);
    rb_atomic_file_abort(&w); /* a second abort does nothing */
    rb_atomic_file_abort(NULL);
}

/* A write that failed (here: its descriptor closed under it) fails the commit, names the
 * writer and the target, and leaves the old file. */
static void a_write_error_fails_the_commit(void **state)
{
    (void)state;
    const char *path = test_path("broken.txt");
    spill(path, "old");
    rb_atomic_file w;
    CHECK_STATUS_OK(rb_atomic_file_begin(&w, path, "my_writer"));
    close(fileno(w.f));
    fputs("lost", w.f);
    fflush(w.f);
    CHECK_FAILS(rb_atomic_file_commit(&w), RB_ERR_IO, "my_writer: cannot write '");
    char *text = slurp(path, NULL);
    assert_string_equal(text, "old");
    free(text);
    assert_int_equal(count_temporaries(), 0);
    /* A folder that does not exist, a target that is a folder. */
    CHECK_FAILS(rb_atomic_file_begin(&w, test_path("absent/x.txt"), "my_writer"), RB_ERR_IO,
                "my_writer: cannot write '");
    assert_null(w.f);
    assert_int_equal(mkdir(test_path("folder"), 0755), 0);
    CHECK_STATUS_OK(rb_atomic_file_begin(&w, test_path("folder"), "my_writer"));
    CHECK_FAILS(rb_atomic_file_commit(&w), RB_ERR_IO, "rename failed");
    assert_int_equal(count_temporaries(), 0);
    CHECK_FAILS(rb_atomic_file_begin(&w, NULL, "my_writer"), RB_ERR_ARGUMENT, "my_writer");
    CHECK_FAILS(rb_atomic_file_commit(&w), RB_ERR_ARGUMENT, "nothing to commit");
}

/* A file another program wrote (gnuplot's pictures) is put in place the same way. */
static void a_file_written_by_another_program_is_published(void **state)
{
    (void)state;
    const char *path = test_path("plot.svg"), *temp = test_path("plot.svg.tmp");
    spill(path, "old");
    spill(temp, "<svg/>");
    CHECK_STATUS_OK(rb_file_publish(temp, path, "drawer"));
    char *text = slurp(path, NULL);
    assert_string_equal(text, "<svg/>");
    free(text);
    assert_false(exists(temp));
    CHECK_FAILS(rb_file_publish(temp, path, "drawer"), RB_ERR_IO, "drawer: cannot write '");
    text = slurp(path, NULL);
    assert_string_equal(text, "<svg/>");
    free(text);
}

/* The pid of a process that has ended. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(0);
    waitpid(pid, NULL, 0);
    return pid;
}

/* Temporaries of the target whose writer died are removed by the next writer; those of live
 * processes, of other targets and other names are left. */
static void stale_temporaries_of_dead_savers_are_removed(void **state)
{
    (void)state;
    pid_t dead = dead_pid();
    char name[128];
    const char *stale[3] = {"%s/t.csv.tmp.%d", "%s/t.csv.tmp.%d.7", "%s/t.csv.tmp.%d.0"};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, stale[i], test_dir(), (int)dead);
        spill(name, "stale");
    }
    const char *kept[6] = {"%s/t.csv.tmp.%d",    "%s/other.csv.tmp.%d", "%s/t.csv.tmp.%dx",
                           "%s/t.csv.tmp.%d.7z", "%s/t.csv.tmpl.%d",    "%s/xt.csv.tmp.%d"};
    pid_t pids[6] = {getppid(), dead, dead, dead, dead, dead};
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, kept[i], test_dir(), (int)pids[i]);
        spill(name, "kept");
    }
    assert_int_equal(count_temporaries(), 9);
    rb_atomic_file w;
    CHECK_STATUS_OK(rb_atomic_file_begin(&w, test_path("t.csv"), "test"));
    fputs("a,b\n", w.f);
    CHECK_STATUS_OK(rb_atomic_file_commit(&w));
    assert_int_equal(count_temporaries(), 6);
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, kept[i], test_dir(), (int)pids[i]);
        if (!exists(name)) fail_msg("%s was removed", name);
    }
}

/* ---- a saver killed at random moments ---- */

enum { KILL_BYTES = 4 << 20, KILL_ROUNDS = 30 };

/* Save k: KILL_BYTES bytes, all equal to k, and a last line saying k. */
static void save_version(const char *path, int k)
{
    static char block[1 << 16];
    memset(block, 'a' + k % 26, sizeof block);
    rb_atomic_file w;
    if (rb_atomic_file_begin(&w, path, "saver") != RB_OK) return;
    for (int i = 0; i < KILL_BYTES / (int)sizeof block; i++)
        fwrite(block, 1, sizeof block, w.f);
    fprintf(w.f, "\nversion %d\n", k);
    rb_atomic_file_commit(&w);
}

/* The file is one complete save: its version line matches its bytes. */
static void check_whole(const char *path, int round)
{
    size_t size;
    char *text = slurp(path, &size);
    int k = -1;
    if (size < KILL_BYTES || sscanf(text + KILL_BYTES, "\nversion %d\n", &k) != 1)
        fail_msg("round %d: a torn file of %zu bytes", round, size);
    for (size_t i = 0; i < KILL_BYTES; i++)
        if (text[i] != 'a' + k % 26)
            fail_msg("round %d: byte %zu is not of version %d", round, i, k);
    free(text);
}

static void a_saver_killed_at_random_moments_leaves_a_whole_file(void **state)
{
    (void)state;
    const char *path = test_path("saved.bin");
    /* Kills fall within twice the time of one save, most of them mid-write. */
    double t0 = rb_now();
    save_version(path, 0);
    int64_t window = (int64_t)(2e6 * (rb_now() - t0)) + 1000;
    rb_rng rng = rb_rng_make(7);
    int left = 0;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        fflush(NULL);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0)
            for (int k = 1;; k++)
                save_version(path, k);
        usleep((useconds_t)rb_rng_below(&rng, window));
        kill(child, SIGKILL);
        int status;
        assert_int_equal(waitpid(child, &status, 0), child);
        check_whole(path, round);
        left += count_temporaries() > 0;
    }
    printf("# %d of %d kills left a temporary behind\n", left, KILL_ROUNDS);
    assert_true(left > 0); /* else no kill fell mid-write and the cleanup went untested */
    save_version(path, 99);
    check_whole(path, KILL_ROUNDS);
    assert_int_equal(count_temporaries(), 0);
}

/* ---- reading ---- */

static void files_open_for_reading_with_their_size(void **state)
{
    (void)state;
    spill(test_path("r.txt"), "12345");
    int64_t size = -7;
    FILE *f = rb_file_open_read(test_path("r.txt"), "reader", &size);
    CHECK_OK(f);
    assert_int_equal(size, 5);
    fclose(f);
    CHECK_FAILS(rb_file_open_read(test_dir(), "reader", &size), RB_ERR_IO, "reader: '");
    CHECK_FAILS(rb_file_open_read(test_dir(), "reader", &size), RB_ERR_IO, "is a folder");
    CHECK_FAILS(rb_file_open_read(test_path("absent"), "reader", &size), RB_ERR_IO,
                "reader: cannot open '");
    /* A pipe has no size known in advance. */
    f = rb_file_open_read("/dev/stdin", "reader", &size);
    if (f) {
        struct stat st;
        fstat(fileno(f), &st);
        if (!S_ISREG(st.st_mode)) assert_int_equal(size, -1);
        fclose(f);
    }
    rb_error_clear();
}

/* Every writer of the library goes through it: the DOT dump of a tape, a PNG, a history. */
static void the_library_writers_leave_no_temporaries(void **state)
{
    (void)state;
    rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
    rb_tensor *x = rb_tensor_ones(RB_F64, RB_SHAPE(2));
    rb_tape_watch(tape, x);
    rb_tensor *y = rb_sum(rb_mul(x, x), RB_ALL_AXES, false);
    CHECK_OK(y);
    CHECK_STATUS_OK(rb_tape_save_dot(tape, test_path("tape.dot")));
    assert_int_equal(mkdir(test_path("taken.dot"), 0755), 0);
    CHECK_FAILS(rb_tape_save_dot(tape, test_path("taken.dot")), RB_ERR_IO, "rb_tape_save_dot");
    rb_tape_end(tape);
    char *dot = slurp(test_path("tape.dot"), NULL);
    assert_non_null(strstr(dot, "digraph tape"));
    free(dot);
    const uint8_t px[6] = {0, 64, 128, 192, 255, 0};
    CHECK_STATUS_OK(rb_png_write(test_path("a.png"), 3, 2, 1, px));
    assert_int_equal(count_temporaries(), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TEST_DIR(a_commit_replaces_the_target_whole),
        TEST_DIR(an_abort_leaves_the_target_and_no_temporary),
        TEST_DIR(a_write_error_fails_the_commit),
        TEST_DIR(a_file_written_by_another_program_is_published),
        TEST_DIR(stale_temporaries_of_dead_savers_are_removed),
        TEST_DIR(a_saver_killed_at_random_moments_leaves_a_whole_file),
        TEST_DIR(files_open_for_reading_with_their_size),
        TEST_DIR(the_library_writers_leave_no_temporaries),
    };
    return RUN_TESTS(tests, argc, argv);
}
