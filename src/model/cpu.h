/* cpu.h — what this CPU can do, for choosing a code path at run time and for saying which one ran: the
 * model name, the SIMD/VNNI/AMX flags that matter to the engine, and oneDNN's effective ISA.
 * Owns: CPU detection. Must not touch: the model or any choice made with it (callers decide). */
#ifndef CAI_MODEL_CPU_H
#define CAI_MODEL_CPU_H

typedef struct {
    char model[128]; /* /proc/cpuinfo "model name" ("unknown" where absent) */
    int avx2, fma, avx512f, avx512bw, avx512vl, avx512dq, avx512_vnni, avx_vnni, amx_int8;
    const char *dnnl_isa; /* oneDNN's effective ISA, e.g. "avx512_core_vnni" */
} cai_cpu;

/* Detected once (thread-safe); the pointer stays valid. */
const cai_cpu *cai_cpu_get(void);

/* Has 8-bit dot-product instructions (AVX512_VNNI or AVX_VNNI) and oneDNN may use them (not capped by
 * ONEDNN_MAX_CPU_ISA): int8 GEMMs pay there. */
int cai_cpu_has_vnni(void);

/* Which ISA path our own kernels take (kernels.h): "avx512" where the CPU has AVX-512 F/BW/VL/DQ, else
 * "avx2". CAI_ISA=avx2 in the environment forces the AVX2 path (as ONEDNN_MAX_CPU_ISA does for oneDNN),
 * to compare the paths on one machine; any other value of CAI_ISA is ignored with a warning on stderr.
 * Read once. */
const char *cai_cpu_isa_path(void);

/* One line: "MODEL; AVX2 AVX-512 AVX512_VNNI no AVX_VNNI no AMX; oneDNN ISA avx512_core_vnni;
 * own kernels avx512". */
void cai_cpu_describe(char *buf, int len);

#endif
