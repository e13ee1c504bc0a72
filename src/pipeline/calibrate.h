/* calibrate.h — per-galaxy redshift uncertainty from an empirical calibration: the residuals
 * Δ = (z_pred − z_true)/(1 + z_true) of galaxies with known redshifts, binned by predicted z (and, within
 * each z bin, by r magnitude), give quantile intervals, Z_ERR and P_OUTLIER for new galaxies.
 * Owns: building a calibration (from arrays, or from finished runs' predictions.csv + summary.json), its JSON
 * file (cai-calibration/1), loading it strictly (from a path or a store key), applying it.
 * Must not touch: the model, the stages.
 * Method and assumption (the calibration set is representative): docs/science.md. */
#ifndef CAI_CALIBRATE_H
#define CAI_CALIBRATE_H

#include <cJSON.h>
#include <stdint.h>

#include "../common/err.h"
#include "../store/store.h"
#include "predictions.h"

#define CAI_CALIB_FORMAT "cai-calibration/1"
#define CAI_CALIB_NQ 5 /* quantiles 2.5, 16, 50, 84, 97.5 % */

typedef struct {
    int64_t n;
    double bias;       /* mean Δ */
    double median;     /* median Δ */
    double sigma_nmad; /* 1.48 · median |Δ − median Δ| */
    double q[CAI_CALIB_NQ];
    double out05, out15; /* fractions with |Δ| > 0.05 and > 0.15 */
} cai_calib_stats;

typedef struct {
    double lo, hi; /* range of the binning variable in the calibration set (finite) */
    cai_calib_stats s;
    int nsub; /* r-magnitude sub-bins (0: none) */
    double *sub_lo, *sub_hi;
    cai_calib_stats *sub;
} cai_calib_bin;

typedef struct {
    char weights_sha256[65];
    char sha256[65]; /* of the calibration file's bytes (provenance); "" when built in memory */
    int tta;         /* 1: plain predictions; 8: --tta 8 means */
    int64_t n, skipped;
    double zmin, zmax; /* predicted-z range of the calibration set */
    int has_mags;
    double mag_lo[5], mag_hi[5];
    cai_calib_stats all;
    int nz;
    cai_calib_bin *zb; /* by predicted z */
    int nm;
    cai_calib_bin *mb; /* by r magnitude (report table; not used to apply) */
} cai_calib;

typedef struct {
    int min_per_bin;  /* default 250 */
    int max_z_bins;   /* default 12 */
    int max_mag_bins; /* default 4 (sub-bins per z bin); the r-magnitude table gets twice that */
} cai_calib_opts;

/* Quantile q (0..1) of sorted x[0..n) with numpy's default linear interpolation. */
double cai_quantile_sorted(const double *x, int64_t n, double q);
/* Stats of Δ values (sorted in place). Quantiles at the k/(n+1) positions (type 6; see calibrate.c). */
void cai_calib_stats_of(double *d, int64_t n, cai_calib_stats *s);

/* Build from n galaxies: predictions, true redshifts, magnitudes (n×5 ugriz, may be NULL or hold NaN).
 * Pairs with a non-finite prediction or label, or label <= −1, are skipped (counted). Fails with
 * CAI_EARG when fewer than 20 usable pairs remain. */
int cai_calib_build(const float *pred, const float *z, const float *mags, int64_t n, const char *weights_sha256,
                    int tta, const cai_calib_opts *o, cai_calib *c, cai_err *err);
void cai_calib_free(cai_calib *c);
/* Build from finished runs: each `runs[i]` is a run's result folder (local) holding predictions.csv and
 * summary.json. All runs must be of the same weights (summary "model.weights_sha256") and TTA setting.
 * *sources gets [{"run", "galaxies", "weights_sha256"}...] for the file. */
int cai_calib_from_runs(char *const *runs, int nruns, const cai_calib_opts *o, cai_calib *c, cJSON **sources,
                        cai_err *err);

/* The JSON file (caller frees with cJSON_Delete). sources: the runs it came from (may be NULL). */
cJSON *cai_calib_to_json(const cai_calib *c, const cJSON *sources);
/* Parse and check every field; errors name `name` and the field. Records the bytes' sha256. */
int cai_calib_parse(const char *buf, size_t len, const char *name, cai_calib *c, cai_err *err);
int cai_calib_load(const char *path, cai_calib *c, cai_err *err);
/* spec: a readable local file, else a key in `bucket` of `st` (the payload's "calibration" may be either). */
int cai_calib_fetch(cai_store *st, const char *bucket, const char *spec, cai_calib *c, cai_err *err);

/* Refuse a calibration made for other weights or another TTA setting, naming both. */
int cai_calib_check(const cai_calib *c, const char *name, const char *weights_sha256, int tta, cai_err *err);

/* Fill r->cal (Z_ERR, Z_LO68, Z_HI68, Z_LO95, Z_HI95, P_OUTLIER) from r->prediction and r->mag, and set
 * (or clear) the calibration-range bits of r->flags. z bounds below 0 are raised to 0 (redshifts of
 * galaxies are not negative). A non-finite prediction gives NaN columns and CAI_FLAG_PRED_NONFINITE. */
void cai_calib_apply(const cai_calib *c, cai_pred_row *r);

#endif
