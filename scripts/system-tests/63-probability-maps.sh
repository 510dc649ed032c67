#!/usr/bin/env bash
# System test: `--probabilities` per-subtype probability maps. `hemo infer`, `hemo run --workers 1`
# and `hemo run --workers 2` (maps sent back as LZ4 CHUNKs) write byte-identical releases; nibabel
# reads the maps (uint8, scl_slope 1/255) within 1/510 + 1e-4 of numpy + onnxruntime softmax
# probabilities (scripts/peers/check-probability-maps.py); `hemo release verify` passes, and fails
# naming the file for a corrupt, a missing and an extra map; `hemo build --probabilities` is refused.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
HEMO="${HEMO:-$root/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
PY=${PYTHON:-python3}
"$PY" -c "import onnxruntime, nibabel, scipy, numpy" 2>/dev/null || "$PY" -m pip install -q onnxruntime nibabel scipy numpy
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$HEMO" synth --out "$work/cohort" --cases 3 --seed 4343 --positive-fraction 1 --in-plane 200 --slices 10 > /dev/null
"$HEMO" infer --cohort "$work/cohort" --out "$work/infer" --threads 2 --probabilities > /dev/null 2> "$work/infer.err" \
    || { cat "$work/infer.err"; fail "hemo infer --probabilities"; }
for n in 1 2; do
    "$HEMO" run --cohort "$work/cohort" --out "$work/run$n" --workers "$n" --infer --probabilities > /dev/null 2> "$work/run$n.err" \
        || { tail -5 "$work/run$n.err"; fail "hemo run --workers $n --infer --probabilities"; }
done
maps=$(find "$work/infer/probabilities" -name '*.nii.gz' | wc -l)
[[ "$maps" == 15 ]] || fail "expected 15 maps (3 exams x 5 subtypes), found $maps"
grep -q '^[0-9a-f]\{64\}  probabilities/case_000/EPH.nii.gz$' "$work/infer/MANIFEST.sha256" || fail "the maps are not in MANIFEST.sha256"
diff -r "$work/infer" "$work/run1" > /dev/null || fail "hemo run --workers 1 differs from hemo infer"
diff -r "$work/run1" "$work/run2" > /dev/null || fail "hemo run --workers 2 differs from --workers 1"
"$HEMO" release verify "$work/run2" > "$work/verify.out" 2>&1 || { cat "$work/verify.out"; fail "hemo release verify"; }
"$PY" "$root/scripts/peers/check-probability-maps.py" "$root/Sources/HemoInference/DefaultModel/hemo-default.onnx" \
    "$work/cohort" "$work/infer" | tee "$work/check.out" || true
grep -q '^OK$' "$work/check.out" || fail "the maps differ from numpy + onnxruntime (see above)"
# Damaged copies: each must fail verify with a sentence naming the file.
expect_fail() { # name, release, pattern
    if "$HEMO" release verify "$2" > "$work/$1.out" 2>&1; then fail "verify accepted the $1 release"; fi
    grep -q "$3" "$work/$1.out" || { cat "$work/$1.out"; fail "verify's report on the $1 release does not say '$3'"; }
}
cp -r "$work/infer" "$work/corrupt"
printf 'x' | dd of="$work/corrupt/probabilities/case_001/SDH.nii.gz" bs=1 seek=40 conv=notrunc status=none
expect_fail corrupt "$work/corrupt" "probabilities/case_001/SDH.nii.gz: SHA-256"
cp -r "$work/infer" "$work/missing"
rm "$work/missing/probabilities/case_002/IVH.nii.gz"
expect_fail missing "$work/missing" "probabilities/case_002/IVH.nii.gz: listed in the manifest but missing"
cp -r "$work/infer" "$work/extra"
cp "$work/extra/probabilities/case_000/EPH.nii.gz" "$work/extra/probabilities/case_000/ANY.nii.gz"
expect_fail extra "$work/extra" "probabilities/case_000/ANY.nii.gz: present but not in the manifest"
if "$HEMO" build --cohort "$work/cohort" --out "$work/build" --probabilities > "$work/build.out" 2>&1; then
    fail "hemo build --probabilities was accepted"
fi
grep -q "use \`hemo infer\`" "$work/build.out" || { cat "$work/build.out"; fail "hemo build --probabilities: no clear refusal"; }
echo "PASS: 15 probability maps byte-identical for infer and run --workers 1/2, verified, equal to numpy + onnxruntime: $(head -1 "$work/check.out")"
