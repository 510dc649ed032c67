# shellcheck shell=bash
# Shared by scripts/ops/start-coordinator, scripts/ops/scale-workers and scripts/ops/stop-cluster: the state
# folder, the hemo binary, CURVE key paths and process checks. Sourced, never run.
#
# State folder (--state DIR, or $HEMO_STATE_DIR, default ${XDG_STATE_HOME:-~/.local/state}/hemocluster):
#   coordinator.pid        pid of the coordinator started by start-coordinator
#   coordinator.log        its stdout and stderr (appended across restarts)
#   coordinator.endpoint   the endpoint it reported ("listening on ...")
#   workers/wK.pid         "HOST PID" of worker K (HOST is "local" for this machine)
#   workers/wK.draining    the same, once SIGTERM was sent (it finishes its jobs, then exits)
#   workers/wK.log         log of a local worker (remote workers log under --remote-dir there)
#   workers/wK.exit        written by the launcher once worker K exited: "pid PID status S", then
#                          the last lines of its log (remote workers: under --remote-dir there)
#   workers/wK.logdir      the folder of worker K's log and exit record on its host
#   workers.lock           serialises concurrent scale-workers runs (flock)
#
# Keys folder (--keys DIR), made with `hemo keygen` (see the README, "Keys"):
#   coordinator.secret, coordinator.public, worker.secret, admin.secret, allowed-keys
#   (allowed-keys lists worker.public and admin.public, one per line).

hemo_ops_name=$(basename "$0")

say() { printf '%s: %s\n' "$hemo_ops_name" "$*"; }
warn() { printf '%s: WARNING: %s\n' "$hemo_ops_name" "$*" >&2; }
die() { printf '%s: error: %s\n' "$hemo_ops_name" "$*" >&2; exit 1; }

default_state_dir() {
    printf '%s\n' "${HEMO_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/hemocluster}"
}

# Prints the hemo binary to run ($HEMO, else `hemo` on PATH); fails with a sentence if none.
resolve_hemo() {
    local candidate=${HEMO:-hemo}
    if [[ "$candidate" == */* ]]; then
        [[ -x "$candidate" ]] || die "HEMO=$candidate is not an executable file"
        printf '%s\n' "$candidate"
    else
        command -v "$candidate" >/dev/null 2>&1 || die "no 'hemo' on PATH; set HEMO=/path/to/hemo (e.g. .build/release/hemo)"
        command -v "$candidate"
    fi
}

# A value for option $1 taken from "$2"; fails when missing.
need_value() {
    [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see --help)"
    printf '%s\n' "$2"
}

# True when PID is a live process (not a zombie waiting for its parent to reap it).
process_running() {
    local pid=$1 stat
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ -n "$stat" && "${stat:0:1}" != Z && "${stat:0:1}" != X ]]
}

# True when PID is alive and its command line is `hemo … ROLE …` (guards against reused pids).
local_pid_is() {
    local pid=$1 role=$2 cmdline
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    process_running "$pid" || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ " $cmdline " == *" $role "* && "$cmdline" == *hemo* ]]
}

# Endpoint a client on this machine uses for a bound endpoint (wildcards become loopback).
client_endpoint() {
    local endpoint=$1
    endpoint=${endpoint/:\/\/0.0.0.0:/:\/\/127.0.0.1:}
    endpoint=${endpoint/:\/\/\*:/:\/\/127.0.0.1:}
    endpoint=${endpoint/:\/\/\[::\]:/:\/\/127.0.0.1:}
    printf '%s\n' "$endpoint"
}

# Fills the array named $2 with `hemo status` CURVE options for keys folder $1 (empty: none).
status_key_args() {
    local keys=$1
    local -n into=$2
    # shellcheck disable=SC2034
    into=()
    [[ -z "$keys" ]] && return 0
    [[ -r "$keys/coordinator.public" && -r "$keys/admin.secret" ]] ||
        die "$keys must hold coordinator.public and admin.secret for \`hemo status\` (see --help)"
    # shellcheck disable=SC2034 # a nameref: the caller's array is the one filled
    into=(--curve-server-key "$keys/coordinator.public" --curve-secret "$keys/admin.secret")
}
