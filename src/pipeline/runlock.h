/* runlock.h — a run's identity and its exclusive hold on <bucket>/<result_path>/.
 * Owns: run ids, the lock object `<result_path>/run.lock` (who holds it: run id, pid, host, start time) and
 * taking over a stale one (--force). Must not touch: what a run computes, process management (engines call
 * this around Initialize … Summarize).
 *
 * Why a lock object in the store rather than flock(2): the store may be S3, and the same protocol then
 * works for every engine — the local store creates it with link(2) (an O_EXCL create that also holds on
 * NFS), S3 with a conditional PUT (If-None-Match: *). Exactly one of two racing runs wins; the loser is
 * told who holds the result_path. */
#ifndef CAI_RUNLOCK_H
#define CAI_RUNLOCK_H

#include "../common/err.h"
#include "../store/store.h"

#define CAI_RUN_LOCK_NAME "run.lock"
#define CAI_RUN_ID_MAX 64

typedef struct {
    char run_id[CAI_RUN_ID_MAX];
    char bucket[256];
    char key[2100];
    int held;
} cai_run_lock;

/* A fresh run id: "<UTC yyyymmddThhmmssZ>-<pid>-<8 random hex>" (sorts by start time; unique). */
void cai_run_id_new(char out[CAI_RUN_ID_MAX]);

/* Take the lock for run_id. CAI_EBUSY when another run holds it; the message names the holder (run id, pid,
 * host, start time) and says whether that process is gone (same host, pid not running: a crash). With
 * force, a lock whose holder is gone — or cannot be checked from here (another host) — is broken and taken;
 * a holder still running on this host is never broken. */
int cai_run_lock_acquire(cai_store *st, const char *bucket, const char *result_path, const char *run_id, int force,
                         cai_run_lock *lk, cai_err *err);

/* Release the lock if it is still ours (a --force from elsewhere may have taken it). */
void cai_run_lock_release(cai_store *st, cai_run_lock *lk);

/* A run whose stages run in different processes (the stages by hand: `cai initialize --lock` … `cai summarize
 * --release-lock`; a batch system's submit … its Summarize job): the lock is held by the run, not by the
 * process that took it. `holder` says what holds it ("cai initialize", "slurm job 4242", …) for the refusal
 * message; the pid recorded is 0, so no liveness check applies: only force breaks such a lock. */
int cai_run_lock_acquire_detached(cai_store *st, const char *bucket, const char *result_path, const char *run_id,
                                  const char *holder, int force, cai_run_lock *lk, cai_err *err);

/* Release the lock on bucket/result_path if run run_id holds it (the detached run's Summarize). CAI_OK also when
 * there is no lock; CAI_EBUSY (naming the holder, lock left alone) when another run holds it. */
int cai_run_lock_release_run(cai_store *st, const char *bucket, const char *result_path, const char *run_id,
                             cai_err *err);
/* The same for the run of <result_path>/jobs.jsonl (its CAI_RUN_ID, copied to run_id_out when given): what a
 * detached run's Summarize calls. An error when there is no job list or it names no run. */
int cai_run_lock_release_jobs_run(cai_store *st, const char *bucket, const char *result_path, char *run_id_out,
                                  size_t run_id_cap, cai_err *err);

#endif
