/* kernels.h — the model's own small kernels (LayerNorm, attention per head, PCM per galaxy, NaN-keeping
 * ReLU) as a table of function pointers, one table per ISA path: AVX2 (kernels_avx2.c, the baseline every
 * build runs) and AVX-512 (kernels_avx512.c, compiled with target attributes, used only where the CPU has
 * it). The table is chosen once at model load (cai_kernels_get, which honours CAI_ISA=avx2).
 * Owns: the arithmetic of those kernels. Must not touch: buffers, threading or oneDNN (forward.c decides). */
#ifndef CAI_MODEL_KERNELS_H
#define CAI_MODEL_KERNELS_H

#include <math.h>
#include <stdint.h>

/* Geometry of the attention kernel and PCM (k = 1) fast paths: callers check these before using them. */
#define CAI_ATT_MAXT 24 /* tokens per galaxy the register-blocked attention handles (the model: 17) */
#define CAI_PCM_NP 16   /* patch tokens the PCM kernel handles (4×4 grid) */

typedef struct {
    const char *isa; /* "avx2" or "avx512": the path that runs, for reports */
    /* LayerNorm of one row of D floats (mean and variance summed in double, as the reference). Writes
     * (x − mean)·inv·w + b to out; or, with qout, quantizes that to u8 (round(v·qinv + qzp), saturated,
     * NaN → 0) into qout instead. */
    void (*layernorm_row)(float *out, uint8_t *qout, float qinv, float qzp, const float *x, const float *w,
                          const float *b, int D, float eps);
    /* Softmax attention of head h of one galaxy: base is its qkv rows (T × 3D, [q | k | v]); writes the
     * head's T × hd slice of out (row stride D), or of qout as u8 when qout is given. Needs T ≤ CAI_ATT_MAXT
     * and hd % 32 == 0. */
    void (*attention_head)(float *out, uint8_t *qout, float qinv, float qzp, const float *base, int h, int T, int D,
                           int hd, float scale);
    /* PCM with kernel 1 on one galaxy's CAI_PCM_NP patch tokens xb (row stride D): grouped 1×1 conv D→H
     * (w0, b0), SiLU, grouped 1×1 conv H→D (w3, b3), plus the residual: out = xb + convX, token-major
     * (CAI_PCM_NP × D, row stride D; out must not overlap xb). hT is scratch of H·CAI_PCM_NP floats. Needs
     * D % 8 == 0, H % 8 == 0, (H/G) % 4 == 0, (D/G) % 4 == 0. */
    void (*pcm_k1)(float *out, float *hT, const float *xb, const float *w0, const float *b0, const float *w3,
                   const float *b3, int D, int H, int G);
    /* c[i] = max(c[i], 0) for n floats, keeping NaN (torch.relu): oneDNN's ReLU turns NaN into 0. */
    void (*relu_nan)(float *c, int64_t n);
} cai_kernels;

/* The baseline table (AVX2 + FMA: what every build targets). */
const cai_kernels *cai_kernels_avx2(void);
/* The AVX-512 table, or NULL where this CPU lacks AVX-512F/BW/VL/DQ (tests use it to compare paths). */
const cai_kernels *cai_kernels_avx512(void);
/* The table to use: AVX-512 where the CPU has it, unless CAI_ISA=avx2 (see cpu.h); chosen once. */
const cai_kernels *cai_kernels_get(void);

/* u8 quantization of one float: round(v·inv + zp) saturated to [0, 255]; NaN → 0 (shared by both paths). */
static inline uint8_t cai_quant1(float v, float inv, float zp) {
    float r = v * inv + zp;
    r = r >= 0 ? (r < 255 ? r : 255) : 0; /* NaN → 0 */
    return (uint8_t)nearbyintf(r);
}

#endif
