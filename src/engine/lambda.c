/* lambda.c — the Lambda custom runtime: Runtime API over libcurl, the per-environment state, and the
 * dispatch of events to the stages. See lambda.h for the environment variables.
 *
 * Why the shape: Lambda freezes the process between events and reuses it for the next ("warm"), so what is
 * expensive and event-independent (the model) lives in cai_lambda_env and is loaded once. Everything that
 * comes from outside (headers, event bodies, replies) is bounded and validated before use. */
#include "lambda.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../common/buf.h"
#include "../common/diag.h"
#include "../common/util.h"
#include "../pipeline/payload.h"
#include "../pipeline/rank_record.h"
#include "../pipeline/record.h"
#include "../pipeline/runlock.h"
#include "../pipeline/stages.h"
#include "../store/store.h"

/* ------------------------------------------------------------------ configuration */

static const char *const stage_names[] = {"auto", "initialize", "worker", "summarize", "echo"};

const char *cai_lambda_stage_name(cai_lambda_stage s) {
    return (unsigned)s < sizeof stage_names / sizeof stage_names[0] ? stage_names[s] : "?";
}

int cai_lambda_stage_parse(const char *s, cai_lambda_stage *out) {
    for (size_t i = 0; i < sizeof stage_names / sizeof stage_names[0]; i++)
        if (!strcasecmp(s, stage_names[i])) {
            *out = (cai_lambda_stage)i;
            return 0;
        }
    return -1;
}

static int copy_env(char *dst, size_t n, const char *name, const char *dflt, cai_err *err) {
    const char *v = getenv(name);
    if (!v || !*v) v = dflt;
    if (strlen(v) >= n) return cai_seterr(err, CAI_EARG, "environment %s: longer than %zu bytes", name, n - 1);
    strcpy(dst, v);
    return 0;
}

int cai_lambda_config_from_env(cai_lambda_config *c, cai_err *err) {
    memset(c, 0, sizeof *c);
    const char *st = getenv("CAI_STAGE");
    if (st && *st && cai_lambda_stage_parse(st, &c->stage))
        return cai_seterr(err, CAI_EARG,
                          "environment CAI_STAGE: expected initialize, worker, summarize, auto or echo, got \"%s\"",
                          st);
    if (copy_env(c->store_url, sizeof c->store_url, "CAI_STORE", "s3://", err)) return err->code;
    char dflt[1024];
    const char *root = getenv("LAMBDA_TASK_ROOT");
    snprintf(dflt, sizeof dflt, "%s/weights.safetensors", root && *root ? root : ".");
    if (copy_env(c->weights, sizeof c->weights, "CAI_WEIGHTS", dflt, err)) return err->code;
    if (copy_env(c->weights_cache, sizeof c->weights_cache, "CAI_WEIGHTS_CACHE", "/tmp/cai-weights.safetensors", err))
        return err->code;
    if (copy_env(c->calibration, sizeof c->calibration, "CAI_CALIBRATION", "", err)) return err->code;
    const char *p = getenv("CAI_PRECISION");
    c->precision = CAI_PREC_AUTO;
    if (p && *p && cai_precision_parse(p, &c->precision))
        return cai_seterr(err, CAI_EARG, "environment CAI_PRECISION: expected " CAI_PRECISION_EXPECTED ", got \"%s\"",
                          p);
    const char *t = getenv("CAI_THREADS");
    if (t && *t) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end || v < 0 || v > 1024)
            return cai_seterr(err, CAI_EARG, "environment CAI_THREADS: expected an integer 0..1024, got \"%s\"", t);
        c->threads = (int)v;
    }
    c->margin_s = 10.0;
    const char *m = getenv("CAI_DEADLINE_MARGIN_S");
    if (m && *m) {
        char *end;
        double v = strtod(m, &end);
        if (*end || !(v >= 0 && v <= 900))
            return cai_seterr(err, CAI_EARG, "environment CAI_DEADLINE_MARGIN_S: expected seconds 0..900, got \"%s\"",
                              m);
        c->margin_s = v;
    }
    return 0;
}

/* ------------------------------------------------------------------ Runtime API client */

struct cai_lambda_rt {
    CURL *curl;
    char base[512]; /* http://HOST:PORT/2018-06-01/runtime */
};

typedef struct {
    char *buf;
    size_t len, cap, limit;
    int overflow;
} body_buf;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud) {
    body_buf *b = ud;
    size_t n = sz * nm;
    if (b->len + n > b->limit) {
        b->overflow = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (cai_grow(&b->buf, &b->cap, b->len + n + 1, 1, 4096)) return 0; /* out of memory: aborts the transfer */
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = 0;
    return n;
}

typedef struct {
    char request_id[128];
    char deadline[32];
    char trace_id[256];
    int bad_id, bad_deadline, bad_trace;
} next_headers;

/* "Name: value\r\n" → value trimmed into dst (bounded); sets *bad when it does not fit. */
static int header_value(const char *line, size_t n, const char *name, char *dst, size_t cap, int *bad) {
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) || line[nl] != ':') return 0;
    const char *v = line + nl + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) end--;
    size_t len = (size_t)(end - v);
    if (len == 0 || len >= cap) {
        *bad = 1;
        return 1;
    }
    memcpy(dst, v, len);
    dst[len] = 0;
    return 1;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud) {
    next_headers *h = ud;
    size_t n = sz * nm;
    if (header_value(p, n, "Lambda-Runtime-Aws-Request-Id", h->request_id, sizeof h->request_id, &h->bad_id)) return n;
    if (header_value(p, n, "Lambda-Runtime-Deadline-Ms", h->deadline, sizeof h->deadline, &h->bad_deadline)) return n;
    header_value(p, n, "Lambda-Runtime-Trace-Id", h->trace_id, sizeof h->trace_id, &h->bad_trace);
    return n;
}

static int valid_request_id(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return 0;
    return 1;
}

int cai_lambda_rt_open(const char *api, cai_lambda_rt **out, cai_err *err) {
    *out = NULL;
    if (!api || !*api)
        return cai_seterr(err, CAI_EARG,
                          "AWS_LAMBDA_RUNTIME_API is not set (expected host:port; `cai lambda` "
                          "runs inside Lambda or against a Runtime API stand-in)");
    for (const char *p = api; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".:-[]", *p))
            return cai_seterr(err, CAI_EARG, "AWS_LAMBDA_RUNTIME_API \"%s\": expected host:port", api);
    cai_lambda_rt *rt = calloc(1, sizeof *rt);
    if (!rt) return cai_seterr(err, CAI_ENOMEM, "lambda: out of memory");
    int n = snprintf(rt->base, sizeof rt->base, "http://%s/2018-06-01/runtime", api);
    if (n < 0 || (size_t)n >= sizeof rt->base) {
        free(rt);
        return cai_seterr(err, CAI_EARG, "AWS_LAMBDA_RUNTIME_API: too long");
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rt->curl = curl_easy_init();
    if (!rt->curl) {
        free(rt);
        return cai_seterr(err, CAI_ENOMEM, "lambda: curl_easy_init failed");
    }
    *out = rt;
    return 0;
}

void cai_lambda_rt_close(cai_lambda_rt *rt) {
    if (!rt) return;
    curl_easy_cleanup(rt->curl);
    free(rt);
}

void cai_lambda_event_free(cai_lambda_event *ev) {
    if (!ev) return;
    free(ev->body);
    memset(ev, 0, sizeof *ev);
}

int cai_lambda_next(cai_lambda_rt *rt, cai_lambda_event *ev, cai_err *err) {
    memset(ev, 0, sizeof *ev);
    char url[600];
    snprintf(url, sizeof url, "%s/invocation/next", rt->base);
    body_buf b = {.limit = CAI_LAMBDA_MAX_EVENT};
    next_headers h;
    memset(&h, 0, sizeof h);
    CURL *c = rt->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 0L); /* long poll: Lambda answers when an event arrives */
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (b.overflow) {
        free(b.buf);
        return cai_seterr(err, CAI_EFORMAT, "runtime API next: event larger than %u bytes", CAI_LAMBDA_MAX_EVENT);
    }
    if (rc != CURLE_OK) {
        free(b.buf);
        return cai_seterr(err, CAI_ENET, "runtime API next (%s): %s", url, curl_easy_strerror(rc));
    }
    if (status != 200) {
        int r = cai_seterr(err, CAI_ENET, "runtime API next: HTTP %ld: %.200s", status, b.buf ? b.buf : "");
        free(b.buf);
        return r;
    }
    if (h.bad_id || !valid_request_id(h.request_id)) {
        free(b.buf);
        return cai_seterr(
            err, CAI_EFORMAT,
            "runtime API next: header Lambda-Runtime-Aws-Request-Id missing or not [A-Za-z0-9._-]{1,127}");
    }
    strcpy(ev->request_id, h.request_id);
    if (h.deadline[0] && !h.bad_deadline) {
        char *end;
        errno = 0;
        long long v = strtoll(h.deadline, &end, 10);
        if (*end || errno || v < 0) {
            free(b.buf);
            return cai_seterr(err, CAI_EFORMAT,
                              "runtime API next: header Lambda-Runtime-Deadline-Ms: expected Unix "
                              "milliseconds, got \"%s\"",
                              h.deadline);
        }
        ev->deadline_ms = v;
    } else if (h.bad_deadline) {
        free(b.buf);
        return cai_seterr(err, CAI_EFORMAT, "runtime API next: header Lambda-Runtime-Deadline-Ms: empty or too long");
    }
    if (h.trace_id[0] && !h.bad_trace) strcpy(ev->trace_id, h.trace_id);
    if (!b.buf) {
        b.buf = calloc(1, 1);
        if (!b.buf) return cai_seterr(err, CAI_ENOMEM, "lambda: out of memory");
    }
    ev->body = b.buf;
    ev->len = b.len;
    return 0;
}

/* POST a JSON body; the Runtime API answers 202 Accepted. */
static int rt_post(cai_lambda_rt *rt, const char *path, const char *error_type, const char *json, size_t len,
                   cai_err *err) {
    char url[800];
    int n = snprintf(url, sizeof url, "%s/%s", rt->base, path);
    if (n < 0 || (size_t)n >= sizeof url) return cai_seterr(err, CAI_EINTERNAL, "runtime API: URL too long");
    body_buf b = {.limit = CAI_LAMBDA_MAX_REPLY};
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char eh[256];
    if (error_type) {
        snprintf(eh, sizeof eh, "Lambda-Runtime-Function-Error-Type: %s", error_type);
        hdr = curl_slist_append(hdr, eh);
    }
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    CURL *c = rt->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    int r = 0;
    if (rc != CURLE_OK && !b.overflow)
        r = cai_seterr(err, CAI_ENET, "runtime API POST %s: %s", path, curl_easy_strerror(rc));
    else if (status == 413)
        r = cai_seterr(err, CAI_EARG, "runtime API POST %s: payload of %zu bytes too large (HTTP 413)", path, len);
    else if (status < 200 || status > 299)
        r = cai_seterr(err, CAI_ENET, "runtime API POST %s: HTTP %ld: %.200s", path, status, b.buf ? b.buf : "");
    free(b.buf);
    return r;
}

int cai_lambda_respond(cai_lambda_rt *rt, const char *id, const char *json, size_t len, cai_err *err) {
    if (!valid_request_id(id)) return cai_seterr(err, CAI_EARG, "runtime API: bad request id");
    char path[256];
    snprintf(path, sizeof path, "invocation/%s/response", id);
    return rt_post(rt, path, NULL, json, len, err);
}

int cai_lambda_fail(cai_lambda_rt *rt, const char *id, const char *type, const char *json, cai_err *err) {
    if (!valid_request_id(id)) return cai_seterr(err, CAI_EARG, "runtime API: bad request id");
    char path[256];
    snprintf(path, sizeof path, "invocation/%s/error", id);
    return rt_post(rt, path, type, json, strlen(json), err);
}

int cai_lambda_init_error(cai_lambda_rt *rt, const char *type, const char *json, cai_err *err) {
    return rt_post(rt, "init/error", type, json, strlen(json), err);
}

/* ------------------------------------------------------------------ errors as JSON */

const char *cai_lambda_error_type(cai_code code) {
    switch (code) {
    case CAI_OK: return "CAI.OK";
    case CAI_EARG: return "CAI.BadArgument";
    case CAI_EIO: return "CAI.IO";
    case CAI_ENOMEM: return "CAI.OutOfMemory";
    case CAI_EFORMAT: return "CAI.BadFormat";
    case CAI_ESHAPE: return "CAI.BadShape";
    case CAI_EKEY: return "CAI.MissingKey";
    case CAI_EFORBIDDEN: return "CAI.Forbidden";
    case CAI_ENOTFOUND: return "CAI.NotFound";
    case CAI_EPAYLOAD: return "CAI.BadPayload";
    case CAI_ES3: return "CAI.S3";
    case CAI_EAUTH: return "CAI.Auth";
    case CAI_ENET: return "CAI.Network";
    case CAI_ETIMEOUT: return "CAI.DeadlineExceeded";
    case CAI_EINCOMPLETE: return "CAI.Incomplete";
    case CAI_EDNNL: return "CAI.OneDNN";
    case CAI_EINTERNAL: return "CAI.Internal";
    case CAI_ES3_RETRY: return "CAI.S3Transient"; /* the only S3 class the state machine retries */
    case CAI_EBUSY: return "CAI.Busy";            /* another run holds the result_path */
    default: return "CAI.Error";
    }
}

/* {"errorMessage": msg, "errorType": type, ...extra fields}. Takes ownership of extra (may be NULL). */
static char *error_body(cai_code code, const char *msg, cJSON *extra) {
    cJSON *o = extra ? extra : cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "errorMessage", msg && *msg ? msg : cai_strerror(code));
    cJSON_AddStringToObject(o, "errorType", cai_lambda_error_type(code));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* ------------------------------------------------------------------ per-environment state */

struct cai_lambda_env {
    cai_lambda_config cfg;
    char weights_path[1024]; /* local path actually loaded */
    cai_model *model;
    int loads;
    double init_s;
};

int cai_lambda_env_loads(const cai_lambda_env *e) { return e->loads; }

/* s3://BUCKET/KEY → fetched once into cfg.weights_cache (reused by a warm environment, and by a later
 * environment on the same host only if /tmp survived — Lambda does not promise that). */
static int fetch_weights(cai_lambda_env *e, cai_err *err) {
    const char *w = e->cfg.weights;
    if (strncmp(w, "s3://", 5)) {
        snprintf(e->weights_path, sizeof e->weights_path, "%s", w);
        return 0;
    }
    const char *b = w + 5, *slash = strchr(b, '/');
    if (!slash || slash == b || !slash[1])
        return cai_seterr(err, CAI_EARG, "CAI_WEIGHTS \"%s\": expected s3://BUCKET/KEY", w);
    char bucket[256];
    size_t bl = (size_t)(slash - b);
    if (bl >= sizeof bucket) return cai_seterr(err, CAI_EARG, "CAI_WEIGHTS \"%s\": bucket name too long", w);
    memcpy(bucket, b, bl);
    bucket[bl] = 0;
    snprintf(e->weights_path, sizeof e->weights_path, "%s", e->cfg.weights_cache);
    if (access(e->weights_path, R_OK) == 0) return 0;
    cai_store *st;
    if (cai_store_open("s3://", &st, err)) return cai_err_prefix(err, "CAI_WEIGHTS %s: ", w);
    uint8_t *data = NULL;
    size_t len = 0;
    int r = cai_store_get(st, bucket, slash + 1, &data, &len, err);
    cai_store_close(st);
    if (r) return cai_err_prefix(err, "CAI_WEIGHTS %s: ", w);
    r = cai_write_file_atomic(e->weights_path, data, len, err);
    free(data);
    return r;
}

static int load_model(cai_lambda_env *e, cai_err *err) {
    if (e->model) return 0;
    double t0 = cai_mono_now();
    if (fetch_weights(e, err)) return err->code;
    if (cai_model_load(e->weights_path, e->cfg.precision, &e->model, err))
        return cai_err_prefix(err, "weights %s: ", e->weights_path);
    e->loads++;
    cai_diag(CAI_DIAG_INFO, "cai lambda: weights loaded from %s (%s, %lld parameters) in %.3f s", e->weights_path,
             cai_model_variant(e->model), (long long)cai_model_nparams(e->model), cai_mono_now() - t0);
    return 0;
}

int cai_lambda_env_new(const cai_lambda_config *c, cai_lambda_env **out, cai_err *err) {
    *out = NULL;
    cai_lambda_env *e = calloc(1, sizeof *e);
    if (!e) return cai_seterr(err, CAI_ENOMEM, "lambda: out of memory");
    e->cfg = *c;
    double t0 = cai_mono_now();
    if (c->stage == CAI_STAGE_WORKER && load_model(e, err)) {
        free(e);
        return err->code;
    }
    e->init_s = cai_mono_now() - t0;
    *out = e;
    return 0;
}

void cai_lambda_env_free(cai_lambda_env *e) {
    if (!e) return;
    if (e->model) cai_model_free(e->model);
    free(e);
}

/* ------------------------------------------------------------------ the stages */

static cai_lambda_stage infer_stage(const cJSON *ev) {
    if (cJSON_GetObjectItemCaseSensitive(ev, "RANK")) return CAI_STAGE_WORKER;
    if (cJSON_GetObjectItemCaseSensitive(ev, "file_limit")) return CAI_STAGE_INITIALIZE;
    return CAI_STAGE_SUMMARIZE;
}

static const char *get_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Initialize: the stage validates the payload and writes payload.json, its per-run copy and
 * <result_path>/jobs.jsonl (one job per line: what the Distributed Map's ItemReader reads). The answer
 * carries the job list's location, never the jobs, so the state payload stays small however many ranks
 * there are (a test pins it for 100,000 partitions). */
static int do_initialize(cai_lambda_env *e, cai_store *st, const char *body, size_t len, char **resp, cai_err *err) {
    cJSON *jobs = NULL;
    cai_payload p;
    if (cai_payload_parse(body, len, "payload", &p, err)) return err->code;
    /* The run's identity (the payload's, else a fresh one) and its lock on result_path, held by the run until
     * the Summarize Lambda releases it (a second execution on this result_path fails with CAI.Busy naming the
     * holder); released here if Initialize fails. */
    char run_id[CAI_RUN_ID_MAX] = "";
    if (p.run_id && *p.run_id) snprintf(run_id, sizeof run_id, "%s", p.run_id);
    else cai_run_id_new(run_id);
    char holder[160];
    const char *fn = getenv("AWS_LAMBDA_FUNCTION_NAME");
    snprintf(holder, sizeof holder, "aws Initialize Lambda%s%.120s", fn && *fn ? " " : "", fn && *fn ? fn : "");
    cai_run_lock lk;
    if (cai_run_lock_acquire_detached(st, p.bucket, p.result_path, run_id, holder, 0, &lk, err)) {
        cai_payload_free(&p);
        return err->code;
    }
    if (cai_initialize_run(st, body, len, run_id, &jobs, err)) {
        cai_run_lock_release_run(st, p.bucket, p.result_path, run_id, NULL);
        cai_payload_free(&p);
        return err->code;
    }
    int count = cJSON_GetArraySize(jobs);
    cJSON_Delete(jobs);
    char key[2100];
    int n = snprintf(key, sizeof key, "%s/jobs.jsonl", p.result_path);
    uint64_t bytes = 0;
    int r = 0;
    if (n < 0 || (size_t)n >= sizeof key) r = cai_seterr(err, CAI_EPAYLOAD, "payload: field \"result_path\" too long");
    else if (cai_store_head(st, p.bucket, key, &bytes, err))
        r = cai_err_prefix(err, "job list %s/%s (written by Initialize): ", p.bucket, key);
    cJSON *o = r ? NULL : cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "bucket", p.bucket);
        cJSON_AddStringToObject(o, "result_path", p.result_path);
        cJSON *jl = cJSON_AddObjectToObject(o, "job_list");
        cJSON_AddStringToObject(jl, "bucket", p.bucket);
        cJSON_AddStringToObject(jl, "key", key);
        cJSON_AddNumberToObject(jl, "bytes", (double)bytes);
        cJSON_AddNumberToObject(o, "count", count);
        cJSON_AddNumberToObject(o, "world_size", (double)p.world_size);
        cJSON_AddNumberToObject(o, "file_limit", (double)p.file_limit);
        if (run_id[0]) cJSON_AddStringToObject(o, "run_id", run_id);
        cJSON_AddStringToObject(o, "store", e->cfg.store_url);
        *resp = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!*resp) r = cai_seterr(err, CAI_ENOMEM, "lambda: out of memory");
    } else if (!r) r = cai_seterr(err, CAI_ENOMEM, "lambda: out of memory");
    cai_payload_free(&p);
    return r;
}

/* The rank's partitions, for "unfinished" reports: DATA_PATH is a key, a list of keys, or null. */
static cJSON *job_partitions(const cJSON *job) {
    cJSON *a = cJSON_CreateArray();
    const cJSON *dp = cJSON_GetObjectItemCaseSensitive(job, "DATA_PATH");
    if (cJSON_IsString(dp)) cJSON_AddItemToArray(a, cJSON_CreateString(dp->valuestring));
    else if (cJSON_IsArray(dp)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, dp) if (cJSON_IsString(x)) cJSON_AddItemToArray(a, cJSON_CreateString(x->valuestring));
    }
    return a;
}

/* Keys of the record's partitions with the given status (read through the record's one reader). */
static cJSON *partitions_with_status(const cJSON *rec, cai_part_status status) {
    cJSON *a = cJSON_CreateArray();
    cai_rank_record r;
    if (cai_rank_record_read(rec, "rank record", &r, NULL) != CAI_OK) return a;
    for (size_t i = 0; a && i < r.nparts; i++)
        if (r.parts[i].key && r.parts[i].status == status) cJSON_AddItemToArray(a, cJSON_CreateString(r.parts[i].key));
    cai_rank_record_free(&r);
    return a;
}

/* The item's RANK as the seed wrote it (a decimal string) for the error JSON, "" when it has none. */
static void job_rank_text(const cJSON *job, char *out, size_t n) {
    int64_t rk = cai_job_rank(job);
    if (rk >= 0) snprintf(out, n, "%lld", (long long)rk);
    else if (n) out[0] = 0;
}

/* Too close to the deadline to finish even the bookkeeping: do not start (and do not touch the store).
 * Nothing is written, so a retry (or a redrive) starts from a clean slate. */
static int worker_refuse(const cai_lambda_env *e, const cJSON *job, double deadline_unix, cJSON **extra, cai_err *err) {
    if (deadline_unix <= 0) return 0;
    double left = deadline_unix - cai_wall_now();
    if (left > e->cfg.margin_s) return 0;
    char rank[24];
    job_rank_text(job, rank, sizeof rank);
    *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(*extra, "rank", rank);
    cJSON_AddItemToObject(*extra, "unfinished", job_partitions(job));
    return cai_seterr(err, CAI_ETIMEOUT,
                      "rank %s: %.1f s left before the invocation deadline, below the %.1f s safety margin: "
                      "not started; its partitions are unfinished and nothing was written",
                      *rank ? rank : "?", left, e->cfg.margin_s);
}

static int do_worker(cai_lambda_env *e, cai_store *st, const cJSON *job, double deadline_unix, char **resp,
                     cJSON **extra, cai_err *err) {
    char rank[24];
    job_rank_text(job, rank, sizeof rank);
    if (load_model(e, err)) return err->code;
    cai_worker_opts o = {.weights = e->weights_path,
                         .model = e->model,
                         .threads = e->cfg.threads,
                         .precision = e->cfg.precision,
                         .calibration = e->cfg.calibration[0] ? e->cfg.calibration : NULL,
                         .deadline_unix = deadline_unix > 0 ? deadline_unix - e->cfg.margin_s : 0,
                         .engine = "aws"};
    cJSON *rec = NULL;
    if (cai_worker_run(st, job, &o, &rec, err)) {
        *extra = cJSON_CreateObject();
        cJSON_AddStringToObject(*extra, "rank", rank);
        if (err->code == CAI_ETIMEOUT) {
            /* The worker wrote what it finished and lists the rest as "unfinished" in its record. */
            cJSON *un = rec ? partitions_with_status(rec, CAI_PART_UNFINISHED) : NULL;
            cJSON_AddItemToObject(*extra, "unfinished", un ? un : job_partitions(job));
            if (rec) cJSON_AddItemToObject(*extra, "done", partitions_with_status(rec, CAI_PART_OK));
        }
        if (rec) cJSON_AddItemToObject(*extra, "failed", partitions_with_status(rec, CAI_PART_ERROR));
        cJSON_Delete(rec);
        return err->code;
    }
    *resp = rec ? cJSON_PrintUnformatted(rec) : strdup("{}");
    /* A child execution's output must fit the state payload limit; the per-partition list of a rank with
     * thousands of partitions would not. The full record is in <result_path>/<rank>.json either way. */
    if (*resp && rec && strlen(*resp) > CAI_LAMBDA_STATE_LIMIT / 2) {
        free(*resp);
        cJSON_DeleteItemFromObjectCaseSensitive(rec, "partitions");
        cJSON_AddStringToObject(rec, "partitions_omitted", "too long for the state payload; see the rank record");
        *resp = cJSON_PrintUnformatted(rec);
    }
    cJSON_Delete(rec);
    return *resp ? 0 : cai_seterr(err, CAI_ENOMEM, "lambda: out of memory");
}

/* The Distributed Map's ResultWriter lists each failed child with its input (the job line) and the Error and
 * Cause Step Functions recorded (the worker's errorType/errorMessage, or States.Timeout when Lambda killed it).
 * Attach them to summary.json's failed_ranks, so the causes of ranks that wrote no record are not lost.
 * Best effort: what cannot be read becomes a warning. Everything read is bounded. */
#define MAP_MANIFEST_CAP (1u << 20)
#define MAP_RESULT_CAP (64u << 20)

static cJSON *failed_rank_entry(cJSON *failed, long long rank) {
    cJSON *fo;
    cJSON_ArrayForEach(fo, failed) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(fo, "rank");
        if (cJSON_IsNumber(r) && (long long)r->valuedouble == rank) return fo;
    }
    fo = cJSON_CreateObject();
    cJSON_AddNumberToObject(fo, "rank", (double)rank);
    cJSON_AddStringToObject(fo, "status", "failed");
    cJSON_AddItemToArray(failed, fo);
    return fo;
}

static void warn(cJSON *summary, const char *fmt, const char *a, const char *b) {
    cJSON *w = cJSON_GetObjectItemCaseSensitive(summary, "warnings");
    if (!cJSON_IsArray(w)) return;
    char m[1200];
    snprintf(m, sizeof m, fmt, a, b);
    cJSON_AddItemToArray(w, cJSON_CreateString(m));
}

static int map_failures(cai_store *st, const cJSON *map, cJSON *summary) {
    const cJSON *rw = cJSON_GetObjectItemCaseSensitive(map, "ResultWriterDetails");
    const char *mb = get_str(rw, "Bucket"), *mk = get_str(rw, "Key");
    cJSON *failed = cJSON_GetObjectItemCaseSensitive(summary, "failed_ranks");
    if (!mb || !mk || !cJSON_IsArray(failed)) return 0;
    uint8_t *b = NULL;
    size_t n = 0;
    cai_err e = {0};
    if (cai_store_get(st, mb, mk, &b, &n, &e) || n > MAP_MANIFEST_CAP) {
        warn(summary, "the map's result manifest s3://%s: %s", mk, e.msg[0] ? e.msg : "larger than 1 MiB");
        free(b);
        return 0;
    }
    cJSON *man = cJSON_ParseWithLength((const char *)b, n);
    free(b);
    int added = 0;
    const cJSON *files =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(man, "ResultFiles"), "FAILED");
    const cJSON *f;
    cJSON_ArrayForEach(f, files) {
        const char *k = get_str(f, "Key");
        if (!k) continue;
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(f, "Size");
        if (cJSON_IsNumber(sz) && sz->valuedouble > MAP_RESULT_CAP) {
            warn(summary, "%s: %s", k, "larger than 64 MiB; not read");
            continue;
        }
        uint8_t *fb = NULL;
        size_t fl = 0;
        if (cai_store_get(st, mb, k, &fb, &fl, &e) || fl > MAP_RESULT_CAP) {
            warn(summary, "%s: %s", k, e.msg[0] ? e.msg : "larger than 64 MiB");
            free(fb);
            continue;
        }
        cJSON *items = cJSON_ParseWithLength((const char *)fb, fl);
        free(fb);
        const cJSON *it;
        cJSON_ArrayForEach(it, items) {
            const char *in = get_str(it, "Input");
            cJSON *job = in ? cJSON_Parse(in) : NULL;
            long long rank = cai_job_rank(job);
            if (rank >= 0) {
                cJSON *fo = failed_rank_entry(failed, rank);
                const char *er = get_str(it, "Error"), *ca = get_str(it, "Cause");
                /* A Lambda error's Cause is its error JSON: keep the message, which names the partition. */
                cJSON *cj = ca ? cJSON_Parse(ca) : NULL;
                const char *msg = get_str(cj, "errorMessage");
                cJSON_DeleteItemFromObjectCaseSensitive(fo, "error");
                cJSON_DeleteItemFromObjectCaseSensitive(fo, "cause");
                cJSON_AddStringToObject(fo, "error", er ? er : "(none)");
                cJSON_AddStringToObject(fo, "cause", msg ? msg : ca ? ca : "(none)");
                cJSON_Delete(cj);
                added++;
            }
            cJSON_Delete(job);
        }
        cJSON_Delete(items);
    }
    cJSON_Delete(man);
    return added;
}

/* Summarize always answers (the state machine's Check state reads "complete"): an incomplete run is not a
 * Lambda error, because the outputs of the complete ranks are written and a failed Task would hide that.
 * The event's "map" is the Map's ResultWriter answer, or {Error, Cause} when the Map itself failed (Catch). */
static int do_summarize(cai_store *st, const cJSON *ev, const char *calibration, char **resp, cai_err *err) {
    const char *bucket = get_str(ev, "bucket"), *rp = get_str(ev, "result_path");
    if (!bucket || !rp)
        return cai_seterr(err, CAI_EPAYLOAD,
                          "summarize event: fields \"bucket\" and \"result_path\" must be strings "
                          "(the Initialize answer or the run payload)");
    cJSON *summary = NULL;
    cai_err se = {0};
    cai_summarize_opts so = {.calibration = calibration};
    int rc = cai_summarize_ex(st, bucket, rp, &so, &summary, &se);
    /* The run is over, whatever the outcome: release its lock (taken by the Initialize Lambda) — only if this
     * run (jobs.jsonl's CAI_RUN_ID) still holds it. A failure here is logged, not fatal: the outputs stand. */
    cai_err le = {0};
    if (cai_run_lock_release_jobs_run(st, bucket, rp, NULL, 0, &le))
        cai_diag(CAI_DIAG_INFO, "cai lambda: summarize: the run's lock on %s/%s: %s", bucket, rp, le.msg);
    if (rc && rc != CAI_EINCOMPLETE) {
        cJSON_Delete(summary);
        *err = se;
        return rc;
    }
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(ev, "map");
    const char *map_err = get_str(map, "Error"), *map_cause = get_str(map, "Cause");
    int extra = summary ? map_failures(st, map, summary) : 0;
    if (summary && map_err) {
        cJSON *me = cJSON_CreateObject();
        cJSON_AddStringToObject(me, "error", map_err);
        cJSON_AddStringToObject(me, "cause", map_cause ? map_cause : "");
        cJSON_AddItemToObject(summary, "map_error", me);
    }
    if (summary && (extra || map_err)) { /* summary.json again, with the causes */
        char *txt = cJSON_Print(summary), key[2100];
        snprintf(key, sizeof key, "%s/summary.json", rp);
        int pr =
            txt ? cai_store_put(st, bucket, key, txt, strlen(txt), err) : cai_seterr(err, CAI_ENOMEM, "out of memory");
        free(txt);
        if (pr) {
            cJSON_Delete(summary);
            return cai_err_prefix(err, "summarize: ");
        }
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bucket", bucket);
    cJSON_AddStringToObject(o, "result_path", rp);
    int complete = rc == CAI_OK && !map_err;
    cJSON_AddBoolToObject(o, "complete", complete);
    if (!complete) {
        cJSON_AddStringToObject(o, "error", "CAI.Incomplete");
        cJSON_AddStringToObject(o, "cause", rc ? se.msg : "the map failed: see map_error in summary.json");
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(summary, "failed_ranks");
        cJSON_AddNumberToObject(o, "failed_ranks", cJSON_IsArray(fr) ? cJSON_GetArraySize(fr) : 0);
    }
    char *s = summary ? cJSON_PrintUnformatted(summary) : NULL;
    /* Keep the state payload small: the summary travels only when it fits well under the limit; it is in
     * <result_path>/summary.json anyway. */
    if (s && strlen(s) < CAI_LAMBDA_STATE_LIMIT / 2) cJSON_AddItemToObject(o, "summary", summary), summary = NULL;
    free(s);
    cJSON_Delete(summary);
    *resp = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *resp ? 0 : cai_seterr(err, CAI_ENOMEM, "lambda: out of memory");
}

static int do_echo(cai_lambda_env *e, const cJSON *ev, double deadline_unix, char **resp) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "event", cJSON_Duplicate(ev, 1));
    cJSON_AddStringToObject(o, "stage", cai_lambda_stage_name(e->cfg.stage));
    cJSON_AddNumberToObject(o, "weights_loads", e->loads);
    cJSON_AddNumberToObject(o, "deadline_unix", deadline_unix);
    cJSON_AddNumberToObject(o, "seconds_left", deadline_unix > 0 ? deadline_unix - cai_wall_now() : 0);
    *resp = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return 0;
}

int cai_lambda_handle(cai_lambda_env *e, const char *body, size_t len, double deadline_unix, char **response,
                      char **error_json, const char **error_type) {
    *response = NULL;
    *error_json = NULL;
    *error_type = NULL;
    cai_err err = {0};
    cJSON *extra = NULL, *ev = NULL;
    cai_store *st = NULL;
    const char *end = NULL;
    int r = 0;
    ev = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!ev) {
        size_t off = end && end >= body ? (size_t)(end - body) : 0;
        r = cai_seterr(&err, CAI_EFORMAT, "event: not valid JSON (near byte %zu of %zu)", off, len);
        goto done;
    }
    /* Only whitespace may follow the value (cJSON stops at the value's end: "{}garbage" or an embedded NUL
     * would otherwise pass). */
    for (const char *p = end; p && p < body + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            r = cai_seterr(&err, CAI_EFORMAT, "event: trailing data after the JSON value at byte %zu of %zu",
                           (size_t)(p - body), len);
            goto done;
        }
    if (!cJSON_IsObject(ev)) {
        r = cai_seterr(&err, CAI_EFORMAT, "event: expected a JSON object");
        goto done;
    }
    cai_lambda_stage stage = e->cfg.stage == CAI_STAGE_AUTO ? infer_stage(ev) : e->cfg.stage;
    if (stage == CAI_STAGE_ECHO) {
        r = do_echo(e, ev, deadline_unix, response);
        goto done;
    }
    if (stage == CAI_STAGE_WORKER && (r = worker_refuse(e, ev, deadline_unix, &extra, &err))) {
        cai_err_prefix(&err, "%s: ", cai_lambda_stage_name(stage));
        goto done;
    }
    if ((r = cai_store_open(e->cfg.store_url, &st, &err))) goto done;
    switch (stage) {
    case CAI_STAGE_INITIALIZE: r = do_initialize(e, st, body, len, response, &err); break;
    case CAI_STAGE_WORKER: r = do_worker(e, st, ev, deadline_unix, response, &extra, &err); break;
    default: r = do_summarize(st, ev, e->cfg.calibration[0] ? e->cfg.calibration : NULL, response, &err); break;
    }
    if (r) cai_err_prefix(&err, "%s: ", cai_lambda_stage_name(stage));
done:
    cai_store_close(st);
    cJSON_Delete(ev);
    if (r) {
        free(*response);
        *response = NULL;
        *error_json = error_body((cai_code)r, err.msg, extra);
        *error_type = cai_lambda_error_type((cai_code)r);
    } else {
        cJSON_Delete(extra);
    }
    return r;
}

/* ------------------------------------------------------------------ the loop */

void cai_lambda_report_init_error(const char *api, const cai_err *e) {
    cai_lambda_rt *rt;
    cai_err e2 = {0};
    if (cai_lambda_rt_open(api, &rt, &e2)) return;
    char *body = error_body(e->code, e->msg, NULL);
    if (body && cai_lambda_init_error(rt, cai_lambda_error_type(e->code), body, &e2))
        cai_diag(CAI_DIAG_INFO, "cai lambda: could not report the init error: %s", e2.msg);
    free(body);
    cai_lambda_rt_close(rt);
}

int cai_lambda_main(const char *api, const cai_lambda_config *c, long max_events, cai_err *err) {
    double t0 = cai_mono_now();
    cai_lambda_rt *rt;
    if (cai_lambda_rt_open(api, &rt, err)) return err->code;
    cai_lambda_env *env = NULL;
    if (cai_lambda_env_new(c, &env, err)) {
        cai_diag(CAI_DIAG_INFO, "cai lambda: init failed: %s", err->msg);
        cai_lambda_rt_close(rt);
        cai_lambda_report_init_error(api, err);
        return err->code;
    }
    cai_diag(CAI_DIAG_INFO, "cai lambda: ready (stage %s, store %s) in %.3f s", cai_lambda_stage_name(c->stage),
             c->store_url, cai_mono_now() - t0);
    int r = 0;
    for (long n = 0; max_events <= 0 || n < max_events; n++) {
        cai_lambda_event ev;
        if ((r = cai_lambda_next(rt, &ev, err))) break;
        if (ev.trace_id[0]) setenv("_X_AMZN_TRACE_ID", ev.trace_id, 1);
        double te = cai_mono_now();
        char *resp = NULL, *ejson = NULL;
        const char *etype = NULL;
        int hr = cai_lambda_handle(env, ev.body, ev.len, ev.deadline_ms / 1000.0, &resp, &ejson, &etype);
        cai_err pe = {0};
        if (!hr) {
            if (cai_lambda_respond(rt, ev.request_id, resp, strlen(resp), &pe)) {
                /* A too-large answer is the function's fault: say so through /error, keep serving. */
                cai_diag(CAI_DIAG_INFO, "cai lambda: %s: response not accepted: %s", ev.request_id, pe.msg);
                char *b = error_body(pe.code, pe.msg, NULL);
                cai_err pe2 = {0};
                if (!b || cai_lambda_fail(rt, ev.request_id, cai_lambda_error_type(pe.code), b, &pe2)) r = CAI_ENET;
                free(b);
            } else cai_diag(CAI_DIAG_INFO, "cai lambda: %s: ok in %.3f s", ev.request_id, cai_mono_now() - te);
        } else {
            cai_diag(CAI_DIAG_INFO, "cai lambda: %s: %s: %s", ev.request_id, etype, ejson ? ejson : "");
            const char *b = ejson ? ejson : "{\"errorMessage\":\"out of memory\",\"errorType\":\"CAI.OutOfMemory\"}";
            if (cai_lambda_fail(rt, ev.request_id, etype, b, &pe)) {
                cai_diag(CAI_DIAG_INFO, "cai lambda: %s: could not report the error: %s", ev.request_id, pe.msg);
                r = CAI_ENET;
            }
        }
        free(resp);
        free(ejson);
        cai_lambda_event_free(&ev);
        if (r) {
            cai_seterr(err, (cai_code)r, "runtime API: %s", pe.msg);
            break;
        }
    }
    cai_lambda_env_free(env);
    cai_lambda_rt_close(rt);
    return r;
}
