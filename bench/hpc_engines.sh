#!/usr/bin/env bash
# hpc_engines.sh — the HPC engines' overhead against the local engine on the same data (>= 20 partitions):
# wall time of `cai run` (P worker processes), `cai slurm submit` to its Summarize job done (a private one-node
# SLURM cluster from tests/lib/slurm.sh, P array tasks at a time), and `mpirun -n P cai mpi`; galaxies/s,
# the ratio to the local engine (target >= 0.9) and the overhead per rank in ms ((wall - local wall) / ranks).
# `cai slurm -K` is the same submit with --ranks-per-task K (default ranks / P: one task per core, the model
# loaded once per task). The engines run interleaved, REPEAT times; the best wall time of each is reported.
#   CAI=build/cai PARTITIONS=20 PER_FILE=100 REPEAT=2 bench/hpc_engines.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CAI=$(realpath "${CAI:-$root/build/cai}")
NP=${PARTITIONS:-20}
PER=${PER_FILE:-100}
REP=${REPEAT:-2}
P=${P:-$(nproc)}
K=${K:-$(( (NP + P - 1) / P ))}
source "$root/tests/lib/slurm.sh"
slurm_have || exit 1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
D=$(mktemp -d "${TMPDIR:-/tmp}/cai-hpcbench.XXXXXX")
trap 'slurm_stop; rm -rf --one-file-system "$D"' EXIT
cd "$D"
"$CAI" convert --init vitae --seed 42 w.safetensors >/dev/null 2>&1
"$CAI" synth --galaxies $((NP * PER)) --seed 3 --galaxies-per-file "$PER" -o store/cosmicai-data/25MB >/dev/null 2>&1
payload() { # result_path
  cat > payload.json <<JSON
{"bucket": "cosmicai-data", "file_limit": "$NP", "batch_size": 128, "world_size": $NP,
 "result_path": "$1", "data_bucket": "cosmicai-data", "data_prefix": "25MB"}
JSON
}
echo "machine: $(nproc) cpus, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $((NP * PER)) galaxies in $NP partitions of $PER (one rank each); batch 128; $P at a time, 1 thread each"
slurm_start "$D/cluster" "$P" >/dev/null
now() { date +%s.%N; }
declare -A T
for rep in $(seq 1 "$REP"); do
  payload "r/local/$rep"
  t0=$(now); "$CAI" run payload.json --store store --weights w.safetensors --workers "$P" --threads 1 -q --no-progress >/dev/null 2>&1
  T[local]="${T[local]:-} $(python3 -c "print($(now)-$t0)")"
  payload "r/slurm/$rep"
  t0=$(now)
  sj=$("$CAI" slurm submit payload.json --store store --weights w.safetensors --cpus-per-task 1 2>&1 |
       sed -n 's/^cai slurm: summarize job \([0-9]*\) .*/\1/p')
  slurm_wait_job "$sj" 600 >/dev/null
  T[slurm]="${T[slurm]:-} $(python3 -c "print($(now)-$t0)")"
  payload "r/slurmk/$rep"
  t0=$(now)
  sj=$("$CAI" slurm submit payload.json --store store --weights w.safetensors --cpus-per-task 1 \
       --ranks-per-task "$K" 2>&1 | sed -n 's/^cai slurm: summarize job \([0-9]*\) .*/\1/p')
  slurm_wait_job "$sj" 600 >/dev/null
  T[slurmk]="${T[slurmk]:-} $(python3 -c "print($(now)-$t0)")"
  payload "r/mpi/$rep"
  t0=$(now); mpirun --oversubscribe -n "$P" "$CAI" mpi payload.json --store store --weights w.safetensors --threads 1 --quiet >/dev/null 2>&1
  T[mpi]="${T[mpi]:-} $(python3 -c "print($(now)-$t0)")"
  for e in local slurm slurmk mpi; do
    [ "$(python3 -c "import json;print(json.load(open('store/cosmicai-data/r/$e/$rep/summary.json'))['complete'])")" = True ] \
      || { echo "run $e/$rep incomplete"; exit 1; }
  done
  cmp -s store/cosmicai-data/r/local/$rep/predictions.csv store/cosmicai-data/r/slurm/$rep/predictions.csv || { echo "slurm predictions differ"; exit 1; }
  for e in slurm slurmk mpi; do
    cmp -s store/cosmicai-data/r/local/$rep/predictions.csv store/cosmicai-data/r/$e/$rep/predictions.csv \
      || { echo "$e predictions differ from cai run's"; exit 1; }
  done
done
python3 - "$((NP * PER))" "$NP" "$K" "${T[local]}" "${T[slurm]}" "${T[slurmk]}" "${T[mpi]}" <<'PY'
import sys
g, n, k = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
runs = {e: [float(x) for x in v.split()] for e, v in zip(["local", "slurm", "slurmk", "mpi"], sys.argv[4:8])}
best = {k: min(v) for k, v in runs.items()}
print("| engine | wall s, best (all) | galaxies/s | ratio to local | overhead per rank, ms |")
print("|---|---|---|---|---|")
for e, label in [("local", "`cai run`"), ("slurm", "`cai slurm submit`"), ("slurmk", "`cai slurm submit --ranks-per-task %s`" % k),
                 ("mpi", "`mpirun cai mpi`")]:
    w = best[e]
    print("| %s | %.2f (%s) | %.1f | %.2f | %.0f |" % (label, w, " ".join("%.2f" % x for x in runs[e]), g / w,
          best["local"] / w, (w - best["local"]) / n * 1000))
PY
