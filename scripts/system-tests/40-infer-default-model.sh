#!/usr/bin/env bash
# System test: `hemo infer` with the bundled default model, run from a folder outside the checkout
# (so the model must come from the resource bundle beside the executable), on a small synthetic
# cohort; then `hemo release verify` on the output, a check of the pseudo-label columns, a
# rerun with another thread count, and `hemo run --infer` (a coordinator and two worker
# processes loading the bundled model), each of which must give the same MANIFEST.sha256.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
HEMO="${HEMO:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$HEMO" synth --out cohort --cases 2 --seed 4242 --in-plane 64 --slices 4 > /dev/null
"$HEMO" infer --cohort cohort --out r1 --threads 1 > infer1.out 2> infer1.err || { cat infer1.err; echo "FAIL: hemo infer"; exit 1; }
"$HEMO" release verify r1 > verify.out || { cat verify.out; echo "FAIL: hemo release verify on the infer output"; exit 1; }
head -1 r1/labels/slice_labels.csv | grep -q ',p_any,p_EPH,p_SDH,p_SAH,p_IPH,p_IVH$' \
    || { echo "FAIL: slice_labels.csv lacks the probability columns"; exit 1; }
grep -q '"kind": "pseudo-labels"' r1/dataset.json || { echo "FAIL: dataset.json is not a pseudo-label release"; exit 1; }
grep -q 'weak_any' r1/labels/patient_labels.csv || { echo "FAIL: weak_labels.csv present but no weak_* columns"; exit 1; }
"$HEMO" infer --cohort cohort --out r2 --threads 2 > /dev/null 2>&1
cmp -s r1/MANIFEST.sha256 r2/MANIFEST.sha256 || { echo "FAIL: --threads 1 and 2 give different releases"; exit 1; }
"$HEMO" run --cohort cohort --out r3 --workers 2 --infer > run.out 2> run.err \
    || { cat run.err; echo "FAIL: hemo run --infer"; exit 1; }
grep -q 'pseudo-labels, model hemo-default.onnx' run.out || { cat run.out; echo "FAIL: hemo run --infer did not report the model"; exit 1; }
cmp -s r1/MANIFEST.sha256 r3/MANIFEST.sha256 || { echo "FAIL: hemo run --infer and hemo infer give different releases"; exit 1; }
echo "PASS: hemo infer with the default model, verify passes, same bytes for 1 and 2 threads and for hemo run --infer with 2 workers"
