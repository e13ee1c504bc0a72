#!/usr/bin/env bash
# pipeline_wrong_shape.sh — a seed-style .pt whose image tensor is (N,5,16,16) instead of (N,5,32,32): that
# partition fails with a shape error naming it, the others are predicted.
source "$(dirname "$0")/pipeline_lib.bash"
"${TORCH_PY:-/usr/bin/python3}" -c "import torch" 2>/dev/null || skip "no python3 with torch (TORCH_PY)"
make_weights
make_data 100 25 pt
[ -f store/cosmicai-data/25MB/2.pt ] || skip "cai synth --format pt wrote no .pt"
"${TORCH_PY:-/usr/bin/python3}" - store/cosmicai-data/25MB/2.pt <<'PY'
import sys, torch
from torch.utils.data import TensorDataset
n = 25
ds = TensorDataset(torch.zeros(n, 5, 16, 16, dtype=torch.float32), torch.zeros(n, 5, dtype=torch.float64),
                   torch.zeros(n, dtype=torch.float32))
torch.save(ds, sys.argv[1])
PY
# The manifest's sha/bytes now disagree too; the shape error must still be what is reported.
payload 4 '"world_size": 2'
expect_partition_failure "25MB/2.pt" "shape|32"
echo "pipeline_wrong_shape: ok"
