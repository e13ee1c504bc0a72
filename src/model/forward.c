/* forward.c — sessions (llama2.c's RunState: activation buffers allocated once per max batch) and the
 * forward pass, written to read like the model's diagram (see docs/spec/astromae.md):
 *
 *   image ─┬─ patch embed → [cls; patches] + pos → 12 blocks → mean(patches) → fc_norm → head → vit_block ─┐
 *          └─ Inception stem → pool → inc → inc → pool → inc → inc → pool → inc(1,2,4) → flatten → MLP ──────┤ concat
 *   mags ──── magnitude MLP (5→1024, 4×(ReLU, 1024→1024)) ─────────────────────────────────────────────────┘ → head → z
 *
 * Heavy work goes to oneDNN: every Linear (and the patch embedding and Inception 1×1 convs, which are GEMMs)
 * as matmul with bias and ReLU/GELU/sum post-ops fused, the Inception 3×3 / 5×5 convs as oneDNN direct
 * convolution; LayerNorm, attention (17×17 per head), PCM (tiny grouped convs on the 4×4 grid), pooling
 * and the patch im2col are our own loops, parallel over galaxies. Every kernel works row by row or galaxy by
 * galaxy, which is why a NaN in one galaxy's input can only reach that galaxy's output. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dnn.h"
#include "model_internal.h"

#define INC_CHUNK 16 /* galaxies per Inception pass: bounds the Inception buffers (16·256·64 floats = 1 MB each) */
#define MAXPRIM 256
#define MAXCONV 64
#define CAI_GALAXIES_PER_THREAD 8
#define CAI_WORK_BATCH 128

typedef struct lane lane;
static void lane_free(lane *s);

/* One lane: the buffers and primitives one thread needs to run a whole sub-batch on its own. */
struct lane {
    const cai_model *m;
    int max_batch, int8, qdyn;
    dnnl_stream_t stream;
    /* Transformer activations, rows = galaxies × tokens */
    float *x;      /* (B*T, D) residual stream */
    float *xn;     /* (B*T, D) LayerNorm output, then attention output */
    float *big;    /* (B*T, max(3D, hidden)): qkv, MLP hidden; also patch im2col and PCM hidden */
    float *convx;  /* (B*NP, D) PCM output, vitae only */
    /* Per-galaxy features */
    float *feat, *feat2; /* (B, D) */
    float *wide;         /* (B, max(vit_out, inc_out, mag_width, head_width)) */
    float *wide2;        /* (B, mag_width) */
    float *cat;          /* (B, vit_out + inc_out + mag_width) */
    float *mags;         /* (B, 5) float32 */
    float *incfeat;      /* (B, 192) flattened Inception output (C,H,W) */
    /* Inception, INC_CHUNK galaxies at a time, NHWC */
    float *ia, *ib;      /* (C*256, 64) maps */
    float *it;           /* (C*256, 48) stacked 1x1 outputs [b1 | b2a | b3a] */
    float *ipool;        /* (C*256, 64) max-pooled input */
    float *itmp;         /* (2·C*256, max b): dense copies around the k×k convolutions */
    /* int8 mode: u8 activations, written by the kernel that produces them */
    uint8_t *qa;         /* (B*T, D) input of qkv, proj, fc1 (LayerNorm / attention output) */
    uint8_t *qh;         /* (B*T, hidden) fc1's GELU output = fc2's input (requantized by oneDNN) */
    float *qos, *qqb;    /* dynamic int8 scales: this sub-batch's output scales and biases of one layer */
    uint8_t *qnan;       /* dynamic int8: per input row, 1 if it holds a NaN or ±inf */
    float (*calib)[4][2]; /* calibration run only: per block, [min, max] of the four int8 inputs */
    double prof[4];      /* seconds in: ViT branch, Inception branch, magnitude branch, head */
    /* matmul primitives, by shape */
    cai_mm prims[MAXPRIM];
    int nprims;
    /* convolution primitives (Inception 3×3 and 5×5), by layer and number of maps */
    cai_cv convs[MAXCONV];
    int nconvs;
};

/* ------------------------------------------------------------------------------------------------ */
/* Matmul plumbing                                                                                   */

/* The primitive for this shape and epilogue (int8: and this layer, whose scales are baked in). */
static int mm_get(lane *s, int64_t M, int64_t K, int64_t N, int64_t lda, int64_t ldc, int bias, int post,
                  int sum, const void *key, const cai_mm_q *q, cai_mm **out, cai_err *err) {
    for (int i = 0; i < s->nprims; i++) {
        cai_mm *p = &s->prims[i];
        if (p->M == M && p->K == K && p->N == N && p->lda == lda && p->ldc == ldc && p->has_bias == bias &&
            p->post == post && p->sum == sum && p->int8 == (q != NULL) && p->key == key) {
            *out = p;
            return CAI_OK;
        }
    }
    if (s->nprims == MAXPRIM) { /* many batch sizes seen: start over */
        for (int i = 0; i < s->nprims; i++) cai_mm_free(&s->prims[i]);
        s->nprims = 0;
    }
    int rc = cai_mm_init(&s->prims[s->nprims], M, K, N, lda, ldc, bias, post, sum, q, err);
    if (rc) return rc;
    s->prims[s->nprims].key = key;
    *out = &s->prims[s->nprims++];
    return CAI_OK;
}

/* ReLU that keeps NaN, like torch.relu. oneDNN's ReLU post-op is a max() that turns NaN into 0, which
 * would let a galaxy with a NaN input come out with a finite (wrong) redshift. */
static void relu_nan(float *C, int64_t M, int64_t N, int64_t ldc) {
#pragma omp parallel for schedule(static) if (M * N > 32768)
    for (int64_t r = 0; r < M; r++) {
        float *c = C + r * ldc;
        for (int64_t n = 0; n < N; n++) c[n] = c[n] < 0 ? 0.0f : c[n];
    }
}

/* C[M,N] (ldc) = post(A[M,K] (lda) · W[N,K]ᵀ + bias) (+ C if sum), fp32. */
static int mmf(lane *s, int64_t M, int64_t K, int64_t N, const float *A, int64_t lda, const float *W,
               const float *bias, float *C, int64_t ldc, int post, int sum, cai_err *err) {
    cai_mm *p;
    int fused = post == CAI_POST_RELU ? CAI_POST_NONE : post;
    int rc = mm_get(s, M, K, N, lda, ldc, bias != NULL, fused, sum, NULL, NULL, &p, err);
    if (!rc) rc = cai_mm_run(p, s->stream, A, W, bias, C, err);
    if (!rc && post == CAI_POST_RELU) relu_nan(C, M, N, ldc);
    return rc;
}

/* int8 Linear: A is u8, already quantized with l's static (a_scale, a_zp) by the kernel that produced it
 * (LayerNorm, attention, or fc1's epilogue). u8×s8→s32 in oneDNN, and the whole epilogue fused there:
 * dequantization per output channel, bias (with the zero point's share folded in), GELU, the residual
 * sum, and — when `next` is given — requantization of the result with next's input parameters, written
 * as u8 straight into next's input. No pass of ours touches the data in between. */
static int linear8(lane *s, const cai_linear *l, int64_t M, const uint8_t *A, int64_t lda, void *C, int64_t ldc,
                   int post, int sum, const cai_linear *next, cai_err *err) {
    const cai_mm_q q = {l->oscale, next != NULL, next ? 1.0f / next->a_scale : 0, next ? next->a_zp : 0, 0};
    cai_mm *p;
    int rc = mm_get(s, M, l->in, l->out, lda, ldc, 1, post, sum, l, &q, &p, err);
    return rc ? rc : cai_mm_run(p, s->stream, A, l->wq, l->qbias, C, err);
}

/* A transformer block's Linear layer: int8 when the model was loaded so (A8 its u8 input; C u8 when `next`
 * is given), fp32 otherwise (A). */
static int linear8_dyn(lane *s, const cai_linear *l, int64_t M, const float *A, int64_t lda, float *C, int64_t ldc,
                       int post, int sum, cai_err *err);

static int block_linear(lane *s, const cai_linear *l, int64_t M, const float *A, const uint8_t *A8, int64_t lda,
                        void *C, int64_t ldc, int post, int sum, const cai_linear *next, cai_err *err) {
    if (s->int8 && l->wq && s->qdyn) return linear8_dyn(s, l, M, A, lda, C, ldc, post, sum, err);
    if (s->int8 && l->wq) return linear8(s, l, M, A8, lda, C, ldc, post, sum, next, err);
    return mmf(s, M, l->in, l->out, A, lda, l->w, l->b, C, ldc, post, sum, err);
}

/* Any other Linear layer (fp32). */
static int linear(lane *s, const cai_linear *l, int64_t M, const float *A, int64_t lda, float *C, int64_t ldc,
                  int post, int sum, cai_err *err) {
    return mmf(s, M, l->in, l->out, A, lda, l->w, l->b, C, ldc, post, sum, err);
}

/* u8 quantization of 8 floats: round(v·inv + zp) saturated to [0, 255]. NaN becomes 0 (max returns its
 * second operand for NaN), deterministically; the galaxy's output is NaN anyway through its fp32 branches. */
static inline void quant8(uint8_t *dst, __m256 v, __m256 inv, __m256 zp) {
    v = _mm256_fmadd_ps(v, inv, zp);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
    __m256i i = _mm256_cvtps_epi32(v); /* round to nearest even, as oneDNN's u8 dst */
    __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64((__m128i *)dst, _mm_packus_epi16(w, w));
}

static inline uint8_t quant1(float v, float inv, float zp) {
    float r = v * inv + zp;
    r = r >= 0 ? (r < 255 ? r : 255) : 0; /* NaN → 0 */
    return (uint8_t)nearbyintf(r);
}

/* [min, max] of a tensor into r (calibration run only). */
static void range_update(float r[2], const float *x, int64_t len) {
    float lo = r[0], hi = r[1];
    for (int64_t i = 0; i < len; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    r[0] = lo, r[1] = hi;
}

/* int8 Linear with a dynamic per-tensor activation scale (CAI_INT8_SCALES=dynamic): A is float; its range
 * over this sub-batch gives (scale, zero point), a pass of ours quantizes it to u8 and the output scales and
 * biases of this call go to a runtime-scaled primitive. Two passes over A more than the static scheme. */
static int linear8_dyn(lane *s, const cai_linear *l, int64_t M, const float *A, int64_t lda, float *C, int64_t ldc,
                       int post, int sum, cai_err *err) {
    const int64_t K = l->in;
    __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps(); /* 0 in the range: it must be exact */
    float lo = 0, hi = 0;
    for (int64_t r = 0; r < M; r++) { /* range over the finite rows only: see the end */
        const float *a = A + r * lda;
        __m256 rlo = vlo, rhi = vhi, bad = _mm256_setzero_ps();
        float slo = lo, shi = hi;
        int64_t i = 0;
        for (; i + 8 <= K; i += 8) {
            __m256 v = _mm256_loadu_ps(a + i);
            rlo = _mm256_min_ps(v, rlo), rhi = _mm256_max_ps(v, rhi);
            bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_UNORD_Q));
        }
        int nonfinite = _mm256_movemask_ps(bad) != 0;
        for (; i < K; i++) slo = a[i] < slo ? a[i] : slo, shi = a[i] > shi ? a[i] : shi, nonfinite |= !isfinite(a[i]);
        s->qnan[r] = (uint8_t)nonfinite;
        if (!nonfinite) vlo = rlo, vhi = rhi, lo = slo, hi = shi;
    }
    float t[16];
    _mm256_storeu_ps(t, vlo), _mm256_storeu_ps(t + 8, vhi);
    for (int i = 0; i < 8; i++) lo = t[i] < lo ? t[i] : lo, hi = t[8 + i] > hi ? t[8 + i] : hi;
    const float sc = hi > lo && isfinite(hi - lo) ? (hi - lo) / 255.0f : 1.0f, zp = nearbyintf(-lo / sc);
    uint8_t *q = K <= s->m->cfg.dim ? s->qa : s->qh;
    const __m256 vi = _mm256_set1_ps(1.0f / sc), vz = _mm256_set1_ps(zp);
    for (int64_t r = 0; r < M; r++) {
        const float *a = A + r * lda;
        uint8_t *qr = q + r * K;
        int64_t i = 0;
        for (; i + 8 <= K; i += 8) quant8(qr + i, _mm256_loadu_ps(a + i), vi, vz);
        for (; i < K; i++) qr[i] = quant1(a[i], 1.0f / sc, zp);
    }
    for (int o = 0; o < l->out; o++) { /* as calib.c's set_input, for this sub-batch */
        s->qos[o] = sc * l->wscale[o];
        s->qqb[o] = (l->b ? l->b[o] / s->qos[o] : 0.0f) - zp * (float)l->wsum[o];
    }
    const cai_mm_q qp = {.runtime = 1};
    cai_mm *p;
    int rc = mm_get(s, M, K, l->out, K, ldc, 1, post, sum, l, &qp, &p, err);
    if (!rc) rc = cai_mm_run_q(p, s->stream, q, l->wq, s->qqb, s->qos, C, err);
    /* A row holding NaN or ±inf was left out of the range and quantized to garbage (NaN → 0, inf saturated)
     * that came out finite: make it NaN, as fp32 gives for such a galaxy. Left finite, the next range pass
     * would take that galaxy's garbage in, and its scale would move the other galaxies. */
    for (int64_t r = 0; !rc && r < M; r++)
        if (s->qnan[r])
            for (int64_t o = 0; o < l->out; o++) C[r * ldc + o] = NAN;
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Our own kernels                                                                                   */

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

/* LayerNorm of each row; written as float to out, or — when q is given (int8) — quantized to u8 in qout with
 * the consuming layer q's input parameters, in the same pass. */
static void layernorm(float *out, const float *x, const float *w, const float *b, int64_t rows, int D, float eps,
                      uint8_t *qout, const cai_linear *q) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * D;
        float *o = out + r * D;
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
        if (!q) {
            for (int i = 0; i < D; i++) o[i] = (xr[i] - mean) * inv * w[i] + b[i];
            continue;
        }
        uint8_t *qo = qout + r * D;
        const float qi = 1.0f / q->a_scale, zp = q->a_zp;
        const __m256 vm = _mm256_set1_ps(mean), vi = _mm256_set1_ps(inv), vq = _mm256_set1_ps(qi),
                     vz = _mm256_set1_ps(zp);
        int i = 0;
        for (; i + 8 <= D; i += 8) { /* same float expression as above, then quantized */
            __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vm), vi), _mm256_loadu_ps(w + i));
            quant8(qo + i, _mm256_add_ps(v, _mm256_loadu_ps(b + i)), vq, vz);
        }
        for (; i < D; i++) qo[i] = quant1((xr[i] - mean) * inv * w[i] + b[i], qi, zp);
    }
}

/* dst[k·ldd + i] = rows[i][k] for an 8×8 block (unpack / shuffle / lane permute): pure data movement,
 * 8 vector stores instead of 64 scalar stores with a stride. */
static inline void transpose8(const float *const rows[8], float *dst, int64_t ldd) {
    __m256 r0 = _mm256_loadu_ps(rows[0]), r1 = _mm256_loadu_ps(rows[1]), r2 = _mm256_loadu_ps(rows[2]);
    __m256 r3 = _mm256_loadu_ps(rows[3]), r4 = _mm256_loadu_ps(rows[4]), r5 = _mm256_loadu_ps(rows[5]);
    __m256 r6 = _mm256_loadu_ps(rows[6]), r7 = _mm256_loadu_ps(rows[7]);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* Attention for one (galaxy, head) with register blocking, for T ≤ ATT_TP and hd % 32 == 0 (the model:
 * T = 17, hd = 64). The generic loop below did one 64-long dot product per (query, key), each a single
 * dependent FMA chain plus a horizontal sum: ~7% of the run for ~1% of the FLOPs. Here Kᵀ is copied to
 * kT (hd × ATT_TP, keys padded), and 4 queries × 24 keys are accumulated in 12 registers; P·V
 * accumulates 2 queries × 32 channels in 8. Only the order of the q·k sums changes (a few float ulps,
 * like any GEMM); softmax (expf) and P·V are the same operations in the same order as the generic loop.
 * Everything stays inside one galaxy, so NaN isolation holds. */
#define ATT_TP 24
static void attention_head(float *out, uint8_t *qout, const cai_linear *q, const float *base, int h,
                           const cai_config *c) {
    const int T = c->ntok, D = c->dim, hd = c->head_dim, ld = 3 * D;
    float kT[hd * ATT_TP] __attribute__((aligned(32)));
    float att[ATT_TP + 3][ATT_TP] __attribute__((aligned(32))); /* + 3: the last 4-query block may overhang */
    /* key-major: each key row is read contiguously once. Padded key columns j ≥ T repeat key T-1: their
     * scores are never used, they only need to be defined. */
    for (int j0 = 0; j0 < ATT_TP; j0 += 8)
        for (int e0 = 0; e0 < hd; e0 += 8) {
            const float *rows[8];
            for (int r = 0; r < 8; r++)
                rows[r] = base + (int64_t)(j0 + r < T ? j0 + r : T - 1) * ld + D + h * hd + e0;
            transpose8(rows, kT + e0 * ATT_TP + j0, ATT_TP);
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
            a[j] *= c->attn_scale;
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
            if (q) { /* int8: quantized for proj as it is stored */
                const __m256 vq = _mm256_set1_ps(1.0f / q->a_scale), vz = _mm256_set1_ps(q->a_zp);
                uint8_t *p0 = qout + (int64_t)i * D + h * hd + e0, *p1 = qout + (int64_t)i1 * D + h * hd + e0;
                quant8(p0, o00, vq, vz), quant8(p0 + 8, o01, vq, vz), quant8(p0 + 16, o02, vq, vz);
                quant8(p0 + 24, o03, vq, vz);
                quant8(p1, o10, vq, vz), quant8(p1 + 8, o11, vq, vz), quant8(p1 + 16, o12, vq, vz);
                quant8(p1 + 24, o13, vq, vz);
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

/* Multi-head self-attention core on qkv rows (n*T, 3D) laid out [q | k | v], heads of hd; writes the
 * concatenated heads to out (n*T, D), or — when q is given (int8) — quantized for layer q into qout. */
static void attention(float *out, uint8_t *qout, const cai_linear *ql, const float *qkv, int64_t n,
                      const cai_config *c) {
    const int T = c->ntok, D = c->dim, H = c->heads, hd = c->head_dim;
    const float scale = c->attn_scale;
    if (T <= ATT_TP && hd % 32 == 0) {
#pragma omp parallel for schedule(static) collapse(2)
        for (int64_t b = 0; b < n; b++)
            for (int h = 0; h < H; h++)
                attention_head(out + b * T * D, ql ? qout + b * T * D : NULL, ql, qkv + b * T * 3 * D, h, c);
        return;
    }
#pragma omp parallel for schedule(static) collapse(2)
    for (int64_t b = 0; b < n; b++)
        for (int h = 0; h < H; h++) {
            float att[T];
            const float *base = qkv + b * T * 3 * D;
            for (int i = 0; i < T; i++) {
                const float *q = base + (int64_t)i * 3 * D + h * hd;
                float mx = -INFINITY;
                for (int j = 0; j < T; j++) {
                    const float *k = base + (int64_t)j * 3 * D + D + h * hd;
                    float d = 0;
#pragma omp simd reduction(+ : d)
                    for (int e = 0; e < hd; e++) d += q[e] * k[e];
                    att[j] = d * scale;
                    mx = att[j] > mx ? att[j] : mx;
                }
                float sum = 0;
                for (int j = 0; j < T; j++) {
                    att[j] = expf(att[j] - mx);
                    sum += att[j];
                }
                float inv = 1.0f / sum;
                float *o = out + (b * T + i) * D + h * hd;
                for (int e = 0; e < hd; e++) o[e] = 0;
                for (int j = 0; j < T; j++) {
                    const float *v = base + (int64_t)j * 3 * D + 2 * D + h * hd;
                    float p = att[j] * inv;
#pragma omp simd
                    for (int e = 0; e < hd; e++) o[e] += p * v[e];
                }
            }
        }
    if (ql) { /* shapes outside the fast kernel only: quantize in a second pass */
        const float qi = 1.0f / ql->a_scale;
        for (int64_t r = 0; r < n * T * D; r++) qout[r] = quant1(out[r], qi, ql->a_zp);
    }
}
/* Grouped conv on the g×g token grid (rows = tokens, cols = channels; `in` row stride ld_in). */
static void grid_conv(const float *in, int64_t ld_in, int cin, float *out, int cout, const float *w, const float *b,
                      int groups, int k, int pad, int g) {
    const int cig = cin / groups, cog = cout / groups;
    for (int y = 0; y < g; y++)
        for (int x = 0; x < g; x++) {
            float *o = out + (int64_t)(y * g + x) * cout;
            for (int oc = 0; oc < cout; oc++) {
                const int grp = oc / cog;
                float acc = b[oc];
                for (int ky = 0; ky < k; ky++) {
                    int yy = y + ky - pad;
                    if (yy < 0 || yy >= g) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int xx = x + kx - pad;
                        if (xx < 0 || xx >= g) continue;
                        const float *ir = in + (int64_t)(yy * g + xx) * ld_in + grp * cig;
                        const float *wr = w + (int64_t)oc * cig * k * k + ky * k + kx;
                        for (int ci = 0; ci < cig; ci++) acc += wr[ci * k * k] * ir[ci];
                    }
                }
                o[oc] = acc;
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

#define PCM_NP 16

/* Four output channels o..o+3 (same group) of a grouped 1×1 conv over the 16 tokens. `in` is the group's
 * input channel-major (cig × 16), w the 4 weight rows (cig each, contiguous), b the 4 biases. Each output
 * is b + Σ_i w[i]·in[i] with one FMA per i in order i = 0, 1, …: bit-for-bit what the scalar loop computed
 * (which GCC contracted to FMAs too). Four channels at once give 8 independent FMA chains; one channel at
 * a time was 2 chains of 16 dependent FMAs (latency-bound). Writes channel-major (out + o·16) when
 * ld == 0, else token-major (out[t·ld + o..o+3], 4×4 transposes). */
static inline void pcm_conv4(const float *in, const float *w, const float *b, int cig, float *out, int64_t ld) {
    __m256 a0 = _mm256_set1_ps(b[0]), a1 = a0, c0 = _mm256_set1_ps(b[1]), c1 = c0;
    __m256 d0 = _mm256_set1_ps(b[2]), d1 = d0, e0 = _mm256_set1_ps(b[3]), e1 = e0;
    for (int i = 0; i < cig; i++) {
        __m256 x0 = _mm256_loadu_ps(in + i * PCM_NP), x1 = _mm256_loadu_ps(in + i * PCM_NP + 8);
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
        _mm_storeu_ps(out + (4 * q + 0) * ld, r0), _mm_storeu_ps(out + (4 * q + 1) * ld, r1);
        _mm_storeu_ps(out + (4 * q + 2) * ld, r2), _mm_storeu_ps(out + (4 * q + 3) * ld, r3);
    }
}

/* PCM with kernel 1 (the published model), channel-major over the 16 patch tokens: x (tokens × D) is
 * transposed once to xT (D × 16), the first conv writes hT (H × 16), SiLU, then the second conv writes
 * straight back token-major into convx. Needs 8 | D, 4 | (H / groups) and 4 | (D / groups). */
static void pcm_k1(lane *s, const cai_block *bw, int64_t n) {
    const cai_config *c = &s->m->cfg;
    const int T = c->ntok, D = c->dim, H = c->pcm_hidden, G = c->pcm_groups;
    const int cig0 = D / G, cog0 = H / G, cig3 = H / G, cog3 = D / G;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++) {
        float xT[D * PCM_NP];
        float *hT = s->big + b * PCM_NP * H;
        const float *xb = s->x + (b * T + 1) * D;
        for (int t0 = 0; t0 < PCM_NP; t0 += 8)
            for (int c0 = 0; c0 < D; c0 += 8) {
                const float *rows[8];
                for (int r = 0; r < 8; r++) rows[r] = xb + (int64_t)(t0 + r) * D + c0;
                transpose8(rows, xT + c0 * PCM_NP + t0, PCM_NP);
            }
        for (int o = 0; o < H; o += 4)
            pcm_conv4(xT + (o / cog0) * cig0 * PCM_NP, bw->pcm0_w + (int64_t)o * cig0, bw->pcm0_b + o, cig0,
                      hT + o * PCM_NP, 0);
        silu8(hT, H * PCM_NP);
        float *out = s->convx + b * PCM_NP * D;
        for (int o = 0; o < D; o += 4)
            pcm_conv4(hT + (o / cog3) * cig3 * PCM_NP, bw->pcm3_w + (int64_t)o * cig3, bw->pcm3_b + o, cig3, out + o,
                      D);
    }
}

/* PCM on the patch tokens of x: Conv(D→H, groups) + folded BN → SiLU → Conv(H→D, groups). */
static void pcm(lane *s, const cai_block *bw, int64_t n) {
    const cai_config *c = &s->m->cfg;
    const int T = c->ntok, D = c->dim, H = c->pcm_hidden, NP = c->npatch;
    if (c->pcm_kernel == 1 && NP == PCM_NP && H % 8 == 0 && D % 8 == 0 && (H / c->pcm_groups) % 4 == 0 &&
        (D / c->pcm_groups) % 4 == 0) {
        pcm_k1(s, bw, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++) {
        float *hid = s->big + b * NP * H;
        grid_conv(s->x + (b * T + 1) * D, D, D, hid, H, bw->pcm0_w, bw->pcm0_b, c->pcm_groups, c->pcm_kernel,
                  c->pcm_padding, c->grid);
        for (int i = 0; i < NP * H; i++) hid[i] = hid[i] / (1.0f + expf(-hid[i])); /* SiLU */
        grid_conv(hid, H, H, s->convx + b * NP * D, D, bw->pcm3_w, bw->pcm3_b, c->pcm_groups, c->pcm_kernel,
                  c->pcm_padding, c->grid);
    }
}

/* NHWC helpers for the Inception branch (n maps of h×w×C). */
static void avgpool2(const float *in, float *out, int64_t n, int h, int w, int C) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int y = 0; y < h / 2; y++)
            for (int x = 0; x < w / 2; x++) {
                const float *p = in + ((b * h + 2 * y) * w + 2 * x) * C;
                float *o = out + ((b * (h / 2) + y) * (w / 2) + x) * C;
                for (int c = 0; c < C; c++) o[c] = (p[c] + p[C + c] + p[w * C + c] + p[w * C + C + c]) * 0.25f;
            }
}

#define MAXPOOL_ROW (16 * 64) /* widest Inception row: 16 pixels × 64 channels */

static int has_nan(const float *p, int64_t len) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) {
        __m256 v = _mm256_loadu_ps(p + i);
        acc = _mm256_or_ps(acc, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    int nan = _mm256_movemask_ps(acc) != 0;
    for (; i < len; i++) nan |= p[i] != p[i];
    return nan;
}

/* Separable 3×3 max for one NaN-free h×w×C map (C % 8 == 0, w·C ≤ MAXPOOL_ROW): the max of rows
 * y-1..y+1 into a row buffer, then the max of its columns x-1..x+1; 4 vector max per output vector
 * instead of 9. Without NaN, max is associative and exact, so the result is the same as the 9-tap loop. */
static void maxpool3_sep(const float *in, float *out, int h, int w, int C) {
    float row[MAXPOOL_ROW] __attribute__((aligned(32)));
    const int64_t rw = (int64_t)w * C;
    for (int y = 0; y < h; y++) {
        const float *r0 = in + (int64_t)(y > 0 ? y - 1 : y) * rw, *r1 = in + (int64_t)y * rw,
                    *r2 = in + (int64_t)(y + 1 < h ? y + 1 : y) * rw; /* edge: repeat a row (max is idempotent) */
        float *vr = row;
        for (int64_t i = 0; i < rw; i += 8)
            _mm256_store_ps(vr + i, _mm256_max_ps(_mm256_max_ps(_mm256_loadu_ps(r0 + i), _mm256_loadu_ps(r1 + i)),
                                                  _mm256_loadu_ps(r2 + i)));
        float *o = out + (int64_t)y * rw;
        for (int x = 0; x < w; x++) {
            const float *a = vr + (int64_t)(x > 0 ? x - 1 : x) * C, *m = vr + (int64_t)x * C,
                        *c = vr + (int64_t)(x + 1 < w ? x + 1 : x) * C;
            for (int k = 0; k < C; k += 8)
                _mm256_storeu_ps(o + (int64_t)x * C + k,
                                 _mm256_max_ps(_mm256_max_ps(_mm256_load_ps(a + k), _mm256_load_ps(m + k)),
                                               _mm256_load_ps(c + k)));
        }
    }
}

/* MaxPool 3×3, stride 1, padding 1 with -inf padding (padding never wins). A galaxy whose map holds a
 * NaN takes the exact NaN-propagating path (torch.max_pool2d propagates NaN); the others a branch-free
 * max that the compiler vectorizes. */
static void maxpool3(const float *in, float *out, int64_t n, int h, int w, int C) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++) {
        const float *ib = in + b * h * w * C;
        if (C % 8 == 0 && w * C <= MAXPOOL_ROW && !has_nan(ib, (int64_t)h * w * C)) {
            maxpool3_sep(ib, out + b * h * w * C, h, w, C);
            continue;
        }
        int nan = 0;
        for (int i = 0; i < h * w * C; i++) nan |= ib[i] != ib[i];
        if (!nan) {
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    float *o = out + ((b * h + y) * w + x) * C;
                    for (int c = 0; c < C; c++) o[c] = -INFINITY;
                    for (int yy = y > 0 ? y - 1 : 0; yy <= y + 1 && yy < h; yy++)
                        for (int xx = x > 0 ? x - 1 : 0; xx <= x + 1 && xx < w; xx++) {
                            const float *p = ib + (yy * w + xx) * C;
                            for (int c = 0; c < C; c++) o[c] = p[c] > o[c] ? p[c] : o[c];
                        }
                }
            continue;
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                float *o = out + ((b * h + y) * w + x) * C;
                for (int c = 0; c < C; c++) o[c] = -INFINITY;
                for (int yy = y - 1; yy <= y + 1; yy++)
                    for (int xx = x - 1; xx <= x + 1; xx++) {
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                        const float *p = in + ((b * h + yy) * w + xx) * C;
                        /* NaN-propagating max, like torch.max_pool2d */
                        for (int c = 0; c < C; c++) o[c] = (p[c] > o[c] || isnan(p[c])) ? p[c] : o[c];
                    }
            }
    }
}

/* A 1×1 convolution over NHWC maps is a GEMM: rows = pixels. */
static int conv1(lane *s, const cai_conv *cv, int64_t M, const float *A, float *C, int64_t ldc, cai_err *err) {
    return mmf(s, M, cv->cin, cv->cout, A, cv->cin, cv->w, cv->b, C, ldc, CAI_POST_RELU, 0, err);
}

/* A k×k convolution (+ ReLU) of channels [c0, c0 + cv->cin) of `in` (pixels ld floats apart) into channels
 * [ch, ch + cv->cout) of out (pixels ldo apart): oneDNN's direct convolution on dense NHWC copies in tmp
 * (2 · n·h·w·cin floats). It replaced im2col + GEMM: the 5×5 im2col wrote 25 copies of every input value,
 * and a GEMM with N = 16 output channels runs far below peak. The copies cost one pass over 16 channels;
 * given the channel slice in place (strided NHWC), oneDNN 2.6 falls back to its reference convolution. */
static int conv_kxk(lane *s, const cai_conv *cv, const float *in, int64_t ld, float *out, int64_t ldo, int64_t n,
                    int h, int w, float *tmp, cai_err *err) {
    cai_cv *p = NULL;
    for (int i = 0; i < s->nconvs && !p; i++)
        if (s->convs[i].key == cv && s->convs[i].n == n && s->convs[i].h == h) p = &s->convs[i];
    if (!p) {
        if (s->nconvs == MAXCONV) { /* many chunk sizes seen: start over */
            for (int i = 0; i < s->nconvs; i++) cai_cv_free(&s->convs[i]);
            s->nconvs = 0;
        }
        int rc = cai_cv_init(&s->convs[s->nconvs], n, h, w, cv->cin, cv->cout, cv->k, cv->pad, cv->w, s->stream, err);
        if (rc) return rc;
        p = &s->convs[s->nconvs++];
        p->key = cv;
    }
    const int64_t M = n * h * w, ci = cv->cin, co = cv->cout;
    float *src = tmp, *dst = tmp + M * ci;
    for (int64_t r = 0; r < M; r++) memcpy(src + r * ci, in + r * ld, (size_t)ci * sizeof(float));
    int rc = cai_cv_run(p, s->stream, src, cv->b, dst, err);
    if (rc) return rc;
    for (int64_t r = 0; r < M; r++) /* ReLU that keeps NaN, like torch.relu (see relu_nan) */
        for (int64_t c = 0; c < co; c++) out[r * ldo + c] = dst[r * co + c] < 0 ? 0.0f : dst[r * co + c];
    return CAI_OK;
}

/* One Inception block on n maps h×w×in (NHWC) → out with channels [b1, b2, (b3), b4]. */
static int inception(lane *s, const cai_inception *ic, const float *in, float *out, int64_t n, int h, int w,
                     cai_err *err) {
    const int64_t M = n * h * w;
    const int b = ic->b, cout = ic->b * (ic->has_branch3 ? 4 : 3);
    const int nf = ic->first.cout; /* [b1 | b2a | b3a] in one GEMM */
    int rc, ch = 0;
    if ((rc = conv1(s, &ic->first, M, in, s->it, nf, err))) return rc;
#pragma omp parallel for schedule(static) if (M > 1024)
    for (int64_t r = 0; r < M; r++) memcpy(out + r * cout, s->it + r * nf, (size_t)b * sizeof(float));
    ch += b;
    if ((rc = conv_kxk(s, &ic->b2b, s->it + b, nf, out + ch, cout, n, h, w, s->itmp, err))) return rc;
    ch += b;
    if (ic->has_branch3) {
        if ((rc = conv_kxk(s, &ic->b3b, s->it + 2 * b, nf, out + ch, cout, n, h, w, s->itmp, err))) return rc;
        ch += b;
    }
    maxpool3(in, s->ipool, n, h, w, ic->in);
    return conv1(s, &ic->b4, M, s->ipool, out + ch, cout, err);
}

/* ------------------------------------------------------------------------------------------------ */
/* The three branches and the head                                                                   */

static int vit_branch(lane *s, const float *images, int64_t n, cai_err *err) {
    const cai_config *c = &s->m->cfg;
    const cai_weights *W = &s->m->w;
    const int T = c->ntok, D = c->dim, P = c->patch, G = c->grid, NP = c->npatch, KP = 5 * P * P;
    int rc;
    /* patch_embed: Conv(5→D, k=P, s=P) as im2col (n*NP, 5·P·P) · Wᵀ; rows in row-major grid order */
    float *col = s->big;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++)
        for (int py = 0; py < G; py++)
            for (int px = 0; px < G; px++) {
                float *r = col + (b * NP + py * G + px) * KP;
                for (int ch = 0; ch < 5; ch++)
                    for (int ky = 0; ky < P; ky++)
                        memcpy(r + (ch * P + ky) * P,
                               images + ((b * 5 + ch) * 32 + py * P + ky) * 32 + px * P, (size_t)P * sizeof(float));
            }
    if ((rc = mmf(s, n * NP, KP, D, col, KP, W->patch_w, W->patch_b, s->xn, D, CAI_POST_NONE, 0, err))) return rc;
    /* x = [cls; patches] + pos_embed */
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++) {
        float *xb = s->x + b * T * D;
        for (int i = 0; i < D; i++) xb[i] = W->cls_token[i] + W->pos_embed[i];
        for (int t = 1; t < T; t++)
            for (int i = 0; i < D; i++) xb[t * D + i] = s->xn[(b * NP + t - 1) * D + i] + W->pos_embed[t * D + i];
    }
    const int64_t M = n * T;
    for (int l = 0; l < c->depth; l++) {
        const cai_block *bw = &W->blocks[l];
        if (c->vitae) pcm(s, bw, n); /* convX from the block input, before attention */
        /* int8: LayerNorm, attention and fc1 write u8 for the next Linear; see block_linear */
        const int st8 = s->int8 && !s->qdyn; /* static scales: the producers quantize (dynamic: they write float) */
        const cai_linear *q_qkv = st8 && bw->qkv.wq ? &bw->qkv : NULL, *q_proj = st8 && bw->proj.wq ? &bw->proj : NULL;
        const cai_linear *q_fc1 = st8 && bw->fc1.wq ? &bw->fc1 : NULL, *q_fc2 = st8 && bw->fc2.wq ? &bw->fc2 : NULL;
        layernorm(s->xn, s->x, bw->norm1_w, bw->norm1_b, M, D, c->ln_eps, s->qa, q_qkv);
        if (s->calib) range_update(s->calib[l][0], s->xn, M * D);
        if ((rc = block_linear(s, &bw->qkv, M, s->xn, s->qa, D, s->big, 3 * D, CAI_POST_NONE, 0, NULL, err)))
            return rc;
        attention(s->xn, s->qa, q_proj, s->big, n, c);
        if (s->calib) range_update(s->calib[l][1], s->xn, M * D);
        if ((rc = block_linear(s, &bw->proj, M, s->xn, s->qa, D, s->x, D, CAI_POST_NONE, 1, NULL, err)))
            return rc; /* x += */
        if (c->vitae) {
#pragma omp parallel for schedule(static)
            for (int64_t b = 0; b < n; b++)
                for (int i = 0; i < NP * D; i++) s->x[(b * T + 1) * D + i] += s->convx[b * NP * D + i];
        }
        layernorm(s->xn, s->x, bw->norm2_w, bw->norm2_b, M, D, c->ln_eps, s->qa, q_fc1);
        if (s->calib) range_update(s->calib[l][2], s->xn, M * D);
        if ((rc = block_linear(s, &bw->fc1, M, s->xn, s->qa, D, q_fc1 && q_fc2 ? (void *)s->qh : s->big, c->hidden,
                               CAI_POST_GELU, 0, q_fc1 ? q_fc2 : NULL, err)))
            return rc;
        if (s->calib) range_update(s->calib[l][3], s->big, M * c->hidden);
        if ((rc = block_linear(s, &bw->fc2, M, s->big, s->qh, c->hidden, s->x, D, CAI_POST_NONE, 1, NULL, err)))
            return rc; /* x += */
    }
    /* mean over the patch tokens (class token dropped), fc_norm, head, vit_block */
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++) {
        float *f = s->feat + b * D;
        for (int i = 0; i < D; i++) f[i] = 0;
        for (int t = 1; t < T; t++)
            for (int i = 0; i < D; i++) f[i] += s->x[(b * T + t) * D + i];
        for (int i = 0; i < D; i++) f[i] /= (float)NP;
    }
    layernorm(s->feat2, s->feat, W->fc_norm_w, W->fc_norm_b, n, D, c->fc_norm_eps, NULL, NULL);
    const int ldcat = c->vit_out + c->inc_out + c->mag_width;
    if ((rc = linear(s, &W->head, n, s->feat2, D, s->feat, D, CAI_POST_NONE, 0, err)) ||
        (rc = linear(s, &W->vit0, n, s->feat, D, s->wide, c->vit_out, CAI_POST_RELU, 0, err)) ||
        (rc = linear(s, &W->vit2, n, s->wide, c->vit_out, s->cat, ldcat, CAI_POST_NONE, 0, err)))
        return rc;
    return CAI_OK;
}

static int inception_branch(lane *s, const float *images, int64_t n, cai_err *err) {
    const cai_config *c = &s->m->cfg;
    const cai_weights *W = &s->m->w;
    int rc;
    for (int64_t b0 = 0; b0 < n; b0 += INC_CHUNK) {
        const int64_t nc = n - b0 < INC_CHUNK ? n - b0 : INC_CHUNK;
        const float *img = images + b0 * CAI_IMG_FLOATS;
        /* vis_inception.0 (1×1, 5→32, bias) at 32×32, then AvgPool 2×2 → ia (nc,16,16,32) */
        const cai_conv *st = &W->stem;
        float wT[5][32] __attribute__((aligned(32))); /* wT[ch][oc]: 32 output channels = 4 vectors */
        for (int oc = 0; oc < 32; oc++)
            for (int ch = 0; ch < 5; ch++) wT[ch][oc] = st->w[oc * 5 + ch];
        /* Same sums in the same order as the scalar loop (v = b; v += w·x per band; acc4 += v; ·¼), 32
         * output channels per pass: the scalar loop was 2.5% of the run for 0.6% of the FLOPs. */
#pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < nc; b++)
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++) {
                    __m256 acc4[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                                      _mm256_setzero_ps()};
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            __m256 v[4];
                            for (int k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(st->b + 8 * k);
                            for (int ch = 0; ch < 5; ch++) {
                                __m256 p = _mm256_set1_ps(img[((b * 5 + ch) * 32 + 2 * y + dy) * 32 + 2 * x + dx]);
                                for (int k = 0; k < 4; k++)
                                    v[k] = _mm256_fmadd_ps(_mm256_load_ps(wT[ch] + 8 * k), p, v[k]);
                            }
                            for (int k = 0; k < 4; k++) acc4[k] = _mm256_add_ps(acc4[k], v[k]);
                        }
                    float *o = s->ia + ((b * 16 + y) * 16 + x) * 32;
                    for (int k = 0; k < 4; k++)
                        _mm256_storeu_ps(o + 8 * k, _mm256_mul_ps(acc4[k], _mm256_set1_ps(0.25f)));
                }
        if ((rc = inception(s, &W->inc[0], s->ia, s->ib, nc, 16, 16, err))) return rc; /* 32 → 64 */
        if ((rc = inception(s, &W->inc[1], s->ib, s->ia, nc, 16, 16, err))) return rc; /* 64 → 64 */
        avgpool2(s->ia, s->ib, nc, 16, 16, 64);                                          /* → 8×8 */
        if ((rc = inception(s, &W->inc[2], s->ib, s->ia, nc, 8, 8, err))) return rc;   /* 64 → 32 */
        if ((rc = inception(s, &W->inc[3], s->ia, s->ib, nc, 8, 8, err))) return rc;   /* 32 → 32 */
        avgpool2(s->ib, s->ia, nc, 8, 8, 32);                                            /* → 4×4 */
        if ((rc = inception(s, &W->inc[4], s->ia, s->ib, nc, 4, 4, err))) return rc;   /* 32 → 12 */
        /* Flatten in PyTorch's (C, H, W) order */
        const int C8 = 3 * W->inc[4].b;
        for (int64_t b = 0; b < nc; b++)
            for (int ch = 0; ch < C8; ch++)
                for (int p = 0; p < 16; p++) s->incfeat[(b0 + b) * 192 + ch * 16 + p] = s->ib[(b * 16 + p) * C8 + ch];
    }
    const int ldcat = c->vit_out + c->inc_out + c->mag_width;
    if ((rc = linear(s, &W->inc10, n, s->incfeat, 192, s->wide, c->inc_out, CAI_POST_RELU, 0, err)) ||
        (rc = linear(s, &W->inc12, n, s->wide, c->inc_out, s->cat + c->vit_out, ldcat, CAI_POST_NONE, 0, err)))
        return rc;
    return CAI_OK;
}

static int magnitude_branch(lane *s, const void *mags, cai_dtype dt, int64_t n, cai_err *err) {
    const cai_config *c = &s->m->cfg;
    const cai_weights *W = &s->m->w;
    for (int64_t i = 0; i < n * 5; i++)
        s->mags[i] = dt == CAI_F64 ? (float)((const double *)mags)[i] : ((const float *)mags)[i];
    const int ldcat = c->vit_out + c->inc_out + c->mag_width, mw = c->mag_width;
    int rc;
    float *a = s->wide, *b = s->wide2;
    if ((rc = linear(s, &W->mag[0], n, s->mags, 5, a, mw, CAI_POST_RELU, 0, err))) return rc;
    for (int i = 1; i < 4; i++) {
        if ((rc = linear(s, &W->mag[i], n, a, mw, b, mw, CAI_POST_RELU, 0, err))) return rc;
        float *t = a;
        a = b, b = t;
    }
    return linear(s, &W->mag[4], n, a, mw, s->cat + c->vit_out + c->inc_out, ldcat, CAI_POST_NONE, 0, err);
}

static int forward(lane *s, const float *images, const void *mags, cai_dtype dt, int64_t n, float *out,
                   cai_err *err) {
    const cai_config *c = &s->m->cfg;
    const cai_weights *W = &s->m->w;
    int rc;
    double t0 = cai_mono_now();
    if ((rc = vit_branch(s, images, n, err))) return rc;
    double t1 = cai_mono_now();
    if ((rc = inception_branch(s, images, n, err))) return rc;
    double t2 = cai_mono_now();
    if ((rc = magnitude_branch(s, mags, dt, n, err))) return rc;
    double t3 = cai_mono_now();
    const int ldcat = c->vit_out + c->inc_out + c->mag_width;
    if ((rc = linear(s, &W->cat0, n, s->cat, ldcat, s->wide, c->head_width, CAI_POST_RELU, 0, err)) ||
        (rc = linear(s, &W->cat2, n, s->wide, c->head_width, out, 1, CAI_POST_NONE, 0, err)))
        return rc;
    double t4 = cai_mono_now();
    s->prof[0] += t1 - t0, s->prof[1] += t2 - t1, s->prof[2] += t3 - t2, s->prof[3] += t4 - t3;
    return CAI_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Sessions                                                                                          */

static void *falloc(size_t count, size_t size, int *oom) {
    void *p = NULL;
    size_t bytes = count * size;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) {
        *oom = 1;
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

/* A lane's buffers for sub-batches of up to max_batch galaxies. */
static lane *lane_new(const cai_model *m, int max_batch, cai_err *err) {
    lane *s = calloc(1, sizeof *s);
    if (!s) {
        cai_seterr(err, CAI_ENOMEM, "session: out of memory");
        return NULL;
    }
    const cai_config *c = &m->cfg;
    s->m = m;
    s->int8 = m->prec == CAI_PREC_INT8;
    s->qdyn = m->qdyn;
    s->max_batch = max_batch;
    const size_t B = (size_t)max_batch, T = (size_t)c->ntok, D = (size_t)c->dim, NP = (size_t)c->npatch;
    size_t bigw = 3 * D > (size_t)c->hidden ? 3 * D : (size_t)c->hidden;
    size_t big = B * T * bigw;
    if (big < B * NP * 5 * c->patch * c->patch) big = B * NP * 5 * c->patch * c->patch;
    if (c->vitae && big < B * NP * c->pcm_hidden) big = B * NP * c->pcm_hidden;
    size_t wide = (size_t)c->vit_out;
    if ((size_t)c->inc_out > wide) wide = c->inc_out;
    if ((size_t)c->mag_width > wide) wide = c->mag_width;
    if ((size_t)c->head_width > wide) wide = c->head_width;
    const size_t IC = INC_CHUNK, catw = (size_t)(c->vit_out + c->inc_out + c->mag_width);
    int oom = 0;
    s->x = falloc(B * T * D, 4, &oom);
    s->xn = falloc(B * T * D, 4, &oom);
    s->big = falloc(big, 4, &oom);
    if (c->vitae) s->convx = falloc(B * NP * D, 4, &oom);
    s->feat = falloc(B * D, 4, &oom);
    s->feat2 = falloc(B * D, 4, &oom);
    s->wide = falloc(B * wide, 4, &oom);
    s->wide2 = falloc(B * (size_t)c->mag_width, 4, &oom);
    s->cat = falloc(B * catw, 4, &oom);
    s->mags = falloc(B * 5, 4, &oom);
    s->incfeat = falloc(B * 192, 4, &oom);
    s->ia = falloc(IC * 256 * 64, 4, &oom);
    s->ib = falloc(IC * 256 * 64, 4, &oom);
    s->it = falloc(IC * 256 * 48, 4, &oom);
    s->ipool = falloc(IC * 256 * 64, 4, &oom);
    size_t maxb = 1;
    for (int i = 0; i < 5; i++) maxb = (size_t)m->w.inc[i].b > maxb ? (size_t)m->w.inc[i].b : maxb;
    s->itmp = falloc(2 * IC * 256 * maxb, 4, &oom);
    if (s->int8) {
        s->qa = falloc(B * T * D, 1, &oom);
        s->qh = falloc(B * T * (size_t)c->hidden, 1, &oom);
        s->qos = falloc(bigw, 4, &oom);
        s->qqb = falloc(bigw, 4, &oom);
        s->qnan = falloc(B * T, 1, &oom);
    }
    dnnl_engine_t eng = cai_dnn_engine();
    if (oom || !eng || dnnl_stream_create(&s->stream, eng, dnnl_stream_default_flags) != dnnl_success) {
        if (oom) cai_seterr(err, CAI_ENOMEM, "session: out of memory for batch %d", max_batch);
        else cai_seterr(err, CAI_EDNNL, "oneDNN: cannot create a stream");
        lane_free(s);
        return NULL;
    }
    return s;
}

static void lane_free(lane *s) {
    if (!s) return;
    for (int i = 0; i < s->nprims; i++) cai_mm_free(&s->prims[i]);
    for (int i = 0; i < s->nconvs; i++) cai_cv_free(&s->convs[i]);
    if (s->stream) dnnl_stream_destroy(s->stream);
    free(s->x), free(s->xn), free(s->big), free(s->convx), free(s->feat), free(s->feat2), free(s->wide);
    free(s->wide2), free(s->cat), free(s->mags), free(s->incfeat), free(s->ia), free(s->ib), free(s->it);
    free(s->ipool), free(s->itmp), free(s->qa), free(s->qh), free(s->qos), free(s->qqb), free(s->qnan);
    free(s);
}

/* The calibration run (calib.c): the fp32 forward pass on n galaxies, recording per block the [min, max]
 * of the four tensors the int8 blocks quantize (LayerNorm 1, attention, LayerNorm 2, GELU outputs). */
int cai_forward_ranges(const cai_model *m, const float *images, const float *mags, int n, float (*ranges)[4][2],
                       cai_err *err) {
    lane *s = lane_new(m, n, err);
    if (!s) return err ? err->code : CAI_ENOMEM;
    s->int8 = 0; /* fp32 throughout: the ranges are the float model's */
    s->calib = ranges;
    for (int l = 0; l < m->cfg.depth; l++)
        for (int k = 0; k < 4; k++) ranges[l][k][0] = INFINITY, ranges[l][k][1] = -INFINITY;
    float *out = malloc((size_t)n * sizeof(float));
    int rc = out ? forward(s, images, mags, CAI_F32, n, out, err) : cai_seterr(err, CAI_ENOMEM, "out of memory");
    free(out);
    lane_free(s);
    return rc;
}

/* A session is one lane per thread. Threads do not share a sub-batch: each takes whole sub-batches and
 * runs them start to finish alone (oneDNN and our kernels single-threaded inside it). Splitting every GEMM
 * and kernel of one sub-batch across threads cost ~200 fork/join barriers per sub-batch; on a shared
 * machine each barrier waits for the slowest (often descheduled) thread, and even idle, the small GEMMs
 * (M = 17·128) scale poorly. Measured in bench/results/engine.md. */
struct cai_session {
    const cai_model *m;
    int threads, lane_batch;
    lane **lanes; /* threads of them */
};

cai_session *cai_session_new(const cai_model *m, int max_batch, int threads, cai_err *err) {
    if (!m || max_batch < 1 || max_batch > (1 << 20) || threads < 0) {
        cai_seterr(err, CAI_EARG, "session: max_batch must be in [1, 1048576] and threads >= 0 (got %d, %d)",
                   max_batch, threads);
        return NULL;
    }
    cai_session *s = calloc(1, sizeof *s);
    if (s) s->threads = threads > 0 ? threads : cai_ncpu();
    if (s) s->lanes = calloc((size_t)s->threads, sizeof *s->lanes);
    if (!s || !s->lanes) {
        free(s);
        cai_seterr(err, CAI_ENOMEM, "session: out of memory");
        return NULL;
    }
    s->m = m;
    /* Sub-batches of at most CAI_WORK_BATCH galaxies whatever max_batch is: the activations of 128 galaxies
     * (x: 1.7 MB) stay in L2/L3 between layers, which measured faster than 512 at once, and the buffers —
     * and so peak RSS — stop growing with the caller's batch size. A batch smaller than threads × 128 is
     * shared out evenly (at least CAI_GALAXIES_PER_THREAD each). */
    int lb = (max_batch + s->threads - 1) / s->threads;
    if (lb < CAI_GALAXIES_PER_THREAD) lb = CAI_GALAXIES_PER_THREAD;
    if (lb > CAI_WORK_BATCH) lb = CAI_WORK_BATCH;
    if (lb > max_batch) lb = max_batch;
    s->lane_batch = lb;
    for (int i = 0; i < s->threads; i++)
        if (!(s->lanes[i] = lane_new(m, lb, err))) {
            cai_session_free(s);
            return NULL;
        }
    return s;
}

void cai_session_free(cai_session *s) {
    if (!s) return;
    for (int i = 0; s->lanes && i < s->threads; i++) lane_free(s->lanes[i]);
    free(s->lanes);
    free(s);
}

int cai_predict(cai_session *s, const float *images, const void *mags, cai_dtype mag_dtype, int64_t n, float *out,
                cai_err *err) {
    if (!s || !images || !mags || !out || n < 1)
        return cai_seterr(err, CAI_EARG, "predict: need a session, images, magnitudes, output and n >= 1 (n=%lld)",
                          (long long)n);
    if (mag_dtype != CAI_F32 && mag_dtype != CAI_F64)
        return cai_seterr(err, CAI_EARG, "predict: magnitudes must be float32 or float64");
    const size_t msz = mag_dtype == CAI_F64 ? sizeof(double) : sizeof(float);
    /* Sub-batches of lane_batch galaxies, but never fewer sub-batches than threads while each can still
     * have CAI_GALAXIES_PER_THREAD galaxies: a 128-galaxy call on 2 threads is two lanes of 64. */
    int64_t cs = (n + s->threads - 1) / s->threads;
    if (cs < CAI_GALAXIES_PER_THREAD) cs = CAI_GALAXIES_PER_THREAD;
    if (cs > s->lane_batch) cs = s->lane_batch;
    const int64_t nchunks = (n + cs - 1) / cs;
    const int nt = nchunks < s->threads ? (int)nchunks : s->threads;
    int64_t next = 0;
    int rc = CAI_OK;
    cai_err first = {0};
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        lane *l = s->lanes[omp_get_thread_num()];
        omp_set_num_threads(1); /* this thread's oneDNN calls and kernels run alone */
        for (;;) {
            int64_t i;
#pragma omp atomic capture
            i = next++;
            if (i >= nchunks) break;
            const int64_t b0 = i * cs, k = n - b0 < cs ? n - b0 : cs;
            cai_err e = {0};
            int r = forward(l, images + b0 * CAI_IMG_FLOATS, (const char *)mags + b0 * 5 * msz, mag_dtype, k,
                            out + b0, &e);
            if (r) {
#pragma omp critical(cai_predict_err)
                if (!rc) rc = r, first = e;
                break;
            }
        }
    }
    if (rc && err) *err = first;
    return rc;
}

void cai_session_profile(const cai_session *s, double seconds[4]) {
    for (int k = 0; k < 4; k++) seconds[k] = 0;
    for (int i = 0; i < s->threads; i++)
        for (int k = 0; k < 4; k++) seconds[k] += s->lanes[i]->prof[k];
}
