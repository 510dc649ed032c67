#!/usr/bin/env bash
# System test: cluster/slurm/ on a real single-node Slurm (slurmctld + slurmd + munged).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/system-tests/40-slurm.sh

Checks cluster/slurm/hemo-release.sbatch and cluster/slurm/hemo-add-workers.sbatch on a real
Slurm: installs Debian's slurm-wlm and munge when missing, starts munged, slurmctld and slurmd
on this machine (a one-node cluster with its own config, ports, state and spool folders under a
temporary folder; no systemd, no cgroups), makes a synthetic cohort (`hemo synth`), submits the
release job (coordinator + one worker, CURVE on 0.0.0.0), then, once the coordinator listens,
a two-task job array that adds workers to it. Passes when both jobs complete, the array's
workers were seen connected to the coordinator (`hemo status`), the coordinator refused a
client without keys, `hemo release verify` accepts the release and its MANIFEST.sha256 equals
`hemo build`'s on the same cohort. Stops every daemon and job it started.

Needs root (the Slurm daemons); prints "SKIP: <reason>" and exits 0 where the machine cannot.
Environment: HEMO (the hemo binary, required), HEMO_SLURM_CASES (cohort size, default 12),
HEMO_SLURM_IN_PLANE (slice size in pixels; default 256 for a fast binary, 128 for a slow one),
HEMO_SLURM_KEEP=1 (keep the temporary folder with logs and release, for debugging).
USAGE
}
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then usage; exit 0; fi

say() { echo "slurm-test: $(date -u +%H:%M:%S) $*"; }
fail() { echo "slurm-test: FAILED: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 0; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
[[ -n "${HEMO:-}" ]] || fail "HEMO is not set (the hemo binary to test)"
hemo=$(realpath "$HEMO")
[[ -x "$hemo" ]] || fail "HEMO '$HEMO' is not an executable"
[[ $(id -u) -eq 0 ]] || skip "the Slurm daemons need root (run as root, as CI does)"

# --- packages (idempotent) ----------------------------------------------------------------------
missing=()
for p in slurm-wlm munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    command -v apt-get >/dev/null || skip "no apt-get to install ${missing[*]}"
    say "installing ${missing[*]}"
    install_start=$SECONDS
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null; then
        skip "cannot install ${missing[*]} with apt-get (no network or no Debian mirror?)"
    fi
    say "installed ${missing[*]} in $((SECONDS - install_start)) s"
fi
for c in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
    command -v "$c" >/dev/null || fail "$c is not on PATH after installing slurm-wlm and munge"
done

# --- workspace and cleanup ----------------------------------------------------------------------
tmp=$(mktemp -d /tmp/hemo-slurm.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
    local rc=$?
    set +e
    if [[ -f "$tmp/slurm.conf" ]] && [[ -n "${SLURM_CONF:-}" ]]; then
        scancel --quiet --user=root 2>/dev/null
        for _ in $(seq 1 15); do
            [[ -z "$(squeue --noheader 2>/dev/null)" ]] && break
            sleep 1
        done
    fi
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    [[ -f "$tmp/munge/munged.pid" ]] && kill -TERM "$(cat "$tmp/munge/munged.pid")" 2>/dev/null
    sleep 1
    # Job steps outlive slurmd (slurmstepd daemonises): end any process still using this folder.
    local p
    for p in /proc/[0-9]*; do
        [[ "${p#/proc/}" == "$$" ]] && continue
        if grep -qsF "$tmp" "$p/cmdline" "$p/environ" 2>/dev/null; then kill -KILL "${p#/proc/}" 2>/dev/null; fi
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    if ((rc != 0)); then
        for f in "$tmp"/log/slurmctld.log "$tmp"/log/slurmd.log "$tmp"/*.out "$tmp"/release.slurm/*.log; do
            [[ -f "$f" ]] || continue
            echo "----- $f (last lines)" >&2
            tail -n 25 "$f" >&2
        done
    fi
    if [[ "${HEMO_SLURM_KEEP:-0}" == "1" ]]; then echo "slurm-test: kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- munge --------------------------------------------------------------------------------------
mkdir -m 711 "$tmp/munge"
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munge_socket=$tmp/munge/munge.socket.2
munged --force --socket="$munge_socket" --key-file="$tmp/munge/munge.key" \
    --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" \
    --seed-file="$tmp/munge/munged.seed" ||
    skip "munged does not start here: $(tail -n 3 "$tmp/munge/munged.log" 2>/dev/null)"
munge -S "$munge_socket" -n | unmunge -S "$munge_socket" >/dev/null || fail "munge credentials do not round-trip"

# --- slurm.conf ---------------------------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=0
for _ in $(seq 1 20); do
    candidate=$((20000 + RANDOM % 30000))
    if port_free "$candidate" && port_free $((candidate + 1)); then base=$candidate; break; fi
done
((base > 0)) || fail "found no two free TCP ports for slurmctld and slurmd"
node=$(hostname -s)
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/log"
cat >"$tmp/slurm.conf" <<CONF
ClusterName=hemotest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=10
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=hemo Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$tmp/slurm.conf

slurmctld -D -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 1 60); do
    state=$(sinfo --noheader --format '%T' 2>/dev/null | head -n 1)
    [[ "$state" == "idle" ]] && break
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || {
            tail -n 5 "$tmp"/log/*.out >&2
            skip "a Slurm daemon exited at start-up on this machine (see above)"
        }
    done
    sleep 1
done
[[ "$state" == "idle" ]] || fail "node $node is '$state', not idle, 60 s after starting slurmd"
say "slurm up: node $node, slurmctld :$base, slurmd :$((base + 1)), 8 CPUs declared"

# --- cohort and reference release ---------------------------------------------------------------
cases=${HEMO_SLURM_CASES:-12}
in_plane=${HEMO_SLURM_IN_PLANE:-}
if [[ -z "$in_plane" ]]; then
    # A debug build is ~7x slower: pick a slice size that keeps the test within minutes.
    probe_start=$(date +%s%N)
    "$hemo" synth --out "$tmp/probe" --cases 1 --in-plane 128 --threads 1 >/dev/null 2>&1
    probe_ms=$((($(date +%s%N) - probe_start) / 1000000))
    if ((probe_ms < 1500)); then in_plane=256; else in_plane=128; fi
    rm -rf "$tmp/probe"
fi
"$hemo" synth --out "$tmp/cohort" --cases "$cases" --in-plane "$in_plane" >/dev/null 2>&1 ||
    fail "hemo synth failed"
"$hemo" build --cohort "$tmp/cohort" --out "$tmp/reference" >"$tmp/reference.log" 2>&1 ||
    fail "hemo build failed: $(tail -n 3 "$tmp/reference.log")"
say "cohort: $cases cases of ${in_plane}x${in_plane}; reference release built"

# If this node's name does not resolve, workers dial the coordinator on loopback instead.
connect_env=()
if ! getent hosts "$node" >/dev/null; then
    connect_env=(HEMO_CONNECT_HOST=127.0.0.1)
    say "host name $node does not resolve: workers dial 127.0.0.1"
fi

# --- the release job ----------------------------------------------------------------------------
release=$tmp/release
run_dir=$release.slurm
release_job=$(env HEMO_COHORT="$tmp/cohort" HEMO_RELEASE="$release" HEMO_BIN="$hemo" "${connect_env[@]}" \
    sbatch --parsable --chdir="$tmp" --output="$tmp/release-job.out" \
    --nodes=1 --ntasks=1 --cpus-per-task=1 --time=10 \
    "$repo/cluster/slurm/hemo-release.sbatch") || fail "sbatch hemo-release.sbatch refused the job"
say "submitted release job $release_job"

endpoint=""
for _ in $(seq 1 120); do
    [[ -s "$run_dir/endpoint" ]] && endpoint=$(cat "$run_dir/endpoint") && break
    [[ -n "$(squeue --noheader --jobs "$release_job" 2>/dev/null)" ]] || break
    sleep 0.5
done
[[ -n "$endpoint" ]] || fail "the release job wrote no endpoint file (see $tmp/release-job.out)"
keys=$run_dir/keys
for f in coordinator.secret coordinator.public worker.secret allowed_keys; do
    [[ -s "$keys/$f" ]] || fail "the release job made no $keys/$f (CURVE on a 0.0.0.0 bind)"
done
say "coordinator at $endpoint (CURVE keys in $keys)"

# --- the job array adding workers ---------------------------------------------------------------
array_job=$(env HEMO_BIN="$hemo" HEMO_STATUS_EVERY=2 \
    sbatch --parsable --chdir="$tmp" --output="$tmp/add-workers-%A_%a.out" \
    --array=1-2 --ntasks=1 --cpus-per-task=1 --time=10 \
    "$repo/cluster/slurm/hemo-add-workers.sbatch" "$endpoint" "$keys/coordinator.public" "$keys/worker.secret") ||
    fail "sbatch hemo-add-workers.sbatch refused the job array"
say "submitted job array $array_job (2 tasks)"

if "$hemo" status "$endpoint" --timeout 1 >/dev/null 2>&1; then
    fail "the coordinator answered a client without CURVE keys"
fi

# Watch the run: the array's workers must show up beside the release job's own worker.
seen_array=0
held_array=0
deadline=$((SECONDS + 180))
while [[ -n "$(squeue --noheader --jobs "$release_job" 2>/dev/null)" ]]; do
    ((SECONDS < deadline)) || fail "the release job still runs after 180 s"
    if status=$("$hemo" status "$endpoint" --timeout 2 --curve-server-key "$keys/coordinator.public" \
        --curve-secret "$keys/worker.secret" 2>/dev/null); then
        echo "$status" >>"$tmp/status.log"
        n=$(grep -c "slurm-${array_job}_" <<<"$status" || true)
        ((n > seen_array)) && seen_array=$n
        grep -q "slurm-${array_job}_.*holding [1-9]" <<<"$status" && held_array=1
    fi
    sleep 0.5
done
for _ in $(seq 1 60); do
    [[ -z "$(squeue --noheader 2>/dev/null)" ]] && break
    sleep 1
done
[[ -z "$(squeue --noheader 2>/dev/null)" ]] || fail "jobs still queued or running 60 s after the release job: $(squeue --noheader)"

# --- checks -------------------------------------------------------------------------------------
job_state() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
[[ "$(job_state "$release_job" JobState)" == "COMPLETED" ]] ||
    fail "release job $release_job ended $(job_state "$release_job" JobState) (exit $(job_state "$release_job" ExitCode))"
for task in 1 2; do
    id="${array_job}_$task"
    [[ "$(job_state "$id" JobState)" == "COMPLETED" ]] ||
        fail "array task $id ended $(job_state "$id" JobState) (exit $(job_state "$id" ExitCode))"
done
((seen_array == 2)) || fail "hemo status showed $seen_array of the array's 2 workers connected"
[[ ! -e "$run_dir/endpoint" ]] || fail "the endpoint file outlived the coordinator"
[[ -d "$release" ]] || fail "no release folder at $release"
"$hemo" release verify "$release" >"$tmp/verify.log" 2>&1 || fail "hemo release verify: $(tail -n 5 "$tmp/verify.log")"
cmp -s "$release/MANIFEST.sha256" "$tmp/reference/MANIFEST.sha256" ||
    fail "the Slurm release's MANIFEST.sha256 differs from hemo build's"
say "release job $release_job and array $array_job completed; array workers connected: $seen_array, held exams: $([[ $held_array == 1 ]] && echo yes || echo no)"
say "release verified; MANIFEST.sha256 equals hemo build's ($(wc -l <"$release/MANIFEST.sha256") files)"
echo "PASS: slurm"
