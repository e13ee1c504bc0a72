#!/usr/bin/env bash
# pipeline_file_limit.sh — file_limit above the partitions available is an error naming both numbers
# (the seed's Python slice would silently run on fewer files); nothing is written.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 60 20            # 3 partitions
payload 4
rc=0; "$CAI" run payload.json --store store --weights w.safetensors >out.txt 2>err.txt || rc=$?
cat err.txt
[ $rc -eq 2 ] || die "exit $rc, want 2"
grep -qF '"file_limit": 4 partitions requested but only 3 found under cosmicai-data/25MB/' err.txt || die "message"
[ ! -e "$RES/jobs.jsonl" ] || die "a job list was written"
echo "pipeline_file_limit: ok"
