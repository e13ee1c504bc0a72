/* test_diag.c — common/diag.h: libcai's diagnostics reach the installed callback with their level and
 * text, and nothing happens without one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/diag.h"

static int calls;
static cai_diag_level last_level;
static char last_msg[4096];

static void record(void *ctx, cai_diag_level level, const char *msg) {
    (*(int *)ctx)++;
    calls++;
    last_level = level;
    strncpy(last_msg, msg, sizeof last_msg - 1);
}

static void test_callback_gets_level_and_text(void **state) {
    (void)state;
    int ctx = 0;
    cai_diag_set(record, &ctx);
    cai_diag(CAI_DIAG_WARN, "payload.json: unknown field \"%s\" ignored", "x");
    assert_int_equal(ctx, 1);
    assert_int_equal(last_level, CAI_DIAG_WARN);
    assert_string_equal(last_msg, "payload.json: unknown field \"x\" ignored");
    cai_diag(CAI_DIAG_PROGRESS, "%d/%d ranks", 3, 8);
    assert_int_equal(last_level, CAI_DIAG_PROGRESS);
    assert_string_equal(last_msg, "3/8 ranks");
    /* Too long: cut, still terminated. */
    char big[5000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = 0;
    cai_diag(CAI_DIAG_INFO, "%s", big);
    assert_int_equal(strlen(last_msg), 2047);
    cai_diag_set(NULL, NULL);
}

static void test_nothing_without_callback(void **state) {
    (void)state;
    cai_diag_set(NULL, NULL);
    calls = 0;
    cai_diag(CAI_DIAG_WARN, "dropped");
    assert_int_equal(calls, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callback_gets_level_and_text),
        cmocka_unit_test(test_nothing_without_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
