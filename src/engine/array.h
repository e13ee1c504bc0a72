/* array.h — the shard-index contract every array-job engine shares: which line of jobs.jsonl a task runs.
 * Owns: reading the task index from the scheduler's environment (SLURM, AWS Batch, Kubernetes Indexed Jobs,
 * MPI), the index base, ranks per task, threads from SLURM_CPUS_PER_TASK and the scheduler ids a record
 * carries. Must not touch: what a rank does (pipeline/stages.h) or how tasks are submitted (slurm.c). */
#ifndef CAI_ENGINE_ARRAY_H
#define CAI_ENGINE_ARRAY_H

#include <cJSON.h>

#include "../common/err.h"

/* The variables `--index env` reads, first set wins, and the engine each one names. */
#define CAI_ARRAY_ENV_VARS "SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX, JOB_COMPLETION_INDEX, OMPI_COMM_WORLD_RANK, PMIX_RANK"

typedef struct {
    long long index;     /* the task index after subtracting the base (>= 0) */
    long long raw;       /* as given or as read from the environment */
    char var[40];        /* the variable it came from; "" when given on the command line */
    const char *engine;  /* "slurm", "aws-batch", "kubernetes", "mpi"; NULL when given on the command line */
} cai_array_index;

/* spec: a non-negative integer, or "env" (the first of CAI_ARRAY_ENV_VARS that is set). base: subtracted
 * from the value (SLURM arrays often start at 1). Errors say which variable held what. */
int cai_array_index_resolve(const char *spec, long long base, cai_array_index *out, cai_err *err);

/* Ranks [*first, *last) that task `index` runs when each task runs `per_task` consecutive ranks of a job
 * list of `nranks`. Error (naming the source of the index) when the task has no rank. */
int cai_array_ranks(const cai_array_index *ix, long long per_task, long long nranks, const char *jobs_name,
                    long long *first, long long *last, cai_err *err);

/* Threads per worker from SLURM_CPUS_PER_TASK (> 0), else 0. A malformed value is an error. */
int cai_array_threads_from_env(int *threads, cai_err *err);

/* The scheduler ids a rank record carries for `engine`: for "slurm" {"slurm": {"job_id", "array_job_id",
 * "array_task_id", "node"}} from SLURM_* variables; for "aws-batch" and "kubernetes" their job ids. Returns
 * an object (possibly empty; caller frees) or NULL on allocation failure. */
cJSON *cai_array_engine_info(const char *engine);

#endif
