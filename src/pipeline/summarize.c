/* summarize.c — the Summarize stage: every `<rank>.json` under `<bucket>/<result_path>/` (all pages; the
 * seed's single un-paginated LIST stopped at 1,000) → combined_data.json (the seed's array, ordered by
 * rank), the merged catalog (predictions.fits, predictions.csv) and summary.json.
 *
 * Completeness: the job list (jobs.jsonl) says which partitions the run must cover. Each must appear as
 * "ok" in exactly one trusted rank record, and that rank's predictions file must hold exactly the record's
 * galaxy count for it (and the manifest's, when there was one). Anything else is CAI_EINCOMPLETE, naming
 * the missing or duplicated partitions — after every output has been written, so a partial run can still be
 * inspected.
 *
 * The steps, in order (cai_summarize_ex): sum_begin (payload, calibration), sum_read_jobs (expected
 * partitions), sum_read_records, sum_rank for each record (trust, totals, its predictions rows),
 * sum_missing_ranks, sum_dup_ids, sum_completeness, sum_write_outputs, sum_summary, sum_incomplete. */
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
#include "rank_record.h"
#include "record.h"
#include "stages.h"

typedef struct {
    int64_t rank;
    cJSON *rec;        /* as read: combined_data.json holds it verbatim */
    cai_rank_record r; /* the typed view of rec */
} rank_rec;

static int cmp_rank(const void *a, const void *b) {
    const rank_rec *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Expected partitions from the job list. */
typedef struct {
    char *key;
    int64_t rank;     /* the rank the job list gave it to */
    int64_t expected; /* manifest galaxies or -1 */
    int seen;         /* times found "ok" in a trusted record */
    int64_t rows;     /* rows found in predictions files */
    int64_t got;      /* galaxies the record says */
} exp_part;

static int cmp_exp(const void *a, const void *b) {
    return strcmp(((const exp_part *)a)->key, ((const exp_part *)b)->key);
}

/* One "ok" partition of a rank's record, and the rows its predictions file holds for it. */
typedef struct {
    const char *key;
    int64_t num;                 /* partition number */
    int64_t want;                /* galaxies the record says */
    int64_t count;               /* rows found */
    const cai_part_expect *pexp; /* its manifest entry, or NULL */
} ok_part;

typedef struct {
    cai_catalog *cat;
    ok_part *ok;
    size_t nok;
    int bad_partition;
    int64_t bad_value;
    int bad_id; /* a row's galaxy id outside its partition's manifest range */
    int64_t bad_id_value, bad_id_part;
} rows_ctx;

static int on_row(const cai_pred_row *r, void *vctx) {
    rows_ctx *c = vctx;
    size_t i;
    for (i = 0; i < c->nok; i++)
        if (c->ok[i].num == r->partition) break;
    if (i == c->nok) {
        c->bad_partition = 1;
        c->bad_value = r->partition;
        return CAI_EFORMAT;
    }
    /* A row with an id must fall in its partition's manifest range (seed .pt rows carry none: -1). */
    const cai_part_expect *x = c->ok[i].pexp;
    if (x && x->sha256[0] && r->galaxy_id != -1 &&
        (!x->has_ids || r->galaxy_id < x->id_first || r->galaxy_id > x->id_last)) {
        c->bad_id = 1;
        c->bad_id_value = r->galaxy_id;
        c->bad_id_part = r->partition;
        return CAI_EFORMAT;
    }
    c->ok[i].count++;
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

int cai_summarize(cai_store *st, const char *bucket, const char *result_path_in, cJSON **summary_out, cai_err *err) {
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

/* ---- one Summarize ---- */

typedef struct {
    cai_store *st;
    const char *bucket;
    char rp[2048]; /* result_path without surrounding '/' */
    double m0;
    /* from the run's payload.json (optional for a seed-made run) */
    int catalog_on, catalog_csv, tta;
    char *run_id, *calspec;
    char msha[65];
    cai_calib cal;
    /* the job list (optional for a seed-made run) */
    cJSON *jobs;
    int have_jobs;
    int64_t nranks;   /* ranks in the job list */
    char *job_run_id; /* CAI_RUN_ID of the job list: records of other runs are not this run's */
    cJSON **job_at;   /* job item by rank */
    exp_part *ex;     /* expected partitions, sorted by key */
    size_t nex;
    /* the records, by rank */
    rank_rec *rr;
    size_t nrr;
    char *seen_rank, *other_run_rank;
    int64_t ignored_outside, ignored_other_run;
    /* what the trusted records say, summed */
    cJSON *combined, *failed, *warnings;
    cai_catalog cat;
    double first_start, last_end, cpu_total, rss_max, infer_total;
    int64_t galaxies, ranks_ok;
    int untrained; /* -1: no record says */
    char variant[32], wsha[65], precision[16];
    int mixed_weights, rec_tta; /* the TTA setting the ranks say they used (0: none says) */
    /* the checks */
    int64_t ndupids;
    cJSON *dupids, *missing, *dup, *mismatch;
    int64_t nmissing, ndup, nmis, expected_galaxies;
    int expected_known, complete;
    int have_cal;
    cai_err cal_err;
    char fits_key[2300], csv_key[2300], h5_key[2300], ccsv_key[2300];
} sum_ctx;

static int sum_nomem(cai_err *err) { return cai_seterr(err, CAI_ENOMEM, "summarize: out of memory"); }

static void sum_free(sum_ctx *c) {
    cJSON_Delete(c->combined);
    for (size_t i = 0; i < c->nrr; i++) {
        cai_rank_record_free(&c->rr[i].r);
        cJSON_Delete(c->rr[i].rec);
    }
    free(c->rr);
    cai_catalog_free(&c->cat);
    cai_calib_free(&c->cal);
    free(c->calspec);
    cJSON_Delete(c->jobs);
    for (size_t i = 0; i < c->nex; i++) free(c->ex[i].key);
    free(c->ex);
    free(c->job_at);
    free(c->seen_rank);
    free(c->other_run_rank);
    free(c->run_id);
    free(c->job_run_id);
    /* not yet handed to the summary (an early error) */
    cJSON_Delete(c->failed);
    cJSON_Delete(c->warnings);
    cJSON_Delete(c->dupids);
    cJSON_Delete(c->missing);
    cJSON_Delete(c->dup);
    cJSON_Delete(c->mismatch);
}

/* The result path, the run's payload (catalog on/off, run_id, calibration, TTA) and the calibration: one
 * that cannot be read or parsed is refused before anything is touched (whether it belongs to the run's
 * weights is checked once the records have said which weights those are). */
static int sum_begin(sum_ctx *c, cai_store *st, const char *bucket, const char *rp_in, const cai_summarize_opts *so,
                     cai_err *err) {
    memset(c, 0, sizeof *c);
    c->st = st, c->bucket = bucket, c->m0 = cai_mono_now();
    c->catalog_on = 1, c->catalog_csv = so && so->csv, c->tta = 1, c->untrained = -1;
    c->first_start = INFINITY, c->last_end = -INFINITY;
    while (*rp_in == '/') rp_in++;
    snprintf(c->rp, sizeof c->rp, "%s", rp_in);
    size_t rpl = strlen(c->rp);
    while (rpl && c->rp[rpl - 1] == '/') c->rp[--rpl] = 0;
    if (!rpl) return cai_seterr(err, CAI_EARG, "summarize: empty result_path");
    if (so && so->calibration && !(c->calspec = strdup(so->calibration))) return sum_nomem(err);
    char key[2300];
    snprintf(key, sizeof key, "%s/payload.json", c->rp);
    uint8_t *b;
    size_t l;
    if (cai_store_get(st, bucket, key, &b, &l, NULL) == CAI_OK) {
        cai_payload p;
        if (cai_payload_parse((const char *)b, l, key, &p, NULL) == CAI_OK) {
            c->catalog_on = p.catalog;
            if (p.run_id) c->run_id = strdup(p.run_id);
            if (!c->calspec && p.calibration) c->calspec = strdup(p.calibration);
            c->catalog_csv |= p.catalog_csv;
            c->tta = p.tta;
            manifest_sha(st, p.data_bucket, p.data_prefix, c->msha);
            cai_payload_free(&p);
        }
        free(b);
    }
    if (c->calspec && cai_calib_fetch(st, bucket, c->calspec, &c->cal, err)) return cai_err_prefix(err, "summarize: ");
    return CAI_OK;
}

/* The job list's partitions (what the run must cover), sorted by key: looked up in O(log n) each, so 10^5
 * partitions stay fast. */
static int sum_expected(sum_ctx *c, cai_err *err) {
    size_t cap = 0;
    for (cJSON *jb = c->jobs->child; jb; jb = jb->next) {
        cai_job j;
        cai_err je = {0};
        if (cai_job_parse(jb, &j, &je)) return cai_seterr(err, je.code, "summarize: %s/jobs.jsonl: %s", c->rp, je.msg);
        for (size_t i = 0; i < j.nkeys; i++) {
            if (c->nex == cap) {
                cap = cap ? cap * 2 : 256;
                exp_part *ne = realloc(c->ex, cap * sizeof *ne);
                if (!ne) {
                    cai_job_free(&j);
                    return sum_nomem(err);
                }
                c->ex = ne;
            }
            char *k = strdup(j.keys[i]);
            if (!k) {
                cai_job_free(&j);
                return sum_nomem(err);
            }
            c->ex[c->nex++] = (exp_part){k, j.rank, j.expected ? j.expected[i] : -1, 0, 0, 0};
        }
        cai_job_free(&j);
    }
    qsort(c->ex, c->nex, sizeof *c->ex, cmp_exp);
    return CAI_OK;
}

/* The job list: the expected partitions, the run's identity, the job item of each rank. The previous summary
 * and catalog go first: whatever happens below, none of them can be mistaken for this Summarize's outputs.
 * Only for a CAI run (a job list): a seed-made result_path may hold nothing but the seed's
 * combined_data.json, which must not be lost. */
static int sum_read_jobs(sum_ctx *c, cai_err *err) {
    cai_err je = {0};
    c->have_jobs = cai_jobs_read(c->st, c->bucket, c->rp, &c->jobs, &je) == CAI_OK;
    if (!c->have_jobs && je.code != CAI_ENOTFOUND) return cai_seterr(err, je.code, "summarize: %s", je.msg);
    if (c->have_jobs && cai_outputs_invalidate(c->st, c->bucket, c->rp, err)) return cai_err_prefix(err, "summarize: ");
    if (c->have_jobs && c->jobs->child) {
        const cJSON *ri = cJSON_GetObjectItemCaseSensitive(c->jobs->child, "CAI_RUN_ID");
        if (cJSON_IsString(ri) && *ri->valuestring) {
            free(c->run_id);
            c->job_run_id = strdup(ri->valuestring);
            c->run_id = strdup(ri->valuestring);
            if (!c->job_run_id || !c->run_id) return sum_nomem(err);
        }
    }
    c->nranks = c->have_jobs ? cJSON_GetArraySize(c->jobs) : 0;
    if (c->have_jobs) {
        int rc = sum_expected(c, err);
        if (rc) return rc;
    }
    size_t n = (size_t)(c->nranks > 0 ? c->nranks : 1);
    c->job_at = calloc(n, sizeof *c->job_at);
    c->seen_rank = calloc(n, 1);
    c->other_run_rank = calloc(n, 1);
    if (!c->job_at || !c->seen_rank || !c->other_run_rank) return sum_nomem(err);
    int64_t i = 0;
    for (cJSON *jb = c->jobs ? c->jobs->child : NULL; jb; jb = jb->next) c->job_at[i++] = jb;
    return CAI_OK;
}

/* One `<rank>.json`: fetched, parsed and read through the one reader (rank_record.h). NULL, with a warning
 * naming the key, when it cannot be. */
static cJSON *sum_fetch_record(sum_ctx *c, const char *key, cai_rank_record *r) {
    uint8_t *b;
    size_t l;
    cai_err ge = {0};
    char w[1200];
    if (cai_store_get(c->st, c->bucket, key, &b, &l, &ge)) {
        snprintf(w, sizeof w, "%s: %s", key, ge.msg);
        add_str_list(c->warnings, w);
        return NULL;
    }
    cJSON *rec = cJSON_ParseWithLength((const char *)b, l);
    free(b);
    if (!cJSON_IsObject(rec)) {
        snprintf(w, sizeof w, "%s: not a JSON object; ignored", key);
    } else if (cai_rank_record_read(rec, key, r, &ge)) {
        snprintf(w, sizeof w, "%s; ignored", ge.msg);
    } else {
        return rec;
    }
    cJSON_Delete(rec);
    add_str_list(c->warnings, w);
    return NULL;
}

/* Every <rank>.json directly under result_path, by rank. */
static int sum_read_records(sum_ctx *c, cai_err *err) {
    char pfx[2100];
    snprintf(pfx, sizeof pfx, "%s/", c->rp);
    cai_keylist kl;
    if (cai_store_list(c->st, c->bucket, pfx, &kl, err)) return cai_err_prefix(err, "summarize: ");
    c->rr = calloc(kl.n ? kl.n : 1, sizeof *c->rr);
    if (!c->rr) {
        cai_keylist_free(&kl);
        return sum_nomem(err);
    }
    if (!c->have_jobs) add_str_list(c->warnings, "no jobs.jsonl under result_path: completeness not checked");
    for (size_t i = 0; i < kl.n; i++) {
        const char *rest = kl.keys[i] + strlen(pfx);
        char *end;
        long long r = strtoll(rest, &end, 10);
        if (end == rest || strcmp(end, ".json") != 0 || rest[0] == '-' || rest[0] == '+') continue;
        rank_rec *x = &c->rr[c->nrr];
        if (!(x->rec = sum_fetch_record(c, kl.keys[i], &x->r))) continue;
        x->rank = r;
        c->nrr++;
    }
    cai_keylist_free(&kl);
    qsort(c->rr, c->nrr, sizeof *c->rr, cmp_rank);
    return CAI_OK;
}

static void sum_fail(sum_ctx *c, int64_t rank, const char *status, const char *reason) {
    cJSON *fo = cJSON_CreateObject();
    cJSON_AddNumberToObject(fo, "rank", (double)rank);
    if (status) cJSON_AddStringToObject(fo, "status", status);
    cJSON_AddStringToObject(fo, "reason", reason);
    cJSON_AddItemToArray(c->failed, fo);
}

/* What a trusted record adds to the run's totals: its times, CPU, memory, model, precision, TTA. */
static void sum_note_record(sum_ctx *c, const cai_rank_record *r) {
    if (isfinite(r->start_unix) && r->start_unix < c->first_start) c->first_start = r->start_unix;
    if (isfinite(r->end_unix) && r->end_unix > c->last_end) c->last_end = r->end_unix;
    if (!isnan(r->total_cpu_time)) c->cpu_total += r->total_cpu_time;
    if (r->peak_rss_mb > c->rss_max) c->rss_max = r->peak_rss_mb;
    if (r->has_stages && !isnan(r->stages.infer)) c->infer_total += r->stages.infer;
    if (r->model_variant && !c->variant[0]) snprintf(c->variant, sizeof c->variant, "%s", r->model_variant);
    if (r->precision && !c->precision[0]) snprintf(c->precision, sizeof c->precision, "%s", r->precision);
    else if (r->precision && strcmp(c->precision, r->precision)) snprintf(c->precision, sizeof c->precision, "mixed");
    if (r->weights_sha256) {
        if (!c->wsha[0]) snprintf(c->wsha, sizeof c->wsha, "%s", r->weights_sha256);
        else if (strcmp(c->wsha, r->weights_sha256)) c->mixed_weights = 1;
    }
    if (r->untrained >= 0) c->untrained = c->untrained == 1 ? 1 : r->untrained;
    int rtta = r->tta == 8 ? 8 : 1;
    if (rtta > c->rec_tta) c->rec_tta = rtta;
}

/* The rank's predictions file against its record's ok partitions: every row in a listed partition (and in
 * its manifest id range), as many rows as the record says. 0 with the reason in why when not. */
static int sum_check_rows(sum_ctx *c, const cai_rank_record *r, ok_part *ok, size_t nok, char *why, size_t whyn) {
    if (!r->predictions) {
        snprintf(why, whyn, "record lists done partitions but names no predictions file");
        return 0;
    }
    const char *pk = r->predictions;
    uint8_t *b;
    size_t l;
    cai_err pe = {0};
    if (cai_store_get(c->st, c->bucket, pk, &b, &l, &pe) != CAI_OK) {
        snprintf(why, whyn, "%s", pe.msg);
        return 0;
    }
    rows_ctx rc = {&c->cat, ok, nok, 0, 0, 0, 0, 0};
    int prc = cai_predictions_parse((const char *)b, l, pk, on_row, &rc, &pe);
    free(b);
    if (prc && rc.bad_id)
        snprintf(why, whyn, "%s: galaxy id %lld of partition %lld is outside the manifest's id range for it", pk,
                 (long long)rc.bad_id_value, (long long)rc.bad_id_part);
    else if (prc && rc.bad_partition)
        snprintf(why, whyn, "%s: rows for partition %lld, which the record does not list as done", pk,
                 (long long)rc.bad_value);
    else if (prc) snprintf(why, whyn, "%s", pe.msg);
    if (prc) return 0;
    for (size_t k = 0; k < nok; k++)
        if (ok[k].count != ok[k].want) {
            snprintf(why, whyn, "%.300s: %lld rows for %.300s, the record says %lld galaxies", pk,
                     (long long)ok[k].count, ok[k].key, (long long)ok[k].want);
            return 0;
        }
    return 1;
}

/* The rank's ok partitions and their predictions (a "partial" rank's done partitions count too). */
static int sum_rank_rows(sum_ctx *c, int64_t rank, const cai_rank_record *r, const cai_job *j, const char *sts) {
    ok_part *ok = calloc(r->nparts ? r->nparts : 1, sizeof *ok);
    if (!ok) return CAI_ENOMEM;
    size_t nok = 0;
    for (size_t i = 0; i < r->nparts; i++) {
        const cai_rank_part *p = &r->parts[i];
        if (p->status != CAI_PART_OK || !p->key) continue;
        ok[nok] = (ok_part){p->key, p->partition, p->galaxies > 0 ? p->galaxies : 0, 0, NULL};
        for (size_t q = 0; j && j->pexp && q < j->nkeys; q++)
            if (!strcmp(j->keys[q], p->key)) ok[nok].pexp = &j->pexp[q];
        nok++;
    }
    char why[1200] = "";
    size_t before = c->cat.n;
    if (nok && !sum_check_rows(c, r, ok, nok, why, sizeof why)) {
        c->cat.n = before; /* drop this rank's rows: they cannot be trusted */
        sum_fail(c, rank, "bad-predictions", why);
        if (!strcmp(sts, "ok") || !strcmp(sts, "empty")) c->ranks_ok--;
    } else {
        for (size_t k = 0; k < nok; k++) {
            c->galaxies += ok[k].want;
            exp_part probe = {.key = (char *)ok[k].key};
            exp_part *hit = c->nex ? bsearch(&probe, c->ex, c->nex, sizeof *c->ex, cmp_exp) : NULL;
            if (hit) {
                hit->seen++;
                hit->rows += ok[k].count;
                hit->got = ok[k].want;
            }
        }
    }
    free(ok);
    return CAI_OK;
}

/* One record, by rank. combined_data.json holds exactly the job list's records of this run: a rank beyond
 * the job list (an earlier run with more ranks) or a record of another run is left out, and counted; a
 * record naming another DATA_PATH than its job (an older run at the same result_path) does not count. */
static int sum_rank(sum_ctx *c, rank_rec *x, cai_err *err) {
    const cai_rank_record *r = &x->r;
    int64_t rank = x->rank;
    if (c->have_jobs && rank >= c->nranks) {
        c->ignored_outside++;
        return CAI_OK;
    }
    if (c->job_run_id && (!r->run_id || strcmp(r->run_id, c->job_run_id) != 0)) {
        c->ignored_other_run++;
        c->other_run_rank[rank] = 1;
        return CAI_OK;
    }
    if (c->have_jobs) c->seen_rank[rank] = 1;
    cai_job j;
    int have_job = c->have_jobs && c->job_at[rank] && cai_job_parse(c->job_at[rank], &j, NULL) == CAI_OK;
    if (have_job && !(r->data_path && cJSON_Compare(r->data_path, j.data_path, 1))) {
        cai_job_free(&j);
        sum_fail(c, rank, NULL, "record names another DATA_PATH than the job (stale record?)");
        return CAI_OK;
    }
    cJSON_AddItemReferenceToArray(c->combined, x->rec);
    sum_note_record(c, r);
    const char *sts = r->status_name; /* a seed record has no status: "ok" */
    if (strcmp(sts, "ok") != 0 && strcmp(sts, "empty") != 0)
        sum_fail(c, rank, sts, r->error ? r->error : "(no error recorded)");
    else c->ranks_ok++;
    int rc = sum_rank_rows(c, rank, r, have_job ? &j : NULL, sts);
    if (have_job) cai_job_free(&j);
    return rc ? sum_nomem(err) : CAI_OK;
}

/* Ranks with no record at all. */
static void sum_missing_ranks(sum_ctx *c) {
    for (int64_t r = 0; c->have_jobs && r < c->nranks; r++)
        if (!c->seen_rank[r])
            sum_fail(c, r, "missing",
                     c->other_run_rank[r] ? "only a record of another run (this run's worker did not finish)"
                                          : "no rank record (the worker did not finish)");
    if (c->ignored_outside || c->ignored_other_run) {
        char w[300];
        snprintf(w, sizeof w, "ignored %lld record(s) of other runs and %lld of ranks outside the job list",
                 (long long)c->ignored_other_run, (long long)c->ignored_outside);
        add_str_list(c->warnings, w);
    }
}

/* Galaxy ids unique across the run (shards carry ids; a seed .pt galaxy is identified by (partition, index),
 * unique once partitions are). */
static int sum_dup_ids(sum_ctx *c, cai_err *err) {
    int64_t *ids = malloc((c->cat.n ? c->cat.n : 1) * sizeof *ids);
    if (!ids) return sum_nomem(err);
    size_t nid = 0;
    for (size_t k = 0; k < c->cat.n; k++)
        if (c->cat.rows[k].galaxy_id >= 0) ids[nid++] = c->cat.rows[k].galaxy_id;
    qsort(ids, nid, sizeof *ids, cmp_i64);
    for (size_t k = 1; k < nid; k++)
        if (ids[k] == ids[k - 1] && (k < 2 || ids[k - 1] != ids[k - 2])) {
            c->ndupids++;
            if (cJSON_GetArraySize(c->dupids) < 20) cJSON_AddItemToArray(c->dupids, cJSON_CreateNumber((double)ids[k]));
        }
    free(ids);
    return CAI_OK;
}

/* Completeness over the job list's partitions; then the calibration, applied to every catalog row, refused
 * when made for other weights. */
static void sum_completeness(sum_ctx *c) {
    c->expected_known = c->nex > 0;
    for (size_t e = 0; e < c->nex; e++) {
        const exp_part *x = &c->ex[e];
        if (x->expected < 0) c->expected_known = 0;
        else c->expected_galaxies += x->expected;
        if (x->seen == 0) c->nmissing++, add_str_list(c->missing, x->key);
        else if (x->seen > 1) c->ndup++, add_str_list(c->dup, x->key);
        else if (x->expected >= 0 && x->rows != x->expected) c->nmis++, add_str_list(c->mismatch, x->key);
    }
    c->complete = c->have_jobs && c->nmissing == 0 && c->ndup == 0 && c->nmis == 0 && c->ndupids == 0 &&
                  cJSON_GetArraySize(c->failed) == 0;
    if (c->rec_tta > 0) c->tta = c->rec_tta; /* what the ranks did, over what the payload asked */
    const char *wsha = c->wsha[0] && !c->mixed_weights ? c->wsha : NULL;
    if (c->calspec && cai_calib_check(&c->cal, c->calspec, wsha, c->tta, &c->cal_err) == CAI_OK) {
        c->have_cal = 1;
        cai_catalog_apply_calib(&c->cat, &c->cal);
    }
}

static int sum_put_text(sum_ctx *c, const char *name, char *txt, size_t len, char *key, size_t keyn, cai_err *err) {
    snprintf(key, keyn, "%s/%s", c->rp, name);
    int rc = txt ? cai_store_put(c->st, c->bucket, key, txt, len, err) : sum_nomem(err);
    free(txt);
    return rc;
}

/* combined_data.json, then the catalogs (CSV, FITS, HDF5, and catalog.csv when asked). */
static int sum_write_outputs(sum_ctx *c, cai_err *err) {
    char key[2300];
    char *txt = cJSON_Print(c->combined);
    int rc = sum_put_text(c, "combined_data.json", txt, txt ? strlen(txt) : 0, key, sizeof key, err);
    if (!rc && c->calspec && !c->have_cal)
        rc = cai_seterr(err, c->cal_err.code ? c->cal_err.code : CAI_EARG, "%s", c->cal_err.msg);
    if (rc || !c->catalog_on) return rc;
    cai_catalog_meta meta = {c->variant[0] ? c->variant : NULL,
                             c->wsha[0] && !c->mixed_weights ? c->wsha : NULL,
                             c->untrained,
                             c->bucket,
                             c->rp,
                             c->run_id,
                             c->have_cal ? c->cal.sha256 : NULL,
                             c->msha[0] ? c->msha : NULL,
                             c->tta};
    char *csv = NULL;
    size_t csvl = 0;
    rc = cai_catalog_csv(&c->cat, &csv, &csvl, err);
    if (!rc) rc = sum_put_text(c, "predictions.csv", csv, csvl, c->csv_key, sizeof c->csv_key, err);
    if (!rc) {
        snprintf(c->fits_key, sizeof c->fits_key, "%s/predictions.fits", c->rp);
        rc = put_via_tmp(c->st, c->bucket, c->fits_key, &c->cat, &meta, 0, err);
    }
    if (!rc) {
        snprintf(c->h5_key, sizeof c->h5_key, "%s/predictions.h5", c->rp);
        rc = put_via_tmp(c->st, c->bucket, c->h5_key, &c->cat, &meta, 1, err);
    }
    if (!rc && c->catalog_csv) {
        char *ctxt = NULL;
        size_t ctl = 0;
        rc = cai_catalog_csv_full(&c->cat, &meta, &ctxt, &ctl, err);
        if (!rc) rc = sum_put_text(c, "catalog.csv", ctxt, ctl, c->ccsv_key, sizeof c->ccsv_key, err);
    }
    return rc;
}

/* summary.json's counts, times and model. */
static void summary_run(const sum_ctx *c, cJSON *sum) {
    cJSON_AddStringToObject(sum, "bucket", c->bucket);
    cJSON_AddStringToObject(sum, "result_path", c->rp);
    if (c->run_id) cJSON_AddStringToObject(sum, "run_id", c->run_id);
    cJSON_AddNumberToObject(sum, "ranks", c->have_jobs ? (double)c->nranks : (double)c->nrr);
    cJSON_AddNumberToObject(sum, "rank_records", (double)c->nrr);
    cJSON_AddNumberToObject(sum, "ranks_ok", (double)c->ranks_ok);
    cJSON_AddNumberToObject(sum, "partitions", (double)c->nex);
    cJSON_AddNumberToObject(sum, "galaxies", (double)c->galaxies);
    if (c->expected_known) cJSON_AddNumberToObject(sum, "expected_galaxies", (double)c->expected_galaxies);
    cJSON_AddNumberToObject(sum, "catalog_rows", (double)c->cat.n);
    double wall = isfinite(c->first_start) && isfinite(c->last_end) ? c->last_end - c->first_start : 0;
    cJSON_AddNumberToObject(sum, "wall_seconds", wall);
    if (isfinite(c->first_start)) {
        char a[40], b[40];
        cai_iso8601(c->first_start, a, sizeof a);
        cai_iso8601(c->last_end, b, sizeof b);
        cJSON_AddStringToObject(sum, "first_start_iso", a);
        cJSON_AddStringToObject(sum, "last_end_iso", b);
    }
    cJSON_AddNumberToObject(sum, "galaxies_per_second", wall > 0 ? (double)c->galaxies / wall : 0);
    cJSON_AddNumberToObject(sum, "cpu_seconds_total", c->cpu_total);
    cJSON_AddNumberToObject(sum, "infer_seconds_total", c->infer_total);
    cJSON_AddNumberToObject(sum, "peak_rss_mb_max", c->rss_max);
    if (c->precision[0]) cJSON_AddStringToObject(sum, "precision", c->precision);
    cJSON *mj = cJSON_AddObjectToObject(sum, "model");
    if (c->variant[0]) cJSON_AddStringToObject(mj, "variant", c->variant);
    if (c->wsha[0]) cJSON_AddStringToObject(mj, "weights_sha256", c->mixed_weights ? "mixed" : c->wsha);
    if (c->untrained >= 0) cJSON_AddBoolToObject(mj, "untrained", c->untrained);
    if (c->untrained == 1)
        cJSON_AddStringToObject(sum, "note", "untrained weights: the predictions are not physical redshifts");
}

/* With labels, how often the true z falls inside the intervals: the calibration's own check. */
static void summary_calibration(const sum_ctx *c, cJSON *sum) {
    cJSON *cj = cJSON_AddObjectToObject(sum, "calibration");
    cJSON_AddStringToObject(cj, "source", c->calspec);
    cJSON_AddStringToObject(cj, "sha256", c->cal.sha256);
    int64_t nin68 = 0, nin95 = 0, nl = 0;
    for (size_t i = 0; i < c->cat.n; i++) {
        const cai_pred_row *r = &c->cat.rows[i];
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

static void summary_metrics(const sum_ctx *c, cJSON *sum) {
    if (!c->cat.any_label) {
        cJSON_AddNullToObject(sum, "metrics");
        return;
    }
    cai_metrics m;
    size_t n = c->cat.n;
    float *pp = malloc((n ? n : 1) * sizeof *pp), *zz = malloc((n ? n : 1) * sizeof *zz);
    for (size_t i = 0; pp && zz && i < n; i++) pp[i] = c->cat.rows[i].prediction, zz[i] = c->cat.rows[i].label;
    if (pp && zz && cai_metrics_compute(pp, zz, (int64_t)n, &m, NULL) == CAI_OK)
        cJSON_AddItemToObject(sum, "metrics", cai_metrics_json(&m));
    free(pp);
    free(zz);
}

/* summary.json (handed the lists the context built); written last, and only when every output before it was. */
static cJSON *sum_summary(sum_ctx *c, int *rc, cai_err *err) {
    cJSON *sum = cJSON_CreateObject();
    if (!sum) {
        *rc = sum_nomem(err);
        return NULL;
    }
    summary_run(c, sum);
    if (c->catalog_on && !*rc) {
        cJSON *cj = cJSON_AddObjectToObject(sum, "catalog");
        cJSON_AddStringToObject(cj, "fits", c->fits_key);
        cJSON_AddStringToObject(cj, "csv", c->csv_key);
        cJSON_AddStringToObject(cj, "hdf5", c->h5_key);
        if (c->ccsv_key[0]) cJSON_AddStringToObject(cj, "catalog_csv", c->ccsv_key);
        char colnames[600];
        cai_catalog_columns(&c->cat, colnames, sizeof colnames);
        cJSON_AddStringToObject(cj, "columns", colnames);
    }
    cJSON_AddNumberToObject(sum, "tta", c->tta > 1 ? c->tta : 1);
    if (c->have_cal) summary_calibration(c, sum);
    summary_metrics(c, sum);
    /* "complete" only when every check held and every output was written (summary.json itself last). */
    if (c->have_jobs) cJSON_AddBoolToObject(sum, "complete", c->complete && !*rc);
    else cJSON_AddNullToObject(sum, "complete"); /* a seed-made run: no job list to check against */
    cJSON_AddItemToObject(sum, "failed_ranks", c->failed);
    cJSON_AddItemToObject(sum, "missing_partitions", c->missing);
    cJSON_AddItemToObject(sum, "duplicated_partitions", c->dup);
    cJSON_AddItemToObject(sum, "miscounted_partitions", c->mismatch);
    cJSON_AddNumberToObject(sum, "duplicated_galaxy_ids", (double)c->ndupids);
    cJSON_AddItemToObject(sum, "duplicated_galaxy_id_examples", c->dupids);
    cJSON_AddNumberToObject(sum, "ignored_records", (double)(c->ignored_outside + c->ignored_other_run));
    cJSON_AddItemToObject(sum, "warnings", c->warnings);
    c->failed = c->missing = c->dup = c->mismatch = c->dupids = c->warnings = NULL; /* the summary's now */
    cJSON_AddNumberToObject(sum, "summarize_seconds", cai_mono_now() - c->m0);
    if (!*rc) {
        char key[2300];
        char *txt = cJSON_Print(sum);
        *rc = sum_put_text(c, "summary.json", txt, txt ? strlen(txt) : 0, key, sizeof key, err);
    }
    if (*rc) {
        /* Never leave a partial set: remove what this Summarize wrote (summary.json first). The store's error
         * names the cause (e.g. "No space left on device"). */
        if (c->have_jobs) cai_outputs_invalidate(c->st, c->bucket, c->rp, NULL);
        cJSON_ReplaceItemInObjectCaseSensitive(sum, "complete",
                                               c->have_jobs ? cJSON_CreateFalse() : cJSON_CreateNull());
        cJSON_DeleteItemFromObjectCaseSensitive(sum, "catalog");
        cai_err_prefix(err, "summarize: ");
    }
    return sum;
}

/* Name what is wrong: missing/duplicated/miscounted partitions first, then duplicated ids, then failed ranks. */
static int sum_incomplete(const sum_ctx *c, const cJSON *sum, cai_err *err) {
    char msg[900] = "";
    size_t ml = 0;
    const char *names[3] = {"missing", "duplicated", "miscounted"};
    const char *lists[3] = {"missing_partitions", "duplicated_partitions", "miscounted_partitions"};
    int64_t counts[3] = {c->nmissing, c->ndup, c->nmis};
    for (int k = 0; k < 3; k++) {
        if (!counts[k] || ml >= sizeof msg - 80) continue;
        ml += (size_t)snprintf(msg + ml, sizeof msg - ml, "%lld %s partition(s):", (long long)counts[k], names[k]);
        int shown = 0;
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(sum, lists[k]);
        for (const cJSON *it = l ? l->child : NULL; it && shown < 8 && ml < sizeof msg - 80; it = it->next, shown++)
            ml += (size_t)snprintf(msg + ml, sizeof msg - ml, " %s", it->valuestring);
        if (counts[k] > shown) ml += (size_t)snprintf(msg + ml, sizeof msg - ml, " ...");
        ml += (size_t)snprintf(msg + ml, sizeof msg - ml, "; ");
    }
    const cJSON *ex = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(sum, "duplicated_galaxy_id_examples"), 0);
    if (c->ndupids && ml < sizeof msg - 120)
        ml += (size_t)snprintf(msg + ml, sizeof msg - ml,
                               "%lld galaxy id(s) predicted more than once across partitions (e.g. %.0f); ",
                               (long long)c->ndupids, ex ? ex->valuedouble : -1.0);
    const cJSON *failed = cJSON_GetObjectItemCaseSensitive(sum, "failed_ranks");
    int nf = cJSON_GetArraySize(failed);
    if (nf && ml < sizeof msg - 80) {
        ml += (size_t)snprintf(msg + ml, sizeof msg - ml, "%d failed rank(s):", nf);
        int shown = 0;
        for (const cJSON *it = failed->child; it && shown < 8 && ml < sizeof msg - 40; it = it->next, shown++) {
            const cJSON *rk = cJSON_GetObjectItemCaseSensitive(it, "rank");
            ml += (size_t)snprintf(msg + ml, sizeof msg - ml, " %.0f", cJSON_IsNumber(rk) ? rk->valuedouble : -1.0);
        }
        if (nf > shown) ml += (size_t)snprintf(msg + ml, sizeof msg - ml, " ...");
    }
    return cai_seterr(err, CAI_EINCOMPLETE, "summarize %s/%s: incomplete run: %s", c->bucket, c->rp, msg);
}

int cai_summarize_ex(cai_store *st, const char *bucket, const char *result_path_in, const cai_summarize_opts *so,
                     cJSON **summary_out, cai_err *err) {
    if (summary_out) *summary_out = NULL;
    sum_ctx *c = malloc(sizeof *c);
    if (!c) return sum_nomem(err);
    int rc = sum_begin(c, st, bucket, result_path_in, so, err);
    if (!rc) rc = sum_read_jobs(c, err);
    if (!rc) {
        c->warnings = cJSON_CreateArray(), c->combined = cJSON_CreateArray(), c->failed = cJSON_CreateArray();
        c->dupids = cJSON_CreateArray(), c->missing = cJSON_CreateArray(), c->dup = cJSON_CreateArray();
        c->mismatch = cJSON_CreateArray();
        if (!c->warnings || !c->combined || !c->failed || !c->dupids || !c->missing || !c->dup || !c->mismatch)
            rc = sum_nomem(err);
    }
    if (!rc) rc = sum_read_records(c, err);
    for (size_t i = 0; !rc && i < c->nrr; i++) rc = sum_rank(c, &c->rr[i], err);
    if (!rc) sum_missing_ranks(c);
    if (!rc) rc = sum_dup_ids(c, err);
    if (rc) {
        sum_free(c);
        free(c);
        return rc;
    }
    sum_completeness(c);
    rc = sum_write_outputs(c, err);
    cJSON *sum = sum_summary(c, &rc, err);
    if (!rc && c->have_jobs && !c->complete) rc = sum_incomplete(c, sum, err);
    if (summary_out) *summary_out = sum;
    else cJSON_Delete(sum);
    sum_free(c);
    free(c);
    return rc;
}
