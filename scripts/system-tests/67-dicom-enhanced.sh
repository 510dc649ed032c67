#!/usr/bin/env bash
# System test: Enhanced CT Image Storage (one multi-frame file per series; plane position,
# orientation, pixel measures and rescaling read from the per-frame and shared functional groups)
# by `hemo convert` against Debian's dcm2niix, read with nibabel: voxels equal, affines within
# 1e-4 mm. Studies from scripts/fixtures/make-dicom-enhanced-ct.py at 128x96 with 24 frames:
# shared groups with frames stored top-down, every group per frame (slope 0.5) stored bottom-up,
# shuffled frames and JPEG 2000 lossless frames (both against dcm2niix's NIfTI of the same image
# stored plainly, since Debian's dcm2niix reads neither). Then a cohort holding an enhanced study
# builds (`hemo build --slice-key sop`) and verifies. About 20 s.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
HEMO="${HEMO:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
scripts="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v dcm2niix > /dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y dcm2niix > /dev/null 2>&1 || { apt-get update > /dev/null && apt-get install -y dcm2niix > /dev/null; }
    else
        echo "SKIP: dcm2niix is not installed and this is not root"; exit 0
    fi
fi
python3 -c "import pydicom, nibabel, numpy" 2>/dev/null || pip install -q pydicom nibabel numpy
python3 -c "import openjpeg" 2>/dev/null || pip install -q pylibjpeg pylibjpeg-openjpeg
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 "$scripts/fixtures/make-dicom-enhanced-ct.py" studies --size 128x96 --frames 24
for s in enhanced enhanced_perframe; do
    mkdir -p "ref/$s"
    dcm2niix -z n -b n -f ref -o "ref/$s" "studies/$s" > "ref/$s.log" 2>&1 || { cat "ref/$s.log"; echo "FAIL: dcm2niix on $s"; exit 1; }
done
for s in enhanced enhanced_perframe enhanced_shuffled enhanced_j2k; do
    "$HEMO" convert "studies/$s" "$s.nii.gz" 2> "$s.err" || { cat "$s.err"; echo "FAIL: hemo convert $s"; exit 1; }
done
python3 - <<'PY' || { echo "FAIL: an enhanced study differs from dcm2niix (see above)"; exit 1; }
import sys
import nibabel as nib, numpy as np
refs = {"enhanced": "enhanced", "enhanced_perframe": "enhanced_perframe",
        "enhanced_shuffled": "enhanced", "enhanced_j2k": "enhanced"}
bad = False
for ours, ref in refs.items():
    a, b = nib.load(f"{ours}.nii.gz"), nib.load(f"ref/{ref}/ref.nii")
    A, B = a.get_fdata(), b.get_fdata()
    same = A.shape == B.shape
    d = np.abs(a.affine - b.affine).max()
    v = np.abs(A - B).max() if same else float("inf")
    ok = same and d <= 1e-4 and v == 0 and A.shape[2] == 24
    print(f"{'OK  ' if ok else 'FAIL'} {ours}: {A.shape} vs dcm2niix {ref} {B.shape}, affine {d:.2e} mm, voxels {v}")
    bad |= not ok
sys.exit(1 if bad else 0)
PY
# A cohort with an enhanced study builds and verifies (its frames share one SOP Instance UID:
# they map to no single instance in the SOP-keyed slice labels).
mkdir -p cohort && cp -r studies/enhanced_perframe cohort/Enhanced_case
"$HEMO" build --cohort cohort --out release --slice-key sop --threads 2 > build.out 2>&1 || { cat build.out; echo "FAIL: hemo build of an enhanced study"; exit 1; }
"$HEMO" release verify release > verify.out || { cat verify.out; echo "FAIL: verify of the enhanced build"; exit 1; }
grep -q '^Enhanced_case,.*,24,96,128,2.000,0.000,1,' release/series.csv \
    || { cat release/series.csv; echo "FAIL: series.csv does not hold the enhanced series (24 frames of 128x96) as selected"; exit 1; }
[[ $(grep -c '^Enhanced_case,' release/labels/slice_labels.csv) -eq 24 ]] \
    || { echo "FAIL: slice_labels.csv does not hold 24 slices of the enhanced case"; exit 1; }
echo "PASS: 4 enhanced CT studies (shared and per-frame groups, shuffled, JPEG 2000) equal dcm2niix; a cohort with one builds and verifies"
