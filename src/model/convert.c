/* convert.c — PyTorch checkpoint → CAI safetensors weights.
 *
 * The seed saved torch.save(nn.DataParallel(ViT_Astro)): a pickle of module *objects*. PyTorch's own
 * state_dict() walks such an object as: the module's _parameters (None skipped), then its _buffers (None and
 * _non_persistent_buffers_set skipped), then each child of _modules with "<child>." prepended. We do the same
 * walk over the inert object tree, so names, order and duplicates (a module reachable by two paths gives two
 * keys, as inception_model.conv2d_init / vis_inception.0 do) are exactly PyTorch's. Hyper-parameters that
 * the state_dict lacks are read from the module attributes and written to __metadata__ (keys in model.h);
 * where every block carries its own copy, all copies must agree. A plain state_dict has no attributes: the
 * shapes give what they can, the rest keeps the seed's defaults. */
#define _GNU_SOURCE
#include "convert.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/util.h"
#include "../format/torchpickle.h"
#include "model.h"
#include "../format/safetensors.h"

#define MAX_MODULE_DEPTH 64

typedef struct {
    char *name;
    const cai_tp_tensor *t;
} ntensor;

typedef struct {
    char *path; /* "" for the root, else "a.b.c" */
    const cai_tp_obj *obj;
} nmodule;

typedef struct {
    const char *src;
    ntensor *t;
    size_t nt, capt;
    nmodule *m;
    size_t nm, capm;
    void **copies;
    size_t ncopies, capcopies;
    cai_err *err;
} ctx;

/* Room for element n (index) of an array: common/buf.h's growth rule. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem) { return cai_grow(arr, cap, n + 1, elem, 64); }

/* AstroMAE has ~500 tensors. The bound keeps hostile files from making the O(n^2) name checks (here and
 * in the safetensors writer) take minutes. */
#define MAX_TENSORS 20000

static int add_tensor(ctx *c, char *name, const cai_tp_tensor *t) {
    if (c->nt >= MAX_TENSORS) {
        free(name);
        return cai_seterr(c->err, CAI_EFORMAT, "%s: more than %d tensors: not a model checkpoint CAI can use", c->src,
                          MAX_TENSORS);
    }
    if (grow((void **)&c->t, &c->capt, c->nt, sizeof *c->t)) {
        free(name);
        return cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->src);
    }
    c->t[c->nt].name = name;
    c->t[c->nt++].t = t;
    return CAI_OK;
}

static int in_set(const cai_tp_obj *set, const cai_tp_obj *key) {
    if (!set || (set->kind != CAI_TP_SET && set->kind != CAI_TP_LIST)) return 0;
    for (size_t i = 0; i < set->n; i++)
        if (set->items[i]->kind == CAI_TP_STR && key->kind == CAI_TP_STR && set->items[i]->slen == key->slen &&
            memcmp(set->items[i]->s, key->s, key->slen) == 0)
            return 1;
    return 0;
}

static const char *shown(const char *path) { return *path ? path : "(root)"; }

/* Collect one of _parameters / _buffers. */
static int collect_dict(ctx *c, const cai_tp_obj *mod, const char *path, const char *which, const cai_tp_obj *skip) {
    const cai_tp_obj *d = cai_tp_attr(mod, which);
    if (!d || d->kind != CAI_TP_DICT)
        return cai_seterr(c->err, CAI_EFORMAT, "%s: module %s (%s) has no %s dict: not an nn.Module", c->src,
                          shown(path), cai_tp_class(mod), which);
    for (size_t i = 0; i < d->n; i++) {
        const cai_tp_obj *k = d->items[2 * i], *v = d->items[2 * i + 1];
        if (k->kind != CAI_TP_STR || !k->slen || memchr(k->s, 0, k->slen))
            return cai_seterr(c->err, CAI_EFORMAT, "%s: module %s: %s has a non-string key", c->src, shown(path),
                              which);
        if (v->kind == CAI_TP_NONE || in_set(skip, k)) continue;
        if (v->kind != CAI_TP_TENSOR)
            return cai_seterr(c->err, CAI_EFORMAT, "%s: module %s: %s[\"%s\"] is a %s, expected a tensor", c->src,
                              shown(path), which, k->s, cai_tp_kind_name(v->kind));
        char *name;
        if (asprintf(&name, "%s%s%s", path, *path ? "." : "", k->s) < 0)
            return cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->src);
        int rc = add_tensor(c, name, v->tensor);
        if (rc) return rc;
    }
    return CAI_OK;
}

static int walk(ctx *c, const cai_tp_obj *mod, const char *path, int depth) {
    if (depth > MAX_MODULE_DEPTH)
        return cai_seterr(c->err, CAI_EFORMAT, "%s: modules nested deeper than %d at %s (a cycle?)", c->src,
                          MAX_MODULE_DEPTH, shown(path));
    if (mod->kind != CAI_TP_OBJECT)
        return cai_seterr(c->err, CAI_EFORMAT, "%s: module %s is a %s, expected an nn.Module object", c->src,
                          shown(path), cai_tp_kind_name(mod->kind));
    if (grow((void **)&c->m, &c->capm, c->nm, sizeof *c->m)) return cai_seterr(c->err, CAI_ENOMEM, "out of memory");
    if (!(c->m[c->nm].path = strdup(path))) return cai_seterr(c->err, CAI_ENOMEM, "out of memory");
    c->m[c->nm++].obj = mod;
    int rc;
    if ((rc = collect_dict(c, mod, path, "_parameters", NULL)) ||
        (rc = collect_dict(c, mod, path, "_buffers", cai_tp_attr(mod, "_non_persistent_buffers_set"))))
        return rc;
    const cai_tp_obj *kids = cai_tp_attr(mod, "_modules");
    if (!kids || kids->kind != CAI_TP_DICT)
        return cai_seterr(c->err, CAI_EFORMAT, "%s: module %s (%s) has no _modules dict", c->src, shown(path),
                          cai_tp_class(mod));
    for (size_t i = 0; i < kids->n; i++) {
        const cai_tp_obj *k = kids->items[2 * i], *v = kids->items[2 * i + 1];
        if (k->kind != CAI_TP_STR || !k->slen || memchr(k->s, 0, k->slen))
            return cai_seterr(c->err, CAI_EFORMAT, "%s: module %s: child with a non-string name", c->src, shown(path));
        if (v->kind == CAI_TP_NONE) continue;
        char *sub;
        if (asprintf(&sub, "%s%s%s", path, *path ? "." : "", k->s) < 0)
            return cai_seterr(c->err, CAI_ENOMEM, "out of memory");
        rc = walk(c, v, sub, depth + 1);
        free(sub);
        if (rc) return rc;
    }
    return CAI_OK;
}

/* ---- hyper-parameters -------------------------------------------------------------------------------- */

/* Shortest decimal that reads back as the same double, like Python's repr ("1e-06", "0.125"). */
static void fmt_double(double v, char *buf, size_t n) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* A numeric attribute: a number, or a tuple of equal numbers (kernel_size=(1,1)). -1: absent; -2: odd. */
static int attr_number(const cai_tp_obj *mod, const char *name, double *out) {
    const cai_tp_obj *a = cai_tp_attr(mod, name);
    if (!a) return -1;
    if (a->kind == CAI_TP_TUPLE && a->n >= 1) {
        double first;
        if (cai_tp_number(a->items[0], &first)) return -2;
        for (size_t i = 1; i < a->n; i++) {
            double x;
            if (cai_tp_number(a->items[i], &x) || x != first) return -2;
        }
        *out = first;
        return 0;
    }
    return cai_tp_number(a, out) ? -2 : 0;
}

/* The value of `attr` on every module whose path matches `pattern` (and whose class ends with `cls_suffix`
 * when given). All must agree. Returns 1 found, 0 none, <0 error (set). */
static int hyper(ctx *c, const char *pattern, const char *cls_suffix, const char *attr, double *out) {
    int found = 0;
    const char *first_path = NULL;
    for (size_t i = 0; i < c->nm; i++) {
        if (fnmatch(pattern, c->m[i].path, 0) != 0) continue;
        const char *cls = cai_tp_class(c->m[i].obj);
        if (cls_suffix) {
            size_t a = strlen(cls), b = strlen(cls_suffix);
            if (a < b || strcmp(cls + a - b, cls_suffix) != 0) continue;
        }
        double v;
        int r = attr_number(c->m[i].obj, attr, &v);
        if (r == -1) continue;
        if (r == -2) {
            cai_seterr(c->err, CAI_EFORMAT, "%s: module %s: attribute %s is not a number (or a tuple of equal numbers)",
                       c->src, c->m[i].path, attr);
            return -1;
        }
        if (found && v != *out) {
            cai_seterr(c->err, CAI_EFORMAT,
                       "%s: modules %s and %s disagree on %s (%g vs %g): CAI supports one value "
                       "for every block",
                       c->src, first_path, c->m[i].path, attr, *out, v);
            return -1;
        }
        if (!found) first_path = c->m[i].path;
        *out = v;
        found = 1;
    }
    return found;
}

static const ntensor *find_t(const ctx *c, const char *name) {
    for (size_t i = 0; i < c->nt; i++)
        if (!strcmp(c->t[i].name, name)) return &c->t[i];
    return NULL;
}

static int meta_num(cai_st_writer *w, const char *key, double v, int integer, cai_err *err) {
    char buf[40];
    if (integer) snprintf(buf, sizeof buf, "%lld", (long long)v);
    else fmt_double(v, buf, sizeof buf);
    return cai_st_writer_meta(w, key, buf, err);
}

/* Metadata from attributes (whole model) and from shapes (both cases). */
static int write_meta(ctx *c, cai_st_writer *w, int whole, const char *variant, cai_err *err) {
    int rc;
    const char *base = strrchr(c->src, '/');
    base = base ? base + 1 : c->src;
    if ((rc = cai_st_writer_meta(w, "cai.format", "astromae-weights/1", err)) ||
        (rc = cai_st_writer_meta(w, "variant", variant, err)) || (rc = cai_st_writer_meta(w, "source", base, err)))
        return rc;
    /* From shapes. */
    const ntensor *cls = find_t(c, "cls_token"), *fc1 = find_t(c, "blocks.0.mlp.fc1.weight"),
                  *pe = find_t(c, "patch_embed.proj.weight"), *pcm0 = find_t(c, "blocks.0.PCM.0.weight");
    int64_t embed = 0;
    if (cls && cls->t->ndim == 3) {
        embed = cls->t->shape[2];
        if ((rc = meta_num(w, "embed_dim", (double)embed, 1, err))) return rc;
    }
    int depth = 0;
    for (size_t i = 0; i < c->nt; i++) {
        int b;
        if (sscanf(c->t[i].name, "blocks.%d.", &b) == 1 && b >= 0 && b < 100000 && b + 1 > depth) depth = b + 1;
    }
    if (depth && (rc = meta_num(w, "depth", depth, 1, err))) return rc;
    if (fc1 && embed > 0 && fc1->t->ndim == 2 && fc1->t->shape[0] % embed == 0 &&
        (rc = meta_num(w, "mlp_ratio", (double)(fc1->t->shape[0] / embed), 1, err)))
        return rc;
    if (pe && pe->t->ndim == 4 && (rc = meta_num(w, "patch_size", (double)pe->t->shape[2], 1, err))) return rc;
    if (pcm0 && pcm0->t->ndim == 4 && embed > 0 && pcm0->t->shape[1] > 0 && embed % pcm0->t->shape[1] == 0) {
        int64_t k = pcm0->t->shape[2];
        if ((rc = meta_num(w, "pcm_kernel", (double)k, 1, err)) ||
            (rc = meta_num(w, "pcm_groups", (double)(embed / pcm0->t->shape[1]), 1, err)) ||
            (rc = meta_num(w, "pcm_padding", (double)(k / 2), 1, err)))
            return rc;
    }
    if (!whole) return CAI_OK;

    /* From module attributes: these override what the shapes suggested, and must agree across blocks. */
    static const struct {
        const char *key, *pattern, *cls, *attr;
        int integer;
    } hp[] = {
        {"ln_eps", "blocks.*.norm[12]", NULL, "eps", 0},
        {"fc_norm_eps", "fc_norm", NULL, "eps", 0},
        {"num_heads", "blocks.*.attn", NULL, "num_heads", 1},
        {"attn_scale", "blocks.*.attn", NULL, "scale", 0},
        {"bn_eps", "inception_model.*", "BatchNorm2d", "eps", 0},
        {"pcm_bn_eps", "blocks.*.PCM.1", NULL, "eps", 0},
        {"pcm_kernel", "blocks.*.PCM.[03]", NULL, "kernel_size", 1},
        {"pcm_groups", "blocks.*.PCM.[03]", NULL, "groups", 1},
        {"pcm_padding", "blocks.*.PCM.[03]", NULL, "padding", 1},
        {"patch_size", "patch_embed.proj", NULL, "kernel_size", 1},
    };
    for (size_t i = 0; i < sizeof hp / sizeof *hp; i++) {
        double v;
        int r = hyper(c, hp[i].pattern, hp[i].cls, hp[i].attr, &v);
        if (r < 0) return c->err ? c->err->code : CAI_EFORMAT;
        if (r == 1 && (rc = meta_num(w, hp[i].key, v, hp[i].integer, err))) return rc;
    }
    double ks, st;
    if (hyper(c, "patch_embed.proj", NULL, "kernel_size", &ks) == 1 &&
        hyper(c, "patch_embed.proj", NULL, "stride", &st) == 1 && ks != st)
        return cai_seterr(err, CAI_EFORMAT, "%s: patch_embed.proj has stride %g != kernel %g: not supported", c->src,
                          st, ks);
    /* NormalCell's class_token flag (a bool attribute). */
    int seen = 0;
    int64_t flag = 1;
    for (size_t i = 0; i < c->nm; i++) {
        if (fnmatch("blocks.*", c->m[i].path, 0) != 0 || strchr(c->m[i].path + 7, '.')) continue;
        const cai_tp_obj *a = cai_tp_attr(c->m[i].obj, "class_token");
        if (!a) continue;
        if (a->kind != CAI_TP_BOOL && a->kind != CAI_TP_INT)
            return cai_seterr(err, CAI_EFORMAT, "%s: module %s: class_token is a %s, expected a bool", c->src,
                              c->m[i].path, cai_tp_kind_name(a->kind));
        if (seen && (a->i != 0) != (flag != 0))
            return cai_seterr(err, CAI_EFORMAT, "%s: blocks disagree on class_token", c->src);
        flag = a->i != 0;
        seen = 1;
    }
    if (seen && (rc = cai_st_writer_meta(w, "class_token", flag ? "true" : "false", err))) return rc;
    return CAI_OK;
}

static int st_dtype(cai_tp_dtype dt, cai_st_dtype *out) {
    switch (dt) {
    case CAI_TP_F32: *out = CAI_ST_F32; return 0;
    case CAI_TP_F64: *out = CAI_ST_F64; return 0;
    case CAI_TP_F16: *out = CAI_ST_F16; return 0;
    case CAI_TP_BF16: *out = CAI_ST_BF16; return 0;
    case CAI_TP_I64: *out = CAI_ST_I64; return 0;
    case CAI_TP_I32: *out = CAI_ST_I32; return 0;
    case CAI_TP_I8: *out = CAI_ST_I8; return 0;
    case CAI_TP_U8: *out = CAI_ST_U8; return 0;
    case CAI_TP_BOOLT: *out = CAI_ST_BOOL; return 0;
    default: return -1;
    }
}

static int is_data_parallel(const char *cls) {
    return cls && (!strcmp(cls, "torch.nn.parallel.data_parallel.DataParallel") ||
                   !strcmp(cls, "torch.nn.parallel.distributed.DistributedDataParallel"));
}

int cai_convert_checkpoint(const char *in, const char *out, cai_convert_info *info, cai_err *err) {
    memset(info, 0, sizeof *info);
    ctx c;
    memset(&c, 0, sizeof c);
    c.src = in;
    c.err = err;
    cai_file f;
    cai_tp_doc *d = NULL;
    cai_st_writer *w = NULL;
    int rc = cai_file_map(in, &f, err);
    if (rc) return rc;
    if ((rc = cai_tp_load_archive(f.data, f.len, in, 1, &d, err))) goto done;

    /* Find what holds the weights: unwrap DataParallel and {"model"/"state_dict": ...} checkpoint dicts. */
    const cai_tp_obj *root = cai_tp_root(d);
    int whole = 0;
    for (int hop = 0; hop < 4; hop++) {
        if (root->kind == CAI_TP_OBJECT && is_data_parallel(cai_tp_class(root))) {
            const cai_tp_obj *inner = cai_tp_dict_get(cai_tp_attr(root, "_modules"), "module");
            if (!inner) {
                rc = cai_seterr(err, CAI_EFORMAT, "%s: DataParallel without a 'module' child", in);
                goto done;
            }
            root = inner;
            continue;
        }
        if (root->kind == CAI_TP_DICT) {
            const cai_tp_obj *inner = cai_tp_dict_get(root, "state_dict");
            if (!inner) inner = cai_tp_dict_get(root, "model");
            if (inner && (inner->kind == CAI_TP_DICT || inner->kind == CAI_TP_OBJECT)) {
                root = inner;
                continue;
            }
        }
        break;
    }
    if (root->kind == CAI_TP_OBJECT) {
        whole = 1;
        if ((rc = walk(&c, root, "", 0))) goto done;
    } else if (root->kind == CAI_TP_DICT) {
        /* A state_dict: string → tensor; a "module." prefix on every key (DataParallel's) is dropped. */
        int all_prefixed = root->n > 0;
        for (size_t i = 0; i < root->n; i++) {
            const cai_tp_obj *k = root->items[2 * i], *v = root->items[2 * i + 1];
            if (k->kind != CAI_TP_STR || !k->slen || memchr(k->s, 0, k->slen)) {
                rc = cai_seterr(err, CAI_EFORMAT, "%s: state_dict has a non-string key", in);
                goto done;
            }
            if (v->kind != CAI_TP_TENSOR) {
                rc = cai_seterr(err, CAI_EFORMAT, "%s: state_dict[\"%s\"] is a %s, expected a tensor", in, k->s,
                                cai_tp_kind_name(v->kind));
                goto done;
            }
            if (strncmp(k->s, "module.", 7) != 0) all_prefixed = 0;
        }
        for (size_t i = 0; i < root->n; i++) {
            char *name = strdup(root->items[2 * i]->s + (all_prefixed ? 7 : 0));
            if (!name) {
                rc = cai_seterr(err, CAI_ENOMEM, "out of memory");
                goto done;
            }
            if ((rc = add_tensor(&c, name, root->items[2 * i + 1]->tensor))) goto done;
        }
    } else {
        const char *cls = cai_tp_class(root);
        rc = cai_seterr(err, CAI_EFORMAT, "%s: expected a model object or a state_dict, got a %s%s%s", in,
                        cai_tp_kind_name(root->kind), cls ? " " : "", cls ? cls : "");
        goto done;
    }
    if (c.nt == 0) {
        rc = cai_seterr(err, CAI_EFORMAT, "%s: no tensors found", in);
        goto done;
    }

    const char *variant = "vit";
    for (size_t i = 0; i < c.nt; i++)
        if (strstr(c.t[i].name, ".attn.q_bias") || strstr(c.t[i].name, ".PCM.")) variant = "vitae";

    w = cai_st_writer_new();
    if (!w) {
        rc = cai_seterr(err, CAI_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < c.nt; i++) {
        const cai_tp_tensor *t = c.t[i].t;
        cai_st_dtype dt;
        if (st_dtype(t->dtype, &dt)) {
            rc = cai_seterr(err, CAI_ESHAPE, "%s: tensor %s has dtype %s, which safetensors cannot hold here", in,
                            c.t[i].name, cai_tp_dtype_name(t->dtype));
            goto done;
        }
        if (t->ndim > CAI_ST_MAXDIM) {
            rc = cai_seterr(err, CAI_ESHAPE, "%s: tensor %s has %d dims (max %d)", in, c.t[i].name, t->ndim,
                            CAI_ST_MAXDIM);
            goto done;
        }
        const void *data = cai_tp_tensor_data(t);
        if (t->numel > 0 && !cai_tp_tensor_contiguous(t)) { /* e.g. a transposed view: write a packed copy */
            void *copy = malloc((size_t)t->numel * cai_tp_dtype_size(t->dtype));
            if (!copy || grow((void **)&c.copies, &c.capcopies, c.ncopies, sizeof *c.copies)) {
                free(copy);
                rc = cai_seterr(err, CAI_ENOMEM, "out of memory");
                goto done;
            }
            cai_tp_tensor_copy(t, copy);
            c.copies[c.ncopies++] = copy;
            data = copy;
        }
        if ((rc = cai_st_writer_add(w, c.t[i].name, dt, t->ndim, t->shape, data, err))) goto done;
        info->nvalues += t->numel;
    }
    if ((rc = write_meta(&c, w, whole, variant, err))) goto done;
    if ((rc = cai_st_writer_save(w, out, err))) goto done;
    info->ntensors = (int)c.nt;
    info->whole_model = whole;
    snprintf(info->variant, sizeof info->variant, "%s", variant);
done:
    cai_st_writer_free(w);
    for (size_t i = 0; i < c.nt; i++) free(c.t[i].name);
    for (size_t i = 0; i < c.nm; i++) free(c.m[i].path);
    for (size_t i = 0; i < c.ncopies; i++) free(c.copies[i]);
    free(c.t);
    free(c.m);
    free(c.copies);
    cai_tp_free(d);
    cai_file_unmap(&f);
    return rc;
}
