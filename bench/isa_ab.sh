#!/usr/bin/env bash
# isa_ab.sh — the own kernels' AVX-512 path against the AVX2 baseline (CAI_ISA=avx2), measured as
# alternating `cai bench` processes (the ISA path is chosen once per process), so a busy machine slows
# both alike; prints each run and the median galaxies/s and % of the fp32 limit per path.
#   bench/isa_ab.sh [ROUNDS=5] [THREADS=1] [BATCH=128] [SECONDS=3] [PRECISION=fp32]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CAI=${CAI:-$root/build/cai}
rounds=${1:-5} threads=${2:-1} batch=${3:-128} secs=${4:-3} prec=${5:-fp32}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
"$CAI" bench --make-weights "$w/w.safetensors" --variant vitae >/dev/null
one() { # isa → "gps pct"
  local env=(); [ "$1" = avx2 ] && env=(CAI_ISA=avx2)
  env "${env[@]}" "$CAI" bench --weights "$w/w.safetensors" --threads "$threads" --batch "$batch" --seconds "$secs" \
    --precision "$prec" --gemm-seconds 1 --json 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print(r["galaxies_per_s"], r.get("percent_of_fp32_limit",0))'
}
for i in $(seq "$rounds"); do
  for isa in avx512 avx2; do echo "$isa $(one $isa)" | tee -a "$w/runs"; done
done
python3 - "$w/runs" <<'PY'
import sys, statistics as st
runs = {}
for line in open(sys.argv[1]):
    isa, g, p = line.split(); runs.setdefault(isa, []).append((float(g), float(p)))
m = {k: (st.median(g for g, _ in v), st.median(p for _, p in v)) for k, v in runs.items()}
for k, (g, p) in m.items(): print(f"{k:7s} median {g:8.1f} galaxies/s  {p:5.1f}% of the fp32 limit  ({len(runs[k])} runs)")
if "avx2" in m and "avx512" in m: print(f"avx512 / avx2 = {m['avx512'][0] / m['avx2'][0]:.3f}")
PY
