/* store.h — where partitions, weights and results live: a local directory or S3, behind one interface.
 * Owns: bytes in and out by (bucket, key). Must not touch: what the bytes mean.
 * Local: bucket B's key K is the file ROOT/B/K. S3: "s3://" uses the named buckets as they are;
 * "s3://BUCKET/PREFIX" maps bucket B's key K to s3://BUCKET/PREFIX/B/K (the same layout as local).
 * A handle belongs to the process that opened it: a forked child opens its own (an S3 handle's kept-alive
 * connections would share the parent's sockets). */
#ifndef CAI_STORE_H
#define CAI_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* Limits every backend keeps, and the payload checks up front (payload.c), so a run never does its work and
 * then fails to list or write its results: a key has at most CAI_STORE_MAX_KEY bytes (S3's limit) and at
 * most CAI_STORE_MAX_SEGMENTS '/'-separated segments (the local store's directory depth). */
#define CAI_STORE_MAX_KEY 1024
#define CAI_STORE_MAX_SEGMENTS 64

typedef struct cai_store cai_store;

typedef struct {
    char **keys; /* full keys, sorted as the backend lists them (lexicographic) */
    uint64_t *sizes;
    size_t n;
} cai_keylist;

typedef struct {
    int (*get)(cai_store *s, const char *bucket, const char *key, uint8_t **data, size_t *len, cai_err *err);
    int (*get_range)(cai_store *s, const char *bucket, const char *key, uint64_t off, uint64_t len, uint8_t **data,
                     size_t *got, cai_err *err);
    int (*put)(cai_store *s, const char *bucket, const char *key, const void *data, size_t len, cai_err *err);
    int (*list)(cai_store *s, const char *bucket, const char *prefix, cai_keylist *out, cai_err *err);
    int (*head)(cai_store *s, const char *bucket, const char *key, uint64_t *size, cai_err *err);
    int (*del)(cai_store *s, const char *bucket, const char *key, cai_err *err);
    void (*close)(cai_store *s);
    /* Create only if absent (CAI_EBUSY when the object exists), atomically: a run's lock object. */
    int (*put_new)(cai_store *s, const char *bucket, const char *key, const void *data, size_t len, cai_err *err);
} cai_store_ops;

struct cai_store {
    const cai_store_ops *ops;
    char *url; /* as given, for messages */
};

/* Open by URL: a directory path or file://DIR → local; s3://[BUCKET[/PREFIX]] → S3 (store_s3.c). */
int cai_store_open(const char *url, cai_store **out, cai_err *err);
int cai_store_open_local(const char *root, cai_store **out, cai_err *err);
int cai_store_open_s3(const char *url, cai_store **out, cai_err *err);
void cai_store_close(cai_store *s);

/* Convenience wrappers. get/get_range return heap data (free()). A missing object is CAI_ENOTFOUND.
 * put is atomic: readers see the old object or the whole new one. list returns every page. */
int cai_store_get(cai_store *s, const char *bucket, const char *key, uint8_t **data, size_t *len, cai_err *err);
int cai_store_get_range(cai_store *s, const char *bucket, const char *key, uint64_t off, uint64_t len, uint8_t **data,
                        size_t *got, cai_err *err);
int cai_store_put(cai_store *s, const char *bucket, const char *key, const void *data, size_t len, cai_err *err);
/* put_new: create the object only if it does not exist yet — one winner among concurrent callers (local: an
 * O_EXCL-style link(2) of a complete temp file; S3: a conditional PUT with If-None-Match: *). CAI_EBUSY when it
 * exists already. */
int cai_store_put_new(cai_store *s, const char *bucket, const char *key, const void *data, size_t len, cai_err *err);
int cai_store_list(cai_store *s, const char *bucket, const char *prefix, cai_keylist *out, cai_err *err);
int cai_store_head(cai_store *s, const char *bucket, const char *key, uint64_t *size, cai_err *err);
int cai_store_delete(cai_store *s, const char *bucket, const char *key, cai_err *err);
void cai_keylist_free(cai_keylist *l);

#endif
