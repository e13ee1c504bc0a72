/* cmd_initialize.c — `cai initialize PAYLOAD.json --store S`: the Initialize stage alone. Writes the seed's
 * <bucket>/payload.json, the per-run copy and <result_path>/jobs.jsonl; prints the job array on stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "pipeline/stages.h"
#include "store/store.h"

int cmd_initialize(int argc, char **argv) {
    static const struct option opts[] = {{"store", required_argument, 0, 's'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *store = ".";
    int quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cai_arg_path("initialize", "--store", optarg)) return 2;
            store = optarg;
            break;
        case 'q': quiet = 1; break;
        case 'h':
            printf("usage: cai initialize PAYLOAD.json [--store DIR|s3://...] [-q]\n\n"
                   "Validate the payload, list the partitions (numeric order; manifest.jsonl when present), split them\n"
                   "over world_size ranks as the seed does, write <bucket>/payload.json, <bucket>/<result_path>/payload.json\n"
                   "and <bucket>/<result_path>/jobs.jsonl, and print the job array (-q: only its size).\n");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "cai initialize: expected exactly one PAYLOAD.json\n");
        return 2;
    }
    cai_err err = {0};
    char *txt = NULL;
    size_t len;
    cai_store *st = NULL;
    cJSON *jobs = NULL;
    int rc = cai_read_file(argv[optind], &txt, &len, &err);
    if (!rc) rc = cai_store_open(store, &st, &err);
    if (!rc) rc = cai_initialize(st, txt, len, &jobs, &err);
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
