/* runplan.c — the run's identity, lock, Initialize and rank selection, shared by every engine. */
#include "runplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "initialize.h"
#include "stages.h"

int cai_run_open(cai_store *st, const cai_payload *p, const char *payload_json, size_t len, int resume, int force,
                 cai_run_plan *plan, cai_err *err) {
    memset(plan, 0, sizeof *plan);
    if (resume) {
        cJSON *old = NULL;
        if (cai_jobs_read(st, p->bucket, p->result_path, &old, NULL) == CAI_OK && old && old->child) {
            const cJSON *ri = cJSON_GetObjectItemCaseSensitive(old->child, "CAI_RUN_ID");
            if (cJSON_IsString(ri)) snprintf(plan->run_id, sizeof plan->run_id, "%s", ri->valuestring);
        }
        cJSON_Delete(old);
    }
    if (!plan->run_id[0] && p->run_id) snprintf(plan->run_id, sizeof plan->run_id, "%s", p->run_id);
    if (!plan->run_id[0]) cai_run_id_new(plan->run_id);
    int rc = cai_run_lock_acquire(st, p->bucket, p->result_path, plan->run_id, force, &plan->lock, err);
    if (rc) return rc;
    if ((rc = cai_initialize_run(st, payload_json, len, plan->run_id, &plan->jobs, err))) goto fail;
    plan->nr = cJSON_GetArraySize(plan->jobs);
    size_t n = (size_t)(plan->nr ? plan->nr : 1);
    plan->job_at = calloc(n, sizeof *plan->job_at);
    plan->todo = calloc(n, 1);
    if (!plan->job_at || !plan->todo) {
        rc = cai_seterr(err, CAI_ENOMEM, "run plan: out of memory for %d ranks", plan->nr);
        goto fail;
    }
    int i = 0;
    for (cJSON *jb = plan->jobs->child; jb; jb = jb->next) plan->job_at[i++] = jb;
    return CAI_OK;
fail:
    cai_run_close(st, plan);
    return rc;
}

int cai_run_select(cai_store *st, cai_run_plan *plan, int resume, const char *weights_sha256, const char *precision,
                   const char *calibration_sha256, cai_err *err) {
    cai_rank_expect x = {plan->run_id, weights_sha256, precision, calibration_sha256, 1};
    plan->to_run = plan->skipped = plan->changed = 0;
    plan->changed_msg[0] = 0;
    for (int r = 0; r < plan->nr; r++) {
        cai_job j;
        int rc = cai_job_parse(plan->job_at[r], &j, err);
        if (rc) return rc;
        cai_err de = {0};
        int crc = resume ? cai_rank_check(st, &j, &x, &de) : CAI_ENOTFOUND;
        if (crc == CAI_OK) {
            plan->todo[r] = 0;
            plan->skipped++;
        } else {
            if (crc == CAI_ECHANGED && plan->changed++ == 0)
                snprintf(plan->changed_msg, sizeof plan->changed_msg, "%s", de.msg);
            if (resume != CAI_RESUME_STRICT || crc != CAI_ECHANGED) {
                char key[2048];
                cai_record_key(j.result_path, j.rank, key, sizeof key);
                cai_store_delete(st, j.bucket, key, NULL);
            }
            plan->todo[r] = 1;
            plan->to_run++;
        }
        cai_job_free(&j);
    }
    if (plan->changed && resume == CAI_RESUME_STRICT)
        return cai_seterr(err, CAI_ECHANGED,
                          "--resume: %d done rank(s) were made from other inputs, e.g. %s; rerun with --resume=changed "
                          "to redo exactly those ranks, or without --resume to start over",
                          plan->changed, plan->changed_msg);
    return CAI_OK;
}

void cai_run_close(cai_store *st, cai_run_plan *plan) {
    if (st) cai_run_lock_release(st, &plan->lock);
    cJSON_Delete(plan->jobs);
    free(plan->job_at);
    free(plan->todo);
    memset(plan, 0, sizeof *plan);
}
