/* weights.c — build the Config from __metadata__ + shapes, then walk the blueprint tensor by tensor:
 * every expected key must exist with exactly the expected shape and dtype, and every key in the file
 * must be expected (or one of the accepted-and-ignored ones below). Errors name the key and both shapes.
 *
 * Accepted and ignored:
 *  - "*.num_batches_tracked" next to a BatchNorm we load (I64, shape ()): training bookkeeping.
 *  - "inception_model.vis_inception.8.branch3.*": the seed's last Inception builds branch 3 but its
 *    forward never uses it. Optional; validated like any other ConvBlock when present.
 *  - "inception_model.conv2d_init.*": the same module object as vis_inception.0, stored twice by
 *    state_dict(). Optional; when present it must be bit-identical to vis_inception.0 — a difference
 *    means the file is not the model we think it is, so we refuse it rather than pick one. */
#include "weights.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "cpu.h"

typedef struct {
    const cai_safetensors *st;
    const char *path;
    uint8_t *used; /* per tensor of st */
    void **owned;  /* allocations to free with the weights */
    int nowned;
    size_t cap;
    cai_err *err;
} ldctx;

/* All load-time allocations are recorded here so that freeing is one loop (see cai_weights_free). */
typedef struct {
    void **p;
    int n;
} owned_list;

static void *own(ldctx *c, size_t bytes) {
    if (cai_grow(&c->owned, &c->cap, (size_t)c->nowned + 1, sizeof *c->owned, 256)) return NULL;
    void *p = calloc(1, bytes ? bytes : 1);
    if (p) c->owned[c->nowned++] = p;
    return p;
}

static void fmt_shape(char *buf, size_t n, int ndim, const int64_t *s) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%lld%s", (long long)s[i], ndim == 1 ? ",)" : i + 1 < ndim ? ", " : ")");
    if (ndim == 0 && k < n) snprintf(buf + k, n - k, ")");
}

static const cai_st_tensor *lookup(ldctx *c, const char *name) {
    for (int i = 0; i < c->st->ntensors; i++)
        if (!strcmp(c->st->tensors[i].name, name)) {
            c->used[i] = 1;
            return &c->st->tensors[i];
        }
    return NULL;
}

/* Check `name` against (dtype, shape); return its data (copied if misaligned for its element size).
 * optional: absent → NULL without error. */
static const void *expect_t(ldctx *c, const char *name, cai_st_dtype dt, int ndim, const int64_t *shape, int optional,
                            int *fail) {
    char want[96], got[96];
    fmt_shape(want, sizeof want, ndim, shape);
    const cai_st_tensor *t = lookup(c, name);
    if (!t) {
        if (optional) return NULL;
        *fail = cai_seterr(c->err, CAI_EKEY, "%s: missing tensor \"%s\" (expected shape %s %s)", c->path, name, want,
                           cai_st_dtype_name(dt));
        return NULL;
    }
    fmt_shape(got, sizeof got, t->ndim, t->shape);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same || t->dtype != dt) {
        *fail = cai_seterr(c->err, CAI_ESHAPE, "%s: tensor \"%s\": expected shape %s %s, got %s %s", c->path, name,
                           want, cai_st_dtype_name(dt), got, cai_st_dtype_name(t->dtype));
        return NULL;
    }
    size_t es = cai_st_dtype_size(dt);
    if (((uintptr_t)t->data % es) == 0) return t->data;
    void *cp = own(c, t->nbytes); /* files from other writers may not align the data region */
    if (!cp) {
        *fail = cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->path);
        return NULL;
    }
    memcpy(cp, t->data, t->nbytes);
    return cp;
}

#define F32(name, opt, ...)                                                                                            \
    ((const float *)expect_t(c, name, CAI_ST_F32, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),           \
                             (int64_t[]){__VA_ARGS__}, opt, &fail))
#define F32_0D(name) ((const float *)expect_t(c, name, CAI_ST_F32, 0, NULL, 0, &fail))

static int linear(ldctx *c, cai_linear *l, const char *prefix, int in, int out, int bias_key) {
    char n[400];
    int fail = 0;
    l->in = in, l->out = out;
    snprintf(n, sizeof n, "%s.weight", prefix);
    l->w = F32(n, 0, out, in);
    if (fail) return fail;
    if (bias_key) {
        snprintf(n, sizeof n, "%s.bias", prefix);
        l->b = F32(n, 0, out);
    }
    return fail;
}

/* Accept "<prefix>.num_batches_tracked" (I64, shape ()) if present. */
static int nbt(ldctx *c, const char *prefix) {
    char n[512];
    int fail = 0;
    snprintf(n, sizeof n, "%s.num_batches_tracked", prefix);
    expect_t(c, n, CAI_ST_I64, 0, NULL, 1, &fail);
    return fail;
}

/* Fold eval-mode BatchNorm into a conv: y = g·(conv(x)+b − mean)/√(var+eps) + beta. Output laid out
 * (cout, ky, kx, cin) for NHWC im2col when `nhwc`, else PyTorch (cout, cin, ky, kx). Done in double. */
static void fold(const float *w, const float *b, const float *g, const float *beta, const float *mean, const float *var,
                 float eps, int cout, int cin, int k, int nhwc, float *ow, float *ob) {
    for (int o = 0; o < cout; o++) {
        double s = g ? (double)g[o] / sqrt((double)var[o] + (double)eps) : 1.0;
        for (int i = 0; i < cin; i++)
            for (int y = 0; y < k; y++)
                for (int x = 0; x < k; x++) {
                    size_t src = (((size_t)o * cin + i) * k + y) * k + x;
                    size_t dst = nhwc ? (((size_t)o * k + y) * k + x) * cin + i : src;
                    ow[dst] = (float)(w[src] * s);
                }
        double bb = b ? b[o] : 0.0;
        ob[o] = g ? (float)((bb - mean[o]) * s + beta[o]) : (float)bb;
    }
}

/* A ConvBlock: "<p>.conv.{weight,bias}" + "<p>.bn.{weight,bias,running_mean,running_var,num_batches_tracked}". */
static int convblock(ldctx *c, cai_conv *cv, const char *p, int cin, int cout, int k, float eps, int optional,
                     int *present) {
    char n[400];
    int fail = 0;
    snprintf(n, sizeof n, "%s.conv.weight", p);
    const float *w = F32(n, optional, cout, cin, k, k);
    if (fail) return fail;
    if (!w) { /* optional and absent: the rest of the block must be absent too (checked as unexpected) */
        if (present) *present = 0;
        return 0;
    }
    if (present) *present = 1;
    const float *b = NULL, *g = NULL, *beta = NULL, *mean = NULL, *var = NULL;
    snprintf(n, sizeof n, "%s.conv.bias", p);
    b = F32(n, 0, cout);
    snprintf(n, sizeof n, "%s.bn.weight", p);
    if (!fail) g = F32(n, 0, cout);
    snprintf(n, sizeof n, "%s.bn.bias", p);
    if (!fail) beta = F32(n, 0, cout);
    snprintf(n, sizeof n, "%s.bn.running_mean", p);
    if (!fail) mean = F32(n, 0, cout);
    snprintf(n, sizeof n, "%s.bn.running_var", p);
    if (!fail) var = F32(n, 0, cout);
    if (fail) return fail;
    snprintf(n, sizeof n, "%s.bn", p);
    if ((fail = nbt(c, n))) return fail;
    cv->cin = cin, cv->cout = cout, cv->k = k, cv->pad = k / 2;
    cv->w = own(c, (size_t)cout * cin * k * k * sizeof(float));
    cv->b = own(c, (size_t)cout * sizeof(float));
    if (!cv->w || !cv->b) return cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->path);
    fold(w, b, g, beta, mean, var, eps, cout, cin, k, 1, cv->w, cv->b);
    return 0;
}

static int inception(ldctx *c, cai_inception *inc, const char *p, int in, int b, int use_b3, float eps) {
    char n[400];
    int rc, present = 0;
    inc->in = in, inc->b = b, inc->has_branch3 = use_b3;
    snprintf(n, sizeof n, "%s.branch1", p);
    if ((rc = convblock(c, &inc->b1, n, in, b, 1, eps, 0, NULL))) return rc;
    snprintf(n, sizeof n, "%s.branch2.0", p);
    if ((rc = convblock(c, &inc->b2a, n, in, b, 1, eps, 0, NULL))) return rc;
    snprintf(n, sizeof n, "%s.branch2.1", p);
    if ((rc = convblock(c, &inc->b2b, n, b, b, 3, eps, 0, NULL))) return rc;
    snprintf(n, sizeof n, "%s.branch3.0", p);
    if ((rc = convblock(c, &inc->b3a, n, in, b, 1, eps, !use_b3, &present))) return rc;
    snprintf(n, sizeof n, "%s.branch3.1", p);
    if ((rc = convblock(c, &inc->b3b, n, b, b, 5, eps, !use_b3, &present))) return rc;
    snprintf(n, sizeof n, "%s.branch4.1", p);
    if ((rc = convblock(c, &inc->b4, n, in, b, 1, eps, 0, NULL))) return rc;
    /* The 1x1 convs that read the block input, stacked on output channels: [b1 | b2a | b3a]. */
    const cai_conv *parts[3] = {&inc->b1, &inc->b2a, &inc->b3a};
    const int np = use_b3 ? 3 : 2;
    inc->first.cin = in, inc->first.cout = np * b, inc->first.k = 1, inc->first.pad = 0;
    inc->first.w = own(c, (size_t)np * b * in * sizeof(float));
    inc->first.b = own(c, (size_t)np * b * sizeof(float));
    if (!inc->first.w || !inc->first.b) return cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->path);
    for (int i = 0; i < np; i++) {
        memcpy(inc->first.w + (size_t)i * b * in, parts[i]->w, (size_t)b * in * sizeof(float));
        memcpy(inc->first.b + (size_t)i * b, parts[i]->b, (size_t)b * sizeof(float));
    }
    return 0;
}

/* Strict metadata numbers: the whole string must parse. */
static int meta_int(ldctx *c, const char *key, int def, int *out) {
    const char *v = cai_st_meta(c->st, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x <= 0 || x > 1 << 20)
        return cai_seterr(c->err, CAI_EFORMAT, "%s: __metadata__ \"%s\": expected a positive integer, got \"%s\"",
                          c->path, key, v);
    *out = (int)x;
    return 0;
}
static int meta_float(ldctx *c, const char *key, float def, float *out) {
    const char *v = cai_st_meta(c->st, key);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    float x = strtof(v, &end);
    if (errno || end == v || *end || !(x > 0) || !isfinite(x))
        return cai_seterr(c->err, CAI_EFORMAT, "%s: __metadata__ \"%s\": expected a positive number, got \"%s\"",
                          c->path, key, v);
    *out = x;
    return 0;
}

static int config_from(ldctx *c, cai_config *cfg) {
    int rc, ratio;
    memset(cfg, 0, sizeof *cfg);
    const cai_safetensors *st = c->st;
    int has_qkv_bias = cai_st_find(st, "blocks.0.attn.qkv.bias") != NULL;
    int has_qv = cai_st_find(st, "blocks.0.attn.q_bias") != NULL || cai_st_find(st, "blocks.0.PCM.0.weight") != NULL;
    if (has_qkv_bias == has_qv)
        return cai_seterr(c->err, CAI_EKEY,
                          "%s: cannot tell the block variant: expected \"blocks.0.attn.qkv.bias\" (vit) or "
                          "\"blocks.0.attn.q_bias\" + \"blocks.0.PCM.*\" (vitae)",
                          c->path);
    cfg->vitae = has_qv;
    const char *v = cai_st_meta(st, "variant");
    if (v && strcmp(v, cfg->vitae ? "vitae" : "vit"))
        return cai_seterr(c->err, CAI_EFORMAT,
                          "%s: __metadata__ \"variant\" is \"%s\" but the keys are those of \"%s\"", c->path, v,
                          cfg->vitae ? "vitae" : "vit");
    const char *fmtv = cai_st_meta(st, "cai.format");
    if (fmtv && strcmp(fmtv, "astromae-weights/1"))
        return cai_seterr(c->err, CAI_EFORMAT,
                          "%s: __metadata__ \"cai.format\": expected \"astromae-weights/1\", got \"%s\"", c->path,
                          fmtv);
    if ((rc = meta_int(c, "embed_dim", 192, &cfg->dim)) || (rc = meta_int(c, "depth", 12, &cfg->depth)) ||
        (rc = meta_int(c, "num_heads", 3, &cfg->heads)) || (rc = meta_int(c, "mlp_ratio", 4, &ratio)) ||
        (rc = meta_int(c, "patch_size", 8, &cfg->patch)) || (rc = meta_float(c, "ln_eps", 1e-6f, &cfg->ln_eps)) ||
        (rc = meta_float(c, "fc_norm_eps", 1e-6f, &cfg->fc_norm_eps)) ||
        (rc = meta_float(c, "bn_eps", 1e-5f, &cfg->bn_eps)) ||
        (rc = meta_float(c, "pcm_bn_eps", 1e-5f, &cfg->pcm_bn_eps)))
        return rc;
    if (cfg->dim % cfg->heads)
        return cai_seterr(c->err, CAI_EFORMAT, "%s: embed_dim %d is not a multiple of num_heads %d", c->path, cfg->dim,
                          cfg->heads);
    if (32 % cfg->patch || cfg->depth > 256)
        return cai_seterr(c->err, CAI_EFORMAT, "%s: patch_size %d does not divide 32 (or depth %d too large)", c->path,
                          cfg->patch, cfg->depth);
    cfg->head_dim = cfg->dim / cfg->heads;
    if ((rc = meta_float(c, "attn_scale", 1.0f / sqrtf((float)cfg->head_dim), &cfg->attn_scale))) return rc;
    cfg->hidden = cfg->dim * ratio;
    cfg->grid = 32 / cfg->patch;
    cfg->npatch = cfg->grid * cfg->grid;
    cfg->ntok = cfg->npatch + 1;
    cfg->vit_out = 1096, cfg->inc_out = 1096, cfg->mag_width = 1024, cfg->head_width = 1024;
    const char *ct = cai_st_meta(st, "class_token");
    if (ct && strcmp(ct, "true") && strcmp(ct, "True") && strcmp(ct, "1"))
        return cai_seterr(c->err, CAI_EFORMAT,
                          "%s: __metadata__ \"class_token\" is \"%s\": only class-token models are supported", c->path,
                          ct);
    if (cfg->vitae) {
        /* PCM geometry from the first block's weight shape, cross-checked with the metadata. */
        const cai_st_tensor *t = cai_st_find(st, "blocks.0.PCM.0.weight");
        if (!t) return cai_seterr(c->err, CAI_EKEY, "%s: missing tensor \"blocks.0.PCM.0.weight\"", c->path);
        if (t->ndim != 4 || t->shape[2] != t->shape[3] || t->shape[1] <= 0 || t->shape[0] <= 0 ||
            cfg->dim % t->shape[1] || t->shape[2] % 2 == 0 || t->shape[2] > 7) {
            char got[96];
            fmt_shape(got, sizeof got, t->ndim, t->shape);
            return cai_seterr(
                c->err, CAI_ESHAPE,
                "%s: tensor \"blocks.0.PCM.0.weight\": expected (hidden, %d/groups, k, k) with odd k, got %s", c->path,
                cfg->dim, got);
        }
        cfg->pcm_hidden = (int)t->shape[0];
        cfg->pcm_kernel = (int)t->shape[2];
        cfg->pcm_groups = cfg->dim / (int)t->shape[1];
        int mg, mk;
        if ((rc = meta_int(c, "pcm_groups", cfg->pcm_groups, &mg)) ||
            (rc = meta_int(c, "pcm_kernel", cfg->pcm_kernel, &mk)))
            return rc;
        if (mg != cfg->pcm_groups || mk != cfg->pcm_kernel)
            return cai_seterr(c->err, CAI_EFORMAT,
                              "%s: __metadata__ pcm_groups=%d pcm_kernel=%d disagree with blocks.0.PCM.0.weight "
                              "(groups %d, kernel %d)",
                              c->path, mg, mk, cfg->pcm_groups, cfg->pcm_kernel);
        if (cfg->pcm_hidden % cfg->pcm_groups)
            return cai_seterr(c->err, CAI_ESHAPE, "%s: PCM hidden %d is not a multiple of groups %d", c->path,
                              cfg->pcm_hidden, cfg->pcm_groups);
        cfg->pcm_padding = cfg->pcm_kernel / 2;
        const char *pp = cai_st_meta(st, "pcm_padding");
        if (pp) {
            char *end;
            long x = strtol(pp, &end, 10);
            if (end == pp || *end || x != cfg->pcm_kernel / 2)
                return cai_seterr(c->err, CAI_EFORMAT,
                                  "%s: __metadata__ \"pcm_padding\": expected %d (kernel/2, 'same' size), got \"%s\"",
                                  c->path, cfg->pcm_kernel / 2, pp);
        }
    }
    return 0;
}

/* Weights are quantized per output channel to 8 bits (±127) where the CPU has VNNI (vpdpbusd sums u8×s8
 * products in 32 bits) and to 7 bits (±63) elsewhere: without VNNI, oneDNN multiplies u8×s8 pairs with
 * vpmaddubsw, whose s16 pair sums saturate for 255·127·2; with |w| ≤ 63 they cannot (255·63·2 = 32130 <
 * 32767). oneDNN documents this; it costs one bit of weight precision there. */
static void quantize(ldctx *c, cai_linear *l, int *fail) {
    const int wmax = cai_cpu_has_vnni() ? 127 : 63;
    l->wq = own(c, (size_t)l->out * l->in);
    l->wscale = own(c, (size_t)l->out * sizeof(float));
    l->wsum = own(c, (size_t)l->out * sizeof(int32_t));
    l->oscale = own(c, (size_t)l->out * sizeof(float));
    l->qbias = own(c, (size_t)l->out * sizeof(float));
    if (!l->wq || !l->wscale || !l->wsum || !l->oscale || !l->qbias) {
        *fail = cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->path);
        return;
    }
    for (int o = 0; o < l->out; o++) {
        const float *r = l->w + (size_t)o * l->in;
        float mx = 0;
        for (int i = 0; i < l->in; i++) mx = fmaxf(mx, fabsf(r[i]));
        float s = mx > 0 ? mx / (float)wmax : 1.0f;
        l->wscale[o] = s;
        int32_t sum = 0;
        for (int i = 0; i < l->in; i++) {
            long q = lrintf(r[i] / s);
            q = q > wmax ? wmax : q < -wmax ? -wmax : q;
            l->wq[(size_t)o * l->in + i] = (int8_t)q;
            sum += (int32_t)q;
        }
        l->wsum[o] = sum;
    }
}

static int load_all(ldctx *c, cai_config *cfg, cai_weights *w, int int8) {
    int fail = 0, rc;
    char n[400], p[128];
    const int D = cfg->dim, P = cfg->patch;
    /* ViT branch */
    w->cls_token = F32("cls_token", 0, 1, 1, D);
    if (!fail) w->pos_embed = F32("pos_embed", 0, 1, cfg->ntok, D);
    if (!fail) w->patch_w = F32("patch_embed.proj.weight", 0, D, 5, P, P);
    if (!fail) w->patch_b = F32("patch_embed.proj.bias", 0, D);
    if (fail) return fail;
    w->blocks = own(c, (size_t)cfg->depth * sizeof(cai_block));
    if (!w->blocks) return cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->path);
    for (int l = 0; l < cfg->depth; l++) {
        cai_block *b = &w->blocks[l];
        snprintf(p, sizeof p, "blocks.%d", l);
#define BK(suffix) (snprintf(n, sizeof n, "%s.%s", p, suffix), n)
        b->norm1_w = F32(BK("norm1.weight"), 0, D);
        if (!fail) b->norm1_b = F32(BK("norm1.bias"), 0, D);
        if (!fail) b->norm2_w = F32(BK("norm2.weight"), 0, D);
        if (!fail) b->norm2_b = F32(BK("norm2.bias"), 0, D);
        if (fail) return fail;
        if ((rc = linear(c, &b->qkv, BK("attn.qkv"), D, 3 * D, !cfg->vitae))) return rc;
        if ((rc = linear(c, &b->proj, BK("attn.proj"), D, D, 1))) return rc;
        if ((rc = linear(c, &b->fc1, BK("mlp.fc1"), D, cfg->hidden, 1))) return rc;
        if ((rc = linear(c, &b->fc2, BK("mlp.fc2"), cfg->hidden, D, 1))) return rc;
        if (cfg->vitae) {
            const float *qb = F32(BK("attn.q_bias"), 0, D);
            const float *vb = fail ? NULL : F32(BK("attn.v_bias"), 0, D);
            if (fail) return fail;
            float *bias = own(c, (size_t)3 * D * sizeof(float)); /* [q_bias, zeros, v_bias] */
            if (!bias) return cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->path);
            memcpy(bias, qb, (size_t)D * sizeof(float));
            memcpy(bias + 2 * D, vb, (size_t)D * sizeof(float));
            b->qkv.b = bias;
            const int H = cfg->pcm_hidden, G = cfg->pcm_groups, K = cfg->pcm_kernel;
            const float *w0 = F32(BK("PCM.0.weight"), 0, H, D / G, K, K);
            const float *b0 = fail ? NULL : F32(BK("PCM.0.bias"), 0, H);
            const float *g = fail ? NULL : F32(BK("PCM.1.weight"), 0, H);
            const float *beta = fail ? NULL : F32(BK("PCM.1.bias"), 0, H);
            const float *mean = fail ? NULL : F32(BK("PCM.1.running_mean"), 0, H);
            const float *var = fail ? NULL : F32(BK("PCM.1.running_var"), 0, H);
            if (!fail) b->pcm3_w = F32(BK("PCM.3.weight"), 0, D, H / G, K, K);
            if (!fail) b->pcm3_b = F32(BK("PCM.3.bias"), 0, D);
            if (fail || (fail = nbt(c, BK("PCM.1")))) return fail;
            b->pcm0_w = own(c, (size_t)H * (D / G) * K * K * sizeof(float));
            b->pcm0_b = own(c, (size_t)H * sizeof(float));
            if (!b->pcm0_w || !b->pcm0_b) return cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->path);
            fold(w0, b0, g, beta, mean, var, cfg->pcm_bn_eps, H, D / G, K, 0, b->pcm0_w, b->pcm0_b);
        }
        if (int8) {
            quantize(c, &b->qkv, &fail);
            if (!fail) quantize(c, &b->proj, &fail);
            if (!fail) quantize(c, &b->fc1, &fail);
            if (!fail) quantize(c, &b->fc2, &fail);
            if (fail) return fail;
        }
#undef BK
    }
    w->fc_norm_w = F32("fc_norm.weight", 0, D);
    if (!fail) w->fc_norm_b = F32("fc_norm.bias", 0, D);
    if (fail) return fail;
    if ((rc = linear(c, &w->head, "head", D, D, 1)) || (rc = linear(c, &w->vit0, "vit_block.0", D, cfg->vit_out, 1)) ||
        (rc = linear(c, &w->vit2, "vit_block.2", cfg->vit_out, cfg->vit_out, 1)))
        return rc;
    /* Inception branch */
    const float *s0w = F32("inception_model.vis_inception.0.weight", 0, 32, 5, 1, 1);
    const float *s0b = fail ? NULL : F32("inception_model.vis_inception.0.bias", 0, 32);
    if (fail) return fail;
    const float *dw = F32("inception_model.conv2d_init.weight", 1, 32, 5, 1, 1);
    const float *db = fail ? NULL : F32("inception_model.conv2d_init.bias", dw == NULL, 32);
    if (fail) return fail;
    if ((dw == NULL) != (db == NULL))
        return cai_seterr(c->err, CAI_EKEY, "%s: missing tensor \"inception_model.conv2d_init.weight\"", c->path);
    if (dw && (memcmp(dw, s0w, 32 * 5 * sizeof(float)) || memcmp(db, s0b, 32 * sizeof(float))))
        return cai_seterr(c->err, CAI_EFORMAT,
                          "%s: \"inception_model.conv2d_init\" should duplicate \"inception_model.vis_inception.0\" "
                          "but its values differ",
                          c->path);
    w->stem.cin = 5, w->stem.cout = 32, w->stem.k = 1;
    w->stem.w = own(c, 32 * 5 * sizeof(float));
    w->stem.b = own(c, 32 * sizeof(float));
    if (!w->stem.w || !w->stem.b) return cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->path);
    fold(s0w, s0b, NULL, NULL, NULL, NULL, 0, 32, 5, 1, 1, w->stem.w, w->stem.b);
    static const struct {
        int idx, in, b, b3;
    } incs[5] = {{2, 32, 16, 1}, {3, 64, 16, 1}, {5, 64, 8, 1}, {6, 32, 8, 1}, {8, 32, 4, 0}};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "inception_model.vis_inception.%d", incs[i].idx);
        if ((rc = inception(c, &w->inc[i], p, incs[i].in, incs[i].b, incs[i].b3, cfg->bn_eps))) return rc;
    }
    if ((rc = linear(c, &w->inc10, "inception_model.vis_inception.10", 192, cfg->inc_out, 1)) ||
        (rc = linear(c, &w->inc12, "inception_model.vis_inception.12", cfg->inc_out, cfg->inc_out, 1)))
        return rc;
    /* Magnitude branch */
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "inception_model.magnitude_block.%d", 2 * i);
        if ((rc = linear(c, &w->mag[i], p, i ? cfg->mag_width : 5, cfg->mag_width, 1))) return rc;
    }
    /* Head */
    int cat_in = cfg->vit_out + cfg->inc_out + cfg->mag_width;
    if ((rc = linear(c, &w->cat0, "concat_block.0", cat_in, cfg->head_width, 1)) ||
        (rc = linear(c, &w->cat2, "concat_block.2", cfg->head_width, 1, 1)))
        return rc;
    /* Anything left over is a key the model does not have. */
    for (int i = 0; i < c->st->ntensors; i++)
        if (!c->used[i]) {
            const cai_st_tensor *t = &c->st->tensors[i];
            char got[96];
            fmt_shape(got, sizeof got, t->ndim, t->shape);
            return cai_seterr(c->err, CAI_EKEY, "%s: unexpected tensor \"%s\" %s %s: not part of the %s model", c->path,
                              t->name, got, cai_st_dtype_name(t->dtype), cfg->vitae ? "vitae" : "vit");
        }
    return 0;
}

int cai_weights_load(const cai_safetensors *st, const char *path, cai_config *cfg, cai_weights *w, int int8,
                     cai_err *err) {
    memset(w, 0, sizeof *w);
    ldctx c = {.st = st, .path = path, .err = err};
    c.used = calloc((size_t)st->ntensors + 1, 1);
    if (!c.used) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
    int rc = config_from(&c, cfg);
    if (!rc) rc = load_all(&c, cfg, w, int8);
    free(c.used);
    /* Hand the allocation list to the weights (stashed in a hidden tail allocation). */
    owned_list *ol = calloc(1, sizeof *ol);
    if (!ol) rc = rc ? rc : cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
    if (ol) {
        ol->p = c.owned;
        ol->n = c.nowned;
    } else {
        for (int i = 0; i < c.nowned; i++) free(c.owned[i]);
        free(c.owned);
    }
    w->owned = ol;
    if (rc) {
        cai_weights_free(w, cfg);
        return rc;
    }
    return CAI_OK;
}

void cai_weights_free(cai_weights *w, const cai_config *cfg) {
    (void)cfg;
    if (!w) return;
    owned_list *ol = w->owned;
    if (ol) {
        for (int i = 0; i < ol->n; i++) free(ol->p[i]);
        free(ol->p);
        free(ol);
    }
    memset(w, 0, sizeof *w);
}

double cai_config_macs(const cai_config *c) {
    double D = c->dim, T = c->ntok, Hd = c->hidden;
    double blk = T * (D * 3 * D + D * D + 2 * D * Hd) + 2.0 * c->heads * T * T * c->head_dim;
    if (c->vitae) {
        double kk = (double)c->pcm_kernel * c->pcm_kernel;
        blk += c->npatch * kk * (c->pcm_hidden * (D / c->pcm_groups) + D * (c->pcm_hidden / c->pcm_groups));
    }
    double vit = c->npatch * D * 5.0 * c->patch * c->patch + c->depth * blk + D * D + D * c->vit_out +
                 (double)c->vit_out * c->vit_out;
    /* Inception: stem at 32x32 (before pooling), then per block: 1x1s + 3x3 + 5x5 at its resolution. */
    double inc = 32.0 * 5 * 32 * 32;
    static const int in[5] = {32, 64, 64, 32, 32}, b[5] = {16, 16, 8, 8, 4}, px[5] = {256, 256, 64, 64, 16},
                     b3[5] = {1, 1, 1, 1, 0};
    for (int i = 0; i < 5; i++)
        inc += (double)px[i] * ((3 + b3[i]) * in[i] * b[i] + 9.0 * b[i] * b[i] + b3[i] * 25.0 * b[i] * b[i]);
    inc += 192.0 * c->inc_out + (double)c->inc_out * c->inc_out;
    double mag = 5.0 * c->mag_width + 4.0 * c->mag_width * c->mag_width;
    double head = (double)(c->vit_out + c->inc_out + c->mag_width) * c->head_width + c->head_width;
    return vit + inc + mag + head;
}
