#!/usr/bin/env bash
# format_check.sh — the tree is in .clang-format's style: clang-format changes no file (make format-check),
# and the check itself catches a file that is not.
set -euo pipefail
: "${TMPDIR:?}"
die() { echo "format_check: FAIL: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang-format >/dev/null || { echo "clang-format not installed (scripts/deps.sh test installs it)"; exit 77; }
make -s --no-print-directory -C "$REPO" format-check || die "clang-format would change the files above (make format)"
# The check must be able to fail: a copy of a checked file, mis-indented, is reported.
W=$(mktemp -d "$TMPDIR/fmt.XXXX")
cp "$REPO/.clang-format" "$W/"
printf 'int f(int x) {\n  if (x)\n      return 1;\n  return 0; }\n' > "$W/bad.c"
mkdir -p "$W/scripts" && cp "$REPO/scripts/format-check.sh" "$W/scripts/"
if (cd "$W" && scripts/format-check.sh bad.c >out.txt 2>&1); then die "a mis-formatted file passed: $(cat "$W/out.txt")"; fi
grep -q "1 would change" "$W/out.txt" || die "unexpected report: $(cat "$W/out.txt")"
echo "format_check: ok"
