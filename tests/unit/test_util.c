/* test_util.c — common helpers: errors, atomic writes, sha256. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/util.h"
#include "tmpdir.h"

static void test_seterr_formats_and_returns_code(void **state) {
    (void)state;
    cai_err e = {0};
    int rc = cai_seterr(&e, CAI_EFORMAT, "%s: expected %d bytes", "x.pt", 8);
    assert_int_equal(rc, CAI_EFORMAT);
    assert_string_equal(e.msg, "x.pt: expected 8 bytes");
    cai_err_prefix(&e, "rank %d: ", 3);
    assert_string_equal(e.msg, "rank 3: x.pt: expected 8 bytes");
    assert_string_equal(cai_strerror(CAI_EFORMAT), "malformed input");
    assert_int_equal(cai_exit_status(CAI_EPAYLOAD), 2);
}

static void test_atomic_write_roundtrip(void **state) {
    (void)state;
    char dir[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "util"), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/c.txt", dir);
    cai_err e = {0};
    assert_int_equal(cai_write_file_atomic(path, "hello", 5, &e), CAI_OK);
    char *buf;
    size_t n;
    assert_int_equal(cai_read_file(path, &buf, &n, &e), CAI_OK);
    assert_int_equal(n, 5);
    assert_string_equal(buf, "hello");
    free(buf);
    cai_file f;
    assert_int_equal(cai_file_map(path, &f, &e), CAI_OK);
    assert_memory_equal(f.data, "hello", 5);
    cai_file_unmap(&f);
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(cai_file_map(path, &f, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "missing"));
    assert_int_equal(cai_test_rmtree(dir), 0);
}

static void test_sha256_known_vector(void **state) {
    (void)state;
    char hex[65];
    cai_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* One ISO-8601 parser serves the AWS answers (Step Functions dates, credential expiry): the round trip with
 * cai_iso8601, offsets, fractions, and every malformed shape refused with -1. */
static void test_iso8601_parse(void **state) {
    (void)state;
    char buf[40];
    cai_iso8601(1795623859.031, buf, sizeof buf);
    assert_true(fabs(cai_iso8601_parse(buf) - 1795623859.031) <= 1e-3); /* cai_iso8601 keeps milliseconds */
    assert_true(cai_iso8601_parse("1970-01-02T00:00:00Z") == 86400.0);
    assert_true(cai_iso8601_parse("1970-01-02T01:00:00+01:00") == 86400.0);
    assert_true(cai_iso8601_parse("1970-01-01T23:00:00-01:00") == 86400.0);
    assert_true(cai_iso8601_parse("2000-02-29T00:00:00Z") == 951782400.0); /* a leap day */
    const char *bad[] = {"",
                         "2026-13-01T00:00:00Z",
                         "2026-01-32T00:00:00Z",
                         "2026-01-01T24:00:00Z",
                         "2026-01-01T00:60:00Z",
                         "2026-01-01 00:00:00Z",
                         "2026-01-01T00:00:00.Z",
                         "2026-01-01T00:00:00Zjunk",
                         "2026-01-01T00:00:00+1:00",
                         "2026-1-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_true(cai_iso8601_parse(bad[i]) == -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seterr_formats_and_returns_code),
        cmocka_unit_test(test_atomic_write_roundtrip),
        cmocka_unit_test(test_sha256_known_vector),
        cmocka_unit_test(test_iso8601_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
