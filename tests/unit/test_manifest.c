/* test_manifest.c — manifest.jsonl + manifest.json: streamed writing, strict reading with line numbers, scale. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/util.h"
#include "data/manifest.h"
#include "tmpdir.h"

TMPDIR_GROUP("manifest")

static const char *H1 = "1111111111111111111111111111111111111111111111111111111111111111";

static void test_write_then_read(void **state) {
    (void)state;
    cai_manifest_writer *w;
    cai_err e = {0};
    assert_int_equal(cai_manifest_writer_open(dir, &w, &e), CAI_OK);
    cai_manifest_entry a = {.key = "1.safetensors",
                            .galaxies = 1278,
                            .bytes = 26240728,
                            .id_first = 0,
                            .id_last = 1277,
                            .format = CAI_PART_SHARD};
    cai_manifest_entry b = a, c = a;
    strcpy(a.sha256, H1);
    b.key = "2.safetensors";
    b.galaxies = 5;
    b.bytes = 100;
    b.id_first = 1278;
    b.id_last = 1282;
    cai_sha256_hex("b", 1, b.sha256);
    c.key = "3.safetensors";
    c.galaxies = 0;
    c.bytes = 64;
    cai_sha256_hex("c", 1, c.sha256);
    assert_int_equal(cai_manifest_writer_add(w, &a, &e), CAI_OK);
    assert_int_equal(cai_manifest_writer_add(w, &b, &e), CAI_OK);
    assert_int_equal(cai_manifest_writer_add(w, &c, &e), CAI_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/manifest.jsonl", dir);
    assert_int_not_equal(access(path, F_OK), 0); /* not visible until finished */
    assert_int_equal(cai_manifest_writer_finish(w, 1278, &e), CAI_OK);

    char *buf;
    size_t len;
    assert_int_equal(cai_read_file(path, &buf, &len, &e), CAI_OK);
    const char *want1 = "{\"key\":\"1.safetensors\",\"galaxies\":1278,\"bytes\":26240728,\"sha256\":\"";
    assert_memory_equal(buf, want1, strlen(want1));
    assert_non_null(strstr(buf, "\"id_first\":null,\"id_last\":null,\"format\":\"shard\"}\n"));
    cai_manifest m;
    assert_int_equal(cai_manifest_parse(buf, len, "manifest.jsonl", &m, &e), CAI_OK);
    assert_int_equal(m.n, 3);
    assert_int_equal(m.galaxies, 1283);
    assert_int_equal(m.bytes, 26240728 + 100 + 64);
    assert_string_equal(m.v[1].key, "2.safetensors");
    assert_int_equal(m.v[1].id_first, 1278);
    assert_int_equal(m.v[1].id_last, 1282);
    assert_string_equal(m.v[1].sha256, b.sha256);
    assert_int_equal(m.v[2].galaxies, 0);
    assert_int_equal(m.v[2].line, 3);
    assert_int_equal(m.v[0].format, CAI_PART_SHARD);
    cai_manifest_free(&m);

    /* The sidecar: totals and the JSONL's checksum. */
    char hex[65];
    cai_sha256_hex(buf, len, hex);
    free(buf);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    assert_int_equal(cai_read_file(path, &buf, &len, &e), CAI_OK);
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "format")->valuestring, "cai-manifest/1");
    assert_int_equal(cJSON_GetObjectItem(j, "partitions")->valuedouble, 3);
    assert_int_equal(cJSON_GetObjectItem(j, "galaxies")->valuedouble, 1283);
    assert_int_equal(cJSON_GetObjectItem(j, "id_last")->valuedouble, 1282);
    assert_int_equal(cJSON_GetObjectItem(j, "galaxies_per_partition")->valuedouble, 1278);
    assert_string_equal(cJSON_GetObjectItem(j, "partition_format")->valuestring, "shard");
    assert_string_equal(cJSON_GetObjectItem(j, "manifest_sha256")->valuestring, hex);
    cJSON_Delete(j);
}

static void test_iterator_blank_lines_crlf_unknown_fields(void **state) {
    (void)state;
    char text[1024];
    snprintf(text, sizeof text,
             "\n{\"key\":\"a/1.pt\",\"galaxies\":2,\"bytes\":10,\"sha256\":\"%s\",\"id_first\":5,\"id_last\":6,"
             "\"format\":\"pt\",\"future\":[1,2]}\r\n   \n"
             "{\"format\":\"shard\",\"key\":\"a/2.safetensors\",\"galaxies\":0,\"bytes\":1,\"sha256\":\"%s\"}",
             H1, H1);
    cai_manifest_iter it;
    cai_manifest_iter_init(&it, text, strlen(text), "m.jsonl");
    cai_manifest_entry e;
    cai_err err = {0};
    assert_int_equal(cai_manifest_next(&it, &e, &err), 1);
    assert_string_equal(e.key, "a/1.pt");
    assert_int_equal(e.line, 2);
    assert_int_equal(e.format, CAI_PART_SEEDPT);
    assert_int_equal(e.id_first, 5);
    assert_int_equal(cai_manifest_next(&it, &e, &err), 1);
    assert_string_equal(e.key, "a/2.safetensors");
    assert_int_equal(e.line, 4);
    assert_int_equal(e.galaxies, 0);
    assert_int_equal(cai_manifest_next(&it, &e, &err), 0);
    assert_int_equal(cai_manifest_next(&it, &e, &err), 0);
}

/* One bad line in the middle of good ones: the message names the file, the line, the field. */
static void expect_line_error(const char *bad, int code, const char *msg) {
    char text[2048];
    snprintf(text, sizeof text,
             "{\"key\":\"1.pt\",\"galaxies\":2,\"bytes\":10,\"sha256\":\"%s\",\"id_first\":0,\"id_last\":1,"
             "\"format\":\"pt\"}\n%s\n",
             H1, bad);
    cai_manifest m;
    cai_err e = {0};
    int rc = cai_manifest_parse(text, strlen(text), "manifest.jsonl", &m, &e);
    if (rc != code || !strstr(e.msg, msg))
        fail_msg("line \"%s\": expected %d \"%s\", got %d \"%s\"", bad, code, msg, rc, e.msg);
}

#define GOOD_REST "\"bytes\":10,\"sha256\":\"1111111111111111111111111111111111111111111111111111111111111111\""
static void test_bad_lines(void **state) {
    (void)state;
    expect_line_error("{\"key\":\"2.pt\",\"galaxies\":-1," GOOD_REST ",\"id_first\":0,\"id_last\":1,\"format\":\"pt\"}",
                      CAI_EFORMAT,
                      "manifest.jsonl:2: field \"galaxies\": expected a non-negative integer, got a number");
    expect_line_error(
        "{\"key\":\"2.pt\",\"galaxies\":\"12\"," GOOD_REST ",\"id_first\":0,\"id_last\":1,\"format\":\"pt\"}",
        CAI_EFORMAT, "manifest.jsonl:2: field \"galaxies\": expected a non-negative integer, got a string");
    expect_line_error("{\"key\":\"2.pt\",\"galaxies\":1.5," GOOD_REST
                      ",\"id_first\":0,\"id_last\":1,\"format\":\"pt\"}",
                      CAI_EFORMAT, ":2: field \"galaxies\"");
    expect_line_error("{\"galaxies\":2," GOOD_REST ",\"format\":\"pt\"}", CAI_EKEY,
                      "manifest.jsonl:2: missing field \"key\"");
    expect_line_error("{\"key\":\"2.pt\",\"galaxies\":2,\"bytes\":10,\"sha256\":\"abc\",\"format\":\"pt\"}",
                      CAI_EFORMAT, ":2: field \"sha256\": expected 64 lowercase hex digits");
    expect_line_error("{\"key\":\"2.pt\",\"galaxies\":2," GOOD_REST ",\"id_first\":0,\"id_last\":1,\"format\":\"npz\"}",
                      CAI_EFORMAT, ":2: field \"format\": expected \"shard\" or \"pt\"");
    expect_line_error("{\"key\":\"../2.pt\",\"galaxies\":2," GOOD_REST
                      ",\"id_first\":0,\"id_last\":1,\"format\":\"pt\"}",
                      CAI_EFORMAT, ":2: field \"key\": expected a relative object key");
    expect_line_error("{\"key\":\"/2.pt\",\"galaxies\":2," GOOD_REST ",\"id_first\":0,\"id_last\":1,\"format\":\"pt\"}",
                      CAI_EFORMAT, ":2: field \"key\"");
    expect_line_error("{\"key\":\"\",\"galaxies\":2," GOOD_REST ",\"id_first\":0,\"id_last\":1,\"format\":\"pt\"}",
                      CAI_EFORMAT, ":2: field \"key\"");
    expect_line_error("{\"key\":\"2.pt\",\"galaxies\":2," GOOD_REST ",\"id_first\":5,\"id_last\":1,\"format\":\"pt\"}",
                      CAI_EFORMAT, ":2: id_last 1 is below id_first 5");
    expect_line_error("{\"key\":\"2.pt\",\"galaxies\":2," GOOD_REST ",\"id_last\":1,\"format\":\"pt\"}", CAI_EKEY,
                      ":2: field \"id_first\": expected an integer, got nothing");
    expect_line_error("{\"key\":\"2.pt\",\"galaxies\":0," GOOD_REST ",\"id_first\":0,\"id_last\":1,\"format\":\"pt\"}",
                      CAI_EFORMAT, ":2: an empty partition must have null id_first/id_last");
    expect_line_error("{\"key\":\"2.pt\",", CAI_EFORMAT, "manifest.jsonl:2: expected one JSON object per line");
    expect_line_error("[1,2,3]", CAI_EFORMAT, "manifest.jsonl:2: expected one JSON object per line");
    expect_line_error("{\"key\":\"1.pt\",\"galaxies\":2," GOOD_REST ",\"id_first\":0,\"id_last\":1,\"format\":\"pt\"}",
                      CAI_EFORMAT, "manifest.jsonl:2: key \"1.pt\" already listed on line 1");
    cai_manifest m;
    cai_err e = {0};
    assert_int_equal(cai_manifest_parse("\n\n", 2, "manifest.jsonl", &m, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "no partitions"));
    assert_int_equal(cai_manifest_load("/nonexistent/manifest.jsonl", &m, &e), CAI_ENOTFOUND);
}

static void test_verify_bytes(void **state) {
    (void)state;
    cai_manifest_entry en = {.key = "7.pt", .bytes = 3};
    cai_sha256_hex("abc", 3, en.sha256);
    cai_err e = {0};
    assert_int_equal(cai_manifest_verify_bytes(&en, "abc", 3, &e), CAI_OK);
    assert_int_equal(cai_manifest_verify_bytes(&en, "abd", 3, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "7.pt: sha256"));
    assert_int_equal(cai_manifest_verify_bytes(&en, "ab", 2, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "7.pt: 2 bytes, but the manifest says 3"));
}

/* 10^5 partitions: streamed write and a linear-time parse with duplicate detection. */
static void test_scale_100k(void **state) {
    (void)state;
    char sub[128];
    snprintf(sub, sizeof sub, "%s/big", dir);
    cai_manifest_writer *w;
    cai_err e = {0};
    assert_int_equal(cai_manifest_writer_open(sub, &w, &e), CAI_OK);
    double t0 = cai_mono_now();
    const int N = 100000;
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "%d.safetensors", i + 1);
        cai_manifest_entry en = {.key = key,
                                 .galaxies = 1278,
                                 .bytes = 26240728,
                                 .id_first = (int64_t)i * 1278,
                                 .id_last = (int64_t)i * 1278 + 1277,
                                 .format = CAI_PART_SHARD};
        strcpy(en.sha256, H1);
        assert_int_equal(cai_manifest_writer_add(w, &en, &e), CAI_OK);
    }
    assert_int_equal(cai_manifest_writer_finish(w, 1278, &e), CAI_OK);
    double t1 = cai_mono_now();
    char path[256];
    snprintf(path, sizeof path, "%s/manifest.jsonl", sub);
    cai_manifest m;
    assert_int_equal(cai_manifest_load(path, &m, &e), CAI_OK);
    double t2 = cai_mono_now();
    assert_int_equal(m.n, N);
    assert_int_equal(m.galaxies, (int64_t)N * 1278);
    assert_string_equal(m.v[N - 1].key, "100000.safetensors");
    assert_int_equal(m.v[N - 1].id_last, (int64_t)N * 1278 - 1);
    print_message("100k entries: write %.2f s, parse %.2f s\n", t1 - t0, t2 - t1);
    assert_true(t2 - t1 < 20); /* generous: linear, not quadratic (a quadratic dup check would take minutes) */
    cai_manifest_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_then_read), cmocka_unit_test(test_iterator_blank_lines_crlf_unknown_fields),
        cmocka_unit_test(test_bad_lines),       cmocka_unit_test(test_verify_bytes),
        cmocka_unit_test(test_scale_100k),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
