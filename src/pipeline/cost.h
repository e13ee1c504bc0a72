/* cost.h — an all-in AWS bill for a run: Lambda compute (billed duration × configured memory), requests,
 * ephemeral storage, Step Functions transitions (Standard) or requests + duration (Express), S3 requests.
 * Owns: the price list, the bill arithmetic, reading cost inputs from run records, the seed's README table.
 * Must not touch: AWS itself (no API calls: this is arithmetic on records and parameters). */
#ifndef CAI_COST_H
#define CAI_COST_H

#include <stdio.h>

#include "../common/err.h"

typedef enum { CAI_ARCH_X86_64 = 0, CAI_ARCH_ARM64 = 1 } cai_arch;
typedef enum { CAI_SFN_STANDARD = 0, CAI_SFN_EXPRESS = 1 } cai_sfn_kind;

/* US-East-1 list prices, late 2026 (contracts.md "Cost"). */
typedef struct {
    double lambda_gb_s_x86_64; /* $ per GB-second */
    double lambda_gb_s_arm64;
    double lambda_per_request; /* $ per request */
    double ephemeral_gb_s;     /* $ per GB-second of /tmp above 512 MB */
    double sfn_per_transition; /* Standard */
    double sfn_express_per_request;
    double sfn_express_gb_s; /* Express duration, memory billed in 64 MB chunks */
    double s3_get;           /* $ per GET request */
    double s3_put;           /* $ per PUT/COPY/POST/LIST request */
} cai_prices;
extern const cai_prices cai_prices_2026;

/* The seed's per-GB-second figure in its README (0.00001667). */
#define CAI_SEED_GB_S 0.00001667
/* Galaxies in the whole set (contracts.md). */
#define CAI_SEED_GALAXIES 659817

typedef struct {
    /* Worker Lambdas: one invocation per rank (plus retries). */
    long invocations;
    double billed_seconds; /* Σ billed duration over worker invocations (init + invoke, each rounded up to 1 ms) */
    int memory_mb;         /* configured memory, 128..10240 */
    int ephemeral_mb;      /* configured /tmp, 512..10240 */
    cai_arch arch;
    /* Initialize + Summarize Lambdas. */
    long aux_invocations;
    double aux_billed_seconds;
    int aux_memory_mb;
    /* Step Functions. The parent of a Distributed Map is a Standard workflow; its children are either. */
    cai_sfn_kind children;
    long parent_transitions;  /* the parent's own states: Initialize, Map, Summarize, ... */
    int transitions_per_item; /* per Standard child: its start + its Task state */
    long retries;             /* retried tasks: each costs a transition (Standard) and an invocation */
    int express_memory_mb;    /* billed memory of an Express child (64 MB minimum) */
    /* S3 requests. */
    long s3_get, s3_put, s3_list;
    double galaxies; /* for $ per million galaxies; 0: unknown */
} cai_cost_inputs;

typedef struct {
    double gb_seconds; /* worker + aux Lambda GB-s */
    double lambda_compute, lambda_requests, ephemeral, sfn, s3_get, s3_put_list, total;
    long requests, transitions;
    double per_million_galaxies; /* NaN when galaxies unknown */
} cai_cost_bill;

/* Defaults: x86_64, 10,240 MB (the seed's configuration), 512 MB /tmp, Standard children with 2
 * transitions each, 4 parent transitions, 2 aux invocations of 1 s at 512 MB, no retries. */
void cai_cost_inputs_default(cai_cost_inputs *in);

/* Validate (AWS limits, non-negative counts) and compute. */
int cai_cost_compute(const cai_cost_inputs *in, const cai_prices *p, cai_cost_bill *bill, cai_err *err);

/* Lambda bills each invocation's duration rounded up to the next millisecond. */
double cai_cost_billed_seconds(double seconds);

/* S3 requests CAI makes for a run of `partitions` files over `ranks` ranks, when the records carry no
 * counts: per rank one GET per partition file + PUT of its record and predictions; Initialize lists the
 * prefix and writes payload, per-run payload and jobs; Summarize lists, reads every rank's record and
 * predictions, writes combined_data.json, summary.json and two catalogs. */
void cai_cost_estimate_s3(long partitions, long ranks, long *get, long *put, long *list);

/* Fill in from a run folder: combined_data.json (per-rank wall seconds, or for seed records
 * total_cpu_time + overhead_s; galaxies; s3_num_requests) and summary.json when present.
 * startup_s is added to each rank's wall seconds (the cold start the record does not see).
 * `note` (may be NULL) gets lines saying what was measured and what was assumed. */
int cai_cost_from_run(const char *run_dir, double startup_s, double overhead_s, cai_cost_inputs *in, FILE *note,
                      cai_err *err);

/* Print a bill as a readable table. */
void cai_cost_print(FILE *f, const cai_cost_inputs *in, const cai_prices *p, const cai_cost_bill *b);

/* The seed README's table, reproduced (requests × in-loop s × memory used × 0.00001667), and beside it
 * the bill AWS would have sent. Returns the 4 rows' numbers for tests/plots when out != NULL. */
typedef struct {
    int partition_mb;
    long requests;
    double inloop_s, memory_used_gb; /* the seed's columns */
    double seed_cost;                /* the seed's formula */
    double billed_s;                 /* per invocation: measured (75 MB) or in-loop + overhead */
    int billed_measured;             /* 1: measured by the seed (CloudWatch), 0: estimated */
    cai_cost_bill bill;              /* all-in, configured 10,240 MB */
} cai_seed_cost_row;
void cai_cost_seed_table(FILE *f, cai_seed_cost_row out[4]);

#endif
