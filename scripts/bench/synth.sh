#!/usr/bin/env bash
# Benchmark of `hemo synth`: exams per second with 1 and 2 threads (medians of 3 runs), per-core rate.
# Usage: scripts/bench/synth.sh [cases=8] [in-plane=512]
# There is no Python peer for synthetic head CT generation; the figure is compared with the
# project's target of one 512×512×32 exam per second per core. Each run writes the default
# annotation forms (labelmap, polygons), truth masks and gzip level 6 NIfTI files.
set -euo pipefail
cd "$(dirname "$0")/../.."
CASES=${1:-8}
PIXELS=${2:-512}
swift build -c release --product hemo >/dev/null
HEMO=$(swift build -c release --show-bin-path)/hemo
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

run() { # threads extra-args...
  local threads=$1; shift
  for rep in 1 2 3; do
    rm -rf "$WORK/out"
    local start end
    start=$(date +%s.%N)
    "$HEMO" synth --out "$WORK/out" --cases "$CASES" --seed 1 --slices 32 --in-plane "$PIXELS" --threads "$threads" "$@" >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
  done | median
}

echo "hemo synth: $CASES cases of ${PIXELS}×${PIXELS}×32, seed 1, default annotations, gzip 6"
for threads in 1 2; do
  t=$(run "$threads")
  rate=$(echo "$CASES / $t" | bc -l)
  per_core=$(echo "$rate / $threads" | bc -l)
  printf "threads %d: median %.2f s  -> %.2f exams/s, %.2f exams/s per core (target >= 1.00, ratio %.2f)\n" \
    "$threads" "$t" "$rate" "$per_core" "$per_core"
done
t=$(run 1 --gzip-level 1 --annotations none)
printf "threads 1, gzip 1, no annotations: median %.2f s -> %.2f exams/s per core\n" "$t" "$(echo "$CASES / $t" | bc -l)"
