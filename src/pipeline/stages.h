/* stages.h — the three stages of a run, independent of where bytes live (cai_store) and of who launches
 * them (local engine, Lambda, MPI). Every engine calls exactly these.
 * Owns: the seed's JSON contracts (payload, job array, rank record, combined_data.json) and CAI's additions.
 * Must not touch: process management, networking details, the CLI. */
#ifndef CAI_STAGES_H
#define CAI_STAGES_H

#include <cJSON.h>

#include "../common/err.h"
#include "../model/model.h"
#include "../store/store.h"

/* Initialize: validate the payload (the seed's fields verbatim plus CAI's optional ones), list the
 * partitions under data_bucket/data_prefix (paginated; numeric order; manifest when present), split them
 * over world_size ranks exactly as the seed does, write <bucket>/payload.json (seed) and a per-run copy
 * plus the job list under <bucket>/<result_path>/. *jobs_out: the seed's job array (caller frees). */
int cai_initialize(cai_store *st, const char *payload_json, size_t len, cJSON **jobs_out, cai_err *err);
/* The same with the run's identity: run_id (NULL: the payload's "run_id", else a fresh one) goes into every
 * job item as CAI_RUN_ID and from there into every rank record; Summarize counts only records of that run.
 * A resumed run passes the id of the run it resumes. Initialize also removes the previous summary.json,
 * combined_data.json and catalog at result_path, and puts each partition's manifest entry (bytes, sha256,
 * id range) into its job (CAI_PARTITION_MANIFEST) for the worker to check. */
int cai_initialize_run(cai_store *st, const char *payload_json, size_t len, const char *run_id, cJSON **jobs_out,
                       cai_err *err);

typedef struct {
    const char *weights;      /* local path to weights; NULL: take it from the job/payload */
    const cai_model *model;   /* already-loaded model to reuse (warm Lambda, local pool); NULL: load */
    int threads;              /* 0: all cores */
    cai_precision precision;  /* for a model this worker loads: the job's CAI_PRECISION, else this ... */
    int precision_set;        /* ... unless set: then this (a command-line --precision overrides the payload) */
    double deadline_unix;     /* 0: none. Stop cleanly before it; report what is unfinished. */
    const char *calibration;  /* calib.json (local path or key in the bucket); NULL: the job's CAI_CALIBRATION */
    int tta;                  /* 8: test-time augmentation; 0: the job's CAI_TTA (default 1) */
    const char *engine;       /* the record's "engine" ("local", "aws", "slurm", "mpi", ...); NULL: not written */
    const cJSON *engine_info; /* an object whose members are copied into the record (scheduler ids); may be NULL */
} cai_worker_opts;

/* Worker: run one job item (an element of the job array). Writes <bucket>/<result_path>/<rank>.json and
 * the rank's predictions file; *record_out (may be NULL) gets the rank record. A rank with no data writes
 * an empty record and succeeds. */
int cai_worker_run(cai_store *st, const cJSON *job, const cai_worker_opts *o, cJSON **record_out, cai_err *err);

/* Summarize: read every <rank>.json under <bucket>/<result_path>/ (paginated; no cap), write
 * combined_data.json, predictions.fits, predictions.csv and summary.json; check completeness.
 * *summary_out (may be NULL) gets summary.json. */
int cai_summarize(cai_store *st, const char *bucket, const char *result_path, cJSON **summary_out, cai_err *err);

/* Summarize options; NULL or zeros: take them from the run's payload.json. */
typedef struct {
    const char *calibration; /* apply this calibration to the catalog (local path or key in the bucket) */
    int csv;                 /* 1: also write catalog.csv (with a provenance comment block) */
} cai_summarize_opts;
int cai_summarize_ex(cai_store *st, const char *bucket, const char *result_path, const cai_summarize_opts *o,
                     cJSON **summary_out, cai_err *err);

#endif
