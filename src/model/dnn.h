/* dnn.h — the one place CAI talks to oneDNN: a CPU engine and a "Linear layer" matmul primitive
 * C[M,N] (row stride ldc) = post(A[M,K] (row stride lda) · W[N,K]ᵀ + bias[N]) (+ C if sum).
 * W is PyTorch's (out, in) row-major layout, used in place (no copy). fp32, or int8: s8 activations ×
 * s8 weights → s32 accumulators, no epilogue (the caller applies per-row × per-column scales, bias and
 * activation itself, because oneDNN's output scales cannot be per-row and per-row activation scales keep
 * one galaxy's range — or NaN — from touching another's).
 * Owns: oneDNN handles. Must not touch: what the layers mean (forward.c decides that). */
#ifndef CAI_DNN_H
#define CAI_DNN_H

#include <dnnl.h>
#include <stdint.h>

#include "../common/err.h"

enum { CAI_POST_NONE = 0, CAI_POST_RELU = 1, CAI_POST_GELU = 2 };

typedef struct {
    int64_t M, K, N, lda, ldc;
    int post, sum, has_bias, int8;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a_md, w_md, b_md, c_md;
} cai_mm;

/* The process-wide CPU engine (created once, thread-safe). */
dnnl_engine_t cai_dnn_engine(void);
int cai_dnn_check(dnnl_status_t st, const char *what, cai_err *err);

/* M > 0: primitive for exactly M rows. */
int cai_mm_init(cai_mm *mm, int64_t M, int64_t K, int64_t N, int64_t lda, int64_t ldc, int has_bias, int post,
                int sum, int int8, cai_err *err);
void cai_mm_free(cai_mm *mm);
/* fp32: A, W, C float. int8: A int8, W int8, C int32. */
int cai_mm_run(cai_mm *mm, dnnl_stream_t s, const void *A, const void *W, const float *bias, void *C,
               cai_err *err);

#endif
