/* worker_util.h — what the worker needs to know about weights besides loading them: where the file is
 * (a local path, or a key in the run's bucket fetched into a private per-user cache) and what it is (sha256, variant,
 * whether it is untrained). Owns: nothing stateful beyond a one-entry per-process cache.
 * Must not touch: the model's internals (model.h loads; this only reads the safetensors metadata). */
#ifndef CAI_WORKER_UTIL_H
#define CAI_WORKER_UTIL_H

#include <stddef.h>

#include "../common/err.h"
#include "../store/store.h"

typedef struct {
    char sha256[65];
    char variant[16];   /* metadata "variant", or "" */
    char source[256];   /* metadata "source", or "" */
    int untrained;      /* metadata "cai.untrained"="true", or source "cai_weights_random(...)" */
} cai_weights_info;

/* spec: a readable local file, else a key in `bucket` of `st`, fetched and kept in the private cache
 * ${TMPDIR:-/tmp}/cai-weights-<uid>/<sha256>.safetensors (a 0700 directory this user owns; a cached file is
 * used only when its bytes hash to the fetched object's sha256, else replaced). Writes the local path to path[n]. */
int cai_weights_resolve(cai_store *st, const char *bucket, const char *spec, char *path, size_t n, cai_err *err);
/* sha256 of the file and its metadata (cached for the last path described). */
int cai_weights_describe(const char *path, cai_weights_info *wi, cai_err *err);

#endif
