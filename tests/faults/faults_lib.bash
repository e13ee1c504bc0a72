# faults_lib.bash — helpers for the fault suite tests/faults/*.sh (sourced; not a test itself). Each fault test
# turns one finding of issue 9 into a check that failed on the code before the fix. They reuse the pipeline
# tests' helpers: a store under $TMPDIR, untrained weights, synthetic shards with a manifest.
source "$(dirname "${BASH_SOURCE[0]}")/../integration/pipeline_lib.bash"

# w43.safetensors: a second, different model
make_weights43() {
  [ -f "$W/w43.safetensors" ] || "$CAI" convert --init vitae --seed 43 "$W/w43.safetensors" >/dev/null 2>&1 \
    || skip "cai convert --init is not available"
}

# run_cai TAG [ARGS...]: cai run payload.json on the store with 2 workers; stdout/stderr in TAG.out/TAG.err;
# returns cai's exit status.
run_cai() {
  local tag=$1; shift
  local rc=0
  "$CAI" run payload.json --store store --workers 2 --threads 1 --no-progress "$@" >"$tag.out" 2>"$tag.err" || rc=$?
  cat "$tag.out" "$tag.err"
  return $rc
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# catalog_check EXPECTED_IDS_FILE [complete]: read predictions.csv independently of summary.json: no galaxy id
# twice, every id one of the data set's; with "complete", exactly the data set's ids.
catalog_check() { catalog_check_csv "$RES/predictions.csv" "$@"; }

# catalog_check_csv CSV EXPECTED_IDS_FILE [complete]: the same checks on any copy of predictions.csv (the S3
# soak downloads its own).
catalog_check_csv() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import sys
rows = open(sys.argv[1]).read().splitlines()
assert rows[0].startswith("galaxy_id,partition,index,prediction,label"), rows[0]  # + optional columns (predictions.h)
ids = [int(r.split(",")[0]) for r in rows[1:]]
want = set(int(x) for x in open(sys.argv[2]).read().split())
dup = len(ids) - len(set(ids))
assert dup == 0, "%d galaxies predicted twice" % dup
extra = set(ids) - want
assert not extra, "ids not in the data set: %s" % sorted(extra)[:5]
if sys.argv[3] == "complete":
    assert set(ids) == want, "%d galaxies missing" % len(want - set(ids))
print("catalog: %d rows, unique, all from the data set" % len(ids))
PY
}

# ids_of_manifest: every galaxy id the manifest promises, one per line
ids_of_manifest() {
  python3 - "$W/store/cosmicai-data/25MB/manifest.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.strip():
        e = json.loads(line)
        if e["galaxies"]:
            for i in range(e["id_first"], e["id_last"] + 1): print(i)
PY
}

# kill_busy_workers PID WANT: while the engine PID runs, up to WANT times at a random moment (a tenth of a second
# apart at most, one try in three), SIGKILL one of its worker processes that is busy on a rank — computing or
# fetching, not waiting on its task pipe. Prints how many it killed. (Seed RANDOM first for a repeatable run.)
kill_busy_workers() {
  local pid=$1 want=$2 k=0 c wc
  while [ $k -lt $want ] && kill -0 $pid 2>/dev/null; do
    sleep 0.0$(( 1 + RANDOM % 9 ))
    [ $(( RANDOM % 3 )) = 0 ] || continue
    for c in $(pgrep -P $pid 2>/dev/null | shuf); do
      wc=$(cat /proc/$c/wchan 2>/dev/null || true)
      if [ -n "$wc" ] && [ "$wc" != pipe_read ] && [ "$wc" != pipe_wait ]; then kill -9 $c 2>/dev/null && k=$((k+1)); break; fi
    done
  done
  echo $k
}
