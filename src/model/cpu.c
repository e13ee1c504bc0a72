/* cpu.c — CPU detection (see cpu.h). Flags come from the compiler's cpuid wrapper (__builtin_cpu_supports),
 * which also checks that the OS saves the wider registers; AMX and AVX_VNNI, which GCC 12 does not name, come
 * from cpuid leaf 7 directly. The model name is only for reports. */
#include "cpu.h"

#include <cpuid.h>
#include <dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/diag.h"

static cai_cpu g_cpu;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_all: return "all";
    default: return "unknown";
    }
}

static void detect(void) {
    cai_cpu *c = &g_cpu;
    snprintf(c->model, sizeof c->model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10)) continue;
            const char *v = strchr(line, ':');
            if (!v) break;
            for (v++; *v == ' ' || *v == '\t'; v++) {}
            snprintf(c->model, sizeof c->model, "%s", v);
            c->model[strcspn(c->model, "\n")] = 0;
            break;
        }
        fclose(f);
    }
    __builtin_cpu_init();
    c->avx2 = __builtin_cpu_supports("avx2");
    c->fma = __builtin_cpu_supports("fma");
    c->avx512f = __builtin_cpu_supports("avx512f");
    c->avx512bw = __builtin_cpu_supports("avx512bw");
    c->avx512vl = __builtin_cpu_supports("avx512vl");
    c->avx512dq = __builtin_cpu_supports("avx512dq");
    c->avx512_vnni = __builtin_cpu_supports("avx512vnni");
    unsigned a, b, cx, d;
    if (__get_cpuid_count(7, 1, &a, &b, &cx, &d)) c->avx_vnni = (a >> 4) & 1 && c->avx2; /* leaf 7.1 EAX[4] */
    if (__get_cpuid_count(7, 0, &a, &b, &cx, &d)) c->amx_int8 = (d >> 25) & 1;           /* leaf 7.0 EDX[25] */
    c->dnnl_isa = isa_name(dnnl_get_effective_cpu_isa());
}

const cai_cpu *cai_cpu_get(void) {
    pthread_once(&g_once, detect);
    return &g_cpu;
}

/* VNNI in the CPU and in the kernels oneDNN will run: ONEDNN_MAX_CPU_ISA=AVX2 (or AVX512_CORE) on a VNNI
 * CPU caps oneDNN below its VNNI kernels, and int8 there runs at AVX2 speed (slower than fp32), so
 * `--precision auto` must not pick it. */
int cai_cpu_has_vnni(void) {
    const cai_cpu *c = cai_cpu_get();
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    const int dnnl_vnni = isa == dnnl_cpu_isa_avx2_vnni || isa == dnnl_cpu_isa_avx512_core_vnni ||
                          isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
    return (c->avx512_vnni || c->avx_vnni) && dnnl_vnni;
}

static const char *g_isa_path;
static pthread_once_t g_isa_once = PTHREAD_ONCE_INIT;

static void choose_isa(void) {
    const cai_cpu *c = cai_cpu_get();
    const char *env = getenv("CAI_ISA");
    int force_avx2 = 0;
    if (env && *env) {
        if (!strcmp(env, "avx2")) force_avx2 = 1;
        else if (strcmp(env, "avx512"))
            cai_diag(CAI_DIAG_INFO, "cai: CAI_ISA=%s ignored (expected avx2 or avx512)", env);
    }
    /* CAI_ISA=avx512 cannot force what the CPU lacks: it only means "the best there is". */
    g_isa_path = !force_avx2 && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq ? "avx512" : "avx2";
}

const char *cai_cpu_isa_path(void) {
    pthread_once(&g_isa_once, choose_isa);
    return g_isa_path;
}

void cai_cpu_describe(char *buf, int len) {
    const cai_cpu *c = cai_cpu_get();
    snprintf(buf, (size_t)len, "%s; %sAVX2 %sAVX-512 %sAVX512_VNNI %sAVX_VNNI %sAMX; oneDNN ISA %s; own kernels %s",
             c->model, c->avx2 ? "" : "no ", c->avx512f ? "" : "no ", c->avx512_vnni ? "" : "no ",
             c->avx_vnni ? "" : "no ", c->amx_int8 ? "" : "no ", c->dnnl_isa, cai_cpu_isa_path());
}
