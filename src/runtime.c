/* Runtime settings: thread count shared by OpenMP loops and BLIS, BLIS kernel choice. */
#define _POSIX_C_SOURCE 200809L
#define _GNU_SOURCE
#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <time.h>
#include <unistd.h>

#include <blis.h>

#include "blis_arch.h"
#include "core.h"
#include "parallel.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static rb__cpu cpu;
static rb__arch_choice arch_choice;
static bool user_arch_type;

/* Runs when the library is loaded, so that the choice precedes any BLIS call, even one a
 * program makes directly. setenv is the only way BLIS 0.9 takes a kernel set. */
__attribute__((constructor)) static void choose_blis_kernels(void)
{
    rb__cpu_query(&cpu);
    arch_choice = rb__choose_blis_arch(&cpu);
    const char *user = getenv("BLIS_ARCH_TYPE");
    user_arch_type = user && *user;
    if (!user_arch_type && arch_choice.override) {
        char id[16];
        snprintf(id, sizeof id, "%d", arch_choice.chosen);
        setenv("BLIS_ARCH_TYPE", id, 0);
    }
}

static void init(void)
{
    rb__threads_init();
    const char *verbose = getenv("RUBAN_VERBOSE");
    if (verbose && *verbose && strcmp(verbose, "0") != 0) rb_runtime_print_info(stderr);
}

void rb_runtime_init(void) { pthread_once(&init_once, init); }

void rb_runtime_get_info(rb_runtime_info *info)
{
    rb_runtime_init();
    memset(info, 0, sizeof *info);
    snprintf(info->cpu_vendor, sizeof info->cpu_vendor, "%s", cpu.vendor_string);
    info->cpu_family = cpu.family;
    info->cpu_model = cpu.model;
    info->has_avx2_fma = cpu.avx2 && cpu.fma;
    info->has_avx512 = cpu.avx512f && cpu.avx512dq && cpu.avx512bw && cpu.avx512vl;
    snprintf(info->blis_version, sizeof info->blis_version, "%s", bli_info_get_version_str());
    snprintf(info->blis_arch, sizeof info->blis_arch, "%s",
             rb__blis_arch_name((int)bli_arch_query_id()));
    snprintf(info->blis_would, sizeof info->blis_would, "%s",
             rb__blis_arch_name(arch_choice.blis_would));
    if (user_arch_type)
        snprintf(info->arch_reason, sizeof info->arch_reason,
                 "BLIS_ARCH_TYPE=%s set in the environment", getenv("BLIS_ARCH_TYPE"));
    else if (arch_choice.override)
        snprintf(info->arch_reason, sizeof info->arch_reason,
                 "ruban override: BLIS would fall back to generic; %s", arch_choice.reason);
    else
        snprintf(info->arch_reason, sizeof info->arch_reason, "%s", arch_choice.reason);
    info->num_threads = rb_num_threads();
    info->threads_now = rb_num_threads_now();
    info->num_cores = rb__cores();
}

void rb_runtime_print_info(FILE *f)
{
    rb_runtime_info i;
    rb_runtime_get_info(&i);
    fprintf(f, "ruban %s: CPU %s family 0x%x model 0x%x (AVX2+FMA %s, AVX-512 %s)\n", RUBAN_VERSION,
            i.cpu_vendor, i.cpu_family, i.cpu_model, i.has_avx2_fma ? "yes" : "no",
            i.has_avx512 ? "yes" : "no");
    fprintf(f, "ruban: BLIS %s kernels '%s' (%s)\n", i.blis_version, i.blis_arch, i.arch_reason);
    fprintf(f, "ruban: %d thread%s (%d core%s available)", i.num_threads,
            i.num_threads == 1 ? "" : "s", i.num_cores, i.num_cores == 1 ? "" : "s");
    if (i.threads_now < i.num_threads)
        fprintf(f, ", %d now: other processes keep cores busy", i.threads_now);
    fputc('\n', f);
}

double rb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
