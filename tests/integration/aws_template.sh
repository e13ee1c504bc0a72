#!/usr/bin/env bash
# The CloudFormation template and its state machine: cfn-lint clean; the ASL passes asl-validator (npm) and a
# broken mutation does not; template.yaml embeds statemachine.asl.json verbatim; least-privilege rules hold
# (no *FullAccess, no Action "*"); `aws cloudformation deploy` against moto_server creates every resource;
# the flow (Initialize -> Distributed Map over an S3 item list -> Summarize) executes in moto.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=deploy/aws/template.yaml
ASL=deploy/aws/statemachine.asl.json
W=${TMPDIR:-/tmp}/aws_template.$$
mkdir -p "$W"
MOTO_PID=
cleanup() { [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for t in cfn-lint aws moto_server python3; do
  command -v $t >/dev/null || { echo "skip: $t not installed (pip: cfn-lint, awscli, moto[server])"; exit 77; }
done

# 1. cfn-lint, and the template's copy of the definition.
cfn-lint "$T" || fail "cfn-lint reports problems in $T"
scripts/aws-template-sync.py --check || fail "template/ASL out of sync"
echo "ok: cfn-lint clean; template embeds the ASL"

# 2. Least privilege: no managed *FullAccess policies, no Action "*" / "service:*".
if grep -nE 'FullAccess|Action: *"?\*"?$|Action: *\[ *"?\*"? *\]|- *"?[a-z0-9]+:\*"?$|Action: *"?[a-z0-9]+:\*"?$' "$T"; then
  fail "template grants a wildcard action or a *FullAccess policy"
fi
python3 - "$T" <<'EOF' || fail "IAM policy check"
import sys
from cfnlint.decode import decode
tpl, matches = decode(sys.argv[1])
assert not matches, matches
n = 0
for name, res in tpl["Resources"].items():
    if res["Type"] != "AWS::IAM::Role":
        continue
    assert "ManagedPolicyArns" not in res["Properties"], name + ": managed policies are too broad"
    for pol in res["Properties"]["Policies"]:
        for st in pol["PolicyDocument"]["Statement"]:
            acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            for a in acts:
                assert a != "*" and not a.endswith(":*"), "%s: wildcard action %s" % (name, a)
            res_ = st["Resource"]
            if res_ == "*":  # only the CloudWatch log-delivery actions, which have no resource-level ARNs
                assert all(a.startswith("logs:") and ("Deliver" in a or "ResourcePolic" in a or a == "logs:DescribeLogGroups")
                           for a in acts), "%s: Resource * on %s" % (name, acts)
            n += 1
assert n >= 12, "expected the per-function statements, found %d" % n
print("ok: %d IAM statements, none with a wildcard action" % n)
EOF

# 2b. The deployer policy in docs/aws.md (what the person running `cai aws` needs), parsed and checked.
python3 - docs/aws.md "$T" <<'EOF' || fail "deployer policy in docs/aws.md"
import json, re, sys
from cfnlint.decode import decode
doc = open(sys.argv[1]).read()
sec = doc[doc.index("### What the deployer needs"):]
pol = json.loads(re.search(r"```json\n(.*?)\n```", sec, re.S).group(1))
allowed = {}
for st in pol["Statement"]:
    assert st["Effect"] == "Allow", st
    acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
    res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
    for a in acts:
        assert a != "*" and not a.endswith(":*"), "wildcard action " + a
        if "*" in res:
            assert a in ("lambda:GetAccountSettings", "cloudformation:ValidateTemplate"), "Resource * for " + a
        if a == "iam:PassRole":
            svc = st["Condition"]["StringEquals"]["iam:PassedToService"]
            assert sorted(svc) == ["lambda.amazonaws.com", "states.amazonaws.com"], svc
        allowed.setdefault(a, []).extend(res)
# What `cai aws` calls (src/cli/cmd_aws.c, src/engine/aws.c) and what the template's resources need.
need = ["cloudformation:DescribeStacks", "cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet",
        "cloudformation:DescribeChangeSet", "cloudformation:DescribeStackResources", "cloudformation:GetTemplateSummary",
        "lambda:GetAccountSettings", "states:StartExecution", "states:DescribeExecution", "states:ListMapRuns",
        "states:DescribeMapRun", "logs:FilterLogEvents", "s3:GetObject", "s3:PutObject", "s3:ListBucket",
        "iam:PassRole", "iam:CreateRole", "iam:PutRolePolicy"]
tpl, _ = decode(sys.argv[2])
types = {r["Type"] for r in tpl["Resources"].values()}
for t in types:
    need += {"AWS::Lambda::Function": ["lambda:CreateFunction", "lambda:UpdateFunctionCode",
                                       "lambda:UpdateFunctionConfiguration", "lambda:PutFunctionConcurrency"],
             "AWS::StepFunctions::StateMachine": ["states:CreateStateMachine", "states:UpdateStateMachine"],
             "AWS::Logs::LogGroup": ["logs:CreateLogGroup", "logs:PutRetentionPolicy"],
             "AWS::IAM::Role": ["iam:CreateRole", "iam:PutRolePolicy"]}[t]
missing = sorted(set(a for a in need if a not in allowed))
assert not missing, "the deployer policy lacks " + ", ".join(missing)
print("ok: deployer policy: %d statements, no wildcard action, PassRole only to Lambda/Step Functions, covers %d needed actions"
      % (len(pol["Statement"]), len(set(need))))
EOF

# 3. asl-validator on the definition with sample substitutions, and a mutation it must catch.
subst() {
  sed -e 's/\${MaxConcurrency}/1000/; s/\${ToleratedFailurePercentage}/5.0/; s/\${AWS::Partition}/aws/g' \
      -e 's/\${InitializeFunctionArn}/arn:aws:lambda:us-east-1:123456789012:function:cai-test-initialize/' \
      -e 's/\${WorkerFunctionArn}/arn:aws:lambda:us-east-1:123456789012:function:cai-test-worker/' \
      -e 's/\${SummarizeFunctionArn}/arn:aws:lambda:us-east-1:123456789012:function:cai-test-summarize/' \
      -e 's/\${ResultBucket}/cai-results/; s/\${ResultPrefix}/results\//' "$ASL"
}
subst > "$W/sm.json"
grep -q '\${' "$W/sm.json" && fail "unsubstituted placeholder left in the ASL: $(grep -o '\${[A-Za-z]*}' "$W/sm.json" | head -1)"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$W/sm.json" || fail "ASL is not JSON after substitution"
NODE_DIR=${CAI_NODE_DIR:-build/node}
V=$NODE_DIR/node_modules/.bin/asl-validator
if [ ! -x "$V" ]; then
  command -v npm >/dev/null || { echo "skip: npm not installed, cannot get asl-validator@4"; exit 77; }
  npm install --silent --prefix "$NODE_DIR" asl-validator@4 >"$W/npm.log" 2>&1 ||
    { tail -5 "$W/npm.log"; echo "skip: npm install asl-validator@4 failed (no registry access?)"; exit 77; }
fi
"$V" --json-definition "$(cat "$W/sm.json")" || fail "asl-validator rejects the state machine"
sed 's/"Next": "Summarize"/"Next": "Bogus"/' "$W/sm.json" > "$W/bogus.json"
cmp -s "$W/sm.json" "$W/bogus.json" && fail "mutation did not apply"
if "$V" --json-definition "$(cat "$W/bogus.json")" > "$W/bogus.out" 2>&1; then
  fail "asl-validator accepted a Map whose Next is Bogus"
fi
grep -q "Bogus" "$W/bogus.out" || fail "asl-validator's complaint does not name the bogus target: $(cat "$W/bogus.out")"
python3 -c "
import json,sys; d=json.load(open(sys.argv[1])); S=d['States']
for n in ('Done', 'Incomplete'): S[n] = {'Type': 'Pass', 'Next': 'Check'}
json.dump(d,open(sys.argv[2],'w'))" \
  "$W/sm.json" "$W/noend.json"
"$V" --json-definition "$(cat "$W/noend.json")" >/dev/null 2>&1 && fail "asl-validator accepted a machine with no terminal state"
echo "ok: asl-validator accepts the definition and rejects the mutations"

# 3b. What a real account needs of the definition and the template (issue 10): the partition is never
# hard-coded (aws-cn, aws-us-gov); every Lambda task retries Lambda.ClientExecutionTimeoutException with the
# other Lambda service errors; the state machine retries only the retryable error classes (CAI.Network,
# CAI.S3Transient), never the permanent CAI.S3 or a bad payload; the Map has a Catch to Summarize; Summarize's
# answer is checked (Incomplete is a Fail state with CAI.Incomplete); a resume input skips Initialize.
python3 - "$ASL" "$T" <<'EOF' || fail "definition/template rules"
import json, re, sys
asl_text, tpl_text = open(sys.argv[1]).read(), open(sys.argv[2]).read()
assert "arn:aws:" not in asl_text and "arn:aws:" not in tpl_text, "hard-coded arn:aws: partition"
d = json.loads(re.sub(r"\$\{(MaxConcurrency|ToleratedFailurePercentage)\}", "1", asl_text))
S = d["States"]
tasks = [S["Initialize"], S["Summarize"], S["Workers"]["ItemProcessor"]["States"]["Worker"]]
for t in tasks:
    errs = [e for r in t["Retry"] for e in r["ErrorEquals"]]
    assert "Lambda.ClientExecutionTimeoutException" in errs, t["Comment"]
    assert "CAI.S3" not in errs and "States.ALL" not in errs and "CAI.BadPayload" not in errs, errs
    assert {"CAI.Network", "CAI.S3Transient"} <= set(errs), errs
    assert t["Resource"].startswith("arn:${AWS::Partition}:states:::"), t["Resource"]
c = S["Workers"]["Catch"]
assert c[0]["ErrorEquals"] == ["States.ALL"] and c[0]["Next"] == "Summarize" and c[0]["ResultPath"] == "$.map", c
assert S["Summarize"]["Next"] == "Check" and S["Incomplete"]["Type"] == "Fail" and S["Incomplete"]["Error"] == "CAI.Incomplete"
assert S[d["StartAt"]]["Choices"][0]["Variable"] == "$.cai_resume", "resume entry"
print("ok: partition, Lambda retry list, retryable-only CAI retries, Map Catch -> Summarize -> Check")
EOF
python3 - "$T" <<'EOF' || fail "safe defaults"
import sys
from cfnlint.decode import decode
tpl, _ = decode(sys.argv[1])
P = tpl["Parameters"]
assert int(P["MemorySize"]["Default"]) <= 3008, "worker memory default must be what a new account accepts"
mc, rc = int(P["MaxConcurrency"]["Default"]), int(P["WorkerReservedConcurrency"]["Default"])
assert 0 < mc <= 100 and mc <= rc, (mc, rc)
w = tpl["Resources"]["WorkerFunction"]["Properties"]
assert "ReservedConcurrentExecutions" in w, "the worker needs ReservedConcurrentExecutions"
import re
src = open("src/cli/cmd_aws.c").read()
for macro, key in (("TPL_MAX_CONCURRENCY", "MaxConcurrency"), ("TPL_WORKER_RESERVED", "WorkerReservedConcurrency"),
                   ("TPL_MEMORY_MB", "MemorySize")):
    v = int(re.search(r"#define %s (\d+)" % macro, src).group(1))
    assert v == int(P[key]["Default"]), "cmd_aws.c's %s (%d) differs from the template's %s default" % (macro, v, key)
print("ok: defaults: MemorySize %s MB, MaxConcurrency %d, WorkerReservedConcurrency %d" % (P["MemorySize"]["Default"], mc, rc))
EOF

# 4. Deploy to moto_server.
PORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
moto_server -H 127.0.0.1 -p "$PORT" >"$W/moto.log" 2>&1 &
MOTO_PID=$!
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
E=(--endpoint-url "http://127.0.0.1:$PORT")
for i in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/moto-api/" >/dev/null && break; sleep 0.2; done
for b in cai-code cai-data cai-results; do aws "${E[@]}" s3 mb "s3://$b" >/dev/null; done
(cd "$W" && echo '#!/bin/sh' > bootstrap && zip -q pkg.zip bootstrap)
aws "${E[@]}" s3 cp "$W/pkg.zip" s3://cai-code/cai/cai-lambda.zip >/dev/null
aws "${E[@]}" cloudformation deploy --template-file "$T" --stack-name cai-ci --capabilities CAPABILITY_IAM \
  --parameter-overrides CodeBucket=cai-code DataBucket=cai-data DataPrefix=100MB/ ResultBucket=cai-results \
  ResultPrefix=results/ MemorySize=3008 ToleratedFailurePercentage=5.0 || fail "cloudformation deploy to moto"
aws "${E[@]}" cloudformation describe-stack-resources --stack-name cai-ci \
  --query 'StackResources[].[LogicalResourceId,ResourceStatus]' --output text > "$W/resources.txt"
for r in InitializeFunction WorkerFunction SummarizeFunction StateMachine StateMachineRole WorkerRole \
         InitializeRole SummarizeRole WorkerLogGroup InitializeLogGroup SummarizeLogGroup StateMachineLogGroup; do
  grep -qE "^$r\s+CREATE_COMPLETE" "$W/resources.txt" || fail "resource $r not created: $(cat "$W/resources.txt")"
done
cfg=$(aws "${E[@]}" lambda get-function-configuration --function-name cai-ci-worker \
      --query '[Runtime,Handler,MemorySize,Environment.Variables.CAI_STAGE]' --output text)
[ "$(echo $cfg)" = "provided.al2023 bootstrap 3008 worker" ] || fail "worker function configuration: $cfg"
ret=$(aws "${E[@]}" logs describe-log-groups --log-group-name-prefix /aws/lambda/cai-ci- \
      --query 'logGroups[].retentionInDays' --output text)
[ "$(echo $ret)" = "14 14 14" ] || fail "log retention: $ret"
echo "ok: deployed to moto: $(wc -l < "$W/resources.txt") resources"

# 5. The flow in moto. Its CloudFormation machines cannot execute (another backend), and moto 5.2 reads
# InputType JSON and CSV but not JSONL, and runs no Lambda code without Docker (an invocation echoes its
# payload): so create the same definition directly, with the item list as a JSON array, and check the
# states run in order and the Map reads every item from S3 and writes its results.
# Executing state machines is a separate moto backend: switched on now, after the deploy checks.
curl -sf -X POST "http://127.0.0.1:$PORT/moto-api/config" \
  -d '{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}' >/dev/null
sed 's/"InputType": "JSONL"/"InputType": "JSON"/' "$W/sm.json" > "$W/flow.json"
arn=$(aws "${E[@]}" stepfunctions create-state-machine --name cai-flow --definition "file://$W/flow.json" \
      --role-arn arn:aws:iam::123456789012:role/cai-flow --query stateMachineArn --output text)
python3 -c "import json; print(json.dumps([{'RANK': str(r), 'WORLD_SIZE': '3', 'DATA_PATH': '%d.pt' % (r+1)} for r in range(3)]))" > "$W/jobs.json"
aws "${E[@]}" s3 cp "$W/jobs.json" s3://cai-results/results/run1/jobs.json >/dev/null
ex=$(aws "${E[@]}" stepfunctions start-execution --state-machine-arn "$arn" --query executionArn --output text \
     --input '{"bucket":"cai-results","result_path":"results/run1","job_list":{"bucket":"cai-results","key":"results/run1/jobs.json"},"count":3}')
st=RUNNING
for i in $(seq 100); do
  st=$(aws "${E[@]}" stepfunctions describe-execution --execution-arn "$ex" --query status --output text)
  [ "$st" != RUNNING ] && break; sleep 0.3
done
[ "$st" = SUCCEEDED ] || fail "flow execution ended $st: $(aws "${E[@]}" stepfunctions describe-execution --execution-arn "$ex")"
aws "${E[@]}" stepfunctions get-execution-history --execution-arn "$ex" --query 'events[].type' --output text \
  | tr '\t' '\n' > "$W/history.txt"
for ev in MapRunStarted MapRunSucceeded; do grep -qx "$ev" "$W/history.txt" || fail "history lacks $ev"; done
[ "$(grep -cx TaskSucceeded "$W/history.txt")" -ge 2 ] || fail "expected Initialize and Summarize tasks in history"
aws "${E[@]}" s3 ls --recursive s3://cai-results/results/cai-map-runs/ | grep -q manifest.json ||
  fail "the Map's ResultWriter wrote no manifest"
echo "ok: flow executed in moto (Initialize -> Map over 3 S3 items -> Summarize)"

# 5b. The Map fails (its job list is not a list): the Catch still runs Summarize, with the Map's error under
# "map", and the execution ends (moto's Lambdas echo, so Summarize's answer has no "complete": Done).
# (moto 5.2 fails any start-execution after an execution that ran a Map: reset moto before each one)
runflow() { # INPUT FILE=KEY... -> prints the final status; leaves $W/h.txt (event types) and $W/h.json
  local x st i a inp=$1 up; shift
  curl -sf -X POST "http://127.0.0.1:$PORT/moto-api/reset" >/dev/null
  curl -sf -X POST "http://127.0.0.1:$PORT/moto-api/config" \
    -d '{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}' >/dev/null
  aws "${E[@]}" s3 mb s3://cai-results >/dev/null
  for up in "$@"; do aws "${E[@]}" s3 cp "${up%%=*}" "s3://cai-results/${up#*=}" >/dev/null; done
  a=$(aws "${E[@]}" stepfunctions create-state-machine --name cai-flow --definition "file://$W/flow.json" \
      --role-arn arn:aws:iam::123456789012:role/cai-flow --query stateMachineArn --output text)
  x=$(aws "${E[@]}" stepfunctions start-execution --state-machine-arn "$a" --query executionArn --output text --input "$inp")
  for i in $(seq 100); do
    st=$(aws "${E[@]}" stepfunctions describe-execution --execution-arn "$x" --query status --output text)
    [ "$st" != RUNNING ] && break; sleep 0.3
  done
  aws "${E[@]}" stepfunctions get-execution-history --execution-arn "$x" > "$W/h.json"
  python3 -c "import json,sys; print('\\n'.join(e['type'] for e in json.load(open(sys.argv[1]))['events']))" "$W/h.json" > "$W/h.txt"
  echo "$st"
}
echo '{"not": "a list"}' > "$W/notalist.json"
st=$(runflow '{"bucket":"cai-results","result_path":"results/run2","job_list":{"bucket":"cai-results","key":"results/run2/jobs.json"},"count":3}' \
     "$W/notalist.json=results/run2/jobs.json")
[ "$st" = SUCCEEDED ] || fail "Map failure: execution ended $st"
grep -qx MapStateFailed "$W/h.txt" || fail "the Map did not fail as arranged: $(tr '\n' ' ' < "$W/h.txt")"
python3 - "$W/h.json" <<'EOF' || fail "Summarize after the Map's failure"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
names = [e.get("stateEnteredEventDetails", {}).get("name") for e in ev if e["type"].endswith("StateEntered")]
assert names[-3:] == ["Summarize", "Check", "Done"], names
inp = json.loads([e for e in ev if e.get("stateEnteredEventDetails", {}).get("name") == "Summarize"][0]["stateEnteredEventDetails"]["input"])
assert "Error" in inp["map"], inp
EOF
echo "ok: the Map's Catch runs Summarize (with the Map's error) when the Map fails"

# 5c. A resume input (what `cai aws run --resume` starts) skips Initialize and maps over the resume job list.
echo '[{"RANK": "1", "WORLD_SIZE": "3", "DATA_PATH": "2.pt"}]' > "$W/resume.json"
st=$(runflow '{"bucket":"cai-results","result_path":"results/run1","file_limit":"3","cai_resume":{"job_list":{"bucket":"cai-results","key":"results/run1/jobs-resume.json"},"count":1}}' \
     "$W/resume.json=results/run1/jobs-resume.json")
[ "$st" = SUCCEEDED ] || fail "resume flow ended $st"
python3 - "$W/h.json" <<'EOF' || fail "resume flow"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
names = [e.get("stateEnteredEventDetails", {}).get("name") for e in ev if e["type"].endswith("StateEntered")]
assert "Initialize" not in names and names[:3] == ["Start", "Resume", "Workers"], names
assert sum(1 for e in ev if e["type"] == "MapIterationSucceeded") == 1 or \
       sum(1 for e in ev if e["type"] == "MapRunSucceeded") == 1, [e["type"] for e in ev]
EOF
echo "ok: a resume input skips Initialize and maps over the resume job list only"
echo "aws_template: all checks passed"
