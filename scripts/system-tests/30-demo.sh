#!/usr/bin/env bash
# System test: `hemo demo`, the README's main command, on a small cohort (3 exams, 96x96 in-plane,
# 6 slices): synthesis, the release on a local cluster checked against `hemo build`, verify, eval,
# pseudo-labels on the local cluster (`hemo run --infer`, bundled model) checked against
# `hemo infer`, their evaluation, and the QC report; then checks the files the demo promises.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
HEMO="${HEMO:-$(cd "$(dirname "$0")/../.." && pwd)/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$HEMO" demo --work "$work/demo" --cases 3 --in-plane 96 --slices 6 --workers 2 --threads 2 > "$work/demo.out" 2> "$work/demo.err" \
    || { tail -40 "$work/demo.out"; tail -40 "$work/demo.err"; echo "FAIL: hemo demo exited non-zero"; exit 1; }
for needle in "identical: the cluster's MANIFEST.sha256 equals hemo build's" \
              "identical: the cluster's pseudo-label MANIFEST.sha256 equals hemo infer's" \
              "ok: the pseudo-label release verifies" "== 6/6"; do
    grep -qF "$needle" "$work/demo.out" || { cat "$work/demo.out"; echo "FAIL: the demo did not print: $needle"; exit 1; }
done
for f in release/MANIFEST.sha256 pseudo-labels/MANIFEST.sha256 eval.json eval-pseudo-labels.json qc/index.html preview.png; do
    [[ -s "$work/demo/$f" ]] || { echo "FAIL: the demo did not write $f"; exit 1; }
done
grep -q '"kind": "pseudo-labels"' "$work/demo/pseudo-labels/dataset.json" || { echo "FAIL: pseudo-labels/dataset.json is not a pseudo-label release"; exit 1; }
echo "PASS: hemo demo (3 exams): cluster release = hemo build, cluster pseudo-labels = hemo infer, verify, eval and QC written"
