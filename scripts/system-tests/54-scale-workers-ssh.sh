#!/usr/bin/env bash
# System test: scripts/ops/scale-workers --hosts over real SSH (a private sshd on 127.0.0.1).
# lane: background (mostly waits on sshd and the workers' drain timers: about 7 s of CPU in 50 s)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/system-tests/54-scale-workers-ssh.sh   (HEMO=/path/to/hemo; needs root)

Starts a private OpenSSH server (Debian's openssh-server, installed when missing) on a free
port of 127.0.0.1 with throw-away host and client keys, then drives a run over real SSH: the
hosts file names "127.0.0.1" and "localhost" (two hosts, one sshd). scripts/ops/scale-workers
starts 3 workers through ssh (spread 2 + 1), a second run with 3 changes nothing, scaling to 1
drains two over ssh (SIGTERM), scaling to 2 finishes the run; stop-cluster reports it. Checks:
the pid files name the SSH hosts, the coordinator saw the workers, no SIGKILL was needed, the
release has every exam and its MANIFEST.sha256 equals `hemo build`'s.
Prints SKIP without root or when sshd cannot be installed or started.
USAGE
    exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -n "${HEMO:-}" && -x "${HEMO:-}" ]] || fail "set HEMO to the hemo binary"
HEMO=$(readlink -f "$HEMO")
export HEMO
[[ $(id -u) == 0 ]] || { echo "SKIP: a private sshd for this test needs root"; exit 0; }
if [[ ! -x /usr/sbin/sshd ]]; then
    echo "installing openssh-server (apt-get)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null 2>&1 ||
            { echo "SKIP: openssh-server cannot be installed here"; exit 0; }
    fi
fi
command -v ssh >/dev/null 2>&1 || { echo "SKIP: no ssh client"; exit 0; }

work=$(mktemp -d)
state=$work/state
cleanup() {
    local f pid
    for f in "$state"/coordinator.pid "$state"/workers/*.pid "$state"/workers/*.draining "$work/sshd.pid"; do
        [[ -f "$f" ]] || continue
        pid=$(awk '{ print $NF }' "$f")
        kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
scripts=$root/scripts
cases=30

ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/sshd_config" <<CONFIG
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CONFIG
mkdir -p /run/sshd
if ! /usr/sbin/sshd -t -f "$work/sshd_config" 2>"$work/sshd-test.err"; then
    echo "SKIP: sshd rejects its configuration here: $(cat "$work/sshd-test.err")"
    exit 0
fi
/usr/sbin/sshd -f "$work/sshd_config" -E "$work/sshd.log"
export HEMO_SSH="ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i $work/client_key -p $port"
ready=""
for _ in $(seq 50); do
    # shellcheck disable=SC2086 # HEMO_SSH is a command with options, split on purpose
    if $HEMO_SSH 127.0.0.1 true 2>/dev/null; then ready=1; break; fi
    sleep 0.2
done
[[ -n "$ready" ]] || { echo "SKIP: the private sshd does not accept logins here: $(tail -n 5 "$work/sshd.log")"; exit 0; }
echo "sshd on 127.0.0.1:$port accepts key logins"

"$HEMO" synth --out "$work/cohort" --cases "$cases" --in-plane 64 --slices 10 --threads 1 >/dev/null
"$HEMO" build --cohort "$work/cohort" --out "$work/reference" --threads 1 >/dev/null 2>&1
keys=$work/keys
mkdir -p "$keys"
for name in coordinator worker admin; do "$HEMO" keygen --out "$keys/$name" >/dev/null; done
cat "$keys/worker.public" "$keys/admin.public" >"$keys/allowed-keys"
"$scripts/ops/start-coordinator" --cohort "$work/cohort" --out "$work/release" --bind tcp://127.0.0.1:0 \
    --state "$state" --keys "$keys" >/dev/null
endpoint=$(cat "$state/coordinator.endpoint")
printf '127.0.0.1\nlocalhost\n' >"$work/hosts"
status() { "$HEMO" status "$endpoint" --timeout 5 --curve-server-key "$keys/coordinator.public" --curve-secret "$keys/admin.secret"; }
workers_seen() { sed -n 's/^workers: \([0-9]*\).*/\1/p' <<<"$(status)"; }
expect_workers() {
    for _ in $(seq 100); do
        [[ "$(workers_seen)" == "$1" ]] && return 0
        sleep 0.2
    done
    fail "expected $1 workers in hemo status: $(status)"
}
scale() {
    "$scripts/ops/scale-workers" "$1" --hosts "$work/hosts" --connect "$endpoint" --keys "$keys" \
        --remote-hemo "$HEMO" --remote-dir "$work/remote-logs" --state "$state" -- --job-delay-ms "$2" |
        tee -a "$work/scale.out"
}

echo "--- 0 -> 3 over ssh"
scale 3 3000
expect_workers 3
[[ "$(awk '{ print $1 }' "$state"/workers/*.pid | sort | uniq -c | awk '{ print $1 " " $2 }' | tr '\n' ' ')" == "2 127.0.0.1 1 localhost " ]] ||
    fail "3 workers should be spread 2 + 1 over the hosts: $(cat "$state"/workers/*.pid)"
before=$(cat "$state"/workers/*.pid)
out=$(scale 3 3000)
grep -q "nothing to start or drain" <<<"$out" || fail "a second scale-workers 3 did something: $out"
[[ "$(cat "$state"/workers/*.pid)" == "$before" ]] || fail "a second scale-workers 3 changed the pid files"

echo "--- 3 -> 1 over ssh (SIGTERM drains)"
scale 1 3000
expect_workers 1
[[ $(find "$state/workers" -name '*.pid' | wc -l) == 1 ]] || fail "one pid file expected: $(ls "$state/workers")"

echo "--- 1 -> 2, the run finishes"
scale 2 0
coordinator_pid=$(cat "$state/coordinator.pid")
for _ in $(seq 600); do
    [[ "$(awk '{ print $3 }' "/proc/$coordinator_pid/stat" 2>/dev/null || echo gone)" =~ ^(gone|Z)$ ]] && break
    sleep 0.2
done
"$scripts/ops/stop-cluster" --state "$state" --keys "$keys" | tee "$work/stop.out"
grep -q "^cases: $cases, .*failures: 0," "$work/stop.out" || fail "the run did not end with $cases cases and 0 failures"
grep -q WARNING "$work/scale.out" && fail "a worker needed SIGKILL"
ls "$work/remote-logs/"w*.log >/dev/null 2>&1 || fail "no worker log in the remote log folder"
cmp "$work/reference/MANIFEST.sha256" "$work/release/MANIFEST.sha256" || fail "MANIFEST.sha256 differs from hemo build's"
echo "PASS: workers started, spread, drained and counted over real SSH; $cases exams, manifest equals hemo build's"
