/* weightfile.c — see weightfile.h. */
#include "weightfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The weights cache: ${TMPDIR:-/tmp}/cai-weights-<uid>/, created 0700 and used only if it is a real directory
 * (not a link) that this user owns and nobody else can write. Why: TMPDIR is shared, and a predictable file
 * name there let another user plant weights that a run then used (issue 9, item 8). */
static int weights_cache_dir(char *dir, size_t n, cai_err *err) {
    const char *tmp = getenv("TMPDIR");
    int w = snprintf(dir, n, "%s/cai-weights-%lu", tmp && *tmp ? tmp : "/tmp", (unsigned long)getuid());
    if (w < 0 || (size_t)w >= n) return cai_seterr(err, CAI_EARG, "weights cache: TMPDIR is too long");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cai_seterr(err, CAI_EIO, "weights cache %s: cannot create: %s", dir, strerror(errno));
    struct stat st;
    if (lstat(dir, &st) != 0) return cai_seterr(err, CAI_EIO, "weights cache %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077))
        return cai_seterr(err, CAI_EIO,
                          "weights cache %s: not a private directory of this user (%s, owner uid %lu, mode %03o); "
                          "remove it or set TMPDIR elsewhere",
                          dir,
                          S_ISLNK(st.st_mode)   ? "a symbolic link"
                          : S_ISDIR(st.st_mode) ? "a directory"
                                                : "not a directory",
                          (unsigned long)st.st_uid, (unsigned)(st.st_mode & 0777));
    return CAI_OK;
}

/* Does `path` hold exactly the bytes whose sha256 is `want`? (a regular file, not a link) */
static int cached_file_matches(const char *path, const char *want) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == getuid();
    close(fd);
    if (!ok) return 0;
    cai_file f;
    cai_err e = {0};
    if (cai_file_map(path, &f, &e) != CAI_OK) return 0;
    char h[65];
    cai_sha256_hex(f.data, f.len, h);
    cai_file_unmap(&f);
    return strcmp(h, want) == 0;
}

int cai_weightfile_resolve(cai_store *st, const char *bucket, const char *spec, char *path, size_t n, cai_err *err) {
    if (!spec || !*spec)
        return cai_seterr(err, CAI_EARG, "no weights: pass --weights W.safetensors or set \"weights\" in the payload");
    if (access(spec, R_OK) == 0) {
        snprintf(path, n, "%s", spec);
        return CAI_OK;
    }
    if (!st || !bucket) return cai_seterr(err, CAI_ENOTFOUND, "weights '%s': no such local file", spec);
    /* A key in the payload's bucket: fetched, then kept in the private cache under its full sha256. A file
     * already there is used only if its bytes hash to the same sha256; anything else is replaced. */
    uint8_t *buf;
    size_t len;
    int rc = cai_store_get(st, bucket, spec, &buf, &len, err);
    if (rc) return cai_err_prefix(err, "weights '%s' (neither a local file nor a key in bucket %s): ", spec, bucket);
    char h[65], dir[4096];
    cai_sha256_hex(buf, len, h);
    if ((rc = weights_cache_dir(dir, sizeof dir, err))) {
        free(buf);
        return rc;
    }
    int w = snprintf(path, n, "%s/%s.safetensors", dir, h);
    if (w < 0 || (size_t)w >= n) rc = cai_seterr(err, CAI_EARG, "weights cache: path too long");
    else if (!cached_file_matches(path, h)) {
        unlink(path); /* a stale or planted file, or a link: never written through */
        rc = cai_write_file_atomic(path, buf, len, err);
        if (!rc && !cached_file_matches(path, h))
            rc = cai_seterr(err, CAI_EIO, "weights cache %s: the file changed after it was written", path);
    }
    free(buf);
    return rc;
}
