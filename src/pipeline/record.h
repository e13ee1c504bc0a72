/* record.h — one job item read back (cai_job), the keys of a rank's outputs and the rule that decides
 * whether a rank is done (resume).
 * Owns: the names `<result_path>/<rank>.json` and `<result_path>/predictions/<rank>.csv` (the record's
 * layout is rank_record.h's, the predictions file's predictions.h's).
 * Must not touch: inference, process management.
 *
 * Predictions file (CSV, one galaxy per line, in partition order then index order): predictions.h.
 * The record is the commit marker: it is written after the predictions file, and names its byte size. */
#ifndef CAI_RECORD_H
#define CAI_RECORD_H

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/err.h"
#include "../store/store.h"
#include "predictions.h"

/* What the manifest says about one partition of a job (CAI_PARTITION_MANIFEST, parallel to DATA_PATH). The
 * worker checks the bytes against bytes/sha256 and every galaxy id against [id_first, id_last]. */
typedef struct {
    uint64_t bytes;
    char sha256[65]; /* "" when unknown */
    int has_ids;     /* 0 for an empty partition (id_first: null) */
    int64_t id_first, id_last;
} cai_part_expect;

typedef struct {
    const char *bucket;      /* S3_BUCKET */
    const char *data_bucket; /* DATA_BUCKET */
    char *data_prefix;       /* DATA_PREFIX without surrounding '/' */
    char *result_path;       /* RESULT_PATH without surrounding '/' */
    int64_t rank, world_size, batch_size;
    char **keys; /* DATA_PATH as a list (0, 1 or more keys) */
    size_t nkeys;
    int64_t *expected;       /* CAI_PARTITION_GALAXIES (per key) or NULL */
    const char *weights;     /* CAI_WEIGHTS or NULL */
    const char *precision;   /* CAI_PRECISION or NULL */
    const char *calibration; /* CAI_CALIBRATION or NULL */
    int tta;                 /* CAI_TTA (1 or 8; 1 when absent) */
    const char *run_id;      /* CAI_RUN_ID or NULL (a job list written before runs had ids) */
    cai_part_expect *pexp;   /* CAI_PARTITION_MANIFEST (per key) or NULL */
    const cJSON *data_path;  /* DATA_PATH as given (writer: NULL builds it from keys) */
    const cJSON *result_raw; /* RESULT_PATH as given */
    /* The seed's fields the worker does not use, as given (a string, a number or null; NULL: null) */
    const cJSON *s3_object_name, *script, *object_type; /* S3_OBJECT_NAME, SCRIPT, S3_OBJECT_TYPE */
    const cJSON *prefix_raw, *batch_raw;                /* DATA_PREFIX, BATCH_SIZE (int or numeric string) */
} cai_job;

/* The job item (an element of the seed's job array: docs/spec/contracts.md), one line of jobs.jsonl:
 *   {"S3_BUCKET", "S3_OBJECT_NAME", "SCRIPT", "S3_OBJECT_TYPE", "WORLD_SIZE": "4", "RANK": "1", "DATA_BUCKET",
 *    "DATA_PREFIX", "DATA_PATH": null | "k" | ["k1", "k2"], "RESULT_PATH", "BATCH_SIZE",
 *    CAI's extras, only when set: "CAI_WEIGHTS", "CAI_PRECISION", "CAI_CALIBRATION", "CAI_TTA" (8), then
 *    "CAI_RUN_ID", and with a manifest "CAI_PARTITION_MANIFEST": [{"bytes", "sha256", "id_first", "id_last"}],
 *    "CAI_EXPECTED_GALAXIES": total, "CAI_PARTITION_GALAXIES": [n per key]}
 * The seed's fields come first, in the seed's order and types (WORLD_SIZE and RANK are strings).
 *
 * The one writer: j's fields as a new job item (NULL when out of memory). Strings and cJSON pointers are
 * the caller's; keys/expected/pexp are read, never freed (cai_job_free is for cai_job_parse's result only). */
cJSON *cai_job_json(const cai_job *j);

/* The one reader: validate a job item and view it; strings point into `job`, which must outlive j. Errors
 * name the field ("job: field \"RANK\": expected ..."). */
int cai_job_parse(const cJSON *job, cai_job *j, cai_err *err);
void cai_job_free(cai_job *j);

/* The reader's tolerant corner, for naming a job item in a report when the item may not parse as a whole (a
 * Lambda's failed item, an MPI rank's hand-out): its RANK under the same rules as cai_job_parse, or -1 when
 * the item is not an object or RANK is missing or not a non-negative integer. */
int64_t cai_job_rank(const cJSON *job);

/* Keys of a rank's outputs, in `bucket`. */
void cai_record_key(const char *result_path, int64_t rank, char *out, size_t n);
void cai_predictions_key(const char *result_path, int64_t rank, char *out, size_t n);

/* Is this rank complete and valid? CAI_OK if its record exists, parses, has status "ok" or "empty", names
 * the same DATA_PATH as the job, and (when it has galaxies) its predictions file exists with the byte size
 * the record names. Otherwise CAI_ENOTFOUND / CAI_EINCOMPLETE with the reason in err. */
int cai_rank_done(cai_store *st, const cai_job *j, cai_err *err);

/* ---- A rank's identity: what its predictions depend on. Written into every record (by the record's one
 * writer, rank_record.h) and compared by --resume (cai_rank_check, through its one reader). Record fields:
 *   run_id               the run that wrote it (Summarize ignores records of other runs)
 *   model.weights_sha256 the weights file's sha256 (written by the worker with the model description)
 *   precision            "fp32" / "int8"
 *   calibration_sha256   the calibration file's sha256; "" when none
 *   partitions[].sha256  each partition's bytes as read */

typedef struct {
    const char *run_id;             /* NULL: any run */
    const char *weights_sha256;     /* NULL: not checked */
    const char *precision;          /* NULL: not checked */
    const char *calibration_sha256; /* NULL: not checked; "" = none */
    int hash_data;                  /* partitions the job has no manifest sha256 for: fetch and hash them */
} cai_rank_expect;

/* cai_rank_done, and then: the record is of run x->run_id, and was computed with the same weights,
 * precision, calibration and partition bytes (against the job's manifest sha256, or the data as it is now
 * with hash_data). CAI_OK: done and unchanged; CAI_ECHANGED: done but from other inputs (err names which);
 * anything else: not done (run it). */
int cai_rank_check(cai_store *st, const cai_job *j, const cai_rank_expect *x, cai_err *err);

#endif
