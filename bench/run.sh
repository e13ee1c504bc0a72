#!/usr/bin/env bash
# bench/run.sh — the engine benchmark: `cai bench` (galaxies/s for threads x batch, load time, peak RSS,
# GEMM peak -> fp32 limit; then int8) and the PyTorch reference timed on the same weights and galaxies
# (bench/torch_ref.py). Results go to stdout and, as JSON, to $OUT (default bench/results/engine-latest.json).
#   CAI=build/cai THREADS=1,2 BATCH=32,128,512 SECONDS_PER_CELL=5 bench/run.sh
# Take numbers when the machine is quiet: the load average is printed first; with other work running,
# a 2-core machine gives meaningless figures.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CAI=$(realpath "${CAI:-$root/build/cai}")
THREADS=${THREADS:-1,2}
BATCH=${BATCH:-32,128,512}
SECS=${SECONDS_PER_CELL:-5}
VARIANT=${VARIANT:-vitae}
OUT=${OUT:-$root/bench/results/engine-latest.json}
PY=${TORCH_PY:-/usr/bin/python3}
[ -x "$CAI" ] || { echo "bench/run.sh: no cai binary at $CAI (make first)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/cai-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cpus; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); cai: $CAI; variant $VARIANT (random weights, seed 1)"
"$CAI" bench --make-weights "$work/w.safetensors" --variant "$VARIANT" --seed 1 2>/dev/null || exit 1

echo; echo "== cai fp32"
"$CAI" bench --weights "$work/w.safetensors" --threads "$THREADS" --batch "$BATCH" --seconds "$SECS" --json \
  >"$work/fp32.json" || exit 1
python3 - "$work/fp32.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print("load %.1f ms (first %.1f ms), peak RSS %.0f MB, %.1f M MAC/galaxy" % (j["load_ms"], j["load_first_ms"], j["peak_rss_mb"], j["macs_per_galaxy"] / 1e6))
print("threads batch  galaxies/s  GEMM peak GFLOP/s  fp32 limit/s  % of limit  RSS MB")
for r in j["results"]:
    lim = r["fp32_limit_galaxies_per_s"]
    print("%7d %5d  %10.1f  %17.1f  %12.0f  %9.0f%%  %6.0f" % (r["threads"], r["batch"], r["galaxies_per_s"], r["gemm_peak_gflops"], lim, 100 * r["galaxies_per_s"] / lim if lim else 0, r["peak_rss_mb"]))
PY

echo; echo "== cai int8 (transformer Linear layers; per-channel 7-bit weights, per-row dynamic activations)"
"$CAI" bench --weights "$work/w.safetensors" --threads "$THREADS" --batch "$BATCH" --seconds "$SECS" \
  --precision int8 || exit 1

echo; echo "== PyTorch reference (tools/reference/astromae.py), same weights and galaxies"
if [ -f "$root/bench/torch_ref.py" ] && "$PY" -c 'import torch' 2>/dev/null; then
  "$PY" "$root/bench/torch_ref.py" --cai "$CAI" --variant "$VARIANT" --threads "$THREADS" --batch "$BATCH" \
    --seconds "$SECS" | tee "$work/torch.jsonl"
else
  echo "(skipped: bench/torch_ref.py or torch missing)"; : >"$work/torch.jsonl"
fi
mkdir -p "$(dirname "$OUT")"
{ echo "{\"cai_fp32\":"; cat "$work/fp32.json"; echo ",\"pytorch\":["; grep '^{' "$work/torch.jsonl" | paste -sd,; echo "]}"; } >"$OUT"
echo; echo "wrote $OUT"
