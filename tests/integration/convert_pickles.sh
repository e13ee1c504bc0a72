#!/usr/bin/env bash
# convert_pickles: the restricted ZIP+pickle reader against files written by real torch (tests/py/make_pickles.py).
#
#   1. Seed partitions: torch writes part.pt (also re-zipped with deflate, and as non-contiguous views); the
#      C reader parses each and cai_seedpt_write writes it back; torch.load of the C-written file must give
#      identical tensors (so C read the values right, and wrote a file torch reads).
#   2. Bad partitions (wrong class, 2 tensors, float32 magnitudes, 64x64 images, N mismatch, no tensors,
#      legacy non-ZIP format): each refused with a message naming the file and saying expected vs got.
#   3. A malicious pickle (os.system via __reduce__, bare and nested in a state_dict): refused as a
#      forbidden global by both `cai convert` and the partition reader, and the command never runs.
#   4. A small module tree under the seed's module names, saved as torch.save(nn.DataParallel(m)):
#      `cai convert` gives exactly m.state_dict() (names in order, dtypes, shapes, values, including a shared
#      submodule, a None bias, a non-persistent buffer, non-contiguous and offset parameters) and reads the
#      non-default hyper-parameters into __metadata__; plain state_dicts (with/without "module.") too; blocks
#      that disagree on a hyper-parameter are refused.
#   5. `cai convert --init vit|vitae` is deterministic and loadable.
# The full AstroMAE checkpoints (both variants) go through `cai convert` in golden_model.sh.
# Env: CAI, CAI_BUILD, TORCH_PY.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PY=${TORCH_PY:-/usr/bin/python3}
CAI=${CAI:-$root/build/cai}
b=${CAI_BUILD:-build}
case "$b" in /*) ;; *) b=$root/$b ;; esac
SEEDPT=$b/tests/test_seedpt
"$PY" -c 'import torch' 2>/dev/null || { echo "skip: $PY cannot import torch (set TORCH_PY)"; exit 77; }
[ -x "$CAI" ] || { echo "convert_pickles: no cai binary at $CAI"; exit 1; }
[ -x "$SEEDPT" ] || { echo "convert_pickles: no test_seedpt at $SEEDPT"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pickles.XXXXXX")
trap 'rm -rf "$work"' EXIT
mp="$root/tests/py/make_pickles.py"
marker="$work/PWNED"
failures=()
fail() { echo "FAIL: $*"; failures+=("$*"); }

"$PY" "$mp" all "$work" "$marker" || { echo "make_pickles.py failed"; exit 1; }
[ -e "$marker" ] && { echo "marker exists before the test: the generator ran the payload"; exit 1; }

echo "== 1. partitions: torch -> C parse -> C write -> torch"
for f in part part_deflate part_view; do
  out=$(CAI_SEEDPT_IN="$work/$f.pt" CAI_SEEDPT_OUT="$work/c_$f.pt" "$SEEDPT" 2>&1) || { fail "$f: C reader: $out"; continue; }
  echo "$f: $out"
  "$PY" "$mp" same-partition "$work/part.pt" "$work/c_$f.pt" || fail "$f: C-written file differs from torch's"
done
# The C writer mirrors torch's own bytes for the pickle: same data.pkl CRC as torch's file.
crc() { "$PY" -c 'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); print([i.CRC for i in z.infolist() if i.filename.endswith("/data.pkl")][0])' "$1"; }
[ "$(crc "$work/part.pt")" = "$(crc "$work/c_part.pt")" ] || fail "C-written data.pkl differs from torch's"

echo "== 2. bad partitions"
expect_refused() { # file, message fragment...
  local f=$1; shift
  local out
  if out=$(CAI_SEEDPT_IN="$work/$f" "$SEEDPT" 2>&1); then fail "$f accepted: $out"; return; fi
  for frag in "$f" "$@"; do
    [[ "$out" == *"$frag"* ]] || fail "$f: message lacks \"$frag\": $out"
  done
  echo "$f: $out"
}
expect_refused bad_class.pt "expected a torch.utils.data.dataset.TensorDataset, got list"
expect_refused bad_count.pt "expected 3 tensors" "got 2"
expect_refused bad_dtype.pt "magnitude" "expected float64 (N,5), got float32 (37,5)"
expect_refused bad_shape.pt "image" "expected float32 (N,5,32,32), got float32 (37,5,64,64)"
expect_refused bad_n.pt "disagree on N" "redshift 36"
expect_refused bad_empty.pt "no 'tensors'"
expect_refused legacy.pt "legacy"
head -c 100000 "$work/part.pt" > "$work/truncated.pt"
expect_refused truncated.pt "truncated"

echo "== 3. malicious pickles"
for f in evil evil_nested; do
  out=$("$CAI" convert "$work/$f.pt" "$work/$f.safetensors" 2>&1); rc=$?
  [ $rc -ne 0 ] || fail "$f: cai convert accepted it"
  [[ "$out" == *"global \"posix system\" is not allowed"* || "$out" == *"global \"os system\" is not allowed"* ]] ||
    fail "$f: not refused as a forbidden global: $out"
  [ -e "$work/$f.safetensors" ] && fail "$f: output written"
  echo "$f: $out"
  expect_refused "$f.pt" "is not allowed"
done
[ -e "$marker" ] && fail "the malicious payload ran (marker file created)"

echo "== 4. module tree -> safetensors"
if "$CAI" convert --no-check "$work/tree.pt" "$work/tree.safetensors"; then
  "$PY" "$mp" compare-st "$work/tree.safetensors" "$work/tree_sd.pt" variant=vitae cai.format=astromae-weights/1 \
    source=tree.pt embed_dim=8 depth=2 patch_size=4 ln_eps=2e-06 fc_norm_eps=3e-06 num_heads=2 attn_scale=0.3 \
    bn_eps=2e-05 pcm_bn_eps=0.001 pcm_kernel=3 pcm_groups=4 pcm_padding=1 class_token=false ||
    fail "tree.pt: converted tensors/metadata differ from torch's state_dict"
else
  fail "tree.pt: cai convert --no-check failed"
fi
for f in tree_sd tree_dp_sd; do
  if "$CAI" convert --no-check "$work/$f.pt" "$work/$f.safetensors"; then
    "$PY" "$mp" compare-st "$work/$f.safetensors" "$work/tree_sd.pt" pcm_kernel=3 pcm_groups=4 pcm_padding=1 ||
      fail "$f: converted state_dict differs"
  else
    fail "$f: cai convert --no-check failed"
  fi
done
out=$("$CAI" convert --no-check "$work/tree_disagree.pt" "$work/dis.safetensors" 2>&1) && fail "tree_disagree accepted"
[[ "$out" == *"disagree on eps"* ]] || fail "tree_disagree: unexpected message: $out"
echo "tree_disagree: $out"
# Without --no-check the AstroMAE loader validates: the tiny tree is not AstroMAE, and nothing is left behind.
"$CAI" convert "$work/tree.pt" "$work/tree2.safetensors" >/dev/null 2>&1 && fail "tiny tree passed the AstroMAE check"
[ -e "$work/tree2.safetensors" ] && fail "rejected conversion left its output behind"
out=$("$CAI" convert "$work/part.pt" "$work/x.safetensors" 2>&1) && fail "a partition converted as a model"
echo "partition as a model: $out"
"$CAI" convert "$work/nonexistent.pt" "$work/x.safetensors" 2>/dev/null && fail "missing file accepted"
head -c 5000 /dev/urandom > "$work/noise.pt"
out=$("$CAI" convert "$work/noise.pt" "$work/x.safetensors" 2>&1) && fail "noise accepted"
[[ "$out" == *"noise.pt: not a ZIP archive"* ]] || fail "noise: unexpected message: $out"

echo "== 5. --init: deterministic untrained weights that the loader accepts"
for v in vit vitae; do
  "$CAI" convert --init $v --seed 7 "$work/i1.safetensors" | grep -q "untrained $v weights" || fail "--init $v"
  "$CAI" convert --init $v --seed 7 "$work/i2.safetensors" >/dev/null || fail "--init $v (2)"
  cmp -s "$work/i1.safetensors" "$work/i2.safetensors" || fail "--init $v is not deterministic"
done
"$CAI" convert --init vitx "$work/i3.safetensors" 2>/dev/null; [ $? -eq 2 ] || fail "--init vitx: expected a usage error"

if [ ${#failures[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failures[@]}"
  exit 1
fi
echo "convert_pickles: all passed"
