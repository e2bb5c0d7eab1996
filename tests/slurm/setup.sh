#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine for the end-to-end test (tests/test_slurm.py):
# slurmctld + slurmd + munged, all as root, no cgroups (proctrack/linuxproc, task/none), no
# accounting database, and one fake GPU declared as a generic resource (gres.conf: File=/dev/null).
#
#   tests/slurm/setup.sh [STATE_DIR]        # default /var/tmp/posthoc-slurm; needs root
#   tests/slurm/teardown.sh [STATE_DIR]     # stops exactly the daemons this script started
#
# Installs the Debian packages slurm-wlm and munge when missing (apt-get update first). Writes
# /etc/slurm/slurm.conf and /etc/slurm/gres.conf from the *.in templates beside this script: the
# SLURM executor's job step drops SLURM_CONF, so the configuration must sit at the default path.
# Refuses to touch an existing configuration it did not write. Daemon logs, spool, state, PID
# files and the job-completion records (jobcomp.log) go to STATE_DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(realpath -m "${1:-/var/tmp/posthoc-slurm}")
marker="posthoc-test-cluster"
ctld_port=${POSTHOC_SLURMCTLD_PORT:-6817}
slurmd_port=${POSTHOC_SLURMD_PORT:-6818}

[ "$(id -u)" -eq 0 ] || { echo "setup.sh: needs root (it starts slurmctld, slurmd and munged)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
        || ! command -v munged >/dev/null; then
    echo "setup.sh: installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The plugins this cluster uses are all in slurm-wlm-basic-plugins, a dependency; the
    # recommended extras (database, HDF5, ... plugins) are not needed.
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# Exit status 3: this machine already runs a SLURM cluster that is not ours to touch (a real one,
# or the test cluster of another session, which has its own STATE_DIR).
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do
    if [ -e "$f" ] && ! grep -q "$marker" "$f"; then
        echo "setup.sh: $f exists and was not written by this script; not overwriting it" >&2
        exit 3
    fi
done
# Leftovers of an earlier run with this STATE_DIR (an interrupted test session) are stopped first.
"$here/teardown.sh" "$state" >/dev/null 2>&1 || true
if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
    echo "setup.sh: a slurmctld or slurmd is running that this STATE_DIR did not start (another session's" \
         "test cluster, or a real one); not touching it" >&2
    exit 3
fi

rm -rf "$state"
mkdir -p "$state/ctld" "$state/d" /etc/slurm
host=$(hostname -s)
cpus=$(nproc)
mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
mem=$(( mem * 9 / 10 ))
fill() {
    sed -e "s|@HOST@|$host|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM@|$mem|g" -e "s|@STATE@|$state|g" \
        -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" "$1"
}
fill "$here/slurm.conf.in" > /etc/slurm/slurm.conf
fill "$here/gres.conf.in" > /etc/slurm/gres.conf

# munge: reuse a running munged, else start one as root with a key (created if missing).
if ! (munge -n | unmunge) >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge
    munged --force --pid-file="$state/munged.pid" --log-file="$state/munged.log" \
        --seed-file="$state/munged.seed"
    for _ in $(seq 50); do (munge -n | unmunge) >/dev/null 2>&1 && break; sleep 0.1; done
    (munge -n | unmunge) >/dev/null || { echo "setup.sh: munged did not start; see $state/munged.log" >&2; exit 1; }
fi

slurmctld   # both daemonise and write their PID files into $state
for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
scontrol ping >/dev/null || { echo "setup.sh: slurmctld did not start; see $state/slurmctld.log" >&2; exit 1; }
slurmd

# Wait until the node has registered and is idle.
for _ in $(seq 120); do
    node_state=$(sinfo -h -N -o %t 2>/dev/null | head -1)
    case "$node_state" in
        idle) break ;;
        down*|drain*|fail*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
if [ "$(sinfo -h -N -o %t | head -1)" != idle ]; then
    echo "setup.sh: node $host is not idle:" >&2
    sinfo -N -l >&2 || true
    tail -20 "$state/slurmd.log" "$state/slurmctld.log" >&2 || true
    exit 1
fi
echo "setup.sh: SLURM is up: node $host, $cpus CPUs, ${mem} MB, gres gpu:1; state in $state"
