#!/usr/bin/env python3
"""libcai never prints: everything under src/ outside src/cli reports through its caller (errors in cai_err,
warnings and progress through common/diag.h, reports into a FILE * it is given). This lists every place in
those files that writes to stdout or stderr itself, except the allow-list below (each with its reason).

    scripts/check-no-print.py [ROOT]     exit 1 and list the offenders, else print a one-line ok
Comments and string literals are stripped before matching, so a comment that says "stderr" is not a hit."""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# Writes to the process's own stdout/stderr: the stdio calls that use them implicitly, any mention of the
# stdout/stderr streams, and raw writes to fd 1 or 2. (A child's descriptors set up with posix_spawn are the
# child's, not ours.) printf-style format attributes are not calls.
PRINTS = re.compile(r"\b(printf|vprintf|puts|putchar|perror|stdout|stderr)\b"
                    r"|\b(write|dprintf)\s*\(\s*([12]|STDOUT_FILENO|STDERR_FILENO)\s*,")

# (path, regex on the stripped line, why). A file listed with ".*" is allowed whole.
ALLOW = [
    ("src/engine/mpi.c", r".*",
     "cai-mpi's own program (main() and its report), linked on its own with mpicc, never part of libcai"),
    ("src/engine/slurm.c", r"fprintf\(stderr, \"\", argv\[0\]",
     "in the forked child after execvp failed: its stderr is the pipe the parent captures as the error"),
    ("src/engine/aws.c", r"fflush\(stdout\)",
     "before the `aws` child inherits our stdout (its progress is the user's to see): flushes, prints nothing"),
]


def strip(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    text = re.sub(r"'(\\.|[^'\\\n])*'", "''", text)
    return re.sub(r"__attribute__\s*\(\(format\s*\(printf\b[^)]*\)\)\)", "", text)


bad = []
src = os.path.join(root, "src")
for dirpath, dirs, files in os.walk(src):
    rel_dir = os.path.relpath(dirpath, root)
    if rel_dir.split(os.sep)[:2] == ["src", "cli"]:
        continue
    for name in sorted(files):
        if not name.endswith((".c", ".h")):
            continue
        rel = os.path.join(rel_dir, name).replace(os.sep, "/")
        with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
            lines = strip(f.read()).split("\n")
        for no, line in enumerate(lines, 1):
            if not PRINTS.search(line):
                continue
            if any(rel == p and re.search(rx, line) for p, rx, _ in ALLOW):
                continue
            bad.append("%s:%d: %s" % (rel, no, line.strip()))
if bad:
    print("check-no-print: libcai writes to stdout/stderr itself (report through cai_err, common/diag.h or a "
          "FILE * the caller gives):")
    print("\n".join("  " + b for b in bad))
    sys.exit(1)
print("check-no-print: ok (src/ outside src/cli prints only through its caller)")
