/* rank_record.c — the rank record's one writer and one reader (see rank_record.h for the layout). */
#include "rank_record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const RANK_STATUS[] = {"ok", "empty", "partial", "unfinished", "failed"};
static const char *const PART_STATUS[] = {"ok", "error", "unfinished"};

const char *cai_rank_status_name(cai_rank_status s) {
    return s >= CAI_RANK_OK && s < CAI_RANK_OTHER ? RANK_STATUS[s] : "unknown";
}

/* ---- writer ---- */

/* cJSON_Add* return NULL when out of memory; the writer checks once, at the end, through `ok`. */
typedef struct {
    cJSON *o;
    int ok;
} wr;

static void w_num(wr *w, const char *k, double v) { w->ok &= cJSON_AddNumberToObject(w->o, k, v) != NULL; }
/* A NULL string is not written: a record read back may lack any field (the reader gives NULL). */
static void w_str(wr *w, const char *k, const char *v) {
    if (v) w->ok &= cJSON_AddStringToObject(w->o, k, v) != NULL;
}
static void w_bool(wr *w, const char *k, int v) { w->ok &= cJSON_AddBoolToObject(w->o, k, v) != NULL; }
static void w_dup(wr *w, const char *k, const cJSON *v) {
    cJSON *d = v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
    w->ok &= d && cJSON_AddItemToObject(w->o, k, d);
}

static cJSON *part_json(const cai_rank_part *p) {
    wr w = {cJSON_CreateObject(), 1};
    if (!w.o) return NULL;
    w_str(&w, "key", p->key);
    if (p->fetched) {
        w_num(&w, "partition", (double)p->partition);
        w_num(&w, "bytes", p->bytes);
        w_num(&w, "fetch_seconds", p->fetch_seconds);
        if (p->sha256) w_str(&w, "sha256", p->sha256);
        w_num(&w, "decode_seconds", p->decode_seconds);
    }
    w_str(&w, "status", p->status < CAI_PART_OTHER ? PART_STATUS[p->status] : p->status_name);
    if (p->status == CAI_PART_OK) {
        w_num(&w, "galaxies", (double)p->galaxies);
        w_num(&w, "num_batches", (double)p->num_batches);
        w_num(&w, "infer_seconds", p->infer_seconds);
        w_str(&w, "format", p->format);
        w_bool(&w, "labels", p->labels);
    } else if (p->error) {
        if (p->error_code) w_str(&w, "error_code", p->error_code);
        w_str(&w, "error", p->error);
    }
    if (!w.ok) cJSON_Delete(w.o);
    return w.ok ? w.o : NULL;
}

static void seed_fields(wr *w, const cai_rank_record *r) {
    w_num(w, "total_cpu_time (seconds)", r->total_cpu_time);
    w_num(w, "total_cpu_memory (MB)", r->total_cpu_memory_mb);
    w_num(w, "execution_time (seconds/batch)", r->execution_time_per_batch);
    w_num(w, "num_batches", (double)r->num_batches);
    w_num(w, "batch_size", (double)r->batch_size);
    w_str(w, "device", r->device);
    w_num(w, "throughput_bps", r->throughput_bps);
    w_num(w, "sample_persec", r->sample_persec);
    w_dup(w, "result_path", r->result_path);
    w_dup(w, "data_path", r->data_path);
    if (r->has_s3) {
        w_num(w, "s3_num_requests", (double)r->s3_num_requests);
        w_num(w, "s3_total_time", r->s3_total_time);
        w_num(w, "s3_avg_time", r->s3_avg_time);
        w_num(w, "s3_min_time", r->s3_min_time);
        w_num(w, "s3_max_time", r->s3_max_time);
        w_num(w, "s3_first_request_time", r->s3_first_request_time);
        w_num(w, "s3_last_response_time", r->s3_last_response_time);
    }
}

static void run_fields(wr *w, const cai_rank_record *r) {
    w_num(w, "rank", (double)r->rank);
    w_num(w, "world_size", (double)r->world_size);
    w_str(w, "status", cai_rank_status_name(r->status));
    w_num(w, "galaxies", (double)r->galaxies);
    w_num(w, "input_bits", (double)r->input_bits);
    w_num(w, "throughput_bps_wall", r->throughput_bps_wall);
    w_num(w, "wall_seconds", r->wall_seconds);
    w_num(w, "cpu_seconds", r->cpu_seconds);
    w_num(w, "peak_rss_mb", r->peak_rss_mb);
    w_num(w, "start_unix", r->start_unix);
    w_num(w, "end_unix", r->end_unix);
    w_str(w, "start_iso", r->start_iso);
    w_str(w, "end_iso", r->end_iso);
    wr s = {cJSON_AddObjectToObject(w->o, "stage_seconds"), 1};
    if (s.o) {
        w_num(&s, "fetch", r->stages.fetch);
        w_num(&s, "fetch_wait", r->stages.fetch_wait);
        w_num(&s, "decode", r->stages.decode);
        w_num(&s, "infer", r->stages.infer);
        w_num(&s, "write", r->stages.write);
    }
    w->ok &= s.o && s.ok;
    w_num(w, "threads", (double)r->threads);
    /* Who ran it: the engine's name and (SLURM, MPI) the scheduler's ids, never over a field of the record. */
    if (r->engine) w_str(w, "engine", r->engine);
    if (cJSON_IsObject(r->engine_info))
        for (const cJSON *it = r->engine_info->child; it; it = it->next)
            if (it->string && !cJSON_GetObjectItemCaseSensitive(w->o, it->string)) w_dup(w, it->string, it);
    w_str(w, "precision", r->precision);
    w_num(w, "tta", (double)r->tta);
}

static void model_fields(wr *w, const cai_rank_record *r) {
    if (r->calibration_source) {
        wr c = {cJSON_AddObjectToObject(w->o, "calibration"), 1};
        if (c.o) {
            w_str(&c, "source", r->calibration_source);
            w_str(&c, "sha256", r->calibration_file_sha256);
        }
        w->ok &= c.o && c.ok;
    }
    wr m = {cJSON_AddObjectToObject(w->o, "model"), 1};
    if (m.o) {
        if (r->model_variant) w_str(&m, "variant", r->model_variant);
        if (r->weights_sha256) {
            w_str(&m, "weights_sha256", r->weights_sha256);
            if (r->weights_source) w_str(&m, "source", r->weights_source);
            w_bool(&m, "untrained", r->untrained > 0);
        }
    }
    w->ok &= m.o && m.ok;
}

static void partition_fields(wr *w, const cai_rank_record *r) {
    w_num(w, "partitions_total", (double)r->partitions_total);
    w_num(w, "partitions_done", (double)r->partitions_done);
    w_num(w, "partitions_failed", (double)r->partitions_failed);
    w_num(w, "partitions_unfinished", (double)r->partitions_unfinished);
    cJSON *parts = cJSON_AddArrayToObject(w->o, "partitions");
    w->ok &= parts != NULL;
    for (size_t i = 0; parts && i < r->nparts; i++) {
        cJSON *pj = part_json(&r->parts[i]);
        w->ok &= pj && cJSON_AddItemToArray(parts, pj);
    }
}

cJSON *cai_rank_record_json(const cai_rank_record *r) {
    wr w = {cJSON_CreateObject(), 1};
    if (!w.o) return NULL;
    seed_fields(&w, r);
    run_fields(&w, r);
    model_fields(&w, r);
    partition_fields(&w, r);
    /* The rank's identity (what its predictions depend on; compared by --resume: record.h). */
    if (r->run_id) w_str(&w, "run_id", r->run_id);
    w_str(&w, "calibration_sha256", r->calibration_sha256 ? r->calibration_sha256 : "");
    if (r->predictions) {
        w_str(&w, "predictions", r->predictions);
        w_num(&w, "predictions_bytes", (double)r->predictions_bytes);
    }
    if (r->error) w_str(&w, "error", r->error);
    if (!w.ok) {
        cJSON_Delete(w.o);
        return NULL;
    }
    return w.o;
}

/* ---- reader ---- */

typedef struct {
    const char *name; /* for messages: the file or "record N" */
    const char *in;   /* "" or the enclosing field, e.g. "partitions[2]." */
    cai_err *err;
    int rc;
} rd;

static const cJSON *r_get(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int r_bad(rd *c, const char *k, const char *want) {
    if (!c->rc) c->rc = cai_seterr(c->err, CAI_EFORMAT, "%s: field \"%s%s\": expected %s", c->name, c->in, k, want);
    return 0;
}

/* A number (finite), or NAN when absent. `alt`: older CAI versions' names, tried in turn. */
static double r_num(rd *c, const cJSON *o, const char *k, const char *const *alt) {
    const cJSON *v = r_get(o, k);
    for (; !v && alt && *alt; alt++) v = r_get(o, k = *alt);
    if (!v) return NAN;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return r_bad(c, k, "a number"), NAN;
    return v->valuedouble;
}

/* A whole count in [0, 9e15], or -1 when absent. */
static int64_t r_count(rd *c, const cJSON *o, const char *k, const char *const *alt) {
    double d = r_num(c, o, k, alt);
    if (isnan(d)) return -1;
    if (d < 0 || d > 9e15 || d != floor(d)) return r_bad(c, k, "a whole number >= 0"), -1;
    return (int64_t)d;
}

static const char *r_str(rd *c, const cJSON *o, const char *k) {
    const cJSON *v = r_get(o, k);
    if (!v) return NULL;
    if (!cJSON_IsString(v)) return r_bad(c, k, "a string"), NULL;
    return v->valuestring;
}

static int r_bool(rd *c, const cJSON *o, const char *k) {
    const cJSON *v = r_get(o, k);
    if (!v) return -1;
    if (!cJSON_IsBool(v)) return r_bad(c, k, "true or false"), -1;
    return cJSON_IsTrue(v);
}

static const cJSON *r_obj(rd *c, const cJSON *o, const char *k) {
    const cJSON *v = r_get(o, k);
    if (v && !cJSON_IsObject(v)) return r_bad(c, k, "an object"), NULL;
    return v;
}

static int status_of(const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return n; /* the OTHER value of either enum */
}

static void read_part(rd *c, const cJSON *pj, size_t i, cai_rank_part *p) {
    char in[40];
    snprintf(in, sizeof in, "partitions[%zu].", i);
    rd pc = {c->name, in, c->err, c->rc};
    memset(p, 0, sizeof *p);
    if (!cJSON_IsObject(pj)) {
        if (!c->rc)
            c->rc = cai_seterr(c->err, CAI_EFORMAT, "%s: field \"partitions\"[%zu]: expected an object", c->name, i);
        return;
    }
    p->key = r_str(&pc, pj, "key");
    double part = r_num(&pc, pj, "partition", NULL);
    p->fetched = !isnan(part);
    /* From outside: a number no int64 holds (1e300, inf) reads as "no number", never as an undefined cast. */
    p->partition = p->fetched && fabs(part) < 9e15 ? (int64_t)part : -1;
    p->bytes = r_num(&pc, pj, "bytes", NULL);
    p->fetch_seconds = r_num(&pc, pj, "fetch_seconds", NULL);
    p->decode_seconds = r_num(&pc, pj, "decode_seconds", NULL);
    p->sha256 = r_str(&pc, pj, "sha256");
    p->status_name = r_str(&pc, pj, "status");
    p->status = p->status_name ? (cai_part_status)status_of(p->status_name, PART_STATUS, 3) : CAI_PART_OTHER;
    if (!p->status_name) p->status_name = "";
    p->galaxies = r_count(&pc, pj, "galaxies", NULL);
    p->num_batches = r_count(&pc, pj, "num_batches", NULL);
    p->infer_seconds = r_num(&pc, pj, "infer_seconds", NULL);
    p->format = r_str(&pc, pj, "format");
    p->labels = r_bool(&pc, pj, "labels") > 0;
    p->error_code = r_str(&pc, pj, "error_code");
    p->error = r_str(&pc, pj, "error");
    c->rc = pc.rc;
}

static void read_seed(rd *c, const cJSON *o, cai_rank_record *r) {
    r->total_cpu_time = r_num(c, o, "total_cpu_time (seconds)", NULL);
    r->total_cpu_memory_mb = r_num(c, o, "total_cpu_memory (MB)", NULL);
    r->execution_time_per_batch = r_num(c, o, "execution_time (seconds/batch)", NULL);
    r->num_batches = r_count(c, o, "num_batches", NULL);
    r->batch_size = r_count(c, o, "batch_size", NULL);
    r->device = r_str(c, o, "device");
    r->throughput_bps = r_num(c, o, "throughput_bps", NULL);
    r->sample_persec = r_num(c, o, "sample_persec", NULL);
    r->result_path = cJSON_GetObjectItemCaseSensitive(o, "result_path");
    r->data_path = cJSON_GetObjectItemCaseSensitive(o, "data_path");
    r->s3_num_requests = r_count(c, o, "s3_num_requests", NULL);
    r->s3_total_time = r_num(c, o, "s3_total_time", NULL);
    r->s3_avg_time = r_num(c, o, "s3_avg_time", NULL);
    r->s3_min_time = r_num(c, o, "s3_min_time", NULL);
    r->s3_max_time = r_num(c, o, "s3_max_time", NULL);
    r->s3_first_request_time = r_num(c, o, "s3_first_request_time", NULL);
    r->s3_last_response_time = r_num(c, o, "s3_last_response_time", NULL);
    r->has_s3 = r->s3_num_requests >= 0;
}

/* CAI's timing fields; the alternatives keep records from other CAI versions readable. */
static const char *const K_START[] = {"start_time_unix", "started_unix", NULL};
static const char *const K_END[] = {"end_time_unix", "finished_unix", NULL};
static const char *const K_WALL[] = {"wall_time (seconds)", "wall_s", NULL};
static const char *const K_GAL[] = {"num_galaxies", NULL};

static void read_run(rd *c, const cJSON *o, cai_rank_record *r) {
    r->rank = r_count(c, o, "rank", NULL);
    r->world_size = r_count(c, o, "world_size", NULL);
    r->status_name = r_str(c, o, "status");
    r->has_status = r->status_name != NULL;
    if (!r->status_name) r->status_name = "ok"; /* a seed record has no status: it ran */
    r->status = (cai_rank_status)status_of(r->status_name, RANK_STATUS, 5);
    r->galaxies = r_count(c, o, "galaxies", K_GAL);
    r->input_bits = r_count(c, o, "input_bits", NULL);
    r->throughput_bps_wall = r_num(c, o, "throughput_bps_wall", NULL);
    r->wall_seconds = r_num(c, o, "wall_seconds", K_WALL);
    r->cpu_seconds = r_num(c, o, "cpu_seconds", NULL);
    r->peak_rss_mb = r_num(c, o, "peak_rss_mb", NULL);
    r->start_unix = r_num(c, o, "start_unix", K_START);
    r->end_unix = r_num(c, o, "end_unix", K_END);
    r->start_iso = r_str(c, o, "start_iso");
    r->end_iso = r_str(c, o, "end_iso");
    const cJSON *s = r_obj(c, o, "stage_seconds");
    r->has_stages = s != NULL;
    rd sc = {c->name, "stage_seconds.", c->err, c->rc};
    r->stages =
        (cai_stage_times){r_num(&sc, s, "fetch", NULL), r_num(&sc, s, "fetch_wait", NULL),
                          r_num(&sc, s, "decode", NULL), r_num(&sc, s, "infer", NULL), r_num(&sc, s, "write", NULL)};
    c->rc = sc.rc;
    r->threads = r_count(c, o, "threads", NULL);
    r->engine = r_str(c, o, "engine");
    r->precision = r_str(c, o, "precision");
    r->tta = r_count(c, o, "tta", NULL);
}

static void read_model(rd *c, const cJSON *o, cai_rank_record *r) {
    const cJSON *cal = r_obj(c, o, "calibration");
    const cJSON *m = r_obj(c, o, "model");
    rd cc = {c->name, "calibration.", c->err, c->rc};
    r->calibration_source = r_str(&cc, cal, "source");
    r->calibration_file_sha256 = r_str(&cc, cal, "sha256");
    r->has_model = m != NULL;
    rd mc = {c->name, "model.", c->err, cc.rc};
    r->model_variant = r_str(&mc, m, "variant");
    r->weights_sha256 = r_str(&mc, m, "weights_sha256");
    r->weights_source = r_str(&mc, m, "source");
    r->untrained = r_bool(&mc, m, "untrained");
    c->rc = mc.rc;
}

static void read_parts(rd *c, const cJSON *o, cai_rank_record *r) {
    r->partitions_total = r_count(c, o, "partitions_total", NULL);
    r->partitions_done = r_count(c, o, "partitions_done", NULL);
    r->partitions_failed = r_count(c, o, "partitions_failed", NULL);
    r->partitions_unfinished = r_count(c, o, "partitions_unfinished", NULL);
    const cJSON *ps = r_get(o, "partitions");
    if (!ps) return;
    if (!cJSON_IsArray(ps)) {
        r_bad(c, "partitions", "a list");
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(ps);
    if (!n) return;
    if (!(r->parts = calloc(n, sizeof *r->parts))) {
        if (!c->rc) c->rc = cai_seterr(c->err, CAI_ENOMEM, "%s: out of memory", c->name);
        return;
    }
    const cJSON *pj = ps->child;
    for (size_t i = 0; i < n && pj && !c->rc; i++, pj = pj->next, r->nparts++) read_part(c, pj, i, &r->parts[i]);
}

int cai_rank_record_read(const cJSON *o, const char *name, cai_rank_record *r, cai_err *err) {
    memset(r, 0, sizeof *r);
    if (!cJSON_IsObject(o)) return cai_seterr(err, CAI_EFORMAT, "%s: a rank record must be a JSON object", name);
    rd c = {name, "", err, CAI_OK};
    read_seed(&c, o, r);
    read_run(&c, o, r);
    read_model(&c, o, r);
    read_parts(&c, o, r);
    r->run_id = r_str(&c, o, "run_id");
    r->calibration_sha256 = r_str(&c, o, "calibration_sha256");
    r->predictions = r_str(&c, o, "predictions");
    r->predictions_bytes = r_count(&c, o, "predictions_bytes", NULL);
    r->error = r_str(&c, o, "error");
    if (c.rc) cai_rank_record_free(r);
    return c.rc;
}

int cai_rank_record_parse(const char *text, size_t len, const char *name, cai_rank_record *r, cJSON **root,
                          cai_err *err) {
    memset(r, 0, sizeof *r);
    *root = NULL;
    cJSON *o = cJSON_ParseWithLength(text, len);
    if (!o) return cai_seterr(err, CAI_EFORMAT, "%s: not valid JSON (truncated?)", name);
    int rc = cai_rank_record_read(o, name, r, err);
    if (!rc && r->rank < 0) rc = cai_seterr(err, CAI_EKEY, "%s: missing field \"rank\"", name);
    if (!rc && !r->has_status) rc = cai_seterr(err, CAI_EKEY, "%s: missing field \"status\"", name);
    if (rc) {
        cai_rank_record_free(r);
        cJSON_Delete(o);
        return rc;
    }
    *root = o;
    return CAI_OK;
}

void cai_rank_record_free(cai_rank_record *r) {
    if (!r) return;
    free(r->parts);
    r->parts = NULL;
    r->nparts = 0;
}
