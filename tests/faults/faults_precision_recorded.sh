#!/usr/bin/env bash
# faults_precision_recorded.sh — a rank record's "precision" is the one that ran. With the payload saying "int8" and
# `cai run --precision fp32`, the pool ran fp32 but the records said int8 (the job's CAI_PRECISION), so every
# --resume saw each done rank as "changed". Now: the records say fp32, the predictions are fp32's, and a --resume
# with the same flags keeps every rank; a --resume without the flag (the payload's int8) refuses by name. The same
# for `cai worker --precision fp32` on a job that says int8.
source "$(dirname "$0")/faults_lib.bash"
make_weights
make_data 64 16
# the reference: fp32 from the payload
payload 4 '"world_size": 2, "precision": "fp32"'
run_cai ref --weights w.safetensors || die "fp32 reference run"
cp "$RES/predictions.csv" ref.csv
payload 4 '"world_size": 2, "precision": "int8"'
run_cai i8 --weights w.safetensors || die "int8 run"
cmp -s <(cut -d, -f1-4 ref.csv) <(cut -d, -f1-4 "$RES/predictions.csv") && die "int8 and fp32 predict the same: the test cannot tell them apart"

# --precision fp32 over the payload's int8
run_cai a --weights w.safetensors --precision fp32 || die "run with --precision fp32"
for r in 0 1; do
  [ "$(jget "$RES/$r.json" 'd["precision"]')" = fp32 ] || die "rank $r ran fp32 but records $(jget "$RES/$r.json" 'd["precision"]')"
done
cmp <(cut -d, -f1-4 ref.csv) <(cut -d, -f1-4 "$RES/predictions.csv") || die "--precision fp32 did not run fp32"
# the same flags: nothing changed, every rank kept
run_cai b --weights w.safetensors --precision fp32 --resume || die "--resume with the same --precision failed"
grep -q "2 of 2 ranks already complete, 0 to run" b.err || die "--resume with the same --precision reran ranks"
# the payload's int8 now: refused by name
rc=0; run_cai c --weights w.safetensors --resume || rc=$?
[ $rc -ne 0 ] || die "--resume in another precision than the records' succeeded"
grep -q "precision fp32, this run uses int8" c.err || die "the refusal does not name the precisions"

# cai worker: --precision over the job's CAI_PRECISION (int8 in jobs.jsonl)
grep -q '"CAI_PRECISION":"int8"' "$RES/jobs.jsonl" || die "the job list does not carry the payload's precision"
"$CAI" worker --store store --jobs cosmicai-data/result-partition-25MB/test/1 --rank 0 --weights w.safetensors \
  --threads 1 --precision fp32 || die "cai worker --precision fp32"
[ "$(jget "$RES/0.json" 'd["precision"]')" = fp32 ] || die "cai worker --precision fp32 records $(jget "$RES/0.json" 'd["precision"]')"
cmp <(grep -v '^galaxy_id' ref.csv | head -32 | cut -d, -f1-4) <(tail -n +2 "$RES/predictions/0.csv" | cut -d, -f1-4) \
  || die "cai worker --precision fp32 did not run fp32"
# and without the flag, the job's int8
"$CAI" worker --store store --jobs cosmicai-data/result-partition-25MB/test/1 --rank 0 --weights w.safetensors \
  --threads 1 || die "cai worker"
[ "$(jget "$RES/0.json" 'd["precision"]')" = int8 ] || die "cai worker without --precision: the job's int8 not recorded"
echo "faults_precision_recorded: ok"
