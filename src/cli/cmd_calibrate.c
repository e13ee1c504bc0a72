/* cmd_calibrate.c — `cai calibrate RUN... -o calib.json`: per-galaxy uncertainty calibration from finished
 * runs whose partitions carry true redshifts (see docs/science.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "pipeline/calibrate.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai calibrate RUN... -o calib.json [--min-per-bin N] [--max-bins N]\n\n"
            "RUN is a run's result folder (e.g. store/cosmicai-data/result-partition-25MB/demo/1) whose partitions\n"
            "had true redshifts. Writes the residuals dz/(1+z) binned by predicted z (and by r magnitude): bias,\n"
            "sigma_NMAD, the 2.5/16/50/84/97.5%% quantiles, outlier fractions at 0.05 and 0.15, counts, and the\n"
            "weights' sha256. Use it with `cai run|worker|summarize --calibration calib.json`.\n\n"
            "  -o FILE            output calibration (JSON)\n"
            "  --min-per-bin N    galaxies per bin at least (default 250)\n"
            "  --max-bins N       predicted-z bins at most (default 12)\n");
}

int cmd_calibrate(int argc, char **argv) {
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"min-per-bin", required_argument, 0, 'm'},
                                         {"max-bins", required_argument, 0, 'b'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL;
    cai_calib_opts co = {250, 12, 4};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'm':
            if (cai_arg_int32("calibrate", "--min-per-bin", optarg, 10, 10000000, &co.min_per_bin)) return 2;
            break;
        case 'b':
            if (cai_arg_int32("calibrate", "--max-bins", optarg, 1, 1000, &co.max_z_bins)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!out || optind >= argc) {
        fprintf(stderr, "cai calibrate: expected RUN... and -o calib.json\n");
        usage(stderr);
        return 2;
    }
    cai_calib cal;
    cJSON *src = NULL;
    cai_err err = {0};
    int rc = cai_calib_from_runs(argv + optind, argc - optind, &co, &cal, &src, &err);
    if (!rc) {
        cJSON *j = cai_calib_to_json(&cal, src);
        char *txt = cJSON_Print(j);
        rc = txt ? cai_write_file_atomic(out, txt, strlen(txt), &err) : cai_seterr(&err, CAI_ENOMEM, "out of memory");
        free(txt);
        cJSON_Delete(j);
        if (!rc)
            printf(
                "calibration: %lld galaxies (%lld skipped), %d z bins; overall sigma_NMAD %.4f, bias %+.4f, "
                "outliers %.1f%% (>0.05) %.1f%% (>0.15) -> %s\n",
                (long long)cal.n, (long long)cal.skipped, cal.nz, cal.all.sigma_nmad, cal.all.bias, 100 * cal.all.out05,
                100 * cal.all.out15, out);
    }
    cJSON_Delete(src);
    cai_calib_free(&cal);
    if (rc) {
        fprintf(stderr, "cai calibrate: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
        return cai_exit_status(err.code);
    }
    return 0;
}
