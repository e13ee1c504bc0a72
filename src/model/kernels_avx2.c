/* kernels_avx2.c — the baseline (AVX2 + FMA) own kernels of the forward pass (see kernels.h). Each keeps
 * the reference's arithmetic so results do not move; kernels_avx512.c does the same sums in the same order
 * per output where it can, so the two paths agree to a few float ulps (tests/unit/test_kernels.c). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "kernels_simd.h"

/* Sum of x[0..D) and of (x[i] - mean)² in double, as the reference does (accuracy), but in four AVX2
 * double lanes × 2 accumulators: the plain scalar loop was one dependent double add per element (latency-
 * bound, ~5% of the run). A float widened to double has 24 significant bits, so the sums of 192 of them
 * are exact or within an ulp of double whatever the order; the float result is the same. */
static inline double dsum8(const float *x, int D, int *done) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= D; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    *done = i;
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    return (t[0] + t[1]) + (t[2] + t[3]);
}

static inline double dsq8(const float *x, float mean, int D, int *done) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    const __m256 m = _mm256_set1_ps(mean);
    int i = 0;
    for (; i + 8 <= D; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), m); /* float difference, like the scalar code */
        __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(d)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
        s0 = _mm256_fmadd_pd(lo, lo, s0); /* d² of a float is exact in double: fma == mul + add here */
        s1 = _mm256_fmadd_pd(hi, hi, s1);
    }
    *done = i;
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    return (t[0] + t[1]) + (t[2] + t[3]);
}

/* LayerNorm of one row (see kernels.h). */
static void layernorm_row(float *o, uint8_t *qo, float qi, float zp, const float *xr, const float *w, const float *b,
                          int D, float eps) {
    int i0;
    double sum = dsum8(xr, D, &i0);
    for (int i = i0; i < D; i++) sum += xr[i];
    float mean = (float)(sum / D);
    double sq = dsq8(xr, mean, D, &i0);
    for (int i = i0; i < D; i++) {
        double d = xr[i] - mean;
        sq += d * d;
    }
    float inv = 1.0f / sqrtf((float)(sq / D) + eps);
    if (!qo) {
        for (int i = 0; i < D; i++) o[i] = (xr[i] - mean) * inv * w[i] + b[i];
        return;
    }
    const __m256 vm = _mm256_set1_ps(mean), vi = _mm256_set1_ps(inv), vq = _mm256_set1_ps(qi), vz = _mm256_set1_ps(zp);
    int i = 0;
    for (; i + 8 <= D; i += 8) { /* same float expression as above, then quantized */
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vm), vi), _mm256_loadu_ps(w + i));
        cai_quant8(qo + i, _mm256_add_ps(v, _mm256_loadu_ps(b + i)), vq, vz);
    }
    for (; i < D; i++) qo[i] = cai_quant1((xr[i] - mean) * inv * w[i] + b[i], qi, zp);
}

/* Attention for one (galaxy, head) with register blocking, for T ≤ ATT_TP and hd % 32 == 0 (the model:
 * T = 17, hd = 64). The generic loop below did one 64-long dot product per (query, key), each a single
 * dependent FMA chain plus a horizontal sum: ~7% of the run for ~1% of the FLOPs. Here Kᵀ is copied to
 * kT (hd × ATT_TP, keys padded), and 4 queries × 24 keys are accumulated in 12 registers; P·V
 * accumulates 2 queries × 32 channels in 8. Only the order of the q·k sums changes (a few float ulps,
 * like any GEMM); softmax (expf) and P·V are the same operations in the same order as the generic loop.
 * Everything stays inside one galaxy, so NaN isolation holds. */
#define ATT_TP CAI_ATT_MAXT
static void attention_head(float *out, uint8_t *qout, float qinv, float qzp, const float *base, int h, int T, int D,
                           int hd, float scale) {
    const int ld = 3 * D;
    float kT[hd * ATT_TP] __attribute__((aligned(32)));
    float att[ATT_TP + 3][ATT_TP] __attribute__((aligned(32))); /* + 3: the last 4-query block may overhang */
    /* key-major: each key row is read contiguously once. Padded key columns j ≥ T repeat key T-1: their
     * scores are never used, they only need to be defined. */
    for (int j0 = 0; j0 < ATT_TP; j0 += 8)
        for (int e0 = 0; e0 < hd; e0 += 8) {
            const float *rows[8];
            for (int r = 0; r < 8; r++) rows[r] = base + (int64_t)(j0 + r < T ? j0 + r : T - 1) * ld + D + h * hd + e0;
            cai_transpose8(rows, kT + e0 * ATT_TP + j0, ATT_TP);
        }
    for (int i0 = 0; i0 < T; i0 += 4) {
        /* rows past T repeat row T-1; their scores are computed and ignored */
        const float *q0 = base + (int64_t)(i0 < T ? i0 : T - 1) * ld + h * hd;
        const float *q1 = base + (int64_t)(i0 + 1 < T ? i0 + 1 : T - 1) * ld + h * hd;
        const float *q2 = base + (int64_t)(i0 + 2 < T ? i0 + 2 : T - 1) * ld + h * hd;
        const float *q3 = base + (int64_t)(i0 + 3 < T ? i0 + 3 : T - 1) * ld + h * hd;
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
        __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
        for (int e = 0; e < hd; e++) {
            const float *k = kT + e * ATT_TP;
            __m256 k0 = _mm256_load_ps(k), k1 = _mm256_load_ps(k + 8), k2 = _mm256_load_ps(k + 16);
            __m256 b = _mm256_broadcast_ss(q0 + e);
            a00 = _mm256_fmadd_ps(b, k0, a00), a01 = _mm256_fmadd_ps(b, k1, a01), a02 = _mm256_fmadd_ps(b, k2, a02);
            b = _mm256_broadcast_ss(q1 + e);
            a10 = _mm256_fmadd_ps(b, k0, a10), a11 = _mm256_fmadd_ps(b, k1, a11), a12 = _mm256_fmadd_ps(b, k2, a12);
            b = _mm256_broadcast_ss(q2 + e);
            a20 = _mm256_fmadd_ps(b, k0, a20), a21 = _mm256_fmadd_ps(b, k1, a21), a22 = _mm256_fmadd_ps(b, k2, a22);
            b = _mm256_broadcast_ss(q3 + e);
            a30 = _mm256_fmadd_ps(b, k0, a30), a31 = _mm256_fmadd_ps(b, k1, a31), a32 = _mm256_fmadd_ps(b, k2, a32);
        }
        _mm256_store_ps(att[i0], a00), _mm256_store_ps(att[i0] + 8, a01), _mm256_store_ps(att[i0] + 16, a02);
        _mm256_store_ps(att[i0 + 1], a10), _mm256_store_ps(att[i0 + 1] + 8, a11);
        _mm256_store_ps(att[i0 + 1] + 16, a12);
        _mm256_store_ps(att[i0 + 2], a20), _mm256_store_ps(att[i0 + 2] + 8, a21);
        _mm256_store_ps(att[i0 + 2] + 16, a22);
        _mm256_store_ps(att[i0 + 3], a30), _mm256_store_ps(att[i0 + 3] + 8, a31);
        _mm256_store_ps(att[i0 + 3] + 16, a32);
    }
    /* softmax per query row, then normalised probabilities (same expressions as the generic loop) */
    for (int i = 0; i < T; i++) {
        float *a = att[i], mx = -INFINITY, sum = 0;
        for (int j = 0; j < T; j++) {
            a[j] *= scale;
            mx = a[j] > mx ? a[j] : mx;
        }
        for (int j = 0; j < T; j++) {
            a[j] = expf(a[j] - mx);
            sum += a[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < T; j++) a[j] *= inv;
    }
    /* out rows i, i+1: Σ_j p[i][j]·v[j], 32 channels at a time */
    const float *vb = base + 2 * D + h * hd;
    for (int i = 0; i < T; i += 2) {
        const int i1 = i + 1 < T ? i + 1 : i; /* odd T: the last row is done twice (same values) */
        for (int e0 = 0; e0 < hd; e0 += 32) {
            __m256 o00 = _mm256_setzero_ps(), o01 = o00, o02 = o00, o03 = o00, o10 = o00, o11 = o00, o12 = o00,
                   o13 = o00;
            for (int j = 0; j < T; j++) {
                const float *v = vb + (int64_t)j * ld + e0;
                __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8), v2 = _mm256_loadu_ps(v + 16),
                       v3 = _mm256_loadu_ps(v + 24);
                __m256 p = _mm256_set1_ps(att[i][j]);
                o00 = _mm256_fmadd_ps(p, v0, o00), o01 = _mm256_fmadd_ps(p, v1, o01);
                o02 = _mm256_fmadd_ps(p, v2, o02), o03 = _mm256_fmadd_ps(p, v3, o03);
                p = _mm256_set1_ps(att[i1][j]);
                o10 = _mm256_fmadd_ps(p, v0, o10), o11 = _mm256_fmadd_ps(p, v1, o11);
                o12 = _mm256_fmadd_ps(p, v2, o12), o13 = _mm256_fmadd_ps(p, v3, o13);
            }
            if (qout) { /* int8: quantized for proj as it is stored */
                const __m256 vq = _mm256_set1_ps(qinv), vz = _mm256_set1_ps(qzp);
                uint8_t *p0 = qout + (int64_t)i * D + h * hd + e0, *p1 = qout + (int64_t)i1 * D + h * hd + e0;
                cai_quant8(p0, o00, vq, vz), cai_quant8(p0 + 8, o01, vq, vz), cai_quant8(p0 + 16, o02, vq, vz);
                cai_quant8(p0 + 24, o03, vq, vz);
                cai_quant8(p1, o10, vq, vz), cai_quant8(p1 + 8, o11, vq, vz), cai_quant8(p1 + 16, o12, vq, vz);
                cai_quant8(p1 + 24, o13, vq, vz);
                continue;
            }
            float *o = out + (int64_t)i * D + h * hd + e0, *o1 = out + (int64_t)i1 * D + h * hd + e0;
            _mm256_storeu_ps(o, o00), _mm256_storeu_ps(o + 8, o01), _mm256_storeu_ps(o + 16, o02);
            _mm256_storeu_ps(o + 24, o03);
            _mm256_storeu_ps(o1, o10), _mm256_storeu_ps(o1 + 8, o11), _mm256_storeu_ps(o1 + 16, o12);
            _mm256_storeu_ps(o1 + 24, o13);
        }
    }
}

/* exp on 8 floats (Cephes expf: range reduction by ln2, degree-6 polynomial; ~1 ulp on [-87, 88]).
 * NaN propagates: x is always the second operand of min/max, which is what they return for NaN. */
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), x);
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* SiLU x·σ(x) = x / (1 + e^-x), 8 at a time (n a multiple of 8). */
static inline void silu8(float *v, int n) {
    for (int i = 0; i < n; i += 8) {
        __m256 x = _mm256_loadu_ps(v + i);
        __m256 d = _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), x)));
        _mm256_storeu_ps(v + i, _mm256_div_ps(x, d));
    }
}

/* Four output channels o..o+3 (same group) of a grouped 1×1 conv over the 16 tokens. `in` is the group's
 * input channel-major (cig × 16), w the 4 weight rows (cig each, contiguous), b the 4 biases. Each output
 * is b + Σ_i w[i]·in[i] with one FMA per i in order i = 0, 1, …: bit-for-bit what the scalar loop computed
 * (which GCC contracted to FMAs too). Four channels at once give 8 independent FMA chains; one channel at
 * a time was 2 chains of 16 dependent FMAs (latency-bound). Writes channel-major (out + o·16) when
 * ld == 0, else token-major plus the residual (out[t·ld + o..o+3] = res[t·ld + o..o+3] + conv, 4×4
 * transposes). */
static inline void pcm_conv4(const float *in, const float *w, const float *b, int cig, float *out, int64_t ld,
                             const float *res) {
    __m256 a0 = _mm256_set1_ps(b[0]), a1 = a0, c0 = _mm256_set1_ps(b[1]), c1 = c0;
    __m256 d0 = _mm256_set1_ps(b[2]), d1 = d0, e0 = _mm256_set1_ps(b[3]), e1 = e0;
    for (int i = 0; i < cig; i++) {
        __m256 x0 = _mm256_loadu_ps(in + i * CAI_PCM_NP), x1 = _mm256_loadu_ps(in + i * CAI_PCM_NP + 8);
        __m256 wv = _mm256_set1_ps(w[i]);
        a0 = _mm256_fmadd_ps(wv, x0, a0), a1 = _mm256_fmadd_ps(wv, x1, a1);
        wv = _mm256_set1_ps(w[cig + i]);
        c0 = _mm256_fmadd_ps(wv, x0, c0), c1 = _mm256_fmadd_ps(wv, x1, c1);
        wv = _mm256_set1_ps(w[2 * cig + i]);
        d0 = _mm256_fmadd_ps(wv, x0, d0), d1 = _mm256_fmadd_ps(wv, x1, d1);
        wv = _mm256_set1_ps(w[3 * cig + i]);
        e0 = _mm256_fmadd_ps(wv, x0, e0), e1 = _mm256_fmadd_ps(wv, x1, e1);
    }
    if (!ld) {
        _mm256_storeu_ps(out, a0), _mm256_storeu_ps(out + 8, a1);
        _mm256_storeu_ps(out + 16, c0), _mm256_storeu_ps(out + 24, c1);
        _mm256_storeu_ps(out + 32, d0), _mm256_storeu_ps(out + 40, d1);
        _mm256_storeu_ps(out + 48, e0), _mm256_storeu_ps(out + 56, e1);
        return;
    }
    const __m256 r[4][2] = {{a0, a1}, {c0, c1}, {d0, d1}, {e0, e1}};
    for (int q = 0; q < 4; q++) { /* tokens 4q..4q+3 */
        __m128 r0, r1, r2, r3;
        if (q & 1) {
            r0 = _mm256_extractf128_ps(r[0][q >> 1], 1), r1 = _mm256_extractf128_ps(r[1][q >> 1], 1);
            r2 = _mm256_extractf128_ps(r[2][q >> 1], 1), r3 = _mm256_extractf128_ps(r[3][q >> 1], 1);
        } else {
            r0 = _mm256_castps256_ps128(r[0][q >> 1]), r1 = _mm256_castps256_ps128(r[1][q >> 1]);
            r2 = _mm256_castps256_ps128(r[2][q >> 1]), r3 = _mm256_castps256_ps128(r[3][q >> 1]);
        }
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        const __m128 rr[4] = {r0, r1, r2, r3};
        for (int k = 0; k < 4; k++)
            _mm_storeu_ps(out + (4 * q + k) * ld, _mm_add_ps(_mm_loadu_ps(res + (4 * q + k) * ld), rr[k]));
    }
}

/* PCM with kernel 1 (the published model), channel-major over the 16 patch tokens: x (tokens × D) is
 * transposed once to xT (D × 16), the first conv writes hT (H × 16), SiLU, then the second conv writes
 * straight back token-major into out, adding the residual x (x + convX in the same stores). */
static void pcm_k1(float *out, float *hT, const float *xb, const float *w0, const float *b0, const float *w3,
                   const float *b3, int D, int H, int G) {
    const int cig0 = D / G, cog0 = H / G, cig3 = H / G, cog3 = D / G;
    float xT[D * CAI_PCM_NP];
    cai_pcm_transpose_in(xb, xT, D);
    for (int o = 0; o < H; o += 4)
        pcm_conv4(xT + (o / cog0) * cig0 * CAI_PCM_NP, w0 + (int64_t)o * cig0, b0 + o, cig0, hT + o * CAI_PCM_NP, 0,
                  NULL);
    silu8(hT, H * CAI_PCM_NP);
    for (int o = 0; o < D; o += 4)
        pcm_conv4(hT + (o / cog3) * cig3 * CAI_PCM_NP, w3 + (int64_t)o * cig3, b3 + o, cig3, out + o, D, xb + o);
}

/* NaN-keeping ReLU: `c < 0 ? 0 : c` is false for NaN, so NaN stays (GCC vectorizes it to a compare+blend). */
static void relu_nan(float *c, int64_t n) {
    for (int64_t i = 0; i < n; i++) c[i] = c[i] < 0 ? 0.0f : c[i];
}

static const cai_kernels k_avx2 = {"avx2", layernorm_row, attention_head, pcm_k1, relu_nan};

const cai_kernels *cai_kernels_avx2(void) { return &k_avx2; }
