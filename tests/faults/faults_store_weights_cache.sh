#!/usr/bin/env bash
# faults_store_weights_cache.sh — issue 9 item 8: weights named by a key in the bucket are fetched into a
# private per-user cache (0700) and verified by sha256 before use. Before the fix the file was cached at the
# predictable $TMPDIR/cai-weights-<sha prefix>.safetensors and a file planted there was used as is.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/integration/pipeline_lib.bash"
make_weights
"$CAI" convert --init vitae --seed 43 w43.safetensors >/dev/null 2>&1 || skip "cai convert --init"
make_data 40 20
mkdir -p store/cosmicai-data/models && cp w.safetensors store/cosmicai-data/models/m.safetensors
payload 2 '"weights": "models/m.safetensors"'
"$CAI" run payload.json --store store --weights w.safetensors --workers 1 --no-progress >/dev/null 2>&1 \
  || die "reference run failed"
cp "$RES/predictions.csv" ref.csv
sha=$(sha256sum w.safetensors | cut -c1-64)
cache="$TMPDIR/cai-weights-$(id -u)"
# Plant the other model where the old code looked, and where the new cache keeps this sha.
mkdir -p "$cache" && chmod 700 "$cache"
cp w43.safetensors "$TMPDIR/cai-weights-${sha:0:16}.safetensors"
cp w43.safetensors "$cache/$sha.safetensors"
"$CAI" run payload.json --store store --workers 1 --no-progress >out.txt 2>err.txt || { cat err.txt; die "run failed"; }
cmp -s ref.csv "$RES/predictions.csv" || die "a planted weights file was used"
cmp -s w.safetensors "$cache/$sha.safetensors" || die "the planted cache file was not replaced"
[ "$(stat -c %a "$cache")" = 700 ] || die "cache directory mode $(stat -c %a "$cache"), want 700"
# A link planted as the cache file is replaced, its target untouched.
cp w43.safetensors target.safetensors
rm "$cache/$sha.safetensors"; ln -s "$W/target.safetensors" "$cache/$sha.safetensors"
"$CAI" run payload.json --store store --workers 1 --no-progress >out.txt 2>err.txt || { cat err.txt; die "run failed"; }
cmp -s ref.csv "$RES/predictions.csv" || die "weights were read through a planted link"
cmp -s w43.safetensors target.safetensors || die "the link's target was written"
[ ! -L "$cache/$sha.safetensors" ] || die "the link is still there"
# A cache directory others can write (or not a directory) is refused by name.
chmod 777 "$cache"
rc=0; "$CAI" run payload.json --store store --workers 1 --no-progress >out.txt 2>err.txt || rc=$?
[ $rc -ne 0 ] && grep -q "not a private directory" err.txt || { cat err.txt; die "a 0777 cache directory was used"; }
rm -rf "$cache"; ln -s "$W" "$cache"
rc=0; "$CAI" run payload.json --store store --workers 1 --no-progress >out.txt 2>err.txt || rc=$?
[ $rc -ne 0 ] && grep -q "not a private directory" err.txt || { cat err.txt; die "a linked cache directory was used"; }
echo "faults_store_weights_cache: ok"
