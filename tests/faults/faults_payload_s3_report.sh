#!/usr/bin/env bash
# faults_payload_s3_report.sh — issue 9 item 11: with `--store s3://` (the payload's buckets as they are) the
# report printed "s3:///cosmicai-data/..."; it must print s3://cosmicai-data/... (moto, signature-checking).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/integration/pipeline_lib.bash"
source "$ROOT/tests/lib/moto.sh"
make_weights
make_data 20 20
moto_start
aws --endpoint-url "$AWS_ENDPOINT_URL" s3api create-bucket --bucket cosmicai-data >/dev/null
for f in store/cosmicai-data/25MB/*; do
  aws --endpoint-url "$AWS_ENDPOINT_URL" s3 cp --quiet "$f" "s3://cosmicai-data/25MB/$(basename "$f")"
done
payload 1
"$CAI" run payload.json --store s3:// --weights w.safetensors --workers 1 --threads 1 --no-progress \
  >out.txt 2>err.txt || { cat out.txt err.txt; die "cai run --store s3:// failed"; }
cat out.txt
! grep -q "s3:///" out.txt || die "the report prints s3:///"
grep -q "^summary:      s3://cosmicai-data/result-partition-25MB/test/1/summary.json$" out.txt || die "summary URL"
grep -q "^catalog:      s3://cosmicai-data/result-partition-25MB/test/1/predictions.fits$" out.txt || die "catalog URL"
echo "faults_payload_s3_report: ok"
