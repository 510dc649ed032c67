#!/usr/bin/env bash
# CPU seconds per 512x512x40 exam of `hemo infer --threads 1` with a model (default: the bundled
# default model) against the Python peer (scripts/bench/infer_peer.py: nibabel + onnxruntime +
# scipy, 1 thread, no writing) on the same cohort in the same run; issue 16 allows the default model
# at most 1.0 CPU-second per exam in hemo infer. CPU = user + system time of the whole process
# (model load, reading, writing the release included), from /usr/bin/time.
#
# Usage: scripts/bench/default-model-cpu.sh [RUNS=3] [CASES=6] [MODEL=Sources/.../hemo-default.onnx]
#        HEMO (default .build/release/hemo, built when missing).
set -euo pipefail
runs="${1:-3}"; cases="${2:-6}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
model="$(realpath "${3:-Sources/HemoInference/DefaultModel/hemo-default.onnx}")"
HEMO="${HEMO:-.build/release/hemo}"
[[ -x "$HEMO" ]] || swift build -c release --product hemo >&2
[[ -x /usr/bin/time ]] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$HEMO" synth --out "$work/cohort" --cases "$cases" --seed 5002 --slices 40 --gzip-level 1 > /dev/null
echo "cohort: hemo synth --cases $cases --seed 5002 --slices 40 (512x512x40); model $model ($(stat -c %s "$model") bytes); load $(cut -d' ' -f1-3 /proc/loadavg)"
cpu() {
    /usr/bin/time -f "%U %S" -o "$work/time" "$@" > "$work/out" 2>&1 || { cat "$work/out" >&2; echo "FAIL: $*" >&2; exit 1; }
    awk -v n="$cases" '{printf "%.3f", ($1 + $2) / n}' "$work/time"
}
ours=(); peer=()
for run in $(seq 1 "$runs"); do
    o="$(cpu "$HEMO" infer --model "$model" --cohort "$work/cohort" --out "$work/ours" --force --threads 1)"
    p="$(cpu env OMP_NUM_THREADS=1 python3 scripts/bench/infer_peer.py --model "$model" --cohort "$work/cohort" \
        --threads 1 --no-write --no-eval)"
    ours+=("$o"); peer+=("$p")
    echo "run $run: hemo infer $o CPU-s per exam, python peer $p CPU-s per exam"
done
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mo="$(median "${ours[@]}")"; mp="$(median "${peer[@]}")"
echo "median CPU-s per exam: hemo infer $mo (limit 1.0), python peer $mp; ratio peer/ours $(awk -v a="$mp" -v b="$mo" 'BEGIN {printf "%.2f", a / b}')x"
awk -v t="$mo" 'BEGIN {exit !(t <= 1.0)}' && echo "within the limit" || echo "OVER the limit of 1.0 CPU-s per exam"
