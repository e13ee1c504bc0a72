/* aws.h — operating the AWS engine from a workstation (`cai aws`): a thin layer over the `aws` CLI for
 * CloudFormation / Step Functions / CloudWatch Logs, and CAI's own S3 store for bytes.
 * Owns: running `aws` (no shell: an argv), reading its JSON, finding a stack's resources, time stamps.
 * Must not touch: the stages, the Lambda runtime, S3 signing (store/). */
#ifndef CAI_AWS_H
#define CAI_AWS_H

#include <cJSON.h>

#include "../common/err.h"

typedef struct {
    const char *aws;          /* the CLI to run; default "aws" (env CAI_AWS_CLI) */
    const char *endpoint_url; /* --endpoint-url (moto, LocalStack); NULL: AWS */
    const char *region;       /* --region; NULL: the CLI's own configuration */
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
