#!/usr/bin/env bash
# golden_sensitivity: the golden tolerance catches a single wrong branch.
#
# Issue 2: "a test fails if one branch of the model is wrong: check that it does, once, by breaking a branch on
# purpose." The reference has `--break BRANCH` (tools/reference/astromae.py breaks): each perturbs one step
# the way a real bug would (cls token in the mean pool, PCM from the wrong tokens, [q,v,0] bias order, a
# missing max-pool in branch4, magnitude bands reversed, ...). For both variants this test takes the
# engine's predictions (`cai predict` on converted weights; if cai cannot predict yet, the unbroken
# reference stands in, and the log says so) and compares them with the BROKEN reference under the golden
# tolerance max|Δ| <= 1e-5*(1+max|ref|). It passes when every break makes that comparison fail.
# The [subtle] breaks (LayerNorm eps 1e-5 for 1e-6; tanh-approximate GELU) are reported but not required:
# they document the size of error that sits at or below the tolerance.
# Env: CAI, TORCH_PY, SENS_N (galaxies, default 64), SENS_BATCH (cai batch size, default 32).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PY=${TORCH_PY:-/usr/bin/python3}
CAI=${CAI:-$root/build/cai}
N=${SENS_N:-64}
B=${SENS_BATCH:-32}
"$PY" -c 'import torch' 2>/dev/null || { echo "skip: $PY cannot import torch (set TORCH_PY)"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/sens.XXXXXX")
trap 'rm -rf "$work"' EXIT
ref="$PY $root/tools/reference/astromae.py"
tpy="$root/tests/py"
undetected=()
"$PY" "$tpy/make_inputs.py" --n "$N" --seed 21 -o "$work/p.pt" || exit 1
mapfile -t subtle < <($ref breaks | awk '/\[subtle\]/{print $1}')

for variant in vit vitae; do
  d="$work/$variant"; mkdir -p "$d"
  "$PY" "$tpy/make_checkpoint.py" --variant $variant --seed 77 --out-state-dict "$d/B.pt" || exit 1
  $ref predict --state-dict "$d/B.pt" --variant $variant --input "$work/p.pt" --batch-size 64 -o "$d/ref.csv" || exit 1
  base="$d/ref.csv"; who="reference (unbroken)"
  if [ -x "$CAI" ] && "$CAI" convert "$d/B.pt" "$d/W.safetensors" 2>"$d/convert.err" &&
     "$CAI" predict --precision fp32 --weights "$d/W.safetensors" "$work/p.pt" -o "$d/cai.csv" --batch-size "$B" 2>"$d/predict.err"; then
    if "$PY" "$tpy/compare_predictions.py" "$d/ref.csv" "$d/cai.csv" --label "$variant cai vs reference"; then
      base="$d/cai.csv"; who="cai predict"
    else
      echo "NOTE: cai disagrees with the unbroken reference (see golden_model); using the reference as the engine"
    fi
  else
    echo "NOTE: cai convert/predict not usable yet ($(cat "$d/convert.err" "$d/predict.err" 2>/dev/null | tail -2 | tr '\n' ' '));" \
         "the unbroken reference stands in for the engine"
  fi
  echo "== $variant: engine predictions from $who"
  $ref predict --state-dict "$d/B.pt" --variant $variant --input "$work/p.pt" --batch-size 64 \
    --all-breaks "$d/broken" || { undetected+=("$variant (reference crashed)"); continue; }
  nb=$(ls "$d"/broken/*.csv 2>/dev/null | wc -l)
  [ "$nb" -ge 15 ] || undetected+=("$variant (only $nb break outputs)")
  for f in "$d"/broken/*.csv; do
    br=$(basename "$f" .csv)
    if "$PY" "$tpy/compare_predictions.py" "$f" "$base" --label "$variant --break $br" --expect-fail; then
      :
    elif printf '%s\n' "${subtle[@]}" | grep -qx "$br"; then
      echo "   ($br is a [subtle] break, at or below the tolerance as documented; not required)"
    else
      undetected+=("$variant/$br")
    fi
  done
done
if [ ${#undetected[@]} -gt 0 ]; then
  echo "golden_sensitivity: NOT detected: ${undetected[*]}"
  exit 1
fi
echo "golden_sensitivity: every single-branch break fails the golden comparison"
