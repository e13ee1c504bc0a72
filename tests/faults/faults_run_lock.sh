#!/usr/bin/env bash
# faults_run_lock.sh — issue 9 item 3: a run has an identity and holds its result_path. (a) A second run on the same
# result_path while the first is running refuses to start and says who holds it (run id, pid, host, start
# time); the first finishes complete with one model only. (b) A lock left by a crashed run (its pid is gone)
# is reported as stale and taken over only with --force. (c) Records carry the run id. Before the fix both
# runs exited 0 "complete" with a catalog mixing two models (weights_sha256 "mixed").
source "$(dirname "$0")/faults_lib.bash"
make_weights
make_weights43
make_data 300 25
payload 12 '"world_size": 12'
"$CAI" run payload.json --store store --weights w.safetensors --workers 1 --threads 1 --no-progress \
  >a.out 2>a.err &
a=$!
for i in $(seq 1 300); do [ -f "$RES/run.lock" ] && break; sleep 0.05; done
[ -f "$RES/run.lock" ] || die "the first run took no lock on its result_path"
rc=0; run_cai b --weights w43.safetensors || rc=$?
wait $a || { cat a.out a.err; die "the first run failed"; }
cat a.out a.err
[ $rc -ne 0 ] || die "a second run on the same result_path started"
grep -q "in use by run" b.err || die "the refusal does not say the result_path is in use"
grep -q "pid $a on host $(hostname)" b.err || die "the refusal does not name the holder's pid and host"
grep -q "started 20" b.err || die "the refusal does not say when the holder started"
grep -q "complete:     yes" a.out || die "the first run is not complete"
run_id=$(awk '/^run id:/ {print $3}' a.out)
[ -n "$run_id" ] || die "the report shows no run id"
grep -q "$run_id" b.err || die "the refusal does not name the holder's run id"
[ "$(jget "$RES/summary.json" 'd["model"]["weights_sha256"]')" = "$(sha256 w.safetensors)" ] \
  || die "the catalog is not all from the first run's weights"
[ "$(jget "$RES/summary.json" 'd["run_id"]')" = "$run_id" ] || die "summary.json has another run id"
[ "$(jget "$RES/0.json" 'd["run_id"]')" = "$run_id" ] || die "rank records do not carry the run id"
[ ! -e "$RES/run.lock" ] || die "the lock outlived the run"

# (b) a crashed run's lock: pid that no longer exists, this host
sh -c 'exit 0' & dead=$!; wait $dead
printf '{"run_id":"crashed-1","pid":%d,"host":"%s","start_unix":1,"start_iso":"2026-01-01T00:00:00Z"}' \
  $dead "$(hostname)" > "$RES/run.lock"
rc=0; run_cai c --weights w.safetensors || rc=$?
[ $rc -ne 0 ] || die "a run started over a stale lock without --force"
grep -q "crashed-1" c.err && grep -q "stale" c.err && grep -q -- "--force" c.err \
  || die "the refusal does not explain the stale lock and --force"
run_cai d --weights w.safetensors --force || die "--force did not take over the stale lock"
grep -q "complete:     yes" d.out || die "not complete after --force"
# a crash of a run that is then resumed: the lock carries the very run id --resume reuses, and is still stale
rid=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['CAI_RUN_ID'])" "$RES/jobs.jsonl")
printf '{"run_id":"%s","pid":%d,"host":"%s","start_unix":1,"start_iso":"2026-01-01T00:00:00Z"}' \
  "$rid" $dead "$(hostname)" > "$RES/run.lock"
rc=0; run_cai c2 --weights w.safetensors --resume || rc=$?
[ $rc -ne 0 ] && grep -q "stale" c2.err || die "--resume went past the stale lock of the run it resumes"
run_cai d2 --weights w.safetensors --resume --force || die "--resume --force did not take over the stale lock"
grep -q "12 of 12 ranks already complete" d2.err || die "--resume --force did not resume"
# a live holder is never broken, even with --force
printf '{"run_id":"alive-1","pid":%d,"host":"%s","start_unix":1,"start_iso":"2026-01-01T00:00:00Z"}' \
  $$ "$(hostname)" > "$RES/run.lock"
rc=0; run_cai e --weights w.safetensors --force || rc=$?
[ $rc -ne 0 ] || die "--force broke the lock of a running process"
rm -f "$RES/run.lock"
echo "faults_run_lock: ok"
