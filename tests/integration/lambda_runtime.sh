#!/usr/bin/env bash
# `cai lambda` against a Lambda Runtime API stand-in (tests/py/lambda_runtime_standin.py), one "function" per
# stage as the template deploys them, over a local store:
#   initialize: a payload -> small answer pointing at jobs.jsonl; a bad payload and a non-JSON event -> /error
#     and takes the run's lock on result_path (a second Initialize there -> CAI.Busy naming the holder), which
#     Summarize releases
#   worker: ranks -> records; a bad job -> /error naming the partition, and the loop goes on; an event too
#     close to its deadline -> not started, nothing written; a deadline mid-rank -> stops between partitions,
#     reports the unfinished ones; weights loaded once for all events
#   summarize: the Initialize answer -> combined_data.json; an incomplete run -> an answer with complete=false,
#     the complete ranks' outputs and each failed rank's cause (from the Map's ResultWriter) in summary.json
#   init errors (missing weights, bad CAI_STAGE) -> /init/error; protocol errors (bad request id, oversized
#     event) -> the runtime stops instead of guessing.
set -euo pipefail
cd "$(dirname "$0")/../.."
CAI=${CAI:-build/cai}
W=$(mktemp -d "${TMPDIR:-/tmp}/lambda_runtime.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
STANDIN=tests/py/lambda_runtime_standin.py

# run_fn NAME EVENTS_JSON [VAR=VALUE ...] -- [cai lambda args]: one function session. Leaves
# $W/NAME.rec.json (what the stand-in saw), $W/NAME.err (the runtime's log) and $W/NAME.rc.
run_fn() {
  local name=$1 events=$2 i; shift 2
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  rm -f "$W/$name.port"
  python3 "$STANDIN" --events "$events" --record "$W/$name.rec.json" --port-file "$W/$name.port" \
    --timeout "${STANDIN_TIMEOUT:-600}" &
  local sp=$!
  for i in $(seq 100); do [ -s "$W/$name.port" ] && break; sleep 0.1; done
  [ -s "$W/$name.port" ] || fail "stand-in did not start"
  set +e
  env "${envs[@]}" AWS_LAMBDA_RUNTIME_API="127.0.0.1:$(cat "$W/$name.port")" "$CAI" lambda "$@" 2>"$W/$name.err"
  echo $? > "$W/$name.rc"
  set -e
  wait $sp || fail "stand-in exited with an error"
  echo "  [$name: rc $(cat "$W/$name.rc"), at ${SECONDS}s]"
}
# check NAME PYTHON: assertions over r (the record); the code may also use W.
check() {
  python3 - "$W/$1.rec.json" "$W" <<EOF || { echo "--- runtime log ($1):" >&2; cat "$W/$1.err" >&2; fail "check $1"; }
import json, os, sys
r = json.load(open(sys.argv[1])); W = sys.argv[2]
assert not r["protocol_errors"], r["protocol_errors"]
$2
EOF
}

# ---- data: 16 partitions of 1 galaxy (seed .pt format; many small partitions make the mid-rank deadline
# land between partitions whatever the machine's speed), untrained weights
STORE=$W/store
"$CAI" synth --galaxies 16 --seed 7 --format pt --galaxies-per-file 1 -o "$STORE/data/parts" -q >/dev/null
"$CAI" convert --init vit --seed 1 "$W/weights.safetensors" >/dev/null
cat > "$W/payload.json" <<'EOF'
{"bucket": "results", "file_limit": "16", "batch_size": 16, "object_type": "folder", "S3_object_name": "x",
 "script": "/tmp/x/inference.py", "result_path": "runs/1", "data_bucket": "data", "data_prefix": "parts",
 "world_size": 2}
EOF
BASE=(CAI_STORE="$STORE" CAI_WEIGHTS="$W/weights.safetensors" CAI_THREADS=2)

# ---- Initialize
python3 - "$W" <<'EOF'
import json, sys
W = sys.argv[1]
p = json.load(open(W + "/payload.json"))
bad = dict(p, file_limit="eleven")
json.dump([{"id": "init-ok", "event": p}, {"id": "init-dup", "event": p}, {"id": "init-bad", "event": bad},
           {"id": "init-notjson", "raw": "{\"bucket\": "}], open(W + "/ev-init.json", "w"))
EOF
run_fn init "$W/ev-init.json" "${BASE[@]}" CAI_STAGE=initialize AWS_LAMBDA_FUNCTION_NAME=cai-init -- --max-events 4
[ "$(cat "$W/init.rc")" = 0 ] || { cat "$W/init.err"; fail "initialize function exited $(cat "$W/init.rc")"; }
check init '
a = r["responses"]["init-ok"]
assert a["bucket"] == "results" and a["result_path"] == "runs/1" and a["count"] == 2, a
assert a["job_list"] == {"bucket": "results", "key": "runs/1/jobs.jsonl", "bytes": a["job_list"]["bytes"]}, a
assert len(json.dumps(a)) < 4096, "initialize answer should be small"
lines = open(W + "/store/results/runs/1/jobs.jsonl").read().splitlines()
assert len(lines) == 2 and a["job_list"]["bytes"] == sum(len(l) + 1 for l in lines), (len(lines), a)
e = r["errors"]["init-bad"]
assert e["type"] == "CAI.BadPayload" == e["body"]["errorType"], e
assert "file_limit" in e["body"]["errorMessage"] and "eleven" in e["body"]["errorMessage"], e
e = r["errors"]["init-notjson"]
assert e["type"] == "CAI.BadFormat" and "not valid JSON" in e["body"]["errorMessage"], e
# the run holds result_path until Summarize: a second execution on it fails by name, rewriting nothing
lock = json.load(open(W + "/store/results/runs/1/run.lock"))
assert lock["run_id"] == a["run_id"] and lock["holder"] == "aws Initialize Lambda cai-init" and lock["pid"] == 0, lock
e = r["errors"]["init-dup"]
assert e["type"] == "CAI.Busy", e
assert "is in use by run %s (aws Initialize Lambda cai-init from host " % a["run_id"] in e["body"]["errorMessage"], e
assert json.loads(lines[0])["CAI_RUN_ID"] == a["run_id"], "a refused Initialize rewrote the job list"
'
echo "ok: initialize: answer points at jobs.jsonl; the run's lock refuses a second one; bad payload and non-JSON event -> /error"

# ---- Worker, session 1: rank 0; a bad job (missing partition); rank 1 too close to its deadline
python3 - "$W" <<'EOF'
import json, sys
W = sys.argv[1]
jobs = [json.loads(l) for l in open(W + "/store/results/runs/1/jobs.jsonl")]
json.dump(jobs, open(W + "/jobs.json", "w"))
bad = dict(jobs[1], DATA_PATH="parts/99.pt", RESULT_PATH="runs/bad", CAI_PARTITION_GALAXIES=[1], CAI_EXPECTED_GALAXIES=1)
bad.pop("CAI_PARTITION_MANIFEST", None)  # per-key manifest entries must match DATA_PATH: this job has none
json.dump([{"id": "w-0", "event": jobs[0]}, {"id": "w-bad", "event": bad},
           {"id": "w-late", "event": jobs[1], "deadline_in_ms": 1500}], open(W + "/ev-w1.json", "w"))
EOF
run_fn w1 "$W/ev-w1.json" "${BASE[@]}" CAI_STAGE=worker CAI_DEADLINE_MARGIN_S=3 -- --max-events 3
[ "$(cat "$W/w1.rc")" = 0 ] || { cat "$W/w1.err"; fail "worker function exited $(cat "$W/w1.rc")"; }
[ "$(grep -c "weights loaded" "$W/w1.err")" = 1 ] || { cat "$W/w1.err"; fail "weights should load exactly once per environment"; }
check w1 '
rec = r["responses"]["w-0"]
assert rec["galaxies"] == 8 and rec["rank"] == 0 and rec["status"] == "ok", rec
assert os.path.exists(W + "/store/results/runs/1/0.json")
e = r["errors"]["w-bad"]
assert e["type"] == "CAI.NotFound" and "99.pt" in e["body"]["errorMessage"], e
assert e["body"]["failed"] == ["parts/99.pt"], e
e = r["errors"]["w-late"]
assert e["type"] == "CAI.DeadlineExceeded", e
jobs = json.load(open(W + "/jobs.json"))
assert e["body"]["unfinished"] == jobs[1]["DATA_PATH"], e
assert "nothing was written" in e["body"]["errorMessage"], e
assert not os.path.exists(W + "/store/results/runs/1/1.json"), "a refused rank must write nothing"
json.dump({"per_partition": rec["wall_seconds"] / 8}, open(W + "/timing.json", "w"))
'
echo "ok: worker: rank 0 done; bad job -> /error (loop went on); near-deadline rank refused, nothing written; weights loaded once"

# ---- Worker, session 2: a deadline that falls inside rank 1 (8 partitions) -> stops between partitions
python3 - "$W" <<'EOF'
import json, sys
W = sys.argv[1]
jobs = json.load(open(W + "/jobs.json"))
pp = json.load(open(W + "/timing.json"))["per_partition"]
# worker deadline = event deadline - margin (1 s). The worker starts a partition only if its running mean
# time + 1 s still fits: about the first three do, and even a machine suddenly 3x faster stops before 8.
ms = int((1.0 + 1.0 + 3.0 * pp) * 1000)
json.dump([{"id": "w-mid", "event": jobs[1], "deadline_in_ms": ms}], open(W + "/ev-w2.json", "w"))
EOF
run_fn w2 "$W/ev-w2.json" "${BASE[@]}" CAI_STAGE=worker CAI_DEADLINE_MARGIN_S=1 -- --max-events 1
[ "$(cat "$W/w2.rc")" = 0 ] || { cat "$W/w2.err"; fail "worker function exited $(cat "$W/w2.rc")"; }
check w2 '
e = r["errors"]["w-mid"]
assert e["type"] == "CAI.DeadlineExceeded", e
b = e["body"]
assert len(b["unfinished"]) >= 1 and len(b["unfinished"]) + len(b["done"]) == 8, b
rec = json.load(open(W + "/store/results/runs/1/1.json"))
assert rec["partitions_unfinished"] == len(b["unfinished"]), rec
'
if find "$STORE" -name '*.tmp*' | grep -q .; then fail "half-written files left: $(find "$STORE" -name '*.tmp*')"; fi
echo "ok: worker: deadline inside the rank -> stopped cleanly, unfinished partitions reported, no temp files"

# ---- Worker, session 3: rank 1 in full
python3 -c "import json,sys; j=json.load(open(sys.argv[1]+'/jobs.json')); json.dump([{'id':'w-1','event':j[1]}], open(sys.argv[1]+'/ev-w3.json','w'))" "$W"
run_fn w3 "$W/ev-w3.json" "${BASE[@]}" CAI_STAGE=worker -- --max-events 1
check w3 'assert r["responses"]["w-1"]["galaxies"] == 8, r'

# ---- Summarize: the state after the Map is the Initialize answer (+ the Map's result under "map")
python3 - "$W" <<'EOF'
import json, sys
W = sys.argv[1]
a = json.load(open(W + "/init.rec.json"))["responses"]["init-ok"]
a["map"] = {"MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:x/y:z"}
json.dump([{"id": "s-1", "event": a}, {"id": "s-bad", "event": {"bucket": "results"}}], open(W + "/ev-s.json", "w"))
EOF
run_fn sum "$W/ev-s.json" "${BASE[@]}" CAI_STAGE=summarize -- --max-events 2
check sum '
a = r["responses"]["s-1"]
assert a["bucket"] == "results" and a["result_path"] == "runs/1", a
assert len(json.dumps(a)) < 256 * 1024
combined = json.load(open(W + "/store/results/runs/1/combined_data.json"))
assert sorted(x["rank"] for x in combined) == [0, 1], combined
e = r["errors"]["s-bad"]
assert e["type"] == "CAI.BadPayload" and "result_path" in e["body"]["errorMessage"], e
assert not os.path.exists(W + "/store/results/runs/1/run.lock"), "Summarize did not release the run lock"
'
echo "ok: summarize: combined_data.json from both ranks, the run lock released; an event without result_path -> /error"

# ---- Summarize over an incomplete run (rank 1 failed: no record). It must answer, not fail: the outputs of
# rank 0 are written, "complete": false sends the state machine to its Incomplete state, and summary.json
# carries each failed rank's cause from the Map's ResultWriter files (or the Map's own error, after Catch).
rm "$STORE/results/runs/1/1.json"
python3 - "$W" <<'EOF'
import json, os, sys
W = sys.argv[1]
a = json.load(open(W + "/init.rec.json"))["responses"]["init-ok"]
jobs = json.load(open(W + "/jobs.json"))
d = W + "/store/results/runs/1/cai-map-runs/run-x"
os.makedirs(d, exist_ok=True)
cause = json.dumps({"errorMessage": "worker: rank 1: s3://data/parts/9.pt: GET failed: NoSuchKey (404)",
                    "errorType": "CAI.NotFound"})
failed = [{"ExecutionArn": "arn:aws:states:us-east-1:123456789012:execution:x/y:1", "Input": json.dumps(jobs[1]),
           "Error": "CAI.NotFound", "Cause": cause, "Status": "FAILED"}]
json.dump(failed, open(d + "/FAILED_0.json", "w"))
json.dump({"DestinationBucket": "results", "ResultFiles": {"FAILED": [{"Key": "runs/1/cai-map-runs/run-x/FAILED_0.json",
           "Size": os.path.getsize(d + "/FAILED_0.json")}], "PENDING": [], "SUCCEEDED": []}},
          open(d + "/manifest.json", "w"))
a1 = dict(a, map={"MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:x/y:z",
                  "ResultWriterDetails": {"Bucket": "results", "Key": "runs/1/cai-map-runs/run-x/manifest.json"}})
a2 = dict(a, map={"Error": "States.ExceedToleratedFailureThreshold", "Cause": "The specified tolerated failure threshold was exceeded"})
json.dump([{"id": "s-inc", "event": a1}], open(W + "/ev-s2.json", "w"))
json.dump([{"id": "s-maperr", "event": a2}], open(W + "/ev-s3.json", "w"))
EOF
run_fn sum2 "$W/ev-s2.json" "${BASE[@]}" CAI_STAGE=summarize -- --max-events 1
check sum2 '
assert not r["errors"], r["errors"]
a = r["responses"]["s-inc"]
assert a["complete"] is False and a["error"] == "CAI.Incomplete" and a["failed_ranks"] == 1, a
assert "failed rank" in a["cause"], a
s = json.load(open(W + "/store/results/runs/1/summary.json"))
f = [x for x in s["failed_ranks"] if x["rank"] == 1]
assert len(f) == 1 and f[0]["error"] == "CAI.NotFound" and "9.pt" in f[0]["cause"], s["failed_ranks"]
combined = json.load(open(W + "/store/results/runs/1/combined_data.json"))
assert [x["rank"] for x in combined] == [0], combined
'
run_fn sum3 "$W/ev-s3.json" "${BASE[@]}" CAI_STAGE=summarize -- --max-events 1
check sum3 '
a = r["responses"]["s-maperr"]
assert a["complete"] is False and a["error"] == "CAI.Incomplete", a
s = json.load(open(W + "/store/results/runs/1/summary.json"))
assert s["map_error"]["error"] == "States.ExceedToleratedFailureThreshold", s.get("map_error")
'
echo "ok: summarize over a failed rank: answers complete=false, writes rank 0's outputs, summary.json names rank 1's cause"

# ---- Scale: Initialize over 100,000 partitions (listed by a manifest). The answer must stay tiny whatever
# the count; the 100,000 jobs go to jobs.jsonl for the Distributed Map's ItemReader.
python3 - "$W" <<'EOF'
import json, os, sys
W = sys.argv[1]
os.makedirs(W + "/big/data/big", exist_ok=True)
with open(W + "/big/data/big/manifest.jsonl", "w") as f:
    for i in range(1, 100001):
        f.write(json.dumps({"key": "%d.pt" % i, "galaxies": 1278, "bytes": 26229170, "sha256": "0" * 64,
                            "id_first": (i - 1) * 1278, "id_last": i * 1278 - 1, "format": "pt"}) + "\n")
json.dump([{"id": "scale", "event": {"bucket": "results", "file_limit": 100000, "batch_size": 512,
            "result_path": "scale/1", "data_bucket": "data", "data_prefix": "big"}}], open(W + "/ev-scale.json", "w"))
EOF
run_fn scale "$W/ev-scale.json" CAI_STORE="$W/big" CAI_STAGE=initialize -- --max-events 1
check scale '
a = r["responses"]["scale"]
n = len(json.dumps(a))
assert a["count"] == 100000 and n < 1024, (n, a)
size, lines = 0, 0
with open(W + "/big/results/scale/1/jobs.jsonl", "rb") as f:
    for l in f:
        lines += 1; size += len(l)
assert lines == 100000 and size == a["job_list"]["bytes"], (lines, size, a)
print("scale: answer %d bytes (state payload limit 262144); jobs.jsonl %d lines, %d bytes" % (n, lines, size))
'
# ---- Job lines stay bounded: 100,000 partitions on ONE rank. Each line of jobs.jsonl is a child execution's
# input (256 KiB at most); a rank's keys that do not fit go to <result_path>/jobs/<rank>.json and its line
# references them. Summarize (and resume) read the list back in full.
python3 - "$W" <<'EOF'
import json, sys
W = sys.argv[1]
json.dump([{"id": "scale1", "event": {"bucket": "results", "file_limit": 100000, "batch_size": 512,
            "result_path": "scale/one", "data_bucket": "data", "data_prefix": "big", "world_size": 1}}],
          open(W + "/ev-scale1.json", "w"))
EOF
run_fn scale1 "$W/ev-scale1.json" CAI_STORE="$W/big" CAI_STAGE=initialize -- --max-events 1
check scale1 '
a = r["responses"]["scale1"]
assert a["count"] == 1, a
lines = open(W + "/big/results/scale/one/jobs.jsonl", "rb").read().split(b"\n")
lines = [l for l in lines if l]
assert len(lines) == 1 and len(lines[0]) < 256 * 1024, [len(l) for l in lines]
j = json.loads(lines[0])
ref = j["CAI_DATA_PATH_REF"]
assert "DATA_PATH" not in j and ref["count"] == 100000 and ref["first"] == "big/1.pt" and ref["last"] == "big/100000.pt", ref
keys = json.load(open(W + "/big/results/" + ref["key"]))
assert len(keys["DATA_PATH"]) == 100000 and len(keys["CAI_PARTITION_GALAXIES"]) == 100000
print("one rank, 100,000 partitions: job line %d bytes (limit 262144), keys in %s" % (len(lines[0]), ref["key"]))
'
set +e
"$CAI" summarize --store "$W/big" results scale/one > /dev/null 2>"$W/sum-big.err"
set -e
grep -q "incomplete run: 100000 missing partition(s): big/1.pt" "$W/sum-big.err" ||
  fail "Summarize did not read the referenced key list: $(cat "$W/sum-big.err")"
rm -rf "$W/big"
echo "ok: Initialize over 100,000 partitions: small answer, 100,000-line job list"
# ---- A worker given such a line resolves it (here a real rank of 8 partitions, its keys by reference).
python3 - "$W" <<'EOF'
import json, os, sys
W = sys.argv[1]
j = json.load(open(W + "/jobs.json"))[0]
j["RESULT_PATH"] = "runs/ref"
os.makedirs(W + "/store/results/runs/ref/jobs", exist_ok=True)
json.dump({"DATA_PATH": j["DATA_PATH"]}, open(W + "/store/results/runs/ref/jobs/0.json", "w"))
j["CAI_DATA_PATH_REF"] = {"key": "runs/ref/jobs/0.json", "count": len(j.pop("DATA_PATH"))}
json.dump(j, open(W + "/ref-job.json", "w"))
bad = dict(j, CAI_DATA_PATH_REF={"key": "runs/ref/jobs/0.json", "count": 3})
json.dump(bad, open(W + "/ref-bad.json", "w"))
EOF
"$CAI" worker --store "$STORE" --job "$W/ref-job.json" --weights "$W/weights.safetensors" --threads 2 >/dev/null 2>"$W/ref.err" ||
  fail "worker with a referenced key list: $(cat "$W/ref.err")"
python3 -c "
import json,sys; r=json.load(open(sys.argv[1]))
assert r['status'] == 'ok' and sum(1 for p in r['partitions'] if p['status'] == 'ok') == 8, r['status']" \
  "$STORE/results/runs/ref/0.json" || fail "the referenced rank's record"
set +e
"$CAI" worker --store "$STORE" --job "$W/ref-bad.json" --weights "$W/weights.safetensors" >/dev/null 2>"$W/refbad.err"
rc=$?
set -e
[ $rc != 0 ] && grep -q "runs/ref/jobs/0.json: expected {\"DATA_PATH\": \[3 keys\]" "$W/refbad.err" ||
  fail "a key list that disagrees with its count must be refused: $(cat "$W/refbad.err")"
echo "ok: job lines bounded: one rank of 100,000 partitions -> a line under 256 KiB referencing its keys; workers and Summarize resolve it"

# ---- Init errors
echo '[{"id": "never", "event": {}}]' > "$W/ev-one.json"
run_fn initerr "$W/ev-one.json" CAI_STORE="$STORE" CAI_STAGE=worker CAI_WEIGHTS="$W/missing.safetensors" -- --max-events 1
[ "$(cat "$W/initerr.rc")" != 0 ] || fail "missing weights: cai lambda should exit non-zero"
check initerr '
ie = r["init_error"]
assert ie and ie["type"].startswith("CAI.") and "missing.safetensors" in ie["body"]["errorMessage"], ie
assert r["unanswered"] == ["never"] and not r["next_times"], "no event may be taken after an init error"
'
run_fn stageerr "$W/ev-one.json" CAI_STAGE=bogus -- --max-events 1
[ "$(cat "$W/stageerr.rc")" != 0 ] || fail "bad CAI_STAGE: cai lambda should exit non-zero"
check stageerr '
ie = r["init_error"]
assert ie and ie["type"] == "CAI.BadArgument" and "CAI_STAGE" in ie["body"]["errorMessage"], ie
'
echo "ok: init errors (missing weights, bad CAI_STAGE) -> /init/error, no event taken"

# ---- Protocol errors: a request id that cannot go into a URL; an event over the 6 MB limit
echo '[{"id": "../../x", "event": {}}]' > "$W/ev-badid.json"
STANDIN_TIMEOUT=3 run_fn badid "$W/ev-badid.json" CAI_STAGE=echo -- --max-events 1
[ "$(cat "$W/badid.rc")" != 0 ] || fail "a bad request id must stop the runtime"
grep -q "Lambda-Runtime-Aws-Request-Id" "$W/badid.err" || fail "bad request id: unclear message: $(cat "$W/badid.err")"
python3 -c "import json,sys; json.dump([{'id':'big','raw':'\"'+'x'*(7*1024*1024)+'\"'}], open(sys.argv[1],'w'))" "$W/ev-big.json"
STANDIN_TIMEOUT=3 run_fn big "$W/ev-big.json" CAI_STAGE=echo -- --max-events 1
[ "$(cat "$W/big.rc")" != 0 ] || fail "an oversized event must stop the runtime"
grep -q "larger than" "$W/big.err" || fail "oversized event: unclear message: $(cat "$W/big.err")"
echo "ok: protocol errors stop the runtime with a clear message"
echo "lambda_runtime: all checks passed"
