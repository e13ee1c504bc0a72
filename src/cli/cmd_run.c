/* cmd_run.c — `cai run PAYLOAD.json [--store DIR] [--workers P] [--threads T] [--weights W] [--resume]
 * [--resume=changed] [--force] [--precision fp32|int8] [--rank-timeout S]`: Initialize → ranks on a pool of
 * worker processes → Summarize (local engine), then a short report. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "engine/local.h"
#include "pipeline/payload.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai run PAYLOAD.json [options]\n"
            "\n"
            "Run the seed's pipeline on this machine: Initialize (payload -> one job per rank), the ranks on a\n"
            "pool of worker processes, then Summarize (combined_data.json, predictions.fits/.csv, summary.json).\n"
            "Bucket B's key K is the file STORE/B/K, so `aws s3 sync s3://B STORE/B` makes a bucket runnable.\n"
            "\n"
            "  --store DIR          the store (a directory, or s3://...); default: the payload's \"store\", else .\n"
            "  --weights W          model weights (safetensors); default: the payload's \"weights\"\n"
            "  --workers P          worker processes (default: the payload's, else the number of cores)\n"
            "  --threads T          threads per worker (default: cores / workers)\n"
            "  --precision P        auto (default: int8 where the CPU has VNNI), fp32 or int8\n"
            "  --resume             skip ranks whose record and predictions are complete and valid; refuse if one\n"
            "                       was made from other weights, precision or data (it names them)\n"
            "  --resume=changed     the same, but rerun exactly the ranks whose inputs changed\n"
            "  --force              take over the result_path from a run that crashed (its lock is stale)\n"
            "  --rank-timeout S     kill a worker whose rank runs longer than S seconds and fail that rank\n"
            "                       (0: never; default: 300 s + the rank's galaxies at 2 galaxies/s)\n"
            "  --calibration C      calib.json from `cai calibrate` (payload \"calibration\"): per-galaxy Z_ERR,\n"
            "                       Z_LO68/Z_HI68, Z_LO95/Z_HI95, P_OUTLIER; refused when made for other weights\n"
            "  --tta 8              test-time augmentation: mean of 8 flips/rotations, spread Z_STD (8x compute)\n"
            "  --csv                also write catalog.csv with a provenance comment block\n"
            "  --progress           force the progress bar;  --no-progress: plain lines\n"
            "  -q, --quiet          no per-rank lines\n");
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void report(const cai_local_result *r, const cJSON *sum, const char *store, int rc) {
    /* "s3://" (named buckets as they are) + "/" + bucket would print "s3:///bucket/...": no separator then. */
    size_t sl = strlen(store);
    const char *sep = sl && store[sl - 1] == '/' ? "" : "/";
    printf("\n== cai run report ==\n");
    if (r->run_id[0]) printf("run id:       %s\n", r->run_id);
    printf("ranks:        %d (%d run, %d already complete, %d failed)\n", r->ranks, r->ranks_run, r->ranks_skipped,
           r->ranks_failed);
    if (sum) {
        printf("galaxies:     %.0f", jnum(sum, "galaxies"));
        double eg = jnum(sum, "expected_galaxies");
        if (!isnan(eg)) printf(" of %.0f expected", eg);
        printf("\n");
        printf("wall time:    %.2f s (this command: initialize + map + summarize)\n", r->wall_seconds);
        printf("map stage:    %.2f s for %lld galaxies -> %.1f galaxies/s end to end\n", r->map_seconds,
               r->galaxies_run, r->map_seconds > 0 ? (double)r->galaxies_run / r->map_seconds : 0.0);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(sum, "bucket");
        const cJSON *cat = cJSON_GetObjectItemCaseSensitive(sum, "catalog");
        const cJSON *fits = cJSON_GetObjectItemCaseSensitive(cat, "fits");
        const cJSON *csv = cJSON_GetObjectItemCaseSensitive(cat, "csv");
        if (cJSON_IsString(b) && cJSON_IsString(fits)) {
            printf("catalog:      %s%s%s/%s\n", store, sep, b->valuestring, fits->valuestring);
            printf("              %s%s%s/%s\n", store, sep, b->valuestring, csv->valuestring);
        }
        const cJSON *rp = cJSON_GetObjectItemCaseSensitive(sum, "result_path");
        if (cJSON_IsString(b) && cJSON_IsString(rp))
            printf("summary:      %s%s%s/%s/summary.json\n", store, sep, b->valuestring, rp->valuestring);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(sum, "metrics");
        if (cJSON_IsObject(m)) {
            printf("metrics:      n=%.0f  MAE=%.4f  MSE=%.5f  bias=%.4f  sigma_NMAD=%.4f  R2=%.3f  outliers(|dz|>0.05)=%.1f%%\n",
                   jnum(m, "n"), jnum(m, "mae"), jnum(m, "mse"), jnum(m, "bias"), jnum(m, "sigma_nmad"), jnum(m, "r2"),
                   100.0 * jnum(m, "outlier_fraction"));
        } else {
            printf("metrics:      none (the partitions carry no redshift labels)\n");
        }
        double ign = jnum(sum, "ignored_records");
        if (ign > 0)
            printf("ignored:      %.0f record(s) at this result_path of other runs or of ranks outside the job list\n",
                   ign);
        double dup = jnum(sum, "duplicated_galaxy_ids");
        if (dup > 0) printf("duplicates:   %.0f galaxy id(s) predicted more than once\n", dup);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(sum, "complete");
        /* "yes" only when Summarize succeeded and every check held: a failed write of the outputs is not a
         * complete run, whatever the checks said. */
        printf("complete:     %s\n", cJSON_IsTrue(c) && rc == 0 ? "yes: exactly one prediction per input galaxy"
                                      : "NO");
    }
    if (r->untrained)
        printf("NOTE:         these weights are UNTRAINED (random, fixed seed): the predictions are NOT physical\n"
               "              redshifts. Pass a real checkpoint with --weights W.safetensors (from `cai convert`).\n");
}

int cmd_run(int argc, char **argv) {
    static const struct option opts[] = {{"store", required_argument, 0, 's'},
                                         {"workers", required_argument, 0, 'P'},
                                         {"threads", required_argument, 0, 't'},
                                         {"weights", required_argument, 0, 'w'},
                                         {"precision", required_argument, 0, 'p'},
                                         {"resume", optional_argument, 0, 'r'},
                                         {"force", no_argument, 0, 'F'},
                                         {"rank-timeout", required_argument, 0, 'T'},
                                         {"calibration", required_argument, 0, 'C'},
                                         {"tta", required_argument, 0, 'A'},
                                         {"csv", no_argument, 0, 'V'},
                                         {"progress", no_argument, 0, 'B'},
                                         {"no-progress", no_argument, 0, 'N'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    cai_local_opts o = {0};
    o.progress = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cai_arg_path("run", "--store", optarg)) return 2;
            o.store_url = optarg;
            break;
        case 'P':
            if (cai_arg_int32("run", "--workers", optarg, 1, 4096, &o.workers)) return 2;
            break;
        case 't':
            if (cai_arg_int32("run", "--threads", optarg, 1, 1024, &o.threads)) return 2;
            break;
        case 'w':
            if (cai_arg_path("run", "--weights", optarg)) return 2;
            o.weights = optarg;
            break;
        case 'p':
            if (cai_precision_parse(optarg, &o.precision)) {
                fprintf(stderr, "cai run: --precision: expected auto, fp32 or int8, got \"%s\"\n", optarg);
                return 2;
            }
            o.precision_set = 1;
            break;
        case 'r':
            if (!optarg) o.resume = CAI_RESUME_STRICT;
            else if (!strcmp(optarg, "changed")) o.resume = CAI_RESUME_CHANGED;
            else {
                fprintf(stderr, "cai run: --resume: expected --resume or --resume=changed, got \"--resume=%s\"\n", optarg);
                return 2;
            }
            break;
        case 'F': o.force = 1; break;
        case 'T': {
            int64_t secs;
            if (cai_arg_int("run", "--rank-timeout", optarg, 0, 30LL * 86400, &secs)) return 2;
            o.rank_timeout = (double)secs;
            o.rank_timeout_set = 1;
            break;
        }
        case 'C': o.calibration = optarg; break;
        case 'A':
            if (cai_arg_int32("run", "--tta", optarg, 1, 8, &o.tta) || (o.tta != 1 && o.tta != 8)) {
                fprintf(stderr, "cai run: --tta: expected 1 or 8, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'V': o.csv = 1; break;
        case 'B': o.progress = 1; break;
        case 'N': o.progress = 0; break;
        case 'q': o.quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "cai run: expected exactly one PAYLOAD.json\n");
        usage(stderr);
        return 2;
    }
    o.payload_path = argv[optind];
    cai_local_result res;
    cJSON *sum = NULL;
    cai_err err = {0};
    int rc = cai_local_run(&o, &res, &sum, &err);
    /* A refused --resume ran nothing: no report, only the refusal. */
    if (sum || (res.ranks && !(rc && err.code == CAI_ECHANGED))) report(&res, sum, res.store_url, rc);
    cJSON_Delete(sum);
    if (rc) {
        fprintf(stderr, "cai run: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
        return cai_exit_status(err.code);
    }
    return 0;
}
