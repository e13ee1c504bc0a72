/* initialize.c — the Initialize stage: payload → one job per rank, exactly as the seed splits files.
 * Partitions are `<data_prefix>/<N>.pt` or `<data_prefix>/<N>.safetensors`, taken in NUMERIC order
 * (1, 2, …, 10 — the seed's own runs show S3's lexicographic 1, 10, 100, …; the contract fixes that).
 * When `<data_prefix>/manifest.jsonl` exists it is the list (no LIST calls; 100,000+ partitions stay cheap)
 * and it also gives each partition's galaxy count, which Summarize uses for the completeness check.
 * Outputs: `<bucket>/payload.json` (the seed's, global: concurrent runs overwrite it), a per-run copy
 * `<bucket>/<result_path>/payload.json`, and `<bucket>/<result_path>/jobs.jsonl` (one job per line, which a
 * Step Functions Distributed Map ItemReader reads directly, so the item count is not bound by 256 KB). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/diag.h"
#include "../data/manifest.h"
#include "initialize.h"
#include "record.h"
#include "runlock.h"
#include "stages.h"

typedef struct {
    char *key;
    uint64_t num;     /* partition number from the file name */
    int64_t galaxies; /* from the manifest; -1 when unknown */
    uint64_t bytes;   /* from the manifest: size, sha256 and id range, checked by the worker */
    char sha256[65];
    int64_t id_first, id_last;
} part;

static int cmp_part(const void *a, const void *b) {
    const part *x = a, *y = b;
    if (x->num != y->num) return x->num < y->num ? -1 : 1;
    return strcmp(x->key, y->key);
}

static void free_parts(part *ps, size_t n) {
    for (size_t i = 0; i < n; i++) free(ps[i].key);
    free(ps);
}

/* Read <prefix>/manifest.jsonl (src/data/manifest.h; keys relative to the prefix). CAI_ENOTFOUND if absent. */
static int read_manifest(cai_store *st, const char *bucket, const char *prefix, part **out, size_t *nout,
                         cai_err *err) {
    *out = NULL;
    *nout = 0;
    char mkey[2048];
    snprintf(mkey, sizeof mkey, "%s/%s", prefix, CAI_MANIFEST_JSONL);
    uint8_t *buf;
    size_t len;
    int rc = cai_store_get(st, bucket, mkey, &buf, &len, err);
    if (rc) return rc;
    char name[2300];
    snprintf(name, sizeof name, "%s/%s", bucket, mkey);
    cai_manifest m;
    rc = cai_manifest_parse(buf, len, name, &m, err);
    free(buf);
    if (rc) return rc;
    part *ps = calloc(m.n ? (size_t)m.n : 1, sizeof *ps);
    if (!ps) {
        cai_manifest_free(&m);
        return cai_seterr(err, CAI_ENOMEM, "manifest: out of memory");
    }
    size_t n = 0;
    for (int64_t i = 0; i < m.n; i++) {
        const char *k = m.v[i].key;
        const char *base = strrchr(k, '/');
        base = base ? base + 1 : k;
        uint64_t num;
        if (cai_partition_number(base, &num)) {
            rc = cai_seterr(err, CAI_EFORMAT, "%s:%lld: key \"%s\" is not <N>.pt or <N>.safetensors", name,
                            (long long)m.v[i].line, k);
            break;
        }
        char full[2300];
        snprintf(full, sizeof full, "%s/%s", prefix, k);
        if (!(ps[n].key = strdup(full))) {
            rc = cai_seterr(err, CAI_ENOMEM, "manifest: out of memory");
            break;
        }
        ps[n].num = num;
        ps[n].galaxies = m.v[i].galaxies;
        ps[n].bytes = m.v[i].bytes;
        memcpy(ps[n].sha256, m.v[i].sha256, sizeof ps[n].sha256);
        ps[n].id_first = m.v[i].id_first;
        ps[n].id_last = m.v[i].id_last;
        n++;
    }
    cai_manifest_free(&m);
    if (rc) {
        free_parts(ps, n);
        return rc;
    }
    *out = ps;
    *nout = n;
    return CAI_OK;
}

/* List <prefix>/ and keep the partitions directly under it. */
static int list_parts(cai_store *st, const char *bucket, const char *prefix, part **out, size_t *nout, cai_err *err) {
    *out = NULL;
    *nout = 0;
    char pfx[2048];
    snprintf(pfx, sizeof pfx, "%s/", prefix);
    cai_keylist kl;
    int rc = cai_store_list(st, bucket, pfx, &kl, err);
    if (rc) return rc;
    part *ps = calloc(kl.n ? kl.n : 1, sizeof *ps);
    if (!ps) {
        cai_keylist_free(&kl);
        return cai_seterr(err, CAI_ENOMEM, "initialize: out of memory");
    }
    size_t n = 0, plen = strlen(pfx);
    for (size_t i = 0; i < kl.n; i++) {
        const char *rest = kl.keys[i] + plen;
        uint64_t num;
        if (strchr(rest, '/') || cai_partition_number(rest, &num)) continue; /* not a partition */
        ps[n].key = kl.keys[i];
        kl.keys[i] = NULL;
        ps[n].num = num;
        ps[n].galaxies = -1;
        n++;
    }
    cai_keylist_free(&kl);
    *out = ps;
    *nout = n;
    return CAI_OK;
}

static int job_line_ref(cai_store *st, const cai_payload *p, const cJSON *j, const char *rank, char **line,
                        cai_err *err);
/* The per-partition fields of a job, which grow with its partition count: what a job-line reference moves
 * out of the line (DATA_PATH first: it sets the count). */
static const char *const ref_fields[] = {"DATA_PATH", "CAI_PARTITION_GALAXIES", "CAI_PARTITION_MANIFEST"};

/* Rank r's job item, through the job item's one writer (record.h): the seed's fields and CAI's, its `take`
 * partitions from `ps` (with what the manifest says of them when there is one). */
static cJSON *job_item(const cai_payload *p, const part *ps, size_t take, int from_manifest, int64_t r,
                       const char *run_id) {
    char **keys = calloc(take ? take : 1, sizeof *keys);
    int64_t *expected = calloc(take ? take : 1, sizeof *expected);
    cai_part_expect *pexp = calloc(take ? take : 1, sizeof *pexp);
    cJSON *j = NULL;
    if (keys && expected && pexp) {
        for (size_t i = 0; i < take; i++) {
            keys[i] = ps[i].key;
            expected[i] = ps[i].galaxies;
            pexp[i] = (cai_part_expect){ps[i].bytes, "", ps[i].galaxies > 0, ps[i].id_first, ps[i].id_last};
            memcpy(pexp[i].sha256, ps[i].sha256, sizeof pexp[i].sha256);
        }
        cai_job job = {.bucket = p->bucket,
                       .data_bucket = p->data_bucket,
                       .rank = r,
                       .world_size = p->world_size,
                       .keys = keys,
                       .nkeys = take,
                       .weights = p->weights,
                       .calibration = p->calibration,
                       .tta = p->tta,
                       .run_id = run_id,
                       .s3_object_name = p->s3_object_name,
                       .script = p->script,
                       .object_type = p->object_type,
                       .prefix_raw = cJSON_GetObjectItemCaseSensitive(p->raw, "data_prefix"),
                       .result_raw = cJSON_GetObjectItemCaseSensitive(p->raw, "result_path"),
                       .batch_raw = cJSON_GetObjectItemCaseSensitive(p->raw, "batch_size")};
        if (p->precision_given) job.precision = cai_precision_name(p->precision);
        if (from_manifest) job.expected = expected, job.pexp = pexp;
        j = cai_job_json(&job);
    }
    free(keys);
    free(expected);
    free(pexp);
    return j;
}

int cai_initialize(cai_store *st, const char *payload_json, size_t len, cJSON **jobs_out, cai_err *err) {
    return cai_initialize_run(st, payload_json, len, NULL, jobs_out, err);
}

/* A run's merged outputs, which a new run must never leave behind from the previous one. */
static const char *const run_outputs[] = {
    "summary.json", "combined_data.json", "predictions.fits", "predictions.csv", "predictions.h5", "catalog.csv", NULL};

int cai_outputs_invalidate(cai_store *st, const char *bucket, const char *result_path, cai_err *err) {
    /* summary.json first: it is what says "complete", so it must never outlive the others. */
    for (int i = 0; run_outputs[i]; i++) {
        char key[2300];
        snprintf(key, sizeof key, "%s/%s", result_path, run_outputs[i]);
        int rc = cai_store_delete(st, bucket, key, err);
        if (rc) return cai_err_prefix(err, "cannot remove the previous run's %s: ", run_outputs[i]);
    }
    return CAI_OK;
}

int cai_initialize_run(cai_store *st, const char *payload_json, size_t len, const char *run_id_in, cJSON **jobs_out,
                       cai_err *err) {
    if (jobs_out) *jobs_out = NULL;
    cai_payload p;
    int rc = cai_payload_parse(payload_json, len, "payload.json", &p, err);
    if (rc) return rc;
    char run_id[CAI_RUN_ID_MAX];
    if (run_id_in && *run_id_in) snprintf(run_id, sizeof run_id, "%s", run_id_in);
    else if (p.run_id && *p.run_id) snprintf(run_id, sizeof run_id, "%s", p.run_id);
    else cai_run_id_new(run_id);
    for (int i = 0; i < p.nwarnings; i++) cai_diag(CAI_DIAG_WARN, "%s", p.warnings[i]);

    part *ps = NULL;
    size_t n = 0;
    int from_manifest = 1;
    rc = read_manifest(st, p.data_bucket, p.data_prefix, &ps, &n, err);
    if (rc == CAI_ENOTFOUND) {
        from_manifest = 0;
        rc = list_parts(st, p.data_bucket, p.data_prefix, &ps, &n, err);
    }
    if (rc) goto out;
    qsort(ps, n, sizeof *ps, cmp_part);
    for (size_t i = 1; i < n; i++)
        if (ps[i].num == ps[i - 1].num) {
            rc = cai_seterr(err, CAI_EFORMAT, "%s/%s: partition %llu appears twice (%s and %s)%s", p.data_bucket,
                            p.data_prefix, (unsigned long long)ps[i].num, ps[i - 1].key, ps[i].key,
                            from_manifest ? " in manifest.jsonl" : "");
            goto out;
        }
    if ((uint64_t)p.file_limit > n) {
        rc = cai_seterr(
            err, CAI_EPAYLOAD,
            "payload.json: field \"file_limit\": %lld partitions requested but only %zu found under %s/%s/%s",
            (long long)p.file_limit, n, p.data_bucket, p.data_prefix, from_manifest ? " (manifest.jsonl)" : "");
        goto out;
    }
    if (p.world_size > 1000000) {
        rc = cai_seterr(err, CAI_EPAYLOAD, "payload.json: field \"world_size\": at most 1000000, got %lld",
                        (long long)p.world_size);
        goto out;
    }

    /* Split exactly as the seed: rank r takes the next ceil(files_left / ranks_left) files. */
    cJSON *jobs = cJSON_CreateArray();
    cJSON *data_map = cJSON_CreateObject();
    size_t next = 0, files = (size_t)p.file_limit;
    char *lines = NULL;
    size_t lines_len = 0;
    FILE *mem = open_memstream(&lines, &lines_len);
    if (!jobs || !data_map || !mem) {
        cJSON_Delete(jobs);
        cJSON_Delete(data_map);
        if (mem) fclose(mem);
        free(lines);
        rc = cai_seterr(err, CAI_ENOMEM, "initialize: out of memory");
        goto out;
    }
    for (int64_t r = 0; r < p.world_size; r++) {
        size_t left = files - next, ranks_left = (size_t)(p.world_size - r);
        size_t take = (left + ranks_left - 1) / ranks_left;
        char rs[32];
        snprintf(rs, sizeof rs, "%lld", (long long)r);
        cJSON *j = job_item(&p, ps + next, take, from_manifest, r, run_id);
        const cJSON *dp = cJSON_GetObjectItemCaseSensitive(j, "DATA_PATH");
        if (!j || !cJSON_AddItemToObject(data_map, rs, cJSON_Duplicate(dp, 1))) {
            cJSON_Delete(j);
            if (!rc) rc = cai_seterr(err, CAI_ENOMEM, "initialize: out of memory");
            break;
        }
        char *line = cJSON_PrintUnformatted(j);
        if (line && strlen(line) > CAI_JOB_LINE_MAX) { /* too long for a child execution's input */
            free(line);
            line = NULL;
            if (!rc) rc = job_line_ref(st, &p, j, rs, &line, err);
        }
        if (line) {
            fputs(line, mem);
            fputc('\n', mem);
            free(line);
        }
        cJSON_AddItemToArray(jobs, j);
        next += take;
    }
    fclose(mem);

    /* payload.json: the payload as given plus data_map, at the seed's global place and per run. */
    cJSON *pj = cJSON_Duplicate(p.raw, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(pj, "data_map");
    cJSON_AddItemToObject(pj, "data_map", data_map);
    char *pjs = cJSON_Print(pj);
    cJSON_Delete(pj);
    char key[2048];
    if (!pjs) rc = cai_seterr(err, CAI_ENOMEM, "initialize: out of memory");
    /* A new run (or a resumed one) first removes the previous run's summary and catalog, so they can never be
     * read as this run's: they come back only when this run's Summarize succeeds. */
    if (!rc) rc = cai_outputs_invalidate(st, p.bucket, p.result_path, err);
    if (!rc) rc = cai_store_put(st, p.bucket, "payload.json", pjs, strlen(pjs), err);
    snprintf(key, sizeof key, "%s/payload.json", p.result_path);
    if (!rc) rc = cai_store_put(st, p.bucket, key, pjs, strlen(pjs), err);
    snprintf(key, sizeof key, "%s/jobs.jsonl", p.result_path);
    if (!rc) rc = cai_store_put(st, p.bucket, key, lines, lines_len, err);
    free(pjs);
    free(lines);
    if (rc) {
        cai_err_prefix(err, "initialize: ");
        cJSON_Delete(jobs);
        goto out;
    }
    if (jobs_out) *jobs_out = jobs;
    else cJSON_Delete(jobs);
out:
    free_parts(ps, n);
    cai_payload_free(&p);
    return rc;
}

int cai_jobs_parse(const uint8_t *buf, size_t len, const char *name, cJSON **jobs_out, cai_err *err) {
    *jobs_out = NULL;
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
    size_t line = 0;
    for (size_t off = 0; off < len;) {
        const uint8_t *nl = memchr(buf + off, '\n', len - off);
        size_t e = nl ? (size_t)(nl - buf) : len;
        line++;
        const char *s = (const char *)buf + off;
        size_t l = e - off;
        off = e + 1;
        if (l == 0) continue;
        /* cJSON would stop at a NUL and accept the prefix: a line is the whole line or an error. */
        if (memchr(s, 0, l)) {
            cJSON_Delete(arr);
            return cai_seterr(err, CAI_EFORMAT, "%s line %zu: a NUL byte", name, line);
        }
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts(s, l, &end, 0);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            cJSON_Delete(arr);
            return cai_seterr(err, CAI_EFORMAT, "%s line %zu: not a JSON object", name, line);
        }
        for (; end && end < s + l; end++)
            if (*end != ' ' && *end != '\t' && *end != '\r') {
                cJSON_Delete(j);
                cJSON_Delete(arr);
                return cai_seterr(err, CAI_EFORMAT, "%s line %zu: text after the JSON object", name, line);
            }
        cJSON_AddItemToArray(arr, j);
    }
    *jobs_out = arr;
    return CAI_OK;
}

/* The job's keys go to <result_path>/jobs/<rank>.json; *line gets the job line that references them. */
static int job_line_ref(cai_store *st, const cai_payload *p, const cJSON *j, const char *rank, char **line,
                        cai_err *err) {
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(j, "DATA_PATH");
    cJSON *keys = cJSON_CreateObject();
    for (size_t i = 0; i < sizeof ref_fields / sizeof ref_fields[0]; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, ref_fields[i]);
        if (f) cJSON_AddItemToObject(keys, ref_fields[i], cJSON_Duplicate(f, 1));
    }
    char *txt = cJSON_PrintUnformatted(keys);
    cJSON_Delete(keys);
    char key[2100];
    snprintf(key, sizeof key, "%s/jobs/%s.json", p->result_path, rank);
    int rc =
        txt ? cai_store_put(st, p->bucket, key, txt, strlen(txt), err) : cai_seterr(err, CAI_ENOMEM, "out of memory");
    free(txt);
    if (rc) return rc;
    cJSON *l = cJSON_Duplicate(j, 1);
    for (size_t i = 0; i < sizeof ref_fields / sizeof ref_fields[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(l, ref_fields[i]);
    cJSON *ref = cJSON_AddObjectToObject(l, "CAI_DATA_PATH_REF");
    int n = cJSON_GetArraySize(dp);
    cJSON_AddStringToObject(ref, "key", key);
    cJSON_AddNumberToObject(ref, "count", n);
    cJSON_AddItemToObject(ref, "first", cJSON_Duplicate(cJSON_GetArrayItem(dp, 0), 1));
    cJSON_AddItemToObject(ref, "last", cJSON_Duplicate(cJSON_GetArrayItem(dp, n - 1), 1));
    *line = cJSON_PrintUnformatted(l);
    cJSON_Delete(l);
    return *line ? 0 : cai_seterr(err, CAI_ENOMEM, "out of memory");
}

#define JOB_REF_CAP (256u << 20)

int cai_job_resolve(cai_store *st, const cJSON *job, cJSON **out, cai_err *err) {
    *out = NULL;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(job, "CAI_DATA_PATH_REF");
    if (!ref) return (*out = cJSON_Duplicate(job, 1)) ? 0 : cai_seterr(err, CAI_ENOMEM, "out of memory");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(job, "S3_BUCKET");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(ref, "key"), *c = cJSON_GetObjectItemCaseSensitive(ref, "count");
    if (!cJSON_IsString(b) || !cJSON_IsString(k) || !cJSON_IsNumber(c) ||
        !(c->valuedouble >= 1 && c->valuedouble <= 1e9))
        return cai_seterr(err, CAI_EPAYLOAD,
                          "job: field \"CAI_DATA_PATH_REF\": expected {\"key\": string, \"count\": "
                          "positive number} and a string S3_BUCKET");
    uint8_t *d = NULL;
    size_t n = 0;
    int rc = cai_store_get(st, b->valuestring, k->valuestring, &d, &n, err);
    if (rc) return cai_err_prefix(err, "job: the rank's key list: ");
    cJSON *keys = n <= JOB_REF_CAP ? cJSON_ParseWithLength((const char *)d, n) : NULL;
    free(d);
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(keys, "DATA_PATH");
    int bad = !cJSON_IsArray(dp) || cJSON_GetArraySize(dp) != (int)c->valuedouble;
    for (size_t i = 1; !bad && i < sizeof ref_fields / sizeof ref_fields[0]; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(keys, ref_fields[i]);
        bad = f && (!cJSON_IsArray(f) || cJSON_GetArraySize(f) != cJSON_GetArraySize(dp));
    }
    if (bad) {
        cJSON_Delete(keys);
        return cai_seterr(err, CAI_EFORMAT,
                          "s3://%s/%s: expected {\"DATA_PATH\": [%.0f keys], ...} (the rank's key list)",
                          b->valuestring, k->valuestring, c->valuedouble);
    }
    cJSON *full = cJSON_Duplicate(job, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(full, "CAI_DATA_PATH_REF");
    for (size_t i = 0; i < sizeof ref_fields / sizeof ref_fields[0]; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(keys, ref_fields[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(full, ref_fields[i]);
        if (f) cJSON_AddItemToObject(full, ref_fields[i], cJSON_Duplicate(f, 1));
    }
    cJSON_Delete(keys);
    *out = full;
    return 0;
}

int cai_jobs_read(cai_store *st, const char *bucket, const char *result_path, cJSON **jobs_out, cai_err *err) {
    *jobs_out = NULL;
    char key[2048];
    snprintf(key, sizeof key, "%s/jobs.jsonl", result_path);
    uint8_t *buf;
    size_t len;
    int rc = cai_store_get(st, bucket, key, &buf, &len, err);
    if (rc) return rc;
    char name[2400];
    snprintf(name, sizeof name, "%s/%s", bucket, key);
    rc = cai_jobs_parse(buf, len, name, jobs_out, err);
    /* Lines that reference their keys (a rank of thousands of partitions) get them back in full. */
    int line = 0;
    for (cJSON *j = rc ? NULL : (*jobs_out)->child; j; j = j->next, line++) {
        if (!cJSON_GetObjectItemCaseSensitive(j, "CAI_DATA_PATH_REF")) continue;
        cJSON *full = NULL;
        if ((rc = cai_job_resolve(st, j, &full, err))) {
            cai_err_prefix(err, "%s job %d: ", name, line);
            cJSON_Delete(*jobs_out);
            *jobs_out = NULL;
            break;
        }
        cJSON_ReplaceItemViaPointer(*jobs_out, j, full);
        j = full;
    }
    free(buf);
    return rc;
}
