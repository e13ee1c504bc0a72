/* test_kernels.c — the own kernels (src/model/kernels.h) on both ISA paths: each kernel of the AVX2 table
 * against a plain double-precision reference written here, and the AVX-512 table (where this CPU has it)
 * against the AVX2 one, on random inputs including odd sizes and tails (LayerNorm widths that are not a
 * multiple of 8 or 16, token counts 1..24, other PCM groupings), u8 outputs, NaN handling, and no write
 * outside the output. Also: CAI_ISA=avx2 forces the baseline table; the whole forward pass (vit, vitae) with
 * either table swapped into one loaded model agrees to 1e-5; CAI_THREADING=split gives lanes' results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/synth.h"
#include "model/cpu.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/model_internal.h"
#include "tmpdir.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(float lo, float hi) { /* xorshift64*: deterministic */
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return lo + (hi - lo) * (float)((rng * 2685821657736338717ull) >> 40) / (float)(1 << 24);
}
static void fill(float *p, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) p[i] = frand(lo, hi);
}

/* |a − b| ≤ tol·(1 + |b|), element by element, naming the first failure. */
static void assert_close(const float *a, const float *b, size_t n, double tol, const char *what) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= tol * (1 + fabs((double)b[i]))))
            fail_msg("%s: element %zu: %.9g vs %.9g (|d| %.3g > %.3g)", what, i, a[i], b[i], d, tol);
    }
}

static void assert_u8_close(const uint8_t *a, const uint8_t *b, size_t n, int tol, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (abs((int)a[i] - (int)b[i]) > tol) fail_msg("%s: byte %zu: %d vs %d", what, i, a[i], b[i]);
}

static const cai_kernels *avx512_or_skip(void) {
    const cai_kernels *k = cai_kernels_avx512();
    if (!k) print_message("(no AVX-512 on this CPU: only the AVX2 kernels against the reference)\n");
    return k;
}

/* ------------------------------------------------------------------------------------------------ */

/* Runs first (cmocka keeps the order): the ISA path is read once per process. */
static void test_cai_isa_forces_avx2(void **state) {
    (void)state;
    setenv("CAI_ISA", "avx2", 1);
    assert_string_equal(cai_cpu_isa_path(), "avx2");
    assert_ptr_equal(cai_kernels_get(), cai_kernels_avx2());
    assert_string_equal(cai_kernels_get()->isa, "avx2");
    const cai_cpu *c = cai_cpu_get();
    const cai_kernels *k = cai_kernels_avx512();
    assert_int_equal(k != NULL, c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq);
    if (k) assert_string_equal(k->isa, "avx512");
    char line[512];
    cai_cpu_describe(line, sizeof line);
    assert_non_null(strstr(line, "own kernels avx2"));
}

static void ref_layernorm(double *o, const float *x, const float *w, const float *b, int D, float eps) {
    double s = 0, q = 0;
    for (int i = 0; i < D; i++) s += x[i];
    double mean = s / D;
    for (int i = 0; i < D; i++) q += (x[i] - mean) * (x[i] - mean);
    double inv = 1.0 / sqrt(q / D + eps);
    for (int i = 0; i < D; i++) o[i] = (x[i] - mean) * inv * w[i] + b[i];
}

static void test_layernorm(void **state) {
    (void)state;
    const cai_kernels *k2 = cai_kernels_avx2(), *k5 = avx512_or_skip();
    const int widths[] = {192, 1, 7, 8, 13, 16, 17, 31, 200, 768};
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
        const int D = widths[wi];
        float *x = malloc(D * 4), *w = malloc(D * 4), *b = malloc(D * 4);
        float *o2 = malloc((D + 16) * 4), *o5 = malloc((D + 16) * 4), *of = malloc(D * 4);
        double *ref = malloc(D * 8);
        uint8_t *q2 = malloc(D + 16), *q5 = malloc(D + 16), *qr = malloc(D);
        for (int rep = 0; rep < 20; rep++) {
            fill(x, D, -3, 3 + rep), fill(w, D, 0.5f, 1.5f), fill(b, D, -0.2f, 0.2f);
            if (rep == 1) x[D / 2] += 1000; /* one outlier: variance dominated by it */
            ref_layernorm(ref, x, w, b, D, 1e-6f);
            for (int i = 0; i < D; i++) of[i] = (float)ref[i];
            for (int i = 0; i < D + 16; i++) o2[i] = o5[i] = -7.0f, q2[i] = q5[i] = 0xAB;
            k2->layernorm_row(o2, NULL, 0, 0, x, w, b, D, 1e-6f);
            char what[64];
            snprintf(what, sizeof what, "layernorm avx2 D=%d", D);
            assert_close(o2, of, D, 2e-6, what);
            for (int i = D; i < D + 16; i++) assert_true(o2[i] == -7.0f);
            /* int8: u8 with (scale 0.02, zp 128): within one step of the rounded reference */
            const float qi = 50.0f, zp = 128;
            k2->layernorm_row(NULL, q2, qi, zp, x, w, b, D, 1e-6f);
            for (int i = 0; i < D; i++) qr[i] = cai_quant1(of[i], qi, zp);
            snprintf(what, sizeof what, "layernorm u8 avx2 D=%d", D);
            assert_u8_close(q2, qr, D, 1, what);
            for (int i = D; i < D + 16; i++) assert_int_equal(q2[i], 0xAB);
            if (!k5) continue;
            k5->layernorm_row(o5, NULL, 0, 0, x, w, b, D, 1e-6f);
            snprintf(what, sizeof what, "layernorm avx512 vs avx2 D=%d", D);
            assert_close(o5, o2, D, 1e-6, what);
            for (int i = D; i < D + 16; i++) assert_true(o5[i] == -7.0f); /* masked tail: nothing past D */
            k5->layernorm_row(NULL, q5, qi, zp, x, w, b, D, 1e-6f);
            snprintf(what, sizeof what, "layernorm u8 avx512 vs avx2 D=%d", D);
            assert_u8_close(q5, q2, D, 1, what);
            for (int i = D; i < D + 16; i++) assert_int_equal(q5[i], 0xAB);
        }
        /* NaN in the row: the whole row is NaN (float) / 0 (u8), on both paths */
        fill(x, D, -1, 1), x[D - 1] = NAN;
        k2->layernorm_row(o2, NULL, 0, 0, x, w, b, D, 1e-6f);
        for (int i = 0; i < D; i++) assert_true(isnan(o2[i]));
        k2->layernorm_row(NULL, q2, 50, 128, x, w, b, D, 1e-6f);
        for (int i = 0; i < D; i++) assert_int_equal(q2[i], 0);
        if (k5) {
            k5->layernorm_row(o5, NULL, 0, 0, x, w, b, D, 1e-6f);
            for (int i = 0; i < D; i++) assert_true(isnan(o5[i]));
            k5->layernorm_row(NULL, q5, 50, 128, x, w, b, D, 1e-6f);
            for (int i = 0; i < D; i++) assert_int_equal(q5[i], 0);
        }
        free(x), free(w), free(b), free(o2), free(o5), free(of), free(ref), free(q2), free(q5), free(qr);
    }
}

/* softmax(q·kᵀ·scale)·v per head, in double. */
static void ref_attention_head(float *out, const float *base, int h, int T, int D, int hd, float scale) {
    const int ld = 3 * D;
    for (int i = 0; i < T; i++) {
        double s[CAI_ATT_MAXT], mx = -INFINITY, sum = 0;
        for (int j = 0; j < T; j++) {
            double d = 0;
            for (int e = 0; e < hd; e++) d += (double)base[i * ld + h * hd + e] * base[j * ld + D + h * hd + e];
            s[j] = d * scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        for (int j = 0; j < T; j++) sum += s[j] = exp(s[j] - mx);
        for (int e = 0; e < hd; e++) {
            double o = 0;
            for (int j = 0; j < T; j++) o += s[j] / sum * base[j * ld + 2 * D + h * hd + e];
            out[i * D + h * hd + e] = (float)o;
        }
    }
}

static void test_attention(void **state) {
    (void)state;
    const cai_kernels *k2 = cai_kernels_avx2(), *k5 = avx512_or_skip();
    const struct {
        int T, H, hd;
    } cases[] = {{17, 3, 64}, {1, 3, 64},  {2, 1, 32},  {5, 2, 64}, {6, 3, 32},
                 {7, 1, 64},  {16, 2, 64}, {23, 3, 32}, {24, 2, 96}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int T = cases[ci].T, H = cases[ci].H, hd = cases[ci].hd, D = H * hd;
        const float scale = 1.0f / sqrtf((float)hd);
        float *qkv = malloc((size_t)T * 3 * D * 4);
        float *o2 = malloc((size_t)T * D * 4), *o5 = malloc((size_t)T * D * 4), *ref = malloc((size_t)T * D * 4);
        uint8_t *q2 = malloc((size_t)T * D), *q5 = malloc((size_t)T * D), *qr = malloc((size_t)T * D);
        for (int rep = 0; rep < 5; rep++) {
            fill(qkv, (size_t)T * 3 * D, -2 - rep, 2 + rep);
            for (int i = 0; i < T * D; i++) o2[i] = o5[i] = -7.0f, q2[i] = q5[i] = 0xAB;
            for (int h = 0; h < H; h++) {
                ref_attention_head(ref, qkv, h, T, D, hd, scale);
                k2->attention_head(o2, NULL, 0, 0, qkv, h, T, D, hd, scale);
                k2->attention_head(NULL, q2, 20.0f, 100.0f, qkv, h, T, D, hd, scale);
                if (k5) {
                    k5->attention_head(o5, NULL, 0, 0, qkv, h, T, D, hd, scale);
                    k5->attention_head(NULL, q5, 20.0f, 100.0f, qkv, h, T, D, hd, scale);
                }
            }
            char what[80];
            snprintf(what, sizeof what, "attention avx2 T=%d H=%d hd=%d", T, H, hd);
            assert_close(o2, ref, (size_t)T * D, 5e-5, what); /* float q·k of 64 terms vs double */
            for (int i = 0; i < T * D; i++) qr[i] = cai_quant1(ref[i], 20.0f, 100.0f);
            assert_u8_close(q2, qr, (size_t)T * D, 1, what);
            if (!k5) continue;
            snprintf(what, sizeof what, "attention avx512 T=%d H=%d hd=%d", T, H, hd);
            assert_close(o5, ref, (size_t)T * D, 5e-5, what); /* the AVX2 kernel's contract */
            snprintf(what, sizeof what, "attention avx512 vs avx2 T=%d H=%d hd=%d", T, H, hd);
            /* scores bit-identical; the softmax sums in another order and exps by another code path (a few
             * ulps of the weights), which P·V's cancellation amplifies: worst seen 4.9e-6 (T=24, hd=96,
             * scores up to ±6·6·96) */
            assert_close(o5, o2, (size_t)T * D, 1e-5, what);
            assert_u8_close(q5, q2, (size_t)T * D, 1, what);
        }
        /* A NaN in one key makes that head's outputs NaN, and touches no other head */
        fill(qkv, (size_t)T * 3 * D, -1, 1);
        qkv[(T - 1) * 3 * D + D + 3] = NAN; /* key T-1, head 0 */
        for (int p = 0; p < 1 + (k5 != NULL); p++) {
            const cai_kernels *k = p ? k5 : k2;
            for (int h = 0; h < H; h++) k->attention_head(o2, NULL, 0, 0, qkv, h, T, D, hd, scale);
            for (int i = 0; i < T; i++)
                for (int c = 0; c < D; c++) assert_int_equal(isnan(o2[i * D + c]) != 0, c < hd);
        }
        free(qkv), free(o2), free(o5), free(ref), free(q2), free(q5), free(qr);
    }
}

/* x + (grouped 1×1 conv D→H, SiLU, grouped 1×1 conv H→D) over 16 tokens, in double. */
static void ref_pcm(float *out, const float *xb, const float *w0, const float *b0, const float *w3, const float *b3,
                    int D, int H, int G) {
    const int cig0 = D / G, cog0 = H / G, cig3 = H / G, cog3 = D / G;
    double *hid = malloc((size_t)H * CAI_PCM_NP * sizeof(double));
    for (int t = 0; t < CAI_PCM_NP; t++) {
        for (int o = 0; o < H; o++) {
            double a = b0[o];
            for (int i = 0; i < cig0; i++) a += (double)w0[o * cig0 + i] * xb[t * D + (o / cog0) * cig0 + i];
            hid[o * CAI_PCM_NP + t] = a / (1 + exp(-a));
        }
        for (int o = 0; o < D; o++) {
            double a = b3[o];
            for (int i = 0; i < cig3; i++) a += w3[o * cig3 + i] * hid[((o / cog3) * cig3 + i) * CAI_PCM_NP + t];
            out[t * D + o] = (float)(xb[t * D + o] + a); /* the residual: x + convX */
        }
    }
    free(hid);
}

static void test_pcm(void **state) {
    (void)state;
    const cai_kernels *k2 = cai_kernels_avx2(), *k5 = avx512_or_skip();
    const struct { int D, H, G; } cases[] = {{192, 768, 48}, {24, 48, 6}, {8, 8, 2}, {64, 256, 16}, {40, 80, 10}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int D = cases[ci].D, H = cases[ci].H, G = cases[ci].G;
        const size_t nx = (size_t)CAI_PCM_NP * D;
        float *x = malloc(nx * 4), *w0 = malloc((size_t)H * (D / G) * 4), *b0 = malloc(H * 4);
        float *w3 = malloc((size_t)D * (H / G) * 4), *b3 = malloc(D * 4), *hT = malloc((size_t)H * CAI_PCM_NP * 4);
        float *o2 = malloc(nx * 4), *o5 = malloc(nx * 4), *ref = malloc(nx * 4);
        for (int rep = 0; rep < 3; rep++) {
            fill(x, nx, -3, 3), fill(w0, (size_t)H * (D / G), -0.5f, 0.5f), fill(b0, H, -0.3f, 0.3f);
            fill(w3, (size_t)D * (H / G), -0.5f, 0.5f), fill(b3, D, -0.3f, 0.3f);
            if (rep == 2) x[5] = 200, x[6] = -200; /* SiLU's saturated ends */
            ref_pcm(ref, x, w0, b0, w3, b3, D, H, G);
            k2->pcm_k1(o2, hT, x, w0, b0, w3, b3, D, H, G);
            char what[64];
            snprintf(what, sizeof what, "pcm avx2 D=%d H=%d G=%d", D, H, G);
            assert_close(o2, ref, nx, 2e-5, what);
            if (!k5) continue;
            k5->pcm_k1(o5, hT, x, w0, b0, w3, b3, D, H, G);
            snprintf(what, sizeof what, "pcm avx512 vs avx2 D=%d H=%d G=%d", D, H, G);
            assert_close(o5, o2, nx, 1e-6, what);
            snprintf(what, sizeof what, "pcm avx512 D=%d H=%d G=%d", D, H, G);
            assert_close(o5, ref, nx, 2e-5, what);
        }
        free(x), free(w0), free(b0), free(w3), free(b3), free(hT), free(o2), free(o5), free(ref);
    }
}

/* SiLU on its own, through PCM with one-hot weights (D = H = 8, G = 2: hidden c = x c, out c = x c + SiLU(x c)),
 * on a dense sweep of [-100, 100] plus values far out, against x + x / (1 + e^-x) in double: the AVX-512
 * kernel's SiLU (Chebyshev exp, vscalefps, reciprocal + Newton) and the AVX2 one (Cephes exp, divide).
 * NaN in a token's channel makes that token's outputs of the same group NaN (0·NaN is NaN) and nothing else. */
static void test_silu_sweep(void **state) {
    (void)state;
    enum { SD = 8, SH = 8, SG = 2, N = CAI_PCM_NP * SD };
    const cai_kernels *k2 = cai_kernels_avx2(), *k5 = avx512_or_skip();
    float w0[SH * 4] = {0}, w3[SD * 4] = {0}, b[SH] = {0}, hT[SH * CAI_PCM_NP], x[N], o[N];
    for (int j = 0; j < SH; j++) w0[j * 4 + j % 4] = 1; /* hidden j = input j (both groups: 4 in, 4 hidden) */
    for (int k = 0; k < SD; k++) w3[k * 4 + k % 4] = 1; /* out k = hidden k */
    double worst[2] = {0, 0};
    for (int p = 0; p < 1 + (k5 != NULL); p++) {
        const cai_kernels *k = p ? k5 : k2;
        for (int start = 0; start < 200000; start += N) {
            for (int i = 0; i < N; i++) x[i] = -100.0f + (float)(start + i) * 1e-3f;
            if (start == 0) x[3] = 1e30f, x[4] = -1e30f, x[5] = 88.5f, x[6] = -88.5f, x[7] = -0.0f;
            k->pcm_k1(o, hT, x, w0, b, w3, b, SD, SH, SG);
            for (int i = 0; i < N; i++) {
                const double xv = x[i], want = xv + xv / (1 + exp(-xv)), d = fabs(o[i] - want) / (1 + fabs(want));
                if (d > worst[p]) worst[p] = d;
                if (!(d <= 4e-7)) fail_msg("silu %s: x = %.9g: %.9g vs %.9g", k->isa, x[i], o[i], want);
            }
        }
        fill(x, N, -5, 5);
        x[3 * SD + 5] = NAN; /* token 3, channel 5 */
        k->pcm_k1(o, hT, x, w0, b, w3, b, SD, SH, SG);
        for (int i = 0; i < N; i++) assert_int_equal(isnan(o[i]) != 0, i / SD == 3 && i % SD >= 4);
    }
    print_message("silu: worst |d|/(1+|want|) avx2 %.3g, avx512 %.3g\n", worst[0], worst[1]);
}

static void test_relu_nan(void **state) {
    (void)state;
    const cai_kernels *k2 = cai_kernels_avx2(), *k5 = avx512_or_skip();
    const int sizes[] = {0, 1, 7, 15, 16, 17, 33, 100};
    float buf[116], want[116];
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        const int n = sizes[si];
        for (int p = 0; p < 1 + (k5 != NULL); p++) {
            fill(buf, 116, -1, 1);
            if (n > 2) buf[1] = NAN, buf[2] = -0.0f, buf[n - 1] = -INFINITY;
            memcpy(want, buf, sizeof buf);
            for (int i = 0; i < n; i++) want[i] = want[i] < 0 ? 0.0f : want[i];
            (p ? k5 : k2)->relu_nan(buf, n);
            for (int i = 0; i < 116; i++) /* NaN kept, -0 kept (not < 0), nothing past n touched */
                assert_memory_equal(&buf[i], &want[i], sizeof(float));
        }
    }
}

/* n galaxies through model m with kernel table k (NULL: as loaded) on `threads` threads. */
static void predict_with(cai_model *m, const cai_kernels *k, int threads, const float *img, const double *mags, int n,
                         float *out) {
    const cai_kernels *saved = m->k;
    if (k) m->k = k;
    cai_err e = {0};
    cai_session *s = cai_session_new(m, n, threads, &e);
    if (!s) fail_msg("%s", e.msg);
    if (cai_predict(s, img, mags, CAI_F64, n, out, &e)) fail_msg("%s", e.msg);
    cai_session_free(s);
    m->k = saved;
}

static void test_whole_model_both_paths(void **state) {
    (void)state;
    const cai_kernels *k5 = avx512_or_skip();
    char dir[CAI_TEST_DIR_MAX], path[CAI_TEST_DIR_MAX + 32];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "kernels"), 0);
    enum { N = 40 };
    float *img = malloc((size_t)N * CAI_IMG_FLOATS * 4), z[N], o2[N], o5[N], os[N];
    double mags[N * 5];
    cai_synth_galaxies(5, 0, N, img, mags, z, 1);
    img[7 * CAI_IMG_FLOATS + 100] = NAN; /* galaxy 7: NaN, and only galaxy 7 */
    const char *variants[] = {"vit", "vitae"};
    for (int v = 0; v < 2; v++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, variants[v]);
        cai_err e = {0};
        cai_model *m = NULL;
        if (cai_weights_random(path, variants[v], 21 + v, &e) || cai_model_load(path, CAI_PREC_FP32, &m, &e))
            fail_msg("%s", e.msg);
        predict_with(m, cai_kernels_avx2(), 1, img, mags, N, o2);
        for (int i = 0; i < N; i++) assert_int_equal(isnan(o2[i]) != 0, i == 7);
        if (k5) {
            predict_with(m, k5, 1, img, mags, N, o5);
            for (int i = 0; i < N; i++) {
                if (i == 7) {
                    assert_true(isnan(o5[i]));
                    continue;
                }
                if (!(fabsf(o5[i] - o2[i]) <= 1e-5f * (1 + fabsf(o2[i]))))
                    fail_msg("%s galaxy %d: avx512 %.9g vs avx2 %.9g", variants[v], i, o5[i], o2[i]);
            }
        }
        /* the split threading scheme computes the same predictions as lanes */
        predict_with(m, NULL, 2, img, mags, N, o2);
        setenv("CAI_THREADING", "split", 1);
        predict_with(m, NULL, 2, img, mags, N, os);
        unsetenv("CAI_THREADING");
        for (int i = 0; i < N; i++) {
            if (i == 7) {
                assert_true(isnan(os[i]));
                continue;
            }
            if (!(fabsf(os[i] - o2[i]) <= 1e-5f * (1 + fabsf(o2[i]))))
                fail_msg("%s galaxy %d: split %.9g vs lanes %.9g", variants[v], i, os[i], o2[i]);
        }
        cai_model_free(m);
    }
    free(img);
    assert_int_equal(cai_test_rmtree(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cai_isa_forces_avx2),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_pcm),
        cmocka_unit_test(test_silu_sweep),
        cmocka_unit_test(test_relu_nan),
        cmocka_unit_test(test_whole_model_both_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
