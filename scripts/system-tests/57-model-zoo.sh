#!/usr/bin/env bash
# System test: the model zoo at real widths. Exports, with random weights and the pinned PyPI
# versions of scripts/fixtures/make-model-zoo-fixtures.py, timm's MobileViT-XS and EfficientNet-B0, a
# 9-channel ResNet-18, smp's U-Net with a DenseNet161 encoder (and a ResNet-18 one), nnU-Net's
# PlainConvUNet 2D and 3D and MONAI's UNet and SegResNet 3D (half-size inputs: 128x128 slices,
# 32x48x48 volumes), runs each with `hemo model run` and checks every output element against
# onnxruntime: |ours - ort| <= 1e-4 * max(1, |ort|). Also `hemo model info` and `hemo model bench`.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
HEMO="${HEMO:-$root/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 0; }

# The pinned exporters and peer (idempotent: installs only what is missing or of another version).
need=()
while read -r package version; do
    have="$(python3 -c "from importlib import metadata; print(metadata.version('$package'))" 2>/dev/null || true)"
    [[ "${have%%+*}" == "$version" ]] || need+=("$package==$version")
done < <(bash "$root/scripts/fixtures/model-zoo-pins.sh")
if ((${#need[@]})); then
    echo "installing ${need[*]}" >&2
    python3 -m pip install -q "${need[@]}" "numpy>=2" >&2 || { echo "SKIP: cannot install ${need[*]} from PyPI"; exit 0; }
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 "$root/scripts/fixtures/make-model-zoo-fixtures.py" --full --batches 1 --spatial-scale 0.5 --out "$work/zoo" > "$work/export.log" 2>&1 \
    || { tail -20 "$work/export.log"; echo "FAIL: exporting the model zoo"; exit 1; }

failures=0
count=0
while read -r model input output; do
    name="${model%.onnx}"
    if ! "$HEMO" model run "$work/zoo/$model" --input "$work/zoo/$input" --output "$work/out/$name" --threads 2 \
        > "$work/run.out" 2> "$work/run.err"; then
        cat "$work/run.err"
        echo "FAIL: hemo model run $model"
        failures=$((failures + 1))
        continue
    fi
    if ! python3 - "$work/out/$name/output.npy" "$work/zoo/$output" "$name" <<'PY'
import sys
import numpy as np
ours, ref = np.load(sys.argv[1]), np.load(sys.argv[2])
if ours.shape != ref.shape:
    sys.exit(f"FAIL: {sys.argv[3]}: shape {ours.shape}, onnxruntime {ref.shape}")
worst = float((np.abs(ours - ref) / np.maximum(1, np.abs(ref))).max())
print(f"{sys.argv[3]}: {'x'.join(map(str, ref.shape))}, worst |ours - ort| / max(1, |ort|) = {worst:.2e}")
if not worst <= 1e-4:
    sys.exit(f"FAIL: {sys.argv[3]} differs from onnxruntime")
PY
    then
        failures=$((failures + 1))
    fi
    count=$((count + 1))
done < <(python3 -c "
import json
for case in json.load(open('$work/zoo/manifest.json'))['cases']:
    print(case['model'], case['inputs']['input'], case['outputs']['output'])")

"$HEMO" model info "$work/zoo/nnunet_3d.onnx" --input "$work/zoo/nnunet_3d.b1.input.npy" > "$work/info.out"
for pattern in '^flops: [0-9.]* GFLOP per run' '^activation memory: [0-9.]* MB' 'InstanceNormalization'; do
    grep -q "$pattern" "$work/info.out" || { cat "$work/info.out"; echo "FAIL: hemo model info lacks '$pattern'"; exit 1; }
done
"$HEMO" model bench "$work/zoo/mobilevit.onnx" --input "$work/zoo/mobilevit.b1.input.npy" --threads 2 > "$work/bench.out"
grep -qE ' [0-9.]+ ms per run' "$work/bench.out" || { cat "$work/bench.out"; echo "FAIL: hemo model bench prints no 'ms per run'"; exit 1; }

((count >= 9)) || { echo "FAIL: only $count architectures exported"; exit 1; }
((failures == 0)) || { echo "FAIL: $failures of $count architectures"; exit 1; }
echo "PASS: $count architectures at real widths match onnxruntime within 1e-4; model info and bench work"
