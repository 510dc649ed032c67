#!/usr/bin/env bash
# Prints the path of a Python that runs nnU-Net v2's predictor (nnUNetv2_predict) on the CPU,
# creating its virtualenv first when missing or out of date. Idempotent.
#
# Like scripts/peers/check-nnunet.sh, the virtualenv sees the python3 on PATH through
# --system-site-packages (its torch, onnx, numpy); on top it installs nnunetv2 and the packages
# its *inference* path imports (the trainer class is imported to rebuild the network), all
# constrained to the system numpy. nnunetv2, batchgenerators, batchgeneratorsv2, acvl-utils and
# dynamic-network-architectures come without their declared dependencies (they would pull
# another torch); the rest resolves normally. The virtualenv lives at
# ${XDG_CACHE_HOME:-$HOME/.cache}/hemocluster/nnunet-predict-venv and is reused while the
# requirements below are unchanged. Used by scripts/system-tests/62-nnunet-equivalence.sh and
# scripts/bench/nnunet.sh. Needs PyPI the first time (about 1 minute).
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/hemocluster/nnunet-predict-venv"
system_python="$(command -v python3)"
if ! "$system_python" -c 'import torch' 2>/dev/null; then
    # The torch the model-zoo fixtures pin (scripts/fixtures/make-model-zoo-fixtures.py), from PyPI.
    torch_pin="$(grep -o '"torch": "[0-9.]*"' "$(dirname "$0")/../fixtures/make-model-zoo-fixtures.py" | grep -o '[0-9.]*[0-9]')"
    echo "nnunet-predict-venv: installing torch==${torch_pin} for $system_python" >&2
    "$system_python" -m pip install -q "torch==${torch_pin}" >&2 \
        || { echo "nnunet-predict-venv: $system_python cannot import torch, and pip could not install it" >&2; exit 1; }
fi
numpy_version="$("$system_python" -c 'import numpy; print(numpy.__version__)')"
no_deps=("nnunetv2==2.8.1" "batchgenerators==0.25.5" "batchgeneratorsv2==0.3.6" "acvl-utils==0.2.6"
         "dynamic-network-architectures==0.4.4")
with_deps=("pandas" "scikit-image" "scikit-learn" "nibabel" "SimpleITK" "blosc2" "tqdm" "connected-components-3d"
           "matplotlib" "seaborn" "yacs")
wanted="python=$("$system_python" -V 2>&1) numpy==${numpy_version} ${no_deps[*]} ${with_deps[*]}"
stamp="$venv/.hemocluster-requirements"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "nnunet-predict-venv: preparing $venv" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$system_python" -m venv --system-site-packages "$venv"
    echo "numpy==${numpy_version}" >"$venv/constraints.txt"
    pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input -q)
    "${pip[@]}" install -c "$venv/constraints.txt" "${with_deps[@]}" >"$venv/pip.log" 2>&1 \
        || { cat "$venv/pip.log" >&2; echo "nnunet-predict-venv: pip install failed" >&2; exit 1; }
    "${pip[@]}" install --no-deps "${no_deps[@]}" >>"$venv/pip.log" 2>&1 \
        || { cat "$venv/pip.log" >&2; echo "nnunet-predict-venv: pip install failed" >&2; exit 1; }
    "$venv/bin/python" -c 'import nnunetv2.inference.predict_from_raw_data, nnunetv2.training.nnUNetTrainer.nnUNetTrainer' \
        || { echo "nnunet-predict-venv: nnU-Net's predictor does not import in $venv" >&2; exit 1; }
    echo "$wanted" >"$stamp"
fi
echo "$venv/bin/python"
