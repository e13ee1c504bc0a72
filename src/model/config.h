/* config.h — the model's blueprint (llama2.c's Config): every dimension and hyper-parameter the forward
 * pass needs, read from the weights file's __metadata__ (seed defaults when absent) and the PCM shapes.
 * Owns: the numbers. Must not touch: tensors (weights.h) or activations (forward.c). */
#ifndef CAI_MODEL_CONFIG_H
#define CAI_MODEL_CONFIG_H

typedef struct {
    int vitae;         /* 0: ViT blocks (variant A), 1: ViTAE NormalCell blocks with PCM (variant B) */
    int dim;           /* embed_dim, 192 */
    int depth;         /* number of transformer blocks, 12 */
    int heads;         /* attention heads, 3 */
    int head_dim;      /* dim / heads, 64 */
    int hidden;        /* MLP hidden = dim * mlp_ratio, 768 */
    int patch;         /* patch size, 8 */
    int grid;          /* CAI_IMG / patch, 4 */
    int npatch;        /* grid * grid, 16 */
    int ntok;          /* npatch + 1 (class token), 17 */
    float ln_eps;      /* block LayerNorms, 1e-6 */
    float fc_norm_eps; /* fc_norm, 1e-6 */
    float attn_scale;  /* head_dim^-0.5 = 0.125 */
    float bn_eps;      /* Inception ConvBlock BatchNorm, 1e-5 */
    /* PCM (vitae only): Conv(dim→pcm_hidden, k, groups) → BN → SiLU → Conv(pcm_hidden→dim, k, groups) */
    int pcm_hidden;   /* 768 */
    int pcm_kernel;   /* 1 */
    int pcm_groups;   /* 48 */
    int pcm_padding;  /* kernel / 2 */
    float pcm_bn_eps; /* 1e-5 */
    /* Fixed widths of the seed's ViT_Astro (not hyper-parameters: the module hard-codes them). */
    int vit_out;    /* vit_block output, 1096 */
    int inc_out;    /* inception branch output, 1096 */
    int mag_width;  /* magnitude_block width, 1024 */
    int head_width; /* concat_block hidden, 1024 */
} cai_config;

/* Multiply-accumulates per galaxy, computed from the config (for the FLOP-based limits in `cai bench`). */
double cai_config_macs(const cai_config *c);

#endif
