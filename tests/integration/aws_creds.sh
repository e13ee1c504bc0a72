#!/usr/bin/env bash
# The AWS default credential chain (src/store/aws_creds.c), link by link, through `cai aws credentials` and the
# S3 store, with everything on this machine: the environment; AWS_PROFILE/default in the shared credentials
# and config files (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE), credential_process, an SSO profile, region;
# ECS/EKS container credentials (FULL_URI + token file, RELATIVE_URI) and EC2 IMDSv2 against
# tests/py/aws_creds_standin.py on loopback; expiry and refresh through real S3 requests (moto_server); the
# error that lists every link tried; `cai aws` handing the same profile and Region to the `aws` CLI.
set -euo pipefail
cd "$(dirname "$0")/../.."
CAI=$(cd "$(dirname "${CAI:-build/cai}")" && pwd)/$(basename "${CAI:-build/cai}")
command -v python3 >/dev/null || { echo "skip: python3 not found"; exit 77; }
W=$(mktemp -d "${TMPDIR:-/tmp}/aws_creds.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
H=$W/home
mkdir -p "$H/.aws"
# c [VAR=VALUE...]: `cai aws credentials` in a clean environment (only what is given, HOME=$H, IMDS off
# unless the case turns it on). Leaves $W/out and $W/rc.
c() {
  set +e
  env -i PATH="$PATH" HOME="$H" AWS_EC2_METADATA_DISABLED=true ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} "$@" \
    "$CAI" aws credentials > "$W/out" 2>&1
  echo $? > "$W/rc"
  set -e
}
ok() { [ "$(cat "$W/rc")" = 0 ] || fail "$1: exit $(cat "$W/rc"): $(cat "$W/out")"; grep -q -- "$2" "$W/out" || fail "$1: expected '$2' in: $(cat "$W/out")"; }
bad() { [ "$(cat "$W/rc")" != 0 ] || fail "$1: should fail: $(cat "$W/out")"; grep -q -- "$2" "$W/out" || fail "$1: expected '$2' in: $(cat "$W/out")"; }

# ---- 1. environment (with a session token), and half of it
c AWS_ACCESS_KEY_ID=AKIAENVIRONMENT00001 AWS_SECRET_ACCESS_KEY=s AWS_SESSION_TOKEN=t AWS_REGION=eu-central-1
ok env "credentials: environment (AWS_ACCESS_KEY_ID + AWS_SESSION_TOKEN)"
grep -q "access key:  AKIA...0001" "$W/out" && grep -q "temporary" "$W/out" && grep -q "region:      eu-central-1 (AWS_REGION)" "$W/out" ||
  fail "env: $(cat "$W/out")"
grep -q "AKIAENVIRONMENT" "$W/out" && fail "the key id must be masked"
c AWS_ACCESS_KEY_ID=AKIAENVIRONMENT00001
bad "half env" "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"

# ---- 2. nothing anywhere: the error names every link
c
bad none "no AWS credentials found. Tried: environment"
for l in "profile \"default\" in $H/.aws/credentials and $H/.aws/config" "container credentials" "EC2 instance metadata (AWS_EC2_METADATA_DISABLED=true)"; do
  grep -qF "$l" "$W/out" || fail "the error does not list '$l': $(cat "$W/out")"
done
echo "ok: environment link (session token), a half-set environment, and the error listing every link"

# ---- 3. profiles: default in ~/.aws/credentials; AWS_PROFILE with both files moved; region from config
printf '[default]\naws_access_key_id = AKIADEFAULTPROFILE01\naws_secret_access_key = x\n' > "$H/.aws/credentials"
c
ok default "credentials: profile \"default\" in $H/.aws/credentials"
mkdir -p "$W/cfg"
cat > "$W/cfg/credentials" <<'INI'
# comment
[default]
aws_access_key_id = AKIADEFAULTMOVED0001
aws_secret_access_key = v
[other]
aws_access_key_id = AKIAOTHER00000000001
aws_secret_access_key = y
[dev]
aws_access_key_id=AKIADEVPROFILE000001
aws_secret_access_key=z
aws_session_token = tok
INI
cat > "$W/cfg/config" <<'INI'
[default]
region = us-west-1
[profile dev]
region = eu-west-2
s3 =
  max_concurrent_requests = 20
[profile proc]
region = ap-south-1
credential_process = "CREDPROC" --profile "two words"
[profile procfail]
credential_process = false
[profile sso]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Admin
[profile cfgkeys]
aws_access_key_id = AKIACONFIGKEYS000001
aws_secret_access_key = w
INI
cat > "$W/cfg/credproc" <<'SH'
#!/bin/sh
[ "$1" = --profile ] && [ "$2" = "two words" ] || { echo "bad args: $*" >&2; exit 3; }
echo '{"Version": 1, "AccessKeyId": "ASIAPROCESS000000001", "SecretAccessKey": "p", "SessionToken": "st", "Expiration": "2099-01-01T00:00:00Z"}'
SH
chmod +x "$W/cfg/credproc"
sed -i "s|CREDPROC|$W/cfg/credproc|" "$W/cfg/config"
F=(AWS_SHARED_CREDENTIALS_FILE="$W/cfg/credentials" AWS_CONFIG_FILE="$W/cfg/config")
c "${F[@]}" AWS_PROFILE=dev
ok profile "credentials: profile \"dev\" in $W/cfg/credentials"
grep -q "region:      eu-west-2 (profile \"dev\" in $W/cfg/config)" "$W/out" && grep -q temporary "$W/out" || fail "profile dev: $(cat "$W/out")"
c "${F[@]}"
ok "default profile region" "region:      us-west-1 (profile \"default\""
c "${F[@]}" AWS_PROFILE=cfgkeys
ok "keys in the config file" "credentials: profile \"cfgkeys\" in $W/cfg/config"
c "${F[@]}" AWS_PROFILE=nope
bad "missing profile" "AWS_PROFILE=nope: no such profile"
c "${F[@]}" AWS_PROFILE=proc
ok credential_process "credentials: credential_process of profile \"proc\" in $W/cfg/config"
grep -q "ASIA...0001" "$W/out" && grep -q "expires:     2099-01-01T00:00:00" "$W/out" && grep -q "ap-south-1" "$W/out" || fail "credential_process: $(cat "$W/out")"
c "${F[@]}" AWS_PROFILE=procfail
bad "failing credential_process" "credential_process 'false' failed"
c "${F[@]}" AWS_PROFILE=sso
bad sso "aws configure export-credentials --profile sso --format process"
printf '[default]\naws_access_key_id = AKIA\nthis line is broken\n' > "$W/cfg/broken"
c AWS_SHARED_CREDENTIALS_FILE="$W/cfg/broken" AWS_CONFIG_FILE=/dev/null
bad "malformed file" "$W/cfg/broken line 3: expected key = value"
echo "ok: profile link: default, AWS_PROFILE, moved files, keys in config, credential_process, region, SSO hint, errors"

# ---- 4. container credentials and IMDSv2 against the stand-in
standin() { # NAME ARGS... -> sets PORT
  local name=$1 i; shift
  python3 tests/py/aws_creds_standin.py --port-file "$W/$name.port" "$@" &
  PIDS+=($!)
  for i in $(seq 100); do [ -s "$W/$name.port" ] && break; sleep 0.1; done
  [ -s "$W/$name.port" ] || fail "stand-in $name did not start"
  PORT=$(cat "$W/$name.port")
}
rm -f "$H/.aws/credentials"
standin ecs --token "Bearer eks-pod-token" --expires-in 3600
echo "Bearer eks-pod-token" > "$W/token"
c AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$PORT/creds" AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$W/token"
ok "container full uri" "credentials: container credentials (http://127.0.0.1:$PORT/creds)"
grep -q "expires:" "$W/out" || fail "container credentials carry an expiry"
c AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$PORT/creds" AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong
bad "container bad token" "HTTP 403"
c AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/creds CAI_AWS_CONTAINER_HOST="127.0.0.1:$PORT" AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer eks-pod-token"
ok "container relative uri" "credentials: container credentials (http://127.0.0.1:$PORT/creds)"
c AWS_CONTAINER_CREDENTIALS_FULL_URI="http://203.0.113.7/creds"
bad "container non-local http" "expected https://, or http:// to loopback"
standin imds --expires-in 3600
c AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$PORT"
ok imds "credentials: EC2 instance role cai-standin-role (http://127.0.0.1:$PORT)"
c AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:1"
bad "imds unreachable" "EC2 instance metadata at http://127.0.0.1:1"
echo "ok: container link (full URI + token file, relative URI, bad token, non-local http refused) and IMDSv2"

# ---- 5. expiry and refresh, through S3 requests: credentials that expire within 5 minutes are fetched again
# for each request; those good for an hour once per process. (moto without signature checks: any key.)
if command -v moto_server >/dev/null && command -v aws >/dev/null; then
  MP=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
  moto_server -H 127.0.0.1 -p "$MP" > "$W/moto.log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 50); do curl -sf "http://127.0.0.1:$MP/moto-api/" >/dev/null && break; sleep 0.2; done
  AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t aws --endpoint-url "http://127.0.0.1:$MP" --region us-east-1 s3 mb s3://cai-creds >/dev/null
  "$CAI" synth --galaxies 4 --seed 3 --format pt --galaxies-per-file 2 -o "$W/parts" -q >/dev/null
  AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t aws --endpoint-url "http://127.0.0.1:$MP" --region us-east-1 s3 cp --recursive "$W/parts" s3://cai-creds/parts >/dev/null
  echo '{"bucket": "cai-creds", "file_limit": "2", "batch_size": 8, "result_path": "r/1", "data_bucket": "cai-creds", "data_prefix": "parts", "world_size": 2}' > "$W/p.json"
  for exp in 120 3600; do
    standin "imds$exp" --expires-in $exp --count-file "$W/count$exp"
    set +e
    env -i PATH="$PATH" HOME="$H" AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$PORT" AWS_ENDPOINT_URL="http://127.0.0.1:$MP" \
      AWS_REGION=us-east-1 ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} "$CAI" initialize "$W/p.json" --store s3:// -q > "$W/init$exp.out" 2>&1
    rc=$?
    set -e
    [ $rc = 0 ] || fail "initialize over S3 with IMDS credentials: $(cat "$W/init$exp.out")"
  done
  n120=$(cat "$W/count120"); n3600=$(cat "$W/count3600")
  [ "$n3600" = 1 ] || fail "credentials good for an hour were fetched $n3600 times"
  [ "$n120" -ge 4 ] || fail "credentials expiring within 5 minutes were fetched only $n120 times over several requests"
  echo "ok: refresh: expiring credentials fetched $n120 times over one Initialize's S3 requests, long-lived ones once"
else
  echo "note: moto_server/aws not found: refresh through S3 not checked"
fi

# ---- 6. `cai aws` hands the same profile and Region to the aws CLI (a recording stand-in for it)
printf '#!/bin/sh\nprintf "%%s\\n" "$@" > "%s/argv"\necho "{}"\n' "$W" > "$W/fakeaws"
chmod +x "$W/fakeaws"
set +e
env -i PATH="$PATH" HOME="$H" "${F[@]}" CAI_AWS_CLI="$W/fakeaws" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
  "$CAI" aws logs --stack s --profile dev > "$W/out" 2>&1
set -e
tr '\n' ' ' < "$W/argv" | grep -q -- "--region eu-west-2 --profile dev" || fail "aws CLI argv: $(tr '\n' ' ' < "$W/argv")"
echo "ok: cai aws passes --profile and the profile's Region to the aws CLI"
echo "aws_creds: all checks passed"
