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
    char sha256[65];           /* of the bytes fetched (hashed in the read-ahead thread, hidden behind compute) */
    double t_start, t_end;     /* unix */
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

/* ---- the rank ---- */

typedef struct {
    double fetch, fetch_wait, decode, infer, write;
} stage_times;

static void add_stage_times(cJSON *o, const stage_times *t) {
    cJSON *s = cJSON_AddObjectToObject(o, "stage_seconds");
    cJSON_AddNumberToObject(s, "fetch", t->fetch);
    cJSON_AddNumberToObject(s, "fetch_wait", t->fetch_wait);
    cJSON_AddNumberToObject(s, "decode", t->decode);
    cJSON_AddNumberToObject(s, "infer", t->infer);
    cJSON_AddNumberToObject(s, "write", t->write);
}

static int is_s3(cai_store *st) { return st && st->url && !strncmp(st->url, "s3://", 5); }

static int worker_run(cai_store *st, const cJSON *job, const cai_worker_opts *o, cJSON **record_out, cai_err *err) {
    if (record_out) *record_out = NULL;
    cai_worker_opts defaults = {0};
    if (!o) o = &defaults;
    double wall0 = cai_wall_now(), mono0 = cai_mono_now(), cpu0 = cai_cpu_now();
    cai_job j;
    int rc = cai_job_parse(job, &j, err);
    if (rc) return rc;

    stage_times tm = {0};
    int64_t galaxies = 0, num_batches = 0, bits = 0;
    int64_t nfailed = 0, nunfinished = 0, ndone = 0;
    int first_rc = CAI_OK;
    char failed_list[512] = "";
    cai_model *own_model = NULL;
    const cai_model *model = o->model;
    cai_session *sess = NULL;
    cai_weightfile_info wi = {0};
    int have_wi = 0;
    char wpath[4096] = "";
    /* The precision to load a model in. The record states the precision that ran, taken from the model
     * itself below: a caller's model (local pool) was loaded in whatever the engine chose, which can differ
     * from the job's CAI_PRECISION (--precision on the command line over the payload's). */
    cai_precision prec = o->precision;
    if (j.precision && !o->precision_set) cai_precision_parse(j.precision, &prec);
    float *pred = NULL, *zstd = NULL, *magf = NULL;
    uint32_t *flg = NULL;
    size_t pred_cap = 0;
    int tta = o->tta > 0 ? o->tta : j.tta;
    const char *calspec = o->calibration ? o->calibration : j.calibration;
    cai_calib cal;
    memset(&cal, 0, sizeof cal);
    int have_cal = 0;
    unsigned pcols = CAI_PCOL_OBJID | CAI_PCOL_RADEC | CAI_PCOL_MAGS | CAI_PCOL_FLAGS |
                     (tta > 1 ? CAI_PCOL_ZSTD : 0u) | (calspec ? CAI_PCOL_CAL : 0u);
    char *csv = NULL;
    size_t csv_len = 0;
    FILE *csvf = NULL;
    cJSON *parts = cJSON_CreateArray();
    int fatal = 0;
    char fatal_msg[1024] = "";
    /* s3-style request timings (filled for every store; emitted as s3_* only for S3) */
    int64_t nreq = 0;
    double req_total = 0, req_min = INFINITY, req_max = 0, req_first = 0, req_last = 0;

    if (j.nkeys > 0) {
        /* Model: reuse the caller's, else load once for this rank. */
        const char *wspec = o->weights ? o->weights : j.weights;
        if (wspec) {
            cai_err we = {0};
            if (cai_weightfile_resolve(st, j.bucket, wspec, wpath, sizeof wpath, &we) == CAI_OK &&
                cai_weightfile_describe(wpath, &wi, &we) == CAI_OK)
                have_wi = 1;
            else if (!model) {
                fatal = 1;
                first_rc = we.code ? we.code : CAI_EARG;
                snprintf(fatal_msg, sizeof fatal_msg, "%s", we.msg);
            }
        } else if (!model) {
            fatal = 1;
            first_rc = CAI_EARG;
            snprintf(fatal_msg, sizeof fatal_msg,
                     "no weights: pass --weights W.safetensors or set \"weights\" in the payload");
        }
        /* Calibration: must belong to these weights (and this TTA setting), else nothing runs. */
        if (!fatal && calspec) {
            cai_err ce = {0};
            if (cai_calib_fetch(st, j.bucket, calspec, &cal, &ce) ||
                cai_calib_check(&cal, calspec, have_wi ? wi.sha256 : NULL, tta, &ce)) {
                fatal = 1;
                first_rc = ce.code ? ce.code : CAI_EARG;
                snprintf(fatal_msg, sizeof fatal_msg, "%s", ce.msg);
            } else {
                have_cal = 1;
            }
        }
        if (!fatal && !model) {
            cai_err me = {0};
            if (cai_model_load(wpath, prec, &own_model, &me)) {
                fatal = 1;
                first_rc = me.code;
                snprintf(fatal_msg, sizeof fatal_msg, "%s", me.msg);
            }
            model = own_model;
        }
        if (!fatal) {
            cai_err se = {0};
            sess = cai_session_new(model, (int)j.batch_size, o->threads, &se);
            if (!sess) {
                fatal = 1;
                first_rc = se.code ? se.code : CAI_ENOMEM;
                snprintf(fatal_msg, sizeof fatal_msg, "%s", se.msg[0] ? se.msg : "cannot create a model session");
            }
        }
        csvf = open_memstream(&csv, &csv_len);
        if (!csvf) {
            fatal = 1;
            first_rc = CAI_ENOMEM;
            snprintf(fatal_msg, sizeof fatal_msg, "out of memory");
        } else {
            cai_pred_header_write(csvf, pcols);
        }
    }

    fetch_job fj[2];
    int cur = 0;
    if (!fatal && j.nkeys > 0) fetch_start(&fj[0], st, j.data_bucket, j.keys[0]);
    double per_part = 0; /* running mean of seconds per partition, for the deadline */
    for (size_t i = 0; !fatal && i < j.nkeys; i++) {
        fetch_job *f = &fj[cur];
        double mw = cai_mono_now();
        fetch_wait(f);
        tm.fetch_wait += cai_mono_now() - mw;
        tm.fetch += f->seconds;
        nreq++;
        req_total += f->seconds;
        if (f->seconds < req_min) req_min = f->seconds;
        if (f->seconds > req_max) req_max = f->seconds;
        if (nreq == 1) req_first = f->t_start;
        req_last = f->t_end;

        /* Deadline: would this partition (plus writing the outputs) still fit? */
        if (o->deadline_unix > 0) {
            double need = (per_part > 0 ? per_part : 0) + 1.0;
            if (cai_wall_now() + need > o->deadline_unix) {
                free(f->data);
                for (size_t k = i; k < j.nkeys; k++) {
                    cJSON *pj = cJSON_CreateObject();
                    cJSON_AddStringToObject(pj, "key", j.keys[k]);
                    cJSON_AddStringToObject(pj, "status", "unfinished");
                    cJSON_AddItemToArray(parts, pj);
                    nunfinished++;
                }
                if (!first_rc) first_rc = CAI_ETIMEOUT;
                break;
            }
        }
        if (i + 1 < j.nkeys) fetch_start(&fj[cur ^ 1], st, j.data_bucket, j.keys[i + 1]);
        double p0 = cai_mono_now();

        const char *key = j.keys[i];
        const char *base = strrchr(key, '/');
        base = base ? base + 1 : key;
        uint64_t pnum = 0;
        int64_t partno = cai_partition_number(base, &pnum) == 0 ? (int64_t)pnum : -1;
        cJSON *pj = cJSON_CreateObject();
        cJSON_AddStringToObject(pj, "key", key);
        cJSON_AddNumberToObject(pj, "partition", (double)partno);
        cJSON_AddNumberToObject(pj, "bytes", (double)f->len);
        cJSON_AddNumberToObject(pj, "fetch_seconds", f->seconds);
        cai_err pe = {0};
        int prc = f->rc;
        if (prc) pe = f->err;
        else cJSON_AddStringToObject(pj, "sha256", f->sha256);
        cai_partition p;
        memset(&p, 0, sizeof p);
        int parsed = 0;
        double t0 = cai_mono_now();
        if (!prc) {
            prc = cai_partition_parse(f->data, f->len, key, &p, &pe);
            parsed = prc == CAI_OK;
        }
        double t1 = cai_mono_now();
        tm.decode += t1 - t0;
        cJSON_AddNumberToObject(pj, "decode_seconds", t1 - t0);
        if (!prc && j.expected && j.expected[i] >= 0 && j.expected[i] != p.n)
            prc = cai_seterr(&pe, CAI_ESHAPE, "%s: has %lld galaxies, the manifest says %lld", key, (long long)p.n,
                             (long long)j.expected[i]);
        /* The manifest's size and sha256 (after decoding, so a broken file still reports what is broken in it):
         * a partition replaced or copied over another is refused here, before its galaxies could be counted as
         * the ones the manifest promised. */
        if (!prc && j.pexp && j.pexp[i].sha256[0]) {
            if (f->len != j.pexp[i].bytes)
                prc = cai_seterr(&pe, CAI_EFORMAT, "%s: %zu bytes, but the manifest says %llu (changed since the "
                                 "manifest was written?)", key, f->len, (unsigned long long)j.pexp[i].bytes);
            else if (strcmp(f->sha256, j.pexp[i].sha256) != 0)
                prc = cai_seterr(&pe, CAI_EFORMAT, "%s: sha256 %.12s… does not match the manifest's %.12s… (changed "
                                 "since the manifest was written?)", key, f->sha256, j.pexp[i].sha256);
        }
        /* Every galaxy id inside the manifest's range for this partition (a partition carrying another's ids
         * would otherwise pass every count). Uniqueness across partitions is Summarize's check. */
        if (!prc && j.pexp && j.pexp[i].sha256[0] && p.n > 0) {
            if (!j.pexp[i].has_ids)
                prc = cai_seterr(&pe, CAI_EFORMAT, "%s: has %lld galaxies, the manifest says none", key, (long long)p.n);
            for (int64_t g = 0; !prc && p.ids && g < p.n; g++)
                if (p.ids[g] < j.pexp[i].id_first || p.ids[g] > j.pexp[i].id_last)
                    prc = cai_seterr(&pe, CAI_EFORMAT, "%s: galaxy %lld has id %lld, outside the manifest's range "
                                     "%lld..%lld", key, (long long)g, (long long)p.ids[g],
                                     (long long)j.pexp[i].id_first, (long long)j.pexp[i].id_last);
        }
        if (!prc && (size_t)p.n > pred_cap) {
            float *np = realloc(pred, (size_t)p.n * sizeof *np);
            if (np) pred = np;
            float *nz = realloc(zstd, (size_t)p.n * sizeof *nz);
            if (nz) zstd = nz;
            float *nm = realloc(magf, (size_t)p.n * 5 * sizeof *nm);
            if (nm) magf = nm;
            uint32_t *nf = realloc(flg, (size_t)p.n * sizeof *nf);
            if (nf) flg = nf;
            if (!np || !nz || !nm || !nf)
                prc = cai_seterr(&pe, CAI_ENOMEM, "%s: out of memory for %lld predictions", key, (long long)p.n);
            else pred_cap = (size_t)p.n;
        }
        int64_t nb = 0;
        double ti = 0;
        if (!prc) {
            size_t msz = p.mag_dtype == CAI_F64 ? 8 : 4;
            double i0 = cai_mono_now();
            for (int64_t s = 0; s < p.n && !prc; s += j.batch_size) {
                int64_t cnt = p.n - s < j.batch_size ? p.n - s : j.batch_size;
                /* quality bits and magnitudes while the batch's pages are still mapped */
                for (int64_t g = s; g < s + cnt; g++) {
                    const uint8_t *mg = (const uint8_t *)p.mags + (size_t)g * 5 * msz;
                    flg[g] = cai_flags_input(p.images + (size_t)g * CAI_IMG_FLOATS, mg, p.mag_dtype);
                    for (int b = 0; b < 5; b++)
                        magf[g * 5 + b] = p.mag_dtype == CAI_F64 ? (float)((const double *)mg)[b] : ((const float *)mg)[b];
                }
                if (tta > 1)
                    prc = cai_predict_tta(sess, p.images + (size_t)s * CAI_IMG_FLOATS,
                                          (const uint8_t *)p.mags + (size_t)s * 5 * msz, p.mag_dtype, cnt, pred + s,
                                          zstd + s, &pe);
                else
                    prc = cai_predict(sess, p.images + (size_t)s * CAI_IMG_FLOATS,
                                      (const uint8_t *)p.mags + (size_t)s * 5 * msz, p.mag_dtype, cnt, pred + s, &pe);
                cai_partition_release(&p, s, cnt);
                nb++;
            }
            ti = cai_mono_now() - i0;
            tm.infer += ti;
            if (prc) cai_err_prefix(&pe, "%s: ", key);
        }
        if (!prc) {
            /* Rows go to the rank's predictions buffer only once the whole partition succeeded. */
            for (int64_t g = 0; g < p.n; g++) {
                cai_pred_row row;
                cai_pred_row_init(&row);
                row.galaxy_id = p.ids ? p.ids[g] : -1;
                row.partition = partno;
                row.index = g;
                row.prediction = pred[g];
                row.has_label = p.labels != NULL;
                row.label = p.labels ? p.labels[g] : NAN;
                if (p.objid) row.has_objid = 1, row.objid = p.objid[g];
                if (p.ra) row.ra = p.ra[g], row.dec = p.dec[g];
                memcpy(row.mag, magf + g * 5, sizeof row.mag);
                row.flags = flg[g] | (isfinite(pred[g]) ? 0u : CAI_FLAG_PRED_NONFINITE);
                if (tta > 1) row.z_std = zstd[g];
                if (have_cal) cai_calib_apply(&cal, &row);
                cai_pred_row_write(csvf, &row, pcols);
            }
            size_t msz = p.mag_dtype == CAI_F64 ? 8 : 4;
            galaxies += p.n;
            num_batches += nb;
            bits += p.n * (int64_t)(CAI_IMG_FLOATS * 4 + 5 * msz) * 8;
            ndone++;
            cJSON_AddStringToObject(pj, "status", "ok");
            cJSON_AddNumberToObject(pj, "galaxies", (double)p.n);
            cJSON_AddNumberToObject(pj, "num_batches", (double)nb);
            cJSON_AddNumberToObject(pj, "infer_seconds", ti);
            cJSON_AddStringToObject(pj, "format", cai_part_format_name(p.format));
            cJSON_AddBoolToObject(pj, "labels", p.labels != NULL);
        } else {
            nfailed++;
            if (!first_rc) first_rc = prc;
            cJSON_AddStringToObject(pj, "status", "error");
            cJSON_AddStringToObject(pj, "error_code", cai_strerror((cai_code)prc));
            cJSON_AddStringToObject(pj, "error", pe.msg);
            size_t fl = strlen(failed_list);
            if (fl < sizeof failed_list - 64)
                snprintf(failed_list + fl, sizeof failed_list - fl, "%s%.200s (%.250s)", fl ? "; " : "", key, pe.msg);
        }
        if (parsed) cai_partition_close(&p);
        free(f->data);
        f->data = NULL;
        cJSON_AddItemToArray(parts, pj);
        double took = cai_mono_now() - p0 + f->seconds;
        per_part = per_part > 0 ? 0.5 * (per_part + took) : took;
        cur ^= 1;
    }
    if (fatal) {
        for (size_t k = 0; k < j.nkeys; k++) {
            cJSON *pj = cJSON_CreateObject();
            cJSON_AddStringToObject(pj, "key", j.keys[k]);
            cJSON_AddStringToObject(pj, "status", "error");
            cJSON_AddStringToObject(pj, "error", fatal_msg);
            cJSON_AddItemToArray(parts, pj);
        }
        nfailed = (int64_t)j.nkeys;
    }
    char model_variant[16] = "";
    if (model) snprintf(model_variant, sizeof model_variant, "%s", cai_model_variant(model));
    if (model) prec = cai_model_precision(model); /* what ran: `auto` resolved */
    if (sess) cai_session_free(sess);
    if (own_model) cai_model_free(own_model);
    model = own_model = NULL;
    free(pred);
    free(zstd);
    free(magf);
    free(flg);

    /* Outputs: the predictions file first, then the record (the commit marker). */
    char pkey[2048], rkey[2048];
    cai_predictions_key(j.result_path, j.rank, pkey, sizeof pkey);
    cai_record_key(j.result_path, j.rank, rkey, sizeof rkey);
    if (csvf) fclose(csvf);
    double w0 = cai_mono_now();
    int wrc = CAI_OK;
    cai_err we = {0};
    /* A rank that finished any partition writes its predictions file, even for 0 galaxies (an empty partition
     * completes like any other). */
    if (ndone > 0 && csv) wrc = cai_store_put(st, j.bucket, pkey, csv, csv_len, &we);
    tm.write = cai_mono_now() - w0;

    /* ok: every partition done; partial: some done, some failed or unfinished; unfinished: the deadline
     * came before any was done (nothing failed); failed: none done and at least one failed. */
    const char *status = j.nkeys == 0 ? "empty"
                         : (nfailed == 0 && nunfinished == 0) ? "ok"
                         : ndone > 0 ? "partial"
                         : nfailed == 0 ? "unfinished" : "failed";
    if (wrc) status = "failed";
    double wall1 = cai_wall_now();
    double wall = cai_mono_now() - mono0;
    double cpu = cai_cpu_now() - cpu0;
    cJSON *r = cJSON_CreateObject();
    /* The seed's fields, in the seed's order. */
    cJSON_AddNumberToObject(r, "total_cpu_time (seconds)", cpu);
    cJSON_AddNumberToObject(r, "total_cpu_memory (MB)", cai_peak_rss_mb());
    cJSON_AddNumberToObject(r, "execution_time (seconds/batch)", num_batches ? tm.infer / (double)num_batches : 0.0);
    cJSON_AddNumberToObject(r, "num_batches", (double)num_batches);
    cJSON_AddNumberToObject(r, "batch_size", (double)j.batch_size);
    cJSON_AddStringToObject(r, "device", "cpu");
    cJSON_AddNumberToObject(r, "throughput_bps", cpu > 0 ? (double)bits / cpu : 0.0);
    cJSON_AddNumberToObject(r, "sample_persec", wall > 0 ? (double)galaxies / wall : 0.0);
    cJSON_AddItemToObject(r, "result_path", cJSON_Duplicate(j.result_raw, 1));
    cJSON_AddItemToObject(r, "data_path", cJSON_Duplicate(j.data_path, 1));
    if (is_s3(st) && nreq > 0) {
        cJSON_AddNumberToObject(r, "s3_num_requests", (double)nreq);
        cJSON_AddNumberToObject(r, "s3_total_time", req_total);
        cJSON_AddNumberToObject(r, "s3_avg_time", req_total / (double)nreq);
        cJSON_AddNumberToObject(r, "s3_min_time", req_min);
        cJSON_AddNumberToObject(r, "s3_max_time", req_max);
        cJSON_AddNumberToObject(r, "s3_first_request_time", req_first);
        cJSON_AddNumberToObject(r, "s3_last_response_time", req_last);
    }
    /* CAI's fields. */
    char iso0[40], iso1[40];
    cai_iso8601(wall0, iso0, sizeof iso0);
    cai_iso8601(wall1, iso1, sizeof iso1);
    cJSON_AddNumberToObject(r, "rank", (double)j.rank);
    cJSON_AddNumberToObject(r, "world_size", (double)j.world_size);
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddNumberToObject(r, "galaxies", (double)galaxies);
    cJSON_AddNumberToObject(r, "input_bits", (double)bits);
    cJSON_AddNumberToObject(r, "throughput_bps_wall", wall > 0 ? (double)bits / wall : 0.0);
    cJSON_AddNumberToObject(r, "wall_seconds", wall);
    cJSON_AddNumberToObject(r, "cpu_seconds", cpu);
    cJSON_AddNumberToObject(r, "peak_rss_mb", cai_peak_rss_mb());
    cJSON_AddNumberToObject(r, "start_unix", wall0);
    cJSON_AddNumberToObject(r, "end_unix", wall1);
    cJSON_AddStringToObject(r, "start_iso", iso0);
    cJSON_AddStringToObject(r, "end_iso", iso1);
    add_stage_times(r, &tm);
    cJSON_AddNumberToObject(r, "threads", o->threads > 0 ? o->threads : cai_ncpu());
    /* Who ran it: the same record whatever the engine, plus its name and (SLURM, MPI) the scheduler's ids. */
    if (o->engine) cJSON_AddStringToObject(r, "engine", o->engine);
    if (cJSON_IsObject(o->engine_info))
        for (const cJSON *it = o->engine_info->child; it; it = it->next)
            if (it->string && !cJSON_GetObjectItemCaseSensitive(r, it->string))
                cJSON_AddItemToObject(r, it->string, cJSON_Duplicate(it, 1));
    cJSON_AddStringToObject(r, "precision", cai_precision_name(prec));
    cJSON_AddNumberToObject(r, "tta", tta > 1 ? tta : 1);
    if (have_cal) {
        cJSON *cj = cJSON_AddObjectToObject(r, "calibration");
        cJSON_AddStringToObject(cj, "source", calspec);
        cJSON_AddStringToObject(cj, "sha256", cal.sha256);
    }
    char calsha[65];
    snprintf(calsha, sizeof calsha, "%s", have_cal ? cal.sha256 : "");
    cai_calib_free(&cal);
    cJSON *mj = cJSON_AddObjectToObject(r, "model");
    if (model_variant[0]) cJSON_AddStringToObject(mj, "variant", model_variant);
    else if (have_wi && wi.variant[0]) cJSON_AddStringToObject(mj, "variant", wi.variant);
    if (have_wi) {
        cJSON_AddStringToObject(mj, "weights_sha256", wi.sha256);
        if (wi.source[0]) cJSON_AddStringToObject(mj, "source", wi.source);
        cJSON_AddBoolToObject(mj, "untrained", wi.untrained);
    }
    cJSON_AddNumberToObject(r, "partitions_total", (double)j.nkeys);
    cJSON_AddNumberToObject(r, "partitions_done", (double)ndone);
    cJSON_AddNumberToObject(r, "partitions_failed", (double)nfailed);
    cJSON_AddNumberToObject(r, "partitions_unfinished", (double)nunfinished);
    cJSON_AddItemToObject(r, "partitions", parts);
    cai_record_set_identity(r, j.run_id, calsha);
    if (ndone > 0 && csv && !wrc) {
        cJSON_AddStringToObject(r, "predictions", pkey);
        cJSON_AddNumberToObject(r, "predictions_bytes", (double)csv_len);
    }
    if (wrc) cJSON_AddStringToObject(r, "error", we.msg);
    else if (fatal) cJSON_AddStringToObject(r, "error", fatal_msg);
    else if (nfailed) cJSON_AddStringToObject(r, "error", failed_list);
    free(csv);

    char *txt = cJSON_Print(r);
    int rrc = txt ? cai_store_put(st, j.bucket, rkey, txt, strlen(txt), err) : cai_seterr(err, CAI_ENOMEM, "out of memory");
    free(txt);
    if (rrc) {
        cai_err_prefix(err, "rank %lld: cannot write its record: ", (long long)j.rank);
        cJSON_Delete(r);
        cai_job_free(&j);
        return rrc;
    }
    if (record_out) *record_out = r;
    else cJSON_Delete(r);

    if (wrc) {
        rc = cai_seterr(err, wrc, "rank %lld: cannot write predictions: %s", (long long)j.rank, we.msg);
    } else if (fatal) {
        rc = cai_seterr(err, first_rc ? first_rc : CAI_EINTERNAL, "rank %lld: %s", (long long)j.rank, fatal_msg);
    } else if (nfailed) {
        rc = cai_seterr(err, first_rc, "rank %lld: %lld of %zu partitions failed: %s", (long long)j.rank,
                        (long long)nfailed, j.nkeys, failed_list);
    } else if (nunfinished) {
        rc = cai_seterr(err, CAI_ETIMEOUT, "rank %lld: deadline reached; %lld of %zu partitions unfinished",
                        (long long)j.rank, (long long)nunfinished, j.nkeys);
    } else {
        rc = CAI_OK;
    }
    cai_job_free(&j);
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
