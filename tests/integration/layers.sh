#!/usr/bin/env bash
# layers.sh — no #include in src/ goes up or sideways between the layers (cli -> engine -> pipeline ->
# model|data|store -> format -> common; scripts/check-layers.py), and the check itself can fail: in a scratch
# tree, model including data (sideways), common including pipeline (up) and store including engine through
# the -I src spelling are each named with file and line, while a layer skipped downwards passes.
set -euo pipefail
: "${TMPDIR:?}"
die() { echo "layers: FAIL: $*" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
"$REPO/scripts/check-layers.py" "$REPO" || die "includes going up or sideways (listed above)"
W=$(mktemp -d "$TMPDIR/layers.XXXX")
mkdir -p "$W/src/"{common,format,model,data,store,pipeline,engine,cli}
for d in common format model data store pipeline engine cli; do echo "/* $d */" > "$W/src/$d/$d.h"; done
printf '#include "../common/common.h"\n#include "../format/format.h"\n#include <stdio.h>\n' > "$W/src/model/ok.c"
printf '#include "../common/common.h"\n#include "../model/model.h"\n' > "$W/src/engine/skip.c"
"$REPO/scripts/check-layers.py" "$W" >/dev/null 2>&1 || die "a clean scratch tree failed"
printf '#include "format.h"\n\n#include "../data/data.h"\n' > "$W/src/model/bad1.c"
printf '#include "../pipeline/pipeline.h"\n' > "$W/src/common/bad2.h"
printf '#include "engine/engine.h"\n' > "$W/src/store/bad3.c"
rc=0; "$REPO/scripts/check-layers.py" "$W" >"$W/out.txt" 2>&1 || rc=$?
[ $rc -eq 1 ] || die "exit $rc on a tree with bad includes: $(cat "$W/out.txt")"
grep -q "src/model/bad1.c:3: model -> data (sideways" "$W/out.txt" || die "model -> data not named: $(cat "$W/out.txt")"
grep -q "src/common/bad2.h:1: common -> pipeline (up" "$W/out.txt" || die "common -> pipeline not named"
grep -q "src/store/bad3.c:1: store -> engine (up" "$W/out.txt" || die "store -> engine (-I src spelling) not named"
grep -q "3 include(s)" "$W/out.txt" || die "expected exactly 3: $(cat "$W/out.txt")"
echo "layers: ok"
