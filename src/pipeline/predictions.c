/* predictions.c — predictions-file rows: writer and strict parser (see predictions.h). The parser reads
 * files other processes wrote (a rank on another machine, an older CAI), so every field is bounded and
 * checked, and the header decides exactly how many fields each line must have. */
#include "predictions.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The optional groups, in file order. */
static const struct {
    unsigned bit;
    const char *names; /* comma-separated, each preceded by ',' */
    int nfields;
} groups[] = {
    {CAI_PCOL_OBJID, ",objid", 1},
    {CAI_PCOL_RADEC, ",ra,dec", 2},
    {CAI_PCOL_MAGS, ",mag_u,mag_g,mag_r,mag_i,mag_z", 5},
    {CAI_PCOL_FLAGS, ",flags", 1},
    {CAI_PCOL_ZSTD, ",z_std", 1},
    {CAI_PCOL_CAL, ",z_err,z_lo68,z_hi68,z_lo95,z_hi95,p_outlier", 6},
};
#define NGROUPS (sizeof groups / sizeof groups[0])
#define MAX_FIELDS 21

void cai_pred_row_init(cai_pred_row *r) {
    memset(r, 0, sizeof *r);
    r->galaxy_id = -1;
    r->label = NAN;
    r->ra = r->dec = NAN;
    for (int b = 0; b < 5; b++) r->mag[b] = NAN;
    r->z_std = NAN;
    for (int k = 0; k < CAI_CAL_N; k++) r->cal[k] = NAN;
}

void cai_pred_header_write(FILE *f, unsigned cols) {
    fputs("galaxy_id,partition,index,prediction,label", f);
    for (size_t g = 0; g < NGROUPS; g++)
        if (cols & groups[g].bit) fputs(groups[g].names, f);
    fputc('\n', f);
}

static void put_f(FILE *f, double v, const char *fmt) {
    fputc(',', f);
    if (!isnan(v)) fprintf(f, fmt, v);
}

void cai_pred_row_write(FILE *f, const cai_pred_row *r, unsigned cols) {
    if (r->galaxy_id >= 0) fprintf(f, "%lld", (long long)r->galaxy_id);
    fprintf(f, ",%lld,%lld,%.9g,", (long long)r->partition, (long long)r->index, (double)r->prediction);
    if (r->has_label && !isnan(r->label)) fprintf(f, "%.9g", (double)r->label);
    if (cols & CAI_PCOL_OBJID) {
        fputc(',', f);
        if (r->has_objid) fprintf(f, "%lld", (long long)r->objid);
    }
    if (cols & CAI_PCOL_RADEC) {
        put_f(f, r->ra, "%.17g");
        put_f(f, r->dec, "%.17g");
    }
    if (cols & CAI_PCOL_MAGS)
        for (int b = 0; b < 5; b++) put_f(f, r->mag[b], "%.9g");
    if (cols & CAI_PCOL_FLAGS) fprintf(f, ",%u", (unsigned)r->flags);
    if (cols & CAI_PCOL_ZSTD) put_f(f, r->z_std, "%.9g");
    if (cols & CAI_PCOL_CAL)
        for (int k = 0; k < CAI_CAL_N; k++) put_f(f, r->cal[k], "%.9g");
    fputc('\n', f);
}

/* Copy field [s, e) into tmp (bounded); empty → *present = 0. */
static int field_copy(const char *s, const char *e, char *tmp, size_t n, int *present) {
    *present = e > s;
    if (!*present) return 0;
    size_t l = (size_t)(e - s);
    if (l >= n) return -1;
    memcpy(tmp, s, l);
    tmp[l] = 0;
    return 0;
}

static int field_int(const char *s, const char *e, int64_t *v, int *present) {
    char tmp[32];
    if (field_copy(s, e, tmp, sizeof tmp, present) || !*present) return *present ? -1 : 0;
    char *end;
    errno = 0;
    long long x = strtoll(tmp, &end, 10);
    if (*end || errno) return -1;
    *v = x;
    return 0;
}

static int field_double(const char *s, const char *e, double *v, int *present) {
    char tmp[48];
    if (field_copy(s, e, tmp, sizeof tmp, present) || !*present) return *present ? -1 : 0;
    char *end;
    *v = strtod(tmp, &end);
    return *end ? -1 : 0;
}

static int field_float(const char *s, const char *e, float *v, int *present) {
    double d;
    int rc = field_double(s, e, &d, present);
    if (!rc && *present) *v = (float)d;
    return rc;
}

/* Which groups the header names; -1 when it is not a predictions header. */
static int parse_header(const char *s, const char *nl, unsigned *cols, int *nfields, char *bad, size_t nbad) {
    const char *base = "galaxy_id,partition,index,prediction,label";
    size_t bl = strlen(base);
    if ((size_t)(nl - s) < bl || memcmp(s, base, bl) != 0) return -1;
    const char *p = s + bl;
    *cols = 0;
    *nfields = 5;
    for (size_t g = 0; g < NGROUPS && p < nl; g++) {
        size_t gl = strlen(groups[g].names);
        if ((size_t)(nl - p) >= gl && memcmp(p, groups[g].names, gl) == 0 && (p + gl == nl || p[gl] == ',')) {
            *cols |= groups[g].bit;
            *nfields += groups[g].nfields;
            p += gl;
        }
    }
    if (p != nl) {
        size_t l = (size_t)(nl - p);
        snprintf(bad, nbad, "%.*s", (int)(l > 60 ? 60 : l), p);
        return -2;
    }
    return 0;
}

int cai_predictions_parse(const char *buf, size_t len, const char *name, int (*fn)(const cai_pred_row *row, void *ctx),
                          void *ctx, cai_err *err) {
    const char *nl0 = len ? memchr(buf, '\n', len) : NULL;
    unsigned cols = 0;
    int want = 5;
    char bad[64] = "";
    int hr = nl0 ? parse_header(buf, nl0, &cols, &want, bad, sizeof bad) : -1;
    if (hr == -1)
        return cai_seterr(err, CAI_EFORMAT, "%s: expected the header \"galaxy_id,partition,index,prediction,label\"",
                          name);
    if (hr == -2)
        return cai_seterr(err, CAI_EFORMAT,
                          "%s: header: unexpected columns \"%s\" (known, in this order: objid; ra,dec; "
                          "mag_u..mag_z; flags; z_std; z_err,z_lo68,z_hi68,z_lo95,z_hi95,p_outlier)",
                          name, bad);
    size_t line = 1;
    for (size_t off = (size_t)(nl0 - buf) + 1; off < len;) {
        const char *s = buf + off;
        const char *nl = memchr(s, '\n', len - off);
        line++;
        if (!nl) return cai_seterr(err, CAI_EFORMAT, "%s line %zu: truncated (no newline)", name, line);
        off = (size_t)(nl - buf) + 1;
        const char *f[MAX_FIELDS + 2];
        int nf = 0;
        f[nf++] = s;
        for (const char *p = s; p < nl && nf <= MAX_FIELDS; p++)
            if (*p == ',') f[nf++] = p + 1;
        if (nf != want)
            return cai_seterr(err, CAI_EFORMAT, "%s line %zu: expected %d comma-separated fields", name, line, want);
        f[nf] = nl + 1; /* so field k ends at f[k+1] - 1 */
        cai_pred_row r;
        cai_pred_row_init(&r);
        r.cols = cols;
        int present, bad_field = 0;
        bad_field |= field_int(f[0], f[1] - 1, &r.galaxy_id, &present);
        bad_field |= present && r.galaxy_id < 0; /* ids are >= 0; an empty field (-1) is "no id" */
        if (!present) r.galaxy_id = -1;
        bad_field |= field_int(f[1], f[2] - 1, &r.partition, &present);
        bad_field |= !present;
        bad_field |= field_int(f[2], f[3] - 1, &r.index, &present);
        bad_field |= !present;
        bad_field |= field_float(f[3], f[4] - 1, &r.prediction, &present);
        bad_field |= !present;
        bad_field |= field_float(f[4], f[5] - 1, &r.label, &r.has_label);
        if (!r.has_label) r.label = NAN;
        int k = 5;
        if (cols & CAI_PCOL_OBJID) {
            bad_field |= field_int(f[k], f[k + 1] - 1, &r.objid, &r.has_objid);
            k++;
        }
        if (cols & CAI_PCOL_RADEC) {
            bad_field |= field_double(f[k], f[k + 1] - 1, &r.ra, &present);
            if (!present) r.ra = NAN;
            bad_field |= field_double(f[k + 1], f[k + 2] - 1, &r.dec, &present);
            if (!present) r.dec = NAN;
            k += 2;
        }
        if (cols & CAI_PCOL_MAGS)
            for (int b = 0; b < 5; b++, k++) {
                bad_field |= field_float(f[k], f[k + 1] - 1, &r.mag[b], &present);
                if (!present) r.mag[b] = NAN;
            }
        if (cols & CAI_PCOL_FLAGS) {
            int64_t fl = 0;
            bad_field |= field_int(f[k], f[k + 1] - 1, &fl, &present);
            bad_field |= !present || fl < 0 || fl > UINT32_MAX;
            r.flags = (uint32_t)fl;
            k++;
        }
        if (cols & CAI_PCOL_ZSTD) {
            bad_field |= field_float(f[k], f[k + 1] - 1, &r.z_std, &present);
            if (!present) r.z_std = NAN;
            k++;
        }
        if (cols & CAI_PCOL_CAL)
            for (int c = 0; c < CAI_CAL_N; c++, k++) {
                bad_field |= field_float(f[k], f[k + 1] - 1, &r.cal[c], &present);
                if (!present) r.cal[c] = NAN;
            }
        if (bad_field) return cai_seterr(err, CAI_EFORMAT, "%s line %zu: malformed row", name, line);
        int rc = fn(&r, ctx);
        if (rc) return rc;
    }
    return CAI_OK;
}
