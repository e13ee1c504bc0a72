/* test_summarize.c — Summarize over hand-made rank records and predictions files: rank order, the merged
 * catalog (read back with cfitsio), metrics, and the completeness check (missing rank, duplicated
 * partition, miscounted rows, stale record). The records are built through the one writer (rank_record.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/rank_record.h"
#include "pipeline/record.h"
#include "pipeline/stages.h"
#include "store/store.h"
#include "tmpdir.h"

#define NR 12 /* more than 10, so lexicographic order (0, 1, 10, 11, 2...) would show */
#define G 3   /* galaxies per partition */

static char root[CAI_TEST_DIR_MAX];
static cai_store *st;

static int setup(void **state) {
    (void)state;
    if (cai_test_mkdtemp(root, sizeof root, "sum")) return -1;
    cai_err e = {0};
    if (cai_store_open(root, &st, &e)) return -1;
    for (int i = 1; i <= NR; i++) {
        char k[64];
        snprintf(k, sizeof k, "p/%d.pt", i);
        if (cai_store_put(st, "data", k, "x", 1, &e)) return -1;
    }
    char pl[512];
    snprintf(pl, sizeof pl,
             "{\"bucket\":\"b\",\"file_limit\":%d,\"batch_size\":4,\"result_path\":\"run/1\","
             "\"data_bucket\":\"data\",\"data_prefix\":\"p\",\"run_id\":\"t1\"}",
             NR);
    cJSON *jobs = NULL;
    if (cai_initialize(st, pl, strlen(pl), &jobs, &e)) return -1;
    cJSON_Delete(jobs);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    cai_store_close(st);
    return cai_test_rmtree(root);
}

/* How a test's rank record differs from write_rank's. */
typedef struct {
    const char *run_id;    /* NULL: "t1" */
    const char *data_path; /* NULL: the partition's key */
    int set_galaxies;      /* the record (and its partition) say `galaxies` rather than G */
    int64_t galaxies;
    const char *csv; /* the predictions file; NULL: `rows` rows of partition `partno` */
} rank_opts;

/* Rank r handles partition r+1 with G galaxies; prediction = z + 0.01·index. `rows` rows are written;
 * `partno` is the partition it claims. The record goes through the one writer (rank_record.h). */
static void write_rank_o(int r, int partno, int rows, const rank_opts *o) {
    static const rank_opts none = {0};
    if (!o) o = &none;
    char csv[1024] = CAI_PRED_HEADER;
    for (int i = 0; i < rows; i++) {
        char line[128];
        float z = 0.1f * (float)(r + 1);
        snprintf(line, sizeof line, ",%d,%d,%.9g,%.9g\n", partno, i, (double)(z + 0.01f * (float)i), (double)z);
        strcat(csv, line);
    }
    if (o->csv) snprintf(csv, sizeof csv, "%s", o->csv);
    char pkey[256], rkey[256], part_key[64], dkey[64];
    cai_predictions_key("run/1", r, pkey, sizeof pkey);
    cai_record_key("run/1", r, rkey, sizeof rkey);
    snprintf(part_key, sizeof part_key, "p/%d.pt", partno);
    snprintf(dkey, sizeof dkey, "p/%d.pt", r + 1);
    cai_err e = {0};
    assert_int_equal(cai_store_put(st, "b", pkey, csv, strlen(csv), &e), CAI_OK);
    int64_t g = o->set_galaxies ? o->galaxies : G;
    cJSON *rp = cJSON_CreateString("run/1"), *dp = cJSON_CreateString(o->data_path ? o->data_path : dkey);
    cai_rank_part part = {.key = part_key,
                          .fetched = 1,
                          .partition = partno,
                          .status = CAI_PART_OK,
                          .galaxies = g,
                          .num_batches = 1,
                          .format = "pt"};
    cai_rank_record rec = {.total_cpu_time = 1.5,
                           .total_cpu_memory_mb = 100,
                           .num_batches = 1,
                           .batch_size = 4,
                           .device = "cpu",
                           .result_path = rp,
                           .data_path = dp,
                           .rank = r,
                           .world_size = NR,
                           .status = CAI_RANK_OK,
                           .galaxies = g,
                           .start_unix = 1000 + r,
                           .end_unix = 1010 + r,
                           .precision = "fp32",
                           .tta = 1,
                           .model_variant = "vitae",
                           .weights_sha256 = "abc",
                           .untrained = 1,
                           .partitions_total = 1,
                           .partitions_done = 1,
                           .parts = &part,
                           .nparts = 1,
                           .run_id = o->run_id ? o->run_id : "t1",
                           .predictions = pkey,
                           .predictions_bytes = (int64_t)strlen(csv)};
    cJSON *j = cai_rank_record_json(&rec);
    assert_non_null(j);
    char *txt = cJSON_Print(j);
    assert_int_equal(cai_store_put(st, "b", rkey, txt, strlen(txt), &e), CAI_OK);
    free(txt);
    cJSON_Delete(j);
    cJSON_Delete(rp);
    cJSON_Delete(dp);
}

static void write_rank(int r, int partno, int rows) { write_rank_o(r, partno, rows, NULL); }

static void test_complete_run(void **state) {
    (void)state;
    for (int r = NR - 1; r >= 0; r--) write_rank(r, r + 1, G);
    cJSON *sum = NULL;
    cai_err e = {0};
    int rc = cai_summarize(st, "b", "run/1", &sum, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sum, "complete")));
    assert_int_equal(cJSON_GetObjectItem(sum, "galaxies")->valueint, NR * G);
    assert_int_equal(cJSON_GetObjectItem(sum, "catalog_rows")->valueint, NR * G);
    assert_float_equal(cJSON_GetObjectItem(sum, "wall_seconds")->valuedouble, 1010 + NR - 1 - 1000, 1e-9);
    assert_string_equal(cJSON_GetObjectItem(sum, "run_id")->valuestring, "t1");
    cJSON *m = cJSON_GetObjectItem(sum, "metrics");
    assert_int_equal(cJSON_GetObjectItem(m, "n")->valueint, NR * G);
    /* errors are 0, .01, .02 per rank → MAE .01 */
    assert_float_equal(cJSON_GetObjectItem(m, "mae")->valuedouble, 0.01, 1e-6);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(sum, "model"), "untrained")));
    cJSON_Delete(sum);
    /* combined_data.json: every record, by numeric rank */
    uint8_t *raw;
    size_t n;
    assert_int_equal(cai_store_get(st, "b", "run/1/combined_data.json", &raw, &n, &e), CAI_OK);
    cJSON *c = cJSON_ParseWithLength((char *)raw, n);
    free(raw);
    assert_int_equal(cJSON_GetArraySize(c), NR);
    for (int r = 0; r < NR; r++) assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(c, r), "rank")->valueint, r);
    cJSON_Delete(c);
    /* the FITS catalog reads back with cfitsio */
    char path[512];
    snprintf(path, sizeof path, "%s/b/run/1/predictions.fits", root);
    fitsfile *f;
    int status = 0, ncols = 0, hdutype;
    long nrows = 0;
    assert_int_equal(fits_open_file(&f, path, READONLY, &status), 0);
    assert_int_equal(fits_movabs_hdu(f, 2, &hdutype, &status), 0);
    assert_int_equal(hdutype, BINARY_TBL);
    fits_get_num_rows(f, &nrows, &status);
    fits_get_num_cols(f, &ncols, &status);
    assert_int_equal(nrows, NR * G);
    assert_int_equal(ncols, 5);
    int col;
    fits_get_colnum(f, CASESEN, "Z_PRED", &col, &status);
    assert_int_equal(status, 0);
    float zp[NR * G], zt[NR * G];
    int anynul;
    fits_read_col(f, TFLOAT, col, 1, 1, NR * G, NULL, zp, &anynul, &status);
    fits_get_colnum(f, CASESEN, "Z_TRUE", &col, &status);
    fits_read_col(f, TFLOAT, col, 1, 1, NR * G, NULL, zt, &anynul, &status);
    assert_int_equal(status, 0);
    assert_float_equal(zp[0], 0.1f, 1e-7);
    assert_float_equal(zp[NR * G - 1], 0.1f * NR + 0.02f, 1e-6); /* last rank, index 2 */
    assert_float_equal(zt[NR * G - 1], 0.1f * NR, 1e-6);
    long long gid[2], nv = -42;
    fits_read_col(f, TLONGLONG, 1, 1, 1, 2, &nv, gid, &anynul, &status);
    assert_true(anynul); /* seed .pt: no ids → TNULL */
    assert_int_equal(gid[0], -42);
    char model[80];
    fits_read_key(f, TSTRING, "MODEL", model, NULL, &status);
    assert_string_equal(model, "vitae");
    int untrained = 0;
    fits_read_key(f, TLOGICAL, "UNTRAIN", &untrained, NULL, &status);
    assert_int_equal(untrained, 1);
    fits_close_file(f, &status);
    assert_int_equal(status, 0);
    /* the CSV catalog: header + one row per galaxy */
    assert_int_equal(cai_store_get(st, "b", "run/1/predictions.csv", &raw, &n, &e), CAI_OK);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += raw[i] == '\n';
    assert_int_equal(lines, NR * G + 1);
    free(raw);
}

static void test_missing_rank_is_incomplete(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++)
        if (r != 7) write_rank(r, r + 1, G);
    cJSON *sum = NULL;
    cai_err e = {0};
    assert_int_equal(cai_summarize(st, "b", "run/1", &sum, &e), CAI_EINCOMPLETE);
    assert_non_null(strstr(e.msg, "1 missing partition(s): p/8.pt"));
    assert_non_null(strstr(e.msg, "failed rank(s): 7"));
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sum, "complete")));
    assert_int_equal(cJSON_GetObjectItem(sum, "galaxies")->valueint, (NR - 1) * G);
    cJSON_Delete(sum);
    /* the outputs were still written, for inspection */
    assert_int_equal(cai_store_head(st, "b", "run/1/combined_data.json", NULL, &e), CAI_OK);
    assert_int_equal(cai_store_head(st, "b", "run/1/summary.json", NULL, &e), CAI_OK);
}

static void test_miscounted_rows_are_caught(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++) write_rank(r, r + 1, r == 3 ? G - 1 : G); /* rank 3 lost a row */
    cai_err e = {0};
    assert_int_equal(cai_summarize(st, "b", "run/1", NULL, &e), CAI_EINCOMPLETE);
    assert_non_null(strstr(e.msg, "p/4.pt"));
}

static void test_rows_for_another_partition_are_caught(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++) write_rank(r, r + 1, G);
    /* rank 5's predictions claim partition 2's number: rows do not match its record */
    char pkey[256];
    cai_predictions_key("run/1", 5, pkey, sizeof pkey);
    const char *csv = CAI_PRED_HEADER ",2,0,0.1,0.1\n,2,1,0.1,0.1\n,2,2,0.1,0.1\n";
    cai_err e = {0};
    assert_int_equal(cai_store_put(st, "b", pkey, csv, strlen(csv), &e), CAI_OK);
    cJSON *sum = NULL;
    assert_int_equal(cai_summarize(st, "b", "run/1", &sum, &e), CAI_EINCOMPLETE);
    assert_non_null(strstr(e.msg, "p/6.pt"));
    cJSON_Delete(sum);
}

static void test_stale_record_is_not_trusted(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++) write_rank(r, r + 1, G);
    /* rank 2's record is from another run (another DATA_PATH) */
    write_rank_o(2, 3, G, &(rank_opts){.data_path = "p/99.pt"});
    cai_err e = {0};
    assert_int_equal(cai_summarize(st, "b", "run/1", NULL, &e), CAI_EINCOMPLETE);
    assert_non_null(strstr(e.msg, "p/3.pt"));
}

static void test_malformed_predictions_file(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++) write_rank(r, r + 1, G);
    char pkey[256];
    cai_predictions_key("run/1", 0, pkey, sizeof pkey);
    cai_err e = {0};
    assert_int_equal(cai_store_put(st, "b", pkey, "garbage\n", 8, &e), CAI_OK);
    cJSON *sum = NULL;
    assert_int_equal(cai_summarize(st, "b", "run/1", &sum, &e), CAI_EINCOMPLETE);
    cJSON *failed = cJSON_GetObjectItem(sum, "failed_ranks");
    assert_int_equal(cJSON_GetArraySize(failed), 1);
    assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(failed, 0), "reason")->valuestring, "header"));
    cJSON_Delete(sum);
}

/* A record of another run (another run id) at this result_path is ignored, counted, and left out of
 * combined_data.json; its rank counts as missing. */
static void test_record_of_another_run_is_ignored(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++) write_rank(r, r + 1, G);
    write_rank_o(4, 5, G, &(rank_opts){.run_id = "another-run"});
    uint8_t *b;
    size_t l;
    cai_err e = {0};
    cJSON *sum = NULL;
    assert_int_equal(cai_summarize(st, "b", "run/1", &sum, &e), CAI_EINCOMPLETE);
    assert_non_null(strstr(e.msg, "p/5.pt"));
    assert_int_equal(cJSON_GetObjectItem(sum, "ignored_records")->valueint, 1);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sum, "complete")));
    cJSON_Delete(sum);
    assert_int_equal(cai_store_get(st, "b", "run/1/combined_data.json", &b, &l, &e), CAI_OK);
    cJSON *comb = cJSON_ParseWithLength((const char *)b, l);
    free(b);
    assert_int_equal(cJSON_GetArraySize(comb), NR - 1);
    cJSON_Delete(comb);
}

/* Records of ranks beyond the job list (an earlier run with a larger file_limit) are not in
 * combined_data.json: it holds exactly the job list's records. */
static void test_combined_holds_exactly_the_job_list(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++) write_rank(r, r + 1, G);
    for (int r = NR; r < NR + 3; r++) write_rank(r, 1, G); /* leftovers of a bigger run */
    cJSON *sum = NULL;
    cai_err e = {0};
    int rc = cai_summarize(st, "b", "run/1", &sum, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(cJSON_GetObjectItem(sum, "ignored_records")->valueint, 3);
    cJSON_Delete(sum);
    uint8_t *b;
    size_t l;
    assert_int_equal(cai_store_get(st, "b", "run/1/combined_data.json", &b, &l, &e), CAI_OK);
    cJSON *comb = cJSON_ParseWithLength((const char *)b, l);
    free(b);
    assert_int_equal(cJSON_GetArraySize(comb), NR);
    cJSON_Delete(comb);
}

/* Galaxy ids must be unique across the run: two partitions carrying the same ids (consistent counts, a
 * manifest made after the copy) are not a complete run. */
static void test_duplicate_galaxy_ids_are_caught(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++) write_rank(r, r + 1, G);
    for (int r = 2; r <= 3; r++) { /* ranks 2 and 3 both claim galaxy ids 100..102 */
        char csv[512] = CAI_PRED_HEADER;
        for (int i = 0; i < G; i++) {
            char line[96];
            snprintf(line, sizeof line, "%d,%d,%d,0.1,0.1\n", 100 + i, r + 1, i);
            strcat(csv, line);
        }
        write_rank_o(r, r + 1, G, &(rank_opts){.csv = csv}); /* the record's byte count stays honest */
    }
    cJSON *sum = NULL;
    cai_err e = {0};
    assert_int_equal(cai_summarize(st, "b", "run/1", &sum, &e), CAI_EINCOMPLETE);
    assert_int_equal(cJSON_GetObjectItem(sum, "duplicated_galaxy_ids")->valueint, G);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sum, "complete")));
    cJSON_Delete(sum);
}

/* A rank whose only partition has 0 galaxies completes: its predictions file is the header alone. */
static void test_empty_partition_completes(void **state) {
    (void)state;
    for (int r = 0; r < NR; r++)
        if (r == 6) write_rank_o(r, r + 1, 0, &(rank_opts){.set_galaxies = 1, .galaxies = 0});
        else write_rank(r, r + 1, G);
    cai_err e = {0};
    cJSON *sum = NULL;
    int rc = cai_summarize(st, "b", "run/1", &sum, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(sum, "complete")));
    assert_int_equal(cJSON_GetObjectItem(sum, "galaxies")->valueint, (NR - 1) * G);
    cJSON_Delete(sum);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_of_another_run_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_combined_holds_exactly_the_job_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_galaxy_ids_are_caught, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_partition_completes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_complete_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_rank_is_incomplete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_miscounted_rows_are_caught, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_for_another_partition_are_caught, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_record_is_not_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_predictions_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
