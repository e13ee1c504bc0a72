#!/usr/bin/env bash
# cli_precision.sh — one precision parser for every entry point: `cai predict --precision INT8` (and auto, any case) is
# accepted as a payload's "INT8" is (before, predict refused what a payload accepted), and a bad name is refused by
# predict, run, worker and bench alike with the same message naming the flag.
set -euo pipefail
: "${CAI:?}" "${TMPDIR:?}"
die() { echo "cli_precision: FAIL: $*" >&2; exit 1; }
W=$(mktemp -d "$TMPDIR/prec.XXXX")
cd "$W"
"$CAI" convert --init vit --seed 3 w.safetensors >/dev/null || die "cai convert --init"
"$CAI" synth --galaxies 8 --seed 1 -o d -q >/dev/null || die "cai synth"
in=$(ls d/*.safetensors | head -1)
for p in fp32 FP32 Float32 int8 INT8 Int8 auto AUTO; do
  "$CAI" predict --weights w.safetensors "$in" -o "out-$p.csv" --precision "$p" -q --threads 1 \
    || die "cai predict --precision $p was refused"
  [ "$(wc -l < "out-$p.csv")" = 9 ] || die "--precision $p: expected 8 predictions"
done
cmp -s out-fp32.csv out-FP32.csv && cmp -s out-int8.csv out-INT8.csv || die "case changed the predictions"
for cmd in predict run worker bench; do
  set +e
  msg=$("$CAI" "$cmd" --precision fp16 x 2>&1 >/dev/null); rc=$?
  set -e
  [ $rc = 2 ] || die "cai $cmd --precision fp16: exit $rc, expected 2"
  [[ "$msg" == *"cai $cmd: --precision: expected auto, fp32 or int8"*"got \"fp16\""* ]] || die "cai $cmd: message: $msg"
done
# auto = int8 only where the CPU has VNNI *and* oneDNN may use it: capped below its VNNI kernels
# (ONEDNN_MAX_CPU_ISA=AVX2), int8 would run at AVX2 speed, slower than fp32, so auto must say fp32.
auto_says() { env "$@" "$CAI" predict --weights w.safetensors "$in" -o /dev/null --threads 1 2>&1 | grep -o '[a-z0-9]* (auto)'; }
[ "$(auto_says ONEDNN_MAX_CPU_ISA=AVX2)" = "fp32 (auto)" ] || die "auto under ONEDNN_MAX_CPU_ISA=AVX2: $(auto_says ONEDNN_MAX_CPU_ISA=AVX2)"
if grep -qw -e avx512_vnni -e avx_vnni /proc/cpuinfo; then
  [ "$(auto_says CAI_NOTHING=1)" = "int8 (auto)" ] || die "auto on a VNNI CPU: $(auto_says CAI_NOTHING=1)"
fi
echo "cli_precision: ok"
