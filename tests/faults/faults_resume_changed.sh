#!/usr/bin/env bash
# faults_resume_changed.sh — issue 9 item 4: --resume checks what it resumes. Records store the weights sha256, each
# partition's sha256 and the precision; --resume with other weights, or after a partition changed, refuses and
# names what changed; --resume=changed reruns exactly the changed ranks. Before the fix --resume with other
# weights finished "complete" with two models in one catalog, and after the data changed it said "12 of 12
# already complete" and kept the old predictions.
source "$(dirname "$0")/faults_lib.bash"
make_weights
make_weights43
make_data 300 25
payload 12 '"world_size": 12, "precision": "fp32"'  # fp32 explicitly: the default (auto) is int8 on a VNNI CPU
run_cai a --weights w.safetensors || die "first run"
[ "$(jget "$RES/0.json" 'd["partitions"][0]["sha256"]')" = "$(sha256 store/cosmicai-data/25MB/1.safetensors)" ] \
  || die "the record does not hold the partition's sha256"
[ "$(jget "$RES/0.json" 'd["precision"]')" = fp32 ] || die "the record does not hold the precision"
[ "$(jget "$RES/0.json" 'd["calibration_sha256"]')" = "" ] || die "the record has no calibration_sha256 field"

# other weights: refused by name
rc=0; run_cai b --weights w43.safetensors --resume || rc=$?
[ $rc -ne 0 ] || die "--resume with other weights succeeded"
grep -q "other weights" b.err || die "the refusal does not name the weights"
grep -q -- "--resume=changed" b.err || die "the refusal does not offer --resume=changed"
[ "$(jget "$RES/0.json" 'd["model"]["weights_sha256"]')" = "$(sha256 w.safetensors)" ] \
  || die "a refused resume changed a record"
# other precision: refused by name
rc=0; run_cai b2 --weights w.safetensors --precision int8 --resume || rc=$?
[ $rc -ne 0 ] || die "--resume with another precision succeeded"
grep -q "precision" b2.err || die "the refusal does not name the precision"

# one partition replaced (with its manifest entry): refused by name, then exactly that rank reruns
"$CAI" synth --galaxies 300 --seed 99 --galaxies-per-file 25 -o other >/dev/null 2>&1 || die "synth"
cp other/3.safetensors store/cosmicai-data/25MB/3.safetensors
python3 - store/cosmicai-data/25MB/manifest.jsonl other/manifest.jsonl <<'PY'
import json, sys
new = {json.loads(l)["key"]: l for l in open(sys.argv[2]) if l.strip()}
out = [new["3.safetensors"] if json.loads(l)["key"] == "3.safetensors" else l for l in open(sys.argv[1]) if l.strip()]
open(sys.argv[1], "w").write("".join(out))
PY
rc=0; run_cai c --weights w.safetensors --resume || rc=$?
[ $rc -ne 0 ] || die "--resume after the data changed succeeded"
grep -q "25MB/3.safetensors changed" c.err || die "the refusal does not name the changed partition"
run_cai d --weights w.safetensors --resume=changed || die "--resume=changed failed"
grep -q "ranks:        12 (1 run, 11 already complete" d.out || die "--resume=changed did not rerun exactly the changed rank"
grep -q "complete:     yes" d.out || die "not complete after --resume=changed"
[ "$(jget "$RES/2.json" 'd["partitions"][0]["sha256"]')" = "$(sha256 store/cosmicai-data/25MB/3.safetensors)" ] \
  || die "rank 2 was not recomputed from the new partition"

# without a manifest (a plain listing) the data is hashed again on resume
rm store/cosmicai-data/25MB/manifest.json*
cp other/5.safetensors store/cosmicai-data/25MB/5.safetensors
rc=0; run_cai e --weights w.safetensors --resume || rc=$?
[ $rc -ne 0 ] && grep -q "25MB/5.safetensors changed" e.err || die "a changed partition went unnoticed without a manifest"
# all weights changed: --resume=changed reruns every rank, the catalog is from one model
run_cai f --weights w43.safetensors --resume=changed || die "--resume=changed with other weights"
grep -q "ranks:        12 (12 run, 0 already complete" f.out || die "not every rank reran with other weights"
[ "$(jget "$RES/summary.json" 'd["model"]["weights_sha256"]')" = "$(sha256 w43.safetensors)" ] || die "mixed weights"
echo "faults_resume_changed: ok"
