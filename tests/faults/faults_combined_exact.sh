#!/usr/bin/env bash
# faults_combined_exact.sh — issue 9 item 6: combined_data.json holds exactly the job list's records. A run with
# file_limit 12 and then one with file_limit 6 at the same result_path: combined_data.json has the 6 ranks of
# the second run, and `cai cost` bills 6 ranks. Before the fix it kept all 12 records (3,000 galaxies under a
# summary of 1,500) and the bill counted 12 ranks.
source "$(dirname "$0")/faults_lib.bash"
make_weights
make_data 120 10
payload 12 '"world_size": 12'
run_cai a --weights w.safetensors || die "the run with file_limit 12"
payload 6 '"world_size": 6'
run_cai b --weights w.safetensors || die "the run with file_limit 6"
[ "$(jget "$RES/combined_data.json" 'len(d)')" = 6 ] || die "combined_data.json does not hold exactly the 6 ranks"
[ "$(jget "$RES/combined_data.json" 'sum(r["galaxies"] for r in d)')" = 60 ] || die "combined_data.json galaxies"
[ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 60 ] || die "summary galaxies"
[ "$(jget "$RES/summary.json" 'd["ignored_records"]')" = 6 ] || die "summary does not count the 6 ignored records"
"$CAI" cost "$RES" >cost.json 2>cost.err || { cat cost.err; die "cai cost"; }
cat cost.json
grep -q "6 ranks with data" cost.json && grep -q "(6 invocations" cost.json || die "cai cost does not bill 6 ranks"
echo "faults_combined_exact: ok"
