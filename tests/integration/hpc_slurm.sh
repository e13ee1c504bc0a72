#!/usr/bin/env bash
# hpc_slurm.sh — the SLURM engine against a real one-node cluster (munged + slurmctld + slurmd started here by
# PID): `cai slurm submit` of a 6-rank run gives predictions.csv byte-equal to `cai run`'s and a complete
# summary; records carry engine "slurm" and the job/array ids; --dry-run prints exactly the expected scripts;
# a corrupt partition fails one array task, Summarize still runs and names it, `cai slurm status` shows it,
# and after the repair `cai slurm submit --resume` runs only that rank and the run is complete with exactly
# one prediction per galaxy. The run holds result_path (run.lock) from submit until its Summarize job: a
# second submit or a cai run on it refuses and names the holder.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/pipeline_lib.bash"
source "$HERE/../lib/slurm.sh"
slurm_have || exit 77
make_weights
make_data 360 60             # 6 partitions of 60 galaxies
payload 6 '"world_size": 6'
# the seed's folder layout (<size>/<run>), so that cai stats reads these runs like the seed's
sed -i "s#result-partition-25MB/test/1#result-partition-25MB/1GB/1#" payload.json
RES=$W/store/cosmicai-data/result-partition-25MB/1GB/1
CAIABS=$(readlink -f "$CAI")

# The reference: the local engine on the same data and weights.
"$CAI" run payload.json --store store --weights w.safetensors --workers 2 --threads 1 --no-progress >/dev/null 2>&1 \
  || die "cai run failed"
cp "$RES/predictions.csv" local.csv
rm -rf "$RES"

# --dry-run: the scripts, line by line; nothing written, nothing submitted (no cluster needed yet).
"$CAI" slurm submit payload.json --store store --weights w.safetensors --dry-run --partition debug \
  --account astro --time 00:05:00 --mem 3G --cpus-per-task 2 --array-max 4 --sbatch-arg=--qos=short --prologue 'module load openmpi' >dry.txt \
  || die "dry run failed"
S=$(readlink -f store); WA=$(readlink -f w.safetensors); SD=$S/cosmicai-data/result-partition-25MB/1GB/1/slurm
cat > dry.expected <<EXP
# $SD/map.sbatch
#!/bin/bash
# cai slurm: the Map stage of run cosmicai-data/result-partition-25MB/1GB/1, one array task per rank (written by cai slurm submit)
#SBATCH --job-name=cai-map
#SBATCH --array=0-5%4
#SBATCH --output=$SD/%A_%a.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --partition=debug
#SBATCH --account=astro
#SBATCH --time=00:05:00
#SBATCH --mem=3G
#SBATCH --qos=short
module load openmpi
export OMP_NUM_THREADS=\${SLURM_CPUS_PER_TASK:-2}
exec '$CAIABS' worker --store '$S' --jobs 'cosmicai-data/result-partition-25MB/1GB/1/jobs.jsonl' --index env --weights '$WA'

# $SD/summarize.sbatch
#!/bin/bash
# cai slurm: the Summarize stage of run cosmicai-data/result-partition-25MB/1GB/1, after every array task (written by cai slurm submit)
#SBATCH --job-name=cai-summarize
#SBATCH --output=$SD/summarize_%j.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --partition=debug
#SBATCH --account=astro
#SBATCH --time=00:05:00
#SBATCH --mem=3G
#SBATCH --qos=short
module load openmpi
exec '$CAIABS' summarize --store '$S' 'cosmicai-data' 'result-partition-25MB/1GB/1' --release-lock

sbatch --parsable $SD/map.sbatch
sbatch --parsable --dependency=afterany:<array job id> --kill-on-invalid-dep=yes $SD/summarize.sbatch
EXP
diff -u dry.expected dry.txt || die "--dry-run output differs (above)"
[ ! -e "$RES" ] || die "--dry-run wrote under the run folder"
# --ranks-per-task: 6 ranks in tasks of 4 -> an array of 2 tasks, each told its K
"$CAI" slurm submit payload.json --store store --weights w.safetensors --dry-run --ranks-per-task 4 >dry2.txt || die "dry run 2"
grep -qx "#SBATCH --array=0-1" dry2.txt || die "--ranks-per-task 4: the array should be 0-1"
grep -q -- "--index env --ranks-per-task 4 --weights" dry2.txt || die "--ranks-per-task not passed to the worker"
# a newline in an #SBATCH value is refused, naming the flag
"$CAI" slurm submit payload.json --store store --weights w.safetensors --dry-run --account $'a\nb' 2>err.txt \
  && die "a newline in --account was accepted"
grep -q -- "--account: must be one line" err.txt || die "no clear error for a newline in --account"

slurm_start "$W/cluster" || die "cluster start"
trap slurm_stop EXIT

# 1. A clean run: equal to the local engine's, complete.
# (held at first, so that status sees every task pending; then released)
"$CAI" slurm submit payload.json --store store --weights w.safetensors --cpus-per-task 1 --sbatch-arg=--hold \
  >sub.txt 2>&1 || { cat sub.txt; die "submit failed"; }
cat sub.txt
AJ=$(sed -n 's/^cai slurm: array job \([0-9]*\):.*/\1/p' sub.txt)
SJ=$(sed -n 's/^cai slurm: summarize job \([0-9]*\) .*/\1/p' sub.txt)
[ -n "$AJ" ] && [ -n "$SJ" ] || die "submit did not print both job ids"
grep -q "squeue -j $AJ,$SJ" sub.txt || die "submit did not print how to follow the jobs"
"$CAI" slurm status cosmicai-data/result-partition-25MB/1GB/1 --store store >st0.txt && die "status of a queued run should exit 1"
cat st0.txt
grep -q "total: 0 complete, 0 failed, 0 missing, 6 pending or running of 6 ranks" st0.txt || die "status of held tasks"
grep -qE "^0 +pending +${AJ}_\[0-5\] +PENDING" st0.txt || die "status does not show rank 0 pending in the array"
grep -q "summarize: job $SJ PENDING" st0.txt || die "status does not show the pending Summarize job"
# The run holds result_path from submit until its Summarize job: a second submit (and a cai run) refuse, naming it.
RUN1=$(jget "$RES/run.lock" 'd["run_id"]') || die "submit took no lock"
[ "$(jget "$RES/run.lock" 'd["holder"]')" = "cai slurm submit" ] || die "the lock does not say what holds it"
grep -q "run $RUN1 holds cosmicai-data/result-partition-25MB/1GB/1 until that Summarize job ends" sub.txt \
  || die "submit does not say that the run holds the result_path"
"$CAI" slurm submit payload.json --store store --weights w.safetensors >dup.txt 2>&1 && die "a second submit on a held result_path was accepted"
cat dup.txt
grep -q "is in use by run $RUN1 (cai slurm submit from host " dup.txt || die "the second submit does not name the holder"
[ -z "$(squeue -h -o %i -n cai-map | grep -v "^$AJ")" ] || die "the refused submit queued jobs"
"$CAI" run payload.json --store store --weights w.safetensors --workers 1 --no-progress >dup2.txt 2>&1 && die "cai run on a held result_path was accepted"
grep -q "is in use by run $RUN1" dup2.txt || die "cai run does not name the slurm run holding the result_path"
scontrol release "$AJ" && scontrol release "$SJ" || die "scontrol release"
slurm_wait_job "$SJ" 180 || die "summarize job"
[ "$(slurm_job_states "$SJ")" = COMPLETED ] || { cat "$RES"/slurm/*.out; die "summarize job not COMPLETED"; }
[ "$(slurm_job_states "$AJ" | sort -u)" = COMPLETED ] || die "array tasks not all COMPLETED"
[ ! -e "$RES/run.lock" ] || die "the Summarize job did not release the run's lock"
grep -q "released the lock of run $RUN1" "$RES/slurm/summarize_$SJ.out" || die "Summarize does not say it released the lock"
[ -f "$RES/slurm/${AJ}_0.out" ] && [ -f "$RES/slurm/${AJ}_5.out" ] || die "per-task output not at <run>/slurm/%A_%a.out"
grep -q "index 3 from SLURM_ARRAY_TASK_ID=3 (base 0): rank 3" "$RES/slurm/${AJ}_3.out" || die "task 3 did not say which index it used"
cmp local.csv "$RES/predictions.csv" || die "predictions.csv differs from cai run's"
[ "$(jget "$RES/summary.json" 'd["complete"]')" = True ] || die "summary not complete"
[ "$(jget "$RES/2.json" 'd["engine"]')" = slurm ] || die "record engine"
[ "$(jget "$RES/2.json" 'd["slurm"]["array_job_id"]')" = "$AJ" ] || die "record array job id"
[ "$(jget "$RES/2.json" 'd["slurm"]["array_task_id"]')" = 2 ] || die "record array task id"
[[ "$(jget "$RES/2.json" 'd["slurm"]["job_id"]')" =~ ^[0-9]+$ ]] || die "record job id"
"$CAI" slurm status cosmicai-data/result-partition-25MB/1GB/1 --store store >st.txt || { cat st.txt; die "status of a complete run should exit 0"; }
cat st.txt
grep -q "total: 6 complete, 0 failed, 0 missing of 6 ranks; 360 galaxies" st.txt || die "status totals"
grep -qE "^3 +complete +${AJ}_3 +COMPLETED +0:0" st.txt || die "status joined with scontrol"
grep -q "wall time (records' first start to last end)" st.txt || die "status wall time"
# the engines' records feed cai stats like any other run
"$CAI" stats store/cosmicai-data -o stats >stats.txt 2>&1 || { cat stats.txt; die "cai stats on a slurm run"; }
grep -q "^25,1.0,1," stats/result_stats.csv || die "cai stats has no row for the slurm run"
"$CAI" cost "$RES" >cost.txt 2>&1 || { cat cost.txt; die "cai cost on a slurm run"; }

# 2. One task fails (a corrupt partition): Summarize still runs and names it; status shows it; resume fixes it.
sed -i 's#result-partition-25MB/1GB/1#result-partition-25MB/1GB/2#' payload.json
RES2=$W/store/cosmicai-data/result-partition-25MB/1GB/2
P4=store/cosmicai-data/25MB/4.safetensors
cp "$P4" p4.bak
head -c 5000 p4.bak > "$P4"
"$CAI" slurm submit payload.json --store store --weights w.safetensors >sub2.txt 2>&1 || { cat sub2.txt; die "submit 2"; }
AJ2=$(sed -n 's/^cai slurm: array job \([0-9]*\):.*/\1/p' sub2.txt)
SJ2=$(sed -n 's/^cai slurm: summarize job \([0-9]*\) .*/\1/p' sub2.txt)
slurm_wait_job "$SJ2" 180 || die "summarize job 2"
BAD=$(grep -n '4.safetensors' "$RES2/jobs.jsonl" | cut -d: -f1); BAD=$((BAD-1))
[ "$(slurm_job_states "$AJ2" | grep -c FAILED)" = 1 ] || die "exactly one array task should have FAILED"
[ "$(jget "$RES2/summary.json" 'd["complete"]')" = False ] || die "summary should be incomplete"
[ ! -e "$RES2/run.lock" ] || die "an incomplete run's Summarize did not release the lock"
grep -q "failed rank(s): $BAD" "$RES2"/slurm/summarize_"$SJ2".out || { cat "$RES2"/slurm/summarize_*.out; die "Summarize does not name rank $BAD"; }
"$CAI" slurm status cosmicai-data/result-partition-25MB/1GB/2 --store store >st2.txt && die "status of an incomplete run should exit 1"
cat st2.txt
grep -qE "^$BAD +failed +${AJ2}_$BAD +FAILED +1:0 +failed: .*4\.safetensors" st2.txt || die "status does not show rank $BAD failed with its reason"
grep -q "total: 5 complete, 1 failed, 0 missing of 6 ranks" st2.txt || die "status totals 2"
grep -q "to finish: cai slurm submit --resume" st2.txt || die "status does not say how to finish"
cp p4.bak "$P4"
for r in 0 1 2 3 4 5; do cp "$RES2/$r.json" "before.$r.json"; done
"$CAI" slurm submit --resume cosmicai-data/result-partition-25MB/1GB/2 --store store >sub3.txt 2>&1 \
  || { cat sub3.txt; die "resume submit"; }
cat sub3.txt
grep -q -- "--resume: 5 of 6 ranks already complete, 1 to run" sub3.txt || die "resume should run one rank"
grep -q "^#SBATCH --array=$BAD\$" "$RES2/slurm/map-resume.sbatch" || die "the resume array is not exactly rank $BAD"
SJ3=$(sed -n 's/^cai slurm: summarize job \([0-9]*\) .*/\1/p' sub3.txt)
slurm_wait_job "$SJ3" 180 || die "summarize job 3"
[ "$(jget "$RES2/summary.json" 'd["complete"]')" = True ] || die "not complete after --resume"
[ ! -e "$RES2/run.lock" ] || die "the resumed run's Summarize did not release the lock"
for r in 0 1 2 3 4 5; do
  [ "$r" = "$BAD" ] && continue
  cmp -s "before.$r.json" "$RES2/$r.json" || die "rank $r ran again on --resume"
done
[ "$(tail -n +2 "$RES2/predictions.csv" | wc -l)" = 360 ] || die "not exactly 360 predictions"
[ "$(tail -n +2 "$RES2/predictions.csv" | cut -d, -f1 | sort -u | wc -l)" = 360 ] || die "duplicated galaxies"
cmp local.csv "$RES2/predictions.csv" || die "predictions after resume differ from cai run's"
"$CAI" slurm status cosmicai-data/result-partition-25MB/1GB/2 --store store >st3.txt || { cat st3.txt; die "status after resume"; }
grep -q "total: 6 complete" st3.txt || die "status after resume"
echo "hpc_slurm: ok"
