#!/usr/bin/env bash
# install.sh — `make install` / `make uninstall` with PREFIX and DESTDIR, as a cluster admin runs them:
#  * the binary, cai.1, libcai.a, cai.pc and the public headers (by layer, no *_internal.h) land under
#    DESTDIR/PREFIX, and nothing else;
#  * the installed cai runs (--version is the one in src/common/version.h);
#  * a program compiled only against the installed tree (pkg-config cai, headers, libcai.a) builds and runs;
#  * `make uninstall` with the same variables leaves no file behind; a second PREFIX (/opt/cai) lands there.
# Uses the already-built $CAI_BUILD (make -o: nothing is rebuilt here).
set -euo pipefail
: "${CAI:?}" "${CAI_BUILD:?}" "${TMPDIR:?}"
die() { echo "install: FAIL: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d "$TMPDIR/inst.XXXX")
version=$(sed -n 's/^#define CAI_VERSION_STRING "\(.*\)"/\1/p' "$REPO/src/common/version.h")
[ -n "$version" ] || die "no CAI_VERSION_STRING in src/common/version.h"
mk() { make -s --no-print-directory -C "$REPO" BUILD="$CAI_BUILD" -o "$CAI_BUILD/cai" -o "$CAI_BUILD/cai-mpi" -o "$CAI_BUILD/libcai.a" "$@"; }

D=$W/root
mk install DESTDIR="$D" PREFIX=/usr >"$W/install.log" 2>&1 || { cat "$W/install.log"; die "make install"; }
for f in usr/bin/cai usr/bin/cai-mpi usr/share/man/man1/cai.1 usr/lib/libcai.a usr/lib/pkgconfig/cai.pc \
         usr/include/cai/common/err.h usr/include/cai/common/version.h usr/include/cai/model/model.h \
         usr/include/cai/pipeline/stages.h usr/include/cai/store/store.h usr/include/cai/data/manifest.h; do
  [ -f "$D/$f" ] || die "missing $f after make install"
done
[ -x "$D/usr/bin/cai" ] || die "usr/bin/cai is not executable"
! find "$D" -name '*_internal.h' | grep -q . || die "an *_internal.h header was installed"
! find "$D" -path '*/cli/*' | grep -q . || die "CLI headers were installed"
# Every library header, and nothing else, under include/cai.
want=$(cd "$REPO/src" && find . -name '*.h' ! -path './cli/*' ! -name '*_internal.h' | sort)
got=$(cd "$D/usr/include/cai" && find . -name '*.h' | sort)
[ "$want" = "$got" ] || die "installed headers differ from src/: $(diff <(echo "$want") <(echo "$got") | head)"
# No file outside the expected directories.
stray=$(cd "$D" && find . -type f ! -path './usr/bin/*' ! -path './usr/share/man/man1/*' ! -path './usr/lib/*' \
          ! -path './usr/include/cai/*')
[ -z "$stray" ] || die "unexpected files installed: $stray"

out=$("$D/usr/bin/cai" --version)
[ "$out" = "cai $version" ] || die "installed cai --version: '$out', expected 'cai $version'"
grep -qx "libdir=/usr/lib" "$D/usr/lib/pkgconfig/cai.pc" || die "cai.pc libdir: $(cat "$D/usr/lib/pkgconfig/cai.pc")"
grep -qx "Version: $version" "$D/usr/lib/pkgconfig/cai.pc" || die "cai.pc version"

# A consumer built from the installed tree only (pkg-config through the DESTDIR sysroot).
export PKG_CONFIG_SYSROOT_DIR=$D PKG_CONFIG_PATH=$D/usr/lib/pkgconfig
[ "$(pkg-config --modversion cai)" = "$version" ] || die "pkg-config --modversion cai"
cflags=$(pkg-config --cflags cai) libs=$(pkg-config --libs cai) || die "pkg-config cai"
[[ " $cflags " == *" -I$D/usr/include/cai "* ]] || die "pkg-config --cflags: $cflags"
cat > "$W/consumer.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "common/err.h"
#include "common/version.h"
#include "data/split.h"
int main(void) {
    /* the seed's 25 MB partition holds 1,278 galaxies */
    printf("%s %lld %s\n", CAI_VERSION_STRING, (long long)cai_split_galaxies_for_mb(25.0), cai_strerror(CAI_ENOMEM));
    return 0;
}
C
san=""
# (grep without -q: reading all of nm's output, so no SIGPIPE under pipefail)
if nm "$D/usr/lib/libcai.a" 2>/dev/null | grep __asan_report >/dev/null; then san="-fsanitize=address,undefined"; fi
${CC:-gcc} $san -o "$W/consumer" "$W/consumer.c" $cflags $libs 2>"$W/cc.log" || { cat "$W/cc.log"; die "consumer does not build"; }
got=$("$W/consumer")
[[ "$got" == "$version 1278 "* ]] || die "consumer printed '$got'"

mk uninstall DESTDIR="$D" PREFIX=/usr >"$W/uninstall.log" 2>&1 || { cat "$W/uninstall.log"; die "make uninstall"; }
left=$(find "$D" -type f)
[ -z "$left" ] || die "files left after make uninstall: $left"

# Another prefix: everything under it, cai.pc says so.
D2=$W/root2
mk install DESTDIR="$D2" PREFIX=/opt/cai >/dev/null 2>&1 || die "make install PREFIX=/opt/cai"
[ -x "$D2/opt/cai/bin/cai" ] && [ -f "$D2/opt/cai/lib/libcai.a" ] && [ -f "$D2/opt/cai/share/man/man1/cai.1" ] \
  || die "PREFIX=/opt/cai: files not under /opt/cai: $(cd "$D2" && find . -type f | head)"
grep -qx "includedir=/opt/cai/include" "$D2/opt/cai/lib/pkgconfig/cai.pc" || die "cai.pc for /opt/cai"
mk uninstall DESTDIR="$D2" PREFIX=/opt/cai >/dev/null 2>&1 || die "make uninstall PREFIX=/opt/cai"
[ -z "$(find "$D2" -type f)" ] || die "files left after uninstall of /opt/cai"
echo "install: ok"
