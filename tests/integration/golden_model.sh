#!/usr/bin/env bash
# golden_model: `cai convert` + `cai predict` against the PyTorch reference (tools/reference/astromae.py).
#
# For each variant (vit, vitae, and vitae with a 3x3 PCM of 64 groups, to show the PCM's kernel/groups are
# read from the checkpoint, not hard-coded):
#   1. deterministic random weights (non-trivial BatchNorm stats, q/v biases), saved as the seed did
#      (torch.save(nn.DataParallel(model)) with the seed's module names) and as a state_dict;
#   2. `cai convert` of both (and of the state_dict without "module."); the safetensors must be tensor-identical (metadata apart from "source"),
#      bit-exact with the state_dict, and have exactly the spec's keys/shapes/dtypes;
#   3. `cai predict` at batch sizes 1 and 7 (on GOLDEN_NSMALL galaxies) and 512 and 513 (on GOLDEN_N = 513
#      galaxies: a full batch plus a last partial one, and one batch holding all); vitae-k3 at 1 and 7 only;
#   4. each output within max|Δ| <= 1e-5 * (1 + max|reference|) of the reference, in fp32 (--precision fp32:
#      the default `auto` is int8 on a CPU with VNNI); vit and vitae at 513 also with CAI_ISA=avx2 (the
#      baseline kernels, where the CPU would otherwise take the AVX-512 ones);
#   5. vit and vitae in int8 (--precision int8, batch 512 on GOLDEN_N galaxies) against the same reference,
#      with static (calibrated) and dynamic (CAI_INT8_SCALES=dynamic, per sub-batch) activation scales,
#      bounded at what static per-tensor int8 measured on these weights with ~1.5x headroom (vitae: max|Δ|
#      2.3e-3, median 4.2e-4 → bound 3.5e-3 / 6.5e-4; vit: 1.1e-2 / 2.3e-3 → 1.6e-2 / 3e-3; dynamic: vitae
#      1.7e-3 / 4.3e-4, vit 1.1e-2 / 1.9e-3). Issue 12's 2e-3 / 3e-4 holds on test_model's 4,096-galaxy
#      test, not on these weights (BENCHMARKS.md).
# Env: CAI, TORCH_PY (python with torch), GOLDEN_N (513), GOLDEN_NSMALL (16), GOLDEN_CASES ("vit vitae vitae-k3").
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PY=${TORCH_PY:-/usr/bin/python3}
CAI=${CAI:-$root/build/cai}
FIXTURES=${FIXTURES:-$root/tests/fixtures}
N=${GOLDEN_N:-513}
NS=${GOLDEN_NSMALL:-16}
CASES=${GOLDEN_CASES:-vit vitae vitae-k3}
"$PY" -c 'import torch' 2>/dev/null || { echo "skip: $PY cannot import torch (set TORCH_PY)"; exit 77; }
[ -x "$CAI" ] || { echo "golden_model: no cai binary at $CAI"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/golden.XXXXXX")
trap 'rm -rf "$work"' EXIT
ref="$PY $root/tools/reference/astromae.py"
tpy="$root/tests/py"
failures=()
fail() { echo "FAIL: $*"; failures+=("$*"); }

t0=$SECONDS
"$PY" "$tpy/make_inputs.py" --n "$N" --seed 11 -o "$work/big.pt" || exit 1
"$PY" "$tpy/make_inputs.py" --n "$NS" --seed 12 -o "$work/small.pt" || exit 1

for case in $CASES; do
  d="$work/$case"; mkdir -p "$d"
  case $case in
    vit)      variant=vit;   seed=101; extra=(); keys=(--keys "$FIXTURES/spec/astromae_vit.keys") ;;
    vitae)    variant=vitae; seed=202; extra=(); keys=(--keys "$FIXTURES/spec/astromae_vitae.keys") ;;
    vitae-k3) variant=vitae; seed=303; extra=(--pcm-kernel 3 --pcm-groups 64); keys=() ;;
    *) fail "unknown case $case"; continue ;;
  esac
  echo "== $case: checkpoint (seed $seed) $((SECONDS - t0))s"
  if ! "$PY" "$tpy/make_checkpoint.py" --variant $variant --seed $seed "${extra[@]}" \
       --out-pickle "$d/A.pt" --out-state-dict "$d/B.pt" --out-state-dict-plain "$d/C.pt"; then
    fail "$case: make_checkpoint"; continue
  fi
  echo "== $case: cai convert (pickle, state_dict) $((SECONDS - t0))s"
  if ! "$CAI" convert "$d/A.pt" "$d/A.safetensors"; then fail "$case: cai convert of the whole-model pickle"; fi
  if ! "$CAI" convert "$d/B.pt" "$d/B.safetensors"; then fail "$case: cai convert of the state_dict"; fi
  if ! "$CAI" convert "$d/C.pt" "$d/C.safetensors"; then fail "$case: cai convert of the unprefixed state_dict"; fi
  [ -s "$d/A.safetensors" ] || { fail "$case: no A.safetensors, skipping predictions"; continue; }
  if [ -s "$d/B.safetensors" ]; then
    k=(); [ $case = vitae-k3 ] && k=(--pcm-kernel 3 --pcm-groups 64)
    [ $case = vitae ] && k=(--pcm-kernel 1 --pcm-groups 48)
    # vitae-k3's PCM shapes differ from the spec's file: its keys are checked against its state_dict.
    "$PY" "$tpy/compare_safetensors.py" "$d/A.safetensors" "$d/B.safetensors" --state-dict "$d/B.pt" \
      "${keys[@]}" --variant $variant "${k[@]}" || fail "$case: converted tensors"
  fi
  if [ -s "$d/C.safetensors" ]; then     # the state_dict without DataParallel's "module." prefix
    "$PY" "$tpy/compare_safetensors.py" "$d/A.safetensors" "$d/C.safetensors" --state-dict "$d/C.pt" \
      "${keys[@]}" --variant $variant || fail "$case: converted tensors (unprefixed state_dict)"
  fi
  echo "== $case: reference $((SECONDS - t0))s"
  $ref predict --state-dict "$d/B.pt" --variant $variant --input "$work/big.pt" --batch-size 512 -o "$d/ref_big.csv" \
    || { fail "$case: reference"; continue; }
  $ref predict --state-dict "$d/B.pt" --variant $variant --input "$work/small.pt" --batch-size 64 -o "$d/ref_small.csv" \
    || { fail "$case: reference"; continue; }
  # The whole-model pickle, loaded through the seed's module names, gives the same reference.
  $ref predict --checkpoint "$d/A.pt" --input "$work/small.pt" --batch-size 64 -o "$d/ref_small_pickle.csv" \
    && cmp -s "$d/ref_small.csv" "$d/ref_small_pickle.csv" || fail "$case: reference from the pickle differs"
  batches="1 7 512 513"
  [ $case = vitae-k3 ] && batches="1 7"     # this case is about the PCM's shape, not batching: keep CI short
  for b in $batches; do
    if [ $b -le 7 ]; then in=small; else in=big; fi
    echo "== $case: cai predict --batch-size $b ($in) $((SECONDS - t0))s"
    if ! "$CAI" predict --precision fp32 --weights "$d/A.safetensors" "$work/$in.pt" -o "$d/out_$b.csv" --batch-size $b; then
      fail "$case: cai predict --batch-size $b"; continue
    fi
    "$PY" "$tpy/compare_predictions.py" "$d/ref_$in.csv" "$d/out_$b.csv" --label "$case B=$b" --min-spread 0.02 \
      || fail "$case: batch $b outside the tolerance"
  done
  # The baseline AVX2 kernels (CAI_ISA=avx2) against the same reference: on an AVX-512 CPU the runs above
  # took the AVX-512 kernels (src/model/kernels_avx512.c); both paths must hold the fp32 bound.
  if [ $case != vitae-k3 ]; then
    echo "== $case: CAI_ISA=avx2 cai predict --batch-size 513 (big) $((SECONDS - t0))s"
    if CAI_ISA=avx2 "$CAI" predict --precision fp32 --weights "$d/A.safetensors" "$work/big.pt" -o "$d/out_avx2.csv" \
         --batch-size 513; then
      "$PY" "$tpy/compare_predictions.py" "$d/ref_big.csv" "$d/out_avx2.csv" --label "$case avx2 B=513" --min-spread 0.02 \
        || fail "$case: CAI_ISA=avx2 outside the tolerance"
    else
      fail "$case: CAI_ISA=avx2 cai predict"
    fi
  fi
  if [ $case != vitae-k3 ]; then
    if [ $case = vit ]; then amax=1.6e-2 amed=3e-3; else amax=3.5e-3 amed=6.5e-4; fi
    for scales in static dynamic; do      # CAI_INT8_SCALES: calibrated at load (default) or per sub-batch
      echo "== $case: cai predict --precision int8, $scales scales (big) $((SECONDS - t0))s"
      if CAI_INT8_SCALES=$scales "$CAI" predict --precision int8 --weights "$d/A.safetensors" "$work/big.pt" \
           -o "$d/out_int8.csv" --batch-size 512; then
        "$PY" "$tpy/compare_predictions.py" "$d/ref_big.csv" "$d/out_int8.csv" --label "$case int8 $scales" \
          --min-spread 0.02 --max-abs $amax --median-abs $amed || fail "$case: int8 ($scales) outside max|dz| $amax / median $amed"
      else
        fail "$case: cai predict --precision int8 ($scales scales)"
      fi
    done
  fi
  rm -f "$d"/*.pt
done
echo "golden_model: $((SECONDS - t0))s"
if [ ${#failures[@]} -gt 0 ]; then
  echo "golden_model: ${#failures[@]} failures: ${failures[*]}"
  exit 1
fi
echo "golden_model: all cases within 1e-5*(1+max|ref|) in fp32, int8 within its bounds"
