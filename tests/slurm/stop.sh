#!/usr/bin/env bash
# Stop the test cluster that tests/slurm/start.sh started (its jobs, daemons and munged)
# and remove its directory. Safe to run when nothing is running.
set -uo pipefail
dir="${TIMEBALANCE_SLURM_DIR:-/tmp/timebalance-slurm}"
[ -d "$dir" ] || exit 0
if [ -f "$dir/slurm.conf" ] && [ -f "$dir/slurmctld.pid" ]; then
    SLURM_CONF="$dir/slurm.conf" scancel --quiet --user="$(id -un)" 2>/dev/null
fi
for daemon in slurmd slurmctld munged; do
    pidfile="$dir/$daemon.pid"
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
done
# The link start.sh made, only when it still points at this cluster.
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$dir/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
fi
rm -rf "$dir"
