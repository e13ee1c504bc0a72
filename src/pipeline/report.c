/* report.c — validation report (see report.h). Statistics are computed here, in C, from the catalog rows;
 * gnuplot only draws the .dat files, so every number in report.md and the pictures comes from one place.
 * Δ = (z_pred − z_true)/(1 + z_true); σ_NMAD = 1.48·median|Δ − median Δ|; bias = mean Δ. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/util.h"
#include "calibrate.h"
#include "plot.h"
#include "predictions.h"

typedef struct {
    float *p, *z, *r, *lo68, *hi68, *lo95, *hi95;
    int64_t n, cap, unlabelled;
    int has_cal, has_r;
} rows;

static int on_row(const cai_pred_row *x, void *ctx) {
    rows *a = ctx;
    if (!x->has_label || !isfinite(x->label) || !isfinite(x->prediction)) {
        a->unlabelled++;
        return CAI_OK;
    }
    if (a->n == a->cap) {
        int64_t nc = a->cap ? a->cap * 2 : 4096;
        float **cols[] = {&a->p, &a->z, &a->r, &a->lo68, &a->hi68, &a->lo95, &a->hi95};
        for (int k = 0; k < 7; k++) {
            float *q = realloc(*cols[k], (size_t)nc * sizeof *q);
            if (!q) return CAI_ENOMEM;
            *cols[k] = q;
        }
        a->cap = nc;
    }
    a->p[a->n] = x->prediction;
    a->z[a->n] = x->label;
    a->r[a->n] = x->mag[2];
    a->lo68[a->n] = x->cal[CAI_CAL_LO68];
    a->hi68[a->n] = x->cal[CAI_CAL_HI68];
    a->lo95[a->n] = x->cal[CAI_CAL_LO95];
    a->hi95[a->n] = x->cal[CAI_CAL_HI95];
    if (isfinite(x->cal[CAI_CAL_LO68])) a->has_cal = 1;
    if (isfinite(x->mag[2])) a->has_r = 1;
    a->n++;
    return CAI_OK;
}

static void rows_free(rows *a) {
    free(a->p), free(a->z), free(a->r), free(a->lo68), free(a->hi68), free(a->lo95), free(a->hi95);
}

static double dz(const rows *a, int64_t i) { return ((double)a->p[i] - a->z[i]) / (1.0 + a->z[i]); }

/* Stats of the rows whose key (z or r) lies in [lo, hi). */
static void stats_in(const rows *a, const float *key, double lo, double hi, cai_calib_stats *s, double *scratch) {
    int64_t m = 0;
    for (int64_t i = 0; i < a->n; i++)
        if (isfinite(key[i]) && key[i] >= lo && key[i] < hi) scratch[m++] = dz(a, i);
    cai_calib_stats_of(scratch, m, s);
}

static int gp_open(FILE **g, FILE **d, const char *outdir, const char *name, cai_err *err) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s.dat", outdir, name);
    *d = fopen(p, "w");
    snprintf(p, sizeof p, "%s/%s.gp", outdir, name);
    *g = fopen(p, "w");
    if (!*d || !*g) {
        if (*d) fclose(*d);
        if (*g) fclose(*g);
        return cai_seterr(err, CAI_EIO, "%s: cannot write: %s", p, strerror(errno));
    }
    fprintf(*g,
            "# %s.gp — written by `cai report`; rerun with: cd <this folder> && gnuplot %s.gp\n"
            "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
            "  set terminal pngcairo size 900,720 enhanced font \"DejaVu Sans,12\"\n"
            "} else {\n"
            "  set terminal png size 900,720\n"
            "}\n"
            "cd ARG0[1:strlen(ARG0)-strlen(\"%s.gp\")]\n"
            "set output \"%s.png\"\n"
            "set grid lc rgb \"#dddddd\"\n",
            name, name, name, name);
    return CAI_OK;
}

static int gp_finish(FILE *g, FILE *d, const char *outdir, const char *name, const char *what, FILE *info,
                     cai_err *err) {
    int bad = ferror(g) | ferror(d);
    bad |= fclose(g) | fclose(d);
    char p[1200];
    snprintf(p, sizeof p, "%s/%s.gp", outdir, name);
    if (bad) return cai_seterr(err, CAI_EIO, "%s: write failed", p);
    int rc = cai_plot_run_gnuplot(p, err);
    if (rc) return rc;
    snprintf(p, sizeof p, "%s/%s.png", outdir, name);
    struct stat st;
    if (stat(p, &st) || st.st_size < 100) return cai_seterr(err, CAI_EIO, "%s: gnuplot wrote no image", p);
    if (info) fprintf(info, "wrote %s (%s)\n", p, what);
    return CAI_OK;
}

static void range_of(const float *x, int64_t n, double *lo, double *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(x[i])) {
            if (x[i] < *lo) *lo = x[i];
            if (x[i] > *hi) *hi = x[i];
        }
    if (!(*hi > *lo)) *hi = *lo + 1e-3;
}

/* Density of z_pred vs z_true: counts on a 60x60 grid, drawn as an image, with the lines. */
static int plot_density(const rows *a, const char *outdir, FILE *info, cai_err *err) {
    FILE *g, *d;
    int rc = gp_open(&g, &d, outdir, "zpred_vs_ztrue", err);
    if (rc) return rc;
    double zl, zh, pl, ph;
    range_of(a->z, a->n, &zl, &zh);
    range_of(a->p, a->n, &pl, &ph);
    double lo = fmin(zl, pl), hi = fmax(zh, ph);
    lo = lo > 0 ? 0 : lo;
    hi += 0.02 * (hi - lo);
    enum { G = 60 };
    static int64_t cnt[G][G];
    memset(cnt, 0, sizeof cnt);
    double w = (hi - lo) / G;
    for (int64_t i = 0; i < a->n; i++) {
        int x = (int)((a->z[i] - lo) / w), y = (int)((a->p[i] - lo) / w);
        if (x >= 0 && x < G && y >= 0 && y < G) cnt[x][y]++;
    }
    for (int x = 0; x < G; x++) {
        for (int y = 0; y < G; y++)
            fprintf(d, "%.6g %.6g %lld\n", lo + (x + 0.5) * w, lo + (y + 0.5) * w,
                    cnt[x][y] ? (long long)cnt[x][y] : 0LL);
        fputc('\n', d);
    }
    fprintf(g,
            "set title \"Predicted vs true redshift (%lld galaxies)\"\n"
            "set xlabel \"z_{true}\"\nset ylabel \"z_{pred}\"\n"
            "set xrange [%g:%g]\nset yrange [%g:%g]\nset size square\n"
            "set logscale cb\nset cbrange [1:*]\nset cblabel \"galaxies per cell\"\n"
            "set palette defined (0 \"#f7fbff\", 1 \"#6baed6\", 2 \"#08306b\")\n"
            "set key top left box opaque\n"
            "plot \"zpred_vs_ztrue.dat\" using 1:2:($3 > 0 ? $3 : 1/0) with image notitle, \\\n"
            "     x with lines lw 2 lc rgb \"#d62728\" title \"1:1\", \\\n"
            "     x + 0.15*(1+x) with lines lw 1.5 dt 2 lc rgb \"#ff7f0e\" title \"±0.15(1+z) outlier limits\", \\\n"
            "     x - 0.15*(1+x) with lines lw 1.5 dt 2 lc rgb \"#ff7f0e\" notitle\n",
            (long long)a->n, lo, hi, lo, hi);
    return gp_finish(g, d, outdir, "zpred_vs_ztrue", "z_pred vs z_true density", info, err);
}

/* Δ vs key (z_true or r mag): points, running median, median ± σ_NMAD in NB bins. */
static int plot_dz_vs(const rows *a, const float *key, const char *name, const char *xlabel, FILE *info,
                      const char *outdir, double *scratch, cai_err *err) {
    FILE *g, *d;
    int rc = gp_open(&g, &d, outdir, name, err);
    if (rc) return rc;
    /* points (at most 20,000: a denser cloud only hides the lines) */
    int64_t step = a->n > 20000 ? a->n / 20000 : 1;
    for (int64_t i = 0; i < a->n; i += step)
        if (isfinite(key[i])) fprintf(d, "%.6g %.6g\n", key[i], dz(a, i));
    fprintf(d, "\n\n");
    double lo, hi;
    range_of(key, a->n, &lo, &hi);
    enum { NB = 15 };
    double w = (hi - lo) / NB;
    for (int b = 0; b < NB; b++) {
        cai_calib_stats s;
        double bl = lo + b * w, bh = b == NB - 1 ? hi + 1e-9 : lo + (b + 1) * w;
        stats_in(a, key, bl, bh, &s, scratch);
        if (s.n >= 5)
            fprintf(d, "%.6g %.6g %.6g %.6g\n", 0.5 * (bl + bh), s.median, s.median - s.sigma_nmad,
                    s.median + s.sigma_nmad);
    }
    fprintf(
        g,
        "set title \"{/Symbol D}z/(1+z) vs %s\"\n"
        "set xlabel \"%s\"\nset ylabel \"(z_{pred} - z_{true}) / (1 + z_{true})\"\n"
        "set key top right box opaque\n"
        "plot \"%s.dat\" index 0 using 1:2 with points pt 7 ps 0.3 lc rgb \"#9ecae1\" title \"galaxies\", \\\n"
        "     \"\" index 1 using 1:2 with linespoints lw 2 pt 7 lc rgb \"#08306b\" title \"running median\", \\\n"
        "     \"\" index 1 using 1:3 with lines lw 1.5 dt 2 lc rgb \"#d62728\" title \"median ± {/Symbol s}_{NMAD}\", \\\n"
        "     \"\" index 1 using 1:4 with lines lw 1.5 dt 2 lc rgb \"#d62728\" notitle, \\\n"
        "     0 with lines lc rgb \"black\" notitle, 0.15 with lines dt 3 lc rgb \"#ff7f0e\" title \"±0.15\", \\\n"
        "     -0.15 with lines dt 3 lc rgb \"#ff7f0e\" notitle\n",
        xlabel, xlabel, name);
    return gp_finish(g, d, outdir, name, "residuals with running median and sigma_NMAD", info, err);
}

/* PIT at the resolution the catalog gives: the CDF is known at the interval bounds (2.5, 16, 84, 97.5 %),
 * so the histogram has those 5 bins, each drawn as density (count / bin width / n): flat at 1 when the
 * intervals are calibrated, U-shaped when too narrow, peaked when too wide. */
static int plot_pit(const rows *a, const char *outdir, FILE *info, double cov[2], cai_err *err) {
    FILE *g, *d;
    int rc = gp_open(&g, &d, outdir, "pit", err);
    if (rc) return rc;
    const double edge[6] = {0, 0.025, 0.16, 0.84, 0.975, 1};
    int64_t cnt[5] = {0}, n = 0, in68 = 0, in95 = 0;
    for (int64_t i = 0; i < a->n; i++) {
        if (!isfinite(a->lo68[i])) continue;
        double z = a->z[i];
        int b = z < a->lo95[i] ? 0 : z < a->lo68[i] ? 1 : z <= a->hi68[i] ? 2 : z <= a->hi95[i] ? 3 : 4;
        cnt[b]++;
        n++;
        in68 += b == 2;
        in95 += b >= 1 && b <= 3;
    }
    cov[0] = n ? (double)in68 / n : NAN;
    cov[1] = n ? (double)in95 / n : NAN;
    for (int b = 0; b < 5; b++)
        fprintf(d, "%.4f %.4f %.6g\n", 0.5 * (edge[b] + edge[b + 1]), edge[b + 1] - edge[b],
                n ? (double)cnt[b] / n / (edge[b + 1] - edge[b]) : 0);
    fprintf(g,
            "set title \"PIT histogram (%lld galaxies): 68%% coverage %.3f, 95%% coverage %.3f\"\n"
            "set xlabel \"PIT = CDF(z_{true}) from Z\\\\_LO95, Z\\\\_LO68, Z\\\\_HI68, Z\\\\_HI95\"\n"
            "set ylabel \"density (1 = calibrated)\"\nset xrange [0:1]\nset yrange [0:*]\n"
            "set style fill solid 0.6 border lc rgb \"#08306b\"\nset key top right box opaque\n"
            "plot \"pit.dat\" using 1:3:2 with boxes lc rgb \"#6baed6\" title \"galaxies\", \\\n"
            "     1 with lines lw 2 dt 2 lc rgb \"#d62728\" title \"uniform (calibrated)\"\n",
            (long long)n, cov[0], cov[1]);
    return gp_finish(g, d, outdir, "pit", "PIT histogram", info, err);
}

static int plot_nz(const rows *a, const char *outdir, FILE *info, cai_err *err) {
    FILE *g, *d;
    int rc = gp_open(&g, &d, outdir, "nz", err);
    if (rc) return rc;
    double zl, zh, pl, ph;
    range_of(a->z, a->n, &zl, &zh);
    range_of(a->p, a->n, &pl, &ph);
    double lo = fmin(zl, pl), hi = fmax(zh, ph);
    enum { NB = 40 };
    double w = (hi - lo) / NB;
    int64_t cz[NB] = {0}, cp[NB] = {0};
    for (int64_t i = 0; i < a->n; i++) {
        int bz = (int)((a->z[i] - lo) / w), bp = (int)((a->p[i] - lo) / w);
        cz[bz < 0 ? 0 : bz >= NB ? NB - 1 : bz]++;
        cp[bp < 0 ? 0 : bp >= NB ? NB - 1 : bp]++;
    }
    for (int b = 0; b < NB; b++) fprintf(d, "%.6g %lld %lld\n", lo + (b + 0.5) * w, (long long)cz[b], (long long)cp[b]);
    fprintf(g,
            "set title \"n(z): predictions vs truth (%lld galaxies)\"\n"
            "set xlabel \"z\"\nset ylabel \"galaxies per bin (width %.4f)\"\nset key top right box opaque\n"
            "plot \"nz.dat\" using 1:2 with steps lw 2 lc rgb \"#08306b\" title \"z_{true}\", \\\n"
            "     \"\" using 1:3 with steps lw 2 lc rgb \"#d62728\" title \"z_{pred}\"\n",
            (long long)a->n, w);
    return gp_finish(g, d, outdir, "nz", "n(z) predictions vs truth", info, err);
}

static void md_row(FILE *m, const char *label, const cai_calib_stats *s) {
    if (s->n == 0) {
        fprintf(m, "| %s | 0 | | | | |\n", label);
        return;
    }
    fprintf(m, "| %s | %lld | %.4f | %+.4f | %.2f%% | %.2f%% |\n", label, (long long)s->n, s->sigma_nmad, s->bias,
            100 * s->out05, 100 * s->out15);
}

int cai_report(const char *run_dir, const char *outdir, FILE *info, cai_err *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/predictions.csv", run_dir);
    char *buf;
    size_t len;
    int rc = cai_read_file(path, &buf, &len, err);
    if (rc) return cai_err_prefix(err, "report: run %s (the run's catalog must be on): ", run_dir);
    rows a;
    memset(&a, 0, sizeof a);
    rc = cai_predictions_parse(buf, len, path, on_row, &a, err);
    free(buf);
    if (rc == CAI_ENOMEM) cai_seterr(err, CAI_ENOMEM, "report: out of memory");
    if (!rc && a.n == 0)
        rc = cai_seterr(err, CAI_EARG, "%s: no galaxy has a true redshift (label): a validation report needs them",
                        path);
    if (!rc) rc = cai_mkdirs(outdir, err);
    double *scratch = rc ? NULL : malloc((size_t)a.n * sizeof *scratch);
    if (!rc && !scratch) rc = cai_seterr(err, CAI_ENOMEM, "report: out of memory");
    double cov[2] = {NAN, NAN};
    if (!rc) rc = plot_density(&a, outdir, info, err);
    if (!rc) rc = plot_dz_vs(&a, a.z, "dz_vs_z", "z_{true}", info, outdir, scratch, err);
    if (!rc && a.has_r) rc = plot_dz_vs(&a, a.r, "dz_vs_rmag", "r magnitude", info, outdir, scratch, err);
    if (!rc && a.has_cal) rc = plot_pit(&a, outdir, info, cov, err);
    if (!rc) rc = plot_nz(&a, outdir, info, err);
    if (!rc) {
        snprintf(path, sizeof path, "%s/report.md", outdir);
        FILE *m = fopen(path, "w");
        if (!m) rc = cai_seterr(err, CAI_EIO, "%s: %s", path, strerror(errno));
        else {
            char sumtxt[200] = "";
            {
                char sp[4200], *sb;
                size_t sl;
                snprintf(sp, sizeof sp, "%s/summary.json", run_dir);
                if (cai_read_file(sp, &sb, &sl, NULL) == CAI_OK) {
                    cJSON *sj = cJSON_ParseWithLength(sb, sl);
                    const cJSON *u =
                        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(sj, "model"), "untrained");
                    if (cJSON_IsTrue(u))
                        snprintf(sumtxt, sizeof sumtxt,
                                 "\n**The weights are untrained: these predictions are not physical.**\n");
                    cJSON_Delete(sj);
                    free(sb);
                }
            }
            fprintf(m, "# Validation report: %s\n%s\n", run_dir, sumtxt);
            fprintf(m,
                    "%lld galaxies with a true redshift (%lld without, not used). Δ = (z_pred − z_true)/(1 + "
                    "z_true); σ_NMAD = 1.48·median|Δ − median Δ|; bias = mean Δ; outlier rates are the fractions "
                    "with |Δ| > 0.05 and |Δ| > 0.15. Bins are in z_true.\n\n",
                    (long long)a.n, (long long)a.unlabelled);
            fprintf(m,
                    "| z_true bin | n | σ_NMAD | bias | outliers >0.05 | outliers >0.15 |\n"
                    "|---|---|---|---|---|---|\n");
            double lo, hi;
            range_of(a.z, a.n, &lo, &hi);
            double w = 0.05;
            double b0 = floor(lo / w) * w;
            for (double b = b0; b < hi && b < b0 + 200 * w; b += w) {
                cai_calib_stats s;
                stats_in(&a, a.z, b, b + w, &s, scratch);
                if (s.n == 0) continue;
                char label[64];
                snprintf(label, sizeof label, "%.2f–%.2f", b, b + w);
                md_row(m, label, &s);
            }
            cai_calib_stats all;
            for (int64_t i = 0; i < a.n; i++) scratch[i] = dz(&a, i);
            cai_calib_stats_of(scratch, a.n, &all);
            md_row(m, "**all**", &all);
            if (a.has_cal)
                fprintf(m,
                        "\nCalibrated intervals: the true z is inside [Z_LO68, Z_HI68] for %.1f%% of the galaxies "
                        "(nominal 68%%) and inside [Z_LO95, Z_HI95] for %.1f%% (nominal 95%%).\n",
                        100 * cov[0], 100 * cov[1]);
            fprintf(m,
                    "\n## Pictures\n\n"
                    "- `zpred_vs_ztrue.png`: density of z_pred vs z_true, 1:1 line, ±0.15(1+z) outlier limits\n"
                    "- `dz_vs_z.png`: Δ vs z_true, running median and median ± σ_NMAD\n");
            if (a.has_r) fprintf(m, "- `dz_vs_rmag.png`: Δ vs r magnitude, running median and median ± σ_NMAD\n");
            if (a.has_cal) fprintf(m, "- `pit.png`: PIT histogram from the calibrated intervals (flat = calibrated)\n");
            fprintf(m, "- `nz.png`: n(z) of predictions and of truth\n");
            if (fclose(m)) rc = cai_seterr(err, CAI_EIO, "%s: write failed", path);
            else if (info) fprintf(info, "wrote %s\n", path);
        }
    }
    free(scratch);
    rows_free(&a);
    return rc;
}
