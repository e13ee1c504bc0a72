#!/usr/bin/env bash
# cai cost and cai plan from the command line: the seed README's table beside the bill, a bill from a
# seed run folder and from parameters, plans for the seed's 659,817 galaxies, refusals.
set -uo pipefail
: "${CAI:?}" "${FIXTURES:?}"
T=${TMPDIR:-/tmp}/cost_plan.$$
mkdir -p "$T"
fail() { echo "FAIL: $*"; exit 1; }
"$CAI" cost --seed-table >"$T/seed" || fail "cost --seed-table"
for want in "25 MB      517      6.55   2.8GB     0.16" "50 MB      259     11.80   4.0GB     0.20" \
            "75 MB      173     17.60   5.9GB     0.30" "100 MB      130     25.00   7.0GB     0.38" "33.7m" "10,240 MB"; do
  grep -qF "$want" "$T/seed" || { cat "$T/seed"; fail "seed table lacks: $want"; }
done
"$CAI" cost --partitions 173 --seconds-per-invocation 33.7 --galaxies 659817 >"$T/p" || fail "cost from parameters"
grep -q 'Lambda compute          \$0.97' "$T/p" || { cat "$T/p"; fail "75 MB bill: 173 x 33.7 s x 10 GB = \$0.97"; }
grep -q 'per million galaxies' "$T/p" || fail "per million galaxies"
"$CAI" cost --partitions 173 --seconds-per-invocation 33.7 --arch arm64 --sfn express >"$T/a" || fail "arm64/express"
grep -q 'arm64' "$T/a" && grep -q 'Express' "$T/a" || fail "arm64/express output"
  "$CAI" cost "$FIXTURES/seed-results/result-partition-25MB/1GB/1" --galaxies 52398 >"$T/r" || fail "cost RUN_DIR"
  grep -q '41 ranks with data' "$T/r" && grep -q 'seed records' "$T/r" || { cat "$T/r"; fail "run notes"; }
"$CAI" cost --memory-mb 20000 --partitions 1 --seconds-per-invocation 1 2>"$T/e" && fail "memory limit"
"$CAI" cost "$T/nonexistent" 2>"$T/e" && fail "missing run"
"$CAI" cost 2>/dev/null && fail "no inputs"

"$CAI" plan --galaxies 659817 --deadline 60 >"$T/plan" || fail "plan deadline 60"
grep -q 'why: the cheapest plan that finishes within 60 s' "$T/plan" || { cat "$T/plan"; fail "plan explanation"; }
printf '{"threads":1,"batch":256,"galaxies_per_s":150}\n{"threads":4,"batch":256,"galaxies_per_s":560}\n' >"$T/bench.json"
"$CAI" plan --galaxies 659817 --budget 0.5 --bench "$T/bench.json" >"$T/plan2" || { cat "$T/plan2"; fail "plan budget + bench"; }
grep -q 'measured by cai bench' "$T/plan2" || fail "bench note"
"$CAI" plan --galaxies 659817 --deadline 2 2>"$T/r1" && fail "deadline 2 s must be refused"
grep -q 'cold-start floor' "$T/r1" || fail "refusal reason"
"$CAI" plan --galaxies 659817 --budget 0.001 2>"$T/r2" && fail "tiny budget must be refused"
grep -q 'minimum bill' "$T/r2" || fail "budget refusal reason"
"$CAI" plan --galaxies 659817 --deadline 60 --max-concurrency 20000 --account-concurrency 30000 2>"$T/r3" && fail "20000"
grep -q 'MaxConcurrency' "$T/r3" || fail "MaxConcurrency refusal"
"$CAI" plan --galaxies 659817 --deadline 60 --max-concurrency 5000 2>"$T/r4" && fail "5000 over default quota"
grep -q 'quota' "$T/r4" || fail "quota refusal"
"$CAI" plan --galaxies 659817 2>/dev/null && fail "needs deadline or budget"
cat "$T/plan"
echo ok
