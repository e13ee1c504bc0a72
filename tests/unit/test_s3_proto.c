/* test_s3_proto.c — the network-free S3 pieces: SigV4 key/query encoding, the bounded XML extractor on
 * good and hostile ListObjectsV2/error bodies, error classification, s3:// URL parsing, env config errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "store/s3.h"
#include "store/s3_proto.h"
#include "store/store.h"

static char *enc(const char *s, int keep_slash) {
    cai_s3_buf b = {0};
    assert_int_equal(cai_s3_uri_encode(&b, s, strlen(s), keep_slash), 0);
    return b.p;
}

static void test_uri_encode_matches_sigv4(void **state) {
    (void)state;
    /* What botocore sends for S3 keys (quote(key, safe='/~')) and query values (safe='-_.~'). */
    struct { const char *in, *path, *query; } c[] = {
        {"Anomaly Detection/x.pt", "Anomaly%20Detection/x.pt", "Anomaly%20Detection%2Fx.pt"},
        {"a+b=c&d", "a%2Bb%3Dc%26d", "a%2Bb%3Dc%26d"},
        {"~-._AZaz09", "~-._AZaz09", "~-._AZaz09"},
        {"\xc3\xbc(1)*!'", "%C3%BC%281%29%2A%21%27", "%C3%BC%281%29%2A%21%27"},
        {"%2F", "%252F", "%252F"},
        {"", "", ""},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        char *p = enc(c[i].in, 1), *q = enc(c[i].in, 0);
        assert_string_equal(p, c[i].path);
        assert_string_equal(q, c[i].query);
        free(p);
        free(q);
    }
}

static void test_url_decode(void **state) {
    (void)state;
    char *s = cai_s3_url_decode("a+b%2Bc%20%C3%BC", 16);
    assert_string_equal(s, "a b+c \xc3\xbc");
    free(s);
    assert_null(cai_s3_url_decode("bad%2", 5));
    assert_null(cai_s3_url_decode("bad%zz", 6));
    assert_null(cai_s3_url_decode("nul%00", 6)); /* a key with NUL would be cut short silently */
}

static void test_xml_find_and_text(void **state) {
    (void)state;
    const char *x = "<R><KeyCount>3</KeyCount><Key>a&amp;b&lt;&#x4e2d;&#33;</Key></R>";
    size_t n;
    const char *k = cai_s3_xml_find(x, x + strlen(x), "Key", &n);
    assert_non_null(k);
    char *t = cai_s3_xml_text(k, n);
    assert_string_equal(t, "a&b<\xe4\xb8\xad!");
    free(t);
    /* bounded: the closing tag beyond `end` is not found */
    assert_null(cai_s3_xml_find(x, x + 30, "Key", &n));
    assert_null(cai_s3_xml_text("&bogus;", 7));
    assert_null(cai_s3_xml_text("&amp", 4));
    assert_null(cai_s3_xml_text("&#0;", 4));
    assert_null(cai_s3_xml_text("&#xD800;", 8));
    assert_null(cai_s3_xml_text("&#99999999999;", 14));
}

#define HEAD "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"

static int parse(const char *body, const char *strip, cai_keylist *l, int *trunc, char **tok, cai_err *e) {
    size_t cap = 0;
    memset(l, 0, sizeof *l);
    return cai_s3_parse_list_page(body, strlen(body), 1, strip, l, &cap, trunc, tok, e);
}

static void test_list_page(void **state) {
    (void)state;
    cai_keylist l;
    int trunc;
    char *tok;
    cai_err e = {0};
    const char *ok = HEAD "<IsTruncated>true</IsTruncated><NextContinuationToken>t+/=&amp;1</NextContinuationToken>"
                          "<Contents><Key>p/B/1.pt</Key><Size>10</Size></Contents>"
                          "<Contents><Key>p/B/Anomaly+Detection%2Fx%26y</Key><ETag>&quot;e&quot;</ETag>"
                          "<Size>18446744073709551615</Size></Contents></ListBucketResult>";
    assert_int_equal(parse(ok, "p/B/", &l, &trunc, &tok, &e), CAI_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.keys[0], "1.pt");
    assert_string_equal(l.keys[1], "Anomaly Detection/x&y");
    assert_true(l.sizes[1] == UINT64_MAX);
    assert_int_equal(trunc, 1);
    assert_string_equal(tok, "t+/=&1"); /* tokens are not url-encoded by S3 */
    free(tok);
    cai_keylist_free(&l);

    const char *empty = HEAD "<IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>";
    assert_int_equal(parse(empty, "", &l, &trunc, &tok, &e), CAI_OK);
    assert_int_equal(l.n, 0);
    assert_int_equal(trunc, 0);
    assert_null(tok);
    cai_keylist_free(&l);
}

static void test_list_page_rejects_bad_bodies(void **state) {
    (void)state;
    cai_keylist l;
    int trunc;
    char *tok;
    cai_err e = {0};
    struct { const char *body, *want; } bad[] = {
        {"<html>proxy error</html>", "expected <ListBucketResult>"},
        {"", "expected <ListBucketResult>"},
        {HEAD "<Contents><Key>a</Key><Size>1</Size>", "without </Contents>"},
        {HEAD "<Contents><Key>a</Key></Contents>", "without <Key> or <Size>"},
        {HEAD "<Contents><Key>a</Key><Size>-1</Size></Contents>", "not a byte count"},
        {HEAD "<Contents><Key>a</Key><Size>18446744073709551616</Size></Contents>", "not a byte count"},
        {HEAD "<Contents><Key>a</Key><Size></Size></Contents>", "not a byte count"},
        {HEAD "<Contents><Key>a%zz</Key><Size>1</Size></Contents>", "bad URL encoding"},
        {HEAD "<Contents><Key>&nope;</Key><Size>1</Size></Contents>", "bad XML text"},
        {HEAD "<Contents><Key>other/a</Key><Size>1</Size></Contents>", "outside the listed prefix"},
        {HEAD "<IsTruncated>true</IsTruncated></ListBucketResult>", "no <NextContinuationToken>"},
        {HEAD "<IsTruncated>maybe</IsTruncated></ListBucketResult>", "neither true nor false"},
    };
    /* a short body that is not NUL-terminated is quoted within its length (found by fuzz_s3_xml) */
    char *raw = malloc(3);
    memcpy(raw, "ab\x01", 3);
    size_t cap = 0;
    memset(&l, 0, sizeof l);
    assert_int_equal(cai_s3_parse_list_page(raw, 3, 1, "", &l, &cap, &trunc, &tok, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "got 'ab?'"));
    free(raw);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        e.msg[0] = 0;
        int rc = parse(bad[i].body, i == 9 ? "p/" : "", &l, &trunc, &tok, &e);
        if (rc != CAI_EFORMAT || !strstr(e.msg, bad[i].want))
            fail_msg("case %zu: rc %d, msg '%s', want '%s'", i, rc, e.msg, bad[i].want);
        cai_keylist_free(&l);
        free(tok);
    }
}

static void test_error_body_and_classify(void **state) {
    (void)state;
    char code[64], msg[128];
    const char *b = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request\n"
                    "signature &amp; more</Message></Error>";
    cai_s3_parse_error(b, strlen(b), code, sizeof code, msg, sizeof msg);
    assert_string_equal(code, "SignatureDoesNotMatch");
    assert_string_equal(msg, "The request signature & more"); /* one line */
    cai_s3_parse_error(NULL, 0, code, sizeof code, msg, sizeof msg);
    assert_string_equal(code, "");
    cai_s3_parse_error("<Error><Code>", 13, code, sizeof code, msg, sizeof msg); /* truncated body */
    assert_string_equal(code, "");

    assert_int_equal(cai_s3_classify(403, "SignatureDoesNotMatch"), CAI_EAUTH);
    assert_int_equal(cai_s3_classify(403, "InvalidAccessKeyId"), CAI_EAUTH);
    assert_int_equal(cai_s3_classify(400, "ExpiredToken"), CAI_EAUTH);
    assert_int_equal(cai_s3_classify(403, ""), CAI_EAUTH);
    assert_int_equal(cai_s3_classify(404, "NoSuchKey"), CAI_ENOTFOUND);
    assert_int_equal(cai_s3_classify(404, "NoSuchBucket"), CAI_ENOTFOUND);
    assert_int_equal(cai_s3_classify(404, ""), CAI_ENOTFOUND);
    assert_int_equal(cai_s3_classify(400, "InvalidArgument"), CAI_ES3);
    /* Retryable (throttling, 5xx) vs permanent: the state machine retries only CAI.S3Transient. */
    assert_int_equal(cai_s3_classify(503, "SlowDown"), CAI_ES3_RETRY);
    assert_int_equal(cai_s3_classify(500, "InternalError"), CAI_ES3_RETRY);
    assert_int_equal(cai_s3_classify(503, ""), CAI_ES3_RETRY);
    assert_int_equal(cai_s3_classify(429, ""), CAI_ES3_RETRY);
    assert_int_equal(cai_s3_classify(301, "PermanentRedirect"), CAI_ES3);
    assert_int_equal(cai_s3_classify(301, ""), CAI_ES3);
    assert_int_equal(cai_s3_classify(400, "InvalidBucketName"), CAI_ES3);
    assert_int_equal(cai_s3_classify(409, "BucketAlreadyExists"), CAI_ES3);

    assert_true(cai_s3_retryable(503, "SlowDown"));
    assert_true(cai_s3_retryable(500, "InternalError"));
    assert_true(cai_s3_retryable(429, ""));
    assert_true(cai_s3_retryable(400, "RequestTimeout"));
    assert_false(cai_s3_retryable(403, "SignatureDoesNotMatch"));
    assert_false(cai_s3_retryable(404, "NoSuchKey"));
    assert_false(cai_s3_retryable(400, "InvalidArgument"));
}

static void test_parse_url(void **state) {
    (void)state;
    char *b, *p;
    cai_err e = {0};
    assert_int_equal(cai_s3_parse_url("s3://", &b, &p, &e), CAI_OK);
    assert_null(b);
    assert_int_equal(cai_s3_parse_url("s3://bkt", &b, &p, &e), CAI_OK);
    assert_string_equal(b, "bkt");
    assert_string_equal(p, "");
    free(b);
    free(p);
    assert_int_equal(cai_s3_parse_url("s3://my.bkt-1//runs/a/b//", &b, &p, &e), CAI_OK);
    assert_string_equal(b, "my.bkt-1");
    assert_string_equal(p, "runs/a/b");
    free(b);
    free(p);
    assert_int_equal(cai_s3_parse_url("s3://bad bucket/x", &b, &p, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "not a valid bucket name"));
    assert_int_equal(cai_s3_parse_url("s3:///x", &b, &p, &e), CAI_EARG);
    assert_int_equal(cai_s3_parse_url("http://x", &b, &p, &e), CAI_EARG);
}

static void test_parse_size(void **state) {
    (void)state;
    uint64_t v;
    assert_int_equal(cai_s3_parse_size("16M", &v), 0);
    assert_true(v == 16u << 20);
    assert_int_equal(cai_s3_parse_size("5MiB", &v), 0);
    assert_true(v == 5u << 20);
    assert_int_equal(cai_s3_parse_size("123", &v), 0);
    assert_true(v == 123);
    assert_int_equal(cai_s3_parse_size("1g", &v), 0);
    assert_true(v == 1u << 30);
    assert_int_equal(cai_s3_parse_size("", &v), -1);
    assert_int_equal(cai_s3_parse_size("12x", &v), -1);
    assert_int_equal(cai_s3_parse_size("-1", &v), -1);
    assert_int_equal(cai_s3_parse_size("99999999999999999999G", &v), -1);
}

/* Opening needs credentials and sane settings; each mistake is named. No network is touched. */
static void test_open_config_errors(void **state) {
    (void)state;
    cai_store *s = NULL;
    cai_err e = {0};
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_ENDPOINT_URL", "ftp://x", 1);
    assert_int_equal(cai_store_open("s3://", &s, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL"));
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
    setenv("CAI_S3_PART_SIZE", "lots", 1);
    assert_int_equal(cai_store_open("s3://", &s, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "CAI_S3_PART_SIZE"));
    unsetenv("CAI_S3_PART_SIZE");
    setenv("AWS_MAX_ATTEMPTS", "0", 1);
    assert_int_equal(cai_store_open("s3://", &s, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "AWS_MAX_ATTEMPTS"));
    setenv("AWS_MAX_ATTEMPTS", "2", 1);
    setenv("AWS_REGION", "us-east-1\r\nX-Evil: 1", 1);
    assert_int_equal(cai_store_open("s3://", &s, &e), CAI_EARG);
    setenv("AWS_REGION", "us-east-1", 1);
    assert_int_equal(cai_store_open("s3://bkt/pre", &s, &e), CAI_OK);
    assert_int_equal(cai_store_is_s3(s), 1);
    cai_store_stats st;
    assert_int_equal(cai_store_stats_get(s, &st), 1);
    assert_int_equal(st.num_requests, 0);
    /* nothing listens on port 9: a transport error after the bounded retries, naming the key */
    setenv("CAI_S3_RETRY_BASE_MS", "1", 1);
    cai_store_close(s);
    assert_int_equal(cai_store_open("s3://bkt/pre", &s, &e), CAI_OK);
    uint8_t *d;
    size_t n;
    /* no request for an object without a name (GET on a bucket root would return its listing) */
    assert_int_equal(cai_store_get(s, "data", "", &d, &n, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "empty object key"));
    assert_int_equal(cai_store_put(s, "data", "", "x", 1, &e), CAI_EARG);
    assert_int_equal(cai_store_get(s, "", "k", &d, &n, &e), CAI_EARG);
    cai_store_stats_get(s, &st);
    assert_int_equal(st.num_requests, 0);
    assert_int_equal(cai_store_get(s, "data", "1.pt", &d, &n, &e), CAI_ENET);
    assert_non_null(strstr(e.msg, "s3://bkt/pre/data/1.pt: GET failed after 2 attempts"));
    cai_store_stats_get(s, &st);
    assert_int_equal(st.num_requests, 2);
    assert_int_equal(st.retries, 1);
    cai_store_close(s);
    unsetenv("AWS_ACCESS_KEY_ID");
    assert_int_equal(cai_store_open("s3://", &s, &e), CAI_EAUTH);
    assert_null(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_encode_matches_sigv4),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_xml_find_and_text),
        cmocka_unit_test(test_list_page),
        cmocka_unit_test(test_list_page_rejects_bad_bodies),
        cmocka_unit_test(test_error_body_and_classify),
        cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_open_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
