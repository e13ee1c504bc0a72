/* split.c — re-partition a data set without ever holding it: the seed's split script loaded all 12.6 GB;
 * here memory is one output partition plus the pages of the input file being read, which are dropped
 * (MADV_DONTNEED) as soon as their galaxies have been copied out. */
#include "split.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/buf.h"
#include "idtable.h"
#include "manifest.h"
#include "seedpt.h"
#include "shard.h"
#include "synth.h"

#define NP (5 * 32 * 32)

int64_t cai_split_galaxies_for_mb(double mb) {
    if (!(mb > 0) || mb > 1e9) return 0;
    /* The seed's own numbers (contracts.md), which users' file_limit arithmetic depends on. They are not
     * exactly ceil(MB * 2^20 / 20,524) (that gives 1,278 / 2,555 / 3,832 / 5,110). */
    if (mb == 25) return 1278;
    if (mb == 50) return 2556;
    if (mb == 75) return 3834;
    if (mb == 100) return 5113;
    return (int64_t)ceil(mb * 1048576.0 / CAI_BYTES_PER_GALAXY);
}

/* ---- Input listing ---- */

typedef struct {
    char *name;
    int has_num;
    unsigned long long num;
} ent;

static int ent_cmp(const void *a, const void *b) {
    const ent *x = a, *y = b;
    if (x->has_num != y->has_num) return x->has_num ? -1 : 1;
    if (x->has_num && x->num != y->num) return x->num < y->num ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

void cai_split_free_list(char **paths, int n) {
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

int cai_split_list_inputs(const char *input, char ***paths_out, int *n_out, cai_err *err) {
    *paths_out = NULL;
    *n_out = 0;
    struct stat st;
    if (stat(input, &st) != 0)
        return cai_seterr(err, errno == ENOENT ? CAI_ENOTFOUND : CAI_EIO, "%s: %s", input, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        char **p = malloc(sizeof *p);
        if (!p || !(p[0] = strdup(input))) {
            free(p);
            return cai_seterr(err, CAI_ENOMEM, "out of memory");
        }
        *paths_out = p;
        *n_out = 1;
        return CAI_OK;
    }
    if (!S_ISDIR(st.st_mode)) return cai_seterr(err, CAI_EARG, "%s: neither a file nor a directory", input);
    DIR *d = opendir(input);
    if (!d) return cai_seterr(err, CAI_EIO, "%s: cannot open directory: %s", input, strerror(errno));
    ent *v = NULL;
    int n = 0, rc = CAI_OK;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] == '.' || strstr(nm, ".tmp.") || !(ends_with(nm, ".pt") || ends_with(nm, ".safetensors"))) continue;
        if (cai_grow(&v, &cap, (size_t)n + 1, sizeof *v, 64)) {
            rc = cai_seterr(err, CAI_ENOMEM, "out of memory");
            break;
        }
        v[n].name = strdup(nm);
        if (!v[n].name) {
            rc = cai_seterr(err, CAI_ENOMEM, "out of memory");
            break;
        }
        char *end;
        errno = 0;
        v[n].has_num = nm[0] >= '0' && nm[0] <= '9';
        v[n].num = v[n].has_num ? strtoull(nm, &end, 10) : 0;
        if (errno) v[n].num = ULLONG_MAX;
        n++;
    }
    closedir(d);
    if (!rc && n == 0)
        rc = cai_seterr(err, CAI_ENOTFOUND, "%s: no partition files (*.pt or *.safetensors) in this directory", input);
    char **paths = NULL;
    if (!rc) {
        qsort(v, (size_t)n, sizeof *v, ent_cmp);
        paths = calloc((size_t)n, sizeof *paths);
        if (!paths) rc = cai_seterr(err, CAI_ENOMEM, "out of memory");
        for (int i = 0; !rc && i < n; i++) {
            size_t len = strlen(input) + strlen(v[i].name) + 2;
            if (!(paths[i] = malloc(len))) rc = cai_seterr(err, CAI_ENOMEM, "out of memory");
            else snprintf(paths[i], len, "%s/%s", input, v[i].name);
        }
    }
    for (int i = 0; i < n; i++) free(v[i].name);
    free(v);
    if (rc) {
        if (paths) cai_split_free_list(paths, n);
        return rc;
    }
    *paths_out = paths;
    *n_out = n;
    return CAI_OK;
}

/* ---- The streaming copy ---- */

typedef struct {
    const cai_split_opts *o;
    cai_split_report *rep;
    cai_manifest_writer *mw;
    int64_t cap, fill;
    float *img, *z;
    double *mag;
    int64_t *ids;
    int labels; /* 1: all inputs so far have labels, 0: none, -1: unknown yet */
    int64_t *objid;
    double *ra, *dec;
    int has_objid, has_radec; /* this data set carries them (from --ids, or from every input) */
    int carried;              /* -1 unknown yet; else whether the inputs so far carry objid/ra/dec */
    const cai_idtable *tab;
    int64_t pos; /* galaxies consumed so far (row order of --ids) */
} splitter;

static int flush(splitter *s, cai_err *err) {
    if (s->fill == 0) return CAI_OK;
    const cai_split_opts *o = s->o;
    int64_t k = ++s->rep->partitions;
    char key[CAI_PARTITION_NAME_MAX], path[4400], pname[32];
    cai_partition_name((uint64_t)k, o->format, key);
    snprintf(pname, sizeof pname, "%" PRId64, k);
    snprintf(path, sizeof path, "%s/%s", o->outdir, key);
    cai_manifest_entry e = {
        .key = key, .galaxies = s->fill, .id_first = s->ids[0], .id_last = s->ids[0], .format = o->format};
    for (int64_t i = 0; i < s->fill; i++) { /* ids need not be sorted: the range is min..max */
        if (s->ids[i] < e.id_first) e.id_first = s->ids[i];
        if (s->ids[i] > e.id_last) e.id_last = s->ids[i];
    }
    int rc;
    if (o->format == CAI_PART_SEEDPT) {
        rc = cai_seedpt_write(path, s->fill, s->img, s->mag, s->z, err);
        if (!rc) rc = cai_manifest_hash_file(path, &e.bytes, e.sha256, err);
    } else {
        cai_shard_data d = {s->fill,
                            s->img,
                            s->mag,
                            s->ids,
                            s->labels == 1 ? s->z : NULL,
                            pname,
                            s->has_objid ? s->objid : NULL,
                            s->has_radec ? s->ra : NULL,
                            s->has_radec ? s->dec : NULL};
        rc = cai_shard_write(path, &d, &e.bytes, e.sha256, err);
    }
    if (rc) return rc;
    if ((rc = cai_manifest_writer_add(s->mw, &e, err))) return rc;
    s->rep->bytes += e.bytes;
    s->rep->last_partition = s->fill;
    s->fill = 0;
    if (o->progress) o->progress(o->ctx, s->rep->galaxies, s->rep->partitions);
    return CAI_OK;
}

static int consume(splitter *s, const char *path, int64_t *gid, cai_err *err) {
    cai_partition p;
    int rc = cai_partition_open(path, &p, err);
    if (rc) return rc;
    int has = p.labels != NULL;
    if (p.n > 0 && s->labels >= 0 && s->labels != has) {
        rc = cai_seterr(err, CAI_EFORMAT,
                        "%s: %s redshift labels but the inputs before it %s; a data set is all "
                        "labelled or all unlabelled",
                        path, has ? "has" : "has no", has ? "do not" : "do");
        goto out;
    }
    if (p.n > 0 && !has && s->o->format == CAI_PART_SEEDPT) {
        rc = cai_seterr(err, CAI_EFORMAT,
                        "%s: no redshift labels, but --format pt (the seed's layout) needs them; "
                        "write shards instead",
                        path);
        goto out;
    }
    if (p.n > 0) s->labels = has;
    if (!s->tab && p.n > 0) { /* no --ids: objid/ra/dec are carried through, so every input must agree */
        int c = (p.objid ? 1 : 0) | (p.ra ? 2 : 0);
        if (s->carried >= 0 && s->carried != c) {
            rc = cai_seterr(err, CAI_EFORMAT,
                            "%s: carries %s%s%s but the inputs before it do not (or the reverse); "
                            "a data set has ids/positions everywhere or nowhere",
                            path, p.objid ? "objid " : "", p.ra ? "ra/dec" : "", c ? "" : "no objid or ra/dec");
            goto out;
        }
        s->carried = c;
        s->has_objid = c & 1;
        s->has_radec = (c & 2) != 0;
    }
    if (p.n > 0 && s->o->format == CAI_PART_SEEDPT && (s->has_objid || s->has_radec)) {
        rc =
            cai_seterr(err, CAI_EARG, "%s: objid/ra/dec cannot be stored in the seed's .pt layout; write shards", path);
        goto out;
    }
    /* Opening verified the whole file (checksums/CRCs) and so faulted in every page: drop them now; the copy
     * below faults each page in once more and drops it right after. */
    cai_partition_release(&p, 0, p.n);
    for (int64_t off = 0; off < p.n;) {
        /* At most 256 galaxies (5 MB) per step, so at most that much of the input is resident at once. */
        int64_t k = s->cap - s->fill < p.n - off ? s->cap - s->fill : p.n - off, f = s->fill;
        if (k > 256) k = 256;
        memcpy(s->img + f * NP, p.images + off * NP, (size_t)k * NP * sizeof(float));
        if (p.mag_dtype == CAI_F64) {
            memcpy(s->mag + f * 5, (const double *)p.mags + off * 5, (size_t)k * 5 * sizeof(double));
        } else {
            const float *m = (const float *)p.mags + off * 5;
            for (int64_t i = 0; i < k * 5; i++) s->mag[f * 5 + i] = m[i];
        }
        if (has) memcpy(s->z + f, p.labels + off, (size_t)k * sizeof(float));
        for (int64_t i = 0; i < k; i++) s->ids[f + i] = p.ids ? p.ids[off + i] : *gid + off + i;
        for (int64_t i = 0; i < k; i++) {
            if (s->tab) {
                int64_t row = cai_idtable_row(s->tab, s->pos + i, s->ids[f + i]);
                if (row < 0) {
                    rc = s->tab->key ? cai_seterr(err, CAI_ENOTFOUND,
                                                  "%s: galaxy id %" PRId64 " (%s, index %" PRId64
                                                  ") is not in the id column of %s",
                                                  s->o->ids_table, s->ids[f + i], path, off + i, s->o->ids_table)
                                     : cai_seterr(err, CAI_EFORMAT,
                                                  "%s: %" PRId64
                                                  " rows, but the input has more "
                                                  "galaxies (row order: one row per galaxy)",
                                                  s->o->ids_table, s->tab->n);
                    goto out;
                }
                if (s->tab->objid) s->objid[f + i] = s->tab->objid[row];
                if (s->tab->ra) s->ra[f + i] = s->tab->ra[row], s->dec[f + i] = s->tab->dec[row];
            } else {
                if (p.objid) s->objid[f + i] = p.objid[off + i];
                if (p.ra) s->ra[f + i] = p.ra[off + i], s->dec[f + i] = p.dec[off + i];
            }
        }
        s->pos += k;
        cai_partition_release(&p, off, k);
        s->fill += k;
        s->rep->galaxies += k;
        off += k;
        if (s->fill == s->cap && (rc = flush(s, err))) goto out;
    }
    *gid += p.n;
out:
    cai_partition_close(&p);
    return rc;
}

/* Is `path` (a directory, or a file's directory) the same directory as `dir`? */
static int same_dir(const char *path, int is_file, const char *dir) {
    char a[PATH_MAX], b[PATH_MAX], tmp[PATH_MAX];
    if (is_file) {
        snprintf(tmp, sizeof tmp, "%s", path);
        char *sl = strrchr(tmp, '/');
        if (sl) *sl = 0;
        else snprintf(tmp, sizeof tmp, ".");
        path = tmp;
    }
    if (!realpath(path, a) || !realpath(dir, b)) return 0;
    return !strcmp(a, b);
}

int cai_split_run(const cai_split_opts *o_in, cai_split_report *rep, cai_err *err) {
    cai_split_report dummy;
    if (!rep) rep = &dummy;
    memset(rep, 0, sizeof *rep);
    double t0 = cai_mono_now();
    cai_split_opts o = *o_in;
    if (!o.format) o.format = CAI_PART_SHARD;
    if (o.per_partition <= 0) return cai_seterr(err, CAI_EARG, "split: galaxies per partition must be positive");
    if (o.per_partition > 10000000)
        return cai_seterr(err, CAI_EARG, "split: %" PRId64 " galaxies per partition is more than 200 GB per file",
                          o.per_partition);
    if (!o.input || !o.outdir || !*o.outdir) return cai_seterr(err, CAI_EARG, "split: input and output are required");
    if (o.id_offset < 0) return cai_seterr(err, CAI_EARG, "split: --id-offset must be non-negative");
    char **paths;
    int n;
    int rc = cai_split_list_inputs(o.input, &paths, &n, err);
    if (rc) return rc;
    struct stat st;
    int is_file = stat(o.input, &st) == 0 && S_ISREG(st.st_mode);
    if (same_dir(o.input, is_file, o.outdir)) {
        cai_split_free_list(paths, n);
        return cai_seterr(err, CAI_EARG, "split: output directory %s is where the input is; choose another", o.outdir);
    }
    if ((rc = cai_data_prepare_outdir(o.outdir, o.force, err))) {
        cai_split_free_list(paths, n);
        return rc;
    }
    splitter s = {.o = &o, .rep = rep, .cap = o.per_partition, .labels = -1, .carried = -1};
    cai_idtable tab;
    memset(&tab, 0, sizeof tab);
    if (o.ids_table) {
        if ((rc = cai_idtable_read(o.ids_table, o.ids_column, &tab, err))) {
            cai_split_free_list(paths, n);
            return rc;
        }
        s.tab = &tab;
        s.has_objid = tab.objid != NULL;
        s.has_radec = tab.ra != NULL;
        if (o.format == CAI_PART_SEEDPT) {
            cai_idtable_free(&tab);
            cai_split_free_list(paths, n);
            return cai_seterr(err, CAI_EARG,
                              "split: --ids needs shard output (the seed's .pt layout has no place for ids)");
        }
    }
    /* One partition's buffers. Large allocations are mmap'd and untouched pages cost nothing, so a cap far
     * above the data set's size is harmless. */
    s.img = malloc((size_t)s.cap * NP * sizeof(float));
    s.mag = malloc((size_t)s.cap * 5 * sizeof(double));
    s.z = malloc((size_t)s.cap * sizeof(float));
    s.ids = malloc((size_t)s.cap * sizeof(int64_t));
    s.objid = malloc((size_t)s.cap * sizeof(int64_t));
    s.ra = malloc((size_t)s.cap * sizeof(double));
    s.dec = malloc((size_t)s.cap * sizeof(double));
    if (!s.img || !s.mag || !s.z || !s.ids || !s.objid || !s.ra || !s.dec) {
        rc = cai_seterr(err, CAI_ENOMEM, "split: out of memory for a partition of %" PRId64 " galaxies", s.cap);
        goto out;
    }
    if ((rc = cai_manifest_writer_open(o.outdir, &s.mw, err))) goto out;
    int64_t gid = o.id_offset;
    for (int i = 0; i < n; i++) {
        if ((rc = consume(&s, paths[i], &gid, err))) goto out;
        rep->inputs++;
    }
    if ((rc = flush(&s, err))) goto out;
    if (!rc && s.tab && !s.tab->key && s.pos != s.tab->n) {
        rc = cai_seterr(err, CAI_EFORMAT,
                        "%s: %" PRId64 " rows, but the input has %" PRId64
                        " galaxies (row order: one row per galaxy; or match by id with --ids-column)",
                        o.ids_table, s.tab->n, s.pos);
        goto out;
    }
    if (rep->galaxies == 0) {
        rc = cai_seterr(err, CAI_EFORMAT, "%s: no galaxies in the input", o.input);
        goto out;
    }
    rc = cai_manifest_writer_finish(s.mw, o.per_partition, err);
    s.mw = NULL;
out:
    if (s.mw) cai_manifest_writer_abort(s.mw);
    free(s.img);
    free(s.mag);
    free(s.z);
    free(s.ids);
    free(s.objid);
    free(s.ra);
    free(s.dec);
    cai_idtable_free(&tab);
    cai_split_free_list(paths, n);
    rep->seconds = cai_mono_now() - t0;
    rep->peak_rss_mb = cai_peak_rss_mb();
    return rc;
}
