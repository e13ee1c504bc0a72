/* random_weights.c — deterministic untrained AstroMAE weights with the checkpoint's full key set
 * (num_batches_tracked, the conv2d_init duplicate and the unused vis_inception.8.branch3 included) and the
 * metadata contract of model.h. Init follows PyTorch's defaults in spirit (uniform ±1/√fan_in for Linear
 * and Conv), but every tensor that PyTorch would initialise to a constant (LayerNorm/BatchNorm affine,
 * running statistics, q/v biases) gets non-trivial values, so that tests catch a wrongly folded BN, a
 * missing bias or a swapped LayerNorm. Not a trained model: its redshifts mean nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "../format/safetensors.h"

typedef struct {
    uint64_t s;
} rng;
static uint64_t next(rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float unif(rng *r, float lo, float hi) { return lo + (hi - lo) * (float)((next(r) >> 40) * (1.0 / 16777216.0)); }

typedef struct {
    cai_st_writer *w;
    rng r;
    void **bufs;
    int nb, cap;
    int rc;
    cai_err *err;
} gen;

static float *add(gen *g, const char *name, int ndim, const int64_t *shape, float lo, float hi) {
    if (g->rc) return NULL;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *p = malloc(n * sizeof(float));
    if (g->nb == g->cap) {
        int nc = g->cap ? 2 * g->cap : 512;
        void **nbuf = realloc(g->bufs, (size_t)nc * sizeof *nbuf);
        if (!nbuf) {
            free(p);
            g->rc = cai_seterr(g->err, CAI_ENOMEM, "random weights: out of memory");
            return NULL;
        }
        g->bufs = nbuf, g->cap = nc;
    }
    if (!p) {
        g->rc = cai_seterr(g->err, CAI_ENOMEM, "random weights: out of memory");
        return NULL;
    }
    g->bufs[g->nb++] = p;
    for (size_t i = 0; i < n; i++) p[i] = unif(&g->r, lo, hi);
    g->rc = cai_st_writer_add(g->w, name, CAI_ST_F32, ndim, shape, p, g->err);
    return p;
}
#define ADD(g, name, lo, hi, ...)                                                                                      \
    add(g, name, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}, lo, hi)

static void nbt(gen *g, const char *prefix) {
    static const int64_t v = 1000;
    char n[400];
    snprintf(n, sizeof n, "%s.num_batches_tracked", prefix);
    if (!g->rc) g->rc = cai_st_writer_add(g->w, n, CAI_ST_I64, 0, NULL, &v, g->err);
}

static void linear(gen *g, const char *p, int in, int out, int bias) {
    char n[400];
    float a = 1.0f / sqrtf((float)in);
    snprintf(n, sizeof n, "%s.weight", p);
    ADD(g, n, -a, a, out, in);
    if (bias) {
        snprintf(n, sizeof n, "%s.bias", p);
        ADD(g, n, -a, a, out);
    }
}

static void bn(gen *g, const char *p, int c) {
    char n[400];
    snprintf(n, sizeof n, "%s.weight", p), ADD(g, n, 0.5f, 1.5f, c);
    snprintf(n, sizeof n, "%s.bias", p), ADD(g, n, -0.2f, 0.2f, c);
    snprintf(n, sizeof n, "%s.running_mean", p), ADD(g, n, -0.2f, 0.2f, c);
    snprintf(n, sizeof n, "%s.running_var", p), ADD(g, n, 0.5f, 1.5f, c);
    nbt(g, p);
}

static void convblock(gen *g, const char *p, int cin, int cout, int k) {
    char n[400];
    float a = 1.0f / sqrtf((float)(cin * k * k));
    snprintf(n, sizeof n, "%s.conv.weight", p), ADD(g, n, -a, a, cout, cin, k, k);
    snprintf(n, sizeof n, "%s.conv.bias", p), ADD(g, n, -a, a, cout);
    snprintf(n, sizeof n, "%s.bn", p), bn(g, n, cout);
}

static void inception(gen *g, int idx, int in, int b) {
    char n[400];
    snprintf(n, sizeof n, "inception_model.vis_inception.%d.branch1", idx), convblock(g, n, in, b, 1);
    snprintf(n, sizeof n, "inception_model.vis_inception.%d.branch2.0", idx), convblock(g, n, in, b, 1);
    snprintf(n, sizeof n, "inception_model.vis_inception.%d.branch2.1", idx), convblock(g, n, b, b, 3);
    snprintf(n, sizeof n, "inception_model.vis_inception.%d.branch3.0", idx), convblock(g, n, in, b, 1);
    snprintf(n, sizeof n, "inception_model.vis_inception.%d.branch3.1", idx), convblock(g, n, b, b, 5);
    snprintf(n, sizeof n, "inception_model.vis_inception.%d.branch4.1", idx), convblock(g, n, in, b, 1);
}

int cai_weights_random(const char *path, const char *variant, uint64_t seed, cai_err *err) {
    if (!variant || (strcmp(variant, "vit") && strcmp(variant, "vitae")))
        return cai_seterr(err, CAI_EARG, "random weights: variant must be \"vit\" or \"vitae\", got \"%s\"",
                          variant ? variant : "(null)");
    const int vitae = !strcmp(variant, "vitae"), D = 192, depth = 12, hidden = 768;
    gen G = {.w = cai_st_writer_new(), .r = {seed * 0x2545F4914F6CDD1Dull + 1}, .err = err}, *g = &G;
    if (!g->w) return cai_seterr(err, CAI_ENOMEM, "random weights: out of memory");
    char n[400];
    ADD(g, "cls_token", -0.04f, 0.04f, 1, 1, D);
    ADD(g, "pos_embed", -0.04f, 0.04f, 1, 17, D);
    ADD(g, "fc_norm.weight", 0.8f, 1.2f, D);
    ADD(g, "fc_norm.bias", -0.1f, 0.1f, D);
    linear(g, "head", D, D, 1);
    /* vis_inception.0 and its duplicate conv2d_init: the same tensors */
    float *sw = ADD(g, "inception_model.vis_inception.0.weight", -0.4f, 0.4f, 32, 5, 1, 1);
    float *sb = ADD(g, "inception_model.vis_inception.0.bias", -0.4f, 0.4f, 32);
    if (!g->rc)
        g->rc = cai_st_writer_add(g->w, "inception_model.conv2d_init.weight", CAI_ST_F32, 4, (int64_t[]){32, 5, 1, 1},
                                  sw, err);
    if (!g->rc)
        g->rc = cai_st_writer_add(g->w, "inception_model.conv2d_init.bias", CAI_ST_F32, 1, (int64_t[]){32}, sb, err);
    for (int i = 0; i < 5; i++) {
        snprintf(n, sizeof n, "inception_model.magnitude_block.%d", 2 * i);
        linear(g, n, i ? 1024 : 5, 1024, 1);
    }
    inception(g, 2, 32, 16);
    inception(g, 3, 64, 16);
    inception(g, 5, 64, 8);
    inception(g, 6, 32, 8);
    inception(g, 8, 32, 4);
    linear(g, "inception_model.vis_inception.10", 192, 1096, 1);
    linear(g, "inception_model.vis_inception.12", 1096, 1096, 1);
    for (int l = 0; l < depth; l++) {
#define BK(suffix) (snprintf(n, sizeof n, "blocks.%d.%s", l, suffix), n)
        ADD(g, BK("norm1.weight"), 0.8f, 1.2f, D);
        ADD(g, BK("norm1.bias"), -0.1f, 0.1f, D);
        if (vitae) {
            ADD(g, BK("attn.q_bias"), -0.1f, 0.1f, D);
            ADD(g, BK("attn.v_bias"), -0.1f, 0.1f, D);
        }
        linear(g, BK("attn.qkv"), D, 3 * D, !vitae);
        linear(g, BK("attn.proj"), D, D, 1);
        ADD(g, BK("norm2.weight"), 0.8f, 1.2f, D);
        ADD(g, BK("norm2.bias"), -0.1f, 0.1f, D);
        linear(g, BK("mlp.fc1"), D, hidden, 1);
        linear(g, BK("mlp.fc2"), hidden, D, 1);
        if (vitae) { /* groups 48, kernel 1: (768, 4, 1, 1) and (192, 16, 1, 1) */
            ADD(g, BK("PCM.0.weight"), -0.5f, 0.5f, 768, 4, 1, 1);
            ADD(g, BK("PCM.0.bias"), -0.5f, 0.5f, 768);
            bn(g, BK("PCM.1"), 768);
            ADD(g, BK("PCM.3.weight"), -0.25f, 0.25f, 192, 16, 1, 1);
            ADD(g, BK("PCM.3.bias"), -0.25f, 0.25f, 192);
        }
#undef BK
    }
    ADD(g, "patch_embed.proj.weight", -0.044f, 0.044f, D, 5, 8, 8);
    ADD(g, "patch_embed.proj.bias", -0.044f, 0.044f, D);
    linear(g, "vit_block.0", D, 1096, 1);
    linear(g, "vit_block.2", 1096, 1096, 1);
    linear(g, "concat_block.0", 3216, 1024, 1);
    linear(g, "concat_block.2", 1024, 1, 1);
    static const char *meta[][2] = {{"cai.format", "astromae-weights/1"},
                                    {"embed_dim", "192"},
                                    {"depth", "12"},
                                    {"num_heads", "3"},
                                    {"mlp_ratio", "4"},
                                    {"patch_size", "8"},
                                    {"ln_eps", "1e-06"},
                                    {"fc_norm_eps", "1e-06"},
                                    {"attn_scale", "0.125"},
                                    {"bn_eps", "1e-05"},
                                    {"class_token", "true"}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0] && !g->rc; i++)
        g->rc = cai_st_writer_meta(g->w, meta[i][0], meta[i][1], err);
    if (!g->rc) g->rc = cai_st_writer_meta(g->w, "variant", variant, err);
    if (vitae && !g->rc) g->rc = cai_st_writer_meta(g->w, "pcm_bn_eps", "1e-05", err);
    if (vitae && !g->rc) g->rc = cai_st_writer_meta(g->w, "pcm_kernel", "1", err);
    if (vitae && !g->rc) g->rc = cai_st_writer_meta(g->w, "pcm_groups", "48", err);
    if (vitae && !g->rc) g->rc = cai_st_writer_meta(g->w, "pcm_padding", "0", err);
    char src[64];
    snprintf(src, sizeof src, "cai_weights_random(%s, seed=%llu)", variant, (unsigned long long)seed);
    if (!g->rc) g->rc = cai_st_writer_meta(g->w, "source", src, err);
    if (!g->rc) g->rc = cai_st_writer_save(g->w, path, err);
    cai_st_writer_free(g->w);
    for (int i = 0; i < g->nb; i++) free(g->bufs[i]);
    free(g->bufs);
    return g->rc;
}
