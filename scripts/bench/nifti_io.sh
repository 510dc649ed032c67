#!/usr/bin/env bash
# NIfTI I/O benchmark: hemo against nibabel, same file, same run, interleaved.
#
#   scripts/bench/nifti_io.sh [RUNS]        (default 7 runs; needs python3 with nibabel + numpy)
#
# Input: a 512×512×36 int16 CT-like .nii.gz (scl_inter -1024), generated once by
# scripts/bench/nifti_io_peer.py. Measured operation, for both tools: read it to float32 real
# values (HU), then write those as float32 .nii.gz at gzip level 1.
#   ours:    hemo convert IN OUT.nii.gz --datatype float32 --gzip-level 1 --timing
#   nibabel: nib.load(IN).get_fdata(dtype=float32); Nifti1Image(...).to_filename(OUT), level 1
# Both report in-process read and write milliseconds, wall and CPU (all threads; CPU is the
# steadier figure on a shared machine); /usr/bin/time -v gives wall time and peak
# RSS of the whole process. Prints medians and ours/nibabel ratios.
set -euo pipefail
RUNS=${1:-7}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${NIFTI_BENCH_DIR:-/tmp/hemo-nifti-bench}
mkdir -p "$WORK"
command -v /usr/bin/time >/dev/null || { echo "install GNU time: apt-get install -y time" >&2; exit 1; }

(cd "$ROOT" && swift build -c release --product hemo 2>&1 | grep -v "prohibited flag" | tail -1)
HEMO="$ROOT/.build/release/hemo"
PEER="$ROOT/scripts/bench/nifti_io_peer.py"
IN="$WORK/ct_512x512x36_int16.nii.gz"
[ -f "$IN" ] || python3 "$PEER" make "$IN"

measure() { # name, command... -> appends "read write wall rss_kb" to $WORK/name.txt
    local name=$1; shift
    /usr/bin/time -v "$@" 2> "$WORK/stderr.txt" >/dev/null
    local timing wall rss
    timing=$(grep -E '^read_ms' "$WORK/stderr.txt")
    wall=$(grep 'Elapsed (wall clock)' "$WORK/stderr.txt" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(grep 'Maximum resident set size' "$WORK/stderr.txt" | awk '{print $NF}')
    echo "$(echo "$timing" | awk '{print $2, $4}') $wall $rss $(echo "$timing" | awk '{print $6, $8}')" >> "$WORK/$name.txt"
}

rm -f "$WORK/ours.txt" "$WORK/nibabel.txt" "$WORK/base_ours.txt" "$WORK/base_nibabel.txt"
for _ in $(seq "$RUNS"); do
    rm -f "$WORK/ours.nii.gz" "$WORK/peer.nii.gz"
    measure ours "$HEMO" convert "$IN" "$WORK/ours.nii.gz" --datatype float32 --gzip-level 1 --timing
    measure nibabel python3 "$PEER" run "$IN" "$WORK/peer.nii.gz"
done
# Baseline RSS of each runtime doing nothing (process start-up, libraries, interpreter).
/usr/bin/time -v "$HEMO" --version 2> "$WORK/stderr.txt" >/dev/null
BASE_OURS=$(grep 'Maximum resident set size' "$WORK/stderr.txt" | awk '{print $NF}')
/usr/bin/time -v python3 -c "import nibabel, numpy" 2> "$WORK/stderr.txt" >/dev/null
BASE_PEER=$(grep 'Maximum resident set size' "$WORK/stderr.txt" | awk '{print $NF}')

python3 - "$WORK" "$RUNS" "$BASE_OURS" "$BASE_PEER" <<'PY'
import statistics, sys
work, runs, base_ours, base_peer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def load(name):
    rows = [list(map(float, l.split())) for l in open(f"{work}/{name}.txt") if l.strip()]
    return [statistics.median(c) for c in zip(*rows)]
o, p = load("ours"), load("nibabel")
raw = 512 * 512 * 36 * 2  # bytes
out = 512 * 512 * 36 * 4
print(f"input: 512x512x36 int16 .nii.gz -> float32 HU -> float32 .nii.gz (gzip 1); medians of {runs} runs")
print(f"{'':22s}{'hemo':>12s}{'nibabel':>12s}{'ours/nibabel':>14s}")
for i, name in enumerate(["read+scale ms", "write ms", "process wall s"]):
    print(f"{name:22s}{o[i]:12.1f}{p[i]:12.1f}{o[i] / p[i]:14.2f}")
print(f"{'read+scale CPU ms':22s}{o[4]:12.1f}{p[4]:12.1f}{o[4] / p[4]:14.2f}")
print(f"{'write CPU ms':22s}{o[5]:12.1f}{p[5]:12.1f}{o[5] / p[5]:14.2f}")
print(f"{'peak RSS MiB':22s}{o[3] / 1024:12.1f}{p[3] / 1024:12.1f}{o[3] / p[3]:14.2f}")
print(f"{'RSS above base MiB':22s}{(o[3] - base_ours) / 1024:12.1f}{(p[3] - base_peer) / 1024:12.1f}")
print(f"raw int16 voxels {raw / 2**20:.1f} MiB; float32 output buffer {out / 2**20:.1f} MiB; "
      f"budget raw + output = {(raw + out) / 2**20:.1f} MiB")
print(f"baseline RSS (runtime only): hemo {base_ours / 1024:.1f} MiB, python+nibabel {base_peer / 1024:.1f} MiB")
PY
