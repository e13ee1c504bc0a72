/* idtable.c — ids/positions table (see idtable.h). FITS goes through cfitsio (any table extension, any
 * numeric column type: cfitsio converts); CSV is read strictly: every field must parse completely. */
#include "idtable.h"

#include <ctype.h>
#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/util.h"

void cai_idtable_free(cai_idtable *t) {
    free(t->objid);
    free(t->ra);
    free(t->dec);
    free(t->key);
    free(t->order);
    memset(t, 0, sizeof *t);
}

static const int64_t *sort_keys;
static int cmp_row(const void *a, const void *b) {
    int64_t x = sort_keys[*(const int64_t *)a], y = sort_keys[*(const int64_t *)b];
    return (x > y) - (x < y);
}

static int validate(cai_idtable *t, const char *key_col, cai_err *err) {
    if (!t->objid && !t->ra)
        return cai_seterr(err, CAI_EKEY, "%s: no objid column and no ra/dec columns (expected at least one of them)",
                          t->name);
    if (key_col && !t->key) return cai_seterr(err, CAI_EKEY, "%s: no column \"%s\" (--ids-column)", t->name, key_col);
    for (int64_t i = 0; i < t->n; i++) {
        if (t->objid && t->objid[i] < 0)
            return cai_seterr(err, CAI_EFORMAT, "%s: row %lld: objid %lld is negative (expected >= 0)", t->name,
                              (long long)i + 1, (long long)t->objid[i]);
        if (t->ra && !(t->ra[i] >= 0 && t->ra[i] < 360))
            return cai_seterr(err, CAI_EFORMAT, "%s: row %lld: ra %g is outside [0, 360) degrees", t->name,
                              (long long)i + 1, t->ra[i]);
        if (t->dec && !(t->dec[i] >= -90 && t->dec[i] <= 90))
            return cai_seterr(err, CAI_EFORMAT, "%s: row %lld: dec %g is outside [-90, 90] degrees", t->name,
                              (long long)i + 1, t->dec[i]);
    }
    if (t->key) {
        t->order = malloc((size_t)(t->n ? t->n : 1) * sizeof *t->order);
        if (!t->order) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory", t->name);
        for (int64_t i = 0; i < t->n; i++) t->order[i] = i;
        sort_keys = t->key;
        qsort(t->order, (size_t)t->n, sizeof *t->order, cmp_row);
        for (int64_t i = 1; i < t->n; i++)
            if (t->key[t->order[i]] == t->key[t->order[i - 1]])
                return cai_seterr(err, CAI_EFORMAT, "%s: column \"%s\": id %lld appears twice (rows %lld and %lld)",
                                  t->name, key_col, (long long)t->key[t->order[i]], (long long)t->order[i - 1] + 1,
                                  (long long)t->order[i] + 1);
    }
    return CAI_OK;
}

static int read_fits(const char *path, const char *key_col, cai_idtable *t, cai_err *err) {
    fitsfile *f = NULL;
    int st = 0;
    char msg[FLEN_STATUS];
    if (fits_open_table(&f, path, READONLY, &st)) {
        fits_get_errstatus(st, msg);
        return cai_seterr(err, CAI_EFORMAT, "%s: not a readable FITS table: %s", path, msg);
    }
    long nrows = 0;
    fits_get_num_rows(f, &nrows, &st);
    t->n = nrows;
    int rc = CAI_OK;
    struct {
        const char *name;
        int isint;
        void **dst;
    } want[] = {{"objid", 1, (void **)&t->objid},
                {"ra", 0, (void **)&t->ra},
                {"dec", 0, (void **)&t->dec},
                {key_col, 1, (void **)&t->key}};
    for (int k = 0; k < 4 && !rc; k++) {
        if (!want[k].name) continue;
        int col, s2 = 0;
        if (fits_get_colnum(f, CASEINSEN, (char *)want[k].name, &col, &s2)) continue; /* absent */
        void *buf = malloc((size_t)(nrows ? nrows : 1) * 8);
        if (!buf) {
            rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory", path);
            break;
        }
        *want[k].dst = buf;
        int anynul = 0;
        if (want[k].isint) {
            long long nv = INT64_MIN;
            fits_read_col(f, TLONGLONG, col, 1, 1, nrows, &nv, buf, &anynul, &s2);
        } else {
            double nv = NAN;
            fits_read_col(f, TDOUBLE, col, 1, 1, nrows, &nv, buf, &anynul, &s2);
        }
        if (s2) {
            fits_get_errstatus(s2, msg);
            rc = cai_seterr(err, CAI_EFORMAT, "%s: column \"%s\": %s (expected numbers)", path, want[k].name, msg);
        } else if (anynul) {
            rc = cai_seterr(err, CAI_EFORMAT, "%s: column \"%s\" has null values (every row needs one)", path,
                            want[k].name);
        }
    }
    int s3 = 0;
    fits_close_file(f, &s3);
    if (!rc && (t->ra != NULL) != (t->dec != NULL))
        rc = cai_seterr(err, CAI_EKEY, "%s: column \"%s\" without \"%s\"", path, t->ra ? "ra" : "dec",
                        t->ra ? "dec" : "ra");
    return rc;
}

/* Split a CSV line [s, e) in place at commas; returns the field count (at most max). */
static int split_line(char *s, char *e, char **f, int max) {
    int n = 0;
    f[n++] = s;
    for (char *p = s; p < e; p++)
        if (*p == ',') {
            *p = 0;
            if (n == max) return max + 1;
            f[n++] = p + 1;
        }
    *e = 0;
    return n;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t l = strlen(s);
    while (l && isspace((unsigned char)s[l - 1])) s[--l] = 0;
    return s;
}

static int read_csv(const char *path, char *buf, size_t len, const char *key_col, cai_idtable *t, cai_err *err) {
    enum { MAXF = 256 };
    char *f[MAXF + 1];
    int idx[4] = {-1, -1, -1, -1}, nf = 0;
    int64_t cap = 0, line = 0;
    char *p = buf, *end = buf + len;
    int header = 0;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        char *s = p;
        p = nl ? nl + 1 : end;
        line++;
        if (le > s && le[-1] == '\r') le--;
        if (le == s || *s == '#') continue;
        int n = split_line(s, le, f, MAXF);
        if (n > MAXF)
            return cai_seterr(err, CAI_EFORMAT, "%s line %lld: more than %d columns", path, (long long)line, MAXF);
        if (!header) {
            header = 1;
            nf = n;
            const char *names[4] = {"objid", "ra", "dec", key_col};
            for (int i = 0; i < n; i++) {
                char *nm = trim(f[i]);
                for (int k = 0; k < 4; k++)
                    if (names[k] && !strcasecmp(nm, names[k])) {
                        if (idx[k] >= 0)
                            return cai_seterr(err, CAI_EFORMAT, "%s: header: column \"%s\" appears twice", path,
                                              names[k]);
                        idx[k] = i;
                    }
            }
            if ((idx[1] >= 0) != (idx[2] >= 0))
                return cai_seterr(err, CAI_EKEY, "%s: header: column \"%s\" without \"%s\"", path,
                                  idx[1] >= 0 ? "ra" : "dec", idx[1] >= 0 ? "dec" : "ra");
            continue;
        }
        if (n != nf)
            return cai_seterr(err, CAI_EFORMAT, "%s line %lld: %d fields, the header has %d", path, (long long)line, n,
                              nf);
        if (t->n == cap) {
            cap = cap ? cap * 2 : 4096;
            void *a = idx[0] >= 0 ? realloc(t->objid, (size_t)cap * 8) : NULL;
            if (a) t->objid = a;
            void *b = idx[1] >= 0 ? realloc(t->ra, (size_t)cap * 8) : NULL;
            if (b) t->ra = b;
            void *c = idx[2] >= 0 ? realloc(t->dec, (size_t)cap * 8) : NULL;
            if (c) t->dec = c;
            void *d = idx[3] >= 0 ? realloc(t->key, (size_t)cap * 8) : NULL;
            if (d) t->key = d;
            if ((idx[0] >= 0 && !a) || (idx[1] >= 0 && !b) || (idx[2] >= 0 && !c) || (idx[3] >= 0 && !d))
                return cai_seterr(err, CAI_ENOMEM, "%s: out of memory at row %lld", path, (long long)t->n);
        }
        for (int k = 0; k < 4; k++) {
            if (idx[k] < 0) continue;
            char *v = trim(f[idx[k]]), *e2;
            errno = 0;
            const char *cname = k == 0 ? "objid" : k == 1 ? "ra" : k == 2 ? "dec" : key_col;
            if (k == 0 || k == 3) {
                long long x = strtoll(v, &e2, 10);
                if (!*v || *e2 || errno)
                    return cai_seterr(err, CAI_EFORMAT,
                                      "%s line %lld: column \"%s\": expected an integer, got \"%.40s\"", path,
                                      (long long)line, cname, v);
                (k == 0 ? t->objid : t->key)[t->n] = x;
            } else {
                double x = strtod(v, &e2);
                if (!*v || *e2 || errno)
                    return cai_seterr(err, CAI_EFORMAT, "%s line %lld: column \"%s\": expected a number, got \"%.40s\"",
                                      path, (long long)line, cname, v);
                (k == 1 ? t->ra : t->dec)[t->n] = x;
            }
        }
        t->n++;
    }
    if (!header) return cai_seterr(err, CAI_EFORMAT, "%s: empty (expected a header line naming objid, ra, dec)", path);
    return CAI_OK;
}

int cai_idtable_read(const char *path, const char *key_col, cai_idtable *t, cai_err *err) {
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", path);
    char *buf;
    size_t len;
    int rc = cai_read_file(path, &buf, &len, err);
    if (rc) return rc;
    if (len >= 6 && !memcmp(buf, "SIMPLE", 6)) {
        free(buf);
        rc = read_fits(path, key_col, t, err);
    } else {
        rc = read_csv(path, buf, len, key_col, t, err);
        free(buf);
    }
    if (!rc) rc = validate(t, key_col, err);
    if (rc) cai_idtable_free(t);
    return rc;
}

int64_t cai_idtable_row(const cai_idtable *t, int64_t pos, int64_t gid) {
    if (!t->key) return pos >= 0 && pos < t->n ? pos : -1;
    int64_t lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2, k = t->key[t->order[mid]];
        if (k == gid) return t->order[mid];
        if (k < gid) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}
