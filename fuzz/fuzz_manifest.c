/* fuzz_manifest.c — libFuzzer target for the manifest reader (data/manifest.c): the streaming iterator and
 * the whole-file parser must agree, and every entry they accept must satisfy the documented invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    cai_manifest_iter it;
    cai_manifest_iter_init(&it, p, size, "fuzz.jsonl");
    cai_manifest_entry e;
    cai_err err = {0};
    int r, n = 0;
    while ((r = cai_manifest_next(&it, &e, &err)) == 1) {
        if (!e.key || !e.key[0] || strlen(e.key) > CAI_MANIFEST_KEY_MAX || e.galaxies < 0) abort();
        if (e.galaxies > 0 && e.id_last < e.id_first) abort();
        if (strlen(e.sha256) != 64) abort();
        n++;
    }
    cai_manifest m;
    int rc = cai_manifest_parse(p, size, "fuzz.jsonl", &m, &err);
    if (rc == CAI_OK) {
        if (r != 0 || m.n != n) abort(); /* whole-file parse accepts only what the iterator accepts */
        cai_manifest_free(&m);
    } else if (!err.msg[0]) {
        abort();
    }
    free(p);
    return 0;
}
