#!/usr/bin/env bash
# manpage.sh — cai(1) against the commands themselves:
#  * the page scripts/man.sh generates from $CAI is the one the build made ($CAI_BUILD/cai.1, what
#    `make install` installs);
#  * groff reads it without a warning;
#  * it has a section for every command `cai --help` lists, and every option each `cai CMD --help`
#    mentions appears in it, as the program prints it.
set -euo pipefail
: "${CAI:?}" "${CAI_BUILD:?}" "${TMPDIR:?}"
die() { echo "manpage: FAIL: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# Leaks are not what this test checks: a sanitizer build's `cai mpi --help` starts the MPI runtime.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
W=$(mktemp -d "$TMPDIR/man.XXXX")
"$REPO/scripts/man.sh" "$CAI" > "$W/cai.1" || die "scripts/man.sh"
case $CAI_BUILD in /*) B=$CAI_BUILD ;; *) B=$REPO/$CAI_BUILD ;; esac
if [ -f "$B/cai.1" ]; then cmp -s "$B/cai.1" "$W/cai.1" || die "$B/cai.1 is stale (differs from scripts/man.sh $CAI)"; fi
groff -man -ww -z -Tutf8 "$W/cai.1" 2>"$W/groff.err" || die "groff failed: $(cat "$W/groff.err")"
[ ! -s "$W/groff.err" ] || die "groff warnings: $(head "$W/groff.err")"
# Rendered as a reader sees it (no hyphenation, wide lines so option lists stay whole).
groff -man -Tutf8 -rLL=200n -P-cbou -rHY=0 "$W/cai.1" 2>/dev/null > "$W/cai.txt"
grep -q "^NAME" "$W/cai.txt" || die "no NAME section"
tr -s ' ' < "$W/cai.txt" > "$W/cai.squeezed"
mapfile -t cmds < <("$CAI" --help | awk '/^  [a-z]/ {print $1}')
[ ${#cmds[@]} -ge 10 ] || die "cai --help lists only ${#cmds[@]} commands"
for c in "${cmds[@]}"; do
  grep -q "^   cai $c\$" "$W/cai.txt" || die "no section for 'cai $c'"
  "$CAI" "$c" --help > "$W/help.txt" || die "cai $c --help exited non-zero"
  # Each help line must appear in the page as printed (whitespace runs aside).
  while IFS= read -r line; do
    [ -n "${line// }" ] || continue
    norm=$(echo "$line" | tr -s ' ' | sed 's/^ //')
    grep -qF -- "$norm" "$W/cai.squeezed" || die "cai $c --help line missing from cai.1: '$line'"
  done < "$W/help.txt"
  n=$( (grep -oE -- '--[a-z][a-z0-9-]+' "$W/help.txt" || true) | sort -u | wc -l)
  echo "cai $c: $(wc -l < "$W/help.txt") help lines, $n options: in cai.1"
done
echo "manpage: ok (${#cmds[@]} commands)"
