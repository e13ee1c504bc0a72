/* store.c — URL dispatch and the thin wrappers over a backend's ops. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

int cai_store_open(const char *url, cai_store **out, cai_err *err) {
    *out = NULL;
    if (!url || !*url) return cai_seterr(err, CAI_EARG, "store: empty URL (expected a directory or s3://...)");
    if (!strncmp(url, "s3://", 5)) return cai_store_open_s3(url, out, err);
    if (!strncmp(url, "file://", 7)) return cai_store_open_local(url + 7, out, err);
    if (strstr(url, "://"))
        return cai_seterr(err, CAI_EARG, "store '%s': unknown scheme (expected a directory, file://DIR or s3://)", url);
    return cai_store_open_local(url, out, err);
}

void cai_store_close(cai_store *s) {
    if (s) s->ops->close(s);
}

int cai_store_get(cai_store *s, const char *b, const char *k, uint8_t **d, size_t *n, cai_err *e) {
    return s->ops->get(s, b, k, d, n, e);
}
int cai_store_get_range(cai_store *s, const char *b, const char *k, uint64_t off, uint64_t len, uint8_t **d,
                        size_t *got, cai_err *e) {
    return s->ops->get_range(s, b, k, off, len, d, got, e);
}
int cai_store_put(cai_store *s, const char *b, const char *k, const void *d, size_t n, cai_err *e) {
    return s->ops->put(s, b, k, d, n, e);
}
int cai_store_put_new(cai_store *s, const char *b, const char *k, const void *d, size_t n, cai_err *e) {
    if (!s->ops->put_new) return cai_seterr(e, CAI_EINTERNAL, "store %s: no create-if-absent operation", s->url);
    return s->ops->put_new(s, b, k, d, n, e);
}
int cai_store_list(cai_store *s, const char *b, const char *p, cai_keylist *out, cai_err *e) {
    return s->ops->list(s, b, p, out, e);
}
int cai_store_head(cai_store *s, const char *b, const char *k, uint64_t *size, cai_err *e) {
    return s->ops->head(s, b, k, size, e);
}
int cai_store_delete(cai_store *s, const char *b, const char *k, cai_err *e) { return s->ops->del(s, b, k, e); }

void cai_keylist_free(cai_keylist *l) {
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->keys[i]);
    free(l->keys);
    free(l->sizes);
    memset(l, 0, sizeof *l);
}
