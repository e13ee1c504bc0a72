#!/usr/bin/env bash
# catalog_calibration.sh — the catalog astronomers get: a labelled run → `cai calibrate` → a held-out run
# with --calibration (coverage of the 68%/95% intervals within 0.68±0.03 / 0.95±0.02), a calibration for
# other weights refused by name, every catalog file read back with astropy and h5py, ids and positions
# attached by `cai split --ids` carried into OBJID/RA/DEC, --tta 8 (Z_STD), `cai report` PNGs, and the seed's
# field meaning (throughput_bps × total_cpu_time = input bits) in every rank record.
PY=$(cd "$(dirname "$0")/../py" && pwd)
source "$(dirname "$0")/pipeline_lib.bash"
SYSPY=${TORCH_PY:-/usr/bin/python3} # Debian's python3, where python3-astropy and python3-h5py install
"$SYSPY" -c 'import astropy, h5py' 2>/dev/null || skip "python3-astropy / python3-h5py not installed ($SYSPY)"
make_weights
S=store/cosmicai-data
"$CAI" synth --galaxies 1000 --seed 7 --galaxies-per-file 250 -o $S/cal >/dev/null || die "synth cal"
# The held-out set as the seed ships it (.pt, no ids), then split with an ids table (row order).
"$CAI" synth --galaxies 1000 --seed 8 --galaxies-per-file 500 --format pt -o raw >/dev/null || die "synth held-out"
python3 - <<'PYEOF'
import csv
with open("ids.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["gid", "objid", "ra", "dec"])
    for i in range(1000):
        w.writerow([i, 1237648720693755918 + 7 * i, (150.0 + 0.0137 * i) % 360, -1.25 + 0.001 * i])
PYEOF
"$CAI" split raw --partition-mb 5 --ids ids.csv -o $S/test >/dev/null || die "split --ids"
run() { # result_path data_prefix file_limit [flags...]
  local rp=$1 pre=$2 fl=$3; shift 3
  cat > payload.json <<JSON
{"bucket": "cosmicai-data", "file_limit": $fl, "batch_size": 128, "result_path": "$rp",
 "data_bucket": "cosmicai-data", "data_prefix": "$pre", "run_id": "cat-$pre"}
JSON
  "$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress -q "$@" \
    >out.txt 2>err.txt
}
run r/cal cal 4 || { cat out.txt err.txt; die "calibration run"; }
"$CAI" calibrate $S/r/cal -o calib.json >cal.txt || { cat cal.txt; die "cai calibrate"; }
cat cal.txt
jget calib.json 'd["format"]' | grep -qx 'cai-calibration/1' || die "calib.json format"
[ "$(jget calib.json 'len(d["by_z_pred"]) >= 2 and all(b["n"] >= 250 for b in d["by_z_pred"])')" = True ] \
  || die "calib.json: z bins"
nparts=$(ls $S/test/*.safetensors | wc -l)
run r/test test "$nparts" --calibration calib.json --csv || { cat out.txt err.txt; die "held-out run"; }
T=$S/r/test
c68=$(jget $T/summary.json 'd["calibration"]["coverage_68"]')
c95=$(jget $T/summary.json 'd["calibration"]["coverage_95"]')
echo "held-out coverage: 68% -> $c68, 95% -> $c95"
python3 -c "import sys; sys.exit(0 if abs($c68-0.68) <= 0.03 and abs($c95-0.95) <= 0.02 else 1)" \
  || die "coverage $c68 / $c95 outside 0.68±0.03 / 0.95±0.02"
"$SYSPY" "$PY/check_catalog.py" $T --ids ids.csv || die "catalog files"
if command -v fitsverify >/dev/null; then
  fitsverify -q -e $T/predictions.fits | grep -q "OK" || { fitsverify $T/predictions.fits; die "fitsverify"; }
fi
# Summarize alone can apply a calibration to a run made without one.
"$CAI" summarize --store store --calibration calib.json cosmicai-data r/cal >/dev/null || die "summarize --calibration"
jget $S/r/cal/summary.json 'd["catalog"]["columns"]' | grep -q Z_LO95 || die "summarize did not add the intervals"
# A calibration for other weights is refused, by name, before any rank runs.
"$CAI" convert --init vitae --seed 43 w2.safetensors >/dev/null 2>&1
sed -i 's#"r/test"#"r/refused"#' payload.json
if "$CAI" run payload.json --store store --weights w2.safetensors --no-progress -q --calibration calib.json \
    >out.txt 2>err.txt; then die "a calibration for other weights was accepted"; fi
grep -q "calib.json" err.txt && grep -q "weights" err.txt || { cat err.txt; die "refusal does not name it"; }
[ ! -e $S/r/refused/jobs.jsonl ] || die "a refused calibration still initialized the run"
# A damaged calibration is refused naming the field.
python3 -c "import json; d=json.load(open('calib.json')); d['by_z_pred'][0]['quantiles']=[1,0,0,0,0]; json.dump(d, open('bad.json','w'))"
"$CAI" summarize --store store --calibration bad.json cosmicai-data r/cal >/dev/null 2>err.txt && die "bad calibration accepted"
grep -q 'by_z_pred\[0\].quantiles' err.txt || { cat err.txt; die "bad calibration: field not named"; }
# Test-time augmentation on one partition: Z_STD and TTA = 8 in the catalog.
"$CAI" synth --galaxies 24 --seed 9 --galaxies-per-file 24 -o $S/tta >/dev/null
run r/tta tta 1 --tta 8 || { cat out.txt err.txt; die "--tta 8 run"; }
"$SYSPY" "$PY/check_catalog.py" $S/r/tta --tta || die "TTA catalog"
[ "$(jget $S/r/tta/summary.json 'd["tta"]')" = 8 ] || die "summary tta"
# The seed's field meaning in every CAI rank record.
for run_dir in $S/r/cal $T $S/r/tta; do
  python3 - "$run_dir/combined_data.json" <<'PYEOF' || die "seed field meaning broken in $run_dir"
import json, sys
for r in json.load(open(sys.argv[1])):
    bits = r["input_bits"]
    if abs(r["throughput_bps"] * r["total_cpu_time (seconds)"] - bits) > 1e-9 * max(bits, 1):
        sys.exit(f"rank {r['rank']}: throughput_bps x total_cpu_time != input_bits")
    if abs(r["throughput_bps_wall"] * r["wall_seconds"] - bits) > 1e-9 * max(bits, 1):
        sys.exit(f"rank {r['rank']}: throughput_bps_wall x wall_seconds != input_bits")
PYEOF
done
# The validation report.
if command -v gnuplot >/dev/null; then
  "$CAI" report $T -o rep >rep.txt || { cat rep.txt; die "cai report"; }
  for p in zpred_vs_ztrue dz_vs_z dz_vs_rmag pit nz; do [ -s rep/$p.png ] || die "report: $p.png missing"; done
  grep -q '| \*\*all\*\* | 1000 |' rep/report.md || { cat rep/report.md; die "report.md table"; }
  grep -q 'outliers >0.15' rep/report.md || die "report.md: outlier cut not stated"
  "$CAI" report $S/r/tta/nothing -o rep2 >/dev/null 2>err.txt && die "report on a missing run"
  grep -q 'predictions.csv' err.txt || die "report error does not name the file"
fi
echo "catalog_calibration: ok"
