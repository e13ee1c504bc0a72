/* safetensors.c — strict reader and aligned writer of the safetensors container.
 *
 * Layout: u64 LE header length N, N bytes of JSON (an object: "__metadata__" → {string: string}, and
 * name → {"dtype","shape","data_offsets":[begin,end]}), then the data region. Offsets are relative to the
 * start of the data region. We are stricter than the reference implementation in one place only where it
 * matters for safety: every byte of the data region must belong to exactly one tensor (no holes, no
 * overlaps), so a file cannot hide bytes or alias one tensor's storage into another. */
#include "safetensors.h"

#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [CAI_ST_F32] = {"F32", 4}, [CAI_ST_F64] = {"F64", 8}, [CAI_ST_F16] = {"F16", 2},
    [CAI_ST_BF16] = {"BF16", 2}, [CAI_ST_I64] = {"I64", 8}, [CAI_ST_I32] = {"I32", 4},
    [CAI_ST_I8] = {"I8", 1},     [CAI_ST_U8] = {"U8", 1},   [CAI_ST_BOOL] = {"BOOL", 1},
};
#define NDTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

size_t cai_st_dtype_size(cai_st_dtype dt) {
    return (int)dt >= 0 && (int)dt < NDTYPES ? dtypes[dt].size : 0;
}
const char *cai_st_dtype_name(cai_st_dtype dt) {
    return (int)dt >= 0 && (int)dt < NDTYPES ? dtypes[dt].name : "?";
}
static int dtype_parse(const char *s, cai_st_dtype *out) {
    for (int i = 0; i < NDTYPES; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *out = (cai_st_dtype)i;
            return 0;
        }
    return -1;
}

/* ------------------------------------------------------------------------------------------------ */
/* Reader                                                                                            */

/* JSON numbers are doubles: accept only exact non-negative integers below 2^53. */
static int json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (uint64_t)d;
    return 0;
}

typedef struct {
    uint64_t begin, end;
    int idx;
} span;
static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

void cai_st_close(cai_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->ntensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->meta_keys);
    free(st->meta_vals);
    cai_file_unmap(&st->file);
    memset(st, 0, sizeof *st);
}

static int parse_metadata(const cJSON *m, const char *name, cai_safetensors *st, cai_err *err) {
    if (!cJSON_IsObject(m)) return cai_seterr(err, CAI_EFORMAT, "%s: __metadata__ must be an object", name);
    int n = cJSON_GetArraySize(m);
    st->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    st->meta_vals = calloc((size_t)n + 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_vals) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, m) {
        if (!kv->string || !cJSON_IsString(kv) || !kv->valuestring)
            return cai_seterr(err, CAI_EFORMAT, "%s: __metadata__ value of \"%s\": expected a string", name,
                              kv->string ? kv->string : "?");
        for (int i = 0; i < st->nmeta; i++)
            if (!strcmp(st->meta_keys[i], kv->string))
                return cai_seterr(err, CAI_EFORMAT, "%s: __metadata__ key \"%s\" appears twice", name, kv->string);
        st->meta_keys[st->nmeta] = strdup(kv->string);
        st->meta_vals[st->nmeta] = strdup(kv->valuestring);
        st->nmeta++;
        if (!st->meta_keys[st->nmeta - 1] || !st->meta_vals[st->nmeta - 1])
            return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
    }
    return CAI_OK;
}

static int parse_tensor(const cJSON *t, const char *name, cai_st_tensor *out, uint64_t *begin, uint64_t *end,
                        cai_err *err) {
    const char *tn = t->string;
    if (!cJSON_IsObject(t)) return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": expected an object", name, tn);
    const cJSON *jd = NULL, *js = NULL, *jo = NULL, *f;
    cJSON_ArrayForEach(f, t) {
        if (!strcmp(f->string, "dtype") && !jd) jd = f;
        else if (!strcmp(f->string, "shape") && !js) js = f;
        else if (!strcmp(f->string, "data_offsets") && !jo) jo = f;
        else
            return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": unexpected or repeated field \"%s\"", name, tn,
                              f->string);
    }
    if (!cJSON_IsString(jd))
        return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": field \"dtype\": expected a string", name, tn);
    if (dtype_parse(jd->valuestring, &out->dtype))
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: tensor \"%s\": unknown dtype \"%s\" (expected F32, F64, F16, BF16, I64, I32, I8, U8 "
                          "or BOOL)",
                          name, tn, jd->valuestring);
    if (!cJSON_IsArray(js))
        return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": field \"shape\": expected an array", name, tn);
    int nd = cJSON_GetArraySize(js);
    if (nd > CAI_ST_MAXDIM)
        return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": %d dimensions, at most %d supported", name, tn, nd,
                          CAI_ST_MAXDIM);
    out->ndim = nd;
    uint64_t count = 1;
    int ovf = 0;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (json_u64(cJSON_GetArrayItem(js, i), &d))
            return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": shape[%d]: expected a non-negative integer", name,
                              tn, i);
        out->shape[i] = (int64_t)d;
        if (cai_mul_overflow(count, d, &count)) ovf = 1;
    }
    uint64_t nbytes;
    if (ovf || cai_mul_overflow(count, cai_st_dtype_size(out->dtype), &nbytes))
        return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": shape's byte size overflows", name, tn);
    if (count == 0) nbytes = 0;
    out->nbytes = nbytes;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || json_u64(cJSON_GetArrayItem(jo, 0), begin) ||
        json_u64(cJSON_GetArrayItem(jo, 1), end))
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: tensor \"%s\": field \"data_offsets\": expected [begin, end] non-negative integers",
                          name, tn);
    if (*end < *begin)
        return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] end before begin", name,
                          tn, (unsigned long long)*begin, (unsigned long long)*end);
    if (*end - *begin != nbytes)
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, but dtype %s and the "
                          "shape need %llu",
                          name, tn, (unsigned long long)*begin, (unsigned long long)*end,
                          (unsigned long long)(*end - *begin), jd->valuestring, (unsigned long long)nbytes);
    return CAI_OK;
}

int cai_st_parse(const void *buf, size_t len, const char *name, cai_safetensors *st, cai_err *err) {
    memset(st, 0, sizeof *st);
    const uint8_t *b = buf;
    if (!name) name = "safetensors";
    if (len < 8) return cai_seterr(err, CAI_EFORMAT, "%s: %zu bytes, too short for a safetensors header", name, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | b[i];
    /* The length is shown as the hex of its 8 bytes, never as a number or text: a path that names some other
     * file (a secret, say) must not have its first bytes echoed back in a readable form beyond these 8. */
    if (hlen > len - 8)
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: not safetensors: the header length (bytes %02x %02x %02x %02x %02x %02x %02x %02x) runs "
                          "past the end of the file (%zu bytes)", name, b[0], b[1], b[2], b[3], b[4], b[5], b[6],
                          b[7], len);
    if (hlen < 2 || b[8] != '{')
        return cai_seterr(err, CAI_EFORMAT, "%s: header does not start with a JSON object", name);
    const char *end_parse = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)b + 8, (size_t)hlen, &end_parse, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        size_t at = end_parse ? (size_t)(end_parse - (const char *)b - 8) : 0;
        return cai_seterr(err, CAI_EFORMAT, "%s: header is not valid JSON (near byte %zu of %llu)", name, at,
                          (unsigned long long)hlen);
    }
    /* Only padding spaces may follow the object (the format pads with 0x20). */
    for (const char *p = end_parse; p < (const char *)b + 8 + hlen; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r') {
            cJSON_Delete(root);
            return cai_seterr(err, CAI_EFORMAT, "%s: trailing bytes after the header's JSON object", name);
        }
    const uint8_t *data = b + 8 + hlen;
    uint64_t dlen = len - 8 - hlen;
    int n = cJSON_GetArraySize(root), rc = CAI_OK;
    span *sp = NULL;
    st->tensors = calloc((size_t)n + 1, sizeof *st->tensors);
    sp = calloc((size_t)n + 1, sizeof *sp);
    if (!st->tensors || !sp) {
        rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    int seen_meta = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, root) {
        if (!strcmp(t->string, "__metadata__")) {
            if (seen_meta++) {
                rc = cai_seterr(err, CAI_EFORMAT, "%s: __metadata__ appears twice", name);
                goto out;
            }
            if ((rc = parse_metadata(t, name, st, err))) goto out;
            continue;
        }
        cai_st_tensor *x = &st->tensors[st->ntensors];
        uint64_t bgn = 0, end = 0;
        if ((rc = parse_tensor(t, name, x, &bgn, &end, err))) goto out;
        if (end > dlen) {
            rc = cai_seterr(err, CAI_EFORMAT,
                            "%s: tensor \"%s\": data_offsets [%llu, %llu] out of range (data region is %llu bytes)",
                            name, t->string, (unsigned long long)bgn, (unsigned long long)end,
                            (unsigned long long)dlen);
            goto out;
        }
        x->name = strdup(t->string);
        if (!x->name) {
            rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
            goto out;
        }
        x->data = data + bgn;
        sp[st->ntensors] = (span){bgn, end, st->ntensors};
        st->ntensors++;
    }
    /* Names unique (cJSON keeps duplicate keys; a second "w" could shadow the first). */
    for (int i = 0; i < st->ntensors; i++)
        for (int j = i + 1; j < st->ntensors; j++)
            if (!strcmp(st->tensors[i].name, st->tensors[j].name)) {
                rc = cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\" appears twice", name, st->tensors[i].name);
                goto out;
            }
    /* Every data byte belongs to exactly one tensor. */
    qsort(sp, (size_t)st->ntensors, sizeof *sp, span_cmp);
    uint64_t pos = 0;
    for (int i = 0; i < st->ntensors; i++) {
        if (sp[i].begin < pos) {
            rc = cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] overlap another tensor",
                            name, st->tensors[sp[i].idx].name, (unsigned long long)sp[i].begin,
                            (unsigned long long)sp[i].end);
            goto out;
        }
        if (sp[i].begin > pos) {
            rc = cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] leave a hole at byte %llu",
                            name, st->tensors[sp[i].idx].name, (unsigned long long)sp[i].begin,
                            (unsigned long long)sp[i].end, (unsigned long long)pos);
            goto out;
        }
        pos = sp[i].end;
    }
    if (pos != dlen) {
        rc = cai_seterr(err, CAI_EFORMAT, "%s: data region is %llu bytes but tensors cover %llu", name,
                        (unsigned long long)dlen, (unsigned long long)pos);
        goto out;
    }
out:
    free(sp);
    cJSON_Delete(root);
    if (rc) cai_st_close(st);
    return rc;
}

int cai_st_open(const char *path, cai_safetensors *st, cai_err *err) {
    memset(st, 0, sizeof *st);
    cai_file f;
    int rc = cai_file_map(path, &f, err);
    if (rc) return rc;
    rc = cai_st_parse(f.data, f.len, path, st, err);
    if (rc) {
        cai_file_unmap(&f);
        return rc;
    }
    st->file = f;
    return CAI_OK;
}

const cai_st_tensor *cai_st_find(const cai_safetensors *st, const char *name) {
    for (int i = 0; i < st->ntensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

const char *cai_st_meta(const cai_safetensors *st, const char *key) {
    for (int i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_vals[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------------------ */
/* Writer                                                                                            */

typedef struct {
    char *name;
    cai_st_dtype dtype;
    int ndim;
    int64_t shape[CAI_ST_MAXDIM];
    uint64_t nbytes;
    const void *data;
} wtensor;

struct cai_st_writer {
    wtensor *t;
    int n, cap;
    char **mk, **mv;
    int nm, mcap;
};

cai_st_writer *cai_st_writer_new(void) { return calloc(1, sizeof(cai_st_writer)); }

void cai_st_writer_free(cai_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < w->nm; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->t);
    free(w->mk);
    free(w->mv);
    free(w);
}

int cai_st_writer_add(cai_st_writer *w, const char *name, cai_st_dtype dt, int ndim, const int64_t *shape,
                      const void *data, cai_err *err) {
    if (!w || !name || !*name || !strcmp(name, "__metadata__"))
        return cai_seterr(err, CAI_EARG, "safetensors writer: invalid tensor name \"%s\"", name ? name : "(null)");
    if (ndim < 0 || ndim > CAI_ST_MAXDIM || cai_st_dtype_size(dt) == 0)
        return cai_seterr(err, CAI_EARG, "safetensors writer: tensor \"%s\": bad dtype or ndim %d", name, ndim);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name))
            return cai_seterr(err, CAI_EARG, "safetensors writer: tensor \"%s\" added twice", name);
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || cai_mul_overflow(count, (uint64_t)shape[i], &count))
            return cai_seterr(err, CAI_EARG, "safetensors writer: tensor \"%s\": bad shape", name);
    uint64_t nbytes;
    if (cai_mul_overflow(count, cai_st_dtype_size(dt), &nbytes))
        return cai_seterr(err, CAI_EARG, "safetensors writer: tensor \"%s\": size overflows", name);
    if (nbytes && !data) return cai_seterr(err, CAI_EARG, "safetensors writer: tensor \"%s\": no data", name);
    if (w->n == w->cap) {
        int nc = w->cap ? w->cap * 2 : 64;
        wtensor *nt = realloc(w->t, (size_t)nc * sizeof *nt);
        if (!nt) return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory");
        w->t = nt;
        w->cap = nc;
    }
    wtensor *x = &w->t[w->n];
    memset(x, 0, sizeof *x);
    if (!(x->name = strdup(name))) return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory");
    x->dtype = dt;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->nbytes = nbytes;
    x->data = data;
    w->n++;
    return CAI_OK;
}

int cai_st_writer_meta(cai_st_writer *w, const char *key, const char *val, cai_err *err) {
    if (!w || !key || !val) return cai_seterr(err, CAI_EARG, "safetensors writer: NULL metadata key or value");
    for (int i = 0; i < w->nm; i++)
        if (!strcmp(w->mk[i], key)) { /* last write wins */
            char *v = strdup(val);
            if (!v) return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory");
            free(w->mv[i]);
            w->mv[i] = v;
            return CAI_OK;
        }
    if (w->nm == w->mcap) {
        int nc = w->mcap ? w->mcap * 2 : 16;
        char **a = realloc(w->mk, (size_t)nc * sizeof *a);
        if (!a) return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory");
        w->mk = a;
        char **b = realloc(w->mv, (size_t)nc * sizeof *b);
        if (!b) return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory");
        w->mv = b;
        w->mcap = nc;
    }
    w->mk[w->nm] = strdup(key);
    w->mv[w->nm] = strdup(val);
    w->nm++;
    if (!w->mk[w->nm - 1] || !w->mv[w->nm - 1]) return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory");
    return CAI_OK;
}

/* Growable string for the JSON header. */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;
static void sb_putn(sbuf *s, const char *x, size_t k) {
    if (s->oom) return;
    if (s->n + k + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->n + k + 1) nc *= 2;
        char *np = realloc(s->p, nc);
        if (!np) {
            s->oom = 1;
            return;
        }
        s->p = np;
        s->cap = nc;
    }
    memcpy(s->p + s->n, x, k);
    s->n += k;
    s->p[s->n] = 0;
}
static void sb_puts(sbuf *s, const char *x) { sb_putn(s, x, strlen(x)); }
static void sb_printf(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *s, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) sb_putn(s, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}
static void sb_jstr(sbuf *s, const char *x) {
    sb_puts(s, "\"");
    for (const unsigned char *c = (const unsigned char *)x; *c; c++) {
        if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            sb_putn(s, e, 2);
        } else if (*c < 0x20) {
            sb_printf(s, "\\u%04x", *c);
        } else {
            sb_putn(s, (const char *)c, 1);
        }
    }
    sb_puts(s, "\"");
}

/* Data order: largest element size first (stable), so that every tensor starts naturally aligned once
 * the data region itself is 64-byte aligned. Header order follows insertion order. */
static int build(cai_st_writer *w, uint8_t **out, size_t *outlen, cai_err *err) {
    *out = NULL;
    *outlen = 0;
    uint64_t *off = calloc((size_t)w->n + 1, sizeof *off);
    if (!off) return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory");
    uint64_t pos = 0;
    for (size_t sz = 8; sz >= 1; sz /= 2)
        for (int i = 0; i < w->n; i++)
            if (cai_st_dtype_size(w->t[i].dtype) == sz) {
                off[i] = pos;
                if (cai_add_overflow(pos, w->t[i].nbytes, &pos)) {
                    free(off);
                    return cai_seterr(err, CAI_EARG, "safetensors writer: total size overflows");
                }
            }
    sbuf s = {0};
    sb_puts(&s, "{");
    int first = 1;
    if (w->nm) {
        sb_puts(&s, "\"__metadata__\":{");
        for (int i = 0; i < w->nm; i++) {
            if (i) sb_puts(&s, ",");
            sb_jstr(&s, w->mk[i]);
            sb_puts(&s, ":");
            sb_jstr(&s, w->mv[i]);
        }
        sb_puts(&s, "}");
        first = 0;
    }
    for (int i = 0; i < w->n; i++) {
        if (!first) sb_puts(&s, ",");
        first = 0;
        sb_jstr(&s, w->t[i].name);
        sb_printf(&s, ":{\"dtype\":\"%s\",\"shape\":[", cai_st_dtype_name(w->t[i].dtype));
        for (int d = 0; d < w->t[i].ndim; d++) sb_printf(&s, "%s%lld", d ? "," : "", (long long)w->t[i].shape[d]);
        sb_printf(&s, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off[i],
                  (unsigned long long)(off[i] + w->t[i].nbytes));
    }
    sb_puts(&s, "}");
    while (!s.oom && (8 + s.n) % 64) sb_puts(&s, " ");
    uint64_t total;
    if (s.oom || cai_add_overflow(8 + s.n, pos, &total) || total > SIZE_MAX) {
        free(s.p);
        free(off);
        return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory");
    }
    uint8_t *buf = malloc((size_t)total ? (size_t)total : 1);
    if (!buf) {
        free(s.p);
        free(off);
        return cai_seterr(err, CAI_ENOMEM, "safetensors writer: out of memory (%llu bytes)",
                          (unsigned long long)total);
    }
    uint64_t h = s.n;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(h >> (8 * i));
    memcpy(buf + 8, s.p, s.n);
    uint8_t *data = buf + 8 + s.n;
    for (int i = 0; i < w->n; i++)
        if (w->t[i].nbytes) memcpy(data + off[i], w->t[i].data, (size_t)w->t[i].nbytes);
    free(s.p);
    free(off);
    *out = buf;
    *outlen = (size_t)total;
    return CAI_OK;
}

int cai_st_writer_serialize(cai_st_writer *w, uint8_t **out, size_t *len, cai_err *err) {
    return build(w, out, len, err);
}

int cai_st_writer_save(cai_st_writer *w, const char *path, cai_err *err) {
    uint8_t *buf;
    size_t len;
    int rc = build(w, &buf, &len, err);
    if (rc) return cai_err_prefix(err, "%s: ", path);
    rc = cai_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
