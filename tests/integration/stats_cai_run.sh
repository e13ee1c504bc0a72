#!/usr/bin/env bash
# Real CAI runs laid out like the seed's experiments (two data sizes x two runs, a batch sweep), then
# cai stats / cost / plan / plot on them: rows for every run, durations from the recorded times.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 120 30            # 4 partitions of 30 galaxies
run() { # result_path file_limit batch
  cat > "$W/payload.json" <<JSON
{"bucket": "cosmicai-data", "file_limit": "$2", "batch_size": $3, "result_path": "$1",
 "data_bucket": "cosmicai-data", "data_prefix": "25MB"}
JSON
  "$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress -q \
    >out.txt 2>err.txt || { cat out.txt err.txt; die "cai run $1 failed"; }
}
for r in 1 2; do
  run result-partition-25MB/1GB/$r 2 16
  run result-partition-25MB/2GB/$r 4 16
done
run result-partition-25MB/1GB/Batches/8/1 2 8
run result-partition-25MB/1GB/Batches/32/1 2 32
R=store/cosmicai-data
"$CAI" stats $R -o out >log.txt 2>warn.txt || { cat log.txt warn.txt; die "cai stats"; }
grep -q 'warning' warn.txt && { cat warn.txt; die "warnings on clean CAI runs"; }
grep -q 'note: .*ignored 1 folder(s) not named result-partition-<P>MB: 25MB' warn.txt || { cat warn.txt; die "data folder note"; }
cat out/result_stats.csv out/batch_varying_results.csv out/total_execution_time.csv
for row in "25,1.0,1," "25,1.0,2," "25,1.0,mean," "25,2.0,1," "25,2.0,2," "25,2.0,mean,"; do
  grep -q "^$row" out/result_stats.csv || die "result_stats.csv lacks $row"
done
# total_bits = the bits the ranks read: 30 galaxies x (5x32x32x4 + 5x8) bytes x 8 per partition.
grep -q "^25,1.0,1,[^,]*,[^,]*,[^,]*,9849600.0," out/result_stats.csv || die "1 GB run: total_bits != 2 x 30 galaxies"
grep -q "^25,2.0,mean,[^,]*,[^,]*,[^,]*,19699200.0," out/result_stats.csv || die "2 GB runs: total_bits"
grep -q "^8,1," out/batch_varying_results.csv && grep -q "^32,mean," out/batch_varying_results.csv || die "batch sweep rows"
n=$(grep -c ',summary.json (first rank start to last rank end)$' out/total_execution_time.csv)
[ "$n" = 4 ] || die "expected 4 recorded durations, got $n"
grep -q ',wall$' out/rank_durations.csv || die "rank durations should be wall seconds"
"$CAI" cost $R/result-partition-25MB/2GB/1 >cost.txt || { cat cost.txt; die "cai cost on a CAI run"; }
cat cost.txt
grep -q 'per-rank wall seconds from the rank records' cost.txt || die "cost: measured wall seconds"
grep -q '120 galaxies' cost.txt || die "cost: galaxies from the records"
"$CAI" plan --galaxies 659817 --deadline 120 --run $R/result-partition-25MB/2GB/1 >plan.txt || { cat plan.txt; die "plan --run"; }
grep -q 'from 4 CAI rank records' plan.txt || { cat plan.txt; die "plan: rate from the run"; }
if command -v gnuplot >/dev/null; then
  "$CAI" plot $R -o plots >plot.txt 2>&1 || { cat plot.txt; die "cai plot"; }
  for p in time_vs_data inloop_vs_data throughput_vs_batch cost_vs_partition rank_spread; do
    [ -s plots/$p.png ] || die "$p.png missing"
  done
  grep -q 'as CAI recorded it' plots/time_vs_data.gp || die "time plot should say the times are recorded"
fi
echo ok
