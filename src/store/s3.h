/* s3.h — what the S3 backend offers beyond store.h: request statistics (the seed's s3_* record fields),
 * object metadata for sync, and tuning. Owns: nothing the generic store interface needs.
 * Must not touch: the meaning of keys; every call here is safe on a local store too (it reports "not S3").
 *
 * Thread safety: an S3 store may be used from several threads at once (each call borrows a curl handle
 * from the store's pool; connections are reused per handle; DNS and TLS sessions are shared). */
#ifndef CAI_S3_H
#define CAI_S3_H

#include <stdint.h>

#include "store.h"

/* Per-store request statistics since open or the last reset. Every HTTP request counts, retries included.
 * Times: durations in seconds (monotonic clock); first/last as Unix seconds (wall clock). */
typedef struct {
    uint64_t num_requests;     /* s3_num_requests */
    uint64_t retries;          /* requests that were repeats after a retryable failure */
    uint64_t bytes_in;         /* response body bytes received */
    uint64_t bytes_out;        /* request body bytes sent */
    double total_time;         /* s3_total_time: sum of request durations */
    double min_time, max_time; /* s3_min_time, s3_max_time (0 when no request) */
    double first_request_time; /* s3_first_request_time: when the first request started (0: none) */
    double last_response_time; /* s3_last_response_time: when the last response ended (0: none) */
} cai_store_stats;             /* s3_avg_time = total_time / num_requests */

/* Fill *out. Returns 1 for an S3 store, 0 for any other backend (then *out is all zeros). */
int cai_store_stats_get(cai_store *s, cai_store_stats *out);
/* Zero the counters (e.g. at the start of each job on a warm worker). No-op on other backends. */
void cai_store_stats_reset(cai_store *s);
int cai_store_is_s3(const cai_store *s);

/* HEAD with metadata. sha256: the x-amz-meta-sha256 user metadata every cai PUT writes ("" when absent);
 * etag without quotes (the MD5 hex for single-part uploads; contains '-' for multipart). */
typedef struct {
    uint64_t size;
    char etag[80];
    char sha256[65];
} cai_s3_object_info;
int cai_s3_head_info(cai_store *s, const char *bucket, const char *key, cai_s3_object_info *info, cai_err *err);

/* PUT with a precomputed SHA-256 (hex) of data: saves hashing twice when the caller already has it
 * (sync). Otherwise the same as cai_store_put. */
int cai_s3_put_sha(cai_store *s, const char *bucket, const char *key, const void *data, size_t len,
                   const char sha256_hex[65], cai_err *err);

/* Multipart tuning: objects of at least `threshold` bytes go up in parts of `part_size` (S3's minimum part
 * is 5 MiB, its maximum part count 10,000: part_size grows to fit). 0 leaves a value as it is.
 * Defaults: threshold 64 MiB, part 16 MiB; env CAI_S3_MULTIPART_THRESHOLD / CAI_S3_PART_SIZE. */
void cai_s3_set_multipart(cai_store *s, uint64_t threshold, uint64_t part_size);

#endif
