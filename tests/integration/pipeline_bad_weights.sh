#!/usr/bin/env bash
# pipeline_bad_weights.sh — weights that are missing or corrupt: a clear error naming them; with corrupt
# weights every rank fails with the loader's reason (no crash, no partial catalog claimed complete).
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 40 20
payload 2 '"world_size": 2'
rc=0; "$CAI" run payload.json --store store --weights nope.safetensors >out.txt 2>err.txt || rc=$?
cat err.txt
[ $rc -ne 0 ] || die "ran without weights"
grep -q "nope.safetensors" err.txt || die "the error does not name the weights"
head -c 5000 w.safetensors > bad.safetensors
rc=0; "$CAI" run payload.json --store store --weights bad.safetensors --no-progress >out.txt 2>err.txt || rc=$?
cat err.txt
[ $rc -ne 0 ] || die "ran with truncated weights"
grep -q "2 of 2 ranks failed" err.txt || die "every rank should fail"
grep -q "bad.safetensors" err.txt || die "the error does not name the weights file"
[ "$(jget "$RES/0.json" 'd["status"]')" = failed ] || die "rank 0 record should say failed"
echo "pipeline_bad_weights: ok"
