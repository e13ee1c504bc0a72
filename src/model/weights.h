/* weights.h — llama2.c's TransformerWeights for AstroMAE: one pointer per tensor, its shape in a comment.
 * Big tensors point into the memory-mapped safetensors file (no copy). Transformed at load and owned by
 * the model: BatchNorm folded into the preceding conv (Inception ConvBlocks, PCM.0+PCM.1), conv weights
 * re-laid for im2col, the vitae qkv bias [q_bias, 0, v_bias], and int8 copies of the block Linears.
 * Owns: loading + validation. Must not touch: activations, oneDNN primitives. */
#ifndef CAI_MODEL_WEIGHTS_H
#define CAI_MODEL_WEIGHTS_H

#include <stdint.h>

#include "config.h"
#include "../format/safetensors.h"

/* A Linear layer in PyTorch layout. */
typedef struct {
    const float *w; /* (out, in) */
    const float *b; /* (out,) */
    int in, out;
    /* int8 mode only: per-output-channel symmetric quantization of w */
    int8_t *wq;    /* (out, in) */
    float *wscale; /* (out,)  w ≈ wq * wscale[row] */
    int32_t *wsum; /* (out,)  Σ_i wq[row][i]: the input zero point's share of the accumulator */
    /* ... and per-tensor static quantization of the input, calibrated at load (calib.c):
     * u8 q = round(a / a_scale) + a_zp, saturated to [0, 255] */
    float a_scale, a_zp;
    float *oscale; /* (out,)  a_scale · wscale: accumulator → output */
    float *qbias;  /* (out,)  bias / oscale − a_zp · wsum: bias in accumulator units, zero point folded in */
} cai_linear;

/* A conv (+ folded BN) laid out for im2col over NHWC: w (cout, k, k, cin), b (cout,). Owned. */
typedef struct {
    float *w; /* (cout, k*k*cin) */
    float *b; /* (cout,) */
    int cin, cout, k, pad;
} cai_conv;

typedef struct {
    int in, b;         /* input channels, channels per branch */
    int has_branch3;   /* vis_inception.8 has no branch3 in its forward */
    cai_conv b1;       /* 1x1 in→b */
    cai_conv b2a, b2b; /* 1x1 in→b, 3x3 b→b pad 1 */
    cai_conv b3a, b3b; /* 1x1 in→b, 5x5 b→b pad 2 */
    cai_conv b4;       /* (maxpool 3x3) 1x1 in→b */
    cai_conv first;    /* b1, b2a (, b3a) stacked: one 1x1 in→2b or 3b GEMM instead of 2-3 thin ones */
} cai_inception;

typedef struct {
    const float *norm1_w, *norm1_b; /* (dim,) */
    cai_linear qkv;                 /* (3*dim, dim); vitae bias assembled: [q_bias, 0, v_bias] (owned) */
    cai_linear proj;                /* (dim, dim) */
    const float *norm2_w, *norm2_b; /* (dim,) */
    cai_linear fc1;                 /* (hidden, dim) */
    cai_linear fc2;                 /* (dim, hidden) */
    /* vitae only: PCM with PCM.1 folded into PCM.0 (owned) */
    float *pcm0_w;       /* (pcm_hidden, dim/groups, k, k) */
    float *pcm0_b;       /* (pcm_hidden,) */
    const float *pcm3_w; /* (dim, pcm_hidden/groups, k, k) */
    const float *pcm3_b; /* (dim,) */
} cai_block;

typedef struct {
    /* ViT branch */
    const float *patch_w;               /* (dim, 5, patch, patch) = Linear (dim, 5*patch*patch) */
    const float *patch_b;               /* (dim,) */
    const float *cls_token;             /* (1, 1, dim) */
    const float *pos_embed;             /* (1, ntok, dim) */
    cai_block *blocks;                  /* (depth) */
    const float *fc_norm_w, *fc_norm_b; /* (dim,) */
    cai_linear head;                    /* (dim, dim) */
    cai_linear vit0, vit2;              /* (1096, dim), (1096, 1096) */
    /* Inception branch */
    cai_conv stem;           /* vis_inception.0: 1x1 5→32 with bias, no BN */
    cai_inception inc[5];    /* vis_inception.2, .3, .5, .6, .8 */
    cai_linear inc10, inc12; /* (1096, 192), (1096, 1096) */
    /* Magnitude branch */
    cai_linear mag[5]; /* (1024, 5), 4 x (1024, 1024) */
    /* Head */
    cai_linear cat0, cat2; /* (1024, 3216), (1, 1024) */
    void *owned;           /* every array allocated at load (folded, assembled, quantized) */
} cai_weights;

/* Validate every tensor of `st` against the blueprint and fill `w` (owned arrays allocated here).
 * cfg is filled from metadata + shapes first. */
int cai_weights_load(const cai_safetensors *st, const char *path, cai_config *cfg, cai_weights *w, int int8,
                     cai_err *err);
void cai_weights_free(cai_weights *w, const cai_config *cfg);

#endif
