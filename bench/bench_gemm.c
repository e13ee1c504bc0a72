/* bench_gemm.c — which oneDNN matmul set-up to use for the model's Linear layers, measured on the block
 * GEMM shapes (M = 17·batch; K×N = 192×576, 192×192, 192×768, 768×192):
 *   ba   weights in PyTorch's (N,K) layout, used in place from the mapped file (what forward.c does)
 *   ab   weights transposed once to (K,N)
 *   any  weights reordered once into oneDNN's preferred packed layout (format_tag any)
 *   sgemm  dnnl_sgemm (row-major, transB), the BLAS-style entry point
 *   int8 s8×s8→s32 with ba weights
 * Variants are interleaved round-robin so that load from other processes hits them alike.
 *   build/bench/bench_gemm [threads] [batch] [rounds] */
#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CK(x)                                                                                                          \
    do {                                                                                                               \
        if ((x) != dnnl_success) {                                                                                     \
            fprintf(stderr, "oneDNN call failed: %s (line %d)\n", #x, __LINE__);                                       \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

typedef struct {
    dnnl_primitive_t p;
    dnnl_memory_t a, w, c;
} mmp;

/* kind: 0 ba, 1 ab, 2 any (reordered), 4 int8 ba */
static void make(mmp *m, dnnl_engine_t eng, dnnl_stream_t s, int kind, int64_t M, int64_t K, int64_t N, void *A,
                 void *Wba, void *C) {
    dnnl_data_type_t dt = kind == 4 ? dnnl_s8 : dnnl_f32;
    dnnl_memory_desc_t amd, wmd, cmd, wsrc;
    dnnl_dims_t ad = {M, K}, wd = {K, N}, cd = {M, N};
    CK(dnnl_memory_desc_init_by_tag(&amd, 2, ad, dt, dnnl_ab));
    CK(dnnl_memory_desc_init_by_tag(&cmd, 2, cd, kind == 4 ? dnnl_s32 : dnnl_f32, dnnl_ab));
    CK(dnnl_memory_desc_init_by_tag(&wsrc, 2, wd, dt, dnnl_ba));
    CK(dnnl_memory_desc_init_by_tag(&wmd, 2, wd, dt, kind == 1 ? dnnl_ab : kind == 2 ? dnnl_format_tag_any : dnnl_ba));
    dnnl_matmul_desc_t d;
    CK(dnnl_matmul_desc_init(&d, &amd, &wmd, NULL, &cmd));
    dnnl_primitive_desc_t pd;
    CK(dnnl_primitive_desc_create(&pd, &d, NULL, eng, NULL));
    const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CK(dnnl_primitive_create(&m->p, pd));
    CK(dnnl_memory_create(&m->a, &amd, eng, A));
    CK(dnnl_memory_create(&m->c, &cmd, eng, C));
    dnnl_memory_t src;
    CK(dnnl_memory_create(&src, &wsrc, eng, Wba));
    if (kind == 0 || kind == 4) {
        m->w = src;
    } else { /* reorder the PyTorch-layout weights into the chosen layout once, as a load would */
        CK(dnnl_memory_create(&m->w, wq, eng, DNNL_MEMORY_ALLOCATE));
        dnnl_primitive_desc_t rpd;
        CK(dnnl_reorder_primitive_desc_create(&rpd, &wsrc, eng, wq, eng, NULL));
        dnnl_primitive_t r;
        CK(dnnl_primitive_create(&r, rpd));
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, m->w}};
        CK(dnnl_primitive_execute(r, s, 2, args));
        CK(dnnl_stream_wait(s));
        dnnl_primitive_destroy(r);
        dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(src);
    }
    dnnl_primitive_desc_destroy(pd);
}

static void run(mmp *m, dnnl_stream_t s) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m->a}, {DNNL_ARG_WEIGHTS, m->w}, {DNNL_ARG_DST, m->c}};
    CK(dnnl_primitive_execute(m->p, s, 3, args));
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, batch = argc > 2 ? atoi(argv[2]) : 512,
        rounds = argc > 3 ? atoi(argv[3]) : 5;
    omp_set_num_threads(threads);
    const int64_t M = 17LL * batch;
    static const int64_t KN[4][2] = {{192, 576}, {192, 192}, {192, 768}, {768, 192}};
    float *A = aligned_alloc(64, (size_t)M * 768 * 4), *W = aligned_alloc(64, 768 * 768 * 4),
          *C = aligned_alloc(64, (size_t)M * 768 * 4);
    for (size_t i = 0; i < (size_t)M * 768; i++) A[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < 768 * 768; i++) W[i] = (float)(i % 7) * 0.01f;
    int8_t *A8 = aligned_alloc(64, (size_t)M * 768), *W8 = aligned_alloc(64, 768 * 768);
    memset(A8, 3, (size_t)M * 768);
    memset(W8, 2, 768 * 768);
    dnnl_engine_t eng;
    dnnl_stream_t s;
    CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CK(dnnl_stream_create(&s, eng, dnnl_stream_default_flags));
    const char *names[5] = {"ba (in place)", "ab (transposed)", "any (packed)", "dnnl_sgemm", "int8 s8s8s32"};
    mmp mm[5][4];
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < 4; i++)
            if (k != 3)
                make(&mm[k][i], eng, s, k, M, KN[i][0], KN[i][1], k == 4 ? (void *)A8 : A, k == 4 ? (void *)W8 : W, C);
    double tsum[5] = {0}, flop = 0;
    for (int r = 0; r < rounds + 1; r++)
        for (int k = 0; k < 5; k++) {
            double t0 = now();
            for (int i = 0; i < 4; i++) {
                if (k == 3)
                    CK(dnnl_sgemm('N', 'T', M, KN[i][1], KN[i][0], 1.0f, A, KN[i][0], W, KN[i][0], 0.0f, C, KN[i][1]));
                else run(&mm[k][i], s);
            }
            if (r > 0) tsum[k] += now() - t0; /* round 0 is warm-up */
        }
    for (int i = 0; i < 4; i++) flop += 2.0 * M * KN[i][0] * KN[i][1];
    printf("threads %d, M = 17*%d = %lld, block GEMMs (qkv, proj, fc1, fc2), %d rounds\n", threads, batch, (long long)M,
           rounds);
    for (int k = 0; k < 5; k++)
        printf("  %-16s %7.1f G%s/s\n", names[k], flop * rounds / tsum[k] / 1e9, k == 4 ? "OP" : "FLOP");
    return 0;
}
