#!/usr/bin/env bash
# faults_payload_sanity.sh — issue 9 items 10 and 11, through the CLI: every payload error exits 2 before any
# work, names the field, and writes nothing. Before the fix: world_size 1,000,000 with file_limit 1 made a
# million files; "r\u0000/../x" was cut to "r"; duplicate keys took the first value; 100k-deep JSON said only
# "not valid JSON"; a 500-segment result_path failed in Summarize after all the work; a 300-character bucket
# exited 1; `--store -q` created a directory "-q".
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/integration/pipeline_lib.bash"
make_weights
make_data 40 20
bad() { # WHAT MESSAGE   (payload in bad.json)
  local rc=0
  rm -rf store/cosmicai-data/r store/cosmicai-data/payload.json
  timeout 30 "$CAI" run bad.json --store store --weights w.safetensors --no-progress >out.txt 2>err.txt || rc=$?
  [ $rc -eq 2 ] || { cat err.txt; die "$1: exit $rc, want 2"; }
  grep -qF -- "$2" err.txt || { cat err.txt; die "$1: message lacks: $2"; }
  [ ! -e store/cosmicai-data/r ] && [ ! -e store/cosmicai-data/payload.json ] || die "$1: files were written"
  rc=0; "$CAI" initialize bad.json --store store >/dev/null 2>&1 || rc=$?
  [ $rc -eq 2 ] || die "$1: cai initialize exit $rc, want 2"
}
F='"file_limit": 1, "batch_size": 8, "data_bucket": "cosmicai-data", "data_prefix": "25MB"'
echo "{\"bucket\": \"cosmicai-data\", \"result_path\": \"r/1\", \"world_size\": 1000000, $F}" > bad.json
bad world_size 'field "world_size": 1000000 is far above file_limit 1 (at most 65'
echo "{\"bucket\": \"cosmicai-data\", \"result_path\": \"r\\u0000/../x\", $F}" > bad.json
bad NUL '\u0000'
echo "{\"bucket\": \"cosmicai-data\", \"result_path\": \"r/1\", \"result_path\": \"r/2\", $F}" > bad.json
bad duplicate 'duplicate key "result_path"'
python3 -c "print('{\"bucket\": \"cosmicai-data\", \"result_path\": \"r/1\", \"x\": ' + '['*100000 + ']'*100000 + ', $(echo "$F" | sed 's/"/\\"/g')}')" > bad.json
bad depth 'nested deeper than 32 levels'
python3 -c "print('{\"bucket\": \"cosmicai-data\", \"result_path\": \"' + '/'.join(['s']*500) + '\", $(echo "$F" | sed 's/"/\\"/g')}')" > bad.json
bad segments 'field "result_path": at most'
python3 -c "print('{\"bucket\": \"' + 'b'*300 + '\", \"result_path\": \"r/1\", $(echo "$F" | sed 's/"/\\"/g')}')" > bad.json
bad bucket 'field "bucket": a bucket name has at most 63 characters, got 300'
# A flag-looking --store value.
echo "{\"bucket\": \"cosmicai-data\", \"result_path\": \"r/1\", $F}" > good.json
rc=0; "$CAI" run good.json --store -q >out.txt 2>err.txt || rc=$?
[ $rc -eq 2 ] && grep -q "looks like an option" err.txt || die "--store -q: exit $rc"
[ ! -e ./-q ] || die "--store -q created a directory -q"
for c in initialize worker summarize; do
  rc=0; "$CAI" $c --store -q x y >/dev/null 2>&1 || rc=$?; [ $rc -eq 2 ] || die "cai $c --store -q: exit $rc"
done
[ ! -e ./-q ] || die "a directory -q was created"
# Still fine: world_size a little above the partitions (the seed's empty ranks).
echo "{\"bucket\": \"cosmicai-data\", \"result_path\": \"r/1\", \"world_size\": 3, $F}" > good.json
"$CAI" run good.json --store store --weights w.safetensors --workers 1 --no-progress >out.txt 2>err.txt \
  || { cat err.txt; die "world_size 3 with file_limit 1 should run"; }
echo "faults_payload_sanity: ok"
