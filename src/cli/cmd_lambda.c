/* cmd_lambda.c — `cai lambda`: the Lambda custom-runtime loop, what `bootstrap` execs. Configuration comes
 * from the function's environment (see src/engine/lambda.h); flags exist for tests and diagnostics. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
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
    int64_t max_events = 0;
    if (cai_lambda_config_from_env(&cfg, &err)) {
        fprintf(stderr, "cai lambda: %s\n", err.msg);
        if (getenv("AWS_LAMBDA_RUNTIME_API")) cai_lambda_report_init_error(getenv("AWS_LAMBDA_RUNTIME_API"), &err);
        return cai_exit_status(err.code);
    }
    static const struct option opts[] = {{"stage", required_argument, 0, 's'},
                                         {"max-events", required_argument, 0, 'm'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cai_lambda_stage_parse(optarg, &cfg.stage)) {
                fprintf(stderr,
                        "cai lambda: --stage: expected initialize, worker, summarize, auto or echo, got \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        case 'm':
            if (cai_arg_int("lambda", "--max-events", optarg, 0, INT64_MAX, &max_events)) return 2;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cai lambda: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (cai_lambda_main(getenv("AWS_LAMBDA_RUNTIME_API"), &cfg, max_events, &err)) {
        fprintf(stderr, "cai lambda: %s\n", err.msg);
        return cai_exit_status(err.code);
    }
    return 0;
}
