#!/usr/bin/env bash
# faults_kill_rounds.sh — issue 9's resume soak: 10 rounds of `cai run --resume`, each killing (SIGKILL) about 20% of the
# rank executions at random moments. After every round the catalog (predictions.csv, read here with python,
# independently of summary.json) holds no galaxy twice and only galaxies of the data set; whenever the report
# says complete it holds exactly every galaxy once. A last --resume must finish the run complete.
source "$(dirname "$0")/faults_lib.bash"
make_weights
make_data 160 10            # 16 partitions of 10: small, so a round takes a few seconds
payload 16 '"world_size": 16'
ids_of_manifest > ids.txt
[ "$(wc -l < ids.txt)" = 160 ] || die "manifest ids"
RANDOM=$(( $$ % 32768 ))
kills_total=0
# one_run TAG KILLS [--resume]: a run in the background; KILLS times, at a random moment, SIGKILL a worker that
# is computing a rank (not one waiting on its task pipe); then check the catalog.
one_run() {
  local tag=$1 want=$2; shift 2
  "$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress "$@" \
    >$tag.out 2>$tag.err &
  local pid=$! k
  k=$(kill_busy_workers $pid $want)
  local rc=0; wait $pid || rc=$?
  kills_total=$((kills_total + k))
  echo "$tag: killed $k workers, exit $rc"
  [ -f "$RES/predictions.csv" ] || { cat $tag.out $tag.err; die "$tag: no catalog"; }
  if grep -q "complete:     yes" $tag.out; then
    [ $rc -eq 0 ] || die "$tag: complete but exit $rc"
    catalog_check ids.txt complete || die "$tag: complete, yet the catalog is not every galaxy exactly once"
  else
    [ $rc -ne 0 ] || die "$tag: exit 0 but not complete"
    catalog_check ids.txt || die "$tag: the catalog holds a galaxy twice or one not in the data set"
  fi
  [ ! -e "$RES/run.lock" ] || die "$tag: the run left its lock behind"
}
# Each round: a fresh run losing ~20% of its 16 rank executions, a --resume losing ~20% of what is left, and a
# --resume left alone, which must end complete.
for round in $(seq 1 10); do
  one_run r$round.a 4
  left=$(jget "$RES/summary.json" 'len(d["failed_ranks"])')
  one_run r$round.b $(( (left + 4) / 5 )) --resume
  one_run r$round.c 0 --resume
  grep -q "complete:     yes" r$round.c.out || { cat r$round.c.out r$round.c.err; die "round $round: not complete"; }
done
[ $kills_total -ge 20 ] || die "only $kills_total workers were killed over 10 rounds"
[ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 160 ] || die "summary galaxies"
echo "faults_kill_rounds: ok ($kills_total workers killed over 10 rounds)"
