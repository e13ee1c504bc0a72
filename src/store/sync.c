/* sync.c — see sync.h. Threads pull file indexes from one atomic counter; each file is mapped (never read
 * whole into the heap twice), hashed once, and the hash is reused for the PUT's x-amz-content-sha256. */
#define _GNU_SOURCE
#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../common/buf.h"
#include "../common/util.h"
#include "s3.h"

typedef struct {
    char *path; /* on disk */
    char *key;  /* in the bucket */
} sync_file;

typedef struct {
    sync_file *v;
    size_t n, cap;
} file_vec;

static int vec_push(file_vec *f, char *path, char *key) {
    if (cai_grow(&f->v, &f->cap, f->n + 1, sizeof *f->v, 256)) return -1;
    f->v[f->n++] = (sync_file){path, key};
    return 0;
}

static int walk(const char *dir, const char *keypfx, file_vec *out, int depth, cai_err *err) {
    if (depth > 64) return cai_seterr(err, CAI_EARG, "sync: %s: directories nested deeper than 64", dir);
    DIR *d = opendir(dir);
    if (!d) return cai_seterr(err, errno == ENOENT ? CAI_ENOTFOUND : CAI_EIO, "sync: %s: %s", dir, strerror(errno));
    int rc = CAI_OK;
    struct dirent *e;
    while (rc == CAI_OK && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *path = NULL, *key = NULL;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) path = NULL;
        if (asprintf(&key, "%s%s", keypfx, e->d_name) < 0) key = NULL;
        if (!path || !key) {
            free(path);
            free(key);
            rc = cai_seterr(err, CAI_ENOMEM, "sync: out of memory");
            break;
        }
        struct stat lst, st;
        if (lstat(path, &lst) != 0 || stat(path, &st) != 0) {
            rc = cai_seterr(err, CAI_EIO, "sync: %s: %s", path, strerror(errno));
        } else if (S_ISDIR(lst.st_mode)) { /* a real directory (symlinked ones are skipped: no cycles) */
            char *sub = NULL;
            if (asprintf(&sub, "%s/", key) < 0) rc = cai_seterr(err, CAI_ENOMEM, "sync: out of memory");
            else rc = walk(path, sub, out, depth + 1, err);
            free(sub);
        } else if (S_ISREG(st.st_mode)) {
            if (vec_push(out, path, key)) rc = cai_seterr(err, CAI_ENOMEM, "sync: out of memory");
            else continue; /* owned by out now */
        }
        free(path);
        free(key);
    }
    closedir(d);
    return rc;
}

static int cmp_file(const void *a, const void *b) {
    return strcmp(((const sync_file *)a)->key, ((const sync_file *)b)->key);
}

static void md5_hex(const void *d, size_t n, char hex[33]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    EVP_Digest(d, n, md, &ml, EVP_md5(), NULL);
    for (unsigned i = 0; i < ml && i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[32] = 0;
}

typedef struct {
    cai_store *st;
    const char *bucket;
    const cai_sync_opts *o;
    file_vec *files;
    const cai_keylist *have; /* sorted by key */
    size_t next;             /* atomic */
    pthread_mutex_t mu;      /* res, first error, log */
    cai_sync_result res;
    cai_err first;
    int nerr;
} sync_ctx;

static int find_key(const cai_keylist *l, const char *key) {
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->keys[mid], key);
        if (!c) return (int)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* Is the object at key the same as data? Only called when the sizes match. *why gets the reason. */
static int same_content(sync_ctx *c, const char *key, const cai_file *f, const char *sha, const char **why,
                        cai_err *err) {
    if (cai_store_is_s3(c->st)) {
        cai_s3_object_info info;
        int rc = cai_s3_head_info(c->st, c->bucket, key, &info, err);
        if (rc == CAI_ENOTFOUND) return 0; /* deleted since the LIST */
        if (rc) return -rc;
        if (info.sha256[0]) {
            *why = "same sha256";
            return !strcmp(info.sha256, sha);
        }
        if (strlen(info.etag) == 32 && !strchr(info.etag, '-')) {
            char md5[33];
            md5_hex(f->data, f->len, md5);
            *why = "same MD5 ETag";
            return !strcasecmp(info.etag, md5);
        }
        return 0; /* a multipart object without our metadata: cannot tell cheaply, upload */
    }
    uint8_t *d;
    size_t n;
    int rc = cai_store_get(c->st, c->bucket, key, &d, &n, err);
    if (rc == CAI_ENOTFOUND) return 0;
    if (rc) return -rc;
    char sha2[65];
    cai_sha256_hex(d, n, sha2);
    free(d);
    *why = "same sha256";
    return !strcmp(sha, sha2);
}

static void *worker(void *u) {
    sync_ctx *c = u;
    for (;;) {
        size_t i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED);
        if (i >= c->files->n) break;
        sync_file *sf = &c->files->v[i];
        cai_err err = {0};
        cai_file f;
        int rc = cai_file_map(sf->path, &f, &err);
        int skip = 0;
        const char *why = "";
        if (rc == CAI_OK) {
            char sha[65];
            cai_sha256_hex(f.len ? (const void *)f.data : "", f.len, sha);
            int at = find_key(c->have, sf->key);
            if (at >= 0 && c->have->sizes[at] == f.len) {
                int same = same_content(c, sf->key, &f, sha, &why, &err);
                if (same < 0) rc = -same;
                else skip = same;
            }
            if (rc == CAI_OK && !skip && !c->o->dry_run)
                rc = cai_s3_put_sha(c->st, c->bucket, sf->key, f.len ? (const void *)f.data : "", f.len, sha, &err);
            pthread_mutex_lock(&c->mu);
            if (rc == CAI_OK && skip) {
                c->res.skipped++;
                c->res.bytes_skipped += f.len;
            } else if (rc == CAI_OK) {
                c->res.uploaded++;
                c->res.bytes_uploaded += f.len;
            }
            if (c->o->log && rc == CAI_OK) {
                if (skip) fprintf(c->o->log, "skip %s/%s (%s)\n", c->bucket, sf->key, why);
                else
                    fprintf(c->o->log, "%s %s/%s (%zu bytes)\n", c->o->dry_run ? "would upload" : "upload", c->bucket,
                            sf->key, f.len);
            }
            pthread_mutex_unlock(&c->mu);
            cai_file_unmap(&f);
        }
        if (rc != CAI_OK) {
            pthread_mutex_lock(&c->mu);
            c->res.failed++;
            if (c->nerr++ == 0) c->first = err;
            if (c->o->log) fprintf(c->o->log, "FAILED %s/%s: %s\n", c->bucket, sf->key, err.msg);
            pthread_mutex_unlock(&c->mu);
        }
    }
    return NULL;
}

int cai_sync_upload(cai_store *st, const char *dir, const char *bucket, const char *prefix, const cai_sync_opts *o,
                    cai_sync_result *res, cai_err *err) {
    static const cai_sync_opts defaults = {0};
    if (!o) o = &defaults;
    memset(res, 0, sizeof *res);
    double t0 = cai_mono_now();
    char *pfx = NULL;
    size_t pl = prefix ? strlen(prefix) : 0;
    if (asprintf(&pfx, "%s%s", pl ? prefix : "", pl && prefix[pl - 1] != '/' ? "/" : "") < 0)
        return cai_seterr(err, CAI_ENOMEM, "sync: out of memory");
    file_vec files = {0};
    cai_keylist have = {0};
    int rc = walk(dir, pfx, &files, 0, err);
    if (rc == CAI_OK) {
        qsort(files.v, files.n, sizeof *files.v, cmp_file);
        rc = cai_store_list(st, bucket, pfx, &have, err);
        if (rc == CAI_ENOTFOUND) { /* a local store without the bucket directory yet: nothing there */
            rc = CAI_OK;
            memset(&have, 0, sizeof have);
        }
        if (rc) cai_err_prefix(err, "sync: ");
    }
    if (rc == CAI_OK) {
        /* LIST order is byte order, the same as strcmp: binary search works on it as it is. */
        sync_ctx c = {.st = st, .bucket = bucket, .o = o, .files = &files, .have = &have};
        pthread_mutex_init(&c.mu, NULL);
        int nt = o->threads > 0 ? o->threads : 8;
        if ((size_t)nt > files.n) nt = files.n ? (int)files.n : 1;
        pthread_t *th = calloc((size_t)nt, sizeof *th);
        int started = 0;
        if (th)
            for (; started < nt; started++)
                if (pthread_create(&th[started], NULL, worker, &c) != 0) break;
        if (started == 0) worker(&c); /* could not start threads: do it here */
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        free(th);
        pthread_mutex_destroy(&c.mu);
        *res = c.res;
        res->files = files.n;
        if (c.nerr) {
            rc = c.first.code ? (int)c.first.code : CAI_EINTERNAL;
            cai_seterr(err, (cai_code)rc, "sync %s → %s/%s: %d of %zu files failed; first: %s", dir, bucket, pfx,
                       c.nerr, files.n, c.first.msg);
        }
    }
    res->seconds = cai_mono_now() - t0;
    for (size_t i = 0; i < files.n; i++) {
        free(files.v[i].path);
        free(files.v[i].key);
    }
    free(files.v);
    cai_keylist_free(&have);
    free(pfx);
    return rc;
}

void cai_sync_summary(const cai_sync_result *r, char *buf, size_t n) {
    double mb_up = (double)r->bytes_uploaded / 1e6, mb_skip = (double)r->bytes_skipped / 1e6;
    snprintf(buf, n,
             "sync: %llu uploaded (%.1f MB), %llu skipped (unchanged, %.1f MB), %llu failed in %.2f s (%.1f MB/s)",
             (unsigned long long)r->uploaded, mb_up, (unsigned long long)r->skipped, mb_skip,
             (unsigned long long)r->failed, r->seconds, r->seconds > 0 ? mb_up / r->seconds : 0.0);
}
