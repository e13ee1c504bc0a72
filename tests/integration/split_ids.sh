#!/usr/bin/env bash
# split_ids.sh — `cai split INPUT --ids TABLE`: survey ids and positions attached to the seed's .pt input
# (which has none) from a CSV (row order) or a FITS table (matched by an id column, any row order); carried
# through a re-split; and every bad table refused with the file, column and row named.
source "$(dirname "$0")/pipeline_lib.bash"
SYSPY=${TORCH_PY:-/usr/bin/python3}
"$SYSPY" -c 'import astropy, numpy' 2>/dev/null || skip "python3-astropy not installed ($SYSPY)"
"$CAI" synth --galaxies 30 --seed 3 --galaxies-per-file 30 --format pt -o raw >/dev/null || die "synth"
"$SYSPY" - <<'PYEOF'
import csv, numpy as np
from astropy.table import Table
n = 30
objid = 1237648720693755918 + np.arange(n) * 3
ra = (10.0 + 11.1 * np.arange(n)) % 360
dec = -30.0 + 2.0 * np.arange(n)
with open("rows.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["objid", "ra", "dec"])
    for i in range(n): w.writerow([objid[i], repr(float(ra[i])), repr(float(dec[i]))])
perm = np.random.default_rng(1).permutation(n)   # any order: matched by the id column
Table({"GID": perm + 100, "OBJID": objid[perm], "RA": ra[perm], "DEC": dec[perm]}).write("ids.fits", overwrite=True)
np.save("want.npy", np.stack([objid.astype(float), ra, dec]))
PYEOF
# read a shard's objid/ra/dec (safetensors: 8-byte header length, JSON header, raw little-endian data)
check() { # DIR PARTITIONS
  "$SYSPY" - "$1" "$2" <<'PYEOF' || die "ids/positions in $1 are wrong"
import json, struct, sys, numpy as np
d, parts = sys.argv[1], int(sys.argv[2])
got = {"objid": [], "ra": [], "dec": []}
for p in range(1, parts + 1):
    b = open(f"{d}/{p}.safetensors", "rb").read()
    h = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + h])
    for k, dt in (("objid", "<i8"), ("ra", "<f8"), ("dec", "<f8")):
        s, e = hdr[k]["data_offsets"]
        got[k].append(np.frombuffer(b[8 + h + s:8 + h + e], dtype=dt))
want = np.load("want.npy")
objid = np.concatenate(got["objid"])
assert (objid == (1237648720693755918 + np.arange(30) * 3)).all(), objid
assert (np.concatenate(got["ra"]) == want[1]).all() and (np.concatenate(got["dec"]) == want[2]).all()
PYEOF
}
"$CAI" split raw --partition-mb 0.2 --ids rows.csv -o csvout >/dev/null || die "split --ids rows.csv"
check csvout 3
"$CAI" split raw --partition-mb 0.2 --id-offset 100 --ids ids.fits --ids-column gid -o fitsout >/dev/null \
  || die "split --ids ids.fits --ids-column gid"
check fitsout 3
# carried through a re-split of the shards (no --ids)
"$CAI" split csvout --partition-mb 0.3 -o again >/dev/null || die "re-split"
check again 2
# refusals: each names the table and what is wrong
bad() { # EXPECTED_PATTERN ARGS...
  local pat=$1; shift
  rm -rf badout
  if "$CAI" split raw --partition-mb 0.2 -o badout "$@" >/dev/null 2>err.txt; then die "accepted: $*"; fi
  grep -Eq -- "$pat" err.txt || { cat err.txt; die "error for '$*' lacks /$pat/"; }
}
head -21 rows.csv > short.csv
bad "short.csv: 20 rows, but the input has more galaxies" --ids short.csv
{ cat rows.csv; echo "1,2.0,3.0"; } > long.csv
bad "long.csv: 31 rows, but the input has 30 galaxies" --ids long.csv
sed '5s/,[^,]*,/,400.5,/' rows.csv > badra.csv
bad "badra.csv: row 4: ra 400.5 is outside \[0, 360\)" --ids badra.csv
sed '3s/^[0-9]*/12x/' rows.csv > badint.csv
bad "badint.csv line 3: column \"objid\": expected an integer, got \"12x\"" --ids badint.csv
printf 'objid,ra\n1,2\n' > nodec.csv
bad "nodec.csv: header: column \"ra\" without \"dec\"" --ids nodec.csv
printf 'name,mag\nx,1\n' > none.csv
bad "none.csv: no objid column and no ra/dec columns" --ids none.csv
bad "ids.fits: no column \"nope\"" --ids ids.fits --ids-column nope
bad "galaxy id 0 .* is not in the id column of ids.fits" --ids ids.fits --ids-column gid
printf 'gid,objid\n0,1\n0,2\n' > dup.csv
bad "dup.csv: column \"gid\": id 0 appears twice \(rows 1 and 2\)" --ids dup.csv --ids-column gid
bad "--ids needs shard output" --ids rows.csv --format pt
echo "split_ids: ok"
