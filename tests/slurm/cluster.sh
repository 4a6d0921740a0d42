#!/usr/bin/env bash
# A one-node SLURM cluster on localhost, for the SLURM test (tests/pipeline/test_slurm.py) and for trying the
# workflow's SLURM profile without an HPC account.
#
#   tests/slurm/cluster.sh start    install slurm-wlm + munge from Debian if missing (needs root),
#                                   write a config under $GREENBENCH_SLURM_DIR, start munged,
#                                   slurmctld and slurmd, wait until the node is idle
#   tests/slurm/cluster.sh env      print the export line the clients need (SLURM_CONF)
#   tests/slurm/cluster.sh stop     stop the daemons started by `start`
#
# The node offers every CPU of this machine and no GPU; jobs are tracked by process (no cgroups),
# so it runs inside containers. Accounting storage is off: the executor plugin is told to poll
# `squeue` (MinJobAge keeps finished jobs visible long enough for that).
set -euo pipefail

DIR="${GREENBENCH_SLURM_DIR:-/tmp/greenbench-slurm}"
CONF="$DIR/slurm.conf"

log() { echo "[slurm-cluster] $*" >&2; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        log "slurm-wlm and munge are not installed and this is not root: install them (apt-get install slurm-wlm munge)"
        exit 1
    fi
    log "installing slurm-wlm and munge from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
    local host cpus mem_mb
    host="$(hostname -s)"
    cpus="$(nproc)"
    mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    cat >"$CONF" <<EOF
ClusterName=greenbench
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=3600
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    log "wrote $CONF ($cpus CPUs, $mem_mb MB, no GPU)"
    # Job steps (srun inside a batch job) read the default location, whatever SLURM_CONF says:
    # install ours there, but never over a real cluster's configuration.
    if [ -e /etc/slurm/slurm.conf ] && ! grep -q '^ClusterName=greenbench$' /etc/slurm/slurm.conf; then
        log "/etc/slurm/slurm.conf belongs to another cluster: not touching it (run this on a spare machine)"
        exit 1
    fi
    mkdir -p /etc/slurm
    cp "$CONF" /etc/slurm/slurm.conf
}

wait_idle() {
    local i state
    for i in $(seq 1 60); do
        state="$(SLURM_CONF="$CONF" sinfo -h -o %T 2>/dev/null | head -1 || true)"
        if [ "$state" = idle ] || [ "$state" = mixed ]; then
            log "node is $state"
            return
        fi
        sleep 1
    done
    log "the node did not become idle within 60 s (state: '${state:-none}'); logs in $DIR/log"
    tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    exit 1
}

start() {
    install_packages
    stop_daemons quietly
    write_config
    mkdir -p /run/munge
    chown munge:munge /run/munge 2>/dev/null || true
    if ! pgrep -x munged >/dev/null; then
        if [ "$(id -u)" = 0 ]; then
            runuser -u munge -- munged
        else
            munged
        fi
    fi
    SLURM_CONF="$CONF" slurmctld
    SLURM_CONF="$CONF" slurmd
    wait_idle
    echo "export SLURM_CONF=$CONF"
}

stop_daemons() {
    local name
    for name in slurmd slurmctld; do
        if [ -f "$DIR/$name.pid" ]; then
            kill "$(cat "$DIR/$name.pid")" 2>/dev/null || true
            rm -f "$DIR/$name.pid"
        fi
    done
    sleep 1
    if [ "${1:-}" != quietly ]; then log "stopped"; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop_daemons ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
