/* test_array.c — the shard-index contract (engine/array.h): which variable wins, the base, ranks per task,
 * SLURM_CPUS_PER_TASK, scheduler ids, and every bad value rejected with a message naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "engine/array.h"

static const char *vars[] = {"SLURM_ARRAY_TASK_ID", "AWS_BATCH_JOB_ARRAY_INDEX", "JOB_COMPLETION_INDEX",
                             "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_CPUS_PER_TASK", "SLURM_JOB_ID",
                             "SLURM_ARRAY_JOB_ID", "SLURMD_NODENAME", "SLURM_CLUSTER_NAME"};

static int clear_env(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    return 0;
}

static void test_explicit_index_and_base(void **state) {
    (void)state;
    cai_array_index ix;
    cai_err e = {0};
    assert_int_equal(cai_array_index_resolve("7", 0, &ix, &e), CAI_OK);
    assert_int_equal(ix.index, 7);
    assert_string_equal(ix.var, "");
    assert_null(ix.engine);
    assert_int_equal(cai_array_index_resolve("7", 1, &ix, &e), CAI_OK);
    assert_int_equal(ix.index, 6);
    assert_int_equal(cai_array_index_resolve("0", 1, &ix, &e), CAI_EARG);
    assert_string_equal(e.msg, "--index 0 is below --index-base 1");
    const char *bad[] = {"", "-1", "+3", "3x", "x", " 3", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(cai_array_index_resolve(bad[i], 0, &ix, &e), CAI_EARG);
        assert_non_null(strstr(e.msg, "--index"));
    }
}

static void test_env_order(void **state) {
    (void)state;
    cai_array_index ix;
    cai_err e = {0};
    assert_int_equal(cai_array_index_resolve("env", 0, &ix, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "none of SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX, JOB_COMPLETION_INDEX, "
                                  "OMPI_COMM_WORLD_RANK, PMIX_RANK is set"));
    setenv("PMIX_RANK", "4", 1);
    assert_int_equal(cai_array_index_resolve("env", 0, &ix, &e), CAI_OK);
    assert_string_equal(ix.var, "PMIX_RANK");
    assert_string_equal(ix.engine, "mpi");
    setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    assert_int_equal(cai_array_index_resolve("env", 0, &ix, &e), CAI_OK);
    assert_string_equal(ix.var, "OMPI_COMM_WORLD_RANK");
    setenv("JOB_COMPLETION_INDEX", "2", 1);
    assert_int_equal(cai_array_index_resolve("env", 0, &ix, &e), CAI_OK);
    assert_string_equal(ix.engine, "kubernetes");
    assert_int_equal(ix.index, 2);
    setenv("AWS_BATCH_JOB_ARRAY_INDEX", "1", 1);
    assert_int_equal(cai_array_index_resolve("env", 0, &ix, &e), CAI_OK);
    assert_string_equal(ix.engine, "aws-batch");
    setenv("SLURM_ARRAY_TASK_ID", "5", 1);
    assert_int_equal(cai_array_index_resolve("env", 1, &ix, &e), CAI_OK);
    assert_string_equal(ix.var, "SLURM_ARRAY_TASK_ID");
    assert_string_equal(ix.engine, "slurm");
    assert_int_equal(ix.raw, 5);
    assert_int_equal(ix.index, 4);
    /* the first set variable is used even when malformed: no silent fall-through to the next */
    setenv("SLURM_ARRAY_TASK_ID", "5a", 1);
    assert_int_equal(cai_array_index_resolve("env", 0, &ix, &e), CAI_EARG);
    assert_string_equal(e.msg, "--index env: SLURM_ARRAY_TASK_ID=\"5a\": expected a non-negative integer");
    setenv("SLURM_ARRAY_TASK_ID", "0", 1);
    assert_int_equal(cai_array_index_resolve("env", 1, &ix, &e), CAI_EARG);
    assert_string_equal(e.msg, "--index env: SLURM_ARRAY_TASK_ID=0 is below --index-base 1");
}

static void test_ranks_per_task(void **state) {
    (void)state;
    cai_array_index ix = {.index = 2};
    long long a, b;
    cai_err e = {0};
    assert_int_equal(cai_array_ranks(&ix, 1, 6, "j", &a, &b, &e), CAI_OK);
    assert_true(a == 2 && b == 3);
    assert_int_equal(cai_array_ranks(&ix, 2, 6, "j", &a, &b, &e), CAI_OK);
    assert_true(a == 4 && b == 6);
    assert_int_equal(cai_array_ranks(&ix, 4, 10, "j", &a, &b, &e), CAI_OK); /* the last task is short */
    assert_true(a == 8 && b == 10);
    assert_int_equal(cai_array_ranks(&ix, 3, 6, "r/jobs.jsonl", &a, &b, &e), CAI_EARG);
    assert_string_equal(e.msg, "index 2 is out of range: r/jobs.jsonl has 6 ranks in tasks of 3, so task indices "
                               "are 0..1 (after the index base)");
    cai_array_index ev = {.index = 6, .raw = 7};
    snprintf(ev.var, sizeof ev.var, "SLURM_ARRAY_TASK_ID");
    assert_int_equal(cai_array_ranks(&ev, 1, 6, "r/jobs.jsonl", &a, &b, &e), CAI_EARG);
    assert_string_equal(e.msg, "index 6 (SLURM_ARRAY_TASK_ID=7) is out of range: r/jobs.jsonl has 6 ranks, so task "
                               "indices are 0..5 (after the index base)");
    assert_int_equal(cai_array_ranks(&ix, 1, 0, "r/jobs.jsonl", &a, &b, &e), CAI_EARG);
    assert_non_null(strstr(e.msg, "has no ranks"));
    assert_int_equal(cai_array_ranks(&ix, 0, 6, "j", &a, &b, &e), CAI_EARG);
}

static void test_threads_and_ids(void **state) {
    (void)state;
    int t = -1;
    cai_err e = {0};
    assert_int_equal(cai_array_threads_from_env(&t, &e), CAI_OK);
    assert_int_equal(t, 0);
    setenv("SLURM_CPUS_PER_TASK", "4", 1);
    assert_int_equal(cai_array_threads_from_env(&t, &e), CAI_OK);
    assert_int_equal(t, 4);
    const char *bad[] = {"0", "-2", "four", "", "100000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("SLURM_CPUS_PER_TASK", bad[i], 1);
        assert_int_equal(cai_array_threads_from_env(&t, &e), CAI_EARG);
        assert_non_null(strstr(e.msg, "SLURM_CPUS_PER_TASK"));
    }
    setenv("SLURM_JOB_ID", "101", 1);
    setenv("SLURM_ARRAY_JOB_ID", "100", 1);
    setenv("SLURM_ARRAY_TASK_ID", "1", 1);
    setenv("SLURMD_NODENAME", "node-7", 1);
    cJSON *o = cai_array_engine_info("slurm");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "slurm");
    assert_non_null(s);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(s, "job_id")->valuedouble, 101);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(s, "array_job_id")->valuedouble, 100);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(s, "array_task_id")->valuedouble, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s, "node")->valuestring, "node-7");
    assert_null(cJSON_GetObjectItemCaseSensitive(s, "cluster")); /* unset: absent, not empty */
    cJSON_Delete(o);
    o = cai_array_engine_info(NULL);
    assert_non_null(o);
    assert_null(o->child);
    cJSON_Delete(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_explicit_index_and_base, clear_env),
        cmocka_unit_test_setup(test_env_order, clear_env),
        cmocka_unit_test_setup(test_ranks_per_task, clear_env),
        cmocka_unit_test_setup(test_threads_and_ids, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
