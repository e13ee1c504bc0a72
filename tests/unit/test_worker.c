/* test_worker.c — cai_worker_run, one rank at a time, on a local store: the job items Initialize made over
 * synthetic partitions (with labels and ids, manifest counts), untrained weights. Checks the rank record
 * (seed fields and CAI's), the predictions file against a direct cai_predict of the same partition, the
 * empty rank, a partition that cannot be read (the rank fails, the record says which, the others are
 * untouched), and a job item with a bad field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/partition.h"
#include "data/synth.h"
#include "model/model.h"
#include "pipeline/record.h"
#include "pipeline/stages.h"
#include "store/store.h"
#include "tmpdir.h"

TMPDIR_GROUP("worker")

#define NG 10 /* galaxies: partitions of 4, 4, 2 */
#define PER 4

static cai_store *st;
static cai_model *model;
static char weights[CAI_TEST_DIR_MAX + 32];

/* Synth partitions into the store's data bucket, weights beside them, a job list from Initialize. */
static cJSON *make_jobs(int world_size) {
    cai_err e = {0};
    char pl[512];
    snprintf(pl, sizeof pl,
             "{\"bucket\":\"b\",\"file_limit\":3,\"world_size\":%d,\"batch_size\":3,\"result_path\":\"run/1\","
             "\"data_bucket\":\"data\",\"data_prefix\":\"p\"}",
             world_size);
    cJSON *jobs = NULL;
    assert_int_equal(cai_initialize(st, pl, strlen(pl), &jobs, &e), CAI_OK);
    assert_int_equal(cJSON_GetArraySize(jobs), world_size);
    return jobs;
}

static int group_setup(void **state) {
    if (setup(state)) return -1;
    cai_err e = {0};
    char data[CAI_TEST_DIR_MAX + 32];
    snprintf(data, sizeof data, "%s/data/p", dir);
    cai_synth_opts so = {
        .galaxies = NG, .seed = 5, .per_file = PER, .format = CAI_PART_SHARD, .outdir = data, .threads = 1};
    cai_synth_report sr;
    if (cai_synth_write(&so, &sr, &e) || sr.files != 3) return -1;
    snprintf(weights, sizeof weights, "%s/w.safetensors", dir);
    if (cai_weights_random(weights, "vit", 7, &e)) return -1;
    if (cai_model_load(weights, CAI_PREC_FP32, &model, &e)) return -1;
    return cai_store_open(dir, &st, &e) ? -1 : 0;
}

static int group_teardown(void **state) {
    cai_store_close(st);
    cai_model_free(model);
    return teardown(state);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_non_null(v);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_non_null(v);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

typedef struct {
    int n;
    int64_t partition[NG];
    int64_t index[NG], gid[NG];
    float pred[NG], label[NG];
} rows;

static int collect(const cai_pred_row *r, void *ctx) {
    rows *x = ctx;
    if (x->n >= NG) return -1;
    x->partition[x->n] = r->partition;
    x->index[x->n] = r->index;
    x->gid[x->n] = r->galaxy_id;
    x->pred[x->n] = r->prediction;
    x->label[x->n] = r->has_label ? r->label : NAN;
    x->n++;
    return 0;
}

/* Rank 0 of 2 takes partitions 1 and 2 (the seed's split: ceil(3/2)); rank 1 takes 3. */
static void test_ranks_write_record_and_predictions(void **state) {
    (void)state;
    cJSON *jobs = make_jobs(2);
    cai_worker_opts o = {.weights = weights, .model = model, .threads = 1, .precision = CAI_PREC_FP32};
    cai_err e = {0};
    cJSON *rec = NULL;
    assert_int_equal(cai_worker_run(st, cJSON_GetArrayItem(jobs, 0), &o, &rec, &e), CAI_OK);
    assert_non_null(rec);
    /* The seed's fields and CAI's. */
    assert_int_equal((int)num(rec, "rank"), 0);
    assert_int_equal((int)num(rec, "world_size"), 2);
    assert_string_equal(str(rec, "status"), "ok");
    assert_int_equal((int)num(rec, "galaxies"), 2 * PER);
    assert_int_equal((int)num(rec, "batch_size"), 3);
    assert_int_equal((int)num(rec, "num_batches"), 4); /* 4 galaxies in batches of 3: 2 per partition */
    assert_string_equal(str(rec, "device"), "cpu");
    assert_true(num(rec, "total_cpu_time (seconds)") >= 0);
    assert_true(num(rec, "wall_seconds") > 0);
    assert_int_equal((int)num(rec, "partitions_total"), 2);
    assert_int_equal((int)num(rec, "partitions_done"), 2);
    assert_int_equal((int)num(rec, "partitions_failed"), 0);
    assert_string_equal(str(rec, "precision"), "fp32");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(rec, "model");
    assert_string_equal(str(m, "variant"), "vit");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "untrained")));
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "error"));

    /* What was stored is what was returned, and it is the commit marker for resume. */
    char rkey[256], pkey[256];
    cai_record_key("run/1", 0, rkey, sizeof rkey);
    cai_predictions_key("run/1", 0, pkey, sizeof pkey);
    assert_string_equal(str(rec, "predictions"), pkey);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cai_store_get(st, "b", rkey, &buf, &len, &e), CAI_OK);
    cJSON *stored = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    assert_true(cJSON_Compare(stored, rec, 1));
    cJSON_Delete(stored);
    cai_job j;
    assert_int_equal(cai_job_parse(cJSON_GetArrayItem(jobs, 0), &j, &e), CAI_OK);
    assert_int_equal(cai_rank_done(st, &j, &e), CAI_OK);
    cai_job_free(&j);

    /* The predictions: partition order, then index order; each equals a direct forward pass. */
    assert_int_equal(cai_store_get(st, "b", pkey, &buf, &len, &e), CAI_OK);
    assert_int_equal((int)num(rec, "predictions_bytes"), (int)len);
    rows got = {0};
    assert_int_equal(cai_predictions_parse((const char *)buf, len, pkey, collect, &got, &e), CAI_OK);
    free(buf);
    assert_int_equal(got.n, 2 * PER);
    cai_session *s = cai_session_new(model, 3, 1, &e);
    assert_non_null(s);
    for (int part = 1; part <= 2; part++) {
        char path[CAI_TEST_DIR_MAX + 64];
        snprintf(path, sizeof path, "%s/data/p/%d.safetensors", dir, part);
        cai_partition p;
        assert_int_equal(cai_partition_open(path, &p, &e), CAI_OK);
        float want[PER];
        assert_int_equal(cai_predict(s, p.images, p.mags, p.mag_dtype, p.n, want, &e), CAI_OK);
        for (int g = 0; g < PER; g++) {
            int r = (part - 1) * PER + g;
            assert_int_equal(got.partition[r], part);
            assert_int_equal(got.index[r], g);
            assert_int_equal(got.gid[r], p.ids[g]);
            assert_true(got.pred[r] == want[g]); /* %.9g round-trips a float exactly */
            assert_true(got.label[r] == p.labels[g]);
        }
        cai_partition_close(&p);
    }
    cai_session_free(s);
    cJSON_Delete(rec);

    /* Rank 1: one partition of 2. */
    assert_int_equal(cai_worker_run(st, cJSON_GetArrayItem(jobs, 1), &o, &rec, &e), CAI_OK);
    assert_int_equal((int)num(rec, "galaxies"), NG - 2 * PER);
    cJSON_Delete(rec);
    cJSON_Delete(jobs);
}

/* More ranks than partitions: the extra rank has DATA_PATH null, writes an empty record, succeeds. */
static void test_empty_rank(void **state) {
    (void)state;
    cJSON *jobs = make_jobs(4);
    cai_worker_opts o = {.model = model, .threads = 1};
    cai_err e = {0};
    cJSON *rec = NULL;
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(jobs, 3), "DATA_PATH")));
    assert_int_equal(cai_worker_run(st, cJSON_GetArrayItem(jobs, 3), &o, &rec, &e), CAI_OK);
    assert_string_equal(str(rec, "status"), "empty");
    assert_int_equal((int)num(rec, "galaxies"), 0);
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "predictions"));
    cJSON_Delete(rec);
    cJSON_Delete(jobs);
}

/* A partition that is not one: the rank fails naming it, its record says "failed" with the error, and
 * no predictions file claims its galaxies. */
static void test_bad_partition_fails_rank(void **state) {
    (void)state;
    cai_err e = {0};
    assert_int_equal(cai_store_put(st, "data", "bad/1.safetensors", "not a shard", 11, &e), CAI_OK);
    const char *pl =
        "{\"bucket\":\"b\",\"file_limit\":1,\"batch_size\":3,\"result_path\":\"run/bad\","
        "\"data_bucket\":\"data\",\"data_prefix\":\"bad\"}";
    cJSON *jobs = NULL;
    assert_int_equal(cai_initialize(st, pl, strlen(pl), &jobs, &e), CAI_OK);
    cai_worker_opts o = {.model = model, .threads = 1};
    cJSON *rec = NULL;
    int rc = cai_worker_run(st, cJSON_GetArrayItem(jobs, 0), &o, &rec, &e);
    assert_int_not_equal(rc, CAI_OK);
    assert_non_null(strstr(e.msg, "1.safetensors"));
    assert_non_null(rec);
    assert_string_equal(str(rec, "status"), "failed");
    assert_int_equal((int)num(rec, "partitions_failed"), 1);
    assert_non_null(strstr(str(rec, "error"), "1.safetensors"));
    assert_null(cJSON_GetObjectItemCaseSensitive(rec, "predictions"));
    cJSON_Delete(rec);
    cJSON_Delete(jobs);
}

/* A job item with a bad field is refused before anything is written. */
static void test_bad_job_item(void **state) {
    (void)state;
    cJSON *jobs = make_jobs(1);
    cJSON *job = cJSON_Duplicate(cJSON_GetArrayItem(jobs, 0), 1);
    cJSON_ReplaceItemInObjectCaseSensitive(job, "RANK", cJSON_CreateString("minus one"));
    cai_worker_opts o = {.model = model, .threads = 1};
    cai_err e = {0};
    cJSON *rec = NULL;
    assert_int_not_equal(cai_worker_run(st, job, &o, &rec, &e), CAI_OK);
    assert_non_null(strstr(e.msg, "RANK"));
    assert_null(rec);
    cJSON_Delete(job);
    cJSON_Delete(jobs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranks_write_record_and_predictions),
        cmocka_unit_test(test_empty_rank),
        cmocka_unit_test(test_bad_partition_fails_rank),
        cmocka_unit_test(test_bad_job_item),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
