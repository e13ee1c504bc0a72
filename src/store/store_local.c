/* store_local.c — the local-directory backend: bucket B's key K is the file ROOT/B/K, reached by openat()
 * below ROOT without following links, and only if it is a regular file (see "confinement" below).
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

#include "../common/buf.h"
#include "../common/util.h"

typedef struct {
    cai_store base;
    char *root;          /* without trailing '/' */
    uint64_t max_object; /* get/get_range refuse larger objects (CAI_STORE_MAX_OBJECT_BYTES) */
} local_store;

#define CAI_LOCAL_MAX_OBJECT_DEFAULT (64ull << 30)

/* A bucket is one path segment; a key is one or more '/'-separated segments. Neither may be empty,
 * ".", "..", start with '/', or hold control characters. A trailing '/' is allowed only for prefixes. */
static int check_segments(const char *what, const char *s, int allow_trailing_slash, int allow_empty, cai_err *err) {
    if (!s) return cai_seterr(err, CAI_EARG, "store: %s is NULL", what);
    size_t n = strlen(s);
    if (n == 0) {
        if (allow_empty) return CAI_OK;
        return cai_seterr(err, CAI_EARG, "store: empty %s", what);
    }
    if (s[0] == '/') return cai_seterr(err, CAI_EARG, "store: %s '%s' is absolute (keys are relative)", what, s);
    if (n > CAI_STORE_MAX_KEY)
        return cai_seterr(err, CAI_EARG, "store: %s is longer than %d bytes", what, CAI_STORE_MAX_KEY);
    int segs = 0;
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
            if ((unsigned char)p[i] < 0x20) return cai_seterr(err, CAI_EARG, "store: %s has a control character", what);
        if (++segs > CAI_STORE_MAX_SEGMENTS)
            return cai_seterr(err, CAI_EARG, "store: %s has more than %d path segments", what, CAI_STORE_MAX_SEGMENTS);
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

/* ---- confinement: every object is reached by openat() from the root, one segment at a time ----
 * Why not open("ROOT/B/K"): a symlink anywhere below the root (`ln -s /etc/shadow d/3.safetensors`, or a
 * linked directory) would let a payload read or write outside the store, and a FIFO or device would hang or
 * never end. So each directory below the root is opened with O_NOFOLLOW|O_DIRECTORY, the object itself with
 * O_NOFOLLOW|O_NONBLOCK, and fstat must say "regular file". The root itself may be a link (it is the
 * user's choice, made on the command line). */

static int seg_kind_err(local_store *ls, int dirfd, const char *seg, const char *bucket, const char *key, int e,
                        cai_err *err) {
    struct stat st;
    if (fstatat(dirfd, seg, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return cai_seterr(err, CAI_EIO,
                          "store %s: object %s/%s: \"%s\" is a symbolic link (the local store does not follow links "
                          "below its root)",
                          ls->base.url, bucket, key, seg);
    if (e == ENOENT || e == ENOTDIR)
        return cai_seterr(err, CAI_ENOTFOUND, "store %s: object %s/%s not found", ls->base.url, bucket, key);
    return cai_seterr(err, CAI_EIO, "store %s: object %s/%s: %s", ls->base.url, bucket, key, strerror(e));
}

/* Open the directory that holds bucket/key's last segment; `create`: make missing directories (0777 & umask).
 * *last points into `rel` (a caller buffer of 2100 bytes). Returns a directory fd in *dirfd. */
static int open_parent(local_store *ls, const char *bucket, const char *key, int create, char *rel, size_t reln,
                       int *dirfd, const char **last, cai_err *err) {
    *dirfd = -1;
    int rc = check_bucket(bucket, err);
    if (rc) return rc;
    if ((rc = check_segments("key", key, 0, 0, err))) return rc;
    int w = snprintf(rel, reln, "%s/%s", bucket, key);
    if (w < 0 || (size_t)w >= reln) return cai_seterr(err, CAI_EARG, "store: path for %s/%s is too long", bucket, key);
    int fd = open(ls->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cai_seterr(err, CAI_EIO, "store %s: cannot open the store directory: %s", ls->base.url, strerror(errno));
    char *p = rel;
    for (char *slash; (slash = strchr(p, '/')); p = slash + 1) {
        *slash = 0;
        int nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                *slash = '/';
                close(fd);
                return cai_seterr(err, CAI_EIO, "store %s: cannot create directory %.*s: %s", ls->base.url,
                                  (int)(slash - rel), rel, strerror(e));
            }
            nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (nfd < 0) {
            int e = errno;
            char seg[1100];
            snprintf(seg, sizeof seg, "%s", p);
            *slash = '/';
            rc = seg_kind_err(ls, fd, seg, bucket, key, e, err);
            if (create && rc == CAI_ENOTFOUND) /* a file where a directory must go */
                rc = cai_seterr(err, CAI_EIO, "store %s: cannot create directory %.*s: %s", ls->base.url,
                                (int)(slash - rel), rel, strerror(e));
            close(fd);
            return rc;
        }
        *slash = '/';
        close(fd);
        fd = nfd;
    }
    *dirfd = fd;
    *last = p;
    return CAI_OK;
}

static const char *kind_name(mode_t m) {
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
           : S_ISLNK(m)  ? "a symbolic link"
                         : "not a regular file";
}

/* Open bucket/key for reading: a regular file below the root, reached without following links. */
static int open_object(local_store *ls, const char *bucket, const char *key, int *fd_out, uint64_t *size,
                       cai_err *err) {
    *fd_out = -1;
    char rel[2100];
    const char *last;
    int dfd;
    int rc = open_parent(ls, bucket, key, 0, rel, sizeof rel, &dfd, &last, err);
    if (rc) return rc;
    struct stat st;
    if (fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        rc = seg_kind_err(ls, dfd, last, bucket, key, errno, err);
        close(dfd);
        return rc;
    }
    if (S_ISLNK(st.st_mode)) {
        rc = seg_kind_err(ls, dfd, last, bucket, key, ELOOP, err);
        close(dfd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(dfd);
        return cai_seterr(err, S_ISDIR(st.st_mode) ? CAI_ENOTFOUND : CAI_EIO,
                          "store %s: object %s/%s is %s, not a regular file", ls->base.url, bucket, key,
                          kind_name(st.st_mode));
    }
    /* O_NONBLOCK: should the name be swapped for a FIFO after the check, open must still not block. */
    int fd = openat(dfd, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    int e = errno;
    if (fd < 0) {
        rc = seg_kind_err(ls, dfd, last, bucket, key, e, err);
        close(dfd);
        return rc;
    }
    close(dfd);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cai_seterr(err, CAI_EIO, "store %s: object %s/%s is not a regular file", ls->base.url, bucket, key);
    }
    if ((uint64_t)st.st_size > ls->max_object) {
        close(fd);
        return cai_seterr(err, CAI_EIO,
                          "store %s: object %s/%s is %llu bytes, above the local store's limit of %llu (set "
                          "CAI_STORE_MAX_OBJECT_BYTES to raise it)",
                          ls->base.url, bucket, key, (unsigned long long)st.st_size,
                          (unsigned long long)ls->max_object);
    }
    *fd_out = fd;
    *size = (uint64_t)st.st_size;
    return CAI_OK;
}

/* Read exactly `want` bytes at `off`; a file that shrank under us is an error, one that grew is read only up
 * to the size fstat gave (the bound is decided before the first byte is read). */
static int read_exact(local_store *ls, int fd, const char *bucket, const char *key, uint64_t off, uint64_t want,
                      uint8_t **out, cai_err *err) {
    if (want > SIZE_MAX - 1) return cai_seterr(err, CAI_ENOMEM, "store: object too large for memory");
    uint8_t *buf = malloc(want ? (size_t)want : 1);
    if (!buf) return cai_seterr(err, CAI_ENOMEM, "store: out of memory for %llu bytes", (unsigned long long)want);
    uint64_t done = 0;
    while (done < want) {
        size_t chunk = want - done > (1u << 30) ? (1u << 30) : (size_t)(want - done);
        ssize_t r = pread(fd, buf + done, chunk, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            return cai_seterr(err, CAI_EIO, "store %s: read %s/%s: %s", ls->base.url, bucket, key,
                              r == 0 ? "the file shrank while being read" : strerror(e));
        }
        done += (uint64_t)r;
    }
    *out = buf;
    return CAI_OK;
}

static int l_get(cai_store *s, const char *bucket, const char *key, uint8_t **data, size_t *len, cai_err *err) {
    *data = NULL;
    *len = 0;
    local_store *ls = (local_store *)s;
    int fd;
    uint64_t size;
    int rc = open_object(ls, bucket, key, &fd, &size, err);
    if (rc) return rc;
    rc = read_exact(ls, fd, bucket, key, 0, size, data, err);
    close(fd);
    if (!rc) *len = (size_t)size;
    return rc;
}

static int l_get_range(cai_store *s, const char *bucket, const char *key, uint64_t off, uint64_t len, uint8_t **data,
                       size_t *got, cai_err *err) {
    *data = NULL;
    *got = 0;
    local_store *ls = (local_store *)s;
    int fd;
    uint64_t size;
    int rc = open_object(ls, bucket, key, &fd, &size, err);
    if (rc) return rc;
    /* Like an HTTP Range: a range starting past the end is an error; one running past it is clipped. */
    if (off > size || (off == size && len > 0 && size > 0)) {
        close(fd);
        return cai_seterr(err, CAI_EARG, "store %s: range %llu+%llu outside %s/%s (%llu bytes)", s->url,
                          (unsigned long long)off, (unsigned long long)len, bucket, key, (unsigned long long)size);
    }
    uint64_t want = size - off < len ? size - off : len;
    rc = read_exact(ls, fd, bucket, key, off, want, data, err);
    close(fd);
    if (!rc) *got = (size_t)want;
    return rc;
}

/* put: temp file + fsync + renameat in the object's directory, all reached by openat (see above) — the same
 * steps as cai_write_file_atomic, which follows links and so cannot be used here. The temp name
 * "<last>.tmp.<pid>" is what list hides. */
static int l_put(cai_store *s, const char *bucket, const char *key, const void *data, size_t len, cai_err *err) {
    local_store *ls = (local_store *)s;
    char rel[2100];
    const char *last;
    int dfd;
    int rc = open_parent(ls, bucket, key, 1, rel, sizeof rel, &dfd, &last, err);
    if (rc) return cai_err_prefix(err, "put: ");
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", last, (long)getpid());
    struct stat st;
    if (fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        close(dfd);
        return cai_seterr(err, CAI_EIO, "store %s: put %s/%s: a directory of that name exists", s->url, bucket, key);
    }
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        close(dfd);
        return cai_seterr(err, CAI_EIO, "store %s: put %s/%s: cannot create %s: %s", s->url, bucket, key, tmp,
                          strerror(e));
    }
    const uint8_t *p = data;
    size_t left = len;
    int e = 0;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!e && fsync(fd) != 0 && errno != EINVAL) e = errno; /* EINVAL: a filesystem without fsync */
    if (close(fd) != 0 && !e) e = errno;
    if (!e && renameat(dfd, tmp, dfd, last) != 0) e = errno;
    if (e) {
        unlinkat(dfd, tmp, 0);
        close(dfd);
        return cai_seterr(err, CAI_EIO, "store %s: put %s/%s: %s%s", s->url, bucket, key, strerror(e),
                          e == ENOSPC ? " (ENOSPC: the disk is full)" : "");
    }
    close(dfd);
    return CAI_OK;
}

static int l_head(cai_store *s, const char *bucket, const char *key, uint64_t *size, cai_err *err) {
    local_store *ls = (local_store *)s;
    char rel[2100];
    const char *last;
    int dfd;
    int rc = open_parent(ls, bucket, key, 0, rel, sizeof rel, &dfd, &last, err);
    if (rc) return rc;
    struct stat st;
    int e = fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) != 0 ? errno : S_ISLNK(st.st_mode) ? ELOOP : 0;
    if (e) {
        rc = seg_kind_err(ls, dfd, last, bucket, key, e, err);
        close(dfd);
        return rc;
    }
    close(dfd);
    if (S_ISDIR(st.st_mode))
        return cai_seterr(err, CAI_ENOTFOUND, "store %s: object %s/%s not found (a directory)", s->url, bucket, key);
    if (!S_ISREG(st.st_mode))
        return cai_seterr(err, CAI_EIO, "store %s: object %s/%s is %s, not a regular file", s->url, bucket, key,
                          kind_name(st.st_mode));
    if (size) *size = (uint64_t)st.st_size;
    return CAI_OK;
}

static int l_del(cai_store *s, const char *bucket, const char *key, cai_err *err) {
    local_store *ls = (local_store *)s;
    char rel[2100];
    const char *last;
    int dfd;
    int rc = open_parent(ls, bucket, key, 0, rel, sizeof rel, &dfd, &last, err);
    if (rc == CAI_ENOTFOUND) return CAI_OK; /* S3 semantics: deleting a missing object succeeds */
    if (rc) return rc;
    struct stat st;
    if (fstatat(dfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        close(dfd);
        return CAI_OK; /* a "directory" is no object: nothing to delete (S3 has none) */
    }
    /* unlinkat removes a link itself, never its target. */
    if (unlinkat(dfd, last, 0) != 0 && errno != ENOENT) {
        int e = errno;
        close(dfd);
        return cai_seterr(err, CAI_EIO, "store %s: delete %s/%s: %s", s->url, bucket, key, strerror(e));
    }
    close(dfd);
    return CAI_OK;
}

/* ---- list: walk ROOT/B recursively, keep regular files whose key starts with prefix ---- */

typedef struct {
    cai_keylist *out;
    size_t cap;
} list_acc;

static int acc_push(list_acc *a, const char *key, uint64_t size, cai_err *err) {
    /* two arrays, one count: grow both to the same capacity (a copy of cap for each, kept only when both grew) */
    size_t ck = a->cap, cs = a->cap;
    if (cai_grow(&a->out->keys, &ck, a->out->n + 1, sizeof *a->out->keys, 64) ||
        cai_grow(&a->out->sizes, &cs, a->out->n + 1, sizeof *a->out->sizes, 64))
        return cai_seterr(err, CAI_ENOMEM, "store: out of memory while listing");
    a->cap = ck < cs ? ck : cs;
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
    if (depth > CAI_STORE_MAX_SEGMENTS)
        return cai_seterr(err, CAI_EIO, "store: %s: directories nested too deep", dirpath);
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
        if (lstat(path, &st) != 0) continue; /* vanished while listing (a concurrent delete) */
        if (S_ISDIR(st.st_mode)) {
            char sub[2048];
            int w3 = snprintf(sub, sizeof sub, "%s/", key);
            if (w3 < 0 || (size_t)w3 >= sizeof sub) continue;
            if ((rc = walk(path, sub, prefix, a, depth + 1, err))) break;
        } else if (strncmp(key, prefix, pp) == 0) {
            /* A link or special file is listed (size 0) but never followed or descended into: its get then
             * fails naming it, instead of the partition silently vanishing from the run. */
            if ((rc = acc_push(a, key, S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, err))) break;
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
static int l_put_new(cai_store *s, const char *bucket, const char *key, const void *data, size_t len, cai_err *err) {
    local_store *ls = (local_store *)s;
    char rel[2100], tmp[1200];
    const char *last;
    int dfd;
    int rc = open_parent(ls, bucket, key, 1, rel, sizeof rel, &dfd, &last, err);
    if (rc) return rc;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", last, (long)getpid());
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        int e0 = errno;
        close(dfd);
        return cai_seterr(err, CAI_EIO, "store %s: create %s/%s: %s", s->url, bucket, key, strerror(e0));
    }
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
    if (!e && linkat(dfd, tmp, dfd, last, 0) != 0) e = errno;
    unlinkat(dfd, tmp, 0);
    close(dfd);
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
    ls->max_object = CAI_LOCAL_MAX_OBJECT_DEFAULT;
    const char *mx = getenv("CAI_STORE_MAX_OBJECT_BYTES");
    if (mx && *mx) {
        char *e;
        errno = 0;
        unsigned long long v = strtoull(mx, &e, 10);
        if (errno || *e || v == 0 || mx[0] == '-') {
            l_close(&ls->base);
            return cai_seterr(err, CAI_EARG,
                              "CAI_STORE_MAX_OBJECT_BYTES: expected a positive number of bytes, got \"%.40s\"", mx);
        }
        ls->max_object = v;
    }
    /* The root must exist (or be creatable): buckets are created on first put. */
    int rc = cai_mkdirs(ls->root, err);
    if (rc) {
        l_close(&ls->base);
        return rc;
    }
    *out = &ls->base;
    return CAI_OK;
}
