/* cmd_plan.c — `cai plan`: partition size, Lambda memory and concurrency for N galaxies under a deadline
 * or a budget, explained; or a refusal with the reason. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "common/err.h"
#include "common/util.h"
#include "pipeline/plan.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: cai plan --galaxies N (--deadline S | --budget USD) [options]\n"
        "  measured throughput (one of; default %.1f galaxies/s per vCPU, the seed's PyTorch on Lambda):\n"
        "    --galaxies-per-s-per-vcpu X\n"
        "    --bench FILE.json     output of `cai bench --json` ({\"threads\":T,\"batch\":B,\"galaxies_per_s\":X} lines)\n"
        "    --run RUN_DIR         a run's combined_data.json\n"
        "  --startup-s S           cold start per invocation (default %.1f)\n"
        "  --s3-mbps B             S3 download bandwidth of one Lambda, MB/s (default %.0f)\n"
        "  --max-concurrency C     at most C concurrent workers (default: the account's)\n"
        "  --account-concurrency A your account's Lambda concurrency quota (default 1000)\n"
        "  --arch x86_64|arm64     (default x86_64)\n"
        "  --partition-mb P / --memory-mb M   fix one of the choices\n",
        CAI_PLAN_DEFAULT_RATE, CAI_PLAN_DEFAULT_STARTUP_S, CAI_PLAN_DEFAULT_S3_MBPS);
}

int cmd_plan(int argc, char **argv) {
    cai_plan_req r;
    cai_plan_req_default(&r);
    const char *bench = NULL, *run = NULL;
    double d;
    int have_rate = 0;
    cai_err err = {0};
    enum {
        O_GAL = 256,
        O_DEADLINE,
        O_BUDGET,
        O_RATE,
        O_BENCH,
        O_RUN,
        O_START,
        O_S3,
        O_MAXC,
        O_ACCT,
        O_PART,
        O_MEM,
        O_ARCH
    };
    static const struct option opts[] = {{"galaxies", required_argument, 0, O_GAL},
                                         {"deadline", required_argument, 0, O_DEADLINE},
                                         {"budget", required_argument, 0, O_BUDGET},
                                         {"galaxies-per-s-per-vcpu", required_argument, 0, O_RATE},
                                         {"bench", required_argument, 0, O_BENCH},
                                         {"run", required_argument, 0, O_RUN},
                                         {"startup-s", required_argument, 0, O_START},
                                         {"s3-mbps", required_argument, 0, O_S3},
                                         {"max-concurrency", required_argument, 0, O_MAXC},
                                         {"account-concurrency", required_argument, 0, O_ACCT},
                                         {"partition-mb", required_argument, 0, O_PART},
                                         {"memory-mb", required_argument, 0, O_MEM},
                                         {"arch", required_argument, 0, O_ARCH},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int opt, li = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        char fl[64];
        snprintf(fl, sizeof fl, "--%s", opt >= 256 ? opts[li].name : "");
        int bad = 0;
        switch (opt) {
        case O_GAL: bad = cai_arg_double("plan", fl, optarg, 1, 1e13, &r.galaxies); break;
        case O_DEADLINE: bad = cai_arg_double("plan", fl, optarg, 1e-9, 1e7, &r.deadline_s); break;
        case O_BUDGET: bad = cai_arg_double("plan", fl, optarg, 1e-9, 1e9, &r.budget_usd); break;
        case O_RATE:
            bad = cai_arg_double("plan", fl, optarg, 1e-9, 1e9, &r.rate_per_vcpu);
            have_rate++;
            break;
        case O_BENCH: bench = optarg, have_rate++; break;
        case O_RUN: run = optarg, have_rate++; break;
        case O_START: bad = cai_arg_double("plan", fl, optarg, 0, 900, &r.startup_s); break;
        case O_S3: bad = cai_arg_double("plan", fl, optarg, 1e-3, 1e6, &r.s3_mbps); break;
        case O_MAXC:
            bad = cai_arg_double("plan", fl, optarg, 1, 1e9, &d);
            r.max_concurrency = (long)d;
            break;
        case O_ACCT:
            bad = cai_arg_double("plan", fl, optarg, 1, 1e9, &d);
            r.account_concurrency = (long)d;
            break;
        case O_PART: bad = cai_arg_double("plan", fl, optarg, 0.01, 10240, &r.partition_mb); break;
        case O_MEM:
            bad = cai_arg_double("plan", fl, optarg, 128, 10240, &d);
            r.memory_mb = (int)d;
            break;
        case O_ARCH: bad = cai_arg_arch("plan", optarg, &r.arch); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "cai plan: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (have_rate > 1) {
        fprintf(stderr, "cai plan: give one of --galaxies-per-s-per-vcpu, --bench, --run\n");
        return 2;
    }
    if (!(r.galaxies >= 1) || (!(r.deadline_s > 0) && !(r.budget_usd > 0))) {
        fprintf(stderr, "cai plan: --galaxies and one of --deadline/--budget are required\n");
        usage(stderr);
        return 2;
    }
    char note[512] = "";
    int rc = 0;
    if (bench) {
        char *text;
        size_t len;
        if (!(rc = cai_read_file(bench, &text, &len, &err))) {
            rc = cai_plan_load_bench(text, len, bench, &r, &err);
            free(text);
        }
        if (!rc)
            snprintf(note, sizeof note,
                     "throughput measured by cai bench (%s): %d thread count(s), %.0f galaxies/s at "
                     "%g threads",
                     bench, r.n_curve, r.curve_gps[r.n_curve - 1], r.curve_threads[r.n_curve - 1]);
    } else if (run) {
        rc = cai_plan_load_run(run, &r, note, sizeof note, &err);
    } else {
        snprintf(note, sizeof note, "throughput %.1f galaxies/s per vCPU (%s)", r.rate_per_vcpu,
                 have_rate ? "given" : "default: the seed's PyTorch on Lambda; CAI measures its own with cai bench");
    }
    if (rc) {
        fprintf(stderr, "cai plan: %s\n", err.msg);
        return cai_exit_status(rc);
    }
    cai_plan_choice c;
    char why[2048];
    rc = cai_plan_choose(&r, &c, why, sizeof why, &err);
    if (rc) {
        fprintf(stderr, "cai plan: refused: %s\n", err.msg);
        return 1;
    }
    printf("plan for %.0f galaxies", r.galaxies);
    if (r.deadline_s > 0) printf(" within %.0f s", r.deadline_s);
    if (r.budget_usd > 0) printf("%s $%.2f", r.deadline_s > 0 ? " and" : " within", r.budget_usd);
    printf(":\n  %s\n", note);
    for (char *line = strtok(why, "\n"); line; line = strtok(NULL, "\n")) printf("  %s\n", line);
    printf(
        "  assumed: %.1f s start-up, %.0f MB/s from S3, %.0f s Initialize/Summarize, memory >= 384 MB + 2 x "
        "partition\n",
        r.startup_s, r.s3_mbps, CAI_PLAN_ORCHESTRATION_S);
    return 0;
}
