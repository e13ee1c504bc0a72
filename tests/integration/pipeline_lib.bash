# pipeline_lib.bash — helpers for the pipeline_*.sh integration tests (sourced; not a test itself).
# Every test works in its own $TMPDIR: a store directory, untrained weights, synthetic partitions.
set -euo pipefail
: "${CAI:?CAI must point at the cai binary}"
W=${TMPDIR:-/tmp}
cd "$W"

die() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skip: $*"; exit 77; }

# make_weights: untrained vitae weights (fixed seed) at $W/w.safetensors
make_weights() {
  [ -f "$W/w.safetensors" ] || "$CAI" convert --init vitae --seed 42 "$W/w.safetensors" >/dev/null 2>&1 \
    || skip "cai convert --init is not available"
}

# make_data N PER_FILE [FORMAT]: partitions under $W/store/cosmicai-data/25MB
make_data() {
  local fmt=${3:-shard}
  "$CAI" synth --galaxies "$1" --seed 7 --galaxies-per-file "$2" --format "$fmt" \
    -o "$W/store/cosmicai-data/25MB" >/dev/null 2>&1 || skip "cai synth is not available"
}

# payload FILE_LIMIT [EXTRA_JSON_FIELDS]: the seed's demo shape, written to $W/payload.json
payload() {
  cat > "$W/payload.json" <<JSON
{"bucket": "cosmicai-data", "file_limit": "$1", "batch_size": 16, "object_type": "folder",
 "S3_object_name": "Anomaly Detection", "script": "/tmp/Anomaly Detection/Inference/inference.py",
 "result_path": "result-partition-25MB/test/1", "data_bucket": "cosmicai-data", "data_prefix": "25MB"${2:+, $2}}
JSON
}

RES="$W/store/cosmicai-data/result-partition-25MB/test/1"

# jq-free JSON reads with the python3 on PATH (no torch needed): jget FILE EXPR
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }

# expect_partition_failure KEY PATTERN: after a run that broke partition KEY (of 4 × 25 over 2 ranks),
# check that the run failed naming KEY, and that the other 3 partitions' 75 galaxies were all predicted.
expect_partition_failure() {
  local key=$1 pat=$2 rc=0
  "$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress \
    >out.txt 2>err.txt || rc=$?
  cat out.txt err.txt
  [ $rc -ne 0 ] || die "cai run succeeded with a broken partition $key"
  grep -q "$key" err.txt || die "the error does not name $key"
  grep -Eqi "$pat" err.txt || die "the error does not say why ($pat)"
  [ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 75 ] || die "the other partitions' 75 galaxies are not all there"
  [ "$(tail -n +2 "$RES/predictions.csv" | wc -l)" = 75 ] || die "predictions.csv should hold 75 rows"
  [ "$(jget "$RES/summary.json" 'd["complete"]')" = False ] || die "summary should say incomplete"
  jget "$RES/summary.json" 'd["missing_partitions"]' | grep -q "$key" || die "summary does not list $key as missing"
  # the rank that held it records the partition's error and processed its other partition
  local rank=0; case $key in *3.*|*4.*) rank=1;; esac
  [ "$(jget "$RES/$rank.json" 'd["status"]')" = partial ] || die "rank $rank should be partial"
  [ "$(jget "$RES/$rank.json" '[p["status"] for p in d["partitions"]]' | grep -c error)" = 1 ] || die "partition error not recorded"
}
