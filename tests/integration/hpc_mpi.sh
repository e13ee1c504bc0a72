#!/usr/bin/env bash
# hpc_mpi.sh — the MPI engine with Open MPI + PMIx: `mpirun -n 3 cai mpi` and `srun --mpi=pmix -n 3 cai mpi`
# inside `sbatch` (a real one-node SLURM cluster, daemons started and stopped here by PID) give predictions.csv
# byte-equal to `cai run`'s; one MPI rank killed mid-run (by PID) ends the run with an error naming it, the
# finished ranks' results are kept, and `--resume` completes the run with exactly one prediction per galaxy.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/pipeline_lib.bash"
source "$HERE/../lib/slurm.sh"
command -v mpirun >/dev/null || skip "mpirun is not installed (Debian openmpi-bin; scripts/deps.sh test installs it)"
CAIMPI=$(dirname "$(readlink -f "$CAI")")/cai-mpi
[ -x "$CAIMPI" ] || die "$CAIMPI was not built (make builds it with mpicc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's own allocations are not ours to chase under LeakSanitizer (the rest of ASan stays on).
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
make_weights
make_data 720 60             # 12 partitions of 60 galaxies
payload 12 '"world_size": 12'
"$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress >/dev/null 2>&1 \
  || die "cai run failed"
cp "$RES/predictions.csv" local.csv
rm -rf "$RES"

# `cai` itself carries no MPI; cai-mpi does.
# (through files: `ldd | grep -q` under pipefail fails when grep closes the pipe early)
ldd "$(readlink -f "$CAI")" >ldd-cai.txt; ldd "$CAIMPI" >ldd-cai-mpi.txt
grep -qi 'libmpi' ldd-cai.txt && die "cai links MPI"
grep -qi 'libmpi' ldd-cai-mpi.txt || die "cai-mpi does not link MPI"

# Bad input: a payload error on rank 0 stops every rank with the field named; no cai-mpi is a clear error.
echo '{"bucket": "b", "file_limit": "eleven"}' > bad.json
rc=0; mpirun --allow-run-as-root --oversubscribe -n 2 "$CAI" mpi bad.json --store store >bo.txt 2>be.txt || rc=$?
[ $rc -ne 0 ] || die "a bad payload succeeded"
grep -q 'bad.json: field "file_limit"' be.txt || { cat be.txt; die "the payload error does not name the field"; }
rc=0; CAI_MPI=/nonexistent/cai-mpi "$CAI" mpi payload.json 2>be.txt || rc=$?
[ $rc = 1 ] && grep -q "cannot run /nonexistent/cai-mpi" be.txt || { cat be.txt; die "missing cai-mpi"; }

# 1. mpirun -n 3: equal to the local engine.
mpirun --allow-run-as-root --oversubscribe -n 3 "$CAI" mpi payload.json --store store --weights w.safetensors \
  --threads 1 >out1.txt 2>err1.txt || { cat out1.txt err1.txt; die "mpirun cai mpi failed"; }
cat out1.txt err1.txt
cmp local.csv "$RES/predictions.csv" || die "mpirun: predictions differ from cai run's"
grep -q "complete:     yes" out1.txt || die "mpirun: not complete"
[ "$(jget "$RES/0.json" 'd["engine"]')" = mpi ] || die "record engine"
[[ "$(jget "$RES/0.json" 'd["mpi"]["rank"]')" =~ ^[012]$ ]] || die "record MPI rank"
# dynamic hand-out: every MPI rank ran jobs (rank 0 included)
for r in 0 1 2; do grep -q "on MPI rank $r " err1.txt || die "MPI rank $r ran no job"; done

# 2. One MPI rank killed mid-run: an error naming it; the others' results kept; --resume completes.
rm -rf "$RES"
mpirun --allow-run-as-root --oversubscribe -n 3 "$CAI" mpi payload.json --store store --weights w.safetensors \
  --threads 1 >out2.txt 2>err2.txt &
mpr=$!
killed=
for i in $(seq 1 600); do
  if [ "$(ls "$RES" 2>/dev/null | grep -c '^[0-9]*\.json$')" -ge 1 ]; then
    for c in $(pgrep -P $mpr); do
      if grep -qx 'OMPI_COMM_WORLD_RANK=1' < <(tr '\0' '\n' </proc/$c/environ 2>/dev/null); then
        kill -9 "$c" && killed=$c; break 2
      fi
    done
  fi
  sleep 0.05
done
rc=0; wait $mpr || rc=$?
cat out2.txt err2.txt
[ -n "$killed" ] || die "never found MPI rank 1 to kill"
[ $rc -ne 0 ] || die "the run succeeded although MPI rank 1 (pid $killed) was killed"
grep -q "process rank 1 " err2.txt || die "the launcher does not name MPI rank 1"
grep -q "on MPI rank 1 (pid $killed" err2.txt || die "cai mpi does not name the job rank MPI rank 1 ran"
kept=$(ls "$RES" | grep -c '^[0-9]*\.json$' || true)
[ "$kept" -ge 1 ] && [ "$kept" -lt 12 ] || die "expected some but not all ranks done before the kill ($kept)"
# The stopped run's lock stays behind: a plain --resume refuses and says how to take it over.
mpirun --allow-run-as-root --oversubscribe -n 3 "$CAI" mpi payload.json --store store --weights w.safetensors \
  --threads 1 --resume >out3.txt 2>err3.txt && die "--resume over a stopped run's lock did not refuse"
grep -q -- "--force" err3.txt || { cat err3.txt; die "the refusal does not say --force"; }
mpirun --allow-run-as-root --oversubscribe -n 3 "$CAI" mpi payload.json --store store --weights w.safetensors \
  --threads 1 --resume --force >out3.txt 2>err3.txt || { cat out3.txt err3.txt; die "--resume --force failed"; }
cat out3.txt err3.txt
grep -q -- "--resume: $kept of 12 ranks already complete" err3.txt || die "--resume did not skip the $kept complete ranks"
grep -q "complete:     yes" out3.txt || die "not complete after --resume"
[ "$(tail -n +2 "$RES/predictions.csv" | wc -l)" = 720 ] || die "not exactly 720 predictions"
cmp local.csv "$RES/predictions.csv" || die "after --resume: predictions differ from cai run's"
[ ! -e "$RES/run.lock" ] || die "cai mpi left its lock behind"
# Another run holds the result_path (a live process on this host): cai mpi refuses, names it, and --force does
# not break it; nothing of the finished run is touched.
sleep 300 & holder=$!
printf '{"run_id":"other-run","pid":%d,"host":"%s","start_iso":"2026-11-26T00:00:00Z"}' "$holder" "$(hostname)" \
  > "$RES/run.lock"
cp "$RES/predictions.csv" before.csv
for f in "" --force; do
  mpirun --allow-run-as-root --oversubscribe -n 2 "$CAI" mpi payload.json --store store --weights w.safetensors \
    --threads 1 $f >out4.txt 2>err4.txt && { kill $holder; die "cai mpi $f ran on a result_path held by a live run"; }
  grep -q "is in use by run other-run (pid $holder on host $(hostname)" err4.txt \
    || { cat err4.txt; kill $holder; die "cai mpi $f does not name the holder"; }
done
kill $holder; wait $holder 2>/dev/null || true
[ "$(jget "$RES/run.lock" 'd["run_id"]')" = other-run ] || die "the other run's lock was touched"
cmp -s before.csv "$RES/predictions.csv" || die "a refused cai mpi changed the catalog"
rm "$RES/run.lock"

# 3. srun --mpi=pmix -n 3 inside sbatch, on a real one-node cluster.
slurm_have || exit 77
srun_mpi_ok() { grep -q pmix < <(srun --mpi=list 2>&1); }
slurm_start "$W/cluster" 4 || die "cluster start"
trap slurm_stop EXIT
srun_mpi_ok || skip "this SLURM has no pmix MPI plugin"
rm -rf "$RES"
CAIABS=$(readlink -f "$CAI")
jid=$(sbatch --parsable -n 3 -o "$W/srun.out" --wrap \
  "srun --mpi=pmix -n 3 '$CAIABS' mpi '$W/payload.json' --store '$W/store' --weights '$W/w.safetensors' --threads 1") \
  || die "sbatch"
slurm_wait_job "$jid" 240 || { cat "$W/srun.out"; die "sbatch job"; }
cat "$W/srun.out"
[ "$(slurm_job_states "$jid")" = COMPLETED ] || die "the srun job did not complete"
cmp local.csv "$RES/predictions.csv" || die "srun --mpi=pmix: predictions differ from cai run's"
[ "$(jget "$RES/0.json" 'd["slurm"]["job_id"]')" = "$jid" ] || die "an MPI record under SLURM lacks the job id"
echo "hpc_mpi: ok"
