/* cmd_plot.c — `cai plot INPUT -o DIR`: PNG plots (gnuplot) of the experiment tables.
 * INPUT is a folder of tables (cai stats' output, or the seed's own CSVs) and/or a results root in the
 * seed's layout; for the latter, cai stats runs first into DIR/stats. */
#include <getopt.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "common/err.h"
#include "pipeline/plot.h"
#include "pipeline/stats.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai plot INPUT -o DIR\n"
            "  INPUT: a folder with result_stats.csv / batch_varying_results.csv / total_execution_time.csv /\n"
            "  rank_durations.csv (cai stats' output or the seed's CSVs), or a results root with\n"
            "  result-partition-<P>MB/ folders (cai stats runs first, into DIR/stats), or both.\n"
            "  Writes DIR/<plot>.png with its <plot>.dat and <plot>.gp (edit and rerun gnuplot to restyle):\n"
            "    time_vs_data, inloop_vs_data, throughput_vs_batch, cost_vs_partition, rank_spread\n");
}

static int has_file(const char *dir, const char *name) {
    char p[1200];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int has_result_dirs(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d))) found = !strncmp(de->d_name, "result-partition-", 17);
    closedir(d);
    const char *b = strrchr(dir, '/');
    return found || !strncmp(b ? b + 1 : dir, "result-partition-", 17);
}

int cmd_plot(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) in = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "cai plot: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!in || !out) {
        usage(stderr);
        return 2;
    }
    cai_err err = {0};
    char statsdir[1200];
    snprintf(statsdir, sizeof statsdir, "%s/stats", out);
    int tables_here = has_file(in, "result_stats.csv") || has_file(in, "batch_varying_results.csv") ||
                      has_file(in, "total_execution_time.csv") || has_file(in, "rank_durations.csv");
    const char *ranks_dir = NULL, *tables = in;
    if (has_result_dirs(in)) {
        cai_stats_set set = {0};
        int rc = cai_stats_scan(in, &set, stderr, &err);
        if (!rc && set.n) rc = cai_stats_write(&set, statsdir, NULL, &err);
        size_t n = set.n;
        cai_stats_free(&set);
        if (rc) {
            fprintf(stderr, "cai plot: %s\n", err.msg);
            return cai_exit_status(rc);
        }
        if (n) {
            printf("tables from %s written to %s\n", in, statsdir);
            ranks_dir = statsdir;
            if (!tables_here) tables = statsdir;
            else printf("using the tables already in %s (per-rank durations from %s)\n", in, statsdir);
        }
    } else if (!tables_here) {
        fprintf(stderr, "cai plot: %s: no tables (result_stats.csv, ...) and no result-partition-<P>MB folders\n", in);
        return 2;
    }
    int rc = cai_plot_all(tables, ranks_dir, out, stdout, &err);
    if (rc) {
        fprintf(stderr, "cai plot: %s\n", err.msg);
        return cai_exit_status(rc);
    }
    return 0;
}
