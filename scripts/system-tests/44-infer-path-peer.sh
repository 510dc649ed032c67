#!/usr/bin/env bash
# System test: `hemo infer`'s 2D path with the bundled default model equals an independent numpy +
# onnxruntime + scipy implementation (scripts/peers/check-infer-path.py over
# scripts/bench/infer_peer.py) on synthetic exams with real blood: windowing, bilinear resize to
# the model input and back, argmax and the component filter (>= 99.9 % identical voxels, slice
# probabilities within 2e-3). Installs onnxruntime and nibabel with pip when missing.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
HEMO="${HEMO:-$root/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
PY=${PYTHON:-python3}
"$PY" -c "import onnxruntime, nibabel, scipy, numpy" 2>/dev/null || "$PY" -m pip install -q onnxruntime nibabel scipy numpy
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# 300 x 300 slices (a resize factor that is not a power of two), every exam with blood.
"$HEMO" synth --out "$work/cohort" --cases 3 --seed 4343 --positive-fraction 1 --in-plane 300 --slices 12 > /dev/null
"$HEMO" infer --cohort "$work/cohort" --out "$work/release" --threads 2 > "$work/infer.out" 2> "$work/infer.err" \
    || { cat "$work/infer.err"; echo "FAIL: hemo infer"; exit 1; }
"$PY" "$root/scripts/peers/check-infer-path.py" "$root/Sources/HemoInference/DefaultModel/hemo-default.onnx" \
    "$work/cohort" "$work/release" | tee "$work/check.out" || true
grep -q '^OK$' "$work/check.out" || { echo "FAIL: hemo infer differs from numpy + onnxruntime (see above)"; exit 1; }
echo "PASS: hemo infer equals numpy + onnxruntime on 3 synthetic exams with blood: $(head -1 "$work/check.out")"
