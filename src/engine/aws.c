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
        return cai_seterr(err, CAI_EARG, "%s: cannot run '%s': %s (install the AWS CLI, or set CAI_AWS_CLI)", what,
                          cli, strerror(rc));
    }
    if (!out) { /* output goes straight to our stdout (e.g. cloudformation deploy's progress) */
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return cai_seterr(err, CAI_ENET, "%s failed (exit %d; its message is above)", what,
                              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    size_t len = 0, cap = 65536;
    char *buf = malloc(cap);
    int overflow = 0;
    for (;;) {
        if (!buf) break;
        if (len + 4096 + 1 > cap) {
            if (cap >= AWS_MAX_OUT) {
                overflow = 1;
                char sink[4096];
                while (read(pfd[0], sink, sizeof sink) > 0) {
                }
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(pfd[0], buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!buf) return cai_seterr(err, CAI_ENOMEM, "%s: out of memory reading its output", what);
    buf[len] = 0;
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
    else
        strcpy(out, id->valuestring);
    cJSON_Delete(j);
    return rc;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm): no timegm, no TZ. */
static long long days_from_civil(long long y, unsigned m, unsigned d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

double cai_aws_time(const cJSON *v) {
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (!cJSON_IsString(v)) return -1;
    const char *s = v->valuestring;
    int Y, M, D, h, m, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n != 19) return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return -1;
    const char *p = s + 19;
    double frac = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) return -1;
        while (isdigit((unsigned char)*p)) frac += (*p++ - '0') * scale, scale /= 10;
    }
    long off = 0;
    if (*p == 'Z') p++;
    else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5) return -1;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p) return -1;
    long long days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    return (double)(days * 86400LL + h * 3600LL + m * 60LL + sec - off) + frac;
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
        return cai_seterr(err, CAI_EARG,
                          "MaxConcurrency %ld is more than %s (%ld): the extra workers would be throttled%s. Pass "
                          "--param MaxConcurrency=%ld (or `cai plan`'s choice, if it is lower)",
                          c->max_concurrency, c->reserved > 0 ? "the worker's reserved concurrency" :
                          "half the account's Lambda concurrency", cap,
                          c->reserved > 0 ? " and retried" : ", and so would every other function in the Region",
                          cap > 0 ? cap : 1);
    return 0;
}

/* ---------------------------------------------------------------- resume */


int cai_aws_resume_jobs(cai_store *st, const char *bucket, const char *result_path, char ***lines, size_t *n,
                        size_t *total, cai_err *err) {
    *lines = NULL;
    *n = *total = 0;
    cJSON *jobs = NULL;
    if (cai_jobs_read(st, bucket, result_path, &jobs, err))
        return cai_err_prefix(err, "resume: the run's job list: ");
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
