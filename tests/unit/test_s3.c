/* test_s3.c — the S3 store against a live, signature-checking S3 (moto_server), started by
 * tests/integration/s3_moto.sh. Skips (77) unless CAI_S3_TEST_ENDPOINT is set.
 * Env: CAI_S3_TEST_ENDPOINT (moto), CAI_S3_TEST_BUCKET (exists, empty), CAI_S3_TEST_PROXY (fault_proxy.py
 * in front of moto; the retry tests skip without it), AWS_ACCESS_KEY_ID/SECRET (valid for moto). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "store/s3.h"
#include "store/store.h"
#include "store/sync.h"
#include "tmpdir.h"

static const char *endpoint, *bucket, *proxy, *strict;
static char url_pass[] = "s3://";

static cai_store *open_ok(const char *url) {
    cai_store *s = NULL;
    cai_err e = {0};
    int rc = cai_store_open(url, &s, &e);
    if (rc) fail_msg("open %s: %s", url, e.msg);
    return s;
}

static uint8_t *pattern(size_t n, unsigned seed) {
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* Arm the fault proxy (POST /__fault__) and read its counters (GET). */
static void proxy_arm(const char *mode, int count, const char *match) {
    char body[256], u[256];
    snprintf(body, sizeof body, "{\"mode\":\"%s\",\"count\":%d,\"match\":\"%s\"}", mode, count, match);
    snprintf(u, sizeof u, "%s/__fault__", proxy);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, devnull);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    fclose(devnull);
    curl_easy_cleanup(h);
}

static size_t grab(char *p, size_t sz, size_t n, void *u) {
    char *dst = u;
    size_t have = strlen(dst), add = sz * n;
    if (have + add >= 8192) add = 8191 - have;
    memcpy(dst + have, p, add);
    dst[have + add] = 0;
    return sz * n;
}

static void proxy_state(char out[8192]) {
    char u[256];
    snprintf(u, sizeof u, "%s/__fault__", proxy);
    out[0] = 0;
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, grab);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_cleanup(h);
}

static long proxy_injected(void) {
    char st[8192];
    proxy_state(st);
    const char *p = strstr(st, "\"injected\": ");
    assert_non_null(p);
    return strtol(p + 12, NULL, 10);
}

/* ---------- tests ---------- */

static void test_roundtrip_head_delete(void **state) {
    (void)state;
    cai_store *s = open_ok(url_pass);
    cai_err e = {0};
    const char *key = "Anomaly Detection/sub dir/x y~z.bin"; /* spaces, as in the seed's "Anomaly Detection" */
    size_t n = 100000;
    uint8_t *d = pattern(n, 1);
    assert_int_equal(cai_store_put(s, bucket, key, d, n, &e), CAI_OK);
    uint8_t *got;
    size_t len;
    assert_int_equal(cai_store_get(s, bucket, key, &got, &len, &e), CAI_OK);
    assert_int_equal(len, n);
    assert_memory_equal(got, d, n);
    free(got);

    uint64_t size = 0;
    assert_int_equal(cai_store_head(s, bucket, key, &size, &e), CAI_OK);
    assert_int_equal(size, n);
    cai_s3_object_info info;
    assert_int_equal(cai_s3_head_info(s, bucket, key, &info, &e), CAI_OK);
    char sha[65];
    cai_sha256_hex(d, n, sha);
    assert_string_equal(info.sha256, sha);   /* every cai PUT records x-amz-meta-sha256 */
    assert_int_equal(strlen(info.etag), 32); /* single part: the MD5 */

    /* empty object */
    assert_int_equal(cai_store_put(s, bucket, "empty", "", 0, &e), CAI_OK);
    assert_int_equal(cai_store_get(s, bucket, "empty", &got, &len, &e), CAI_OK);
    assert_int_equal(len, 0);
    free(got);

    assert_int_equal(cai_store_delete(s, bucket, key, &e), CAI_OK);
    e.msg[0] = 0;
    assert_int_equal(cai_store_get(s, bucket, key, &got, &len, &e), CAI_ENOTFOUND);
    assert_null(got);
    assert_non_null(strstr(e.msg, "NoSuchKey (404)"));
    assert_non_null(strstr(e.msg, key)); /* the message names the key */
    assert_int_equal(cai_store_head(s, bucket, key, &size, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, key));
    /* S3 semantics: deleting a missing key is not an error */
    assert_int_equal(cai_store_delete(s, bucket, key, &e), CAI_OK);
    free(d);
    cai_store_close(s);
}

/* Create-if-absent (the run lock's primitive): a conditional PUT with If-None-Match: * — the second create
 * of a key is CAI_EBUSY and leaves the first object as it was. */
static void test_put_new_is_conditional(void **state) {
    (void)state;
    cai_store *s = open_ok(url_pass);
    cai_err e = {0};
    cai_store_delete(s, bucket, "locks/run.lock", &e);
    assert_int_equal(cai_store_put_new(s, bucket, "locks/run.lock", "first", 5, &e), CAI_OK);
    assert_int_equal(cai_store_put_new(s, bucket, "locks/run.lock", "second", 6, &e), CAI_EBUSY);
    uint8_t *got;
    size_t len;
    assert_int_equal(cai_store_get(s, bucket, "locks/run.lock", &got, &len, &e), CAI_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(got, "first", 5);
    free(got);
    assert_int_equal(cai_store_delete(s, bucket, "locks/run.lock", &e), CAI_OK);
    assert_int_equal(cai_store_put_new(s, bucket, "locks/run.lock", "third", 5, &e), CAI_OK);
    assert_int_equal(cai_store_delete(s, bucket, "locks/run.lock", &e), CAI_OK);
    cai_store_close(s);
}

static void test_no_such_bucket(void **state) {
    (void)state;
    cai_store *s = open_ok(url_pass);
    cai_err e = {0};
    uint8_t *got;
    size_t len;
    assert_int_equal(cai_store_get(s, "cai-no-such-bucket", "k", &got, &len, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "NoSuchBucket"));
    assert_int_equal(cai_store_get(s, "bad/bucket", "k", &got, &len, &e), CAI_EARG);
    cai_store_close(s);
}

static void test_ranged_get(void **state) {
    (void)state;
    cai_store *s = open_ok(url_pass);
    cai_err e = {0};
    size_t n = 1000;
    uint8_t *d = pattern(n, 2);
    assert_int_equal(cai_store_put(s, bucket, "range.bin", d, n, &e), CAI_OK);
    struct {
        uint64_t off, len;
        size_t want;
    } cases[] = {
        {0, 1, 1}, {0, 1000, 1000}, {17, 100, 100}, {999, 1, 1}, {990, 100, 10}, {3, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *got = NULL;
        size_t g = 12345;
        int rc = cai_store_get_range(s, bucket, "range.bin", cases[i].off, cases[i].len, &got, &g, &e);
        if (rc) fail_msg("case %zu: %s", i, e.msg);
        assert_int_equal(g, cases[i].want);
        if (g) assert_memory_equal(got, d + cases[i].off, g);
        free(got);
    }
    uint8_t *got;
    size_t g;
    /* as store_local: starting at or past the end is an error; an empty object read from 0 is empty */
    assert_int_equal(cai_store_get_range(s, bucket, "range.bin", 1000, 5, &got, &g, &e), CAI_EARG);
    assert_int_equal(cai_store_get_range(s, bucket, "range.bin", 5000, 5, &got, &g, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "past the end"));
    assert_int_equal(cai_store_put(s, bucket, "empty-range", "", 0, &e), CAI_OK);
    assert_int_equal(cai_store_get_range(s, bucket, "empty-range", 0, 10, &got, &g, &e), CAI_OK);
    assert_int_equal(g, 0);
    free(got);
    assert_int_equal(cai_store_get_range(s, bucket, "no-such-key", 0, 10, &got, &g, &e), CAI_ENOTFOUND);
    assert_int_equal(cai_store_get_range(s, bucket, "range.bin", UINT64_MAX - 1, 10, &got, &g, &e), CAI_EARG);
    free(d);
    cai_store_close(s);
}

static void test_multipart(void **state) {
    (void)state;
    cai_store *s = open_ok(url_pass);
    cai_err e = {0};
    cai_s3_set_multipart(s, 6u << 20, 5u << 20); /* 12 MiB + 3 → parts of 5, 5, 2 MiB + 3 */
    size_t n = (12u << 20) + 3;
    uint8_t *d = pattern(n, 3);
    cai_store_stats_reset(s);
    int rc = cai_store_put(s, bucket, "big/multi part.bin", d, n, &e);
    if (rc) fail_msg("%s", e.msg);
    cai_store_stats st;
    assert_int_equal(cai_store_stats_get(s, &st), 1);
    assert_int_equal(st.num_requests, 5); /* create, 3 parts, complete */
    assert_true(st.bytes_out >= n);
    uint8_t *got;
    size_t len;
    assert_int_equal(cai_store_get(s, bucket, "big/multi part.bin", &got, &len, &e), CAI_OK);
    assert_int_equal(len, n);
    assert_memory_equal(got, d, n);
    free(got);
    cai_s3_object_info info;
    assert_int_equal(cai_s3_head_info(s, bucket, "big/multi part.bin", &info, &e), CAI_OK);
    assert_int_equal(info.size, n);
    assert_non_null(strchr(info.etag, '-')); /* a multipart ETag: "<md5 of md5s>-3" */
    assert_string_equal(strchr(info.etag, '-'), "-3");
    char sha[65];
    cai_sha256_hex(d, n, sha);
    assert_string_equal(info.sha256, sha);
    /* a ranged GET across a part boundary */
    assert_int_equal(cai_store_get_range(s, bucket, "big/multi part.bin", (5u << 20) - 10, 20, &got, &len, &e), CAI_OK);
    assert_int_equal(len, 20);
    assert_memory_equal(got, d + (5u << 20) - 10, 20);
    free(got);
    free(d);
    cai_store_close(s);
}

typedef struct {
    cai_store *s;
    int from, to;
    int rc;
    char msg[1024];
} put_job;

static void *put_many(void *u) {
    put_job *j = u;
    cai_err e = {0};
    for (int i = j->from; i < j->to && !j->rc; i++) {
        char key[64], body[32];
        snprintf(key, sizeof key, "many/part %05d.pt", i);
        int n = snprintf(body, sizeof body, "%d", i);
        j->rc = cai_store_put(j->s, bucket, key, body, (size_t)n, &e);
        if (j->rc) snprintf(j->msg, sizeof j->msg, "%s", e.msg);
    }
    return NULL;
}

/* More than 1,000 keys (the seed stopped at the first page), written from 4 threads through ONE store:
 * that also checks the store is safe to share between threads. */
static void test_pagination_1050_threads(void **state) {
    (void)state;
    cai_store *s = open_ok(url_pass);
    cai_err e = {0};
    enum { N = 1050, T = 4 };
    pthread_t th[T];
    put_job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (put_job){.s = s, .from = t * N / T, .to = (t + 1) * N / T};
        pthread_create(&th[t], NULL, put_many, &jobs[t]);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        if (jobs[t].rc) fail_msg("thread %d: %s", t, jobs[t].msg);
    }
    cai_store_stats_reset(s);
    cai_keylist l;
    int rc = cai_store_list(s, bucket, "many/", &l, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(l.n, N);
    for (size_t i = 0; i < l.n; i++) {
        char key[64];
        snprintf(key, sizeof key, "many/part %05zu.pt", i);
        assert_string_equal(l.keys[i], key);
        assert_int_equal(l.sizes[i], (uint64_t)snprintf(key, sizeof key, "%zu", i));
    }
    cai_store_stats st;
    cai_store_stats_get(s, &st);
    assert_int_equal(st.num_requests, 2); /* 1,000 + 50 */
    assert_true(st.min_time > 0 && st.max_time >= st.min_time && st.total_time >= st.max_time);
    assert_true(st.first_request_time > 1e9 && st.last_response_time >= st.first_request_time);
    cai_keylist_free(&l);
    /* a prefix that matches nothing is an empty list, not an error */
    assert_int_equal(cai_store_list(s, bucket, "many/nothing-here", &l, &e), CAI_OK);
    assert_int_equal(l.n, 0);
    cai_keylist_free(&l);
    cai_store_close(s);
}

/* s3://BUCKET/PREFIX maps bucket B's key K to BUCKET/PREFIX/B/K; list strips the mapping again. */
static void test_prefix_mapping(void **state) {
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "s3://%s/runs/r1/", bucket);
    cai_store *m = open_ok(url), *p = open_ok(url_pass);
    cai_err e = {0};
    assert_int_equal(cai_store_put(m, "cosmicai-data", "result/1.json", "{}", 2, &e), CAI_OK);
    assert_int_equal(cai_store_put(m, "cosmicai-data", "result/2.json", "[]", 2, &e), CAI_OK);
    assert_int_equal(cai_store_put(m, "other", "result/3.json", "[]", 2, &e), CAI_OK);
    uint8_t *got;
    size_t len;
    assert_int_equal(cai_store_get(p, bucket, "runs/r1/cosmicai-data/result/1.json", &got, &len, &e), CAI_OK);
    assert_int_equal(len, 2);
    free(got);
    cai_keylist l;
    assert_int_equal(cai_store_list(m, "cosmicai-data", "result/", &l, &e), CAI_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.keys[0], "result/1.json");
    assert_string_equal(l.keys[1], "result/2.json");
    cai_keylist_free(&l);
    assert_int_equal(cai_store_get(m, "cosmicai-data", "result/9.json", &got, &len, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "runs/r1/cosmicai-data/result/9.json")); /* the real S3 location */
    cai_store_close(m);
    cai_store_close(p);
}

static void with_env(const char *name, const char *value, const char **saved) {
    const char *v = getenv(name);
    *saved = v ? strdup(v) : NULL;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
}
static void restore_env(const char *name, const char *saved) {
    if (saved) setenv(name, saved, 1);
    else unsetenv(name);
    free((void *)saved);
}

static void test_wrong_secret_is_auth_error(void **state) {
    (void)state;
    const char *saved;
    with_env("AWS_SECRET_ACCESS_KEY", "wrong-secret-wrong-secret-wrong-secret00", &saved);
    cai_store *s = open_ok(url_pass);
    restore_env("AWS_SECRET_ACCESS_KEY", saved);
    cai_err e = {0};
    uint8_t *got;
    size_t len;
    cai_store_stats_reset(s);
    assert_int_equal(cai_store_get(s, bucket, "range.bin", &got, &len, &e), CAI_EAUTH);
    assert_non_null(strstr(e.msg, "SignatureDoesNotMatch (403)"));
    assert_non_null(strstr(e.msg, "range.bin"));
    assert_non_null(strstr(e.msg, "GET failed"));
    cai_store_stats st;
    cai_store_stats_get(s, &st);
    assert_int_equal(st.num_requests, 1); /* auth errors are not retried */
    cai_keylist l;
    assert_int_equal(cai_store_list(s, bucket, "", &l, &e), CAI_EAUTH);
    cai_store_close(s);

    with_env("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000", &saved);
    s = open_ok(url_pass);
    restore_env("AWS_ACCESS_KEY_ID", saved);
    assert_int_equal(cai_store_put(s, bucket, "x", "x", 1, &e), CAI_EAUTH);
    assert_non_null(strstr(e.msg, "InvalidAccessKeyId (403)"));
    cai_store_close(s);

    with_env("AWS_ACCESS_KEY_ID", NULL, &saved);
    cai_store *none = NULL;
    assert_int_equal(cai_store_open(url_pass, &none, &e), CAI_EAUTH);
    assert_null(none);
    assert_non_null(strstr(e.msg, "AWS_ACCESS_KEY_ID"));
    restore_env("AWS_ACCESS_KEY_ID", saved);
}

/* The retry tests talk to moto through the fault proxy. */
static cai_store *open_via_proxy(void) {
    const char *saved;
    with_env("AWS_ENDPOINT_URL", proxy, &saved);
    setenv("CAI_S3_RETRY_BASE_MS", "20", 1); /* keep the test fast */
    cai_store *s = open_ok(url_pass);
    restore_env("AWS_ENDPOINT_URL", saved);
    unsetenv("CAI_S3_RETRY_BASE_MS");
    return s;
}

static void test_503_slowdown_is_retried(void **state) {
    (void)state;
    if (!proxy) skip();
    cai_store *s = open_via_proxy();
    cai_err e = {0};
    uint8_t *got;
    size_t len;
    long before = proxy_injected();
    proxy_arm("503", 2, "range.bin");
    cai_store_stats_reset(s);
    int rc = cai_store_get(s, bucket, "range.bin", &got, &len, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(len, 1000);
    free(got);
    assert_int_equal(proxy_injected() - before, 2);
    cai_store_stats st;
    cai_store_stats_get(s, &st);
    assert_int_equal(st.num_requests, 3);
    assert_int_equal(st.retries, 2);

    /* 500 and 429 too, on a PUT (the body is resent from the start) */
    proxy_arm("500", 1, "retry-put");
    assert_int_equal(cai_store_put(s, bucket, "retry-put", "abcdef", 6, &e), CAI_OK);
    proxy_arm("429", 1, "retry-put");
    assert_int_equal(cai_store_get(s, bucket, "retry-put", &got, &len, &e), CAI_OK);
    assert_int_equal(len, 6);
    assert_memory_equal(got, "abcdef", 6);
    free(got);

    /* the retries are bounded: 5 attempts, then S3's code is reported, as a retryable class (the state
     * machine may try the rank again later; it does not for permanent errors) */
    proxy_arm("503", 50, "range.bin");
    cai_store_stats_reset(s);
    assert_int_equal(cai_store_get(s, bucket, "range.bin", &got, &len, &e), CAI_ES3_RETRY);
    assert_non_null(strstr(e.msg, "SlowDown (503)"));
    cai_store_stats_get(s, &st);
    assert_int_equal(st.num_requests, 5);
    proxy_arm("none", 0, "");
    cai_store_close(s);
}

static void test_connection_reset_is_retried(void **state) {
    (void)state;
    if (!proxy) skip();
    cai_store *s = open_via_proxy();
    cai_err e = {0};
    uint8_t *got;
    size_t len;
    proxy_arm("reset", 2, "range.bin");
    int rc = cai_store_get(s, bucket, "range.bin", &got, &len, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(len, 1000);
    free(got);
    proxy_arm("reset", 100, "range.bin");
    assert_int_equal(cai_store_get(s, bucket, "range.bin", &got, &len, &e), CAI_ENET);
    assert_non_null(strstr(e.msg, "after 5 attempts"));
    assert_non_null(strstr(e.msg, "range.bin"));
    proxy_arm("none", 0, "");
    cai_store_close(s);
}

/* Temporary credentials: the token travels in x-amz-security-token (checked at the proxy). */
static void test_session_token_header(void **state) {
    (void)state;
    if (!proxy) skip();
    const char *saved;
    with_env("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLETOKEN", &saved);
    cai_store *s = open_via_proxy();
    restore_env("AWS_SESSION_TOKEN", saved);
    cai_err e = {0};
    uint64_t size;
    cai_store_head(s, bucket, "range.bin", &size, &e); /* moto may or may not accept the token */
    char st[8192];
    proxy_state(st);
    assert_non_null(strstr(st, "\"x-amz-security-token\": \"FQoGZXIvYXdzEXAMPLETOKEN\""));
    assert_non_null(
        strstr(st, "\"x-amz-content-sha256\": \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""));
    cai_store_close(s);
}

static void write_file(const char *dir, const char *rel, const void *d, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    cai_err e = {0};
    assert_int_equal(cai_write_file_atomic(path, d, n, &e), CAI_OK);
}

/* An object written by another tool (no x-amz-meta-sha256): signed PUT with plain libcurl. */
static void foreign_put(const char *key, const char *body) {
    char url[512], auth[512], hdr[128], sha[65], region[96];
    snprintf(url, sizeof url, "%s/%s/%s", endpoint, bucket, key);
    snprintf(auth, sizeof auth, "%s:%s", getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"));
    cai_sha256_hex(body, strlen(body), sha);
    snprintf(hdr, sizeof hdr, "x-amz-content-sha256: %s", sha);
    snprintf(region, sizeof region, "aws:amz:us-east-1:s3");
    CURL *h = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, hdr);
    hl = curl_slist_append(hl, "Content-Type: application/octet-stream"); /* not a form: moto would eat it */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, region);
    curl_easy_setopt(h, CURLOPT_USERPWD, auth);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long st = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    assert_int_equal(st, 200);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
}

static void test_sync_skips_unchanged(void **state) {
    (void)state;
    char dir[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "sync"), 0);
    write_file(dir, "weights.safetensors", "WWWWWWWW", 8);
    write_file(dir, "parts/1.pt", "one", 3);
    write_file(dir, "parts/2.pt", "two", 3);
    write_file(dir, "parts/sub dir/10.pt", "ten!", 4);
    write_file(dir, "foreign.bin", "same", 4);
    foreign_put("stage/foreign.bin", "same"); /* only an MD5 ETag to compare with */
    cai_store *s = open_ok(url_pass);
    cai_err e = {0};
    cai_sync_result r;
    cai_sync_opts o = {.threads = 3};
    int rc = cai_sync_upload(s, dir, bucket, "stage", &o, &r, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(r.files, 5);
    assert_int_equal(r.uploaded, 4);
    assert_int_equal(r.skipped, 1); /* foreign.bin: same MD5 */
    assert_int_equal(r.bytes_uploaded, 18);
    uint8_t *got;
    size_t len;
    assert_int_equal(cai_store_get(s, bucket, "stage/parts/sub dir/10.pt", &got, &len, &e), CAI_OK);
    assert_memory_equal(got, "ten!", 4);
    free(got);

    /* again: everything unchanged */
    assert_int_equal(cai_sync_upload(s, dir, bucket, "stage/", &o, &r, &e), CAI_OK);
    assert_int_equal(r.uploaded, 0);
    assert_int_equal(r.skipped, 5);
    char line[256];
    cai_sync_summary(&r, line, sizeof line);
    assert_non_null(strstr(line, "0 uploaded"));
    assert_non_null(strstr(line, "5 skipped"));

    /* same size, different content: uploaded; a new file: uploaded */
    write_file(dir, "parts/2.pt", "TWO", 3);
    write_file(dir, "parts/3.pt", "three", 5);
    assert_int_equal(cai_sync_upload(s, dir, bucket, "stage", &o, &r, &e), CAI_OK);
    assert_int_equal(r.uploaded, 2);
    assert_int_equal(r.skipped, 4);
    assert_int_equal(cai_store_get(s, bucket, "stage/parts/2.pt", &got, &len, &e), CAI_OK);
    assert_memory_equal(got, "TWO", 3);
    free(got);

    /* a missing directory is a clear error */
    assert_int_equal(cai_sync_upload(s, "/nonexistent/cai", bucket, "x", &o, &r, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "/nonexistent/cai"));
    cai_store_close(s);
    assert_int_equal(cai_test_rmtree(dir), 0);
}

/* Keys that moto cannot verify, against tests/py/sigv4_s3.py: it checks signatures as real S3 does, from
 * the raw request, and refuses a path that is not UriEncoded exactly once. No moto quirks here. */
static void test_strict_sigv4_tricky_keys(void **state) {
    (void)state;
    if (!strict) skip();
    const char *saved_ep, *saved_q;
    with_env("AWS_ENDPOINT_URL", strict, &saved_ep);
    with_env("CAI_S3_QUIRKS", NULL, &saved_q);
    cai_store *s = open_ok(url_pass);
    restore_env("AWS_ENDPOINT_URL", saved_ep);
    restore_env("CAI_S3_QUIRKS", saved_q);
    cai_err e = {0};
    const char *keys[] = {"a+b=c&d.txt",
                          "\xc3\xbc/\xe6\x97\xa5\xe6\x9c\xac/(1)*!'.bin",
                          "Anomaly Detection/x y.pt",
                          "100%/x",
                          "a//b/./c/../d",
                          "~tilde$@:;,",
                          "sp ace/+plus"};
    size_t nk = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < nk; i++) {
        char body[64];
        int n = snprintf(body, sizeof body, "body-%zu", i);
        int rc = cai_store_put(s, "strict-bkt", keys[i], body, (size_t)n, &e);
        if (rc) fail_msg("PUT '%s': %s", keys[i], e.msg);
        uint8_t *got;
        size_t len;
        rc = cai_store_get(s, "strict-bkt", keys[i], &got, &len, &e);
        if (rc) fail_msg("GET '%s': %s", keys[i], e.msg);
        assert_int_equal(len, (size_t)n);
        assert_memory_equal(got, body, len);
        free(got);
        assert_int_equal(cai_store_get_range(s, "strict-bkt", keys[i], 1, 3, &got, &len, &e), CAI_OK);
        assert_memory_equal(got, body + 1, 3);
        free(got);
        cai_s3_object_info info;
        assert_int_equal(cai_s3_head_info(s, "strict-bkt", keys[i], &info, &e), CAI_OK);
        assert_int_equal(info.size, (uint64_t)n);
    }
    cai_keylist l;
    /* prefixes with '/', UTF-8 and '%' in the query: encoded as SigV4 wants (%2F), no quirks */
    assert_int_equal(cai_store_list(s, "strict-bkt", "\xc3\xbc/", &l, &e), CAI_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.keys[0], keys[1]);
    cai_keylist_free(&l);
    int rc = cai_store_list(s, "strict-bkt", "", &l, &e);
    if (rc) fail_msg("LIST: %s", e.msg);
    assert_int_equal(l.n, nk);
    for (size_t i = 0; i + 1 < l.n; i++) assert_true(strcmp(l.keys[i], l.keys[i + 1]) < 0);
    int seen = 0;
    for (size_t i = 0; i < l.n; i++)
        for (size_t k = 0; k < nk; k++) seen += !strcmp(l.keys[i], keys[k]);
    assert_int_equal(seen, (int)nk); /* every key round-trips through encoding-type=url */
    cai_keylist_free(&l);
    for (size_t i = 0; i < nk; i++) assert_int_equal(cai_store_delete(s, "strict-bkt", keys[i], &e), CAI_OK);
    assert_int_equal(cai_store_list(s, "strict-bkt", "", &l, &e), CAI_OK);
    assert_int_equal(l.n, 0);
    cai_keylist_free(&l);
    cai_store_close(s);
}

/* A failing part is retried on its own; a part that keeps failing aborts the whole upload (nothing is
 * left visible under the key). Parts go up from several threads. */
static void test_multipart_part_faults(void **state) {
    (void)state;
    if (!proxy) skip();
    cai_store *s = open_via_proxy();
    cai_err e = {0};
    cai_s3_set_multipart(s, 6u << 20, 5u << 20);
    size_t n = (16u << 20) + 7; /* 4 parts */
    uint8_t *d = pattern(n, 9);
    long before = proxy_injected();
    proxy_arm("500", 1, "partNumber=2&");
    int rc = cai_store_put(s, bucket, "big/retried parts.bin", d, n, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(proxy_injected() - before, 1);
    uint8_t *got;
    size_t len;
    assert_int_equal(cai_store_get(s, bucket, "big/retried parts.bin", &got, &len, &e), CAI_OK);
    assert_int_equal(len, n);
    assert_memory_equal(got, d, n);
    free(got);

    proxy_arm("503", 1000, "partNumber=3&");
    assert_int_equal(cai_store_put(s, bucket, "big/failed parts.bin", d, n, &e), CAI_ES3_RETRY);
    assert_non_null(strstr(e.msg, "UploadPart 3/4"));
    assert_non_null(strstr(e.msg, "SlowDown (503)"));
    proxy_arm("none", 0, "");
    assert_int_equal(cai_store_get(s, bucket, "big/failed parts.bin", &got, &len, &e), CAI_ENOTFOUND);
    free(d);
    cai_store_close(s);
}

int main(void) {
    endpoint = getenv("CAI_S3_TEST_ENDPOINT");
    bucket = getenv("CAI_S3_TEST_BUCKET");
    proxy = getenv("CAI_S3_TEST_PROXY");
    strict = getenv("CAI_S3_TEST_STRICT");
    if (strict && !*strict) strict = NULL;
    if (!endpoint || !*endpoint || !bucket) {
        printf("skip: CAI_S3_TEST_ENDPOINT/CAI_S3_TEST_BUCKET not set (tests/integration/s3_moto.sh runs this)\n");
        return 77;
    }
    if (proxy && !*proxy) proxy = NULL;
    setenv("AWS_ENDPOINT_URL", endpoint, 1);
    unsetenv("AWS_ENDPOINT_URL_S3");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_head_delete),
        cmocka_unit_test(test_put_new_is_conditional),
        cmocka_unit_test(test_no_such_bucket),
        cmocka_unit_test(test_ranged_get),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_pagination_1050_threads),
        cmocka_unit_test(test_prefix_mapping),
        cmocka_unit_test(test_sync_skips_unchanged),
        cmocka_unit_test(test_wrong_secret_is_auth_error),
        cmocka_unit_test(test_503_slowdown_is_retried),
        cmocka_unit_test(test_connection_reset_is_retried),
        cmocka_unit_test(test_multipart_part_faults),
        cmocka_unit_test(test_session_token_header),
        cmocka_unit_test(test_strict_sigv4_tricky_keys),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
