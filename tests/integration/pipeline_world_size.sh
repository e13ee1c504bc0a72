#!/usr/bin/env bash
# pipeline_world_size.sh — world_size above the number of files: the extra ranks get DATA_PATH null (the
# seed's split), write an empty record and succeed; the run is complete.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 40 20            # 2 partitions
payload 2 '"world_size": 4'
"$CAI" run payload.json --store store --weights w.safetensors --workers 2 >out.txt 2>err.txt \
  || { cat out.txt err.txt; die "cai run failed"; }
grep -q "complete:     yes" out.txt || die "not complete"
for r in 2 3; do
  [ "$(jget "$RES/$r.json" 'd["status"]')" = empty ] || die "rank $r should be empty"
  [ "$(jget "$RES/$r.json" 'd["data_path"]')" = None ] || die "rank $r data_path should be null"
  [ "$(jget "$RES/$r.json" 'd["galaxies"]')" = 0 ] || die "rank $r galaxies"
  [ ! -e "$RES/predictions/$r.csv" ] || die "rank $r should have no predictions file"
done
[ "$(jget "$RES/combined_data.json" 'len(d)')" = 4 ] || die "combined_data.json should hold all 4 ranks"
[ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 40 ] || die "galaxies"
echo "pipeline_world_size: ok"
# Weights from the payload, as a key in the run's bucket (no --weights): fetched once, same predictions.
mkdir -p store/cosmicai-data/models && cp w.safetensors store/cosmicai-data/models/astromae.safetensors
cp "$RES/predictions.csv" first.csv
payload 2 '"world_size": 4, "weights": "models/astromae.safetensors", "future_field": 1'
"$CAI" run payload.json --store store --workers 2 >out.txt 2>err.txt || { cat out.txt err.txt; die "payload weights"; }
grep -q 'unknown field "future_field" ignored' err.txt || die "no warning for an unknown payload field"
cmp first.csv "$RES/predictions.csv" || die "predictions differ with the weights taken from the bucket"
echo "pipeline_world_size (payload weights): ok"
