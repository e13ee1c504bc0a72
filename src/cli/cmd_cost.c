/* cmd_cost.c — `cai cost`: the all-in AWS bill of a run (from its record or from parameters), and the
 * seed README's cost table beside the bill it stood for. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int num_arg(const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (*end || end == v || !(d >= lo && d <= hi)) {
        fprintf(stderr, "cai cost: %s: expected a number in [%g, %g], got \"%s\"\n", opt, lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

int cmd_cost(int argc, char **argv) {
    const char *run = NULL;
    double partitions = -1, seconds = -1, memory = 10240, eph = 512, retries = 0, galaxies = 0, files = 1;
    double startup = 0.5, overhead = 16.1, get = -1, put = -1, list = -1;
    int seed = 0;
    cai_arch arch = CAI_ARCH_X86_64;
    cai_sfn_kind sfn = CAI_SFN_STANDARD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--seed-table")) {
            seed = 1;
            continue;
        } else if (a[0] != '-') {
            if (run) {
                fprintf(stderr, "cai cost: unexpected argument '%s'\n", a);
                return 2;
            }
            run = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "cai cost: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--partitions")) bad = num_arg(a, v, 1, 1e8, &partitions);
        else if (!strcmp(a, "--seconds-per-invocation")) bad = num_arg(a, v, 0, 900, &seconds);
        else if (!strcmp(a, "--memory-mb")) bad = num_arg(a, v, 128, 10240, &memory);
        else if (!strcmp(a, "--ephemeral-mb")) bad = num_arg(a, v, 512, 10240, &eph);
        else if (!strcmp(a, "--retries")) bad = num_arg(a, v, 0, 1e8, &retries);
        else if (!strcmp(a, "--galaxies")) bad = num_arg(a, v, 0, 1e13, &galaxies);
        else if (!strcmp(a, "--files-per-invocation")) bad = num_arg(a, v, 0, 1e6, &files);
        else if (!strcmp(a, "--startup-s")) bad = num_arg(a, v, 0, 900, &startup);
        else if (!strcmp(a, "--overhead-s")) bad = num_arg(a, v, 0, 900, &overhead);
        else if (!strcmp(a, "--s3-get")) bad = num_arg(a, v, 0, 1e12, &get);
        else if (!strcmp(a, "--s3-put")) bad = num_arg(a, v, 0, 1e12, &put);
        else if (!strcmp(a, "--s3-list")) bad = num_arg(a, v, 0, 1e12, &list);
        else if (!strcmp(a, "--arch")) {
            if (!strcmp(v, "x86_64") || !strcmp(v, "x86")) arch = CAI_ARCH_X86_64;
            else if (!strcmp(v, "arm64")) arch = CAI_ARCH_ARM64;
            else {
                fprintf(stderr, "cai cost: --arch: expected x86_64 or arm64, got \"%s\"\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--sfn")) {
            if (!strcmp(v, "standard")) sfn = CAI_SFN_STANDARD;
            else if (!strcmp(v, "express")) sfn = CAI_SFN_EXPRESS;
            else {
                fprintf(stderr, "cai cost: --sfn: expected standard or express, got \"%s\"\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "cai cost: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) return 2;
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
