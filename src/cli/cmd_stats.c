/* cmd_stats.c — `cai stats RESULTS_ROOT -o DIR`: the seed's experiment tables from result folders. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common/err.h"
#include "pipeline/stats.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai stats RESULTS_ROOT -o DIR [--strict]\n"
            "  Reads result-partition-<P>MB/<D>GB/<run>/combined_data.json and\n"
            "  result-partition-<P>MB/<D>GB/Batches/<B>/<run>/combined_data.json (run = N, \"run N\" or run_N;\n"
            "  D = NGB, total (12.6 GB) or totalNNNGB) and writes into DIR:\n"
            "    result_stats.csv, batch_varying_results.csv   the seed's tables, with mean rows\n"
            "    total_execution_time.csv                      run durations from recorded start/end times\n"
            "    rank_durations.csv                            per-rank seconds (stragglers)\n"
            "  A bad run folder is reported on stderr and skipped. --strict: exit 1 if any was.\n");
}

int cmd_stats(int argc, char **argv) {
    const char *root = NULL, *out = NULL;
    int strict = 0;
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"strict", no_argument, 0, 'S'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'S': strict = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) root = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "cai stats: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!root || !out) {
        usage(stderr);
        return 2;
    }
    cai_stats_set set = {0};
    cai_err err = {0};
    int rc = cai_stats_scan(root, &set, stderr, &err);
    if (!rc && set.n == 0)
        rc = cai_seterr(&err, CAI_ENOTFOUND, "%s: no usable runs (every run folder was skipped; see warnings)", root);
    if (!rc) rc = cai_stats_write(&set, out, stdout, &err);
    int warnings = set.warnings;
    size_t rows = set.n;
    cai_stats_free(&set);
    if (rc) {
        fprintf(stderr, "cai stats: %s\n", err.msg);
        return cai_exit_status(rc);
    }
    printf("%zu runs tabulated, %d warnings\n", rows, warnings);
    return strict && warnings ? 1 : 0;
}
