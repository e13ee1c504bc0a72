/* test_precision.c — the one precision parser (model.h): every spelling a payload, a flag or CAI_PRECISION
 * may use, in any case; anything else refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "model/model.h"

static void test_names_any_case(void **state) {
    (void)state;
    const char *fp32[] = {"fp32", "FP32", "Fp32", "float32", "FLOAT32"};
    const char *int8[] = {"int8", "INT8", "Int8"};
    const char *autos[] = {"auto", "AUTO", "Auto"};
    for (size_t i = 0; i < sizeof autos / sizeof *autos; i++) {
        cai_precision p = CAI_PREC_INT8;
        assert_int_equal(cai_precision_parse(autos[i], &p), 0);
        assert_int_equal(p, CAI_PREC_AUTO);
    }
    for (size_t i = 0; i < sizeof fp32 / sizeof *fp32; i++) {
        cai_precision p = CAI_PREC_INT8;
        assert_int_equal(cai_precision_parse(fp32[i], &p), 0);
        assert_int_equal(p, CAI_PREC_FP32);
    }
    for (size_t i = 0; i < sizeof int8 / sizeof *int8; i++) {
        cai_precision p = CAI_PREC_FP32;
        assert_int_equal(cai_precision_parse(int8[i], &p), 0);
        assert_int_equal(p, CAI_PREC_INT8);
    }
}

static void test_refused_left_unchanged(void **state) {
    (void)state;
    const char *bad[] = {"", "fp16", "int4", "fp32 ", " int8", "int", "8", "float", "bf16", "autox"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cai_precision p = CAI_PREC_INT8;
        assert_int_equal(cai_precision_parse(bad[i], &p), -1);
        assert_int_equal(p, CAI_PREC_INT8);
    }
    cai_precision p = CAI_PREC_FP32;
    assert_int_equal(cai_precision_parse(NULL, &p), -1);
}

static void test_canonical_names_round_trip(void **state) {
    (void)state;
    assert_string_equal(cai_precision_name(CAI_PREC_FP32), "fp32");
    assert_string_equal(cai_precision_name(CAI_PREC_INT8), "int8");
    assert_string_equal(cai_precision_name(CAI_PREC_AUTO), "auto");
    cai_precision p;
    assert_int_equal(cai_precision_parse(cai_precision_name(CAI_PREC_INT8), &p), 0);
    assert_int_equal(p, CAI_PREC_INT8);
    assert_non_null(strstr(CAI_PRECISION_EXPECTED, "int8"));
    assert_non_null(strstr(CAI_PRECISION_EXPECTED, "auto"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_any_case),
        cmocka_unit_test(test_refused_left_unchanged),
        cmocka_unit_test(test_canonical_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
