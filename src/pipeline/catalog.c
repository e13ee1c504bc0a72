/* catalog.c — merged catalog: rows, columns, FITS and CSV writers (HDF5: catalog_hdf5.c). cfitsio does the
 * FITS work (headers, big-endian columns, padding to 2880-byte records); columns are written in chunks of
 * rows so memory stays at one copy of the catalog plus one chunk. */
#include "catalog.h"

#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/util.h"
#include "../common/version.h"
#include "flags.h"

enum {
    F_GID,
    F_OBJID,
    F_RA,
    F_DEC,
    F_PART,
    F_IDX,
    F_ZPRED,
    F_CAL0,
    F_ZSTD = F_CAL0 + CAI_CAL_N,
    F_ZTRUE,
    F_FLAGS,
    F_MAG0
};
#define HAS_LABEL (1u << 16)

static const struct {
    cai_catcol c;
    unsigned need; /* CAI_PCOL_* group (or HAS_LABEL) required; 0 = always */
} all_cols[] = {
    {{"GALAXY_ID", CAI_CT_I64, "", "galaxy id of the CAI shard; null (-1) for seed .pt input", F_GID}, 0},
    {{"OBJID", CAI_CT_I64, "", "survey object id (cai split --ids); null (-1) if none", F_OBJID}, CAI_PCOL_OBJID},
    {{"RA", CAI_CT_F64, "deg", "right ascension, J2000; NaN if unknown", F_RA}, CAI_PCOL_RADEC},
    {{"DEC", CAI_CT_F64, "deg", "declination, J2000; NaN if unknown", F_DEC}, CAI_PCOL_RADEC},
    {{"PARTITION", CAI_CT_I32, "", "partition number N of N.pt / N.safetensors", F_PART}, 0},
    {{"INDEX", CAI_CT_I32, "", "row of the galaxy within its partition", F_IDX}, 0},
    {{"Z_PRED", CAI_CT_F32, "", "predicted redshift (AstroMAE; TTA mean with --tta)", F_ZPRED}, 0},
    {{"Z_ERR", CAI_CT_F32, "", "1-sigma redshift error: (Z_HI68 - Z_LO68) / 2", F_CAL0 + CAI_CAL_ERR}, CAI_PCOL_CAL},
    {{"Z_LO68", CAI_CT_F32, "", "lower bound of the central 68% interval of z", F_CAL0 + CAI_CAL_LO68}, CAI_PCOL_CAL},
    {{"Z_HI68", CAI_CT_F32, "", "upper bound of the central 68% interval of z", F_CAL0 + CAI_CAL_HI68}, CAI_PCOL_CAL},
    {{"Z_LO95", CAI_CT_F32, "", "lower bound of the central 95% interval of z", F_CAL0 + CAI_CAL_LO95}, CAI_PCOL_CAL},
    {{"Z_HI95", CAI_CT_F32, "", "upper bound of the central 95% interval of z", F_CAL0 + CAI_CAL_HI95}, CAI_PCOL_CAL},
    {{"P_OUTLIER", CAI_CT_F32, "", "probability that |dz|/(1+z) > 0.15 (calibration bin)", F_CAL0 + CAI_CAL_POUT},
     CAI_PCOL_CAL},
    {{"Z_STD", CAI_CT_F32, "", "std of the 8 test-time-augmented predictions", F_ZSTD}, CAI_PCOL_ZSTD},
    {{"Z_TRUE", CAI_CT_F32, "", "true (spectroscopic) redshift label; NaN if none", F_ZTRUE}, HAS_LABEL},
    {{"FLAGS", CAI_CT_I32, "", "quality bitmask: see FLAGBn keywords", F_FLAGS}, CAI_PCOL_FLAGS},
    {{"MAG_U", CAI_CT_F32, "mag", "input u magnitude", F_MAG0 + 0}, CAI_PCOL_MAGS},
    {{"MAG_G", CAI_CT_F32, "mag", "input g magnitude", F_MAG0 + 1}, CAI_PCOL_MAGS},
    {{"MAG_R", CAI_CT_F32, "mag", "input r magnitude", F_MAG0 + 2}, CAI_PCOL_MAGS},
    {{"MAG_I", CAI_CT_F32, "mag", "input i magnitude", F_MAG0 + 3}, CAI_PCOL_MAGS},
    {{"MAG_Z", CAI_CT_F32, "mag", "input z magnitude", F_MAG0 + 4}, CAI_PCOL_MAGS},
};
#define NALL (int)(sizeof all_cols / sizeof all_cols[0])

int cai_catalog_cols(const cai_catalog *c, cai_catcol *out) {
    unsigned has = c->has | (c->any_label ? HAS_LABEL : 0);
    int k = 0;
    for (int i = 0; i < NALL; i++)
        if (!all_cols[i].need || (has & all_cols[i].need)) out[k++] = all_cols[i].c;
    return k;
}

void cai_catalog_columns(const cai_catalog *c, char *out, size_t n) {
    cai_catcol cols[32];
    int nc = cai_catalog_cols(c, cols);
    size_t l = 0;
    out[0] = 0;
    for (int i = 0; i < nc && l < n; i++) l += (size_t)snprintf(out + l, n - l, "%s%s", i ? "," : "", cols[i].name);
}

void cai_catalog_value(const cai_pred_row *r, const cai_catcol *col, int64_t *iv, double *dv) {
    *iv = 0;
    *dv = NAN;
    int id = col->id;
    if (id == F_GID) *iv = r->galaxy_id >= 0 ? r->galaxy_id : -1;
    else if (id == F_OBJID) *iv = r->has_objid ? r->objid : -1;
    else if (id == F_RA) *dv = r->ra;
    else if (id == F_DEC) *dv = r->dec;
    else if (id == F_PART) *iv = r->partition;
    else if (id == F_IDX) *iv = r->index;
    else if (id == F_ZPRED) *dv = r->prediction;
    else if (id >= F_CAL0 && id < F_CAL0 + CAI_CAL_N) *dv = r->cal[id - F_CAL0];
    else if (id == F_ZSTD) *dv = r->z_std;
    else if (id == F_ZTRUE) *dv = r->has_label ? r->label : NAN;
    else if (id == F_FLAGS) *iv = (int64_t)r->flags;
    else if (id >= F_MAG0 && id < F_MAG0 + 5) *dv = r->mag[id - F_MAG0];
}

int cai_catalog_add(cai_catalog *c, const cai_pred_row *r, cai_err *err) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4096;
        cai_pred_row *nr = realloc(c->rows, nc * sizeof *nr);
        if (!nr) return cai_seterr(err, CAI_ENOMEM, "catalog: out of memory at %zu rows", c->n);
        c->rows = nr;
        c->cap = nc;
    }
    if (r->partition > INT32_MAX || r->partition < -1 || r->index > INT32_MAX || r->index < 0)
        return cai_seterr(err, CAI_EFORMAT, "catalog: partition %lld / index %lld out of range",
                          (long long)r->partition, (long long)r->index);
    if (r->has_objid && r->objid < 0)
        return cai_seterr(err, CAI_EFORMAT, "catalog: objid %lld is negative (ids are >= 0; -1 is the null value)",
                          (long long)r->objid);
    cai_pred_row *d = &c->rows[c->n];
    *d = *r;
    if (!d->has_label) d->label = NAN;
    if (r->has_label) c->any_label = 1;
    unsigned h = r->cols & (CAI_PCOL_FLAGS | CAI_PCOL_ZSTD | CAI_PCOL_CAL);
    if (r->has_objid) h |= CAI_PCOL_OBJID;
    if (!isnan(r->ra) || !isnan(r->dec)) h |= CAI_PCOL_RADEC;
    for (int b = 0; b < 5; b++)
        if (!isnan(r->mag[b])) h |= CAI_PCOL_MAGS;
    c->has |= h;
    c->n++;
    return CAI_OK;
}

void cai_catalog_free(cai_catalog *c) {
    free(c->rows);
    memset(c, 0, sizeof *c);
}

void cai_catalog_apply_calib(cai_catalog *c, const cai_calib *cal) {
    for (size_t i = 0; i < c->n; i++) cai_calib_apply(cal, &c->rows[i]);
    if (c->n) c->has |= CAI_PCOL_CAL | CAI_PCOL_FLAGS;
}

int cai_catalog_provenance(const cai_catalog_meta *m, const char *date, char keys[][24], char vals[][160], int max) {
    int k = 0;
#define PROV(K, V)                                                                                                     \
    do {                                                                                                               \
        if (k < max) {                                                                                                 \
            snprintf(keys[k], 24, "%s", K);                                                                            \
            snprintf(vals[k], 160, "%s", V);                                                                           \
            k++;                                                                                                       \
        }                                                                                                              \
    } while (0)
    PROV("cai_version", CAI_VERSION);
    PROV("date_utc", date);
    PROV("model", m && m->model_variant ? m->model_variant : "unknown");
    PROV("weights_sha256", m && m->weights_sha256 ? m->weights_sha256 : "unknown");
    PROV("untrained", !m || m->untrained < 0 ? "unknown" : m->untrained ? "true" : "false");
    PROV("calibration_sha256", m && m->calib_sha256 ? m->calib_sha256 : "none");
    PROV("input_manifest_sha256", m && m->manifest_sha256 ? m->manifest_sha256 : "none");
    PROV("run_id", m && m->run_id ? m->run_id : "none");
    PROV("bucket", m && m->bucket ? m->bucket : "");
    PROV("result_path", m && m->result_path ? m->result_path : "");
    PROV("tta", m && m->tta > 1 ? "8" : "1");
#undef PROV
    return k;
}

static void utc_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tmv);
}

/* cfitsio reports a failed write as status 106/107/108 without the cause; the C library's errno from the
 * fwrite/fflush underneath is still set (nothing after the failing call touches the file), so name it —
 * "No space left on device" is what a user must see when TMPDIR is full. */
static int fits_fail(int status, int saved_errno, const char *path, const char *what, cai_err *err) {
    char msg[FLEN_STATUS];
    fits_get_errstatus(status, msg);
    if (saved_errno && (status == WRITE_ERROR || status == FILE_NOT_CREATED || status == FILE_NOT_CLOSED))
        return cai_seterr(err, CAI_EIO, "%s: cfitsio %s failed: %s (status %d): %s", path, what, msg, status,
                          strerror(saved_errno));
    return cai_seterr(err, CAI_EIO, "%s: cfitsio %s failed: %s (status %d)", path, what, msg, status);
}

int cai_catalog_write_fits(const cai_catalog *c, const cai_catalog_meta *m, const char *path, cai_err *err) {
    fitsfile *f = NULL;
    int status = 0;
    char fname[4200];
    snprintf(fname, sizeof fname, "!%s", path); /* '!' = overwrite */
    remove(path);
    errno = 0;
    if (fits_create_file(&f, fname, &status)) return fits_fail(status, errno, path, "create", err);
    cai_catcol cols[32];
    int ncol = cai_catalog_cols(c, cols);
    char *ttype[32], *tform[32], *tunit[32];
    static const char *forms[] = {"K", "J", "E", "D"};
    for (int i = 0; i < ncol; i++) {
        ttype[i] = (char *)cols[i].name;
        tform[i] = (char *)forms[cols[i].type];
        tunit[i] = (char *)cols[i].unit;
    }
    fits_create_tbl(f, BINARY_TBL, 0, ncol, ttype, tform, tunit, "PREDICTIONS", &status);
    long long nulv = -1;
    for (int i = 0; i < ncol && !status; i++) {
        char kw[24];
        snprintf(kw, sizeof kw, "TTYPE%d", i + 1);
        fits_modify_comment(f, kw, (char *)cols[i].desc, &status);
        snprintf(kw, sizeof kw, "TCOMM%d", i + 1);
        fits_write_key_longstr(f, kw, (char *)cols[i].desc, "column description", &status);
        if (cols[i].type == CAI_CT_I64 && (cols[i].id == F_GID || cols[i].id == F_OBJID)) {
            snprintf(kw, sizeof kw, "TNULL%d", i + 1);
            fits_write_key(f, TLONGLONG, kw, &nulv, "null value: id absent", &status);
        }
        if (cols[i].unit[0]) { /* already written by fits_create_tbl; comment it */
            snprintf(kw, sizeof kw, "TUNIT%d", i + 1);
            fits_modify_comment(f, kw, "physical unit", &status);
        }
    }
    long long ng = (long long)c->n;
    fits_write_key(f, TLONGLONG, "NGALAXY", &ng, "rows = galaxies predicted", &status);
    fits_write_key(f, TSTRING, "MODEL", (void *)(m && m->model_variant ? m->model_variant : "unknown"),
                   "AstroMAE block variant", &status);
    if (m && m->weights_sha256)
        fits_write_key_longstr(f, "WSHA256", (char *)m->weights_sha256, "sha256 of the weights file", &status);
    if (m && m->untrained >= 0) {
        int u = m->untrained;
        fits_write_key(f, TLOGICAL, "UNTRAIN", &u, "T: untrained weights, predictions not physical", &status);
    }
    if (m && m->calib_sha256)
        fits_write_key_longstr(f, "CSHA256", (char *)m->calib_sha256, "sha256 of the calibration file", &status);
    if (m && m->manifest_sha256)
        fits_write_key_longstr(f, "MSHA256", (char *)m->manifest_sha256, "sha256 of the input manifest.jsonl", &status);
    int tta = m && m->tta > 1 ? m->tta : 1;
    fits_write_key(f, TINT, "TTA", &tta, "views averaged per galaxy (8: test-time augmentation)", &status);
    if (m && m->bucket) fits_write_key(f, TSTRING, "BUCKET", (void *)m->bucket, "run bucket", &status);
    if (m && m->result_path) fits_write_key_longstr(f, "RESPATH", (char *)m->result_path, "run result_path", &status);
    if (m && m->run_id) fits_write_key_longstr(f, "RUNID", (char *)m->run_id, "run id", &status);
    fits_write_key(f, TSTRING, "CAIVER", CAI_VERSION, "cai version", &status);
    fits_write_date(f, &status); /* DATE = UTC time of writing */
    if (c->has & CAI_PCOL_FLAGS)
        for (int b = 0; b < CAI_FLAG_NBITS; b++) {
            char kw[24], cm[48];
            snprintf(kw, sizeof kw, "FLAGB%d", b);
            snprintf(cm, sizeof cm, "FLAGS bit %d (value %u)", b, 1u << b);
            fits_write_key(f, TSTRING, kw, (void *)cai_flag_desc(b), cm, &status);
        }
    fits_write_comment(f, "Nulls: integer columns use TNULLn (-1); floating columns use IEEE NaN.", &status);
    fits_write_comment(f, "Redshifts and P_OUTLIER are dimensionless. Intervals: docs/science.md.", &status);
    if (status) {
        int e = errno, s2 = 0;
        fits_close_file(f, &s2);
        return fits_fail(status, e, path, "header", err);
    }
    /* Columns in chunks of rows (cfitsio buffers and converts to big-endian). */
    const size_t chunk = 1 << 15;
    void *buf = malloc(chunk * 8);
    if (!buf) {
        int s2 = 0;
        fits_close_file(f, &s2);
        return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
    }
    for (size_t r = 0; r < c->n && !status; r += chunk) {
        size_t k = c->n - r < chunk ? c->n - r : chunk;
        for (int ci = 0; ci < ncol && !status; ci++) {
            for (size_t i = 0; i < k; i++) {
                int64_t iv;
                double dv;
                cai_catalog_value(&c->rows[r + i], &cols[ci], &iv, &dv);
                switch (cols[ci].type) {
                case CAI_CT_I64: ((long long *)buf)[i] = iv; break;
                case CAI_CT_I32: ((int *)buf)[i] = (int)iv; break;
                case CAI_CT_F32: ((float *)buf)[i] = (float)dv; break;
                case CAI_CT_F64: ((double *)buf)[i] = dv; break;
                }
            }
            static const int dt[] = {TLONGLONG, TINT, TFLOAT, TDOUBLE};
            fits_write_col(f, dt[cols[ci].type], ci + 1, (LONGLONG)r + 1, 1, (LONGLONG)k, buf, &status);
        }
    }
    free(buf);
    if (!status) fits_write_chksum(f, &status);
    int e = status ? errno : 0, s2 = 0;
    if (!status) errno = 0; /* the close flushes cfitsio's buffers: that is where a full disk shows */
    fits_close_file(f, &s2);
    if (!status && s2) e = errno;
    if (status || s2) return fits_fail(status ? status : s2, e, path, "write", err);
    return CAI_OK;
}

int cai_catalog_csv(const cai_catalog *c, char **out, size_t *len, cai_err *err) {
    *out = NULL;
    *len = 0;
    FILE *m = open_memstream(out, len);
    if (!m) return cai_seterr(err, CAI_ENOMEM, "catalog: out of memory");
    unsigned cols = c->has & CAI_PCOL_ALL;
    cai_pred_header_write(m, cols);
    for (size_t i = 0; i < c->n; i++) cai_pred_row_write(m, &c->rows[i], cols);
    if (fclose(m) != 0) {
        free(*out);
        *out = NULL;
        return cai_seterr(err, CAI_ENOMEM, "catalog: out of memory writing CSV");
    }
    return CAI_OK;
}

int cai_catalog_csv_full(const cai_catalog *c, const cai_catalog_meta *meta, char **out, size_t *len, cai_err *err) {
    *out = NULL;
    *len = 0;
    FILE *m = open_memstream(out, len);
    if (!m) return cai_seterr(err, CAI_ENOMEM, "catalog: out of memory");
    char date[32], keys[16][24], vals[16][160];
    utc_now(date, sizeof date);
    int np = cai_catalog_provenance(meta, date, keys, vals, 16);
    fprintf(m, "# CAI photometric-redshift catalog (AstroMAE); %zu galaxies\n", c->n);
    for (int i = 0; i < np; i++) fprintf(m, "# %s: %s\n", keys[i], vals[i]);
    cai_catcol cols[32];
    int nc = cai_catalog_cols(c, cols);
    fprintf(m, "# nulls: empty field (ids and floats alike)\n");
    for (int i = 0; i < nc; i++)
        fprintf(m, "# column %s%s%s%s: %s\n", cols[i].name, cols[i].unit[0] ? " [" : "", cols[i].unit,
                cols[i].unit[0] ? "]" : "", cols[i].desc);
    if (c->has & CAI_PCOL_FLAGS)
        for (int b = 0; b < CAI_FLAG_NBITS; b++)
            fprintf(m, "# FLAGS bit %d (value %u): %s\n", b, 1u << b, cai_flag_desc(b));
    for (int i = 0; i < nc; i++) fprintf(m, "%s%s", i ? "," : "", cols[i].name);
    fputc('\n', m);
    for (size_t r = 0; r < c->n; r++) {
        for (int i = 0; i < nc; i++) {
            int64_t iv;
            double dv;
            cai_catalog_value(&c->rows[r], &cols[i], &iv, &dv);
            if (i) fputc(',', m);
            if (cols[i].type == CAI_CT_I64 || cols[i].type == CAI_CT_I32) {
                if (!(iv < 0 && (cols[i].id == F_GID || cols[i].id == F_OBJID))) fprintf(m, "%lld", (long long)iv);
            } else if (!isnan(dv)) {
                fprintf(m, cols[i].type == CAI_CT_F64 ? "%.17g" : "%.9g", dv);
            }
        }
        fputc('\n', m);
    }
    if (fclose(m) != 0) {
        free(*out);
        *out = NULL;
        return cai_seterr(err, CAI_ENOMEM, "catalog: out of memory writing CSV");
    }
    return CAI_OK;
}
