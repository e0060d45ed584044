#!/usr/bin/env bash
# Install Debian's SLURM daemons, client and munge when they are missing (as root only).
# Safe to run again: nothing happens when every command is present.
set -euo pipefail
missing=()
for cmd in slurmctld slurmd sbatch munged; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$cmd")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "SLURM is not installed (missing: ${missing[*]}); install Debian's" \
        "'slurmctld slurmd slurm-client munge' as root, e.g." \
        "'sudo apt-get install slurmctld slurmd slurm-client munge'" >&2
    exit 1
fi
echo "installing Debian's slurmctld slurmd slurm-client munge" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
