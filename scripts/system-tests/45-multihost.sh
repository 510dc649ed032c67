#!/usr/bin/env bash
# Multi-host system test: a coordinator and worker "hosts" in separate network namespaces, linked
# by veth pairs through a bridge, with CURVE keys. Run with --help for what it checks.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/system-tests/45-multihost.sh [--help] [--keep]

A multi-host test on one Linux machine. Each "host" is a network namespace with its own
interface and address: the coordinator in one (10.77.0.1), workers w1..w3 in three others
(10.77.0.11-13), a fourth (w4, 10.77.0.14) for the worker added mid-run; every host is joined to
a bridge that lives in a "switch" namespace by a veth pair. No traffic crosses the machine's own
network namespace, and the coordinator binds a non-loopback address with CURVE keys (`hemo
keygen`: the coordinator's key pair, one per worker, one for `hemo status`).

Scenarios, each a fresh coordinator and fresh workers; each must end with a MANIFEST.sha256
byte-identical to `hemo build` on the same synthetic cohort, with every file matching it:
  a) link cut: worker w1's switch port is set down while it holds a job, for longer than the
     heartbeat timeout (the coordinator must declare w1 dead and re-dispatch its exam), then
     restored; w1 must rejoin the run within 6 heartbeats of the link's return (with the default
     cut), not be declared dead again, receive a new job, and exit 0 on the coordinator's
     shutdown;
  b) worker killed: w2 gets SIGKILL while it holds a job; the coordinator declares it dead and
     re-dispatches the exam;
  c) worker added: w4 starts in its own namespace mid-run, joins and receives a job;
  d) inline transfer, no shared folder: each worker runs in its own mount namespace with a tmpfs
     over the coordinator's storage (cohort and releases are not readable there, which the
     worker's start-up checks) and its own scratch folder; the coordinator sends the input files
     in the JOB (`--transfer inline`); the scratch folders must be empty afterwards.
Heartbeats every 250 ms; the coordinator declares a worker dead after 3 silent intervals; workers
hold each job 1 s (the hidden `hemo worker --job-delay-ms` of fault drills) so jobs are in flight
when the faults strike. Prints each scenario's duration.
HEMO_MULTIHOST_SCENARIOS="a c" runs only those scenarios; HEMO_MULTIHOST_CUT_SECONDS (default 3.6)
sets how long w1's link stays down in a), HEMO_MULTIHOST_EXAMS (default 20) the cohort's size;
HEMO_MULTIHOST_HOLD=SECONDS pauses on a failure with namespaces and processes still up, for
inspection (e.g. `ip netns exec hm<pid>-co ss -tn`).

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN: network and mount namespaces, veth, bridge, tmpfs);
installs iproute2 from Debian when missing. Prints "SKIP: <reason>" and exits 0 where the machine
cannot create them. $HEMO is the hemo binary (default: .build/debug/hemo).
--keep leaves the work folder (logs, releases) in place and prints its path.
USAGE
}

keep=0
case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    --keep) keep=1 ;;
    "") ;;
    *) echo "45-multihost: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
HEMO=${HEMO:-$root/.build/debug/hemo}
if [[ ! -x "$HEMO" ]]; then
    echo "45-multihost: FAIL: no hemo binary at '$HEMO' (set HEMO or run scripts/setup.sh --debug)" >&2
    exit 1
fi
HEMO=$(cd "$(dirname "$HEMO")" && pwd)/$(basename "$HEMO")

skip() { echo "SKIP: $*"; exit 0; }

# ---- What the machine must allow --------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || skip "needs root for network and mount namespaces (running as uid $(id -u))"
if ! command -v ip >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "45-multihost: installing iproute2 from Debian"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null 2>&1; } \
            || skip "iproute2 is missing and could not be installed with apt-get"
    else
        skip "iproute2 (ip) is missing and there is no apt-get to install it"
    fi
fi
command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is missing"

prefix="hm$$"
probe="$prefix-probe"
if ! err=$(ip netns add "$probe" 2>&1); then
    skip "cannot create a network namespace (needs CAP_SYS_ADMIN and CAP_NET_ADMIN): $err"
fi
probe_ok=1
err=$(ip -n "$probe" link add br0 type bridge 2>&1) || probe_ok=0
if ((probe_ok)); then
    err=$(ip -n "$probe" link add v0 type veth peer name v1 2>&1) || probe_ok=0
fi
if ((probe_ok)); then
    err=$(ip netns exec "$probe" unshare --mount --propagation private sh -c 'mount -t tmpfs tmpfs /mnt' 2>&1) || probe_ok=0
fi
ip netns del "$probe" 2>/dev/null || true
((probe_ok)) || skip "namespaces exist but bridge, veth or a private tmpfs mount cannot be made: $err"

# ---- Work folder, processes and namespaces, all cleaned up on exit ----------------------------
work=$(mktemp -d /tmp/hemo-multihost.XXXXXX)
namespaces=()
pids=()
cleanup() {
    local status=$?
    set +e
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    sleep 0.3
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if ((keep)); then echo "45-multihost: work folder kept: $work"; else rm -rf "$work"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

shared="$work/shared"      # the coordinator's storage (what NFS would export in shared mode)
keys="$work/keys"
logs="$work/logs"
mkdir -p "$shared" "$keys" "$logs"

fail() {
    echo "45-multihost: FAIL: $*" >&2
    if [[ -n "${HEMO_MULTIHOST_HOLD:-}" ]]; then echo "holding for inspection: $work" >&2; sleep "$HEMO_MULTIHOST_HOLD"; fi
    for f in "$logs"/*.log; do
        [[ -e "$f" ]] || continue
        echo "---- ${f#"$logs"/} (last 25 lines)" >&2
        tail -n 25 "$f" >&2
    done
    exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after ${limit} s waiting for: $what"
        sleep 0.1
    done
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- Topology: a switch namespace with a bridge; one namespace per host -----------------------
switch="$prefix-sw"
ip netns add "$switch"; namespaces+=("$switch")
ip -n "$switch" link add br0 type bridge
ip -n "$switch" link set br0 up
ip -n "$switch" link set lo up
declare -A address=([co]=10.77.0.1 [w1]=10.77.0.11 [w2]=10.77.0.12 [w3]=10.77.0.13 [w4]=10.77.0.14)
for host in co w1 w2 w3 w4; do
    ns="$prefix-$host"
    ip netns add "$ns"; namespaces+=("$ns")
    ip -n "$switch" link add "p-$host" type veth peer name eth0 netns "$ns"
    ip -n "$switch" link set "p-$host" master br0 up
    ip -n "$ns" addr add "${address[$host]}/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
done
ns_of() { echo "$prefix-$1"; }

# ---- Keys, cohort and the reference release ---------------------------------------------------
for k in coordinator w1 w2 w3 w4 admin; do "$HEMO" keygen --out "$keys/$k" >/dev/null; done
cat "$keys"/w?.public "$keys/admin.public" >"$keys/allowed"
cohort="$shared/cohort"
exam_count=${HEMO_MULTIHOST_EXAMS:-20}
cut_seconds=${HEMO_MULTIHOST_CUT_SECONDS:-3.6}
"$HEMO" synth --out "$cohort" --cases "$exam_count" --in-plane 64 --slices 12 --threads 2 >"$logs/synth.log" 2>&1 \
    || fail "hemo synth failed"
"$HEMO" build --cohort "$cohort" --out "$shared/reference" --threads 2 >"$logs/build.log" 2>&1 \
    || fail "hemo build failed"
exams=$(find "$cohort" -mindepth 1 -maxdepth 1 -name 'case_*' | wc -l)

heartbeat_ms=250
job_delay_ms=1000
port=5554
coordinator_pid=""
declare -A worker_pid=()

# start_coordinator SCENARIO TRANSFER: a fresh coordinator in the coordinator's namespace.
start_coordinator() {
    local scenario=$1 transfer=$2
    port=$((port + 1))
    endpoint="tcp://${address[co]}:$port"
    release="$shared/release-$scenario"
    coordinator_log="$logs/$scenario-coordinator.log"
    ip netns exec "$(ns_of co)" "$HEMO" coordinator --cohort "$cohort" --out "$release" \
        --bind "$endpoint" --transfer "$transfer" --heartbeat-ms "$heartbeat_ms" --liveness 3 \
        --curve-secret "$keys/coordinator.secret" --allowed-keys "$keys/allowed" \
        >"$coordinator_log" 2>&1 &
    coordinator_pid=$!
    pids+=("$coordinator_pid")
    wait_for 15 "the coordinator of scenario $scenario listening" grep -qs "^listening on" "$coordinator_log"
}

# start_worker SCENARIO HOST [isolated]: a worker in HOST's namespace. "isolated" runs it in its own
# mount namespace with a tmpfs over the coordinator's storage: no shared folder.
start_worker() {
    local scenario=$1 host=$2 mode=${3:-shared}
    local scratch="$work/hosts/$host-$scenario"
    mkdir -p "$scratch"
    local hide=""
    if [[ $mode == isolated ]]; then
        hide="mount -t tmpfs -o size=1m,mode=0700 hemo-no-shared-storage '$shared' || exit 96
              if [ -e '$cohort/cohort.csv' ]; then echo 'worker start-up: the cohort is readable here' >&2; exit 97; fi
              echo 'worker start-up: $shared is an empty tmpfs in this mount namespace' >&2"
    fi
    ip netns exec "$(ns_of "$host")" unshare --mount --propagation private sh -c "
        $hide
        export TMPDIR='$scratch'
        exec '$HEMO' worker --connect '$endpoint' --id '$host' --heartbeat-ms $heartbeat_ms \
            --job-delay-ms $job_delay_ms \
            --curve-server-key '$keys/coordinator.public' --curve-secret '$keys/$host.secret'
    " >"$logs/$scenario-$host.log" 2>&1 &
    worker_pid[$host]=$!
    pids+=("$!")
}

status_of() {
    ip netns exec "$(ns_of w3)" "$HEMO" status "$endpoint" --timeout 1 \
        --curve-server-key "$keys/coordinator.public" --curve-secret "$keys/admin.secret" 2>/dev/null
}
# holding HOST: the coordinator's status lists HOST holding at least one job.
holding() { status_of | grep -Eq "^  $1 \(.*holding [1-9]"; }
# listed HOST: the coordinator's status lists HOST as a live worker.
listed() { status_of | grep -Eq "^  $1 \("; }
logged() { grep -qs "$2" "$1"; }
# completed_at_least N: the coordinator's status counts at least N exams completed ("N completed"
# in protocol 1's status, "N done (...)" in later ones).
completed_at_least() {
    local n
    n=$(status_of | sed -En 's/^exams: [0-9]+ total, ([0-9]+) (completed|done).*/\1/p')
    [[ -n "$n" ]] && ((n >= $1))
}
gone() { ! kill -0 "$1" 2>/dev/null; }
# rejoined CHECK HOST: CHECK (listed or holding) holds for HOST; fails the test when the run ended first.
rejoined() {
    gone "$coordinator_pid" && fail "the run ended before $2 rejoined it ($1)"
    "$1" "$2"
}

# finish SCENARIO HOSTS...: the coordinator exits 0 with a release equal to the reference, and each
# listed worker exits 0 (it heard the coordinator's shutdown).
finish() {
    local scenario=$1
    shift
    local rc=0
    wait_for 90 "the coordinator of scenario $scenario finishing" \
        gone "$coordinator_pid"
    wait "$coordinator_pid" || rc=$?
    ((rc == 0)) || fail "scenario $scenario: the coordinator exited $rc"
    for host in "$@"; do
        local pid=${worker_pid[$host]}
        wait_for 10 "worker $host of scenario $scenario exiting after the shutdown" \
            gone "$pid"
        rc=0
        wait "$pid" || rc=$?
        ((rc == 0)) || fail "scenario $scenario: worker $host exited $rc"
    done
    grep -q "cases: $exams, .*failures: 0" "$coordinator_log" \
        || fail "scenario $scenario: the coordinator did not release all $exams exams"
    cmp -s "$shared/reference/MANIFEST.sha256" "$release/MANIFEST.sha256" \
        || fail "scenario $scenario: MANIFEST.sha256 differs from hemo build's ($(diff "$shared/reference/MANIFEST.sha256" "$release/MANIFEST.sha256" | head -5 | tr '\n' ' '))"
    (cd "$release" && sha256sum --quiet -c MANIFEST.sha256 >/dev/null 2>&1) \
        || fail "scenario $scenario: files of $release do not match its MANIFEST.sha256"
}

dispatches() { sed -n 's/^wire: \([0-9]*\) jobs.*/\1/p' "$coordinator_log"; }

declare -A took=([a]=- [b]=- [c]=- [d]=-)
scenarios=${HEMO_MULTIHOST_SCENARIOS:-a b c d}
wanted() { [[ " $scenarios " == *" $1 "* ]]; }

# ---- a) a worker's link cut for longer than the heartbeat timeout, then restored --------------
if wanted a; then
    t0=$(now)
    start_coordinator a shared
    for host in w1 w2 w3; do start_worker a "$host"; done
    wait_for 20 "w1 holding a job" holding w1
    ip -n "$switch" link set p-w1 down
    cut_at=$(now)
    wait_for 10 "the coordinator declaring w1 dead during the cut" logged "$coordinator_log" "worker w1 is dead"
    ! listed w1 || fail "scenario a: the coordinator still lists w1 after declaring it dead"
    # The cut lasts 3.6 s by default: ~5x the coordinator's heartbeat timeout, 2.4x the worker's, and
    # ends while the worker has a just-abandoned socket and is about to open the next one.
    sleep "$(awk -v c="$cut_seconds" -v a="$cut_at" -v b="$(now)" 'BEGIN { r = c - (b - a); print (r > 0 ? r : 0) }')"
    ip -n "$switch" link set p-w1 up
    restored_at=$(now)
    echo "45-multihost: a) w1's link was down for $(elapsed "$cut_at") s (heartbeat timeout $((heartbeat_ms * 3)) ms)"
    wait_for 30 "w1 rejoining after the link came back, before the run ends" rejoined listed w1
    rejoin_seconds=$(elapsed "$restored_at")
    echo "45-multihost: a) w1 rejoined $rejoin_seconds s after its link came back"
    # With the default cut the link returns just before w1 opens its next socket, which must be
    # admitted at once: allow the worker's own liveness window (6 heartbeats). A coordinator that
    # ignores the new connection (its routing ID held by the old one) takes a whole extra cycle.
    if [[ -z "${HEMO_MULTIHOST_CUT_SECONDS:-}" ]] \
        && ! awk -v s="$rejoin_seconds" -v limit="$(awk -v h="$heartbeat_ms" 'BEGIN { print 6 * h / 1000 }')" 'BEGIN { exit !(s <= limit) }'; then
        fail "scenario a: w1 took $rejoin_seconds s to rejoin after its link came back (more than 6 heartbeats)"
    fi
    wait_for 30 "w1 receiving a job after rejoining, before the run ends" rejoined holding w1
    finish a w1 w2 w3
    deaths=$(grep -c "worker w1 is dead" "$coordinator_log" || true)
    ((deaths == 1)) || fail "scenario a: w1 was declared dead $deaths times (once, at the cut, is right: a second death means its rejoining connection was ignored)"
    (( $(dispatches) > exams )) || fail "scenario a: w1's exam was not re-dispatched ($(dispatches) jobs for $exams exams)"
    took[a]=$(elapsed "$t0")
    echo "45-multihost: a) link cut and restored: PASS (${took[a]} s, $(dispatches) jobs for $exams exams)"
fi

# ---- b) a worker killed mid-run ---------------------------------------------------------------
if wanted b; then
    t0=$(now)
    start_coordinator b shared
    for host in w1 w2 w3; do start_worker b "$host"; done
    wait_for 20 "w2 holding a job" holding w2
    kill -KILL "${worker_pid[w2]}"
    rc=0
    wait "${worker_pid[w2]}" 2>/dev/null || rc=$?
    ((rc == 137)) || fail "scenario b: the killed worker process ended with status $rc, not by SIGKILL (137)"
    wait_for 10 "the coordinator declaring w2 dead" logged "$coordinator_log" "worker w2 is dead"
    finish b w1 w3
    (( $(dispatches) > exams )) || fail "scenario b: w2's exam was not re-dispatched ($(dispatches) jobs for $exams exams)"
    took[b]=$(elapsed "$t0")
    echo "45-multihost: b) worker killed: PASS (${took[b]} s, $(dispatches) jobs for $exams exams)"
fi

# ---- c) a worker added mid-run ----------------------------------------------------------------
if wanted c; then
    t0=$(now)
    start_coordinator c shared
    for host in w1 w2 w3; do start_worker c "$host"; done
    wait_for 20 "the first exams done" completed_at_least 2
    start_worker c w4
    wait_for 20 "w4 joining mid-run and receiving a job" holding w4
    finish c w1 w2 w3 w4
    took[c]=$(elapsed "$t0")
    echo "45-multihost: c) worker added mid-run: PASS (${took[c]} s)"
fi

# ---- d) inline transfer, no shared folder -----------------------------------------------------
if wanted d; then
    t0=$(now)
    start_coordinator d inline
    for host in w1 w2 w3; do start_worker d "$host" isolated; done
    finish d w1 w2 w3
    for host in w1 w2 w3; do
        grep -q "is an empty tmpfs" "$logs/d-$host.log" || fail "scenario d: worker $host did not run without the shared folder"
        [[ -z "$(ls -A "$work/hosts/$host-d")" ]] || fail "scenario d: worker $host left files in its scratch folder: $(ls -A "$work/hosts/$host-d")"
    done
    grep -q "inline inputs [1-9][0-9]* → " "$coordinator_log" || fail "scenario d: the coordinator reports no inline input bytes"
    took[d]=$(elapsed "$t0")
    echo "45-multihost: d) inline transfer without shared storage: PASS (${took[d]} s)"
fi

echo "PASS: 45-multihost: all scenarios passed (a ${took[a]} s, b ${took[b]} s, c ${took[c]} s, d ${took[d]} s; $exams exams, CURVE)"
