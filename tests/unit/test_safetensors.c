/* test_safetensors.c — the container: round trip, alignment, and every way a header can lie. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format/safetensors.h"
#include "tmpdir.h"

/* Build a file image from a raw JSON header and `dlen` data bytes (0x11 pattern). */
static uint8_t *raw(const char *json, size_t dlen, size_t *len) {
    size_t h = strlen(json);
    *len = 8 + h + dlen;
    uint8_t *b = malloc(*len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    memset(b + 8 + h, 0x11, dlen);
    return b;
}

/* Parse and expect failure whose message contains `want` (and, if given, `want2`). */
static void expect_bad(const char *json, size_t dlen, const char *want, const char *want2) {
    size_t len;
    uint8_t *b = raw(json, dlen, &len);
    cai_safetensors st;
    cai_err e = {0};
    int rc = cai_st_parse(b, len, "bad.safetensors", &st, &e);
    if (rc == CAI_OK || !strstr(e.msg, want) || (want2 && !strstr(e.msg, want2)))
        fail_msg("json %s: rc=%d msg='%s' (wanted '%s')", json, rc, e.msg, want);
    assert_non_null(strstr(e.msg, "bad.safetensors"));
    free(b);
}

static void test_roundtrip_and_alignment(void **state) {
    (void)state;
    float w[6] = {1, 2, 3, 4, 5, 6};
    double d[2] = {0.5, -1.25};
    int64_t nbt = 7;
    uint8_t u[3] = {1, 2, 3};
    cai_err e = {0};
    cai_st_writer *wr = cai_st_writer_new();
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s3[1] = {3}, s0[1] = {0};
    assert_int_equal(cai_st_writer_add(wr, "u", CAI_ST_U8, 1, s3, u, &e), CAI_OK);
    assert_int_equal(cai_st_writer_add(wr, "layer.weight", CAI_ST_F32, 2, s23, w, &e), CAI_OK);
    assert_int_equal(cai_st_writer_add(wr, "d", CAI_ST_F64, 1, s2, d, &e), CAI_OK);
    assert_int_equal(cai_st_writer_add(wr, "n", CAI_ST_I64, 0, NULL, &nbt, &e), CAI_OK);
    assert_int_equal(cai_st_writer_add(wr, "empty", CAI_ST_F32, 1, s0, NULL, &e), CAI_OK);
    assert_int_not_equal(cai_st_writer_add(wr, "u", CAI_ST_U8, 1, s3, u, &e), CAI_OK); /* duplicate */
    assert_int_equal(cai_st_writer_meta(wr, "variant", "vit\"ae\\", &e), CAI_OK);
    assert_int_equal(cai_st_writer_meta(wr, "depth", "12", &e), CAI_OK);
    uint8_t *buf;
    size_t len;
    assert_int_equal(cai_st_writer_serialize(wr, &buf, &len, &e), CAI_OK);
    cai_st_writer_free(wr);

    cai_safetensors st;
    assert_int_equal(cai_st_parse(buf, len, "rt", &st, &e), CAI_OK);
    assert_int_equal(st.ntensors, 5);
    const cai_st_tensor *t = cai_st_find(&st, "layer.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, CAI_ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->nbytes, 24);
    assert_memory_equal(t->data, w, sizeof w);
    t = cai_st_find(&st, "d");
    assert_memory_equal(t->data, d, sizeof d);
    assert_int_equal(((uintptr_t)t->data - (uintptr_t)buf) % 8, 0); /* naturally aligned */
    t = cai_st_find(&st, "n");
    assert_int_equal(t->ndim, 0);
    assert_int_equal(*(const int64_t *)t->data, 7);
    assert_int_equal(cai_st_find(&st, "empty")->nbytes, 0);
    assert_memory_equal(cai_st_find(&st, "u")->data, u, 3);
    assert_null(cai_st_find(&st, "missing"));
    assert_string_equal(cai_st_meta(&st, "variant"), "vit\"ae\\");
    assert_string_equal(cai_st_meta(&st, "depth"), "12");
    assert_null(cai_st_meta(&st, "nope"));
    /* The data region starts 64-byte aligned in the file. */
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | buf[i];
    assert_int_equal((8 + h) % 64, 0);
    cai_st_close(&st);

    /* Through a file, with the mapping. */
    char dir[CAI_TEST_DIR_MAX], path[256];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "st"), 0);
    snprintf(path, sizeof path, "%s/layer.safetensors", dir);
    wr = cai_st_writer_new();
    assert_int_equal(cai_st_writer_add(wr, "layer.weight", CAI_ST_F32, 2, s23, w, &e), CAI_OK);
    assert_int_equal(cai_st_writer_save(wr, path, &e), CAI_OK);
    cai_st_writer_free(wr);
    assert_int_equal(cai_st_open(path, &st, &e), CAI_OK);
    assert_int_equal(((uintptr_t)cai_st_find(&st, "layer.weight")->data) % 64, 0);
    assert_memory_equal(cai_st_find(&st, "layer.weight")->data, w, sizeof w);
    assert_int_equal(st.nmeta, 0);
    cai_st_close(&st);
    unlink(path);
    assert_int_equal(cai_st_open(path, &st, &e), CAI_ENOTFOUND);
    assert_int_equal(cai_test_rmtree(dir), 0);
    free(buf);
}

static void test_header_length_past_eof(void **state) {
    (void)state;
    uint8_t b[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    cai_safetensors st;
    cai_err e = {0};
    assert_int_equal(cai_st_parse(b, sizeof b, "x", &st, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "runs past the end"));
    uint64_t huge = UINT64_MAX;
    memcpy(b, &huge, 8);
    assert_int_equal(cai_st_parse(b, sizeof b, "x", &st, &e), CAI_EFORMAT);
    assert_int_equal(cai_st_parse(b, 5, "x", &st, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "too short"));
}

static void test_bad_headers(void **state) {
    (void)state;
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, "not valid JSON", NULL);
    expect_bad("[1,2]", 0, "JSON object", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype \"F33\"", "\"a\"");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12", "\"a\"");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape[0]", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "out of range", "\"a\"");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before begin", NULL);
    /* Overlap: b aliases a's bytes. */
    expect_bad(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        12, "overlap", NULL);
    /* Hole and trailing bytes. */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "cover 4", NULL);
    expect_bad(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
        8, "appears twice", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unexpected", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets", NULL);
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, "expected a string", NULL);
    expect_bad("{\"__metadata__\":[]}", 0, "must be an object", NULL);
    /* prod(shape)*size overflows 64 bits. */
    expect_bad("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, "overflows",
               NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, "trailing", NULL);
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,2,3,4,5,6,7,8,9],\"data_offsets\":[0,4]}}", 4, "dimensions",
               NULL);
    /* A well-formed padded header still parses. */
    size_t len;
    uint8_t *b = raw("{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}    ", 2, &len);
    cai_safetensors st;
    cai_err e = {0};
    assert_int_equal(cai_st_parse(b, len, "ok", &st, &e), CAI_OK);
    cai_st_close(&st);
    free(b);
}

/* Every truncation of a valid file is rejected cleanly (no crash, no success). */
static void test_truncations(void **state) {
    (void)state;
    float w[4] = {1, 2, 3, 4};
    int64_t s[1] = {4};
    cai_err e = {0};
    cai_st_writer *wr = cai_st_writer_new();
    assert_int_equal(cai_st_writer_add(wr, "w", CAI_ST_F32, 1, s, w, &e), CAI_OK);
    assert_int_equal(cai_st_writer_meta(wr, "k", "v", &e), CAI_OK);
    uint8_t *buf;
    size_t len;
    assert_int_equal(cai_st_writer_serialize(wr, &buf, &len, &e), CAI_OK);
    cai_st_writer_free(wr);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, buf, cut);
        cai_safetensors st;
        assert_int_equal(cai_st_parse(c, cut, "cut", &st, &e), CAI_EFORMAT);
        free(c);
    }
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_alignment),
        cmocka_unit_test(test_header_length_past_eof),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_truncations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
