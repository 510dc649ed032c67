#!/usr/bin/env bash
# System test: cluster/systemd units pass `systemd-analyze verify` and the hardening checks.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/system-tests/52-systemd-units.sh   (HEMO=/path/to/hemo)

Checks cluster/systemd/ (installing Debian's systemd when systemd-analyze is missing):
  - `systemd-analyze verify` of hemo-coordinator.service and an instance hemo-worker@1.service,
    with ExecStart pointed at $HEMO (verify checks the binary exists); any message fails;
  - the options the operators rely on are set (dedicated user, ProtectSystem=strict,
    NoNewPrivileges, PrivateTmp, Restart=on-failure, SIGTERM drain with a long TimeoutStopSec on
    workers, an EnvironmentFile) and every variable ExecStart uses is set in the .env.example;
  - `systemd-analyze security --offline=yes` scores each unit's exposure 3.0 or lower;
  - hemo.sysusers.conf creates user and group hemo (systemd-sysusers --root on a scratch root);
  - a coordinator + worker run traced with strace (installed when missing) makes only system
    calls in @system-service (the units' SystemCallFilter), the worker writes no file and the
    coordinator writes only beside its release (ProtectSystem=strict + ReadWritePaths).
Prints SKIP where systemd-analyze cannot run here.
USAGE
    exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
units=$root/cluster/systemd
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -n "${HEMO:-}" && -x "${HEMO:-}" ]] || fail "set HEMO to the hemo binary"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "SKIP: systemd-analyze is missing and this user cannot apt-get install systemd"
        exit 0
    fi
    echo "installing systemd (apt-get) for systemd-analyze"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null 2>&1; then
        apt-get update -qq >/dev/null || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null 2>&1 ||
            { echo "SKIP: systemd could not be installed here"; exit 0; }
    fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hemo=$(readlink -f "$HEMO")

# Can this machine run systemd-analyze verify at all? A trivial unit tells.
printf '[Unit]\nDescription=probe\n[Service]\nType=oneshot\nExecStart=/bin/true\n' >"$work/probe.service"
if ! probe=$(cd "$work" && systemd-analyze verify --man=no ./probe.service 2>&1) || [[ -n "$probe" ]]; then
    echo "SKIP: systemd-analyze verify does not work on this machine: $probe"
    exit 0
fi

mkdir "$work/units"
cp "$units/hemo-coordinator.service" "$units/hemo-worker@.service" "$work/units/"
sed -i "s|/usr/local/bin/hemo|$hemo|g" "$work/units/"*.service
ln -s "hemo-worker@.service" "$work/units/hemo-worker@1.service"
cd "$work/units"
for unit in hemo-coordinator.service hemo-worker@1.service; do
    if ! out=$(systemd-analyze verify --man=no "./$unit" 2>&1) || [[ -n "$out" ]]; then
        fail "systemd-analyze verify $unit: ${out:-non-zero exit}"
    fi
    echo "verify $unit: clean"
done

require() {
    local file=$1
    shift
    local line
    for line in "$@"; do
        grep -qxF -- "$line" "$units/$file" || fail "$file lacks '$line'"
    done
}
common=(User=hemo Group=hemo NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes Restart=on-failure KillSignal=SIGTERM)
require hemo-coordinator.service "${common[@]}" EnvironmentFile=/etc/hemo/coordinator.env
require hemo-worker@.service "${common[@]}" EnvironmentFile=/etc/hemo/worker.env KillMode=mixed
stop=$(sed -n 's/^TimeoutStopSec=//p' "$units/hemo-worker@.service")
case "$stop" in
    *min) minutes=${stop%min}; ((minutes >= 5)) || fail "worker TimeoutStopSec=$stop is shorter than 5 minutes" ;;
    *) fail "worker TimeoutStopSec should be given in minutes (got '$stop')" ;;
esac
for pair in hemo-coordinator.service:coordinator.env.example hemo-worker@.service:worker.env.example; do
    unit=${pair%%:*} env=${pair#*:}
    for var in $(sed -n 's/^ExecStart=//p' "$units/$unit" | grep -oE '\$\{?[A-Z_]+' | tr -d '{$' | sort -u); do
        grep -q "^$var=" "$units/$env" || fail "$unit uses \$$var, which $env does not set"
    done
done
echo "required options and environment variables: present"

if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
    for unit in hemo-coordinator.service hemo-worker@1.service; do
        out=$(systemd-analyze security --offline=yes "./$unit" 2>&1) || fail "systemd-analyze security $unit: $out"
        level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
        [[ -n "$level" ]] || fail "systemd-analyze security printed no exposure level for $unit"
        if ! awk -v l="$level" 'BEGIN { exit !(l <= 3.0) }'; then
            printf '%s\n' "$out" | grep '✗' >&2 || true
            fail "$unit: exposure $level is above 3.0 (the findings above)"
        fi
        echo "security $unit: exposure $level (3.0 or lower required)"
    done
else
    [[ "${CI:-}" == "true" ]] && fail "under CI every part must run: this systemd-analyze has no 'security --offline'; exposure not scored"
    echo "note: this systemd-analyze has no 'security --offline'; exposure not scored"
fi

if command -v systemd-sysusers >/dev/null 2>&1; then
    mkdir -p "$work/root/etc"
    systemd-sysusers --root="$work/root" "$units/hemo.sysusers.conf" >/dev/null 2>&1 ||
        fail "systemd-sysusers rejected hemo.sysusers.conf"
    grep -q '^hemo:x:[0-9]*:[0-9]*:.*:/var/lib/hemo:/usr/sbin/nologin$' "$work/root/etc/passwd" ||
        fail "hemo.sysusers.conf did not create user hemo: $(cat "$work/root/etc/passwd")"
    grep -q '^hemo:' "$work/root/etc/group" || fail "hemo.sysusers.conf did not create group hemo"
    echo "sysusers: user and group hemo created"
fi
# The sandbox must fit what hemo really does: trace a small coordinator + worker run and check
# that every system call is in SystemCallFilter=@system-service, that the worker opens nothing
# for writing (it runs under ProtectSystem=strict with no writable path) and that the
# coordinator writes only beside its release (the folder ReadWritePaths= must cover).
if ! command -v strace >/dev/null 2>&1 && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null 2>&1 || true
fi
if ! command -v strace >/dev/null 2>&1 || ! strace -qq -o /dev/null true 2>/dev/null; then
    [[ "${CI:-}" == "true" ]] && fail "under CI every part must run: strace is missing or cannot trace here; the run under the unit's limits is not checked"
    echo "note: strace is missing or cannot trace here; the run under the unit's limits is not checked"
else
    trace=$work/trace
    mkdir -p "$trace/out"
    "$HEMO" synth --out "$trace/cohort" --cases 3 --in-plane 32 --slices 4 --threads 1 >/dev/null
    strace -f -qq -o "$trace/coordinator.strace" "$HEMO" coordinator --cohort "$trace/cohort" \
        --out "$trace/out/release" --bind tcp://127.0.0.1:0 >"$trace/coordinator.log" 2>&1 &
    coordinator=$!
    endpoint=""
    for _ in $(seq 100); do
        endpoint=$(sed -n 's/^listening on //p' "$trace/coordinator.log")
        [[ -n "$endpoint" ]] && break
        sleep 0.1
    done
    [[ -n "$endpoint" ]] || { kill "$coordinator" 2>/dev/null || true; fail "traced coordinator did not start: $(cat "$trace/coordinator.log")"; }
    strace -f -qq -o "$trace/worker.strace" "$HEMO" worker --connect "$endpoint" >/dev/null 2>&1 ||
        { kill "$coordinator" 2>/dev/null || true; fail "traced worker failed"; }
    wait "$coordinator" || fail "traced coordinator failed: $(tail -n 5 "$trace/coordinator.log")"
    expand_set() {
        local entry
        systemd-analyze syscall-filter "$1" | tail -n +2 | sed -e 's/#.*//' -e 's/[[:space:]]//g' | grep -v '^$' |
            while read -r entry; do
                if [[ "$entry" == @* ]]; then expand_set "$entry"; else echo "$entry"; fi
            done
    }
    expand_set @system-service | sort -u >"$trace/allowed"
    for role in coordinator worker; do
        # strace names a number it cannot decode `syscall_0xNNN`; numbers past the x86-64 table
        # (about 0x1c0 entries; four hex digits or more here) are registers read while a traced
        # thread was torn down, not system calls.
        sed -E 's/^[0-9]+ +//' "$trace/$role.strace" | grep -oE '^[a-z_0-9]+\(' | tr -d '(' |
            grep -vE '^syscall_0x([0-9a-f]{4,})$' | sort -u >"$trace/$role.used"
        outside=$(comm -23 "$trace/$role.used" "$trace/allowed" | tr '\n' ' ')
        [[ -z "$outside" ]] || fail "the $role makes system calls outside @system-service: $outside"
    done
    worker_writes=$(grep -E 'openat\(.*(O_WRONLY|O_RDWR|O_CREAT)' "$trace/worker.strace" | grep -v '"/dev/null"' || true)
    [[ -z "$worker_writes" ]] || fail "the worker opens files for writing: $worker_writes"
    stray=$(grep -E '(openat\(.*(O_WRONLY|O_RDWR|O_CREAT)|mkdir\(|rename\(|unlink\()' "$trace/coordinator.strace" |
        grep -oE '"/[^"]*"' | tr -d '"' | grep -v "^$trace/out/" | grep -v '^/dev/null$' |
        grep -v '^/proc/thread-self/comm$' || true)  # a thread naming itself (hemo-poll, hemo-writer)
    [[ -z "$stray" ]] || fail "the coordinator writes outside its release's folder: $stray"
    echo "traced run: $(wc -l <"$trace/coordinator.used") + $(wc -l <"$trace/worker.used") distinct system calls, all in @system-service; the worker writes no file, the coordinator only beside its release"
fi
echo "PASS: systemd units verify, carry the required hardening and drain settings"
