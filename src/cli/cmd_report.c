/* cmd_report.c — `cai report RUN -o DIR`: the validation report of a run with true redshifts. */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "common/err.h"
#include "pipeline/report.h"

int cmd_report(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h':
            printf(
                "usage: cai report RUN -o DIR\n\n"
                "RUN is a run's result folder whose partitions had true redshifts. Writes into DIR: zpred_vs_ztrue.png,\n"
                "dz_vs_z.png, dz_vs_rmag.png (with magnitudes), pit.png (with calibrated intervals), nz.png, each with\n"
                "its .dat and .gp, and report.md (sigma_NMAD, bias, outlier rates at 0.05 and 0.15 per z bin).\n");
            return 0;
        default: return 2;
        }
    }
    if (!out || optind != argc - 1) {
        fprintf(stderr, "cai report: expected RUN -o DIR\n");
        return 2;
    }
    cai_err err = {0};
    if (cai_report(argv[optind], out, stdout, &err)) {
        fprintf(stderr, "cai report: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
        return cai_exit_status(err.code);
    }
    return 0;
}
