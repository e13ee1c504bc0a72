/* calibrate.c — empirical redshift calibration (see calibrate.h and docs/science.md).
 *
 * Why quantiles of Δ and not a Gaussian: photo-z residuals have heavy tails (catastrophic outliers), so a
 * σ-based interval over-covers the core and under-covers the tails. Empirical quantiles of a representative
 * set give intervals whose coverage is right by construction, bin by bin. Δ → z is monotone
 * (z = (p − Δ)/(1 + Δ), decreasing in Δ for Δ > −1), so a Δ interval maps exactly onto a z interval. */
#include "calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/util.h"
#include "flags.h"

static const double qlev[CAI_CALIB_NQ] = {0.025, 0.16, 0.5, 0.84, 0.975};

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cai_quantile_sorted(const double *x, int64_t n, double q) {
    if (n <= 0) return NAN;
    double pos = q * (double)(n - 1);
    int64_t i = (int64_t)floor(pos);
    if (i >= n - 1) return x[n - 1];
    double f = pos - (double)i;
    return x[i] + f * (x[i + 1] - x[i]);
}

void cai_calib_stats_of(double *d, int64_t n, cai_calib_stats *s) {
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n <= 0) {
        s->bias = s->median = s->sigma_nmad = s->out05 = s->out15 = NAN;
        for (int k = 0; k < CAI_CALIB_NQ; k++) s->q[k] = NAN;
        return;
    }
    qsort(d, (size_t)n, sizeof *d, cmp_d);
    double sum = 0;
    int64_t o05 = 0, o15 = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += d[i];
        o05 += fabs(d[i]) > 0.05;
        o15 += fabs(d[i]) > 0.15;
    }
    s->bias = sum / (double)n;
    s->out05 = (double)o05 / (double)n;
    s->out15 = (double)o15 / (double)n;
    /* Interval quantiles at the Weibull plotting positions k/(n+1) (Hyndman & Fan type 6): for exchangeable
     * data P(new value <= x_(k)) = k/(n+1) exactly, so a bin of a few hundred galaxies does not under-cover
     * the way numpy's (k-1)/(n-1) positions do (by about 2/n: 0.8% at n = 250 for the 95% interval). */
    for (int k = 0; k < CAI_CALIB_NQ; k++) {
        double pos = qlev[k] * (double)(n + 1) - 1.0; /* 0-based */
        if (pos <= 0) s->q[k] = d[0];
        else if (pos >= (double)(n - 1)) s->q[k] = d[n - 1];
        else {
            int64_t i = (int64_t)floor(pos);
            s->q[k] = d[i] + (pos - (double)i) * (d[i + 1] - d[i]);
        }
    }
    s->median = s->q[2];
    double *a = malloc((size_t)n * sizeof *a);
    if (!a) {
        s->sigma_nmad = NAN;
        return;
    }
    for (int64_t i = 0; i < n; i++) a[i] = fabs(d[i] - s->median);
    qsort(a, (size_t)n, sizeof *a, cmp_d);
    s->sigma_nmad = 1.48 * cai_quantile_sorted(a, n, 0.5);
    free(a);
}

/* ---- building ---- */

typedef struct {
    double key; /* the binning variable */
    double r;   /* r magnitude (NaN when absent) */
    double d;   /* Δ */
} pt;

static int cmp_key(const void *a, const void *b) {
    double x = ((const pt *)a)->key, y = ((const pt *)b)->key;
    return (x > y) - (x < y);
}

/* Equal-count bins over p[0..n) sorted by key: at most maxb, at least minper each (one bin when n is small).
 * Writes start indices into starts[0..nb] (starts[nb] = n). */
static int equal_count(const pt *p, int64_t n, int minper, int maxb, int64_t *starts) {
    int nb = (int)(n / (minper > 0 ? minper : 1));
    if (nb > maxb) nb = maxb;
    if (nb < 1) nb = 1;
    int k = 0;
    starts[k++] = 0;
    for (int b = 1; b < nb; b++) {
        int64_t s = (int64_t)((double)n * b / nb);
        /* do not split equal keys across two bins: the lookup could not tell them apart */
        while (s < n && s > 0 && p[s].key == p[s - 1].key) s++;
        if (s > starts[k - 1] && s < n) starts[k++] = s;
    }
    starts[k] = n;
    return k;
}

static int fill_bin(pt *p, int64_t n, cai_calib_bin *b, double *scratch) {
    b->lo = p[0].key;
    b->hi = p[n - 1].key;
    for (int64_t i = 0; i < n; i++) scratch[i] = p[i].d;
    cai_calib_stats_of(scratch, n, &b->s);
    return 0;
}

static int build_bins(pt *p, int64_t n, int minper, int maxb, cai_calib_bin **out, int *nout, double *scratch) {
    qsort(p, (size_t)n, sizeof *p, cmp_key);
    int64_t *st = malloc(((size_t)maxb + 2) * sizeof *st);
    if (!st) return CAI_ENOMEM;
    int nb = equal_count(p, n, minper, maxb, st);
    cai_calib_bin *b = calloc((size_t)nb, sizeof *b);
    if (!b) {
        free(st);
        return CAI_ENOMEM;
    }
    for (int i = 0; i < nb; i++) fill_bin(p + st[i], st[i + 1] - st[i], &b[i], scratch);
    free(st);
    *out = b;
    *nout = nb;
    return CAI_OK;
}

int cai_calib_build(const float *pred, const float *z, const float *mags, int64_t n, const char *weights_sha256,
                    int tta, const cai_calib_opts *o, cai_calib *c, cai_err *err) {
    memset(c, 0, sizeof *c);
    cai_calib_opts dflt = {250, 12, 4};
    if (!o) o = &dflt;
    int minper = o->min_per_bin > 0 ? o->min_per_bin : 250;
    int maxz = o->max_z_bins > 0 ? o->max_z_bins : 12;
    int maxm = o->max_mag_bins > 0 ? o->max_mag_bins : 4;
    snprintf(c->weights_sha256, sizeof c->weights_sha256, "%s", weights_sha256 ? weights_sha256 : "");
    c->tta = tta > 1 ? tta : 1;
    pt *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    double *scratch = malloc((size_t)(n > 0 ? n : 1) * sizeof *scratch);
    if (!p || !scratch) {
        free(p);
        free(scratch);
        return cai_seterr(err, CAI_ENOMEM, "calibrate: out of memory for %lld galaxies", (long long)n);
    }
    int64_t m = 0;
    for (int b = 0; b < 5; b++) c->mag_lo[b] = INFINITY, c->mag_hi[b] = -INFINITY;
    c->zmin = INFINITY;
    c->zmax = -INFINITY;
    int64_t nmag = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(pred[i]) || !isfinite(z[i]) || z[i] <= -1.0f) {
            c->skipped++;
            continue;
        }
        p[m].key = pred[i];
        p[m].d = ((double)pred[i] - z[i]) / (1.0 + z[i]);
        p[m].r = mags && isfinite(mags[i * 5 + 2]) ? mags[i * 5 + 2] : NAN;
        if (pred[i] < c->zmin) c->zmin = pred[i];
        if (pred[i] > c->zmax) c->zmax = pred[i];
        if (mags) {
            int all = 1;
            for (int b = 0; b < 5; b++) {
                double v = mags[i * 5 + b];
                if (!isfinite(v)) {
                    all = 0;
                    continue;
                }
                if (v < c->mag_lo[b]) c->mag_lo[b] = v;
                if (v > c->mag_hi[b]) c->mag_hi[b] = v;
            }
            nmag += all;
        }
        m++;
    }
    c->n = m;
    if (m < 20) {
        free(p);
        free(scratch);
        return cai_seterr(err, CAI_EARG,
                          "calibrate: %lld usable galaxies (finite prediction and true redshift); at least 20 needed",
                          (long long)m);
    }
    c->has_mags = nmag > 0;
    for (int64_t i = 0; i < m; i++) scratch[i] = p[i].d;
    cai_calib_stats_of(scratch, m, &c->all);
    int rc = build_bins(p, m, minper, maxz, &c->zb, &c->nz, scratch);
    /* Within each z bin (p is now sorted by predicted z, bins contiguous), sub-bins by r magnitude. */
    int64_t off = 0;
    for (int i = 0; !rc && i < c->nz; i++) {
        int64_t cnt = c->zb[i].s.n, nr = 0;
        pt *q = p + off;
        off += cnt;
        if (!c->has_mags) continue;
        /* galaxies without r stay out of the sub-bins (they get the z bin's values) */
        pt *tmp = malloc((size_t)cnt * sizeof *tmp);
        if (!tmp) {
            rc = CAI_ENOMEM;
            break;
        }
        for (int64_t k = 0; k < cnt; k++)
            if (isfinite(q[k].r)) tmp[nr] = q[k], tmp[nr].key = q[k].r, nr++;
        if (nr >= 2 * (int64_t)minper) {
            cai_calib_bin *sb;
            int ns;
            rc = build_bins(tmp, nr, minper, maxm, &sb, &ns, scratch);
            if (!rc && ns >= 2) {
                cai_calib_bin *zb = &c->zb[i];
                zb->nsub = ns;
                zb->sub_lo = malloc((size_t)ns * sizeof(double));
                zb->sub_hi = malloc((size_t)ns * sizeof(double));
                zb->sub = malloc((size_t)ns * sizeof(cai_calib_stats));
                if (!zb->sub_lo || !zb->sub_hi || !zb->sub) rc = CAI_ENOMEM;
                for (int k = 0; !rc && k < ns; k++) {
                    zb->sub_lo[k] = sb[k].lo;
                    zb->sub_hi[k] = sb[k].hi;
                    zb->sub[k] = sb[k].s;
                }
            }
            if (!rc) free(sb);
        }
        free(tmp);
    }
    /* The r-magnitude table over the whole set. */
    if (!rc && c->has_mags) {
        int64_t nr = 0;
        for (int64_t i = 0; i < m; i++)
            if (isfinite(p[i].r)) p[nr] = p[i], p[nr].key = p[i].r, nr++;
        if (nr > 0) rc = build_bins(p, nr, minper, 2 * maxm, &c->mb, &c->nm, scratch);
    }
    free(p);
    free(scratch);
    if (!c->has_mags)
        for (int b = 0; b < 5; b++) c->mag_lo[b] = c->mag_hi[b] = NAN;
    if (rc) {
        cai_calib_free(c);
        return cai_seterr(err, CAI_ENOMEM, "calibrate: out of memory");
    }
    return CAI_OK;
}

static void free_bins(cai_calib_bin *b, int n) {
    for (int i = 0; b && i < n; i++) {
        free(b[i].sub_lo);
        free(b[i].sub_hi);
        free(b[i].sub);
    }
    free(b);
}

void cai_calib_free(cai_calib *c) {
    if (!c) return;
    free_bins(c->zb, c->nz);
    free_bins(c->mb, c->nm);
    memset(c, 0, sizeof *c);
}

/* ---- from runs ---- */

typedef struct {
    float *p, *z, *m;
    int64_t n, cap;
} pairs;

static int on_pair(const cai_pred_row *r, void *ctx) {
    pairs *a = ctx;
    if (!r->has_label) return CAI_OK;
    if (a->n == a->cap) {
        int64_t nc = a->cap ? a->cap * 2 : 4096;
        float *np = realloc(a->p, (size_t)nc * sizeof *np);
        if (np) a->p = np;
        float *nz = realloc(a->z, (size_t)nc * sizeof *nz);
        if (nz) a->z = nz;
        float *nm = realloc(a->m, (size_t)nc * 5 * sizeof *nm);
        if (nm) a->m = nm;
        if (!np || !nz || !nm) return CAI_ENOMEM;
        a->cap = nc;
    }
    a->p[a->n] = r->prediction;
    a->z[a->n] = r->label;
    memcpy(a->m + a->n * 5, r->mag, 5 * sizeof(float));
    a->n++;
    return CAI_OK;
}

int cai_calib_from_runs(char *const *runs, int nruns, const cai_calib_opts *o, cai_calib *c, cJSON **sources,
                        cai_err *err) {
    memset(c, 0, sizeof *c);
    *sources = cJSON_CreateArray();
    pairs a = {0};
    char wsha[65] = "", first[512] = "";
    int tta = 0, rc = CAI_OK;
    for (int i = 0; i < nruns && !rc; i++) {
        char path[4200];
        char *buf;
        size_t len;
        snprintf(path, sizeof path, "%s/summary.json", runs[i]);
        if ((rc = cai_read_file(path, &buf, &len, err))) {
            cai_err_prefix(err, "run %s (expected a run's result folder): ", runs[i]);
            break;
        }
        cJSON *sj = cJSON_ParseWithLength(buf, len);
        free(buf);
        const cJSON *ws =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sj, "model"), "weights_sha256");
        const cJSON *tj = cJSON_GetObjectItemCaseSensitive(sj, "tta");
        int rt = cJSON_IsNumber(tj) && tj->valuedouble == 8 ? 8 : 1;
        if (!cJSON_IsString(ws) || strlen(ws->valuestring) != 64) {
            rc = cai_seterr(err, CAI_EFORMAT,
                            "%s: field \"model.weights_sha256\": missing (a calibration belongs to "
                            "one set of weights)",
                            path);
        } else if (wsha[0] && strcmp(wsha, ws->valuestring)) {
            rc = cai_seterr(err, CAI_EARG,
                            "%s used weights sha256 %.16s..., but %s used %.16s...: calibrate one set of "
                            "weights at a time",
                            runs[i], ws->valuestring, first, wsha);
        } else if (tta && tta != rt) {
            rc = cai_seterr(err, CAI_EARG, "%s: tta %d, but %s used tta %d: calibrate one setting at a time", runs[i],
                            rt, first, tta);
        } else {
            snprintf(wsha, sizeof wsha, "%s", ws->valuestring);
            if (!first[0]) snprintf(first, sizeof first, "%s", runs[i]);
            tta = rt;
        }
        cJSON_Delete(sj);
        if (rc) break;
        snprintf(path, sizeof path, "%s/predictions.csv", runs[i]);
        if ((rc = cai_read_file(path, &buf, &len, err))) {
            cai_err_prefix(err, "run %s (the run's catalog must be on): ", runs[i]);
            break;
        }
        int64_t before = a.n;
        rc = cai_predictions_parse(buf, len, path, on_pair, &a, err);
        free(buf);
        if (rc == CAI_ENOMEM && !err->msg[0]) cai_seterr(err, CAI_ENOMEM, "calibrate: out of memory");
        if (!rc && a.n == before)
            rc =
                cai_seterr(err, CAI_EARG, "%s: no galaxy has a true redshift (label): nothing to calibrate with", path);
        cJSON *so = cJSON_CreateObject();
        cJSON_AddStringToObject(so, "run", runs[i]);
        cJSON_AddNumberToObject(so, "labelled_galaxies", (double)(a.n - before));
        cJSON_AddItemToArray(*sources, so);
    }
    if (!rc) rc = cai_calib_build(a.p, a.z, a.m, a.n, wsha, tta, o, c, err);
    free(a.p);
    free(a.z);
    free(a.m);
    if (rc) {
        cJSON_Delete(*sources);
        *sources = NULL;
    }
    return rc;
}

/* ---- JSON ---- */

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void stats_json(cJSON *o, const cai_calib_stats *s) {
    cJSON_AddNumberToObject(o, "n", (double)s->n);
    add_num(o, "bias", s->bias);
    add_num(o, "median", s->median);
    add_num(o, "sigma_nmad", s->sigma_nmad);
    cJSON *q = cJSON_AddArrayToObject(o, "quantiles");
    for (int k = 0; k < CAI_CALIB_NQ; k++) cJSON_AddItemToArray(q, cJSON_CreateNumber(s->q[k]));
    add_num(o, "outlier_fraction_0.05", s->out05);
    add_num(o, "outlier_fraction_0.15", s->out15);
}

static cJSON *bins_json(const cai_calib_bin *b, int n, const char *lok, const char *hik) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, lok, b[i].lo);
        cJSON_AddNumberToObject(o, hik, b[i].hi);
        stats_json(o, &b[i].s);
        if (b[i].nsub > 0) {
            cJSON *sa = cJSON_AddArrayToObject(o, "by_rmag");
            for (int k = 0; k < b[i].nsub; k++) {
                cJSON *so = cJSON_CreateObject();
                cJSON_AddNumberToObject(so, "rmag_lo", b[i].sub_lo[k]);
                cJSON_AddNumberToObject(so, "rmag_hi", b[i].sub_hi[k]);
                stats_json(so, &b[i].sub[k]);
                cJSON_AddItemToArray(sa, so);
            }
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

cJSON *cai_calib_to_json(const cai_calib *c, const cJSON *sources) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", CAI_CALIB_FORMAT);
    cJSON_AddStringToObject(o, "weights_sha256", c->weights_sha256);
    cJSON_AddNumberToObject(o, "tta", c->tta);
    char iso[40];
    cai_iso8601(cai_wall_now(), iso, sizeof iso);
    cJSON_AddStringToObject(o, "created", iso);
    cJSON_AddStringToObject(o, "residual", "(z_pred - z_true) / (1 + z_true)");
    cJSON *ql = cJSON_AddArrayToObject(o, "quantile_levels");
    for (int k = 0; k < CAI_CALIB_NQ; k++) cJSON_AddItemToArray(ql, cJSON_CreateNumber(qlev[k]));
    if (sources) cJSON_AddItemToObject(o, "sources", cJSON_Duplicate(sources, 1));
    cJSON_AddNumberToObject(o, "galaxies", (double)c->n);
    cJSON_AddNumberToObject(o, "skipped", (double)c->skipped);
    cJSON *zr = cJSON_AddArrayToObject(o, "z_pred_range");
    cJSON_AddItemToArray(zr, cJSON_CreateNumber(c->zmin));
    cJSON_AddItemToArray(zr, cJSON_CreateNumber(c->zmax));
    if (c->has_mags) {
        cJSON *mr = cJSON_AddObjectToObject(o, "mag_range");
        const char *bn = "ugriz";
        for (int b = 0; b < 5; b++) {
            char k[2] = {bn[b], 0};
            cJSON *r = cJSON_AddArrayToObject(mr, k);
            cJSON_AddItemToArray(r, isfinite(c->mag_lo[b]) ? cJSON_CreateNumber(c->mag_lo[b]) : cJSON_CreateNull());
            cJSON_AddItemToArray(r, isfinite(c->mag_hi[b]) ? cJSON_CreateNumber(c->mag_hi[b]) : cJSON_CreateNull());
        }
    } else {
        cJSON_AddNullToObject(o, "mag_range");
    }
    stats_json(cJSON_AddObjectToObject(o, "overall"), &c->all);
    cJSON_AddItemToObject(o, "by_z_pred", bins_json(c->zb, c->nz, "z_pred_lo", "z_pred_hi"));
    cJSON_AddItemToObject(o, "by_rmag", bins_json(c->mb, c->nm, "rmag_lo", "rmag_hi"));
    return o;
}

/* Strict reading: every field named in its error. */
typedef struct {
    const char *name;
    cai_err *err;
    int rc;
} rd;

static double get_num(rd *r, const cJSON *o, const char *path, const char *k, int nullable) {
    if (r->rc) return NAN;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (nullable && cJSON_IsNull(v)) return NAN;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        r->rc = cai_seterr(r->err, v ? CAI_EFORMAT : CAI_EKEY, "%s: field \"%s%s\": %s", r->name, path, k,
                           v ? "expected a finite number" : "missing");
        return NAN;
    }
    return v->valuedouble;
}

static void get_stats(rd *r, const cJSON *o, const char *path, cai_calib_stats *s) {
    double n = get_num(r, o, path, "n", 0);
    if (r->rc) return;
    if (n < 1 || n != floor(n) || n > 9e15) {
        r->rc = cai_seterr(r->err, CAI_EFORMAT, "%s: field \"%sn\": expected a count >= 1", r->name, path);
        return;
    }
    s->n = (int64_t)n;
    s->bias = get_num(r, o, path, "bias", 0);
    s->median = get_num(r, o, path, "median", 0);
    s->sigma_nmad = get_num(r, o, path, "sigma_nmad", 0);
    s->out05 = get_num(r, o, path, "outlier_fraction_0.05", 0);
    s->out15 = get_num(r, o, path, "outlier_fraction_0.15", 0);
    if (r->rc) return;
    if (s->out05 < 0 || s->out05 > 1 || s->out15 < 0 || s->out15 > 1) {
        r->rc = cai_seterr(r->err, CAI_EFORMAT, "%s: field \"%soutlier_fraction_*\": expected a fraction in [0, 1]",
                           r->name, path);
        return;
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "quantiles");
    if (!cJSON_IsArray(q) || cJSON_GetArraySize(q) != CAI_CALIB_NQ) {
        r->rc = cai_seterr(r->err, CAI_EFORMAT, "%s: field \"%squantiles\": expected an array of %d numbers", r->name,
                           path, CAI_CALIB_NQ);
        return;
    }
    int k = 0;
    for (const cJSON *e = q->child; e; e = e->next, k++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || (k && e->valuedouble < s->q[k - 1])) {
            r->rc = cai_seterr(r->err, CAI_EFORMAT,
                               "%s: field \"%squantiles\"[%d]: expected a finite number, not below the previous one",
                               r->name, path, k);
            return;
        }
        s->q[k] = e->valuedouble;
    }
}

static void get_bins(rd *r, const cJSON *o, const char *k, const char *lok, const char *hik, int sub,
                     cai_calib_bin **out, int *nout) {
    if (r->rc) return;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsArray(a) || (!strcmp(k, "by_z_pred") && cJSON_GetArraySize(a) < 1) || cJSON_GetArraySize(a) > 100000) {
        r->rc = cai_seterr(r->err, a ? CAI_EFORMAT : CAI_EKEY, "%s: field \"%s\": %s", r->name, k,
                           a ? "expected a non-empty array of bins" : "missing");
        return;
    }
    int n = cJSON_GetArraySize(a);
    cai_calib_bin *b = calloc((size_t)(n ? n : 1), sizeof *b);
    if (!b) {
        r->rc = cai_seterr(r->err, CAI_ENOMEM, "%s: out of memory", r->name);
        return;
    }
    *out = b;
    *nout = n;
    int i = 0;
    for (const cJSON *e = a->child; e && !r->rc; e = e->next, i++) {
        char path[96];
        snprintf(path, sizeof path, "%s[%d].", k, i);
        if (!cJSON_IsObject(e)) {
            r->rc = cai_seterr(r->err, CAI_EFORMAT, "%s: field \"%s[%d]\": expected an object", r->name, k, i);
            break;
        }
        b[i].lo = get_num(r, e, path, lok, 0);
        b[i].hi = get_num(r, e, path, hik, 0);
        get_stats(r, e, path, &b[i].s);
        if (!r->rc && (b[i].hi < b[i].lo || (i && b[i].lo < b[i - 1].hi)))
            r->rc =
                cai_seterr(r->err, CAI_EFORMAT,
                           "%s: field \"%s[%d]\": bins must be in increasing, non-overlapping order", r->name, k, i);
        const cJSON *sa = cJSON_GetObjectItemCaseSensitive(e, "by_rmag");
        if (!r->rc && sub && sa) {
            if (!cJSON_IsArray(sa) || cJSON_GetArraySize(sa) < 2 || cJSON_GetArraySize(sa) > 1000) {
                r->rc = cai_seterr(r->err, CAI_EFORMAT, "%s: field \"%sby_rmag\": expected an array of 2 or more bins",
                                   r->name, path);
                break;
            }
            int ns = cJSON_GetArraySize(sa);
            b[i].nsub = ns;
            b[i].sub_lo = calloc((size_t)ns, sizeof(double));
            b[i].sub_hi = calloc((size_t)ns, sizeof(double));
            b[i].sub = calloc((size_t)ns, sizeof(cai_calib_stats));
            if (!b[i].sub_lo || !b[i].sub_hi || !b[i].sub) {
                r->rc = cai_seterr(r->err, CAI_ENOMEM, "%s: out of memory", r->name);
                break;
            }
            int j = 0;
            for (const cJSON *se = sa->child; se && !r->rc; se = se->next, j++) {
                char sp[128];
                snprintf(sp, sizeof sp, "%sby_rmag[%d].", path, j);
                if (!cJSON_IsObject(se)) {
                    r->rc = cai_seterr(r->err, CAI_EFORMAT, "%s: field \"%.120s\": expected an object", r->name, sp);
                    break;
                }
                b[i].sub_lo[j] = get_num(r, se, sp, "rmag_lo", 0);
                b[i].sub_hi[j] = get_num(r, se, sp, "rmag_hi", 0);
                get_stats(r, se, sp, &b[i].sub[j]);
                if (!r->rc && (b[i].sub_hi[j] < b[i].sub_lo[j] || (j && b[i].sub_lo[j] < b[i].sub_hi[j - 1])))
                    r->rc = cai_seterr(r->err, CAI_EFORMAT,
                                       "%s: field \"%.120s\": bins must be in increasing, non-overlapping order",
                                       r->name, sp);
            }
        }
    }
}

static int is_hex64(const char *s) {
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!strchr("0123456789abcdef", s[i])) return 0;
    return 1;
}

int cai_calib_parse(const char *buf, size_t len, const char *name, cai_calib *c, cai_err *err) {
    memset(c, 0, sizeof *c);
    cJSON *o = cJSON_ParseWithLength(buf, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return cai_seterr(err, CAI_EFORMAT, "%s: not a JSON object (expected a calibration from `cai calibrate`)",
                          name);
    }
    rd r = {name, err, CAI_OK};
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsString(f) || strcmp(f->valuestring, CAI_CALIB_FORMAT) != 0)
        r.rc = cai_seterr(err, CAI_EFORMAT, "%s: field \"format\": expected \"%s\"", name, CAI_CALIB_FORMAT);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "weights_sha256");
    if (!r.rc && (!cJSON_IsString(w) || !is_hex64(w->valuestring)))
        r.rc = cai_seterr(err, CAI_EFORMAT, "%s: field \"weights_sha256\": expected 64 lowercase hex digits", name);
    if (!r.rc) snprintf(c->weights_sha256, sizeof c->weights_sha256, "%s", w->valuestring);
    double tta = get_num(&r, o, "", "tta", 0);
    if (!r.rc && tta != 1 && tta != 8) r.rc = cai_seterr(err, CAI_EFORMAT, "%s: field \"tta\": expected 1 or 8", name);
    if (!r.rc) c->tta = (int)tta;
    double n = get_num(&r, o, "", "galaxies", 0), sk = get_num(&r, o, "", "skipped", 0);
    if (!r.rc && (n < 0 || n > 9e15 || n != floor(n) || sk < 0 || sk > 9e15 || sk != floor(sk)))
        r.rc = cai_seterr(err, CAI_EFORMAT, "%s: fields \"galaxies\", \"skipped\": expected counts", name);
    if (!r.rc) c->n = (int64_t)n, c->skipped = (int64_t)sk;
    const cJSON *zr = cJSON_GetObjectItemCaseSensitive(o, "z_pred_range");
    if (!r.rc && (!cJSON_IsArray(zr) || cJSON_GetArraySize(zr) != 2 || !cJSON_IsNumber(zr->child) ||
                  !cJSON_IsNumber(zr->child->next) || !(zr->child->valuedouble <= zr->child->next->valuedouble)))
        r.rc = cai_seterr(err, CAI_EFORMAT, "%s: field \"z_pred_range\": expected [min, max]", name);
    if (!r.rc) c->zmin = zr->child->valuedouble, c->zmax = zr->child->next->valuedouble;
    const cJSON *mr = cJSON_GetObjectItemCaseSensitive(o, "mag_range");
    for (int b = 0; b < 5; b++) c->mag_lo[b] = c->mag_hi[b] = NAN;
    if (!r.rc && cJSON_IsObject(mr)) {
        c->has_mags = 1;
        const char *bn = "ugriz";
        for (int b = 0; b < 5 && !r.rc; b++) {
            char k[2] = {bn[b], 0};
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(mr, k);
            if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 2) {
                r.rc = cai_seterr(err, CAI_EFORMAT, "%s: field \"mag_range.%s\": expected [min, max]", name, k);
                break;
            }
            const cJSON *lo = a->child, *hi = a->child->next;
            if (cJSON_IsNumber(lo) && cJSON_IsNumber(hi) && lo->valuedouble <= hi->valuedouble)
                c->mag_lo[b] = lo->valuedouble, c->mag_hi[b] = hi->valuedouble;
            else if (!(cJSON_IsNull(lo) && cJSON_IsNull(hi)))
                r.rc = cai_seterr(err, CAI_EFORMAT, "%s: field \"mag_range.%s\": expected [min, max] or [null, null]",
                                  name, k);
        }
    } else if (!r.rc && mr && !cJSON_IsNull(mr)) {
        r.rc = cai_seterr(err, CAI_EFORMAT, "%s: field \"mag_range\": expected an object or null", name);
    }
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(o, "overall");
    if (!r.rc && !cJSON_IsObject(all)) r.rc = cai_seterr(err, CAI_EKEY, "%s: field \"overall\": missing", name);
    if (!r.rc) get_stats(&r, all, "overall.", &c->all);
    get_bins(&r, o, "by_z_pred", "z_pred_lo", "z_pred_hi", 1, &c->zb, &c->nz);
    get_bins(&r, o, "by_rmag", "rmag_lo", "rmag_hi", 0, &c->mb, &c->nm);
    cJSON_Delete(o);
    if (r.rc) {
        cai_calib_free(c);
        return r.rc;
    }
    cai_sha256_hex(buf, len, c->sha256);
    return CAI_OK;
}

int cai_calib_load(const char *path, cai_calib *c, cai_err *err) {
    char *buf;
    size_t len;
    int rc = cai_read_file(path, &buf, &len, err);
    if (rc) {
        memset(c, 0, sizeof *c);
        return cai_err_prefix(err, "calibration: ");
    }
    rc = cai_calib_parse(buf, len, path, c, err);
    free(buf);
    return rc;
}

int cai_calib_fetch(cai_store *st, const char *bucket, const char *spec, cai_calib *c, cai_err *err) {
    memset(c, 0, sizeof *c);
    if (access(spec, R_OK) == 0 || !st || !bucket) return cai_calib_load(spec, c, err);
    uint8_t *buf;
    size_t len;
    if (cai_store_get(st, bucket, spec, &buf, &len, err))
        return cai_err_prefix(err, "calibration '%s' (neither a local file nor a key in bucket %s): ", spec, bucket);
    int rc = cai_calib_parse((const char *)buf, len, spec, c, err);
    free(buf);
    return rc;
}

int cai_calib_check(const cai_calib *c, const char *name, const char *weights_sha256, int tta, cai_err *err) {
    if (!weights_sha256 || strcmp(c->weights_sha256, weights_sha256) != 0)
        return cai_seterr(err, CAI_EARG,
                          "calibration %s was made for weights sha256 %.16s..., not these weights (sha256 %.16s...): "
                          "calibrate with `cai calibrate` on runs of these weights",
                          name, c->weights_sha256, weights_sha256 ? weights_sha256 : "unknown");
    int t = tta > 1 ? tta : 1;
    if (c->tta != t)
        return cai_seterr(err, CAI_EARG, "calibration %s was made from %s predictions, this run uses %s", name,
                          c->tta > 1 ? "--tta 8" : "plain (no --tta)", t > 1 ? "--tta 8" : "plain (no --tta)");
    return CAI_OK;
}

/* Δ quantile → z bound: z = (p − Δ)/(1 + Δ). With 1 + Δ <= 0 the bound is unbounded above. */
static double z_of(double p, double d) { return 1.0 + d > 1e-9 ? (p - d) / (1.0 + d) : INFINITY; }

void cai_calib_apply(const cai_calib *c, cai_pred_row *r) {
    r->flags &= ~(CAI_FLAG_MAG_RANGE | CAI_FLAG_Z_RANGE | CAI_FLAG_PRED_NONFINITE);
    double p = r->prediction;
    if (!isfinite(p) || c->nz < 1) {
        r->flags |= CAI_FLAG_PRED_NONFINITE;
        for (int k = 0; k < CAI_CAL_N; k++) r->cal[k] = NAN;
        return;
    }
    if (p < c->zmin || p > c->zmax) r->flags |= CAI_FLAG_Z_RANGE;
    if (c->has_mags)
        for (int b = 0; b < 5; b++)
            if (isfinite(r->mag[b]) && isfinite(c->mag_lo[b]) && (r->mag[b] < c->mag_lo[b] || r->mag[b] > c->mag_hi[b]))
                r->flags |= CAI_FLAG_MAG_RANGE;
    /* Bins split the line at the lower edges of bins 1..nz-1 (gaps between bins go to the lower one). */
    int i = 0;
    while (i + 1 < c->nz && p >= c->zb[i + 1].lo) i++;
    const cai_calib_bin *b = &c->zb[i];
    const cai_calib_stats *s = &b->s;
    double rm = r->mag[2];
    if (b->nsub > 0 && isfinite(rm)) {
        int k = 0;
        while (k + 1 < b->nsub && rm >= b->sub_lo[k + 1]) k++;
        s = &b->sub[k];
    }
    double lo68 = z_of(p, s->q[3]), hi68 = z_of(p, s->q[1]);
    double lo95 = z_of(p, s->q[4]), hi95 = z_of(p, s->q[0]);
    if (lo68 < 0) lo68 = 0;
    if (lo95 < 0) lo95 = 0;
    if (hi68 < 0) hi68 = 0;
    if (hi95 < 0) hi95 = 0;
    r->cal[CAI_CAL_LO68] = (float)lo68;
    r->cal[CAI_CAL_HI68] = (float)hi68;
    r->cal[CAI_CAL_LO95] = (float)lo95;
    r->cal[CAI_CAL_HI95] = (float)hi95;
    r->cal[CAI_CAL_ERR] = (float)(0.5 * (hi68 - lo68));
    r->cal[CAI_CAL_POUT] = (float)s->out15;
}
