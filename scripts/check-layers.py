#!/usr/bin/env python3
"""check-layers.py — no #include goes up or sideways between the layers of src/ (docs/architecture.md).

  cli -> engine -> pipeline -> {model, data, store} -> format -> common

A file may include its own directory and any layer below its own; model, data and store are side by side and
must not include one another (format/ exists so that model and data can share file formats without that).
Usage: scripts/check-layers.py [ROOT]   (exits 1 listing each offending include as FILE:LINE: A -> B)
"""
import os
import re
import sys

RANK = {"common": 0, "format": 1, "model": 2, "data": 2, "store": 2, "pipeline": 3, "engine": 4, "cli": 5}
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path, src):
    rel = os.path.relpath(path, src).split(os.sep)
    return rel[0] if len(rel) > 1 else None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    src = os.path.join(root, "src")
    bad = []
    for d, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(d, f)
            me = layer_of(path, src)
            if me not in RANK:
                bad.append(f"{path}: directory '{me}' is not a known layer")
                continue
            with open(path, encoding="utf-8", errors="replace") as fh:
                for n, line in enumerate(fh, 1):
                    m = INC.match(line)
                    if not m:
                        continue
                    # resolved as the compiler does: beside the file first, then -I src
                    cand = os.path.normpath(os.path.join(d, m.group(1)))
                    if not os.path.exists(cand):
                        cand = os.path.normpath(os.path.join(src, m.group(1)))
                    if not os.path.exists(cand) or not cand.startswith(os.path.normpath(src) + os.sep):
                        continue  # a system or generated header
                    it = layer_of(cand, src)
                    if it == me:
                        continue
                    if it not in RANK or RANK[it] >= RANK[me]:
                        kind = "sideways" if RANK.get(it) == RANK[me] else "up"
                        bad.append(f"{path}:{n}: {me} -> {it} ({kind}: {m.group(1)})")
    for b in bad:
        print(b)
    print(f"check-layers: {len(bad)} include(s) going up or sideways", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
