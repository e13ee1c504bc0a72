/* catalog.h — the merged prediction catalog of a run: predictions.fits (a FITS binary table that astropy
 * and TOPCAT open directly) and predictions.csv (the per-rank CSV format, concatenated in rank order).
 * Owns: the in-memory columns and the two writers. Must not touch: stores (callers PUT the bytes).
 *
 * FITS layout: primary HDU empty; extension 1 = BINTABLE "PREDICTIONS" with columns
 *   GALAXY_ID K (TNULL -1: seed .pt partitions have no ids), PARTITION J, INDEX J, Z_PRED E, Z_TRUE E (only
 *   when some partition had labels; NaN where one had none). Header: NGALAXY, MODEL, WSHA256, UNTRAIN,
 *   BUCKET, RESPATH, RUNID, CAIVER, DATE. */
#ifndef CAI_CATALOG_H
#define CAI_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "record.h"

typedef struct {
    int64_t *gid;
    int32_t *part, *idx;
    float *pred, *label;
    size_t n, cap;
    int any_label;
} cai_catalog;

typedef struct {
    const char *model_variant;  /* NULL: unknown */
    const char *weights_sha256; /* NULL: unknown */
    int untrained;              /* -1 unknown */
    const char *bucket, *result_path, *run_id;
} cai_catalog_meta;

int cai_catalog_add(cai_catalog *c, const cai_pred_row *r, cai_err *err);
void cai_catalog_free(cai_catalog *c);

/* Write the FITS table to a local path (overwritten). */
int cai_catalog_write_fits(const cai_catalog *c, const cai_catalog_meta *m, const char *path, cai_err *err);
/* Serialize as CSV (header + one row per galaxy) into a heap buffer. */
int cai_catalog_csv(const cai_catalog *c, char **out, size_t *len, cai_err *err);

#endif
