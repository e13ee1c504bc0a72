/* catalog.h — the merged catalog of a run, in the files astronomers open: predictions.fits (FITS binary
 * table; astropy, TOPCAT), predictions.h5 (HDF5, one dataset per column; h5py), the optional catalog.csv
 * (with a provenance comment block), and predictions.csv (the per-rank CSV format, concatenated).
 * Owns: the rows in memory, the column list (names, units, descriptions, null rules) and the writers.
 * Must not touch: stores (callers PUT the bytes), how rows are produced (worker) or calibrated (calibrate.h).
 *
 * Columns, in this order, each present when some row has it (GALAXY_ID, PARTITION, INDEX, Z_PRED always):
 *   GALAXY_ID K (TNULL -1), OBJID K (TNULL -1), RA D deg, DEC D deg, PARTITION J, INDEX J, Z_PRED E,
 *   Z_ERR E, Z_LO68 E, Z_HI68 E, Z_LO95 E, Z_HI95 E, P_OUTLIER E, Z_STD E, Z_TRUE E, FLAGS J,
 *   MAG_U .. MAG_Z E mag.
 * Null rules: integer columns use TNULLn (-1: ids are non-negative); floating columns use IEEE NaN (FITS
 * forbids TNULL on E/D). Redshifts and P_OUTLIER are dimensionless (no TUNIT). Header: provenance (CAI
 * version, weights sha256, calibration sha256, input manifest sha256, run id, UTC date) and the FLAGS bits. */
#ifndef CAI_CATALOG_H
#define CAI_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "calibrate.h"
#include "predictions.h"

typedef struct {
    cai_pred_row *rows;
    size_t n, cap;
    int any_label;
    unsigned has; /* CAI_PCOL_* groups some row carries */
} cai_catalog;

typedef struct {
    const char *model_variant;  /* NULL: unknown */
    const char *weights_sha256; /* NULL: unknown */
    int untrained;              /* -1 unknown */
    const char *bucket, *result_path, *run_id;
    const char *calib_sha256;    /* NULL: no calibration applied */
    const char *manifest_sha256; /* NULL: the input had no manifest */
    int tta;                     /* 1 or 8 (0: unknown) */
} cai_catalog_meta;

int cai_catalog_add(cai_catalog *c, const cai_pred_row *r, cai_err *err);
void cai_catalog_free(cai_catalog *c);

/* Recompute every row's calibrated columns and calibration-range flags with `cal`. */
void cai_catalog_apply_calib(cai_catalog *c, const cai_calib *cal);

/* Column names of this catalog, in file order, separated by ','. For docs and tests. */
void cai_catalog_columns(const cai_catalog *c, char *out, size_t n);

/* Write the FITS table / the HDF5 file to a local path (overwritten). */
int cai_catalog_write_fits(const cai_catalog *c, const cai_catalog_meta *m, const char *path, cai_err *err);
int cai_catalog_write_hdf5(const cai_catalog *c, const cai_catalog_meta *m, const char *path, cai_err *err);
/* Serialize into a heap buffer: predictions.csv (the per-rank format: header + one row per galaxy), or
 * catalog.csv (the catalog's columns, "# key: value" provenance lines first). */
int cai_catalog_csv(const cai_catalog *c, char **out, size_t *len, cai_err *err);
int cai_catalog_csv_full(const cai_catalog *c, const cai_catalog_meta *m, char **out, size_t *len, cai_err *err);

/* ---- shared by the writers (catalog.c, catalog_hdf5.c) ---- */
typedef enum { CAI_CT_I64, CAI_CT_I32, CAI_CT_F32, CAI_CT_F64 } cai_coltype;
typedef struct {
    const char *name;
    cai_coltype type;
    const char *unit; /* "" when dimensionless */
    const char *desc;
    int id; /* which field of the row */
} cai_catcol;
/* The columns present in c (at most 32). */
int cai_catalog_cols(const cai_catalog *c, cai_catcol *out);
/* Value of column `col` in row r, as the column's type (i64/i32 in *iv, floats in *dv). */
void cai_catalog_value(const cai_pred_row *r, const cai_catcol *col, int64_t *iv, double *dv);
/* The provenance as key/value strings (for HDF5 attributes and CSV comments); returns the count. */
int cai_catalog_provenance(const cai_catalog_meta *m, const char *date, char keys[][24], char vals[][160], int max);

#endif
