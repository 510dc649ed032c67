#!/usr/bin/env bash
# System test: DICOM studies read by `hemo convert STUDY OUT.nii.gz` against Debian's dcm2niix
# (voxels equal after rescaling, affines within 1e-4 mm, read with nibabel): pydicom's CT_small.dcm
# (uncompressed, JPEG 2000 lossless and lossy) and every synthetic study of
# scripts/fixtures/make-dicom-fixtures.py at 128x96 (transfer syntaxes incl. JPEG 2000 and JPEG lossless,
# oblique, flipped, multi-series, padding, 12-bit quirk); gantry-tilted and unevenly spaced studies
# against a pydicom reference built from the files' own positions. No network needed.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
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
python3 "$scripts/peers/check-dicom-dcm2niix.py" "$HEMO" "$work/studies" "$work/out" | tee "$work/report.txt"
n=$(grep -c '^OK' "$work/report.txt")
echo "PASS: $n DICOM studies equal dcm2niix (or the pydicom position reference for tilt/uneven)"
