/* plot.h — PNG plots of the experiment tables, drawn by gnuplot: run time vs data size per partition
 * size, throughput vs batch size, cost vs partition size, per-rank duration spread (stragglers).
 * Owns: reading the tables (cai stats' CSVs or the seed's own), writing .dat + .gp files, running gnuplot.
 * Must not touch: the aggregation rules (stats.c) or prices (cost.c); it only draws what they produce. */
#ifndef CAI_PLOT_H
#define CAI_PLOT_H

#include <stdio.h>

#include "../common/err.h"

/* Draw every plot whose input exists. `tables` holds result_stats.csv, batch_varying_results.csv,
 * total_execution_time.csv, rank_durations.csv (any may be missing: that plot is skipped with a note).
 * `ranks_dir`, when not NULL, is a second place to look for rank_durations.csv (cai stats' output
 * when `tables` holds the seed's CSVs). Writes <name>.dat, <name>.gp and <name>.png into outdir.
 * `info` gets one line per plot. Fails if gnuplot is missing or fails, or if no plot could be drawn. */
int cai_plot_all(const char *tables, const char *ranks_dir, const char *outdir, FILE *info, cai_err *err);

/* Run gnuplot on a script (fork/exec, no shell). CAI_ENOTFOUND with an install hint when absent. */
int cai_plot_run_gnuplot(const char *script, cai_err *err);

/* "mm:ss.fff" or "hh:mm:ss.fff" or plain seconds → seconds; NaN when empty or malformed. */
double cai_plot_parse_duration(const char *s);

#endif
