#!/usr/bin/env bash
# System test: a cohort of DICOM studies (pydicom-made, nested folders, one NIfTI case beside them,
# one truncated study) through `hemo build`, `hemo infer` and `hemo run` (shared and inline
# transfer, 2 workers) with --slice-key sop and --case-ids study-hash: same MANIFEST everywhere,
# `hemo release verify` passes, the broken exam alone fails naming its file, no patient name, ID
# or birth date in any release file; then 100,000 mutated DICOM files (RLE, JPEG lossless, JPEG-LS,
# lossy JPEG and enhanced multi-frame CT among the seeds) through `hemo-bench dicom-fuzz`.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
HEMO="${HEMO:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
# The fuzz driver is a benchmark tool, in hemo-bench beside hemo (built by `swift test`, or here).
HEMO_BENCH="${HEMO_BENCH:-$(dirname "$HEMO")/hemo-bench}"
if [[ ! -x "$HEMO_BENCH" ]]; then
    (cd "$(dirname "$0")/../.." && swift build --product hemo-bench 2>&1 | tail -n 1)
fi
[[ -x "$HEMO_BENCH" ]] || { echo "FAIL: no hemo-bench binary at $HEMO_BENCH (swift build --product hemo-bench, or set HEMO_BENCH)"; exit 1; }
scripts="$(cd "$(dirname "$0")/.." && pwd)"
python3 -c "import pydicom, numpy" 2>/dev/null || pip install -q pydicom numpy
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 "$scripts/fixtures/make-dicom-fixtures.py" studies --size 96x80 --only axial,multiseries,tilted,uneven,rle,bigendian > /dev/null
mkdir cohort
for s in axial multiseries tilted uneven rle; do mv "studies/$s" "cohort/Fixture_Jane_$s"; done
# A broken exam: one file cut in half.
mv studies/bigendian cohort/broken
victim=$(find cohort/broken -type f | sort | sed -n 3p)
head -c 1500 "$victim" > "$victim.tmp" && mv "$victim.tmp" "$victim"
"$HEMO" synth --out nifti --cases 1 --in-plane 64 --slices 4 > /dev/null
mv nifti/case_000 cohort/
opts=(--slice-key sop --case-ids study-hash --uid-salt "release-7 secret")
"$HEMO" build --cohort cohort --out b1 "${opts[@]}" --threads 2 > build.out 2>&1 || { cat build.out; echo "FAIL: hemo build"; exit 1; }
"$HEMO" release verify b1 > verify.out || { cat verify.out; echo "FAIL: verify of the DICOM build"; exit 1; }
[[ $(tail -n +2 b1/failures.csv | wc -l) -eq 1 ]] || { cat b1/failures.csv; echo "FAIL: expected exactly one failed exam"; exit 1; }
grep -q "$(basename "$victim")" b1/failures.csv || { cat b1/failures.csv; echo "FAIL: the failure does not name the truncated file"; exit 1; }
[[ $(tail -n +2 b1/labels/patient_labels.csv | wc -l) -eq 6 ]] || { echo "FAIL: expected 6 released cases"; exit 1; }
head -1 b1/labels/slice_labels.csv | grep -q ',sop_instance_uid,instance_number$' || { echo "FAIL: slice_labels.csv lacks the instance columns"; exit 1; }
grep -q '^case_000,000,.*,,$' b1/labels/slice_labels.csv || { echo "FAIL: the NIfTI case should have empty instance columns"; exit 1; }
[[ -s b1/series.csv && -s b1/labels/slice_labels_sop.csv ]] || { echo "FAIL: series.csv or slice_labels_sop.csv missing"; exit 1; }
"$HEMO" run --cohort cohort --out b2 "${opts[@]}" --workers 2 > run.out 2>&1 || { cat run.out; echo "FAIL: hemo run"; exit 1; }
cmp -s b1/MANIFEST.sha256 b2/MANIFEST.sha256 || { echo "FAIL: hemo run (shared) differs from hemo build"; exit 1; }
"$HEMO" run --cohort cohort --out b3 "${opts[@]}" --workers 2 --transfer inline > run3.out 2>&1 || { cat run3.out; echo "FAIL: hemo run --transfer inline"; exit 1; }
cmp -s b1/MANIFEST.sha256 b3/MANIFEST.sha256 || { echo "FAIL: hemo run (inline) differs from hemo build"; exit 1; }
"$HEMO" infer --cohort cohort --out i1 "${opts[@]}" --threads 2 > infer.out 2>&1 || { cat infer.out; echo "FAIL: hemo infer"; exit 1; }
"$HEMO" release verify i1 > verify2.out || { cat verify2.out; echo "FAIL: verify of the DICOM infer"; exit 1; }
"$HEMO" run --cohort cohort --out i2 "${opts[@]}" --workers 2 --infer --transfer inline > run4.out 2>&1 || { cat run4.out; echo "FAIL: hemo run --infer"; exit 1; }
cmp -s i1/MANIFEST.sha256 i2/MANIFEST.sha256 || { echo "FAIL: hemo run --infer differs from hemo infer"; exit 1; }
# No identifier in any release file: names, IDs, birth date, the folders named after the patient.
if grep -rl -e 'Fixture' -e 'Jane' -e 'PID-4711' -e '19610203' b1 b2 b3 i1 i2; then
    echo "FAIL: a patient identifier reached a release file"; exit 1
fi
mkdir -p conv && "$HEMO" convert cohort/Fixture_Jane_tilted conv/tilted.nii.gz 2> convert.err
"$HEMO" inspect conv/tilted.nii.gz > /dev/null || { echo "FAIL: hemo convert output is unreadable"; exit 1; }
# The fuzz corpus: RLE, multi-series, DCMTK's JPEG lossless, JPEG-LS and lossy JPEG files, and
# enhanced CT files (functional-group sequences; native and JPEG 2000 frames).
if ! command -v dcmcjpls > /dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y dcmtk > /dev/null 2>&1 || { apt-get update > /dev/null && apt-get install -y dcmtk > /dev/null; }
    else
        echo "SKIP: dcmtk (which makes the JPEG fuzz seeds) is not installed and this is not root"; exit 0
    fi
fi
python3 "$scripts/fixtures/make-dicom-fixtures.py" codecs --size 40x32 --only jpeg_lossless,jpeg_ls,jpeg_baseline > /dev/null
python3 -c "import openjpeg" 2>/dev/null || pip install -q pylibjpeg pylibjpeg-openjpeg
python3 "$scripts/fixtures/make-dicom-enhanced-ct.py" enhanced --size 40x32 --frames 6
mv enhanced/enhanced_perframe enhanced/enhanced_j2k codecs/ && rm -rf enhanced
mapfile -t seeds < <(find cohort/Fixture_Jane_rle cohort/Fixture_Jane_multiseries codecs -type f | sort)
"$HEMO_BENCH" dicom-fuzz --count 100000 --seed 61 "${seeds[@]}" | tee fuzz.out
echo "PASS: DICOM cohort through build, run (shared, inline), infer and run --infer with equal manifests; verify passes; one hostile exam failed alone; no identifiers; 100,000 fuzzed files"
