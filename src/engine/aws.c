/* aws.c — `aws` CLI runner and helpers for `cai aws`. The CLI is run directly (posix_spawnp with an argv),
 * never through a shell, so stack names, keys and payload paths cannot inject commands. */
#include "aws.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../pipeline/initialize.h"
#include "../pipeline/record.h"

extern char **environ;

#define AWS_MAX_OUT (64u * 1024 * 1024)

int cai_aws_run(const cai_aws *a, const char *const *args, cJSON **out, cai_err *err) {
    if (out) *out = NULL;
    const char *cli = a->aws && *a->aws ? a->aws : (getenv("CAI_AWS_CLI") ? getenv("CAI_AWS_CLI") : "aws");
    size_t nargs = 0;
    while (args[nargs]) nargs++;
    const char **argv = calloc(nargs + 8, sizeof *argv);
    if (!argv) return cai_seterr(err, CAI_ENOMEM, "aws: out of memory");
    size_t k = 0;
    argv[k++] = cli;
    if (a->endpoint_url) argv[k++] = "--endpoint-url", argv[k++] = a->endpoint_url;
    if (a->region) argv[k++] = "--region", argv[k++] = a->region;
    if (a->profile) argv[k++] = "--profile", argv[k++] = a->profile;
    argv[k++] = "--output";
    argv[k++] = "json";
    for (size_t i = 0; i < nargs; i++) argv[k++] = args[i];
    argv[k] = NULL;
    /* For messages: "aws cloudformation deploy" (the first two arguments name the operation). */
    char what[160];
    snprintf(what, sizeof what, "%s %s %s", cli, nargs > 0 ? args[0] : "", nargs > 1 ? args[1] : "");

    int pfd[2] = {-1, -1};
    if (out && pipe(pfd)) {
        free(argv);
        return cai_seterr(err, CAI_EIO, "%s: pipe: %s", what, strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (a->stderr_path)
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, a->stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out) {
        posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&fa, pfd[0]);
        posix_spawn_file_actions_addclose(&fa, pfd[1]);
    }
    pid_t pid;
    fflush(stdout);
    int rc = posix_spawnp(&pid, cli, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    if (out) close(pfd[1]);
    if (rc) {
        if (out) close(pfd[0]);
        return cai_seterr(err, CAI_EARG, "%s: cannot run '%s': %s (install the AWS CLI, or set CAI_AWS_CLI)", what, cli,
                          strerror(rc));
    }
    if (!out) { /* output goes straight to our stdout (e.g. cloudformation deploy's progress) */
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return cai_seterr(err, CAI_ENET, "%s failed (exit %d; its message is above)", what,
                              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    cai_buf b = {0};
    int overflow = 0, oom = 0;
    for (;;) {
        if (b.n + 4096 > AWS_MAX_OUT) {
            overflow = 1;
            char sink[4096];
            while (read(pfd[0], sink, sizeof sink) > 0) {}
            break;
        }
        if (cai_buf_reserve(&b, 4096)) {
            oom = 1;
            break;
        }
        ssize_t r = read(pfd[0], b.p + b.n, 4096);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        b.n += (size_t)r;
        b.p[b.n] = 0;
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    char *buf = oom ? NULL : cai_buf_take(&b);
    cai_buf_free(&b);
    if (!buf) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory reading its output", what);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(buf);
        return cai_seterr(err, CAI_ENET, "%s failed (exit %d; its message is above)", what,
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (overflow) {
        free(buf);
        return cai_seterr(err, CAI_EFORMAT, "%s: output longer than %u bytes", what, AWS_MAX_OUT);
    }
    int r = 0;
    const char *p = buf;
    while (*p && isspace((unsigned char)*p)) p++;
    if (*p) {
        *out = cJSON_Parse(p);
        if (!*out) r = cai_seterr(err, CAI_EFORMAT, "%s: output is not JSON: %.120s", what, p);
    }
    free(buf);
    return r;
}

/* describe-stack-resources (the whole list, then pick by logical id) rather than describe-stack-resource:
 * one call either way, and moto 5.2's singular form fails after an update with an empty change set. */
int cai_aws_stack_resource(const cai_aws *a, const char *stack, const char *logical_id, char *out, size_t n,
                           cai_err *err) {
    const char *args[] = {"cloudformation", "describe-stack-resources", "--stack-name", stack, NULL};
    cJSON *j;
    if (cai_aws_run(a, args, &j, err)) return cai_err_prefix(err, "stack %s: ", stack);
    const cJSON *r, *id = NULL;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "StackResources")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(r, "LogicalResourceId");
        if (cJSON_IsString(l) && !strcmp(l->valuestring, logical_id)) {
            id = cJSON_GetObjectItemCaseSensitive(r, "PhysicalResourceId");
            break;
        }
    }
    int rc = 0;
    if (!cJSON_IsString(id) || !*id->valuestring || strlen(id->valuestring) >= n)
        rc = cai_seterr(err, CAI_ENOTFOUND, "stack %s: no resource %s with a physical id (is it a CAI stack?)", stack,
                        logical_id);
    else strcpy(out, id->valuestring);
    cJSON_Delete(j);
    return rc;
}

double cai_aws_time(const cJSON *v) {
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (!cJSON_IsString(v)) return -1;
    return cai_iso8601_parse(v->valuestring);
}

/* ---------------------------------------------------------------- deploy pre-flight */

int cai_aws_check_concurrency(const cai_aws_concurrency *c, cai_err *err) {
    /* AWS refuses a reservation that leaves fewer than 100 unreserved executions in the Region; a failed
     * resource then rolls the whole stack back (ROLLBACK_COMPLETE on a first deploy, which cannot be updated). */
    const long keep = 100;
    long avail = c->unreserved + c->own_reserved;
    if (c->reserved > 0 && avail - c->reserved < keep)
        return cai_seterr(err, CAI_EARG,
                          "the account's Lambda concurrency in this Region is %ld (%ld unreserved): reserving %ld "
                          "for the worker would leave %ld, and AWS keeps at least %ld unreserved. Ask AWS for more "
                          "(Service Quotas > AWS Lambda > Concurrent executions), or deploy with --param "
                          "WorkerReservedConcurrency=0 --param MaxConcurrency=%ld",
                          c->account_limit, c->unreserved, c->reserved, avail - c->reserved, keep,
                          c->account_limit / 4 > 0 ? c->account_limit / 4 : 1);
    long cap = c->reserved > 0 ? c->reserved : c->account_limit / 2;
    if (c->max_concurrency > cap)
        return cai_seterr(
            err, CAI_EARG,
            "MaxConcurrency %ld is more than %s (%ld): the extra workers would be throttled%s. Pass "
            "--param MaxConcurrency=%ld (or `cai plan`'s choice, if it is lower)",
            c->max_concurrency,
            c->reserved > 0 ? "the worker's reserved concurrency" : "half the account's Lambda concurrency", cap,
            c->reserved > 0 ? " and retried" : ", and so would every other function in the Region", cap > 0 ? cap : 1);
    return 0;
}

/* ---------------------------------------------------------------- resume */

int cai_aws_resume_jobs(cai_store *st, const char *bucket, const char *result_path, char ***lines, size_t *n,
                        size_t *total, cai_err *err) {
    *lines = NULL;
    *n = *total = 0;
    cJSON *jobs = NULL;
    if (cai_jobs_read(st, bucket, result_path, &jobs, err)) return cai_err_prefix(err, "resume: the run's job list: ");
    size_t cnt = (size_t)cJSON_GetArraySize(jobs);
    char **out = calloc(cnt ? cnt : 1, sizeof *out);
    if (!out) {
        cJSON_Delete(jobs);
        return cai_seterr(err, CAI_ENOMEM, "resume: out of memory");
    }
    size_t k = 0;
    int rc = 0;
    for (const cJSON *jb = jobs->child; jb && !rc; jb = jb->next) {
        cai_job j;
        if ((rc = cai_job_parse(jb, &j, err))) {
            cai_err_prefix(err, "resume: %s/%s/jobs.jsonl: ", bucket, result_path);
            break;
        }
        cai_err de = {0};
        int done = cai_rank_done(st, &j, &de);
        cai_job_free(&j);
        if (done == CAI_OK) continue;
        if (done != CAI_ENOTFOUND && done != CAI_EINCOMPLETE) { /* S3 trouble: do not guess */
            *err = de;
            rc = de.code;
            break;
        }
        if (!(out[k] = cJSON_PrintUnformatted(jb))) rc = cai_seterr(err, CAI_ENOMEM, "resume: out of memory");
        else k++;
    }
    cJSON_Delete(jobs);
    if (rc) {
        for (size_t i = 0; i < k; i++) free(out[i]);
        free(out);
        return rc;
    }
    *lines = out;
    *n = k;
    *total = cnt;
    return 0;
}
