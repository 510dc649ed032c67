#!/usr/bin/env bash
# Dispatch-capacity benchmark: `hemo-bench dispatch` (scheduler + HEMO wire + ZeroMQ ROUTER/DEALER,
# no-op jobs, one thread) against a pyzmq peer doing the same loop, in the same run.
# Prints per-run rates, medians and Swift/peer ratios. Target: >= 20,000 jobs/s on one core.
# Modes: none = scheduler + wire encode/decode only; inproc / tcp = real ROUTER + N DEALERs polled
# by one thread (coordinator and workers share the core); tcp+thread = the workers' sockets on a
# second thread (--worker-thread), the coordinator's loop alone on the first.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/bench/dispatch.sh [--workers N] [--jobs M] [--peer-jobs P] [--capacity C] [--repeats R] [--no-peer]

Builds `hemo-bench` in release, runs `hemo-bench dispatch` in modes scheduler (state machine only),
none (scheduler + wire encode/decode), inproc, tcp (loopback) and tcp+thread, then the Python peer (scripts/bench/dispatch_peer.py, needs
pyzmq: pip install pyzmq) with inproc and tcp, and prints the medians and ratios.
Defaults: --workers 8 --jobs 100000 --peer-jobs 20000 --capacity 4 --repeats 3 (the peer is
slower, so it runs fewer jobs; rates are per second either way).
USAGE
}

workers=8 jobs=100000 peer_jobs=20000 capacity=4 repeats=3 peer=1
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --workers) workers=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --peer-jobs) peer_jobs=$2; shift 2 ;;
        --capacity) capacity=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --no-peer) peer=0; shift ;;
        *) echo "dispatch.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
swift build -c release --product hemo-bench >&2
bench="$(swift build -c release --show-bin-path)/hemo-bench"
common=(--workers "$workers" --jobs "$jobs" --capacity "$capacity" --repeats "$repeats")

median_of() { sed -n 's/.* median=\([0-9]*\) jobs\/s.*/\1/p' | tail -1; }
cpu_median_of() { sed -n 's/.*cpu-median=\([0-9]*\) jobs\/CPU-s.*/\1/p' | tail -1; }

declare -A swift_rate peer_rate swift_cpu peer_cpu
for mode in scheduler none inproc tcp tcp+thread; do
    transport=${mode%+thread}
    extra=()
    [[ "$mode" == *+thread ]] && extra=(--worker-thread)
    echo "== hemo-bench dispatch --transport $transport ${extra[*]} ${common[*]}"
    out=$("$bench" dispatch --transport "$transport" "${extra[@]}" "${common[@]}")
    echo "$out"
    swift_rate[$mode]=$(echo "$out" | median_of)
    swift_cpu[$mode]=$(echo "$out" | cpu_median_of)
done

if ((peer)); then
    if python3 -c "import zmq" 2>/dev/null; then
        for transport in inproc tcp; do
            peer_args=(--workers "$workers" --jobs "$peer_jobs" --capacity "$capacity" --repeats "$repeats")
            echo "== python3 scripts/bench/dispatch_peer.py --transport $transport ${peer_args[*]}"
            out=$(python3 scripts/bench/dispatch_peer.py --transport "$transport" "${peer_args[@]}")
            echo "$out"
            peer_rate[$transport]=$(echo "$out" | median_of)
            peer_cpu[$transport]=$(echo "$out" | cpu_median_of)
        done
    else
        echo "dispatch.sh: pyzmq is missing (pip install pyzmq); skipping the peer" >&2
        peer=0
    fi
fi

echo
echo "== summary (median jobs/s; workers=$workers capacity=$capacity jobs=$jobs peer-jobs=$peer_jobs repeats=$repeats; nproc=$(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-10s | %10s %10s %7s | %12s %12s %7s | %s\n' mode hemo/s peer/s ratio hemo/CPU-s peer/CPU-s ratio "target (>=20000 jobs/CPU-s)"
ratio_of() { if [[ -n "$2" && "$2" -gt 0 ]]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else echo "-"; fi; }
for mode in scheduler none inproc tcp tcp+thread; do
    s=${swift_rate[$mode]:-0}
    p=${peer_rate[$mode]:-}
    sc=${swift_cpu[$mode]:-0}
    pc=${peer_cpu[$mode]:-}
    verdict=$([[ "$sc" -ge 20000 ]] && echo "met" || echo "not met")
    printf '%-10s | %10s %10s %7s | %12s %12s %7s | %s\n' "$mode" "$s" "${p:--}" "$(ratio_of "$s" "$p")" \
        "$sc" "${pc:--}" "$(ratio_of "$sc" "$pc")" "$verdict"
done
echo "jobs/s is wall-clock; jobs/CPU-s divides by the process's user+system CPU time (all threads,"
echo "libzmq I/O threads included), the one-core figure that a busy shared machine does not distort."
