#!/usr/bin/env bash
# Dispatch-capacity benchmark: `hemo bench-dispatch` (scheduler + HEMO wire + ZeroMQ ROUTER/DEALER,
# no-op jobs, one thread) against a pyzmq peer doing the same loop, in the same run.
# Prints per-run rates, medians and Swift/peer ratios. Target: >= 20,000 jobs/s on one core.
# Modes: none = scheduler + wire encode/decode only; inproc / tcp = real ROUTER + N DEALERs polled
# by one thread (coordinator and workers share the core); tcp+thread = the workers' sockets on a
# second thread (--worker-thread), the coordinator's loop alone on the first.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/bench/dispatch.sh [--workers N] [--jobs M] [--capacity C] [--repeats R] [--no-peer]

Builds `hemo` in release, runs `hemo bench-dispatch` with transports none (scheduler + wire
only), inproc and tcp (loopback), then the Python peer (scripts/bench/dispatch_peer.py, needs
pyzmq: pip install pyzmq) with inproc and tcp, and prints the medians and ratios.
Defaults: --workers 8 --jobs 100000 --capacity 4 --repeats 3.
USAGE
}

workers=8 jobs=100000 capacity=4 repeats=3 peer=1
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --workers) workers=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --capacity) capacity=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --no-peer) peer=0; shift ;;
        *) echo "dispatch.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
swift build -c release --product hemo >&2
hemo="$(swift build -c release --show-bin-path)/hemo"
common=(--workers "$workers" --jobs "$jobs" --capacity "$capacity" --repeats "$repeats")

median_of() { sed -n 's/.*median=\([0-9]*\) jobs\/s.*/\1/p' | tail -1; }

declare -A swift_rate peer_rate
for mode in none inproc tcp tcp+thread; do
    transport=${mode%+thread}
    extra=()
    [[ "$mode" == *+thread ]] && extra=(--worker-thread)
    echo "== hemo bench-dispatch --transport $transport ${extra[*]} ${common[*]}"
    out=$("$hemo" bench-dispatch --transport "$transport" "${extra[@]}" "${common[@]}")
    echo "$out"
    swift_rate[$mode]=$(echo "$out" | median_of)
done

if ((peer)); then
    if python3 -c "import zmq" 2>/dev/null; then
        for transport in inproc tcp; do
            echo "== python3 scripts/bench/dispatch_peer.py --transport $transport ${common[*]}"
            out=$(python3 scripts/bench/dispatch_peer.py --transport "$transport" "${common[@]}")
            echo "$out"
            peer_rate[$transport]=$(echo "$out" | median_of)
        done
    else
        echo "dispatch.sh: pyzmq is missing (pip install pyzmq); skipping the peer" >&2
        peer=0
    fi
fi

echo
echo "== summary (median jobs/s; workers=$workers capacity=$capacity jobs=$jobs repeats=$repeats; nproc=$(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-8s %12s %12s %8s %s\n' transport hemo peer ratio target
for transport in none inproc tcp tcp+thread; do
    s=${swift_rate[$transport]:-0}
    p=${peer_rate[$transport]:-}
    ratio="-"
    if [[ -n "$p" && "$p" -gt 0 ]]; then ratio=$(awk -v a="$s" -v b="$p" 'BEGIN { printf "%.2fx", a / b }'); fi
    verdict=$([[ "$s" -ge 20000 ]] && echo ">=20000 ok" || echo "<20000")
    printf '%-8s %12s %12s %8s %s\n' "$transport" "$s" "${p:--}" "$ratio" "$verdict"
done
