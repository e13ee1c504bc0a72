#!/usr/bin/env bash
# pipeline_truncated_pt.sh — a seed .pt cut in half: that partition fails with a format error naming it,
# the others are predicted.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 100 25 pt
f=store/cosmicai-data/25MB/3.pt
[ -f $f ] || skip "cai synth --format pt wrote no .pt"
truncate -s $(( $(stat -c %s $f) / 2 )) $f
payload 4 '"world_size": 2'
expect_partition_failure "25MB/3.pt" "malformed|truncat|ZIP|zip|end of central"
echo "pipeline_truncated_pt: ok"
