#!/usr/bin/env bash
# s3_pipeline.sh — the whole pipeline over S3 (moto with signature checking): partitions and weights
# uploaded to moto, `cai run --store s3://` (the payload's buckets as they are) and
# `cai run --store s3://BUCKET/PREFIX` (everything under one bucket and prefix), each compared with the same
# run on a local directory store: the same predictions, the same result files, the same record fields,
# plus the s3_* timing fields that only an S3 run has.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/integration/pipeline_lib.bash"   # cd $TMPDIR; die, skip, make_weights, make_data, payload, jget
source "$ROOT/tests/lib/moto.sh"
make_weights
make_data 150 30                    # 5 partitions of 30 under store/cosmicai-data/25MB
mkdir -p store/cosmicai-data/weights && cp w.safetensors store/cosmicai-data/weights/w.safetensors
payload 5 '"world_size": 3, "weights": "weights/w.safetensors"'
moto_start
aws --endpoint-url "$AWS_ENDPOINT_URL" s3api create-bucket --bucket cosmicai-data >/dev/null
aws --endpoint-url "$AWS_ENDPOINT_URL" s3api create-bucket --bucket cai-runs >/dev/null

# Upload with boto3 (an independent client): bucket cosmicai-data as it is, and a copy under
# cai-runs/exp1/cosmicai-data/ for the BUCKET/PREFIX mapping.
python3 - <<'PY'
import boto3, os
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
root = "store/cosmicai-data"
n = 0
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        k = os.path.relpath(p, root)
        body = open(p, "rb").read()
        s3.put_object(Bucket="cosmicai-data", Key=k, Body=body)
        s3.put_object(Bucket="cai-runs", Key="exp1/cosmicai-data/" + k, Body=body)
        n += 1
print("uploaded", n, "objects twice")
PY

run() { # store label
  local rc=0
  "$CAI" run payload.json --store "$1" --workers 2 --threads 1 --no-progress >"out-$2.txt" 2>"err-$2.txt" || rc=$?
  cat "out-$2.txt" "err-$2.txt"
  [ $rc -eq 0 ] || die "cai run --store $1 failed (rc=$rc)"
  grep -q "complete:     yes" "out-$2.txt" || die "run on $1 is not complete"
}
run store local
run s3:// s3
run s3://cai-runs/exp1 s3prefix

# Fetch the S3 results (no Prefix filter: moto rejects a correctly signed '%2F' in a query, docs/s3.md).
python3 - <<'PY'
import boto3, os
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
for bucket, pre, out in (("cosmicai-data", "", "s3"), ("cai-runs", "exp1/cosmicai-data/", "s3prefix")):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            k = o["Key"]
            if not k.startswith(pre + "result-partition-25MB/"):
                continue
            p = os.path.join(out, k[len(pre):])
            os.makedirs(os.path.dirname(p), exist_ok=True)
            s3.download_file(bucket, k, p)
PY

L="store/cosmicai-data/result-partition-25MB/test/1"
for m in s3 s3prefix; do
  S="$m/result-partition-25MB/test/1"
  [ -d "$S" ] || die "$m: no results in S3"
  # the same set of result files
  diff <(cd "$L" && find . -type f | grep -v '\.tmp' | sort) <(cd "$S" && find . -type f | sort) \
    || die "$m: result files differ from the local run's"
  # the same predictions (id, prediction columns; the model is deterministic at --threads 1)
  cmp <(cut -d, -f1-4 "$L/predictions.csv") <(cut -d, -f1-4 "$S/predictions.csv") || die "$m: predictions differ"
  for r in 0 1 2; do
    cmp <(cut -d, -f1-4 "$L/predictions/$r.csv") <(cut -d, -f1-4 "$S/predictions/$r.csv") || die "$m: rank $r predictions differ"
  done
  [ "$(jget "$S/summary.json" 'd["galaxies"]')" = 150 ] || die "$m: summary galaxies != 150"
  [ "$(jget "$S/summary.json" 'd["complete"]')" = True ] || die "$m: summary not complete"
  [ "$(jget "$S/combined_data.json" 'len(d)')" = 3 ] || die "$m: combined_data.json should have 3 records"
  # every field of the local record is in the S3 record, and the seed's s3_* fields are there too
  python3 - "$L/combined_data.json" "$S/combined_data.json" "$m" <<'PY' || die "$m: record fields differ"
import json, sys
loc, s3, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
for a, b in zip(loc, s3):
    missing = set(a) - set(b)
    assert not missing, (m, "missing in the S3 record", missing)
    for f in ("rank", "galaxies", "num_batches", "batch_size", "data_path"):
        if f in a: assert a[f] == b[f], (m, f, a[f], b[f])
    for f in ("s3_num_requests", "s3_total_time", "s3_avg_time", "s3_min_time", "s3_max_time",
              "s3_first_request_time", "s3_last_response_time"):
        assert f in b, (m, "no", f)
    assert b["s3_num_requests"] >= 1 and b["s3_min_time"] <= b["s3_avg_time"] <= b["s3_max_time"], (m, b)
print(m, ": records match; s3 fields present")
PY
done
echo "s3_pipeline: ok"
