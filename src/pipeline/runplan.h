/* runplan.h — what every engine does before its map stage: the run's identity, its lock on result_path,
 * Initialize, and which ranks to run (resume checks). Owns: those decisions, so that the local, MPI, SLURM
 * and AWS engines cannot disagree about them. Must not touch: launching ranks, processes, progress output. */
#ifndef CAI_RUNPLAN_H
#define CAI_RUNPLAN_H

#include <cJSON.h>

#include "../common/err.h"
#include "../store/store.h"
#include "payload.h"
#include "runlock.h"

enum {
    CAI_RESUME_NO = 0,  /* run every rank (their old records are deleted first) */
    CAI_RESUME_STRICT,  /* --resume: skip done ranks; refuse if one was made from other weights/data/settings */
    CAI_RESUME_CHANGED, /* --resume=changed: skip done ranks, rerun exactly the changed ones */
};

typedef struct {
    char run_id[CAI_RUN_ID_MAX]; /* a resumed run keeps the id of the run it resumes */
    cai_run_lock lock;           /* held from cai_run_open until cai_run_close */
    cJSON *jobs;                 /* the job array Initialize wrote */
    cJSON **job_at;              /* job_at[r]: rank r's item (cJSON arrays are lists) */
    int nr;                      /* ranks */
    unsigned char *todo;         /* todo[r]: 1 = run rank r (set by cai_run_select) */
    int to_run, skipped, changed;
    char changed_msg[1100];      /* the first changed rank's reason */
} cai_run_plan;

/* Pick the run id (with resume: the id in the existing job list, so that run's records still count; else
 * the payload's "run_id"; else a fresh one), take the lock (CAI_EBUSY naming the holder; force breaks a
 * stale one) and run Initialize. On error nothing is held. */
int cai_run_open(cai_store *st, const cai_payload *p, const char *payload_json, size_t len, int resume, int force,
                 cai_run_plan *plan, cai_err *err);

/* Which ranks to run. Without resume, every rank, and the old record of each is deleted first, so a rank
 * that dies now cannot be mistaken for done. With resume, a done rank is kept only if it is this run's and
 * was made from the same inputs (x: weights sha256, precision, calibration; see cai_rank_check); with
 * CAI_RESUME_STRICT a changed one is refused by name (CAI_ECHANGED), with CAI_RESUME_CHANGED it is rerun. */
int cai_run_select(cai_store *st, cai_run_plan *plan, int resume, const char *weights_sha256, const char *precision,
                   const char *calibration_sha256, cai_err *err);

/* Release the lock (if still ours) and free the plan. */
void cai_run_close(cai_store *st, cai_run_plan *plan);

#endif
