#!/usr/bin/env bash
# cai stats on the seed's real result folders: every row whose inputs are in the fixtures must equal the
# seed's own CSV row, byte for byte; bad run folders are reported and skipped without spoiling the rest;
# CAI-format run folders get durations from their recorded times.
set -uo pipefail
: "${CAI:?}" "${FIXTURES:?}"
FIX="$FIXTURES/seed-results"
[ -d "$FIX" ] || { echo "seed fixtures missing at $FIX (they ship in tests/fixtures)"; exit 1; }
T=${TMPDIR:-/tmp}/stats_fixtures.$$
mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }

# 1. The fixtures as they are.
"$CAI" stats "$FIX" -o "$T/out" >"$T/log" 2>"$T/err" || { cat "$T/log" "$T/err"; fail "cai stats exited $?"; }
[ -s "$T/err" ] && { cat "$T/err"; fail "warnings on clean fixtures"; }
cmp -s "$T/out/batch_varying_results.csv" "$FIX/batch_varying_results.csv" ||
  { diff "$T/out/batch_varying_results.csv" "$FIX/batch_varying_results.csv"; fail "batch_varying_results.csv differs"; }
echo "batch_varying_results.csv: identical to the seed's (25 MB / 1 GB sweep, 5 batch sizes x 3 runs + means)"
head -1 "$T/out/result_stats.csv" | cmp -s - <(head -1 "$FIX/result_stats.csv") || fail "result_stats.csv header differs"
# Run rows: each must be in the seed's table verbatim. Mean rows: only where all three runs are here.
n=0
while IFS= read -r line; do
  case "$line" in partition*) continue ;; esac
  IFS=, read -r p d run _ <<<"$line"
  if [ "$run" = mean ]; then
    runs=$(grep -c "^$p,$d,[0-9]" "$T/out/result_stats.csv")
    [ "$runs" -lt 3 ] && { echo "not comparable: $p MB / $d GB mean (only $runs of the seed's 3 runs in the fixtures)"; continue; }
  fi
  grep -qxF "$line" "$FIX/result_stats.csv" || fail "row not in the seed's result_stats.csv: $line"
  n=$((n+1))
done <"$T/out/result_stats.csv"
[ "$n" -eq 6 ] || fail "expected 6 reproduced rows (25/1.0 runs 1-3 + mean, 50/2.0/1, 100/1.0/1), got $n"
grep -qxF "25,1.0,1,5.6,732451.57,1506039734.24,8601655680.0,0.0,,," "$T/out/result_stats.csv" || fail "contract example row"
seed_rows=$(grep -vc '^partition\|,mean,' "$FIX/result_stats.csv")
echo "result_stats.csv: $n rows reproduced exactly; $((seed_rows-5)) of the seed's $seed_rows run rows have no combined_data.json in the fixtures"
# Durations: the seed recorded none, so none are invented.
grep -q '^25,1.0,1,41.0,,,not recorded' "$T/out/total_execution_time.csv" || fail "seed run must have no duration"
grep -q '^25,1.0,3,40.0,' "$T/out/total_execution_time.csv" || fail "25/1GB/3 has 40 rank records"
[ "$(wc -l <"$T/out/rank_durations.csv")" -gt 400 ] || fail "rank_durations.csv too short"

# 2. Bad run folders next to good ones.
cp -r "$FIX" "$T/bad"
printf '[{"total_cpu_time (seconds)": 1.0,' >"$T/bad/result-partition-50MB/2GB/1/combined_data.json"
mkdir -p "$T/bad/result-partition-25MB/1GB/4" "$T/bad/result-partition-25MB/2GB/1" "$T/bad/result-partition-25MB/nonsense/1" \
         "$T/bad/result-partition-25MB/1GB/demo"
echo '[]' >"$T/bad/result-partition-25MB/2GB/1/combined_data.json"
cp "$FIX/result-partition-25MB/1GB/1/combined_data.json" "$T/bad/result-partition-25MB/nonsense/1/"
cp "$FIX/result-partition-25MB/1GB/1/combined_data.json" "$T/bad/result-partition-25MB/1GB/demo/"
sed 's/"batch_size": 512/"batch_size": 64/g' "$FIX/result-partition-100MB/1GB/1/combined_data.json" |
  sed '0,/"batch_size": 64/s//"batch_size": 512/' >"$T/bad/result-partition-100MB/1GB/1/combined_data.json"
"$CAI" stats "$T/bad" -o "$T/badout" >"$T/log2" 2>"$T/err2" || { cat "$T/err2"; fail "bad folders must not stop cai stats"; }
for want in "result-partition-50MB/2GB/1/combined_data.json: malformed JSON" \
            "result-partition-25MB/1GB/4/combined_data.json: missing" \
            "result-partition-25MB/2GB/1/combined_data.json: empty run" \
            "unknown data-size folder name \"nonsense\"" \
            "unknown run folder name \"demo\"" \
            "result-partition-100MB/1GB/1/combined_data.json: mixed batch sizes"; do
  grep -qF "$want" "$T/err2" || { cat "$T/err2"; fail "no warning: $want"; }
done
echo "bad input: $(wc -l <"$T/err2") warnings, each naming its path"
for r in 1 2 3 mean; do
  grep "^25,1.0,$r," "$T/out/result_stats.csv" | cmp -s - <(grep "^25,1.0,$r," "$T/badout/result_stats.csv") ||
    fail "good 25/1.0/$r row changed by bad neighbours"
done
grep -q '^50,2.0' "$T/badout/result_stats.csv" && fail "malformed run tabulated"
cmp -s "$T/badout/batch_varying_results.csv" "$FIX/batch_varying_results.csv" || fail "batch table spoiled"
"$CAI" stats "$T/bad" -o "$T/badout" --strict >/dev/null 2>&1 && fail "--strict must fail with warnings"
mkdir -p "$T/empty"
"$CAI" stats "$T/empty" -o "$T/eo" 2>"$T/err3" && fail "empty root must fail"
grep -q "no result-partition" "$T/err3" || fail "empty root message"
"$CAI" stats "$T/nonexistent" -o "$T/eo" 2>/dev/null && fail "missing root must fail"

# 3. CAI-format runs (records with start/end timestamps, summary.json with wall time).
mk() { # dir ranks t0 with_summary
  mkdir -p "$1"; local s="[" i
  for i in $(seq 0 $(($2-1))); do
    [ $i -gt 0 ] && s+=","
    s+="{\"total_cpu_time (seconds)\": $((4+i%3)).5, \"total_cpu_memory (MB)\": 250.0, \"throughput_bps\": 1.0e8,"
    s+=" \"batch_size\": 256, \"device\": \"cpu\", \"data_path\": \"25MB/$((i+1)).pt\", \"galaxies\": 1278,"
    s+=" \"start_unix\": $(($3+i)).25, \"end_unix\": $(($3+i+5)).75, \"wall_seconds\": 5.5}"
  done
  echo "$s]" >"$1/combined_data.json"
  [ "$4" = 1 ] && echo "{\"wall_seconds\": 21.125, \"ranks\": $2}" >"$1/summary.json"
  return 0
}
mk "$T/cai/result-partition-25MB/2GB/1" 6 1764000000 1
mk "$T/cai/result-partition-25MB/2GB/2" 6 1764000100 0
"$CAI" stats "$T/cai" -o "$T/caiout" >/dev/null 2>"$T/err4" || { cat "$T/err4"; fail "cai stats on CAI runs"; }
grep -qxF "25,2.0,1,6.0,00:21.125,21.125,summary.json (first rank start to last rank end)" "$T/caiout/total_execution_time.csv" ||
  { cat "$T/caiout/total_execution_time.csv"; fail "summary.json duration"; }
grep -qxF "25,2.0,2,6.0,00:10.500,10.500,rank start/end (map stage)" "$T/caiout/total_execution_time.csv" ||
  { cat "$T/caiout/total_execution_time.csv"; fail "rank start/end duration"; }
grep -qxF "25,2.0,mean,5.5,1500.0,600000000.0,3300000000.0,0.0,,," "$T/caiout/result_stats.csv" ||
  { cat "$T/caiout/result_stats.csv"; fail "CAI run aggregate"; }
grep -q ',wall$' "$T/caiout/rank_durations.csv" || fail "CAI rank durations are wall seconds"
echo "CAI runs: durations from summary.json and from rank start/end"
echo "ok"
