/* rank_record.h — the rank record `<result_path>/<rank>.json` (the seed's per-rank result, extended by CAI):
 * its typed form, its one writer (cai_rank_record_json) and its one reader (cai_rank_record_read).
 * Owns: the record's keys, their order, their types and number formatting. Must not touch: the store, the
 * model, or what a record means for a run (the worker fills it, Summarize/stats/cost/plan/engines read it).
 *
 * Layout (cJSON_Print of the writer's object; optional keys in [brackets]):
 *   the seed's fields, in the seed's order:
 *     "total_cpu_time (seconds)", "total_cpu_memory (MB)", "execution_time (seconds/batch)", "num_batches",
 *     "batch_size", "device", "throughput_bps", "sample_persec", "result_path", "data_path",
 *     [the seed's S3 timings "s3_num_requests" ... "s3_last_response_time" (S3 stores only)]
 *   CAI's fields:
 *     "rank", "world_size", "status", "galaxies", "input_bits", "throughput_bps_wall", "wall_seconds",
 *     "cpu_seconds", "peak_rss_mb", "start_unix", "end_unix", "start_iso", "end_iso",
 *     "stage_seconds": {"fetch", "fetch_wait", "decode", "infer", "write"}, "threads", ["engine"],
 *     [the engine's scheduler ids, e.g. "slurm": {...}, "mpi": {...}], "precision", "tta",
 *     ["calibration": {"source", "sha256"}], "model": {["variant"], ["weights_sha256", ["source"], "untrained"]},
 *     "partitions_total", "partitions_done", "partitions_failed", "partitions_unfinished",
 *     "partitions": [one object per DATA_PATH key, see cai_rank_part], ["run_id"], "calibration_sha256",
 *     ["predictions", "predictions_bytes"], ["error"]
 * Example (abridged): {"total_cpu_time (seconds)": 1.9, ..., "rank": 1, "world_size": 2, "status": "ok",
 *   "galaxies": 60, ..., "partitions": [{"key": "25MB/4.safetensors", "partition": 4, ...}], "run_id": "r1"}
 *
 * Why a struct and not cJSON lookups where a field is needed: the layout lived in the worker (about 60
 * cJSON_Add* calls) and again, by string key, in every reader; a key renamed in one place silently read as
 * "absent" in the others. The seed's stats script reads these files, so the bytes must not move. */
#ifndef CAI_RANK_RECORD_H
#define CAI_RANK_RECORD_H

#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* A rank's status. A seed record has none: the reader gives CAI_RANK_OK with has_status = 0. */
typedef enum {
    CAI_RANK_OK,         /* every partition done */
    CAI_RANK_EMPTY,      /* no partition (DATA_PATH null) */
    CAI_RANK_PARTIAL,    /* some done, some failed or unfinished */
    CAI_RANK_UNFINISHED, /* the deadline came before any was done, nothing failed */
    CAI_RANK_FAILED,     /* none done, at least one failed (or the outputs could not be written) */
    CAI_RANK_OTHER       /* reader only: a status this version does not know (status_name has it) */
} cai_rank_status;

const char *cai_rank_status_name(cai_rank_status s);

typedef enum { CAI_PART_OK, CAI_PART_ERROR, CAI_PART_UNFINISHED, CAI_PART_OTHER } cai_part_status;

/* One element of "partitions". Written keys: "key"; when fetched: "partition", "bytes", "fetch_seconds",
 * ["sha256" (the fetch succeeded)], "decode_seconds"; then "status"; when ok: "galaxies", "num_batches",
 * "infer_seconds", "format", "labels"; when error: ["error_code"], "error". */
typedef struct {
    const char *key;
    int fetched;       /* the partition/bytes/fetch_seconds/decode_seconds group is present */
    int64_t partition; /* -1: the name carries no number */
    double bytes;      /* byte size as fetched */
    double fetch_seconds, decode_seconds;
    const char *sha256; /* NULL: not fetched */
    cai_part_status status;
    const char *status_name;       /* reader: as written; writer: ignored */
    int64_t galaxies, num_batches; /* ok only (reader: -1 when absent) */
    double infer_seconds;
    const char *format; /* "shard", "pt", ... */
    int labels;
    const char *error_code; /* error only; NULL: not written */
    const char *error;
} cai_rank_part;

typedef struct {
    double fetch, fetch_wait, decode, infer, write;
} cai_stage_times;

/* Strings and cJSON pointers are views: into the caller's data for the writer, into the parsed object for
 * the reader (which must outlive the struct). Reader: a number that is absent is NAN (doubles) or -1
 * (counts); a string that is absent is NULL. */
typedef struct {
    /* the seed's fields */
    double total_cpu_time;           /* "total_cpu_time (seconds)" */
    double total_cpu_memory_mb;      /* "total_cpu_memory (MB)" */
    double execution_time_per_batch; /* "execution_time (seconds/batch)" */
    int64_t num_batches, batch_size;
    const char *device;
    double throughput_bps, sample_persec;
    const cJSON *result_path, *data_path; /* as the job gave them (data_path: a key, a list or null) */
    int has_s3;                           /* the seed's S3 request timings follow */
    int64_t s3_num_requests;
    double s3_total_time, s3_avg_time, s3_min_time, s3_max_time, s3_first_request_time, s3_last_response_time;
    /* CAI's fields */
    int has_status; /* reader: 0 for a seed record */
    int64_t rank, world_size;
    cai_rank_status status;
    const char *status_name; /* reader: as written ("ok" for a seed record) */
    int64_t galaxies, input_bits;
    double throughput_bps_wall, wall_seconds, cpu_seconds, peak_rss_mb, start_unix, end_unix;
    const char *start_iso, *end_iso;
    int has_stages;
    cai_stage_times stages; /* "stage_seconds" */
    int64_t threads;
    const char *engine;       /* NULL: not written */
    const cJSON *engine_info; /* writer: its members are written after "engine"; reader: NULL */
    const char *precision;    /* "fp32" / "int8" */
    int64_t tta;
    const char *calibration_source; /* NULL: no "calibration" object */
    const char *calibration_file_sha256;
    int has_model;
    const char *model_variant, *weights_sha256, *weights_source; /* NULL: not written */
    int untrained; /* written with weights_sha256; reader: -1 when absent */
    int64_t partitions_total, partitions_done, partitions_failed, partitions_unfinished;
    cai_rank_part *parts; /* reader: allocated (cai_rank_record_free) */
    size_t nparts;
    const char *run_id;             /* NULL: not written (a job list from before runs had ids) */
    const char *calibration_sha256; /* the identity's; "" when none (writer: NULL writes "") */
    const char *predictions;        /* NULL: no predictions file */
    int64_t predictions_bytes;
    const char *error; /* NULL: none */
} cai_rank_record;

/* The writer: the record as a new cJSON object (NULL when out of memory). A NULL string field is not
 * written (the worker sets every one the layout has; a record read back may lack some). */
cJSON *cai_rank_record_json(const cai_rank_record *r);

/* The reader: view `o` (a parsed rank record) as a typed record. Lenient about absence (a seed record has
 * only the seed's fields), strict about types: a field that is present with the wrong type is CAI_EFORMAT
 * naming `name` and the field ("res/1.json: field \"galaxies\": expected a number"). Older CAI versions'
 * names for the timing fields (start_time_unix, wall_time (seconds), num_galaxies, ...) are read too. */
int cai_rank_record_read(const cJSON *o, const char *name, cai_rank_record *r, cai_err *err);

/* Parse a record file's text and read it; *root (the parsed object, which r views) is the caller's to
 * cJSON_Delete. Also requires CAI's "rank" and "status" (a record file CAI wrote); errors name `name`. */
int cai_rank_record_parse(const char *text, size_t len, const char *name, cai_rank_record *r, cJSON **root,
                          cai_err *err);

void cai_rank_record_free(cai_rank_record *r);

#endif
