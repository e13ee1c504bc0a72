/* test_initialize.c — Initialize against the seed's contract: the job array for the seed's demo payload,
 * field for field (written out by hand), numeric order, the seed's ceil split, empty ranks, too few files,
 * the manifest, and the files it writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/initialize.h"
#include "pipeline/record.h"
#include "pipeline/stages.h"
#include "store/store.h"
#include "tmpdir.h"

#define DEMO                                                                                                           \
    "{\"bucket\": \"cosmicai-data\", \"file_limit\": \"11\", \"batch_size\": 512, \"object_type\": \"folder\", "       \
    "\"S3_object_name\": \"Anomaly Detection\", \"script\": \"/tmp/Anomaly Detection/Inference/inference.py\", "       \
    "\"result_path\": \"result-partition-100MB/1GB/1\", \"data_bucket\": \"cosmicai-data\", \"data_prefix\": "         \
    "\"100MB\"}"

static char root[CAI_TEST_DIR_MAX];
static cai_store *st;

static int setup(void **state) {
    (void)state;
    if (cai_test_mkdtemp(root, sizeof root, "init")) return -1;
    cai_err e = {0};
    if (cai_store_open(root, &st, &e)) return -1;
    /* 13 partitions (more than file_limit), plus things that are not partitions. */
    for (int i = 1; i <= 13; i++) {
        char k[64];
        snprintf(k, sizeof k, "100MB/%d.pt", i);
        if (cai_store_put(st, "cosmicai-data", k, "x", 1, &e)) return -1;
    }
    cai_store_put(st, "cosmicai-data", "100MB/README.txt", "x", 1, &e);
    cai_store_put(st, "cosmicai-data", "100MB/old/1.pt", "x", 1, &e);
    cai_store_put(st, "cosmicai-data", "100MB/7.pt.bak", "x", 1, &e);
    cai_store_put(st, "cosmicai-data", "100MBX/1.pt", "x", 1, &e);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cai_store_close(st);
    return cai_test_rmtree(root);
}

/* The seed's job array for the demo payload (11 files, world_size defaulting to file_limit), by hand. */
static cJSON *expected_demo_jobs(void) {
    cJSON *a = cJSON_CreateArray();
    for (int r = 0; r < 11; r++) {
        char item[1024];
        snprintf(item, sizeof item,
                 "{\"S3_BUCKET\": \"cosmicai-data\", \"S3_OBJECT_NAME\": \"Anomaly Detection\", "
                 "\"SCRIPT\": \"/tmp/Anomaly Detection/Inference/inference.py\", \"S3_OBJECT_TYPE\": \"folder\", "
                 "\"WORLD_SIZE\": \"11\", \"RANK\": \"%d\", \"DATA_BUCKET\": \"cosmicai-data\", "
                 "\"DATA_PREFIX\": \"100MB\", \"DATA_PATH\": \"100MB/%d.pt\", "
                 "\"RESULT_PATH\": \"result-partition-100MB/1GB/1\", \"BATCH_SIZE\": 512}",
                 r, r + 1);
        cJSON_AddItemToArray(a, cJSON_Parse(item));
    }
    return a;
}

static void test_demo_payload_matches_seed_field_for_field(void **state) {
    (void)state;
    cJSON *jobs = NULL;
    cai_err e = {0};
    assert_int_equal(cai_initialize(st, DEMO, strlen(DEMO), &jobs, &e), CAI_OK);
    cJSON *want = expected_demo_jobs();
    assert_int_equal(cJSON_GetArraySize(jobs), 11);
    for (int r = 0; r < 11; r++) {
        cJSON *g = cJSON_GetArrayItem(jobs, r), *w = cJSON_GetArrayItem(want, r);
        /* the same keys, in the same order, with the same values and types */
        cJSON *gi = g->child, *wi = w->child;
        for (; gi && wi; gi = gi->next, wi = wi->next) {
            assert_string_equal(gi->string, wi->string);
            if (!cJSON_Compare(gi, wi, 1)) {
                char *a = cJSON_PrintUnformatted(gi), *b = cJSON_PrintUnformatted(wi);
                fail_msg("rank %d field %s: got %s, want %s", r, gi->string, a, b);
            }
        }
        assert_null(wi);
        /* no CAI extras unless asked for, but the run's identity, always last */
        if (gi) {
            assert_string_equal(gi->string, "CAI_RUN_ID");
            assert_null(gi->next);
        }
    }
    cJSON_Delete(want);
    /* jobs.jsonl holds the same items, one per line */
    cJSON *back = NULL;
    assert_int_equal(cai_jobs_read(st, "cosmicai-data", "result-partition-100MB/1GB/1", &back, &e), CAI_OK);
    assert_true(cJSON_Compare(back, jobs, 1));
    uint8_t *raw;
    size_t n;
    assert_int_equal(cai_store_get(st, "cosmicai-data", "result-partition-100MB/1GB/1/jobs.jsonl", &raw, &n, &e), 0);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += raw[i] == '\n';
    assert_int_equal(lines, 11);
    free(raw);
    cJSON_Delete(back);
    /* payload.json at the bucket root and per run: the payload plus data_map {rank: DATA_PATH} */
    const char *keys[] = {"payload.json", "result-partition-100MB/1GB/1/payload.json"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(cai_store_get(st, "cosmicai-data", keys[k], &raw, &n, &e), CAI_OK);
        cJSON *pj = cJSON_ParseWithLength((char *)raw, n);
        free(raw);
        assert_non_null(pj);
        assert_string_equal(cJSON_GetObjectItem(pj, "file_limit")->valuestring, "11");
        assert_string_equal(cJSON_GetObjectItem(pj, "script")->valuestring,
                            "/tmp/Anomaly Detection/Inference/inference.py");
        cJSON *dm = cJSON_GetObjectItem(pj, "data_map");
        assert_int_equal(cJSON_GetArraySize(dm), 11);
        assert_string_equal(cJSON_GetObjectItem(dm, "0")->valuestring, "100MB/1.pt");
        assert_string_equal(cJSON_GetObjectItem(dm, "10")->valuestring, "100MB/11.pt");
        cJSON_Delete(pj);
    }
    cJSON_Delete(jobs);
}

static cJSON *init_with(const char *extra_fields, cai_err *e, int *rc) {
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"bucket\":\"cosmicai-data\",\"batch_size\":\"32\",\"result_path\":\"r/x\",\"data_bucket\":"
             "\"cosmicai-data\",\"data_prefix\":\"100MB\",%s}",
             extra_fields);
    cJSON *jobs = NULL;
    memset(e, 0, sizeof *e);
    *rc = cai_initialize(st, buf, strlen(buf), &jobs, e);
    return jobs;
}

static void test_numeric_order_and_ceil_split(void **state) {
    (void)state;
    cai_err e;
    int rc;
    cJSON *jobs = init_with("\"file_limit\":11,\"world_size\":4", &e, &rc);
    assert_int_equal(rc, CAI_OK);
    const char *want[4] = {"[\"100MB/1.pt\",\"100MB/2.pt\",\"100MB/3.pt\"]",
                           "[\"100MB/4.pt\",\"100MB/5.pt\",\"100MB/6.pt\"]",
                           "[\"100MB/7.pt\",\"100MB/8.pt\",\"100MB/9.pt\"]", "[\"100MB/10.pt\",\"100MB/11.pt\"]"};
    assert_int_equal(cJSON_GetArraySize(jobs), 4);
    for (int r = 0; r < 4; r++) {
        cJSON *w = cJSON_Parse(want[r]);
        assert_true(cJSON_Compare(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, r), "DATA_PATH"), w, 1));
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, r), "WORLD_SIZE")->valuestring, "4");
        cJSON_Delete(w);
    }
    /* BATCH_SIZE is passed through as the payload held it (here a string) */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 0), "BATCH_SIZE")->valuestring, "32");
    cJSON_Delete(jobs);
}

static void test_world_size_above_files_gives_empty_ranks(void **state) {
    (void)state;
    cai_err e;
    int rc;
    cJSON *jobs = init_with("\"file_limit\":3,\"world_size\":5", &e, &rc);
    assert_int_equal(rc, CAI_OK);
    assert_int_equal(cJSON_GetArraySize(jobs), 5);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 0), "DATA_PATH")->valuestring, "100MB/1.pt");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 2), "DATA_PATH")->valuestring, "100MB/3.pt");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 3), "DATA_PATH")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 4), "DATA_PATH")));
    cJSON_Delete(jobs);
}

static void test_file_limit_above_files_available(void **state) {
    (void)state;
    cai_err e;
    int rc;
    cJSON *jobs = init_with("\"file_limit\":14", &e, &rc);
    assert_null(jobs);
    assert_int_equal(rc, CAI_EPAYLOAD);
    assert_non_null(
        strstr(e.msg, "\"file_limit\": 14 partitions requested but only 13 found under cosmicai-data/100MB/"));
    /* and a prefix with nothing */
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"bucket\":\"b\",\"file_limit\":1,\"batch_size\":1,\"result_path\":\"r\",\"data_bucket\":"
             "\"nobucket\",\"data_prefix\":\"p\"}");
    rc = cai_initialize(st, buf, strlen(buf), &jobs, &e);
    assert_int_equal(rc, CAI_EPAYLOAD);
    assert_non_null(strstr(e.msg, "only 0 found"));
}

static void test_bad_payload_writes_nothing(void **state) {
    (void)state;
    cai_err e;
    int rc;
    cJSON *jobs = init_with("\"file_limit\":\"eleven\"", &e, &rc);
    assert_null(jobs);
    assert_int_equal(rc, CAI_EPAYLOAD);
    assert_non_null(strstr(e.msg, "field \"file_limit\": expected an integer or a numeric string, got \"eleven\""));
    assert_int_equal(cai_store_head(st, "cosmicai-data", "r/x/jobs.jsonl", NULL, &e), CAI_ENOTFOUND);
}

static void test_manifest_is_used(void **state) {
    (void)state;
    cai_err e = {0};
    /* The manifest lists 3 shards (none of the .pt files): no listing is needed, counts come along. */
    const char *man =
        "{\"key\":\"2.safetensors\",\"galaxies\":20,\"bytes\":1,\"sha256\":\"" /* out of order */
        "0000000000000000000000000000000000000000000000000000000000000000\",\"id_first\":20,\"id_last\":39,"
        "\"format\":\"shard\"}\n"
        "{\"key\":\"1.safetensors\",\"galaxies\":20,\"bytes\":1,\"sha256\":\""
        "0000000000000000000000000000000000000000000000000000000000000000\",\"id_first\":0,\"id_last\":19,"
        "\"format\":\"shard\"}\n"
        "{\"key\":\"10.safetensors\",\"galaxies\":7,\"bytes\":1,\"sha256\":\""
        "0000000000000000000000000000000000000000000000000000000000000000\",\"id_first\":40,\"id_last\":46,"
        "\"format\":\"shard\"}\n";
    assert_int_equal(cai_store_put(st, "cosmicai-data", "25MB/manifest.jsonl", man, strlen(man), &e), CAI_OK);
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"bucket\":\"cosmicai-data\",\"file_limit\":3,\"batch_size\":8,\"result_path\":\"m/1\","
             "\"data_bucket\":\"cosmicai-data\",\"data_prefix\":\"25MB\",\"world_size\":2,"
             "\"weights\":\"w.safetensors\"}");
    cJSON *jobs = NULL;
    assert_int_equal(cai_initialize(st, buf, strlen(buf), &jobs, &e), CAI_OK);
    cJSON *j0 = cJSON_GetArrayItem(jobs, 0), *j1 = cJSON_GetArrayItem(jobs, 1);
    cJSON *w0 = cJSON_Parse("[\"25MB/1.safetensors\",\"25MB/2.safetensors\"]");
    assert_true(cJSON_Compare(cJSON_GetObjectItem(j0, "DATA_PATH"), w0, 1));
    cJSON_Delete(w0);
    assert_string_equal(cJSON_GetObjectItem(j1, "DATA_PATH")->valuestring, "25MB/10.safetensors");
    assert_int_equal(cJSON_GetObjectItem(j0, "CAI_EXPECTED_GALAXIES")->valueint, 40);
    assert_int_equal(cJSON_GetObjectItem(j1, "CAI_EXPECTED_GALAXIES")->valueint, 7);
    assert_string_equal(cJSON_GetObjectItem(j0, "CAI_WEIGHTS")->valuestring, "w.safetensors");
    cJSON_Delete(jobs);
    /* a malformed manifest is an error naming it, not a silent fallback to listing */
    assert_int_equal(cai_store_put(st, "cosmicai-data", "25MB/manifest.jsonl", "{\"key\":1}\n", 10, &e), CAI_OK);
    int rc = cai_initialize(st, buf, strlen(buf), &jobs, &e);
    assert_true(rc == CAI_EFORMAT || rc == CAI_EKEY);
    assert_non_null(strstr(e.msg, "manifest.jsonl"));
}

static void test_partition_number(void **state) {
    (void)state;
    uint64_t n;
    assert_int_equal(cai_partition_number("17.pt", &n), 0);
    assert_int_equal(n, 17);
    assert_int_equal(cai_partition_number("3.safetensors", &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(cai_partition_number("x.pt", &n), -1);
    assert_int_equal(cai_partition_number("1.pt.bak", &n), -1);
    assert_int_equal(cai_partition_number("1", &n), -1);
    assert_int_equal(cai_partition_number("-1.pt", &n), -1);
}

/* 100,000 partitions from a manifest, one rank each: no listing, and jobs.jsonl holds every item. */
static void test_hundred_thousand_partitions(void **state) {
    (void)state;
    const int n = 100000;
    size_t cap = (size_t)n * 200, len = 0;
    char *man = malloc(cap);
    assert_non_null(man);
    for (int i = 1; i <= n; i++)
        len += (size_t)snprintf(man + len, cap - len,
                                "{\"key\":\"%d.safetensors\",\"galaxies\":5,\"bytes\":1,\"sha256\":\"%064d\","
                                "\"id_first\":%d,\"id_last\":%d,\"format\":\"shard\"}\n",
                                i, 0, (i - 1) * 5, (i - 1) * 5 + 4);
    cai_err e = {0};
    assert_int_equal(cai_store_put(st, "big", "p/manifest.jsonl", man, len, &e), CAI_OK);
    free(man);
    const char *pl =
        "{\"bucket\":\"big\",\"file_limit\":100000,\"batch_size\":8,\"result_path\":\"r\","
        "\"data_bucket\":\"big\",\"data_prefix\":\"p\"}";
    cJSON *jobs = NULL;
    assert_int_equal(cai_initialize(st, pl, strlen(pl), &jobs, &e), CAI_OK);
    assert_int_equal(cJSON_GetArraySize(jobs), n);
    cJSON *last = jobs->child->prev; /* cJSON keeps the tail here */
    assert_string_equal(cJSON_GetObjectItem(last, "DATA_PATH")->valuestring, "p/100000.safetensors");
    assert_string_equal(cJSON_GetObjectItem(last, "RANK")->valuestring, "99999");
    cJSON_Delete(jobs);
    cJSON *back = NULL;
    assert_int_equal(cai_jobs_read(st, "big", "r", &back, &e), CAI_OK);
    assert_int_equal(cJSON_GetArraySize(back), n);
    cJSON_Delete(back);
}

/* A job item's galaxy counts come from outside (jobs.jsonl, a Step Functions input): a count that is not a
 * non-negative integer below 9e15 reads as unknown (-1), never as an undefined cast (found by fuzz_jobs). */
static void test_job_galaxy_counts_out_of_range(void **state) {
    (void)state;
    const char *txt =
        "{\"S3_BUCKET\":\"b\",\"WORLD_SIZE\":\"1\",\"RANK\":\"0\",\"DATA_BUCKET\":\"b\","
        "\"DATA_PREFIX\":\"d\",\"DATA_PATH\":[\"d/1.pt\",\"d/2.pt\",\"d/3.pt\",\"d/4.pt\"],"
        "\"RESULT_PATH\":\"r\",\"BATCH_SIZE\":16,"
        "\"CAI_PARTITION_GALAXIES\":[1e300,-5,\"x\",3]}";
    cJSON *job = cJSON_Parse(txt);
    assert_non_null(job);
    cai_job j;
    cai_err e = {0};
    assert_int_equal(cai_job_parse(job, &j, &e), CAI_OK);
    assert_non_null(j.expected);
    assert_int_equal(j.expected[0], -1);
    assert_int_equal(j.expected[1], -1);
    assert_int_equal(j.expected[2], -1);
    assert_int_equal(j.expected[3], 3);
    cai_job_free(&j);
    cJSON_Delete(job);
}

/* cai_job_rank, the reader's tolerant corner used to name an item in reports (Lambda's failed items, MPI's
 * hand-out): the seed's string, a JSON number, and -1 for everything cai_job_parse would refuse as RANK. */
static void test_job_rank_tolerant(void **state) {
    (void)state;
    static const struct {
        const char *json;
        int64_t want;
    } cases[] = {
        {"{\"RANK\":\"7\"}", 7},   {"{\"RANK\":12}", 12},          {"{\"RANK\":\"0\"}", 0}, {"{\"RANK\":\"-1\"}", -1},
        {"{\"RANK\":\"3x\"}", -1}, {"{\"RANK\":\"\"}", -1},        {"{\"RANK\":2.5}", -1},  {"{\"RANK\":1e300}", -1},
        {"{\"RANK\":null}", -1},   {"{\"WORLD_SIZE\":\"4\"}", -1}, {"[\"RANK\"]", -1},      {"\"RANK\"", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        assert_non_null(j);
        if (cai_job_rank(j) != cases[i].want) fail_msg("%s: got %lld", cases[i].json, (long long)cai_job_rank(j));
        cJSON_Delete(j);
    }
    assert_int_equal(cai_job_rank(NULL), -1);
}

/* The job item's one writer (cai_job_json) and one reader (cai_job_parse) agree: every line Initialize
 * wrote, read and written again, gives the same bytes, for a run with a manifest, CAI's extras (weights,
 * precision, calibration, TTA) and empty ranks, and for the seed's plain payload. */
static void check_jobs_round_trip(const char *result_path) {
    cJSON *jobs = NULL;
    cai_err e = {0};
    assert_int_equal(cai_jobs_read(st, "cosmicai-data", result_path, &jobs, &e), CAI_OK);
    assert_true(cJSON_GetArraySize(jobs) > 0);
    for (const cJSON *jb = jobs->child; jb; jb = jb->next) {
        cai_job j;
        assert_int_equal(cai_job_parse(jb, &j, &e), CAI_OK);
        cJSON *again = cai_job_json(&j);
        assert_non_null(again);
        char *a = cJSON_PrintUnformatted(jb), *b = cJSON_PrintUnformatted(again);
        assert_string_equal(b, a);
        free(a);
        free(b);
        cJSON_Delete(again);
        cai_job_free(&j);
    }
    cJSON_Delete(jobs);
}

static void test_job_item_round_trip(void **state) {
    (void)state;
    cai_err e = {0};
    const char *man =
        "{\"key\":\"1.safetensors\",\"galaxies\":20,\"bytes\":5,\"sha256\":\""
        "0000000000000000000000000000000000000000000000000000000000000001\",\"id_first\":0,\"id_last\":19,"
        "\"format\":\"shard\"}\n"
        "{\"key\":\"2.safetensors\",\"galaxies\":0,\"bytes\":9,\"sha256\":\""
        "0000000000000000000000000000000000000000000000000000000000000002\",\"id_first\":null,\"id_last\":null,"
        "\"format\":\"shard\"}\n";
    assert_int_equal(cai_store_put(st, "cosmicai-data", "25MB/manifest.jsonl", man, strlen(man), &e), CAI_OK);
    const char *pl =
        "{\"bucket\":\"cosmicai-data\",\"file_limit\":\"2\",\"batch_size\":\"8\",\"result_path\":\"/x/1/\","
        "\"data_bucket\":\"cosmicai-data\",\"data_prefix\":\"25MB\",\"world_size\":4,"
        "\"S3_object_name\":\"Anomaly Detection\",\"script\":\"/tmp/i.py\",\"object_type\":\"folder\","
        "\"weights\":\"w.safetensors\",\"precision\":\"INT8\",\"calibration\":\"c.json\",\"tta\":8}";
    cJSON *jobs = NULL;
    assert_int_equal(cai_initialize(st, pl, strlen(pl), &jobs, &e), CAI_OK);
    /* what the writer wrote: the seed's string ranks, the payload's values as given, CAI's extras */
    const cJSON *j0 = cJSON_GetArrayItem(jobs, 0), *j3 = cJSON_GetArrayItem(jobs, 3);
    assert_string_equal(cJSON_GetObjectItem(j0, "RANK")->valuestring, "0");
    assert_string_equal(cJSON_GetObjectItem(j0, "WORLD_SIZE")->valuestring, "4");
    assert_string_equal(cJSON_GetObjectItem(j0, "BATCH_SIZE")->valuestring, "8");
    assert_string_equal(cJSON_GetObjectItem(j0, "RESULT_PATH")->valuestring, "/x/1/");
    assert_string_equal(cJSON_GetObjectItem(j0, "CAI_PRECISION")->valuestring, "int8");
    assert_int_equal(cJSON_GetObjectItem(j0, "CAI_TTA")->valueint, 8);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j3, "DATA_PATH")));
    assert_null(cJSON_GetObjectItem(j3, "CAI_PARTITION_MANIFEST"));
    const cJSON *m1 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(jobs, 1), "CAI_PARTITION_MANIFEST"), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m1, "id_first"))); /* an empty partition has no id range */
    cJSON_Delete(jobs);
    check_jobs_round_trip("x/1");
    /* the seed's demo payload: no manifest (a listing), no extras */
    const char *seed =
        "{\"bucket\":\"cosmicai-data\",\"file_limit\":\"3\",\"batch_size\":512,"
        "\"result_path\":\"y/1\",\"data_bucket\":\"cosmicai-data\",\"data_prefix\":\"100MB\"}";
    assert_int_equal(cai_initialize(st, seed, strlen(seed), NULL, &e), CAI_OK);
    check_jobs_round_trip("y/1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_demo_payload_matches_seed_field_for_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numeric_order_and_ceil_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_world_size_above_files_gives_empty_ranks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_limit_above_files_available, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_payload_writes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_is_used, setup, teardown),
        cmocka_unit_test(test_partition_number),
        cmocka_unit_test(test_job_galaxy_counts_out_of_range),
        cmocka_unit_test(test_job_rank_tolerant),
        cmocka_unit_test_setup_teardown(test_job_item_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hundred_thousand_partitions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
