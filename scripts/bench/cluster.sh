#!/usr/bin/env bash
# Cluster overhead benchmark: `hemo run --workers 2` (coordinator + 2 worker processes over ZeroMQ
# on loopback) against `hemo build --threads 2` (one process) on the same synthetic cohort, runs
# interleaved. Prints per-run wall times and CPU seconds (user + system, the hemo process and the
# worker processes it waited for), the medians, the overhead % of wall time (target <= 5%), CPU
# seconds per exam both ways, wire bytes per exam and the LZ4 ratio of the mask chunks, and checks
# that both releases have the same MANIFEST.sha256. The machine may be shared: the CPU seconds per
# exam say what each way costs whatever the load. (No Python peer: the peer of a cluster run is our
# own one-process build.) With --infer the pair is `hemo infer --threads 2` against
# `hemo run --workers 2 --infer` (the bundled default model): pseudo-labelling through the cluster.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/bench/cluster.sh [--cases N] [--repeats R] [--transfer shared|inline] [--infer] [--spacing X,Y,Z]
                               [--images copy|link|omit] [--keep DIR]

Builds `hemo` in release, writes a synthetic cohort (`hemo synth --cases N`), then alternates
`hemo build --threads 2` and `hemo run --workers 2` R times each (with --infer: `hemo infer
--threads 2` and `hemo run --workers 2 --infer`, the bundled model). Defaults: --cases 20
--repeats 3 --transfer shared. --spacing and --images go to both commands (a resampled build sends
the CT back; --images omit keeps it home). HEMO=/path/to/hemo skips the release build and uses that binary
(e.g. a debug build, or the previous commit's, to compare bytes on the wire).
USAGE
}

cases=20 repeats=3 transfer=shared keep="" infer=0 common=()
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --cases) cases=$2; shift 2 ;;
        --repeats) repeats=$2; shift 2 ;;
        --transfer) transfer=$2; shift 2 ;;
        --keep) keep=$2; shift 2 ;;
        --infer) infer=1; shift ;;
        --spacing) common+=(--spacing "$2"); shift 2 ;;
        --images) common+=(--images "$2"); shift 2 ;;
        *) echo "cluster.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
if [[ -n "${HEMO:-}" ]]; then
    hemo=$HEMO
else
    swift build -c release --product hemo >&2
    hemo="$(swift build -c release --show-bin-path)/hemo"
fi
work=${keep:-$(mktemp -d "${TMPDIR:-/tmp}/hemo-bench-cluster.XXXXXX")}
mkdir -p "$work"
[[ -n "$keep" ]] || trap 'rm -rf "$work"' EXIT

echo "== hemo synth --out $work/cohort --cases $cases"
[[ -d "$work/cohort" ]] || "$hemo" synth --out "$work/cohort" --cases "$cases" --threads 2 >&2

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# CPU seconds (user + system) of a command and the children it waited for, from GNU time.
cpu_of() { awk '{print $1 + $2}' "$1"; }

# The one-process command and the cluster's extra arguments.
if ((infer)); then
    single=(infer) single_name="hemo infer --threads 2" extra=(--infer)
else
    single=(build) single_name="hemo build --threads 2" extra=()
fi
build_times=() run_times=() build_cpu=() run_cpu=() ratios=() wire_line=""
for ((r = 1; r <= repeats; r++)); do
    t0=$(now)
    /usr/bin/time -f '%U %S' -o "$work/build.cpu" \
        "$hemo" "${single[@]}" --cohort "$work/cohort" --out "$work/build" --threads 2 --force ${common[@]+"${common[@]}"} >/dev/null 2>&1
    t1=$(now)
    /usr/bin/time -f '%U %S' -o "$work/run.cpu" \
        "$hemo" run --cohort "$work/cohort" --out "$work/run" --workers 2 --transfer "$transfer" --force ${common[@]+"${common[@]}"} ${extra[@]+"${extra[@]}"} \
        >"$work/run.out" 2>"$work/run.err"
    t2=$(now)
    out=$(cat "$work/run.out")
    b=$(echo "$t1 - $t0" | bc -l) c=$(echo "$t2 - $t1" | bc -l)
    bc_=$(cpu_of "$work/build.cpu") rc_=$(cpu_of "$work/run.cpu")
    build_times+=("$b") run_times+=("$c") build_cpu+=("$bc_") run_cpu+=("$rc_") ratios+=("$(echo "$c / $b" | bc -l)")
    wire_line=$(echo "$out" | grep '^wire:' || true)
    printf 'run %d: %s %.3f s (%.2f CPU-s), hemo run --workers 2 %s%.3f s (%.2f CPU-s)\n' \
        "$r" "$single_name" "$b" "$bc_" "${extra[*]:+${extra[*]} }" "$c" "$rc_"
    if ! cmp -s "$work/build/MANIFEST.sha256" "$work/run/MANIFEST.sha256"; then
        echo "MANIFEST MISMATCH between $single_name and hemo run (logs: $work/run.err)" >&2
        exit 1
    fi
done

mb=$(printf '%s\n' "${build_times[@]}" | median)
mr=$(printf '%s\n' "${run_times[@]}" | median)
cb=$(printf '%s\n' "${build_cpu[@]}" | median)
cr=$(printf '%s\n' "${run_cpu[@]}" | median)
overhead=$(echo "($mr - $mb) / $mb * 100" | bc -l)
cpu_overhead=$(echo "($cr - $cb) / $cb * 100" | bc -l)
mp=$(printf '%s\n' "${ratios[@]}" | median)
echo "== medians over $repeats runs, $cases cases, transfer $transfer"
printf '%s: %.3f s, %.3f CPU-s/exam\nhemo run --workers 2 %s: %.3f s, %.3f CPU-s/exam\n' \
    "$single_name" "$mb" "$(echo "$cb / $cases" | bc -l)" "${extra[*]}" "$mr" "$(echo "$cr / $cases" | bc -l)"
printf 'overhead: %+.1f %% of wall time (target <= 5 %%), %+.1f %% of CPU time; median of the paired per-run ratios %+.1f %%\n' \
    "$overhead" "$cpu_overhead" "$(echo "($mp - 1) * 100" | bc -l)"
echo "$wire_line"
echo "manifests identical: yes"
