/* combined.c — see combined.h. */
#include "combined.h"

#include <stdio.h>
#include <stdlib.h>

#include "../common/util.h"

int cai_combined_parse(const char *text, size_t len, const char *name, cJSON **records, cai_err *err) {
    *records = NULL;
    const char *endp = NULL;
    cJSON *arr = cJSON_ParseWithLengthOpts(text, len, &endp, 0);
    if (!arr) {
        size_t off = (endp && endp >= text && endp <= text + len) ? (size_t)(endp - text) : 0;
        if (!endp) {
            const char *ep = cJSON_GetErrorPtr();
            if (ep && ep >= text && ep <= text + len) off = (size_t)(ep - text);
        }
        return cai_seterr(err, CAI_EFORMAT, "%s: malformed JSON near byte %zu (of %zu)", name, off, len);
    }
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        return cai_seterr(err, CAI_EFORMAT, "%s: expected a JSON array of rank records", name);
    }
    int i = 0;
    for (const cJSON *r = arr->child; r; r = r->next, i++)
        if (!cJSON_IsObject(r)) {
            cJSON_Delete(arr);
            return cai_seterr(err, CAI_EFORMAT, "%s: record %d: expected an object", name, i);
        }
    *records = arr;
    return CAI_OK;
}

int cai_combined_load(const char *run_dir, cJSON **records, char *path, size_t path_len, cai_err *err) {
    *records = NULL;
    if ((size_t)snprintf(path, path_len, "%s/%s", run_dir, CAI_COMBINED_NAME) >= path_len)
        return cai_seterr(err, CAI_EARG, "%s: path too long", run_dir);
    char *text;
    size_t len;
    int rc = cai_read_file(path, &text, &len, err);
    if (rc) return rc;
    rc = cai_combined_parse(text, len, path, records, err);
    free(text);
    return rc;
}
