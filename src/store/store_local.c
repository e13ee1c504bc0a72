/* store_local.c — the local-directory backend: bucket B's key K is the file ROOT/B/K.
 * Why a directory per bucket: the seed's payload names two buckets (`bucket` for code/results,
 * `data_bucket` for partitions); keeping both lets a user `aws s3 sync s3://B DIR/B` and run unchanged.
 * Keys are S3-style ("25MB/1.pt"); they must never escape ROOT, so ".." segments, absolute keys, empty
 * segments and NUL-free-but-odd names are rejected before any path is built. put is atomic (temp file +
 * fsync + rename, via cai_write_file_atomic), so a reader (resume, summarize) never sees half an object. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/util.h"

typedef struct {
    cai_store base;
    char *root; /* without trailing '/' */
} local_store;

/* A bucket is one path segment; a key is one or more '/'-separated segments. Neither may be empty,
 * ".", "..", start with '/', or hold control characters. A trailing '/' is allowed only for prefixes. */
static int check_segments(const char *what, const char *s, int allow_trailing_slash, int allow_empty,
                          cai_err *err) {
    if (!s) return cai_seterr(err, CAI_EARG, "store: %s is NULL", what);
    size_t n = strlen(s);
    if (n == 0) {
        if (allow_empty) return CAI_OK;
        return cai_seterr(err, CAI_EARG, "store: empty %s", what);
    }
    if (s[0] == '/') return cai_seterr(err, CAI_EARG, "store: %s '%s' is absolute (keys are relative)", what, s);
    if (n > 1024) return cai_seterr(err, CAI_EARG, "store: %s is longer than 1024 bytes", what);
    if (s[n - 1] == '/' && !allow_trailing_slash)
        return cai_seterr(err, CAI_EARG, "store: %s '%s' ends with '/'", what, s);
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0) return cai_seterr(err, CAI_EARG, "store: %s '%s' has an empty path segment", what, s);
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return cai_seterr(err, CAI_EARG, "store: %s '%s' has a '.' or '..' segment (keys may not leave the store)",
                              what, s);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] < 0x20)
                return cai_seterr(err, CAI_EARG, "store: %s has a control character", what);
        if (!e) break;
        p = e + 1;
    }
    return CAI_OK;
}

static int check_bucket(const char *bucket, cai_err *err) {
    int rc = check_segments("bucket", bucket, 0, 0, err);
    if (rc) return rc;
    if (strchr(bucket, '/')) return cai_seterr(err, CAI_EARG, "store: bucket '%s' contains '/'", bucket);
    return CAI_OK;
}

static int obj_path(local_store *ls, const char *bucket, const char *key, char *out, size_t n, cai_err *err) {
    int rc = check_bucket(bucket, err);
    if (rc) return rc;
    if ((rc = check_segments("key", key, 0, 0, err))) return rc;
    int w = snprintf(out, n, "%s/%s/%s", ls->root, bucket, key);
    if (w < 0 || (size_t)w >= n) return cai_seterr(err, CAI_EARG, "store: path for %s/%s is too long", bucket, key);
    return CAI_OK;
}

static int errno_code(int e) { return e == ENOENT || e == ENOTDIR ? CAI_ENOTFOUND : CAI_EIO; }

static int l_get(cai_store *s, const char *bucket, const char *key, uint8_t **data, size_t *len, cai_err *err) {
    *data = NULL;
    *len = 0;
    char path[4096];
    int rc = obj_path((local_store *)s, bucket, key, path, sizeof path, err);
    if (rc) return rc;
    char *buf;
    size_t n;
    rc = cai_read_file(path, &buf, &n, err);
    if (rc == CAI_ENOTFOUND)
        return cai_seterr(err, CAI_ENOTFOUND, "store %s: object %s/%s not found", s->url, bucket, key);
    if (rc) return rc;
    *data = (uint8_t *)buf;
    *len = n;
    return CAI_OK;
}

static int l_get_range(cai_store *s, const char *bucket, const char *key, uint64_t off, uint64_t len,
                       uint8_t **data, size_t *got, cai_err *err) {
    *data = NULL;
    *got = 0;
    char path[4096];
    int rc = obj_path((local_store *)s, bucket, key, path, sizeof path, err);
    if (rc) return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cai_seterr(err, errno_code(errno), "store %s: object %s/%s: %s", s->url, bucket, key,
                          errno == ENOENT ? "not found" : strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cai_seterr(err, CAI_EIO, "store %s: object %s/%s is not a regular file", s->url, bucket, key);
    }
    uint64_t size = (uint64_t)st.st_size;
    /* Like an HTTP Range: a range starting past the end is an error; one running past it is clipped. */
    if (off > size || (off == size && len > 0 && size > 0)) {
        close(fd);
        return cai_seterr(err, CAI_EARG, "store %s: range %llu+%llu outside %s/%s (%llu bytes)", s->url,
                          (unsigned long long)off, (unsigned long long)len, bucket, key, (unsigned long long)size);
    }
    uint64_t want = size - off < len ? size - off : len;
    uint8_t *buf = malloc(want ? want : 1);
    if (!buf) {
        close(fd);
        return cai_seterr(err, CAI_ENOMEM, "store: out of memory for %llu bytes", (unsigned long long)want);
    }
    uint64_t done = 0;
    while (done < want) {
        ssize_t r = pread(fd, buf + done, want - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            return cai_seterr(err, CAI_EIO, "store %s: read %s/%s: %s", s->url, bucket, key,
                              r == 0 ? "unexpected end of file" : strerror(e));
        }
        done += (uint64_t)r;
    }
    close(fd);
    *data = buf;
    *got = (size_t)want;
    return CAI_OK;
}

static int l_put(cai_store *s, const char *bucket, const char *key, const void *data, size_t len, cai_err *err) {
    char path[4096];
    int rc = obj_path((local_store *)s, bucket, key, path, sizeof path, err);
    if (rc) return rc;
    rc = cai_write_file_atomic(path, data, len, err);
    if (rc) cai_err_prefix(err, "store %s: put %s/%s: ", s->url, bucket, key);
    return rc;
}

static int l_head(cai_store *s, const char *bucket, const char *key, uint64_t *size, cai_err *err) {
    char path[4096];
    int rc = obj_path((local_store *)s, bucket, key, path, sizeof path, err);
    if (rc) return rc;
    struct stat st;
    if (stat(path, &st) != 0)
        return cai_seterr(err, errno_code(errno), "store %s: object %s/%s: %s", s->url, bucket, key,
                          errno == ENOENT ? "not found" : strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cai_seterr(err, CAI_ENOTFOUND, "store %s: object %s/%s not found (a directory)", s->url, bucket, key);
    if (size) *size = (uint64_t)st.st_size;
    return CAI_OK;
}

static int l_del(cai_store *s, const char *bucket, const char *key, cai_err *err) {
    char path[4096];
    int rc = obj_path((local_store *)s, bucket, key, path, sizeof path, err);
    if (rc) return rc;
    /* S3 semantics: deleting a missing object succeeds. */
    if (unlink(path) != 0 && errno != ENOENT)
        return cai_seterr(err, CAI_EIO, "store %s: delete %s/%s: %s", s->url, bucket, key, strerror(errno));
    return CAI_OK;
}

/* ---- list: walk ROOT/B recursively, keep regular files whose key starts with prefix ---- */

typedef struct {
    cai_keylist *out;
    size_t cap;
} list_acc;

static int acc_push(list_acc *a, const char *key, uint64_t size, cai_err *err) {
    if (a->out->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        char **k = realloc(a->out->keys, nc * sizeof *k);
        if (!k) return cai_seterr(err, CAI_ENOMEM, "store: out of memory while listing");
        a->out->keys = k;
        uint64_t *sz = realloc(a->out->sizes, nc * sizeof *sz);
        if (!sz) return cai_seterr(err, CAI_ENOMEM, "store: out of memory while listing");
        a->out->sizes = sz;
        a->cap = nc;
    }
    char *dup = strdup(key);
    if (!dup) return cai_seterr(err, CAI_ENOMEM, "store: out of memory while listing");
    a->out->keys[a->out->n] = dup;
    a->out->sizes[a->out->n] = size;
    a->out->n++;
    return CAI_OK;
}

/* Temp files of an in-flight atomic put ("<key>.tmp.<pid>") are not objects yet: hide them. */
static int is_tmp_name(const char *name) {
    const char *t = strstr(name, ".tmp.");
    if (!t) return 0;
    t += 5;
    if (!*t) return 0;
    for (; *t; t++)
        if (*t < '0' || *t > '9') return 0;
    return 1;
}

static int walk(const char *dirpath, const char *keypfx, const char *prefix, list_acc *a, int depth, cai_err *err) {
    if (depth > 64) return cai_seterr(err, CAI_EIO, "store: %s: directories nested too deep", dirpath);
    /* Prune: descend only if this directory's key prefix is compatible with the wanted prefix. */
    size_t kp = strlen(keypfx), pp = strlen(prefix);
    size_t m = kp < pp ? kp : pp;
    if (strncmp(keypfx, prefix, m) != 0) return CAI_OK;
    DIR *d = opendir(dirpath);
    if (!d) {
        if (errno == ENOENT || errno == ENOTDIR) return CAI_OK; /* an absent bucket/prefix lists as empty */
        return cai_seterr(err, CAI_EIO, "store: cannot list %s: %s", dirpath, strerror(errno));
    }
    int rc = CAI_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (!strcmp(nm, ".") || !strcmp(nm, "..") || is_tmp_name(nm)) continue;
        char path[4096], key[2048];
        int w1 = snprintf(path, sizeof path, "%s/%s", dirpath, nm);
        int w2 = snprintf(key, sizeof key, "%s%s", keypfx, nm);
        if (w1 < 0 || (size_t)w1 >= sizeof path || w2 < 0 || (size_t)w2 >= sizeof key) continue;
        struct stat st;
        if (stat(path, &st) != 0) continue; /* vanished while listing (a concurrent delete) */
        if (S_ISDIR(st.st_mode)) {
            char sub[2048];
            int w3 = snprintf(sub, sizeof sub, "%s/", key);
            if (w3 < 0 || (size_t)w3 >= sizeof sub) continue;
            if ((rc = walk(path, sub, prefix, a, depth + 1, err))) break;
        } else if (S_ISREG(st.st_mode)) {
            if (strncmp(key, prefix, pp) == 0 && (rc = acc_push(a, key, (uint64_t)st.st_size, err))) break;
        }
    }
    closedir(d);
    return rc;
}

typedef struct {
    char *key;
    uint64_t size;
} kv;

static int cmp_kv(const void *x, const void *y) { return strcmp(((const kv *)x)->key, ((const kv *)y)->key); }

static int l_list(cai_store *s, const char *bucket, const char *prefix, cai_keylist *out, cai_err *err) {
    memset(out, 0, sizeof *out);
    local_store *ls = (local_store *)s;
    int rc = check_bucket(bucket, err);
    if (rc) return rc;
    if (!prefix) prefix = "";
    if (*prefix && (rc = check_segments("prefix", prefix, 1, 1, err))) return rc;
    char dir[4096];
    int w = snprintf(dir, sizeof dir, "%s/%s", ls->root, bucket);
    if (w < 0 || (size_t)w >= sizeof dir) return cai_seterr(err, CAI_EARG, "store: bucket path too long");
    list_acc a = {out, 0};
    rc = walk(dir, "", prefix, &a, 0, err);
    if (rc) {
        cai_keylist_free(out);
        return rc;
    }
    /* Sort keys with their sizes: S3 lists in UTF-8 binary order, and so do we. */
    size_t n = out->n;
    if (n > 1) {
        kv *tmp = malloc(n * sizeof *tmp);
        if (!tmp) {
            cai_keylist_free(out);
            return cai_seterr(err, CAI_ENOMEM, "store: out of memory while listing");
        }
        for (size_t i = 0; i < n; i++) tmp[i] = (kv){out->keys[i], out->sizes[i]};
        qsort(tmp, n, sizeof *tmp, cmp_kv);
        for (size_t i = 0; i < n; i++) out->keys[i] = tmp[i].key, out->sizes[i] = tmp[i].size;
        free(tmp);
    }
    return CAI_OK;
}

static void l_close(cai_store *s) {
    local_store *ls = (local_store *)s;
    free(ls->root);
    free(ls->base.url);
    free(ls);
}

/* Create-if-absent: the whole object goes to a private temp file first (fsync'd), then link(2) gives it its
 * name — link fails with EEXIST if the name exists, atomically, even on NFS, so exactly one of several racing
 * runs wins and nobody ever reads a half-written lock. */
static int l_put_new(cai_store *s, const char *bucket, const char *key, const void *data, size_t len,
                     cai_err *err) {
    char path[4096], tmp[4200];
    int rc = obj_path((local_store *)s, bucket, key, path, sizeof path, err);
    if (rc) return rc;
    if ((rc = cai_mkdirs_for(path, err))) return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return cai_seterr(err, CAI_EIO, "store %s: create %s/%s: %s", s->url, bucket, key, strerror(errno));
    const char *p = data;
    size_t left = len;
    int e = 0;
    while (left && !e) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) e = errno;
        else p += w, left -= (size_t)w;
    }
    if (!e && fsync(fd) != 0 && errno != EINVAL) e = errno;
    close(fd);
    if (!e && link(tmp, path) != 0) e = errno;
    unlink(tmp);
    if (e == EEXIST) return cai_seterr(err, CAI_EBUSY, "store %s: %s/%s exists", s->url, bucket, key);
    if (e) return cai_seterr(err, CAI_EIO, "store %s: create %s/%s: %s", s->url, bucket, key, strerror(e));
    return CAI_OK;
}

static const cai_store_ops local_ops = {l_get, l_get_range, l_put, l_list, l_head, l_del, l_close, l_put_new};

int cai_store_open_local(const char *root, cai_store **out, cai_err *err) {
    *out = NULL;
    if (!root || !*root) return cai_seterr(err, CAI_EARG, "store: empty directory");
    local_store *ls = calloc(1, sizeof *ls);
    if (!ls) return cai_seterr(err, CAI_ENOMEM, "store: out of memory");
    ls->root = strdup(root);
    ls->base.url = strdup(root);
    if (!ls->root || !ls->base.url) {
        l_close(&ls->base);
        return cai_seterr(err, CAI_ENOMEM, "store: out of memory");
    }
    size_t n = strlen(ls->root);
    while (n > 1 && ls->root[n - 1] == '/') ls->root[--n] = 0;
    ls->base.ops = &local_ops;
    /* The root must exist (or be creatable): buckets are created on first put. */
    int rc = cai_mkdirs(ls->root, err);
    if (rc) {
        l_close(&ls->base);
        return rc;
    }
    *out = &ls->base;
    return CAI_OK;
}
