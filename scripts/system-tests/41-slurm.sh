#!/usr/bin/env bash
# System test: cluster/slurm/ on a real single-node Slurm (slurmctld + slurmd + munged).
# lane: background (mostly waits on the Slurm daemons and its own polls: about 30 s of CPU in 3 minutes)
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/system-tests/41-slurm.sh

Checks cluster/slurm/hemo-release.sbatch and cluster/slurm/hemo-add-workers.sbatch on a real
Slurm: installs Debian's slurm-wlm and munge when missing, starts munged, slurmctld and slurmd
on this machine (a one-node cluster with its own config, ports, state and spool folders under a
temporary folder; no systemd, no cgroups) and makes a synthetic cohort (`hemo synth`). Then:
  1. submits the release job (coordinator + one worker, CURVE on 0.0.0.0) and, once the
     coordinator listens, a two-task job array adding workers to it; checks that a client
     without keys is refused and that `hemo status` lists the array's workers;
  2. the same with another release folder, but when two exams are done it kills the coordinator
     (SIGKILL to its step): the job must fail, its worker and the array's workers drain with
     SIGTERM and exit 0; then resubmits the same release job (it resumes from the journal) and
     a new array.
  3. shards: the cohort as 3 parts through the job array hemo-shards.sbatch (one coordinator and
     worker per array task, SLURM_ARRAY_TASK_ID -> --part K/3) with hemo-merge.sbatch waiting
     on it (--dependency=afterok); one task's coordinator is killed mid-part (SIGKILL), so that
     task fails and the merge can never start; the test cancels that merge, resubmits the one
     task (it resumes from its journal) and a merge depending on it. The merged release must
     equal `hemo build`'s file for file.
Each run passes when its jobs ended as expected, `hemo release verify` accepts the release and
its MANIFEST.sha256 equals `hemo build`'s on the same cohort.
Stops every daemon and job it started.

Needs root (the Slurm daemons); prints "SKIP: <reason>" and exits 0 where the machine cannot.
Environment:
  HEMO                 the hemo binary (required);
  HEMO_SLURM_CASES     cohort size (default 12);
  HEMO_SLURM_IN_PLANE  slice size in pixels (default 256 for a fast binary; 128, with 20 slices
                       per case, for a slow one such as a debug build);
  HEMO_SLURM_NODES=1   one node even where a network namespace could make a second;
  HEMO_SLURM_KEEP=1    keep the temporary folder (logs, releases) for debugging;
  HEMO_SLURM_SCENARIOS which of the scenarios above to run (default "1 2 3").
USAGE
}
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then usage; exit 0; fi

say() { echo "slurm-test: $(date -u +%H:%M:%S) $*"; }
fail() { echo "FAIL: slurm-test: $*" >&2; exit 1; }
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
slurm_up=0
cleanup() {
    local rc=$?
    set +e
    if ((slurm_up == 1)); then
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
    [[ -n "${ns:-}" ]] && ip netns del "$ns" 2>/dev/null
    if ((rc != 0)); then
        for f in "$tmp"/log/*.log "$tmp"/*.out "$tmp"/release*.slurm/*.log; do
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

# --- slurm.conf and daemons ---------------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
node=$(hostname -s)
mkdir -p "$tmp/log"
export SLURM_CONF=$tmp/slurm.conf

# A second node, when the machine allows: a network namespace (its own address, linked to this
# one by a veth pair) and a UTS namespace (its own host name) running a second slurmd. The file
# system is shared, as cluster storage would be.
node2="hemo-n2"
ns=""
two_nodes=0
host_ip=127.0.0.1
if [[ "${HEMO_SLURM_NODES:-2}" == "2" ]] && command -v ip >/dev/null && command -v unshare >/dev/null &&
    command -v nsenter >/dev/null; then
    suffix=$(printf '%05d' $((RANDOM % 100000)))
    octet=$((RANDOM % 250 + 1))
    candidate_ns=hemo-slurm-$suffix
    if ! ip -4 addr | grep -q "inet 10.213.$octet\." && ip netns add "$candidate_ns" 2>/dev/null; then
        ns=$candidate_ns
        if ip link add "hs${suffix}h" type veth peer name "hs${suffix}n" &&
            ip link set "hs${suffix}n" netns "$ns" &&
            ip addr add "10.213.$octet.1/30" dev "hs${suffix}h" && ip link set "hs${suffix}h" up &&
            ip netns exec "$ns" ip addr add "10.213.$octet.2/30" dev "hs${suffix}n" &&
            ip netns exec "$ns" ip link set "hs${suffix}n" up && ip netns exec "$ns" ip link set lo up &&
            nsenter --net="/run/netns/$ns" unshare --uts true; then
            two_nodes=1
            host_ip=10.213.$octet.1
            node2_ip=10.213.$octet.2
        fi
    fi
fi
if ((two_nodes == 0)); then
    say "one node only (set HEMO_SLURM_NODES=1, or this machine cannot make a network namespace)"
fi

write_conf() { # $1: slurmctld port (slurmd gets $1 + 1)
    rm -rf "$tmp/state" "$tmp/spool"
    mkdir -p "$tmp/state" "$tmp/spool/$node" "$tmp/spool/$node2"
    cat >"$SLURM_CONF" <<CONF
ClusterName=hemotest
SlurmctldHost=$node($host_ip)
SlurmctldPort=$1
SlurmdPort=$(($1 + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$munge_socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/%n
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd-%n.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd-%n.log
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
NodeName=$node NodeAddr=$host_ip CPUs=8 State=UNKNOWN
CONF
    if ((two_nodes == 1)); then
        echo "NodeName=$node2 NodeAddr=$node2_ip CPUs=8 State=UNKNOWN" >>"$SLURM_CONF"
        echo "PartitionName=hemo Nodes=$node,$node2 Default=YES MaxTime=INFINITE State=UP" >>"$SLURM_CONF"
    else
        echo "PartitionName=hemo Nodes=$node Default=YES MaxTime=INFINITE State=UP" >>"$SLURM_CONF"
    fi
}

# Starts slurmctld and slurmd; succeeds once the node is idle. A daemon that exits (a port taken
# meanwhile, ...) fails the attempt; its log is kept in $tmp/log.
start_slurm() {
    local state="" pid
    daemons=()
    slurmctld -D -f "$SLURM_CONF" >>"$tmp/log/slurmctld.out" 2>&1 &
    daemons+=($!)
    pids+=($!)
    slurmd -D -f "$SLURM_CONF" >>"$tmp/log/slurmd.out" 2>&1 &
    daemons+=($!)
    pids+=($!)
    if ((two_nodes == 1)); then
        # shellcheck disable=SC2016  # expanded by the inner shell
        # nsenter, not `ip netns exec`: that remounts /sys without the cgroup file system slurmd needs.
        nsenter --net="/run/netns/$ns" unshare --uts bash -c 'hostname "$0" && exec slurmd -D -f "$SLURM_CONF"' "$node2" \
            >>"$tmp/log/slurmd-$node2.out" 2>&1 &
        daemons+=($!)
        pids+=($!)
    fi
    for _ in $(seq 1 60); do
        state=$(sinfo --noheader --format '%T' 2>/dev/null | sort -u | tr '\n' ' ')
        [[ "$state" == "idle " ]] && return 0
        for pid in "${daemons[@]}"; do kill -0 "$pid" 2>/dev/null || { state="a daemon exited"; break 2; }; done
        sleep 1
    done
    for pid in "${daemons[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${daemons[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "slurm-test: attempt failed (node state: ${state:-none}); last log lines:" >&2
    tail -n 6 "$tmp"/log/* >&2
    return 1
}

started=0
for attempt in 1 2 3; do
    base=0
    for _ in $(seq 1 20); do
        candidate=$((20000 + RANDOM % 30000))
        if port_free "$candidate" && port_free $((candidate + 1)); then base=$candidate; break; fi
    done
    ((base > 0)) || fail "found no two free TCP ports for slurmctld and slurmd"
    write_conf "$base"
    if start_slurm; then started=1 slurm_up=1; break; fi
    say "Slurm did not come up (attempt $attempt); trying other ports"
done
((started == 1)) || skip "slurmctld/slurmd do not come up on this machine (3 attempts; logs above)"
if ((two_nodes == 1)); then
    say "slurm up: nodes $node ($host_ip) and $node2 ($node2_ip, netns $ns), slurmctld :$base, slurmd :$((base + 1)), 8 CPUs declared each"
else
    say "slurm up: node $node, slurmctld :$base, slurmd :$((base + 1)), 8 CPUs declared"
fi

# --- cohort and reference release ---------------------------------------------------------------
cases=${HEMO_SLURM_CASES:-12}
slices_option=()
in_plane=${HEMO_SLURM_IN_PLANE:-}
if [[ -z "$in_plane" ]]; then
    # A debug build is ~7x slower: pick a slice size that keeps the test within minutes.
    probe_start=$(date +%s%N)
    "$hemo" synth --out "$tmp/probe" --cases 1 --in-plane 128 --threads 1 >/dev/null 2>&1
    probe_ms=$((($(date +%s%N) - probe_start) / 1000000))
    if ((probe_ms < 1500)); then in_plane=256; else in_plane=128 slices_option=(--slices 20); fi
    rm -rf "$tmp/probe"
fi
"$hemo" synth --out "$tmp/cohort" --cases "$cases" --in-plane "$in_plane" "${slices_option[@]}" >/dev/null 2>&1 ||
    fail "hemo synth failed"
"$hemo" build --cohort "$tmp/cohort" --out "$tmp/reference" >"$tmp/reference.log" 2>&1 ||
    fail "hemo build failed: $(tail -n 3 "$tmp/reference.log")"
say "cohort: $cases cases of ${in_plane}x${in_plane}; reference release built"

nodes_option=(--nodes=1 --ntasks=1)
((two_nodes == 0)) || nodes_option=(--nodes=2 --ntasks-per-node=1)

# --- helpers ------------------------------------------------------------------------------------
job_state() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
running() { [[ -n "$(squeue --noheader --jobs "$1" 2>/dev/null)" ]]; }
expect_state() {
    local state
    state=$(job_state "$1" JobState)
    [[ "$state" == "$2" ]] || fail "job $1 ended $state (exit $(job_state "$1" ExitCode)), expected $2"
}
expect_line() { grep -qF "$2" "$1" || fail "$1 lacks '$2'"; }

# Submits hemo-release.sbatch for release folder $release; sets job and endpoint once the
# coordinator listens.
submit_release() {
    rm -f "$run_dir/endpoint"
    job=$(env HEMO_COHORT="$tmp/cohort" HEMO_RELEASE="$release" HEMO_BIN="$hemo" HEMO_DRAIN_TIMEOUT=30 \
        sbatch --parsable --chdir="$tmp" --output="$tmp/release-%j.out" \
        "${nodes_option[@]}" --cpus-per-task=1 --time=10 \
        "$repo/cluster/slurm/hemo-release.sbatch") || fail "sbatch refused hemo-release.sbatch"
    endpoint=""
    for _ in $(seq 1 120); do
        [[ -s "$run_dir/endpoint" ]] && endpoint=$(cat "$run_dir/endpoint") && break
        running "$job" || break
        sleep 0.5
    done
    [[ -n "$endpoint" ]] || fail "release job $job wrote no endpoint file (see $tmp/release-$job.out)"
    for f in coordinator.secret coordinator.public worker.secret allowed_keys; do
        [[ -s "$keys/$f" ]] || fail "release job $job made no $keys/$f (CURVE on a 0.0.0.0 bind)"
    done
    say "release job $job: coordinator at $endpoint (CURVE keys in $keys)"
}

# Submits a two-task hemo-add-workers.sbatch array for the current endpoint; sets array.
submit_array() {
    array=$(env HEMO_BIN="$hemo" HEMO_STATUS_EVERY=2 HEMO_GIVE_UP_AFTER=6 \
        sbatch --parsable --chdir="$tmp" --output="$tmp/add-workers-%A_%a.out" \
        --array=1-2 --ntasks=1 --cpus-per-task=1 --time=10 \
        "$repo/cluster/slurm/hemo-add-workers.sbatch" "$endpoint" "$keys/coordinator.public" "$keys/worker.secret") ||
        fail "sbatch refused the hemo-add-workers.sbatch array"
    say "job array $array (2 tasks) adds workers to $endpoint"
}

# Polls `hemo status` while the release job runs; returns once `completed` exams reach $1 (0: the
# job's end). Sets seen (most array workers listed at once), held (1 if one held an exam), completed.
watch() {
    local stop_at=$1 deadline=$((SECONDS + 180)) status n
    seen=0 held=0 completed=0 on_node1=0 on_node2=0
    while running "$job"; do
        ((SECONDS < deadline)) || fail "release job $job still runs after 180 s"
        if status=$("$hemo" status "$endpoint" --timeout 2 --curve-server-key "$keys/coordinator.public" \
            --curve-secret "$keys/worker.secret" 2>/dev/null); then
            echo "$status" >>"$tmp/status.log"
            n=$(grep -c "slurm-${array}_" <<<"$status" || true)
            ((n > seen)) && seen=$n
            grep -q "slurm-${array}_.*holding [1-9]" <<<"$status" && held=1
            grep -q "($node pid" <<<"$status" && on_node1=1
            grep -q "($node2 pid" <<<"$status" && on_node2=1
            completed=$(sed -n 's/^exams: [0-9]* total, \([0-9]*\) completed.*/\1/p' <<<"$status")
            ((stop_at > 0 && seen == 2 && completed >= stop_at)) && return 0
        fi
        sleep 0.5
    done
}
wait_all_jobs() {
    for _ in $(seq 1 90); do
        [[ -z "$(squeue --noheader 2>/dev/null)" ]] && return 0
        sleep 1
    done
    fail "jobs still queued or running after 90 s: $(squeue --noheader | tr '\n' ';')"
}
# The release job and the array completed; the release verifies and equals hemo build's.
expect_complete_release() {
    wait_all_jobs
    expect_state "$job" COMPLETED
    for t in 1 2; do expect_state "${array}_$t" COMPLETED; done
    ((seen == 2)) || fail "hemo status showed $seen of the array's 2 workers connected to job $job"
    ((two_nodes == 0 || (on_node1 == 1 && on_node2 == 1))) ||
        fail "hemo status did not list workers on both $node and $node2 during job $job"
    [[ ! -e "$run_dir/endpoint" ]] || fail "the endpoint file outlived the coordinator"
    [[ -d "$release" ]] || fail "no release folder at $release"
    "$hemo" release verify "$release" >"$tmp/verify.log" 2>&1 ||
        fail "hemo release verify $release: $(tail -n 5 "$tmp/verify.log")"
    cmp -s "$release/MANIFEST.sha256" "$tmp/reference/MANIFEST.sha256" ||
        fail "the Slurm release's MANIFEST.sha256 differs from hemo build's"
    say "job $job and array $array completed (workers seen on $( ((two_nodes == 1)) && echo "$node and $node2" || echo "$node"); array workers held exams: $([[ $held == 1 ]] && echo yes || echo no)); release verified, MANIFEST.sha256 equals hemo build's ($(wc -l <"$release/MANIFEST.sha256") files)"
}

scenarios=" ${HEMO_SLURM_SCENARIOS:-1 2 3} "

# --- 1: release job, then a job array adding workers to its coordinator ------------------------
if [[ "$scenarios" == *" 1 "* ]]; then
release=$tmp/release
run_dir=$release.slurm
keys=$run_dir/keys
submit_release
submit_array
"$hemo" status "$endpoint" --timeout 1 >/dev/null 2>&1 && fail "the coordinator answered a client without CURVE keys"
watch 0
expect_complete_release
fi

# --- 2: the coordinator killed mid-run: workers drain; the resubmitted job resumes -------------
if [[ "$scenarios" == *" 2 "* ]]; then
release=$tmp/release-resumed
run_dir=$release.slurm
keys=$run_dir/keys
submit_release
first_job=$job
submit_array
first_array=$array
watch 2
((seen == 2)) || fail "hemo status showed $seen of the array's 2 workers connected to job $job"
coordinator_step=$(squeue --noheader --steps --jobs "$job" --format '%i %j' | awk '$2 == "hemo-coordinator" { print $1 }')
[[ -n "$coordinator_step" ]] || fail "job $job has no hemo-coordinator step"
say "$completed exams done; killing the coordinator (SIGKILL to step $coordinator_step)"
scancel --signal=KILL "$coordinator_step"
wait_all_jobs
expect_state "$first_job" FAILED
expect_line "$tmp/release-$first_job.out" "draining the workers still running (SIGTERM"
expect_line "$tmp/release-$first_job.out" "workers ended (srun exit 0)"
for t in 1 2; do
    expect_state "${first_array}_$t" COMPLETED
    expect_line "$tmp/add-workers-${first_array}_$t.out" "has not answered for 6s: draining"
    expect_line "$tmp/add-workers-${first_array}_$t.out" "workers ended (srun exit 0)"
done
[[ ! -d "$release" ]] || fail "a release folder appeared although the coordinator was killed"
say "job $first_job failed with its coordinator; its worker and array $first_array drained with SIGTERM and exit 0"
submit_release
submit_array
watch 0
expect_line "$run_dir/coordinator-$job.log" "resumed from the journal"
expect_complete_release
fi

# --- 3: three shards through a job array, one task killed and resubmitted, merged -------------
if [[ "$scenarios" == *" 3 "* ]]; then
release=$tmp/release-sharded
parts_dir=$release.parts
shard_env=(HEMO_COHORT="$tmp/cohort" HEMO_RELEASE="$release" HEMO_PARTS=3 HEMO_BIN="$hemo" HEMO_DRAIN_TIMEOUT=30)
submit_shards() { # $1: the array's task list
    shards=$(env "${shard_env[@]}" sbatch --parsable --chdir="$tmp" --output="$tmp/shard-%A_%a.out" \
        --array="$1" --nodes=1 --ntasks=1 --cpus-per-task=1 --time=10 \
        "$repo/cluster/slurm/hemo-shards.sbatch") || fail "sbatch refused the hemo-shards.sbatch array"
}
submit_merge() { # $1: the job the merge waits for
    merge=$(env "${shard_env[@]}" sbatch --parsable --chdir="$tmp" --output="$tmp/merge-%j.out" \
        --dependency="afterok:$1" --ntasks=1 --cpus-per-task=1 --time=10 \
        "$repo/cluster/slurm/hemo-merge.sbatch") || fail "sbatch refused hemo-merge.sbatch"
}
exams_in_part() { # exams of part $1 of 3 by the README's rule, from the cohort's case folders
    local name count=0
    for name in "$tmp"/cohort/*/ct.nii.gz; do
        name=$(basename "$(dirname "$name")")
        python3 -c 'import hashlib,sys; x=int.from_bytes(hashlib.sha256(b"hemocluster-part-v1\0"+sys.argv[1].encode()).digest()[:8],"big"); sys.exit(0 if (x*3>>64)+1==int(sys.argv[2]) else 1)' "$name" "$1" &&
            count=$((count + 1))
    done
    echo "$count"
}
# Kill the part with the most exams, once it has finished one.
victim=1 most=0
for k in 1 2 3; do
    c=$(exams_in_part "$k")
    ((c > most)) && victim=$k most=$c
done
((most >= 2)) || fail "no part of the cohort has two exams to kill one in the middle of"
submit_shards 1-3
first_shards=$shards
submit_merge "$first_shards"
first_merge=$merge
say "shard array $first_shards (3 tasks) and merge job $first_merge (afterok:$first_shards); part $victim ($most exams) will be killed"
victim_dir=$parts_dir/part-$victim-of-3.slurm
endpoint=""
deadline=$((SECONDS + 180))
while :; do
    ((SECONDS < deadline)) || fail "part $victim never had an exam done within 180 s"
    running "${first_shards}_$victim" || fail "array task ${first_shards}_$victim ended before it could be killed"
    if [[ -s "$victim_dir/endpoint" && -s "$victim_dir/keys/coordinator.public" ]]; then
        endpoint=$(cat "$victim_dir/endpoint")
        status=$("$hemo" status "$endpoint" --timeout 2 --curve-server-key "$victim_dir/keys/coordinator.public" \
            --curve-secret "$victim_dir/keys/worker.secret" 2>/dev/null || true)
        completed=$(sed -n 's/^exams: [0-9]* total, \([0-9]*\) completed.*/\1/p' <<<"$status")
        ((${completed:-0} >= 1)) && break
    fi
    sleep 0.5
done
task_job=$(job_state "${first_shards}_$victim" JobId)
step=$(squeue --noheader --steps --jobs "$task_job" --format '%i %j' | awk '$2 == "hemo-coordinator" { print $1 }')
[[ -n "$step" ]] || fail "array task ${first_shards}_$victim has no hemo-coordinator step"
say "part $victim: $completed exam(s) done; killing its coordinator (SIGKILL to step $step)"
scancel --signal=KILL "$step"
for _ in $(seq 1 90); do
    running "${first_shards}_1" || running "${first_shards}_2" || running "${first_shards}_3" || break
    sleep 1
done
expect_state "${first_shards}_$victim" FAILED
for k in 1 2 3; do ((k == victim)) || expect_state "${first_shards}_$k" COMPLETED; done
[[ -d "$parts_dir/part-$victim-of-3" ]] && fail "part $victim was committed although its coordinator was killed"
# The merge waits on afterok of an array with a failed task: it can never run.
for _ in $(seq 1 30); do
    reason=$(job_state "$first_merge" Reason)
    [[ "$reason" == "DependencyNeverSatisfied" || "$(job_state "$first_merge" JobState)" != "PENDING" ]] && break
    sleep 1
done
[[ "$(job_state "$first_merge" JobState)" == "PENDING" || "$(job_state "$first_merge" JobState)" == "CANCELLED" ]] ||
    fail "merge job $first_merge ran although array task ${first_shards}_$victim failed ($(job_state "$first_merge" JobState))"
scancel "$first_merge" 2>/dev/null || true
say "task ${first_shards}_$victim failed, the others completed; merge $first_merge never started (${reason:-?}) and is cancelled"
submit_shards "$victim"
submit_merge "$shards"
say "resubmitted part $victim as job $shards; merge job $merge (afterok:$shards)"
wait_all_jobs
expect_state "${shards}_$victim" COMPLETED
expect_state "$merge" COMPLETED
expect_line "$parts_dir/part-$victim-of-3.slurm/coordinator-$(job_state "${shards}_$victim" JobId).log" "resumed from the journal"
"$hemo" release verify "$release" >"$tmp/verify.log" 2>&1 || fail "hemo release verify $release: $(tail -n 5 "$tmp/verify.log")"
diff -r "$tmp/reference" "$release" >"$tmp/diff.log" 2>&1 || fail "the merged release differs from hemo build's: $(head -n 5 "$tmp/diff.log")"
for k in 1 2 3; do [[ ! -e "$parts_dir/part-$k-of-3" ]] || fail "part $k outlived the merge (its files were moved)"; done
say "part $victim resumed from its journal; merge job $merge completed; the release equals hemo build's file for file ($(wc -l <"$release/MANIFEST.sha256") files)"
fi
echo "PASS: slurm"
