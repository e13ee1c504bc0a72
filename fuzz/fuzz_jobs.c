/* fuzz_jobs.c — libFuzzer target for the job-list reader (pipeline/initialize.c cai_jobs_parse) and the
 * job-item validator every worker runs on its item (pipeline/record.c cai_job_parse): any bytes either fail
 * with a message, or give job items whose every accepted field satisfies the documented invariants; and the
 * job item's writer (cai_job_json) agrees with its reader: what was read, written and read again is the same
 * job, and writing it again gives the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/initialize.h"
#include "pipeline/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    cJSON *jobs = NULL;
    cai_err err = {0};
    int rc = cai_jobs_parse(p, size, "fuzz/jobs.jsonl", &jobs, &err);
    if (rc != CAI_OK) {
        if (!err.msg[0] || jobs) abort();
        free(p);
        return 0;
    }
    if (!cJSON_IsArray(jobs)) abort();
    for (const cJSON *it = jobs->child; it; it = it->next) {
        if (!cJSON_IsObject(it)) abort();
        cai_job j;
        cai_err je = {0};
        if (cai_job_parse(it, &j, &je) != CAI_OK) {
            if (!je.msg[0]) abort();
            continue;
        }
        if (!j.bucket || !j.data_bucket || !j.result_path || !j.data_prefix) abort();
        if (j.rank < 0 || j.world_size < 1 || j.rank >= j.world_size || j.batch_size < 1) abort();
        if (j.nkeys && !j.keys) abort();
        for (size_t k = 0; k < j.nkeys; k++)
            if (!j.keys[k] || !j.keys[k][0]) abort();
        char key[2048];
        cai_record_key(j.result_path, j.rank, key, sizeof key);
        cai_predictions_key(j.result_path, j.rank, key, sizeof key);
        cJSON *w1 = cai_job_json(&j);
        if (!w1) abort();
        cai_job j2;
        if (cai_job_parse(w1, &j2, &je) != CAI_OK) abort();
        if (j2.rank != j.rank || j2.world_size != j.world_size || j2.batch_size != j.batch_size ||
            j2.nkeys != j.nkeys || j2.tta != j.tta || !j2.expected != !j.expected || !j2.pexp != !j.pexp)
            abort();
        for (size_t k = 0; k < j.nkeys; k++)
            if (strcmp(j.keys[k], j2.keys[k]) || (j.expected && j.expected[k] != j2.expected[k])) abort();
        cJSON *w2 = cai_job_json(&j2);
        char *a = cJSON_PrintUnformatted(w1), *b = w2 ? cJSON_PrintUnformatted(w2) : NULL;
        if (!a || !b || strcmp(a, b)) abort();
        free(a);
        free(b);
        cJSON_Delete(w2);
        cai_job_free(&j2);
        cJSON_Delete(w1);
        cai_job_free(&j);
    }
    cJSON_Delete(jobs);
    free(p);
    return 0;
}
