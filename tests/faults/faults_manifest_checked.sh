#!/usr/bin/env bash
# faults_manifest_checked.sh — issue 9 item 1: a run can no longer say "complete" when a partition is not the one the
# manifest describes. (a) 4.safetensors copied over 3.safetensors: the worker refuses 3 (sha256 differs from the
# manifest), the run is incomplete and names it. (b) the same copy with a manifest made consistent with it (3's
# entry now claims the copy's bytes and ids): every count agrees, but galaxy ids repeat across partitions —
# Summarize finds the duplicates. Before the fix both runs ended "complete: yes" with 25 ids twice, 25 missing.
source "$(dirname "$0")/faults_lib.bash"
make_weights
make_data 300 25            # 12 partitions of 25
payload 12 '"world_size": 6'
D=store/cosmicai-data/25MB
cp $D/4.safetensors $D/3.safetensors
rc=0; run_cai a --weights w.safetensors || rc=$?
[ $rc -ne 0 ] || die "(a) the run succeeded with 4.safetensors copied over 3.safetensors"
grep -q "complete:     yes" a.out && die "(a) the report says complete"
grep -q "3.safetensors" a.err || die "(a) the error does not name 3.safetensors"
grep -q "sha256" a.err || die "(a) the error does not say the sha256 differs"
[ "$(jget "$RES/summary.json" 'd["complete"]')" = False ] || die "(a) summary.json says complete"

# (b) make the manifest agree with the copy (bytes, sha256, id range of 4)
python3 - $D/manifest.jsonl <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {e["key"]: e for e in lines}
for f in ("bytes", "sha256", "id_first", "id_last"): by["3.safetensors"][f] = by["4.safetensors"][f]
open(sys.argv[1], "w").write("".join(json.dumps(e) + "\n" for e in lines))
PY
rc=0; run_cai b --weights w.safetensors || rc=$?
[ $rc -ne 0 ] || die "(b) the run succeeded with the ids of 4.safetensors twice"
grep -q "complete:     yes" b.out && die "(b) the report says complete"
[ "$(jget "$RES/summary.json" 'd["complete"]')" = False ] || die "(b) summary.json says complete"
[ "$(jget "$RES/summary.json" 'd["duplicated_galaxy_ids"]')" = 25 ] || die "(b) 25 duplicated ids not reported"
echo "faults_manifest_checked: ok"
