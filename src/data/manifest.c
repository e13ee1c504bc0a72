/* manifest.c — streamed JSONL manifest of partitions, and its strict reader.
 * Each line is parsed on its own with cJSON (a few hundred bytes), so memory stays flat however many
 * partitions there are; the whole-file reader keeps only the compact entries. */
#include "manifest.h"

#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/buf.h"

/* ------------------------------------------------------------------------------------------------ */
/* Writer                                                                                            */

struct cai_manifest_writer {
    char dir[4096];
    char final[4200];
    char tmp[4300];
    FILE *fp;
    int64_t n, galaxies, id_first, id_last;
    uint64_t bytes;
    int format; /* 0 none yet, else the common format, -1 mixed */
};

int cai_manifest_writer_open(const char *dir, cai_manifest_writer **out, cai_err *err) {
    *out = NULL;
    int rc = cai_mkdirs(dir, err);
    if (rc) return rc;
    cai_manifest_writer *w = calloc(1, sizeof *w);
    if (!w) return cai_seterr(err, CAI_ENOMEM, "manifest: out of memory");
    if (snprintf(w->dir, sizeof w->dir, "%s", dir) >= (int)sizeof w->dir) {
        free(w);
        return cai_seterr(err, CAI_EARG, "%s: path too long", dir);
    }
    snprintf(w->final, sizeof w->final, "%s/%s", dir, CAI_MANIFEST_JSONL);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%ld", w->final, (long)getpid());
    w->fp = fopen(w->tmp, "wb");
    if (!w->fp) {
        rc = cai_seterr(err, CAI_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
        free(w);
        return rc;
    }
    *out = w;
    return CAI_OK;
}

void cai_manifest_writer_abort(cai_manifest_writer *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    unlink(w->tmp);
    free(w);
}

int cai_manifest_writer_add(cai_manifest_writer *w, const cai_manifest_entry *e, cai_err *err) {
    if (!e->key || !*e->key || e->galaxies < 0 || (e->format != CAI_PART_SHARD && e->format != CAI_PART_SEEDPT))
        return cai_seterr(err, CAI_EARG, "manifest: entry %" PRId64 ": missing key, bad galaxy count or format",
                          w->n + 1);
    /* JSON numbers are doubles: beyond 2^53 an id or size would be silently rounded. */
    const double lim = 9007199254740992.0;
    if ((double)e->galaxies > lim || (double)e->bytes > lim ||
        (e->galaxies > 0 && (llabs(e->id_first) > (long long)lim || llabs(e->id_last) > (long long)lim)))
        return cai_seterr(err, CAI_EARG, "manifest: %s: ids and sizes must be within +-2^53 to survive JSON", e->key);
    cJSON *o = cJSON_CreateObject();
    if (!o) return cai_seterr(err, CAI_ENOMEM, "manifest: out of memory");
    cJSON_AddStringToObject(o, "key", e->key);
    cJSON_AddNumberToObject(o, "galaxies", (double)e->galaxies);
    cJSON_AddNumberToObject(o, "bytes", (double)e->bytes);
    cJSON_AddStringToObject(o, "sha256", e->sha256);
    if (e->galaxies > 0) {
        cJSON_AddNumberToObject(o, "id_first", (double)e->id_first);
        cJSON_AddNumberToObject(o, "id_last", (double)e->id_last);
    } else {
        cJSON_AddNullToObject(o, "id_first");
        cJSON_AddNullToObject(o, "id_last");
    }
    cJSON_AddStringToObject(o, "format", cai_part_format_name(e->format));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return cai_seterr(err, CAI_ENOMEM, "manifest: out of memory");
    int bad = fputs(s, w->fp) < 0 || fputc('\n', w->fp) == EOF;
    free(s);
    if (bad) return cai_seterr(err, CAI_EIO, "%s: write failed: %s", w->tmp, strerror(errno));
    if (e->galaxies > 0) {
        if (w->galaxies == 0 || e->id_first < w->id_first) w->id_first = e->id_first;
        if (w->galaxies == 0 || e->id_last > w->id_last) w->id_last = e->id_last;
    }
    w->n++;
    w->galaxies += e->galaxies;
    w->bytes += e->bytes;
    w->format = w->format == 0 ? (int)e->format : w->format == (int)e->format ? w->format : -1;
    return CAI_OK;
}

int cai_manifest_writer_finish(cai_manifest_writer *w, int64_t per_partition, cai_err *err) {
    int rc = CAI_OK;
    if (fflush(w->fp) != 0 || fsync(fileno(w->fp)) != 0) {
        rc = cai_seterr(err, CAI_EIO, "%s: write failed: %s", w->tmp, strerror(errno));
        cai_manifest_writer_abort(w);
        return rc;
    }
    fclose(w->fp);
    w->fp = NULL;
    if (rename(w->tmp, w->final) != 0) {
        rc = cai_seterr(err, CAI_EIO, "%s: cannot rename into place: %s", w->final, strerror(errno));
        cai_manifest_writer_abort(w);
        return rc;
    }
    /* The sidecar: totals and the JSONL's own checksum, so a reader can tell the pair belongs together. */
    char *buf = NULL;
    size_t len = 0;
    if ((rc = cai_read_file(w->final, &buf, &len, err))) {
        free(w);
        return rc;
    }
    char hex[65];
    cai_sha256_hex(buf, len, hex);
    free(buf);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "cai-manifest/1");
    cJSON_AddNumberToObject(o, "partitions", (double)w->n);
    cJSON_AddNumberToObject(o, "galaxies", (double)w->galaxies);
    cJSON_AddNumberToObject(o, "bytes", (double)w->bytes);
    if (w->galaxies > 0) {
        cJSON_AddNumberToObject(o, "id_first", (double)w->id_first);
        cJSON_AddNumberToObject(o, "id_last", (double)w->id_last);
    }
    if (per_partition > 0) cJSON_AddNumberToObject(o, "galaxies_per_partition", (double)per_partition);
    cJSON_AddStringToObject(o, "partition_format",
                            w->format > 0 ? cai_part_format_name((cai_part_format)w->format) : "mixed");
    cJSON_AddStringToObject(o, "manifest_sha256", hex);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) {
        free(w);
        return cai_seterr(err, CAI_ENOMEM, "manifest: out of memory");
    }
    char side[4300];
    snprintf(side, sizeof side, "%s/%s", w->dir, CAI_MANIFEST_SIDECAR);
    size_t sl = strlen(s);
    s[sl] = '\n'; /* the buffer holds sl+1 bytes: the NUL becomes the file's final newline */
    rc = cai_write_file_atomic(side, s, sl + 1, err);
    free(s);
    free(w);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* Reader                                                                                            */

void cai_manifest_iter_init(cai_manifest_iter *it, const void *buf, size_t len, const char *name) {
    memset(it, 0, sizeof *it);
    it->buf = buf;
    it->len = len;
    it->name = name ? name : CAI_MANIFEST_JSONL;
}

/* JSON numbers are doubles: accept exact integers of magnitude at most 2^53. */
static int json_int(const cJSON *j, int64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!isfinite(d) || fabs(d) > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (int64_t)d;
    return 0;
}

static const char *kind_of(const cJSON *j) {
    return !j                  ? "nothing"
           : cJSON_IsString(j) ? "a string"
           : cJSON_IsNumber(j) ? "a number"
           : cJSON_IsNull(j)   ? "null"
           : cJSON_IsBool(j)   ? "a boolean"
           : cJSON_IsArray(j)  ? "an array"
                               : "an object";
}

static int key_ok(const char *k) {
    size_t n = strlen(k);
    if (n == 0 || n > CAI_MANIFEST_KEY_MAX || k[0] == '/') return 0;
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\\') return 0;
    /* No "." or ".." path segment: a key must not climb out of the data prefix. */
    const char *seg = k;
    for (;;) {
        const char *sl = strchr(seg, '/');
        size_t sn = sl ? (size_t)(sl - seg) : strlen(seg);
        if (sn == 0 || (sn == 1 && seg[0] == '.') || (sn == 2 && seg[0] == '.' && seg[1] == '.')) return 0;
        if (!sl) break;
        seg = sl + 1;
    }
    return 1;
}

#define BAD(code, ...) cai_seterr(err, code, __VA_ARGS__)

static int parse_line(cai_manifest_iter *it, const char *s, size_t n, cai_manifest_entry *e, cai_err *err) {
    const char *nm = it->name;
    int64_t ln = it->line;
    cJSON *o = cJSON_ParseWithLength(s, n);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        BAD(CAI_EFORMAT, "%s:%" PRId64 ": expected one JSON object per line", nm, ln);
        return -1;
    }
    int r = -1;
    memset(e, 0, sizeof *e);
    e->line = ln;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "galaxies");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "bytes");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "sha256");
    const cJSON *f0 = cJSON_GetObjectItemCaseSensitive(o, "id_first");
    const cJSON *f1 = cJSON_GetObjectItemCaseSensitive(o, "id_last");
    const cJSON *fm = cJSON_GetObjectItemCaseSensitive(o, "format");
    const char *missing = !k ? "key" : !g ? "galaxies" : !b ? "bytes" : !h ? "sha256" : !fm ? "format" : NULL;
    int64_t v;
    if (missing) {
        BAD(CAI_EKEY, "%s:%" PRId64 ": missing field \"%s\"", nm, ln, missing);
        goto out;
    }
    if (!cJSON_IsString(k) || !key_ok(k->valuestring)) {
        BAD(CAI_EFORMAT,
            "%s:%" PRId64
            ": field \"key\": expected a relative object key (1..%d bytes, no leading '/', no '.' or "
            "'..' segments, no control characters), got %s",
            nm, ln, CAI_MANIFEST_KEY_MAX, kind_of(k));
        goto out;
    }
    memcpy(it->key, k->valuestring, strlen(k->valuestring) + 1);
    e->key = it->key;
    if (json_int(g, &v) || v < 0) {
        BAD(CAI_EFORMAT, "%s:%" PRId64 ": field \"galaxies\": expected a non-negative integer, got %s", nm, ln,
            kind_of(g));
        goto out;
    }
    e->galaxies = v;
    if (json_int(b, &v) || v < 0) {
        BAD(CAI_EFORMAT, "%s:%" PRId64 ": field \"bytes\": expected a non-negative integer, got %s", nm, ln,
            kind_of(b));
        goto out;
    }
    e->bytes = (uint64_t)v;
    int hex_ok = cJSON_IsString(h) && strlen(h->valuestring) == 64;
    for (int i = 0; hex_ok && i < 64; i++) {
        char c = h->valuestring[i];
        hex_ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }
    if (!hex_ok) {
        BAD(CAI_EFORMAT, "%s:%" PRId64 ": field \"sha256\": expected 64 lowercase hex digits", nm, ln);
        goto out;
    }
    memcpy(e->sha256, h->valuestring, 65);
    if (!cJSON_IsString(fm) || (strcmp(fm->valuestring, "shard") && strcmp(fm->valuestring, "pt"))) {
        BAD(CAI_EFORMAT, "%s:%" PRId64 ": field \"format\": expected \"shard\" or \"pt\"", nm, ln);
        goto out;
    }
    e->format = !strcmp(fm->valuestring, "shard") ? CAI_PART_SHARD : CAI_PART_SEEDPT;
    e->id_first = e->id_last = -1;
    if (e->galaxies > 0) {
        if (!f0 || json_int(f0, &e->id_first)) {
            BAD(f0 ? CAI_EFORMAT : CAI_EKEY, "%s:%" PRId64 ": field \"id_first\": expected an integer, got %s", nm, ln,
                kind_of(f0));
            goto out;
        }
        if (!f1 || json_int(f1, &e->id_last)) {
            BAD(f1 ? CAI_EFORMAT : CAI_EKEY, "%s:%" PRId64 ": field \"id_last\": expected an integer, got %s", nm, ln,
                kind_of(f1));
            goto out;
        }
        if (e->id_last < e->id_first) {
            BAD(CAI_EFORMAT, "%s:%" PRId64 ": id_last %" PRId64 " is below id_first %" PRId64, nm, ln, e->id_last,
                e->id_first);
            goto out;
        }
    } else if ((f0 && !cJSON_IsNull(f0)) || (f1 && !cJSON_IsNull(f1))) {
        BAD(CAI_EFORMAT, "%s:%" PRId64 ": an empty partition must have null id_first/id_last", nm, ln);
        goto out;
    }
    r = 1;
out:
    cJSON_Delete(o);
    return r;
}

int cai_manifest_next(cai_manifest_iter *it, cai_manifest_entry *e, cai_err *err) {
    while (it->pos < it->len) {
        const char *s = it->buf + it->pos;
        size_t left = it->len - it->pos;
        const char *nl = memchr(s, '\n', left);
        size_t n = nl ? (size_t)(nl - s) : left;
        it->pos += nl ? n + 1 : n;
        it->line++;
        size_t a = 0;
        while (a < n && (s[a] == ' ' || s[a] == '\t' || s[a] == '\r')) a++;
        if (a == n) continue; /* blank line */
        return parse_line(it, s, n, e, err);
    }
    return 0;
}

void cai_manifest_free(cai_manifest *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++) free((char *)m->v[i].key);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* Duplicate detection with a hash set of indices (10^5+ entries: no quadratic scan). */
static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int cai_manifest_parse(const void *buf, size_t len, const char *name, cai_manifest *m, cai_err *err) {
    memset(m, 0, sizeof *m);
    if (!name) name = CAI_MANIFEST_JSONL;
    cai_manifest_iter *it = malloc(sizeof *it);
    if (!it) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
    cai_manifest_iter_init(it, buf, len, name);
    size_t cap = 0;
    cai_manifest_entry e;
    int r, rc = CAI_OK;
    while ((r = cai_manifest_next(it, &e, err)) == 1) {
        if (cai_grow(&m->v, &cap, (size_t)m->n + 1, sizeof *m->v, 64)) {
            rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
            goto fail;
        }
        e.key = strdup(e.key);
        if (!e.key) {
            rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
            goto fail;
        }
        m->v[m->n++] = e;
        m->galaxies += e.galaxies;
        m->bytes += e.bytes;
    }
    if (r < 0) {
        rc = err ? err->code : CAI_EFORMAT;
        goto fail;
    }
    if (m->n == 0) {
        rc = cai_seterr(err, CAI_EFORMAT, "%s: no partitions listed", name);
        goto fail;
    }
    {
        size_t hcap = 1;
        while (hcap < (size_t)m->n * 2) hcap <<= 1;
        int64_t *tab = malloc(hcap * sizeof *tab);
        if (!tab) {
            rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
            goto fail;
        }
        for (size_t i = 0; i < hcap; i++) tab[i] = -1;
        for (int64_t i = 0; i < m->n && !rc; i++) {
            size_t slot = (size_t)fnv(m->v[i].key) & (hcap - 1);
            while (tab[slot] >= 0) {
                if (!strcmp(m->v[tab[slot]].key, m->v[i].key)) {
                    rc = cai_seterr(err, CAI_EFORMAT, "%s:%" PRId64 ": key \"%s\" already listed on line %" PRId64,
                                    name, m->v[i].line, m->v[i].key, m->v[tab[slot]].line);
                    break;
                }
                slot = (slot + 1) & (hcap - 1);
            }
            tab[slot] = i;
        }
        free(tab);
        if (rc) goto fail;
    }
    free(it);
    return CAI_OK;
fail:
    free(it);
    cai_manifest_free(m);
    return rc;
}

int cai_manifest_load(const char *path, cai_manifest *m, cai_err *err) {
    memset(m, 0, sizeof *m);
    char *buf;
    size_t len;
    int rc = cai_read_file(path, &buf, &len, err);
    if (rc) return rc;
    rc = cai_manifest_parse(buf, len, path, m, err);
    free(buf);
    return rc;
}

int cai_manifest_verify_bytes(const cai_manifest_entry *e, const void *buf, size_t len, cai_err *err) {
    if ((uint64_t)len != e->bytes)
        return cai_seterr(err, CAI_EFORMAT, "%s: %zu bytes, but the manifest says %" PRIu64, e->key, len, e->bytes);
    char hex[65];
    cai_sha256_hex(buf, len, hex);
    if (strcmp(hex, e->sha256) != 0)
        return cai_seterr(err, CAI_EFORMAT, "%s: sha256 %.12s… does not match the manifest's %.12s…", e->key, hex,
                          e->sha256);
    return CAI_OK;
}

int cai_manifest_hash_file(const char *path, uint64_t *bytes, char hex[65], cai_err *err) {
    cai_file f;
    int rc = cai_file_map(path, &f, err);
    if (rc) return rc;
    cai_sha256_hex(f.data, f.len, hex);
    *bytes = f.len;
    cai_file_unmap(&f);
    return CAI_OK;
}
