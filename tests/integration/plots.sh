#!/usr/bin/env bash
# cai plot: every plot renders to a valid, non-trivial PNG from the seed's tables and from cai stats'
# own output; a missing gnuplot gives a clear message.
set -uo pipefail
: "${CAI:?}" "${FIXTURES:?}"
command -v gnuplot >/dev/null || { echo "gnuplot not installed (apt-get install gnuplot-nox)"; exit 77; }
FIX="$FIXTURES/seed-results"
[ -d "$FIX" ] || { echo "seed fixtures missing at $FIX (they ship in tests/fixtures)"; exit 1; }
T=${TMPDIR:-/tmp}/plots.$$
mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
check_png() { # file min_bytes
  [ -f "$1" ] || fail "$1 missing"
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$1 is not a PNG"
  local sz; sz=$(stat -c %s "$1")
  [ "$sz" -ge "$2" ] || fail "$1 only $sz bytes"
  # IHDR width/height: at least 800x600
  local w h
  w=$((16#$(od -An -tx1 -j16 -N4 "$1" | tr -d ' \n'))); h=$((16#$(od -An -tx1 -j20 -N4 "$1" | tr -d ' \n')))
  [ "$w" -ge 800 ] && [ "$h" -ge 600 ] || fail "$1 is ${w}x${h}"
  echo "$(basename "$1"): ${w}x${h}, $sz bytes"
}
# 1. Seed fixtures: the seed's own CSVs (all 4 partitions x 7 sizes) + per-rank spread from the folders.
"$CAI" plot "$FIX" -o "$T/seed" >"$T/log" 2>&1 || { cat "$T/log"; fail "cai plot on the fixtures"; }
for p in time_vs_data inloop_vs_data throughput_vs_batch cost_vs_partition rank_spread; do
  check_png "$T/seed/$p.png" 20000
  [ -s "$T/seed/$p.dat" ] && [ -s "$T/seed/$p.gp" ] || fail "$p: .dat/.gp not kept"
done
grep -q 'as typed in total' "$T/seed/time_vs_data.gp" || fail "seed times must be labelled as typed by hand"
grep -q '^100 ' "$T/seed/cost_vs_partition.dat" || fail "cost data"
# The scripts rerun on their own from another directory (users restyle them).
(cd / && gnuplot "$T/seed/throughput_vs_batch.gp") || fail "script does not rerun"
# 2. From cai stats' output (no hand-typed times: time_vs_data is skipped, the rest render).
"$CAI" stats "$FIX" -o "$T/tables" >/dev/null 2>&1 || fail "cai stats"
"$CAI" plot "$T/tables" -o "$T/own" >"$T/log2" 2>&1 || { cat "$T/log2"; fail "cai plot on stats output"; }
grep -q "skipped time_vs_data: total_execution_time.csv records no durations" "$T/log2" || { cat "$T/log2"; fail "skip note"; }
for p in inloop_vs_data throughput_vs_batch cost_vs_partition rank_spread; do check_png "$T/own/$p.png" 15000; done
# 3. Errors: nothing to plot; gnuplot missing.
mkdir -p "$T/nothing"
"$CAI" plot "$T/nothing" -o "$T/x" 2>"$T/err" && fail "empty input must fail"
grep -q "no tables" "$T/err" || fail "empty input message"
CAI_GNUPLOT=/nonexistent/gnuplot "$CAI" plot "$T/tables" -o "$T/y" 2>"$T/err2" && fail "missing gnuplot must fail"
grep -q "gnuplot-nox" "$T/err2" || { cat "$T/err2"; fail "missing gnuplot message"; }
echo ok
