/* record.c — job items, output keys, resume validation, predictions-file parsing (see record.h). */
#include "record.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *trim_slashes(const char *s) {
    while (*s == '/') s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == '/') n--;
    return strndup(s, n);
}

/* RANK/WORLD_SIZE are strings in the seed's job array; BATCH_SIZE is whatever the payload held (an int,
 * or a numeric string). Accept both for all three. */
static int job_int(const cJSON *job, const char *field, int64_t min, int64_t *out, cai_err *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(job, field);
    if (!v) return cai_seterr(err, CAI_EKEY, "job: missing field \"%s\"", field);
    if (cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9e15) {
        *out = (int64_t)v->valuedouble;
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        while (isspace((unsigned char)*end)) end++;
        if (end == s || *end || errno)
            return cai_seterr(err, CAI_EPAYLOAD, "job: field \"%s\": expected an integer, got \"%.40s\"", field, s);
        *out = x;
    } else {
        return cai_seterr(err, CAI_EPAYLOAD, "job: field \"%s\": expected an integer or a numeric string", field);
    }
    if (*out < min)
        return cai_seterr(err, CAI_EPAYLOAD, "job: field \"%s\": must be at least %lld, got %lld", field,
                          (long long)min, (long long)*out);
    return CAI_OK;
}

static const char *job_str(const cJSON *job, const char *field, cai_err *err, int *rc) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(job, field);
    if (!cJSON_IsString(v) || !*v->valuestring) {
        *rc = cai_seterr(err, v ? CAI_EPAYLOAD : CAI_EKEY, "job: field \"%s\": %s", field,
                         v ? "expected a non-empty string" : "missing");
        return NULL;
    }
    return v->valuestring;
}

void cai_job_free(cai_job *j) {
    if (!j) return;
    for (size_t i = 0; i < j->nkeys; i++) free(j->keys[i]);
    free(j->keys);
    free(j->data_prefix);
    free(j->result_path);
    free(j->expected);
    memset(j, 0, sizeof *j);
}

int cai_job_parse(const cJSON *job, cai_job *j, cai_err *err) {
    memset(j, 0, sizeof *j);
    if (!cJSON_IsObject(job)) return cai_seterr(err, CAI_EPAYLOAD, "job: expected a JSON object");
    int rc = CAI_OK;
    if (!(j->bucket = job_str(job, "S3_BUCKET", err, &rc))) return rc;
    if (!(j->data_bucket = job_str(job, "DATA_BUCKET", err, &rc))) return rc;
    const char *rp = job_str(job, "RESULT_PATH", err, &rc);
    if (!rp) return rc;
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(job, "DATA_PREFIX");
    if ((rc = job_int(job, "RANK", 0, &j->rank, err))) return rc;
    if ((rc = job_int(job, "WORLD_SIZE", 1, &j->world_size, err))) return rc;
    if ((rc = job_int(job, "BATCH_SIZE", 1, &j->batch_size, err))) return rc;
    if (j->rank >= j->world_size)
        return cai_seterr(err, CAI_EPAYLOAD, "job: RANK %lld is not below WORLD_SIZE %lld", (long long)j->rank,
                          (long long)j->world_size);
    if (j->batch_size > 1 << 20) return cai_seterr(err, CAI_EPAYLOAD, "job: field \"BATCH_SIZE\": too large");
    j->result_raw = cJSON_GetObjectItemCaseSensitive(job, "RESULT_PATH");
    j->result_path = trim_slashes(rp);
    j->data_prefix = trim_slashes(cJSON_IsString(pf) ? pf->valuestring : "");
    if (!j->result_path || !j->data_prefix) {
        cai_job_free(j);
        return cai_seterr(err, CAI_ENOMEM, "job: out of memory");
    }
    if (!*j->result_path || strstr(j->result_path, "..")) {
        cai_job_free(j);
        return cai_seterr(err, CAI_EPAYLOAD, "job: field \"RESULT_PATH\": \"%s\" is empty or has '..'", rp);
    }
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(job, "DATA_PATH");
    j->data_path = dp;
    if (!dp) {
        cai_job_free(j);
        return cai_seterr(err, CAI_EKEY, "job: missing field \"DATA_PATH\" (null for a rank with no data)");
    }
    size_t n = cJSON_IsString(dp) ? 1 : cJSON_IsArray(dp) ? (size_t)cJSON_GetArraySize(dp) : 0;
    if (!cJSON_IsString(dp) && !cJSON_IsArray(dp) && !cJSON_IsNull(dp)) {
        cai_job_free(j);
        return cai_seterr(err, CAI_EPAYLOAD, "job: field \"DATA_PATH\": expected a key, a list of keys or null");
    }
    j->keys = calloc(n ? n : 1, sizeof *j->keys);
    if (!j->keys) {
        cai_job_free(j);
        return cai_seterr(err, CAI_ENOMEM, "job: out of memory");
    }
    const cJSON *k = cJSON_IsString(dp) ? dp : dp->child; /* walk the list: GetArrayItem is O(i) */
    for (size_t i = 0; i < n; i++, k = cJSON_IsString(dp) ? NULL : k->next) {
        if (!cJSON_IsString(k) || !*k->valuestring) {
            cai_job_free(j);
            return cai_seterr(err, CAI_EPAYLOAD, "job: field \"DATA_PATH\"[%zu]: expected a non-empty string", i);
        }
        j->keys[j->nkeys] = strdup(k->valuestring);
        if (!j->keys[j->nkeys]) {
            cai_job_free(j);
            return cai_seterr(err, CAI_ENOMEM, "job: out of memory");
        }
        j->nkeys++;
    }
    const cJSON *pg = cJSON_GetObjectItemCaseSensitive(job, "CAI_PARTITION_GALAXIES");
    if (cJSON_IsArray(pg) && (size_t)cJSON_GetArraySize(pg) == n && n) {
        j->expected = calloc(n, sizeof *j->expected);
        if (!j->expected) {
            cai_job_free(j);
            return cai_seterr(err, CAI_ENOMEM, "job: out of memory");
        }
        const cJSON *g = pg->child;
        for (size_t i = 0; i < n; i++, g = g->next) j->expected[i] = cJSON_IsNumber(g) ? (int64_t)g->valuedouble : -1;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(job, "CAI_WEIGHTS");
    if (cJSON_IsString(w) && *w->valuestring) j->weights = w->valuestring;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(job, "CAI_PRECISION");
    if (cJSON_IsString(pr)) j->precision = pr->valuestring;
    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(job, "CAI_CALIBRATION");
    if (cJSON_IsString(cal) && *cal->valuestring) j->calibration = cal->valuestring;
    const cJSON *tta = cJSON_GetObjectItemCaseSensitive(job, "CAI_TTA");
    j->tta = 1;
    if (tta && !(cJSON_IsNumber(tta) && (tta->valuedouble == 1 || tta->valuedouble == 8))) {
        cai_job_free(j);
        return cai_seterr(err, CAI_EPAYLOAD, "job: field \"CAI_TTA\": expected 1 or 8");
    }
    if (tta) j->tta = (int)tta->valuedouble;
    return CAI_OK;
}

void cai_record_key(const char *result_path, int64_t rank, char *out, size_t n) {
    snprintf(out, n, "%s/%lld.json", result_path, (long long)rank);
}

void cai_predictions_key(const char *result_path, int64_t rank, char *out, size_t n) {
    snprintf(out, n, "%s/predictions/%lld.csv", result_path, (long long)rank);
}

int cai_rank_done(cai_store *st, const cai_job *j, cai_err *err) {
    char key[2048];
    cai_record_key(j->result_path, j->rank, key, sizeof key);
    uint8_t *buf;
    size_t len;
    int rc = cai_store_get(st, j->bucket, key, &buf, &len, err);
    if (rc) return rc;
    cJSON *r = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: %s is not a JSON object", (long long)j->rank, key);
    }
    rc = CAI_OK;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(r, "status");
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(r, "data_path");
    const cJSON *pb = cJSON_GetObjectItemCaseSensitive(r, "predictions_bytes");
    const cJSON *gal = cJSON_GetObjectItemCaseSensitive(r, "galaxies");
    if (!cJSON_IsString(status) ||
        (strcmp(status->valuestring, "ok") != 0 && strcmp(status->valuestring, "empty") != 0)) {
        rc = cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: record status is %s", (long long)j->rank,
                        cJSON_IsString(status) ? status->valuestring : "missing");
    } else if (!dp || !cJSON_Compare(dp, j->data_path, 1)) {
        rc = cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: record is for another DATA_PATH (an older run?)",
                        (long long)j->rank);
    } else if (cJSON_IsNumber(gal) && gal->valuedouble > 0) {
        char pkey[2048];
        cai_predictions_key(j->result_path, j->rank, pkey, sizeof pkey);
        uint64_t size = 0;
        cai_err e2 = {0};
        if (cai_store_head(st, j->bucket, pkey, &size, &e2))
            rc = cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: predictions file missing: %s", (long long)j->rank, e2.msg);
        else if (!cJSON_IsNumber(pb) || (uint64_t)pb->valuedouble != size)
            rc = cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: predictions file has %llu bytes, record says %.0f",
                            (long long)j->rank, (unsigned long long)size, cJSON_IsNumber(pb) ? pb->valuedouble : -1.0);
    }
    cJSON_Delete(r);
    return rc;
}
