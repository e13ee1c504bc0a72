#!/usr/bin/env bash
# full_set.sh — the seed's whole data set on this machine (issue 12): GALAXIES synthetic galaxies (default
# 659,817, the seed's 12.6 GB) in 25 MB partitions (1,278 galaxies: 517 files), then `cai run` with the
# default worker pool, once per precision (default "fp32 auto"). Records per run: wall time of each stage
# (synth, initialize + map + summarize as cai run reports them), galaxies/s end to end, peak RSS per worker
# (the rank records' maximum) and of the whole command, disk used; then the seed's own loop (DataLoader +
# profiler + gc per batch, bench/seed_loop.py with python3-torch) on SEED_N galaxies, projected to GALAXIES.
# Cleans up everything it wrote (KEEP=1 keeps it). Not part of `make test`: minutes to hours.
#   bench/full_set.sh                          # all of it, ~12.6 GB of disk
#   GALAXIES=66000 bench/full_set.sh           # a tenth, to see the shape quickly
# Env: CAI (build/cai), GALAXIES, PER_FILE (1278), PRECISIONS ("fp32 auto"), SEED_N (10000, 0 = skip),
#      TORCH_PY (/usr/bin/python3), WORK (a directory on a disk with room; default $TMPDIR or /tmp), KEEP,
#      REUSE (a directory an earlier KEEP=1 run left: its weights and partitions are used again, synth is
#      skipped and the directory is kept — synthesis is 12.6 GB of writes, worth doing once per machine).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CAI=$(realpath "${CAI:-$root/build/cai}")
N=${GALAXIES:-659817}
PER=${PER_FILE:-1278}
PRECS=${PRECISIONS:-fp32 auto}
SEED_N=${SEED_N:-10000}
PY=${TORCH_PY:-/usr/bin/python3}
if [ -n "${REUSE:-}" ]; then
  D=$(realpath "$REUSE"); KEEP=1
  [ -f "$D/w.safetensors" ] && [ -f "$D/store/cosmicai-data/25MB/manifest.jsonl" ] \
    || { echo "full_set: REUSE=$REUSE lacks w.safetensors or store/cosmicai-data/25MB/manifest.jsonl" >&2; exit 2; }
else
  D=$(mktemp -d "${WORK:-${TMPDIR:-/tmp}}/cai-fullset.XXXXXX")
fi
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$D"' EXIT
cd "$D"
now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 2))"; }
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
"$CAI" predict --help >/dev/null
"$CAI" bench --threads 1 --batch 32 --seconds 0.2 --gemm-seconds 0 --precision fp32 --dz-galaxies 1 | grep '^CPU' || true

# Weights: the published architecture (vitae), deterministic, untrained; as a seed checkpoint when torch is
# there (so the seed loop runs the same weights), else cai's own generator.
if [ -n "${REUSE:-}" ]; then
  [ -f sd.pt ] || SEED_N=0
elif [ "$SEED_N" -gt 0 ] && "$PY" -c 'import torch' 2>/dev/null; then
  "$PY" "$root/tests/py/make_checkpoint.py" --variant vitae --seed 42 --out-pickle ck.pt --out-state-dict sd.pt >/dev/null
  "$CAI" convert ck.pt w.safetensors >/dev/null
else
  [ "$SEED_N" -gt 0 ] && { echo "note: $PY cannot import torch: no seed-loop row"; SEED_N=0; }
  "$CAI" convert --init vitae --seed 42 w.safetensors >/dev/null
fi

t0=$(now)
[ -n "${REUSE:-}" ] || "$CAI" synth --galaxies "$N" --seed 1 --galaxies-per-file "$PER" -o store/cosmicai-data/25MB -q
t1=$(now)
NF=$(grep -c '"key"' store/cosmicai-data/25MB/manifest.jsonl)
DISK=$(du -sb store | cut -f1)
if [ -n "${REUSE:-}" ]; then
  N=$(grep -o '"galaxies": *[0-9]*' store/cosmicai-data/25MB/manifest.jsonl | awk -F: '{s+=$2} END {print s}')
  echo "== synth skipped (REUSE=$D): $N galaxies in $NF partitions, $(python3 -c "print(round($DISK/1e9, 2))") GB on disk"
else echo "== synth: $N galaxies in $NF partitions, $(python3 -c "print(round($DISK/1e9, 2))") GB on disk, $(secs $t0 $t1) s"; fi

for P in $PRECS; do
  rp="result-partition-25MB/fullset-$P/1"
  cat > payload.json <<JSON
{"bucket": "cosmicai-data", "file_limit": "$NF", "batch_size": 512, "result_path": "$rp",
 "data_bucket": "cosmicai-data", "data_prefix": "25MB"}
JSON
  a=$(now)
  /usr/bin/time -f "%M" -o rss.txt "$CAI" run payload.json --store store --weights w.safetensors --precision "$P" \
    --no-progress -q > run.log 2>&1 || { echo "cai run ($P) failed:"; tail -20 run.log; exit 1; }
  b=$(now)
  S=store/cosmicai-data/$rp/summary.json
  python3 - "$S" "$P" "$(secs $a $b)" "$(cat rss.txt)" "$(du -sb store/cosmicai-data/$rp | cut -f1)" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
wall = float(sys.argv[3])
g = s.get("galaxies", 0)
stages = {k: v for k, v in s.items() if k.endswith("_seconds") and isinstance(v, (int, float))}
print("== cai run --precision %s (ran: %s): %d galaxies, wall %.1f s (%.2f min), %.0f galaxies/s end to end; "
      "peak RSS per worker %.0f MB, whole command (largest process) %.0f MB; results %.1f MB"
      % (sys.argv[2], s.get("precision", "?"), g, wall, wall / 60, g / wall if wall else 0,
         s.get("peak_rss_mb_max", 0), int(sys.argv[4]) / 1024, int(sys.argv[5]) / 1e6))
print("   summary.json timings: " + ", ".join("%s %.1f" % kv for kv in sorted(stages.items())))
PY
  rm -rf "store/cosmicai-data/result-partition-25MB"
done

if [ "$SEED_N" -gt 0 ]; then
  "$CAI" synth --galaxies "$SEED_N" --seed 2 --galaxies-per-file "$PER" --format pt -o seedpt -q
  line=$("$PY" "$root/bench/seed_loop.py" --state-dict sd.pt seedpt/*.pt)
  python3 - "$line" "$N" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); n = int(sys.argv[2])
print("== seed loop (DataLoader + profiler + gc per batch, PyTorch, %d threads): %d galaxies in %.1f s = %.1f galaxies/s;"
      " projected to %d galaxies: %.0f s (%.1f min), inference only" % (r["threads"], r["galaxies"], r["seconds"],
      r["galaxies_per_s"], n, n / r["galaxies_per_s"], n / r["galaxies_per_s"] / 60))
PY
fi
echo "== done $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
