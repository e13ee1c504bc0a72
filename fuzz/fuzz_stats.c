/* fuzz_stats.c — libFuzzer target for the parsers of outside input in the experiment tools: one run's
 * combined_data.json (stats.c), `cai bench --json` output (plan.c), and recorded durations (plot.c).
 * First byte picks the parser; the rest is its input. Every number that comes out is also formatted, so
 * the Python-repr formatter sees whatever the aggregation produces (NaN, inf, huge, tiny). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/plan.h"
#include "pipeline/plot.h"
#include "pipeline/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    cai_err e = {0};
    char b[64];
    switch (data[0] % 3) {
    case 0: {
        cai_run_row r;
        memset(&r, 0, sizeof r);
        if (cai_stats_aggregate_json(text, len, "fuzz.json", &r, &e) == CAI_OK) {
            cai_fmt_round2(r.cpu_time_iqr_mean, b, sizeof b);
            cai_fmt_round2(r.cpu_memory_sum, b, sizeof b);
            cai_fmt_round2(r.throughput_sum, b, sizeof b);
            cai_fmt_round2(r.total_bits, b, sizeof b);
            cai_fmt_round2(r.s3_avg_time, b, sizeof b);
            cai_fmt_mmss(r.duration_s, b, sizeof b);
            for (int i = 0; i < r.ranks; i++) cai_fmt_pyfloat(r.rank_seconds[i], b, sizeof b);
        }
        free(r.rank_seconds);
        break;
    }
    case 1: {
        cai_plan_req r;
        cai_plan_req_default(&r);
        if (cai_plan_load_bench(text, len, "fuzz.json", &r, &e) == CAI_OK) {
            r.galaxies = 10000;
            r.deadline_s = 100;
            cai_plan_choice c;
            cai_plan_choose(&r, &c, NULL, 0, &e);
        }
        break;
    }
    default: {
        char s[64];
        size_t n = len < sizeof s - 1 ? len : sizeof s - 1;
        memcpy(s, text, n);
        s[n] = 0;
        cai_fmt_pyfloat(cai_plot_parse_duration(s), b, sizeof b);
        break;
    }
    }
    return 0;
}
