#!/usr/bin/env bash
# pipeline_missing_partition.sh — the manifest lists 2.safetensors but the object is gone: that partition
# fails with "not found", the three others are predicted, the run ends non-zero naming it.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 100 25
payload 4 '"world_size": 2'
rm store/cosmicai-data/25MB/2.safetensors
expect_partition_failure "25MB/2.safetensors" "not found"
echo "pipeline_missing_partition: ok"
