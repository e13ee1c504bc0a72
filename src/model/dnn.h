/* dnn.h — the one place CAI talks to oneDNN: a CPU engine and a "Linear layer" matmul primitive
 * C[M,N] (row stride ldc) = post(A[M,K] (row stride lda) · W[N,K]ᵀ + bias[N]) (+ C if sum).
 * W is PyTorch's (out, in) row-major layout, used in place (no copy). fp32, or int8: u8 activations ×
 * s8 weights (VNNI's native pair) with the whole epilogue fused: per-output-channel dequantization (oneDNN
 * output scales), bias, GELU, the residual sum, and optionally requantization of the result to u8 for the
 * next int8 layer. oneDNN 2.x applies the output scale to (accumulator + bias): the bias is given in
 * accumulator units (cai_mm_q).
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
} cai_mm_q;

typedef struct {
    int64_t M, K, N, lda, ldc;
    int post, sum, has_bias, int8;
    const void *key; /* int8: the layer the baked-in scales belong to */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, w_md, b_md, c_md;
} cai_mm;

/* The process-wide CPU engine (created once, thread-safe). */
dnnl_engine_t cai_dnn_engine(void);
int cai_dnn_check(dnnl_status_t st, const char *what, cai_err *err);

/* M > 0: primitive for exactly M rows. */
int cai_mm_init(cai_mm *mm, int64_t M, int64_t K, int64_t N, int64_t lda, int64_t ldc, int has_bias, int post,
                int sum, const cai_mm_q *q, cai_err *err);
void cai_mm_free(cai_mm *mm);
/* fp32: A, W, C float. int8: A uint8, W int8, C float, uint8 (dst_u8) or int32 (no oscale). */
int cai_mm_run(cai_mm *mm, dnnl_stream_t s, const void *A, const void *W, const float *bias, void *C,
               cai_err *err);

#endif
