#!/usr/bin/env bash
# pipeline_bad_payload.sh — `cai run` / `cai initialize` refuse a malformed payload field by field, with
# exit status 2 and a message naming the field, and write nothing. (Each field is also its own unit test
# in tests/unit/test_payload.c; this checks the CLI path.)
source "$(dirname "$0")/pipeline_lib.bash"
make_data 40 20
check() { # FIELD_JSON EXPECTED_MESSAGE
  python3 - "$1" > bad.json <<'PY'
import json, sys
p = {"bucket": "cosmicai-data", "file_limit": "2", "batch_size": 16, "result_path": "r/bad",
     "data_bucket": "cosmicai-data", "data_prefix": "25MB"}
for k, v in json.loads(sys.argv[1]).items():
    if v == "__absent__": p.pop(k, None)
    else: p[k] = v
print(json.dumps(p))
PY
  local rc=0
  "$CAI" run bad.json --store store --weights /nonexistent >out.txt 2>err.txt || rc=$?
  [ $rc -eq 2 ] || { cat err.txt; die "$1: exit $rc, want 2"; }
  grep -qF -- "$2" err.txt || { cat err.txt; die "$1: message lacks: $2"; }
  [ ! -e store/cosmicai-data/r/bad/jobs.jsonl ] || die "$1: a job list was written"
}
check '{"file_limit": "eleven"}' 'field "file_limit": expected an integer or a numeric string, got "eleven"'
check '{"batch_size": "x"}' 'field "batch_size": expected an integer or a numeric string, got "x"'
check '{"batch_size": 0}' 'field "batch_size": must be at least 1, got 0'
check '{"batch_size": -1}' 'field "batch_size": must be at least 1, got -1'
check '{"bucket": "__absent__"}' 'missing required field "bucket"'
check '{"result_path": "__absent__"}' 'missing required field "result_path"'
check '{"world_size": 0}' 'field "world_size": must be at least 1, got 0'
check '{"precision": "fp16"}' 'field "precision": expected "auto", "fp32" or "int8"'
echo '{"bucket": ' > bad.json
rc=0; "$CAI" initialize bad.json --store store 2>err.txt >/dev/null || rc=$?
[ $rc -eq 2 ] && grep -q "not valid JSON" err.txt || die "truncated JSON payload: exit $rc: $(cat err.txt)"
echo "pipeline_bad_payload: ok"
