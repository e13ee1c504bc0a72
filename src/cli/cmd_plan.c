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
        "       cai plan --bench FILE.json [options]   projected AWS runs of 660K, 10M and 1B galaxies\n"
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

static int num(const char *flag, const char *v, double lo, double hi, double *out) {
    return cai_arg_double("plan", flag, v, lo, hi, out);
}

/* `cai plan --bench FILE` alone: the measured throughput projected onto AWS for the seed's data set (660K),
 * 10M and 1B galaxies, in the seed's deployment shape (25 MB partitions, 10,240 MB Lambdas, the account's
 * concurrency) and in the cheapest shape the planner finds within an hour where that differs. */
static int projection(cai_plan_req *r, const char *bench) {
    cai_err err = {0};
    char *text;
    size_t len;
    int rc = cai_read_file(bench, &text, &len, &err);
    if (!rc) {
        rc = cai_plan_load_bench(text, len, bench, r, &err);
        free(text);
    }
    if (rc) {
        fprintf(stderr, "cai plan: %s\n", err.msg);
        return cai_exit_status(rc);
    }
    printf("projected AWS runs from %s (%.0f galaxies/s at %g threads; best measured per thread count)\n", bench,
           r->curve_gps[r->n_curve - 1], r->curve_threads[r->n_curve - 1]);
    printf("seed layout: 25 MB partitions, 10,240 MB Lambdas, up to %ld concurrent\n", r->account_concurrency);
    printf("%-14s %8s %6s %6s %12s %12s %12s\n", "galaxies", "ranks", "conc.", "waves", "per rank s", "wall s",
           "all-in USD");
    static const double sizes[] = {659817, 1e7, 1e9};
    for (int i = 0; i < 3; i++) {
        r->galaxies = sizes[i];
        long ranks = (long)((sizes[i] / CAI_GALAXIES_PER_MB / 25.0) + 0.999999);
        long conc = ranks < r->account_concurrency ? ranks : r->account_concurrency;
        cai_plan_choice c;
        cai_plan_eval(r, 25.0, 10240, conc, &c);
        printf("%-14.0f %8ld %6ld %6ld %12.1f %12.1f %12.2f\n", sizes[i], c.ranks, c.concurrency, c.waves,
               c.t_invocation, c.makespan_s, c.bill.total);
    }
    printf("assumed: %.1f s start-up, %.0f MB/s from S3, %.0f s Initialize/Summarize (docs/stats.md)\n", r->startup_s,
           r->s3_mbps, CAI_PLAN_ORCHESTRATION_S);
    return 0;
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
        O_ACCC,
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
                                         {"account-concurrency", required_argument, 0, O_ACCC},
                                         {"partition-mb", required_argument, 0, O_PART},
                                         {"memory-mb", required_argument, 0, O_MEM},
                                         {"arch", required_argument, 0, O_ARCH},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int oc, li = 0;
    optind = 1;
    while ((oc = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        char fl[64];
        snprintf(fl, sizeof fl, "--%s", oc >= 256 ? opts[li].name : "");
        int bad = 0;
        switch (oc) {
        case O_GAL: bad = num(fl, optarg, 1, 1e13, &r.galaxies); break;
        case O_DEADLINE: bad = num(fl, optarg, 1e-9, 1e7, &r.deadline_s); break;
        case O_BUDGET: bad = num(fl, optarg, 1e-9, 1e9, &r.budget_usd); break;
        case O_RATE: bad = num(fl, optarg, 1e-9, 1e9, &r.rate_per_vcpu), have_rate++; break;
        case O_BENCH: bench = optarg, have_rate++; break;
        case O_RUN: run = optarg, have_rate++; break;
        case O_START: bad = num(fl, optarg, 0, 900, &r.startup_s); break;
        case O_S3: bad = num(fl, optarg, 1e-3, 1e6, &r.s3_mbps); break;
        case O_MAXC: bad = num(fl, optarg, 1, 1e9, &d), r.max_concurrency = (long)d; break;
        case O_ACCC: bad = num(fl, optarg, 1, 1e9, &d), r.account_concurrency = (long)d; break;
        case O_PART: bad = num(fl, optarg, 0.01, 10240, &r.partition_mb); break;
        case O_MEM: bad = num(fl, optarg, 128, 10240, &d), r.memory_mb = (int)d; break;
        case O_ARCH: bad = cai_arg_arch("plan", optarg, &r.arch); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2; /* getopt named the flag */
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
    if (bench && !(r.galaxies >= 1) && !(r.deadline_s > 0) && !(r.budget_usd > 0)) return projection(&r, bench);
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
