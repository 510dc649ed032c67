#!/usr/bin/env bash
# System test: `hemo convert` round trips judged by nibabel (scripts/peers/nifti-peer-checks.py): files
# nibabel writes with each datatype, scaling, qform/sform code pair, 2-D, 4-D and 5-D with
# singleton axes, pixdim[4] and units, header extensions, NIfTI-2 and NaN; then every real
# NIfTI file in nibabel's test data (and dipy's, installed from PyPI). Shape, real values, affine,
# codes, qform/sform, zooms, units and extensions must be nibabel's.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
HEMO="${HEMO:-$repo/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 -c 'import numpy, nibabel' 2>/dev/null || python3 -m pip install -q numpy nibabel >/dev/null ||
    fail "cannot install numpy and nibabel from PyPI"
python3 -c 'import dipy' 2>/dev/null || python3 -m pip install -q dipy >/dev/null ||
    fail "cannot install dipy from PyPI (its test data are part of this check)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$repo/scripts/peers/nifti-peer-checks.py" "$HEMO" "$work" | tee "$work/out.txt" | grep -v '^ok: ' || true
last=$(tail -n 1 "$work/out.txt")
[[ "$last" == PASS:* ]] || fail "hemo convert disagrees with nibabel (see above)"
echo "$last"
