/* RUBAN_NUM_THREADS above the cores the process may use is capped, with one line saying so
 * (meson runs this with RUBAN_NUM_THREADS=4096). Exit status 0 when it holds. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ruban.h>

int main(void)
{
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    int threads = rb_num_threads(); /* initialises the runtime: reads the environment */
    fflush(stderr);
    dup2(saved, 2);
    rewind(tmp);
    char said[512] = "";
    size_t got = fread(said, 1, sizeof said - 1, tmp);
    said[got] = '\0';
    cpu_set_t set;
    int cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : threads;
    char expect[128];
    snprintf(expect, sizeof expect,
             "RUBAN_NUM_THREADS asks for 4096 threads; this process may use %d cores", cores);
    if (threads != cores || !strstr(said, expect)) {
        printf("threads %d (cores %d), stderr '%s', expected '%s'\n", threads, cores, said, expect);
        return 1;
    }
    printf("RUBAN_NUM_THREADS=4096 -> %d threads, said: %s", threads, said);
    return 0;
}
