/* cmd_summarize.c — `cai summarize --store S BUCKET RESULT_PATH [--release-lock]`: the Summarize stage alone; with
 * --release-lock it then releases the run's lock (taken by `cai initialize --lock`), whatever Summarize's outcome. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "pipeline/initialize.h"
#include "pipeline/runlock.h"
#include "pipeline/stages.h"
#include "store/store.h"

int cmd_summarize(int argc, char **argv) {
    static const struct option opts[] = {
        {"store", required_argument, 0, 's'}, {"calibration", required_argument, 0, 'C'},
        {"csv", no_argument, 0, 'V'},         {"release-lock", no_argument, 0, 'r'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *store = ".";
    cai_summarize_opts so = {0};
    int c, release = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cai_arg_path("summarize", "--store", optarg)) return 2;
            store = optarg;
            break;
        case 'C': so.calibration = optarg; break;
        case 'V': so.csv = 1; break;
        case 'r': release = 1; break;
        case 'h':
            printf(
                "usage: cai summarize [--store DIR|s3://...] [--calibration C] [--csv] BUCKET RESULT_PATH\n"
                "                     [--release-lock]\n\n"
                "Read every <rank>.json under BUCKET/RESULT_PATH (no 1,000 cap), write combined_data.json,\n"
                "predictions.fits, predictions.h5, predictions.csv and summary.json, check that every input galaxy\n"
                "has exactly one prediction, and print summary.json. Exit 1 when the run is incomplete.\n\n"
                "  --calibration C  apply calib.json (default: the run payload's \"calibration\") to the catalog\n"
                "  --csv            also write catalog.csv with a provenance comment block\n"
                "  --release-lock   then release the run's lock (`cai initialize --lock`, `cai slurm submit`),\n"
                "                   whatever the outcome: only if the run of jobs.jsonl (its CAI_RUN_ID) holds it\n");
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
    if (release && st) {
        /* The lock belongs to the run of the job list: another run's lock is never released from here. */
        cai_err le = {0};
        char run_id[CAI_RUN_ID_MAX] = "";
        int lrc = cai_run_lock_release_jobs_run(st, argv[optind], argv[optind + 1], run_id, sizeof run_id, &le);
        if (lrc) fprintf(stderr, "cai summarize: --release-lock: %s\n", le.msg[0] ? le.msg : cai_strerror(le.code));
        else
            fprintf(stderr, "cai summarize: released the lock of run %s on %s/%s\n", run_id, argv[optind],
                    argv[optind + 1]);
        if (lrc && !rc) rc = lrc, err = le;
    }
    cJSON_Delete(sum);
    cai_store_close(st);
    return rc ? cai_exit_status(err.code) : 0;
}
