#!/usr/bin/env bash
# Build the AWS Lambda package: a zip that runs on provided.al2023 (glibc 2.34) although `cai` is built on
# Debian 12 (glibc 2.36). It brings its own dynamic loader and every library `ldd` lists, and `bootstrap`
# starts the binary through that loader, so no library of the host image is used.
#
#   scripts/lambda-package.sh [--cai PATH] [--weights FILE] [-o OUT.zip]
#
# Defaults: --cai $BUILD/cai (BUILD=build), -o build/lambda/cai-lambda.zip, no weights (the template's
# WeightsKey then points the worker at S3; or pass --weights to bundle weights.safetensors).
# Layout of the zip:
#   bootstrap                    /bin/sh script: exec lib/ld-linux-x86-64.so.2 --library-path lib bin/cai lambda
#   bin/cai                      the binary (debug info stripped)
#   lib/                         the loader and the libraries, symlinks resolved, under their sonames
#   etc/ca-certificates.crt      CA bundle for HTTPS to S3 when the image's own is absent
#   weights.safetensors          optional
# Prints the zip and unzipped sizes; fails if the unzipped size passes Lambda's 250 MB limit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CAI_BIN=$BUILD/cai
OUT=build/lambda/cai-lambda.zip
WEIGHTS=
while [ $# -gt 0 ]; do
  case $1 in
    --cai) CAI_BIN=$2; shift 2 ;;
    --weights) WEIGHTS=$2; shift 2 ;;
    -o) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "lambda-package: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
die() { echo "lambda-package: $*" >&2; exit 1; }
[ -x "$CAI_BIN" ] || die "$CAI_BIN: no such executable (run make first, or pass --cai)"
[ -z "$WEIGHTS" ] || [ -r "$WEIGHTS" ] || die "$WEIGHTS: cannot read the weights"
for t in ldd zip strip; do command -v $t >/dev/null || die "$t not found (apt-get install zip binutils)"; done
case $(uname -m) in x86_64) LOADER=ld-linux-x86-64.so.2 ;; aarch64) LOADER=ld-linux-aarch64.so.1 ;;
  *) die "unsupported architecture $(uname -m)" ;; esac

OUT_ABS=$(mkdir -p "$(dirname "$OUT")" && cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/cai-lambda-pkg.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/etc"
cp "$CAI_BIN" "$STAGE/bin/cai"
strip --strip-debug "$STAGE/bin/cai"

# Every library the loader would map, with the path it resolves to here. `ldd` prints
#   libfoo.so.1 => /usr/lib/x86_64-linux-gnu/libfoo.so.1 (0x...)   and   /lib64/ld-linux-x86-64.so.2 (0x...)
# A "not found" line means the binary cannot run even here: stop.
LDD=$(ldd "$CAI_BIN") || die "ldd $CAI_BIN failed"
if grep -q "not found" <<<"$LDD"; then die "missing libraries: $(grep 'not found' <<<"$LDD" | tr -s ' \t' ' ')"; fi
if grep -q "libasan" <<<"$LDD"; then echo "lambda-package: warning: $CAI_BIN is a sanitizer build (fine for tests, not for deployment)" >&2; fi
n=0
while read -r name arrow path _; do
  if [ "$arrow" = "=>" ] && [ -n "$path" ] && [ "${path:0:1}" = / ]; then
    cp -L "$path" "$STAGE/lib/$name"
    n=$((n + 1))
  elif [ "${name:0:1}" = / ] && [ "$(basename "$name")" = "$LOADER" ]; then
    cp -L "$name" "$STAGE/lib/$LOADER"
  fi
done <<<"$LDD"
[ -f "$STAGE/lib/$LOADER" ] || die "ldd did not list the loader $LOADER"
[ -f "$STAGE/lib/libc.so.6" ] || die "ldd did not list libc.so.6"
chmod 755 "$STAGE/lib/$LOADER"

# CA certificates for HTTPS (libcurl's compiled-in default path is Debian's; bootstrap prefers the
# image's own bundle when it exists and falls back to this copy).
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
  [ -r "$ca" ] && { cp -L "$ca" "$STAGE/etc/ca-certificates.crt"; break; }
done

cat > "$STAGE/bootstrap" <<EOF
#!/bin/sh
# CAI custom runtime for provided.al2023: run bin/cai through the bundled loader and libraries (glibc of the build machine), never the image's.
[ -n "\$AWS_CA_BUNDLE" ] || if [ -r /etc/pki/tls/certs/ca-bundle.crt ]; then export AWS_CA_BUNDLE=/etc/pki/tls/certs/ca-bundle.crt; else export AWS_CA_BUNDLE="\$LAMBDA_TASK_ROOT/etc/ca-certificates.crt"; fi
exec "\$LAMBDA_TASK_ROOT/lib/$LOADER" --library-path "\$LAMBDA_TASK_ROOT/lib" "\$LAMBDA_TASK_ROOT/bin/cai" lambda "\$@"
EOF
chmod 755 "$STAGE/bootstrap" "$STAGE/bin/cai"
[ -n "$WEIGHTS" ] && cp -L "$WEIGHTS" "$STAGE/weights.safetensors"

# Lambda runs the code as a non-root user: every file must be world-readable (and the programs executable),
# whatever the builder's umask made of the copies (`umask 077` would leave lib/*.so rw-------).
chmod -R u=rwX,go=rX "$STAGE"
chmod 755 "$STAGE/bootstrap" "$STAGE/bin/cai" "$STAGE/lib/$LOADER"

# Deterministic-ish zip: fixed order, no extra attributes; permissions kept (bootstrap must be executable).
rm -f "$OUT_ABS"
(cd "$STAGE" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | zip -q -X -9 "$OUT_ABS" -@)
unz=$(du -sb "$STAGE" | cut -f1)
zsz=$(stat -c %s "$OUT_ABS")
limit=$((250 * 1000 * 1000))
printf 'lambda-package: %s: zip %.1f MB, unzipped %.1f MB (limit 250 MB), %d libraries + loader%s\n' \
  "$OUT" "$(echo "$zsz / 1000000" | bc -l)" "$(echo "$unz / 1000000" | bc -l)" "$n" \
  "$([ -n "$WEIGHTS" ] && echo ", weights bundled")"
[ "$unz" -le "$limit" ] || die "unzipped size $unz bytes is over Lambda's 250 MB limit"
