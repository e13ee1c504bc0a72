#!/usr/bin/env bash
# The Lambda package runs with nothing from the host: build the zip (scripts/lambda-package.sh, weights
# bundled), unzip it into an otherwise empty root (plus a static busybox as /bin/sh, which provided.al2023
# has), and run `bootstrap` there under `env -i` + chroot against the Runtime API stand-in on loopback, with
# a local store inside the root: Initialize -> both ranks -> Summarize. Then measure the cold start
# (process start -> first `next` request received) several times. Needs root (chroot): skips otherwise.
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
scripts/lambda-package.sh --cai "$CAI" --weights "$W/weights.safetensors" -o "$W/cai-lambda.zip" | tee "$W/pkg.txt"
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
  env -i "${SAN_ENV[@]}" LAMBDA_TASK_ROOT=/var/task AWS_LAMBDA_RUNTIME_API="127.0.0.1:$(cat "$W/$name.port")" \
    CAI_STAGE="$stage" CAI_STORE=/store CAI_THREADS=2 "$CHROOT" "$R" /var/task/bootstrap --max-events "$max" \
    2>"$W/$name.err"
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
echo "ok: the package ran Initialize, 2 ranks and Summarize in an empty root (env -i, chroot)"

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
