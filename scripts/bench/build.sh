#!/usr/bin/env bash
# Benchmark: `hemo build` on a 20-case synthetic cohort — exams per second and the per-stage
# time breakdown (hash, read, masks, transform, analyse, write), median of N runs.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/bench/build.sh [RUNS] [CASES]

Builds hemo (release), synthesises CASES exams (default 20, seed 1) once, then runs
`hemo build --threads <cores>` RUNS times (default 3) and prints each run's exams/s and stage
seconds, then the medians. Stage seconds are summed over exams (so with several threads they
exceed the wall time).
USAGE
}
[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { usage; exit 0; }
runs=${1:-3}
cases=${2:-20}
cd "$(dirname "$0")/../.."
hemo=$(scripts/setup.sh --release | tail -n 1)
work=$(mktemp -d "${TMPDIR:-/tmp}/hemo-bench-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$hemo" synth --out "$work/cohort" --cases "$cases" --seed 1 >/dev/null
threads=$(nproc)
for _ in $(seq 1 "$runs"); do
    "$hemo" build --cohort "$work/cohort" --out "$work/release" --threads "$threads" --force 2>/dev/null \
        | grep -E '^(cases|stage seconds)' | tee -a "$work/runs.txt"
done
python3 - "$work/runs.txt" "$runs" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
rates = [float(x) for x in re.findall(r'\(([\d.]+) exams/s\)', text)]
walls = [float(x) for x in re.findall(r'time: ([\d.]+) s', text)]
stages = {}
for line in re.findall(r'stage seconds \(summed over exams\): (.*)', text):
    for name, sec in re.findall(r'(\w+) ([\d.]+)', line):
        stages.setdefault(name, []).append(float(sec))
print(f"median over {len(rates)} runs: {statistics.median(rates):.3f} exams/s, wall {statistics.median(walls):.2f} s")
total = sum(statistics.median(v) for v in stages.values())
for name, v in stages.items():
    m = statistics.median(v)
    print(f"  {name:10s} {m:8.2f} s  ({100 * m / total:5.1f}% of stage time)")
PY
