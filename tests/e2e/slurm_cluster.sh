#!/usr/bin/env bash
# A one-node SLURM cluster (munged, slurmctld, slurmd) living in one scratch folder, for the end-to-end tests.
#
#   slurm_cluster.sh start DIR   write DIR/slurm.conf (this machine's CPUs and memory, one partition `local`)
#                                and a munge key, start the three daemons, wait until the node is idle
#   slurm_cluster.sh stop DIR    stop the daemons that `start DIR` started (by the pid files in DIR)
#
# Clients (sbatch, squeue, sinfo) need `SLURM_CONF=DIR/slurm.conf` and `DIR/bin` first on PATH: Snakemake's
# SLURM jobstep drops every SLURM_* variable before its nested `srun`, which on a real cluster then reads
# /etc/slurm/slurm.conf; DIR/bin/srun puts SLURM_CONF back so that nothing outside DIR is written.
# Needs root (slurmd starts jobs as their users) and Debian's `slurm-wlm` and `munge` packages. There is no
# accounting daemon: job states come from squeue, which keeps finished jobs for MinJobAge seconds.
# Exit status 2: a prerequisite is missing; 1: a daemon did not come up (its log is printed).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
dir=$(realpath -m "$2")

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

stop_daemon() {  # stop_daemon NAME: SIGTERM the pid in DIR/NAME.pid, then wait for it to exit
    local pidfile="$dir/$1.pid" pid
    [[ -s $pidfile ]] || return 0
    pid=$(<"$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$pidfile"
}

wait_for() {  # wait_for SECONDS DESCRIPTION LOG COMMAND...: poll COMMAND until it succeeds
    local seconds=$1 what=$2 log=$3
    shift 3
    for _ in $(seq $((seconds * 5))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "slurm_cluster: $what did not come up within ${seconds}s; $log:" >&2
    tail -n 30 "$log" >&2 || true
    return 1
}

node_idle() { [[ $(sinfo --noheader --nodes "$node" --format %T 2>/dev/null) == idle ]]; }

case $action in
stop)
    for daemon in slurmd slurmctld munged; do stop_daemon "$daemon"; done
    exit 0
    ;;
start) ;;
*) usage ;;
esac

for tool in munged slurmctld slurmd sbatch squeue sinfo scontrol srun python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "slurm_cluster: $tool not found (apt-get install slurm-wlm munge)" >&2
        exit 2
    fi
done
[[ $(id -u) -eq 0 ]] || { echo "slurm_cluster: slurmd must run as root (uid is $(id -u))" >&2; exit 2; }

mkdir -p "$dir"/{state,spool,munge,bin}
chmod 700 "$dir" "$dir/munge"
node=$(hostname -s)
# `slurmd -C` prints this machine's NodeName line: CPUs, sockets, cores, threads and RealMemory.
hardware=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //')

head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
socket="$dir/munge/munge.socket"

cat >"$dir/slurm.conf" <<EOF
ClusterName=depthrepro
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
MailProg=/bin/true
SchedulerType=sched/builtin
NodeName=$node NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

srun=$(command -v srun)
printf '#!/bin/sh\nSLURM_CONF='\''%s'\'' exec '\''%s'\'' "$@"\n' "$dir/slurm.conf" "$srun" >"$dir/bin/srun"
chmod 755 "$dir/bin/srun"

trap 'for d in slurmd slurmctld munged; do stop_daemon "$d"; done' ERR
munged --force --socket="$socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munged.pid" \
    --log-file="$dir/munged.log" --seed-file="$dir/munge/munged.seed"
wait_for 20 munged "$dir/munged.log" test -S "$socket"

export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF" -c -i
wait_for 30 slurmctld "$dir/slurmctld.log" scontrol ping
slurmd -f "$SLURM_CONF"
wait_for 60 "node $node" "$dir/slurmd.log" node_idle
echo "SLURM_CONF=$SLURM_CONF"
