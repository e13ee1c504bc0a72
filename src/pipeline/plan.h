/* plan.h — choose a partition size, a Lambda memory and a concurrency for N galaxies under a deadline
 * or a budget, from measured throughput, start-up time and S3 bandwidth; or refuse, saying why.
 * Owns: the run-time model of one invocation and of the map, the search, the explanation text.
 * Must not touch: AWS, the store, the model (its inputs are numbers: from `cai bench --json`, a run
 * record, or the documented defaults). */
#ifndef CAI_PLAN_H
#define CAI_PLAN_H

#include <stddef.h>

#include "../common/err.h"
#include "../data/split.h" /* CAI_BYTES_PER_GALAXY */
#include "cost.h"

/* Defaults, each documented in docs/stats.md. */
#define CAI_PLAN_DEFAULT_RATE                                                                                          \
    39.4 /* galaxies/s per vCPU: the seed's PyTorch on Lambda (25 MB: 1278 galaxies in 5.6 s at 5.79 vCPU) */
#define CAI_PLAN_DEFAULT_STARTUP_S 1.0 /* cold start of the CAI custom runtime incl. weights (assumption) */
#define CAI_PLAN_DEFAULT_S3_MBPS 80.0  /* one Lambda's GET bandwidth from S3, MB/s (assumption) */
#define CAI_PLAN_ORCHESTRATION_S 3.0   /* Initialize + Summarize + state-machine start (assumption) */
#define CAI_LAMBDA_MB_PER_VCPU 1769.0
#define CAI_LAMBDA_TIMEOUT_S 900.0
#define CAI_MAP_MAX_CONCURRENCY 10000
#define CAI_DEFAULT_ACCOUNT_CONCURRENCY 1000
#define CAI_GALAXIES_PER_MB 51.13 /* the seed's partitions: 1,278 per 25 MB */

typedef struct {
    double galaxies;
    double deadline_s;    /* 0: none */
    double budget_usd;    /* 0: none */
    double rate_per_vcpu; /* galaxies/s per vCPU; used when there is no curve */
    int n_curve;          /* measured throughput vs threads (cai bench), best batch per thread count */
    double curve_threads[64], curve_gps[64];
    double startup_s;
    double s3_mbps;
    long max_concurrency;     /* MaxConcurrency cap we may use (default: the account's) */
    long account_concurrency; /* Lambda concurrency quota (default 1,000) */
    cai_arch arch;
    double partition_mb; /* 0: choose */
    int memory_mb;       /* 0: choose */
} cai_plan_req;

typedef struct {
    double partition_mb;
    long galaxies_per_rank, ranks, concurrency, waves;
    int memory_mb;
    double vcpus, gps; /* galaxies/s of one invocation */
    double t_startup, t_download, t_infer, t_invocation, makespan_s;
    cai_cost_bill bill;
} cai_plan_choice;

void cai_plan_req_default(cai_plan_req *r);

/* Galaxies per second of one invocation with v vCPUs (curve when measured, else rate × v). */
double cai_plan_throughput(const cai_plan_req *r, double vcpus);

/* Evaluate one configuration (no feasibility judgement beyond arithmetic). */
void cai_plan_eval(const cai_plan_req *r, double partition_mb, int memory_mb, long concurrency, cai_plan_choice *c);

/* Choose. On success fills *c and writes a few lines of explanation into why (may be NULL). An
 * impossible request returns CAI_EARG with the reason in err (deadline below the cold-start floor or
 * the fastest plan, budget below the cheapest plan, concurrency above the limits, ...). */
int cai_plan_choose(const cai_plan_req *r, cai_plan_choice *c, char *why, size_t why_len, cai_err *err);

/* Measured inputs. bench: `cai bench --json` output, JSON lines or an array of
 * {"threads":T,"batch":B,"galaxies_per_s":X}. run: a run folder's combined_data.json. */
int cai_plan_load_bench(const char *text, size_t len, const char *name, cai_plan_req *r, cai_err *err);
int cai_plan_load_run(const char *run_dir, cai_plan_req *r, char *note, size_t note_len, cai_err *err);

#endif
