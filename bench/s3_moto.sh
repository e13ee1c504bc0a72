#!/usr/bin/env bash
# bench/s3_moto.sh — run bench_s3 against moto_server (signature checking on) on loopback.
#   CAI_BUILD=build bench/s3_moto.sh
# moto is a single Python process: these figures are moto's ceiling, not S3's; they show the store's
# own overhead is small (compare the latency columns) and that one store serves many threads.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${CAI_BUILD:-build}/bench/bench_s3
[ -x "$B" ] || { echo "bench/s3_moto.sh: build $B first (make)"; exit 1; }
source tests/lib/moto.sh
moto_start
aws --endpoint-url "$AWS_ENDPOINT_URL" s3api create-bucket --bucket cai-bench >/dev/null
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cpus; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
"$B" cai-bench
