#!/usr/bin/env bash
# DICOM read benchmark: hemo against Debian's dcm2niix on the same 300-slice 512×512 CT series,
# synthesised as real DICOM by scripts/fixtures/make-dicom-fixtures.py (uncompressed explicit VR little
# endian, and JPEG 2000 lossless), same run, interleaved.
#
#   scripts/bench/dicom.sh [RUNS]        (default 5; needs python3 with pydicom, pylibjpeg-openjpeg; dcm2niix)
#
# Measured, wall clock of the whole process:
#   ours:     hemo-bench dicom-read STUDY --repeat 1   (parse, sort, decode, rescale to a float32 HU volume)
#   dcm2niix: dcm2niix -z n -b n -o OUT STUDY          (read and write an uncompressed NIfTI)
# plus hemo's in-process read time and both processes' peak resident memory (GNU time's %M, when
# /usr/bin/time exists). Prints medians and ours/dcm2niix ratios.
set -euo pipefail
RUNS=${1:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${DICOM_BENCH_DIR:-/tmp/hemo-dicom-bench}
mkdir -p "$WORK"
command -v dcm2niix >/dev/null || { echo "install dcm2niix: apt-get install -y dcm2niix" >&2; exit 1; }
python3 -c "import openjpeg" 2>/dev/null || pip install -q pylibjpeg pylibjpeg-openjpeg
(cd "$ROOT" && swift build -c release --product hemo-bench 2>&1 | grep -v "prohibited flag" | tail -1)
HEMO_BENCH="$ROOT/.build/release/hemo-bench"
[ -d "$WORK/studies/bench_j2k" ] || python3 "$ROOT/scripts/fixtures/make-dicom-fixtures.py" "$WORK/studies" --size 512x512 --only bench,bench_j2k > /dev/null

TIME=""; [ -x /usr/bin/time ] && TIME=/usr/bin/time
wall() { # command... -> seconds (peak RSS in KB to $WORK/rss)
    local t0 t1
    echo 0 > "$WORK/rss"
    t0=$(date +%s.%N)
    if [ -n "$TIME" ]; then "$TIME" -f %M -o "$WORK/rss" "$@" > "$WORK/last.out" 2>&1; else "$@" > "$WORK/last.out" 2>&1; fi
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for study in bench bench_j2k; do
    : > "$WORK/$study.ours"; : > "$WORK/$study.peer"; : > "$WORK/$study.inproc"; : > "$WORK/$study.rss-ours"; : > "$WORK/$study.rss-peer"
    for _ in $(seq "$RUNS"); do
        rm -rf "$WORK/out"; mkdir -p "$WORK/out"
        wall dcm2niix -z n -b n -o "$WORK/out" "$WORK/studies/$study" >> "$WORK/$study.peer"
        tail -n 1 "$WORK/rss" >> "$WORK/$study.rss-peer"
        wall "$HEMO_BENCH" dicom-read "$WORK/studies/$study" --repeat 1 >> "$WORK/$study.ours"
        tail -n 1 "$WORK/rss" >> "$WORK/$study.rss-ours"
        awk '/^voxels/ {print $4/1000}' "$WORK/last.out" >> "$WORK/$study.inproc"
    done
    o=$(median < "$WORK/$study.ours"); p=$(median < "$WORK/$study.peer"); i=$(median < "$WORK/$study.inproc")
    ro=$(median < "$WORK/$study.rss-ours"); rp=$(median < "$WORK/$study.rss-peer")
    printf '%-10s hemo %.3f s (in-process read %.3f s)  dcm2niix %.3f s  ratio hemo/dcm2niix %.2f  (medians of %d)  peak RSS hemo %d MB, dcm2niix %d MB\n' \
        "$study" "$o" "$i" "$p" "$(echo "$o / $p" | bc -l)" "$RUNS" "$((ro / 1024))" "$((rp / 1024))"
done
