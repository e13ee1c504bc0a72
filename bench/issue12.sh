#!/usr/bin/env bash
# issue12.sh — the engine-speed table of issue 12 for THIS machine's CPU, in one go, into OUT (default
# bench/results/issue12-<cpu>-<date>): each run measures fp32 and int8 interleaved in one `cai bench`
# (so the ratio is side by side), then
#   1. the native path: threads 1,2 × batch 128,512, % of the fp32 GEMM limit, int8/fp32, |dz| on 4,096
#      galaxies, the time split; the 2×512 cell again as JSON for `cai plan --bench`;
#   2. the AVX2 path on the same CPU (ONEDNN_MAX_CPU_ISA=AVX2, CAI_ISA=avx2): what an AVX2-only CPU of
#      this speed would run — int8 without VNNI, and what `--precision auto` picks there;
#   3. `cai plan --bench` on the native 2×512 cell: the projected AWS runs (660K, 10M, 1B galaxies).
# Speed is only meaningful on an idle machine: the load average is printed before and after each step.
# Env: CAI (build/cai), OUT, SECONDS_PER_CELL (4), DZ (4096). Minutes: ~1.5 per step at the defaults.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CAI=$(realpath "${CAI:-$root/build/cai}")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //; s/([^)]*)//g; s/[^A-Za-z0-9]\+/-/g; s/-$//')
OUT=${OUT:-$root/bench/results/issue12-$cpu-$(date -u +%Y%m%d-%H%M)}
S=${SECONDS_PER_CELL:-4}
DZ=${DZ:-4096}
mkdir -p "$OUT"
load() { echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%H:%M:%S) UTC"; }
{
  echo "== issue12.sh, $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs"; load
  echo "== 1. native path"
  "$CAI" bench --threads 1,2 --batch 128,512 --seconds "$S" --gemm-seconds 2 --precision fp32,int8 --dz-galaxies "$DZ"
  load
  echo "== 1b. the 2x512 cell as JSON (for cai plan --bench)"
} 2>&1 | tee "$OUT/bench.txt"
"$CAI" bench --threads 2 --batch 512 --seconds "$S" --gemm-seconds 2 --precision fp32,int8 --dz-galaxies 256 --json \
  > "$OUT/bench-2x512.json"
{
  load
  echo "== 2. AVX2 path on this CPU (ONEDNN_MAX_CPU_ISA=AVX2 CAI_ISA=avx2)"
  ONEDNN_MAX_CPU_ISA=AVX2 CAI_ISA=avx2 "$CAI" bench --threads 2 --batch 128,512 --seconds "$S" --gemm-seconds 2 \
    --precision fp32,int8 --dz-galaxies 256
  echo "auto picks there: $(ONEDNN_MAX_CPU_ISA=AVX2 CAI_ISA=avx2 "$CAI" bench --threads 1 --batch 32 --seconds 0.2 \
    --gemm-seconds 0 --precision auto 2>&1 | grep -o '^auto -> [a-z0-9]*' | head -1)"
  load
  echo "== 3. cai plan --bench (native 2x512 cell)"
  "$CAI" plan --bench "$OUT/bench-2x512.json"
} 2>&1 | tee -a "$OUT/bench.txt"
echo "issue12.sh: wrote $OUT/bench.txt and $OUT/bench-2x512.json"
