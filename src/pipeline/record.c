/* record.c — job items, output keys, resume validation, predictions-file parsing (see record.h). */
#include "record.h"

#include "rank_record.h"

#include "../common/util.h"

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

int64_t cai_job_rank(const cJSON *job) {
    int64_t r;
    cai_err e = {0};
    if (!cJSON_IsObject(job) || job_int(job, "RANK", 0, &r, &e)) return -1;
    return r;
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
    free(j->pexp);
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
        /* A count outside [0, 9e15] (or NaN) is not one: -1, "unknown" (the cast would be undefined). */
        for (size_t i = 0; i < n; i++, g = g->next)
            j->expected[i] =
                cJSON_IsNumber(g) && g->valuedouble >= 0 && g->valuedouble < 9e15 ? (int64_t)g->valuedouble : -1;
    }
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(job, "CAI_PARTITION_MANIFEST");
    if (pm && n) {
        if (!cJSON_IsArray(pm) || (size_t)cJSON_GetArraySize(pm) != n) {
            cai_job_free(j);
            return cai_seterr(err, CAI_EPAYLOAD,
                              "job: field \"CAI_PARTITION_MANIFEST\": expected a list of %zu objects "
                              "(one per DATA_PATH key)",
                              n);
        }
        if (!(j->pexp = calloc(n, sizeof *j->pexp))) {
            cai_job_free(j);
            return cai_seterr(err, CAI_ENOMEM, "job: out of memory");
        }
        const cJSON *e = pm->child;
        for (size_t i = 0; i < n; i++, e = e->next) {
            const cJSON *by = cJSON_GetObjectItemCaseSensitive(e, "bytes");
            const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "sha256");
            const cJSON *i0 = cJSON_GetObjectItemCaseSensitive(e, "id_first");
            const cJSON *i1 = cJSON_GetObjectItemCaseSensitive(e, "id_last");
            int ok = cJSON_IsObject(e) && cJSON_IsNumber(by) && by->valuedouble >= 0 && by->valuedouble < 9e15 &&
                     cJSON_IsString(sh) && strlen(sh->valuestring) == 64 &&
                     strspn(sh->valuestring, "0123456789abcdef") == 64 &&
                     ((cJSON_IsNumber(i0) && cJSON_IsNumber(i1) && fabs(i0->valuedouble) < 9e15 &&
                       fabs(i1->valuedouble) < 9e15 && i0->valuedouble <= i1->valuedouble) ||
                      (cJSON_IsNull(i0) && cJSON_IsNull(i1)));
            if (!ok) {
                cai_job_free(j);
                return cai_seterr(err, CAI_EPAYLOAD,
                                  "job: field \"CAI_PARTITION_MANIFEST\"[%zu]: expected "
                                  "{\"bytes\": N, \"sha256\": 64 hex, \"id_first\": A, \"id_last\": B (A <= B, or "
                                  "both null)}",
                                  i);
            }
            j->pexp[i].bytes = (uint64_t)by->valuedouble;
            memcpy(j->pexp[i].sha256, sh->valuestring, 65);
            j->pexp[i].has_ids = cJSON_IsNumber(i0);
            j->pexp[i].id_first = j->pexp[i].has_ids ? (int64_t)i0->valuedouble : 0;
            j->pexp[i].id_last = j->pexp[i].has_ids ? (int64_t)i1->valuedouble : -1;
        }
    }
    const cJSON *ri = cJSON_GetObjectItemCaseSensitive(job, "CAI_RUN_ID");
    if (cJSON_IsString(ri) && *ri->valuestring) j->run_id = ri->valuestring;
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
    j->s3_object_name = cJSON_GetObjectItemCaseSensitive(job, "S3_OBJECT_NAME");
    j->script = cJSON_GetObjectItemCaseSensitive(job, "SCRIPT");
    j->object_type = cJSON_GetObjectItemCaseSensitive(job, "S3_OBJECT_TYPE");
    j->prefix_raw = pf;
    j->batch_raw = cJSON_GetObjectItemCaseSensitive(job, "BATCH_SIZE");
    return CAI_OK;
}

/* ---- the job item's writer ---- */

static int add(cJSON *o, const char *k, cJSON *v) { return v && cJSON_AddItemToObject(o, k, v); }
static cJSON *dup_or_null(const cJSON *v) { return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull(); }

static cJSON *keys_json(const cai_job *j) {
    if (j->data_path) return cJSON_Duplicate(j->data_path, 1);
    if (j->nkeys == 0) return cJSON_CreateNull();
    if (j->nkeys == 1) return cJSON_CreateString(j->keys[0]);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < j->nkeys; i++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateString(j->keys[i]))) cJSON_Delete(a), a = NULL;
    return a;
}

/* What the manifest says of each key: the worker checks bytes, sha256 and ids; Summarize the counts. */
static int manifest_json(cJSON *o, const cai_job *j) {
    int ok = 1;
    if (j->pexp) {
        cJSON *pm = cJSON_CreateArray();
        ok &= add(o, "CAI_PARTITION_MANIFEST", pm);
        for (size_t i = 0; ok && i < j->nkeys; i++) {
            const cai_part_expect *x = &j->pexp[i];
            cJSON *e = cJSON_CreateObject();
            ok &= e && cJSON_AddItemToArray(pm, e);
            ok &= ok && cJSON_AddNumberToObject(e, "bytes", (double)x->bytes) &&
                  cJSON_AddStringToObject(e, "sha256", x->sha256);
            ok &= ok && add(e, "id_first", x->has_ids ? cJSON_CreateNumber((double)x->id_first) : cJSON_CreateNull());
            ok &= ok && add(e, "id_last", x->has_ids ? cJSON_CreateNumber((double)x->id_last) : cJSON_CreateNull());
        }
    }
    if (ok && j->expected) {
        int64_t g = 0;
        for (size_t i = 0; i < j->nkeys; i++) g += j->expected[i];
        cJSON *gl = cJSON_CreateArray();
        ok &= cJSON_AddNumberToObject(o, "CAI_EXPECTED_GALAXIES", (double)g) && add(o, "CAI_PARTITION_GALAXIES", gl);
        for (size_t i = 0; ok && i < j->nkeys; i++)
            ok &= cJSON_AddItemToArray(gl, cJSON_CreateNumber((double)j->expected[i]));
    }
    return ok;
}

cJSON *cai_job_json(const cai_job *j) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char ws[32], rs[32];
    snprintf(ws, sizeof ws, "%lld", (long long)j->world_size);
    snprintf(rs, sizeof rs, "%lld", (long long)j->rank);
    /* The seed's fields, in the seed's order and types. */
    int ok = cJSON_AddStringToObject(o, "S3_BUCKET", j->bucket) != NULL;
    ok &= add(o, "S3_OBJECT_NAME", dup_or_null(j->s3_object_name));
    ok &= add(o, "SCRIPT", dup_or_null(j->script));
    ok &= add(o, "S3_OBJECT_TYPE", dup_or_null(j->object_type));
    ok &= cJSON_AddStringToObject(o, "WORLD_SIZE", ws) && cJSON_AddStringToObject(o, "RANK", rs);
    ok &= cJSON_AddStringToObject(o, "DATA_BUCKET", j->data_bucket) != NULL;
    if (j->prefix_raw) ok &= add(o, "DATA_PREFIX", cJSON_Duplicate(j->prefix_raw, 1));
    ok &= add(o, "DATA_PATH", keys_json(j));
    if (j->result_raw) ok &= add(o, "RESULT_PATH", cJSON_Duplicate(j->result_raw, 1));
    if (j->batch_raw) ok &= add(o, "BATCH_SIZE", cJSON_Duplicate(j->batch_raw, 1));
    /* CAI's extras: only new names, so the seed's readers are unaffected. */
    if (ok && j->weights) ok &= cJSON_AddStringToObject(o, "CAI_WEIGHTS", j->weights) != NULL;
    if (ok && j->precision) ok &= cJSON_AddStringToObject(o, "CAI_PRECISION", j->precision) != NULL;
    if (ok && j->calibration) ok &= cJSON_AddStringToObject(o, "CAI_CALIBRATION", j->calibration) != NULL;
    if (ok && j->tta > 1) ok &= cJSON_AddNumberToObject(o, "CAI_TTA", j->tta) != NULL;
    if (ok && j->run_id) ok &= cJSON_AddStringToObject(o, "CAI_RUN_ID", j->run_id) != NULL;
    if (ok && j->nkeys) ok &= manifest_json(o, j);
    if (!ok) cJSON_Delete(o);
    return ok ? o : NULL;
}

void cai_record_key(const char *result_path, int64_t rank, char *out, size_t n) {
    snprintf(out, n, "%s/%lld.json", result_path, (long long)rank);
}

void cai_predictions_key(const char *result_path, int64_t rank, char *out, size_t n) {
    snprintf(out, n, "%s/predictions/%lld.csv", result_path, (long long)rank);
}

/* The recorded partitions against the job's: every ok partition's sha256 equals the manifest's (or, with
 * hash_data, the object's as it is now). */
static int check_data(cai_store *st, const cai_job *j, const cai_rank_record *r, int hash_data, cai_err *err) {
    for (size_t i = 0; i < j->nkeys; i++) {
        const cai_rank_part *pj = NULL;
        for (size_t q = 0; q < r->nparts; q++)
            if (r->parts[q].key && !strcmp(r->parts[q].key, j->keys[i])) pj = &r->parts[q];
        const char *rsha = pj ? pj->sha256 : NULL;
        if (!rsha)
            return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: record has no sha256 for %s (an older cai?)",
                              (long long)j->rank, j->keys[i]);
        char now[65] = "";
        if (j->pexp && j->pexp[i].sha256[0]) {
            memcpy(now, j->pexp[i].sha256, sizeof now);
        } else if (hash_data) {
            uint8_t *b;
            size_t l;
            cai_err ge = {0};
            if (cai_store_get(st, j->data_bucket, j->keys[i], &b, &l, &ge))
                return cai_seterr(err, CAI_ECHANGED, "rank %lld: partition %s: %s", (long long)j->rank, j->keys[i],
                                  ge.msg);
            cai_sha256_hex(b, l, now);
            free(b);
        }
        if (now[0] && strcmp(now, rsha) != 0)
            return cai_seterr(err, CAI_ECHANGED,
                              "rank %lld: data partition %s changed since it ran (sha256 was %.12s…, is now %.12s…)",
                              (long long)j->rank, j->keys[i], rsha, now);
    }
    return CAI_OK;
}

/* Done: status ok/empty, the job's DATA_PATH, and (with data) the predictions file of the size it names. */
static int check_done(cai_store *st, const cai_job *j, const cai_rank_record *r, cai_err *err) {
    if (!r->has_status || (r->status != CAI_RANK_OK && r->status != CAI_RANK_EMPTY))
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: record status is %s", (long long)j->rank,
                          r->has_status ? r->status_name : "missing");
    if (!r->data_path || !cJSON_Compare(r->data_path, j->data_path, 1))
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: record is for another DATA_PATH (an older run?)",
                          (long long)j->rank);
    if (j->nkeys == 0) return CAI_OK;
    /* Every rank with data names its predictions file, even one of 0 galaxies (empty partitions). */
    char pkey[2048];
    cai_predictions_key(j->result_path, j->rank, pkey, sizeof pkey);
    uint64_t size = 0;
    cai_err e2 = {0};
    if (!r->predictions)
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: record names no predictions file", (long long)j->rank);
    if (cai_store_head(st, j->bucket, pkey, &size, &e2))
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: predictions file missing: %s", (long long)j->rank, e2.msg);
    if (r->predictions_bytes < 0 || (uint64_t)r->predictions_bytes != size)
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: predictions file has %llu bytes, record says %.0f",
                          (long long)j->rank, (unsigned long long)size, (double)r->predictions_bytes);
    return CAI_OK;
}

/* Unchanged: the same run, weights, precision, calibration and partition bytes. */
static int check_same(cai_store *st, const cai_job *j, const cai_rank_record *r, const cai_rank_expect *x,
                      cai_err *err) {
    const char *rid = r->run_id, *wsha = r->weights_sha256, *prec = r->precision, *cal = r->calibration_sha256;
    if (x->run_id && (!rid || strcmp(rid, x->run_id) != 0))
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: record of another run (%s)", (long long)j->rank,
                          rid ? rid : "no run id");
    if (j->nkeys > 0 && x->weights_sha256 && (!wsha || strcmp(wsha, x->weights_sha256) != 0))
        return cai_seterr(err, CAI_ECHANGED, "rank %lld: computed with other weights (sha256 %.12s…, these are %.12s…)",
                          (long long)j->rank, wsha ? wsha : "unknown", x->weights_sha256);
    if (j->nkeys > 0 && x->precision && (!prec || strcmp(prec, x->precision) != 0))
        return cai_seterr(err, CAI_ECHANGED, "rank %lld: computed in precision %s, this run uses %s",
                          (long long)j->rank, prec ? prec : "unknown", x->precision);
    if (j->nkeys > 0 && x->calibration_sha256 && strcmp(cal ? cal : "", x->calibration_sha256) != 0)
        return cai_seterr(err, CAI_ECHANGED, "rank %lld: computed with calibration %.12s…, this run uses %.12s…",
                          (long long)j->rank, cal && *cal ? cal : "(none)",
                          *x->calibration_sha256 ? x->calibration_sha256 : "(none)");
    return check_data(st, j, r, x->hash_data, err);
}

int cai_rank_check(cai_store *st, const cai_job *j, const cai_rank_expect *x, cai_err *err) {
    char key[2048];
    cai_record_key(j->result_path, j->rank, key, sizeof key);
    uint8_t *buf;
    size_t len;
    int rc = cai_store_get(st, j->bucket, key, &buf, &len, err);
    if (rc) return rc;
    cJSON *o = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    cai_rank_record r;
    cai_err re = {0};
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: %s is not a JSON object", (long long)j->rank, key);
    }
    if (cai_rank_record_read(o, key, &r, &re)) {
        cJSON_Delete(o);
        return cai_seterr(err, CAI_EINCOMPLETE, "rank %lld: %s", (long long)j->rank, re.msg);
    }
    rc = check_done(st, j, &r, err);
    if (!rc && x) rc = check_same(st, j, &r, x, err);
    cai_rank_record_free(&r);
    cJSON_Delete(o);
    return rc;
}

int cai_rank_done(cai_store *st, const cai_job *j, cai_err *err) { return cai_rank_check(st, j, NULL, err); }
