/* test_payload.c — the run payload: the seed's demo payload verbatim, then every field malformed on its
 * own, each with the message a user would see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/payload.h"

#define DEMO                                                                                                           \
    "{\"bucket\": \"cosmicai-data\", \"file_limit\": \"11\", \"batch_size\": 512, \"object_type\": \"folder\", "       \
    "\"S3_object_name\": \"Anomaly Detection\", \"script\": \"/tmp/Anomaly Detection/Inference/inference.py\", "       \
    "\"result_path\": \"result-partition-100MB/1GB/1\", \"data_bucket\": \"cosmicai-data\", \"data_prefix\": "         \
    "\"100MB\"}"

static int parse(const char *json, cai_payload *p, cai_err *e) {
    memset(e, 0, sizeof *e);
    return cai_payload_parse(json, strlen(json), "payload.json", p, e);
}

static void test_seed_demo_payload(void **state) {
    (void)state;
    cai_payload p;
    cai_err e;
    assert_int_equal(parse(DEMO, &p, &e), CAI_OK);
    assert_string_equal(p.bucket, "cosmicai-data");
    assert_int_equal(p.file_limit, 11);
    assert_int_equal(p.batch_size, 512);
    assert_string_equal(p.result_path, "result-partition-100MB/1GB/1");
    assert_string_equal(p.data_bucket, "cosmicai-data");
    assert_string_equal(p.data_prefix, "100MB");
    assert_int_equal(p.world_size, 11); /* default: file_limit */
    assert_int_equal(p.world_size_given, 0);
    assert_string_equal(p.script->valuestring, "/tmp/Anomaly Detection/Inference/inference.py");
    assert_null(p.weights);
    assert_int_equal(p.catalog, 1);
    assert_int_equal(p.nwarnings, 0);
    cai_payload_free(&p);
}

static void test_file_limit_int_and_string(void **state) {
    (void)state;
    cai_payload p;
    cai_err e;
    const char *ok[] = {"11", "\"11\"", "\" 11 \""};
    for (int i = 0; i < 3; i++) {
        char buf[512];
        snprintf(buf, sizeof buf,
                 "{\"bucket\":\"b\",\"file_limit\":%s,\"batch_size\":\"64\",\"result_path\":\"/r/1/\","
                 "\"data_bucket\":\"d\",\"data_prefix\":\"25MB/\",\"world_size\":3}",
                 ok[i]);
        assert_int_equal(parse(buf, &p, &e), CAI_OK);
        assert_int_equal(p.file_limit, 11);
        assert_int_equal(p.batch_size, 64);
        assert_int_equal(p.world_size, 3);
        assert_string_equal(p.result_path, "r/1"); /* surrounding slashes trimmed */
        assert_string_equal(p.data_prefix, "25MB");
        cai_payload_free(&p);
    }
}

/* Replace one field of the demo payload and expect an error mentioning `want`. */
static void expect_bad(const char *field, const char *value, const char *want) {
    cJSON *o = cJSON_Parse(DEMO);
    cJSON_DeleteItemFromObject(o, field);
    if (value) cJSON_AddItemToObject(o, field, cJSON_Parse(value));
    char *txt = cJSON_PrintUnformatted(o);
    cai_payload p;
    cai_err e;
    int rc = parse(txt, &p, &e);
    if (rc == CAI_OK) fail_msg("field %s = %s was accepted", field, value ? value : "(absent)");
    assert_int_equal(rc, CAI_EPAYLOAD);
    if (!strstr(e.msg, want)) fail_msg("field %s = %s: message \"%s\" lacks \"%s\"", field, value, e.msg, want);
    free(txt);
    cJSON_Delete(o);
}

static void test_file_limit_eleven(void **state) {
    (void)state;
    expect_bad("file_limit", "\"eleven\"",
               "payload.json: field \"file_limit\": expected an integer or a numeric string, got \"eleven\"");
}
static void test_file_limit_other_bad(void **state) {
    (void)state;
    expect_bad("file_limit", "11.5", "field \"file_limit\": expected an integer");
    expect_bad("file_limit", "0", "field \"file_limit\": must be at least 1, got 0");
    expect_bad("file_limit", "\"-3\"", "field \"file_limit\": must be at least 1");
    expect_bad("file_limit", "true", "field \"file_limit\"");
    expect_bad("file_limit", "null", "field \"file_limit\"");
    expect_bad("file_limit", "\"\"", "field \"file_limit\"");
    expect_bad("file_limit", "\"1e3\"", "field \"file_limit\"");
    expect_bad("file_limit", NULL, "missing required field \"file_limit\"");
}
static void test_batch_size_x(void **state) {
    (void)state;
    expect_bad("batch_size", "\"x\"", "field \"batch_size\": expected an integer or a numeric string, got \"x\"");
}
static void test_batch_size_zero(void **state) {
    (void)state;
    expect_bad("batch_size", "0", "field \"batch_size\": must be at least 1, got 0");
}
static void test_batch_size_negative(void **state) {
    (void)state;
    expect_bad("batch_size", "-1", "field \"batch_size\": must be at least 1, got -1");
    expect_bad("batch_size", "99999999", "field \"batch_size\": at most");
}
static void test_missing_bucket(void **state) {
    (void)state;
    expect_bad("bucket", NULL, "payload.json: missing required field \"bucket\"");
    expect_bad("bucket", "5", "field \"bucket\": expected a string, got 5");
    expect_bad("bucket", "\"\"", "field \"bucket\": must not be empty");
    expect_bad("bucket", "\"a/b\"", "field \"bucket\": a bucket name has no '/'");
}
static void test_result_path_absent(void **state) {
    (void)state;
    expect_bad("result_path", NULL, "missing required field \"result_path\"");
    expect_bad("result_path", "\"/\"", "field \"result_path\": must not be empty");
    expect_bad("result_path", "\"a/../../etc\"", "field \"result_path\"");
}
static void test_data_fields(void **state) {
    (void)state;
    expect_bad("data_bucket", NULL, "missing required field \"data_bucket\"");
    expect_bad("data_prefix", NULL, "missing required field \"data_prefix\"");
    expect_bad("data_prefix", "[1]", "field \"data_prefix\": expected a string");
}
static void test_world_size_zero(void **state) {
    (void)state;
    expect_bad("world_size", "0", "field \"world_size\": must be at least 1, got 0");
    expect_bad("world_size", "\"two\"", "field \"world_size\": expected an integer or a numeric string, got \"two\"");
}
static void test_cai_fields(void **state) {
    (void)state;
    expect_bad("precision", "\"fp16\"", "field \"precision\": expected \"auto\", \"fp32\" or \"int8\", got \"fp16\"");
    expect_bad("workers", "0", "field \"workers\": must be at least 1");
    expect_bad("threads", "\"many\"", "field \"threads\"");
    expect_bad("catalog", "\"maybe\"", "field \"catalog\"");
    expect_bad("weights", "\"\"", "field \"weights\": must not be empty");
    expect_bad("script", "42", "field \"script\": expected a string");
}
static void test_not_json(void **state) {
    (void)state;
    cai_payload p;
    cai_err e;
    assert_int_equal(parse("{\"bucket\": ", &p, &e), CAI_EPAYLOAD);
    assert_non_null(strstr(e.msg, "not valid JSON"));
    assert_int_equal(parse("[1,2]", &p, &e), CAI_EPAYLOAD);
    assert_non_null(strstr(e.msg, "expected a JSON object"));
}
static void test_cai_optional_fields_and_unknown_warns(void **state) {
    (void)state;
    cJSON *o = cJSON_Parse(DEMO);
    cJSON_AddStringToObject(o, "weights", "models/astromae.safetensors");
    cJSON_AddStringToObject(o, "precision", "int8");
    cJSON_AddNumberToObject(o, "workers", 4);
    cJSON_AddStringToObject(o, "threads", "2");
    cJSON_AddStringToObject(o, "catalog", "off");
    cJSON_AddStringToObject(o, "store", "/data/store");
    cJSON_AddStringToObject(o, "future_field", "x");
    char *txt = cJSON_PrintUnformatted(o);
    cai_payload p;
    cai_err e;
    assert_int_equal(parse(txt, &p, &e), CAI_OK);
    assert_string_equal(p.weights, "models/astromae.safetensors");
    assert_int_equal(p.precision, CAI_PREC_INT8);
    assert_int_equal(p.workers, 4);
    assert_int_equal(p.threads, 2);
    assert_int_equal(p.catalog, 0);
    assert_string_equal(p.store, "/data/store");
    assert_int_equal(p.nwarnings, 1);
    assert_non_null(strstr(p.warnings[0], "unknown field \"future_field\" ignored"));
    cai_payload_free(&p);
    free(txt);
    cJSON_Delete(o);
}

/* Issue 9 items 10-11: each check takes raw text (cJSON would hide the problem if it built the text). */
static void expect_bad_text(const char *txt, size_t len, const char *want) {
    cai_payload p;
    cai_err e = {0};
    int rc = cai_payload_parse(txt, len, "payload.json", &p, &e);
    if (rc == CAI_OK) {
        cai_payload_free(&p);
        fail_msg("accepted: %.200s", txt);
    }
    assert_int_equal(rc, CAI_EPAYLOAD);
    if (!strstr(e.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
}

#define BASE_FIELDS "\"file_limit\": 1, \"batch_size\": 8, \"data_bucket\": \"d\", \"data_prefix\": \"p\""

static void test_nul_in_strings_refused(void **state) {
    (void)state;
    const char *a = "{\"bucket\": \"b\", \"result_path\": \"r\\u0000/../x\", " BASE_FIELDS "}";
    expect_bad_text(a, strlen(a), "\\u0000");
    const char *b = "{\"bucket\": \"b\", \"result_path\": \"r\", \"script\": \"a\\u0000b\", " BASE_FIELDS "}";
    expect_bad_text(b, strlen(b), "\\u0000");
    const char *k = "{\"bucket\": \"b\", \"result_path\": \"r\", \"x\\u0000y\": 1, " BASE_FIELDS "}";
    expect_bad_text(k, strlen(k), "\\u0000");
    char raw[] = "{\"bucket\": \"b\", \"result_path\": \"rX\", " BASE_FIELDS "}";
    *strchr(raw, 'X') = 0;
    expect_bad_text(raw, sizeof raw - 1, "NUL byte");
    /* an escaped backslash before "u0000" is text, not a NUL */
    const char *ok = "{\"bucket\": \"b\", \"result_path\": \"r\", \"script\": \"a\\\\u0000\", " BASE_FIELDS "}";
    cai_payload p;
    cai_err e = {0};
    assert_int_equal(cai_payload_parse(ok, strlen(ok), "payload.json", &p, &e), CAI_OK);
    cai_payload_free(&p);
}

static void test_duplicate_keys_refused_by_name(void **state) {
    (void)state;
    const char *a = "{\"bucket\": \"b\", \"result_path\": \"r/1\", \"result_path\": \"r/2\", " BASE_FIELDS "}";
    expect_bad_text(a, strlen(a), "duplicate key \"result_path\"");
    const char *b = "{\"bucket\": \"b\", \"result_path\": \"r\", \"extra\": {\"k\": 1, \"k\": 2}, " BASE_FIELDS "}";
    expect_bad_text(b, strlen(b), "duplicate key \"k\" in \"extra\"");
}

static void test_deep_nesting_named(void **state) {
    (void)state;
    size_t depth = 100000, n = 0;
    char *t = malloc(2 * depth + 200);
    n += (size_t)sprintf(t, "{\"bucket\": \"b\", \"result_path\": \"r\", " BASE_FIELDS ", \"x\": ");
    for (size_t i = 0; i < depth; i++) t[n++] = '[';
    for (size_t i = 0; i < depth; i++) t[n++] = ']';
    t[n++] = '}';
    t[n] = 0;
    expect_bad_text(t, n, "nested deeper than 32 levels");
    free(t);
    /* brackets inside strings do not count */
    const char *s =
        "{\"bucket\": \"b\", \"result_path\": \"r\", \"script\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\", " BASE_FIELDS
        "}";
    cai_payload p;
    cai_err e = {0};
    assert_int_equal(cai_payload_parse(s, strlen(s), "payload.json", &p, &e), CAI_OK);
    cai_payload_free(&p);
}

static void test_path_and_bucket_limits(void **state) {
    (void)state;
    char rp[1200] = "";
    for (int i = 0; i < 500; i++) strcat(rp, i ? "/r" : "r");
    char *q = malloc(1400);
    snprintf(q, 1400, "\"%s\"", rp);
    expect_bad("result_path", q, "field \"result_path\": at most 960 characters, got 999");
    rp[0] = 0;
    for (int i = 0; i < 100; i++) strcat(rp, i ? "/r" : "r");
    snprintf(q, 1400, "\"%s\"", rp);
    expect_bad("result_path", q, "field \"result_path\": at most 62 path segments, got 100");
    expect_bad("data_prefix", q, "field \"data_prefix\": at most 63 path segments, got 100");
    rp[0] = 0;
    for (int i = 0; i < 62; i++) strcat(rp, i ? "/r" : "r");
    snprintf(q, 1400, "{\"bucket\": \"b\", \"result_path\": \"%s\", " BASE_FIELDS "}", rp);
    cai_payload p;
    cai_err e = {0};
    assert_int_equal(cai_payload_parse(q, strlen(q), "payload.json", &p, &e), CAI_OK); /* 62 is fine */
    cai_payload_free(&p);
    char b[400];
    memset(b, 'a', 300);
    b[300] = 0;
    snprintf(q, 1400, "\"%s\"", b);
    expect_bad("bucket", q, "field \"bucket\": a bucket name has at most 63 characters, got 300");
    expect_bad("data_bucket", q, "field \"data_bucket\": a bucket name has at most 63 characters");
    expect_bad("bucket", "\"a b\"", "field \"bucket\": a bucket name holds letters");
    expect_bad("bucket", "\"..\"", "field \"bucket\"");
    free(q);
}

static void test_world_size_far_above_partitions(void **state) {
    (void)state;
    const char *a = "{\"bucket\": \"b\", \"result_path\": \"r\", \"world_size\": 1000000, " BASE_FIELDS "}";
    expect_bad_text(a, strlen(a), "field \"world_size\": 1000000 is far above file_limit 1 (at most 65");
    assert_int_equal(cai_payload_max_world_size(1), 65);
    assert_int_equal(cai_payload_max_world_size(1000), 2000);
    const char *ok = "{\"bucket\": \"b\", \"result_path\": \"r\", \"world_size\": 65, " BASE_FIELDS "}";
    cai_payload p;
    cai_err e = {0};
    assert_int_equal(cai_payload_parse(ok, strlen(ok), "payload.json", &p, &e), CAI_OK);
    assert_int_equal(p.world_size, 65);
    cai_payload_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_demo_payload),
        cmocka_unit_test(test_file_limit_int_and_string),
        cmocka_unit_test(test_file_limit_eleven),
        cmocka_unit_test(test_file_limit_other_bad),
        cmocka_unit_test(test_batch_size_x),
        cmocka_unit_test(test_batch_size_zero),
        cmocka_unit_test(test_batch_size_negative),
        cmocka_unit_test(test_missing_bucket),
        cmocka_unit_test(test_result_path_absent),
        cmocka_unit_test(test_data_fields),
        cmocka_unit_test(test_world_size_zero),
        cmocka_unit_test(test_cai_fields),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_cai_optional_fields_and_unknown_warns),
        cmocka_unit_test(test_nul_in_strings_refused),
        cmocka_unit_test(test_duplicate_keys_refused_by_name),
        cmocka_unit_test(test_deep_nesting_named),
        cmocka_unit_test(test_path_and_bucket_limits),
        cmocka_unit_test(test_world_size_far_above_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
