#!/usr/bin/env bash
# funclen.sh — `make funclen-check`: no function over 150 lines outside the pickle VM's opcode switch.
# Strict: a new function over the limit fails the suite (FUNCLEN_STRICT=0 only lists them). The check itself must be able to fail: a 151-line function in a scratch tree is listed, and
# --strict exits 1 on it; "//" inside a string (a URL) does not hide a function from it; a long struct or
# initializer is not a function.
set -euo pipefail
: "${TMPDIR:?}"
die() { echo "funclen: FAIL: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
make -s --no-print-directory -C "$REPO" funclen-check FUNCLEN_STRICT="${FUNCLEN_STRICT:-1}" \
  || die "functions over 150 lines (listed above)"
W=$(mktemp -d "$TMPDIR/funclen.XXXX")
mkdir -p "$W/src/x" "$W/src/format"
{ echo 'static int is_s3(const char *u) { return u[0] == "s3://"[0]; }'
  echo 'int long_one(int x) {'
  for i in $(seq 1 149); do echo "    x += $i;"; done
  echo '}'
  echo 'int short_one(int x) { return x; }'
  echo 'typedef struct {'; for i in $(seq 1 160); do echo "    char f$i[sizeof(int)];"; done; echo '} big_struct;'
  echo 'static const int table[] = {'; for i in $(seq 1 160); do echo "    $i,"; done; echo '};'; } > "$W/src/x/a.c"
{ echo 'static int run(int x) {'; for i in $(seq 1 200); do echo "    x += $i;"; done; echo '}'; } > "$W/src/format/torchpickle.c"
(cd "$W" && "$REPO/scripts/funclen.py" 150 >out.txt 2>err.txt) || die "report-only mode failed: $(cat "$W/err.txt")"
grep -qx "151 src/x/a.c long_one" "$W/out.txt" || die "the 151-line function was not listed: $(cat "$W/out.txt")"
[ "$(wc -l < "$W/out.txt")" = 1 ] || die "listed more than long_one (the pickle VM, a struct, a table?): $(cat "$W/out.txt")"
if (cd "$W" && "$REPO/scripts/funclen.py" --strict 150 >/dev/null 2>&1); then die "--strict passed a 151-line function"; fi
(cd "$W" && "$REPO/scripts/funclen.py" --strict 151 >/dev/null 2>&1) || die "--strict failed at a limit of 151"
echo "funclen: ok"
