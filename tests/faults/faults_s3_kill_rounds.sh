#!/usr/bin/env bash
# faults_s3_kill_rounds.sh — issue 9's resume soak on the S3 store: `cai run --store s3://` against moto (signature
# checking on) through the loopback fault proxy, which answers ~6% of cai's requests at random with 503 SlowDown,
# 500 InternalError, a connection reset before the request reaches S3, or a reset after S3 acted on it (the
# answer lost: a PUT/DELETE/conditional PUT that landed but looks failed). Over 6 rounds (the local soak
# faults_kill_rounds.sh does 10; fewer here so that it stays ~1-2 minutes under ASan) each fresh run and each
# --resume SIGKILLs about 20% of the rank executions at random moments. After every run the catalog is read
# back from the store with boto3, straight from moto (independently of summary.json and of cai's S3 client): no
# galaxy twice, only galaxies of the data set, and exactly every galaxy once whenever the run says complete;
# the run lock is gone. A last --resume of each round must finish complete.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/faults/faults_lib.bash"   # cd $TMPDIR
source "$ROOT/tests/lib/moto.sh"
make_weights
make_data 80 10             # 8 partitions of 10: small, so a run takes seconds even under ASan
payload 8 '"world_size": 8'
ids_of_manifest > ids.txt
[ "$(wc -l < ids.txt)" = 80 ] || die "manifest ids"
moto_start
moto_proxy_start
aws --endpoint-url "$AWS_ENDPOINT_URL" s3api create-bucket --bucket cosmicai-data >/dev/null
python3 - <<'PY'
import boto3, os
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
root = "store/cosmicai-data"
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        s3.put_object(Bucket="cosmicai-data", Key=os.path.relpath(p, root), Body=open(p, "rb").read())
PY
rm -rf store                # from here on the data and results live only in moto
RP=result-partition-25MB/test/1
# Fast retries (the faults are many; the backoff's shape is tested in test_s3), the default 5 attempts.
export CAI_S3_RETRY_BASE_MS=5
RANDOM=$(( $$ % 32768 ))

# faults_on: arm the proxy for the next run: each of cai's requests is faulted with probability 6%.
faults_on() {
  curl -sf -X POST "$PROXY_URL/__fault__" -d "{\"modes\": [\"503\", \"500\", \"reset\", \"reset_after\"],
    \"rate\": 0.06, \"count\": 1000000, \"seed\": $RANDOM}" >/dev/null || die "cannot arm the fault proxy"
}
injected() { curl -sf "$PROXY_URL/__fault__" | python3 -c 'import json,sys; print(json.load(sys.stdin)["injected"])'; }

# s3_catalog_check [complete]: predictions.csv read from moto with boto3, then faults_lib's catalog checks (no
# galaxy twice, every id one of the data set's; with "complete", exactly the data set's ids). Also: the run
# left no run.lock behind.
s3_catalog_check() {
  python3 - "$RP" s3-predictions.csv <<'PY' || return 1
import boto3, os, sys
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
rp = sys.argv[1]
try:
    s3.head_object(Bucket="cosmicai-data", Key=rp + "/run.lock")
    sys.exit("the run left its lock s3://cosmicai-data/%s/run.lock behind" % rp)
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] in ("404", "NoSuchKey"), e
open(sys.argv[2], "wb").write(s3.get_object(Bucket="cosmicai-data", Key=rp + "/predictions.csv")["Body"].read())
PY
  catalog_check_csv s3-predictions.csv ids.txt "${1:-}"
}

kills_total=0
# one_run TAG KILLS [--resume]: a run in the background with faults on; KILLS times, at a random moment, SIGKILL
# a worker that is computing or fetching a rank (not one waiting on its task pipe); then check the catalog.
one_run() {
  local tag=$1 want=$2; shift 2
  faults_on
  AWS_ENDPOINT_URL=$PROXY_URL "$CAI" run payload.json --store s3:// --weights w.safetensors --workers 2 --threads 1 \
    --no-progress "$@" >$tag.out 2>$tag.err &
  local pid=$! k
  k=$(kill_busy_workers $pid $want)
  local rc=0; wait $pid || rc=$?
  kills_total=$((kills_total + k))
  echo "$tag: killed $k workers, exit $rc, $(injected) S3 faults injected so far"
  if grep -q "complete:     yes" $tag.out; then
    [ $rc -eq 0 ] || die "$tag: complete but exit $rc"
    s3_catalog_check complete || { cat $tag.out $tag.err; die "$tag: complete, yet the catalog is not every galaxy exactly once"; }
  else
    [ $rc -ne 0 ] || die "$tag: exit 0 but not complete"
    s3_catalog_check || { cat $tag.out $tag.err; die "$tag: the catalog holds a galaxy twice or one not in the data set"; }
  fi
}
# Each round: a fresh run losing ~20% of its 8 rank executions, a --resume losing ~20% of what it runs, and a
# --resume left alone (faults still on), which must end complete.
for round in $(seq 1 6); do
  one_run r$round.a 2
  one_run r$round.b 1 --resume
  one_run r$round.c 0 --resume
  grep -q "complete:     yes" r$round.c.out || { cat r$round.c.out r$round.c.err; die "round $round: not complete"; }
done
[ $kills_total -ge 8 ] || die "only $kills_total workers were killed over 6 rounds"
[ "$(injected)" -gt 0 ] || die "no S3 fault was injected"
echo "faults_s3_kill_rounds: ok ($kills_total workers killed over 6 rounds)"
