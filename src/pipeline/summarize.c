/* summarize.c — the Summarize stage: every `<rank>.json` under `<bucket>/<result_path>/` (all pages; the
 * seed's single un-paginated LIST stopped at 1,000) → combined_data.json (the seed's array, ordered by
 * rank), the merged catalog (predictions.fits, predictions.csv) and summary.json.
 *
 * Completeness: the job list (jobs.jsonl) says which partitions the run must cover. Each must appear as
 * "ok" in exactly one trusted rank record, and that rank's predictions file must hold exactly the record's
 * galaxy count for it (and the manifest's, when there was one). Anything else is CAI_EINCOMPLETE, naming
 * the missing or duplicated partitions — after every output has been written, so a partial run can still be
 * inspected. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/util.h"
#include "catalog.h"
#include "initialize.h"
#include "metrics.h"
#include "payload.h"
#include "record.h"
#include "stages.h"

typedef struct {
    int64_t rank;
    cJSON *rec;
} rank_rec;

static int cmp_exp(const void *a, const void *b);

static int cmp_rank(const void *a, const void *b) {
    const rank_rec *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Expected partitions from the job list. */
typedef struct {
    char *key;
    int64_t rank;      /* the rank the job list gave it to */
    int64_t expected;  /* manifest galaxies or -1 */
    int seen;          /* times found "ok" in a trusted record */
    int64_t rows;      /* rows found in predictions files */
    int64_t got;       /* galaxies the record says */
} exp_part;

static int cmp_exp(const void *a, const void *b) { return strcmp(((const exp_part *)a)->key, ((const exp_part *)b)->key); }

typedef struct {
    cai_catalog *cat;
    int64_t *counts;   /* rows per partition number in this rank's file (indexed via map) */
    int64_t *nums;
    size_t nnum;
    const cai_part_expect **pexp; /* per nums index: the manifest entry of that partition, or NULL */
    int bad_partition;
    int64_t bad_value;
    int bad_id;                   /* a row's galaxy id outside its partition's manifest range */
    int64_t bad_id_value, bad_id_part;
} rows_ctx;

static int on_row(const cai_pred_row *r, void *vctx) {
    rows_ctx *c = vctx;
    size_t i;
    for (i = 0; i < c->nnum; i++)
        if (c->nums[i] == r->partition) break;
    if (i == c->nnum) {
        c->bad_partition = 1;
        c->bad_value = r->partition;
        return CAI_EFORMAT;
    }
    /* A row with an id must fall in its partition's manifest range (seed .pt rows carry none: -1). */
    const cai_part_expect *x = c->pexp ? c->pexp[i] : NULL;
    if (x && x->sha256[0] && r->galaxy_id != -1 && (!x->has_ids || r->galaxy_id < x->id_first || r->galaxy_id > x->id_last)) {
        c->bad_id = 1;
        c->bad_id_value = r->galaxy_id;
        c->bad_id_part = r->partition;
        return CAI_EFORMAT;
    }
    c->counts[i]++;
    cai_err e;
    return cai_catalog_add(c->cat, r, &e);
}

static void add_str_list(cJSON *arr, const char *s) {
    if (cJSON_GetArraySize(arr) < 1000) cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double num_or(const cJSON *o, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int cai_summarize(cai_store *st, const char *bucket, const char *result_path_in, cJSON **summary_out,
                  cai_err *err) {
    return cai_summarize_ex(st, bucket, result_path_in, NULL, summary_out, err);
}

/* sha256 of the input's manifest.jsonl (provenance), or "" when the data set has none. */
static void manifest_sha(cai_store *st, const char *data_bucket, const char *data_prefix, char out[65]) {
    out[0] = 0;
    if (!data_bucket || !data_prefix) return;
    char k[2300];
    snprintf(k, sizeof k, "%s/manifest.jsonl", data_prefix);
    uint8_t *b;
    size_t l;
    if (cai_store_get(st, data_bucket, k, &b, &l, NULL) == CAI_OK) {
        cai_sha256_hex(b, l, out);
        free(b);
    }
}

/* Write a catalog file through a local temporary, then PUT it. */
static int put_via_tmp(cai_store *st, const char *bucket, const char *key, const cai_catalog *cat,
                       const cai_catalog_meta *meta, int hdf5, cai_err *err) {
    const char *tmp = getenv("TMPDIR");
    char tpath[4096];
    snprintf(tpath, sizeof tpath, "%s/cai-catalog-%ld-%p.%s", tmp && *tmp ? tmp : "/tmp", (long)getpid(),
             (const void *)cat, hdf5 ? "h5" : "fits");
    int rc = hdf5 ? cai_catalog_write_hdf5(cat, meta, tpath, err) : cai_catalog_write_fits(cat, meta, tpath, err);
    if (!rc) {
        cai_file f;
        rc = cai_file_map(tpath, &f, err);
        if (!rc) {
            rc = cai_store_put(st, bucket, key, f.data, f.len, err);
            cai_file_unmap(&f);
        }
    }
    unlink(tpath);
    return rc;
}

int cai_summarize_ex(cai_store *st, const char *bucket, const char *result_path_in, const cai_summarize_opts *so,
                     cJSON **summary_out, cai_err *err) {
    if (summary_out) *summary_out = NULL;
    double m0 = cai_mono_now();
    while (*result_path_in == '/') result_path_in++;
    char rp[2048];
    snprintf(rp, sizeof rp, "%s", result_path_in);
    size_t rpl = strlen(rp);
    while (rpl && rp[rpl - 1] == '/') rp[--rpl] = 0;
    if (!rpl) return cai_seterr(err, CAI_EARG, "summarize: empty result_path");

    /* The per-run payload (catalog on/off, run_id) and the job list; both optional for a seed-made run. */
    int catalog_on = 1, catalog_csv = so && so->csv, tta = 1;
    char *run_id = NULL, *calspec = so && so->calibration ? strdup(so->calibration) : NULL;
    char msha[65] = "";
    char key[2300];
    {
        snprintf(key, sizeof key, "%s/payload.json", rp);
        uint8_t *b;
        size_t l;
        if (cai_store_get(st, bucket, key, &b, &l, NULL) == CAI_OK) {
            cai_payload p;
            if (cai_payload_parse((const char *)b, l, key, &p, NULL) == CAI_OK) {
                catalog_on = p.catalog;
                if (p.run_id) run_id = strdup(p.run_id);
                if (!calspec && p.calibration) calspec = strdup(p.calibration);
                catalog_csv |= p.catalog_csv;
                tta = p.tta;
                manifest_sha(st, p.data_bucket, p.data_prefix, msha);
                cai_payload_free(&p);
            }
            free(b);
        }
    }
    /* A calibration that cannot be read or parsed is refused before anything is touched (whether it belongs
     * to the run's weights is checked once the records have said which weights those are). */
    cai_calib cal;
    memset(&cal, 0, sizeof cal);
    if (calspec && cai_calib_fetch(st, bucket, calspec, &cal, err)) {
        free(run_id);
        free(calspec);
        cai_calib_free(&cal);
        return cai_err_prefix(err, "summarize: ");
    }
    cJSON *jobs = NULL;
    cai_err je = {0};
    int have_jobs = cai_jobs_read(st, bucket, rp, &jobs, &je) == CAI_OK;
    if (!have_jobs && je.code != CAI_ENOTFOUND) {
        free(run_id);
        free(calspec);
        cai_calib_free(&cal);
        return cai_seterr(err, je.code, "summarize: %s", je.msg);
    }
    /* The previous summary and catalog go first: whatever happens below, none of them can be mistaken for
     * this Summarize's outputs. Only for a CAI run (a job list): a seed-made result_path may hold nothing but
     * the seed's combined_data.json, which must not be lost. */
    if (have_jobs && cai_outputs_invalidate(st, bucket, rp, err)) {
        cJSON_Delete(jobs);
        free(run_id);
        free(calspec);
        cai_calib_free(&cal);
        return cai_err_prefix(err, "summarize: ");
    }
    /* The run's identity (CAI_RUN_ID of the job list): records of any other run are not this run's. */
    char *job_run_id = NULL;
    if (have_jobs && jobs->child) {
        const cJSON *ri = cJSON_GetObjectItemCaseSensitive(jobs->child, "CAI_RUN_ID");
        if (cJSON_IsString(ri) && *ri->valuestring) {
            job_run_id = strdup(ri->valuestring);
            free(run_id);
            run_id = strdup(ri->valuestring);
        }
    }
    exp_part *ex = NULL;
    size_t nex = 0;
    int64_t nranks_expected = have_jobs ? cJSON_GetArraySize(jobs) : 0;
    if (have_jobs) {
        size_t cap = 0;
        for (cJSON *jb = jobs->child; jb; jb = jb->next) {
            cai_job j;
            if (cai_job_parse(jb, &j, &je)) {
                cJSON_Delete(jobs);
                for (size_t i = 0; i < nex; i++) free(ex[i].key);
                free(ex);
                free(run_id);
                free(calspec);
                cai_calib_free(&cal);
                free(job_run_id);
                return cai_seterr(err, je.code, "summarize: %s/jobs.jsonl: %s", rp, je.msg);
            }
            for (size_t i = 0; i < j.nkeys; i++) {
                if (nex == cap) {
                    cap = cap ? cap * 2 : 256;
                    exp_part *ne = realloc(ex, cap * sizeof *ne);
                    if (!ne) abort();
                    ex = ne;
                }
                ex[nex] = (exp_part){strdup(j.keys[i]), j.rank, j.expected ? j.expected[i] : -1, 0, 0, 0};
                nex++;
            }
            cai_job_free(&j);
        }
    }

    qsort(ex, nex, sizeof *ex, cmp_exp); /* looked up by key below: O(log n) each, 10^5 partitions stay fast */
    /* Job items by rank, for O(1) access. */
    cJSON **job_at = calloc((size_t)(nranks_expected > 0 ? nranks_expected : 1), sizeof *job_at);
    if (!job_at) abort();
    {
        int64_t i = 0;
        for (cJSON *jb = jobs ? jobs->child : NULL; jb; jb = jb->next) job_at[i++] = jb;
    }

    /* Every <rank>.json directly under result_path. */
    char pfx[2100];
    snprintf(pfx, sizeof pfx, "%s/", rp);
    cai_keylist kl;
    int rc = cai_store_list(st, bucket, pfx, &kl, err);
    if (rc) {
        cJSON_Delete(jobs);
        for (size_t i = 0; i < nex; i++) free(ex[i].key);
        free(ex);
        free(run_id);
        free(calspec);
        cai_calib_free(&cal);
        free(job_run_id);
        return cai_err_prefix(err, "summarize: ");
    }
    rank_rec *rr = calloc(kl.n ? kl.n : 1, sizeof *rr);
    size_t nrr = 0;
    cJSON *warnings = cJSON_CreateArray();
    if (!have_jobs) add_str_list(warnings, "no jobs.jsonl under result_path: completeness not checked");
    for (size_t i = 0; i < kl.n; i++) {
        const char *rest = kl.keys[i] + strlen(pfx);
        char *end;
        long long r = strtoll(rest, &end, 10);
        if (end == rest || strcmp(end, ".json") != 0 || rest[0] == '-' || rest[0] == '+') continue;
        uint8_t *b;
        size_t l;
        cai_err ge = {0};
        if (cai_store_get(st, bucket, kl.keys[i], &b, &l, &ge)) {
            char w[1200];
            snprintf(w, sizeof w, "%s: %s", kl.keys[i], ge.msg);
            add_str_list(warnings, w);
            continue;
        }
        cJSON *rec = cJSON_ParseWithLength((const char *)b, l);
        free(b);
        if (!cJSON_IsObject(rec)) {
            cJSON_Delete(rec);
            char w[1200];
            snprintf(w, sizeof w, "%s: not a JSON object; ignored", kl.keys[i]);
            add_str_list(warnings, w);
            continue;
        }
        rr[nrr].rank = r;
        rr[nrr].rec = rec;
        nrr++;
    }
    cai_keylist_free(&kl);
    qsort(rr, nrr, sizeof *rr, cmp_rank);

    /* combined_data.json: every record, by rank. */
    cJSON *combined = cJSON_CreateArray();
    cai_catalog cat = {0};
    cJSON *failed = cJSON_CreateArray();
    double first_start = INFINITY, last_end = -INFINITY, cpu_total = 0, rss_max = 0, infer_total = 0;
    int64_t galaxies = 0, ranks_ok = 0;
    int untrained = -1;
    char variant[32] = "", wsha[65] = "", precision[16] = "";
    int mixed_weights = 0, rec_tta = 0; /* the TTA setting the ranks say they used (0: none says) */
    char *seen_rank = calloc((size_t)(nranks_expected > 0 ? nranks_expected : 1), 1);
    int64_t ignored_outside = 0, ignored_other_run = 0;
    char *other_run_rank = calloc((size_t)(nranks_expected > 0 ? nranks_expected : 1), 1);
    for (size_t i = 0; i < nrr; i++) {
        cJSON *rec = rr[i].rec;
        int64_t r = rr[i].rank;
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(rec, "status");
        const char *sts = cJSON_IsString(status) ? status->valuestring : "ok"; /* a seed record has no status */
        /* combined_data.json holds exactly the job list's records of this run: a rank beyond the job list
         * (an earlier run with more ranks) or a record of another run is left out, and counted. */
        if (have_jobs && r >= nranks_expected) {
            ignored_outside++;
            continue;
        }
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(rec, "run_id");
        if (job_run_id && (!cJSON_IsString(rid) || strcmp(rid->valuestring, job_run_id) != 0)) {
            ignored_other_run++;
            other_run_rank[r] = 1;
            continue;
        }
        if (have_jobs) seen_rank[r] = 1;
        /* A record from an older run at the same result_path does not count. */
        cai_job j;
        int have_job = 0;
        if (have_jobs) {
            cJSON *jb = job_at[r];
            if (jb && cai_job_parse(jb, &j, NULL) == CAI_OK) {
                have_job = 1;
                const cJSON *dp = cJSON_GetObjectItemCaseSensitive(rec, "data_path");
                int same = dp && cJSON_Compare(dp, j.data_path, 1);
                if (!same) {
                    cai_job_free(&j);
                    cJSON *fo = cJSON_CreateObject();
                    cJSON_AddNumberToObject(fo, "rank", (double)r);
                    cJSON_AddStringToObject(fo, "reason", "record names another DATA_PATH than the job (stale record?)");
                    cJSON_AddItemToArray(failed, fo);
                    continue;
                }
            }
        }
        cJSON_AddItemReferenceToArray(combined, rec);
        double s0 = num_or(rec, "start_unix", NAN), s1 = num_or(rec, "end_unix", NAN);
        if (isfinite(s0) && s0 < first_start) first_start = s0;
        if (isfinite(s1) && s1 > last_end) last_end = s1;
        cpu_total += num_or(rec, "total_cpu_time (seconds)", 0);
        double rss = num_or(rec, "peak_rss_mb", 0);
        if (rss > rss_max) rss_max = rss;
        const cJSON *stg = cJSON_GetObjectItemCaseSensitive(rec, "stage_seconds");
        infer_total += num_or(stg, "infer", 0);
        const cJSON *mj = cJSON_GetObjectItemCaseSensitive(rec, "model");
        const cJSON *mv = cJSON_GetObjectItemCaseSensitive(mj, "variant");
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(mj, "weights_sha256");
        const cJSON *mu = cJSON_GetObjectItemCaseSensitive(mj, "untrained");
        if (cJSON_IsString(mv) && !variant[0]) snprintf(variant, sizeof variant, "%s", mv->valuestring);
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(rec, "precision"); /* what each rank ran */
        if (cJSON_IsString(pr) && !precision[0]) snprintf(precision, sizeof precision, "%s", pr->valuestring);
        else if (cJSON_IsString(pr) && strcmp(precision, pr->valuestring)) snprintf(precision, sizeof precision, "mixed");
        if (cJSON_IsString(ms)) {
            if (!wsha[0]) snprintf(wsha, sizeof wsha, "%s", ms->valuestring);
            else if (strcmp(wsha, ms->valuestring)) mixed_weights = 1;
        }
        if (cJSON_IsBool(mu)) untrained = untrained == 1 ? 1 : cJSON_IsTrue(mu);
        int rtta = num_or(rec, "tta", 1) == 8 ? 8 : 1;
        if (rtta > rec_tta) rec_tta = rtta;

        if (strcmp(sts, "ok") != 0 && strcmp(sts, "empty") != 0) {
            cJSON *fo = cJSON_CreateObject();
            cJSON_AddNumberToObject(fo, "rank", (double)r);
            cJSON_AddStringToObject(fo, "status", sts);
            const cJSON *er = cJSON_GetObjectItemCaseSensitive(rec, "error");
            cJSON_AddStringToObject(fo, "reason", cJSON_IsString(er) ? er->valuestring : "(no error recorded)");
            cJSON_AddItemToArray(failed, fo);
        } else {
            ranks_ok++;
        }
        /* The rank's ok partitions and their predictions (a "partial" rank's done partitions count too). */
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(rec, "partitions");
        size_t np = cJSON_IsArray(parts) ? (size_t)cJSON_GetArraySize(parts) : 0;
        int64_t *nums = calloc(np ? np : 1, sizeof *nums), *counts = calloc(np ? np : 1, sizeof *counts);
        int64_t *want = calloc(np ? np : 1, sizeof *want);
        const char **pkeys = calloc(np ? np : 1, sizeof *pkeys);
        const cai_part_expect **pexp = calloc(np ? np : 1, sizeof *pexp);
        size_t nok = 0;
        for (const cJSON *pj = parts ? parts->child : NULL; pj; pj = pj->next) {
            const cJSON *ps = cJSON_GetObjectItemCaseSensitive(pj, "status");
            const cJSON *pk = cJSON_GetObjectItemCaseSensitive(pj, "key");
            if (!cJSON_IsString(ps) || strcmp(ps->valuestring, "ok") || !cJSON_IsString(pk)) continue;
            nums[nok] = (int64_t)num_or(pj, "partition", -1);
            want[nok] = (int64_t)num_or(pj, "galaxies", 0);
            pkeys[nok] = pk->valuestring;
            for (size_t q = 0; have_job && j.pexp && q < j.nkeys; q++)
                if (!strcmp(j.keys[q], pk->valuestring)) pexp[nok] = &j.pexp[q];
            nok++;
        }
        const cJSON *pred_key = cJSON_GetObjectItemCaseSensitive(rec, "predictions");
        int rows_ok = 1;
        char why[1200] = "";
        if (nok && cJSON_IsString(pred_key)) {
            uint8_t *b;
            size_t l;
            cai_err pe = {0};
            size_t before = cat.n;
            if (cai_store_get(st, bucket, pred_key->valuestring, &b, &l, &pe) == CAI_OK) {
                rows_ctx c = {&cat, counts, nums, nok, pexp, 0, 0, 0, 0, 0};
                int prc = cai_predictions_parse((const char *)b, l, pred_key->valuestring, on_row, &c, &pe);
                free(b);
                if (prc) {
                    rows_ok = 0;
                    if (c.bad_id)
                        snprintf(why, sizeof why, "%s: galaxy id %lld of partition %lld is outside the manifest's id "
                                 "range for it", pred_key->valuestring, (long long)c.bad_id_value,
                                 (long long)c.bad_id_part);
                    else if (c.bad_partition)
                        snprintf(why, sizeof why, "%s: rows for partition %lld, which the record does not list as done",
                                 pred_key->valuestring, (long long)c.bad_value);
                    else
                        snprintf(why, sizeof why, "%s", pe.msg);
                }
                for (size_t k = 0; rows_ok && k < nok; k++)
                    if (counts[k] != want[k]) {
                        rows_ok = 0;
                        snprintf(why, sizeof why, "%.300s: %lld rows for %.300s, the record says %lld galaxies",
                                 pred_key->valuestring, (long long)counts[k], pkeys[k], (long long)want[k]);
                    }
            } else {
                rows_ok = 0;
                snprintf(why, sizeof why, "%s", pe.msg);
            }
            if (!rows_ok) cat.n = before; /* drop this rank's rows: they cannot be trusted */
        } else if (nok) {
            rows_ok = 0;
            snprintf(why, sizeof why, "record lists done partitions but names no predictions file");
        }
        if (!rows_ok) {
            cJSON *fo = cJSON_CreateObject();
            cJSON_AddNumberToObject(fo, "rank", (double)r);
            cJSON_AddStringToObject(fo, "status", "bad-predictions");
            cJSON_AddStringToObject(fo, "reason", why);
            cJSON_AddItemToArray(failed, fo);
            if (!strcmp(sts, "ok") || !strcmp(sts, "empty")) ranks_ok--;
        } else {
            for (size_t k = 0; k < nok; k++) {
                galaxies += want[k];
                exp_part probe = {.key = (char *)pkeys[k]};
                exp_part *hit = nex ? bsearch(&probe, ex, nex, sizeof *ex, cmp_exp) : NULL;
                if (hit) {
                    hit->seen++;
                    hit->rows += counts[k];
                    hit->got = want[k];
                }
            }
        }
        free(nums);
        free(counts);
        free(want);
        free(pkeys);
        free(pexp);
        if (have_job) cai_job_free(&j);
    }
    /* Ranks with no record at all. */
    for (int64_t r = 0; have_jobs && r < nranks_expected; r++)
        if (!seen_rank[r]) {
            cJSON *fo = cJSON_CreateObject();
            cJSON_AddNumberToObject(fo, "rank", (double)r);
            cJSON_AddStringToObject(fo, "status", "missing");
            cJSON_AddStringToObject(fo, "reason", other_run_rank[r] ? "only a record of another run (this run's worker "
                                                                      "did not finish)"
                                                                    : "no rank record (the worker did not finish)");
            cJSON_AddItemToArray(failed, fo);
        }
    free(seen_rank);
    free(other_run_rank);
    free(job_at);
    if (ignored_outside || ignored_other_run) {
        char w[300];
        snprintf(w, sizeof w, "ignored %lld record(s) of other runs and %lld of ranks outside the job list",
                 (long long)ignored_other_run, (long long)ignored_outside);
        add_str_list(warnings, w);
    }

    /* Galaxy ids unique across the run (shards carry ids; a seed .pt galaxy is identified by (partition,
     * index), unique once partitions are). */
    int64_t ndupids = 0;
    cJSON *dupids = cJSON_CreateArray();
    {
        int64_t *ids = malloc((cat.n ? cat.n : 1) * sizeof *ids);
        if (!ids) abort();
        size_t nid = 0;
        for (size_t k = 0; k < cat.n; k++)
            if (cat.rows[k].galaxy_id >= 0) ids[nid++] = cat.rows[k].galaxy_id;
        qsort(ids, nid, sizeof *ids, cmp_i64);
        for (size_t k = 1; k < nid; k++)
            if (ids[k] == ids[k - 1] && (k < 2 || ids[k - 1] != ids[k - 2])) {
                ndupids++;
                if (cJSON_GetArraySize(dupids) < 20) cJSON_AddItemToArray(dupids, cJSON_CreateNumber((double)ids[k]));
            }
        free(ids);
    }

    /* Completeness over the job list's partitions. */
    cJSON *missing = cJSON_CreateArray(), *dup = cJSON_CreateArray(), *mismatch = cJSON_CreateArray();
    int64_t nmissing = 0, ndup = 0, nmis = 0, expected_galaxies = 0;
    int expected_known = nex > 0;
    for (size_t e = 0; e < nex; e++) {
        if (ex[e].expected < 0) expected_known = 0;
        else expected_galaxies += ex[e].expected;
        if (ex[e].seen == 0) nmissing++, add_str_list(missing, ex[e].key);
        else if (ex[e].seen > 1) ndup++, add_str_list(dup, ex[e].key);
        else if (ex[e].expected >= 0 && ex[e].rows != ex[e].expected) nmis++, add_str_list(mismatch, ex[e].key);
    }
    int complete = have_jobs && nmissing == 0 && ndup == 0 && nmis == 0 && ndupids == 0 &&
                   cJSON_GetArraySize(failed) == 0;

    if (rec_tta > 0) tta = rec_tta; /* what the ranks did, over what the payload asked */
    /* Calibration: applied to every catalog row; refused when made for other weights. */
    int have_cal = 0;
    cai_err cal_err = {0};
    if (calspec && cai_calib_check(&cal, calspec, wsha[0] && !mixed_weights ? wsha : NULL, tta, &cal_err) == CAI_OK) {
        have_cal = 1;
        cai_catalog_apply_calib(&cat, &cal);
    }

    /* Outputs. */
    char *txt = cJSON_Print(combined);
    snprintf(key, sizeof key, "%s/combined_data.json", rp);
    rc = txt ? cai_store_put(st, bucket, key, txt, strlen(txt), err) : cai_seterr(err, CAI_ENOMEM, "out of memory");
    free(txt);
    if (!rc && calspec && !have_cal) rc = cai_seterr(err, cal_err.code ? cal_err.code : CAI_EARG, "%s", cal_err.msg);
    char fits_key[2300] = "", csv_key[2300] = "", h5_key[2300] = "", ccsv_key[2300] = "";
    cai_catalog_meta meta = {variant[0] ? variant : NULL, wsha[0] && !mixed_weights ? wsha : NULL, untrained,
                             bucket, rp, run_id, have_cal ? cal.sha256 : NULL, msha[0] ? msha : NULL, tta};
    if (!rc && catalog_on) {
        char *csv;
        size_t csvl;
        rc = cai_catalog_csv(&cat, &csv, &csvl, err);
        if (!rc) {
            snprintf(csv_key, sizeof csv_key, "%s/predictions.csv", rp);
            rc = cai_store_put(st, bucket, csv_key, csv, csvl, err);
            free(csv);
        }
        if (!rc) {
            snprintf(fits_key, sizeof fits_key, "%s/predictions.fits", rp);
            rc = put_via_tmp(st, bucket, fits_key, &cat, &meta, 0, err);
        }
        if (!rc) {
            snprintf(h5_key, sizeof h5_key, "%s/predictions.h5", rp);
            rc = put_via_tmp(st, bucket, h5_key, &cat, &meta, 1, err);
        }
        if (!rc && catalog_csv) {
            char *ctxt;
            size_t ctl;
            rc = cai_catalog_csv_full(&cat, &meta, &ctxt, &ctl, err);
            if (!rc) {
                snprintf(ccsv_key, sizeof ccsv_key, "%s/catalog.csv", rp);
                rc = cai_store_put(st, bucket, ccsv_key, ctxt, ctl, err);
                free(ctxt);
            }
        }
    }

    cJSON *sum = cJSON_CreateObject();
    cJSON_AddStringToObject(sum, "bucket", bucket);
    cJSON_AddStringToObject(sum, "result_path", rp);
    if (run_id) cJSON_AddStringToObject(sum, "run_id", run_id);
    cJSON_AddNumberToObject(sum, "ranks", have_jobs ? (double)nranks_expected : (double)nrr);
    cJSON_AddNumberToObject(sum, "rank_records", (double)nrr);
    cJSON_AddNumberToObject(sum, "ranks_ok", (double)ranks_ok);
    cJSON_AddNumberToObject(sum, "partitions", (double)nex);
    cJSON_AddNumberToObject(sum, "galaxies", (double)galaxies);
    if (expected_known) cJSON_AddNumberToObject(sum, "expected_galaxies", (double)expected_galaxies);
    cJSON_AddNumberToObject(sum, "catalog_rows", (double)cat.n);
    double wall = isfinite(first_start) && isfinite(last_end) ? last_end - first_start : 0;
    cJSON_AddNumberToObject(sum, "wall_seconds", wall);
    if (isfinite(first_start)) {
        char a[40], b2[40];
        cai_iso8601(first_start, a, sizeof a);
        cai_iso8601(last_end, b2, sizeof b2);
        cJSON_AddStringToObject(sum, "first_start_iso", a);
        cJSON_AddStringToObject(sum, "last_end_iso", b2);
    }
    cJSON_AddNumberToObject(sum, "galaxies_per_second", wall > 0 ? (double)galaxies / wall : 0);
    cJSON_AddNumberToObject(sum, "cpu_seconds_total", cpu_total);
    cJSON_AddNumberToObject(sum, "infer_seconds_total", infer_total);
    cJSON_AddNumberToObject(sum, "peak_rss_mb_max", rss_max);
    if (precision[0]) cJSON_AddStringToObject(sum, "precision", precision);
    cJSON *mj = cJSON_AddObjectToObject(sum, "model");
    if (variant[0]) cJSON_AddStringToObject(mj, "variant", variant);
    if (wsha[0]) cJSON_AddStringToObject(mj, "weights_sha256", mixed_weights ? "mixed" : wsha);
    if (untrained >= 0) cJSON_AddBoolToObject(mj, "untrained", untrained);
    if (untrained == 1)
        cJSON_AddStringToObject(sum, "note", "untrained weights: the predictions are not physical redshifts");
    if (catalog_on && !rc) {
        cJSON *cj = cJSON_AddObjectToObject(sum, "catalog");
        cJSON_AddStringToObject(cj, "fits", fits_key);
        cJSON_AddStringToObject(cj, "csv", csv_key);
        cJSON_AddStringToObject(cj, "hdf5", h5_key);
        if (ccsv_key[0]) cJSON_AddStringToObject(cj, "catalog_csv", ccsv_key);
        char colnames[600];
        cai_catalog_columns(&cat, colnames, sizeof colnames);
        cJSON_AddStringToObject(cj, "columns", colnames);
    }
    cJSON_AddNumberToObject(sum, "tta", tta > 1 ? tta : 1);
    if (have_cal) {
        /* With labels, how often the true z falls inside the intervals: the calibration's own check. */
        cJSON *cj = cJSON_AddObjectToObject(sum, "calibration");
        cJSON_AddStringToObject(cj, "source", calspec);
        cJSON_AddStringToObject(cj, "sha256", cal.sha256);
        int64_t nin68 = 0, nin95 = 0, nl = 0;
        for (size_t i = 0; i < cat.n; i++) {
            const cai_pred_row *r = &cat.rows[i];
            if (!r->has_label || !isfinite(r->label) || !isfinite(r->cal[CAI_CAL_LO68])) continue;
            nl++;
            nin68 += r->label >= r->cal[CAI_CAL_LO68] && r->label <= r->cal[CAI_CAL_HI68];
            nin95 += r->label >= r->cal[CAI_CAL_LO95] && r->label <= r->cal[CAI_CAL_HI95];
        }
        if (nl) {
            cJSON_AddNumberToObject(cj, "labelled", (double)nl);
            cJSON_AddNumberToObject(cj, "coverage_68", (double)nin68 / (double)nl);
            cJSON_AddNumberToObject(cj, "coverage_95", (double)nin95 / (double)nl);
        }
    }
    if (cat.any_label) {
        cai_metrics m;
        float *pp = malloc((cat.n ? cat.n : 1) * sizeof *pp), *zz = malloc((cat.n ? cat.n : 1) * sizeof *zz);
        for (size_t i = 0; pp && zz && i < cat.n; i++) pp[i] = cat.rows[i].prediction, zz[i] = cat.rows[i].label;
        if (pp && zz && cai_metrics_compute(pp, zz, (int64_t)cat.n, &m, NULL) == CAI_OK)
            cJSON_AddItemToObject(sum, "metrics", cai_metrics_json(&m));
        free(pp);
        free(zz);
    } else {
        cJSON_AddNullToObject(sum, "metrics");
    }
    /* "complete" only when every check held and every output was written (summary.json itself last). */
    if (have_jobs) cJSON_AddBoolToObject(sum, "complete", complete && !rc);
    else cJSON_AddNullToObject(sum, "complete"); /* a seed-made run: no job list to check against */
    cJSON_AddItemToObject(sum, "failed_ranks", failed);
    cJSON_AddItemToObject(sum, "missing_partitions", missing);
    cJSON_AddItemToObject(sum, "duplicated_partitions", dup);
    cJSON_AddItemToObject(sum, "miscounted_partitions", mismatch);
    cJSON_AddNumberToObject(sum, "duplicated_galaxy_ids", (double)ndupids);
    cJSON_AddItemToObject(sum, "duplicated_galaxy_id_examples", dupids);
    cJSON_AddNumberToObject(sum, "ignored_records", (double)(ignored_outside + ignored_other_run));
    cJSON_AddItemToObject(sum, "warnings", warnings);
    cJSON_AddNumberToObject(sum, "summarize_seconds", cai_mono_now() - m0);
    if (!rc) {
        txt = cJSON_Print(sum);
        snprintf(key, sizeof key, "%s/summary.json", rp);
        rc = txt ? cai_store_put(st, bucket, key, txt, strlen(txt), err) : cai_seterr(err, CAI_ENOMEM, "out of memory");
        free(txt);
    }
    if (rc) {
        /* Never leave a partial set: remove what this Summarize wrote (summary.json first). The store's error
         * names the cause (e.g. "No space left on device"). */
        if (have_jobs) cai_outputs_invalidate(st, bucket, rp, NULL);
        cJSON_ReplaceItemInObjectCaseSensitive(sum, "complete", have_jobs ? cJSON_CreateFalse() : cJSON_CreateNull());
        cJSON_DeleteItemFromObjectCaseSensitive(sum, "catalog");
        cai_err_prefix(err, "summarize: ");
    }

    if (!rc && have_jobs && !complete) {
        /* Name what is wrong: missing/duplicated partitions first, then failed ranks. */
        char msg[900] = "";
        size_t ml = 0;
        const cJSON *lists[3] = {missing, dup, mismatch};
        const char *names[3] = {"missing", "duplicated", "miscounted"};
        int64_t counts3[3] = {nmissing, ndup, nmis};
        for (int k = 0; k < 3; k++) {
            if (!counts3[k] || ml >= sizeof msg - 80) continue;
            ml += (size_t)snprintf(msg + ml, sizeof msg - ml, "%lld %s partition(s):", (long long)counts3[k], names[k]);
            int shown = 0;
            for (const cJSON *it = lists[k]->child; it && shown < 8 && ml < sizeof msg - 80; it = it->next, shown++)
                ml += (size_t)snprintf(msg + ml, sizeof msg - ml, " %s", it->valuestring);
            if (counts3[k] > shown) ml += (size_t)snprintf(msg + ml, sizeof msg - ml, " ...");
            ml += (size_t)snprintf(msg + ml, sizeof msg - ml, "; ");
        }
        if (ndupids && ml < sizeof msg - 120)
            ml += (size_t)snprintf(msg + ml, sizeof msg - ml,
                                   "%lld galaxy id(s) predicted more than once across partitions (e.g. %.0f); ",
                                   (long long)ndupids, cJSON_GetArrayItem(dupids, 0)->valuedouble);
        int nf = cJSON_GetArraySize(failed);
        if (nf && ml < sizeof msg - 80) {
            ml += (size_t)snprintf(msg + ml, sizeof msg - ml, "%d failed rank(s):", nf);
            int shown = 0;
            for (const cJSON *it = failed->child; it && shown < 8 && ml < sizeof msg - 40; it = it->next, shown++)
                ml += (size_t)snprintf(msg + ml, sizeof msg - ml, " %.0f",
                                       num_or(it, "rank", -1));
            if (nf > shown) ml += (size_t)snprintf(msg + ml, sizeof msg - ml, " ...");
        }
        rc = cai_seterr(err, CAI_EINCOMPLETE, "summarize %s/%s: incomplete run: %s", bucket, rp, msg);
    }
    if (summary_out) *summary_out = sum;
    else cJSON_Delete(sum);
    cJSON_Delete(combined);
    for (size_t i = 0; i < nrr; i++) cJSON_Delete(rr[i].rec);
    free(rr);
    cai_catalog_free(&cat);
    cai_calib_free(&cal);
    free(calspec);
    cJSON_Delete(jobs);
    for (size_t i = 0; i < nex; i++) free(ex[i].key);
    free(ex);
    free(run_id);
    free(job_run_id);
    return rc;
}
