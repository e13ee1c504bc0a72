#!/usr/bin/env bash
# pipeline_seedpt.sh — a run over the seed's own .pt partitions gives the same predictions as `cai predict`
# on each file, with every galaxy accounted for (partition, index) exactly once.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 100 25 pt         # 4 seed-format partitions: 1.pt .. 4.pt
ls store/cosmicai-data/25MB/*.pt >/dev/null 2>&1 || skip "cai synth --format pt wrote no .pt files"
payload 4 '"world_size": 2'
"$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 >out.txt 2>err.txt \
  || { cat out.txt err.txt; die "cai run failed"; }
grep -q "complete:     yes" out.txt || die "not complete"
for i in 1 2 3 4; do
  "$CAI" predict --weights w.safetensors --batch-size 16 --threads 1 -q \
    "store/cosmicai-data/25MB/$i.pt" -o "p$i.csv" || die "cai predict $i.pt"
  # cai run's rows for partition i: index,prediction
  awk -F, -v p=$i 'NR>1 && $2==p {print $3","$4}' "$RES/predictions.csv" > "r$i.csv"
  tail -n +2 "p$i.csv" > "q$i.csv"
  [ "$(wc -l < "r$i.csv")" = 25 ] || die "partition $i: $(wc -l < "r$i.csv") rows in the catalog, want 25"
  python3 - "r$i.csv" "q$i.csv" <<'PY' || die "partition $i: predictions differ from cai predict"
import sys
a = [l.split(",") for l in open(sys.argv[1]).read().split()]
b = [l.split(",") for l in open(sys.argv[2]).read().split()]
assert len(a) == len(b), (len(a), len(b))
for (ia, pa), (ib, pb) in zip(a, b):
    assert ia == ib, (ia, ib)
    assert abs(float(pa) - float(pb)) <= 1e-6 * max(1.0, abs(float(pb))), (ia, pa, pb)
PY
done
# seed .pt partitions carry no ids: galaxy_id is empty, (partition, index) is unique
[ "$(tail -n +2 "$RES/predictions.csv" | cut -d, -f1 | sort -u)" = "" ] || die "galaxy_id should be empty for .pt"
[ "$(tail -n +2 "$RES/predictions.csv" | cut -d, -f2,3 | sort -u | wc -l)" = 100 ] || die "(partition,index) not unique"
echo "pipeline_seedpt: ok"
