#!/usr/bin/env bash
# pipeline_unwritable.sh — a result directory that cannot be written (a file stands where a directory
# must go; chmod would not stop root). Initialize fails naming the path; a worker that cannot write its
# predictions fails its rank with that reason and writes no trusted record.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 40 20
payload 2 '"world_size": 2'
mkdir -p store/cosmicai-data
echo blocker > store/cosmicai-data/result-partition-25MB
rc=0; "$CAI" run payload.json --store store --weights w.safetensors >out.txt 2>err.txt || rc=$?
cat err.txt
[ $rc -ne 0 ] || die "cai run succeeded with an unwritable result_path"
grep -q "result-partition-25MB" err.txt || die "the error does not name the path"
rm store/cosmicai-data/result-partition-25MB
# Now only the predictions folder is blocked: initialize works, every rank fails to write.
"$CAI" initialize payload.json --store store -q >/dev/null || die "initialize"
echo blocker > "$RES/predictions"
rc=0; "$CAI" worker --store store --jobs cosmicai-data/result-partition-25MB/test/1 --rank 0 \
  --weights w.safetensors --threads 1 >rec.json 2>err.txt || rc=$?
cat err.txt
[ $rc -ne 0 ] || die "worker succeeded without a writable predictions folder"
grep -q "cannot write predictions" err.txt || die "the error does not say what failed"
[ "$(jget "$RES/0.json" 'd["status"]')" = failed ] || die "the rank record should say failed"
echo "pipeline_unwritable: ok"
