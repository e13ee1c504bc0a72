/* stats.h — the seed's experiment tables (result_stats.csv, batch_varying_results.csv,
 * total_execution_time.csv) from result folders laid out like the seed's, for seed and CAI runs alike.
 * Owns: folder-name rules, the per-run aggregation (IQR mean, sums, s3_* rules), CSV formatting.
 * Must not touch: stores, the network, the model. It reads local folders and writes CSV files. */
#ifndef CAI_STATS_H
#define CAI_STATS_H

#include <cJSON.h>
#include <stddef.h>
#include <stdio.h>

#include "../common/err.h"

/* One run folder's combined_data.json, aggregated the way the seed's stats.py does. */
typedef struct {
    /* Where the run sits in the experiment (from folder names). */
    double partition_mb; /* result-partition-<P>MB */
    double data_gb;      /* <D>GB, total (12.6), totalNNNGB (NNN) */
    int batch;           /* 0: a data-size run; >0: a batch-sweep run under Batches/<batch>/ */
    long run_num;        /* run number from "N", "run N", "run_N", "runN" */
    char run[32];        /* the run column as printed: the number */
    char path[1024];     /* run folder */

    /* The seed's row. NaN (not 0) where the records carry no value. */
    int ranks;                /* records used (ranks with data) */
    int empty_ranks;          /* records of ranks that had no data (data_path null / status "empty"), not used */
    int failed_ranks;         /* CAI records with status "failed": left out of the row */
    int partial_ranks;        /* CAI records with status "partial": kept, with a warning */
    int batch_size;           /* common batch_size of the records; 0 when no record says */
    double cpu_time_iqr_mean; /* total_cpu_time (seconds): mean after the 1.5·IQR filter */
    double cpu_memory_sum;    /* total_cpu_memory (MB): sum */
    double throughput_sum;    /* throughput_bps: sum */
    double total_bits;        /* Σ throughput_bps × total_cpu_time (seed records), Σ input_bits (CAI records) */
    double s3_total_time;     /* sum over records that have it; 0 when none do (as the seed) */
    double s3_avg_time, s3_min_time, s3_max_time; /* mean over records that have it; NaN when none */

    /* CAI additions, NaN when the records do not carry them (the seed's never do). */
    double galaxies;             /* Σ galaxies */
    int world_size;              /* summary.json world_size, else records + empty ranks */
    double duration_s;           /* run duration from recorded timestamps */
    const char *duration_source; /* "summary.json (...)", "rank start/end (map stage)", or NULL: not recorded */

    /* Per-rank durations for the straggler plot. */
    double *rank_seconds;
    int rank_seconds_are_wall; /* 1: wall seconds recorded by CAI; 0: the seed's total_cpu_time */
} cai_run_row;

typedef struct {
    cai_run_row *rows;
    size_t n, cap;
    int warnings; /* how many warnings the scan printed (bad folders/runs skipped) */
} cai_stats_set;

/* Aggregate one combined_data.json (text, len) into row's numbers. `name` is used in messages.
 * Fails (CAI_EFORMAT/CAI_EKEY/CAI_EINCOMPLETE) on malformed JSON, a record missing a field, mixed batch
 * sizes, or no usable records; err names the file, record index and field. row's folder fields are
 * left as they are. */
int cai_stats_aggregate_json(const char *text, size_t len, const char *name, cai_run_row *row, cai_err *err);
/* The same over records already read (cai_combined_parse / cai_combined_load). */
int cai_stats_aggregate(const cJSON *records, const char *name, cai_run_row *row, cai_err *err);

/* Fill duration_s/duration_source/world_size from <run_dir>/summary.json when it records times. */
void cai_stats_read_summary(const char *run_dir, cai_run_row *row);

/* Walk RESULTS_ROOT (a folder holding result-partition-<P>MB/ folders, or one such folder) and add one
 * row per usable run. A bad run folder (missing/malformed combined_data.json, mixed batch sizes, empty,
 * unknown name) prints one warning line to `warn` (may be NULL) naming the path, and is skipped; the
 * others are unaffected. Fails only when the root itself cannot be read. Rows come out sorted. */
int cai_stats_scan(const char *root, cai_stats_set *set, FILE *warn, cai_err *err);

/* Write result_stats.csv, batch_varying_results.csv (+ one per sweep when there are several),
 * total_execution_time.csv and rank_durations.csv into outdir. `info` (may be NULL) gets one line per
 * file written. */
int cai_stats_write(const cai_stats_set *set, const char *outdir, FILE *info, cai_err *err);

void cai_stats_free(cai_stats_set *set);

/* numpy.percentile(v, p) with the default linear method; v sorted ascending, n >= 1, p in [0,100]. */
double cai_percentile_linear(const double *sorted, size_t n, double p);
/* Mean of v after dropping values outside [Q1 − 1.5·IQR, Q3 + 1.5·IQR]. NaN for n == 0. */
double cai_iqr_mean(const double *v, size_t n);
/* Python's repr(round(x, 2)) as pandas writes it to CSV: "5.6", "8601655680.0"; NaN → "". */
void cai_fmt_round2(double x, char *buf, size_t n);
/* Python's repr(float(x)) without rounding ("12.6", "41.0"); NaN → "". */
void cai_fmt_pyfloat(double x, char *buf, size_t n);
/* "mm:ss.fff" (minutes may exceed 59), as the seed's total_execution_time.csv. */
void cai_fmt_mmss(double seconds, char *buf, size_t n);

/* Folder-name rules (exposed for tests). Return 0 and set *out on a match, -1 otherwise. */
int cai_stats_parse_partition_dir(const char *name, double *mb);
int cai_stats_parse_data_dir(const char *name, double *gb);
int cai_stats_parse_run_dir(const char *name, long *num);

#endif
