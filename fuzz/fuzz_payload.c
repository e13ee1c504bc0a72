/* fuzz_payload.c — libFuzzer target for the run payload parser (pipeline/payload.c): any bytes either parse
 * into a payload that satisfies every documented invariant, or fail with CAI_EPAYLOAD and a message. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/payload.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, int path_like) {
    if (!s) return;
    size_t n = strlen(s);
    if (n > CAI_PAYLOAD_MAX_STRING) abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) abort();
    if (path_like) {
        if (n && (s[0] == '/' || s[n - 1] == '/')) abort();
        if (strstr(s, "//")) abort();
        for (const char *p = s; *p;) { /* no "." or ".." segment */
            const char *e = strchr(p, '/');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.')) abort();
            if (!e) break;
            p = e + 1;
        }
        if (n > CAI_STORE_MAX_KEY - 64) abort();
    }
}

static void check_bucket(const char *b) {
    if (!b || !*b || strlen(b) > CAI_PAYLOAD_MAX_BUCKET || !strcmp(b, ".") || !strcmp(b, "..")) abort();
    for (const char *p = b; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A copy with no terminator, so a read past `size` is caught by ASan. */
    char *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    cai_payload pl;
    cai_err err = {0};
    int rc = cai_payload_parse(p, size, "fuzz.json", &pl, &err);
    if (rc == CAI_OK) {
        check_bucket(pl.bucket);
        check_bucket(pl.data_bucket);
        check_str(pl.result_path, 1);
        check_str(pl.data_prefix, 1);
        if (!*pl.result_path || !*pl.data_prefix) abort();
        check_str(pl.weights, 0);
        check_str(pl.store, 0);
        check_str(pl.run_id, 0);
        if (pl.file_limit < 1 || pl.batch_size < 1 || pl.batch_size > (1 << 20)) abort();
        if (pl.world_size < 1 || pl.world_size > cai_payload_max_world_size(pl.file_limit)) abort();
        if (!pl.world_size_given && pl.world_size != pl.file_limit) abort();
        if (pl.workers < 0 || pl.workers > 4096 || pl.threads < 0 || pl.threads > 1024) abort();
        if (pl.nwarnings < 0 || pl.nwarnings > CAI_PAYLOAD_MAX_WARNINGS) abort();
        if (!cJSON_IsObject(pl.raw)) abort();
        /* parsing is deterministic: the same bytes give the same payload */
        cai_payload again;
        if (cai_payload_parse(p, size, "fuzz.json", &again, &err) != CAI_OK) abort();
        if (strcmp(again.result_path, pl.result_path) || again.world_size != pl.world_size) abort();
        cai_payload_free(&again);
        cai_payload_free(&pl);
    } else {
        if (!err.msg[0]) abort();
        if (rc != CAI_EPAYLOAD && rc != CAI_ENOMEM) abort();
        if (pl.raw || pl.bucket) abort(); /* left empty on error */
    }
    free(p);
    return 0;
}
