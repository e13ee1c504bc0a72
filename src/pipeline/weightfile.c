/* weightfile.c — see weightfile.h. */
#include "weightfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/util.h"
#include "../format/safetensors.h"

/* The description is cached per process: a warm Lambda or a pool worker runs many ranks with one file. */

static struct {
    char path[4096];
    char sha[65];
    char variant[16];
    char source[256];
    int untrained;
} wcache;

int cai_weightfile_describe(const char *path, cai_weightfile_info *wi, cai_err *err) {
    memset(wi, 0, sizeof *wi);
    if (strcmp(wcache.path, path) != 0) {
        cai_file f;
        int rc = cai_file_map(path, &f, err);
        if (rc) return rc;
        cai_sha256_hex(f.data, f.len, wcache.sha);
        cai_safetensors st;
        wcache.variant[0] = wcache.source[0] = 0;
        wcache.untrained = 0;
        cai_err e2 = {0};
        if (cai_st_parse(f.data, f.len, path, &st, &e2) == CAI_OK) {
            const char *v = cai_st_meta(&st, "variant");
            const char *s = cai_st_meta(&st, "source");
            const char *u = cai_st_meta(&st, "cai.untrained");
            snprintf(wcache.variant, sizeof wcache.variant, "%s", v ? v : "");
            snprintf(wcache.source, sizeof wcache.source, "%s", s ? s : "");
            /* "cai.untrained"="true", or the source cai_weights_random writes ("cai_weights_random(vitae, seed=42)").
             */
            wcache.untrained =
                (u && (!strcmp(u, "true") || !strcmp(u, "1"))) || (s && !strncmp(s, "cai_weights_random(", 19));
            cai_st_close(&st);
        }
        cai_file_unmap(&f);
        snprintf(wcache.path, sizeof wcache.path, "%s", path);
    }
    memcpy(wi->sha256, wcache.sha, sizeof wi->sha256);
    memcpy(wi->variant, wcache.variant, sizeof wi->variant);
    memcpy(wi->source, wcache.source, sizeof wi->source);
    wi->untrained = wcache.untrained;
    return CAI_OK;
}

int cai_weightfile_resolve(cai_store *st, const char *bucket, const char *spec, char *path, size_t n, cai_err *err) {
    if (!spec || !*spec)
        return cai_seterr(err, CAI_EARG, "no weights: pass --weights W.safetensors or set \"weights\" in the payload");
    if (access(spec, R_OK) == 0) {
        snprintf(path, n, "%s", spec);
        return CAI_OK;
    }
    if (!st || !bucket) return cai_seterr(err, CAI_ENOTFOUND, "weights '%s': no such local file", spec);
    /* A key in the payload's bucket: fetch once into TMPDIR, named by the key's hash. */
    uint8_t *buf;
    size_t len;
    int rc = cai_store_get(st, bucket, spec, &buf, &len, err);
    if (rc) return cai_err_prefix(err, "weights '%s' (neither a local file nor a key in bucket %s): ", spec, bucket);
    char h[65];
    cai_sha256_hex(buf, len, h);
    const char *tmp = getenv("TMPDIR");
    snprintf(path, n, "%s/cai-weights-%.16s.safetensors", tmp && *tmp ? tmp : "/tmp", h);
    if (access(path, R_OK) != 0) rc = cai_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
