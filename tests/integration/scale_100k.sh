#!/usr/bin/env bash
# scale_100k.sh — Initialize on 100,000 partitions over moto S3 (signature checking on), through the Lambda
# runtime as Step Functions calls it: the job list goes to S3 as JSONL (what the Distributed Map's
# ItemReader reads) and the state payload Initialize returns stays far below Step Functions' 256 KB.
# The partitions are described by a 100,000-line manifest.jsonl (the intended path at this scale: no
# LIST at all). Why not 100,000 real keys: moto needs ~23 s to hold them and ~1.5 s per 1,000-key LIST
# page (~150 s for the listing alone, measured 2026-11-25); LIST pagination itself is tested with
# 1,050 keys in s3_moto.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CAI=${CAI:-$ROOT/build/cai}
[ -x "$CAI" ] || { echo "skip: $CAI not built"; exit 77; }
source "$ROOT/tests/lib/moto.sh"
W=$(mktemp -d "${TMPDIR:-/tmp}/scale.XXXXXX")
cd "$W"
N=100000
moto_start
"$CAI" convert --init vitae --seed 1 w.safetensors >/dev/null 2>&1 || { echo "skip: cai convert --init unavailable"; exit 77; }
t0=$SECONDS
python3 - "$N" <<'PY'
import boto3, json, os, sys
n = int(sys.argv[1])
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
for b in ("scale-data", "scale-results"):
    s3.create_bucket(Bucket=b)
per = 1278
lines = []
for i in range(1, n + 1):
    first = (i - 1) * per
    lines.append(json.dumps({"key": f"{i}.safetensors", "galaxies": per, "bytes": 26240576,
                             "sha256": "%064x" % i, "id_first": first, "id_last": first + per - 1,
                             "format": "shard"}, separators=(",", ":")))
body = ("\n".join(lines) + "\n").encode()
s3.put_object(Bucket="scale-data", Key="25MB/manifest.jsonl", Body=body)
payload = {"bucket": "scale-results", "file_limit": str(n), "batch_size": 512, "object_type": "folder",
           "S3_object_name": "Anomaly Detection", "script": "/tmp/Anomaly Detection/Inference/inference.py",
           "result_path": "result-partition-25MB/total/1", "data_bucket": "scale-data", "data_prefix": "25MB"}
json.dump([{"id": "init-100k", "event": payload}], open("events.json", "w"))
json.dump(payload, open("payload.json", "w"))
print(f"manifest: {n} entries, {len(body) / 1e6:.1f} MB")
PY
echo "setup: $((SECONDS - t0)) s"

# Initialize as the Lambda function runs it (Runtime API stand-in), store = moto S3.
t0=$SECONDS
python3 "$ROOT/tests/py/lambda_runtime_standin.py" --events events.json --record rec.json --port-file sp.port \
  --timeout 300 &
SP=$!
for _i in $(seq 100); do [ -s sp.port ] && break; sleep 0.1; done
rc=0
CAI_STAGE=initialize CAI_STORE=s3:// CAI_WEIGHTS="$W/w.safetensors" AWS_LAMBDA_RUNTIME_API="127.0.0.1:$(cat sp.port)" \
  "$CAI" lambda --max-events 1 2>lambda.err || rc=$?
wait $SP || true
[ $rc = 0 ] || { cat lambda.err; echo "FAIL: cai lambda (initialize) exited $rc"; exit 1; }
echo "initialize (lambda, 100,000 partitions over S3): $((SECONDS - t0)) s"

python3 - "$N" <<'PY'
import boto3, json, os, sys
n = int(sys.argv[1])
r = json.load(open("rec.json"))
assert not r["errors"] and r["init_error"] is None, (r["errors"], r["init_error"])
a = r["responses"]["init-100k"]
state = json.dumps(a, separators=(",", ":")).encode()
print(f"state payload returned by Initialize: {len(state)} bytes: {state.decode()}")
assert len(state) < 256 * 1024, "state payload over Step Functions' 256 KB"
assert len(state) < 4096, "Initialize should return a reference, not the jobs"
assert a["count"] == n, a["count"]
jl = a["job_list"]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
body = s3.get_object(Bucket=jl["bucket"], Key=jl["key"])["Body"].read()
assert len(body) == jl["bytes"], (len(body), jl["bytes"])
lines = body.decode().splitlines()
assert len(lines) == n, len(lines)
for i in (0, 1, 4242, n - 1):
    j = json.loads(lines[i])
    assert j["RANK"] == str(i) and j["WORLD_SIZE"] == str(n), j
    assert j["DATA_PATH"] == f"25MB/{i + 1}.safetensors", j
    assert j["DATA_BUCKET"] == "scale-data" and j["RESULT_PATH"] == "result-partition-25MB/total/1", j
ranks = {json.loads(l)["RANK"] for l in lines}
assert len(ranks) == n, "duplicate ranks"
inline = len(("[" + ",".join(lines) + "]").encode())
print(f"job list: {n} jobs, {len(body) / 1e6:.1f} MB JSONL in S3 (inline it would be {inline / 1e6:.1f} MB,"
      f" {inline / (256 * 1024):.0f}x the 256 KB limit)")
p = json.loads(s3.get_object(Bucket="scale-results", Key="payload.json")["Body"].read())
assert len(p["data_map"]) == n, len(p["data_map"])
PY
echo "scale_100k: ok"
