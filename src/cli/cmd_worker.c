/* cmd_worker.c — `cai worker`: ranks of the map stage, as an engine runs them. One job item from a file
 * (--job), or line(s) of the run's jobs.jsonl chosen by a task index (--jobs ... --index I|env): the
 * shard-index contract of engine/array.h, which is all SLURM arrays, AWS Batch array jobs and Kubernetes
 * Indexed Jobs need. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "engine/array.h"
#include "pipeline/initialize.h"
#include "pipeline/payload.h"
#include "pipeline/record.h"
#include "pipeline/stages.h"
#include "pipeline/weightfile.h"
#include "store/store.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai worker [--store S] --job JOB.json [options]\n"
            "       cai worker [--store S] --jobs BUCKET/RESULT_PATH[/jobs.jsonl] --index I|env [options]\n\n"
            "Run ranks of the map stage: fetch their partitions, infer, write <result_path>/predictions/<rank>.csv\n"
            "and then <result_path>/<rank>.json. The job is one item of the job array (--job), or line I of the\n"
            "run's jobs.jsonl in the store (--jobs, the run's folder BUCKET/RESULT_PATH).\n\n"
            "  --index I|env       the task index; `env`: the first set of SLURM_ARRAY_TASK_ID,\n"
            "                      AWS_BATCH_JOB_ARRAY_INDEX, JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs),\n"
            "                      OMPI_COMM_WORLD_RANK, PMIX_RANK (the one used is printed)\n"
            "  --rank R            the same as --index R\n"
            "  --index-base B      subtracted from the index (SLURM arrays starting at 1: --index-base 1)\n"
            "  --ranks-per-task K  task I runs ranks I*K .. I*K+K-1 (default 1), the model loaded once\n"
            "  --engine NAME       the record's \"engine\" (default: from the index variable, else \"worker\")\n"
            "  --weights W         weights (default: the job's CAI_WEIGHTS)\n"
            "  --threads T         threads (default: SLURM_CPUS_PER_TASK when set, else all cores)\n"
            "  --precision P       auto (default: int8 where the CPU has VNNI), fp32 or int8\n"
            "  --deadline S        stop cleanly S seconds from now (what is done is written)\n"
            "  --calibration C     calib.json from `cai calibrate` (default: the job's CAI_CALIBRATION): adds\n"
            "                      z_err, z_lo68, z_hi68, z_lo95, z_hi95, p_outlier; refused for other weights\n"
            "  --tta 8             test-time augmentation: mean of the 8 flips/rotations, spread in z_std (8x)\n\n"
            "Exit status: 0 when every rank it ran succeeded; 1 (2 for bad arguments) otherwise.\n");
}

/* Run ranks [first, last) of `all`; the model is loaded once for all of them. */
static int run_ranks(cai_store *st, cJSON *all, long long first, long long last, cai_worker_opts *wo, cai_err *err) {
    cJSON **at = calloc((size_t)(last - first), sizeof *at);
    if (!at) return cai_seterr(err, CAI_ENOMEM, "out of memory");
    long long i = 0;
    for (cJSON *jb = all->child; jb && i < last; jb = jb->next, i++)
        if (i >= first) at[i - first] = jb;
    cai_model *model = NULL;
    char wpath[4096];
    if (last - first > 1) {
        /* Resolve the weights as the worker would (CLI, else the job's CAI_WEIGHTS) and load them once. */
        cai_job j;
        cai_err e = {0};
        if (cai_job_parse(at[0], &j, &e) == CAI_OK) {
            const char *spec = wo->weights ? wo->weights : j.weights;
            if (spec && cai_weightfile_resolve(st, j.bucket, spec, wpath, sizeof wpath, &e) == CAI_OK &&
                cai_model_load(wpath, wo->precision, &model, &e) == CAI_OK) {
                wo->model = model;
                wo->weights = wpath;
            }
            cai_job_free(&j);
        }
    }
    int rc = CAI_OK, nfail = 0;
    char msg[sizeof err->msg] = "";
    for (long long r = first; r < last; r++) {
        cJSON *rec = NULL;
        cai_err we = {0};
        int wrc = cai_worker_run(st, at[r - first], wo, &rec, &we);
        if (rec) {
            char *out = cJSON_Print(rec);
            if (out) puts(out);
            free(out);
            fflush(stdout);
        }
        cJSON_Delete(rec);
        if (wrc && last - first > 1) {
            fprintf(stderr, "cai worker: %s\n", we.msg[0] ? we.msg : cai_strerror(we.code));
        }
        if (wrc && !nfail++) rc = wrc, snprintf(msg, sizeof msg, "%s", we.msg);
    }
    if (model) cai_model_free(model);
    free(at);
    if (nfail > 1) return cai_seterr(err, rc, "%d of %lld ranks failed (first: %.900s)", nfail, last - first, msg);
    if (nfail) return cai_seterr(err, rc, "%s", msg);
    return CAI_OK;
}

int cmd_worker(int argc, char **argv) {
    static const struct option opts[] = {{"store", required_argument, 0, 's'},
                                         {"job", required_argument, 0, 'j'},
                                         {"jobs", required_argument, 0, 'J'},
                                         {"rank", required_argument, 0, 'r'},
                                         {"index", required_argument, 0, 'i'},
                                         {"index-base", required_argument, 0, 'b'},
                                         {"ranks-per-task", required_argument, 0, 'k'},
                                         {"engine", required_argument, 0, 'e'},
                                         {"weights", required_argument, 0, 'w'},
                                         {"threads", required_argument, 0, 't'},
                                         {"precision", required_argument, 0, 'p'},
                                         {"deadline", required_argument, 0, 'd'},
                                         {"calibration", required_argument, 0, 'C'},
                                         {"tta", required_argument, 0, 'T'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *store = ".", *jobfile = NULL, *jobs = NULL, *index = NULL, *engine = NULL;
    int64_t base = 0, per_task = 1;
    cai_worker_opts wo = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's':
            if (cai_arg_path("worker", "--store", optarg)) return 2;
            store = optarg;
            break;
        case 'j': jobfile = optarg; break;
        case 'J': jobs = optarg; break;
        case 'r':
        case 'i': index = optarg; break;
        case 'b':
            if (cai_arg_int("worker", "--index-base", optarg, 0, 1000000000, &base)) return 2;
            break;
        case 'k':
            if (cai_arg_int("worker", "--ranks-per-task", optarg, 1, 1000000000, &per_task)) return 2;
            break;
        case 'e': engine = optarg; break;
        case 'w': wo.weights = optarg; break;
        case 't':
            if (cai_arg_int32("worker", "--threads", optarg, 1, 1024, &wo.threads)) return 2;
            break;
        case 'p':
            if (cai_precision_parse(optarg, &wo.precision)) {
                fprintf(stderr, "cai worker: --precision: expected auto, fp32 or int8, got \"%s\"\n", optarg);
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
        case 'C': wo.calibration = optarg; break;
        case 'T':
            if (cai_arg_int32("worker", "--tta", optarg, 1, 8, &wo.tta) || (wo.tta != 1 && wo.tta != 8)) {
                fprintf(stderr, "cai worker: --tta: expected 1 or 8, got \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || (!jobfile == !jobs) || (jobs && !index) || (jobfile && index)) {
        fprintf(stderr, "cai worker: give either --job JOB.json, or --jobs BUCKET/RESULT_PATH with --index I|env\n");
        return 2;
    }
    cai_err err = {0};
    cai_array_index ix = {0};
    if (jobs && cai_array_index_resolve(index, base, &ix, &err)) {
        fprintf(stderr, "cai worker: %s\n", err.msg);
        return 2;
    }
    if (!wo.threads && cai_array_threads_from_env(&wo.threads, &err)) {
        fprintf(stderr, "cai worker: %s\n", err.msg);
        return 2;
    }
    wo.engine = engine ? engine : ix.engine ? ix.engine : "worker";
    cJSON *info = cai_array_engine_info(wo.engine);
    wo.engine_info = info;

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
        if (!rc) rc = cai_worker_run(st, job, &wo, &rec, &err);
        if (rec) {
            char *out = cJSON_Print(rec);
            if (out) puts(out);
            free(out);
        }
    } else if (!rc) {
        /* BUCKET/RESULT_PATH, with or without the trailing /jobs.jsonl. */
        char *run = strdup(jobs);
        size_t rl = run ? strlen(run) : 0;
        while (rl > 0 && run[rl - 1] == '/') run[--rl] = 0;
        if (rl > 11 && !strcmp(run + rl - 11, "/jobs.jsonl")) run[rl -= 11] = 0;
        char *slash = run ? strchr(run, '/') : NULL;
        if (!run) rc = cai_seterr(&err, CAI_ENOMEM, "out of memory");
        else if (!slash || slash == run || !slash[1])
            rc = cai_seterr(&err, CAI_EARG, "--jobs: expected BUCKET/RESULT_PATH[/jobs.jsonl], got \"%s\"", jobs);
        else {
            *slash = 0;
            rc = cai_jobs_read(st, run, slash + 1, &all, &err);
            long long first = 0, last = 0;
            char name[1100];
            snprintf(name, sizeof name, "%s/%s/jobs.jsonl", run, slash + 1);
            if (!rc) rc = cai_array_ranks(&ix, per_task, cJSON_GetArraySize(all), name, &first, &last, &err);
            if (!rc) {
                char which[64];
                if (last - first > 1) snprintf(which, sizeof which, "ranks %lld..%lld", first, last - 1);
                else snprintf(which, sizeof which, "rank %lld", first);
                if (ix.var[0])
                    fprintf(stderr, "cai worker: index %lld from %s=%lld (base %lld): %s of %s\n", ix.index, ix.var,
                            ix.raw, (long long)base, which, name);
                rc = run_ranks(st, all, first, last, &wo, &err);
            }
        }
        free(run);
    }
    if (rc) fprintf(stderr, "cai worker: %s\n", err.msg[0] ? err.msg : cai_strerror(err.code));
    cJSON_Delete(info);
    cJSON_Delete(rec);
    cJSON_Delete(job);
    cJSON_Delete(all);
    cai_store_close(st);
    return rc ? cai_exit_status(err.code) : 0;
}
