#!/usr/bin/env bash
# hpc_worker_index.sh — the shard-index contract: `cai worker --jobs RUN/jobs.jsonl --index env` runs the line
# named by SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX, JOB_COMPLETION_INDEX or OMPI_COMM_WORLD_RANK/PMIX_RANK
# (the first set), says which it used, applies --index-base, takes threads from SLURM_CPUS_PER_TASK, records the
# engine and scheduler ids; a missing, malformed or out-of-range index is a clear error (exit 2).
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/pipeline_lib.bash"
make_weights
make_data 80 20              # 4 partitions of 20
payload 4 '"world_size": 4'
"$CAI" initialize payload.json --store store >/dev/null 2>&1 || die "initialize"
JOBS=cosmicai-data/result-partition-25MB/test/1/jobs.jsonl
# A clean environment: none of the index variables (this test may itself run inside a SLURM job).
clean=(env -u SLURM_ARRAY_TASK_ID -u AWS_BATCH_JOB_ARRAY_INDEX -u JOB_COMPLETION_INDEX -u OMPI_COMM_WORLD_RANK
       -u PMIX_RANK -u SLURM_CPUS_PER_TASK -u SLURM_JOB_ID -u SLURM_ARRAY_JOB_ID -u AWS_BATCH_JOB_ID)
wk() { # [VAR=VALUE...] [worker options...]
  local vars=()
  while [ $# -gt 0 ] && [[ $1 != -* && $1 == *=* ]]; do vars+=("$1"); shift; done
  "${clean[@]}" "${vars[@]}" "$CAI" worker --store store --jobs "$JOBS" --weights w.safetensors --threads 1 --index env "$@"
}

check() { # VAR VALUE EXTRA_ENV... -> rank VALUE(-base) ran; record engine
  local var=$1 val=$2 rank=$3 engine=$4; shift 4
  rm -f "$RES/$rank.json"
  wk "$var=$val" "$@" >out.txt 2>err.txt || { cat err.txt; die "$var=$val failed"; }
  grep -q "index $rank from $var=$val" err.txt || { cat err.txt; die "worker did not say it used $var"; }
  [ -f "$RES/$rank.json" ] || die "$var=$val did not run rank $rank"
  [ "$(jget "$RES/$rank.json" 'd["engine"]')" = "$engine" ] || die "$var: engine is not $engine"
}
check SLURM_ARRAY_TASK_ID 1 1 slurm SLURM_JOB_ID=77 SLURM_ARRAY_JOB_ID=76
[ "$(jget "$RES/1.json" 'd["slurm"]["array_job_id"]')" = 76 ] || die "slurm array job id not recorded"
[ "$(jget "$RES/1.json" 'd["slurm"]["job_id"]')" = 77 ] || die "slurm job id not recorded"
check AWS_BATCH_JOB_ARRAY_INDEX 2 2 aws-batch AWS_BATCH_JOB_ID=abc:2
[ "$(jget "$RES/2.json" 'd["aws_batch"]["job_id"]')" = abc:2 ] || die "batch job id not recorded"
check JOB_COMPLETION_INDEX 3 3 kubernetes
check OMPI_COMM_WORLD_RANK 0 0 mpi
check PMIX_RANK 2 2 mpi
# the first set wins; the base is subtracted (SLURM arrays from 1)
rm -f "$RES/0.json"
wk SLURM_ARRAY_TASK_ID=1 JOB_COMPLETION_INDEX=3 --index-base 1 >/dev/null 2>err.txt || { cat err.txt; die "base"; }
grep -q "index 0 from SLURM_ARRAY_TASK_ID=1 (base 1): rank 0" err.txt || { cat err.txt; die "--index-base"; }
# --ranks-per-task: task 1 of 2-rank tasks runs ranks 2 and 3
rm -f "$RES/2.json" "$RES/3.json"
wk JOB_COMPLETION_INDEX=1 --ranks-per-task 2 >/dev/null 2>err.txt || { cat err.txt; die "ranks-per-task"; }
grep -q "ranks 2..3" err.txt && [ -f "$RES/2.json" ] && [ -f "$RES/3.json" ] || die "--ranks-per-task 2"
# threads from SLURM_CPUS_PER_TASK (no --threads)
rm -f "$RES/1.json"
"${clean[@]}" SLURM_ARRAY_TASK_ID=1 SLURM_CPUS_PER_TASK=2 "$CAI" worker --store store --jobs "$JOBS" \
  --weights w.safetensors --index env >/dev/null 2>&1 || die "SLURM_CPUS_PER_TASK run"
[ "$(jget "$RES/1.json" 'd["threads"]')" = 2 ] || die "threads not taken from SLURM_CPUS_PER_TASK"
# the plain form, and the run folder without /jobs.jsonl
"${clean[@]}" "$CAI" worker --store store --jobs cosmicai-data/result-partition-25MB/test/1 --index 0 \
  --weights w.safetensors --threads 1 >/dev/null 2>&1 || die "--index 0 with the run folder"

# errors: each names what is wrong, exit status 2
bad() { # expected-pattern command...
  local pat=$1 rc=0; shift
  "$@" >/dev/null 2>err.txt || rc=$?
  [ $rc = 2 ] || { cat err.txt; die "expected exit 2 for: $*"; }
  grep -q -- "$pat" err.txt || { cat err.txt; die "message lacks '$pat'"; }
}
bad "none of SLURM_ARRAY_TASK_ID, AWS_BATCH_JOB_ARRAY_INDEX, JOB_COMPLETION_INDEX" wk
bad "index 4 (SLURM_ARRAY_TASK_ID=4) is out of range: $JOBS has 4 ranks, so task indices are 0..3" wk SLURM_ARRAY_TASK_ID=4
bad "index 2 (JOB_COMPLETION_INDEX=2) is out of range: .* in tasks of 2, so task indices are 0..1" wk JOB_COMPLETION_INDEX=2 --ranks-per-task 2
bad 'SLURM_ARRAY_TASK_ID="x1": expected a non-negative integer' wk SLURM_ARRAY_TASK_ID=x1
bad 'AWS_BATCH_JOB_ARRAY_INDEX="-1": expected a non-negative integer' wk AWS_BATCH_JOB_ARRAY_INDEX=-1
bad "SLURM_ARRAY_TASK_ID=0 is below --index-base 1" wk SLURM_ARRAY_TASK_ID=0 --index-base 1
bad 'SLURM_CPUS_PER_TASK="lots": expected an integer' "${clean[@]}" SLURM_CPUS_PER_TASK=lots "$CAI" worker \
  --store store --jobs "$JOBS" --index 0
bad '--index: expected a non-negative integer or "env", got "two"' "$CAI" worker --store store --jobs "$JOBS" --index two
bad "give either --job JOB.json, or --jobs" "$CAI" worker --store store --jobs "$JOBS"
echo "hpc_worker_index: ok"
