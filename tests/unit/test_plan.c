/* test_plan.c — the planner: sensible answers for the seed's 659,817 galaxies, refusals with reasons,
 * measured inputs from cai bench output and from run records. */
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
#include "pipeline/plan.h"
#include "tmpdir.h"

#define SEED_GALAXIES 659817.0

static const char *fixtures(void) {
    const char *s = getenv("FIXTURES");
    return s && *s ? s : "tests/fixtures";
}

static void check_sane(const cai_plan_req *r, const cai_plan_choice *c) {
    assert_true(c->ranks >= 1);
    assert_true((double)c->ranks * (double)c->galaxies_per_rank >= r->galaxies);
    assert_true((double)(c->ranks - 1) * (double)c->galaxies_per_rank < r->galaxies); /* no idle rank */
    assert_true(c->memory_mb >= 128 && c->memory_mb <= 10240);
    assert_true(c->vcpus > 0 && c->vcpus <= 6);
    assert_true(fabs(c->vcpus - fmin(6, c->memory_mb / 1769.0)) < 1e-9);
    assert_true(c->concurrency >= 1 && c->concurrency <= 1000 && c->concurrency <= c->ranks);
    assert_true(c->waves == (c->ranks + c->concurrency - 1) / c->concurrency);
    assert_true(c->t_invocation <= 900);
    assert_true(c->bill.total > 0);
}

static void test_seed_set_deadline(void **state) {
    (void)state;
    cai_plan_req r;
    cai_plan_req_default(&r);
    r.galaxies = SEED_GALAXIES;
    cai_plan_choice c60, c600, c20;
    char why[2048];
    cai_err e = {0};
    r.deadline_s = 60;
    assert_int_equal(cai_plan_choose(&r, &c60, why, sizeof why, &e), CAI_OK);
    check_sane(&r, &c60);
    assert_true(c60.makespan_s <= 60);
    assert_non_null(strstr(why, "partition"));
    assert_non_null(strstr(why, "why: the cheapest plan that finishes within 60 s"));
    r.deadline_s = 600;
    assert_int_equal(cai_plan_choose(&r, &c600, why, sizeof why, &e), CAI_OK);
    check_sane(&r, &c600);
    assert_true(c600.makespan_s <= 600);
    r.deadline_s = 20;
    assert_int_equal(cai_plan_choose(&r, &c20, why, sizeof why, &e), CAI_OK);
    check_sane(&r, &c20);
    assert_true(c20.makespan_s <= 20);
    /* A looser deadline never costs more; a tighter one needs more ranks in parallel. */
    assert_true(c600.bill.total <= c60.bill.total + 1e-12);
    assert_true(c60.bill.total <= c20.bill.total + 1e-12);
    assert_true(c20.ranks >= c60.ranks);
    assert_true(c20.partition_mb <= c60.partition_mb);
}

static void test_seed_set_budget(void **state) {
    (void)state;
    cai_plan_req r;
    cai_plan_req_default(&r);
    r.galaxies = SEED_GALAXIES;
    r.budget_usd = 1.0;
    cai_plan_choice c, cheap;
    char why[2048];
    cai_err e = {0};
    assert_int_equal(cai_plan_choose(&r, &c, why, sizeof why, &e), CAI_OK);
    check_sane(&r, &c);
    assert_true(c.bill.total <= 1.0);
    assert_non_null(strstr(why, "fastest plan within $1.00"));
    r.budget_usd = 0.6;
    assert_int_equal(cai_plan_choose(&r, &cheap, why, sizeof why, &e), CAI_OK);
    assert_true(cheap.bill.total <= 0.6);
    assert_true(cheap.makespan_s >= c.makespan_s); /* less money, not faster */
    /* Both constraints: a plan satisfying both. */
    r.deadline_s = 120;
    r.budget_usd = 1.0;
    assert_int_equal(cai_plan_choose(&r, &c, why, sizeof why, &e), CAI_OK);
    assert_true(c.bill.total <= 1.0 && c.makespan_s <= 120);
}

static void test_refusals(void **state) {
    (void)state;
    cai_plan_req r;
    cai_plan_choice c;
    cai_err e = {0};
    cai_plan_req_default(&r);
    r.galaxies = SEED_GALAXIES;
    r.deadline_s = 2; /* below 3 s orchestration + 1 s start-up */
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "cold-start floor"));
    r.deadline_s = 5; /* above the floor, but 1,000 workers cannot do 660 galaxies each that fast */
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "cannot be met"));
    assert_non_null(strstr(e.msg, "more concurrency"));
    assert_non_null(strstr(e.msg, "the fastest plan"));
    r.deadline_s = 0;
    r.budget_usd = 0.01;
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "below the minimum bill"));
    r.budget_usd = 0.52;
    r.deadline_s = 10; /* each feasible alone, not together */
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "no plan meets both"));
    cai_plan_req_default(&r);
    r.galaxies = SEED_GALAXIES;
    r.deadline_s = 60;
    r.max_concurrency = 20000;
    r.account_concurrency = 50000;
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "MaxConcurrency"));
    r.max_concurrency = 2000;
    r.account_concurrency = 0; /* default 1,000 */
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "quota"));
    r.account_concurrency = 3000; /* raised quota: allowed */
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_OK);
    r.galaxies = 0;
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_EARG);
    cai_plan_req_default(&r);
    r.galaxies = 10;
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_EARG); /* neither deadline nor budget */
    assert_non_null(strstr(e.msg, "deadline"));
}

static void test_small_job_one_rank(void **state) {
    (void)state;
    cai_plan_req r;
    cai_plan_req_default(&r);
    r.galaxies = 100;
    r.deadline_s = 600; /* cheapest: one rank */
    cai_plan_choice c;
    cai_err e = {0};
    assert_int_equal(cai_plan_choose(&r, &c, NULL, 0, &e), CAI_OK);
    assert_int_equal(c.ranks, 1);
    assert_int_equal(c.galaxies_per_rank, 100);
}

static void test_bench_curve(void **state) {
    (void)state;
    const char *lines =
        "# cai bench\n"
        "{\"threads\":1,\"batch\":64,\"galaxies_per_s\":100}\n"
        "{\"threads\":1,\"batch\":256,\"galaxies_per_s\":120}\n"
        "{\"threads\":4,\"batch\":256,\"galaxies_per_s\":400}\n"
        "{\"threads\":2,\"batch\":256,\"galaxies_per_s\":230}\n"
        "{\"note\":\"not a measurement\"}\n";
    cai_plan_req r;
    cai_plan_req_default(&r);
    cai_err e = {0};
    assert_int_equal(cai_plan_load_bench(lines, strlen(lines), "b.json", &r, &e), CAI_OK);
    assert_int_equal(r.n_curve, 3);
    assert_true(r.curve_threads[0] == 1 && r.curve_gps[0] == 120); /* best batch per thread count */
    assert_true(r.curve_threads[1] == 2 && r.curve_threads[2] == 4);
    assert_true(fabs(cai_plan_throughput(&r, 1) - 120) < 1e-9);
    assert_true(fabs(cai_plan_throughput(&r, 3) - 315) < 1e-9); /* halfway 230 → 400 */
    assert_true(fabs(cai_plan_throughput(&r, 0.5) - 60) < 1e-9);
    assert_true(fabs(cai_plan_throughput(&r, 5.79) - 400 * 5.79 / 4) < 1e-9);
    const char *arr = "[{\"threads\":2,\"batch\":8,\"galaxies_per_s\":50}]";
    assert_int_equal(cai_plan_load_bench(arr, strlen(arr), "a.json", &r, &e), CAI_OK);
    assert_int_equal(r.n_curve, 1);
    const char *bad = "{\"threads\":1,\"galaxies_per_s\":10}\n{\"threads\":2,";
    assert_int_equal(cai_plan_load_bench(bad, strlen(bad), "bad.json", &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "bad.json: line 2"));
    const char *neg = "{\"threads\":1,\"galaxies_per_s\":-3}\n";
    assert_int_equal(cai_plan_load_bench(neg, strlen(neg), "neg.json", &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "galaxies_per_s"));
    assert_int_equal(cai_plan_load_bench("{}", 2, "empty.json", &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "no measurements"));
}

static void test_rate_from_runs(void **state) {
    (void)state;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/seed-results/result-partition-25MB/1GB/1", fixtures());
    cai_plan_req r;
    cai_plan_req_default(&r);
    char note[512];
    cai_err e = {0};
    int rc = cai_plan_load_run(dir, &r, note, sizeof note, &e);
    assert_int_equal(rc, CAI_OK); /* the fixtures ship in tests/fixtures: missing is a failure */
    assert_true(r.rate_per_vcpu > 30 && r.rate_per_vcpu < 45); /* ~228 galaxies/s on 5.79 vCPU */
    assert_non_null(strstr(note, "seed records"));
    /* A CAI run: galaxies / (wall_seconds × threads). */
    char tmp[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(tmp, sizeof tmp, "plan"), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/combined_data.json", tmp);
    const char *j =
        "[{\"galaxies\":1000,\"wall_seconds\":2.5,\"threads\":4},{\"galaxies\":1000,\"wall_seconds\":2.5,"
        "\"threads\":4}]";
    assert_int_equal(cai_write_file_atomic(p, j, strlen(j), &e), CAI_OK);
    assert_int_equal(cai_plan_load_run(tmp, &r, note, sizeof note, &e), CAI_OK);
    assert_true(fabs(r.rate_per_vcpu - 100) < 1e-9);
    assert_int_equal(cai_write_file_atomic(p, "[{\"galaxies\":1}]", 16, &e), CAI_OK);
    assert_int_equal(cai_plan_load_run(tmp, &r, note, sizeof note, &e), CAI_EKEY);
    remove(p);
    rmdir(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_set_deadline), cmocka_unit_test(test_seed_set_budget),
        cmocka_unit_test(test_refusals),          cmocka_unit_test(test_small_job_one_rank),
        cmocka_unit_test(test_bench_curve),       cmocka_unit_test(test_rate_from_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
