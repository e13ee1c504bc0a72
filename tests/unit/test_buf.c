/* test_buf.c — common/buf.h: the growable byte buffer and the array growth rule, including the sizes that
 * must be refused (overflow) with the buffer left as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

static void test_add_printf_take(void **state) {
    (void)state;
    cai_buf b = {0};
    assert_int_equal(cai_buf_str(&b, "rank "), 0);
    assert_int_equal(cai_buf_printf(&b, "%d of %s", 7, "12"), 0);
    assert_int_equal(cai_buf_add(&b, "", 0), 0);
    assert_string_equal(b.p, "rank 7 of 12");
    assert_int_equal(b.n, 12);
    assert_true(b.cap > b.n);
    /* Many appends: contents intact, always NUL-terminated. */
    for (int i = 0; i < 10000; i++) assert_int_equal(cai_buf_add(&b, "x", 1), 0);
    assert_int_equal(b.n, 10012);
    assert_int_equal(b.p[b.n], 0);
    assert_memory_equal(b.p, "rank 7 of 12xxx", 15);
    char *s = cai_buf_take(&b);
    assert_null(b.p);
    assert_int_equal(b.n, 0);
    assert_int_equal(strlen(s), 10012);
    free(s);
    /* take on an empty buffer gives "" (callers may always free and print it). */
    s = cai_buf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    /* A long printf (past any stack buffer). */
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(cai_buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.n, sizeof big + 1);
    assert_int_equal(b.p[0], '<');
    assert_int_equal(b.p[b.n - 1], '>');
    cai_buf_free(&b);
    assert_null(b.p);
}

static void test_overflow_refused_unchanged(void **state) {
    (void)state;
    cai_buf b = {0};
    assert_int_equal(cai_buf_str(&b, "keep"), 0);
    char *p = b.p;
    size_t cap = b.cap;
    assert_int_equal(cai_buf_reserve(&b, SIZE_MAX), -1);
    assert_int_equal(cai_buf_reserve(&b, SIZE_MAX - 4), -1);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.p, "keep");
    cai_buf_free(&b);

    double *v = NULL;
    size_t vcap = 0;
    assert_int_equal(cai_grow(&v, &vcap, SIZE_MAX / 4, sizeof *v, 16), -1); /* need * elem overflows */
    assert_null(v);
    assert_int_equal(vcap, 0);
    assert_int_equal(cai_grow(&v, &vcap, 1, 0, 16), -1); /* zero-size elements make no sense */
}

static void test_grow_doubles_from_first(void **state) {
    (void)state;
    int *v = NULL;
    size_t cap = 0;
    assert_int_equal(cai_grow(&v, &cap, 1, sizeof *v, 16), 0);
    assert_int_equal(cap, 16);
    for (int i = 0; i < 16; i++) v[i] = i;
    assert_int_equal(cai_grow(&v, &cap, 16, sizeof *v, 16), 0); /* already room: nothing changes */
    assert_int_equal(cap, 16);
    assert_int_equal(cai_grow(&v, &cap, 17, sizeof *v, 16), 0);
    assert_int_equal(cap, 32);
    assert_int_equal(cai_grow(&v, &cap, 1000, sizeof *v, 16), 0);
    assert_int_equal(cap, 1024);
    for (int i = 0; i < 16; i++) assert_int_equal(v[i], i); /* contents kept */
    free(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_printf_take),
        cmocka_unit_test(test_overflow_refused_unchanged),
        cmocka_unit_test(test_grow_doubles_from_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
