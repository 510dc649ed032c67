#!/usr/bin/env bash
# Prints the path of a Python that runs nnU-Net v2 on the CPU (its dataset loader and checks,
# and its predictor nnUNetv2_predict), creating its virtualenv first when missing or out of date.
# Idempotent. The one nnU-Net virtualenv of the project: used by scripts/peers/check-nnunet.sh,
# scripts/system-tests/62-nnunet-equivalence.sh and scripts/bench/nnunet.sh.
#
# How, and why:
# - nnunetv2 imports torch even for the dataset checks. The virtualenv is made with
#   --system-site-packages over the python3 on PATH, so it sees that Python's torch, onnx and
#   numpy. When that python3 has no torch, the torch the model-zoo fixtures pin
#   (scripts/fixtures/make-model-zoo-fixtures.py) is installed into it from PyPI first.
# - nnunetv2 declares torch>=2.1.2 and a long list of training-time dependencies. nnunetv2,
#   batchgenerators, batchgeneratorsv2, acvl-utils and dynamic-network-architectures are
#   installed with --no-deps (they would pull another torch), plus only the packages the dataset
#   and inference paths import (the trainer class is imported to rebuild the network), which
#   resolve normally.
# - Everything pip installs is constrained to the system numpy (which torch is built against), so
#   pip never replaces it with a numpy torch cannot load.
# - The virtualenv lives at ${XDG_CACHE_HOME:-$HOME/.cache}/hemocluster/nnunet-venv, never in the
#   repository nor the system Python, and is reused while the requirements below are unchanged.
#   Needs PyPI the first time (about 1 minute, 0.6 GB); python3-venv comes from apt when missing.
#
# Environment: NNUNET_VERSION, the nnunetv2 version to install (default 2.8.1).
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/hemocluster/nnunet-venv"
system_python="$(command -v python3)"
if ! "$system_python" -c 'import ensurepip, venv' 2>/dev/null; then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "nnunet-venv: installing Debian's python3-venv (apt-get)" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >&2
fi
if ! "$system_python" -c 'import torch' 2>/dev/null; then
    torch_pin="$(grep -o '"torch": "[0-9.]*"' "$(dirname "$0")/../fixtures/make-model-zoo-fixtures.py" | grep -o '[0-9.]*[0-9]')"
    echo "nnunet-venv: installing torch==${torch_pin} for $system_python" >&2
    "$system_python" -m pip install -q "torch==${torch_pin}" >&2 \
        || { echo "nnunet-venv: $system_python cannot import torch, and pip could not install it" >&2; exit 1; }
fi
numpy_version="$("$system_python" -c 'import numpy; print(numpy.__version__)')"
no_deps=("nnunetv2==${NNUNET_VERSION:-2.8.1}" "batchgenerators==0.25.5" "batchgeneratorsv2==0.3.6" "acvl-utils==0.2.6"
         "dynamic-network-architectures==0.4.4")
with_deps=("pandas" "scikit-image" "scikit-learn" "nibabel" "SimpleITK" "blosc2" "tqdm" "connected-components-3d"
           "matplotlib" "seaborn" "yacs")
wanted="python=$("$system_python" -V 2>&1) numpy==${numpy_version} ${no_deps[*]} ${with_deps[*]}"
stamp="$venv/.hemocluster-requirements"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "nnunet-venv: preparing $venv" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$system_python" -m venv --system-site-packages "$venv"
    echo "numpy==${numpy_version}" >"$venv/constraints.txt"
    pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input -q)
    # pip's resolver complains that nnunetv2's declared requirements (torch>=2.1.2, ...) are
    # unmet; that is intended here, so its report goes to a log instead of the terminal.
    "${pip[@]}" install -c "$venv/constraints.txt" "${with_deps[@]}" >"$venv/pip.log" 2>&1 \
        || { cat "$venv/pip.log" >&2; echo "nnunet-venv: pip install failed" >&2; exit 1; }
    "${pip[@]}" install --no-deps "${no_deps[@]}" >>"$venv/pip.log" 2>&1 \
        || { cat "$venv/pip.log" >&2; echo "nnunet-venv: pip install failed" >&2; exit 1; }
    "$venv/bin/python" -c 'import nnunetv2.inference.predict_from_raw_data, nnunetv2.training.nnUNetTrainer.nnUNetTrainer' \
        || { echo "nnunet-venv: nnU-Net does not import in $venv" >&2; exit 1; }
    echo "$wanted" >"$stamp"
fi
echo "$venv/bin/python"
