#!/usr/bin/env python3
"""funclen.py — list C functions longer than LIMIT lines (default 150) in src/, bench/ and tests/.

Usage: scripts/funclen.py [--strict] [LIMIT]
Prints "LINES FILE FUNCTION" for each function over the limit that is not in ALLOW. Exits 0 (a report)
unless --strict is given, then 1 when any is listed. Comments and string literals are blanked first so
braces inside them do not count; a function's length runs from the line with its name to its closing brace.
"""
import glob
import re
import sys

# The one function allowed to be long: the restricted pickle VM's opcode switch reads best as one table.
ALLOW = {("src/format/torchpickle.c", "run")}


TOKENS = re.compile(r"/\*.*?\*/|//[^\n]*|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)


AGGREGATE = re.compile(r"^\s*(?:(?:static|const|typedef)\s+)*(?:struct|union|enum)\b|.*=\s*\{")


def functions(path):
    txt = open(path, encoding="utf-8", errors="replace").read()
    # One pass, so that "s3://" in a string is not a comment and "/*" in a string does not open one.
    txt = TOKENS.sub(lambda m: "\n" * m.group(0).count("\n") if m.group(0)[0] == "/" else m.group(0)[0] * 2, txt)
    lines = txt.split("\n")
    depth, start, name = 0, None, None
    for i, line in enumerate(lines):
        for ch in line:
            if ch == "{":
                if depth == 0:
                    k, s = i, ""
                    while k >= 0 and k > i - 6:
                        s = lines[k] + " " + s
                        if "(" in lines[k] and re.match(r"^[A-Za-z_]", lines[k]):
                            break
                        k -= 1
                    m = re.search(r"([A-Za-z_]\w*)\s*\(", s)
                    name = m.group(1) if m and "=" not in s.split("(")[0] else None
                    if AGGREGATE.match(line):  # a struct/union/enum body or an initializer, not a function
                        name = None
                    start = k
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0 and name:
                    yield name, i - start + 1
                    name = None


def main(argv):
    strict = "--strict" in argv
    args = [a for a in argv if a != "--strict"]
    limit = int(args[0]) if args else 150
    files = sorted(glob.glob("src/**/*.c", recursive=True) + glob.glob("bench/*.c") +
                   glob.glob("tests/**/*.c", recursive=True))
    over = [(n, f, fn) for f in files for fn, n in functions(f) if n > limit and (f, fn) not in ALLOW]
    for n, f, fn in over:
        print(n, f, fn)
    print(f"funclen: {len(over)} function(s) over {limit} lines" + ("" if strict else " (report only)"),
          file=sys.stderr)
    return 1 if strict and over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
