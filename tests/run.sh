#!/usr/bin/env bash
# Run every test: the cmocka unit binaries in $CAI_BUILD/tests, then each tests/integration/*.sh and tests/faults/*.sh.
# Integration scripts get CAI (the cai binary), CAI_BUILD, TORCH_PY (/usr/bin/python3 with torch),
# FIXTURES (tests/fixtures) and a private TMPDIR; each exits 0 to pass, 77 to skip. With FUZZ_SECONDS set, each
# fuzzer in build/fuzz then runs that many seconds as one more test.
# Ends with the line "tests: N passed, M failed, K skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
export CAI_BUILD=${CAI_BUILD:-build}
case $CAI_BUILD in /*) export CAI="$CAI_BUILD/cai" ;; *) export CAI="$PWD/$CAI_BUILD/cai" ;; esac
export TORCH_PY=${TORCH_PY:-/usr/bin/python3}
# Fixtures (the seed's result files, the state_dict key lists) live in the repository: a clone needs nothing beside it.
export FIXTURES=${FIXTURES:-$PWD/tests/fixtures}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}
filter=${1:-}
pass=0; fail=0; skip=0; failed=()
logdir=$(mktemp -d /tmp/cai-tests.XXXXXX)
run_one() { # name, command...
  local name=$1; shift
  [ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && return
  local t0=$SECONDS log="$logdir/$(basename "$name").log"
  TMPDIR=$(mktemp -d "$logdir/tmp.XXXX") "$@" >"$log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then pass=$((pass+1)); echo "PASS $name ($((SECONDS-t0))s)"
  elif [ $rc -eq 77 ]; then skip=$((skip+1)); echo "SKIP $name: $(tail -1 "$log")"
  else fail=$((fail+1)); failed+=("$name"); echo "FAIL $name (rc=$rc, $((SECONDS-t0))s)"; tail -40 "$log" | sed 's/^/    /'; fi
}
for t in "$CAI_BUILD"/tests/test_*; do [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"; done
for t in tests/integration/*.sh; do [ -f "$t" ] && run_one "integration/$(basename "$t" .sh)" bash "$t"; done
# The fault suite (issue 9): each finding of the adversarial review as a test that failed before its fix.
for t in tests/faults/*.sh; do [ -f "$t" ] && run_one "faults/$(basename "$t" .sh)" bash "$t"; done
# With FUZZ_SECONDS set (make test sets it), each built fuzzer runs that long on its seed corpus and counts
# as one test (fuzz/run.sh, with its own ASAN_OPTIONS: non-zero on a crash, leak, sanitizer error, timeout).
if [ -n "${FUZZ_SECONDS:-}" ]; then
  for f in build/fuzz/fuzz_*; do [ -x "$f" ] && run_one "fuzz/$(basename "$f")" env -u ASAN_OPTIONS fuzz/run.sh "${f##*/fuzz_}"; done
fi
echo
# Logs are kept only when something failed.
if [ $fail -gt 0 ]; then echo "failed: ${failed[*]} (logs in $logdir)"; else rm -rf --one-file-system "$logdir"; fi
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
