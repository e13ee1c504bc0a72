#!/usr/bin/env bash
# pipeline_run.sh — `cai run` end to end on CAI shards: every galaxy accounted for, the seed's record
# fields present in every rank record and in combined_data.json, catalogs written (FITS verified), the
# untrained-weights warning printed, and the stages one at a time giving the same result.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 150 30            # 5 partitions of 30
payload 5 '"world_size": 3'
"$CAI" run payload.json --store store --weights w.safetensors --workers 2 >out.txt 2>err.txt \
  || { cat out.txt err.txt; die "cai run failed"; }
cat out.txt
grep -q "complete:     yes" out.txt || die "report does not say complete"
grep -q "NOT physical" out.txt || die "report does not warn about untrained weights"
grep -q -- "--weights" out.txt || die "report does not tell how to pass a real checkpoint"
[ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 150 ] || die "summary galaxies != 150"
[ "$(jget "$RES/summary.json" 'd["expected_galaxies"]')" = 150 ] || die "expected_galaxies != 150"
[ "$(jget "$RES/combined_data.json" 'len(d)')" = 3 ] || die "combined_data.json should have 3 records"
[ "$(jget "$RES/combined_data.json" '[r["rank"] for r in d]')" = "[0, 1, 2]" ] || die "records not in rank order"
for f in "total_cpu_time (seconds)" "total_cpu_memory (MB)" "execution_time (seconds/batch)" num_batches \
         batch_size device throughput_bps sample_persec result_path data_path \
         wall_seconds peak_rss_mb galaxies start_unix end_unix start_iso end_iso stage_seconds status; do
  [ "$(jget "$RES/combined_data.json" "all('$f' in r for r in d)")" = True ] || die "field '$f' missing"
done
# seed's split: 5 files over 3 ranks = 2, 2, 1; num_batches = ceil(30/16) per file
[ "$(jget "$RES/0.json" 'd["data_path"]')" = "['25MB/1.safetensors', '25MB/2.safetensors']" ] || die "rank 0 data_path"
[ "$(jget "$RES/2.json" 'd["data_path"]')" = "25MB/5.safetensors" ] || die "rank 2 data_path"
[ "$(jget "$RES/0.json" 'd["num_batches"]')" = 4 ] || die "rank 0 num_batches"
[ "$(jget "$RES/0.json" 'd["batch_size"]')" = 16 ] || die "rank 0 batch_size"
# predictions: one per galaxy, ids 0..149 once each
[ "$(tail -n +2 "$RES/predictions.csv" | cut -d, -f1 | sort -n | uniq | wc -l)" = 150 ] || die "ids not unique/complete"
[ "$(tail -n +2 "$RES/predictions.csv" | wc -l)" = 150 ] || die "predictions.csv rows"
# the seed's global payload.json + per-run copy with data_map
[ "$(jget store/cosmicai-data/payload.json 'd["data_map"]["2"]')" = "25MB/5.safetensors" ] || die "data_map"
[ -f "$RES/payload.json" ] && [ -f "$RES/jobs.jsonl" ] || die "per-run payload/jobs missing"
if command -v fitsverify >/dev/null; then
  fitsverify -q -e "$RES/predictions.fits" | grep -q "OK" || { fitsverify "$RES/predictions.fits"; die "fitsverify"; }
fi
# Same run, the stages one at a time (what the MPI/Lambda engines do), into another result_path.
payload 5 '"world_size": 3, "weights": "'"$W"'/w.safetensors"'
sed -i 's#result-partition-25MB/test/1#result-partition-25MB/test/2#' payload.json
"$CAI" initialize payload.json --store store -q >/dev/null || die "cai initialize"
for r in 0 1 2; do
  "$CAI" worker --store store --jobs cosmicai-data/result-partition-25MB/test/2 --rank $r --threads 1 >/dev/null \
    || die "cai worker rank $r"
done
"$CAI" summarize --store store cosmicai-data result-partition-25MB/test/2 >/dev/null || die "cai summarize"
R2="$W/store/cosmicai-data/result-partition-25MB/test/2"
cmp <(cut -d, -f1-4 "$RES/predictions.csv") <(cut -d, -f1-4 "$R2/predictions.csv") \
  || die "stage-by-stage predictions differ from cai run's"
echo "pipeline_run: ok"
