/* Choosing BLIS's kernel set from CPUID, kept apart from the runtime so tests can feed it
 * the CPUs they cannot run on. */
#ifndef RUBAN_SRC_BLIS_ARCH_H
#define RUBAN_SRC_BLIS_ARCH_H

#include <stdbool.h>

typedef enum rb__cpu_vendor { RB__CPU_OTHER, RB__CPU_INTEL, RB__CPU_AMD } rb__cpu_vendor;

typedef struct rb__cpu {
    rb__cpu_vendor vendor;
    char vendor_string[16];
    unsigned family, model; /* display family/model (extended fields folded in) */
    bool avx, fma, avx2;
    bool avx512f, avx512dq, avx512bw, avx512vl;
} rb__cpu;

/* Kernel sets ruban may ask for; values are BLIS's arch_t ids of the linked BLIS. */
typedef struct rb__arch_choice {
    int blis_would; /* arch BLIS 0.9's own detection picks for this CPU */
    int chosen;     /* arch ruban wants BLIS to use */
    bool override;  /* chosen differs from blis_would: set BLIS_ARCH_TYPE */
    const char *reason;
} rb__arch_choice;

/* Read this CPU's identification and features. */
void rb__cpu_query(rb__cpu *cpu);
/* Predict BLIS's own choice and pick a better one where BLIS falls back to generic kernels. */
rb__arch_choice rb__choose_blis_arch(const rb__cpu *cpu);
/* BLIS's name for an arch id ("zen3"). */
const char *rb__blis_arch_name(int arch);

#endif
