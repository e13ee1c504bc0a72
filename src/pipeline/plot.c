/* plot.c — the experiment tables as PNGs, by gnuplot.
 *
 * We write each plot's numbers to <name>.dat and its commands to <name>.gp next to the PNG, so a user
 * can restyle a plot by editing the script and rerunning gnuplot; then we run gnuplot without a shell.
 * The terminal is pngcairo when this gnuplot has it (antialiased text), else the libgd png terminal. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../common/buf.h"
#include "../common/util.h"
#include "cost.h"

extern char **environ;

/* ---------- a small CSV reader for our own tables (no quoting: none of our fields hold commas) ---------- */

typedef struct {
    int ncol, nrow;
    char **hdr;
    char ***cell;
    char *text;
} csv_t;

static void csv_free(csv_t *c) {
    for (int i = 0; i < c->nrow; i++) free(c->cell[i]);
    free(c->cell);
    free(c->hdr);
    free(c->text);
    memset(c, 0, sizeof *c);
}

static int split(char *line, char ***out) {
    int n = 1;
    for (char *p = line; *p; p++) n += *p == ',';
    char **v = malloc((size_t)n * sizeof *v);
    if (!v) return -1;
    int k = 0;
    v[k++] = line;
    for (char *p = line; *p; p++)
        if (*p == ',') *p = 0, v[k++] = p + 1;
    *out = v;
    return n;
}

/* 0 ok, 1 file absent, else error. */
static int csv_load(const char *path, csv_t *c, cai_err *err) {
    memset(c, 0, sizeof *c);
    size_t len;
    int rc = cai_read_file(path, &c->text, &len, err);
    if (rc == CAI_ENOTFOUND) return 1;
    if (rc) return rc;
    char *save = NULL, *line = strtok_r(c->text, "\r\n", &save);
    if (!line) {
        csv_free(c);
        return cai_seterr(err, CAI_EFORMAT, "%s: empty file (expected a header line)", path);
    }
    c->ncol = split(line, &c->hdr);
    size_t cap = 0;
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char **v;
        int n = split(line, &v);
        if (n < 0) break;
        if (n != c->ncol) {
            free(v);
            int r = c->nrow + 2, nc = c->ncol;
            csv_free(c);
            return cai_seterr(err, CAI_EFORMAT, "%s: line %d: %d fields, the header has %d", path, r, n, nc);
        }
        if (cai_grow(&c->cell, &cap, (size_t)c->nrow + 1, sizeof *c->cell, 64)) {
            free(v);
            csv_free(c);
            return cai_seterr(err, CAI_ENOMEM, "out of memory");
        }
        c->cell[c->nrow++] = v;
    }
    return 0;
}

static int csv_col(const csv_t *c, const char *name) {
    for (int i = 0; i < c->ncol; i++)
        if (!strcmp(c->hdr[i], name)) return i;
    return -1;
}

static double fnum(const char *s) {
    if (!s || !*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    return *end ? NAN : v;
}

double cai_plot_parse_duration(const char *s) {
    if (!s || !*s) return NAN;
    double parts[3];
    int n = 0;
    const char *p = s;
    while (n < 3) {
        char *end;
        parts[n++] = strtod(p, &end);
        if (end == p) return NAN;
        if (*end == ':') p = end + 1;
        else if (*end == 0) break;
        else return NAN;
    }
    double v = 0;
    for (int i = 0; i < n; i++) v = v * 60 + parts[i];
    return v >= 0 ? v : NAN;
}

/* ---------- running gnuplot ---------- */

int cai_plot_run_gnuplot(const char *script, cai_err *err) {
    const char *gp = getenv("CAI_GNUPLOT");
    if (!gp || !*gp) gp = "gnuplot";
    char *argv[] = {(char *)gp, (char *)script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, gp, NULL, NULL, argv, environ);
    if (rc == ENOENT)
        return cai_seterr(err, CAI_ENOTFOUND,
                          "gnuplot not found on PATH: install it (Debian: apt-get install "
                          "gnuplot-nox), or set CAI_GNUPLOT to its path");
    if (rc) return cai_seterr(err, CAI_EIO, "cannot start %s: %s", gp, strerror(rc));
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return cai_seterr(err, CAI_EIO, "waitpid: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return cai_seterr(err, CAI_ENOTFOUND, "gnuplot not found (%s): install gnuplot-nox", gp);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        return cai_seterr(err, CAI_EIO, "gnuplot failed on %s (exit %d); its messages are above", script,
                          WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return CAI_OK;
}

/* ---------- helpers ---------- */

typedef struct {
    char dat[1200], gp[1200], png[1200];
    FILE *d, *g;
} plotfiles;

static int pf_open(plotfiles *p, const char *outdir, const char *name, int width, cai_err *err) {
    snprintf(p->dat, sizeof p->dat, "%s/%s.dat", outdir, name);
    snprintf(p->gp, sizeof p->gp, "%s/%s.gp", outdir, name);
    snprintf(p->png, sizeof p->png, "%s/%s.png", outdir, name);
    p->d = fopen(p->dat, "w");
    p->g = fopen(p->gp, "w");
    if (!p->d || !p->g) {
        if (p->d) fclose(p->d);
        if (p->g) fclose(p->g);
        return cai_seterr(err, CAI_EIO, "%s: cannot write: %s", p->gp, strerror(errno));
    }
    /* The .gp refers to its .dat by base name, relative to the script's folder, so both can be moved. */
    fprintf(p->g,
            "# %s.gp — written by `cai plot`; rerun with: cd <this folder> && gnuplot %s.gp\n"
            "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n"
            "  set terminal pngcairo size %d,720 enhanced font \"DejaVu Sans,12\"\n"
            "} else {\n"
            "  set terminal png size %d,720\n"
            "}\n"
            "cd ARG0[1:strlen(ARG0)-strlen(\"%s.gp\")]\n"
            "set output \"%s.png\"\n"
            "set datafile separator whitespace\n"
            "set grid lc rgb \"#dddddd\"\n"
            "set key outside right top box opaque\n",
            name, name, width, width, name, name);
    return 0;
}

static int pf_finish(plotfiles *p, const char *what, FILE *info, cai_err *err) {
    int bad = ferror(p->d) | ferror(p->g);
    bad |= fclose(p->d) | fclose(p->g);
    if (bad) return cai_seterr(err, CAI_EIO, "%s: write failed", p->gp);
    int rc = cai_plot_run_gnuplot(p->gp, err);
    if (rc) return rc;
    struct stat st;
    if (stat(p->png, &st) || st.st_size < 100) return cai_seterr(err, CAI_EIO, "%s: gnuplot wrote no image", p->png);
    if (info) fprintf(info, "wrote %s (%s)\n", p->png, what);
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Distinct sorted values of column col (numeric, finite) over rows where filter col equals fval. */
static int distinct(const csv_t *c, int col, int fcol, double fval, double *out, int max) {
    int n = 0;
    for (int i = 0; i < c->nrow; i++) {
        if (fcol >= 0 && fnum(c->cell[i][fcol]) != fval) continue;
        double v = fnum(c->cell[i][col]);
        if (isnan(v)) continue;
        int seen = 0;
        for (int k = 0; k < n; k++) seen |= out[k] == v;
        if (!seen && n < max) out[n++] = v;
    }
    qsort(out, (size_t)n, sizeof *out, cmp_d);
    return n;
}

static const char *COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define NCOLORS 8

/* ---------- plot 1: time vs data size, one line per partition size ---------- */

/* Rows of `c` with a numeric run (not "mean"), y from ycol (duration parser when is_dur). */
static int plot_time_vs_data(const csv_t *c, int ycol, int is_dur, const char *name, const char *title,
                             const char *ylabel, const char *outdir, FILE *info, cai_err *err) {
    int pcol = csv_col(c, "partition(MB)") >= 0 ? csv_col(c, "partition(MB)") : csv_col(c, "partition (MB)");
    int dcol = csv_col(c, "data(GB)") >= 0 ? csv_col(c, "data(GB)") : csv_col(c, "data (GB)");
    int rcol = csv_col(c, "run");
    if (pcol < 0 || dcol < 0 || rcol < 0 || ycol < 0)
        return cai_seterr(err, CAI_EFORMAT, "%s: table lacks partition/data/run columns", name);
    double parts[32], datas[64];
    int np = distinct(c, pcol, -1, 0, parts, 32);
    plotfiles p;
    int rc = pf_open(&p, outdir, name, 1100, err);
    if (rc) return rc;
    int blocks = 0, points = 0;
    double dmin = INFINITY, dmax = 0;
    char plotcmd[8192] = "";
    size_t off = 0;
    for (int i = 0; i < np; i++) {
        int nd = distinct(c, dcol, pcol, parts[i], datas, 64);
        int wrote = 0;
        for (int j = 0; j < nd; j++) {
            double sum = 0, lo = INFINITY, hi = -INFINITY;
            int k = 0;
            for (int r = 0; r < c->nrow; r++) {
                if (fnum(c->cell[r][pcol]) != parts[i] || fnum(c->cell[r][dcol]) != datas[j]) continue;
                if (!strcmp(c->cell[r][rcol], "mean")) continue;
                double y = is_dur ? cai_plot_parse_duration(c->cell[r][ycol]) : fnum(c->cell[r][ycol]);
                if (isnan(y)) continue;
                sum += y, k++;
                lo = fmin(lo, y), hi = fmax(hi, y);
            }
            if (!k) continue;
            if (!wrote) fprintf(p.d, "# partition %g MB: data_GB mean min max runs\n", parts[i]);
            fprintf(p.d, "%g %.6f %.6f %.6f %d\n", datas[j], sum / k, lo, hi, k);
            dmin = fmin(dmin, datas[j]), dmax = fmax(dmax, datas[j]);
            wrote = 1, points++;
        }
        if (!wrote) continue;
        fprintf(p.d, "\n\n");
        off += (size_t)snprintf(plotcmd + off, off < sizeof plotcmd ? sizeof plotcmd - off : 0,
                                "%s\"%s.dat\" index %d using 1:2:3:4 with yerrorlines lw 2 pt 7 ps 1.2 lc rgb \"%s\" "
                                "title \"%g MB partitions\"",
                                blocks ? ", \\\n     " : "", name, blocks, COLORS[blocks % NCOLORS], parts[i]);
        blocks++;
    }
    if (!blocks) {
        fclose(p.d), fclose(p.g);
        remove(p.dat), remove(p.gp);
        return 1; /* nothing to draw */
    }
    fprintf(p.g, "set title \"%s\"\n", title);
    fprintf(p.g, "set xlabel \"data size (GB)\"\nset ylabel \"%s\"\n", ylabel);
    if (dmax / dmin > 30) fprintf(p.g, "set logscale x\n");
    fprintf(p.g, "set yrange [0:*]\nset offsets graph 0.02, graph 0.02, graph 0.05, 0\n");
    fprintf(p.g, "plot %s\n", plotcmd);
    return pf_finish(&p, title, info, err);
}

/* ---------- plot 2: throughput vs batch size ---------- */

/* Bits per galaxy the seed's throughput_bps counts: image (5×32×32 float32) + magnitudes (5 float64). */
#define BITS_PER_GALAXY ((5.0 * 32 * 32 * 4 + 5 * 8) * 8)

static int plot_throughput(const csv_t *c, const char *outdir, FILE *info, cai_err *err) {
    int bcol = csv_col(c, "batch_size"), rcol = csv_col(c, "run"), tcol = csv_col(c, "throughput_bps");
    if (bcol < 0 || rcol < 0 || tcol < 0)
        return cai_seterr(err, CAI_EFORMAT,
                          "batch_varying_results.csv: expected batch_size, run, throughput_bps columns");
    plotfiles p;
    int rc = pf_open(&p, outdir, "throughput_vs_batch", 1100, err);
    if (rc) return rc;
    double bs[32];
    int nb = distinct(c, bcol, -1, 0, bs, 32);
    fprintf(p.d, "# block 0: each run: batch galaxies_per_s\n");
    int n = 0;
    for (int r = 0; r < c->nrow; r++) {
        if (!strcmp(c->cell[r][rcol], "mean")) continue;
        double b = fnum(c->cell[r][bcol]), t = fnum(c->cell[r][tcol]);
        if (isnan(b) || isnan(t)) continue;
        fprintf(p.d, "%g %.3f\n", b, t / BITS_PER_GALAXY), n++;
    }
    fprintf(p.d, "\n\n# block 1: mean of runs: batch galaxies_per_s\n");
    for (int i = 0; i < nb; i++) {
        double s = 0;
        int k = 0;
        for (int r = 0; r < c->nrow; r++)
            if (fnum(c->cell[r][bcol]) == bs[i] && strcmp(c->cell[r][rcol], "mean") && !isnan(fnum(c->cell[r][tcol])))
                s += fnum(c->cell[r][tcol]), k++;
        if (k) fprintf(p.d, "%g %.3f\n", bs[i], s / k / BITS_PER_GALAXY);
    }
    if (!n) {
        fclose(p.d), fclose(p.g);
        remove(p.dat), remove(p.gp);
        return 1;
    }
    fprintf(p.g,
            "set title \"Throughput vs batch size (1 GB, all ranks together)\"\n"
            "set xlabel \"batch size (galaxies per forward pass)\"\n"
            "set ylabel \"aggregate throughput (galaxies/s, sum over ranks)\"\n"
            "set logscale x 2\nset xtics (");
    for (int i = 0; i < nb; i++) fprintf(p.g, "%s\"%g\" %g", i ? ", " : "", bs[i], bs[i]);
    fprintf(
        p.g,
        ")\nset yrange [0:*]\nset offsets graph 0.05, graph 0.05, graph 0.05, 0\n"
        "plot \"throughput_vs_batch.dat\" index 0 using 1:2 with points pt 7 ps 1.3 lc rgb \"#1f77b4\" title \"one run\", \\\n"
        "     \"throughput_vs_batch.dat\" index 1 using 1:2 with linespoints lw 2 pt 5 ps 1.3 lc rgb \"#d62728\" title \"mean of runs\"\n");
    return pf_finish(&p, "throughput vs batch size", info, err);
}

/* ---------- plot 3: cost vs partition size ---------- */

static int plot_cost(const char *outdir, FILE *info, cai_err *err) {
    cai_seed_cost_row rows[4];
    cai_cost_seed_table(NULL, rows);
    plotfiles p;
    int rc = pf_open(&p, outdir, "cost_vs_partition", 1100, err);
    if (rc) return rc;
    fprintf(p.d, "# partition_MB seed_readme_usd all_in_usd billed_s measured(1)/estimated(0)\n");
    for (int i = 0; i < 4; i++)
        fprintf(p.d, "%d %.4f %.4f %.1f %d\n", rows[i].partition_mb, rows[i].seed_cost, rows[i].bill.total,
                rows[i].billed_s, rows[i].billed_measured);
    fprintf(
        p.g,
        "set title \"Cost of one pass over the 12.6 GB set (659,817 galaxies), the seed's runs, us-east-1\\n"
        "{/*0.85 billed duration: measured for 75 MB (33.7 s); in-loop + 16.1 s for the others (estimate)}\"\n"
        "set xlabel \"partition size (MB)\"\nset ylabel \"cost per run (USD)\"\n"
        "set style data histograms\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
        "set boxwidth 0.9\nset yrange [0:*]\nset offsets 0, 0, graph 0.12, 0\n"
        "set key inside left top box opaque\n"
        "plot \"cost_vs_partition.dat\" using 2:xtic(sprintf(\"%%d MB\", $1)) lc rgb \"#7f7f7f\" "
        "title \"seed README: requests x in-loop s x memory used\", \\\n"
        "     \"\" using 3 lc rgb \"#d62728\" title \"all-in bill: billed s x 10,240 MB configured + requests, SFN, S3\", \\\n"
        "     \"\" using ($0-0.15):($2):(sprintf(\"$%%.2f\", $2)) with labels offset 0,0.8 notitle, \\\n"
        "     \"\" using ($0+0.15):($3):(sprintf(\"$%%.2f\", $3)) with labels offset 0,0.8 notitle\n");
    return pf_finish(&p, "cost vs partition size", info, err);
}

/* ---------- plot 4: per-rank duration spread ---------- */

#define MAX_SPREAD_RUNS 40

static int plot_spread(const csv_t *c, const char *outdir, FILE *info, cai_err *err) {
    int pc = csv_col(c, "partition(MB)"), dc = csv_col(c, "data(GB)"), bc = csv_col(c, "batch_size"),
        rc_ = csv_col(c, "run"), sc = csv_col(c, "seconds"), kc = csv_col(c, "kind");
    if (pc < 0 || dc < 0 || bc < 0 || rc_ < 0 || sc < 0)
        return cai_seterr(err, CAI_EFORMAT,
                          "rank_durations.csv: expected partition(MB), data(GB), batch_size, run, "
                          "seconds columns");
    /* Count runs first: the image widens with them so the labels stay readable. */
    int nruns = 0;
    for (int r = 0; r < c->nrow; r++)
        if (r == 0 || strcmp(c->cell[r][pc], c->cell[r - 1][pc]) || strcmp(c->cell[r][dc], c->cell[r - 1][dc]) ||
            strcmp(c->cell[r][bc], c->cell[r - 1][bc]) || strcmp(c->cell[r][rc_], c->cell[r - 1][rc_]))
            nruns++;
    if (nruns > MAX_SPREAD_RUNS) nruns = MAX_SPREAD_RUNS;
    plotfiles p;
    int rc = pf_open(&p, outdir, "rank_spread", nruns > 12 ? 1100 + (nruns - 12) * 40 : 1100, err);
    if (rc) return rc;
    int runs = 0, wall = kc >= 0 && c->nrow && !strcmp(c->cell[0][kc], "wall");
    char labels[8192] = "";
    size_t lo = 0;
    for (int r = 0; r < c->nrow && runs < MAX_SPREAD_RUNS;) {
        int e = r;
        while (e < c->nrow && !strcmp(c->cell[e][pc], c->cell[r][pc]) && !strcmp(c->cell[e][dc], c->cell[r][dc]) &&
               !strcmp(c->cell[e][bc], c->cell[r][bc]) && !strcmp(c->cell[e][rc_], c->cell[r][rc_]))
            e++;
        fprintf(p.d, "# %s MB / %s GB / batch %s / run %s: x seconds\n", c->cell[r][pc], c->cell[r][dc], c->cell[r][bc],
                c->cell[r][rc_]);
        for (int k = r; k < e; k++) {
            /* deterministic jitter so overlapping ranks stay visible */
            double jit = ((double)((k * 7919) % 101) / 100.0 - 0.5) * 0.5;
            fprintf(p.d, "%d %.6f %.4f\n", runs, fnum(c->cell[k][sc]), runs + jit);
        }
        fprintf(p.d, "\n\n");
        lo += (size_t)snprintf(labels + lo, lo < sizeof labels ? sizeof labels - lo : 0, "%s\"%sMB %sGB b%s r%s\" %d",
                               runs ? ", " : "", c->cell[r][pc], c->cell[r][dc], c->cell[r][bc], c->cell[r][rc_], runs);
        runs++;
        r = e;
    }
    if (!runs) {
        fclose(p.d), fclose(p.g);
        remove(p.dat), remove(p.gp);
        return 1;
    }
    fprintf(
        p.g,
        "set title \"Per-rank duration spread: each dot is one rank; the box holds the middle half, dots far above are stragglers\"\n"
        "set ylabel \"%s\"\nset xlabel \"run (partition, data size, batch size, run number)\"\n"
        "set xtics rotate by -45 left font \",9\" (%s)\n"
        "set xrange [-0.7:%d-0.3]\nset yrange [0:*]\n"
        "set style fill solid 0.25 border lc rgb \"#1f77b4\"\nset style boxplot nooutliers\nset boxwidth 0.6\n"
        "set bmargin 11\n"
        "plot for [i=0:%d] \"rank_spread.dat\" index i using (i):2 with boxplot lc rgb \"#1f77b4\" notitle, \\\n"
        "     for [i=0:%d] \"rank_spread.dat\" index i using 3:2 with points pt 7 ps 0.5 lc rgb \"#d62728\" "
        "title (i==0 ? \"one rank\" : \"\")\n",
        wall ? "wall seconds per rank (recorded start to end)" : "seconds per rank (the seed's total\\\\_cpu\\\\_time)",
        labels, runs, runs - 1, runs - 1);
    if (c->nrow && runs == MAX_SPREAD_RUNS && info)
        fprintf(info, "note: rank_spread shows the first %d runs only\n", MAX_SPREAD_RUNS);
    return pf_finish(&p, "per-rank duration spread", info, err);
}

/* ---------- all ---------- */

static int load_from(const char *dir, const char *name, csv_t *c, cai_err *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return csv_load(path, c, err);
}

int cai_plot_all(const char *tables, const char *ranks_dir, const char *outdir, FILE *info, cai_err *err) {
    int rc = cai_mkdirs(outdir, err);
    if (rc) return rc;
    int drawn = 0, r;
    csv_t t;

    /* 1. run time vs data size: recorded wall times; else the in-loop time per rank. */
    if (!(r = load_from(tables, "total_execution_time.csv", &t, err))) {
        int col = csv_col(&t, "duration");
        /* cai stats' table says where each time came from; the seed's has no such column (typed by hand). */
        const char *title =
            csv_col(&t, "duration_source") >= 0
                ? "Run time vs data size (wall clock: first rank start to last rank end, as CAI recorded it)\\n"
                  "{/*0.85 points: mean of runs; bars: fastest to slowest run}"
                : "Run time vs data size (whole run, wall clock, as typed in total\\\\_execution\\\\_time.csv)\\n"
                  "{/*0.85 points: mean of runs; bars: fastest to slowest run}";
        r = plot_time_vs_data(&t, col, 1, "time_vs_data", title, "run duration (s)", outdir, info, err);
        csv_free(&t);
        if (r == 1 && info) fprintf(info, "skipped time_vs_data: total_execution_time.csv records no durations\n");
        else if (r) return r;
        else drawn++;
    } else if (r != 1) return r;
    else if (info) fprintf(info, "skipped time_vs_data: no %s/total_execution_time.csv\n", tables);
    if (!(r = load_from(tables, "result_stats.csv", &t, err))) {
        int col = csv_col(&t, "total_cpu_time (seconds)");
        r = plot_time_vs_data(&t, col, 0, "inloop_vs_data",
                              "In-loop inference time per rank vs data size (IQR-filtered mean over ranks)\\n"
                              "{/*0.85 points: mean of runs; bars: fastest to slowest run}",
                              "seconds per rank (total\\\\_cpu\\\\_time)", outdir, info, err);
        csv_free(&t);
        if (r == 1 && info) fprintf(info, "skipped inloop_vs_data: result_stats.csv has no runs\n");
        else if (r) return r;
        else drawn++;
    } else if (r != 1) return r;
    else if (info) fprintf(info, "skipped inloop_vs_data: no %s/result_stats.csv\n", tables);

    /* 2. throughput vs batch size */
    if (!(r = load_from(tables, "batch_varying_results.csv", &t, err))) {
        r = plot_throughput(&t, outdir, info, err);
        csv_free(&t);
        if (r == 1 && info) fprintf(info, "skipped throughput_vs_batch: batch_varying_results.csv has no runs\n");
        else if (r) return r;
        else drawn++;
    } else if (r != 1) return r;
    else if (info) fprintf(info, "skipped throughput_vs_batch: no %s/batch_varying_results.csv\n", tables);

    /* 3. cost vs partition size (the seed's four configurations) */
    if ((r = plot_cost(outdir, info, err))) return r;
    drawn++;

    /* 4. per-rank spread */
    r = load_from(tables, "rank_durations.csv", &t, err);
    if (r == 1 && ranks_dir) r = load_from(ranks_dir, "rank_durations.csv", &t, err);
    if (!r) {
        r = plot_spread(&t, outdir, info, err);
        csv_free(&t);
        if (r == 1 && info) fprintf(info, "skipped rank_spread: rank_durations.csv is empty\n");
        else if (r) return r;
        else drawn++;
    } else if (r != 1) return r;
    else if (info) fprintf(info, "skipped rank_spread: no rank_durations.csv (made by cai stats)\n");
    if (!drawn) return cai_seterr(err, CAI_ENOTFOUND, "%s: nothing to plot", tables);
    return CAI_OK;
}
