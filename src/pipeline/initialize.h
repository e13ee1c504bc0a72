/* initialize.h — helpers around the Initialize stage (the stage itself is cai_initialize in stages.h).
 * Owns: partition naming (<N>.pt / <N>.safetensors) and reading back the job list jobs.jsonl.
 * Must not touch: workers, summaries. */
#ifndef CAI_INITIALIZE_H
#define CAI_INITIALIZE_H

#include <cJSON.h>
#include <stdint.h>

#include "../common/err.h"
#include "../store/store.h"
#include "payload.h"

/* The number N of a partition file name "N.pt" / "N.safetensors" (no directory); -1 if not one. */
int cai_partition_number(const char *base, uint64_t *num);

/* Remove a run's merged outputs (summary.json first, then combined_data.json and the catalog) so that
 * none of them outlives the run that made it. Called by Initialize and Summarize. */
int cai_outputs_invalidate(cai_store *st, const char *bucket, const char *result_path, cai_err *err);

/* Read <bucket>/<result_path>/jobs.jsonl back into a JSON array of job items (caller frees), each with its
 * DATA_PATH in full (lines that reference their keys are resolved, see below). */
int cai_jobs_read(cai_store *st, const char *bucket, const char *result_path, cJSON **jobs_out, cai_err *err);
/* The parsing half, from bytes: one JSON object per line, blank lines skipped, NUL and trailing text refused;
 * `name` prefixes messages. References are left as they are (no store here). */
int cai_jobs_parse(const uint8_t *buf, size_t len, const char *name, cJSON **jobs_out, cai_err *err);

/* Job lines are bounded: each is a Step Functions child execution's input, limited to 256 KiB. A rank whose
 * line would pass CAI_JOB_LINE_MAX bytes (a few thousand partitions) gets its per-partition fields (DATA_PATH,
 * CAI_PARTITION_GALAXIES, CAI_PARTITION_MANIFEST) in <result_path>/jobs/<rank>.json instead, and its line names them:
 * "CAI_DATA_PATH_REF": {"key": K, "count": N, "first": FIRST_KEY, "last": LAST_KEY} (no DATA_PATH).
 * cai_job_resolve returns a copy of such a job with the keys back in (reading K from S3_BUCKET, checking
 * count); a job without a reference is copied as it is. */
#define CAI_JOB_LINE_MAX (192u * 1024)
int cai_job_resolve(cai_store *st, const cJSON *job, cJSON **out, cai_err *err);

#endif
