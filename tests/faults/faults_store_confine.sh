#!/usr/bin/env bash
# faults_store_confine.sh — issue 9 item 7: the local store never reads through a link below its root, and no
# error text quotes a file's bytes (at most the hex of 8). Before the fix a partition linked to a secret put
# `text starting "root:*:20228:0:9"` into the rank record and combined_data.json, and a payload "weights"
# naming the secret printed its first 8 bytes as a header length.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/integration/pipeline_lib.bash"
make_weights
make_data 100 25                                   # 4 partitions
printf 'root:*:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n' > secret
chmod 600 secret
D=store/cosmicai-data/25MB
ln -sf "$W/secret" "$D/3.safetensors"
payload 4
rc=0
"$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress \
  >out.txt 2>err.txt || rc=$?
cat out.txt err.txt
[ $rc -eq 1 ] || die "run with a linked partition: exit $rc, want 1"
grep -q "3.safetensors" err.txt || die "the error does not name 3.safetensors"
grep -q "symbolic link" err.txt || die "the error does not say it is a link"
! grep -rq "root:" out.txt err.txt "$RES" || die "the secret's bytes were echoed"
[ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 75 ] || die "the other 3 partitions' 75 galaxies"
grep -q "complete:     NO" out.txt || die "the run must not say complete"

# A linked directory under the store: nothing is read or written through it.
rm "$D/3.safetensors"
"$CAI" synth --galaxies 25 --seed 8 --galaxies-per-file 25 -o other >/dev/null 2>&1
mv store/cosmicai-data/25MB store/real25 && ln -s "$W/store/real25" store/cosmicai-data/25MB
rc=0; "$CAI" run payload.json --store store --weights w.safetensors --workers 1 --threads 1 --no-progress \
  >out.txt 2>err.txt || rc=$?
[ $rc -ne 0 ] || die "a linked data directory was read through"
rm store/cosmicai-data/25MB && mv store/real25 store/cosmicai-data/25MB

# The weights path names the secret: refused without quoting it.
rc=0; "$CAI" run payload.json --store store --weights "$W/secret" --workers 1 --no-progress >out.txt 2>err.txt || rc=$?
cat err.txt
[ $rc -ne 0 ] || die "a non-safetensors weights file was accepted"
! grep -q "root:" err.txt || die "the weights error quotes the file"
! grep -q "header length [0-9]" err.txt || die "the weights error prints the bytes as a number"
grep -Eq "bytes( [0-9a-f]{2}){8}\)" err.txt || die "the weights error should show at most 8 bytes in hex"

# Not a partition at all: the message shows hex, never the text.
printf 'galaxy,z\nsecret-line,0.1\n' > "$D/3.safetensors"
rc=0; "$CAI" run payload.json --store store --weights w.safetensors --workers 1 --no-progress >out.txt 2>err.txt || rc=$?
[ $rc -eq 1 ] || die "text partition: exit $rc"
grep -q "text starting 67 61 6c 61 78 79 2c 7a" err.txt || { cat err.txt; die "hex description missing"; }
! grep -rq "secret-line\|galaxy,z" err.txt "$RES"/*.json || die "the text was echoed"
echo "faults_store_confine: ok"
