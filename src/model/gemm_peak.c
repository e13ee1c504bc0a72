/* gemm_peak.c — measure this machine's matmul throughput on the model's own block shapes, with the same
 * oneDNN matmul configuration the engine uses (PyTorch-layout weights, fp32 or s8×s8→s32). This is the
 * honest ceiling for the engine: ~92% of its work is these GEMMs. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dnn.h"
#include "model.h"

int cai_gemm_peak(int threads, cai_precision prec, int batch, double seconds, double *gflops, cai_err *err) {
    *gflops = 0;
    if (threads < 1 || batch < 1 || batch > 65536)
        return cai_seterr(err, CAI_EARG, "gemm peak: threads >= 1 and batch in [1, 65536] required");
    omp_set_num_threads(threads);
    const int int8 = prec == CAI_PREC_INT8;
    const int64_t M = 17LL * batch;
    /* The four block GEMMs, each once per block: qkv (192→576), proj (192→192), fc1 (192→768), fc2 (768→192). */
    static const int64_t KN[4][2] = {{192, 576}, {192, 192}, {192, 768}, {768, 192}};
    const size_t es = int8 ? 1 : 4;
    void *A = NULL, *W = NULL, *C = NULL;
    if (posix_memalign(&A, 64, (size_t)M * 768 * es) || posix_memalign(&W, 64, 768 * 768 * es) ||
        posix_memalign(&C, 64, (size_t)M * 768 * 4)) {
        free(A), free(W), free(C);
        return cai_seterr(err, CAI_ENOMEM, "gemm peak: out of memory");
    }
    memset(A, 1, (size_t)M * 768 * es);
    memset(W, 1, 768 * 768 * es);
    if (!int8) { /* small normal floats */
        for (size_t i = 0; i < (size_t)M * 768; i++) ((float *)A)[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < 768 * 768; i++) ((float *)W)[i] = (float)(i % 7) * 0.01f;
    }
    cai_mm mm[4];
    memset(mm, 0, sizeof mm);
    int rc = CAI_OK;
    dnnl_stream_t s = NULL;
    if (dnnl_stream_create(&s, cai_dnn_engine(), dnnl_stream_default_flags) != dnnl_success) {
        rc = cai_seterr(err, CAI_EDNNL, "oneDNN: cannot create a stream");
        goto out;
    }
    for (int i = 0; i < 4 && !rc; i++)
        rc = cai_mm_init(&mm[i], M, KN[i][0], KN[i][1], KN[i][0], KN[i][1], 0, 0, 0, int8, err);
    if (rc) goto out;
    for (int i = 0; i < 4 && !rc; i++) rc = cai_mm_run(&mm[i], s, A, W, NULL, C, err); /* warm-up */
    double flop = 0, t0 = cai_mono_now(), t = t0;
    while (!rc && (t - t0 < seconds || flop == 0)) {
        for (int i = 0; i < 4 && !rc; i++) {
            rc = cai_mm_run(&mm[i], s, A, W, NULL, C, err);
            flop += 2.0 * M * KN[i][0] * KN[i][1];
        }
        t = cai_mono_now();
    }
    if (!rc) *gflops = flop / (t - t0) / 1e9;
out:
    for (int i = 0; i < 4; i++) cai_mm_free(&mm[i]);
    if (s) dnnl_stream_destroy(s);
    free(A), free(W), free(C);
    return rc;
}
