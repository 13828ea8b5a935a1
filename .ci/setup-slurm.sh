#!/usr/bin/env bash
# A single-node Slurm (slurmctld + slurmd + munge) on this machine, for the Slurm
# executor's tests (tests/core/run/executors/test_slurm_executor.py). Debian 12, root,
# no systemd. Idempotent: installs what is missing, writes the config if absent, starts
# only the daemons that are not running, and waits until the node takes jobs.
# Usage: bash .ci/setup-slurm.sh        (about 35 s from scratch, < 1 s when up)
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-slurm: must run as root (it installs packages and starts daemons)" >&2
    exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
fi

CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
CONF=/etc/slurm/slurm.conf
if [ ! -f "$CONF" ]; then
    install -d /etc/slurm
    cat >"$CONF" <<EOF
ClusterName=local
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
MailProg=/bin/true
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost CPUs=${CPUS} RealMemory=${MEM_MB} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
fi

if [ ! -f /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi

running() { pgrep -x "$1" >/dev/null; }

install -d -o munge -g munge -m 0755 /run/munge
running munged || runuser -u munge -- /usr/sbin/munged
install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
install -d /var/spool/slurmd
running slurmctld || /usr/sbin/slurmctld
running slurmd || /usr/sbin/slurmd

for _ in $(seq 1 60); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -n1 || true)
    case "$state" in
        idle|mix|alloc) echo "setup-slurm: node localhost is $state"; exit 0 ;;
        down*|drain*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
echo "setup-slurm: the node did not become idle; see /var/log/slurm/" >&2
exit 1
