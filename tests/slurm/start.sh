#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine for the workflow's SLURM test (as root).
#   tests/slurm/start.sh && sinfo && tests/slurm/stop.sh
# Everything lives under $TIMEBALANCE_SLURM_DIR (default /tmp/timebalance-slurm): its own
# munge key and socket, slurm.conf, state, spool and logs; the daemons listen on ports
# $TIMEBALANCE_SLURM_PORT and +1 (default 16817). Only /etc/slurm/slurm.conf is touched: a
# link to our slurm.conf, because the executor plugin starts each job with `srun` after
# removing SLURM_* variables (SLURM_CONF too), so srun finds only the default path. An
# /etc/slurm/slurm.conf that is not such a link (a real cluster's) stops this script.
# Two partitions share the node:
# `cpu` (the default) and `gpu`, whose GPUs are fake (gres.conf File= entries that are
# symlinks to /dev/null): SLURM allocates them and sets CUDA_VISIBLE_DEVICES, nothing runs
# on them. EnforcePartLimits=ALL makes a request no partition can meet fail at submission
# instead of pending forever.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${TIMEBALANCE_SLURM_DIR:-/tmp/timebalance-slurm}"
gpus="${TIMEBALANCE_SLURM_GPUS:-2}"
max_time="${TIMEBALANCE_SLURM_MAX_TIME:-120}"   # partition MaxTime, minutes
port="${TIMEBALANCE_SLURM_PORT:-16817}"
default_conf=/etc/slurm/slurm.conf
if [ "$(id -u)" != 0 ]; then
    echo "tests/slurm/start.sh must run as root (slurmd starts jobs as their user)" >&2
    exit 1
fi
"$here/install.sh"
if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    echo "a test cluster is already running under $dir; run tests/slurm/stop.sh first" >&2
    exit 1
fi
if [ -e "$default_conf" ] || [ -L "$default_conf" ]; then
    target="$(readlink "$default_conf" || true)"
    if [ "$target" != "$dir/slurm.conf" ] && [[ "$target" != */timebalance-slurm*/slurm.conf ]]; then
        echo "$default_conf exists and is not a test cluster's: this machine has a SLURM" \
            "configuration of its own; run the test on a machine without one" >&2
        exit 1
    fi
    if [ -e "$default_conf" ] && [ "$target" != "$dir/slurm.conf" ]; then
        echo "another test cluster is running ($target); stop it with" \
            "TIMEBALANCE_SLURM_DIR=$(dirname "$target") tests/slurm/stop.sh" >&2
        exit 1
    fi
fi
rm -rf "$dir"
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
chmod 700 "$dir"

# munge: a private key and socket.
/usr/sbin/mungekey --create --keyfile="$dir/munge.key" --force
chmod 600 "$dir/munge.key"
/usr/sbin/munged --force --key-file="$dir/munge.key" --socket="$dir/munge.sock" \
    --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munged.seed"

# The node as slurmd sees it (CPUs, sockets, cores, memory), reachable on localhost.
node="$(slurmd -C | head -n 1)"
name="$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$node")"
gres_files=()
for ((i = 0; i < gpus; i++)); do
    ln -sf /dev/null "$dir/gpu$i"
    gres_files+=("NodeName=$name Name=gpu File=$dir/gpu$i")
done
printf '%s\n' "${gres_files[@]}" >"$dir/gres.conf"
cat >"$dir/slurm.conf" <<CONF
ClusterName=timebalance-test
SlurmctldHost=$name(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
EnforcePartLimits=ALL
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue this long: the executor plugin reads job states
# with squeue here (no accounting database), and needs MinJobAge >= 3 x its first wait.
MinJobAge=300
# scancel and time limits send SIGTERM, then SIGKILL after KillWait seconds.
KillWait=10
$node NodeAddr=127.0.0.1 Gres=gpu:$gpus State=UNKNOWN
PartitionName=cpu Nodes=$name Default=YES MaxTime=$max_time State=UP
PartitionName=gpu Nodes=$name MaxTime=$max_time State=UP
CONF
mkdir -p "$(dirname "$default_conf")"
ln -sfn "$dir/slurm.conf" "$default_conf"
/usr/sbin/slurmctld -f "$dir/slurm.conf"
/usr/sbin/slurmd -f "$dir/slurm.conf"
for _ in $(seq 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
        echo "test cluster up: partitions cpu (default) and gpu ($gpus fake GPUs) on $name"
        exit 0
    fi
    sleep 0.1
done
echo "the test cluster did not come up within 10 s; logs: $dir/log/" >&2
sinfo >&2 || true
tail -n 20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1
