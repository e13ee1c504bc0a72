/* array.c — the shard-index contract (see array.h).
 *
 * Why one contract: SLURM job arrays, AWS Batch array jobs, Kubernetes Indexed Jobs and MPI launchers all
 * hand each task a small integer in an environment variable and nothing else. A task that maps that integer
 * to a line of the run's jobs.jsonl needs no engine-specific code, so `cai worker --index env` is the whole
 * integration for each of them. */
#include "array.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *var, *engine;
} index_vars[] = {
    {"SLURM_ARRAY_TASK_ID", "slurm"},
    {"AWS_BATCH_JOB_ARRAY_INDEX", "aws-batch"},
    {"JOB_COMPLETION_INDEX", "kubernetes"},
    {"OMPI_COMM_WORLD_RANK", "mpi"},
    {"PMIX_RANK", "mpi"},
};

static int parse_nonneg(const char *s, long long *out) {
    if (!s || !*s) return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0) return -1;
    *out = v;
    return 0;
}

int cai_array_index_resolve(const char *spec, long long base, cai_array_index *out, cai_err *err) {
    memset(out, 0, sizeof *out);
    if (base < 0) return cai_seterr(err, CAI_EARG, "--index-base: expected a non-negative integer, got %lld", base);
    if (!spec || !*spec) return cai_seterr(err, CAI_EARG, "--index: expected a non-negative integer or \"env\"");
    if (!strcmp(spec, "env")) {
        for (size_t i = 0; i < sizeof index_vars / sizeof index_vars[0]; i++) {
            const char *v = getenv(index_vars[i].var);
            if (!v) continue;
            if (parse_nonneg(v, &out->raw))
                return cai_seterr(err, CAI_EARG, "--index env: %s=\"%.64s\": expected a non-negative integer",
                                  index_vars[i].var, v);
            snprintf(out->var, sizeof out->var, "%s", index_vars[i].var);
            out->engine = index_vars[i].engine;
            break;
        }
        if (!out->var[0])
            return cai_seterr(err, CAI_EARG, "--index env: none of %s is set (run under an array job or MPI, or "
                              "give --index I)", CAI_ARRAY_ENV_VARS);
    } else if (parse_nonneg(spec, &out->raw)) {
        return cai_seterr(err, CAI_EARG, "--index: expected a non-negative integer or \"env\", got \"%.64s\"", spec);
    }
    if (out->raw < base) {
        if (out->var[0])
            return cai_seterr(err, CAI_EARG, "--index env: %s=%lld is below --index-base %lld", out->var, out->raw,
                              base);
        return cai_seterr(err, CAI_EARG, "--index %lld is below --index-base %lld", out->raw, base);
    }
    out->index = out->raw - base;
    return CAI_OK;
}

int cai_array_ranks(const cai_array_index *ix, long long per_task, long long nranks, const char *jobs_name,
                    long long *first, long long *last, cai_err *err) {
    if (per_task < 1) return cai_seterr(err, CAI_EARG, "--ranks-per-task: expected >= 1, got %lld", per_task);
    char src[96];
    if (ix->var[0]) snprintf(src, sizeof src, " (%s=%lld)", ix->var, ix->raw);
    else src[0] = 0;
    long long ntasks = nranks > 0 ? (nranks + per_task - 1) / per_task : 0;
    if (ix->index >= ntasks) {
        if (ntasks == 0) return cai_seterr(err, CAI_EARG, "index %lld%s: %s has no ranks", ix->index, src, jobs_name);
        char per[64] = "";
        if (per_task > 1) snprintf(per, sizeof per, " in tasks of %lld", per_task);
        return cai_seterr(err, CAI_EARG, "index %lld%s is out of range: %s has %lld rank%s%s, so task indices are "
                          "0..%lld (after the index base)", ix->index, src, jobs_name, nranks, nranks == 1 ? "" : "s",
                          per, ntasks - 1);
    }
    *first = ix->index * per_task;
    *last = *first + per_task < nranks ? *first + per_task : nranks;
    return CAI_OK;
}

int cai_array_threads_from_env(int *threads, cai_err *err) {
    *threads = 0;
    const char *v = getenv("SLURM_CPUS_PER_TASK");
    if (!v) return CAI_OK;
    long long n;
    if (parse_nonneg(v, &n) || n < 1 || n > 4096)
        return cai_seterr(err, CAI_EARG, "SLURM_CPUS_PER_TASK=\"%.64s\": expected an integer in [1, 4096]", v);
    *threads = (int)n;
    return CAI_OK;
}

/* Add env var `var` as a number when it is one, else as a string; nothing when unset. */
static void add_env(cJSON *o, const char *key, const char *var) {
    const char *v = getenv(var);
    if (!v || !*v) return;
    long long n;
    if (parse_nonneg(v, &n) == 0 && n < (1LL << 53)) cJSON_AddNumberToObject(o, key, (double)n);
    else cJSON_AddStringToObject(o, key, v);
}

cJSON *cai_array_engine_info(const char *engine) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !engine) return o;
    if (!strcmp(engine, "slurm")) {
        cJSON *s = cJSON_AddObjectToObject(o, "slurm");
        add_env(s, "job_id", "SLURM_JOB_ID");
        add_env(s, "array_job_id", "SLURM_ARRAY_JOB_ID");
        add_env(s, "array_task_id", "SLURM_ARRAY_TASK_ID");
        add_env(s, "cluster", "SLURM_CLUSTER_NAME");
        add_env(s, "node", "SLURMD_NODENAME");
    } else if (!strcmp(engine, "aws-batch")) {
        cJSON *s = cJSON_AddObjectToObject(o, "aws_batch");
        add_env(s, "job_id", "AWS_BATCH_JOB_ID");
        add_env(s, "array_index", "AWS_BATCH_JOB_ARRAY_INDEX");
    } else if (!strcmp(engine, "kubernetes")) {
        cJSON *s = cJSON_AddObjectToObject(o, "kubernetes");
        add_env(s, "completion_index", "JOB_COMPLETION_INDEX");
        add_env(s, "pod", "HOSTNAME");
    }
    return o;
}
