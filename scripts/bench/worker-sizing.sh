#!/usr/bin/env bash
# Sizing: peak memory and CPU of one `hemo worker` (and of the coordinator) on 512x512x40 exams.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/bench/worker-sizing.sh [CASES]   (HEMO=/path/to/hemo, default: a release build)

Synthesises CASES exams (default 6, seed 1) of 512x512 pixels and 40 slices, then for each
configuration (target spacing, worker --threads, worker --capacity) runs a coordinator and ONE
worker to completion under /usr/bin/time -v and prints: the worker's peak RSS, its CPU seconds
per exam, the coordinator's peak RSS and CPU seconds per exam, and the per-exam stage seconds
(wall; worker stages: hash, read, masks, transform, analyse; coordinator: write). This is a
sizing measurement for the README, not a speed comparison: there is no peer for a worker.
USAGE
}
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { usage; exit 0; }
cases=${1:-6}
cd "$(dirname "$0")/../.."
hemo=${HEMO:-$(scripts/setup.sh --release | tail -n 1)}
if [[ ! -x /usr/bin/time ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/hemo-worker-sizing.XXXXXX")
coordinator=""
trap '[[ -n "$coordinator" ]] && kill "$coordinator" 2>/dev/null; rm -rf "$work"' EXIT
"$hemo" synth --out "$work/cohort" --cases "$cases" --seed 1 --in-plane 512 --slices 40 >/dev/null
echo "cohort: $cases exams of 512x512x40 (int16), $(du -sh "$work/cohort" | cut -f1) gzipped; $(nproc) cores"
printf '%-8s %7s %8s | %16s %13s %11s | %16s %13s | %s\n' spacing threads capacity "worker peak RSS" "worker CPU/ex" "wall/exam" "coord. peak RSS" "coord. CPU/ex" "stage s/exam"
for config in "native 1 1" "native 2 1" "native 1 2" "1,1,1 1 1"; do
    read -r spacing threads capacity <<<"$config"
    # Remove the last configuration's output first: otherwise the loop below can read the old
    # coordinator's endpoint before the new one's redirect truncates the file, and hang.
    rm -rf "$work/release" "$work"/.release* "$work/coordinator.out"
    /usr/bin/time -v -o "$work/coordinator.time" "$hemo" coordinator --cohort "$work/cohort" --out "$work/release" \
        --bind tcp://127.0.0.1:0 --spacing "$spacing" >"$work/coordinator.out" 2>/dev/null &
    coordinator=$!
    endpoint=""
    for _ in $(seq 300); do
        endpoint=$(sed -n 's/^listening on //p' "$work/coordinator.out")
        [[ -n "$endpoint" ]] && break
        sleep 0.1
    done
    [[ -n "$endpoint" ]] || { echo "coordinator did not start" >&2; exit 1; }
    /usr/bin/time -v -o "$work/worker.time" "$hemo" worker --connect "$endpoint" --threads "$threads" --capacity "$capacity" >/dev/null 2>&1
    wait "$coordinator"
    coordinator=""
    kb() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
    cpu_of() { awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$1"; }
    cpu=$(cpu_of "$work/worker.time")
    coordinator_cpu=$(cpu_of "$work/coordinator.time")
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/worker.time" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    stages=$(sed -n 's/^stage seconds[^:]*: //p' "$work/coordinator.out" |
        awk -v n="$cases" -F', ' '{ for (i = 1; i <= NF; i++) { split($i, p, " "); printf "%s%s %.2f", (i > 1 ? ", " : ""), p[1], p[2] / n } }')
    per_exam() { awk -v x="$1" -v n="$cases" 'BEGIN { print x / n }'; }
    printf '%-8s %7s %8s | %13d MB %11.2f s %9.2f s | %13d MB %11.2f s | %s\n' "$spacing" "$threads" "$capacity" \
        $(($(kb "$work/worker.time") / 1024)) "$(per_exam "$cpu")" "$(per_exam "$wall")" \
        $(($(kb "$work/coordinator.time") / 1024)) "$(per_exam "$coordinator_cpu")" "$stages"
done
