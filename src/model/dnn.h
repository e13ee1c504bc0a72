/* dnn.h — the one place CAI talks to oneDNN: a CPU engine and a "Linear layer" matmul primitive
 * C[M,N] (row stride ldc) = post(A[M,K] (row stride lda) · W[N,K]ᵀ + bias[N]) (+ C if sum).
 * W is PyTorch's (out, in) row-major layout; given a cai_wpack, a copy of it in the layout oneDNN's kernel
 * prefers is made once and used instead (cai_wpack below). fp32, or int8: u8 activations ×
 * s8 weights (VNNI's native pair) with the whole epilogue fused: per-output-channel dequantization (oneDNN
 * output scales), bias, GELU, the residual sum, and optionally requantization of the result to u8 for the
 * next int8 layer. oneDNN 2.x applies the output scale to (accumulator + bias): the bias is given in
 * accumulator units (cai_mm_q).
 * Also a fp32 convolution primitive (cai_cv) for the Inception branch's 3×3 and 5×5 convolutions.
 * Owns: oneDNN handles. Must not touch: what the layers mean (forward.c decides that). */
#ifndef CAI_DNN_H
#define CAI_DNN_H

#include <dnnl.h>
#include <stdint.h>

#include "../common/err.h"

enum { CAI_POST_NONE = 0, CAI_POST_RELU = 1, CAI_POST_GELU = 2 };

/* int8 parameters of one layer (NULL = fp32). oscale NULL: plain u8×s8→s32, no epilogue (GEMM peak). */
typedef struct {
    const float *oscale; /* (N,): activation scale × weight scale of column n; baked into the primitive */
    int dst_u8;          /* 1: dst = u8 round(result · dst_inv + dst_zp), saturated; 0: dst f32 */
    float dst_inv, dst_zp;
    int runtime; /* 1: oscale is given at each run (cai_mm_run_q), not baked in: dynamic per-batch scales */
} cai_mm_q;

/* Weights re-laid out for oneDNN, once per (source weights, layout), shared by every thread of a model.
 * Why: given PyTorch's plain (N,K) layout, oneDNN's matmul repacks W into its blocked layout inside every
 * call; packed once, the block GEMMs run 9% (fp32) and 5% (int8) faster on an AVX-512 Xeon (BENCHMARKS.md).
 * The layout depends only on (K, N, data type), never on M, so one copy serves every batch size. */
typedef struct cai_wpack cai_wpack;
cai_wpack *cai_wpack_new(void);
void cai_wpack_free(cai_wpack *p);
/* Bytes held by the packed copies (reports). */
size_t cai_wpack_bytes(const cai_wpack *p);

typedef struct {
    int64_t M, K, N, lda, ldc;
    int post, sum, has_bias, int8, runtime;
    const void *key; /* int8: the layer the baked-in scales belong to */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, w_md, b_md, c_md;
    dnnl_memory_desc_t wplain_md; /* W as given (PyTorch layout); w_md is what the primitive reads */
    int packed;                   /* w_md differs from wplain_md: W is looked up in pack at each run */
    cai_wpack *pack;
} cai_mm;

/* A 2D convolution (stride 1, zero padding `pad`, square kernel k) over n NHWC maps h×w×ic → h×w×oc, fp32,
 * bias fused. src and dst are dense NHWC (oneDNN picks its direct JIT kernel for them); the weights, given
 * as (oc, k, k, ic) row-major, are reordered once at init into the layout the kernel wants and kept here.
 * No ReLU post-op: oneDNN's ReLU maps NaN to 0, and the caller keeps NaN like torch.relu. */
typedef struct {
    int64_t n, h, w, ic, oc, k, pad;
    const void *key; /* the layer these weights belong to */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    void *wp; /* weights in w_md's layout (owned) */
} cai_cv;

/* The process-wide CPU engine (created once, thread-safe). */
dnnl_engine_t cai_dnn_engine(void);
int cai_dnn_check(dnnl_status_t st, const char *what, cai_err *err);

/* M > 0: primitive for exactly M rows. pack NULL: W is read in its plain layout at every run; else W is
 * packed into pack on its first run (thread-safe) and the packed copy read from then on. */
int cai_mm_init(cai_mm *mm, int64_t M, int64_t K, int64_t N, int64_t lda, int64_t ldc, int has_bias, int post, int sum,
                const cai_mm_q *q, cai_wpack *pack, cai_err *err);
void cai_mm_free(cai_mm *mm);
/* fp32: A, W, C float. int8: A uint8, W int8, C float, uint8 (dst_u8) or int32 (no oscale). */
int cai_mm_run(cai_mm *mm, dnnl_stream_t s, const void *A, const void *W, const float *bias, void *C, cai_err *err);
/* A runtime-scaled int8 primitive (cai_mm_q.runtime): oscale (N,) for this run. */
int cai_mm_run_q(cai_mm *mm, dnnl_stream_t s, const void *A, const void *W, const float *bias, const float *oscale,
                 void *C, cai_err *err);

int cai_cv_init(cai_cv *cv, int64_t n, int64_t h, int64_t w, int64_t ic, int64_t oc, int64_t k, int64_t pad,
                const float *weights, dnnl_stream_t s, cai_err *err);
void cai_cv_free(cai_cv *cv);
int cai_cv_run(cai_cv *cv, dnnl_stream_t s, const float *src, const float *bias, float *dst, cai_err *err);

#endif
