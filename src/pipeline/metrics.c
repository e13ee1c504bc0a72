/* metrics.c — photo-z metrics. Sums in double with the mean subtracted first for R² (two passes), so a
 * 660,000-galaxy catalog at z ≈ 0.1 keeps full precision. Medians by sorting a copy: O(n log n), fine at
 * catalog sizes, and exact (no approximate selection). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). n >= 1. Even n: mean of the two middle values, as numpy. */
static double median_sorted_inplace(double *v, int64_t n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    if (n % 2) return v[n / 2];
    return 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int cai_metrics_compute(const float *pred, const float *z, int64_t n, cai_metrics *m, cai_err *err) {
    m->n = m->skipped = m->outliers = 0;
    m->mae = m->mse = m->bias = m->sigma_nmad = m->r2 = m->eta = NAN;
    if (n < 0) return cai_seterr(err, CAI_EARG, "metrics: negative count");
    if (n == 0) return CAI_OK;
    double *d = malloc((size_t)n * sizeof *d);
    if (!d) return cai_seterr(err, CAI_ENOMEM, "metrics: out of memory for %lld pairs", (long long)n);
    double sae = 0, sse = 0, sd = 0, sz = 0;
    int64_t k = 0, out = 0;
    for (int64_t i = 0; i < n; i++) {
        double p = pred[i], t = z[i];
        if (!isfinite(p) || !isfinite(t)) {
            m->skipped++;
            continue;
        }
        double e = p - t, delta = e / (1.0 + t);
        sae += fabs(e);
        sse += e * e;
        sd += delta;
        sz += t;
        if (fabs(delta) > CAI_OUTLIER_THRESHOLD) out++;
        d[k++] = delta;
    }
    m->n = k;
    if (k == 0) {
        free(d);
        return CAI_OK;
    }
    m->mae = sae / (double)k;
    m->mse = sse / (double)k;
    m->bias = sd / (double)k;
    m->outliers = out;
    m->eta = (double)out / (double)k;
    double mz = sz / (double)k, ss_tot = 0;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(pred[i]) && isfinite(z[i])) ss_tot += ((double)z[i] - mz) * ((double)z[i] - mz);
    m->r2 = ss_tot > 0 ? 1.0 - sse / ss_tot : NAN;
    double med = median_sorted_inplace(d, k);
    for (int64_t i = 0; i < k; i++) d[i] = fabs(d[i] - med);
    m->sigma_nmad = 1.48 * median_sorted_inplace(d, k);
    free(d);
    return CAI_OK;
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

cJSON *cai_metrics_json(const cai_metrics *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", (double)m->n);
    cJSON_AddNumberToObject(o, "skipped_non_finite", (double)m->skipped);
    add_num(o, "mae", m->mae);
    add_num(o, "mse", m->mse);
    add_num(o, "bias", m->bias);
    add_num(o, "sigma_nmad", m->sigma_nmad);
    add_num(o, "r2", m->r2);
    add_num(o, "outlier_fraction", m->eta);
    cJSON_AddNumberToObject(o, "outliers", (double)m->outliers);
    cJSON_AddNumberToObject(o, "outlier_threshold", CAI_OUTLIER_THRESHOLD);
    return o;
}
