/* kernels_avx512.c — the own kernels (kernels.h) for CPUs with AVX-512 F/BW/VL/DQ. The build targets
 * x86-64-v3 (AVX2), so every function here carries a target attribute instead of the file being built
 * with -mavx512f: nothing of this file can run (not even a compiler-generated helper) unless
 * cai_kernels_get chose this table after cpuid said yes. Works with GCC and clang (the fuzz build).
 *
 * Each kernel mirrors its AVX2 twin in kernels_avx2.c: the same per-output sums in the same order where
 * that costs nothing (PCM's convolutions, P·V, q·k: bit-identical given identical inputs), 16 lanes instead
 * of 8. Where they differ — softmax's exp and its sums (vector exp, sums over keys per query lane), SiLU's
 * exp and reciprocal (see silu16), LayerNorm's double sums (another grouping; exact or within a double
 * ulp) — tests/unit/test_kernels.c bounds the difference, and each kernel against a double reference. */
#include <immintrin.h>
#include <math.h>

#include "cpu.h"
#include "kernels.h"
#include "kernels_simd.h"

#define K512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

/* Lanes [0, n) of 16 (n ≤ 16). */
K512 static inline __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

/* u8 quantization of 16 floats, as cai_quant8 (kernels_simd.h): round(v·inv + zp) to nearest even, saturated
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

/* SiLU x·σ(x) = x / (1 + e^-x) on 16 floats, 19 vector uops instead of the 25 of Cephes expf plus a
 * divide: PCM's SiLU is 768 vectors per galaxy-block and ports 0 and 5 were its limit.
 *  - x clamped to ±88.376 inside the exponential with one vrangeps (sign(x)·min(|x|, 88.376)) instead of
 *    min + max; the final multiply uses x itself, so ±inf and large x come out right and NaN stays NaN.
 *  - n = round(−x·log2 e) by the 1.5·2^23 shifter (fused multiply-add, subtract) instead of mul +
 *    vrndscaleps (2 uops on port 0); 2^n by vscalefps instead of building the exponent in integers.
 *  - r' = x + n·ln2 (Cody-Waite, ln2 in two parts as Cephes) = −r, and e^r = e^(−r') by a degree-6
 *    polynomial in r' (Chebyshev fit of e^(−r') on |r'| ≤ 0.3467 by mpmath.chebyfit: error 1.9e-9, far
 *    below a float ulp; Cephes's degree 7 was more than float needs).
 *  - the divide as a reciprocal estimate (14 bits) and one Newton step (~23 bits): a 16-lane vdivps
 *    issues only every ~10-16 cycles on current Intel cores.
 * Within a few float ulps of x / (1 + e^-x) (tests/unit/test_kernels.c: test_silu bounds it on a dense
 * sweep, PCM against its double reference). */
K512 static inline __m512 silu16(__m512 x) {
    const __m512 c = _mm512_range_ps(x, _mm512_set1_ps(88.3762626647949f), 0x02); /* min |.|, sign of x */
    const __m512 shifter = _mm512_set1_ps(12582912.0f);                           /* 1.5·2^23 */
    const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(c, _mm512_set1_ps(-1.44269504088896341f), shifter), shifter);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(0.693359375f), c); /* r' = x + n·ln2 */
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 y = _mm512_set1_ps(1.3941138623396756e-3f);
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(-8.37515056983697e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1666352534085765e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(-1.6666415224265796e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.000000047199452e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(-1.0000000377816203f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.0f));                              /* e^(−r') */
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_scalef_ps(y, n)); /* 1 + e^-x */
    __m512 q = _mm512_rcp14_ps(d);
    q = _mm512_mul_ps(q, _mm512_fnmadd_ps(d, q, _mm512_set1_ps(2.0f)));
    return _mm512_mul_ps(x, q);
}

#define ATT_QP 32 /* a row of scores: queries padded to two 16-lane vectors */
#define ATT_KB 6  /* keys (q·k) or queries (P·V) per register block */
/* The r loops below are unrolled by pragma: left as loops, GCC -O2 kept the accumulator arrays on the
 * stack (an FMA with a memory operand and a store per step; the kernel measured only 1.06× AVX2). */

/* One (galaxy, head), T ≤ CAI_ATT_MAXT, hd % 32 == 0. The scores are kept transposed, sT[j][i] (key j,
 * query i in the lanes), so that the softmax over keys is element-wise across 17 vectors — no horizontal
 * max / sum and no scalar divide per query row, which made the row-wise softmax a chain of dependent
 * reductions (a third of the kernel's time).
 *  - Qᵀ of the first 16 queries copied to qT (hd × 16; padded queries are zero: finite, never stored).
 *  - q·k, queries 0..15: 6 keys × 16 queries in 6 accumulators, one FMA per channel in order (as the AVX2
 *    kernel: k·q and q·k are the same product, so these scores are bit-identical to it). Queries 16..T-1
 *    (the model: one, of 17) as plain dot products (16-lane partial sums, then a tree): a second vector
 *    of queries in the lanes would cost as many FMAs as the first for one real lane.
 *  - softmax per query lane over keys [0, T): max, vector exp, sum in key order, one divide.
 *  - P·V: 6 queries × 32 channels in 12 accumulators, one FMA per key in order (as the AVX2 kernel).
 * Blocks past T repeat row T-1 (computed, stored twice with the same values, or ignored). Stays inside
 * one galaxy (NaN isolation): a NaN score makes its query's weights NaN through exp and the sum. */
K512 static void attention_head(float *out, uint8_t *qout, float qinv, float qzp, const float *base, int h, int T,
                                int D, int hd, float scale) {
    const int64_t ld = 3 * (int64_t)D;
    const int two = T > 16; /* queries past 16: the second half of each sT row */
    float qT[hd * 16];
    float sT[CAI_ATT_MAXT + ATT_KB][ATT_QP] __attribute__((aligned(64)));
    const float *qb = base + h * hd, *kb = base + D + h * hd, *vb = base + 2 * D + h * hd;
    for (int i0 = 0; i0 < 16; i0 += 8) {
        const int nv = T - i0; /* real queries in this block of 8 */
        for (int e0 = 0; e0 < hd; e0 += 8) {
            float *dst = qT + e0 * 16 + i0;
            if (nv >= 8) cai_transpose8s(qb + i0 * ld + e0, ld, dst, 16, NULL);
            else if (nv <= 0)
                for (int e = 0; e < 8; e++) _mm256_storeu_ps(dst + e * 16, _mm256_setzero_ps());
            else {
                static const float zero8[8] = {0};
                const float *rows[8];
                for (int r = 0; r < 8; r++) rows[r] = r < nv ? qb + (i0 + r) * ld + e0 : zero8;
                cai_transpose8(rows, dst, 16);
            }
        }
    }
    for (int j0 = 0; j0 < T; j0 += ATT_KB) {
        const float *k[ATT_KB];
#pragma GCC unroll 8
        for (int r = 0; r < ATT_KB; r++) k[r] = kb + (j0 + r < T ? j0 + r : T - 1) * ld;
        __m512 a[ATT_KB];
#pragma GCC unroll 8
        for (int r = 0; r < ATT_KB; r++) a[r] = _mm512_setzero_ps();
        for (int e = 0; e < hd; e++) {
            const __m512 q0 = _mm512_loadu_ps(qT + e * 16);
#pragma GCC unroll 8
            for (int r = 0; r < ATT_KB; r++) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(k[r][e]), q0, a[r]);
        }
#pragma GCC unroll 8
        for (int r = 0; r < ATT_KB; r++) _mm512_store_ps(sT[j0 + r], a[r]);
    }
    if (two) {
        for (int j = 0; j < T; j++) _mm512_store_ps(sT[j] + 16, _mm512_setzero_ps());
        for (int i = 16; i < T; i++)
            for (int j = 0; j < T; j++) {
                const float *q = qb + i * ld, *kr = kb + j * ld;
                __m512 acc = _mm512_mul_ps(_mm512_loadu_ps(q), _mm512_loadu_ps(kr));
                for (int e = 16; e < hd; e += 16)
                    acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + e), _mm512_loadu_ps(kr + e), acc);
                sT[j][i] = _mm512_reduce_add_ps(acc);
            }
    }
    /* softmax over keys, per query lane (the second vector only where there are queries past 16) */
    const __m512 vs = _mm512_set1_ps(scale);
    __m512 m0 = _mm512_mul_ps(_mm512_load_ps(sT[0]), vs), m1 = _mm512_mul_ps(_mm512_load_ps(sT[0] + 16), vs);
    for (int j = 1; j < T; j++) {
        m0 = _mm512_max_ps(m0, _mm512_mul_ps(_mm512_load_ps(sT[j]), vs));
        if (two) m1 = _mm512_max_ps(m1, _mm512_mul_ps(_mm512_load_ps(sT[j] + 16), vs));
    }
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (int j = 0; j < T; j++) {
        const __m512 e0 = exp16(_mm512_sub_ps(_mm512_mul_ps(_mm512_load_ps(sT[j]), vs), m0));
        _mm512_store_ps(sT[j], e0), s0 = _mm512_add_ps(s0, e0);
        if (two) {
            const __m512 e1 = exp16(_mm512_sub_ps(_mm512_mul_ps(_mm512_load_ps(sT[j] + 16), vs), m1));
            _mm512_store_ps(sT[j] + 16, e1), s1 = _mm512_add_ps(s1, e1);
        }
    }
    s0 = _mm512_div_ps(_mm512_set1_ps(1.0f), s0), s1 = _mm512_div_ps(_mm512_set1_ps(1.0f), s1);
    for (int j = 0; j < T; j++) {
        _mm512_store_ps(sT[j], _mm512_mul_ps(_mm512_load_ps(sT[j]), s0));
        if (two) _mm512_store_ps(sT[j] + 16, _mm512_mul_ps(_mm512_load_ps(sT[j] + 16), s1));
    }
    /* out rows i0..i0+5, 32 channels at a time: Σ_j p[i][j]·v[j] */
    const __m512 vq = _mm512_set1_ps(qinv), vz = _mm512_set1_ps(qzp);
    for (int i0 = 0; i0 < T; i0 += ATT_KB) {
        int rows[ATT_KB];
#pragma GCC unroll 8
        for (int r = 0; r < ATT_KB; r++) rows[r] = i0 + r < T ? i0 + r : T - 1;
        for (int e0 = 0; e0 < hd; e0 += 32) {
            __m512 o[ATT_KB][2];
#pragma GCC unroll 8
            for (int r = 0; r < ATT_KB; r++) o[r][0] = o[r][1] = _mm512_setzero_ps();
            for (int j = 0; j < T; j++) {
                const float *v = vb + j * ld + e0;
                const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
#pragma GCC unroll 8
                for (int r = 0; r < ATT_KB; r++) {
                    const __m512 p = _mm512_set1_ps(sT[j][rows[r]]);
                    o[r][0] = _mm512_fmadd_ps(p, v0, o[r][0]);
                    o[r][1] = _mm512_fmadd_ps(p, v1, o[r][1]);
                }
            }
#pragma GCC unroll 8
            for (int r = 0; r < ATT_KB; r++) {
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

/* nb (4 or 8, a constant after inlining) hidden channels of one group: b + Σ_i w[i]·in[i] over the group's
 * dg input channels (one FMA per i in order, bit-identical to the AVX2 pcm_conv4), SiLU from the registers,
 * stored channel-major to hs. nb independent exp chains per step, and steps independent of each other: the
 * out-of-order core overlaps them. */
K512 static inline void pcm_hidden(float *hs, const float *in, const float *w, const float *b, int dg, int nb) {
    __m512 a[8] = {0}; /* lanes past nb: dead after inlining, zeroed only to quiet -Wmaybe-uninitialized */
#pragma GCC unroll 8
    for (int r = 0; r < nb; r++) a[r] = _mm512_set1_ps(b[r]);
    for (int i = 0; i < dg; i++) {
        const __m512 x = _mm512_loadu_ps(in + i * CAI_PCM_NP);
#pragma GCC unroll 8
        for (int r = 0; r < nb; r++) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(w[r * dg + i]), x, a[r]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < nb; r++) _mm512_storeu_ps(hs + r * CAI_PCM_NP, silu16(a[r]));
}

/* With 16 patch tokens, one channel over all tokens is exactly one 16-lane vector. Both grouped convs have
 * the same G groups, and group g's hidden channels are exactly the second conv's inputs of group g: so the
 * kernel runs group by group, dg = D/G inputs → hg = H/G hidden (conv, SiLU) → dg outputs, the hidden
 * channels living only in a 1 KB slice of hT that stays in L1. (Conv, then SiLU over all of hT, then conv,
 * as before: hT is 48 KB per galaxy, more than L1, and the kernel measured 2.5× its FMA + SiLU count.)
 * Each output is b + Σ_j w[j]·h[j] as one FMA per j in order (bit-identical to the AVX2 kernel's sums),
 * 4 outputs per pass, written channel-major to a tile that the last step transposes back to token-major
 * adding the residual xb (x + convX in one pass). */
K512 static void pcm_k1(float *out, float *hT, const float *xb, const float *w0, const float *b0, const float *w3,
                        const float *b3, int D, int H, int G) {
    const int dg = D / G, hg = H / G;
    float xT[D * CAI_PCM_NP], oT[D * CAI_PCM_NP];
    cai_pcm_transpose_in(xb, xT, D);
    for (int g = 0; g < G; g++) {
        const float *in = xT + g * dg * CAI_PCM_NP;
        int j = 0;
        for (; j + 8 <= hg; j += 8)
            pcm_hidden(hT + j * CAI_PCM_NP, in, w0 + (int64_t)(g * hg + j) * dg, b0 + g * hg + j, dg, 8);
        for (; j < hg; j += 4) /* hg % 4 == 0 */
            pcm_hidden(hT + j * CAI_PCM_NP, in, w0 + (int64_t)(g * hg + j) * dg, b0 + g * hg + j, dg, 4);
        for (int o = g * dg; o < (g + 1) * dg; o += 4) {
            const float *w = w3 + (int64_t)o * hg;
            __m512 a0 = _mm512_set1_ps(b3[o]), a1 = _mm512_set1_ps(b3[o + 1]), a2 = _mm512_set1_ps(b3[o + 2]),
                   a3 = _mm512_set1_ps(b3[o + 3]);
            for (int i = 0; i < hg; i++) {
                const __m512 x = _mm512_loadu_ps(hT + i * CAI_PCM_NP);
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[i]), x, a0);
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(w[hg + i]), x, a1);
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(w[2 * hg + i]), x, a2);
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(w[3 * hg + i]), x, a3);
            }
            _mm512_storeu_ps(oT + (o + 0) * CAI_PCM_NP, a0), _mm512_storeu_ps(oT + (o + 1) * CAI_PCM_NP, a1);
            _mm512_storeu_ps(oT + (o + 2) * CAI_PCM_NP, a2), _mm512_storeu_ps(oT + (o + 3) * CAI_PCM_NP, a3);
        }
    }
    for (int c0 = 0; c0 < D; c0 += 8) /* oT (D × 16) → out (16 × D), + xb */
        for (int t0 = 0; t0 < CAI_PCM_NP; t0 += 8)
            cai_transpose8s(oT + c0 * CAI_PCM_NP + t0, CAI_PCM_NP, out + (int64_t)t0 * D + c0, D,
                            xb + (int64_t)t0 * D + c0);
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
