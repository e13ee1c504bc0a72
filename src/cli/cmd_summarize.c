/* cmd_summarize.c — `cai summarize --store S BUCKET RESULT_PATH`: the Summarize stage alone. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "pipeline/stages.h"
#include "store/store.h"

int cmd_summarize(int argc, char **argv) {
    static const struct option opts[] = {{"store", required_argument, 0, 's'},
                                         {"calibration", required_argument, 0, 'C'},
                                         {"csv", no_argument, 0, 'V'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *store = ".";
    cai_summarize_opts so = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cai_arg_path("summarize", "--store", optarg)) return 2;
            store = optarg;
            break;
        case 'C': so.calibration = optarg; break;
        case 'V': so.csv = 1; break;
        case 'h':
            printf("usage: cai summarize [--store DIR|s3://...] [--calibration C] [--csv] BUCKET RESULT_PATH\n\n"
                   "Read every <rank>.json under BUCKET/RESULT_PATH (no 1,000 cap), write combined_data.json,\n"
                   "predictions.fits, predictions.h5, predictions.csv and summary.json, check that every input galaxy\n"
                   "has exactly one prediction, and print summary.json. Exit 1 when the run is incomplete.\n\n"
                   "  --calibration C  apply calib.json (default: the run payload's \"calibration\") to the catalog\n"
                   "  --csv            also write catalog.csv with a provenance comment block\n");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 2) {
        fprintf(stderr, "cai summarize: expected BUCKET RESULT_PATH\n");
        return 2;
    }
    cai_err err = {0};
    cai_store *st = NULL;
    cJSON *sum = NULL;
    int rc = cai_store_open(store, &st, &err);
    if (!rc) rc = cai_summarize_ex(st, argv[optind], argv[optind + 1], &so, &sum, &err);
    if (sum) {
        char *out = cJSON_Print(sum);
        if (out) puts(out);
        free(out);
    }
    if (rc) fprintf(stderr, "cai summarize: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
    cJSON_Delete(sum);
    cai_store_close(st);
    return rc ? cai_exit_status(err.code) : 0;
}
