#!/usr/bin/env bash
# demo.sh — the README demo (run by `make demo` after the build): ~10,000 synthetic galaxies split into the
# seed's 25 MB partitions, run through the seed's pipeline on the local engine with the seed's demo payload
# shape, then a short report. Everything goes to demo-out/ (gitignored).
#
#   make demo DEMO_WEIGHTS=CHECKPOINT.pt  use the real checkpoint, as the seed saved it (converted first), or
#   make demo DEMO_WEIGHTS=W.safetensors  one already converted with `cai convert CHECKPOINT.pt W.safetensors`
#   DEMO_GALAXIES=N                        how many galaxies (default 10000)
#   DEMO_WORKERS=P DEMO_THREADS=T          the pool (default: cores, 1 thread each)
#   CAI=path/to/cai                        the binary (default build/cai)
set -euo pipefail
cd "$(dirname "$0")/.."
CAI=${CAI:-build/cai}
OUT=${DEMO_OUT:-demo-out}
N=${DEMO_GALAXIES:-10000}
[ -x "$CAI" ] || { echo "demo: $CAI not found; run 'make' first (make demo does)" >&2; exit 1; }

echo "== CAI demo: $N synthetic galaxies, 25 MB partitions, the seed's pipeline on this machine =="
rm -rf "$OUT/store/cosmicai-data/25MB" "$OUT/store/cosmicai-data/result-partition-25MB/demo" "$OUT/synth"
mkdir -p "$OUT/store/cosmicai-data"

# 1. Weights: a real checkpoint if given, else untrained weights from a fixed seed (not physical).
if [ -n "${DEMO_WEIGHTS:-}" ]; then
  W=$DEMO_WEIGHTS
  [ -f "$W" ] || { echo "demo: DEMO_WEIGHTS=$W: no such file" >&2; exit 1; }
  if [ "$(head -c 2 "$W")" = "PK" ]; then   # a torch.save ZIP: the seed's checkpoint; convert it first
    "$CAI" convert "$W" "$OUT/weights.safetensors"
    W=$OUT/weights.safetensors
  fi
  echo "-- weights: $W"
else
  W=$OUT/weights-untrained-vitae-seed42.safetensors
  [ -f "$W" ] || "$CAI" convert --init vitae --seed 42 "$W"
  echo "-- weights: $W (UNTRAINED: predictions will not be physical; pass DEMO_WEIGHTS=CHECKPOINT.pt for real ones)"
fi

# 2. Data: synthesize, then split into the seed's 25 MB partitions (1,278 galaxies each) + manifest.
DATA=$OUT/store/cosmicai-data/25MB
if "$CAI" split --help >/dev/null 2>&1; then
  "$CAI" synth --galaxies "$N" --seed 1 -o "$OUT/synth"
  "$CAI" split "$OUT/synth" --partition-mb 25 -o "$DATA"
else # cai split not built: synth writes the same 25 MB partitioning directly
  "$CAI" synth --galaxies "$N" --seed 1 --galaxies-per-file 1278 -o "$DATA"
fi
NFILES=$(ls "$DATA" | grep -cE '^[0-9]+\.(pt|safetensors)$')
echo "-- $NFILES partitions in $DATA"

# 3. The payload, in the seed's demo shape (tests/fixtures/seed-results/demo_input.json).
cat > "$OUT/payload.json" <<JSON
{
  "bucket": "cosmicai-data",
  "file_limit": "$NFILES",
  "batch_size": 512,
  "object_type": "folder",
  "S3_object_name": "Anomaly Detection",
  "script": "/tmp/Anomaly Detection/Inference/inference.py",
  "result_path": "result-partition-25MB/demo/1",
  "data_bucket": "cosmicai-data",
  "data_prefix": "25MB"
}
JSON

# 4. Run: Initialize -> ranks on worker processes -> Summarize, then the report.
args=(run "$OUT/payload.json" --store "$OUT/store" --weights "$W")
[ -n "${DEMO_WORKERS:-}" ] && args+=(--workers "$DEMO_WORKERS")
[ -n "${DEMO_THREADS:-}" ] && args+=(--threads "$DEMO_THREADS")
"$CAI" "${args[@]}"
echo
echo "Files: $OUT/store/cosmicai-data/result-partition-25MB/demo/1/ (combined_data.json, <rank>.json,"
echo "       predictions.fits, predictions.csv, summary.json)"
if [ -z "${DEMO_WEIGHTS:-}" ]; then
  echo "With the real AstroMAE checkpoint (as the seed saved it):  make demo DEMO_WEIGHTS=/path/to/checkpoint.pt"
fi
