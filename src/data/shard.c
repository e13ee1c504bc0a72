/* shard.c — CAI shards (cai-shard/1) on top of the safetensors container.
 *
 * Why safetensors: a Python user reads a shard with one line, the data region is raw little-endian arrays
 * that we map and use in place (the writer pads the header so the data region is 64-byte aligned and puts
 * 8-byte dtypes first, so every tensor is naturally aligned), and the header-then-ranges layout suits HTTP
 * range reads. Why per-tensor checksums rather than one over the file: the manifest already carries the
 * whole object's sha256; the in-file checksums let a reader verify each tensor it fetched on its own. */
#include "shard.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_tensors[] = {"images", "magnitudes", "ids", "redshift", "objid", "ra", "dec"};
#define NKNOWN 7

void cai_shard_close(cai_shard *s) {
    if (!s) return;
    cai_st_close(&s->st);
    memset(s, 0, sizeof *s);
}

/* A decimal int64 with nothing else around it. */
static int parse_i64(const char *v, int64_t *out) {
    if (!v || !*v) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || (v[0] != '-' && (v[0] < '0' || v[0] > '9'))) return -1;
    *out = (int64_t)x;
    return 0;
}

static int is_sha_tag(const char *v) {
    if (!v || strncmp(v, "sha256:", 7) != 0 || strlen(v) != 7 + 64) return 0;
    for (const char *p = v + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static const char *shape_str(const cai_st_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? "," : "", t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "%s)", t->ndim == 1 ? "," : "");
    return buf;
}

/* Check dtype and shape (n_or_neg, rest...) of a tensor; n_or_neg < 0 means "take N from this tensor". */
static int check_tensor(const cai_st_tensor *t, const char *name, const char *want, int ok_f32, int ok_f64, int ok_i64,
                        int ndim, const int64_t *rest, cai_err *err) {
    int dt_ok =
        (ok_f32 && t->dtype == CAI_ST_F32) || (ok_f64 && t->dtype == CAI_ST_F64) || (ok_i64 && t->dtype == CAI_ST_I64);
    char sb[128];
    if (!dt_ok || t->ndim != ndim)
        return cai_seterr(err, CAI_ESHAPE, "%s: tensor \"%s\": expected %s, got %s %s", name, t->name, want,
                          cai_st_dtype_name(t->dtype), shape_str(t, sb, sizeof sb));
    for (int i = 1; i < ndim; i++)
        if (t->shape[i] != rest[i - 1])
            return cai_seterr(err, CAI_ESHAPE, "%s: tensor \"%s\": expected %s, got %s %s", name, t->name, want,
                              cai_st_dtype_name(t->dtype), shape_str(t, sb, sizeof sb));
    size_t align = cai_st_dtype_size(t->dtype);
    if (t->nbytes && ((uintptr_t)t->data % align))
        return cai_seterr(err, CAI_EFORMAT, "%s: tensor \"%s\": data is not %zu-byte aligned (cannot be used in place)",
                          name, t->name, align);
    return CAI_OK;
}

int cai_shard_parse(const void *buf, size_t len, const char *name, unsigned flags, cai_shard *s, cai_err *err) {
    return cai_shard_parse_ex(buf, len, name, flags, NULL, NULL, s, err);
}

int cai_shard_parse_ex(const void *buf, size_t len, const char *name, unsigned flags,
                       void (*done)(void *ctx, const void *p, size_t n), void *ctx, cai_shard *s, cai_err *err) {
    memset(s, 0, sizeof *s);
    if (!name) name = "shard";
    int rc = cai_st_parse(buf, len, name, &s->st, err);
    if (rc) return rc;
    const cai_safetensors *st = &s->st;

    const char *fmt = cai_st_meta(st, "cai.format");
    if (!fmt) {
        rc = cai_seterr(err, CAI_EFORMAT,
                        "%s: a safetensors file but not a CAI shard (no __metadata__ \"cai.format\"; expected \"%s\")",
                        name, CAI_SHARD_FORMAT);
        goto fail;
    }
    if (strcmp(fmt, CAI_SHARD_FORMAT) != 0) {
        rc = cai_seterr(err, CAI_EFORMAT, "%s: unsupported shard format \"%s\" (this cai reads \"%s\")", name, fmt,
                        CAI_SHARD_FORMAT);
        goto fail;
    }
    for (int i = 0; i < st->ntensors; i++) {
        int known = 0;
        for (int k = 0; k < NKNOWN; k++) known |= !strcmp(st->tensors[i].name, known_tensors[k]);
        if (!known) {
            rc = cai_seterr(err, CAI_EKEY,
                            "%s: unexpected tensor \"%s\" (a shard holds images, magnitudes, ids and optionally "
                            "redshift, objid, ra, dec)",
                            name, st->tensors[i].name);
            goto fail;
        }
    }
    const cai_st_tensor *ti = cai_st_find(st, "images"), *tm = cai_st_find(st, "magnitudes"),
                        *td = cai_st_find(st, "ids"), *tz = cai_st_find(st, "redshift"), *to = cai_st_find(st, "objid"),
                        *tra = cai_st_find(st, "ra"), *tde = cai_st_find(st, "dec");
    const char *missing = !ti ? "images" : !tm ? "magnitudes" : !td ? "ids" : NULL;
    if (missing) {
        rc = cai_seterr(err, CAI_EKEY, "%s: missing tensor \"%s\"", name, missing);
        goto fail;
    }
    static const int64_t img_rest[] = {5, 32, 32}, mag_rest[] = {5};
    if ((rc = check_tensor(ti, name, "F32 (N,5,32,32)", 1, 0, 0, 4, img_rest, err)) ||
        (rc = check_tensor(tm, name, "F64 or F32 (N,5)", 1, 1, 0, 2, mag_rest, err)) ||
        (rc = check_tensor(td, name, "I64 (N,)", 0, 0, 1, 1, NULL, err)) ||
        (tz && (rc = check_tensor(tz, name, "F32 (N,)", 1, 0, 0, 1, NULL, err))) ||
        (to && (rc = check_tensor(to, name, "I64 (N,)", 0, 0, 1, 1, NULL, err))) ||
        (tra && (rc = check_tensor(tra, name, "F64 (N,) degrees", 0, 1, 0, 1, NULL, err))) ||
        (tde && (rc = check_tensor(tde, name, "F64 (N,) degrees", 0, 1, 0, 1, NULL, err))))
        goto fail;
    if (!tra != !tde) {
        rc = cai_seterr(err, CAI_EKEY, "%s: tensor \"%s\" without \"%s\" (positions need both ra and dec)", name,
                        tra ? "ra" : "dec", tra ? "dec" : "ra");
        goto fail;
    }
    int64_t n = ti->shape[0];
    const cai_st_tensor *rows[] = {tm, td, tz, to, tra, tde};
    for (int i = 0; i < 6; i++)
        if (rows[i] && rows[i]->shape[0] != n) {
            rc = cai_seterr(err, CAI_ESHAPE, "%s: tensor \"%s\" has %" PRId64 " rows but \"images\" has %" PRId64, name,
                            rows[i]->name, rows[i]->shape[0], n);
            goto fail;
        }

    /* Checksums: required for every tensor (a shard without them could not be trusted later either), and
     * checked before the metadata is compared with the data, so corruption is reported as corruption. */
    const cai_st_tensor *all[] = {ti, tm, td, tz, to, tra, tde};
    for (int i = 0; i < 7; i++) {
        if (!all[i]) continue;
        char key[64];
        snprintf(key, sizeof key, "checksum.%s", all[i]->name);
        const char *v = cai_st_meta(st, key);
        if (!is_sha_tag(v)) {
            rc =
                cai_seterr(err, CAI_EKEY, "%s: __metadata__ \"%s\": expected \"sha256:<64 lowercase hex>\", got %s%s%s",
                           name, key, v ? "\"" : "", v ? v : "nothing", v ? "\"" : "");
            goto fail;
        }
    }
    if (!(flags & CAI_SHARD_NO_VERIFY) && (rc = cai_shard_verify(s, name, 0, done, ctx, err))) goto fail;

    int64_t g;
    const char *gv = cai_st_meta(st, "galaxies");
    if (!gv || parse_i64(gv, &g) || g < 0) {
        rc = cai_seterr(err, CAI_EKEY, "%s: __metadata__ \"galaxies\": expected a non-negative integer, got %s%s%s",
                        name, gv ? "\"" : "", gv ? gv : "nothing", gv ? "\"" : "");
        goto fail;
    }
    if (g != n) {
        rc = cai_seterr(err, CAI_ESHAPE, "%s: __metadata__ \"galaxies\" says %" PRId64 " but the tensors hold %" PRId64,
                        name, g, n);
        goto fail;
    }
    const int64_t *ids = td->data;
    const char *idk[2] = {"id_first", "id_last"};
    for (int k = 0; k < 2; k++) {
        const char *v = cai_st_meta(st, idk[k]);
        if (n == 0) continue; /* no ids to agree with; the keys are absent or ignored */
        int64_t x;
        if (!v || parse_i64(v, &x)) {
            rc = cai_seterr(err, CAI_EKEY, "%s: __metadata__ \"%s\": expected an integer, got %s%s%s", name, idk[k],
                            v ? "\"" : "", v ? v : "nothing", v ? "\"" : "");
            goto fail;
        }
        int64_t want = k == 0 ? ids[0] : ids[n - 1];
        if (x != want) {
            rc = cai_seterr(err, CAI_EFORMAT,
                            "%s: __metadata__ \"%s\" is %" PRId64 " but tensor \"ids\" %s with %" PRId64, name, idk[k],
                            x, k == 0 ? "starts" : "ends", want);
            goto fail;
        }
    }

    s->n = n;
    s->images = ti->data;
    s->mags = tm->data;
    s->mag_dtype = tm->dtype == CAI_ST_F64 ? CAI_F64 : CAI_F32;
    s->ids = ids;
    s->redshift = tz ? tz->data : NULL;
    s->objid = to ? to->data : NULL;
    s->ra = tra ? tra->data : NULL;
    s->dec = tde ? tde->data : NULL;
    s->partition = cai_st_meta(st, "partition");
    return CAI_OK;
fail:
    cai_st_close(&s->st);
    memset(s, 0, sizeof *s);
    return rc;
}

int cai_shard_verify(const cai_shard *s, const char *name, size_t chunk,
                     void (*done)(void *ctx, const void *p, size_t n), void *ctx, cai_err *err) {
    if (!name) name = "shard";
    if (!chunk) chunk = 8u << 20;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
    int rc = CAI_OK;
    for (int i = 0; i < s->st.ntensors && !rc; i++) {
        const cai_st_tensor *t = &s->st.tensors[i];
        char key[64];
        snprintf(key, sizeof key, "checksum.%s", t->name);
        const char *want = cai_st_meta(&s->st, key);
        if (!is_sha_tag(want)) {
            rc = cai_seterr(err, CAI_EKEY, "%s: __metadata__ \"%s\" missing or malformed", name, key);
            break;
        }
        uint8_t dg[32];
        unsigned dl = 0;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
            rc = cai_seterr(err, CAI_EINTERNAL, "%s: sha256 init failed", name);
            break;
        }
        const uint8_t *p = t->data;
        for (uint64_t off = 0; off < t->nbytes;) {
            size_t k = t->nbytes - off < chunk ? (size_t)(t->nbytes - off) : chunk;
            EVP_DigestUpdate(md, p + off, k);
            if (done) done(ctx, p + off, k);
            off += k;
        }
        EVP_DigestFinal_ex(md, dg, &dl);
        char hex[65];
        for (int k = 0; k < 32; k++) snprintf(hex + 2 * k, 3, "%02x", dg[k]);
        if (strcmp(hex, want + 7) != 0)
            rc = cai_seterr(err, CAI_EFORMAT,
                            "%s: checksum mismatch in tensor \"%s\": the file says sha256 %.12s…, the data hashes to "
                            "%.12s… (corrupted or truncated)",
                            name, t->name, want + 7, hex);
    }
    EVP_MD_CTX_free(md);
    return rc;
}

int cai_shard_open(const char *path, unsigned flags, cai_shard *s, cai_err *err) {
    memset(s, 0, sizeof *s);
    cai_file f;
    int rc = cai_file_map(path, &f, err);
    if (rc) return rc;
    rc = cai_shard_parse(f.data, f.len, path, flags, s, err);
    if (rc) {
        cai_file_unmap(&f);
        return rc;
    }
    s->st.file = f; /* cai_st_close (via cai_shard_close) unmaps it */
    return CAI_OK;
}

/* Build the writer with tensors and metadata (checksums computed from the caller's arrays). */
static int make_writer(const cai_shard_data *d, cai_st_writer **out, cai_err *err) {
    *out = NULL;
    if (!d || d->n < 0 || (d->n > 0 && (!d->images || !d->mags || !d->ids)))
        return cai_seterr(err, CAI_EARG, "shard writer: missing arrays or negative galaxy count");
    if (!d->ra != !d->dec) return cai_seterr(err, CAI_EARG, "shard writer: ra without dec (or dec without ra)");
    cai_st_writer *w = cai_st_writer_new();
    if (!w) return cai_seterr(err, CAI_ENOMEM, "shard writer: out of memory");
    int64_t n = d->n;
    const int64_t si[] = {n, 5, 32, 32}, sm[] = {n, 5}, s1[] = {n};
    struct {
        const char *name;
        cai_st_dtype dt;
        int ndim;
        const int64_t *shape;
        const void *data;
        size_t nbytes;
    } t[] = {
        {"images", CAI_ST_F32, 4, si, d->images, (size_t)n * 5 * 32 * 32 * sizeof(float)},
        {"magnitudes", CAI_ST_F64, 2, sm, d->mags, (size_t)n * 5 * sizeof(double)},
        {"ids", CAI_ST_I64, 1, s1, d->ids, (size_t)n * sizeof(int64_t)},
        {"redshift", CAI_ST_F32, 1, s1, d->redshift, (size_t)n * sizeof(float)},
        {"objid", CAI_ST_I64, 1, s1, d->objid, (size_t)n * sizeof(int64_t)},
        {"ra", CAI_ST_F64, 1, s1, d->ra, (size_t)n * sizeof(double)},
        {"dec", CAI_ST_F64, 1, s1, d->dec, (size_t)n * sizeof(double)},
    };
    char buf[80];
    int rc = cai_st_writer_meta(w, "cai.format", CAI_SHARD_FORMAT, err);
    snprintf(buf, sizeof buf, "%" PRId64, n);
    if (!rc) rc = cai_st_writer_meta(w, "galaxies", buf, err);
    if (!rc && n > 0) {
        snprintf(buf, sizeof buf, "%" PRId64, d->ids[0]);
        rc = cai_st_writer_meta(w, "id_first", buf, err);
        snprintf(buf, sizeof buf, "%" PRId64, d->ids[n - 1]);
        if (!rc) rc = cai_st_writer_meta(w, "id_last", buf, err);
    }
    if (!rc && d->partition) rc = cai_st_writer_meta(w, "partition", d->partition, err);
    for (int i = 0; i < 7 && !rc; i++) {
        if (!t[i].data && i >= 3) continue; /* the optional tensors */
        rc = cai_st_writer_add(w, t[i].name, t[i].dt, t[i].ndim, t[i].shape, t[i].data, err);
        if (rc) break;
        char key[64], hex[65];
        snprintf(key, sizeof key, "checksum.%s", t[i].name);
        cai_sha256_hex(t[i].nbytes ? t[i].data : "", t[i].nbytes, hex);
        snprintf(buf, sizeof buf, "sha256:%s", hex);
        rc = cai_st_writer_meta(w, key, buf, err);
    }
    if (rc) {
        cai_st_writer_free(w);
        return rc;
    }
    *out = w;
    return CAI_OK;
}

int cai_shard_serialize(const cai_shard_data *d, uint8_t **out, size_t *len, cai_err *err) {
    *out = NULL;
    *len = 0;
    cai_st_writer *w;
    int rc = make_writer(d, &w, err);
    if (rc) return rc;
    rc = cai_st_writer_serialize(w, out, len, err);
    cai_st_writer_free(w);
    return rc;
}

int cai_shard_write(const char *path, const cai_shard_data *d, uint64_t *bytes_out, char sha256_hex_out[65],
                    cai_err *err) {
    uint8_t *buf;
    size_t len;
    int rc = cai_shard_serialize(d, &buf, &len, err);
    if (rc) return cai_err_prefix(err, "%s: ", path);
    if (sha256_hex_out) cai_sha256_hex(buf, len, sha256_hex_out);
    if (bytes_out) *bytes_out = len;
    rc = cai_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

int cai_shard_header_bytes(const void *first8, size_t len, const char *name, uint64_t *need, cai_err *err) {
    if (!name) name = "shard";
    if (len < 8) return cai_seterr(err, CAI_EFORMAT, "%s: %zu bytes, too short for a safetensors header", name, len);
    const uint8_t *b = first8;
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | b[i];
    if (h < 2 || h > 100u * 1024 * 1024)
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: the safetensors header length (bytes %02x %02x %02x %02x %02x %02x %02x %02x) is out "
                          "of range (2 .. 100 MB)",
                          name, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
    *need = 8 + h;
    return CAI_OK;
}
