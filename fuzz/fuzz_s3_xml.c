/* fuzz_s3_xml.c — libFuzzer target for the S3 response parsers (store/s3_proto.c): ListObjectsV2 pages,
 * error bodies, entity and percent decoding. Bodies are outside input: whatever they hold, the parsers
 * must stay in bounds, and every key they accept must start with the strip prefix removed and hold no NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* exact-size copy: ASan catches any read past the body (the parsers never rely on a NUL) */
    char *p = malloc(size ? size : 1);
    if (size) memcpy(p, data, size);
    for (int url = 0; url < 2; url++) {
        cai_keylist l = {0};
        size_t cap = 0;
        int trunc = 0;
        char *tok = NULL;
        cai_err err = {0};
        int rc = cai_s3_parse_list_page(p, size, url, url ? "" : "p/", &l, &cap, &trunc, &tok, &err);
        if (rc == CAI_OK) {
            if (l.n > cap) abort();
            for (size_t i = 0; i < l.n; i++)
                if (!l.keys[i]) abort();
            if (trunc && (!tok || !*tok)) abort();
        } else if (!err.msg[0]) abort(); /* every failure says why */
        free(tok);
        cai_keylist_free(&l);
    }
    char code[64], msg[256];
    cai_s3_parse_error(p, size, code, sizeof code, msg, sizeof msg);
    if (strlen(code) >= sizeof code || strlen(msg) >= sizeof msg) abort();
    free(cai_s3_xml_text(p, size));
    free(cai_s3_url_decode(p, size));
    free(p);
    return 0;
}
