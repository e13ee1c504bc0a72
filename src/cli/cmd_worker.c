/* cmd_worker.c — `cai worker --store S (--job JOB.json | --jobs BUCKET/RESULT_PATH --rank R)`: one rank of
 * the map stage, as an engine would run it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "pipeline/initialize.h"
#include "pipeline/payload.h"
#include "pipeline/stages.h"
#include "store/store.h"

static void usage(FILE *f) {
    fprintf(f, "usage: cai worker [--store S] --job JOB.json [options]\n"
               "       cai worker [--store S] --jobs BUCKET/RESULT_PATH --rank R [options]\n\n"
               "Run one rank: fetch its partitions, infer, write <result_path>/predictions/<rank>.csv and then\n"
               "<result_path>/<rank>.json. The job is one item of the job array (or line R of jobs.jsonl).\n\n"
               "  --weights W      weights (default: the job's CAI_WEIGHTS)\n"
               "  --threads T      threads (default: all cores)\n"
               "  --precision P    fp32 (default) or int8\n"
               "  --deadline S     stop cleanly S seconds from now (what is done is written)\n");
}

int cmd_worker(int argc, char **argv) {
    static const struct option opts[] = {{"store", required_argument, 0, 's'},  {"job", required_argument, 0, 'j'},
                                         {"jobs", required_argument, 0, 'J'},   {"rank", required_argument, 0, 'r'},
                                         {"weights", required_argument, 0, 'w'}, {"threads", required_argument, 0, 't'},
                                         {"precision", required_argument, 0, 'p'},
                                         {"deadline", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    const char *store = ".", *jobfile = NULL, *jobs = NULL;
    long rank = -1;
    cai_worker_opts wo = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's': store = optarg; break;
        case 'j': jobfile = optarg; break;
        case 'J': jobs = optarg; break;
        case 'r':
            errno = 0;
            rank = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || rank < 0) {
                fprintf(stderr, "cai worker: --rank: expected a non-negative integer, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'w': wo.weights = optarg; break;
        case 't':
            if (cai_arg_int32("worker", "--threads", optarg, 1, 1024, &wo.threads)) return 2;
            break;
        case 'p':
            if (cai_precision_parse(optarg, &wo.precision)) {
                fprintf(stderr, "cai worker: --precision: expected fp32 or int8, got \"%s\"\n", optarg);
                return 2;
            }
            wo.precision_set = 1; /* over the job's CAI_PRECISION */
            break;
        case 'd': {
            double s = strtod(optarg, &end);
            if (*end || end == optarg || s <= 0) {
                fprintf(stderr, "cai worker: --deadline: expected seconds > 0, got \"%s\"\n", optarg);
                return 2;
            }
            wo.deadline_unix = cai_wall_now() + s;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || (!jobfile == !jobs) || (jobs && rank < 0)) {
        fprintf(stderr, "cai worker: give either --job JOB.json, or --jobs BUCKET/RESULT_PATH with --rank R\n");
        return 2;
    }
    cai_err err = {0};
    cai_store *st = NULL;
    cJSON *job = NULL, *all = NULL, *rec = NULL;
    int rc = cai_store_open(store, &st, &err);
    if (!rc && jobfile) {
        char *txt;
        size_t len;
        rc = cai_read_file(jobfile, &txt, &len, &err);
        if (!rc) {
            job = cJSON_ParseWithLength(txt, len);
            free(txt);
            if (!job) rc = cai_seterr(&err, CAI_EPAYLOAD, "%s: not valid JSON", jobfile);
        }
    } else if (!rc) {
        const char *slash = strchr(jobs, '/');
        if (!slash) rc = cai_seterr(&err, CAI_EARG, "--jobs: expected BUCKET/RESULT_PATH, got \"%s\"", jobs);
        else {
            char *bucket = strndup(jobs, (size_t)(slash - jobs));
            rc = cai_jobs_read(st, bucket, slash + 1, &all, &err);
            free(bucket);
            if (!rc && rank >= cJSON_GetArraySize(all))
                rc = cai_seterr(&err, CAI_EARG, "--rank %ld: the job list has %d ranks", rank, cJSON_GetArraySize(all));
            if (!rc) job = cJSON_DetachItemFromArray(all, (int)rank);
        }
    }
    if (!rc) rc = cai_worker_run(st, job, &wo, &rec, &err);
    if (rec) {
        char *out = cJSON_Print(rec);
        if (out) puts(out);
        free(out);
    }
    if (rc) fprintf(stderr, "cai worker: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
    cJSON_Delete(rec);
    cJSON_Delete(job);
    cJSON_Delete(all);
    cai_store_close(st);
    return rc ? cai_exit_status(err.code) : 0;
}
