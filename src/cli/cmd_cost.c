/* cmd_cost.c — `cai cost`: the all-in AWS bill of a run (from its record or from parameters), and the
 * seed README's cost table beside the bill it stood for. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "pipeline/cost.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: cai cost RUN_DIR [options]          bill of a run from combined_data.json (+ summary.json)\n"
            "       cai cost --partitions N --seconds-per-invocation S [options]\n"
            "       cai cost --seed-table               the seed README's table beside the all-in bill\n"
            "options:\n"
            "  --memory-mb M           configured Lambda memory (default 10240, the seed's)\n"
            "  --arch x86_64|arm64     (default x86_64)\n"
            "  --ephemeral-mb E        configured /tmp (default 512: free)\n"
            "  --sfn standard|express  Distributed Map child workflows (default standard)\n"
            "  --retries R             retried map items (each billed again)\n"
            "  --galaxies G            for $ per million galaxies (run records usually carry it)\n"
            "  --files-per-invocation F  partition files per invocation, for the S3 estimate (default 1)\n"
            "  --startup-s S           cold start added to each rank's recorded wall time (default 0.5)\n"
            "  --overhead-s S          seed records only: time outside the loop (default 16.1, measured at 75 MB)\n"
            "  --s3-get N --s3-put N --s3-list N   override the S3 request counts\n");
}

int cmd_cost(int argc, char **argv) {
    const char *run = NULL;
    double partitions = -1, seconds = -1, memory = 10240, eph = 512, retries = 0, galaxies = 0, files = 1;
    double startup = 0.5, overhead = 16.1, get = -1, put = -1, list = -1;
    int seed = 0;
    cai_arch arch = CAI_ARCH_X86_64;
    cai_sfn_kind sfn = CAI_SFN_STANDARD;
    enum {
        O_SEED = 256,
        O_PART,
        O_SECS,
        O_MEM,
        O_EPH,
        O_RETRIES,
        O_GAL,
        O_FILES,
        O_START,
        O_OVER,
        O_GET,
        O_PUT,
        O_LIST,
        O_ARCH,
        O_SFN
    };
    static const struct option opts[] = {{"seed-table", no_argument, 0, O_SEED},
                                         {"partitions", required_argument, 0, O_PART},
                                         {"seconds-per-invocation", required_argument, 0, O_SECS},
                                         {"memory-mb", required_argument, 0, O_MEM},
                                         {"ephemeral-mb", required_argument, 0, O_EPH},
                                         {"retries", required_argument, 0, O_RETRIES},
                                         {"galaxies", required_argument, 0, O_GAL},
                                         {"files-per-invocation", required_argument, 0, O_FILES},
                                         {"startup-s", required_argument, 0, O_START},
                                         {"overhead-s", required_argument, 0, O_OVER},
                                         {"s3-get", required_argument, 0, O_GET},
                                         {"s3-put", required_argument, 0, O_PUT},
                                         {"s3-list", required_argument, 0, O_LIST},
                                         {"arch", required_argument, 0, O_ARCH},
                                         {"sfn", required_argument, 0, O_SFN},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c, li = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        char fl[64];
        snprintf(fl, sizeof fl, "--%s", c >= 256 ? opts[li].name : "");
        int bad = 0;
        switch (c) {
        case O_SEED: seed = 1; break;
        case O_PART: bad = cai_arg_double("cost", fl, optarg, 1, 1e8, &partitions); break;
        case O_SECS: bad = cai_arg_double("cost", fl, optarg, 0, 900, &seconds); break;
        case O_MEM: bad = cai_arg_double("cost", fl, optarg, 128, 10240, &memory); break;
        case O_EPH: bad = cai_arg_double("cost", fl, optarg, 512, 10240, &eph); break;
        case O_RETRIES: bad = cai_arg_double("cost", fl, optarg, 0, 1e8, &retries); break;
        case O_GAL: bad = cai_arg_double("cost", fl, optarg, 0, 1e13, &galaxies); break;
        case O_FILES: bad = cai_arg_double("cost", fl, optarg, 0, 1e6, &files); break;
        case O_START: bad = cai_arg_double("cost", fl, optarg, 0, 900, &startup); break;
        case O_OVER: bad = cai_arg_double("cost", fl, optarg, 0, 900, &overhead); break;
        case O_GET: bad = cai_arg_double("cost", fl, optarg, 0, 1e12, &get); break;
        case O_PUT: bad = cai_arg_double("cost", fl, optarg, 0, 1e12, &put); break;
        case O_LIST: bad = cai_arg_double("cost", fl, optarg, 0, 1e12, &list); break;
        case O_ARCH: bad = cai_arg_arch("cost", optarg, &arch); break;
        case O_SFN:
            if (!strcmp(optarg, "standard")) sfn = CAI_SFN_STANDARD;
            else if (!strcmp(optarg, "express")) sfn = CAI_SFN_EXPRESS;
            else {
                fprintf(stderr, "cai cost: --sfn: expected standard or express, got \"%s\"\n", optarg);
                bad = 1;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) return 2;
    }
    if (optind < argc) run = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "cai cost: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (seed) {
        cai_cost_seed_table(stdout, NULL);
        if (!run && partitions < 0) return 0;
        printf("\n");
    }
    cai_cost_inputs in;
    cai_cost_inputs_default(&in);
    in.memory_mb = (int)memory;
    in.ephemeral_mb = (int)eph;
    in.arch = arch;
    in.children = sfn;
    in.retries = (long)retries;
    cai_err err = {0};
    if (run) {
        if (partitions >= 0 || seconds >= 0) {
            fprintf(stderr, "cai cost: give either RUN_DIR or --partitions/--seconds-per-invocation, not both\n");
            return 2;
        }
        int rc = cai_cost_from_run(run, startup, overhead, &in, stdout, &err);
        if (rc) {
            fprintf(stderr, "cai cost: %s\n", err.msg);
            return cai_exit_status(rc);
        }
        if (galaxies > 0) in.galaxies = galaxies;
    } else if (partitions >= 1 && seconds >= 0) {
        in.invocations = (long)partitions;
        in.billed_seconds = (double)in.invocations * cai_cost_billed_seconds(seconds);
        in.galaxies = galaxies;
        long g, p, l;
        cai_cost_estimate_s3((long)llround(partitions * files), in.invocations, &g, &p, &l);
        in.s3_get = g, in.s3_put = p, in.s3_list = l;
        printf("parameters: %ld invocations x %.3f s at %d MB\n", in.invocations, seconds, in.memory_mb);
    } else {
        fprintf(stderr, "cai cost: give RUN_DIR, or --partitions N and --seconds-per-invocation S, or --seed-table\n");
        usage(stderr);
        return 2;
    }
    if (get >= 0) in.s3_get = (long)get;
    if (put >= 0) in.s3_put = (long)put;
    if (list >= 0) in.s3_list = (long)list;
    cai_cost_bill b;
    int rc = cai_cost_compute(&in, &cai_prices_2026, &b, &err);
    if (rc) {
        fprintf(stderr, "cai cost: %s\n", err.msg);
        return cai_exit_status(rc);
    }
    printf("All-in AWS bill (us-east-1 list prices, late 2026):\n");
    cai_cost_print(stdout, &in, &cai_prices_2026, &b);
    return 0;
}
