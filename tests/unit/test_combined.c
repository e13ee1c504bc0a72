/* test_combined.c — the one combined_data.json reader (pipeline/combined.h): good files, and each way a file
 * can be wrong, with a message naming the file and the byte or record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "pipeline/combined.h"
#include "tmpdir.h"

TMPDIR_GROUP("combined")

static int parse(const char *text, cJSON **out, cai_err *e) {
    return cai_combined_parse(text, strlen(text), "run/combined_data.json", out, e);
}

static void test_good(void **state) {
    (void)state;
    cJSON *r = NULL;
    cai_err e = {0};
    assert_int_equal(parse("[{\"rank\":0,\"galaxies\":5},{\"rank\":1}]", &r, &e), CAI_OK);
    assert_int_equal(cJSON_GetArraySize(r), 2);
    cJSON_Delete(r);
    assert_int_equal(parse("[]", &r, &e), CAI_OK); /* an empty run is the tools' decision, not the reader's */
    assert_int_equal(cJSON_GetArraySize(r), 0);
    cJSON_Delete(r);
}

static void test_bad(void **state) {
    (void)state;
    cJSON *r = (cJSON *)1;
    cai_err e = {0};
    assert_int_equal(parse("[{\"rank\":0},", &r, &e), CAI_EFORMAT);
    assert_null(r);
    assert_non_null(strstr(e.msg, "run/combined_data.json: malformed JSON near byte"));
    assert_int_equal(parse("{\"rank\":0}", &r, &e), CAI_EFORMAT);
    assert_string_equal(e.msg, "run/combined_data.json: expected a JSON array of rank records");
    assert_int_equal(parse("[{\"rank\":0}, 7, {}]", &r, &e), CAI_EFORMAT);
    assert_string_equal(e.msg, "run/combined_data.json: record 1: expected an object");
    assert_null(r);
    assert_int_equal(parse("", &r, &e), CAI_EFORMAT);
}

static void test_load(void **state) {
    (void)state;
    cJSON *r = NULL;
    cai_err e = {0};
    char path[512];
    assert_int_equal(cai_combined_load(dir, &r, path, sizeof path, &e), CAI_ENOTFOUND);
    const char *j = "[{\"rank\":0}]";
    assert_int_equal(cai_write_file_atomic(path_of("combined_data.json"), j, strlen(j), &e), CAI_OK);
    assert_int_equal(cai_combined_load(dir, &r, path, sizeof path, &e), CAI_OK);
    assert_string_equal(path, path_of("combined_data.json"));
    assert_int_equal(cJSON_GetArraySize(r), 1);
    cJSON_Delete(r);
    char tiny[8];
    assert_int_equal(cai_combined_load(dir, &r, tiny, sizeof tiny, &e), CAI_EARG); /* path does not fit */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
