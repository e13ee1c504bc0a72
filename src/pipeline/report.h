/* report.h — the validation report of a run with true redshifts: PNGs drawn by gnuplot (z_pred vs z_true
 * density with the 1:1 and 0.15(1+z) outlier lines; Δz/(1+z) vs z and vs r magnitude with running median
 * and σ_NMAD; the PIT histogram when the catalog has calibrated intervals; n(z) of predictions and truth)
 * and report.md, a table of σ_NMAD, bias and outlier rates at |Δz|/(1+z) > 0.05 and > 0.15 per z bin.
 * Owns: reading the run's predictions.csv, the binned statistics, the .dat/.gp/.png files.
 * Must not touch: the run itself (read-only), calibration (calibrate.c computes the intervals). */
#ifndef CAI_REPORT_H
#define CAI_REPORT_H

#include <stdio.h>

#include "../common/err.h"

/* run_dir: a run's result folder (local) with predictions.csv (and summary.json, optional). Writes into
 * outdir (created). `info` (may be NULL) gets one line per file. Fails when no galaxy has a true redshift. */
int cai_report(const char *run_dir, const char *outdir, FILE *info, cai_err *err);

#endif
