/* sync.h — upload a local directory tree to a store (S3 or local) in parallel, skipping objects that are
 * already there with the same content. Used by `cai aws` to stage weights and partitions.
 * Owns: walking the directory, the skip decision, the summary. Must not touch: what the files mean.
 *
 * Skip rule (no object is trusted on size alone):
 *   1. one paginated LIST of the destination prefix gives what exists and its size;
 *   2. a missing key or a different size → upload;
 *   3. same size → HEAD: equal x-amz-meta-sha256 (written by every cai PUT) → skip; no such metadata but
 *      a single-part ETag (32 hex, the MD5) equal to the file's MD5 → skip (objects from `aws s3 cp`);
 *      otherwise (e.g. someone else's multipart upload) → upload. A local store compares SHA-256 of the
 *      stored bytes. */
#ifndef CAI_SYNC_H
#define CAI_SYNC_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"

typedef struct {
    int threads; /* parallel uploads; 0: 8 */
    int dry_run; /* decide and report, upload nothing */
    FILE *log;   /* one line per file ("upload KEY (N bytes)" / "skip KEY (same sha256)") when non-NULL */
} cai_sync_opts;

typedef struct {
    uint64_t files, uploaded, skipped, failed;
    uint64_t bytes_uploaded, bytes_skipped;
    double seconds;
} cai_sync_result;

/* Upload every regular file under `dir` (recursively; symlinked directories are not followed) to
 * bucket/prefix/<relative path>. prefix may be "" or end with '/' or not (a '/' is added). One failed
 * file does not stop the others: the result counts it and the call returns the first error's code with
 * "N of M files failed; first: ...". */
int cai_sync_upload(cai_store *st, const char *dir, const char *bucket, const char *prefix, const cai_sync_opts *o,
                    cai_sync_result *res, cai_err *err);

/* "sync: 12 uploaded (40.1 MB), 3 skipped (unchanged, 10.0 MB), 0 failed in 2.31 s (17.4 MB/s)" */
void cai_sync_summary(const cai_sync_result *r, char *buf, size_t n);

#endif
