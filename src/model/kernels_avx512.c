/* kernels_avx512.c — the own kernels (kernels.h) for CPUs with AVX-512 F/BW/VL/DQ. The build targets
 * x86-64-v3 (AVX2), so every function here carries a target attribute instead of the file being built
 * with -mavx512f: nothing of this file can run (not even a compiler-generated helper) unless
 * cai_kernels_get chose this table after cpuid said yes. Works with GCC and clang (the fuzz build).
 *
 * Each kernel mirrors its AVX2 twin in kernels_avx2.c: the same per-output sums in the same order where
 * that costs nothing (PCM, P·V, q·k: bit-identical given identical inputs), 16 lanes instead of 8. Where
 * they differ — softmax's exp and its sums (vector exp, tree sums, ≤ 2 float ulps), LayerNorm's double
 * sums (another grouping; exact or within a double ulp) — tests/unit/test_kernels.c bounds the difference. */
#include <immintrin.h>
#include <math.h>

#include "cpu.h"
#include "kernels.h"
#include "kernels_simd.h"

#define K512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

/* Lanes [0, n) of 16 (n ≤ 16). */
K512 static inline __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* u8 quantization of 16 floats, as quant8 in kernels_avx2.c: round(v·inv + zp) to nearest even, saturated
 * to [0, 255]; NaN → 0 (max returns its second operand, 0, for NaN). Stores the lanes in m. */
K512 static inline void quant16(uint8_t *dst, __m512 v, __m512 inv, __m512 zp, __mmask16 m) {
    v = _mm512_fmadd_ps(v, inv, zp);
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
    _mm512_mask_cvtusepi32_storeu_epi8(dst, m, _mm512_cvtps_epi32(v));
}

/* ------------------------------------------------------------------------------------------------ */
/* LayerNorm                                                                                         */

/* Sums in double as the reference: 16 floats widen to two 8-lane double vectors per step. Tails are
 * masked (zero lanes add nothing; the variance's masked lanes are zeroed after the subtraction). */
K512 static void layernorm_row(float *o, uint8_t *qo, float qi, float zp, const float *xr, const float *w,
                               const float *b, int D, float eps) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int i = 0; i < D; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(mask16(D - i), xr + i);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
    }
    const float mean = (float)(_mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / D);
    const __m512 vm = _mm512_set1_ps(mean);
    s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int i = 0; i < D; i += 16) {
        const __mmask16 m = mask16(D - i);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, xr + i), vm); /* float difference */
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(d)), hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(d, 1));
        s0 = _mm512_fmadd_pd(lo, lo, s0); /* d² of a float is exact in double */
        s1 = _mm512_fmadd_pd(hi, hi, s1);
    }
    const double sq = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    const float inv = 1.0f / sqrtf((float)(sq / D) + eps);
    const __m512 vi = _mm512_set1_ps(inv);
    if (!qo) {
        for (int i = 0; i < D; i += 16) { /* (x − mean)·inv·w + b, the last two as one FMA (GCC's contraction) */
            const __mmask16 m = mask16(D - i);
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + i), vm), vi);
            v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, b + i));
            _mm512_mask_storeu_ps(o + i, m, v);
        }
        return;
    }
    const __m512 vq = _mm512_set1_ps(qi), vz = _mm512_set1_ps(zp);
    for (int i = 0; i < D; i += 16) { /* as the AVX2 int8 path: separate multiply and add, then quantized */
        const __mmask16 m = mask16(D - i);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + i), vm), vi),
                                 _mm512_maskz_loadu_ps(m, w + i));
        quant16(qo + i, _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i)), vq, vz, m);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Attention                                                                                         */

/* exp on 16 floats: the Cephes expf of kernels_avx2.c's exp8, operation for operation (so SiLU is
 * bit-identical on both paths). NaN propagates: x is always the second operand of min/max. */
K512 static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(88.3762626647949f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-88.3762626647949f), x);
    __m512 fx = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                                     _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    __m512 y = _mm512_set1_ps(1.9875691500E-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894E-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459E-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201E-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(fx), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

/* SiLU x·σ(x) = x / (1 + e^-x) on 16 floats, the divide replaced by a reciprocal estimate (14 bits) and one
 * Newton step (~23 bits): a 16-lane vdivps issues only every ~10-16 cycles on current Intel cores and made
 * the PCM kernel divide-bound (1.2× the AVX2 kernel); within ~2 float ulps of the division. NaN stays NaN. */
K512 static inline __m512 silu16(__m512 x) {
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), x)));
    __m512 r = _mm512_rcp14_ps(d);
    r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
    return _mm512_mul_ps(x, r);
}

#define ATT_KP 32 /* keys padded to two 16-lane vectors */
#define ATT_QB 6  /* queries per register block: 6 × 2 accumulators for q·k, 6 × 2 for P·V */
/* The r loops below are unrolled by pragma: left as loops, GCC -O2 kept the accumulator arrays on the
 * stack (an FMA with a memory operand and a store per step; the kernel measured only 1.06× AVX2). */

/* One (galaxy, head), T ≤ CAI_ATT_MAXT, hd % 32 == 0. Kᵀ copied to kT (hd × 32; padded keys repeat key
 * T-1 and are masked out of the softmax). q·k: 6 queries × 32 keys in 12 accumulators, one FMA per
 * channel in order (as the AVX2 kernel). Softmax: masked 32-lane rows, vector exp. P·V: 6 queries × 32
 * channels in 12 accumulators, one FMA per key in order (as the AVX2 kernel). Rows past T repeat row T-1
 * (computed, stored twice with the same values, or ignored). Stays inside one galaxy (NaN isolation). */
K512 static void attention_head(float *out, uint8_t *qout, float qinv, float qzp, const float *base, int h, int T,
                                int D, int hd, float scale) {
    const int ld = 3 * D;
    float kT[hd * ATT_KP];
    float att[CAI_ATT_MAXT + ATT_QB][ATT_KP] __attribute__((aligned(64)));
    for (int j0 = 0; j0 < ATT_KP; j0 += 8)
        for (int e0 = 0; e0 < hd; e0 += 8) {
            const float *rows[8];
            for (int r = 0; r < 8; r++) rows[r] = base + (int64_t)(j0 + r < T ? j0 + r : T - 1) * ld + D + h * hd + e0;
            cai_transpose8(rows, kT + e0 * ATT_KP + j0, ATT_KP);
        }
    for (int i0 = 0; i0 < T; i0 += ATT_QB) {
        const float *q[ATT_QB];
#pragma GCC unroll 8
        for (int r = 0; r < ATT_QB; r++) q[r] = base + (int64_t)(i0 + r < T ? i0 + r : T - 1) * ld + h * hd;
        __m512 a[ATT_QB][2];
#pragma GCC unroll 8
        for (int r = 0; r < ATT_QB; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
        for (int e = 0; e < hd; e++) {
            const __m512 k0 = _mm512_loadu_ps(kT + e * ATT_KP), k1 = _mm512_loadu_ps(kT + e * ATT_KP + 16);
#pragma GCC unroll 8
            for (int r = 0; r < ATT_QB; r++) {
                const __m512 bq = _mm512_set1_ps(q[r][e]);
                a[r][0] = _mm512_fmadd_ps(bq, k0, a[r][0]);
                a[r][1] = _mm512_fmadd_ps(bq, k1, a[r][1]);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < ATT_QB; r++)
            _mm512_store_ps(att[i0 + r], a[r][0]), _mm512_store_ps(att[i0 + r] + 16, a[r][1]);
    }
    /* softmax per query row over keys [0, T) */
    const __mmask16 m0 = mask16(T), m1 = mask16(T - 16 > 0 ? T - 16 : 0);
    const __m512 vs = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < T; i++) {
        __m512 x0 = _mm512_mask_mul_ps(ninf, m0, _mm512_load_ps(att[i]), vs);
        __m512 x1 = _mm512_mask_mul_ps(ninf, m1, _mm512_load_ps(att[i] + 16), vs);
        const __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(x0, x1)));
        x0 = _mm512_maskz_mov_ps(m0, exp16(_mm512_sub_ps(x0, mx)));
        x1 = _mm512_maskz_mov_ps(m1, exp16(_mm512_sub_ps(x1, mx)));
        const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(_mm512_add_ps(x0, x1)));
        _mm512_store_ps(att[i], _mm512_mul_ps(x0, inv));
        _mm512_store_ps(att[i] + 16, _mm512_mul_ps(x1, inv));
    }
    /* out rows i0..i0+5, 32 channels at a time: Σ_j p[i][j]·v[j] */
    const float *vb = base + 2 * D + h * hd;
    const __m512 vq = _mm512_set1_ps(qinv), vz = _mm512_set1_ps(qzp);
    for (int i0 = 0; i0 < T; i0 += ATT_QB) {
        int rows[ATT_QB];
#pragma GCC unroll 8
        for (int r = 0; r < ATT_QB; r++) rows[r] = i0 + r < T ? i0 + r : T - 1;
        for (int e0 = 0; e0 < hd; e0 += 32) {
            __m512 o[ATT_QB][2];
#pragma GCC unroll 8
            for (int r = 0; r < ATT_QB; r++) o[r][0] = o[r][1] = _mm512_setzero_ps();
            for (int j = 0; j < T; j++) {
                const float *v = vb + (int64_t)j * ld + e0;
                const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
#pragma GCC unroll 8
                for (int r = 0; r < ATT_QB; r++) {
                    const __m512 p = _mm512_set1_ps(att[rows[r]][j]);
                    o[r][0] = _mm512_fmadd_ps(p, v0, o[r][0]);
                    o[r][1] = _mm512_fmadd_ps(p, v1, o[r][1]);
                }
            }
#pragma GCC unroll 8
            for (int r = 0; r < ATT_QB; r++) {
                const int64_t at = (int64_t)rows[r] * D + h * hd + e0;
                if (qout) { /* int8: quantized for proj as it is stored */
                    quant16(qout + at, o[r][0], vq, vz, 0xFFFF);
                    quant16(qout + at + 16, o[r][1], vq, vz, 0xFFFF);
                } else {
                    _mm512_storeu_ps(out + at, o[r][0]);
                    _mm512_storeu_ps(out + at + 16, o[r][1]);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* PCM (kernel 1)                                                                                    */

/* With 16 patch tokens, one channel over all tokens is exactly one 16-lane vector: each grouped 1×1 conv
 * output channel is b + Σ_i w[i]·in[i] as one FMA per i in order (bit-identical to the AVX2 pcm_conv4),
 * 4 channels per pass. The second conv writes channel-major to a scratch tile, transposed to token-major
 * at the end. */
K512 static void pcm_k1(float *out, float *hT, const float *xb, const float *w0, const float *b0, const float *w3,
                        const float *b3, int D, int H, int G) {
    const int cig0 = D / G, cog0 = H / G, cig3 = H / G, cog3 = D / G;
    float xT[D * CAI_PCM_NP], oT[D * CAI_PCM_NP];
    cai_pcm_transpose_in(xb, xT, D);
    for (int o = 0; o < H; o += 4) {
        const float *in = xT + (o / cog0) * cig0 * CAI_PCM_NP, *w = w0 + (int64_t)o * cig0;
        __m512 a0 = _mm512_set1_ps(b0[o]), a1 = _mm512_set1_ps(b0[o + 1]), a2 = _mm512_set1_ps(b0[o + 2]),
               a3 = _mm512_set1_ps(b0[o + 3]);
        for (int i = 0; i < cig0; i++) {
            const __m512 x = _mm512_loadu_ps(in + i * CAI_PCM_NP);
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[i]), x, a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(w[cig0 + i]), x, a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(w[2 * cig0 + i]), x, a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(w[3 * cig0 + i]), x, a3);
        }
        _mm512_storeu_ps(hT + (o + 0) * CAI_PCM_NP, a0), _mm512_storeu_ps(hT + (o + 1) * CAI_PCM_NP, a1);
        _mm512_storeu_ps(hT + (o + 2) * CAI_PCM_NP, a2), _mm512_storeu_ps(hT + (o + 3) * CAI_PCM_NP, a3);
    }
    /* SiLU in its own pass: each vector's exp is a ~30-deep dependent chain; fused into the conv loop above
     * (4 chains per step) it was latency-bound, here independent iterations overlap. */
#pragma GCC unroll 4
    for (int i = 0; i < H * CAI_PCM_NP; i += 16) _mm512_storeu_ps(hT + i, silu16(_mm512_loadu_ps(hT + i)));
    for (int o = 0; o < D; o += 4) {
        const float *in = hT + (o / cog3) * cig3 * CAI_PCM_NP, *w = w3 + (int64_t)o * cig3;
        __m512 a0 = _mm512_set1_ps(b3[o]), a1 = _mm512_set1_ps(b3[o + 1]), a2 = _mm512_set1_ps(b3[o + 2]),
               a3 = _mm512_set1_ps(b3[o + 3]);
        for (int i = 0; i < cig3; i++) {
            const __m512 x = _mm512_loadu_ps(in + i * CAI_PCM_NP);
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[i]), x, a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(w[cig3 + i]), x, a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(w[2 * cig3 + i]), x, a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(w[3 * cig3 + i]), x, a3);
        }
        _mm512_storeu_ps(oT + (o + 0) * CAI_PCM_NP, a0), _mm512_storeu_ps(oT + (o + 1) * CAI_PCM_NP, a1);
        _mm512_storeu_ps(oT + (o + 2) * CAI_PCM_NP, a2), _mm512_storeu_ps(oT + (o + 3) * CAI_PCM_NP, a3);
    }
    for (int c0 = 0; c0 < D; c0 += 8) /* oT (D × 16) → out (16 × D) */
        for (int t0 = 0; t0 < CAI_PCM_NP; t0 += 8) {
            const float *rows[8];
            for (int r = 0; r < 8; r++) rows[r] = oT + (c0 + r) * CAI_PCM_NP + t0;
            cai_transpose8(rows, out + (int64_t)t0 * D + c0, D);
        }
}

/* ------------------------------------------------------------------------------------------------ */

/* NaN-keeping ReLU: lanes with c < 0 (false for NaN) become 0. */
K512 static void relu_nan(float *c, int64_t n) {
    const __m512 z = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = mask16(n - i > 16 ? 16 : (int)(n - i));
        const __m512 v = _mm512_maskz_loadu_ps(m, c + i);
        _mm512_mask_storeu_ps(c + i, _mm512_mask_cmp_ps_mask(m, v, z, _CMP_LT_OQ), z);
    }
}

static const cai_kernels k_avx512 = {"avx512", layernorm_row, attention_head, pcm_k1, relu_nan};

const cai_kernels *cai_kernels_avx512(void) {
    const cai_cpu *c = cai_cpu_get();
    return c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq ? &k_avx512 : NULL;
}
