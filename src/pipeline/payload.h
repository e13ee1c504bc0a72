/* payload.h — the run payload: the seed's state-machine input, verbatim, plus CAI's optional fields.
 * Owns: parsing and validating every field with a message that names it. Must not touch: stores,
 * listing, the job array (initialize.c builds that from a parsed payload).
 *
 * Seed fields: bucket, file_limit (int or numeric string), batch_size (int or numeric string),
 *   result_path, data_bucket, data_prefix (all required); object_type, S3_object_name, script (accepted,
 *   passed through into the job items, otherwise ignored); world_size (optional; default file_limit).
 * CAI fields (all optional): weights (a key in `bucket`, or a local path), precision ("auto"|"fp32"|"int8"),
 *   workers, threads (> 0), store (a store URL), catalog (true/false: write predictions.fits/.csv),
 *   run_id (string, recorded in the catalog header), calibration (calib.json: a local path or a key in
 *   bucket), tta (1 or 8), catalog_csv (true: also catalog.csv).
 * Unknown fields are a warning, not an error, so that a newer payload still runs on an older cai. */
#ifndef CAI_PAYLOAD_H
#define CAI_PAYLOAD_H

#include <cJSON.h>
#include <stdint.h>

#include "../common/err.h"
#include "../model/model.h"

#define CAI_PAYLOAD_MAX_WARNINGS 16
/* Checked before anything runs (exit 2): JSON nesting, bucket names, string fields. result_path and
 * data_prefix are also held to the store's key limits (CAI_STORE_MAX_KEY, CAI_STORE_MAX_SEGMENTS in
 * store.h), less the room the run needs below them, so Summarize can always list what the ranks wrote. */
#define CAI_PAYLOAD_MAX_DEPTH 32
#define CAI_PAYLOAD_MAX_BUCKET 63
#define CAI_PAYLOAD_MAX_STRING 4096

typedef struct {
    /* the seed's */
    char *bucket;
    int64_t file_limit;
    int64_t batch_size;
    char *result_path; /* without leading/trailing '/' */
    char *data_bucket;
    char *data_prefix;  /* without leading/trailing '/' */
    int64_t world_size; /* as given, or file_limit when absent */
    int world_size_given;
    cJSON *object_type, *s3_object_name, *script; /* passed through as given (NULL when absent) */
    /* CAI's */
    char *weights; /* NULL when absent */
    cai_precision precision;
    int precision_given;
    int workers, threads; /* 0 when absent */
    char *store;          /* NULL when absent */
    int catalog;          /* default 1 */
    char *run_id;         /* NULL when absent */
    char *calibration;    /* NULL when absent: a local path or a key in bucket (calibrate.h) */
    int tta;              /* 1 (default) or 8 */
    int catalog_csv;      /* also write catalog.csv with a provenance comment block */
    /* the payload as given, for the copies Initialize writes */
    cJSON *raw;
    int nwarnings;
    char warnings[CAI_PAYLOAD_MAX_WARNINGS][256];
} cai_payload;

/* Parse and validate. `name` prefixes every message ("payload.json: field \"file_limit\": ..."). On error
 * the payload is left empty (nothing to free). */
int cai_payload_parse(const char *json, size_t len, const char *name, cai_payload *p, cai_err *err);
void cai_payload_free(cai_payload *p);

/* The largest world_size a payload may ask for: max(2 x file_limit, file_limit + 64). Above the partition
 * count each rank only writes an empty record (the seed's split); far above it is refused, not capped, so the
 * job list always has the ranks the payload asked for. */
int64_t cai_payload_max_world_size(int64_t file_limit);

#endif
