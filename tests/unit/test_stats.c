/* test_stats.c — the seed's experiment-table rules (numpy quartiles, Python rounding and repr), folder
 * names, one run's aggregation on real seed records, bad input, and a whole tree with bad run folders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/util.h"
#include "pipeline/rank_record.h"
#include "pipeline/stats.h"
#include "tmpdir.h"

static const char *fixtures(void) {
    const char *s = getenv("FIXTURES");
    return s && *s ? s : "tests/fixtures";
}

static void write_file(const char *dir, const char *rel, const char *text) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    cai_err e = {0};
    assert_int_equal(cai_mkdirs_for(p, &e), CAI_OK);
    assert_int_equal(cai_write_file_atomic(p, text, strlen(text), &e), CAI_OK);
}

static char *read_all(const char *dir, const char *rel) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    char *t;
    size_t n;
    cai_err e = {0};
    if (cai_read_file(p, &t, &n, &e)) return NULL;
    return t;
}

static void rm_rf(const char *dir) { assert_int_equal(cai_test_rmtree(dir), 0); }

static void test_percentile_matches_numpy(void **state) {
    (void)state;
    double v[] = {1, 2, 3, 4};
    /* numpy.percentile([1,2,3,4], [25, 50, 75]) = [1.75, 2.5, 3.25] */
    assert_true(cai_percentile_linear(v, 4, 25) == 1.75);
    assert_true(cai_percentile_linear(v, 4, 50) == 2.5);
    assert_true(cai_percentile_linear(v, 4, 75) == 3.25);
    assert_true(cai_percentile_linear(v, 1, 75) == 1);
    assert_true(cai_percentile_linear(v, 4, 100) == 4);
}

static void test_iqr_mean_drops_outliers(void **state) {
    (void)state;
    double v[] = {5.0, 5.2, 20.0, 5.1, 5.3};
    /* Q1 5.1, Q3 5.3, fences [4.8, 5.6]: 20 goes, the mean of the other four stays. */
    assert_true(fabs(cai_iqr_mean(v, 5) - 5.15) < 1e-12);
    double same[] = {7, 7, 7};
    assert_true(cai_iqr_mean(same, 3) == 7);
    assert_true(isnan(cai_iqr_mean(v, 0)));
}

static void test_python_round_and_repr(void **state) {
    (void)state;
    char b[64];
    cai_fmt_round2(5.596492936974361, b, sizeof b), assert_string_equal(b, "5.6");
    cai_fmt_round2(1506039734.242047, b, sizeof b), assert_string_equal(b, "1506039734.24");
    cai_fmt_round2(8601655680.0, b, sizeof b), assert_string_equal(b, "8601655680.0");
    cai_fmt_round2(1384664216.5951405, b, sizeof b), assert_string_equal(b, "1384664216.6");
    cai_fmt_round2(0.0, b, sizeof b), assert_string_equal(b, "0.0");
    cai_fmt_round2(NAN, b, sizeof b), assert_string_equal(b, "");
    cai_fmt_round2(0.125, b, sizeof b), assert_string_equal(b, "0.12"); /* exact tie: half to even */
    cai_fmt_round2(2.675, b, sizeof b), assert_string_equal(b, "2.67"); /* 2.675 is 2.67499999... in binary */
    cai_fmt_round2(-3.14159, b, sizeof b), assert_string_equal(b, "-3.14");
    cai_fmt_pyfloat(12.6, b, sizeof b), assert_string_equal(b, "12.6");
    cai_fmt_pyfloat(41, b, sizeof b), assert_string_equal(b, "41.0");
    cai_fmt_pyfloat(1e16, b, sizeof b), assert_string_equal(b, "1e+16");
    cai_fmt_pyfloat(1.5e-5, b, sizeof b), assert_string_equal(b, "1.5e-05");
    cai_fmt_pyfloat(0.0001, b, sizeof b), assert_string_equal(b, "0.0001");
    cai_fmt_pyfloat(833750418240.0, b, sizeof b), assert_string_equal(b, "833750418240.0");
    cai_fmt_mmss(61.291, b, sizeof b), assert_string_equal(b, "01:01.291");
    cai_fmt_mmss(26.642, b, sizeof b), assert_string_equal(b, "00:26.642");
    cai_fmt_mmss(NAN, b, sizeof b), assert_string_equal(b, "");
}

static void test_folder_names(void **state) {
    (void)state;
    double v;
    long n;
    assert_int_equal(cai_stats_parse_partition_dir("result-partition-25MB", &v), 0), assert_true(v == 25);
    assert_int_equal(cai_stats_parse_partition_dir("result-partition-2.5MB", &v), 0), assert_true(v == 2.5);
    assert_int_equal(cai_stats_parse_partition_dir("result-partition-MB", &v), -1);
    assert_int_equal(cai_stats_parse_partition_dir("result-partition-25GB", &v), -1);
    assert_int_equal(cai_stats_parse_partition_dir("partition-25MB", &v), -1);
    assert_int_equal(cai_stats_parse_data_dir("1GB", &v), 0), assert_true(v == 1);
    assert_int_equal(cai_stats_parse_data_dir("12.6GB", &v), 0), assert_true(v == 12.6);
    assert_int_equal(cai_stats_parse_data_dir("total", &v), 0), assert_true(v == 12.6);
    assert_int_equal(cai_stats_parse_data_dir("total256GB", &v), 0), assert_true(v == 256);
    assert_int_equal(cai_stats_parse_data_dir("totalGB", &v), -1);
    assert_int_equal(cai_stats_parse_data_dir("Batches", &v), -1);
    assert_int_equal(cai_stats_parse_data_dir("1TB", &v), -1);
    assert_int_equal(cai_stats_parse_run_dir("3", &n), 0), assert_int_equal(n, 3);
    assert_int_equal(cai_stats_parse_run_dir("run 1", &n), 0), assert_int_equal(n, 1);
    assert_int_equal(cai_stats_parse_run_dir("run_2", &n), 0), assert_int_equal(n, 2);
    assert_int_equal(cai_stats_parse_run_dir("run3", &n), 0), assert_int_equal(n, 3);
    assert_int_equal(cai_stats_parse_run_dir("demo", &n), -1);
    assert_int_equal(cai_stats_parse_run_dir("run", &n), -1);
    assert_int_equal(cai_stats_parse_run_dir("1a", &n), -1);
}

/* contracts.md: 25 MB / 1 GB / run 1 (41 ranks) → 5.6 s and 1,506,039,734.24 bps. */
static void test_aggregate_real_seed_run(void **state) {
    (void)state;
    char p[1024];
    snprintf(p, sizeof p, "%s/seed-results/result-partition-25MB/1GB/1/combined_data.json", fixtures());
    char *text;
    size_t len;
    cai_err e = {0};
    assert_int_equal(cai_read_file(p, &text, &len, &e), CAI_OK); /* ships in tests/fixtures */
    cai_run_row r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cai_stats_aggregate_json(text, len, p, &r, &e), CAI_OK);
    free(text);
    assert_int_equal(r.ranks, 41);
    assert_int_equal(r.batch_size, 512);
    char b[64];
    cai_fmt_round2(r.cpu_time_iqr_mean, b, sizeof b), assert_string_equal(b, "5.6");
    cai_fmt_round2(r.throughput_sum, b, sizeof b), assert_string_equal(b, "1506039734.24");
    cai_fmt_round2(r.cpu_memory_sum, b, sizeof b), assert_string_equal(b, "732451.57");
    cai_fmt_round2(r.total_bits, b, sizeof b), assert_string_equal(b, "8601655680.0");
    assert_true(r.s3_total_time == 0);
    assert_true(isnan(r.s3_avg_time));
    assert_false(r.rank_seconds_are_wall);
    assert_null(r.duration_source); /* the seed recorded no times */
    free(r.rank_seconds);
}

static int agg(const char *json, cai_run_row *r, cai_err *e) {
    memset(r, 0, sizeof *r);
    int rc = cai_stats_aggregate_json(json, strlen(json), "x/combined_data.json", r, e);
    if (!rc) free(r->rank_seconds), r->rank_seconds = NULL;
    return rc;
}

#define REC(t, bs)                                                                                                     \
    "{\"total_cpu_time (seconds)\":" #t ",\"total_cpu_memory (MB)\":10,\"throughput_bps\":100,\"batch_size\":" #bs     \
    ",\"data_path\":\"25MB/1.pt\"}"

static void test_aggregate_bad_input(void **state) {
    (void)state;
    cai_run_row r;
    cai_err e = {0};
    assert_int_equal(agg("[{\"total_cpu_time (seconds)\": 1,", &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "x/combined_data.json: malformed JSON"));
    assert_int_equal(agg("{\"a\":1}", &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "expected a JSON array"));
    assert_int_equal(agg("[]", &r, &e), CAI_EINCOMPLETE);
    assert_non_null(strstr(e.msg, "empty run"));
    assert_int_equal(agg("[" REC(1, 512) ",{\"total_cpu_memory (MB)\":1,\"throughput_bps\":1}]", &r, &e), CAI_EKEY);
    assert_non_null(strstr(e.msg, "record 1: missing field \"total_cpu_time (seconds)\""));
    assert_int_equal(
        agg("[{\"total_cpu_time (seconds)\":\"5.5\",\"total_cpu_memory (MB)\":1,\"throughput_bps\":1}]", &r, &e),
        CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "expected a number"));
    assert_int_equal(agg("[" REC(1, 512) "," REC(2, 128) "]", &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "mixed batch sizes"));
    assert_int_equal(agg("[" REC(1, 512) ",7]", &r, &e), CAI_EFORMAT);
    assert_non_null(strstr(e.msg, "record 1: expected an object"));
    /* Only ranks without data: an empty run too. */
    assert_int_equal(agg("[{\"data_path\":null}]", &r, &e), CAI_EINCOMPLETE);
}

static void test_aggregate_cai_records(void **state) {
    (void)state;
    /* Two ranks with data and timestamps, one rank without data (not counted), s3 fields on one rank. */
    const char *j =
        "[{\"total_cpu_time (seconds)\":2,\"total_cpu_memory (MB)\":100,\"throughput_bps\":1000,\"batch_size\":256,"
        "\"data_path\":\"p/1.pt\",\"galaxies\":1278,\"start_unix\":1000.0,\"end_unix\":1003.5,\"wall_seconds\":3.5,"
        "\"s3_total_time\":0.5,\"s3_avg_time\":0.25,\"s3_min_time\":0.2,\"s3_max_time\":0.3},"
        "{\"total_cpu_time (seconds)\":4,\"total_cpu_memory (MB)\":200,\"throughput_bps\":3000,\"batch_size\":256,"
        "\"data_path\":[\"p/2.pt\",\"p/3.pt\"],\"galaxies\":2556,\"start_unix\":1000.5,\"end_unix\":1005.0},"
        "{\"data_path\":null,\"galaxies\":0}]";
    cai_run_row r;
    memset(&r, 0, sizeof r);
    cai_err e = {0};
    assert_int_equal(cai_stats_aggregate_json(j, strlen(j), "c.json", &r, &e), CAI_OK);
    assert_int_equal(r.ranks, 2);
    assert_int_equal(r.empty_ranks, 1);
    assert_int_equal(r.world_size, 3);
    assert_true(r.cpu_time_iqr_mean == 3);
    assert_true(r.cpu_memory_sum == 300);
    assert_true(r.throughput_sum == 4000);
    assert_true(r.total_bits == 2 * 1000 + 4 * 3000);
    assert_true(r.s3_total_time == 0.5);
    assert_true(r.s3_avg_time == 0.25); /* mean over records that have it */
    assert_true(r.galaxies == 3834);
    assert_true(r.rank_seconds_are_wall);
    assert_true(r.rank_seconds[0] == 3.5 && r.rank_seconds[1] == 4.5);
    assert_non_null(r.duration_source);
    assert_true(fabs(r.duration_s - 5.0) < 1e-9); /* first start 1000.0 to last end 1005.0 */
    free(r.rank_seconds);
}

/* Records as the worker writes them (through the rank record's one writer): a partial rank counts, a failed
 * one does not, the seed's fields and CAI's timings are read back. */
static void test_aggregate_written_records(void **state) {
    (void)state;
    cJSON *arr = cJSON_CreateArray(), *rp = cJSON_CreateString("r/1");
    cJSON *dp[3] = {cJSON_CreateString("p/1.pt"), cJSON_CreateString("p/2.pt"), cJSON_CreateString("p/3.pt")};
    const cai_rank_status st[3] = {CAI_RANK_OK, CAI_RANK_PARTIAL, CAI_RANK_FAILED};
    for (int i = 0; i < 3; i++) {
        cai_rank_record w = {.total_cpu_time = 2.0 * (i + 1),
                             .total_cpu_memory_mb = 100,
                             .num_batches = 4,
                             .batch_size = 32,
                             .device = "cpu",
                             .throughput_bps = 1000,
                             .result_path = rp,
                             .data_path = dp[i],
                             .rank = i,
                             .world_size = 3,
                             .status = st[i],
                             .galaxies = 100,
                             .input_bits = 2000 * (i + 1),
                             .throughput_bps_wall = 500,
                             .wall_seconds = 3,
                             .start_unix = 1000 + i,
                             .end_unix = 1003 + i,
                             .precision = "fp32",
                             .tta = 1};
        cJSON_AddItemToArray(arr, cai_rank_record_json(&w));
    }
    cai_run_row r;
    memset(&r, 0, sizeof r);
    cai_err e = {0};
    assert_int_equal(cai_stats_aggregate(arr, "c.json", &r, &e), CAI_OK);
    assert_int_equal(r.ranks, 2);
    assert_int_equal(r.failed_ranks, 1);
    assert_int_equal(r.partial_ranks, 1);
    assert_int_equal(r.batch_size, 32);
    assert_true(r.cpu_memory_sum == 200);
    assert_true(r.total_bits == 2 * 1000 + 4 * 1000);
    assert_true(r.galaxies == 200);
    assert_true(r.rank_seconds_are_wall && r.rank_seconds[0] == 3 && r.rank_seconds[1] == 3);
    assert_true(fabs(r.duration_s - 4.0) < 1e-9); /* 1000 to 1004: the failed rank's times are not a measurement */
    free(r.rank_seconds);
    cJSON_Delete(arr);
    cJSON_Delete(rp);
    for (int i = 0; i < 3; i++) cJSON_Delete(dp[i]);
}

/* The seed's field meaning: total_bits = Σ throughput_bps × total_cpu_time for current CAI records exactly as
 * for seed records (throughput_bps is bits per CPU second); only pre-change CAI records (input_bits without
 * throughput_bps_wall, throughput per wall second) fall back to input_bits. */
static void test_total_bits_seed_meaning(void **state) {
    (void)state;
    const char *j =
        "[{\"total_cpu_time (seconds)\":4,\"total_cpu_memory (MB)\":1,\"throughput_bps\":2500,\"batch_size\":8,"
        "\"data_path\":\"p/1.pt\",\"input_bits\":10000,\"throughput_bps_wall\":5000,\"wall_seconds\":2},"
        "{\"total_cpu_time (seconds)\":2,\"total_cpu_memory (MB)\":1,\"throughput_bps\":1000,\"batch_size\":8,"
        "\"data_path\":\"p/2.pt\"},"
        "{\"total_cpu_time (seconds)\":2,\"total_cpu_memory (MB)\":1,\"throughput_bps\":700,\"batch_size\":8,"
        "\"data_path\":\"p/3.pt\",\"input_bits\":3000,\"wall_seconds\":4.2857}]";
    cai_run_row r;
    memset(&r, 0, sizeof r);
    cai_err e = {0};
    assert_int_equal(cai_stats_aggregate_json(j, strlen(j), "c.json", &r, &e), CAI_OK);
    /* new CAI record: 2500 × 4 = 10000 = its input_bits; seed record: 1000 × 2; legacy record: input_bits */
    assert_true(r.total_bits == 10000 + 2000 + 3000);
    free(r.rank_seconds);
}

/* A results tree with one good run per kind and one bad run folder of each kind. */
static void test_scan_tree_bad_runs_do_not_spoil(void **state) {
    (void)state;
    char dir[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "stats"), 0);
    const char *good = "[" REC(5, 512) "," REC(6, 512) "," REC(7, 512) "]";
    write_file(dir, "result-partition-25MB/1GB/1/combined_data.json", good);
    write_file(dir, "result-partition-25MB/1GB/run 2/combined_data.json", "[" REC(7, 512) "]");
    write_file(dir, "result-partition-25MB/1GB/3/combined_data.json", "[{\"total_cpu_time"); /* malformed */
    write_file(dir, "result-partition-25MB/1GB/4/combined_data.json", "[]");                 /* empty */
    write_file(dir, "result-partition-25MB/1GB/5/rank0.json", "{}");                         /* missing */
    write_file(dir, "result-partition-25MB/1GB/6/combined_data.json", "[" REC(1, 512) "," REC(1, 64) "]");
    write_file(dir, "result-partition-25MB/1GB/demo/combined_data.json", good); /* unknown name */
    write_file(dir, "result-partition-25MB/weird/1/combined_data.json", good);  /* unknown data */
    write_file(dir, "result-partition-25MB/total/1/combined_data.json", good);
    write_file(dir, "result-partition-25MB/1GB/Batches/64/run_1/combined_data.json", "[" REC(8, 64) "]");
    write_file(dir, "result-partition-25MB/1GB/Batches/64/2/combined_data.json", "[" REC(8, 128) "]"); /* wrong */
    write_file(dir, "result-partition-25MB/1GB/Batches/big/1/combined_data.json", good);
    write_file(dir, "notes/readme.txt", "x");
    write_file(dir, "result-partition-25MB/4GB/combined_data.json", good);         /* no run folder */
    write_file(dir, "result-partition-25MB/total/run_1/combined_data.json", good); /* run 1 twice */
    /* A CAI run with a summary.json that records the run's wall time. */
    write_file(dir, "result-partition-50MB/2GB/1/combined_data.json",
               "[{\"total_cpu_time (seconds)\":3,\"total_cpu_memory (MB)\":1,\"throughput_bps\":1,\"batch_size\":512,"
               "\"data_path\":\"50MB/1.pt\",\"start_unix\":10,\"end_unix\":13}]");
    write_file(dir, "result-partition-50MB/2GB/1/summary.json", "{\"wall_seconds\": 12.5, \"ranks\": 4}");
    /* summary.json with wall_seconds 0 (no rank recorded times): the ranks' own times are used. */
    write_file(dir, "result-partition-50MB/2GB/2/combined_data.json",
               "[{\"total_cpu_time (seconds)\":3,\"total_cpu_memory (MB)\":1,\"throughput_bps\":1,\"batch_size\":512,"
               "\"data_path\":\"50MB/1.pt\",\"start_unix\":10,\"end_unix\":14.25,\"status\":\"ok\"},"
               "{\"total_cpu_time (seconds)\":1,\"total_cpu_memory (MB)\":1,\"throughput_bps\":1,\"batch_size\":512,"
               "\"data_path\":\"50MB/2.pt\",\"status\":\"failed\"}]");
    write_file(dir, "result-partition-50MB/2GB/2/summary.json", "{\"wall_seconds\": 0}");

    char *wbuf = NULL;
    size_t wlen = 0;
    FILE *w = open_memstream(&wbuf, &wlen);
    cai_stats_set set = {0};
    cai_err e = {0};
    assert_int_equal(cai_stats_scan(dir, &set, w, &e), CAI_OK);
    fclose(w);
    assert_int_equal(set.n, 7); /* 25/1GB/1, 25/1GB/run 2, 25/total/1 + run_1, 50/2GB/1-2, Batches/64/run_1 */
    assert_int_equal(set.warnings, 11);
    const char *expect[] = {"1GB/3/combined_data.json: malformed JSON",
                            "1GB/4/combined_data.json: empty run",
                            "1GB/5/combined_data.json: missing",
                            "mixed batch sizes",
                            "unknown run folder name \"demo\"",
                            "unknown data-size folder name \"weird\"",
                            "batch_size 128 but the folder is Batches/64",
                            "Batches/big: unknown batch folder",
                            "note: ",
                            "ignored 1 folder(s) not named result-partition-<P>MB: notes",
                            "2GB/2/combined_data.json: 1 rank(s) failed (left out of the row)",
                            "4GB/combined_data.json: combined_data.json directly under the data-size folder",
                            "are both run 1 of the same experiment"};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        if (!strstr(wbuf, expect[i])) fail_msg("warning missing: %s\nwarnings:\n%s", expect[i], wbuf);
    }
    free(wbuf);

    assert_int_equal(cai_stats_write(&set, dir, NULL, &e), CAI_OK);
    char *rs = read_all(dir, "result_stats.csv");
    assert_non_null(rs);
    assert_non_null(strstr(rs, "25,1.0,1,6.0,30.0,300.0,1800.0,0.0,,,\n"));
    assert_non_null(strstr(rs, "25,1.0,2,7.0,10.0,100.0,700.0,0.0,,,\n"));
    assert_non_null(strstr(rs, "25,1.0,mean,6.5,20.0,200.0,1250.0,0.0,,,\n"));
    assert_non_null(strstr(rs, "25,12.6,1,6.0,"));
    assert_non_null(strstr(rs, "50,2.0,mean,3.0,"));
    free(rs);
    char *bv = read_all(dir, "batch_varying_results.csv");
    assert_non_null(bv);
    assert_string_equal(bv,
                        "batch_size,run,total_cpu_time (seconds),total_cpu_memory (MB),throughput_bps,total_bits\n"
                        "64,1,8.0,10.0,100.0,800.0\n64,mean,8.0,10.0,100.0,800.0\n");
    free(bv);
    char *te = read_all(dir, "total_execution_time.csv");
    assert_non_null(te);
    assert_non_null(strstr(te, "partition(MB),data(GB),run,num_worlds,duration,duration_s,duration_source\n"));
    assert_non_null(strstr(te, "25,1.0,1,3.0,,,not recorded"));
    assert_non_null(strstr(te, "50,2.0,1,4.0,00:12.500,12.500,summary.json (first rank start to last rank end)\n"));
    assert_non_null(strstr(te, "50,2.0,2,2.0,00:04.250,4.250,rank start/end (map stage)\n"));
    free(te);
    char *rd = read_all(dir, "rank_durations.csv");
    assert_non_null(rd);
    assert_non_null(strstr(rd, "50,2.0,512,1,0,3.000000,wall\n"));
    free(rd);
    cai_stats_free(&set);
    rm_rf(dir);
}

static void test_scan_root_errors(void **state) {
    (void)state;
    cai_stats_set set = {0};
    cai_err e = {0};
    assert_int_equal(cai_stats_scan("/nonexistent/cai-results", &set, NULL, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "/nonexistent/cai-results"));
    char dir[CAI_TEST_DIR_MAX];
    assert_int_equal(cai_test_mkdtemp(dir, sizeof dir, "stats"), 0);
    assert_int_equal(cai_stats_scan(dir, &set, NULL, &e), CAI_ENOTFOUND);
    assert_non_null(strstr(e.msg, "no result-partition-<P>MB folders"));
    /* The root may itself be one partition folder. */
    write_file(dir, "result-partition-75MB/4GB/2/combined_data.json", "[" REC(9, 512) "]");
    char sub[256];
    snprintf(sub, sizeof sub, "%s/result-partition-75MB/", dir);
    assert_int_equal(cai_stats_scan(sub, &set, NULL, &e), CAI_OK);
    assert_int_equal(set.n, 1);
    assert_true(set.rows[0].partition_mb == 75 && set.rows[0].data_gb == 4 && set.rows[0].run_num == 2);
    cai_stats_free(&set);
    rm_rf(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile_matches_numpy),
        cmocka_unit_test(test_aggregate_written_records),
        cmocka_unit_test(test_iqr_mean_drops_outliers),
        cmocka_unit_test(test_python_round_and_repr),
        cmocka_unit_test(test_folder_names),
        cmocka_unit_test(test_aggregate_real_seed_run),
        cmocka_unit_test(test_aggregate_bad_input),
        cmocka_unit_test(test_aggregate_cai_records),
        cmocka_unit_test(test_total_bits_seed_meaning),
        cmocka_unit_test(test_scan_tree_bad_runs_do_not_spoil),
        cmocka_unit_test(test_scan_root_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
