/* aws.h — operating the AWS engine from a workstation (`cai aws`): a thin layer over the `aws` CLI for
 * CloudFormation / Step Functions / CloudWatch Logs, and CAI's own S3 store for bytes.
 * Owns: running `aws` (no shell: an argv), reading its JSON, finding a stack's resources, time stamps.
 * Also: the deploy pre-flight rules and the resume job list (which ranks of a run must run again).
 * Must not touch: the stages, the Lambda runtime, S3 signing (store/). */
#ifndef CAI_AWS_H
#define CAI_AWS_H

#include <cJSON.h>
#include <stddef.h>

#include "../common/err.h"
#include "../store/aws_creds.h"
#include "../store/store.h"

typedef struct {
    const char *aws;          /* the CLI to run; default "aws" (env CAI_AWS_CLI) */
    const char *endpoint_url; /* --endpoint-url (moto, LocalStack); NULL: AWS */
    const char *region;       /* --region; NULL: the CLI's own configuration */
    const char *profile;      /* --profile; NULL: the CLI's own (AWS_PROFILE or default) */
    const char *stderr_path;  /* NULL: the CLI's stderr passes through; else it goes to this file */
} cai_aws;

/* Run `aws [--endpoint-url E] [--region R] --output json ARGS...` with stderr passed through. With out,
 * stdout is captured (at most 64 MiB) and *out gets it parsed as JSON (NULL when stdout is empty); with
 * out == NULL stdout is passed through too (progress output such as `cloudformation deploy`'s).
 * A non-zero exit is CAI_ENET with the command named. */
int cai_aws_run(const cai_aws *a, const char *const *args, cJSON **out, cai_err *err);

/* The physical id of a stack resource by logical id (e.g. "StateMachine" → its ARN). */
int cai_aws_stack_resource(const cai_aws *a, const char *stack, const char *logical_id, char *out, size_t n,
                           cai_err *err);

/* "2026-11-25T16:00:00.123000+00:00" / "...Z" / a number of Unix seconds (what the CLI prints for
 * startDate/stopDate) → Unix seconds. -1 when it cannot be parsed. */
double cai_aws_time(const cJSON *v);

#endif

/* ---- deploy pre-flight (pure: no calls; tested in tests/unit/test_aws.c) */

/* What a deploy asks of the account's Lambda concurrency, and what the account has (get-account-settings:
 * AccountLimit.ConcurrentExecutions and UnreservedConcurrentExecutions; own_reserved: what this stack's
 * worker reserves already, 0 on a first deploy). Returns 0 when the deploy fits, or CAI_EARG with a message
 * that says what to ask AWS for or which --param to pass. AWS keeps at least 100 executions unreserved. */
typedef struct {
    long account_limit, unreserved, own_reserved;
    long reserved;        /* WorkerReservedConcurrency the deploy sets (0: none) */
    long max_concurrency; /* MaxConcurrency the deploy sets */
} cai_aws_concurrency;
int cai_aws_check_concurrency(const cai_aws_concurrency *c, cai_err *err);

/* ---- resume */

/* The job lines (unformatted JSON, one per element, heap) of the ranks of <bucket>/<result_path> that are not
 * complete (no valid record, a failed record, or predictions that do not match it: cai_rank_done), read
 * from the run's jobs.jsonl. *n may be 0 (nothing to rerun). *total gets the run's rank count. */
int cai_aws_resume_jobs(cai_store *st, const char *bucket, const char *result_path, char ***lines, size_t *n,
                        size_t *total, cai_err *err);
