#!/usr/bin/env bash
# package_deb.sh — `make deb` as a Debian user would use its result:
#  * dpkg-buildpackage builds cai and libcai-dev from debian/; the version is src/common/version.h's
#    (debian/changelog agrees), Depends comes from ${shlibs:Depends} (names libdnnl, libcurl, ...);
#  * the cai .deb extracted into an empty root (dpkg -x) holds the binary and the man page, and that
#    binary prints the version and does a tiny run (untrained weights, 2 partitions, 2 workers) whose
#    summary counts every galaxy; libcai-dev holds libcai.a, cai.pc and the headers.
# About a minute: the package build compiles the library once more (release flags, no tests).
set -euo pipefail
: "${TMPDIR:?}"
die() { echo "package_deb: FAIL: $*" >&2; exit 1; }
command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null && command -v fakeroot >/dev/null \
  || { echo "dpkg-dev, debhelper or fakeroot not installed (scripts/deps.sh test installs them)"; exit 77; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d "$TMPDIR/deb.XXXX")
version=$(sed -n 's/^#define CAI_VERSION_STRING "\(.*\)"/\1/p' "$REPO/src/common/version.h")
cl=$(cd "$REPO" && dpkg-parsechangelog -S Version)
[ "$cl" = "$version" ] || die "debian/changelog says $cl, src/common/version.h says $version"

make -s --no-print-directory -C "$REPO" deb DEB_DIR="$W/deb" >"$W/build.log" 2>&1 \
  || { tail -30 "$W/build.log"; die "make deb"; }
deb=$W/deb/cai_${version}_amd64.deb dev=$W/deb/libcai-dev_${version}_amd64.deb mpi=$W/deb/cai-mpi_${version}_amd64.deb
[ -f "$deb" ] && [ -f "$dev" ] && [ -f "$mpi" ] || die "expected $deb, $mpi and $dev; got: $(ls "$W/deb")"
dpkg-deb -f "$mpi" Depends | grep -q libopenmpi || die "cai-mpi Depends lacks libopenmpi: $(dpkg-deb -f "$mpi" Depends)"
! dpkg-deb -f "$deb" Depends | grep -q mpi || die "cai (not cai-mpi) depends on MPI: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -c "$mpi" > "$W/mpi.list"
grep -q ' ./usr/bin/cai-mpi$' "$W/mpi.list" || die "no usr/bin/cai-mpi in cai-mpi: $(cat "$W/mpi.list")"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libdnnl libcurl libcjson1 libcfitsio libssl3 libc6; do
  [[ "$depends" == *"$lib"* ]] || die "Depends lacks $lib (not from shlibs?): $depends"
done

R=$W/root
mkdir "$R"
dpkg -x "$deb" "$R"
[ -x "$R/usr/bin/cai" ] || die "no usr/bin/cai in the package"
[ -f "$R/usr/share/man/man1/cai.1.gz" ] || die "no man page in the package"
zcat "$R/usr/share/man/man1/cai.1.gz" | grep -q '^\.SS cai run' || die "the packaged man page lacks 'cai run'"
out=$("$R/usr/bin/cai" --version)
[ "$out" = "cai $version" ] || die "packaged cai --version: '$out'"

# A tiny run with the packaged binary alone.
cd "$W"
C=$R/usr/bin/cai
"$C" convert --init vitae --seed 42 w.safetensors >/dev/null || die "packaged cai convert --init"
"$C" synth --galaxies 40 --seed 7 --galaxies-per-file 20 -o store/cosmicai-data/25MB -q >/dev/null \
  || die "packaged cai synth"
cat > payload.json <<'JSON'
{"bucket": "cosmicai-data", "file_limit": "2", "batch_size": 16, "object_type": "folder",
 "S3_object_name": "Anomaly Detection", "script": "/tmp/Anomaly Detection/Inference/inference.py",
 "result_path": "result-partition-25MB/deb/1", "data_bucket": "cosmicai-data", "data_prefix": "25MB"}
JSON
"$C" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 -q >run.log 2>&1 \
  || { cat run.log; die "packaged cai run"; }
res=store/cosmicai-data/result-partition-25MB/deb/1
python3 - "$res/summary.json" <<'PY' || die "summary.json: not 40 galaxies, complete"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["galaxies"] == 40 and d["complete"] is True else 1)
PY
[ "$(($(wc -l < "$res/predictions.csv") - 1))" = 40 ] || die "predictions.csv should have 40 rows: $(wc -l < "$res/predictions.csv")"
[ -f "$res/predictions.fits" ] || die "no predictions.fits"

R2=$W/devroot
mkdir "$R2"
dpkg -x "$dev" "$R2"
for f in usr/lib/x86_64-linux-gnu/libcai.a usr/lib/x86_64-linux-gnu/pkgconfig/cai.pc usr/include/cai/common/err.h; do
  [ -f "$R2/$f" ] || die "libcai-dev lacks $f"
done
grep -qx "libdir=/usr/lib/x86_64-linux-gnu" "$R2/usr/lib/x86_64-linux-gnu/pkgconfig/cai.pc" || die "cai.pc libdir"
echo "package_deb: ok ($(basename "$deb"), $(basename "$dev"); Depends: $depends)"
