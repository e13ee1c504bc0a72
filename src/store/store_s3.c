/* store_s3.c — the S3 backend of store.h on libcurl: SigV4 signing by curl (CURLOPT_AWS_SIGV4), the
 * payload hash in x-amz-content-sha256, bounded retries with full-jitter backoff, multipart PUT,
 * paginated ListObjectsV2, and per-request statistics (s3.h).
 *
 * Configuration (standard AWS settings, read once at open):
 *   credentials by the AWS default chain (aws_creds.h: environment, profile files, credential_process,
 *   container, EC2 instance role; temporary ones refreshed before they expire),
 *   the Region by AWS_REGION, AWS_DEFAULT_REGION, the profile's region (default us-east-1),
 *   AWS_ENDPOINT_URL_S3 then AWS_ENDPOINT_URL
 *   (path-style addressing there), AWS_MAX_ATTEMPTS (default 5), AWS_CA_BUNDLE (see find_ca_bundle).
 * CAI's own: CAI_S3_ADDRESSING=path|virtual, CAI_S3_MULTIPART_THRESHOLD, CAI_S3_PART_SIZE,
 *   CAI_S3_UPLOAD_THREADS (parts in flight, default 4),
 *   CAI_S3_RETRY_BASE_MS (default 200), CAI_S3_STALL_SECONDS (default 30), CAI_S3_VERBOSE=1.
 *
 * Why the URL is built by hand: curl 7.88 signs the path and query exactly as they appear in the URL
 * (no re-encoding, no sorting), so we send keys already UriEncoded once (S3's canonical form) and query
 * parameters already sorted, and ask curl not to normalise the path (CURLOPT_PATH_AS_IS). */
#define _GNU_SOURCE /* asprintf, explicit_bzero */
#include "s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../common/util.h"
#include "aws_creds.h"
#include "s3_proto.h"

#define S3_MIN_PART (5ull << 20)
#define S3_MAX_PARTS 10000ull
#define ERR_BODY_CAP (64u << 10)
#define LIST_BODY_CAP (16u << 20)

typedef struct s3_conn {
    CURL *h;
    struct s3_conn *next;
} s3_conn;

typedef struct {
    cai_store base;
    char *bucket;   /* s3://BUCKET/PREFIX mode: the one real bucket; NULL: payload buckets as they are */
    char *prefix;   /* "" or "a/b" (no leading/trailing '/') */
    char *endpoint; /* scheme://host[:port], no trailing '/'; NULL: AWS's regional endpoint */
    char *region;
    cai_aws_provider *creds; /* the default chain's link, cached and refreshed */
    char *ca_bundle;
    char sigv4[96];
    int addressing; /* 0 auto, 1 path, 2 virtual */
    uint64_t mp_threshold, part_size;
    int max_attempts;
    double retry_base, retry_cap, stall_s;
    int verbose;
    int moto_quirks;    /* CAI_S3_QUIRKS=moto: see s3_list() */
    int upload_threads; /* multipart parts in flight (CAI_S3_UPLOAD_THREADS, default 4) */

    pthread_mutex_t mu; /* pool, stats, rng */
    s3_conn *pool;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    cai_store_stats stats;
    uint64_t rng;
} s3_store;

static const cai_store_ops s3_ops;

/* ---------- curl global state and the shared DNS/TLS cache ---------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u) {
    (void)h;
    (void)a;
    s3_store *s = u;
    if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST) pthread_mutex_lock(&s->share_mu[d]);
}
static void share_unlock(CURL *h, curl_lock_data d, void *u) {
    (void)h;
    s3_store *s = u;
    if ((int)d >= 0 && d < CURL_LOCK_DATA_LAST) pthread_mutex_unlock(&s->share_mu[d]);
}

static CURL *conn_get(s3_store *s, s3_conn **slot) {
    pthread_mutex_lock(&s->mu);
    s3_conn *c = s->pool;
    if (c) s->pool = c->next;
    pthread_mutex_unlock(&s->mu);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return NULL;
        c->h = curl_easy_init();
        if (!c->h) {
            free(c);
            return NULL;
        }
    }
    *slot = c;
    return c->h;
}

static void conn_put(s3_store *s, s3_conn *c) {
    pthread_mutex_lock(&s->mu);
    c->next = s->pool;
    s->pool = c;
    pthread_mutex_unlock(&s->mu);
}

/* ---------- one request ---------- */

typedef struct {
    const char *method;  /* GET PUT POST HEAD DELETE */
    const char *bucket;  /* real S3 bucket */
    const char *key;     /* real S3 key ("" for bucket-level requests) */
    const char *query;   /* canonical: sorted, encoded; NULL for none */
    const uint8_t *body; /* request body (PUT/POST) */
    size_t body_len;
    const char *body_sha; /* hex SHA-256 of body; NULL: computed */
    const char *range;    /* "bytes=a-b" */
    const char *ctype;    /* Content-Type */
    const char *meta_sha; /* x-amz-meta-sha256 value */
    int if_none_match;    /* conditional PUT: "If-None-Match: *" (create only if absent) */
    const char *op;       /* "GET", "PUT", "LIST"... for messages */
    size_t max_body;      /* cap on a success body (0: unlimited) */
    int body_may_error;   /* CompleteMultipartUpload: a 200 can carry <Error> */
} s3_req;

typedef struct {
    long status;
    cai_s3_buf body; /* success body, or error body (capped) */
    size_t cap;      /* current cap on body */
    int overflow;
    int64_t clen;
    char etag[80];
    char meta_sha[80];
    char content_range[96];
    char bucket_region[64];
    CURL *h;
    /* request body cursor */
    const uint8_t *up;
    size_t up_len, up_pos;
} s3_resp;

static size_t on_body(char *p, size_t sz, size_t nm, void *u) {
    s3_resp *r = u;
    size_t n = sz * nm;
    long st = 0;
    curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &st);
    size_t cap = (st >= 300 || st == 0) ? ERR_BODY_CAP : r->cap;
    if (r->body.n == 0 && st >= 200 && st < 300 && r->clen > 0 && !r->body.p) {
        /* reserve once from Content-Length so a big GET is one allocation, not log2(n) reallocs */
        size_t want = (size_t)r->clen + 1;
        if (!cap || (size_t)r->clen <= cap) {
            r->body.p = malloc(want);
            if (r->body.p) {
                r->body.cap = want;
                r->body.p[0] = 0;
            }
        }
    }
    if (cap && r->body.n + n > cap) {
        if (st >= 300) { /* keep the head of an error body; it has the <Code> */
            size_t room = cap > r->body.n ? cap - r->body.n : 0;
            if (room && cai_s3_buf_add(&r->body, p, room)) return 0;
            return n;
        }
        r->overflow = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (cai_s3_buf_add(&r->body, p, n)) return 0;
    return n;
}

static void hdr_value(const char *p, size_t n, size_t nl, char *dst, size_t cap) {
    const char *v = p + nl;
    size_t vl = n - nl;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
    if (vl && *v == '"') v++, vl--; /* ETag is quoted */
    if (vl && v[vl - 1] == '"') vl--;
    if (vl >= cap) vl = cap - 1;
    memcpy(dst, v, vl);
    dst[vl] = 0;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *u) {
    s3_resp *r = u;
    size_t n = sz * nm;
    if (n >= 5 && !memcmp(p, "HTTP/", 5)) { /* a new response (e.g. after 100 Continue): forget the old */
        r->etag[0] = r->meta_sha[0] = r->content_range[0] = r->bucket_region[0] = 0;
        r->clen = -1;
        return n;
    }
#define H(name, dst)                                                                                                   \
    if (n > sizeof(name) - 1 && !strncasecmp(p, name, sizeof(name) - 1)) {                                             \
        hdr_value(p, n, sizeof(name) - 1, dst, sizeof dst);                                                            \
        return n;                                                                                                      \
    }
    H("etag:", r->etag)
    H("x-amz-meta-sha256:", r->meta_sha)
    H("content-range:", r->content_range)
    H("x-amz-bucket-region:", r->bucket_region)
#undef H
    if (n > 15 && !strncasecmp(p, "content-length:", 15)) {
        char v[32];
        hdr_value(p, n, 15, v, sizeof v);
        char *e;
        long long x = strtoll(v, &e, 10);
        if (e != v && *e == 0 && x >= 0) r->clen = x;
    }
    return n;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *u) {
    s3_resp *r = u;
    size_t n = sz * nm, left = r->up_len - r->up_pos;
    if (n > left) n = left;
    if (n) memcpy(p, r->up + r->up_pos, n);
    r->up_pos += n;
    return n;
}

static int on_seek(void *u, curl_off_t off, int origin) {
    s3_resp *r = u;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->up_len) return CURL_SEEKFUNC_FAIL;
    r->up_pos = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

/* Does this bucket work as a DNS label (virtual-hosted style over TLS)? Dots break the wildcard cert. */
static int dns_bucket(const char *b) {
    size_t n = strlen(b);
    if (n < 3 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
    }
    return b[0] != '-' && b[n - 1] != '-';
}

static int build_url(s3_store *s, const s3_req *q, cai_s3_buf *url) {
    int path_style = s->addressing == 1 || (s->addressing == 0 && (s->endpoint || !dns_bucket(q->bucket)));
    if (s->addressing == 2 && !dns_bucket(q->bucket)) path_style = 1;
    int rc = 0;
    if (s->endpoint) {
        rc |= cai_s3_buf_str(url, s->endpoint);
        if (!path_style) { /* virtual-hosted against a custom endpoint: scheme://BUCKET.host */
            const char *sep = strstr(s->endpoint, "://");
            cai_s3_buf_free(url);
            if (!sep) return -1;
            rc |= cai_s3_buf_add(url, s->endpoint, (size_t)(sep - s->endpoint) + 3);
            rc |= cai_s3_buf_str(url, q->bucket);
            rc |= cai_s3_buf_str(url, ".");
            rc |= cai_s3_buf_str(url, sep + 3);
        }
    } else {
        const char *dom = !strncmp(s->region, "cn-", 3) ? "amazonaws.com.cn" : "amazonaws.com";
        char host[256];
        if (path_style) snprintf(host, sizeof host, "https://s3.%s.%s", s->region, dom);
        else snprintf(host, sizeof host, "https://%s.s3.%s.%s", q->bucket, s->region, dom);
        rc |= cai_s3_buf_str(url, host);
    }
    if (path_style) {
        rc |= cai_s3_buf_str(url, "/");
        rc |= cai_s3_uri_encode(url, q->bucket, strlen(q->bucket), 0);
        if (*q->key) rc |= cai_s3_buf_str(url, "/");
    } else rc |= cai_s3_buf_str(url, "/");
    rc |= cai_s3_uri_encode(url, q->key, strlen(q->key), 1);
    if (q->query) {
        rc |= cai_s3_buf_str(url, "?");
        rc |= cai_s3_buf_str(url, q->query);
    }
    return rc ? -1 : 0;
}

static int transport_retryable(CURLcode c) {
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SEND_FAIL_REWIND: return 1;
    default: return 0;
    }
}

static double jitter01(s3_store *s) {
    pthread_mutex_lock(&s->mu);
    uint64_t x = s->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    pthread_mutex_unlock(&s->mu);
    return (double)((x * 2685821657736338717ull) >> 11) / (double)(1ull << 53);
}

static void backoff(s3_store *s, int attempt) {
    /* Full jitter (AWS architecture blog): sleep uniform in [0, min(cap, base * 2^attempt)). It spreads
     * many workers that were throttled together instead of having them retry in lockstep. */
    double ceil_s = s->retry_base * (double)(1u << (attempt < 16 ? attempt : 16));
    if (ceil_s > s->retry_cap) ceil_s = s->retry_cap;
    double t = ceil_s * jitter01(s);
    struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

static void record(s3_store *s, double wall0, double dt, uint64_t in, uint64_t out, int retry) {
    pthread_mutex_lock(&s->mu);
    cai_store_stats *st = &s->stats;
    if (st->num_requests == 0 || wall0 < st->first_request_time) st->first_request_time = wall0;
    if (st->num_requests == 0 || dt < st->min_time) st->min_time = dt;
    if (dt > st->max_time) st->max_time = dt;
    st->num_requests++;
    st->retries += (uint64_t)retry;
    st->total_time += dt;
    st->bytes_in += in;
    st->bytes_out += out;
    double end = wall0 + dt;
    if (end > st->last_response_time) st->last_response_time = end;
    pthread_mutex_unlock(&s->mu);
}

/* The request's headers (besides the signature curl adds): the payload hash, the session token, the range,
 * metadata, conditions, content type. NULL if out of memory. */
static struct curl_slist *request_headers(const s3_req *q, const char *sha, const char *token_hdr) {
    struct curl_slist *hl = NULL, *t;
    char hbuf[200];
    int bad = 0;
#define ADD_HDR(x) (t = curl_slist_append(hl, (x)), t ? (void)(hl = t) : (void)(bad = 1))
    snprintf(hbuf, sizeof hbuf, "x-amz-content-sha256: %s", sha);
    ADD_HDR(hbuf);
    if (token_hdr) ADD_HDR(token_hdr);
    if (q->range) {
        snprintf(hbuf, sizeof hbuf, "Range: %s", q->range);
        ADD_HDR(hbuf);
    }
    if (q->meta_sha) {
        snprintf(hbuf, sizeof hbuf, "x-amz-meta-sha256: %s", q->meta_sha);
        ADD_HDR(hbuf);
    }
    if (q->if_none_match) ADD_HDR("If-None-Match: *");
    snprintf(hbuf, sizeof hbuf, "Content-Type: %s", q->ctype ? q->ctype : "application/octet-stream");
    if (q->body || !strcmp(q->method, "POST")) ADD_HDR(hbuf);
#undef ADD_HDR
    /* No "Expect:" here to suppress 100-continue: curl 7.88 puts such an empty header in SignedHeaders
     * without sending it, and the signature no longer matches. */
    if (bad) curl_slist_free_all(hl), hl = NULL;
    return hl;
}

/* Set up the handle for one attempt (curl_easy_reset keeps the connection cache). */
static void setup_attempt(s3_store *s, const s3_req *q, s3_resp *r, CURL *h, const char *url, const char *userpwd,
                          struct curl_slist *hl, char *curl_msg) {
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_SHARE, s->share);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* stalled for stall_s → timeout, retried */
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)s->stall_s);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (s->ca_bundle) curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_bundle);
    if (s->verbose) curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    if (!strcmp(q->method, "HEAD")) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (!strcmp(q->method, "PUT") && r->up_len >= (1u << 20)) {
        /* A large PUT goes as an upload with "Expect: 100-continue": S3 can refuse (auth, bucket)
         * before the body is sent. */
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->up_len);
    } else if (!strcmp(q->method, "PUT")) {
        /* A small PUT is sent POST-style with the method renamed: curl then skips the 100-continue
         * round trip it adds to every upload (we cannot remove it with an empty "Expect:" header, see
         * above). Most of our objects (records, predictions, jobs) are small. */
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->up_len);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (!strcmp(q->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->up_len);
    } else if (strcmp(q->method, "GET") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
    if (!strcmp(q->method, "PUT") || !strcmp(q->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
    }
}

/* What one attempt's outcome means: ATTEMPT_DONE (r holds a response the caller reads), ATTEMPT_RETRY (after
 * the backoff, done here), or ATTEMPT_FAILED with *err set. */
enum { ATTEMPT_DONE, ATTEMPT_RETRY, ATTEMPT_FAILED };
static int judge_attempt(s3_store *s, const s3_req *q, s3_resp *r, CURLcode cc, const char *curl_msg, int attempt,
                         long ok_extra, const char *where, int *rc, cai_err *err) {
    if (r->overflow) {
        *rc = cai_seterr(err, CAI_ES3, "%s: %s failed: response larger than the %zu bytes expected", where, q->op,
                         q->max_body);
        return ATTEMPT_FAILED;
    }
    if (cc != CURLE_OK) {
        if (transport_retryable(cc) && attempt < s->max_attempts) {
            backoff(s, attempt);
            return ATTEMPT_RETRY;
        }
        /* A transport error curl will not get past by retrying (a certificate that does not verify, an
         * unsupported protocol, a malformed URL) is permanent: not CAI_ENET, which the state machine retries. */
        *rc = cai_seterr(err, transport_retryable(cc) ? CAI_ENET : CAI_ES3,
                         "%s: %s failed after %d attempt%s: %s (curl %d%s%s)", where, q->op, attempt,
                         attempt == 1 ? "" : "s", curl_easy_strerror(cc), (int)cc, curl_msg[0] ? ": " : "", curl_msg);
        return ATTEMPT_FAILED;
    }
    char code[128], msg[300];
    int is_err = r->status < 200 || r->status >= 300;
    if (!is_err && q->body_may_error && r->body.p && strstr(r->body.p, "<Error>")) is_err = 1;
    if (!is_err || (ok_extra && r->status == ok_extra)) return ATTEMPT_DONE;
    cai_s3_parse_error(r->body.p, r->body.n, code, sizeof code, msg, sizeof msg);
    if (!code[0]) snprintf(code, sizeof code, "%s", cai_s3_status_code_name(r->status));
    if (cai_s3_retryable(r->status, code) && attempt < s->max_attempts) {
        backoff(s, attempt);
        return ATTEMPT_RETRY;
    }
    cai_code cls = cai_s3_classify(r->status, code);
    char hint[200] = "";
    if (r->status == 301 && r->bucket_region[0])
        snprintf(hint, sizeof hint, " (the bucket is in %s; set AWS_REGION=%s)", r->bucket_region, r->bucket_region);
    *rc = cai_seterr(err, cls, "%s: %s failed: %s (%ld)%s%s%s%s", where, q->op, code, r->status, msg[0] ? ": " : "",
                     msg, hint, attempt > 1 ? " [after retries]" : "");
    return ATTEMPT_FAILED;
}

/* Run a request with retries. On CAI_OK, r holds the 2xx response (r->status may be 206, 204...).
 * statuses in `ok_extra` (e.g. 416 for a range past the end) also return CAI_OK for the caller to read. */
static int s3_perform(s3_store *s, const s3_req *q, s3_resp *r, long ok_extra, cai_err *err) {
    cai_s3_buf url = {0};
    char where[600];
    snprintf(where, sizeof where, "s3://%s/%s", q->bucket, q->key);
    if (build_url(s, q, &url)) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory building the URL", where);

    char sha[65];
    if (q->body_sha) memcpy(sha, q->body_sha, 65);
    else cai_sha256_hex(q->body ? (const void *)q->body : "", q->body ? q->body_len : 0, sha);

    /* Credentials per request: temporary ones are refreshed by the provider before they expire. */
    cai_aws_creds cr;
    if (cai_aws_provider_get(s->creds, &cr, err)) {
        cai_s3_buf_free(&url);
        return cai_err_prefix(err, "%s: ", where);
    }
    char userpwd[sizeof cr.key_id + sizeof cr.secret + 2], token_hdr[sizeof cr.token + 32];
    snprintf(userpwd, sizeof userpwd, "%s:%s", cr.key_id, cr.secret);
    snprintf(token_hdr, sizeof token_hdr, "x-amz-security-token: %s", cr.token);
    struct curl_slist *hl = request_headers(q, sha, cr.token[0] ? token_hdr : NULL);
    if (!hl) {
        cai_s3_buf_free(&url);
        return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", where);
    }

    s3_conn *conn = NULL;
    CURL *h = conn_get(s, &conn);
    if (!h) {
        curl_slist_free_all(hl);
        cai_s3_buf_free(&url);
        return cai_seterr(err, CAI_ENOMEM, "%s: cannot create a curl handle", where);
    }

    int rc = CAI_OK;
    char curl_msg[CURL_ERROR_SIZE];
    for (int attempt = 1;; attempt++) {
        cai_s3_buf_free(&r->body);
        size_t cap = q->max_body;
        memset(r, 0, sizeof *r);
        r->cap = cap;
        r->clen = -1;
        r->h = h;
        r->up = q->body;
        r->up_len = q->body ? q->body_len : 0;
        curl_msg[0] = 0;
        setup_attempt(s, q, r, h, url.p, userpwd, hl, curl_msg);

        double wall0 = cai_wall_now(), t0 = cai_mono_now();
        CURLcode cc = curl_easy_perform(h);
        double dt = cai_mono_now() - t0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        record(s, wall0, dt, r->body.n, r->up_pos, attempt > 1);

        if (judge_attempt(s, q, r, cc, curl_msg, attempt, ok_extra, where, &rc, err) != ATTEMPT_RETRY) break;
    }
    conn_put(s, conn);
    curl_slist_free_all(hl);
    cai_s3_buf_free(&url);
    explicit_bzero(userpwd, sizeof userpwd);
    explicit_bzero(&cr, sizeof cr);
    if (rc != CAI_OK) cai_s3_buf_free(&r->body);
    return rc;
}

/* ---------- key mapping ---------- */

/* Map (bucket B, key K) to the real S3 location: passthrough, or BUCKET + PREFIX/B/K. */
static int map_key_any(s3_store *s, const char *b, const char *k, int is_prefix, const char **rb, cai_s3_buf *rk,
                       cai_err *err) {
    if (!b || !*b) return cai_seterr(err, CAI_EARG, "%s: empty bucket name", s->base.url);
    if (!k) k = "";
    /* An object needs a name: GET on a bucket's root would return its listing as if it were an object. */
    if (!*k && !is_prefix) return cai_seterr(err, CAI_EARG, "s3://%s: empty object key", b);
    int rc = 0;
    if (s->bucket) {
        *rb = s->bucket;
        if (*s->prefix) {
            rc |= cai_s3_buf_str(rk, s->prefix);
            rc |= cai_s3_buf_str(rk, "/");
        }
        rc |= cai_s3_buf_str(rk, b);
        rc |= cai_s3_buf_str(rk, "/");
    } else {
        if (!cai_s3_bucket_ok(b))
            return cai_seterr(err, CAI_EARG, "s3://%s: not a valid bucket name (expected letters, digits, '.', '-')",
                              b);
        *rb = b;
    }
    rc |= cai_s3_buf_str(rk, k);
    if (rc) return cai_seterr(err, CAI_ENOMEM, "s3: out of memory");
    return CAI_OK;
}

static int map_key(s3_store *s, const char *b, const char *k, const char **rb, cai_s3_buf *rk, cai_err *err) {
    return map_key_any(s, b, k, 0, rb, rk, err);
}

/* ---------- operations ---------- */

static int s3_get(cai_store *st, const char *b, const char *k, uint8_t **data, size_t *len, cai_err *err) {
    s3_store *s = (s3_store *)st;
    *data = NULL;
    *len = 0;
    const char *rb;
    cai_s3_buf rk = {0};
    int rc = map_key(s, b, k, &rb, &rk, err);
    if (rc) return rc;
    s3_req q = {.method = "GET", .bucket = rb, .key = rk.p, .op = "GET"};
    s3_resp r = {0};
    rc = s3_perform(s, &q, &r, 0, err);
    cai_s3_buf_free(&rk);
    if (rc) return rc;
    if (!r.body.p && cai_s3_buf_add(&r.body, "", 0)) return cai_seterr(err, CAI_ENOMEM, "GET: out of memory");
    *data = (uint8_t *)r.body.p;
    *len = r.body.n;
    return CAI_OK;
}

/* Bytes [off, off+len) clipped to the object's end; a range starting at or past the end is CAI_EARG
 * (store_local's rule). len 0 returns 0 bytes without a request. */
static int s3_get_range(cai_store *st, const char *b, const char *k, uint64_t off, uint64_t len, uint8_t **data,
                        size_t *got, cai_err *err) {
    s3_store *s = (s3_store *)st;
    *data = NULL;
    *got = 0;
    uint64_t last;
    if (len > SIZE_MAX - 1 || cai_add_overflow(off, len, &last))
        return cai_seterr(err, CAI_EARG, "s3 GET %s/%s: range %llu+%llu overflows", b, k ? k : "",
                          (unsigned long long)off, (unsigned long long)len);
    if (len == 0) {
        *data = malloc(1);
        return *data ? CAI_OK : cai_seterr(err, CAI_ENOMEM, "GET: out of memory");
    }
    const char *rb;
    cai_s3_buf rk = {0};
    int rc = map_key(s, b, k, &rb, &rk, err);
    if (rc) return rc;
    char range[80];
    snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)off, (unsigned long long)(last - 1));
    /* A server that ignores Range answers 200 with the whole object; allow that much only when it is
     * the range we asked for from 0 (otherwise we could not bound it): cap at off+len. */
    s3_req q = {.method = "GET",
                .bucket = rb,
                .key = rk.p,
                .range = range,
                .op = "GET (range)",
                .max_body = (size_t)(off == 0 ? len : SIZE_MAX - 1)};
    s3_resp r = {0};
    rc = s3_perform(s, &q, &r, 416, err);
    if (rc) {
        cai_s3_buf_free(&rk);
        return rc;
    }
    uint8_t *out = NULL;
    size_t n = 0;
    if (r.status == 416) {
        /* As store_local: a range that starts at or past the end is an error, except on an empty object
         * read from 0 (S3 answers 416 there too, having no byte 0). */
        if (off == 0) out = malloc(1);
        else
            rc = cai_seterr(err, CAI_EARG, "s3://%s/%s: range %llu+%llu starts past the end of the object", rb, rk.p,
                            (unsigned long long)off, (unsigned long long)len);
    } else if (r.status == 206) {
        unsigned long long a = 0, z = 0;
        if (sscanf(r.content_range, "bytes %llu-%llu", &a, &z) != 2 || a != off || z < a ||
            r.body.n != (size_t)(z - a + 1) || r.body.n > len) {
            rc = cai_seterr(err, CAI_ES3,
                            "s3://%s/%s: GET (range) failed: asked %s, got Content-Range '%s' with %zu bytes", rb, rk.p,
                            range, r.content_range, r.body.n);
        } else {
            out = (uint8_t *)r.body.p;
            r.body.p = NULL;
            n = (size_t)(z - a + 1);
        }
    } else { /* 200: the server ignored Range and sent the whole object */
        if (off >= r.body.n && off > 0)
            rc = cai_seterr(err, CAI_EARG, "s3://%s/%s: range %llu+%llu starts past the end of the object", rb, rk.p,
                            (unsigned long long)off, (unsigned long long)len);
        else if (off >= r.body.n) out = malloc(1);
        else {
            n = r.body.n - (size_t)off;
            if (n > len) n = (size_t)len;
            out = malloc(n ? n : 1);
            if (out) memcpy(out, r.body.p + off, n);
        }
    }
    cai_s3_buf_free(&r.body);
    cai_s3_buf_free(&rk);
    if (rc) {
        free(out);
        return rc;
    }
    if (!out) return cai_seterr(err, CAI_ENOMEM, "GET: out of memory");
    *data = out;
    *got = n;
    return CAI_OK;
}

static int put_single(s3_store *s, const char *rb, const char *rk, const void *data, size_t len, const char *sha,
                      cai_err *err) {
    s3_req q = {.method = "PUT",
                .bucket = rb,
                .key = rk,
                .body = data ? data : (const void *)"",
                .body_len = len,
                .body_sha = sha,
                .meta_sha = sha,
                .op = "PUT"};
    s3_resp r = {0};
    int rc = s3_perform(s, &q, &r, 0, err);
    cai_s3_buf_free(&r.body);
    return rc;
}

static void mp_abort(s3_store *s, const char *rb, const char *rk, const char *upload_q) {
    s3_req q = {.method = "DELETE", .bucket = rb, .key = rk, .query = upload_q, .op = "AbortMultipartUpload"};
    s3_resp r = {0};
    cai_err ignored;
    s3_perform(s, &q, &r, 0, &ignored); /* best effort: a lifecycle rule cleans up what this misses */
    cai_s3_buf_free(&r.body);
}

/* Parts go up from several threads (each borrows its own connection from the pool): one connection
 * rarely fills the network, and S3 scales per connection. First error wins; the others stop early. */
typedef struct {
    s3_store *s;
    const char *rb, *rk, *upload;
    const uint8_t *data;
    size_t len;
    uint64_t part;
    size_t nparts, next; /* next: atomic */
    char **etags;
    pthread_mutex_t mu;
    int rc; /* first error (atomic read for early stop) */
    cai_err err;
} mp_ctx;

static void *mp_worker(void *u) {
    mp_ctx *m = u;
    for (;;) {
        size_t i = __atomic_fetch_add(&m->next, 1, __ATOMIC_RELAXED);
        if (i >= m->nparts || __atomic_load_n(&m->rc, __ATOMIC_RELAXED)) break;
        size_t o = (size_t)(i * m->part), n = m->len - o < m->part ? m->len - o : (size_t)m->part;
        cai_err e = {0};
        int rc = CAI_OK;
        char *pq = NULL;
        char op[48];
        snprintf(op, sizeof op, "UploadPart %zu/%zu", i + 1, m->nparts);
        if (asprintf(&pq, "partNumber=%zu&uploadId=%s", i + 1, m->upload) < 0) {
            pq = NULL;
            rc = cai_seterr(&e, CAI_ENOMEM, "multipart: out of memory");
        } else {
            s3_req pr = {.method = "PUT",
                         .bucket = m->rb,
                         .key = m->rk,
                         .query = pq,
                         .body = m->data + o,
                         .body_len = n,
                         .op = op};
            s3_resp rr = {0};
            rc = s3_perform(m->s, &pr, &rr, 0, &e);
            if (rc == CAI_OK) {
                if (!rr.etag[0])
                    rc = cai_seterr(&e, CAI_ES3, "s3://%s/%s: %s: no ETag in the response", m->rb, m->rk, op);
                else if (!(m->etags[i] = strdup(rr.etag))) rc = cai_seterr(&e, CAI_ENOMEM, "multipart: out of memory");
            }
            cai_s3_buf_free(&rr.body);
        }
        free(pq);
        if (rc) {
            pthread_mutex_lock(&m->mu);
            if (!m->rc) {
                m->err = e;
                __atomic_store_n(&m->rc, rc, __ATOMIC_RELAXED);
            }
            pthread_mutex_unlock(&m->mu);
            break;
        }
    }
    return NULL;
}

/* Multipart: CreateMultipartUpload, UploadPart × n, CompleteMultipartUpload. Each part is signed with
 * its own SHA-256; the whole object's hash goes in x-amz-meta-sha256 at create time. */
static int put_multipart(s3_store *s, const char *rb, const char *rk, const uint8_t *data, size_t len, const char *sha,
                         cai_err *err) {
    uint64_t part = s->part_size;
    if (part < S3_MIN_PART) part = S3_MIN_PART;
    if ((len + part - 1) / part > S3_MAX_PARTS) part = (len + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
    size_t nparts = (size_t)((len + part - 1) / part);

    s3_req cq = {.method = "POST",
                 .bucket = rb,
                 .key = rk,
                 .query = "uploads=",
                 .meta_sha = sha,
                 .op = "CreateMultipartUpload",
                 .max_body = ERR_BODY_CAP};
    s3_resp r = {0};
    int rc = s3_perform(s, &cq, &r, 0, err);
    if (rc) return rc;
    size_t ul;
    const char *u = r.body.p ? cai_s3_xml_find(r.body.p, r.body.p + r.body.n, "UploadId", &ul) : NULL;
    char *upload_id = u ? cai_s3_xml_text(u, ul) : NULL;
    cai_s3_buf_free(&r.body);
    if (!upload_id || !*upload_id) {
        free(upload_id);
        return cai_seterr(err, CAI_ES3, "s3://%s/%s: CreateMultipartUpload: no <UploadId> in the response", rb, rk);
    }
    cai_s3_buf enc_id = {0}, done = {0};
    char **etags = calloc(nparts, sizeof *etags);
    if (cai_s3_uri_encode(&enc_id, upload_id, strlen(upload_id), 0) || !etags) {
        rc = cai_seterr(err, CAI_ENOMEM, "s3://%s/%s: multipart: out of memory", rb, rk);
        goto out;
    }
    char *abort_q = NULL;
    if (asprintf(&abort_q, "uploadId=%s", enc_id.p) < 0) abort_q = NULL;
    if (!abort_q) {
        rc = cai_seterr(err, CAI_ENOMEM, "multipart: out of memory");
        goto out;
    }
    {
        mp_ctx m = {.s = s,
                    .rb = rb,
                    .rk = rk,
                    .upload = enc_id.p,
                    .data = data,
                    .len = len,
                    .part = part,
                    .nparts = nparts,
                    .etags = etags};
        pthread_mutex_init(&m.mu, NULL);
        int nt = s->upload_threads < 1 ? 1 : s->upload_threads;
        if ((size_t)nt > nparts) nt = (int)nparts;
        pthread_t th[16];
        if (nt > 16) nt = 16;
        int started = 0;
        for (; started < nt - 1; started++) /* this thread is the last worker */
            if (pthread_create(&th[started], NULL, mp_worker, &m) != 0) break;
        mp_worker(&m);
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
        pthread_mutex_destroy(&m.mu);
        if (m.rc) {
            rc = m.rc;
            if (err) *err = m.err;
        }
    }
    if (rc == CAI_OK) {
        int b = cai_s3_buf_str(&done, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        for (size_t i = 0; i < nparts; i++) {
            char pbuf[200];
            snprintf(pbuf, sizeof pbuf, "<Part><PartNumber>%zu</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1,
                     etags[i]);
            b |= cai_s3_buf_str(&done, pbuf);
        }
        b |= cai_s3_buf_str(&done, "</CompleteMultipartUpload>");
        if (b) rc = cai_seterr(err, CAI_ENOMEM, "multipart: out of memory");
    }
    if (rc == CAI_OK) {
        s3_req fq = {.method = "POST",
                     .bucket = rb,
                     .key = rk,
                     .query = abort_q,
                     .body = (const uint8_t *)done.p,
                     .body_len = done.n,
                     .ctype = "application/xml",
                     .op = "CompleteMultipartUpload",
                     .max_body = ERR_BODY_CAP,
                     .body_may_error = 1};
        s3_resp fr = {0};
        rc = s3_perform(s, &fq, &fr, 0, err);
        cai_s3_buf_free(&fr.body);
    }
    if (rc != CAI_OK) mp_abort(s, rb, rk, abort_q);
    free(abort_q);
out:
    if (etags)
        for (size_t i = 0; i < nparts; i++) free(etags[i]);
    free(etags);
    cai_s3_buf_free(&enc_id);
    cai_s3_buf_free(&done);
    free(upload_id);
    return rc;
}

int cai_s3_put_sha(cai_store *st, const char *b, const char *k, const void *data, size_t len, const char sha256_hex[65],
                   cai_err *err) {
    if (!cai_store_is_s3(st)) return cai_store_put(st, b, k, data, len, err);
    s3_store *s = (s3_store *)st;
    char sha[65];
    if (sha256_hex) memcpy(sha, sha256_hex, 65);
    else cai_sha256_hex(data ? data : "", data ? len : 0, sha);
    const char *rb;
    cai_s3_buf rk = {0};
    int rc = map_key(s, b, k, &rb, &rk, err);
    if (rc) return rc;
    /* S3 PUTs are atomic: readers see the old object or the whole new one (store.h's contract). */
    if (len >= s->mp_threshold && len > S3_MIN_PART) rc = put_multipart(s, rb, rk.p, data, len, sha, err);
    else rc = put_single(s, rb, rk.p, data, len, sha, err);
    cai_s3_buf_free(&rk);
    return rc;
}

static int s3_put(cai_store *st, const char *b, const char *k, const void *data, size_t len, cai_err *err) {
    return cai_s3_put_sha(st, b, k, data, len, NULL, err);
}

/* The list prefix goes in the query, where SigV4 (and real S3) want '/' as %2F. moto 5.2 rebuilds the
 * canonical query from werkzeug's re-quoted URL, which turns %2F back into '/', so a correct signature
 * fails there; CAI_S3_QUIRKS=moto sends '/' raw, which moto verifies (and real S3 would reject). */
static int s3_list(cai_store *st, const char *b, const char *prefix, cai_keylist *out, cai_err *err) {
    s3_store *s = (s3_store *)st;
    memset(out, 0, sizeof *out);
    const char *rb;
    cai_s3_buf strip = {0};
    int rc = map_key_any(s, b, "", 1, &rb, &strip, err);
    if (rc) return rc;
    cai_s3_buf full = {0}, encp = {0};
    if (cai_s3_buf_str(&full, strip.p) || cai_s3_buf_str(&full, prefix ? prefix : "") ||
        cai_s3_uri_encode(&encp, full.p, full.n, s->moto_quirks)) {
        rc = cai_seterr(err, CAI_ENOMEM, "LIST: out of memory");
        goto out;
    }
    size_t cap = 0;
    char *token = NULL;
    for (int page = 1;; page++) {
        cai_s3_buf query = {0}, enct = {0};
        int b2 = 0;
        if (token) { /* sorted: continuation-token < encoding-type < list-type < prefix */
            b2 |= cai_s3_buf_str(&query, "continuation-token=");
            b2 |= cai_s3_uri_encode(&enct, token, strlen(token), 0);
            b2 |= cai_s3_buf_str(&query, enct.p);
            b2 |= cai_s3_buf_str(&query, "&");
        }
        b2 |= cai_s3_buf_str(&query, "encoding-type=url&list-type=2&prefix=");
        b2 |= cai_s3_buf_str(&query, encp.p);
        cai_s3_buf_free(&enct);
        if (b2) {
            cai_s3_buf_free(&query);
            rc = cai_seterr(err, CAI_ENOMEM, "LIST: out of memory");
            break;
        }
        char op[40];
        snprintf(op, sizeof op, "LIST (page %d)", page);
        s3_req q = {.method = "GET", .bucket = rb, .key = "", .query = query.p, .op = op, .max_body = LIST_BODY_CAP};
        s3_resp r = {0};
        rc = s3_perform(s, &q, &r, 0, err);
        cai_s3_buf_free(&query);
        if (rc) {
            cai_err_prefix(err, "listing s3://%s/%s: ", rb, full.p);
            break;
        }
        int trunc = 0;
        char *next = NULL;
        rc = cai_s3_parse_list_page(r.body.p ? r.body.p : "", r.body.n, 1, strip.p, out, &cap, &trunc, &next, err);
        cai_s3_buf_free(&r.body);
        if (rc) {
            cai_err_prefix(err, "s3://%s/%s: ", rb, full.p);
            break;
        }
        if (!trunc) {
            free(next);
            break;
        }
        if (token && !strcmp(token, next)) { /* a server bug would loop forever */
            free(next);
            rc = cai_seterr(err, CAI_EFORMAT, "listing s3://%s/%s: the continuation token did not advance", rb, full.p);
            break;
        }
        free(token);
        token = next;
    }
    free(token);
out:
    if (rc) cai_keylist_free(out);
    cai_s3_buf_free(&strip);
    cai_s3_buf_free(&full);
    cai_s3_buf_free(&encp);
    return rc;
}

int cai_s3_head_info(cai_store *st, const char *b, const char *k, cai_s3_object_info *info, cai_err *err) {
    memset(info, 0, sizeof *info);
    if (!cai_store_is_s3(st)) return cai_store_head(st, b, k, &info->size, err);
    s3_store *s = (s3_store *)st;
    const char *rb;
    cai_s3_buf rk = {0};
    int rc = map_key(s, b, k, &rb, &rk, err);
    if (rc) return rc;
    s3_req q = {.method = "HEAD", .bucket = rb, .key = rk.p, .op = "HEAD"};
    s3_resp r = {0};
    rc = s3_perform(s, &q, &r, 0, err);
    cai_s3_buf_free(&r.body);
    if (rc == CAI_OK && r.clen < 0)
        rc = cai_seterr(err, CAI_ES3, "s3://%s/%s: HEAD: no Content-Length in the response", rb, rk.p);
    cai_s3_buf_free(&rk);
    if (rc) return rc;
    info->size = (uint64_t)r.clen;
    snprintf(info->etag, sizeof info->etag, "%s", r.etag);
    if (strlen(r.meta_sha) == 64) memcpy(info->sha256, r.meta_sha, 65);
    return CAI_OK;
}

static int s3_head(cai_store *st, const char *b, const char *k, uint64_t *size, cai_err *err) {
    cai_s3_object_info info;
    int rc = cai_s3_head_info(st, b, k, &info, err);
    if (size) *size = rc ? 0 : info.size;
    return rc;
}

/* S3 semantics: deleting a missing key succeeds (204). */
static int s3_del(cai_store *st, const char *b, const char *k, cai_err *err) {
    s3_store *s = (s3_store *)st;
    const char *rb;
    cai_s3_buf rk = {0};
    int rc = map_key(s, b, k, &rb, &rk, err);
    if (rc) return rc;
    s3_req q = {.method = "DELETE", .bucket = rb, .key = rk.p, .op = "DELETE"};
    s3_resp r = {0};
    rc = s3_perform(s, &q, &r, 0, err);
    cai_s3_buf_free(&r.body);
    cai_s3_buf_free(&rk);
    return rc;
}

static void s3_close(cai_store *st) {
    s3_store *s = (s3_store *)st;
    if (!s) return;
    while (s->pool) {
        s3_conn *c = s->pool;
        s->pool = c->next;
        curl_easy_cleanup(c->h);
        free(c);
    }
    if (s->share) curl_share_cleanup(s->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&s->share_mu[i]);
    pthread_mutex_destroy(&s->mu);
    free(s->bucket);
    free(s->prefix);
    free(s->endpoint);
    free(s->region);
    cai_aws_provider_close(s->creds);
    free(s->ca_bundle);
    free(s->base.url);
    free(s);
}

/* Create-if-absent: S3's conditional write (If-None-Match: *) answers 412 PreconditionFailed when the key
 * exists. A 412 after a retried attempt may be our own first attempt having landed: the caller (run lock)
 * reads the object back and compares it with what it wrote. */
static int s3_put_new(cai_store *st, const char *b, const char *k, const void *data, size_t len, cai_err *err) {
    s3_store *s = (s3_store *)st;
    const char *rb;
    cai_s3_buf rk = {0};
    int rc = map_key(s, b, k, &rb, &rk, err);
    if (rc) return rc;
    char sha[65];
    cai_sha256_hex(data ? data : "", data ? len : 0, sha);
    s3_req q = {.method = "PUT",
                .bucket = rb,
                .key = rk.p,
                .body = data ? data : (const void *)"",
                .body_len = len,
                .body_sha = sha,
                .meta_sha = sha,
                .op = "PUT (If-None-Match)",
                .if_none_match = 1};
    s3_resp r = {0};
    rc = s3_perform(s, &q, &r, 412, err);
    if (!rc && r.status == 412) rc = cai_seterr(err, CAI_EBUSY, "s3://%s/%s exists", rb, rk.p);
    cai_s3_buf_free(&r.body);
    cai_s3_buf_free(&rk);
    return rc;
}

static const cai_store_ops s3_ops = {
    .get = s3_get,
    .get_range = s3_get_range,
    .put = s3_put,
    .list = s3_list,
    .head = s3_head,
    .del = s3_del,
    .close = s3_close,
    .put_new = s3_put_new,
};

/* ---------- s3.h ---------- */

int cai_store_is_s3(const cai_store *s) { return s && s->ops == &s3_ops; }

int cai_store_stats_get(cai_store *st, cai_store_stats *out) {
    memset(out, 0, sizeof *out);
    if (!cai_store_is_s3(st)) return 0;
    s3_store *s = (s3_store *)st;
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
    return 1;
}

void cai_store_stats_reset(cai_store *st) {
    if (!cai_store_is_s3(st)) return;
    s3_store *s = (s3_store *)st;
    pthread_mutex_lock(&s->mu);
    memset(&s->stats, 0, sizeof s->stats);
    pthread_mutex_unlock(&s->mu);
}

void cai_s3_set_multipart(cai_store *st, uint64_t threshold, uint64_t part_size) {
    if (!cai_store_is_s3(st)) return;
    s3_store *s = (s3_store *)st;
    if (threshold) s->mp_threshold = threshold;
    if (part_size) s->part_size = part_size;
}

/* ---------- open ---------- */

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static int env_size(const char *name, uint64_t def, uint64_t *out, cai_err *err) {
    const char *v = env(name);
    *out = def;
    if (v && cai_s3_parse_size(v, out))
        return cai_seterr(err, CAI_EARG, "%s: expected a byte size such as 16777216 or 16M, got '%s'", name, v);
    return CAI_OK;
}

static int env_num(const char *name, double def, double lo, double hi, double *out, cai_err *err) {
    const char *v = env(name);
    *out = def;
    if (!v) return CAI_OK;
    char *e;
    double x = strtod(v, &e);
    if (e == v || *e || !(x >= lo && x <= hi))
        return cai_seterr(err, CAI_EARG, "%s: expected a number in [%g, %g], got '%s'", name, lo, hi, v);
    *out = x;
    return CAI_OK;
}

/* The CA file for TLS. libcurl's compiled-in default is Debian's path, which does not exist on Lambda's
 * provided.al2023 (Amazon Linux keeps it in /etc/pki/tls/certs), so a packaged binary would fail every
 * https request there. Order: AWS_CA_BUNDLE, SSL_CERT_FILE, curl's default if present, the usual
 * distribution paths, $LAMBDA_TASK_ROOT/cacert.pem (a package may bring its own). NULL: curl's default. */
static const char *find_ca_bundle(void) {
    const char *e = env("AWS_CA_BUNDLE");
    if (e) return e;
    if ((e = env("SSL_CERT_FILE"))) return e;
    const char *def = NULL;
    CURL *h = curl_easy_init();
    if (h) {
        char *p = NULL;
        if (curl_easy_getinfo(h, CURLINFO_CAINFO, &p) == CURLE_OK && p && access(p, R_OK) == 0) def = "";
        curl_easy_cleanup(h);
    }
    if (def) return NULL; /* curl's own default works here */
    static const char *const paths[] = {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                                        "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem",
                                        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], R_OK) == 0) return paths[i];
    static char task[4096];
    const char *root = env("LAMBDA_TASK_ROOT");
    if (root && snprintf(task, sizeof task, "%s/cacert.pem", root) < (int)sizeof task && access(task, R_OK) == 0)
        return task;
    return NULL;
}

int cai_store_open_s3(const char *url, cai_store **out, cai_err *err) {
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return cai_seterr(err, CAI_ENET, "store '%s': curl_global_init failed: %s", url,
                          curl_easy_strerror(curl_init_rc));
    s3_store *s = calloc(1, sizeof *s);
    if (!s) return cai_seterr(err, CAI_ENOMEM, "store '%s': out of memory", url);
    pthread_mutex_init(&s->mu, NULL);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&s->share_mu[i], NULL);
    s->base.ops = &s3_ops;
    int rc = CAI_OK;
    if (!(s->base.url = strdup(url))) {
        rc = cai_seterr(err, CAI_ENOMEM, "store '%s': out of memory", url);
        goto fail;
    }
    if ((rc = cai_s3_parse_url(url, &s->bucket, &s->prefix, err))) goto fail;

    /* CURLOPT_USERPWD splits at the first ':': the provider refuses key ids with one. */
    if ((rc = cai_aws_provider_open(&s->creds, err))) {
        cai_err_prefix(err, "store '%s': ", url);
        goto fail;
    }
    char region_buf[64];
    cai_err re = {0};
    int rrc = cai_aws_region(region_buf, sizeof region_buf, &re);
    if (rrc && rrc != CAI_ENOTFOUND) {
        *err = re;
        rc = rrc;
        goto fail;
    }
    const char *region = rrc ? "us-east-1" : region_buf;
    s->region = strdup(region);
    if (!s->region) {
        rc = cai_seterr(err, CAI_ENOMEM, "store '%s': out of memory", url);
        goto fail;
    }
    for (const char *p = region; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) {
            rc = cai_seterr(err, CAI_EARG, "AWS_REGION: '%s' is not a region name (e.g. us-east-1)", region);
            goto fail;
        }
    if (strlen(region) > 40) {
        rc = cai_seterr(err, CAI_EARG, "AWS_REGION: '%.40s...' is too long", region);
        goto fail;
    }
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", region);

    const char *ep = env("AWS_ENDPOINT_URL_S3");
    if (!ep) ep = env("AWS_ENDPOINT_URL");
    if (ep) {
        if (strncmp(ep, "http://", 7) && strncmp(ep, "https://", 8)) {
            rc = cai_seterr(err, CAI_EARG,
                            "AWS_ENDPOINT_URL(_S3): expected http://HOST[:PORT] or https://..., got '%s'", ep);
            goto fail;
        }
        size_t n = strlen(ep);
        while (n && ep[n - 1] == '/') n--;
        if (!(s->endpoint = strndup(ep, n))) {
            rc = cai_seterr(err, CAI_ENOMEM, "store '%s': out of memory", url);
            goto fail;
        }
    }
    const char *addr = env("CAI_S3_ADDRESSING");
    if (addr && !strcmp(addr, "path")) s->addressing = 1;
    else if (addr && !strcmp(addr, "virtual")) s->addressing = 2;
    else if (addr && strcmp(addr, "auto")) {
        rc = cai_seterr(err, CAI_EARG, "CAI_S3_ADDRESSING: expected path, virtual or auto, got '%s'", addr);
        goto fail;
    }
    const char *ca = find_ca_bundle();
    if (ca && !(s->ca_bundle = strdup(ca))) {
        rc = cai_seterr(err, CAI_ENOMEM, "store '%s': out of memory", url);
        goto fail;
    }
    double attempts, base_ms;
    if ((rc = env_size("CAI_S3_MULTIPART_THRESHOLD", 64ull << 20, &s->mp_threshold, err)) ||
        (rc = env_size("CAI_S3_PART_SIZE", 16ull << 20, &s->part_size, err)) ||
        (rc = env_num("AWS_MAX_ATTEMPTS", 5, 1, 100, &attempts, err)) ||
        (rc = env_num("CAI_S3_RETRY_BASE_MS", 200, 0, 60000, &base_ms, err)) ||
        (rc = env_num("CAI_S3_STALL_SECONDS", 30, 1, 3600, &s->stall_s, err)))
        goto fail;
    double upt;
    if ((rc = env_num("CAI_S3_UPLOAD_THREADS", 4, 1, 16, &upt, err))) goto fail;
    s->upload_threads = (int)upt;
    s->max_attempts = (int)attempts;
    s->retry_base = base_ms / 1000.0;
    s->retry_cap = 20.0;
    s->verbose = env("CAI_S3_VERBOSE") != NULL;
    const char *quirks = env("CAI_S3_QUIRKS");
    if (quirks && strcmp(quirks, "moto")) {
        rc = cai_seterr(err, CAI_EARG, "CAI_S3_QUIRKS: expected 'moto' or nothing, got '%s'", quirks);
        goto fail;
    }
    s->moto_quirks = quirks != NULL;
    s->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)(cai_wall_now() * 1e6) ^ (uint64_t)(uintptr_t)s;
    if (!s->rng) s->rng = 0x9E3779B97F4A7C15ull;

    s->share = curl_share_init();
    if (!s->share) {
        rc = cai_seterr(err, CAI_ENOMEM, "store '%s': curl_share_init failed", url);
        goto fail;
    }
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *out = &s->base;
    return CAI_OK;
fail:
    s3_close(&s->base);
    return rc;
}
