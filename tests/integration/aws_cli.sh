#!/usr/bin/env bash
# `cai aws deploy | run | status | logs | fetch` against moto_server:
#   deploy: uploads the zip and weights (content-addressed keys) and partitions, deploys the template; a second
#     deploy skips every unchanged object;
#   run: a bad payload is refused before anything starts; a good one starts an execution;
#   status --follow on an executing copy of the state machine (moto runs the flow; Lambda code does not run
#     there: invocations echo their payload) until SUCCEEDED, with the map's item counts and the wall time;
#   fetch: combined_data.json, summary.json, the catalog, execution.json with the wall time from the service;
#   logs: a worker log event is printed; --limit N shows the newest N;
#   pre-flight refusals; a redeploy keeps the parameters it is not given; run --resume reruns only failed ranks.
set -euo pipefail
cd "$(dirname "$0")/../.."
CAI=${CAI:-build/cai}
for t in aws moto_server python3 zip; do
  command -v $t >/dev/null || { echo "skip: $t not installed (pip: awscli, moto[server])"; exit 77; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/aws_cli.XXXXXX")
MOTO_PID=
cleanup() { [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
moto_server -H 127.0.0.1 -p "$PORT" >"$W/moto.log" 2>&1 &
MOTO_PID=$!
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
EP=http://127.0.0.1:$PORT
for i in $(seq 50); do curl -sf "$EP/moto-api/" >/dev/null && break; sleep 0.2; done
for b in cai-code cai-data cai-results; do aws --endpoint-url "$EP" s3 mb "s3://$b" >/dev/null; done

# ---- deploy (a stand-in zip: moto runs no Lambda code; the real package is tested in lambda_package.sh)
(cd "$W" && printf '#!/bin/sh\nexit 1\n' > bootstrap && zip -q pkg.zip bootstrap)
# moto has no lambda get-account-settings: a wrapper answers it (ACCOUNT_LIMIT/UNRESERVED) and, with
# FAKE_STACK_STATUS, describe-stacks (a stack left in that state); everything else goes to the real CLI.
REAL_AWS=$(command -v aws)
cat > "$W/aws-wrap" <<WRAP
#!/bin/sh
for a in "\$@"; do
  case \$a in
    get-account-settings) printf '{"AccountLimit": {"ConcurrentExecutions": %s, "UnreservedConcurrentExecutions": %s}}\\n' "\${ACCOUNT_LIMIT:-1000}" "\${UNRESERVED:-1000}"; exit 0 ;;
    describe-stacks) if [ -n "\$FAKE_STACK_STATUS" ]; then printf '{"Stacks": [{"StackName": "cli", "StackStatus": "%s"}]}\\n' "\$FAKE_STACK_STATUS"; exit 0; fi ;;
  esac
done
exec "$REAL_AWS" "\$@"
WRAP
chmod +x "$W/aws-wrap"
export CAI_AWS_CLI="$W/aws-wrap"
printf 'not really weights' > "$W/w.safetensors"
"$CAI" synth --galaxies 6 --seed 2 --format pt --galaxies-per-file 2 -o "$W/parts" -q >/dev/null
deploy() {
  "$CAI" aws deploy --endpoint-url "$EP" --stack cli --code-bucket cai-code --data-bucket cai-data \
    --data-prefix parts --result-bucket cai-results --result-prefix results/ --zip "$W/pkg.zip" \
    --weights "$W/w.safetensors" --data "$W/parts" --param MemorySize=3008 "$@"
}
# Pre-flight refusals, before anything is uploaded or deployed:
expect_refusal() { # NAME PATTERN CMD... : must exit non-zero naming PATTERN
  local name=$1 pat=$2 rc; shift 2
  set +e; "$@" > "$W/refuse.out" 2>&1; rc=$?; set -e
  [ $rc != 0 ] && grep -q -- "$pat" "$W/refuse.out" || fail "$name: rc $rc, expected '$pat' in: $(cat "$W/refuse.out")"
}
expect_refusal "first deploy without --data-prefix" "--data-prefix is required on the first deploy" \
  "$CAI" aws deploy --endpoint-url "$EP" --stack cli --code-bucket cai-code --data-bucket cai-data \
    --result-bucket cai-results --result-prefix results/ --zip "$W/pkg.zip" --weights "$W/w.safetensors"
expect_refusal "a zip without weights and no --weights" "has no weights.safetensors, and no --weights was given" \
  "$CAI" aws deploy --endpoint-url "$EP" --stack cli --code-bucket cai-code --data-bucket cai-data --data-prefix parts \
    --result-bucket cai-results --result-prefix results/ --zip "$W/pkg.zip"
ACCOUNT_LIMIT=10 UNRESERVED=10 expect_refusal "a new account's concurrency of 10" \
  "Ask AWS for more (Service Quotas > AWS Lambda > Concurrent executions), or deploy with --param WorkerReservedConcurrency=0" deploy
ACCOUNT_LIMIT=1000 UNRESERVED=1000 expect_refusal "MaxConcurrency over the reservation" \
  "MaxConcurrency 900 is more than the worker's reserved concurrency (50)" deploy --param MaxConcurrency=900
FAKE_STACK_STATUS=ROLLBACK_COMPLETE expect_refusal "a stack in ROLLBACK_COMPLETE" "delete-stack --stack-name cli" deploy
aws --endpoint-url "$EP" cloudformation describe-stacks --stack-name cli >/dev/null 2>&1 && fail "a refused deploy created the stack"
echo "ok: deploy pre-flight refuses: no --data-prefix on a first deploy, no weights at all, concurrency the account lacks, ROLLBACK_COMPLETE"
deploy > "$W/deploy1.txt" || { cat "$W/deploy1.txt"; fail "first deploy"; }
grep -q "account: Lambda concurrency 1000 (1000 unreserved); worker reserves 50, map runs 50 at once" "$W/deploy1.txt" ||
  fail "no account pre-flight line: $(cat "$W/deploy1.txt")"
grep -q "code  s3://cai-code/cai/: sync: 2 uploaded" "$W/deploy1.txt" || fail "deploy did not upload zip+weights: $(cat "$W/deploy1.txt")"
grep -q "data  s3://cai-data/parts: sync: 5 uploaded" "$W/deploy1.txt" || fail "deploy did not upload 3 partitions + manifests: $(cat "$W/deploy1.txt")"
grep -q "state machine: arn:aws:states:us-east-1:[0-9]*:stateMachine:cli-pipeline" "$W/deploy1.txt" || fail "no state machine ARN"
zsha=$(sha256sum "$W/pkg.zip" | cut -c1-12)
aws --endpoint-url "$EP" s3 ls "s3://cai-code/cai/cai-lambda-$zsha.zip" >/dev/null || fail "zip not at its content-addressed key"
key=$(aws --endpoint-url "$EP" cloudformation describe-stacks --stack-name cli \
      --query "Stacks[0].Parameters[?ParameterKey=='CodeKey'].ParameterValue" --output text)
[ "$key" = "cai/cai-lambda-$zsha.zip" ] || fail "stack CodeKey is $key"
mem=$(aws --endpoint-url "$EP" lambda get-function-configuration --function-name cli-worker --query MemorySize --output text)
[ "$mem" = 3008 ] || fail "--param MemorySize=3008 not applied: $mem"
deploy > "$W/deploy2.txt" || { cat "$W/deploy2.txt"; fail "second deploy"; }
grep -q "sync: 0 uploaded (0.0 MB), 2 skipped" "$W/deploy2.txt" || fail "unchanged zip/weights re-uploaded: $(cat "$W/deploy2.txt")"
grep -q "sync: 0 uploaded (0.0 MB), 5 skipped" "$W/deploy2.txt" || fail "unchanged partitions re-uploaded"
echo "ok: deploy uploads once, skips unchanged objects, deploys the stack"
# A redeploy that gives only what changed keeps every other parameter (no reset of the weights key, no
# widening of the roles to the whole bucket).
params() { aws --endpoint-url "$EP" cloudformation describe-stacks --stack-name cli \
  --query "Stacks[0].Parameters[?ParameterKey=='WeightsKey' || ParameterKey=='DataPrefix' || ParameterKey=='ResultPrefix' || ParameterKey=='MemorySize'].[ParameterKey,ParameterValue]" --output text | sort | tr '\t\n' '= '; }
before=$(params)
case $before in *"DataPrefix=parts "*"ResultPrefix=results/ "*"WeightsKey=cai/weights-"*) ;; *) fail "stack parameters after deploy: $before" ;; esac
# (one parameter changes: moto answers an update with no change at all with an error, unlike CloudFormation)
"$CAI" aws deploy --endpoint-url "$EP" --stack cli --code-bucket cai-code --data-bucket cai-data \
  --result-bucket cai-results --zip "$W/pkg.zip" --param LogRetentionDays=30 > "$W/deploy3.txt" 2>&1 ||
  fail "redeploy without prefixes/weights: $(cat "$W/deploy3.txt")"
ret=$(aws --endpoint-url "$EP" cloudformation describe-stacks --stack-name cli \
      --query "Stacks[0].Parameters[?ParameterKey=='LogRetentionDays'].ParameterValue" --output text)
[ "$ret" = 30 ] || fail "the redeploy's own --param was not applied: LogRetentionDays=$ret"
after=$(params)
[ "$before" = "$after" ] || fail "a redeploy changed parameters it was not given: before '$before', after '$after'"
echo "ok: a redeploy without --weights/--data-prefix/--result-prefix keeps them ($after)"

# ---- run: bad payload refused here; good payload starts (moto's CloudFormation machines do not execute)
echo '{"bucket": "cai-results", "file_limit": "eleven"}' > "$W/bad.json"
set +e
"$CAI" aws run --endpoint-url "$EP" --stack cli "$W/bad.json" > "$W/bad.out" 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "bad payload: expected exit 2, got $rc"
grep -q 'field "file_limit"' "$W/bad.out" || fail "bad payload: unclear message: $(cat "$W/bad.out")"
cat > "$W/payload.json" <<'EOF'
{"bucket": "cai-results", "file_limit": "3", "batch_size": 16, "result_path": "results/run1",
 "data_bucket": "cai-data", "data_prefix": "parts", "world_size": 2}
EOF
"$CAI" aws run --endpoint-url "$EP" --stack cli "$W/payload.json" > "$W/run.out" || fail "run: $(cat "$W/run.out")"
grep -q "^execution: arn:aws:states:.*:execution:cli-pipeline:" "$W/run.out" || fail "run printed no execution ARN"
ex=$(sed -n 's/^execution: //p' "$W/run.out")
"$CAI" aws status --endpoint-url "$EP" "$ex" | grep -q "^RUNNING" || fail "status of the new execution"
echo "ok: run refuses a bad payload and starts a good one"

# ---- the flow on an executing copy: moto executes machines created after this switch (another backend);
# it reads InputType JSON, not JSONL, and its Lambda invocations echo the payload, so the payload carries the
# job list location that Initialize would have answered with.
curl -sf -X POST "$EP/moto-api/config" \
  -d '{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}' >/dev/null
sed -e 's/\${MaxConcurrency}/10/; s/\${ToleratedFailurePercentage}/0.0/; s/\${AWS::Partition}/aws/g' \
    -e 's/\${\([A-Za-z]*\)FunctionArn}/arn:aws:lambda:us-east-1:123456789012:function:cli-\1/' \
    -e 's/\${ResultBucket}/cai-results/; s/\${ResultPrefix}/results\//' \
    -e 's/"InputType": "JSONL"/"InputType": "JSON"/' deploy/aws/statemachine.asl.json > "$W/flow.json"
sm=$(aws --endpoint-url "$EP" stepfunctions create-state-machine --name cli-flow --definition "file://$W/flow.json" \
     --role-arn arn:aws:iam::123456789012:role/cli --query stateMachineArn --output text)
echo '[{"RANK": "0", "DATA_PATH": "parts/1.pt"}, {"RANK": "1", "DATA_PATH": ["parts/2.pt", "parts/3.pt"]}]' > "$W/jobs.json"
aws --endpoint-url "$EP" s3 cp "$W/jobs.json" s3://cai-results/results/run1/jobs.json >/dev/null
python3 -c "import json,sys; p=json.load(open(sys.argv[1])); p['job_list']={'bucket':'cai-results','key':'results/run1/jobs.json'}; json.dump(p,open(sys.argv[2],'w'))" \
  "$W/payload.json" "$W/payload-flow.json"
"$CAI" aws run --endpoint-url "$EP" --state-machine-arn "$sm" "$W/payload-flow.json" --follow --interval 0.3 \
  > "$W/follow.out" 2>"$W/follow.err" || fail "run --follow: $(cat "$W/follow.out" "$W/follow.err")"
grep -q "^SUCCEEDED  map: 2/2 succeeded, 0 failed" "$W/follow.out" || fail "follow: $(cat "$W/follow.out")"
grep -q "^wall time: [0-9.]* s (Step Functions startDate -> stopDate)" "$W/follow.out" || fail "no wall time"
ex2=$(sed -n 's/^execution: //p' "$W/follow.out")
echo "ok: run --follow shows the map's progress to SUCCEEDED and the wall time"

# ---- fetch: what Summarize would have written
echo '[{"rank": 0}, {"rank": 1}]' > "$W/combined.json"
echo '{"galaxies": 6, "complete": true}' > "$W/summary.json"
printf 'id,redshift\n0,0.1\n' > "$W/pred.csv"
aws --endpoint-url "$EP" s3 cp "$W/combined.json" s3://cai-results/results/run1/combined_data.json >/dev/null
aws --endpoint-url "$EP" s3 cp "$W/summary.json" s3://cai-results/results/run1/summary.json >/dev/null
aws --endpoint-url "$EP" s3 cp "$W/pred.csv" s3://cai-results/results/run1/predictions.csv >/dev/null
"$CAI" aws fetch --endpoint-url "$EP" "$ex2" -o "$W/out" > "$W/fetch.out" 2>&1 || fail "fetch: $(cat "$W/fetch.out")"
cmp -s "$W/combined.json" "$W/out/combined_data.json" || fail "fetched combined_data.json differs"
cmp -s "$W/summary.json" "$W/out/summary.json" || fail "fetched summary.json differs"
cmp -s "$W/pred.csv" "$W/out/predictions.csv" || fail "fetched predictions.csv differs"
python3 - "$W/out/execution.json" <<'EOF' || fail "execution.json"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["status"] == "SUCCEEDED" and e["result_path"] == "results/run1", e
assert abs(e["wall_seconds"] - (e["stopDate_unix"] - e["startDate_unix"])) < 1e-6 and e["wall_seconds"] > 0, e
assert e["map_item_counts"]["succeeded"] == 2, e
EOF
rm "$W/out/summary.json"
aws --endpoint-url "$EP" s3 rm s3://cai-results/results/run1/summary.json >/dev/null
set +e
"$CAI" aws fetch --endpoint-url "$EP" "$ex2" -o "$W/out" > "$W/fetch2.out" 2>&1
rc=$?
set -e
[ $rc != 0 ] && grep -q "missing s3://cai-results/results/run1/summary.json" "$W/fetch2.out" ||
  fail "fetch with summary.json missing: rc $rc, $(cat "$W/fetch2.out")"
echo "ok: fetch downloads the results and records the measured wall time; a missing summary fails clearly"

# ---- the worker runtime fetches its weights from S3 once (CAI_WEIGHTS=s3://...), into CAI_WEIGHTS_CACHE
"$CAI" convert --init vit --seed 4 "$W/real.safetensors" >/dev/null
aws --endpoint-url "$EP" s3 cp "$W/real.safetensors" s3://cai-code/cai/weights-test.safetensors >/dev/null
echo '[{"id": "probe", "event": {"probe": 1}}]' > "$W/ev-probe.json"
lambda_s3() { # WEIGHTS_URL -> runs one worker environment; leaves $W/ls3.{rec.json,err,rc}
  rm -f "$W/ls3.port" "$W/cache.safetensors"
  python3 tests/py/lambda_runtime_standin.py --events "$W/ev-probe.json" --record "$W/ls3.rec.json" \
    --port-file "$W/ls3.port" --timeout 120 &
  local sp=$! i
  for i in $(seq 100); do [ -s "$W/ls3.port" ] && break; sleep 0.1; done
  set +e
  AWS_ENDPOINT_URL="$EP" AWS_LAMBDA_RUNTIME_API="127.0.0.1:$(cat "$W/ls3.port")" CAI_STAGE=worker CAI_WEIGHTS="$1" \
    CAI_WEIGHTS_CACHE="$W/cache.safetensors" "$CAI" lambda --max-events 1 2>"$W/ls3.err"
  echo $? > "$W/ls3.rc"
  set -e
  wait $sp
}
lambda_s3 s3://cai-code/cai/weights-test.safetensors
[ "$(cat "$W/ls3.rc")" = 0 ] || fail "worker with S3 weights: $(cat "$W/ls3.err")"
grep -q "weights loaded from $W/cache.safetensors" "$W/ls3.err" || fail "S3 weights not loaded: $(cat "$W/ls3.err")"
cmp -s "$W/real.safetensors" "$W/cache.safetensors" || fail "cached weights differ from the S3 object"
lambda_s3 s3://cai-code/cai/no-such.safetensors
[ "$(cat "$W/ls3.rc")" != 0 ] || fail "missing S3 weights must fail the init"
python3 -c "
import json,sys; r=json.load(open(sys.argv[1])); ie=r['init_error']
assert ie and 'no-such.safetensors' in ie['body']['errorMessage'] and not r['next_times'], r" "$W/ls3.rec.json" ||
  fail "missing S3 weights: init error: $(cat "$W/ls3.rec.json")"
echo "ok: the worker runtime fetches CAI_WEIGHTS=s3://... once into /tmp; a missing key is an init error"

# ---- logs
g=/aws/lambda/cli-worker
aws --endpoint-url "$EP" logs create-log-stream --log-group-name $g --log-stream-name s1
now=$(python3 -c "import time; print(int(time.time()*1000))")
aws --endpoint-url "$EP" logs put-log-events --log-group-name $g --log-stream-name s1 \
  --log-events "timestamp=$((now - 5000)),message=cai lambda: ready (stage worker)" "timestamp=$((now - 4000)),message=event 2" \
  "timestamp=$((now - 3000)),message=event 3" "timestamp=$((now - 2000)),message=event 4" "timestamp=$((now - 1000)),message=event 5" >/dev/null
"$CAI" aws logs --endpoint-url "$EP" --stack cli > "$W/logs.out" 2>&1 || fail "logs: $(cat "$W/logs.out")"
grep -q "s1 cai lambda: ready (stage worker)" "$W/logs.out" || fail "logs: $(cat "$W/logs.out")"
"$CAI" aws logs --endpoint-url "$EP" --stack cli --limit 2 > "$W/logs2.out" 2>/dev/null || fail "logs --limit 2"
[ "$(grep -c ' s1 ' "$W/logs2.out")" = 2 ] && grep -q "event 4" "$W/logs2.out" && grep -q "event 5" "$W/logs2.out" ||
  fail "logs --limit 2 must show the newest two (4, 5), oldest first: $(cat "$W/logs2.out")"
[ "$(grep -n 'event' "$W/logs2.out" | head -1 | grep -c 'event 4')" = 1 ] || fail "logs --limit: not oldest first"
echo "ok: logs prints the function's recent events; --limit N shows the newest N"
# ---- run --resume: a run with one failed rank (rank 1 never wrote its record) is completed by rerunning
# only that rank. moto runs no Lambda code, so this test plays the functions with the same stages (cai
# initialize / worker / summarize against moto's S3) and checks what `cai aws run --resume` does: which
# ranks it picks, the job list it writes, the execution it starts (on the stack's machine, with the input the
# state machine's Resume state reads: its path through the Map is checked in aws_template.sh).
export AWS_ENDPOINT_URL="$EP"
cat > "$W/payload3.json" <<'JSON'
{"bucket": "cai-results", "file_limit": "3", "batch_size": 16, "result_path": "results/run3",
 "data_bucket": "cai-data", "data_prefix": "parts", "world_size": 3}
JSON
# (moto 5.2 fails every start-execution after one that it executed, and the stack's machine is gone once
# execution is switched on: start from a reset moto with execution off, and a machine standing in for the
# stack's; its executions just stay RUNNING)
curl -sf -X POST "$EP/moto-api/reset" >/dev/null
curl -sf -X POST "$EP/moto-api/config" -d '{"stepfunctions":{"execute_state_machine":false}}' >/dev/null
for b in cai-data cai-results; do aws --endpoint-url "$EP" s3 mb "s3://$b" >/dev/null; done
aws --endpoint-url "$EP" s3 cp --recursive "$W/parts" s3://cai-data/parts >/dev/null
sm3=$(aws --endpoint-url "$EP" stepfunctions create-state-machine --name cli-pipeline \
      --definition '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}' \
      --role-arn arn:aws:iam::123456789012:role/cli --query stateMachineArn --output text)
"$CAI" aws run --endpoint-url "$EP" --state-machine-arn "$sm3" "$W/payload3.json" > "$W/run3.out" || fail "run3: $(cat "$W/run3.out")"
ex3=$(sed -n 's/^execution: //p' "$W/run3.out")
"$CAI" initialize "$W/payload3.json" --store s3:// -q >/dev/null
for r in 0 2; do
  "$CAI" worker --store s3:// --jobs cai-results/results/run3 --rank $r --weights "$W/real.safetensors" --threads 2 >/dev/null 2>&1 ||
    fail "worker rank $r"
done
set +e; "$CAI" summarize --store s3:// cai-results results/run3 > "$W/sum3.out" 2>&1; rc=$?; set -e
[ $rc != 0 ] || fail "summarize must report the run incomplete (rank 1 missing)"
"$CAI" aws run --endpoint-url "$EP" --resume "$ex3" > "$W/resume.out" 2>&1 || fail "run --resume: $(cat "$W/resume.out")"
grep -q "^resume: 1 of 3 ranks to rerun -> s3://cai-results/results/run3/jobs-resume-" "$W/resume.out" || fail "resume: $(cat "$W/resume.out")"
exr=$(sed -n 's/^execution: //p' "$W/resume.out")
aws --endpoint-url "$EP" stepfunctions describe-execution --execution-arn "$exr" > "$W/exr.json"
python3 - "$W/exr.json" "$W/resume-job.json" <<'PY' || fail "the resume execution's input"
import json, subprocess, sys
d = json.load(open(sys.argv[1]))
assert d["stateMachineArn"].endswith(":stateMachine:cli-pipeline"), d["stateMachineArn"]
inp = json.loads(d["input"])
r = inp["cai_resume"]
assert inp["result_path"] == "results/run3" and r["count"] == 1 and r["job_list"]["bucket"] == "cai-results", inp
body = subprocess.run(["aws", "s3", "cp", "s3://cai-results/" + r["job_list"]["key"], "-"], check=True,
                      capture_output=True).stdout.decode()
lines = [l for l in body.split("\n") if l]
assert len(lines) == 1 and json.loads(lines[0])["RANK"] == "1", lines
json.dump(json.loads(lines[0]), open(sys.argv[2], "w"))
PY
# what the resumed Map's one child and Summarize do:
"$CAI" worker --store s3:// --job "$W/resume-job.json" --weights "$W/real.safetensors" --threads 2 >/dev/null 2>&1 || fail "worker rank 1"
"$CAI" summarize --store s3:// cai-results results/run3 > "$W/sum3b.out" 2>&1 || fail "summarize after the resume: $(tail -3 "$W/sum3b.out")"
"$CAI" aws run --endpoint-url "$EP" --resume "$ex3" > "$W/resume2.out" 2>&1 || fail "second resume: $(cat "$W/resume2.out")"
grep -q "nothing to rerun: all 3 ranks of s3://cai-results/results/run3 are complete" "$W/resume2.out" || fail "$(cat "$W/resume2.out")"
"$CAI" aws run --endpoint-url "$EP" --state-machine-arn "$sm3" --resume s3://cai-results/results/run3 > "$W/resume3.out" 2>&1 ||
  fail "resume by run location: $(cat "$W/resume3.out")"
grep -q "nothing to rerun" "$W/resume3.out" || fail "$(cat "$W/resume3.out")"
expect_refusal "resume of nothing" "expected an execution ARN or s3://BUCKET/RESULT_PATH" "$CAI" aws run --endpoint-url "$EP" --resume bogus
echo "ok: run --resume reruns only the failed rank (job list of 1, Resume input); then the run is complete and a second resume has nothing to do"
echo "aws_cli: all checks passed"
