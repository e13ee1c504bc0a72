/* cmd_initialize.c — `cai initialize PAYLOAD.json --store S [--lock [--force]]`: the Initialize stage alone. Writes
 * the seed's <bucket>/payload.json, the per-run copy and <result_path>/jobs.jsonl; prints the job array on stdout.
 * With --lock it first takes the run's lock on result_path for the stages that follow in other processes
 * (released by `cai summarize --release-lock`). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "pipeline/payload.h"
#include "pipeline/runlock.h"
#include "pipeline/stages.h"
#include "store/store.h"

int cmd_initialize(int argc, char **argv) {
    static const struct option opts[] = {{"store", required_argument, 0, 's'}, {"quiet", no_argument, 0, 'q'},
                                         {"lock", no_argument, 0, 'l'},        {"force", no_argument, 0, 'f'},
                                         {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    const char *store = ".";
    int quiet = 0, lock = 0, force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cai_arg_path("initialize", "--store", optarg)) return 2;
            store = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'l': lock = 1; break;
        case 'f': force = 1; break;
        case 'h':
            printf(
                "usage: cai initialize PAYLOAD.json [--store DIR|s3://...] [--lock [--force]] [-q]\n\n"
                "Validate the payload, list the partitions (numeric order; manifest.jsonl when present), split them\n"
                "over world_size ranks as the seed does, write <bucket>/payload.json, <bucket>/<result_path>/payload.json\n"
                "and <bucket>/<result_path>/jobs.jsonl, and print the job array (-q: only its size).\n"
                "  --lock    first take the run's lock <result_path>/run.lock, held by the run (not this process)\n"
                "            until `cai summarize --release-lock`; refused, naming the holder, when another run\n"
                "            holds it\n"
                "  --force   with --lock: break a lock whose holder is gone or cannot be checked from here\n");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "cai initialize: expected exactly one PAYLOAD.json\n");
        return 2;
    }
    if (force && !lock) {
        fprintf(stderr, "cai initialize: --force goes with --lock\n");
        return 2;
    }
    cai_err err = {0};
    char *txt = NULL;
    size_t len;
    cai_store *st = NULL;
    cJSON *jobs = NULL;
    int rc = cai_read_file(argv[optind], &txt, &len, &err);
    if (!rc) rc = cai_store_open(store, &st, &err);
    if (!rc && !lock) rc = cai_initialize(st, txt, len, &jobs, &err);
    if (!rc && lock) {
        /* The run id is chosen here (the payload's, else a fresh one) so that the lock and the job list agree. */
        cai_payload p;
        rc = cai_payload_parse(txt, len, argv[optind], &p, &err);
        if (!rc) {
            char run_id[CAI_RUN_ID_MAX];
            if (p.run_id && *p.run_id) snprintf(run_id, sizeof run_id, "%s", p.run_id);
            else cai_run_id_new(run_id);
            cai_run_lock lk;
            rc = cai_run_lock_acquire_detached(st, p.bucket, p.result_path, run_id, "cai initialize --lock", force, &lk,
                                               &err);
            if (!rc) rc = cai_initialize_run(st, txt, len, run_id, &jobs, &err);
            if (rc && lk.held) cai_run_lock_release_run(st, p.bucket, p.result_path, run_id, NULL);
            if (!rc)
                fprintf(stderr, "cai initialize: run %s holds %s/%s until `cai summarize --release-lock`\n", run_id,
                        p.bucket, p.result_path);
            cai_payload_free(&p);
        }
    }
    if (!rc) {
        if (quiet) {
            printf("%d jobs\n", cJSON_GetArraySize(jobs));
        } else {
            char *out = cJSON_Print(jobs);
            if (out) puts(out);
            free(out);
        }
    } else {
        fprintf(stderr, "cai initialize: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
    }
    cJSON_Delete(jobs);
    cai_store_close(st);
    free(txt);
    return rc ? cai_exit_status(err.code) : 0;
}
