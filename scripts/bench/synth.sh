#!/usr/bin/env bash
# Benchmark of `hemo synth`: exams per second with 1 and 2 threads (medians of 3 runs), and the
# per-core rate from both wall time and CPU time (user + sys; fair on a shared, loaded machine).
# Usage: scripts/bench/synth.sh [cases=8] [in-plane=512]
# There is no Python peer for synthetic head-CT generation; the ratio printed is against the
# project's target of one 512×512×32 exam per second per core. Each run writes the default
# annotation forms (labelmap, polygons), truth masks and gzip level 1 NIfTI files (the default).
set -euo pipefail
cd "$(dirname "$0")/../.."
CASES=${1:-8}
PIXELS=${2:-512}
swift build -c release --product hemo >/dev/null
HEMO=$(swift build -c release --show-bin-path)/hemo
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

run() { # threads extra-args... ; prints "wall cpu" medians
  local threads=$1; shift
  for _ in 1 2 3; do
    rm -rf "$WORK/out"
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" \
      "$HEMO" synth --out "$WORK/out" --cases "$CASES" --seed 1 --slices 32 --in-plane "$PIXELS" --threads "$threads" "$@" >/dev/null
    awk '{ printf "%s %s\n", $1, $2 + $3 }' "$WORK/time"
  done > "$WORK/runs"
  echo "$(cut -d' ' -f1 "$WORK/runs" | median) $(cut -d' ' -f2 "$WORK/runs" | median)"
}

report() { # label threads wall cpu
  printf "%-34s wall %6.2f s -> %5.2f exams/s, %5.2f per core | cpu %6.2f s -> %5.2f exams per cpu-second (target 1.00, ratio %.2f)\n" \
    "$1" "$3" "$(echo "$CASES / $3" | bc -l)" "$(echo "$CASES / $3 / $2" | bc -l)" "$4" \
    "$(echo "$CASES / $4" | bc -l)" "$(echo "$CASES / $4" | bc -l)"
}

echo "hemo synth: $CASES cases of ${PIXELS}×${PIXELS}×32, seed 1, medians of 3; machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
for threads in 1 2; do
  read -r wall cpu <<<"$(run "$threads")"
  report "threads $threads (defaults)" "$threads" "$wall" "$cpu"
done
read -r wall cpu <<<"$(run 1 --gzip-level 6)"
report "threads 1, gzip 6" 1 "$wall" "$cpu"
read -r wall cpu <<<"$(run 1 --annotations none)"
report "threads 1, no annotation forms" 1 "$wall" "$cpu"
