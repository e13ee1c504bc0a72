#!/usr/bin/env bash
# pipeline_e2e.sh — end-to-end galaxies/s of `cai run` (initialize + workers + summarize, I/O included)
# against `cai predict`'s pure inference rate on the same partitions. Target: ratio >= 0.9.
#   CAI=build/cai GALAXIES=5112 PER_FILE=1278 bench/pipeline_e2e.sh
set -euo pipefail
CAI=$(realpath "${CAI:-build/cai}")
N=${GALAXIES:-5112}
PER=${PER_FILE:-1278}
BATCH=${BATCH:-512}
NCPU=$(nproc)
D=$(mktemp -d "${TMPDIR:-/tmp}/cai-e2e.XXXXXX")
trap 'rm -rf "$D"' EXIT
cd "$D"
"$CAI" convert --init vitae --seed 42 w.safetensors >/dev/null
"$CAI" synth --galaxies "$N" --seed 3 --galaxies-per-file "$PER" -o store/cosmicai-data/25MB >/dev/null
NF=$(ls store/cosmicai-data/25MB | grep -c safetensors)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $N galaxies in $NF partitions of $PER; batch $BATCH; untrained vitae weights"

# 1. cai predict, file by file, all cores: the pure inference rate it reports (model load excluded).
tot_g=0; tot_s=0
for f in store/cosmicai-data/25MB/*.safetensors; do
  line=$("$CAI" predict --weights w.safetensors --batch-size "$BATCH" --threads "$NCPU" "$f" -o /dev/null 2>&1 | grep "galaxies in")
  g=$(echo "$line" | sed -E 's/.*: ([0-9]+) galaxies in ([0-9.]+) s.*/\1/')
  s=$(echo "$line" | sed -E 's/.*: ([0-9]+) galaxies in ([0-9.]+) s.*/\2/')
  tot_g=$((tot_g + g)); tot_s=$(python3 -c "print($tot_s + $s)")
done
pred=$(python3 -c "print(round($tot_g / $tot_s, 1))")
echo "cai predict (inference only, $NCPU threads): $tot_g galaxies in $tot_s s -> $pred galaxies/s"

# 2. cai run, seed's demo payload shape, default pool and 1 x NCPU.
run_once() { # label, extra args...
  local label=$1; shift
  rm -rf store/cosmicai-data/r
  cat > payload.json <<JSON
{"bucket": "cosmicai-data", "file_limit": "$NF", "batch_size": $BATCH, "result_path": "r/e2e/1",
 "data_bucket": "cosmicai-data", "data_prefix": "25MB"}
JSON
  local t0 t1
  t0=$(date +%s.%N)
  "$CAI" run payload.json --store store --weights w.safetensors --no-progress -q "$@" >run.txt 2>&1
  t1=$(date +%s.%N)
  local map
  map=$(grep "map stage" run.txt | sed -E 's/.*-> ([0-9.]+) galaxies\/s.*/\1/')
  local whole
  whole=$(python3 -c "print(round($N / ($t1 - $t0), 1))")
  echo "cai run $label: map stage $map galaxies/s, whole command $whole galaxies/s; ratio (whole/predict) $(python3 -c "print(round($whole / $pred, 3))")"
  python3 -c "
import json; s=json.load(open('store/cosmicai-data/r/e2e/1/summary.json'))
c=json.load(open('store/cosmicai-data/r/e2e/1/combined_data.json'))
fw=sum(r['stage_seconds']['fetch_wait'] for r in c); inf=sum(r['stage_seconds']['infer'] for r in c)
print('   ranks %d, galaxies %d, complete %s; fetch_wait %.3f s vs infer %.1f s (worker-seconds)' % (s['ranks'], s['galaxies'], s['complete'], fw, inf))"
}
run_once "(default: $NCPU workers x 1 thread)"
run_once "(1 worker x $NCPU threads)" --workers 1 --threads "$NCPU"
