#!/usr/bin/env bash
# synth_split.sh — `cai synth` -> `cai split` -> manifest, as a user runs them:
#  * 10,000 galaxies split at 25 MB give the seed's 8 files, the last with 1,054, and a manifest whose sizes,
#    checksums and id ranges match the files;
#  * split streams: its peak RSS stays well below the data set's size;
#  * galaxy i is the same bytes however synth chunked the set (split output identical);
#  * --format pt output loads in torch as the seed's TensorDataset (shapes, dtypes, values = the shards');
#  * bad command lines and bad inputs fail with a message naming the problem.
set -euo pipefail
: "${CAI:?}" "${TMPDIR:?}"
die() { echo "synth_split: FAIL: $*" >&2; exit 1; }
W=$(mktemp -d "$TMPDIR/ss.XXXX")
cd "$W"
PY=${TORCH_PY:-/usr/bin/python3}
# Under ASan, freed blocks wait in a quarantine (256 MB by default), which would hide what split itself holds.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=0"

# ---- 10,000 galaxies at 25 MB ----
"$CAI" synth --galaxies 10000 --seed 1 -o syn -q >synth.out || die "cai synth"
cat synth.out
[ "$(ls syn/*.safetensors | wc -l)" = 8 ] || die "synth: expected 8 files of 1278"
/usr/bin/time -f "%M" -o rss.txt "$CAI" split syn --partition-mb 25 -o p25 -q >split.out || die "cai split"
cat split.out
grep -q "8 shard partitions of 1278 (last 1054)" split.out || die "split summary: $(cat split.out)"
[ "$(ls p25 | grep -c '^[0-9]*\.safetensors$')" = 8 ] || die "expected 1..8.safetensors"
for i in 1 2 3 4 5 6 7 8; do [ -f "p25/$i.safetensors" ] || die "missing p25/$i.safetensors"; done
[ "$(wc -l <p25/manifest.jsonl)" = 8 ] || die "manifest should have 8 lines"

# Manifest vs files: key order, counts, bytes, sha256, id ranges; sidecar totals.
python3 - p25 <<'EOF' || die "manifest does not match the files"
import hashlib, json, os, sys
d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "manifest.jsonl"))]
assert [r["key"] for r in rows] == [f"{i}.safetensors" for i in range(1, 9)], rows
assert [r["galaxies"] for r in rows] == [1278] * 7 + [1054]
nxt = 0
for r in rows:
    b = open(os.path.join(d, r["key"]), "rb").read()
    assert r["bytes"] == len(b), r
    assert r["sha256"] == hashlib.sha256(b).hexdigest(), r
    assert r["format"] == "shard"
    assert (r["id_first"], r["id_last"]) == (nxt, nxt + r["galaxies"] - 1), r
    nxt += r["galaxies"]
side = json.load(open(os.path.join(d, "manifest.json")))
assert side["partitions"] == 8 and side["galaxies"] == 10000 and side["galaxies_per_partition"] == 1278, side
assert side["bytes"] == sum(r["bytes"] for r in rows)
assert side["manifest_sha256"] == hashlib.sha256(open(os.path.join(d, "manifest.jsonl"), "rb").read()).hexdigest()
print("manifest ok:", len(rows), "partitions,", sum(r["galaxies"] for r in rows), "galaxies")
EOF

# Streaming: peak RSS well below the 205 MB data set (one 25 MB output partition, its serialized copy, one
# input window). The bound leaves room for sanitizer builds.
rss_mb=$(( $(tail -1 rss.txt) / 1024 ))
data_mb=$(( $(cat syn/*.safetensors | wc -c) / 1048576 ))
echo "split peak RSS ${rss_mb} MB for ${data_mb} MB of data"
[ "$rss_mb" -lt $(( data_mb * 3 / 4 )) ] || die "split peak RSS ${rss_mb} MB is not bounded (data ${data_mb} MB)"
# One input file bigger than several output partitions: RSS still bounded by the output partition.
"$CAI" synth --galaxies 6000 --galaxies-per-file 6000 --seed 2 -o big -q >/dev/null || die "synth big"
/usr/bin/time -f "%M" -o rss2.txt "$CAI" split big/1.safetensors --galaxies-per-partition 500 -o big10 -q >/dev/null \
  || die "split big"
rss2=$(( $(tail -1 rss2.txt) / 1024 ))
echo "split of one 117 MB shard into 10 MB partitions: peak RSS ${rss2} MB"
[ "$rss2" -lt 90 ] || die "split of one big shard: peak RSS ${rss2} MB (expected < 90)"

# ---- Determinism: same seed, other chunking -> byte-identical partitions after split ----
"$CAI" synth --galaxies 1200 --seed 5 --galaxies-per-file 500 -o c1 -q >/dev/null
"$CAI" synth --galaxies 1200 --seed 5 --galaxies-per-file 400 --threads 1 -o c2 -q >/dev/null
"$CAI" split c1 --galaxies-per-partition 300 -o c1s -q >/dev/null
"$CAI" split c2 --galaxies-per-partition 300 -o c2s -q >/dev/null
cmp c1s/manifest.jsonl c2s/manifest.jsonl || die "same seed, different chunking: partitions differ"
"$CAI" synth --galaxies 10 --seed 6 --galaxies-per-file 500 -o c3 -q >/dev/null
python3 - c1/1.safetensors c3/1.safetensors <<'EOF' || die "different seeds gave identical galaxies"
import json, struct, sys
def first_image(p):  # galaxy 0's 5x32x32 float32 bytes
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; s, _ = json.loads(b[8:8 + n])["images"]["data_offsets"]
    return b[8 + n + s:8 + n + s + 20480]
sys.exit(first_image(sys.argv[1]) == first_image(sys.argv[2]))
EOF

# ---- --format pt: the seed's layout, read by torch ----
"$CAI" split p25 --partition-mb 50 --format pt -o p50pt -q >split_pt.out || die "split --format pt"
[ "$(ls p50pt/*.pt | wc -l)" = 4 ] || die "50 MB: expected 4 files (2556 x 3 + 2332)"
if "$PY" -c "import torch" 2>/dev/null; then
  "$PY" - p50pt p25 <<'EOF' || die "torch could not read the --format pt output as the seed's TensorDataset"
import json, os, struct, sys
import torch
from torch.utils.data import TensorDataset
pt, sh = sys.argv[1], sys.argv[2]

def load_shard(p):
    # What safetensors.torch.load_file does (the package may not be installed for this python).
    try:
        from safetensors.torch import load_file
        return load_file(p)
    except ImportError:
        b = open(p, "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        hdr = json.loads(b[8:8 + n])
        dt = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
        out = {}
        for k, v in hdr.items():
            if k == "__metadata__":
                continue
            s, e = v["data_offsets"]
            out[k] = torch.frombuffer(bytearray(b[8 + n + s:8 + n + e]), dtype=dt[v["dtype"]]).reshape(v["shape"])
        return out

shards = [load_shard(os.path.join(sh, f"{i}.safetensors")) for i in range(1, 9)]
img = torch.cat([s["images"] for s in shards]); mag = torch.cat([s["magnitudes"] for s in shards])
z = torch.cat([s["redshift"] for s in shards]); ids = torch.cat([s["ids"] for s in shards])
assert ids.tolist() == list(range(10000))
got = []
for i in range(1, 5):
    ds = torch.load(os.path.join(pt, f"{i}.pt"))
    assert isinstance(ds, TensorDataset), type(ds)
    a, m, r = ds.tensors
    n = 2556 if i < 4 else 10000 - 3 * 2556
    assert a.dtype == torch.float32 and tuple(a.shape) == (n, 5, 32, 32), (a.dtype, a.shape)
    assert m.dtype == torch.float64 and tuple(m.shape) == (n, 5), (m.dtype, m.shape)
    assert r.dtype == torch.float32 and tuple(r.shape) == (n,), (r.dtype, r.shape)
    assert len(ds) == n
    got.append(ds.tensors)
assert torch.equal(torch.cat([g[0] for g in got]), img)
assert torch.equal(torch.cat([g[1] for g in got]), mag)
assert torch.equal(torch.cat([g[2] for g in got]), z)
assert 0 < float(z.min()) and float(z.max()) < 0.4
print("torch: 4 seed-format partitions, 10000 galaxies, identical to the shards; median z %.3f" % float(z.median()))
EOF
else
  echo "note: $PY has no torch; skipped the torch.load check"
fi
# and back: split the seed-format files into shards again: same galaxies, same ids, same bytes
"$CAI" split p50pt --partition-mb 25 -o back -q >/dev/null || die "split pt -> shard"
cmp p25/manifest.jsonl back/manifest.jsonl || die "pt -> shard round trip changed the partitions"

# ---- bad command lines and inputs ----
expect_fail() { # code, needle, command...
  local code=$1 needle=$2; shift 2
  set +e; "$@" >out.txt 2>err.txt; local rc=$?; set -e
  [ $rc = "$code" ] || die "'$*' exited $rc, expected $code: $(cat err.txt)"
  grep -q -- "$needle" err.txt || die "'$*': message lacks '$needle': $(cat err.txt)"
}
expect_fail 2 "--galaxies is required" "$CAI" synth -o x
expect_fail 2 "expected an integer >= 1, got \"ten\"" "$CAI" synth --galaxies ten -o x
expect_fail 2 "expected \"shard\" or \"pt\"" "$CAI" synth --galaxies 3 --format npz -o x
expect_fail 2 "exactly one of --partition-mb" "$CAI" split syn -o x
expect_fail 2 "--partition-mb: expected a positive number" "$CAI" split syn --partition-mb big -o x
expect_fail 1 "nope" "$CAI" split nope --partition-mb 25 -o x
expect_fail 2 "already holds a data set" "$CAI" split syn --partition-mb 25 -o p25
mkdir -p junk && echo "hello" >junk/1.pt
expect_fail 1 "junk/1.pt: not a partition" "$CAI" split junk --partition-mb 25 -o x2
head -c 1000000 syn/2.safetensors >junk2.safetensors
expect_fail 1 "junk2.safetensors" "$CAI" split junk2.safetensors --partition-mb 25 -o x3
echo "synth_split: ok"
