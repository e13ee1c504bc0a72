/* stats.c — the seed's experiment tables, computed from result folders.
 *
 * The seed's stats.py (pandas) turned each run's combined_data.json into one CSV row; contracts.md
 * spells out the rules and the fixtures pin them. We reproduce them bit for bit where the seed's inputs
 * are present: numpy's linear quartiles, pandas' skip-NaN means, Python's round(x, 2) and float repr.
 * CAI's own run folders have the same layout and the same rank-record fields, plus timestamps, so the
 * same code builds total_execution_time.csv from recorded times instead of times typed by hand. */
#include "stats.h"

#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/buf.h"
#include "../common/util.h"
#include "combined.h"
#include "rank_record.h"

/* ---------- numbers ---------- */

/* numpy >= 1.22 `_lerp`: a + (b-a)·t, computed from b's side for t >= 0.5 (bit-identical results). */
static double np_lerp(double a, double b, double t) {
    double d = b - a;
    return t >= 0.5 ? b - d * (1.0 - t) : a + d * t;
}

double cai_percentile_linear(const double *sorted, size_t n, double p) {
    if (n == 0) return NAN;
    double h = (double)(n - 1) * (p / 100.0);
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return sorted[n - 1];
    return np_lerp(sorted[lo], sorted[lo + 1], h - (double)lo);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double cai_iqr_mean(const double *v, size_t n) {
    if (n == 0) return NAN;
    double *s = malloc(n * sizeof *s);
    if (!s) return NAN;
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double q1 = cai_percentile_linear(s, n, 25), q3 = cai_percentile_linear(s, n, 75);
    double iqr = q3 - q1, lo = q1 - 1.5 * iqr, hi = q3 + 1.5 * iqr;
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) /* original order: the seed summed in record order */
        if (v[i] >= lo && v[i] <= hi) sum += v[i], k++;
    free(s);
    return k ? sum / (double)k : NAN;
}

/* Python's float repr: the shortest digits that read back to x; fixed notation for exponents in
 * [-4, 16), always with a fractional part ("41.0"); scientific otherwise ("1e+16"). */
void cai_fmt_pyfloat(double x, char *buf, size_t n) {
    if (n == 0) return;
    if (isnan(x)) {
        buf[0] = 0;
        return;
    }
    if (isinf(x)) {
        snprintf(buf, n, "%s", x > 0 ? "inf" : "-inf");
        return;
    }
    if (x == 0) {
        snprintf(buf, n, "%s", signbit(x) ? "-0.0" : "0.0");
        return;
    }
    char e[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    const char *p = e;
    int neg = 0;
    if (*p == '-') neg = 1, p++;
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < 23) digits[nd++] = *p;
    digits[nd] = 0;
    while (nd > 1 && digits[nd - 1] == '0') digits[--nd] = 0;
    int exp10 = (*p == 'e') ? atoi(p + 1) : 0;
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            out[o++] = '0', out[o++] = '.';
            for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
            for (int i = 0; i < nd; i++) out[o++] = digits[i];
        } else {
            for (int i = 0; i <= exp10; i++) out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (int i = exp10 + 1; i < nd; i++) out[o++] = digits[i];
            else out[o++] = '0';
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    snprintf(buf, n, "%s", out);
}

/* round(x, 2) as Python does it: correctly rounded from the exact binary value, which is what glibc's
 * "%.2f" does too; then read back to the nearest double. */
static double round2(double x) {
    if (!isfinite(x)) return x;
    char t[400];
    snprintf(t, sizeof t, "%.2f", x);
    return strtod(t, NULL);
}

void cai_fmt_round2(double x, char *buf, size_t n) { cai_fmt_pyfloat(round2(x), buf, n); }

void cai_fmt_mmss(double seconds, char *buf, size_t n) {
    if (!isfinite(seconds) || seconds < 0) {
        if (n) buf[0] = 0;
        return;
    }
    long ms = lround(seconds * 1000.0);
    snprintf(buf, n, "%02ld:%02ld.%03ld", ms / 60000, (ms / 1000) % 60, ms % 1000);
}

/* ---------- folder names ---------- */

/* A decimal number spanning exactly [s, s+len). */
static int parse_num(const char *s, size_t len, double *out) {
    if (len == 0 || len > 30) return -1;
    char t[32];
    memcpy(t, s, len);
    t[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || t[i] == '.')) return -1;
    char *end;
    errno = 0;
    double v = strtod(t, &end);
    if (errno || *end || !(v > 0) || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int cai_stats_parse_partition_dir(const char *name, double *mb) {
    const char *pre = "result-partition-";
    size_t lp = strlen(pre), ln = strlen(name);
    if (ln <= lp + 2 || strncmp(name, pre, lp) || strcmp(name + ln - 2, "MB")) return -1;
    return parse_num(name + lp, ln - lp - 2, mb);
}

int cai_stats_parse_data_dir(const char *name, double *gb) {
    size_t ln = strlen(name);
    if (!strcmp(name, "total")) {
        *gb = 12.6; /* the whole set: 659,817 galaxies, 12.6 GiB (contracts.md) */
        return 0;
    }
    if (ln > 2 && !strcmp(name + ln - 2, "GB")) {
        size_t off = strncmp(name, "total", 5) ? 0 : 5;
        return parse_num(name + off, ln - 2 - off, gb);
    }
    return -1;
}

int cai_stats_parse_run_dir(const char *name, long *num) {
    const char *p = name;
    if (!strncmp(p, "run", 3)) {
        p += 3;
        if (*p == ' ' || *p == '_' || *p == '-') p++;
    }
    if (!*p || strlen(p) > 9) return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return -1;
    *num = strtol(p, NULL, 10);
    return 0;
}

/* ---------- one run ---------- */

static const cJSON *get_any(const cJSON *o, const char *const *keys) {
    for (; *keys; keys++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, *keys);
        if (v && !cJSON_IsNull(v)) return v;
    }
    return NULL;
}

static double opt_num(const cJSON *rec, const char *const *keys) {
    const cJSON *v = get_any(rec, keys);
    return (v && cJSON_IsNumber(v) && isfinite(v->valuedouble)) ? v->valuedouble : NAN;
}

int cai_stats_aggregate_json(const char *text, size_t len, const char *name, cai_run_row *row, cai_err *err) {
    cJSON *arr;
    int rc = cai_combined_parse(text, len, name, &arr, err);
    if (rc) return rc;
    rc = cai_stats_aggregate(arr, name, row, err);
    cJSON_Delete(arr);
    return rc;
}

int cai_stats_aggregate(const cJSON *arr, const char *name, cai_run_row *row, cai_err *err) {
    int rc = CAI_OK;
    double *cpu = NULL;
    int n = cJSON_GetArraySize(arr);
    cpu = calloc(n > 0 ? (size_t)n : 1, sizeof *cpu);
    free(row->rank_seconds);
    row->rank_seconds = calloc(n > 0 ? (size_t)n : 1, sizeof *row->rank_seconds);
    if (!cpu || !row->rank_seconds) {
        rc = cai_seterr(err, CAI_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    int k = 0, empty = 0, failed = 0, partial = 0, bs = 0, all_wall = 1;
    double mem = 0, thr = 0, bits = 0, gal = 0, s3tot = 0, s3avg = 0, s3min = 0, s3max = 0;
    int n_gal = 0, n_s3avg = 0, n_s3min = 0, n_s3max = 0;
    double tmin = INFINITY, tmax = -INFINITY;
    int n_times = 0;
    const cJSON *ro = arr ? arr->child : NULL;
    for (int i = 0; i < n; i++, ro = ro->next) {
        /* Every record through the one reader (rank_record.h): a field of the wrong type names the record. */
        char rname[1100];
        snprintf(rname, sizeof rname, "%s: record %d", name, i);
        cai_rank_record rr;
        if ((rc = cai_rank_record_read(ro, rname, &rr, err))) goto out;
        const cai_rank_record *r = &rr;
        cai_rank_record_free(&rr); /* only its partitions are allocated, and they are not used here */
        /* A rank that got no partition (DATA_PATH null) has nothing to measure; the seed never had one. */
        if (cJSON_IsNull(r->data_path) || r->status == CAI_RANK_EMPTY) {
            empty++;
            continue;
        }
        /* CAI marks ranks that finished nothing "failed": their numbers are not a measurement. */
        if (r->status == CAI_RANK_FAILED) {
            failed++;
            continue;
        }
        if (r->status == CAI_RANK_PARTIAL) partial++;
        double t = r->total_cpu_time, m = r->total_cpu_memory_mb, b = r->throughput_bps;
        const char *absent = isnan(t)   ? "total_cpu_time (seconds)"
                             : isnan(m) ? "total_cpu_memory (MB)"
                             : isnan(b) ? "throughput_bps"
                                        : NULL;
        if (absent) {
            rc = cai_seterr(err, CAI_EKEY, "%s: record %d: missing field \"%s\"", name, i, absent);
            goto out;
        }
        if (r->batch_size >= 0) {
            if (r->batch_size < 1 || r->batch_size > 1000000000) {
                rc = cai_seterr(err, CAI_EFORMAT, "%s: record %d: field \"batch_size\": expected a positive integer",
                                name, i);
                goto out;
            }
            int this_bs = (int)r->batch_size;
            if (bs && this_bs != bs) {
                rc = cai_seterr(err, CAI_EFORMAT,
                                "%s: mixed batch sizes: record %d has batch_size %d, earlier records %d", name, i,
                                this_bs, bs);
                goto out;
            }
            bs = this_bs;
        }
        cpu[k] = t;
        mem += m;
        thr += b;
        /* total_bits means the bits the rank read: throughput_bps × total_cpu_time, for seed and CAI records
         * alike (CAI writes throughput_bps = input_bits / total_cpu_time, the seed's definition, and its
         * wall-clock rate in throughput_bps_wall). Only records of CAI before that change (input_bits but no
         * throughput_bps_wall: their throughput_bps was per wall second) use input_bits instead. */
        int legacy = r->input_bits >= 0 && isnan(r->throughput_bps_wall);
        bits += legacy ? (double)r->input_bits : b * t;
        if (!isnan(r->s3_total_time)) s3tot += r->s3_total_time;
        if (!isnan(r->s3_avg_time)) s3avg += r->s3_avg_time, n_s3avg++;
        if (!isnan(r->s3_min_time)) s3min += r->s3_min_time, n_s3min++;
        if (!isnan(r->s3_max_time)) s3max += r->s3_max_time, n_s3max++;
        if (r->galaxies >= 0) gal += (double)r->galaxies, n_gal++;
        double st = r->start_unix, en = r->end_unix, wall = r->wall_seconds;
        if (!isnan(st) && !isnan(en) && en >= st) {
            tmin = st < tmin ? st : tmin;
            tmax = en > tmax ? en : tmax;
            n_times++;
            if (isnan(wall)) wall = en - st;
        }
        if (isnan(wall)) all_wall = 0;
        row->rank_seconds[k] = isnan(wall) ? t : wall;
        k++;
    }
    if (k == 0) {
        rc = cai_seterr(err, CAI_EINCOMPLETE, "%s: empty run: %s", name,
                        n == 0   ? "no rank records"
                        : failed ? "every rank with data failed"
                                 : "every rank record is for a rank with no data");
        goto out;
    }
    /* Wall seconds only when every used record has them; a mix would plot two different things. */
    if (!all_wall)
        for (int j = 0; j < k; j++) row->rank_seconds[j] = cpu[j];
    row->rank_seconds_are_wall = all_wall;
    row->ranks = k;
    row->empty_ranks = empty;
    row->failed_ranks = failed;
    row->partial_ranks = partial;
    row->batch_size = bs;
    row->cpu_time_iqr_mean = cai_iqr_mean(cpu, (size_t)k);
    row->cpu_memory_sum = mem;
    row->throughput_sum = thr;
    row->total_bits = bits;
    row->s3_total_time = s3tot;
    row->s3_avg_time = n_s3avg ? s3avg / n_s3avg : NAN;
    row->s3_min_time = n_s3min ? s3min / n_s3min : NAN;
    row->s3_max_time = n_s3max ? s3max / n_s3max : NAN;
    row->galaxies = n_gal ? gal : NAN;
    row->world_size = k + empty + failed;
    if (n_times == k) {
        row->duration_s = tmax - tmin;
        row->duration_source = "rank start/end (map stage)";
    } else {
        row->duration_s = NAN;
        row->duration_source = NULL;
    }
out:
    free(cpu);
    if (rc) {
        free(row->rank_seconds);
        row->rank_seconds = NULL;
    }
    return rc;
}

void cai_stats_read_summary(const char *run_dir, cai_run_row *row) {
    char path[1200];
    if ((size_t)snprintf(path, sizeof path, "%s/summary.json", run_dir) >= sizeof path) return;
    char *text;
    size_t len;
    cai_err e = {0};
    if (cai_read_file(path, &text, &len, &e)) return; /* seed runs have none: that is normal */
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    if (!o) return;
    /* CAI's summary.json: wall_seconds = first rank start to last rank end (0 when no rank recorded
     * times); run_wall_seconds, when present, the whole run. */
    static const char *const K_RUN[] = {"run_wall_seconds", NULL};
    static const char *const K_MAP[] = {"wall_seconds", NULL};
    double run = opt_num(o, K_RUN), map = opt_num(o, K_MAP);
    if (run > 0) {
        row->duration_s = run;
        row->duration_source = "summary.json (whole run)";
    } else if (map > 0) {
        row->duration_s = map;
        row->duration_source = "summary.json (first rank start to last rank end)";
    }
    static const char *const K_WS[] = {"world_size", "ranks", NULL};
    const cJSON *ws = get_any(o, K_WS);
    if (ws && cJSON_IsNumber(ws) && ws->valuedouble >= 1 && ws->valuedouble < 1e9)
        row->world_size = (int)ws->valuedouble;
    else if (ws && cJSON_IsString(ws) && atoi(ws->valuestring) >= 1) row->world_size = atoi(ws->valuestring);
    cJSON_Delete(o);
}

/* ---------- walking the folders ---------- */

static void warnf(cai_stats_set *set, FILE *warn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warnf(cai_stats_set *set, FILE *warn, const char *fmt, ...) {
    set->warnings++;
    if (!warn) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("cai stats: warning: ", warn);
    vfprintf(warn, fmt, ap);
    fputc('\n', warn);
    va_end(ap);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sub-directory names of dir, sorted; hidden entries skipped. Returns count, -1 if unreadable. */
static int list_dirs(const char *dir, char ***out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char p[1200];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= sizeof p) continue;
        if (!is_dir(p)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        if (!(v[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int push_row(cai_stats_set *set, const cai_run_row *r) {
    if (cai_grow(&set->rows, &set->cap, set->n + 1, sizeof *set->rows, 32)) return -1;
    set->rows[set->n++] = *r;
    return 0;
}

/* One run folder → one row, or a warning. */
static void scan_run(cai_stats_set *set, FILE *warn, const char *dir, const char *name, double P, double D, int batch) {
    char path[1024];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        warnf(set, warn, "%s/%s: path too long; skipped", dir, name);
        return;
    }
    long num;
    if (cai_stats_parse_run_dir(name, &num)) {
        warnf(set, warn, "%s: unknown run folder name \"%s\" (expected N, \"run N\", run_N or runN); skipped", path,
              name);
        return;
    }
    char file[1100];
    snprintf(file, sizeof file, "%s/combined_data.json", path);
    char *text;
    size_t len;
    cai_err e = {0};
    if (cai_read_file(file, &text, &len, &e)) {
        warnf(set, warn, "%s: %s; run skipped (has the Summarize stage run? `cai summarize` writes it)", file,
              e.code == CAI_ENOTFOUND ? "missing" : e.msg);
        return;
    }
    cai_run_row r;
    memset(&r, 0, sizeof r);
    r.partition_mb = P, r.data_gb = D, r.batch = batch, r.run_num = num;
    snprintf(r.run, sizeof r.run, "%ld", num);
    snprintf(r.path, sizeof r.path, "%s", path);
    int rc = cai_stats_aggregate_json(text, len, file, &r, &e);
    free(text);
    if (rc) {
        warnf(set, warn, "%s; run skipped", e.msg);
        return;
    }
    if (batch && r.batch_size && r.batch_size != batch) {
        warnf(set, warn, "%s: records say batch_size %d but the folder is Batches/%d; run skipped", file, r.batch_size,
              batch);
        free(r.rank_seconds);
        return;
    }
    if (r.failed_ranks || r.partial_ranks)
        warnf(set, warn,
              "%s: %d rank(s) failed (left out of the row) and %d finished only part of their data "
              "(kept); see summary.json",
              file, r.failed_ranks, r.partial_ranks);
    cai_stats_read_summary(path, &r);
    if (push_row(set, &r)) {
        free(r.rank_seconds);
        warnf(set, warn, "%s: out of memory; run skipped", path);
    }
}

static void scan_data_dir(cai_stats_set *set, FILE *warn, const char *dir, double P, double D) {
    char **runs;
    int n = list_dirs(dir, &runs);
    if (n < 0) {
        warnf(set, warn, "%s: cannot read folder (%s); skipped", dir, strerror(errno));
        return;
    }
    char direct[1100];
    struct stat dst;
    snprintf(direct, sizeof direct, "%s/combined_data.json", dir);
    if (stat(direct, &dst) == 0)
        warnf(set, warn,
              "%s: combined_data.json directly under the data-size folder; put each run in its own "
              "folder (<D>GB/1, <D>GB/2, ...: the payload's result_path); skipped",
              direct);
    else if (n == 0) warnf(set, warn, "%s: no run folders; nothing to tabulate", dir);
    for (int i = 0; i < n; i++) {
        if (strcmp(runs[i], "Batches")) {
            scan_run(set, warn, dir, runs[i], P, D, 0);
            continue;
        }
        char bdir[1024];
        if ((size_t)snprintf(bdir, sizeof bdir, "%s/Batches", dir) >= sizeof bdir) continue;
        char **bs;
        int nb = list_dirs(bdir, &bs);
        for (int j = 0; j < nb; j++) {
            char *end;
            long b = strtol(bs[j], &end, 10);
            if (*end || b < 1 || b > 1000000) {
                warnf(set, warn, "%s/%s: unknown batch folder name (expected a batch size such as 512); skipped", bdir,
                      bs[j]);
                continue;
            }
            char rdir[1100];
            snprintf(rdir, sizeof rdir, "%s/%s", bdir, bs[j]);
            char **rr;
            int nr = list_dirs(rdir, &rr);
            if (nr == 0) warnf(set, warn, "%s: no run folders; nothing to tabulate", rdir);
            for (int k = 0; k < nr; k++) scan_run(set, warn, rdir, rr[k], P, D, (int)b);
            free_list(rr, nr > 0 ? nr : 0);
        }
        free_list(bs, nb > 0 ? nb : 0);
    }
    free_list(runs, n);
}

static void scan_partition_dir(cai_stats_set *set, FILE *warn, const char *dir, double P) {
    char **ds;
    int n = list_dirs(dir, &ds);
    if (n < 0) {
        warnf(set, warn, "%s: cannot read folder (%s); skipped", dir, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        char p[1024];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, ds[i]) >= sizeof p) continue;
        double D;
        if (cai_stats_parse_data_dir(ds[i], &D)) {
            warnf(set, warn, "%s: unknown data-size folder name \"%s\" (expected NGB, total or totalNNNGB); skipped", p,
                  ds[i]);
            continue;
        }
        scan_data_dir(set, warn, p, P, D);
    }
    free_list(ds, n);
}

#define CMP(a, b) (((a) > (b)) - ((a) < (b)))
/* Data-size runs first, then batch sweeps; within each: partition, data size, batch, run. */
static int cmp_row(const void *a, const void *b) {
    const cai_run_row *x = a, *y = b;
    int c;
    if ((c = CMP(x->batch > 0, y->batch > 0))) return c;
    if ((c = CMP(x->partition_mb, y->partition_mb))) return c;
    if ((c = CMP(x->data_gb, y->data_gb))) return c;
    if ((c = CMP(x->batch, y->batch))) return c;
    return CMP(x->run_num, y->run_num);
}

int cai_stats_scan(const char *root, cai_stats_set *set, FILE *warn, cai_err *err) {
    /* The root may itself be a result-partition-<P>MB folder. */
    const char *base = strrchr(root, '/');
    char rootbuf[1024];
    snprintf(rootbuf, sizeof rootbuf, "%s", root);
    size_t rl = strlen(rootbuf);
    while (rl > 1 && rootbuf[rl - 1] == '/') rootbuf[--rl] = 0;
    base = strrchr(rootbuf, '/');
    base = base ? base + 1 : rootbuf;
    double P;
    if (!is_dir(rootbuf)) return cai_seterr(err, CAI_ENOTFOUND, "%s: not a folder", root);
    if (!cai_stats_parse_partition_dir(base, &P)) {
        scan_partition_dir(set, warn, rootbuf, P);
    } else {
        char **ps;
        int n = list_dirs(rootbuf, &ps);
        if (n < 0) return cai_seterr(err, CAI_EIO, "%s: cannot read folder: %s", root, strerror(errno));
        int found = 0, other = 0;
        char others[512] = "";
        for (int i = 0; i < n; i++) {
            char p[1024];
            if ((size_t)snprintf(p, sizeof p, "%s/%s", rootbuf, ps[i]) >= sizeof p) continue;
            if (cai_stats_parse_partition_dir(ps[i], &P)) {
                /* A bucket also holds data and code folders: normal, so a note rather than a warning. */
                size_t ol = strlen(others);
                if (ol < sizeof others - 1) snprintf(others + ol, sizeof others - ol, "%s%s", other ? ", " : "", ps[i]);
                other++;
                continue;
            }
            found++;
            scan_partition_dir(set, warn, p, P);
        }
        if (other && warn)
            fprintf(warn, "cai stats: note: %s: ignored %d folder(s) not named result-partition-<P>MB: %s\n", rootbuf,
                    other, others);
        free_list(ps, n);
        if (!found)
            return cai_seterr(err, CAI_ENOTFOUND,
                              "%s: no result-partition-<P>MB folders (the seed's layout: "
                              "result-partition-<P>MB/<D>GB/<run>/combined_data.json)",
                              root);
    }
    if (set->n) qsort(set->rows, set->n, sizeof *set->rows, cmp_row);
    /* "1" and "run_1" in one experiment are the same run number twice: both stay, but say so. */
    for (size_t i = 1; i < set->n; i++) {
        const cai_run_row *a = &set->rows[i - 1], *b = &set->rows[i];
        if (a->partition_mb == b->partition_mb && a->data_gb == b->data_gb && a->batch == b->batch &&
            a->run_num == b->run_num)
            warnf(set, warn, "%s and %s are both run %ld of the same experiment; both are tabulated", a->path, b->path,
                  a->run_num);
    }
    return CAI_OK;
}

void cai_stats_free(cai_stats_set *set) {
    for (size_t i = 0; i < set->n; i++) free(set->rows[i].rank_seconds);
    free(set->rows);
    memset(set, 0, sizeof *set);
}

/* ---------- CSV output ---------- */

typedef struct {
    char *buf;
    size_t len;
    FILE *f;
} membuf;

static int out_open(membuf *m) {
    m->buf = NULL, m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    return m->f ? 0 : -1;
}

static int out_close_write(membuf *m, const char *dir, const char *name, FILE *info, cai_err *err) {
    fclose(m->f);
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = cai_write_file_atomic(path, m->buf, m->len, err);
    free(m->buf);
    if (!rc && info) fprintf(info, "wrote %s\n", path);
    return rc;
}

/* Mean over runs, skipping NaN (pandas' mean). */
typedef double (*field_fn)(const cai_run_row *);
static double f_cpu(const cai_run_row *r) { return r->cpu_time_iqr_mean; }
static double f_mem(const cai_run_row *r) { return r->cpu_memory_sum; }
static double f_thr(const cai_run_row *r) { return r->throughput_sum; }
static double f_bits(const cai_run_row *r) { return r->total_bits; }
static double f_s3t(const cai_run_row *r) { return r->s3_total_time; }
static double f_s3a(const cai_run_row *r) { return r->s3_avg_time; }
static double f_s3n(const cai_run_row *r) { return r->s3_min_time; }
static double f_s3x(const cai_run_row *r) { return r->s3_max_time; }

static double mean_of(const cai_run_row *r, size_t n, field_fn f) {
    double s = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double v = f(&r[i]);
        if (!isnan(v)) s += v, k++;
    }
    return k ? s / (double)k : NAN;
}

static void put_fields(FILE *f, const cai_run_row *r, size_t n, const field_fn *fs, int nf) {
    for (int i = 0; i < nf; i++) {
        char b[64];
        cai_fmt_round2(n == 1 ? fs[i](r) : mean_of(r, n, fs[i]), b, sizeof b);
        fprintf(f, ",%s", b);
    }
    fputc('\n', f);
}

static int same_group(const cai_run_row *a, const cai_run_row *b) {
    return a->partition_mb == b->partition_mb && a->data_gb == b->data_gb && a->batch == b->batch;
}

static void fmt_partition(double p, char *b, size_t n) {
    if (p == floor(p) && p < 1e9) snprintf(b, n, "%.0f", p);
    else cai_fmt_pyfloat(p, b, n);
}

static void warn_mixed_batches(const cai_run_row *r, size_t n, FILE *info) {
    for (size_t i = 1; i < n; i++)
        if (r[i].batch_size && r[0].batch_size && r[i].batch_size != r[0].batch_size && info)
            fprintf(info, "cai stats: warning: %s and %s use batch sizes %d and %d: their mean row mixes them\n",
                    r[0].path, r[i].path, r[0].batch_size, r[i].batch_size);
}

int cai_stats_write(const cai_stats_set *set, const char *outdir, FILE *info, cai_err *err) {
    int rc = cai_mkdirs(outdir, err);
    if (rc) return rc;
    static const field_fn all8[] = {f_cpu, f_mem, f_thr, f_bits, f_s3t, f_s3a, f_s3n, f_s3x};
    const cai_run_row *R = set->rows;
    size_t N = set->n;
    char pb[32], db[32];

    /* result_stats.csv: data-size runs, grouped by (partition, data), a mean row per group. */
    membuf m;
    if (out_open(&m)) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    fputs(
        "partition (MB),data (GB),run,total_cpu_time (seconds),total_cpu_memory (MB),throughput_bps,total_bits,"
        "s3_total_time,s3_avg_time,s3_min_time,s3_max_time\n",
        m.f);
    for (size_t i = 0; i < N;) {
        if (R[i].batch) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < N && same_group(&R[i], &R[j])) j++;
        fmt_partition(R[i].partition_mb, pb, sizeof pb);
        cai_fmt_pyfloat(R[i].data_gb, db, sizeof db);
        warn_mixed_batches(&R[i], j - i, info);
        for (size_t k = i; k < j; k++) {
            fprintf(m.f, "%s,%s,%s", pb, db, R[k].run);
            put_fields(m.f, &R[k], 1, all8, 8);
        }
        fprintf(m.f, "%s,%s,mean", pb, db);
        put_fields(m.f, &R[i], j - i, all8, 8);
        i = j;
    }
    if ((rc = out_close_write(&m, outdir, "result_stats.csv", info, err))) return rc;

    /* batch_varying_results.csv: one sweep per (partition, data). The seed had one, at 25 MB / 1 GB,
     * and its file has no partition column; with several sweeps each also gets its own file. */
    double sweeps[64][2];
    int ns = 0;
    for (size_t i = 0; i < N; i++) {
        if (!R[i].batch) continue;
        int seen = 0;
        for (int s = 0; s < ns; s++) seen |= sweeps[s][0] == R[i].partition_mb && sweeps[s][1] == R[i].data_gb;
        if (!seen && ns < 64) sweeps[ns][0] = R[i].partition_mb, sweeps[ns][1] = R[i].data_gb, ns++;
    }
    int main_sweep = 0;
    for (int s = 0; s < ns; s++)
        if (sweeps[s][0] == 25 && sweeps[s][1] == 1) main_sweep = s;
    static const field_fn four[] = {f_cpu, f_mem, f_thr, f_bits};
    for (int s = -1; s < ns; s++) {
        if (s >= 0 && ns < 2) break;
        int which = s < 0 ? main_sweep : s;
        if (out_open(&m)) return cai_seterr(err, CAI_ENOMEM, "out of memory");
        fputs("batch_size,run,total_cpu_time (seconds),total_cpu_memory (MB),throughput_bps,total_bits\n", m.f);
        for (size_t i = 0; i < N && ns;) {
            if (!R[i].batch || R[i].partition_mb != sweeps[which][0] || R[i].data_gb != sweeps[which][1]) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < N && same_group(&R[i], &R[j])) j++;
            for (size_t k = i; k < j; k++) {
                fprintf(m.f, "%d,%s", R[k].batch, R[k].run);
                put_fields(m.f, &R[k], 1, four, 4);
            }
            fprintf(m.f, "%d,mean", R[i].batch);
            put_fields(m.f, &R[i], j - i, four, 4);
            i = j;
        }
        char name[128];
        if (s < 0) snprintf(name, sizeof name, "batch_varying_results.csv");
        else {
            fmt_partition(sweeps[s][0], pb, sizeof pb);
            snprintf(name, sizeof name, "batch_varying_results_%sMB_%gGB.csv", pb, sweeps[s][1]);
        }
        if ((rc = out_close_write(&m, outdir, name, info, err))) return rc;
        if (s < 0 && ns > 1 && info) {
            fmt_partition(sweeps[which][0], pb, sizeof pb);
            fprintf(info,
                    "note: %d batch sweeps found; batch_varying_results.csv is the %s MB / %g GB one "
                    "(each sweep also has its own file)\n",
                    ns, pb, sweeps[which][1]);
        }
    }

    /* total_execution_time.csv: the seed's columns, from recorded times only. Seed records carry no
     * timestamps (the seed typed its times from the console), so their duration stays empty and the
     * source column says why. */
    if (out_open(&m)) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    fputs("partition(MB),data(GB),run,num_worlds,duration,duration_s,duration_source\n", m.f);
    for (size_t i = 0; i < N; i++) {
        if (R[i].batch) continue;
        char ws[32], mm[32], ds[32];
        fmt_partition(R[i].partition_mb, pb, sizeof pb);
        cai_fmt_pyfloat(R[i].data_gb, db, sizeof db);
        cai_fmt_pyfloat((double)R[i].world_size, ws, sizeof ws);
        int have = R[i].duration_source && isfinite(R[i].duration_s);
        if (have) {
            cai_fmt_mmss(R[i].duration_s, mm, sizeof mm);
            snprintf(ds, sizeof ds, "%.3f", R[i].duration_s);
        } else mm[0] = ds[0] = 0;
        fprintf(m.f, "%s,%s,%s,%s,%s,%s,%s\n", pb, db, R[i].run, ws, mm, ds,
                have ? R[i].duration_source : "not recorded (no start/end times in the run's records)");
    }
    if ((rc = out_close_write(&m, outdir, "total_execution_time.csv", info, err))) return rc;

    /* rank_durations.csv: per-rank seconds, for the straggler plot. */
    if (out_open(&m)) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    fputs("partition(MB),data(GB),batch_size,run,rank_index,seconds,kind\n", m.f);
    for (size_t i = 0; i < N; i++) {
        fmt_partition(R[i].partition_mb, pb, sizeof pb);
        cai_fmt_pyfloat(R[i].data_gb, db, sizeof db);
        for (int k = 0; k < R[i].ranks; k++)
            fprintf(m.f, "%s,%s,%d,%s,%d,%.6f,%s\n", pb, db, R[i].batch ? R[i].batch : R[i].batch_size, R[i].run, k,
                    R[i].rank_seconds[k], R[i].rank_seconds_are_wall ? "wall" : "total_cpu_time");
    }
    return out_close_write(&m, outdir, "rank_durations.csv", info, err);
}
