/* local.h — the local engine: a directory (or any cai_store) plus a pool of forked worker processes.
 * Runs Initialize, the ranks (the distributed map), then Summarize — the same stages and files as the AWS
 * and MPI engines. Owns: process management (fork, dispatch, crash detection, replacement), progress (reported
 * through common/diag.h: the caller shows it), the end-of-run numbers. Must not touch: what a stage does
 * (src/pipeline/), or stdout/stderr. */
#ifndef CAI_ENGINE_LOCAL_H
#define CAI_ENGINE_LOCAL_H

#include <cJSON.h>

#include "../common/err.h"
#include "../model/model.h"
#include "../pipeline/runplan.h" /* CAI_RESUME_* */

typedef struct {
    const char *payload_path; /* the run payload (JSON file) */
    const char *store_url;    /* NULL: the payload's "store", else "." */
    const char *weights;      /* NULL: the payload's "weights" */
    int workers;              /* 0: the payload's, else cores (capped at the ranks to run) */
    int threads;              /* 0: the payload's, else max(1, cores / workers) */
    int precision_set;        /* 1: use `precision`, overriding the payload */
    cai_precision precision;
    int resume;              /* CAI_RESUME_*: skip ranks whose record + predictions are complete and valid */
    int force;               /* take over the result_path lock of a run that is gone (after a crash) */
    int progress;            /* -1: a bar when stderr is a TTY; 0: plain lines; 1: bar */
    int quiet;               /* no per-rank lines */
    int rank_timeout_set;    /* 1: use rank_timeout for every rank; 0: the default from each rank's size */
    double rank_timeout;     /* seconds; 0 = no timeout (local.c explains the default) */
    const char *calibration; /* NULL: the payload's "calibration" (calib.json: path or key in the bucket) */
    int tta;                 /* 0: the payload's "tta"; 8: test-time augmentation */
    int csv;                 /* 1: also write catalog.csv (payload "catalog_csv") */
} cai_local_opts;

/* The outcome, for the report. */
typedef struct {
    int ranks, ranks_run, ranks_skipped, ranks_failed;
    long long galaxies;     /* predicted in the whole run (summary.json) */
    long long galaxies_run; /* predicted by the ranks this command ran */
    double wall_seconds;    /* this command, initialize to summarize */
    double map_seconds;     /* the ranks only */
    char weights_path[4096];
    char store_url[1024]; /* the store actually used */
    char run_id[64];      /* the run's identity (a resumed run keeps the id of the run it resumes) */
    int ranks_changed;    /* --resume=changed: done ranks rerun because their inputs changed */
    int untrained;
} cai_local_result;

/* Returns CAI_OK when every rank succeeded and Summarize found the run complete. Otherwise the error names
 * the failed ranks and why (exit status, signal or the rank's own error). *summary_out (may be NULL) gets
 * summary.json when Summarize ran. */
int cai_local_run(const cai_local_opts *o, cai_local_result *res, cJSON **summary_out, cai_err *err);

#endif
