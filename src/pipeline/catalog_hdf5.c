/* catalog_hdf5.c — the catalog as HDF5 (Debian's libhdf5): one 1-D dataset per column at the root, named as
 * the FITS columns, with "unit" and "description" attributes; the provenance as root attributes. h5py reads
 * it as f["Z_PRED"][:], f.attrs["weights_sha256"]. Nulls as in FITS: -1 for ids (attribute "null"), NaN for
 * floats. */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "flags.h"

static int str_attr(hid_t obj, const char *name, const char *val) {
    /* variable-length UTF-8: h5py gives a Python str (fixed-length strings come back as bytes) */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    const char *v = val;
    int rc = a < 0 || H5Awrite(a, t, &v) < 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

static int i64_attr(hid_t obj, const char *name, long long v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, H5T_NATIVE_LLONG, &v) < 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

int cai_catalog_write_hdf5(const cai_catalog *c, const cai_catalog_meta *m, const char *path, cai_err *err) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors become our messages, not HDF5's stderr dump */
    remove(path);
    errno = 0; /* HDF5 does not say why a write failed; the C library's errno does ("No space left on device") */
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        return cai_seterr(err, CAI_EIO, "%s: cannot create the HDF5 file%s%s", path, errno ? ": " : "",
                          errno ? strerror(errno) : "");
    int bad = 0;
    char date[32], keys[16][24], vals[16][160];
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tmv);
    int np = cai_catalog_provenance(m, date, keys, vals, 16);
    for (int i = 0; i < np; i++) bad |= str_attr(f, keys[i], vals[i]);
    bad |= i64_attr(f, "galaxies", (long long)c->n);
    bad |= str_attr(f, "nulls", "integer ids: -1; floating columns: NaN");
    if (c->has & CAI_PCOL_FLAGS)
        for (int b = 0; b < CAI_FLAG_NBITS; b++) {
            char k[24];
            snprintf(k, sizeof k, "FLAGS_bit%d", b);
            bad |= str_attr(f, k, cai_flag_desc(b));
        }
    cai_catcol cols[32];
    int nc = cai_catalog_cols(c, cols);
    hsize_t dims[1] = {(hsize_t)c->n};
    static const size_t esz[] = {8, 4, 4, 8};
    void *buf = malloc((c->n ? c->n : 1) * 8);
    if (!buf) {
        H5Fclose(f);
        return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
    }
    for (int ci = 0; ci < nc && !bad; ci++) {
        hid_t ft = cols[ci].type == CAI_CT_I64   ? H5T_STD_I64LE
                   : cols[ci].type == CAI_CT_I32 ? H5T_STD_I32LE
                   : cols[ci].type == CAI_CT_F32 ? H5T_IEEE_F32LE
                                                 : H5T_IEEE_F64LE;
        hid_t mt = cols[ci].type == CAI_CT_I64   ? H5T_NATIVE_INT64
                   : cols[ci].type == CAI_CT_I32 ? H5T_NATIVE_INT32
                   : cols[ci].type == CAI_CT_F32 ? H5T_NATIVE_FLOAT
                                                 : H5T_NATIVE_DOUBLE;
        for (size_t i = 0; i < c->n; i++) {
            int64_t iv;
            double dv;
            cai_catalog_value(&c->rows[i], &cols[ci], &iv, &dv);
            switch (cols[ci].type) {
            case CAI_CT_I64: ((int64_t *)buf)[i] = iv; break;
            case CAI_CT_I32: ((int32_t *)buf)[i] = (int32_t)iv; break;
            case CAI_CT_F32: ((float *)buf)[i] = (float)dv; break;
            case CAI_CT_F64: ((double *)buf)[i] = dv; break;
            }
        }
        (void)esz;
        hid_t sp = H5Screate_simple(1, dims, NULL);
        hid_t d = H5Dcreate2(f, cols[ci].name, ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (d < 0 || (c->n && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)) bad = 1;
        if (d >= 0) {
            bad |= str_attr(d, "unit", cols[ci].unit);
            bad |= str_attr(d, "description", cols[ci].desc);
            if (!strcmp(cols[ci].name, "GALAXY_ID") || !strcmp(cols[ci].name, "OBJID")) bad |= i64_attr(d, "null", -1);
            H5Dclose(d);
        }
        H5Sclose(sp);
    }
    free(buf);
    int e = bad ? errno : 0;
    if (H5Fclose(f) < 0) bad = 1, e = e ? e : errno;
    if (bad)
        return cai_seterr(err, CAI_EIO, "%s: writing the HDF5 catalog failed%s%s", path, e ? ": " : "",
                          e ? strerror(e) : "");
    return CAI_OK;
}
