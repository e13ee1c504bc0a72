/* catalog.c — merged catalog writers. cfitsio does the FITS work (headers, big-endian columns, padding to
 * 2880-byte records); we write columns in chunks so memory stays at one copy of the catalog. */
#include "catalog.h"

#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

int cai_catalog_add(cai_catalog *c, const cai_pred_row *r, cai_err *err) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4096;
        int64_t *g = realloc(c->gid, nc * sizeof *g);
        if (g) c->gid = g;
        int32_t *p = realloc(c->part, nc * sizeof *p);
        if (p) c->part = p;
        int32_t *x = realloc(c->idx, nc * sizeof *x);
        if (x) c->idx = x;
        float *f = realloc(c->pred, nc * sizeof *f);
        if (f) c->pred = f;
        float *l = realloc(c->label, nc * sizeof *l);
        if (l) c->label = l;
        if (!g || !p || !x || !f || !l) return cai_seterr(err, CAI_ENOMEM, "catalog: out of memory at %zu rows", c->n);
        c->cap = nc;
    }
    if (r->partition > INT32_MAX || r->partition < -1 || r->index > INT32_MAX || r->index < 0)
        return cai_seterr(err, CAI_EFORMAT, "catalog: partition %lld / index %lld out of range",
                          (long long)r->partition, (long long)r->index);
    c->gid[c->n] = r->galaxy_id;
    c->part[c->n] = (int32_t)r->partition;
    c->idx[c->n] = (int32_t)r->index;
    c->pred[c->n] = r->prediction;
    c->label[c->n] = r->has_label ? r->label : NAN;
    if (r->has_label) c->any_label = 1;
    c->n++;
    return CAI_OK;
}

void cai_catalog_free(cai_catalog *c) {
    free(c->gid);
    free(c->part);
    free(c->idx);
    free(c->pred);
    free(c->label);
    memset(c, 0, sizeof *c);
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
    int ncol = c->any_label ? 5 : 4;
    char *ttype[] = {"GALAXY_ID", "PARTITION", "INDEX", "Z_PRED", "Z_TRUE"};
    char *tform[] = {"K", "J", "J", "E", "E"};
    char *tunit[] = {"", "", "", "", ""};
    long long nulv = -1;
    fits_create_tbl(f, BINARY_TBL, 0, ncol, ttype, tform, tunit, "PREDICTIONS", &status);
    fits_write_key(f, TLONGLONG, "TNULL1", &nulv, "galaxy_id absent (seed .pt partition)", &status);
    fits_modify_comment(f, "TTYPE1", "galaxy id (shards); null for seed .pt", &status);
    fits_modify_comment(f, "TTYPE2", "partition number N of N.pt / N.safetensors", &status);
    fits_modify_comment(f, "TTYPE3", "galaxy index within its partition", &status);
    fits_modify_comment(f, "TTYPE4", "predicted redshift (AstroMAE)", &status);
    if (ncol == 5) fits_modify_comment(f, "TTYPE5", "label: true redshift (NaN if none)", &status);
    long long ng = (long long)c->n;
    fits_write_key(f, TLONGLONG, "NGALAXY", &ng, "rows = galaxies predicted", &status);
    fits_write_key(f, TSTRING, "MODEL", (void *)(m && m->model_variant ? m->model_variant : "unknown"),
                   "AstroMAE block variant", &status);
    if (m && m->weights_sha256)
        fits_write_key_longstr(f, "WSHA256", m->weights_sha256, "sha256 of the weights file", &status);
    if (m && m->untrained >= 0) {
        int u = m->untrained;
        fits_write_key(f, TLOGICAL, "UNTRAIN", &u, "T: untrained weights, predictions not physical", &status);
    }
    if (m && m->bucket) fits_write_key(f, TSTRING, "BUCKET", (void *)m->bucket, "run bucket", &status);
    if (m && m->result_path) fits_write_key_longstr(f, "RESPATH", m->result_path, "run result_path", &status);
    if (m && m->run_id) fits_write_key_longstr(f, "RUNID", m->run_id, "run id", &status);
    fits_write_key(f, TSTRING, "CAIVER", "0.1.0", "cai version", &status);
    fits_write_date(f, &status);
    if (status) {
        int e = errno, s2 = 0;
        fits_close_file(f, &s2);
        return fits_fail(status, e, path, "header", err);
    }
    /* Columns in chunks of rows (cfitsio buffers and converts to big-endian). */
    const size_t chunk = 1 << 16;
    for (size_t r = 0; r < c->n && !status; r += chunk) {
        size_t k = c->n - r < chunk ? c->n - r : chunk;
        LONGLONG row = (LONGLONG)r + 1;
        fits_write_col(f, TLONGLONG, 1, row, 1, (LONGLONG)k, (void *)(c->gid + r), &status);
        fits_write_col(f, TINT, 2, row, 1, (LONGLONG)k, (void *)(c->part + r), &status);
        fits_write_col(f, TINT, 3, row, 1, (LONGLONG)k, (void *)(c->idx + r), &status);
        fits_write_col(f, TFLOAT, 4, row, 1, (LONGLONG)k, (void *)(c->pred + r), &status);
        if (ncol == 5) fits_write_col(f, TFLOAT, 5, row, 1, (LONGLONG)k, (void *)(c->label + r), &status);
    }
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
    fputs(CAI_PRED_HEADER, m);
    for (size_t i = 0; i < c->n; i++) {
        if (c->gid[i] >= 0) fprintf(m, "%lld", (long long)c->gid[i]);
        fprintf(m, ",%d,%d,%.9g,", c->part[i], c->idx[i], (double)c->pred[i]);
        if (!isnan(c->label[i])) fprintf(m, "%.9g", (double)c->label[i]);
        fputc('\n', m);
    }
    if (fclose(m) != 0) {
        free(*out);
        *out = NULL;
        return cai_seterr(err, CAI_ENOMEM, "catalog: out of memory writing CSV");
    }
    return CAI_OK;
}
