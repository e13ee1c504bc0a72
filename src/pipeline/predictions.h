/* predictions.h — one galaxy's row in a predictions file (`<result_path>/predictions/<rank>.csv` and the
 * run's predictions.csv): the five base columns the first CAI runs wrote, then optional column groups.
 * Owns: the row, the column names and order, the CSV writer and the strict parser.
 * Must not touch: stores, the rank record (record.h), the catalog files (catalog.h).
 *
 *   galaxy_id,partition,index,prediction,label              always (the original format, still accepted)
 *   ,objid                                                   CAI_PCOL_OBJID   survey object id (I64)
 *   ,ra,dec                                                  CAI_PCOL_RADEC   degrees (F64, %.17g)
 *   ,mag_u,mag_g,mag_r,mag_i,mag_z                           CAI_PCOL_MAGS    the input magnitudes
 *   ,flags                                                   CAI_PCOL_FLAGS   quality bitmask (calibrate.h)
 *   ,z_std                                                   CAI_PCOL_ZSTD    spread of the 8 TTA predictions
 *   ,z_err,z_lo68,z_hi68,z_lo95,z_hi95,p_outlier             CAI_PCOL_CAL     from a calibration
 * Groups appear in this order; the header says which are present. An empty field is "absent" (NaN for
 * floats, no id). Floats are %.9g (float32 round-trips). */
#ifndef CAI_PREDICTIONS_H
#define CAI_PREDICTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/err.h"

#define CAI_PRED_HEADER "galaxy_id,partition,index,prediction,label\n"

enum {
    CAI_PCOL_OBJID = 1u << 0,
    CAI_PCOL_RADEC = 1u << 1,
    CAI_PCOL_MAGS = 1u << 2,
    CAI_PCOL_FLAGS = 1u << 3,
    CAI_PCOL_ZSTD = 1u << 4,
    CAI_PCOL_CAL = 1u << 5,
    CAI_PCOL_ALL = (1u << 6) - 1
};

/* Indices into cai_pred_row.cal. */
enum { CAI_CAL_ERR, CAI_CAL_LO68, CAI_CAL_HI68, CAI_CAL_LO95, CAI_CAL_HI95, CAI_CAL_POUT, CAI_CAL_N };

/* One parsed line of a predictions file. */
typedef struct {
    int64_t galaxy_id; /* -1 when empty */
    int64_t partition;
    int64_t index;
    float prediction;
    float label; /* NaN when empty */
    int has_label;
    int64_t objid;
    int has_objid;
    double ra, dec; /* NaN when absent */
    float mag[5];   /* NaN when absent */
    uint32_t flags;
    float z_std;          /* NaN when absent */
    float cal[CAI_CAL_N]; /* NaN when absent */
    unsigned cols;        /* the column groups of the file this row came from */
} cai_pred_row;

/* A row with every optional field absent. */
void cai_pred_row_init(cai_pred_row *r);

/* Write the header line / one row with the column groups `cols`. */
void cai_pred_header_write(FILE *f, unsigned cols);
void cai_pred_row_write(FILE *f, const cai_pred_row *r, unsigned cols);

/* Parse a predictions file (with its header). Calls fn for each row; stops at the first error, which names
 * `name` and the line (or the header column that was not expected). */
int cai_predictions_parse(const char *buf, size_t len, const char *name, int (*fn)(const cai_pred_row *row, void *ctx),
                          void *ctx, cai_err *err);

#endif
