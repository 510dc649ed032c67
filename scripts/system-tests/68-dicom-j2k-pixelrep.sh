#!/usr/bin/env bash
# System test (issue #17): JPEG 2000 CT whose codestream signedness contradicts Pixel Representation.
# pydicom's J2K_pixelrep_mismatch.dcm (Pixel Representation 1, unsigned 13-bit codestream) and two
# synthetic files (scripts/fixtures/make-j2k-pixelrep-fixtures.py: signed as unsigned, unsigned as
# signed) converted by `hemo convert` equal pydicom's values (APPLY_J2K_CORRECTIONS: Pixel
# Representation wins) voxel for voxel after rescaling, read with nibabel, our voxel centres on the
# files' pixel centres; the affine equals Debian's
# dcm2niix's (untilted files), whose values (it keeps the codestream's sign) are reported. About 5 s.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
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
mkdir -p "$work/studies/pydicom_J2K_pixelrep_mismatch" "$work/made" "$work/out"
cp "$(python3 -c 'from pydicom.data import get_testdata_file as g; print(g("J2K_pixelrep_mismatch.dcm"))')" "$work/studies/pydicom_J2K_pixelrep_mismatch/"
python3 "$scripts/fixtures/make-j2k-pixelrep-fixtures.py" "$work/made" > /dev/null
for s in signed_as_unsigned unsigned_as_signed; do
    mkdir -p "$work/studies/$s" && cp "$work/made/$s.dcm" "$work/studies/$s/"
done
python3 "$scripts/peers/check-dicom-j2k-pixelrep.py" "$HEMO" "$work/studies" "$work/out" | tee "$work/report.txt" \
    || { echo "FAIL: a JPEG 2000 study with a Pixel Representation mismatch differs from pydicom (see above)"; exit 1; }
[[ $(grep -c '^OK' "$work/report.txt") -eq 3 ]] || { echo "FAIL: not all three studies were checked"; exit 1; }
echo "PASS: 3 JPEG 2000 studies with a codestream/Pixel Representation sign mismatch equal pydicom after rescaling"
