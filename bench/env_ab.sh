#!/usr/bin/env bash
# env_ab.sh — `cai bench` under two environments, as alternating processes (settings read once per
# process: CAI_ISA for the own kernels' ISA path, CAI_THREADING for lanes vs split GEMMs), so a busy
# machine slows both alike. Prints each run, then the median galaxies/s and % of the fp32 limit per
# setting and their ratio. Examples:
#   bench/env_ab.sh CAI_ISA=avx512 CAI_ISA=avx2              # AVX-512 own kernels vs the AVX2 baseline
#   THREADS=2 BATCH=512 bench/env_ab.sh CAI_THREADING=lanes CAI_THREADING=split
# Env: CAI (build/cai), ROUNDS (5), THREADS (1), BATCH (128), SECS (3 per run), PRECISION (fp32).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CAI=${CAI:-$root/build/cai}
[ $# -eq 2 ] || { echo "usage: $0 VAR=A VAR=B" >&2; exit 2; }
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
"$CAI" bench --make-weights "$w/w.safetensors" --variant vitae >/dev/null
one() {
  env "$1" "$CAI" bench --weights "$w/w.safetensors" --threads "${THREADS:-1}" --batch "${BATCH:-128}" \
    --seconds "${SECS:-3}" --precision "${PRECISION:-fp32}" --gemm-seconds 1 --json 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["results"][0]; print(r["galaxies_per_s"], r.get("percent_of_fp32_limit",0))'
}
for _ in $(seq "${ROUNDS:-5}"); do
  for e in "$1" "$2"; do echo "$e $(one "$e")" | tee -a "$w/runs"; done
done
python3 - "$w/runs" "$1" "$2" <<'PY'
import sys, statistics as st
runs = {}
for line in open(sys.argv[1]):
    k, g, p = line.split(); runs.setdefault(k, []).append((float(g), float(p)))
a, b = sys.argv[2], sys.argv[3]
for k in (a, b):
    v = runs[k]
    print(f"{k:22s} median {st.median(g for g, _ in v):8.1f} galaxies/s  {st.median(p for _, p in v):5.1f}% of the fp32 limit  ({len(v)} runs)")
print(f"{a} / {b} = {st.median(g for g, _ in runs[a]) / st.median(g for g, _ in runs[b]):.3f} (ratio of medians)")
PY
