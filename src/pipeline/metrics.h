/* metrics.h — the photo-z accuracy metrics of a catalog (labels z, predictions p, Δ = (p − z)/(1 + z)),
 * as docs/spec/astromae.md defines them, plus the literature's outlier fraction η.
 * Owns: arithmetic only. Must not touch: files, stores, JSON layout beyond cai_metrics_json. */
#ifndef CAI_METRICS_H
#define CAI_METRICS_H

#include <cJSON.h>
#include <stdint.h>

#include "../common/err.h"

#define CAI_OUTLIER_THRESHOLD 0.05

typedef struct {
    int64_t n;         /* pairs used: both p and z finite */
    int64_t skipped;   /* pairs with a non-finite p or z (NaN input gives NaN prediction) */
    double mae;        /* mean |p − z| */
    double mse;        /* mean (p − z)² */
    double bias;       /* mean Δ */
    double sigma_nmad; /* 1.48 · median |Δ − median Δ| */
    double r2;         /* 1 − Σ(p−z)² / Σ(z − mean z)²; NaN when all z are equal */
    double eta;        /* fraction with |Δ| > 0.05 */
    int64_t outliers;
} cai_metrics;

/* Compute over n pairs. With no usable pair, m->n = 0 and every metric is NaN (not an error). */
int cai_metrics_compute(const float *pred, const float *z, int64_t n, cai_metrics *m, cai_err *err);

/* {"n":…, "mae":…, "mse":…, "bias":…, "sigma_nmad":…, "r2":…, "outlier_fraction":…, …}; NaN → null. */
cJSON *cai_metrics_json(const cai_metrics *m);

#endif
