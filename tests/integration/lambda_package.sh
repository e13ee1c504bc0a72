#!/usr/bin/env bash
# The Lambda package runs with nothing from the host: build the zip (scripts/lambda-package.sh, weights
# bundled) under `umask 077`, check every file in it is world-readable, unzip it into an otherwise empty root
# (plus a static busybox as /bin/sh, which provided.al2023 has), and run `bootstrap` there under `env -i` +
# chroot, as a NON-ROOT user (as Lambda does), against the Runtime API stand-in on loopback:
#   - with a local store inside the root: Initialize -> both ranks -> Summarize;
#   - over HTTPS to S3: moto_server behind a self-signed CA (put where provided.al2023 keeps its bundle),
#     virtual-hosted-style addressing through a DNS name that only the root's /etc/hosts knows (so the bundled
#     glibc resolves it: NSS "files" is built into libc), with LD_DEBUG=libs showing every library, NSS and
#     OpenSSL modules included, loaded from the package;
# then measure the cold start (process start -> first `next` request received). Needs root (chroot).
# LAMBDA_BENCH_OUT=FILE appends the sizes and cold-start figures to FILE as Markdown.
set -euo pipefail
cd "$(dirname "$0")/../.."
CAI=${CAI:-build/cai}
[ "$(id -u)" = 0 ] || { echo "skip: chroot needs root (CI runs as root)"; exit 77; }
CHROOT=$(command -v chroot || true)
[ -n "$CHROOT" ] || { echo "skip: chroot not found"; exit 77; }
BUSYBOX=$(command -v busybox || true)
if [ -z "$BUSYBOX" ] || ! file -L "$BUSYBOX" | grep -q "statically linked"; then
  echo "skip: needs a static busybox for /bin/sh in the empty root (apt-get install busybox-static)"; exit 77
fi
for t in zip unzip ldd python3; do command -v $t >/dev/null || { echo "skip: $t not installed"; exit 77; }; done
W=$(mktemp -d "${TMPDIR:-/tmp}/lambda_package.XXXXXX")
PROC_MOUNTED=
cleanup() {
  [ -n "$PROC_MOUNTED" ] && umount "$W/root/proc" 2>/dev/null
  if mountpoint -q "$W/root/proc" 2>/dev/null; then echo "cannot unmount $W/root/proc; leaving $W" >&2; return; fi
  rm -rf --one-file-system "$W"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- package (weights bundled) and inspect
"$CAI" convert --init vit --seed 3 "$W/weights.safetensors" >/dev/null
# A builder with a strict umask: the package must not inherit it.
(umask 077 && scripts/lambda-package.sh --cai "$CAI" --weights "$W/weights.safetensors" -o "$W/cai-lambda.zip") | tee "$W/pkg.txt"
python3 - "$W/cai-lambda.zip" <<'EOF' || fail "file modes in the zip"
import stat, sys, zipfile
bad = []
for i in zipfile.ZipFile(sys.argv[1]).infolist():
    m = i.external_attr >> 16
    if not m & stat.S_IROTH: bad.append("%s %s (not world-readable)" % (stat.filemode(m), i.filename))
    if i.filename in ("bootstrap", "bin/cai") or i.filename.startswith("lib/ld-linux"):
        if not m & stat.S_IXOTH: bad.append("%s %s (not world-executable)" % (stat.filemode(m), i.filename))
assert not bad, "built with umask 077: " + "; ".join(bad[:5])
EOF
unzip -Z1 "$W/cai-lambda.zip" > "$W/list.txt"
for f in bootstrap bin/cai lib/ld-linux-x86-64.so.2 lib/libc.so.6 lib/libcurl.so.4 lib/libdnnl.so.2 weights.safetensors; do
  grep -qx "$f" "$W/list.txt" || fail "package lacks $f"
done
[ "$(unzip -Z "$W/cai-lambda.zip" bootstrap | cut -c1-10)" = "-rwxr-xr-x" ] || fail "bootstrap is not executable in the zip"
[ "$(unzip -p "$W/cai-lambda.zip" bootstrap | head -1)" = "#!/bin/sh" ] || fail "bootstrap must be a /bin/sh script"
zip_bytes=$(stat -c %s "$W/cai-lambda.zip")
unz_bytes=$(python3 -c "import sys,zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))" "$W/cai-lambda.zip")
[ "$unz_bytes" -lt 250000000 ] || fail "unzipped $unz_bytes bytes: over Lambda's 250 MB"

# ---- the empty root: /var/task = the package, /bin/sh = busybox, /tmp, /store = a local store
R=$W/root
mkdir -p "$R/var/task" "$R/bin" "$R/tmp" "$R/store"
unzip -q "$W/cai-lambda.zip" -d "$R/var/task"
cp "$BUSYBOX" "$R/bin/sh"
"$CAI" synth --galaxies 8 --seed 5 --format pt --galaxies-per-file 2 -o "$R/store/data/parts" -q >/dev/null
# Lambda's user owns nothing in /var/task; only /tmp (and here the store) are writable to it.
NOBODY=65534:65534
chmod 1777 "$R/tmp"
chown -R "$NOBODY" "$R/store"
[ "$(ls "$R" | tr '\n' ' ')" = "bin store tmp var " ] || fail "root is not empty: $(ls "$R")"
[ "$(ls "$R/bin")" = sh ] && [ "$(find "$R" -name 'ld.so.cache' -o -path "$R/usr*" -o -path "$R/lib*" | wc -l)" = 0 ] ||
  fail "root holds more than the package, /bin/sh and the store"

# A sanitizer build (make test) reads ASAN_OPTIONS from /proc/self/environ and its leak checker walks
# /proc: give the root a fresh procfs (kernel state, no files from the host's disk) and turn leak checking
# off (lambda_runtime.sh checks leaks). A release build runs with no /proc at all.
SAN_ENV=()
case "$(ldd "$CAI")" in
  *libasan*)
    SAN_ENV=(ASAN_OPTIONS=detect_leaks=0)
    mkdir -p "$R/proc"
    mount -t proc proc "$R/proc" 2>/dev/null ||
      { echo "skip: a sanitizer build needs /proc in the chroot and mount -t proc failed (use a release build)"; exit 77; }
    PROC_MOUNTED=1 ;;
esac
STANDIN=tests/py/lambda_runtime_standin.py
EXTRA_ENV=()
# run_pkg NAME EVENTS STAGE [MAX]: bootstrap in the root, env -i. Sets $W/NAME.{rec.json,err,rc,t0}.
run_pkg() {
  local name=$1 events=$2 stage=$3 max=${4:-1} i
  rm -f "$W/$name.port"
  python3 "$STANDIN" --events "$events" --record "$W/$name.rec.json" --port-file "$W/$name.port" --timeout 600 &
  local sp=$!
  for i in $(seq 100); do [ -s "$W/$name.port" ] && break; sleep 0.1; done
  [ -s "$W/$name.port" ] || fail "stand-in did not start"
  set +e
  python3 -c 'import time; print(repr(time.time()))' > "$W/$name.t0"
  env -i "${SAN_ENV[@]}" "${EXTRA_ENV[@]}" LAMBDA_TASK_ROOT=/var/task AWS_LAMBDA_RUNTIME_API="127.0.0.1:$(cat "$W/$name.port")" \
    CAI_STAGE="$stage" CAI_STORE="${STORE_URL:-/store}" CAI_THREADS=2 "$CHROOT" --userspec="$NOBODY" "$R" /var/task/bootstrap \
    --max-events "$max" 2>"$W/$name.err"
  echo $? > "$W/$name.rc"
  set -e
  wait $sp || fail "stand-in failed"
  [ "$(cat "$W/$name.rc")" = 0 ] || { cat "$W/$name.err" >&2; fail "$name: bootstrap exited $(cat "$W/$name.rc")"; }
}

# ---- the pipeline inside the root
cat > "$W/ev-init.json" <<'EOF'
[{"id": "i1", "event": {"bucket": "results", "file_limit": "4", "batch_size": 8, "result_path": "pkg/1",
  "data_bucket": "data", "data_prefix": "parts", "world_size": 2}}]
EOF
run_pkg init "$W/ev-init.json" initialize
python3 - "$W" <<'EOF'
import json, sys
W = sys.argv[1]
r = json.load(open(W + "/init.rec.json"))
a = r["responses"]["i1"]
assert a["count"] == 2, r
jobs = [json.loads(l) for l in open(W + "/root/store/results/pkg/1/jobs.jsonl")]
json.dump([{"id": "w%d" % i, "event": j} for i, j in enumerate(jobs)], open(W + "/ev-w.json", "w"))
json.dump([{"id": "s1", "event": a}], open(W + "/ev-s.json", "w"))
EOF
run_pkg worker "$W/ev-w.json" worker 2
run_pkg sum "$W/ev-s.json" summarize
python3 - "$W" <<'EOF' || fail "pipeline inside the root"
import json, sys
W = sys.argv[1]
for n in ("worker", "sum"):
    r = json.load(open(W + "/%s.rec.json" % n))
    assert not r["errors"] and not r["protocol_errors"] and not r["unanswered"], r
rw = json.load(open(W + "/worker.rec.json"))["responses"]
assert rw["w0"]["galaxies"] == 4 and rw["w1"]["galaxies"] == 4, rw
c = json.load(open(W + "/root/store/results/pkg/1/combined_data.json"))
assert len(c) == 2, c
EOF
grep -q "weights loaded from /var/task/weights.safetensors" "$W/worker.err" || fail "bundled weights not used: $(cat "$W/worker.err")"
echo "ok: the package ran Initialize, 2 ranks and Summarize in an empty root (env -i, chroot, as uid 65534)"

# ---- the same over HTTPS to S3 (moto_server behind a self-signed CA), virtual-hosted-style addressing
if command -v moto_server >/dev/null && command -v aws >/dev/null && command -v openssl >/dev/null; then
  T=$W/tls
  mkdir -p "$T"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.crt" -days 2 -subj "/CN=CAI test CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" -subj "/CN=s3.cai.test" 2>/dev/null
  printf 'subjectAltName=DNS:s3.cai.test,DNS:*.s3.cai.test,IP:127.0.0.1\n' > "$T/ext.cnf"
  openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial -out "$T/srv.crt" -days 2 \
    -extfile "$T/ext.cnf" 2>/dev/null
  MPORT=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
  moto_server -H 127.0.0.1 -p "$MPORT" -c "$T/srv.crt" -k "$T/srv.key" > "$T/moto.log" 2>&1 &
  MOTO_PID=$!
  trap 'kill $MOTO_PID 2>/dev/null; wait $MOTO_PID 2>/dev/null; cleanup' EXIT
  A=(env AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_CA_BUNDLE="$T/ca.crt" aws --endpoint-url "https://127.0.0.1:$MPORT" --region us-east-1)
  for i in $(seq 50); do "${A[@]}" s3 ls >/dev/null 2>&1 && break; sleep 0.2; done
  "${A[@]}" s3 mb s3://cai-pkg >/dev/null
  "${A[@]}" s3 cp --recursive "$R/store/data/parts" s3://cai-pkg/parts >/dev/null
  # What provided.al2023 has and the package does not bring: its CA bundle (here: the test CA) at the path
  # bootstrap looks for, /etc/hosts, /etc/nsswitch.conf (with a module, myhostname, that nobody provides).
  mkdir -p "$R/etc/pki/tls/certs"
  cp "$T/ca.crt" "$R/etc/pki/tls/certs/ca-bundle.crt"
  printf '127.0.0.1 localhost\n127.0.0.1 s3.cai.test cai-pkg.s3.cai.test\n' > "$R/etc/hosts"
  printf 'hosts: files dns myhostname\n' > "$R/etc/nsswitch.conf"
  getent hosts cai-pkg.s3.cai.test >/dev/null && fail "the host itself resolves cai-pkg.s3.cai.test: the test would not prove the package's resolver"
  EXTRA_ENV=(AWS_ACCESS_KEY_ID=ASIATESTLAMBDA000001 AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=lambda-session-token
             AWS_REGION=us-east-1 AWS_ENDPOINT_URL="https://s3.cai.test:$MPORT" CAI_S3_ADDRESSING=virtual
             CAI_S3_VERBOSE=1 LD_DEBUG=libs)
  STORE_URL=s3://
  cat > "$W/ev-init-s3.json" <<'EOF'
[{"id": "i1", "event": {"bucket": "cai-pkg", "file_limit": "4", "batch_size": 8, "result_path": "https/1",
  "data_bucket": "cai-pkg", "data_prefix": "parts", "world_size": 2}}]
EOF
  run_pkg s3init "$W/ev-init-s3.json" initialize
  "${A[@]}" s3 cp s3://cai-pkg/https/1/jobs.jsonl "$W/jobs-s3.jsonl" >/dev/null || fail "Initialize over HTTPS wrote no jobs.jsonl"
  python3 - "$W" <<'EOF'
import json, sys
W = sys.argv[1]
a = json.load(open(W + "/s3init.rec.json"))["responses"]["i1"]
jobs = [json.loads(l) for l in open(W + "/jobs-s3.jsonl")]
json.dump([{"id": "w%d" % i, "event": j} for i, j in enumerate(jobs)], open(W + "/ev-w-s3.json", "w"))
json.dump([{"id": "s1", "event": a}], open(W + "/ev-s-s3.json", "w"))
EOF
  run_pkg s3worker "$W/ev-w-s3.json" worker 2
  run_pkg s3sum "$W/ev-s-s3.json" summarize
  "${A[@]}" s3 cp s3://cai-pkg/https/1/summary.json "$W/summary-s3.json" >/dev/null || fail "no summary.json over HTTPS"
  python3 - "$W" <<'EOF' || fail "pipeline over HTTPS"
import json, sys
W = sys.argv[1]
for n in ("s3init", "s3worker", "s3sum"):
    r = json.load(open(W + "/%s.rec.json" % n))
    assert not r["errors"] and not r["protocol_errors"] and not r["unanswered"], (n, r)
s = json.load(open(W + "/summary-s3.json"))
assert s["complete"] is True and s["galaxies"] == 8, s
EOF
  # Virtual-hosted requests over TLS to the name only the root's /etc/hosts knows, GETs and PUTs:
  grep -q "SSL connection using TLS" "$W/s3worker.err" || fail "no TLS in the worker's S3 log"
  grep -q "Connected to cai-pkg.s3.cai.test (127.0.0.1)" "$W/s3worker.err" || fail "not virtual-hosted via /etc/hosts: $(grep -m3 Connected "$W/s3worker.err")"
  grep -q "> GET /parts/" "$W/s3worker.err" && grep -q "> PUT /https/1/" "$W/s3worker.err" || fail "no GET of a partition and PUT of a result over HTTPS"
  # Every library the loader mapped (libc's NSS, OpenSSL's modules included) came from the package. (The
  # host's `chroot` prints its own libraries first, before it execs the root's /bin/sh: skip up to the
  # bundled loader's first line.)
  for f in "$W"/s3*.err; do awk '/\/var\/task\/lib\//{on=1} on' "$f"; done | grep "calling init: " |
    sed 's/.*calling init: //' | sort -u > "$W/libs.txt"
  [ -s "$W/libs.txt" ] || fail "LD_DEBUG=libs printed nothing"
  if grep -v "^/var/task/lib/" "$W/libs.txt"; then fail "libraries loaded from outside the package (above)"; fi
  if grep -h "cannot open shared object" "$W"/s3*.err | grep -v myhostname; then fail "a library failed to load"; fi
  echo "ok: over HTTPS (self-signed CA at the image's bundle path, virtual-hosted, /etc/hosts): Initialize, 2 ranks, Summarize as uid 65534; $(wc -l < "$W/libs.txt") libraries, all from /var/task/lib"
  EXTRA_ENV=()
  unset STORE_URL
  kill $MOTO_PID 2>/dev/null; wait $MOTO_PID 2>/dev/null || true
  trap cleanup EXIT
else
  echo "note: moto_server/aws/openssl not found: HTTPS from the package not checked"
fi

# ---- cold start: process start -> first `next` request, echo stage and worker stage (loads the weights)
echo '[{"id": "c", "event": {}}]' > "$W/ev-c.json"
cold() { # STAGE N -> prints the N times in ms
  for i in $(seq "$2"); do
    run_pkg "cold$i" "$W/ev-c.json" "$1" >/dev/null
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('%.0f' % ((r['next_times'][0]-float(open(sys.argv[2]).read()))*1000))" \
      "$W/cold$i.rec.json" "$W/cold$i.t0"
  done | tr '\n' ' '
}
sed -i 's/"event": {}/"event": {"probe": 1}/' "$W/ev-c.json"
echo_ms=$(cold echo 5)
# CAI_STAGE=worker loads the weights before asking for the first event (the probe then fails: not a job).
worker_ms=$(cold worker 5)
echo "package: zip $zip_bytes bytes, unzipped $unz_bytes bytes"
echo "cold start, echo stage (ms): $echo_ms"
echo "cold start, worker stage incl. weights load (ms): $worker_ms"
if [ -n "${LAMBDA_BENCH_OUT:-}" ]; then
  {
    echo "- zip: $zip_bytes bytes; unzipped: $unz_bytes bytes (weights included: $(stat -c %s "$W/weights.safetensors") bytes)"
    echo "- cold start, process start -> first \`next\` (echo stage), 5 runs, ms: $echo_ms"
    echo "- cold start incl. loading the weights (worker stage), 5 runs, ms: $worker_ms"
  } >> "$LAMBDA_BENCH_OUT"
fi
echo "lambda_package: all checks passed"
