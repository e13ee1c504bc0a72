#!/usr/bin/env bash
# no_print.sh — libcai prints nothing itself (scripts/check-no-print.py over src/ outside src/cli: it reports
# through cai_err, common/diag.h or a FILE * it is given), and the check catches a library file that does.
set -euo pipefail
: "${TMPDIR:?}"
die() { echo "no_print: FAIL: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
python3 "$REPO/scripts/check-no-print.py" "$REPO" || die "libcai prints (see above)"
# The check must be able to fail: a copy of the tree with one library file that prints to stderr, one that
# prints to stdout, and one CLI file that prints (allowed) and a comment that says "stderr" (not a hit).
W=$(mktemp -d "$TMPDIR/noprint.XXXX")
mkdir -p "$W/src/pipeline" "$W/src/store" "$W/src/cli"
printf '/* goes to stderr? no */\nint f(void) { return 0; }\n' > "$W/src/pipeline/quiet.c"
printf '#include <stdio.h>\nvoid g(int x) {\n    fprintf(stderr, "x=%%d\\n", x);\n}\n' > "$W/src/pipeline/loud.c"
printf '#include <stdio.h>\nvoid h(void) { puts("hi"); }\n' > "$W/src/store/loud2.c"
printf '#include <stdio.h>\nvoid k(void) { printf("cli\\n"); }\n' > "$W/src/cli/cmd.c"
if python3 "$REPO/scripts/check-no-print.py" "$W" > "$W/out.txt"; then die "printing files passed: $(cat "$W/out.txt")"; fi
grep -q "src/pipeline/loud.c:3:" "$W/out.txt" || die "fprintf(stderr) not reported: $(cat "$W/out.txt")"
grep -q "src/store/loud2.c:2:" "$W/out.txt" || die "puts() not reported: $(cat "$W/out.txt")"
! grep -q "quiet.c\|src/cli" "$W/out.txt" || die "a comment or the CLI was reported: $(cat "$W/out.txt")"
echo "no_print: ok"
