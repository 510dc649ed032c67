#!/usr/bin/env bash
# System test: scripts/ops/start-coordinator, scale-workers and stop-cluster on a real run.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/system-tests/50-scale-workers.sh   (HEMO=/path/to/hemo)

Starts a coordinator with scripts/ops/start-coordinator (CURVE on, keys from `hemo keygen` in the
layout the scripts expect) on a 60-exam synthetic cohort and, during the
run, scales the workers with scripts/ops/scale-workers 0 -> 4 -> 1 -> 0 (checking `hemo status` and
the pid files at each step, and that a second run with the same N changes nothing), checks that
no exam moves while no worker runs, that a worker stuck in a job is SIGKILLed only after
--drain-timeout and with a WARNING, then scales back up to 2 workers on two "hosts" through
HEMO_SSH (a stand-in for ssh that runs the command here) so the run finishes. Checks: no worker
needed SIGKILL in the normal steps, the coordinator reports 60 cases and 0 failures, MANIFEST.sha256 equals
`hemo build`'s on the same cohort, and scripts/ops/stop-cluster reports the finished run.
Then a second run (16 exams) is stopped midway with scripts/ops/stop-cluster (final status, no worker left),
restarted with start-coordinator (it resumes from the journal) and finished: same manifest.
USAGE
    exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
[[ -n "${HEMO:-}" && -x "${HEMO:-}" ]] || { echo "FAIL: set HEMO to the hemo binary" >&2; exit 1; }
export HEMO
work=$(mktemp -d)
state=$work/state
cleanup() {
    local f pid
    for f in "$state"/coordinator.pid "$state"/workers/*.pid "$state"/workers/*.draining; do
        [[ -f "$f" ]] || continue
        pid=$(awk '{ print $NF }' "$f")
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
scripts=$root/scripts
cases=60

"$HEMO" synth --out "$work/cohort" --cases "$cases" --in-plane 64 --slices 10 --threads 1 >/dev/null
"$HEMO" build --cohort "$work/cohort" --out "$work/reference" --threads 1 >/dev/null 2>&1

# CURVE keys in the layout the scripts expect (README, "Keys").
keys=$work/keys
mkdir -p "$keys"
for name in coordinator worker admin; do "$HEMO" keygen --out "$keys/$name" >/dev/null; done
cat "$keys/worker.public" "$keys/admin.public" >"$keys/allowed-keys"

"$scripts/ops/start-coordinator" --cohort "$work/cohort" --out "$work/release" --bind tcp://127.0.0.1:0 --state "$state" --keys "$keys"
endpoint=$(cat "$state/coordinator.endpoint")
[[ "$endpoint" == tcp://127.0.0.1:* ]] || fail "coordinator.endpoint holds '$endpoint'"

status() { "$HEMO" status "$endpoint" --timeout 5 --curve-server-key "$keys/coordinator.public" --curve-secret "$keys/admin.secret"; }
# The number after LABEL in `hemo status` (e.g. "completed", "pending"; "workers:" for workers).
field() {
    local label=$1 text=$2
    if [[ "$label" == workers ]]; then
        sed -n 's/^workers: \([0-9]*\).*/\1/p' <<<"$text"
    else
        sed -n "s/^exams: .* \([0-9][0-9]*\) $label.*/\1/p" <<<"$text"
    fi
}
# Waits (up to 20 s) until `hemo status` shows N workers.
expect_workers() {
    local n=$1 s
    for _ in $(seq 100); do
        s=$(status)
        [[ "$(field workers "$s")" == "$n" ]] && return 0
        sleep 0.2
    done
    fail "expected $n workers in hemo status, got: $s"
}
pid_files() { (cd "$state/workers" && for f in *.pid; do [[ -f "$f" ]] && printf '%s %s\n' "$f" "$(cat "$f")"; done; true); }
count_files() { find "$state/workers" -name "*.$1" | wc -l; }
scale() { "$scripts/ops/scale-workers" "$@" --state "$state" --keys "$keys" -- --job-delay-ms 500 | tee -a "$work/scale.out"; }

expect_workers 0
echo "--- scale 0 -> 4"
scale 4
[[ $(count_files pid) == 4 ]] || fail "4 pid files expected after scale-workers 4"
expect_workers 4
before=$(pid_files)
out=$(scale 4)
grep -q "nothing to start or drain" <<<"$out" || fail "a second scale-workers 4 did something"
[[ "$(pid_files)" == "$before" ]] || fail "a second scale-workers 4 changed the pid files: $before -> $(pid_files)"
for _ in $(seq 100); do
    (($(field completed "$(status)") >= 4)) && break
    sleep 0.2
done

echo "--- scale 4 -> 1"
scale 1
[[ $(count_files pid) == 1 && $(count_files draining) == 0 ]] || fail "after scale-workers 1: $(ls "$state/workers")"
expect_workers 1
before=$(pid_files)
out=$(scale 1)
grep -q "nothing to start or drain" <<<"$out" || fail "a second scale-workers 1 did something"
[[ "$(pid_files)" == "$before" ]] || fail "a second scale-workers 1 changed the pid files"

echo "--- scale 1 -> 0"
scale 0
[[ $(count_files pid) == 0 && $(count_files draining) == 0 ]] || fail "after scale-workers 0: $(ls "$state/workers")"
expect_workers 0
s=$(status)
echo "$s"
done_at_zero=$(field completed "$s")
[[ "$(field running "$s")" == 0 ]] || fail "exams still running with no worker: $s"
(($(field pending "$s") > 0)) || fail "the run finished before the scale-down could be tested (make jobs slower): $s"
sleep 2
[[ "$(field completed "$(status)")" == "$done_at_zero" ]] || fail "exams completed with no worker running"

echo "--- a worker that cannot drain in time is killed after --drain-timeout, loudly"
"$scripts/ops/scale-workers" 1 --state "$state" --keys "$keys" -- --job-delay-ms 60000
for _ in $(seq 100); do
    (($(field running "$(status)") >= 1)) && break
    sleep 0.2
done
start=$SECONDS
"$scripts/ops/scale-workers" 0 --drain-timeout 1 --state "$state" 2>"$work/kill.err"
cat "$work/kill.err"
grep -q "WARNING: worker w1 .* did not drain within 1s: sending SIGKILL" "$work/kill.err" || fail "no loud SIGKILL warning"
((SECONDS - start <= 10)) || fail "scale-workers 0 --drain-timeout 1 took $((SECONDS - start)) s"
[[ $(count_files pid) == 0 && $(count_files draining) == 0 ]] || fail "after the kill: $(ls "$state/workers")"

echo "--- scale 0 -> 2 on two hosts through HEMO_SSH"
cat >"$work/fake-ssh" <<'SSH'
#!/usr/bin/env bash
# Stands in for `ssh HOST COMMAND`: records the host, runs the command here.
set -euo pipefail
printf '%s\n' "$1" >>"${FAKE_SSH_LOG:?}"
exec bash -c "$2"
SSH
chmod +x "$work/fake-ssh"
printf '# test hosts\nhost-a\nhost-b\n' >"$work/hosts"
export FAKE_SSH_LOG=$work/ssh.log HEMO_SSH=$work/fake-ssh
"$scripts/ops/scale-workers" 2 --hosts "$work/hosts" --connect "$endpoint" --remote-hemo "$HEMO" \
    --remote-dir "$work/remote-logs" --state "$state" --keys "$keys" -- --job-delay-ms 20 | tee -a "$work/scale.out"
grep -q "^local " "$state"/workers/*.pid && fail "a worker meant for a host was started locally"
[[ "$(awk '{ print $1 }' "$state"/workers/*.pid | sort | tr '\n' ' ')" == "host-a host-b " ]] ||
    fail "the two workers are not one per host: $(cat "$state"/workers/*.pid)"

coordinator_pid=$(cat "$state/coordinator.pid")
for _ in $(seq 600); do
    [[ "$(awk '{ print $3 }' "/proc/$coordinator_pid/stat" 2>/dev/null || echo gone)" =~ ^(gone|Z)$ ]] && break
    sleep 0.2
done
[[ "$(awk '{ print $3 }' "/proc/$coordinator_pid/stat" 2>/dev/null || echo gone)" =~ ^(gone|Z)$ ]] ||
    fail "the coordinator did not finish within 120 s"

"$scripts/ops/stop-cluster" --state "$state" --keys "$keys" | tee "$work/stop.out"
grep -q "^cases: $cases, .*failures: 0," "$work/stop.out" || fail "stop-cluster did not report $cases cases and 0 failures"
grep -q WARNING "$work/scale.out" && fail "a worker had to be killed"
cmp "$work/reference/MANIFEST.sha256" "$work/release/MANIFEST.sha256" ||
    fail "MANIFEST.sha256 differs from hemo build's"
[[ $(count_files pid) == 0 ]] || fail "workers left behind after stop-cluster: $(ls "$state/workers")"

echo "--- stop-cluster during a run, then start-coordinator resumes it"
unset HEMO_SSH
"$HEMO" synth --out "$work/cohort2" --cases 16 --seed 2 --in-plane 64 --slices 10 --threads 1 >/dev/null
"$HEMO" build --cohort "$work/cohort2" --out "$work/reference2" --threads 1 >/dev/null 2>&1
start_second() {
    "$scripts/ops/start-coordinator" --cohort "$work/cohort2" --out "$work/release2" --bind tcp://127.0.0.1:0 \
        --state "$state" --keys "$keys"
    endpoint=$(cat "$state/coordinator.endpoint")
}
start_second
scale 2 >/dev/null
for _ in $(seq 100); do
    (($(field completed "$(status)") >= 2)) && break
    sleep 0.2
done
"$scripts/ops/stop-cluster" --state "$state" --keys "$keys" | tee "$work/stop2.out"
grep -q "final status of the coordinator" "$work/stop2.out" || fail "stop-cluster printed no final status"
grep -q "^exams: 16 total" "$work/stop2.out" || fail "the final status is not the coordinator's"
[[ ! -e "$state/coordinator.pid" && $(count_files pid) == 0 ]] || fail "stop-cluster left pid files"
[[ -e "$work/release2" ]] && fail "the stopped run already has a release"
start_second
resumed=$(field completed "$(status)")
((resumed >= 2)) || fail "start-coordinator did not resume from the journal (completed: $resumed)"
"$scripts/ops/scale-workers" 2 --state "$state" --keys "$keys" >/dev/null
coordinator_pid=$(cat "$state/coordinator.pid")
for _ in $(seq 600); do
    [[ "$(awk '{ print $3 }' "/proc/$coordinator_pid/stat" 2>/dev/null || echo gone)" =~ ^(gone|Z)$ ]] && break
    sleep 0.2
done
"$scripts/ops/stop-cluster" --state "$state" --keys "$keys" >"$work/stop3.out"
grep -q "^cases: 16, .*failures: 0, .*$resumed resumed from the journal" "$work/stop3.out" ||
    fail "the resumed run did not finish with 16 cases and $resumed resumed: $(cat "$work/stop3.out")"
cmp "$work/reference2/MANIFEST.sha256" "$work/release2/MANIFEST.sha256" ||
    fail "the resumed release's MANIFEST.sha256 differs from hemo build's"
echo "PASS: 0 -> 4 -> 1 -> 0 -> 2 workers during the run, none lost; stop-cluster mid-run and resume; both manifests equal hemo build's"
