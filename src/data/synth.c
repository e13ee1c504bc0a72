/* synth.c — synthetic SDSS-MGS-like galaxies.
 *
 * The model, per galaxy (all numbers in docs/data.md):
 *   z        gamma(k=4, θ=0.0275) truncated to [0.005, 0.4): mode 0.08, median ~0.1, like the MGS n(z).
 *   type     early (bulge-dominated, B/T 0.55–0.95) with probability 0.35+0.3z, else late (B/T 0–0.35).
 *   M_r      normal(-20.8, 1.0) truncated so that r = M_r + DM(z) + K_r(z) lies in [14.0, 17.77] (the MGS
 *            flux limit): luminous galaxies at high z, faint ones nearby, as in a flux-limited sample.
 *   colours  per component: a bulge (early) and a disk (late) SED whose observed u-g, g-r, r-i, i-z redden
 *            with z (a linear k-correction-like term), plus a per-galaxy scatter; the galaxy's colour is the
 *            flux-weighted blend, so it also tracks B/T.
 *   sizes    disk R_e = 4.5 kpc (L/L*)^0.25 x lognormal(0.15 dex); bulge R_e 0.75 (early) or 0.3 (late) of
 *            it; angular size = R_e / D_A(z) at 0.396"/px, so galaxies shrink with z.
 *   shape    exponential disk (Sérsic n=1) + de Vaucouleurs bulge (n=4), disk axis ratio from a random
 *            inclination (intrinsic thickness 0.2), common position angle, sub-pixel centre jitter.
 *   image    rendered on a 48x48 grid (5x5 sub-sampling near the centre), each band convolved with a
 *            Gaussian PSF (FWHM 1.5/1.4/1.3/1.25/1.25" for ugriz x a per-galaxy seeing factor 0.85–1.25),
 *            cropped to the central 32x32, then Poisson-like galaxy noise and Gaussian sky noise per band.
 *   units    nanomaggies per pixel (SDSS's calibrated unit: m = 22.5 - 2.5 log10 f).
 *   mags     the rendered galaxy's total flux per band as a magnitude, plus a measurement error from the
 *            same noise model (capped at 0.5 mag).
 * Cosmology: flat ΛCDM, H0 = 70 km/s/Mpc, Ωm = 0.3. */
#include "synth.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manifest.h"
#include "seedpt.h"
#include "shard.h"

/* ---- Counter-keyed generator: xoshiro256** seeded from a hash of (seed, id). ---- */

typedef struct {
    uint64_t s[4];
    double spare;
    int has_spare;
} rng_t;

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_init(rng_t *r, uint64_t seed, int64_t id) {
    /* mix64 is a bijection: for a fixed seed, distinct ids give distinct keys. */
    uint64_t key = mix64(mix64(seed + 0x9E3779B97F4A7C15ull) + (uint64_t)id);
    for (int i = 0; i < 4; i++) {
        key += 0x9E3779B97F4A7C15ull;
        r->s[i] = mix64(key);
    }
    r->has_spare = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng_t *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in the open interval (0, 1). */
static double unif(rng_t *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }
static double unif_ab(rng_t *r, double a, double b) { return a + (b - a) * unif(r); }

/* Standard normal by Marsaglia's polar method (no sin/cos: a third faster than Box-Muller here). */
static double gauss(rng_t *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, q;
    do {
        u = 2 * unif(r) - 1;
        v = 2 * unif(r) - 1;
        q = u * u + v * v;
    } while (q >= 1 || q == 0);
    double m = sqrt(-2 * log(q) / q);
    r->spare = v * m;
    r->has_spare = 1;
    return u * m;
}

/* Standard normal CDF and its inverse (Acklam's rational approximation, relative error < 1.2e-9). */
static double phi(double x) { return 0.5 * erfc(-x / M_SQRT2); }
static double phi_inv(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p <= 0) return -40;
    if (p >= 1) return 40;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425) return -phi_inv(1 - p);
    double q = p - 0.5, t = q * q;
    return (((((a[0] * t + a[1]) * t + a[2]) * t + a[3]) * t + a[4]) * t + a[5]) * q /
           (((((b[0] * t + b[1]) * t + b[2]) * t + b[3]) * t + b[4]) * t + 1);
}

/* Standard normal truncated to [lo, hi], by inverting the CDF (working in the lower tail for accuracy). */
static double trunc_gauss(rng_t *r, double lo, double hi) {
    if (lo > 0) return -trunc_gauss(r, -hi, -lo);
    double pa = phi(lo), pb = phi(hi);
    double x = phi_inv(pa + (pb - pa) * unif(r));
    return x < lo ? lo : x > hi ? hi : x;
}

/* ---- Cosmology (flat ΛCDM). ---- */

#define C_OVER_H0 (299792.458 / 70.0) /* Mpc */
static double comoving_mpc(double z) {
    const int n = 32; /* Simpson on a smooth integrand: far below the other approximations here */
    double h = z / n, s = 0;
    for (int i = 0; i <= n; i++) {
        double zz = i * h, e = 1.0 / sqrt(0.3 * (1 + zz) * (1 + zz) * (1 + zz) + 0.7);
        s += e * (i == 0 || i == n ? 1 : (i % 2 ? 4 : 2));
    }
    return C_OVER_H0 * s * h / 3.0;
}

/* ---- Galaxy model constants. ---- */

#define G 48       /* render grid (the 32x32 cutout is its centre: 8 px margin for PSF and wings) */
#define OFF 8
#define PIX_ARCSEC 0.396
static const double psf_fwhm_arcsec[5] = {1.5, 1.4, 1.3, 1.25, 1.25};
/* Electrons per nanomaggy (Poisson term) and sky noise per pixel in nanomaggies, roughly SDSS's. */
static const double gain_e_per_nmgy[5] = {160, 1100, 1130, 900, 160};
static const double sky_sigma_nmgy[5] = {0.07, 0.017, 0.025, 0.04, 0.17};

/* Observed colours (u-g, g-r, r-i, i-z) of the two components as functions of z. */
static void colours(int bulge, double z, double col[4]) {
    if (bulge) {
        col[0] = 1.70 + 2.0 * z;
        col[1] = 0.75 + 2.3 * z;
        col[2] = 0.38 + 0.9 * z;
        col[3] = 0.30 + 0.3 * z;
    } else {
        col[0] = 1.15 + 1.0 * z;
        col[1] = 0.42 + 1.2 * z;
        col[2] = 0.25 + 0.5 * z;
        col[3] = 0.18 + 0.2 * z;
    }
}

/* ugriz magnitudes relative to r, from colours. */
static void rel_mags(const double col[4], double rel[5]) {
    rel[2] = 0;
    rel[1] = col[1];           /* g = r + (g-r) */
    rel[0] = col[1] + col[0];  /* u = g + (u-g) */
    rel[3] = -col[2];          /* i = r - (r-i) */
    rel[4] = -col[2] - col[3]; /* z = i - (i-z) */
}

typedef struct {
    double re, q, cpa, spa, b, inv_n;
} sersic;

static double sersic_at(const sersic *s, double dx, double dy) {
    double u = dx * s->cpa + dy * s->spa, v = (-dx * s->spa + dy * s->cpa) / s->q;
    double x = sqrt(u * u + v * v) / s->re;
    double a = s->b * (s->inv_n == 1.0 ? x : sqrt(sqrt(x))); /* n = 1 or 4 */
    return a > 60 ? 0 : exp(-a); /* e^-60 ~ 1e-26 of the centre: nothing, and exp is most of the cost */
}

/* Render a unit-flux component on the G x G grid. */
static void render(const sersic *s, double cx, double cy, double *img) {
    double sum = 0;
    for (int y = 0; y < G; y++)
        for (int x = 0; x < G; x++) {
            double px = x + 0.5 - cx, py = y + 0.5 - cy, v;
            if (fabs(px) < 3.5 && fabs(py) < 3.5) { /* steep core: 5x5 sub-samples */
                v = 0;
                for (int j = 0; j < 5; j++)
                    for (int i = 0; i < 5; i++) v += sersic_at(s, px + (i - 2) * 0.2, py + (j - 2) * 0.2);
                v /= 25;
            } else {
                v = sersic_at(s, px, py);
            }
            img[y * G + x] = v;
            sum += v;
        }
    double inv = sum > 0 ? 1.0 / sum : 0;
    for (int i = 0; i < G * G; i++) img[i] *= inv;
}

void cai_synth_galaxy(uint64_t seed, int64_t id, float *image, double *mag, float *zout, cai_synth_truth *truth) {
    rng_t r;
    rng_init(&r, seed, id);

    /* Redshift: gamma(4, 0.0275) by a product of uniforms, truncated by rejection. */
    double z;
    do z = -0.0275 * log(unif(&r) * unif(&r) * unif(&r) * unif(&r));
    while (z < 0.005 || z >= 0.4);

    int early = unif(&r) < 0.35 + 0.3 * z;
    double bt = early ? unif_ab(&r, 0.55, 0.95) : 0.35 * unif(&r) * unif(&r);

    double dc = comoving_mpc(z), dl = dc * (1 + z), da = dc / (1 + z);
    double dm = 5 * log10(dl) + 25;
    double kr = (early ? 1.2 : 0.6) * z;
    const double mu = -20.8, sd = 1.0;
    double lo = (14.0 - dm - kr - mu) / sd, hi = (17.77 - dm - kr - mu) / sd;
    double absm = mu + sd * trunc_gauss(&r, lo, hi);
    double rmag = absm + dm + kr;

    /* Colours: component SEDs + a galaxy-level offset. */
    double cb[4], cd[4], rb[5], rd[5];
    colours(1, z, cb);
    colours(0, z, cd);
    double dcol[4] = {0.12 * gauss(&r), 0.05 * gauss(&r), 0.03 * gauss(&r), 0.04 * gauss(&r)};
    for (int i = 0; i < 4; i++) {
        cb[i] += dcol[i];
        cd[i] += dcol[i];
    }
    rel_mags(cb, rb);
    rel_mags(cd, rd);
    double fr = pow(10, -0.4 * (rmag - 22.5));
    double fb[5], fd[5];
    for (int b = 0; b < 5; b++) {
        fb[b] = bt * fr * pow(10, -0.4 * rb[b]);
        fd[b] = (1 - bt) * fr * pow(10, -0.4 * rd[b]);
    }

    /* Sizes and shapes. */
    double kpc_per_px = da * 1e3 / 206264.806 * PIX_ARCSEC;
    double re_d_kpc = 4.5 * pow(10, -0.1 * (absm + 21)) * pow(10, 0.15 * gauss(&r));
    double re_b_kpc = (early ? 0.75 : 0.3) * re_d_kpc;
    double re_d = fmin(fmax(re_d_kpc / kpc_per_px, 0.3), 25), re_b = fmin(fmax(re_b_kpc / kpc_per_px, 0.3), 25);
    double cosi = unif(&r), q = sqrt(cosi * cosi * (1 - 0.04) + 0.04);
    double pa = M_PI * unif(&r), qb = unif_ab(&r, 0.6, 1.0), pab = pa + 0.2 * gauss(&r);
    double cx = G / 2.0 + unif_ab(&r, -0.5, 0.5), cy = G / 2.0 + unif_ab(&r, -0.5, 0.5);
    sersic disk = {re_d, q, cos(pa), sin(pa), 1.678, 1.0};
    sersic bulge = {re_b, qb, cos(pab), sin(pab), 7.669, 0.25};
    double seeing = unif_ab(&r, 0.85, 1.25);

    double dimg[G * G], bimg[G * G], model[G * G], tmp[G * 32], sig[5];
    render(&disk, cx, cy, dimg);
    render(&bulge, cx, cy, bimg);
    for (int b = 0; b < 5; b++) {
        for (int i = 0; i < G * G; i++) model[i] = fb[b] * bimg[i] + fd[b] * dimg[i];
        /* Separable Gaussian PSF; only the rows/columns the 32x32 cutout needs. */
        double s = psf_fwhm_arcsec[b] * seeing / 2.3548 / PIX_ARCSEC, w[17], ws = 0;
        sig[b] = s;
        int R = (int)ceil(4 * s);
        if (R > OFF) R = OFF;
        for (int k = -R; k <= R; k++) ws += (w[k + R] = exp(-0.5 * k * k / (s * s)));
        for (int k = 0; k <= 2 * R; k++) w[k] /= ws;
        /* Loops ordered so the innermost runs along x (vectorizes). */
        for (int y = 0; y < G; y++) {
            double *t = tmp + y * 32;
            for (int x = 0; x < 32; x++) t[x] = 0;
            for (int k = -R; k <= R; k++) {
                const double *src = model + y * G + OFF + k, wk = w[k + R];
                for (int x = 0; x < 32; x++) t[x] += wk * src[x];
            }
        }
        float *out = image + b * 1024;
        double row[32];
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) row[x] = 0;
            for (int k = -R; k <= R; k++) {
                const double *src = tmp + (OFF + y + k) * 32, wk = w[k + R];
                for (int x = 0; x < 32; x++) row[x] += wk * src[x];
            }
            for (int x = 0; x < 32; x++) {
                double a = row[x];
                double var = (a > 0 ? a / gain_e_per_nmgy[b] : 0) + sky_sigma_nmgy[b] * sky_sigma_nmgy[b];
                out[y * 32 + x] = (float)(a + sqrt(var) * gauss(&r));
            }
        }
        /* Magnitude: total flux, with the error a photometric fit over the galaxy's footprint would have. */
        double f = fb[b] + fd[b], re_eff = bt * re_b + (1 - bt) * re_d;
        double npix = fmax(4 * M_PI * (re_eff * re_eff + s * s), 10);
        double sf = sqrt(f / gain_e_per_nmgy[b] + npix * sky_sigma_nmgy[b] * sky_sigma_nmgy[b]);
        double mtrue = 22.5 - 2.5 * log10(f), sm = fmin(1.0857 * sf / f, 0.5);
        mag[b] = mtrue + sm * gauss(&r);
        if (truth) truth->mag_true[b] = mtrue;
    }
    *zout = (float)z;
    if (truth) {
        truth->z = z;
        truth->early = early;
        truth->bt = bt;
        truth->re_disk_px = re_d;
        truth->re_bulge_px = re_b;
        truth->q = q;
        truth->pa = pa;
        truth->abs_mag_r = absm;
        for (int b = 0; b < 5; b++) truth->psf_fwhm_px[b] = sig[b] * 2.3548;
    }
}

void cai_synth_galaxies(uint64_t seed, int64_t id0, int64_t count, float *images, double *mags, float *z,
                        int threads) {
    int nt = threads > 0 ? threads : cai_ncpu();
#pragma omp parallel for schedule(dynamic, 8) num_threads(nt)
    for (int64_t i = 0; i < count; i++)
        cai_synth_galaxy(seed, id0 + i, images + i * CAI_SYNTH_NPIX, mags + i * 5, z + i, NULL);
}

/* ---- Output directory hygiene (shared with split). ---- */

int cai_data_prepare_outdir(const char *dir, int force, cai_err *err) {
    int rc = cai_mkdirs(dir, err);
    if (rc) return rc;
    DIR *d = opendir(dir);
    if (!d) return cai_seterr(err, CAI_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
    regex_t re;
    regcomp(&re, "^[0-9]+\\.(pt|safetensors)$", REG_EXTENDED | REG_NOSUB);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (regexec(&re, n, 0, NULL, 0) != 0 && strcmp(n, CAI_MANIFEST_JSONL) && strcmp(n, CAI_MANIFEST_SIDECAR))
            continue;
        if (!force) {
            rc = cai_seterr(err, CAI_EARG,
                            "%s: already holds a data set (%s); choose an empty directory or pass --force to "
                            "replace it",
                            dir, n);
            break;
        }
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, n);
        if (unlink(p) != 0) {
            rc = cai_seterr(err, CAI_EIO, "%s: cannot remove: %s", p, strerror(errno));
            break;
        }
    }
    regfree(&re);
    closedir(d);
    return rc;
}

int cai_synth_write(const cai_synth_opts *o, cai_synth_report *rep, cai_err *err) {
    cai_synth_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    double t0 = cai_mono_now();
    if (o->galaxies <= 0) return cai_seterr(err, CAI_EARG, "synth: --galaxies must be a positive integer");
    if (o->id_offset < 0 || o->id_offset > (INT64_C(1) << 53) - o->galaxies)
        return cai_seterr(err, CAI_EARG, "synth: --id-offset must be non-negative and ids below 2^53");
    int64_t per = o->per_file > 0 ? o->per_file : 1278;
    cai_part_format fmt = o->format ? o->format : CAI_PART_SHARD;
    if (fmt != CAI_PART_SHARD && fmt != CAI_PART_SEEDPT) return cai_seterr(err, CAI_EARG, "synth: unknown format");
    if (!o->outdir || !*o->outdir) return cai_seterr(err, CAI_EARG, "synth: no output directory");
    int rc = cai_data_prepare_outdir(o->outdir, o->force, err);
    if (rc) return rc;
    int64_t rows = per < o->galaxies ? per : o->galaxies;
    float *img = malloc((size_t)rows * CAI_SYNTH_NPIX * sizeof(float));
    double *mag = malloc((size_t)rows * 5 * sizeof(double));
    float *z = malloc((size_t)rows * sizeof(float));
    int64_t *ids = malloc((size_t)rows * sizeof(int64_t));
    cai_manifest_writer *mw = NULL;
    if (!img || !mag || !z || !ids) {
        rc = cai_seterr(err, CAI_ENOMEM, "synth: out of memory for %" PRId64 " galaxies per file", per);
        goto out;
    }
    if ((rc = cai_manifest_writer_open(o->outdir, &mw, err))) goto out;
    int64_t nfiles = (o->galaxies + per - 1) / per;
    const char *ext = fmt == CAI_PART_SHARD ? "safetensors" : "pt";
    for (int64_t f = 0; f < nfiles; f++) {
        int64_t first = f * per, n = o->galaxies - first < per ? o->galaxies - first : per;
        int64_t id0 = o->id_offset + first;
        cai_synth_galaxies(o->seed, id0, n, img, mag, z, o->threads);
        for (int64_t i = 0; i < n; i++) ids[i] = id0 + i;
        char key[64], path[4400], pname[32];
        snprintf(key, sizeof key, "%" PRId64 ".%s", f + 1, ext);
        snprintf(pname, sizeof pname, "%" PRId64, f + 1);
        snprintf(path, sizeof path, "%s/%s", o->outdir, key);
        cai_manifest_entry e = {.key = key, .galaxies = n, .id_first = id0, .id_last = id0 + n - 1, .format = fmt};
        if (fmt == CAI_PART_SHARD) {
            cai_shard_data d = {n, img, mag, ids, z, pname, NULL, NULL, NULL};
            rc = cai_shard_write(path, &d, &e.bytes, e.sha256, err);
        } else {
            rc = cai_seedpt_write(path, n, img, mag, z, err);
            if (!rc) rc = cai_manifest_hash_file(path, &e.bytes, e.sha256, err);
        }
        if (rc) goto out;
        if ((rc = cai_manifest_writer_add(mw, &e, err))) goto out;
        rep->files++;
        rep->galaxies += n;
        rep->bytes += e.bytes;
        if (o->progress) o->progress(o->ctx, rep->galaxies, o->galaxies);
    }
    rc = cai_manifest_writer_finish(mw, per, err);
    mw = NULL;
out:
    if (mw) cai_manifest_writer_abort(mw);
    free(img);
    free(mag);
    free(z);
    free(ids);
    rep->seconds = cai_mono_now() - t0;
    return rc;
}
