/* slurm.h — the SLURM engine: Initialize here, the Map as a job array (one task per rank, or per
 * --ranks-per-task ranks), Summarize as a job that depends on the array; and the run's status read back from
 * the store's records joined with what the scheduler still knows (`scontrol show job`).
 * Owns: the two sbatch scripts, calling sbatch/scontrol, <run>/slurm/ (scripts, task output, submit.json).
 * Must not touch: what a stage does (pipeline/), which line a task runs (array.h: `cai worker --index env`). */
#ifndef CAI_ENGINE_SLURM_H
#define CAI_ENGINE_SLURM_H

#include <stdio.h>

#include "../common/err.h"

#define CAI_SLURM_MAX_ARGS 32

typedef struct {
    const char *payload_path; /* submit: the run payload; NULL with resume_run */
    const char *resume_run;   /* --resume BUCKET/RESULT_PATH: resubmit only the ranks not complete */
    const char *store_url;    /* NULL: the payload's "store" (resume: submit.json's), else "." */
    const char *weights;      /* NULL: the payload's (resume: submit.json's) */
    const char *partition, *account, *time_limit, *mem; /* NULL: the cluster's defaults */
    int cpus_per_task;                                  /* 0: 1 */
    int ranks_per_task;                                 /* 0: 1 */
    int array_max;                                      /* the %N throttle; 0: none */
    const char *sbatch_args[CAI_SLURM_MAX_ARGS];        /* extra "#SBATCH" lines, verbatim */
    int nsbatch_args;
    const char *prologue[CAI_SLURM_MAX_ARGS]; /* shell lines run before cai in both jobs (module load ...) */
    int nprologue;
    const char *slurm_dir; /* where scripts and task output go; NULL: <store>/<bucket>/<result_path>/slurm
                              (a local store), required for S3 stores (a shared file system path) */
    const char *cai_path;  /* the cai the tasks run; NULL: this executable */
    int dry_run;           /* print the scripts and commands; submit nothing, run no Initialize */
    int force;             /* break a lock on result_path left by a run that is gone */
} cai_slurm_opts;

typedef struct {
    char array_job[64], summarize_job[64];
    int ranks, ranks_submitted, tasks;
    char slurm_dir[4096];
} cai_slurm_result;

/* Initialize (unless resuming), write the scripts, `sbatch --parsable` the array, then Summarize with
 * --dependency=afterany:<array> --kill-on-invalid-dep=yes; record both ids in <run>/slurm/submit.json.
 * out: where the dry-run scripts and the follow-up commands are printed. */
int cai_slurm_submit(const cai_slurm_opts *o, FILE *out, cai_slurm_result *res, cai_err *err);

/* Print per-rank state (complete / failed with the record's reason / missing) joined with the scheduler's
 * state of each task, the totals and the run's wall time from the records. *complete: 1 when every rank is. */
int cai_slurm_status(const char *store_url, const char *run, FILE *out, int *complete, cai_err *err);

#endif
