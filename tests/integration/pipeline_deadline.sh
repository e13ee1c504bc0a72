#!/usr/bin/env bash
# pipeline_deadline.sh — a rank given a deadline it cannot meet (a Lambda about to time out) stops before
# starting a partition that would not fit, writes what is done, lists the rest as unfinished, exits
# non-zero; its record is not trusted by --resume, which then finishes the run.
source "$(dirname "$0")/pipeline_lib.bash"
make_weights
make_data 60 20            # 3 partitions, one rank
payload 3 '"world_size": 1'
"$CAI" initialize payload.json --store store -q >/dev/null || die "initialize"
rc=0; "$CAI" worker --store store --jobs cosmicai-data/result-partition-25MB/test/1 --rank 0 \
  --weights w.safetensors --threads 1 --deadline 0.5 >rec.json 2>err.txt || rc=$?
cat err.txt
[ $rc -ne 0 ] || die "the worker claimed success past its deadline"
grep -q "deadline reached; 3 of 3 partitions unfinished" err.txt || die "message"
[ "$(jget "$RES/0.json" 'd["status"]')" = unfinished ] || die "status"
[ "$(jget "$RES/0.json" 'd["partitions_unfinished"]')" = 3 ] || die "partitions_unfinished"
[ ! -e "$RES/predictions/0.csv" ] || die "a predictions file was written for no galaxies"
ls "$RES" | grep -q '\.tmp\.' && die "a temporary file was left behind"
"$CAI" run payload.json --store store --weights w.safetensors --resume --no-progress >out.txt 2>err.txt \
  || { cat out.txt err.txt; die "--resume after the deadline failed"; }
grep -q "complete:     yes" out.txt || die "not complete after resume"
[ "$(jget "$RES/summary.json" 'd["galaxies"]')" = 60 ] || die "galaxies"
echo "pipeline_deadline: ok"
