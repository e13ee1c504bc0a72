#!/usr/bin/env bash
# faults_local_timeout.sh — issue 9 items 9 and 11: a stuck worker is killed after --rank-timeout and its rank
# fails naming the timeout (before: the run waited forever), and killing the parent (kill -9) takes its
# workers with it (before: they ran on until their rank ended). A stuck worker is made with SIGSTOP; the
# timeout (15 s) is far above what a rank of 25 galaxies takes even under ASan, so no rank times out by chance.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/integration/pipeline_lib.bash"
make_weights
make_data 100 25                                   # 4 partitions of 25
payload 4
workers_of() { pgrep -P "$1" | tr '\n' ' '; }
wait_workers() { # PID N: wait until PID has N children
  local i ws
  for i in $(seq 1 200); do ws=$(workers_of "$1"); [ "$(echo $ws | wc -w)" -ge "$2" ] && { echo "$ws"; return; }; sleep 0.05; done
  die "no workers appeared"
}

# 1. A stopped worker: its rank times out, the worker is killed and replaced, the other ranks finish.
"$CAI" run payload.json --store store --weights w.safetensors --workers 1 --threads 1 --no-progress \
  --rank-timeout 15 >out.txt 2>err.txt &
pid=$!
w=$(wait_workers $pid 1); w=${w%% *}
kill -STOP $w
rc=0; timeout 120 tail --pid=$pid -f /dev/null || die "the run did not end after a worker stopped"
wait $pid || rc=$?
cat err.txt
[ $rc -eq 1 ] || die "exit $rc, want 1"
grep -q "rank 0 FAILED: timed out after 15 s (--rank-timeout): worker pid $w killed" err.txt || die "no timeout message"
[ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 75 ] || die "the other 3 ranks should have finished"
grep -q "complete:     NO" out.txt || die "must not say complete"
# --resume then finishes the timed-out rank.
"$CAI" run payload.json --store store --weights w.safetensors --workers 1 --threads 1 --no-progress --resume \
  >out.txt 2>err.txt || { cat err.txt; die "resume failed"; }
grep -q "complete:     yes" out.txt || die "resume did not complete"
# The flag is checked like the others.
rc=0; "$CAI" run payload.json --store store --rank-timeout -5 2>err.txt >/dev/null || rc=$?
[ $rc -eq 2 ] && grep -q -- "--rank-timeout" err.txt || die "a negative --rank-timeout: exit $rc"

# 2. kill -9 of the parent: its workers die too (gone, or zombies waiting for init to reap them).
"$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress \
  >out.txt 2>err.txt &
pid=$!
ws=$(wait_workers $pid 2)
kill -9 $pid
wait $pid 2>/dev/null || true
alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1; [ "$st" != Z ] && [ "$st" != X ]; }
for i in $(seq 1 100); do
  left=""; for w in $ws; do alive $w && left="$left $w"; done
  [ -z "$left" ] && break
  sleep 0.05
done
[ -z "$left" ] || { for w in $left; do kill -9 $w; done; die "workers$left outlived their parent"; }
echo "faults_local_timeout: ok"
