/* rank_record.h — the rank record, <result_path>/<rank>.json, as one typed struct with one writer.
 * Owns: the record's fields, their JSON names and order (the seed's fields first, in the seed's order, then
 * CAI's). Must not touch: how the numbers are measured (worker.c) or what readers compute from them.
 *
 * The worker fills a cai_rank_record and cai_rank_record_json turns it into the JSON object it stores;
 * tests build records the same way, so the layout lives here only. Example (abridged):
 *   {"total_cpu_time (seconds)": 3.1, "total_cpu_memory (MB)": 412, "execution_time (seconds/batch)": 0.4,
 *    "num_batches": 3, "batch_size": 512, "device": "cpu", "throughput_bps": 2.1e8, "sample_persec": 410,
 *    "result_path": "result-partition-25MB/demo/1", "data_path": ["25MB/1.pt"],
 *    "rank": 0, "world_size": 8, "status": "ok", "galaxies": 1278, ..., "stage_seconds": {...},
 *    "threads": 4, "precision": "fp32", "model": {"variant": "vitae", ...}, "partitions": [...],
 *    "predictions": "result-partition-25MB/demo/1/predictions/0.csv", "predictions_bytes": 51234} */
#ifndef CAI_RANK_RECORD_H
#define CAI_RANK_RECORD_H

#include <cJSON.h>
#include <stdint.h>

typedef struct {
    double fetch, fetch_wait, decode, infer, write;
} cai_stage_seconds;

typedef struct {
    /* The seed's fields. */
    double total_cpu_time;      /* "total_cpu_time (seconds)" */
    double total_cpu_memory_mb; /* "total_cpu_memory (MB)" */
    double seconds_per_batch;   /* "execution_time (seconds/batch)" */
    int64_t num_batches, batch_size;
    const char *device;
    double throughput_bps, sample_persec;
    const cJSON *result_path, *data_path; /* as the job item gave them (copied) */
    int has_s3;                           /* the S3 request statistics below are present */
    int64_t s3_num_requests;
    double s3_total_time, s3_avg_time, s3_min_time, s3_max_time, s3_first_request_time, s3_last_response_time;
    /* CAI's fields. */
    int64_t rank, world_size;
    const char *status; /* ok, partial, unfinished, failed, empty */
    int64_t galaxies, input_bits;
    double wall_seconds, cpu_seconds, peak_rss_mb, start_unix, end_unix;
    const char *start_iso, *end_iso;
    cai_stage_seconds stage_seconds;
    int threads;
    const char *engine;       /* who ran it ("local", "slurm", "mpi", ...) or NULL */
    const cJSON *engine_info; /* the scheduler's ids (an object: its members are copied in), or NULL */
    const char *precision;
    const char *model_variant; /* NULL: not known */
    int has_weights;           /* the weights file was described: the three below are set */
    const char *weights_sha256, *weights_source /* NULL or "": none */;
    int untrained;
    int64_t partitions_total, partitions_done, partitions_failed, partitions_unfinished;
    cJSON *partitions;  /* per-partition objects; moved into the JSON by the writer (may be NULL) */
    const char *run_id; /* the run's identity (record.h: cai_record_set_identity) */
    const char *calibration_sha256;
    const char *predictions; /* the predictions file's key; NULL: no predictions file */
    int64_t predictions_bytes;
    const char *error; /* NULL: none */
} cai_rank_record;

/* The record as JSON (caller frees), or NULL when out of memory. r->partitions is moved into the result
 * (r->partitions becomes NULL) whether or not it succeeds. */
cJSON *cai_rank_record_json(cai_rank_record *r);

#endif
