#!/usr/bin/env bash
# Run each built fuzzer (build/fuzz/fuzz_<name>) for $FUZZ_SECONDS seconds (default 60) on a scratch copy of
# its committed seed corpus fuzz/corpus/<name>/ (new inputs stay in the scratch copy; the committed corpus
# is only read). Exits non-zero if any fuzzer finds a crash, leak, sanitizer error or timeout; the
# reproducer is kept in build/fuzz/artifacts/<name>/.  Build first with `make fuzz-build`.
# Usage: fuzz/run.sh [NAME...]   (default: every build/fuzz/fuzz_*; NAME as in fuzz_NAME)
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
if [ $# -gt 0 ]; then bins=(); for n in "$@"; do bins+=("build/fuzz/fuzz_${n#fuzz_}"); done
else bins=(build/fuzz/fuzz_*); fi
[ -x "${bins[0]}" ] || { echo "fuzz/run.sh: no fuzzers in build/fuzz (run make fuzz-build)"; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for bin in "${bins[@]}"; do
  [ -x "$bin" ] || continue
  name=${bin##*/fuzz_}
  work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
  art="build/fuzz/artifacts/$name"
  mkdir -p "$art"
  [ -d "fuzz/corpus/$name" ] && cp fuzz/corpus/"$name"/* "$work"/ 2>/dev/null
  log="$work.log"
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$art/" "$work" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    echo "fuzz_$name: ok, ${runs:-?} in ${secs}s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) inputs"
  else
    echo "fuzz_$name: FAILED (rc=$rc); reproducer in $art/"
    grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -20
    cp "$log" "$art/last.log"
    failed+=("$name")
  fi
  rm -rf "$work" "$log"
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzzers that failed: ${failed[*]}"; exit 1; }
