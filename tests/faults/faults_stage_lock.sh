#!/usr/bin/env bash
# faults_stage_lock.sh — the run lock when the stages run in different processes (by hand, or a batch system's
# submit … Summarize job): `cai initialize --lock` takes <result_path>/run.lock for the run (not for its own
# process, which exits), a second initialize or a `cai run` on the same result_path refuses and names the holder,
# and `cai summarize --release-lock` releases it — only if the job list's run holds it.
source "$(dirname "$0")/faults_lib.bash"
make_weights
make_data 60 20
payload 3 '"world_size": 3'
LOCK="$RES/run.lock"
"$CAI" initialize payload.json --store store --lock -q >a.out 2>a.err || { cat a.out a.err; die "initialize --lock"; }
cat a.err
[ -f "$LOCK" ] || die "initialize --lock left no lock"
run_id=$(jget "$LOCK" 'd["run_id"]')
[ "$(head -1 "$RES/jobs.jsonl" | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["CAI_RUN_ID"])')" = "$run_id" ] \
  || die "the job list's run id is not the lock's"
[ "$(jget "$LOCK" 'd["holder"]')" = "cai initialize --lock" ] || die "the lock does not say what holds it"
[ "$(jget "$LOCK" 'd["pid"]')" = 0 ] || die "a detached lock must not name the (gone) initialize process"

# a second initialize, and a cai run, on the same result_path: refused by name, nothing overwritten
cp "$RES/jobs.jsonl" jobs.before
rc=0; "$CAI" initialize payload.json --store store --lock -q >b.out 2>b.err || rc=$?
cat b.err
[ $rc -eq 1 ] || die "a second initialize --lock exited $rc"
grep -q "in use by run $run_id (cai initialize --lock from host " b.err || die "the refusal does not name the holder"
cmp -s jobs.before "$RES/jobs.jsonl" || die "a refused initialize rewrote the job list"
rc=0; run_cai c --weights w.safetensors || rc=$?
[ $rc -eq 1 ] || die "cai run on a locked result_path exited $rc"
grep -q "in use by run $run_id" c.err || die "cai run's refusal does not name the holder"
# --force goes with --lock only
rc=0; "$CAI" initialize payload.json --store store --force -q 2>/dev/null || rc=$?
[ $rc -eq 2 ] || die "--force without --lock should be a usage error"

# the map, by hand
for r in 0 1 2; do
  "$CAI" worker --store store --jobs cosmicai-data/result-partition-25MB/test/1 --rank $r --weights w.safetensors \
    --threads 1 >/dev/null || die "worker rank $r"
done
[ -f "$LOCK" ] || die "the workers released the lock"

# summarize --release-lock while another run holds the lock (someone --forced it): the lock is left alone
cp "$LOCK" lock.ours
echo '{"run_id":"someone-else","pid":0,"holder":"slurm job 9","host":"h","start_iso":"x"}' > "$LOCK"
rc=0; "$CAI" summarize --store store cosmicai-data result-partition-25MB/test/1 --release-lock >d.out 2>d.err || rc=$?
cat d.err
[ $rc -ne 0 ] || die "summarize --release-lock of another run's lock succeeded"
grep -q "locked by run someone-else (slurm job 9 from host h), not by run $run_id" d.err || die "the refusal does not say who holds it"
[ "$(jget "$LOCK" 'd["run_id"]')" = someone-else ] || die "another run's lock was released"
[ "$(jget "$RES/summary.json" 'd["complete"]')" = True ] || die "summary not complete"
# our lock back: released, and the result_path is free again
cp lock.ours "$LOCK"
"$CAI" summarize --store store cosmicai-data result-partition-25MB/test/1 --release-lock >e.out 2>e.err \
  || { cat e.err; die "summarize --release-lock"; }
grep -q "released the lock of run $run_id" e.err || die "no release message"
[ ! -e "$LOCK" ] || die "the lock is still there"
run_cai f --weights w.safetensors >/dev/null || die "cai run after the release"
[ ! -e "$LOCK" ] || die "cai run left its lock"

# a stale detached lock: only --force breaks it
echo '{"run_id":"crashed","pid":0,"holder":"cai initialize --lock","host":"h","start_iso":"x"}' > "$LOCK"
rc=0; "$CAI" initialize payload.json --store store --lock -q 2>g.err || rc=$?
[ $rc -eq 1 ] && grep -q -- "--force" g.err || die "a detached lock was not refused with a --force hint"
"$CAI" initialize payload.json --store store --lock --force -q 2>h.err || { cat h.err; die "initialize --lock --force"; }
grep -q "breaking the lock" h.err || die "--force did not say it broke the lock"
[ "$(jget "$LOCK" 'd["run_id"]')" != crashed ] || die "--force did not take the lock"
echo "faults_stage_lock: ok"
