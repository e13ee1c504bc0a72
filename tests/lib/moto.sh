# moto.sh — sourced by integration tests: moto_server in signature-checking mode on loopback, an IAM user
# with an S3 policy and an access key, and (optionally) the fault-injecting proxy in front of it.
#   moto_start            start moto, create the user/key, export AWS_* so that every later client signs with it
#   moto_proxy_start      start tests/py/fault_proxy.py in front of moto; sets PROXY_URL (does not change AWS_*)
#   strict_s3_start       start tests/py/sigv4_s3.py (strict SigV4 like real S3, same key); sets STRICT_URL
# Both are killed on exit (trap). Skips (exit 77) when moto_server/aws/python3 are missing.
# Loopback only: works with no network and as root.

MOTO_DIR=""; MOTO_PID=""; PROXY_PID=""; STRICT_PID=""
_moto_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

moto_cleanup() {
  # (wait returns the killed child's 143: never let that become the script's status under set -e)
  if [ -n "$STRICT_PID" ]; then kill "$STRICT_PID" 2>/dev/null || true; wait "$STRICT_PID" 2>/dev/null || true; fi
  if [ -n "$PROXY_PID" ]; then kill "$PROXY_PID" 2>/dev/null || true; wait "$PROXY_PID" 2>/dev/null || true; fi
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
  PROXY_PID=""; MOTO_PID=""; STRICT_PID=""
  return 0
}
trap moto_cleanup EXIT
trap 'exit 130' INT TERM

_orphan_guard='import os, threading, time
_parent = os.getppid()
def _guard():
    while os.getppid() == _parent:
        time.sleep(1)
    os._exit(0)
threading.Thread(target=_guard, daemon=True).start()'

_free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
_wait_port() { # port, seconds
  python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
t = time.time()
while time.time() - t < limit:
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

moto_start() {
  for t in moto_server aws python3; do
    command -v "$t" >/dev/null || { echo "skip: $t not found (the pyenv python with moto/awscli must be on PATH)"; exit 77; }
  done
  MOTO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/moto.XXXXXX")
  # The real interpreter, not pyenv's shim: a shim's PID is not the server's, and killing it leaves
  # the server running.
  MOTO_PY=$(python3 -c 'import sys; print(sys.executable)')
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
  unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL_S3
  local port ok=0
  for _try in 1 2 3; do
    port=$(_free_port)
    # The first 3 requests skip auth: create-user, put-user-policy, create-access-key. Every later one
    # must be signed with the key they create. Readiness is probed with a bare TCP connect so that the
    # probe does not use up one of the 3.
    # (-c wrapper: exit when this shell dies, so a test killed by a timeout leaves no server behind)
    INITIAL_NO_AUTH_ACTION_COUNT=3 "$MOTO_PY" -c "$_orphan_guard
import sys; sys.argv = ['moto_server'] + sys.argv[1:]
from moto.server import main; main()" -H 127.0.0.1 -p "$port" >"$MOTO_DIR/moto.log" 2>&1 &
    MOTO_PID=$!
    if _wait_port "$port" 20; then ok=1; break; fi
    kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; MOTO_PID=""
  done
  [ $ok = 1 ] || { echo "moto_server did not start:"; cat "$MOTO_DIR/moto.log"; return 1; }
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  # moto 5.2 verifies signatures against werkzeug's re-quoted URL: '/' in a query value must be sent raw
  # there (real S3 wants %2F). cai's S3 store does that only when told (docs/s3.md).
  export CAI_S3_QUIRKS=moto
  local e=$AWS_ENDPOINT_URL
  AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap aws --endpoint-url "$e" iam create-user --user-name cai-test >/dev/null &&
  AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap aws --endpoint-url "$e" iam put-user-policy --user-name cai-test \
    --policy-name cai-s3 --policy-document \
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}' &&
  AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap aws --endpoint-url "$e" iam create-access-key \
    --user-name cai-test >"$MOTO_DIR/key.json" || { echo "creating the IAM user/key failed"; cat "$MOTO_DIR/moto.log"; return 1; }
  AWS_ACCESS_KEY_ID=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["AccessKey"]["AccessKeyId"])' "$MOTO_DIR/key.json")
  AWS_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["AccessKey"]["SecretAccessKey"])' "$MOTO_DIR/key.json")
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  # Auth is on from here: prove it (an unknown key must be refused) before trusting any later result.
  if AWS_ACCESS_KEY_ID=AKIANOTAREALKEY0000 aws --endpoint-url "$e" s3api list-buckets >/dev/null 2>&1; then
    echo "moto is not checking signatures (INITIAL_NO_AUTH_ACTION_COUNT ignored?)"; return 1
  fi
  echo "moto: $AWS_ENDPOINT_URL (signature checking on, key $AWS_ACCESS_KEY_ID)"
}

moto_proxy_start() {
  "$MOTO_PY" "$_moto_root/tests/py/fault_proxy.py" --upstream "$AWS_ENDPOINT_URL" --port-file "$MOTO_DIR/proxy.port" \
    2>"$MOTO_DIR/proxy.log" &
  PROXY_PID=$!
  for _i in $(seq 100); do [ -s "$MOTO_DIR/proxy.port" ] && break; sleep 0.1; done
  [ -s "$MOTO_DIR/proxy.port" ] || { echo "fault proxy did not start:"; cat "$MOTO_DIR/proxy.log"; return 1; }
  PROXY_URL="http://127.0.0.1:$(cat "$MOTO_DIR/proxy.port")"
  export PROXY_URL
  echo "fault proxy: $PROXY_URL -> $AWS_ENDPOINT_URL"
}

strict_s3_start() {
  "$MOTO_PY" "$_moto_root/tests/py/sigv4_s3.py" --key-id "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" \
    --port-file "$MOTO_DIR/strict.port" 2>"$MOTO_DIR/strict.log" &
  STRICT_PID=$!
  for _i in $(seq 100); do [ -s "$MOTO_DIR/strict.port" ] && break; sleep 0.1; done
  [ -s "$MOTO_DIR/strict.port" ] || { echo "strict SigV4 server did not start:"; cat "$MOTO_DIR/strict.log"; return 1; }
  STRICT_URL="http://127.0.0.1:$(cat "$MOTO_DIR/strict.port")"
  export STRICT_URL
  echo "strict SigV4 S3: $STRICT_URL"
}
