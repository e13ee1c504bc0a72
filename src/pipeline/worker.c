/* worker.c — the Map stage for one rank: fetch its partitions (the next one read ahead by a pthread while the
 * current one computes), decode, infer in batches of BATCH_SIZE, then write the predictions file and — last,
 * as the commit marker — the rank record `<result_path>/<rank>.json`.
 *
 * Failure isolation: a partition that is missing, truncated or has the wrong shape is recorded with its
 * error and skipped; the rank goes on with the others and returns the first partition's error code with a
 * message naming every failed partition. A deadline (Lambda's remaining time) stops the rank before the next
 * partition that would not fit; what is done is written and the rest is listed as unfinished.
 *
 * What the seed's record fields mean here (all honestly measured over this rank):
 *   total_cpu_time (seconds)      this process's CPU time (user+sys, all threads) for the rank
 *   total_cpu_memory (MB)         peak RSS of the process (getrusage), not the seed's allocation sum
 *   execution_time (seconds/batch) inference wall time / num_batches
 *   num_batches                   Σ over partitions of ceil(galaxies / batch_size)
 *   throughput_bps                input bits (image + magnitude bytes × 8) / total_cpu_time, as the seed
 *                                 defines it (so throughput_bps × total_cpu_time = bits read; docs/stats.md)
 *   sample_persec                 galaxies per rank wall second
 * CAI's wall-clock rate is throughput_bps_wall (input bits / rank wall seconds). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/util.h"
#include "../data/partition.h"
#include "../format/safetensors.h"
#include "../model/tta.h"
#include "calibrate.h"
#include "flags.h"
#include "initialize.h"
#include "payload.h"
#include "rank_record.h"
#include "record.h"
#include "stages.h"
#include "weightfile.h"

/* ---- read-ahead: one fetch in flight while the main thread computes ---- */

typedef struct {
    cai_store *st;
    const char *bucket, *key;
    uint8_t *data;
    size_t len;
    int rc;
    cai_err err;
    char sha256[65];       /* of the bytes fetched (hashed in the read-ahead thread, hidden behind compute) */
    double t_start, t_end; /* unix */
    double seconds;
    pthread_t th;
    int running;
} fetch_job;

static void *fetch_main(void *arg) {
    fetch_job *f = arg;
    double m0 = cai_mono_now();
    f->t_start = cai_wall_now();
    f->rc = cai_store_get(f->st, f->bucket, f->key, &f->data, &f->len, &f->err);
    if (f->rc == CAI_OK) cai_sha256_hex(f->data, f->len, f->sha256);
    f->seconds = cai_mono_now() - m0;
    f->t_end = cai_wall_now();
    return NULL;
}

static void fetch_start(fetch_job *f, cai_store *st, const char *bucket, const char *key) {
    memset(f, 0, sizeof *f);
    f->st = st, f->bucket = bucket, f->key = key;
    if (pthread_create(&f->th, NULL, fetch_main, f) == 0) f->running = 1;
    else fetch_main(f); /* no thread: fetch inline rather than fail */
}

static void fetch_wait(fetch_job *f) {
    if (f->running) pthread_join(f->th, NULL);
    f->running = 0;
}

static int is_s3(cai_store *st) { return st && st->url && !strncmp(st->url, "s3://", 5); }

/* ---- the rank ---- */

/* Text a partition's entry in the record points at (the fetch buffers and error structs are reused). */
typedef struct {
    char sha256[65];
    char error[sizeof((cai_err *)0)->msg];
} part_text;

/* Everything one rank accumulates, from the job to its record. */
typedef struct {
    cai_store *st;
    const cai_worker_opts *o;
    cai_job j;
    double wall0, mono0, cpu0;
    cai_stage_times tm;
    int64_t galaxies, num_batches, bits;
    int64_t nfailed, nunfinished, ndone;
    int first_rc;
    char failed_list[512];
    /* the model */
    cai_model *own_model;
    const cai_model *model;
    cai_session *sess;
    cai_weightfile_info wi;
    int have_wi;
    char wpath[4096];
    cai_precision prec;
    char model_variant[16];
    int tta;
    const char *calspec;
    cai_calib cal;
    int have_cal;
    /* per-partition buffers, grown to the largest partition */
    float *pred, *zstd, *magf;
    uint32_t *flg;
    size_t pred_cap;
    /* the predictions file, in memory until the end */
    unsigned pcols;
    char *csv;
    size_t csv_len;
    FILE *csvf;
    /* the record's "partitions" */
    cai_rank_part *parts;
    part_text *ptext;
    size_t nparts;
    int fatal; /* nothing can run (no weights, bad calibration, no memory): every partition gets fatal_msg */
    char fatal_msg[1024];
    /* s3-style request timings (filled for every store; written as s3_* only for S3) */
    int64_t nreq;
    double req_total, req_min, req_max, req_first, req_last;
} rank_run;

static void rank_fail(rank_run *w, int code, const char *msg) {
    w->fatal = 1;
    w->first_rc = code;
    snprintf(w->fatal_msg, sizeof w->fatal_msg, "%s", msg);
}

static int rank_begin(rank_run *w, cai_store *st, const cJSON *job, const cai_worker_opts *o, cai_err *err) {
    memset(w, 0, sizeof *w);
    w->st = st;
    w->o = o;
    w->wall0 = cai_wall_now(), w->mono0 = cai_mono_now(), w->cpu0 = cai_cpu_now();
    int rc = cai_job_parse(job, &w->j, err);
    if (rc) return rc;
    /* The precision to load a model in. The record states the precision that ran, taken from the model
     * itself at the end: a caller's model (local pool) was loaded in whatever the engine chose, which can
     * differ from the job's CAI_PRECISION (--precision on the command line over the payload's). */
    w->model = o->model;
    w->prec = o->precision;
    if (w->j.precision && !o->precision_set) cai_precision_parse(w->j.precision, &w->prec);
    w->tta = o->tta > 0 ? o->tta : w->j.tta;
    w->calspec = o->calibration ? o->calibration : w->j.calibration;
    w->pcols = CAI_PCOL_OBJID | CAI_PCOL_RADEC | CAI_PCOL_MAGS | CAI_PCOL_FLAGS | (w->tta > 1 ? CAI_PCOL_ZSTD : 0u) |
               (w->calspec ? CAI_PCOL_CAL : 0u);
    w->req_min = INFINITY;
    size_t n = w->j.nkeys ? w->j.nkeys : 1;
    w->parts = calloc(n, sizeof *w->parts);
    w->ptext = calloc(n, sizeof *w->ptext);
    if (!w->parts || !w->ptext) {
        free(w->parts);
        free(w->ptext);
        cai_job_free(&w->j);
        return cai_seterr(err, CAI_ENOMEM, "rank: out of memory for %zu partitions", n);
    }
    return CAI_OK;
}

/* The model (the caller's, else loaded once for this rank), the calibration (which must belong to these
 * weights and this TTA setting, else nothing runs), a session and the in-memory predictions file. */
static void rank_load(rank_run *w) {
    const char *wspec = w->o->weights ? w->o->weights : w->j.weights;
    if (wspec) {
        cai_err we = {0};
        if (cai_weightfile_resolve(w->st, w->j.bucket, wspec, w->wpath, sizeof w->wpath, &we) == CAI_OK &&
            cai_weightfile_describe(w->wpath, &w->wi, &we) == CAI_OK)
            w->have_wi = 1;
        else if (!w->model) rank_fail(w, we.code ? we.code : CAI_EARG, we.msg);
    } else if (!w->model) {
        rank_fail(w, CAI_EARG, "no weights: pass --weights W.safetensors or set \"weights\" in the payload");
    }
    if (!w->fatal && w->calspec) {
        cai_err ce = {0};
        if (cai_calib_fetch(w->st, w->j.bucket, w->calspec, &w->cal, &ce) ||
            cai_calib_check(&w->cal, w->calspec, w->have_wi ? w->wi.sha256 : NULL, w->tta, &ce))
            rank_fail(w, ce.code ? ce.code : CAI_EARG, ce.msg);
        else w->have_cal = 1;
    }
    if (!w->fatal && !w->model) {
        cai_err me = {0};
        if (cai_model_load(w->wpath, w->prec, &w->own_model, &me)) rank_fail(w, me.code, me.msg);
        w->model = w->own_model;
    }
    if (!w->fatal) {
        cai_err se = {0};
        w->sess = cai_session_new(w->model, (int)w->j.batch_size, w->o->threads, &se);
        if (!w->sess)
            rank_fail(w, se.code ? se.code : CAI_ENOMEM, se.msg[0] ? se.msg : "cannot create a model session");
    }
    w->csvf = open_memstream(&w->csv, &w->csv_len);
    if (!w->csvf) rank_fail(w, CAI_ENOMEM, "out of memory");
    else cai_pred_header_write(w->csvf, w->pcols);
}

static cai_rank_part *part_add(rank_run *w, const char *key, cai_part_status status) {
    cai_rank_part *p = &w->parts[w->nparts++];
    memset(p, 0, sizeof *p);
    p->key = key;
    p->status = status;
    p->partition = -1;
    return p;
}

/* The manifest's galaxy count, size and sha256 (after decoding, so a broken file still reports what is broken
 * in it): a partition replaced or copied over another is refused here, before its galaxies could be counted
 * as the ones the manifest promised. Then every galaxy id inside the manifest's range for this partition (a
 * partition carrying another's ids would otherwise pass every count); uniqueness across partitions is
 * Summarize's check. */
static int part_verify(const rank_run *w, size_t i, const fetch_job *f, const cai_partition *p, cai_err *pe) {
    const char *key = w->j.keys[i];
    if (w->j.expected && w->j.expected[i] >= 0 && w->j.expected[i] != p->n)
        return cai_seterr(pe, CAI_ESHAPE, "%s: has %lld galaxies, the manifest says %lld", key, (long long)p->n,
                          (long long)w->j.expected[i]);
    const cai_part_expect *x = w->j.pexp ? &w->j.pexp[i] : NULL;
    if (!x || !x->sha256[0]) return CAI_OK;
    if (f->len != x->bytes)
        return cai_seterr(pe, CAI_EFORMAT,
                          "%s: %zu bytes, but the manifest says %llu (changed since the "
                          "manifest was written?)",
                          key, f->len, (unsigned long long)x->bytes);
    if (strcmp(f->sha256, x->sha256) != 0)
        return cai_seterr(pe, CAI_EFORMAT,
                          "%s: sha256 %.12s… does not match the manifest's %.12s… (changed "
                          "since the manifest was written?)",
                          key, f->sha256, x->sha256);
    if (p->n > 0 && !x->has_ids)
        return cai_seterr(pe, CAI_EFORMAT, "%s: has %lld galaxies, the manifest says none", key, (long long)p->n);
    for (int64_t g = 0; p->n > 0 && p->ids && g < p->n; g++)
        if (p->ids[g] < x->id_first || p->ids[g] > x->id_last)
            return cai_seterr(pe, CAI_EFORMAT,
                              "%s: galaxy %lld has id %lld, outside the manifest's range "
                              "%lld..%lld",
                              key, (long long)g, (long long)p->ids[g], (long long)x->id_first, (long long)x->id_last);
    return CAI_OK;
}

static int part_buffers(rank_run *w, const char *key, int64_t n, cai_err *pe) {
    if ((size_t)n <= w->pred_cap) return CAI_OK;
    float *np = realloc(w->pred, (size_t)n * sizeof *np);
    if (np) w->pred = np;
    float *nz = realloc(w->zstd, (size_t)n * sizeof *nz);
    if (nz) w->zstd = nz;
    float *nm = realloc(w->magf, (size_t)n * 5 * sizeof *nm);
    if (nm) w->magf = nm;
    uint32_t *nf = realloc(w->flg, (size_t)n * sizeof *nf);
    if (nf) w->flg = nf;
    if (!np || !nz || !nm || !nf)
        return cai_seterr(pe, CAI_ENOMEM, "%s: out of memory for %lld predictions", key, (long long)n);
    w->pred_cap = (size_t)n;
    return CAI_OK;
}

/* Inference in batches of BATCH_SIZE; each batch's quality bits and magnitudes are taken while its pages
 * are still mapped, and the pages are released after it. */
static int part_infer(rank_run *w, cai_partition *p, const char *key, int64_t *nb, double *ti, cai_err *pe) {
    size_t msz = p->mag_dtype == CAI_F64 ? 8 : 4;
    int64_t bs = w->j.batch_size;
    int prc = CAI_OK;
    double i0 = cai_mono_now();
    for (int64_t s = 0; s < p->n && !prc; s += bs) {
        int64_t cnt = p->n - s < bs ? p->n - s : bs;
        for (int64_t g = s; g < s + cnt; g++) {
            const uint8_t *mg = (const uint8_t *)p->mags + (size_t)g * 5 * msz;
            w->flg[g] = cai_flags_input(p->images + (size_t)g * CAI_IMG_FLOATS, mg, p->mag_dtype);
            for (int b = 0; b < 5; b++)
                w->magf[g * 5 + b] = p->mag_dtype == CAI_F64 ? (float)((const double *)mg)[b] : ((const float *)mg)[b];
        }
        const float *img = p->images + (size_t)s * CAI_IMG_FLOATS;
        const uint8_t *mags = (const uint8_t *)p->mags + (size_t)s * 5 * msz;
        if (w->tta > 1) prc = cai_predict_tta(w->sess, img, mags, p->mag_dtype, cnt, w->pred + s, w->zstd + s, pe);
        else prc = cai_predict(w->sess, img, mags, p->mag_dtype, cnt, w->pred + s, pe);
        cai_partition_release(p, s, cnt);
        (*nb)++;
    }
    *ti = cai_mono_now() - i0;
    w->tm.infer += *ti;
    if (prc) cai_err_prefix(pe, "%s: ", key);
    return prc;
}

/* Rows go to the rank's predictions buffer only once the whole partition succeeded. */
static void part_rows(rank_run *w, const cai_partition *p, int64_t partno) {
    for (int64_t g = 0; g < p->n; g++) {
        cai_pred_row row;
        cai_pred_row_init(&row);
        row.galaxy_id = p->ids ? p->ids[g] : -1;
        row.partition = partno;
        row.index = g;
        row.prediction = w->pred[g];
        row.has_label = p->labels != NULL;
        row.label = p->labels ? p->labels[g] : NAN;
        if (p->objid) row.has_objid = 1, row.objid = p->objid[g];
        if (p->ra) row.ra = p->ra[g], row.dec = p->dec[g];
        memcpy(row.mag, w->magf + g * 5, sizeof row.mag);
        row.flags = w->flg[g] | (isfinite(w->pred[g]) ? 0u : CAI_FLAG_PRED_NONFINITE);
        if (w->tta > 1) row.z_std = w->zstd[g];
        if (w->have_cal) cai_calib_apply(&w->cal, &row);
        cai_pred_row_write(w->csvf, &row, w->pcols);
    }
}

static void part_failed(rank_run *w, cai_rank_part *pr, part_text *pt, int prc, const char *key, const char *msg) {
    w->nfailed++;
    if (!w->first_rc) w->first_rc = prc;
    pr->status = CAI_PART_ERROR;
    pr->error_code = cai_strerror((cai_code)prc);
    snprintf(pt->error, sizeof pt->error, "%s", msg);
    pr->error = pt->error;
    size_t fl = strlen(w->failed_list);
    if (fl < sizeof w->failed_list - 64)
        snprintf(w->failed_list + fl, sizeof w->failed_list - fl, "%s%.200s (%.250s)", fl ? "; " : "", key, msg);
}

/* One fetched partition: decode, check against the manifest, infer, keep its rows. A failure is recorded in
 * its entry and the rank goes on with the next. */
static void run_partition(rank_run *w, size_t i, fetch_job *f) {
    const char *key = w->j.keys[i];
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    uint64_t pnum = 0;
    int64_t partno = cai_partition_number(base, &pnum) == 0 ? (int64_t)pnum : -1;
    part_text *pt = &w->ptext[w->nparts];
    cai_rank_part *pr = part_add(w, key, CAI_PART_OK);
    pr->fetched = 1;
    pr->partition = partno;
    pr->bytes = (double)f->len;
    pr->fetch_seconds = f->seconds;
    cai_err pe = {0};
    int prc = f->rc;
    if (prc) pe = f->err;
    else memcpy(pt->sha256, f->sha256, sizeof pt->sha256), pr->sha256 = pt->sha256;
    cai_partition p;
    memset(&p, 0, sizeof p);
    int parsed = 0;
    double t0 = cai_mono_now();
    if (!prc) {
        prc = cai_partition_parse(f->data, f->len, key, &p, &pe);
        parsed = prc == CAI_OK;
    }
    pr->decode_seconds = cai_mono_now() - t0;
    w->tm.decode += pr->decode_seconds;
    if (!prc) prc = part_verify(w, i, f, &p, &pe);
    if (!prc) prc = part_buffers(w, key, p.n, &pe);
    int64_t nb = 0;
    double ti = 0;
    if (!prc) prc = part_infer(w, &p, key, &nb, &ti, &pe);
    if (!prc) {
        part_rows(w, &p, partno);
        size_t msz = p.mag_dtype == CAI_F64 ? 8 : 4;
        w->galaxies += p.n;
        w->num_batches += nb;
        w->bits += p.n * (int64_t)(CAI_IMG_FLOATS * 4 + 5 * msz) * 8;
        w->ndone++;
        pr->galaxies = p.n;
        pr->num_batches = nb;
        pr->infer_seconds = ti;
        pr->format = cai_part_format_name(p.format);
        pr->labels = p.labels != NULL;
    } else {
        part_failed(w, pr, pt, prc, key, pe.msg);
    }
    if (parsed) cai_partition_close(&p);
    free(f->data);
    f->data = NULL;
}

static void note_request(rank_run *w, const fetch_job *f) {
    w->nreq++;
    w->req_total += f->seconds;
    if (f->seconds < w->req_min) w->req_min = f->seconds;
    if (f->seconds > w->req_max) w->req_max = f->seconds;
    if (w->nreq == 1) w->req_first = f->t_start;
    w->req_last = f->t_end;
}

/* The partitions in order, the next one fetched while this one computes. A deadline (Lambda's remaining
 * time) stops before a partition that would not fit (with writing the outputs); the rest is unfinished. */
static void rank_partitions(rank_run *w) {
    if (w->fatal || w->j.nkeys == 0) return;
    fetch_job fj[2];
    int cur = 0;
    fetch_start(&fj[0], w->st, w->j.data_bucket, w->j.keys[0]);
    double per_part = 0; /* running mean of seconds per partition, for the deadline */
    for (size_t i = 0; i < w->j.nkeys; i++) {
        fetch_job *f = &fj[cur];
        double mw = cai_mono_now();
        fetch_wait(f);
        w->tm.fetch_wait += cai_mono_now() - mw;
        w->tm.fetch += f->seconds;
        note_request(w, f);
        if (w->o->deadline_unix > 0 && cai_wall_now() + (per_part > 0 ? per_part : 0) + 1.0 > w->o->deadline_unix) {
            free(f->data);
            for (size_t k = i; k < w->j.nkeys; k++, w->nunfinished++) part_add(w, w->j.keys[k], CAI_PART_UNFINISHED);
            if (!w->first_rc) w->first_rc = CAI_ETIMEOUT;
            return;
        }
        if (i + 1 < w->j.nkeys) fetch_start(&fj[cur ^ 1], w->st, w->j.data_bucket, w->j.keys[i + 1]);
        double p0 = cai_mono_now();
        run_partition(w, i, f);
        double took = cai_mono_now() - p0 + f->seconds;
        per_part = per_part > 0 ? 0.5 * (per_part + took) : took;
        cur ^= 1;
    }
}

/* The model goes before the outputs are written; the record says what ran (`auto` resolved). */
static void rank_unload(rank_run *w) {
    if (w->fatal)
        for (size_t k = 0; k < w->j.nkeys; k++) part_add(w, w->j.keys[k], CAI_PART_ERROR)->error = w->fatal_msg;
    if (w->fatal) w->nfailed = (int64_t)w->j.nkeys;
    if (w->model) snprintf(w->model_variant, sizeof w->model_variant, "%s", cai_model_variant(w->model));
    if (w->model) w->prec = cai_model_precision(w->model);
    if (w->sess) cai_session_free(w->sess);
    if (w->own_model) cai_model_free(w->own_model);
    w->model = w->own_model = NULL;
    w->sess = NULL;
    free(w->pred);
    free(w->zstd);
    free(w->magf);
    free(w->flg);
    w->pred = w->zstd = w->magf = NULL;
    w->flg = NULL;
}

/* ok: every partition done; partial: some done, some failed or unfinished; unfinished: the deadline came
 * before any was done (nothing failed); failed: none done and at least one failed. */
static cai_rank_status rank_status(const rank_run *w, int write_rc) {
    if (write_rc) return CAI_RANK_FAILED;
    if (w->j.nkeys == 0) return CAI_RANK_EMPTY;
    if (w->nfailed == 0 && w->nunfinished == 0) return CAI_RANK_OK;
    if (w->ndone > 0) return CAI_RANK_PARTIAL;
    return w->nfailed == 0 ? CAI_RANK_UNFINISHED : CAI_RANK_FAILED;
}

/* The record, through the one writer (rank_record.h): what this rank measured and what it depends on. */
static void rank_record_fill(const rank_run *w, cai_rank_record *r, double wall, double cpu, double wall1) {
    const cai_job *j = &w->j;
    double rss = cai_peak_rss_mb();
    r->total_cpu_time = cpu;
    r->total_cpu_memory_mb = rss;
    r->execution_time_per_batch = w->num_batches ? w->tm.infer / (double)w->num_batches : 0.0;
    r->num_batches = w->num_batches;
    r->batch_size = j->batch_size;
    r->device = "cpu";
    r->throughput_bps = cpu > 0 ? (double)w->bits / cpu : 0.0;
    r->sample_persec = wall > 0 ? (double)w->galaxies / wall : 0.0;
    r->result_path = j->result_raw;
    r->data_path = j->data_path;
    r->has_s3 = is_s3(w->st) && w->nreq > 0;
    r->s3_num_requests = w->nreq;
    r->s3_total_time = w->req_total;
    r->s3_avg_time = w->nreq ? w->req_total / (double)w->nreq : 0;
    r->s3_min_time = w->req_min;
    r->s3_max_time = w->req_max;
    r->s3_first_request_time = w->req_first;
    r->s3_last_response_time = w->req_last;
    r->rank = j->rank;
    r->world_size = j->world_size;
    r->galaxies = w->galaxies;
    r->input_bits = w->bits;
    r->throughput_bps_wall = wall > 0 ? (double)w->bits / wall : 0.0;
    r->wall_seconds = wall;
    r->cpu_seconds = cpu;
    r->peak_rss_mb = rss;
    r->start_unix = w->wall0;
    r->end_unix = wall1;
    r->stages = w->tm;
    r->threads = w->o->threads > 0 ? w->o->threads : cai_ncpu();
    r->engine = w->o->engine;
    r->engine_info = w->o->engine_info;
    r->precision = cai_precision_name(w->prec);
    r->tta = w->tta > 1 ? w->tta : 1;
    if (w->have_cal) r->calibration_source = w->calspec, r->calibration_file_sha256 = w->cal.sha256;
    r->model_variant = w->model_variant[0] ? w->model_variant : w->have_wi && w->wi.variant[0] ? w->wi.variant : NULL;
    if (w->have_wi) {
        r->weights_sha256 = w->wi.sha256;
        r->weights_source = w->wi.source[0] ? w->wi.source : NULL;
        r->untrained = w->wi.untrained;
    }
    r->partitions_total = (int64_t)j->nkeys;
    r->partitions_done = w->ndone;
    r->partitions_failed = w->nfailed;
    r->partitions_unfinished = w->nunfinished;
    r->parts = w->parts;
    r->nparts = w->nparts;
    r->run_id = j->run_id;
    r->calibration_sha256 = w->have_cal ? w->cal.sha256 : "";
}

/* Outputs: the predictions file first, then the record (the commit marker). */
static int rank_write(rank_run *w, cJSON **record_out, int *wrc, cai_err *we, cai_err *err) {
    char pkey[2048], rkey[2048];
    cai_predictions_key(w->j.result_path, w->j.rank, pkey, sizeof pkey);
    cai_record_key(w->j.result_path, w->j.rank, rkey, sizeof rkey);
    if (w->csvf) fclose(w->csvf);
    w->csvf = NULL;
    double w0 = cai_mono_now();
    /* A rank that finished any partition writes its predictions file, even for 0 galaxies (an empty partition
     * completes like any other). */
    if (w->ndone > 0 && w->csv) *wrc = cai_store_put(w->st, w->j.bucket, pkey, w->csv, w->csv_len, we);
    w->tm.write = cai_mono_now() - w0;

    double wall1 = cai_wall_now(), wall = cai_mono_now() - w->mono0, cpu = cai_cpu_now() - w->cpu0;
    char iso0[40], iso1[40];
    cai_iso8601(w->wall0, iso0, sizeof iso0);
    cai_iso8601(wall1, iso1, sizeof iso1);
    cai_rank_record r = {0};
    rank_record_fill(w, &r, wall, cpu, wall1);
    r.status = rank_status(w, *wrc);
    r.start_iso = iso0;
    r.end_iso = iso1;
    if (w->ndone > 0 && w->csv && !*wrc) r.predictions = pkey, r.predictions_bytes = (int64_t)w->csv_len;
    r.error = *wrc ? we->msg : w->fatal ? w->fatal_msg : w->nfailed ? w->failed_list : NULL;
    cJSON *rec = cai_rank_record_json(&r);
    char *txt = rec ? cJSON_Print(rec) : NULL;
    int rrc = txt ? cai_store_put(w->st, w->j.bucket, rkey, txt, strlen(txt), err)
                  : cai_seterr(err, CAI_ENOMEM, "out of memory");
    free(txt);
    if (rrc) {
        cJSON_Delete(rec);
        return cai_err_prefix(err, "rank %lld: cannot write its record: ", (long long)w->j.rank);
    }
    if (record_out) *record_out = rec;
    else cJSON_Delete(rec);
    return CAI_OK;
}

/* The rank's return: the first thing that went wrong, naming every failed partition. */
static int rank_result(const rank_run *w, int wrc, const cai_err *we, cai_err *err) {
    const cai_job *j = &w->j;
    if (wrc) return cai_seterr(err, wrc, "rank %lld: cannot write predictions: %s", (long long)j->rank, we->msg);
    if (w->fatal)
        return cai_seterr(err, w->first_rc ? w->first_rc : CAI_EINTERNAL, "rank %lld: %s", (long long)j->rank,
                          w->fatal_msg);
    if (w->nfailed)
        return cai_seterr(err, w->first_rc, "rank %lld: %lld of %zu partitions failed: %s", (long long)j->rank,
                          (long long)w->nfailed, j->nkeys, w->failed_list);
    if (w->nunfinished)
        return cai_seterr(err, CAI_ETIMEOUT, "rank %lld: deadline reached; %lld of %zu partitions unfinished",
                          (long long)j->rank, (long long)w->nunfinished, j->nkeys);
    return CAI_OK;
}

static void rank_end(rank_run *w) {
    if (w->csvf) fclose(w->csvf);
    free(w->csv);
    cai_calib_free(&w->cal);
    free(w->parts);
    free(w->ptext);
    cai_job_free(&w->j);
}

static int worker_run(cai_store *st, const cJSON *job, const cai_worker_opts *o, cJSON **record_out, cai_err *err) {
    if (record_out) *record_out = NULL;
    cai_worker_opts defaults = {0};
    rank_run *w = malloc(sizeof *w);
    if (!w) return cai_seterr(err, CAI_ENOMEM, "rank: out of memory");
    int rc = rank_begin(w, st, job, o ? o : &defaults, err);
    if (rc) {
        free(w);
        return rc;
    }
    if (w->j.nkeys > 0) rank_load(w);
    rank_partitions(w);
    rank_unload(w);
    int wrc = CAI_OK;
    cai_err we = {0};
    rc = rank_write(w, record_out, &wrc, &we, err);
    if (!rc) rc = rank_result(w, wrc, &we, err);
    rank_end(w);
    free(w);
    return rc;
}

/* A job line whose keys did not fit (CAI_DATA_PATH_REF, see initialize.h) is resolved first. */
int cai_worker_run(cai_store *st, const cJSON *job, const cai_worker_opts *o, cJSON **record_out, cai_err *err) {
    if (!cJSON_GetObjectItemCaseSensitive(job, "CAI_DATA_PATH_REF")) return worker_run(st, job, o, record_out, err);
    if (record_out) *record_out = NULL;
    cJSON *full = NULL;
    int rc = cai_job_resolve(st, job, &full, err);
    if (!rc) rc = worker_run(st, full, o, record_out, err);
    cJSON_Delete(full);
    return rc;
}
