#!/usr/bin/env bash
# System test: scripts/ops/scale-workers reports why a new worker exited, from the record its launcher writes.
# lane: background (mostly waits on the launcher's timers: about 2 s of CPU in 26 s)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/system-tests/55-scale-workers-exit.sh   (HEMO=/path/to/hemo)

Starts a coordinator with scripts/ops/start-coordinator (CURVE on, --heartbeat-ms 3000) on a 2-exam
synthetic cohort, then checks what scripts/ops/scale-workers says about workers that exit:
  - a malformed endpoint, nothing listening at the endpoint, and a worker key the coordinator
    does not allow are each an error (non-zero exit) naming the worker, its host, its exit status
    and the worker's own reason, with no pid file left behind;
  - a worker started after the run ended (the coordinator is in its grace period: one worker holds
    both exams, a second one is stopped with SIGSTOP so that the grace period lasts) is not an
    error: it exits 0 ("the coordinator shut the run down"), reported as "the run already ended"
    (or, had it been heard from first, forgotten on the next run with that reason);
  - a worker that left is forgotten with the exit status and reason it recorded.
The run then ends with 2 cases and 0 failures (scripts/ops/stop-cluster).
USAGE
    exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
[[ -n "${HEMO:-}" && -x "${HEMO:-}" ]] || { echo "FAIL: set HEMO to the hemo binary" >&2; exit 1; }
export HEMO
work=$(mktemp -d)
state=$work/state
stopped_pid=""
cleanup() {
    local f pid
    [[ -n "$stopped_pid" ]] && kill -CONT "$stopped_pid" 2>/dev/null
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

"$HEMO" synth --out "$work/cohort" --cases 2 --in-plane 64 --slices 10 --threads 1 >/dev/null
keys=$work/keys
mkdir -p "$keys"
for name in coordinator worker admin; do "$HEMO" keygen --out "$keys/$name" >/dev/null; done
cat "$keys/worker.public" "$keys/admin.public" >"$keys/allowed-keys"
# A worker key the coordinator does not allow.
intruder=$work/intruder-keys
mkdir -p "$intruder"
cp "$keys/coordinator.public" "$intruder/"
"$HEMO" keygen --out "$intruder/worker" >/dev/null

"$scripts/ops/start-coordinator" --cohort "$work/cohort" --out "$work/release" --bind tcp://127.0.0.1:0 \
    --state "$state" --keys "$keys" -- --heartbeat-ms 3000 >/dev/null
endpoint=$(cat "$state/coordinator.endpoint")
status() { "$HEMO" status "$endpoint" --timeout 5 --curve-server-key "$keys/coordinator.public" --curve-secret "$keys/admin.secret"; }
field() { sed -n "s/^exams: .* \([0-9][0-9]*\) $1.*/\1/p" <<<"$(status)"; }
workers_seen() { sed -n 's/^workers: \([0-9]*\).*/\1/p' <<<"$(status)"; }
pid_of() { awk '{ print $2 }' "$state/workers/w$1.pid"; }

# Runs scale-workers with $@; it must fail, and its stderr must name worker w1 on local with the
# exit status $1 and the reason matching $2.
expect_start_error() {
    local exit_status=$1 reason=$2
    shift 2
    if "$scripts/ops/scale-workers" "$@" --state "$state" >"$work/out" 2>"$work/err"; then
        fail "scale-workers $* succeeded: $(cat "$work/out")"
    fi
    cat "$work/err"
    grep -q "error: worker w1 on local (pid [0-9]*) could not start: exit status $exit_status: $reason" "$work/err" ||
        fail "scale-workers $* did not name worker w1, its status $exit_status and the reason '$reason'"
    [[ -z "$(find "$state/workers" -name 'w*.pid')" ]] || fail "a pid file was left behind: $(ls "$state/workers")"
}

echo "--- a malformed endpoint is an error, with the worker's reason"
expect_start_error 2 "error: zmq_connect (tcp://127.0.0.1:no-port): Invalid argument" \
    1 --keys "$keys" --connect tcp://127.0.0.1:no-port
echo "--- nothing listening at the endpoint is an error"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_start_error 3 "no message from the coordinator at tcp://127.0.0.1:$port within 2 s" \
    1 --keys "$keys" --connect "tcp://127.0.0.1:$port" --start-timeout 2
echo "--- a worker key the coordinator does not allow is an error"
expect_start_error 3 "no message from the coordinator at $endpoint within 2 s" 1 --keys "$intruder" --start-timeout 2
[[ "$(workers_seen)" == 0 && "$(field completed)" == 0 ]] || fail "the refused workers reached the coordinator: $(status)"

echo "--- a worker started after the run ended is not an error"
"$scripts/ops/scale-workers" 1 --state "$state" --keys "$keys" -- --capacity 2 --job-delay-ms 8000 --heartbeat-ms 3000
first=$(pid_of 1)
for _ in $(seq 100); do
    [[ "$(field running)" == 2 ]] && break
    sleep 0.1
done
[[ "$(field running)" == 2 ]] || fail "worker w1 does not hold both exams: $(status)"
"$scripts/ops/scale-workers" 2 --state "$state" --keys "$keys" -- --heartbeat-ms 3000
stopped_pid=$(pid_of 2)
# Stopped, w2 cannot answer the coordinator's "shutdown": its grace period (2 heartbeats) lasts.
kill -STOP "$stopped_pid"
for _ in $(seq 150); do
    kill -0 "$first" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$first" 2>/dev/null && fail "worker w1 did not exit at the end of the run"
coordinator_pid=$(cat "$state/coordinator.pid")
kill -0 "$coordinator_pid" 2>/dev/null || fail "the coordinator exited before its grace period ended"
"$scripts/ops/scale-workers" 2 --state "$state" --keys "$keys" -- --heartbeat-ms 3000 >"$work/late.out" 2>"$work/late.err" ||
    fail "scale-workers 2 after the run ended failed: $(cat "$work/late.out" "$work/late.err")"
cat "$work/late.out" "$work/late.err"
grep -q "^scale-workers: worker w1 (local pid $first) is no longer running (exit status 0: the coordinator shut the run down" "$work/late.out" ||
    fail "the worker that finished the run was not forgotten with its exit status and reason"
late=$(sed -n 's/^scale-workers: started worker w1 on local (pid \([0-9]*\),.*/\1/p' "$work/late.out")
[[ -n "$late" ]] || fail "scale-workers 2 did not start a new w1"
kill -CONT "$stopped_pid"
stopped_pid=""
for _ in $(seq 150); do
    kill -0 "$coordinator_pid" 2>/dev/null || break
    sleep 0.1
done
"$scripts/ops/stop-cluster" --state "$state" --keys "$keys" >"$work/stop.out"
cat "$work/stop.out"
if ! grep -q "^scale-workers: worker w1 on local (pid $late): the run already ended; it exited 0: the coordinator shut the run down" "$work/late.out"; then
    # It was heard from ("worker: connected") just before "shutdown": the next run forgets it.
    grep -q "^scale-workers: worker w1 (local pid $late) is no longer running (exit status 0: the coordinator shut the run down" "$work/stop.out" ||
        fail "the late worker was reported neither as 'the run already ended' nor forgotten with exit status 0"
fi
grep -q "WARNING\|error" "$work/late.err" && fail "scale-workers warned about the late worker"
grep -q "^cases: 2, .*failures: 0," "$work/stop.out" || fail "the run did not end with 2 cases and 0 failures"
[[ -z "$(find "$state/workers" -name 'w*.pid')" ]] || fail "pid files left behind: $(ls "$state/workers")"
echo "PASS: malformed endpoint, refused endpoint and refused key reported as errors with the worker's reason; a worker started after the run ended is not an error"
