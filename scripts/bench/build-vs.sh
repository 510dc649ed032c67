#!/usr/bin/env bash
# Benchmark: `hemo build` of one binary against another (e.g. the previous commit's) on the same
# synthetic cohort, runs interleaved, medians and the ratio of exams per second.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/bench/build-vs.sh BASELINE_HEMO [RUNS] [CASES] [-- BUILD OPTIONS...]

Builds this checkout's hemo (release) unless HEMO is set, synthesises CASES exams (default 12,
seed 1, 512×512×40) once with it, then runs `hemo build --threads <cores or $THREADS>` RUNS times (default 5)
with BASELINE_HEMO and this hemo in turn, and prints each run, the median exams/s of each, the
ratio new/baseline and the median of the paired ratios. A baseline binary comes from building
another commit, e.g. `git worktree add /tmp/base HEAD~1 && (cd /tmp/base && swift build -c release)`.
Both releases are compared: their files must be the same content (a changed compressor may change
the .nii.gz bytes, so the NIfTI files are compared decompressed).
USAGE
}
[[ "${1:-}" == "-h" || "${1:-}" == "--help" || $# -lt 1 ]] && { usage; exit 0; }
baseline=$1; shift
runs=${1:-5}; [[ $# -gt 0 ]] && shift
cases=${1:-12}; [[ $# -gt 0 ]] && shift
[[ "${1:-}" == "--" ]] && shift
cd "$(dirname "$0")/../.."
hemo=${HEMO:-$(scripts/setup.sh --release | tail -n 1)}
work=$(mktemp -d "${TMPDIR:-/tmp}/hemo-bench-build-vs.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$hemo" synth --out "$work/cohort" --cases "$cases" --seed 1 --slices 40 >/dev/null
threads=${THREADS:-$(nproc)}
python3 - "$work" "$baseline" "$hemo" "$runs" "$threads" "$@" <<'PY'
import gzip, hashlib, os, re, resource, statistics, subprocess, sys, time
work, baseline, new, runs, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
extra = sys.argv[6:]
def load():
    return open("/proc/loadavg").read().split()[0]
print(f"load before: {load()}")
rates = {"baseline": [], "new": []}
cpu = {"baseline": [], "new": []}
for run in range(1, runs + 1):
    for side, binary in (("baseline", baseline), ("new", new)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([binary, "build", "--cohort", f"{work}/cohort", "--out", f"{work}/release-{side}",
                              "--threads", threads, "--force", *extra], capture_output=True, text=True, check=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rate = float(re.search(r"\(([\d.]+) exams/s\)", out).group(1))
        cases = int(re.search(r"cases: (\d+)", out).group(1))
        rates[side].append(rate)
        cpu[side].append(seconds / cases)
        print(f"run {run} {side:8s} {rate:6.3f} exams/s  {seconds / cases:6.3f} CPU-s/exam  (load {load()})")
b, n = statistics.median(rates["baseline"]), statistics.median(rates["new"])
cb, cn = statistics.median(cpu["baseline"]), statistics.median(cpu["new"])
paired = [y / x for x, y in zip(rates["baseline"], rates["new"])]
print(f"exams/s: baseline {b:.3f}, new {n:.3f}: ratio {n / b:.2f}x (median of paired ratios {statistics.median(paired):.2f}x)")
print(f"CPU-s per exam: baseline {cb:.3f}, new {cn:.3f}: baseline/new {cb / cn:.2f}x")
def content(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if rel.lower() in ("manifest.sha256", "provenance.json"):
                continue
            data = open(p, "rb").read()
            if f.endswith(".gz"):
                data = gzip.decompress(data)
            out[rel] = hashlib.sha256(data).hexdigest()
    return out
x, y = content(f"{work}/release-baseline"), content(f"{work}/release-new")
diff = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
print("release content: " + ("identical (NIfTI compared decompressed)" if not diff else f"DIFFERS in {len(diff)} files, e.g. {diff[:5]}"))
sys.exit(1 if diff else 0)
PY
