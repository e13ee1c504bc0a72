/* test_cost.c — the all-in bill's arithmetic pinned item by item, the seed README's table reproduced,
 * limits enforced, and inputs read from CAI and seed run records. */
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
#include "pipeline/cost.h"
#include "tmpdir.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) <= 1e-9 * (fabs((double)(b)) + 1))

static const char *fixtures(void) {
    const char *s = getenv("FIXTURES");
    return s && *s ? s : "tests/fixtures";
}

static void test_seed_readme_table(void **state) {
    (void)state;
    cai_seed_cost_row r[4];
    cai_cost_seed_table(NULL, r);
    /* The README: 25/50/75/100 MB → $0.16/0.20/0.30/0.38 */
    const int mb[4] = {25, 50, 75, 100};
    const long req[4] = {517, 259, 173, 130};
    const double cents[4] = {16, 20, 30, 38};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].partition_mb, mb[i]);
        assert_int_equal(r[i].requests, req[i]);
        assert_true(round(r[i].seed_cost * 100) == cents[i]);
        /* The honest bill is several times larger at every size. */
        assert_true(r[i].bill.total > 2 * r[i].seed_cost);
        assert_true(r[i].bill.total > r[i].bill.lambda_compute);
    }
    NEAR(r[0].seed_cost, 517 * 6.55 * 2.8 * 0.00001667);
    /* 75 MB: the measured 33.7 s at the configured 10 GB. */
    assert_int_equal(r[2].billed_measured, 1);
    NEAR(r[2].billed_s, 33.7);
    NEAR(r[2].bill.lambda_compute, 173 * 33.7 * 10.0 * 0.0000166667 + 2 * 0.5 * 0.0000166667);
    NEAR(r[2].bill.lambda_requests, 175 * 0.2e-6);
    assert_int_equal(r[2].bill.transitions, 4 + 2 * 173);
    NEAR(r[2].bill.per_million_galaxies, r[2].bill.total / 659817 * 1e6);
    /* Others: in-loop + the same 16.1 s. */
    assert_int_equal(r[0].billed_measured, 0);
    NEAR(r[0].billed_s, 6.55 + 16.1);
}

static void test_bill_items(void **state) {
    (void)state;
    cai_cost_inputs in;
    cai_cost_inputs_default(&in);
    in.invocations = 1000;
    in.billed_seconds = 1000 * 2.5;
    in.memory_mb = 2048;
    in.aux_invocations = 0;
    in.aux_billed_seconds = 0;
    in.s3_get = 10000, in.s3_put = 2000, in.s3_list = 3;
    in.galaxies = 2e6;
    cai_cost_bill b;
    cai_err e = {0};
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_OK);
    NEAR(b.gb_seconds, 5000);
    NEAR(b.lambda_compute, 5000 * 0.0000166667);
    NEAR(b.lambda_requests, 1000 * 0.2e-6);
    NEAR(b.ephemeral, 0);
    assert_int_equal(b.transitions, 4 + 2000);
    NEAR(b.sfn, 2004 * 25e-6);
    NEAR(b.s3_get, 10000 * 0.0004 / 1000);
    NEAR(b.s3_put_list, 2003 * 0.005 / 1000);
    NEAR(b.total, b.lambda_compute + b.lambda_requests + b.sfn + b.s3_get + b.s3_put_list);
    NEAR(b.per_million_galaxies, b.total / 2);

    /* arm64 is 20% cheaper per GB-s. */
    in.arch = CAI_ARCH_ARM64;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_OK);
    NEAR(b.lambda_compute, 5000 * 0.0000133334);
    /* /tmp above 512 MB is billed per GB-s. */
    in.ephemeral_mb = 2560;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_OK);
    NEAR(b.ephemeral, 2.0 * 2500 * 0.0000000309);
    /* Retries: billed again (mean duration), one more request and one more transition each. */
    in.ephemeral_mb = 512;
    in.retries = 10;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_OK);
    NEAR(b.gb_seconds, (2500 + 25) * 2);
    assert_int_equal(b.requests, 1010);
    assert_int_equal(b.transitions, 4 + 2000 + 10);
    /* Express children: per request + duration (100 ms rounding, 64 MB); parent transitions only. */
    in.retries = 0;
    in.children = CAI_SFN_EXPRESS;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_OK);
    assert_int_equal(b.transitions, 4);
    NEAR(b.sfn, 4 * 25e-6 + 1000 * 1e-6 + 1000 * 2.5 * (64.0 / 1024) * 0.00001667);
    /* No galaxies: no per-million figure. */
    in.galaxies = 0;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_OK);
    assert_true(isnan(b.per_million_galaxies));
}

static void test_limits(void **state) {
    (void)state;
    cai_cost_inputs in;
    cai_cost_bill b;
    cai_err e = {0};
    cai_cost_inputs_default(&in);
    in.memory_mb = 100;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "128 to 10,240"));
    in.memory_mb = 10241;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_EARG);
    cai_cost_inputs_default(&in);
    in.ephemeral_mb = 20000;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_EARG);
    cai_cost_inputs_default(&in);
    in.invocations = -1;
    assert_int_equal(cai_cost_compute(&in, &cai_prices_2026, &b, &e), CAI_EARG);
    NEAR(cai_cost_billed_seconds(1.0001), 1.001);
    NEAR(cai_cost_billed_seconds(2.0), 2.0);
    NEAR(cai_cost_billed_seconds(0), 0);
}

static void test_from_cai_run(void **state) {
    (void)state;
    char dir[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "cost"), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/combined_data.json", dir);
    const char *j =
        "[{\"total_cpu_time (seconds)\":2,\"total_cpu_memory (MB)\":1,\"throughput_bps\":1,\"batch_size\":256,"
        "\"data_path\":\"p/1.pt\",\"galaxies\":1000,\"wall_seconds\":2.0004,\"s3_num_requests\":3},"
        "{\"total_cpu_time (seconds)\":3,\"total_cpu_memory (MB)\":1,\"throughput_bps\":1,\"batch_size\":256,"
        "\"data_path\":[\"p/2.pt\",\"p/3.pt\"],\"galaxies\":2000,\"wall_seconds\":3.0,\"s3_num_requests\":5},"
        "{\"data_path\":null}]";
    cai_err e = {0};
    assert_int_equal(cai_write_file_atomic(p, j, strlen(j), &e), CAI_OK);
    cai_cost_inputs in;
    cai_cost_inputs_default(&in);
    assert_int_equal(cai_cost_from_run(dir, 0.5, 16.1, &in, NULL, &e), CAI_OK);
    assert_int_equal(in.invocations, 3); /* the empty rank was invoked too */
    NEAR(in.billed_seconds, 2.501 + 3.5);
    NEAR(in.galaxies, 3000);
    assert_int_equal(in.s3_get, 8 + 2 * 3);
    /* Malformed record file: the error names it. */
    assert_int_equal(cai_write_file_atomic(p, "[{", 2, &e), CAI_OK);
    assert_int_equal(cai_cost_from_run(dir, 0.5, 16.1, &in, NULL, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "combined_data.json"));
    remove(p);
    assert_int_equal(cai_cost_from_run(dir, 0.5, 16.1, &in, NULL, &e), CAI_ENOTFOUND);
    rmdir(dir);
}

static void test_from_seed_run(void **state) {
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/seed-results/result-partition-100MB/1GB/1", fixtures());
    cai_cost_inputs in;
    cai_cost_inputs_default(&in);
    cai_err e = {0};
    int rc = cai_cost_from_run(dir, 0.5, 16.1, &in, NULL, &e);
    assert_int_equal(rc, CAI_OK); /* the fixtures ship in tests/fixtures: missing is a failure */
    assert_int_equal(in.invocations, 11);
    /* Seed records: Σ(total_cpu_time + 16.1 s overhead), each rounded up to 1 ms; no start-up added. */
    assert_true(in.billed_seconds > 11 * (16.1 + 20) && in.billed_seconds < 11 * (16.1 + 40));
    assert_true(in.galaxies == 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_readme_table), cmocka_unit_test(test_bill_items),    cmocka_unit_test(test_limits),
        cmocka_unit_test(test_from_cai_run),      cmocka_unit_test(test_from_seed_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
