#!/usr/bin/env bash
# System test: tools that did not write a release agree with it. Builds releases of every kind
# from one synthetic cohort (annotations, pseudo-labels from `hemo infer`, resampled with
# --spacing, reoriented with --canonical), then for each: scripts/peers/independent-checks.py
# recomputes labels, boxes2d.csv, lesions3d.csv, COCO (pycocotools evaluates it against itself),
# YOLO, dataset.json, splits and provenance from the masks with numpy, scipy and nibabel and
# compares every row; `sha256sum -c` checks the manifest; nnU-Net v2's verify_dataset_integrity
# (scripts/peers/check-nnunet.sh) accepts it.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
HEMO="${HEMO:-$repo/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
python3 -c 'import numpy, scipy, nibabel, pycocotools, PIL' 2>/dev/null ||
    python3 -m pip install -q numpy scipy nibabel pycocotools pillow >/dev/null ||
    fail "cannot install numpy, scipy, nibabel, pycocotools and pillow from PyPI"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# 128×128 slices: many box edges fall on multiples of 1/256, the exact ties of YOLO's 6 decimals.
"$HEMO" synth --out cohort --cases 6 --seed 5 --in-plane 128 --slices 16 --positive-fraction 0.8 \
    --annotations all >/dev/null
"$HEMO" build --cohort cohort --out annotations >/dev/null 2>&1
"$HEMO" infer --cohort cohort --out pseudo >/dev/null 2>&1
"$HEMO" build --cohort cohort --out resampled --spacing 1.5,1.5,4 >/dev/null 2>&1
"$HEMO" build --cohort cohort --out canonical --canonical >/dev/null 2>&1
for r in annotations pseudo resampled canonical; do
    echo "--- $r"
    grid=()
    case $r in annotations|pseudo) grid=(--native) ;; canonical) grid=(--canonical) ;; esac
    python3 "$repo/scripts/peers/independent-checks.py" "$r" --cohort cohort "${grid[@]}" ||
        fail "the $r release disagrees with the independent recomputation"
    (cd "$r" && sha256sum -c --quiet MANIFEST.sha256) || fail "sha256sum -c rejects $r/MANIFEST.sha256"
    echo "ok: sha256sum -c: $(wc -l <"$r/MANIFEST.sha256") files"
    nn=(--no-fingerprint)
    [[ $r == annotations ]] && nn=()
    bash "$repo/scripts/peers/check-nnunet.sh" "${nn[@]}" "$r" >"nnunet-$r.log" 2>&1 ||
        { tail -n 30 "nnunet-$r.log"; fail "nnU-Net v2 rejects the $r release"; }
    echo "ok: $(tail -n 2 "nnunet-$r.log" | head -n 1)"
done
echo "PASS: annotations, pseudo-labels, resampled and canonical releases agree with numpy/scipy/nibabel/pycocotools, sha256sum and nnU-Net v2"
