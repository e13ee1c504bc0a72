#!/usr/bin/env bash
# faults_empty_partition.sh — issue 9 item 2: a 0-galaxy shard (the manifest allows id_first: null) completes like any
# other partition: its rank writes a (header-only) predictions file, Summarize counts it, the run is complete,
# and --resume does not run it again. Before the fix the rank named no predictions file, Summarize reported the
# run incomplete and --resume skipped the rank forever.
source "$(dirname "$0")/faults_lib.bash"
make_weights
make_data 100 25            # 4 partitions of 25; a fifth with none is added below
D=store/cosmicai-data/25MB
python3 - $D/5.safetensors 5 <<'PY'
import json, struct, sys, hashlib
e = "sha256:" + hashlib.sha256(b"").hexdigest()
hdr = {"__metadata__": {"cai.format": "cai-shard/1", "galaxies": "0", "partition": sys.argv[2],
                        "checksum.images": e, "checksum.magnitudes": e, "checksum.ids": e},
       "magnitudes": {"dtype": "F64", "shape": [0, 5], "data_offsets": [0, 0]},
       "ids": {"dtype": "I64", "shape": [0], "data_offsets": [0, 0]},
       "images": {"dtype": "F32", "shape": [0, 5, 32, 32], "data_offsets": [0, 0]}}
h = json.dumps(hdr, separators=(",", ":")).encode()
h += b" " * ((-(8 + len(h))) % 64)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h)
PY
python3 - $D/manifest.jsonl $D/5.safetensors <<'PY'
import hashlib, json, os, sys
b = open(sys.argv[2], "rb").read()
e = {"key": "5.safetensors", "galaxies": 0, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest(),
     "id_first": None, "id_last": None, "format": "shard"}
open(sys.argv[1], "a").write(json.dumps(e) + "\n")
PY
payload 5 '"world_size": 5'
run_cai a --weights w.safetensors || die "a run with an empty partition failed"
grep -q "complete:     yes" a.out || die "not complete"
[ "$(jget "$RES/4.json" 'd["status"]')" = ok ] || die "rank 4 (the empty partition) is not ok"
[ "$(jget "$RES/4.json" 'd["predictions"]')" = "result-partition-25MB/test/1/predictions/4.csv" ] \
  || die "rank 4 names no predictions file"
[ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 100 ] || die "galaxies"
run_cai b --weights w.safetensors --resume || die "--resume failed"
grep -q "5 of 5 ranks already complete" b.err || die "--resume did not count the empty rank as complete"
echo "faults_empty_partition: ok"
