#!/usr/bin/env bash
# Stop the single-node SLURM that tests/slurm/setup.sh started with the same STATE_DIR, and remove
# the configuration files it wrote for it. Only daemons whose PID files are in STATE_DIR (and still
# are those daemons) are stopped, and only a configuration naming STATE_DIR is removed: a cluster
# started by another session, with another STATE_DIR, and a munged that ran before setup.sh, are
# left alone.
set -uo pipefail
state=$(realpath -m "${1:-/var/tmp/posthoc-slurm}")
marker="posthoc-test-cluster"

alive() {  # alive NAME: the PID in $state/NAME.pid if that process is still NAME
    local pidfile="$state/$1.pid" pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}
ours() {  # the configuration at /etc/slurm is the one written for $state
    grep -q "$marker" /etc/slurm/slurm.conf 2>/dev/null && grep -qF "StateSaveLocation=$state/" /etc/slurm/slurm.conf
}

# Cancel what is still queued or running on our cluster (it is ours alone).
if alive slurmctld >/dev/null && ours && command -v scancel >/dev/null; then
    jobs=$(squeue -h -o %i 2>/dev/null)
    [ -n "$jobs" ] && scancel --quiet $jobs 2>/dev/null
fi

stop() {
    local pid
    if pid=$(alive "$1"); then
        kill "$pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
        echo "teardown.sh: stopped $1 ($pid)"
    fi
    rm -f "$state/$1.pid"
}
stop slurmd
stop slurmctld
stop munged

if ours; then
    rm -f /etc/slurm/slurm.conf
    grep -q "$marker" /etc/slurm/gres.conf 2>/dev/null && rm -f /etc/slurm/gres.conf
fi
exit 0
