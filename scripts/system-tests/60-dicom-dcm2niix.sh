#!/usr/bin/env bash
# System test: DICOM studies read by `hemo convert STUDY OUT.nii.gz` against Debian's dcm2niix
# (voxels equal after rescaling, affines within 1e-4 mm, read with nibabel): pydicom's CT_small.dcm
# (uncompressed, JPEG 2000 lossless and lossy) and every synthetic study of
# scripts/fixtures/make-dicom-fixtures.py at 128x96 (transfer syntaxes incl. JPEG 2000 and JPEG lossless,
# oblique, flipped, multi-series, padding, 12-bit quirk, JPEG-LS lossless and near-lossless and
# baseline lossy JPEG made by DCMTK, also left DERIVED as dcmcjpeg marks it, checked after DCMTK's own
# decoders); a 12-bit lossy JPEG study
# fails naming the file and the reason; gantry-tilted and unevenly spaced studies
# against a pydicom reference built from the files' own positions. No network needed.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
HEMO="${HEMO:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
scripts="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v dcm2niix > /dev/null || ! command -v dcmcjpeg > /dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get install -y dcm2niix dcmtk > /dev/null 2>&1 || { apt-get update > /dev/null && apt-get install -y dcm2niix dcmtk > /dev/null; }
    else
        echo "SKIP: dcm2niix or dcmtk (dcmcjpeg, which makes the JPEG lossless studies) is not installed and this is not root"; exit 0
    fi
fi
python3 -c "import pydicom, nibabel, numpy" 2>/dev/null || pip install -q pydicom nibabel numpy
python3 -c "import openjpeg" 2>/dev/null || pip install -q pylibjpeg pylibjpeg-openjpeg
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 "$scripts/fixtures/make-dicom-fixtures.py" "$work/studies" --size 128x96 > /dev/null
mkdir -p "$work/studies/pydicom_CT_small"
cp "$(python3 -c 'from pydicom.data import get_testdata_file as g; print(g("CT_small.dcm"))')" "$work/studies/pydicom_CT_small/"
# pydicom's head-CT slice in JPEG 2000 lossless and lossy forms (encoded by pylibjpeg-openjpeg).
python3 - "$work/studies" <<'PY'
import os, sys, pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, JPEG2000
for name, uid, kw in [("pydicom_CT_small_j2k_lossless", JPEG2000Lossless, {}), ("pydicom_CT_small_j2k_lossy", JPEG2000, {"j2k_cr": [10]})]:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.compress(uid, encoding_plugin="pylibjpeg", **kw)
    os.makedirs(os.path.join(sys.argv[1], name), exist_ok=True)
    ds.save_as(os.path.join(sys.argv[1], name, "CT_small.dcm"), enforce_file_format=True)
PY
# 12-bit lossy JPEG (process 4): Debian's libjpeg-turbo 2.1 decodes 8-bit samples only; the exam
# must fail naming a file and the reason.
mv "$work/studies/jpeg_extended12" "$work/extended12"
if "$HEMO" convert "$work/extended12" "$work/extended12.nii.gz" 2> "$work/extended12.err"; then
    echo "FAIL: a 12-bit lossy JPEG study converted although this build cannot decode it"; exit 1
fi
grep -q "extended12/.*JPEG (lossy) pixel data cannot be decoded.*12" "$work/extended12.err" \
    || { cat "$work/extended12.err"; echo "FAIL: the 12-bit lossy JPEG error does not name the file and the precision"; exit 1; }
python3 "$scripts/peers/check-dicom-dcm2niix.py" "$HEMO" "$work/studies" "$work/out" | tee "$work/report.txt" \
    || { echo "FAIL: a study differs from dcm2niix or its reference (see above)"; exit 1; }
for s in jpeg_ls jpeg_ls_near jpeg_baseline jpeg_baseline_derived; do
    grep -q "^OK   $s:" "$work/report.txt" || { echo "FAIL: study $s was not checked"; exit 1; }
done
n=$(grep -c '^OK' "$work/report.txt")
echo "PASS: $n DICOM studies equal dcm2niix (or the pydicom position reference for tilt/uneven)"
