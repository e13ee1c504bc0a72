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

/* Read <bucket>/<result_path>/jobs.jsonl back into a JSON array of job items (caller frees). */
/* The same from bytes: one JSON object per line, blank lines skipped; `name` prefixes messages. */
int cai_jobs_parse(const uint8_t *buf, size_t len, const char *name, cJSON **jobs_out, cai_err *err);
int cai_jobs_read(cai_store *st, const char *bucket, const char *result_path, cJSON **jobs_out, cai_err *err);

#endif
