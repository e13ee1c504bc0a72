/* test_rank_record.c — the rank record's one writer and one reader (pipeline/rank_record.h): the seed's key
 * order, a round trip of every field, a seed record read as one, and bad input (missing key, wrong type,
 * truncated JSON) refused with an error naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/rank_record.h"

static cJSON *g_rp, *g_dp, *g_info;

static void fill(cai_rank_record *r, cai_rank_part p[3]) {
    g_rp = cJSON_CreateString("res/1");
    g_dp = cJSON_CreateStringArray((const char *const[]){"25MB/4.safetensors", "25MB/5.safetensors", "25MB/6.x"}, 3);
    g_info = cJSON_Parse("{\"slurm\": {\"job_id\": \"17\"}, \"rank\": 99}"); /* "rank" must not override */
    p[0] = (cai_rank_part){.key = "25MB/4.safetensors",
                           .fetched = 1,
                           .partition = 4,
                           .bytes = 616728,
                           .fetch_seconds = 0.25,
                           .sha256 = "ab12",
                           .decode_seconds = 0.5,
                           .status = CAI_PART_OK,
                           .galaxies = 30,
                           .num_batches = 2,
                           .infer_seconds = 1.25,
                           .format = "shard",
                           .labels = 1};
    p[1] = (cai_rank_part){.key = "25MB/5.safetensors",
                           .fetched = 1,
                           .partition = 5,
                           .bytes = 1000,
                           .fetch_seconds = 0.125,
                           .decode_seconds = 0.0625,
                           .status = CAI_PART_ERROR,
                           .error_code = "format error",
                           .error = "25MB/5.safetensors: truncated"};
    p[2] = (cai_rank_part){.key = "25MB/6.x", .status = CAI_PART_UNFINISHED};
    *r = (cai_rank_record){.total_cpu_time = 1.5,
                           .total_cpu_memory_mb = 300.25,
                           .execution_time_per_batch = 0.625,
                           .num_batches = 2,
                           .batch_size = 16,
                           .device = "cpu",
                           .throughput_bps = 1e6,
                           .sample_persec = 12.5,
                           .result_path = g_rp,
                           .data_path = g_dp,
                           .has_s3 = 1,
                           .s3_num_requests = 2,
                           .s3_total_time = 0.375,
                           .s3_avg_time = 0.1875,
                           .s3_min_time = 0.125,
                           .s3_max_time = 0.25,
                           .s3_first_request_time = 1700000000.5,
                           .s3_last_response_time = 1700000001.5,
                           .rank = 1,
                           .world_size = 2,
                           .status = CAI_RANK_PARTIAL,
                           .galaxies = 30,
                           .input_bits = 4924800,
                           .throughput_bps_wall = 2e6,
                           .wall_seconds = 2.5,
                           .cpu_seconds = 1.5,
                           .peak_rss_mb = 300.25,
                           .start_unix = 1700000000,
                           .end_unix = 1700000002.5,
                           .start_iso = "2023-11-14T22:13:20Z",
                           .end_iso = "2023-11-14T22:13:22Z",
                           .stages = {0.375, 0.125, 0.5625, 1.25, 0.0625},
                           .threads = 2,
                           .engine = "slurm",
                           .engine_info = g_info,
                           .precision = "int8",
                           .tta = 8,
                           .calibration_source = "calib.json",
                           .calibration_file_sha256 = "cafe",
                           .model_variant = "vitae",
                           .weights_sha256 = "83a1",
                           .weights_source = "w",
                           .untrained = 1,
                           .partitions_total = 3,
                           .partitions_done = 1,
                           .partitions_failed = 1,
                           .partitions_unfinished = 1,
                           .parts = p,
                           .nparts = 3,
                           .run_id = "r1",
                           .calibration_sha256 = "cafe",
                           .predictions = "res/1/predictions/1.csv",
                           .predictions_bytes = 5747,
                           .error = "25MB/5.safetensors (truncated)"};
}

static void unfill(void) {
    cJSON_Delete(g_rp);
    cJSON_Delete(g_dp);
    cJSON_Delete(g_info);
}

/* The keys in the order the seed's stats script and every earlier CAI record have them. */
static void test_key_order(void **state) {
    (void)state;
    cai_rank_record r;
    cai_rank_part p[3];
    fill(&r, p);
    cJSON *o = cai_rank_record_json(&r);
    assert_non_null(o);
    static const char *const want[] = {"total_cpu_time (seconds)",
                                       "total_cpu_memory (MB)",
                                       "execution_time (seconds/batch)",
                                       "num_batches",
                                       "batch_size",
                                       "device",
                                       "throughput_bps",
                                       "sample_persec",
                                       "result_path",
                                       "data_path",
                                       "s3_num_requests",
                                       "s3_total_time",
                                       "s3_avg_time",
                                       "s3_min_time",
                                       "s3_max_time",
                                       "s3_first_request_time",
                                       "s3_last_response_time",
                                       "rank",
                                       "world_size",
                                       "status",
                                       "galaxies",
                                       "input_bits",
                                       "throughput_bps_wall",
                                       "wall_seconds",
                                       "cpu_seconds",
                                       "peak_rss_mb",
                                       "start_unix",
                                       "end_unix",
                                       "start_iso",
                                       "end_iso",
                                       "stage_seconds",
                                       "threads",
                                       "engine",
                                       "slurm",
                                       "precision",
                                       "tta",
                                       "calibration",
                                       "model",
                                       "partitions_total",
                                       "partitions_done",
                                       "partitions_failed",
                                       "partitions_unfinished",
                                       "partitions",
                                       "run_id",
                                       "calibration_sha256",
                                       "predictions",
                                       "predictions_bytes",
                                       "error",
                                       NULL};
    const cJSON *it = o->child;
    for (int i = 0; want[i]; i++, it = it->next) {
        assert_non_null(it);
        assert_string_equal(it->string, want[i]);
    }
    assert_null(it);
    /* the partitions: the ok one in full, the failed one without its ok fields, the unfinished one bare */
    const cJSON *ps = cJSON_GetObjectItem(o, "partitions");
    char *p0 = cJSON_PrintUnformatted(cJSON_GetArrayItem(ps, 0));
    assert_string_equal(p0,
                        "{\"key\":\"25MB/4.safetensors\",\"partition\":4,\"bytes\":616728,\"fetch_seconds\":0.25,"
                        "\"sha256\":\"ab12\",\"decode_seconds\":0.5,\"status\":\"ok\",\"galaxies\":30,"
                        "\"num_batches\":2,\"infer_seconds\":1.25,\"format\":\"shard\",\"labels\":true}");
    char *p1 = cJSON_PrintUnformatted(cJSON_GetArrayItem(ps, 1));
    assert_string_equal(p1,
                        "{\"key\":\"25MB/5.safetensors\",\"partition\":5,\"bytes\":1000,\"fetch_seconds\":0.125,"
                        "\"decode_seconds\":0.0625,\"status\":\"error\",\"error_code\":\"format error\","
                        "\"error\":\"25MB/5.safetensors: truncated\"}");
    char *p2 = cJSON_PrintUnformatted(cJSON_GetArrayItem(ps, 2));
    assert_string_equal(p2, "{\"key\":\"25MB/6.x\",\"status\":\"unfinished\"}");
    assert_int_equal(cJSON_GetObjectItem(o, "rank")->valueint, 1); /* the engine's "rank" did not override */
    char *m = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "model"));
    assert_string_equal(m, "{\"variant\":\"vitae\",\"weights_sha256\":\"83a1\",\"source\":\"w\",\"untrained\":true}");
    free(p0);
    free(p1);
    free(p2);
    free(m);
    cJSON_Delete(o);
    unfill();
}

/* What the writer writes, the reader reads back, field by field. */
static void test_round_trip(void **state) {
    (void)state;
    cai_rank_record w, r;
    cai_rank_part p[3];
    fill(&w, p);
    cJSON *o = cai_rank_record_json(&w);
    char *txt = cJSON_Print(o);
    cJSON *root = NULL;
    cai_err e = {0};
    assert_int_equal(cai_rank_record_parse(txt, strlen(txt), "res/1.json", &r, &root, &e), CAI_OK);
    assert_true(r.has_status && r.has_s3 && r.has_stages && r.has_model);
    assert_int_equal(r.status, CAI_RANK_PARTIAL);
    assert_string_equal(r.status_name, "partial");
    assert_float_equal(r.total_cpu_time, 1.5, 0);
    assert_float_equal(r.total_cpu_memory_mb, 300.25, 0);
    assert_int_equal(r.num_batches, 2);
    assert_int_equal(r.batch_size, 16);
    assert_int_equal(r.s3_num_requests, 2);
    assert_float_equal(r.s3_last_response_time, 1700000001.5, 0);
    assert_int_equal(r.rank, 1);
    assert_int_equal(r.world_size, 2);
    assert_int_equal(r.galaxies, 30);
    assert_int_equal(r.input_bits, 4924800);
    assert_float_equal(r.end_unix, 1700000002.5, 0);
    assert_float_equal(r.stages.decode, 0.5625, 0);
    assert_float_equal(r.stages.write, 0.0625, 0);
    assert_int_equal(r.threads, 2);
    assert_string_equal(r.engine, "slurm");
    assert_string_equal(r.precision, "int8");
    assert_int_equal(r.tta, 8);
    assert_string_equal(r.calibration_source, "calib.json");
    assert_string_equal(r.weights_sha256, "83a1");
    assert_int_equal(r.untrained, 1);
    assert_int_equal(r.partitions_unfinished, 1);
    assert_int_equal(r.nparts, 3);
    assert_int_equal(r.parts[0].status, CAI_PART_OK);
    assert_int_equal(r.parts[0].galaxies, 30);
    assert_string_equal(r.parts[0].sha256, "ab12");
    assert_int_equal(r.parts[1].status, CAI_PART_ERROR);
    assert_string_equal(r.parts[1].error, "25MB/5.safetensors: truncated");
    assert_int_equal(r.parts[1].galaxies, -1);
    assert_int_equal(r.parts[2].status, CAI_PART_UNFINISHED);
    assert_false(r.parts[2].fetched);
    assert_string_equal(r.run_id, "r1");
    assert_int_equal(r.predictions_bytes, 5747);
    assert_true(cJSON_Compare(r.data_path, g_dp, 1));
    /* written again from what was read: the same bytes (engine_info is the one thing not read back) */
    r.engine_info = NULL;
    cJSON_DeleteItemFromObject(o, "slurm");
    cJSON *o2 = cai_rank_record_json(&r);
    char *a = cJSON_Print(o), *b = cJSON_Print(o2);
    assert_string_equal(a, b);
    free(a);
    free(b);
    cJSON_Delete(o2);
    cai_rank_record_free(&r);
    cJSON_Delete(root);
    free(txt);
    cJSON_Delete(o);
    unfill();
}

/* A record of the seed (only its ten fields) reads as a rank that ran; CAI's fields are absent. */
static void test_seed_record(void **state) {
    (void)state;
    const char *seed =
        "{\"total_cpu_time (seconds)\": 12.5, \"total_cpu_memory (MB)\": 1400, "
        "\"execution_time (seconds/batch)\": 0.3, \"num_batches\": 40, \"batch_size\": 512, "
        "\"device\": \"cpu\", \"throughput_bps\": 1.5e7, \"sample_persec\": 800, "
        "\"result_path\": \"result-partition-25MB/1GB/3\", \"data_path\": \"25MB/1.pt\"}";
    cJSON *o = cJSON_Parse(seed);
    cai_rank_record r;
    cai_err e = {0};
    assert_int_equal(cai_rank_record_read(o, "combined_data.json: record 0", &r, &e), CAI_OK);
    assert_false(r.has_status);
    assert_int_equal(r.status, CAI_RANK_OK);
    assert_string_equal(r.status_name, "ok");
    assert_int_equal(r.batch_size, 512);
    assert_int_equal(r.galaxies, -1);
    assert_true(isnan(r.start_unix));
    assert_false(r.has_s3);
    assert_int_equal(r.nparts, 0);
    assert_null(r.run_id);
    /* ... but it is not a record file CAI wrote */
    cJSON *root = NULL;
    assert_int_equal(cai_rank_record_parse(seed, strlen(seed), "res/0.json", &r, &root, &e), CAI_EKEY);
    assert_string_equal(e.msg, "res/0.json: missing field \"rank\"");
    assert_null(root);
    cJSON_Delete(o);
}

/* Older CAI versions' names for the timing fields are read too. */
static void test_older_names(void **state) {
    (void)state;
    cJSON *o = cJSON_Parse("{\"start_time_unix\": 10, \"finished_unix\": 12, \"wall_s\": 2, \"num_galaxies\": 7}");
    cai_rank_record r;
    cai_err e = {0};
    assert_int_equal(cai_rank_record_read(o, "x", &r, &e), CAI_OK);
    assert_float_equal(r.start_unix, 10, 0);
    assert_float_equal(r.end_unix, 12, 0);
    assert_float_equal(r.wall_seconds, 2, 0);
    assert_int_equal(r.galaxies, 7);
    cJSON_Delete(o);
}

/* A partition number no int64 holds reads as "the name carries no number" (-1), never as an undefined cast
 * (found by fuzz_rank_record in CI). */
static void test_partition_out_of_range(void **state) {
    (void)state;
    const char *txt =
        "{\"rank\": 0, \"status\": \"ok\", \"partitions\": [{\"key\": \"a\", \"partition\": 1e300},"
        " {\"key\": \"b\", \"partition\": -1e300}, {\"key\": \"c\", \"partition\": 4}]}";
    cai_rank_record r;
    cJSON *root = NULL;
    cai_err e = {0};
    assert_int_equal(cai_rank_record_parse(txt, strlen(txt), "res/0.json", &r, &root, &e), CAI_OK);
    assert_int_equal(r.nparts, 3);
    assert_int_equal(r.parts[0].partition, -1);
    assert_int_equal(r.parts[1].partition, -1);
    assert_int_equal(r.parts[2].partition, 4);
    cai_rank_record_free(&r);
    cJSON_Delete(root);
}

static void expect_bad(const char *text, int code, const char *msg) {
    cai_rank_record r;
    cJSON *root = (cJSON *)1;
    cai_err e = {0};
    int rc = cai_rank_record_parse(text, strlen(text), "res/3.json", &r, &root, &e);
    if (rc != code) fail_msg("%s: got code %d (%s), want %d", text, rc, e.msg, code);
    assert_null(root);
    if (!strstr(e.msg, msg)) fail_msg("error \"%s\" does not contain \"%s\"", e.msg, msg);
}

static void test_bad_input(void **state) {
    (void)state;
    expect_bad("{\"rank\": 3, \"status\": \"ok\", \"galaxies\": \"many\"}", CAI_EFORMAT,
               "res/3.json: field \"galaxies\": expected a number");
    expect_bad("{\"rank\": 3, \"status\": 7}", CAI_EFORMAT, "res/3.json: field \"status\": expected a string");
    expect_bad("{\"rank\": -1, \"status\": \"ok\"}", CAI_EFORMAT, "field \"rank\": expected a whole number >= 0");
    expect_bad("{\"rank\": 1.5, \"status\": \"ok\"}", CAI_EFORMAT, "field \"rank\": expected a whole number >= 0");
    expect_bad("{\"status\": \"ok\"}", CAI_EKEY, "res/3.json: missing field \"rank\"");
    expect_bad("{\"rank\": 3}", CAI_EKEY, "res/3.json: missing field \"status\"");
    expect_bad("{\"rank\": 3, \"status\": \"ok\", \"model\": []}", CAI_EFORMAT, "field \"model\": expected an object");
    expect_bad("{\"rank\": 3, \"status\": \"ok\", \"model\": {\"untrained\": 1}}", CAI_EFORMAT,
               "field \"model.untrained\": expected true or false");
    expect_bad("{\"rank\": 3, \"status\": \"ok\", \"stage_seconds\": {\"infer\": \"x\"}}", CAI_EFORMAT,
               "field \"stage_seconds.infer\": expected a number");
    expect_bad("{\"rank\": 3, \"status\": \"ok\", \"partitions\": {}}", CAI_EFORMAT,
               "field \"partitions\": expected a list");
    expect_bad("{\"rank\": 3, \"status\": \"ok\", \"partitions\": [{\"key\": \"a\"}, 5]}", CAI_EFORMAT,
               "field \"partitions\"[1]: expected an object");
    expect_bad("{\"rank\": 3, \"status\": \"ok\", \"partitions\": [{\"key\": \"a\", \"galaxies\": true}]}", CAI_EFORMAT,
               "field \"partitions[0].galaxies\": expected a number");
    expect_bad("{\"rank\": 3, \"status\": \"ok\", \"galax", CAI_EFORMAT, "res/3.json: not valid JSON (truncated?)");
    expect_bad("", CAI_EFORMAT, "not valid JSON");
    expect_bad("[1, 2]", CAI_EFORMAT, "res/3.json: a rank record must be a JSON object");
    /* an unknown status is not an error: the caller decides (Summarize lists it as failed) */
    cai_rank_record r;
    cJSON *root = NULL;
    cai_err e = {0};
    const char *odd = "{\"rank\": 3, \"status\": \"exploded\"}";
    assert_int_equal(cai_rank_record_parse(odd, strlen(odd), "res/3.json", &r, &root, &e), CAI_OK);
    assert_int_equal(r.status, CAI_RANK_OTHER);
    assert_string_equal(r.status_name, "exploded");
    cai_rank_record_free(&r);
    cJSON_Delete(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_order),   cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_seed_record), cmocka_unit_test(test_older_names),
        cmocka_unit_test(test_bad_input),   cmocka_unit_test(test_partition_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
