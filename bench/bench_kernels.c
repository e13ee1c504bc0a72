/* bench_kernels.c — the own kernels' AVX-512 table against the AVX2 baseline (src/model/kernels.h), on a
 * machine that other processes load: each measurement is this thread's CPU time (one thread: the session
 * runs its one lane in the calling thread), the MINIMUM over many short interleaved repeats, first per kernel on the
 * model's shapes for one sub-batch of 128 galaxies, then the whole fp32 forward pass (1 thread, 128 galaxies) with each
 * table swapped into the same loaded model, so only the kernels differ. Last, the same CPU-time measure
 * of oneDNN on the four block GEMMs (M = 17·128; what `cai bench` calls the GEMM peak, there in wall
 * time) gives a load-robust "% of the fp32 limit" for one thread; and the int8 model's whole pass beside
 * the fp32 one, interleaved, gives the int8/fp32 ratio in the same CPU-time measure.
 *   build/bench/bench_kernels [rounds=40] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "data/synth.h"
#include "model/cpu.h"
#include "model/dnn.h"
#include "model/kernels.h"
#include "model/model.h"
#include "model/model_internal.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); /* this thread's CPU time: not the time it sat descheduled */
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void fill(float *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 2654435761u + seed) % 2000) / 1000.0f - 1.0f;
}

enum { B = 128, T = 17, D = 192, H = 3, HD = 64, HID = 768, G = 48, NK = 5, NMIX = 4 };
static const char *names[NK] = {"layernorm (2176 rows)", "attention (128 x 3 heads)", "pcm k1 (128 galaxies)",
                                "relu (128 x 1024)", "whole fp32 forward"};

static float *x, *w, *b, *o, *qkv, *hT, *w0, *w3, *big;

static void run_kernel(const cai_kernels *k, int which) {
    switch (which) {
    case 0:
        for (int r = 0; r < B * T; r++)
            k->layernorm_row(o + (size_t)r * D, NULL, 0, 0, x + (size_t)r * D, w, b, D, 1e-6f);
        break;
    case 1:
        for (int g = 0; g < B; g++)
            for (int h = 0; h < H; h++)
                k->attention_head(o + (size_t)g * T * D, NULL, 0, 0, qkv + (size_t)g * T * 3 * D, h, T, D, HD, 0.125f);
        break;
    case 2:
        for (int g = 0; g < B; g++)
            k->pcm_k1(o + (size_t)g * 16 * D, hT, x + ((size_t)g * T + 1) * D, w0, b, w3, b, D, HID, G);
        break;
    case 3:
        fill(big, (size_t)B * 1024, 3);
        k->relu_nan(big, (size_t)B * 1024);
        break;
    }
}

int main(int argc, char **argv) {
    const int rounds = argc > 1 ? atoi(argv[1]) : 40;
    omp_set_num_threads(1); /* oneDNN on this thread only: its CPU time is all the work */
    const cai_kernels *k2 = cai_kernels_avx2(), *k5 = cai_kernels_avx512();
    char cpu[512];
    cai_cpu_describe(cpu, sizeof cpu);
    printf("CPU: %s\n", cpu);
    if (!k5) {
        printf("no AVX-512 on this CPU: nothing to compare\n");
        return 0;
    }
    x = malloc((size_t)B * T * D * 4), o = malloc((size_t)B * T * D * 4), qkv = malloc((size_t)B * T * 3 * D * 4);
    w = malloc(HID * 4), b = malloc(HID * 4), hT = malloc(HID * 16 * 4), w0 = malloc(HID * (D / G) * 4);
    w3 = malloc(D * (HID / G) * 4), big = malloc((size_t)B * 1024 * 4);
    fill(x, (size_t)B * T * D, 1), fill(qkv, (size_t)B * T * 3 * D, 2), fill(w, HID, 3), fill(b, HID, 4);
    fill(w0, HID * (D / G), 5), fill(w3, D * (HID / G), 6);

    /* the whole model: random vitae weights, one lane of 128 */
    char path[] = "/tmp/bench_kernels_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    cai_err e = {0};
    cai_model *m = NULL, *m8 = NULL;
    cai_session *s = NULL, *s8 = NULL;
    float *img = malloc((size_t)B * CAI_IMG_FLOATS * 4), *z = malloc(B * 4), *out = malloc(B * 4);
    double *mags = malloc(B * 5 * 8);
    if (cai_weights_random(path, "vitae", 1, &e) || cai_model_load(path, CAI_PREC_FP32, &m, &e) ||
        !(s = cai_session_new(m, B, 1, &e)) || cai_model_load(path, CAI_PREC_INT8, &m8, &e) ||
        !(s8 = cai_session_new(m8, B, 1, &e))) {
        fprintf(stderr, "bench_kernels: %s\n", e.msg);
        unlink(path);
        return 1;
    }
    unlink(path);
    cai_synth_galaxies(7, 0, B, img, mags, z, 1);

    /* the AVX2 table with one kernel taken from the AVX-512 table: each kernel's effect on the whole pass */
    cai_kernels mix[NMIX];
    for (int i = 0; i < NMIX; i++) mix[i] = *k2;
    mix[0].layernorm_row = k5->layernorm_row, mix[1].attention_head = k5->attention_head;
    mix[2].pcm_k1 = k5->pcm_k1, mix[3].relu_nan = k5->relu_nan;
    double best[NK][2], bmix[NMIX];
    for (int i = 0; i < NK; i++) best[i][0] = best[i][1] = 1e30;
    for (int i = 0; i < NMIX; i++) bmix[i] = 1e30;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < NK; i++)
            for (int p = 0; p < 2; p++) {
                const cai_kernels *k = p ? k5 : k2;
                double t0 = now();
                if (i < NK - 1) run_kernel(k, i);
                else {
                    m->k = k; /* same model, same session: only the kernel table differs */
                    if (cai_predict(s, img, mags, CAI_F64, B, out, &e)) {
                        fprintf(stderr, "bench_kernels: %s\n", e.msg);
                        return 1;
                    }
                }
                double t = now() - t0;
                if (t < best[i][p]) best[i][p] = t;
            }
    double bbase = 1e30; /* the AVX2 table again, in the same loop as the mixes */
    for (int r = 0; r < rounds / 2 + 1; r++)
        for (int i = -1; i < NMIX; i++) {
            m->k = i < 0 ? k2 : &mix[i];
            double t0 = now();
            if (cai_predict(s, img, mags, CAI_F64, B, out, &e)) return 1;
            double t = now() - t0;
            if (i < 0 && t < bbase) bbase = t;
            if (i >= 0 && t < bmix[i]) bmix[i] = t;
        }
    /* fp32 and int8 whole passes (the AVX-512 table, as `cai bench` runs on this CPU), interleaved: the
     * int8/fp32 ratio in thread CPU time, which a loaded machine does not skew as it skews wall time */
    double bf = 1e30, b8 = 1e30;
    m->k = m8->k = k5;
    for (int r = 0; r < rounds / 2 + 1; r++)
        for (int p = 0; p < 2; p++) {
            double t0 = now();
            if (cai_predict(p ? s8 : s, img, mags, CAI_F64, B, out, &e)) return 1;
            double t = now() - t0;
            if (p && t < b8) b8 = t;
            if (!p && t < bf) bf = t;
        }
    printf("min over %d interleaved rounds, one thread, 128 galaxies (us per galaxy):\n", rounds);
    printf("%-28s %10s %10s %8s\n", "kernel", "avx2", "avx512", "speedup");
    for (int i = 0; i < NK; i++)
        printf("%-28s %10.2f %10.2f %7.2fx\n", names[i], best[i][0] * 1e6 / B, best[i][1] * 1e6 / B,
               best[i][0] / best[i][1]);
    for (int i = 0; i < NMIX; i++)
        printf("whole forward, AVX2 but %-26s %8.2f us/galaxy (%.2fx the AVX2 table)\n", names[i], bmix[i] * 1e6 / B,
               bbase / bmix[i]);
    /* GEMM peak in thread CPU time: the four block GEMMs in sequence, min over rounds */
    static const int64_t KN[4][2] = {{192, 576}, {192, 192}, {192, 768}, {768, 192}};
    const int64_t M = 17 * B;
    float *A = malloc((size_t)M * 768 * 4), *Wt = malloc(768 * 768 * 4), *C = malloc((size_t)M * 768 * 4);
    fill(A, (size_t)M * 768, 8), fill(Wt, 768 * 768, 9);
    cai_mm mm[4];
    memset(mm, 0, sizeof mm);
    dnnl_stream_t st = NULL;
    if (dnnl_stream_create(&st, cai_dnn_engine(), dnnl_stream_default_flags) != dnnl_success) return 1;
    double gbest = 1e30, gflop = 0;
    cai_wpack *pack = cai_wpack_new(); /* packed weights, as the engine (dnn.h) */
    for (int i = 0; i < 4; i++) {
        if (cai_mm_init(&mm[i], M, KN[i][0], KN[i][1], KN[i][0], KN[i][1], 0, 0, 0, NULL, pack, &e)) return 1;
        gflop += 2.0 * M * KN[i][0] * KN[i][1];
    }
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        for (int i = 0; i < 4; i++)
            if (cai_mm_run(&mm[i], st, A, Wt, NULL, C, &e)) return 1;
        double t = now() - t0;
        if (t < gbest) gbest = t;
    }
    for (int i = 0; i < 4; i++) cai_mm_free(&mm[i]);
    cai_wpack_free(pack);
    dnnl_stream_destroy(st);
    free(A), free(Wt), free(C);
    const double peak = gflop / gbest / 1e9, macs = cai_model_macs(m), limit = peak * 1e9 / (2 * macs);
    printf(
        "GEMM peak (block shapes, M = %lld, CPU time) %.1f GFLOP/s -> fp32 limit %.0f galaxies/s per thread: "
        "avx2 %.1f%%, avx512 %.1f%% of it\n",
        (long long)M, peak, limit, 100 * B / best[NK - 1][0] / limit, 100 * B / best[NK - 1][1] / limit);
    printf("whole forward: avx2 %.0f galaxies/s, avx512 %.0f galaxies/s (%.1f vs %.1f GFLOP/s of model MACs)\n",
           B / best[NK - 1][0], B / best[NK - 1][1], 2 * macs * B / best[NK - 1][0] / 1e9,
           2 * macs * B / best[NK - 1][1] / 1e9);
    printf("whole forward, avx512 table: fp32 %.0f us/galaxy, int8 %.0f us/galaxy: int8 %.2fx fp32\n", bf * 1e6 / B,
           b8 * 1e6 / B, bf / b8);
    cai_session_free(s), cai_session_free(s8);
    cai_model_free(m), cai_model_free(m8);
    free(x), free(o), free(qkv), free(w), free(b), free(hT), free(w0), free(w3), free(big), free(img), free(z);
    free(out), free(mags);
    return 0;
}
