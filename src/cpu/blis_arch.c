/* BLIS kernel choice. Debian's BLIS 0.9 detects Intel CPUs by their features but AMD ones by
 * family number, so a newer AMD family (Zen 5 is family 0x1A) gets the generic kernels, about
 * five times slower than the skx ones the CPU can run. We predict BLIS's choice with the same
 * rules and, only when it would be generic, name the best kernel set the CPU supports. */
#include <cpuid.h>
#include <string.h>

#include <blis.h>

#include "blis_arch.h"

void rb__cpu_query(rb__cpu *cpu)
{
    memset(cpu, 0, sizeof *cpu);
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return;
    unsigned max_leaf = eax;
    memcpy(cpu->vendor_string + 0, &ebx, 4);
    memcpy(cpu->vendor_string + 4, &edx, 4);
    memcpy(cpu->vendor_string + 8, &ecx, 4);
    cpu->vendor_string[12] = '\0';
    if (strcmp(cpu->vendor_string, "GenuineIntel") == 0)
        cpu->vendor = RB__CPU_INTEL;
    else if (strcmp(cpu->vendor_string, "AuthenticAMD") == 0)
        cpu->vendor = RB__CPU_AMD;

    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    unsigned base_family = (eax >> 8) & 0xf, base_model = (eax >> 4) & 0xf;
    cpu->family = base_family == 0xf ? base_family + ((eax >> 20) & 0xff) : base_family;
    cpu->model = (base_family == 0x6 || base_family == 0xf)
                     ? base_model + (((eax >> 16) & 0xf) << 4)
                     : base_model;
    bool osxsave = ecx & (1u << 27);
    cpu->fma = ecx & (1u << 12);
    bool avx_bit = ecx & (1u << 28);

    /* The OS must save the wide registers, or the instructions fault. */
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((unsigned long long)hi << 32) | lo;
    }
    bool ymm_ok = (xcr0 & 0x6) == 0x6;
    bool zmm_ok = (xcr0 & 0xe6) == 0xe6;
    cpu->avx = avx_bit && ymm_ok;
    cpu->fma = cpu->fma && cpu->avx;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        cpu->avx2 = cpu->avx && (ebx & (1u << 5));
        cpu->avx512f = zmm_ok && (ebx & (1u << 16));
        cpu->avx512dq = zmm_ok && (ebx & (1u << 17));
        cpu->avx512bw = zmm_ok && (ebx & (1u << 30));
        cpu->avx512vl = zmm_ok && (ebx & (1u << 31));
    }
}

static bool has_avx512(const rb__cpu *c)
{
    return c->avx512f && c->avx512dq && c->avx512bw && c->avx512vl;
}

static bool has_avx2_fma(const rb__cpu *c) { return c->avx && c->fma && c->avx2; }

/* BLIS 0.9's detection (frame/base/bli_cpuid.c), restricted to the configurations the linked
 * BLIS was built with. Intel: skx needs AVX-512 and two FMA units; one unit or an unknown
 * count gives haswell, so we predict haswell or skx alike as "not generic". */
static int blis_own_choice(const rb__cpu *c)
{
    if (c->vendor == RB__CPU_INTEL) {
#ifdef BLIS_CONFIG_SKX
        if (has_avx512(c)) return BLIS_ARCH_SKX;
#endif
#ifdef BLIS_CONFIG_HASWELL
        if (has_avx2_fma(c)) return BLIS_ARCH_HASWELL;
#endif
#ifdef BLIS_CONFIG_SANDYBRIDGE
        if (c->avx) return BLIS_ARCH_SANDYBRIDGE;
#endif
        return BLIS_ARCH_GENERIC;
    }
    if (c->vendor == RB__CPU_AMD) {
#ifdef BLIS_CONFIG_ZEN3
        if (has_avx2_fma(c) && c->family == 0x19) return BLIS_ARCH_ZEN3;
#endif
#ifdef BLIS_CONFIG_ZEN2
        if (has_avx2_fma(c) && c->family == 0x17 && c->model >= 0x30) return BLIS_ARCH_ZEN2;
#endif
#ifdef BLIS_CONFIG_ZEN
        if (has_avx2_fma(c) && c->family == 0x17) return BLIS_ARCH_ZEN;
#endif
#ifdef BLIS_CONFIG_EXCAVATOR
        if (has_avx2_fma(c) && c->family == 0x15 && c->model >= 0x60 && c->model <= 0x7f)
            return BLIS_ARCH_EXCAVATOR;
#endif
        /* Older AMD families need FMA4 checks we do not make; they keep generic. */
        return BLIS_ARCH_GENERIC;
    }
    return BLIS_ARCH_GENERIC;
}

/* The fastest kernel set the CPU's features allow among those built into BLIS. */
static int best_supported(const rb__cpu *c, const char **why)
{
#ifdef BLIS_CONFIG_SKX
    if (has_avx512(c)) {
        *why = "CPU has AVX-512 F/DQ/BW/VL: skx kernels";
        return BLIS_ARCH_SKX;
    }
#endif
#ifdef BLIS_CONFIG_ZEN3
    if (has_avx2_fma(c) && c->vendor == RB__CPU_AMD) {
        *why = "AMD CPU with AVX2 and FMA: zen3 kernels";
        return BLIS_ARCH_ZEN3;
    }
#endif
#ifdef BLIS_CONFIG_HASWELL
    if (has_avx2_fma(c)) {
        *why = "CPU has AVX2 and FMA: haswell kernels";
        return BLIS_ARCH_HASWELL;
    }
#endif
#ifdef BLIS_CONFIG_SANDYBRIDGE
    if (c->avx) {
        *why = "CPU has AVX: sandybridge kernels";
        return BLIS_ARCH_SANDYBRIDGE;
    }
#endif
    *why = "no better kernel set for this CPU";
    return BLIS_ARCH_GENERIC;
}

rb__arch_choice rb__choose_blis_arch(const rb__cpu *cpu)
{
    rb__arch_choice choice = {0};
    choice.blis_would = blis_own_choice(cpu);
    choice.chosen = choice.blis_would;
    choice.reason = "BLIS's own detection";
    if (choice.blis_would != BLIS_ARCH_GENERIC) return choice;
    const char *why = NULL;
    int best = best_supported(cpu, &why);
    if (best != BLIS_ARCH_GENERIC) {
        choice.chosen = best;
        choice.override = true;
        choice.reason = why;
    } else {
        choice.reason = "BLIS's own detection (generic: no SIMD kernel set applies)";
    }
    return choice;
}

const char *rb__blis_arch_name(int arch)
{
    if (arch < 0 || arch >= BLIS_NUM_ARCHS) return "unknown";
    return bli_arch_string((arch_t)arch);
}
