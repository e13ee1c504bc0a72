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
"$CAI" bench --weights "$work/w.safetensors" --threads "$THREADS" --batch "$BATCH" --seconds "$SECS" || exit 1
"$CAI" bench --weights "$work/w.safetensors" --threads "$THREADS" --batch "$BATCH" --seconds "$SECS" --json \
  >"$work/fp32.json" || exit 1

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
{ echo "{\"cai_fp32\":"; cat "$work/fp32.json"; echo ",\"pytorch\":["; paste -sd, "$work/torch.jsonl"; echo "]}"; } >"$OUT"
echo; echo "wrote $OUT"
