/* cmd_lambda.c — `cai lambda`: the Lambda custom-runtime loop, what `bootstrap` execs. Configuration comes
 * from the function's environment (see src/engine/lambda.h); flags exist for tests and diagnostics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/lambda.h"
#include "commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai lambda [--stage initialize|worker|summarize|auto|echo] [--max-events N]\n"
            "\n"
            "Runs the AWS Lambda Runtime API loop against $AWS_LAMBDA_RUNTIME_API (host:port): next event ->\n"
            "stage -> response or error. Environment: CAI_STAGE, CAI_STORE (default s3://), CAI_WEIGHTS\n"
            "(path or s3://BUCKET/KEY; default $LAMBDA_TASK_ROOT/weights.safetensors), CAI_PRECISION,\n"
            "CAI_THREADS, CAI_DEADLINE_MARGIN_S (default 10). --max-events stops after N events (tests).\n");
}

int cmd_lambda(int argc, char **argv) {
    cai_err err = {0};
    cai_lambda_config cfg;
    long max_events = 0;
    if (cai_lambda_config_from_env(&cfg, &err)) {
        fprintf(stderr, "cai lambda: %s\n", err.msg);
        if (getenv("AWS_LAMBDA_RUNTIME_API")) cai_lambda_report_init_error(getenv("AWS_LAMBDA_RUNTIME_API"), &err);
        return cai_exit_status(err.code);
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--stage") && i + 1 < argc) {
            if (cai_lambda_stage_parse(argv[++i], &cfg.stage)) {
                fprintf(stderr,
                        "cai lambda: --stage: expected initialize, worker, summarize, auto or echo, got \"%s\"\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--max-events") && i + 1 < argc) {
            char *end;
            max_events = strtol(argv[++i], &end, 10);
            if (*end || max_events < 0) {
                fprintf(stderr, "cai lambda: --max-events: expected a non-negative integer, got \"%s\"\n", argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr, "cai lambda: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (cai_lambda_main(getenv("AWS_LAMBDA_RUNTIME_API"), &cfg, max_events, &err)) {
        fprintf(stderr, "cai lambda: %s\n", err.msg);
        return cai_exit_status(err.code);
    }
    return 0;
}
