#!/usr/bin/env bash
# CI: start a single-node Slurm cluster on this machine, so that tests/test_executors.py submits real jobs.
#
# Idempotent: a second call finds the packages, the key, the same slurm.conf and the daemons in place,
# and only checks that the node is up.
# Never fails the CI run: without root, without apt, or when a daemon will not start, it prints a loud
# warning and exits 0; the Slurm tests then skip and say why (they probe `sinfo` themselves).
#
# State, spool, logs and pid files live under $XARES_SLURM_DIR (default /tmp/xares-slurm).
set -uo pipefail

SLURM_DIR="${XARES_SLURM_DIR:-/tmp/xares-slurm}"
CONF=/etc/slurm/slurm.conf
HOST="$(hostname)"

warn() {
    {
        echo "################################################################################"
        echo "# WARNING: no Slurm cluster for the tests: $*"
        echo "# The Slurm tests in tests/test_executors.py will be SKIPPED (pytest -ra lists them)."
        echo "################################################################################"
    } >&2
    exit 0
}

node_state() { sinfo --noheader --nodes="$HOST" --format=%t 2>/dev/null | head -n1 | tr -d ' *'; }
# idle, or busy with jobs (of an earlier test run) but up
node_up() { case "$(node_state)" in idle | mix | alloc | comp) return 0 ;; *) return 1 ;; esac }

if [ "$(id -u)" -ne 0 ]; then
    warn "this script must run as root (it installs packages and starts slurmctld/slurmd as root)"
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
    || ! command -v sbatch >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null; } \
        || warn "apt-get install slurmctld slurmd slurm-client munge failed"
fi

# --- munge: the authentication Slurm's daemons and clients share -------------------------------------
if [ ! -f /etc/munge/munge.key ] || [ "$(stat -c %s /etc/munge/munge.key)" -ne 1024 ]; then
    mkdir -p /etc/munge
    head -c 1024 /dev/urandom >/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    munged --force || warn "munged did not start"
    for _ in $(seq 20); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.5
    done
    munge -n | unmunge >/dev/null || warn "munge does not work (munge -n | unmunge failed)"
fi

# --- slurm.conf: one node, one default partition, no accounting, no cgroups ----------------------------
mkdir -p "$SLURM_DIR"/{state,spool,log}
memory_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
mkdir -p /etc/slurm
cat >"$CONF.new" <<EOF
# Written by .ci/slurm-setup.sh: a single-node cluster for the X-ARES tests.
ClusterName=xares-ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmdTimeout=60
KillWait=5
MinJobAge=300
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
if ! cmp -s "$CONF.new" "$CONF"; then
    mv "$CONF.new" "$CONF"
    changed=1
else
    rm -f "$CONF.new"
    changed=0
fi

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "$changed" = 1 ] && { running "$SLURM_DIR/slurmctld.pid" || running "$SLURM_DIR/slurmd.pid"; }; then
    scontrol shutdown >/dev/null 2>&1 || true # a new slurm.conf: restart both daemons with it
    for _ in $(seq 30); do
        running "$SLURM_DIR/slurmctld.pid" || running "$SLURM_DIR/slurmd.pid" || break
        sleep 1
    done
fi
if ! running "$SLURM_DIR/slurmctld.pid"; then
    slurmctld || warn "slurmctld did not start; see $SLURM_DIR/log/slurmctld.log"
fi
if ! running "$SLURM_DIR/slurmd.pid"; then
    slurmd || warn "slurmd did not start; see $SLURM_DIR/log/slurmd.log"
fi

for _ in $(seq 60); do
    node_up && break
    case "$(node_state)" in
    down | drain | drng | fail)
        scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
        ;;
    esac
    sleep 1
done
node_up || warn "node $HOST is '$(node_state)', not idle, after 60 s; see $SLURM_DIR/log/"
echo "slurm-setup: node $HOST is up (partition debug, $(nproc) CPUs, ${memory_mb} MB)"
sinfo
