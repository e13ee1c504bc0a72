#!/usr/bin/env bash
# Fail (and show the diff) if clang-format, with the repository's .clang-format, would change any of the
# given files. Usage: scripts/format-check.sh FILE...
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "format-check: clang-format not installed (scripts/deps.sh test)"; exit 1; }
bad=0 checked=0
for f in "$@"; do
  checked=$((checked + 1))
  if ! out=$(clang-format --style=file "$f" | diff -u "$f" - ); then
    echo "$out" | sed "2s|^+++ -|+++ $f (clang-format)|"
    bad=$((bad + 1))
  fi
done
echo "format-check: $checked files checked, $bad would change"
[ $bad -eq 0 ]
