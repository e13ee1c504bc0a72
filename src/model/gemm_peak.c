/* gemm_peak.c — measure this machine's matmul throughput on the model's own block shapes, with the same
 * oneDNN matmul configuration the engine uses (weights packed once, fp32 or u8×s8→s32) and the same
 * threading: each thread multiplies its own sub-batch's matrices alone, as a session's lanes do. This is
 * the honest ceiling for the engine: ~82% of its MACs are these GEMMs. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dnn.h"
#include "model.h"

/* One thread's share: its own buffers, primitives and stream, for about `seconds`. */
static int peak_one(int int8, int64_t M, double seconds, double *flop, double *secs, cai_err *err) {
    /* The four block GEMMs, each once per block: qkv (192→576), proj (192→192), fc1 (192→768), fc2 (768→192). */
    static const int64_t KN[4][2] = {{192, 576}, {192, 192}, {192, 768}, {768, 192}};
    const size_t es = int8 ? 1 : 4;
    void *A = NULL, *W = NULL, *C = NULL;
    cai_mm mm[4];
    memset(mm, 0, sizeof mm);
    int rc = CAI_OK;
    dnnl_stream_t s = NULL;
    cai_wpack *pack = cai_wpack_new(); /* packed weights, as the engine's layers (dnn.h) */
    if (!pack || posix_memalign(&A, 64, (size_t)M * 768 * es) || posix_memalign(&W, 64, 768 * 768 * es) ||
        posix_memalign(&C, 64, (size_t)M * 768 * 4)) {
        rc = cai_seterr(err, CAI_ENOMEM, "gemm peak: out of memory");
        goto out;
    }
    memset(A, 1, (size_t)M * 768 * es);
    memset(W, 1, 768 * 768 * es);
    if (!int8) { /* small normal floats */
        for (size_t i = 0; i < (size_t)M * 768; i++) ((float *)A)[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < 768 * 768; i++) ((float *)W)[i] = (float)(i % 7) * 0.01f;
    }
    if (dnnl_stream_create(&s, cai_dnn_engine(), dnnl_stream_default_flags) != dnnl_success) {
        rc = cai_seterr(err, CAI_EDNNL, "oneDNN: cannot create a stream");
        goto out;
    }
    const cai_mm_q q = {0}; /* u8 × s8 → s32, as the engine's int8 layers (their epilogue is extra) */
    for (int i = 0; i < 4 && !rc; i++)
        rc = cai_mm_init(&mm[i], M, KN[i][0], KN[i][1], KN[i][0], KN[i][1], 0, 0, 0, int8 ? &q : NULL, pack, err);
    for (int i = 0; i < 4 && !rc; i++) rc = cai_mm_run(&mm[i], s, A, W, NULL, C, err); /* warm-up */
    double f = 0, t0 = cai_mono_now(), t = t0;
    while (!rc && (t - t0 < seconds || f == 0)) {
        for (int i = 0; i < 4 && !rc; i++) {
            rc = cai_mm_run(&mm[i], s, A, W, NULL, C, err);
            f += 2.0 * M * KN[i][0] * KN[i][1];
        }
        t = cai_mono_now();
    }
    *flop = f, *secs = t - t0;
out:
    for (int i = 0; i < 4; i++) cai_mm_free(&mm[i]);
    if (s) dnnl_stream_destroy(s);
    cai_wpack_free(pack);
    free(A), free(W), free(C);
    return rc;
}

int cai_gemm_peak(int threads, cai_precision prec, int batch, double seconds, double *gflops, cai_err *err) {
    *gflops = 0;
    if (threads < 1 || threads > 1024 || batch < 1 || batch > 65536)
        return cai_seterr(err, CAI_EARG, "gemm peak: threads in [1, 1024] and batch in [1, 65536] required");
    const int int8 = prec == CAI_PREC_INT8;
    /* Each thread's sub-batch, as cai_predict splits `batch` (at most 128 galaxies per lane). */
    int64_t lb = (batch + threads - 1) / threads;
    if (lb > 128) lb = 128;
    const int64_t M = 17 * lb;
    double flop = 0, secs = 0;
    int rc = CAI_OK;
    cai_err first = {0};
#pragma omp parallel num_threads(threads) reduction(+ : flop) reduction(max : secs)
    {
        omp_set_num_threads(1);
        double f = 0, t = 0;
        cai_err e = {0};
        int r = peak_one(int8, M, seconds, &f, &t, &e);
        if (r) {
#pragma omp critical(cai_gemm_peak_err)
            if (!rc) rc = r, first = e;
        }
        flop += f, secs = t > secs ? t : secs;
    }
    if (rc) {
        if (err) *err = first;
        return rc;
    }
    *gflops = secs > 0 ? flop / secs / 1e9 : 0;
    return CAI_OK;
}
