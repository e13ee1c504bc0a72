#!/usr/bin/env bash
# faults_store_special.sh — issue 9 item 9: a FIFO, a directory and /dev/zero (via a link) as partitions. Before
# the fix the FIFO hung the run forever, /dev/zero grew memory without bound, a directory said "read error".
# Now each fails its own partition at once, naming what it is, and the other partitions complete.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/integration/pipeline_lib.bash"
make_weights
make_data 100 25                                   # 4 partitions, with manifest.jsonl
D=store/cosmicai-data/25MB
payload 4
run_bad() { # KEY WHAT
  local rc=0
  timeout 60 "$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress \
    >out.txt 2>err.txt || rc=$?
  cat err.txt
  [ $rc -ne 124 ] || die "$1 ($2): the run hung"
  [ $rc -eq 1 ] || die "$1 ($2): exit $rc, want 1"
  grep -q "$1.*$2\|$2.*$1" err.txt || die "the error does not say $1 is $2"
  [ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 75 ] || die "$1: the other partitions' 75 galaxies"
}
mv "$D/2.safetensors" keep2
mkfifo "$D/2.safetensors"
run_bad 2.safetensors "a FIFO"
rm "$D/2.safetensors"; mkdir "$D/2.safetensors"
run_bad 2.safetensors "a directory"
rmdir "$D/2.safetensors"; ln -s /dev/zero "$D/2.safetensors"
run_bad 2.safetensors "symbolic link"
rm "$D/2.safetensors"; mv keep2 "$D/2.safetensors"
# Without a manifest (the partitions come from a listing) a FIFO is still listed and refused, not skipped.
rm "$D/manifest.jsonl"; mv "$D/2.safetensors" keep2; mkfifo "$D/2.safetensors"
run_bad 2.safetensors "a FIFO"
# A FIFO or a device as the weights path: refused at once, not a hang or an endless read.
mkfifo wfifo
for wp in wfifo /dev/zero; do
  rc=0; timeout 60 "$CAI" run payload.json --store store --weights "$wp" --workers 1 --no-progress >out.txt 2>err.txt || rc=$?
  [ $rc -ne 124 ] || die "--weights $wp: the run hung"
  [ $rc -ne 0 ] && grep -q "not a regular file" err.txt || { cat err.txt; die "--weights $wp: exit $rc"; }
done
echo "faults_store_special: ok"
