#!/usr/bin/env bash
# cli_flags.sh — one flag style across the CLI (getopt_long in every command): an unknown flag and a flag
# without its value are refused by every command with exit status 2 and a message that names the flag, and
# `--help` prints the usage on stdout with exit status 0.
set -uo pipefail
: "${TMPDIR:?}"
die() { echo "cli_flags: FAIL: $*" >&2; exit 1; }
CAI=${CAI:-$(cd "$(dirname "$0")/../.." && pwd)/${CAI_BUILD:-build}/cai}
[ -x "$CAI" ] || die "$CAI not built"
W=$(mktemp -d "$TMPDIR/cli_flags.XXXX")
cd "$W"
# COMMAND... -- A-FLAG-THAT-TAKES-A-VALUE
check() {
  local args=() f
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  f=$2
  local rc=0
  "$CAI" "${args[@]}" --no-such-flag >out.txt 2>err.txt || rc=$?
  [ $rc = 2 ] || die "cai ${args[*]} --no-such-flag: exit $rc, expected 2 ($(cat err.txt))"
  grep -q -- "--no-such-flag" err.txt || die "cai ${args[*]} --no-such-flag: the message does not name it: $(cat err.txt)"
  rc=0
  "$CAI" "${args[@]}" "$f" >out.txt 2>err.txt || rc=$?
  [ $rc = 2 ] || die "cai ${args[*]} $f (no value): exit $rc, expected 2 ($(cat err.txt))"
  grep -q -- "$f" err.txt || die "cai ${args[*]} $f (no value): the message does not name it: $(cat err.txt)"
  grep -q "requires an argument" err.txt || die "cai ${args[*]} $f (no value): unclear message: $(cat err.txt)"
  rc=0
  "$CAI" "${args[@]}" --help >out.txt 2>err.txt || rc=$?
  [ $rc = 0 ] && grep -qi "usage" out.txt || die "cai ${args[*]} --help: exit $rc, or no usage on stdout"
}
check aws logs -- --stack
check bench -- --seconds
check calibrate -- --out
check convert -- --init
check cost -- --partitions
check initialize -- --store
check lambda -- --stage
check plan -- --galaxies
check plot -- --out
check predict -- --weights
check report -- --out
check run -- --store
check slurm submit -- --store
check split -- --partition-mb
check stats -- --out
check summarize -- --store
check synth -- --galaxies
check worker -- --store
# a bad value names the flag and what was expected
rc=0; "$CAI" plan --galaxies lots 2>err.txt || rc=$?
[ $rc = 2 ] && grep -q -- '--galaxies: expected a number' err.txt || die "plan --galaxies lots: $(cat err.txt)"
rc=0; "$CAI" bench --dz-galaxies 0 2>err.txt || rc=$?
[ $rc = 2 ] && grep -q -- '--dz-galaxies: expected an integer in \[1, 1000000\]' err.txt || die "bench --dz-galaxies 0: $(cat err.txt)"
rc=0; "$CAI" aws logs --limit 0 2>err.txt || rc=$?
[ $rc = 2 ] && grep -q -- '--limit: expected an integer in \[1, 10000\]' err.txt || die "aws logs --limit 0: $(cat err.txt)"
rc=0; "$CAI" plan --galaxies 10 --deadline 60 stray 2>err.txt || rc=$?
[ $rc = 2 ] && grep -q "unexpected argument 'stray'" err.txt || die "plan stray: $(cat err.txt)"
echo "cli_flags: ok"
