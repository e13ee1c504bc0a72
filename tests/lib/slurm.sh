# slurm.sh — a private one-node SLURM cluster (munged + slurmctld + slurmd) for the hpc_*.sh tests (sourced).
# Everything lives under one directory: its own slurm.conf, munge key and socket, state, spool and logs; two
# free loopback ports; nothing in /etc is read or touched. The daemons run in the foreground, started in the
# background with their PIDs recorded, and are stopped by PID (never by name) by slurm_stop, which the caller
# puts in an EXIT trap. Recipe: slurm-wlm 22.05 and munge 0.5 (Debian 12), no systemd.
#
#   slurm_have || exit 77          # the packages are missing (CI installs them: scripts/deps.sh test)
#   slurm_start DIR [CPUS]         # exports SLURM_CONF; returns once the node is idle. CPUS: the node's
#                                  # CPU count as configured (default nproc; more is allowed, config_overrides)
#   trap slurm_stop EXIT
#   slurm_wait_job ID [SECONDS]    # until the job (every array task) has left PENDING/RUNNING

SLURM_PIDS=()
SLURM_MUNGE=

slurm_have() {
  local b
  for b in munged slurmctld slurmd sbatch scontrol sinfo; do
    command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$b" >/dev/null 2>&1 || {
      echo "skip: $b is not installed (Debian packages slurm-wlm munge; scripts/deps.sh test installs them)"; return 1; }
  done
  export PATH=$PATH:/usr/sbin
  # slurmd launches jobs as their owner, which needs root (CI and these machines run the suite as root)
  [ "$(id -u)" = 0 ] || { echo "skip: the test cluster's slurmd needs root (run the suite as root, as CI does)"; return 1; }
}

# Two free TCP ports on loopback (the kernel picks them: no collision with another test cluster).
slurm_free_ports() {
  python3 - <<'PY'
import socket
ss=[socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1",0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()
PY
}

slurm_start() {
  local D=$1 ncpu=${2:-$(nproc)} ports i
  SLURM_DIR=$D
  mkdir -p "$D"/state "$D"/spool "$D"/log "$D"/run
  # munged refuses a socket whose every parent directory is not world-searchable, and test directories are
  # private (0700): its directory is a fresh one under /tmp, removed by slurm_stop.
  SLURM_MUNGE=$(mktemp -d /tmp/cai-munge.XXXXXX)
  chmod 755 "$SLURM_MUNGE"
  ln -sfn "$SLURM_MUNGE" "$D"/munge
  dd if=/dev/urandom of="$SLURM_MUNGE"/munge.key bs=1024 count=1 status=none
  chmod 600 "$SLURM_MUNGE"/munge.key
  read -r -a ports < <(slurm_free_ports)
  cat > "$D"/slurm.conf <<CONF
ClusterName=caitest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SLURM_MUNGE/munge.socket.2
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,batch_sched_delay=0,sched_min_interval=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.log
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
MailProg=/bin/true
NodeName=localhost CPUs=$ncpu State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$D/slurm.conf
  munged -F --socket="$SLURM_MUNGE"/munge.socket.2 --key-file="$SLURM_MUNGE"/munge.key \
    --pid-file="$D"/run/munged.pid --log-file="$D"/log/munged.log --seed-file="$SLURM_MUNGE"/munged.seed \
    >"$D"/log/munged.out 2>&1 &
  SLURM_PIDS+=($!)
  for i in $(seq 1 100); do [ -S "$SLURM_MUNGE"/munge.socket.2 ] && break; sleep 0.1; done
  [ -S "$SLURM_MUNGE"/munge.socket.2 ] || { cat "$D"/log/munged.*; echo "FAIL: munged did not start" >&2; return 1; }
  slurmctld -D -f "$D"/slurm.conf >"$D"/log/slurmctld.out 2>&1 &
  SLURM_PIDS+=($!)
  slurmd -D -N localhost -f "$D"/slurm.conf >"$D"/log/slurmd.out 2>&1 &   # the hostname is not "localhost"
  SLURM_PIDS+=($!)
  for i in $(seq 1 300); do
    [ "$(sinfo -h -N -o %T 2>/dev/null)" = idle ] && return 0
    sleep 0.1
  done
  echo "FAIL: the test cluster did not come up" >&2
  tail -20 "$D"/log/*.log "$D"/log/*.out >&2 || true
  return 1
}

# Stop each daemon by its PID, in reverse order, and wait until it is gone.
slurm_stop() {
  local i pid
  for ((i=${#SLURM_PIDS[@]}-1; i>=0; i--)); do
    pid=${SLURM_PIDS[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SLURM_PIDS=()
  [ -n "${SLURM_MUNGE:-}" ] && rm -rf --one-file-system "$SLURM_MUNGE"
  SLURM_MUNGE=
}

# The job's state(s) as `scontrol` reports them, one per line (array tasks each).
slurm_job_states() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }

slurm_wait_job() {
  local id=$1 t=${2:-120} i s
  for ((i=0; i<t*10; i++)); do
    s=$(slurm_job_states "$id")
    if [ -n "$s" ] && ! grep -qE 'PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED' <<<"$s"; then return 0; fi
    sleep 0.1
  done
  echo "FAIL: job $id still not finished after ${t}s: $(scontrol -o show job "$id" 2>&1 | head -3)" >&2
  return 1
}
