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
 * and the patch im2col are our own loops, parallel over galaxies (LayerNorm, attention, PCM and ReLU through
 * the model's kernel table, kernels.h: AVX2 or AVX-512, chosen at load). Every kernel works row by row or
 * galaxy by galaxy, which is why a NaN in one galaxy's input can only reach that galaxy's output. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dnn.h"
#include "kernels.h"
#include "kernels_simd.h"
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
    float *x;   /* (B*T, D) residual stream */
    float *xn;  /* (B*T, D) LayerNorm output, then attention output */
    float *big; /* (B*T, max(3D, hidden)): qkv, MLP hidden; also patch im2col and PCM hidden */
    float *x2;  /* (B*T, D) vitae: the next residual stream, x + convX (PCM) then + proj; swapped with x */
    /* Per-galaxy features */
    float *feat, *feat2; /* (B, D) */
    float *wide;         /* (B, max(vit_out, inc_out, mag_width, head_width)) */
    float *wide2;        /* (B, mag_width) */
    float *cat;          /* (B, vit_out + inc_out + mag_width) */
    float *mags;         /* (B, 5) float32 */
    float *incfeat;      /* (B, 192) flattened Inception output (C,H,W) */
    /* Inception, INC_CHUNK galaxies at a time, NHWC */
    float *ia, *ib; /* (C*256, 64) maps */
    float *it;      /* (C*256, 48) stacked 1x1 outputs [b1 | b2a | b3a] */
    float *ipool;   /* (C*256, 64) max-pooled input */
    float *itmp;    /* (2·C*256, max b): dense copies around the k×k convolutions */
    /* int8 mode: u8 activations, written by the kernel that produces them */
    uint8_t *qa;          /* (B*T, D) input of qkv, proj, fc1 (LayerNorm / attention output) */
    uint8_t *qh;          /* (B*T, hidden) fc1's GELU output = fc2's input (requantized by oneDNN) */
    float *qos, *qqb;     /* dynamic int8 scales: this sub-batch's output scales and biases of one layer */
    uint8_t *qnan;        /* dynamic int8: per input row, 1 if it holds a NaN or ±inf */
    float (*calib)[4][2]; /* calibration run only: per block, [min, max] of the four int8 inputs */
    double prof[4];       /* seconds in: ViT branch, Inception branch, magnitude branch, head */
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
static int mm_get(lane *s, int64_t M, int64_t K, int64_t N, int64_t lda, int64_t ldc, int bias, int post, int sum,
                  const void *key, const cai_mm_q *q, cai_mm **out, cai_err *err) {
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
    int rc = cai_mm_init(&s->prims[s->nprims], M, K, N, lda, ldc, bias, post, sum, q, s->m->pack, err);
    if (rc) return rc;
    s->prims[s->nprims].key = key;
    *out = &s->prims[s->nprims++];
    return CAI_OK;
}

/* ReLU that keeps NaN, like torch.relu. oneDNN's ReLU post-op is a max() that turns NaN into 0, which
 * would let a galaxy with a NaN input come out with a finite (wrong) redshift. */
static void relu_nan(const cai_kernels *K, float *C, int64_t M, int64_t N, int64_t ldc) {
#pragma omp parallel for schedule(static) if (M * N > 32768)
    for (int64_t r = 0; r < M; r++) K->relu_nan(C + r * ldc, N);
}

/* C[M,N] (ldc) = post(A[M,K] (lda) · W[N,K]ᵀ + bias) (+ C if sum), fp32. */
static int mmf(lane *s, int64_t M, int64_t K, int64_t N, const float *A, int64_t lda, const float *W, const float *bias,
               float *C, int64_t ldc, int post, int sum, cai_err *err) {
    cai_mm *p;
    int fused = post == CAI_POST_RELU ? CAI_POST_NONE : post;
    int rc = mm_get(s, M, K, N, lda, ldc, bias != NULL, fused, sum, NULL, NULL, &p, err);
    if (!rc) rc = cai_mm_run(p, s->stream, A, W, bias, C, err);
    if (!rc && post == CAI_POST_RELU) relu_nan(s->m->k, C, M, N, ldc);
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
static int linear(lane *s, const cai_linear *l, int64_t M, const float *A, int64_t lda, float *C, int64_t ldc, int post,
                  int sum, cai_err *err) {
    return mmf(s, M, l->in, l->out, A, lda, l->w, l->b, C, ldc, post, sum, err);
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
        for (; i + 8 <= K; i += 8) cai_quant8(qr + i, _mm256_loadu_ps(a + i), vi, vz);
        for (; i < K; i++) qr[i] = cai_quant1(a[i], 1.0f / sc, zp);
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

/* LayerNorm of each row; written as float to out, or — when q is given (int8) — quantized to u8 in qout with
 * the consuming layer q's input parameters, in the same pass. */
static void layernorm(const cai_kernels *K, float *out, const float *x, const float *w, const float *b, int64_t rows,
                      int D, float eps, uint8_t *qout, const cai_linear *q) {
    const float qi = q ? 1.0f / q->a_scale : 0, zp = q ? q->a_zp : 0;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++)
        K->layernorm_row(out + r * D, q ? qout + r * D : NULL, qi, zp, x + r * D, w, b, D, eps);
}

/* Multi-head self-attention core on qkv rows (n*T, 3D) laid out [q | k | v], heads of hd; writes the
 * concatenated heads to out (n*T, D), or — when q is given (int8) — quantized for layer q into qout. */
static void attention(const cai_kernels *K, float *out, uint8_t *qout, const cai_linear *ql, const float *qkv,
                      int64_t n, const cai_config *c) {
    const int T = c->ntok, D = c->dim, H = c->heads, hd = c->head_dim;
    const float scale = c->attn_scale;
    if (T <= CAI_ATT_MAXT && hd % 32 == 0) {
        const float qi = ql ? 1.0f / ql->a_scale : 0, zp = ql ? ql->a_zp : 0;
#pragma omp parallel for schedule(static) collapse(2)
        for (int64_t b = 0; b < n; b++)
            for (int h = 0; h < H; h++)
                K->attention_head(out + b * T * D, ql ? qout + b * T * D : NULL, qi, zp, qkv + b * T * 3 * D, h, T, D,
                                  hd, scale);
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
        for (int64_t r = 0; r < n * T * D; r++) qout[r] = cai_quant1(out[r], qi, ql->a_zp);
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

/* PCM on the patch tokens of x: Conv(D→H, groups) + folded BN → SiLU → Conv(H→D, groups), written as
 * x2 = x + convX (the class token's row copied), the buffer proj's residual sum then lands in. So the
 * NormalCell's x + attn + convX costs no pass of its own (it was one read-modify-write of x per block);
 * the sums run as (x + convX) + attn instead of the reference's (x + attn) + convX: one float rounding of
 * the residual stream apart, inside the golden tests' bounds. */
static void pcm(lane *s, const cai_block *bw, int64_t n) {
    const cai_config *c = &s->m->cfg;
    const int T = c->ntok, D = c->dim, H = c->pcm_hidden, NP = c->npatch;
    if (c->pcm_kernel == 1 && NP == CAI_PCM_NP && H % 8 == 0 && D % 8 == 0 && (H / c->pcm_groups) % 4 == 0 &&
        (D / c->pcm_groups) % 4 == 0) {
        const cai_kernels *K = s->m->k;
#pragma omp parallel for schedule(static)
        for (int64_t b = 0; b < n; b++) {
            memcpy(s->x2 + b * T * D, s->x + b * T * D, (size_t)D * sizeof(float)); /* class token */
            K->pcm_k1(s->x2 + (b * T + 1) * D, s->big + b * CAI_PCM_NP * H, s->x + (b * T + 1) * D, bw->pcm0_w,
                      bw->pcm0_b, bw->pcm3_w, bw->pcm3_b, D, H, c->pcm_groups);
        }
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < n; b++) {
        float *hid = s->big + b * NP * H, *xo = s->x2 + b * T * D;
        const float *xi = s->x + b * T * D;
        grid_conv(xi + D, D, D, hid, H, bw->pcm0_w, bw->pcm0_b, c->pcm_groups, c->pcm_kernel, c->pcm_padding, c->grid);
        for (int i = 0; i < NP * H; i++) hid[i] = hid[i] / (1.0f + expf(-hid[i])); /* SiLU */
        grid_conv(hid, H, H, xo + D, D, bw->pcm3_w, bw->pcm3_b, c->pcm_groups, c->pcm_kernel, c->pcm_padding, c->grid);
        for (int i = 0; i < D; i++) xo[i] = xi[i];
        for (int i = D; i < T * D; i++) xo[i] = xi[i] + xo[i]; /* x + convX, the order pcm_k1 adds in */
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
                _mm256_storeu_ps(
                    o + (int64_t)x * C + k,
                    _mm256_max_ps(_mm256_max_ps(_mm256_load_ps(a + k), _mm256_load_ps(m + k)), _mm256_load_ps(c + k)));
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
static int conv_kxk(lane *s, const cai_conv *cv, const float *in, int64_t ld, float *out, int64_t ldo, int64_t n, int h,
                    int w, float *tmp, cai_err *err) {
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
                    for (int ky = 0; ky < P; ky++) {
                        const float *src = images + ((b * 5 + ch) * 32 + py * P + ky) * 32 + px * P;
                        /* P = 8: a constant size, one vector move instead of a libc call per row */
                        if (P == 8) memcpy(r + (ch * P + ky) * P, src, 8 * sizeof(float));
                        else memcpy(r + (ch * P + ky) * P, src, (size_t)P * sizeof(float));
                    }
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
        /* vitae: x2 = x + convX from the block input, before attention; proj's residual sum lands there */
        if (c->vitae) pcm(s, bw, n);
        float *xsum = c->vitae ? s->x2 : s->x;
        /* int8: LayerNorm, attention and fc1 write u8 for the next Linear; see block_linear */
        const int st8 = s->int8 && !s->qdyn; /* static scales: the producers quantize (dynamic: they write float) */
        const cai_linear *q_qkv = st8 && bw->qkv.wq ? &bw->qkv : NULL, *q_proj = st8 && bw->proj.wq ? &bw->proj : NULL;
        const cai_linear *q_fc1 = st8 && bw->fc1.wq ? &bw->fc1 : NULL, *q_fc2 = st8 && bw->fc2.wq ? &bw->fc2 : NULL;
        layernorm(s->m->k, s->xn, s->x, bw->norm1_w, bw->norm1_b, M, D, c->ln_eps, s->qa, q_qkv);
        if (s->calib) range_update(s->calib[l][0], s->xn, M * D);
        if ((rc = block_linear(s, &bw->qkv, M, s->xn, s->qa, D, s->big, 3 * D, CAI_POST_NONE, 0, NULL, err))) return rc;
        attention(s->m->k, s->xn, s->qa, q_proj, s->big, n, c);
        if (s->calib) range_update(s->calib[l][1], s->xn, M * D);
        if ((rc = block_linear(s, &bw->proj, M, s->xn, s->qa, D, xsum, D, CAI_POST_NONE, 1, NULL, err)))
            return rc; /* x (+ convX) += */
        if (c->vitae) s->x2 = s->x, s->x = xsum;
        layernorm(s->m->k, s->xn, s->x, bw->norm2_w, bw->norm2_b, M, D, c->ln_eps, s->qa, q_fc1);
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
    layernorm(s->m->k, s->feat2, s->feat, W->fc_norm_w, W->fc_norm_b, n, D, c->fc_norm_eps, NULL, NULL);
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
        avgpool2(s->ia, s->ib, nc, 16, 16, 64);                                        /* → 8×8 */
        if ((rc = inception(s, &W->inc[2], s->ib, s->ia, nc, 8, 8, err))) return rc;   /* 64 → 32 */
        if ((rc = inception(s, &W->inc[3], s->ia, s->ib, nc, 8, 8, err))) return rc;   /* 32 → 32 */
        avgpool2(s->ib, s->ia, nc, 8, 8, 32);                                          /* → 4×4 */
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

static int forward(lane *s, const float *images, const void *mags, cai_dtype dt, int64_t n, float *out, cai_err *err) {
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
    if (c->vitae) s->x2 = falloc(B * T * D, 4, &oom);
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
    free(s->x), free(s->xn), free(s->big), free(s->x2), free(s->feat), free(s->feat2), free(s->wide);
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
    /* One thread, as a lane runs: with the default team, every small parallel region of this one short pass
     * woke a second OpenMP thread, and where the cores were busy (another worker process of the same run,
     * another tenant) their spin-waits made the int8 load take 2.1–2.4 s instead of 0.2 s. */
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    int rc = out ? forward(s, images, mags, CAI_F32, n, out, err) : cai_seterr(err, CAI_ENOMEM, "out of memory");
    omp_set_num_threads(saved);
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
    int split;    /* CAI_THREADING=split: one lane, every GEMM and kernel split across the threads */
    lane **lanes; /* threads of them (split: one) */
};

/* CAI_THREADING=split selects the older scheme (one sub-batch at a time, each GEMM and kernel split
 * across all threads) so that bench/env_ab.sh can measure it against lanes on the same build; anything
 * else (or unset) means lanes. Measured: lanes 3.5x split at 2 threads, batch 512 (BENCHMARKS.md). */
static int threading_split(void) {
    const char *v = getenv("CAI_THREADING");
    return v && !strcmp(v, "split");
}

cai_session *cai_session_new(const cai_model *m, int max_batch, int threads, cai_err *err) {
    if (!m || max_batch < 1 || max_batch > (1 << 20) || threads < 0) {
        cai_seterr(err, CAI_EARG, "session: max_batch must be in [1, 1048576] and threads >= 0 (got %d, %d)", max_batch,
                   threads);
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
    s->split = threading_split() && s->threads > 1;
    /* Sub-batches of at most CAI_WORK_BATCH galaxies whatever max_batch is: the activations of 128 galaxies
     * (x: 1.7 MB) stay in L2/L3 between layers, which measured faster than 512 at once, and the buffers —
     * and so peak RSS — stop growing with the caller's batch size. A batch smaller than threads × 128 is
     * shared out evenly (at least CAI_GALAXIES_PER_THREAD each). */
    int lb = (max_batch + s->threads - 1) / s->threads;
    if (lb < CAI_GALAXIES_PER_THREAD) lb = CAI_GALAXIES_PER_THREAD;
    if (lb > CAI_WORK_BATCH) lb = CAI_WORK_BATCH;
    if (lb > max_batch) lb = max_batch;
    if (s->split) lb = max_batch < CAI_WORK_BATCH * s->threads ? max_batch : CAI_WORK_BATCH * s->threads;
    s->lane_batch = lb;
    for (int i = 0; i < (s->split ? 1 : s->threads); i++)
        if (!(s->lanes[i] = lane_new(m, lb, err))) {
            cai_session_free(s);
            return NULL;
        }
    return s;
}

void cai_session_free(cai_session *s) {
    if (!s) return;
    for (int i = 0; s->lanes && i < s->threads; i++) lane_free(s->lanes[i]); /* split: [1..) are NULL */
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
    if (s->split) { /* one sub-batch at a time, oneDNN and our loops on all threads */
        const int saved = omp_get_max_threads();
        omp_set_num_threads(s->threads);
        int rc = CAI_OK;
        for (int64_t b0 = 0; b0 < n && !rc; b0 += s->lane_batch) {
            const int64_t k = n - b0 < s->lane_batch ? n - b0 : s->lane_batch;
            rc = forward(s->lanes[0], images + b0 * CAI_IMG_FLOATS, (const char *)mags + b0 * 5 * msz, mag_dtype, k,
                         out + b0, err);
        }
        omp_set_num_threads(saved);
        return rc;
    }
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
            int r =
                forward(l, images + b0 * CAI_IMG_FLOATS, (const char *)mags + b0 * 5 * msz, mag_dtype, k, out + b0, &e);
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
        for (int k = 0; s->lanes[i] && k < 4; k++) seconds[k] += s->lanes[i]->prof[k];
}
