#!/usr/bin/env bash
# Checks that a HemoCluster release is accepted by nnU-Net v2's own dataset loader.
#
# Not part of the Swift test suite (which needs neither Python nor the network): this is an
# interoperability check a developer or a release manager runs by hand.
#
# How nnU-Net is installed, and why:
# - nnunetv2 imports torch even for the dataset checks. The torch wheel on PyPI pulls several GB
#   of CUDA libraries (nvidia-*), and the CPU-only wheels are not on PyPI. Debian's
#   python3-torch (1.13, CPU) is about 150 MB of packages, so we use it: from apt, for
#   /usr/bin/python3 (3.11), and a virtualenv made with --system-site-packages so it sees it.
# - nnunetv2 declares torch>=2.1.2 and a long list of training-time dependencies; none of the
#   code on the dataset path needs torch 2 or those packages. So nnunetv2, batchgenerators and
#   acvl-utils are installed with --no-deps, plus only the packages their import path really
#   needs (found by trying): pandas, scikit-image, nibabel, SimpleITK, blosc2, tqdm.
# - Everything pip installs is constrained to Debian's numpy (which python3-torch is built
#   against), so pip never replaces it with a numpy that torch cannot load. Under that
#   constraint pip picks blosc2 2.x, older than nnunetv2's declared >=3.3.2; blosc2 is only
#   imported on this path (nnU-Net uses it to write preprocessed data), so that is fine here.
# - The virtualenv lives under ${XDG_CACHE_HOME:-$HOME/.cache}/hemocluster/nnunet-venv, never
#   in the repository and never in the system Python; it is reused while the pinned
#   requirements below are unchanged.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/peers/check-nnunet.sh [--keep] [--no-fingerprint] [RELEASE]

Loads a HemoCluster release with nnU-Net v2 (nnunetv2 from PyPI) and fails if nnU-Net
rejects it. The release is linked as $nnUNet_raw/Dataset901_HemoCluster/ with nnUNet_raw,
nnUNet_preprocessed and nnUNet_results set to temporary folders, then the check runs
nnU-Net's dataset-name lookup, get_filenames_of_train_images_and_targets, LabelManager,
its reader/writer selection, verify_dataset_integrity (num_processes=1), its per-case
geometry check (warnings count as failures) and its dataset fingerprint extraction.

Without RELEASE, it writes a tiny synthetic cohort (3 cases, 64x64x8, the last one
without annotations) with scripts/fixtures/make-tiny-cohort.py, builds hemo with scripts/setup.sh
(or uses $HEMO if set) and runs `hemo build` on it. Then it also checks that the
foreground intensities nnU-Net samples are the synthetic lesions' HU values (55..75),
i.e. that nnU-Net reads labels and images aligned.

Needs: Debian's python3-torch and python3-venv (installed with apt-get when missing, as
root or through sudo) and PyPI for the virtualenv at
${XDG_CACHE_HOME:-$HOME/.cache}/hemocluster/nnunet-venv (about 0.6 GB).

Options:
  --keep            keep the temporary folder (cohort, release, nnUNet_* folders)
  --no-fingerprint  skip the dataset fingerprint extraction
  -h, --help        show this help

Environment:
  HEMO              path of a built hemo binary to use instead of building one
  NNUNET_VERSION    nnunetv2 version to install (default 2.8.1)

Exit status: 0 when nnU-Net accepts the release, 1 when it rejects it (nnU-Net's message
is printed), 2 on bad usage.
USAGE
}

keep=0
fingerprint=1
release=""
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --keep) keep=1 ;;
        --no-fingerprint) fingerprint=0 ;;
        -*) echo "check-nnunet: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *)
            [[ -z "$release" ]] || { echo "check-nnunet: only one RELEASE may be given (see --help)" >&2; exit 2; }
            release="$1" ;;
    esac
    shift
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
started=$SECONDS
dataset_id=901
dataset_name="Dataset${dataset_id}_HemoCluster"
nnunet_version="${NNUNET_VERSION:-2.8.1}"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/hemocluster/nnunet-venv"
# A python3 on PATH that already imports torch (e.g. pip's, with PyPI's torch) is used as it is;
# otherwise Debian's python3 with Debian's python3-torch (installed below).
if python3 -c 'import torch' >/dev/null 2>&1; then
    system_python="$(python3 -c 'import sys; print(sys.executable)')"
else
    system_python=/usr/bin/python3   # Debian's python, the one python3-torch is built for
fi

if [[ -n "$release" ]]; then
    [[ -f "$release/dataset.json" ]] || { echo "check-nnunet: $release has no dataset.json; is it a release?" >&2; exit 2; }
    release="$(cd "$release" && pwd)"
fi

# --- Debian packages: torch (CPU) and venv support --------------------------------------------
missing=()
"$system_python" -c 'import torch' 2>/dev/null || missing+=(python3-torch)
"$system_python" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "check-nnunet: installing Debian's ${missing[*]} (apt-get)" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# --- The virtualenv ---------------------------------------------------------------------------
numpy_version="$("$system_python" -c 'import numpy; print(numpy.__version__)')"
# Installed without their declared dependencies (see the header).
no_deps=("nnunetv2==${nnunet_version}" "batchgenerators==0.25.5" "acvl-utils==0.2.6")
# What the dataset path imports, resolved with their own dependencies under the numpy pin.
with_deps=("pandas" "scikit-image" "nibabel" "SimpleITK" "blosc2" "tqdm")
stamp="$venv/.hemocluster-requirements"
wanted="python=$("$system_python" -V 2>&1) numpy==${numpy_version} ${no_deps[*]} ${with_deps[*]}"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "check-nnunet: preparing $venv" >&2
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    "$system_python" -m venv --system-site-packages "$venv"
    constraints="$venv/constraints.txt"
    echo "numpy==${numpy_version}" >"$constraints"
    pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input -q)
    # pip's resolver complains that nnunetv2's declared requirements (torch>=2.1.2, ...) are
    # unmet; that is intended here, so its report goes to a log instead of the terminal.
    "${pip[@]}" install -c "$constraints" "${with_deps[@]}" >"$venv/pip.log" 2>&1 \
        || { cat "$venv/pip.log" >&2; echo "check-nnunet: pip install failed" >&2; exit 1; }
    "${pip[@]}" install --no-deps "${no_deps[@]}" >>"$venv/pip.log" 2>&1 \
        || { cat "$venv/pip.log" >&2; echo "check-nnunet: pip install failed" >&2; exit 1; }
    echo "$wanted" >"$stamp"
fi
python="$venv/bin/python"

# --- Work folder ------------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/check-nnunet.XXXXXX")"
if ((keep)); then
    echo "check-nnunet: keeping $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi

checker_args=("$dataset_id")
if ((!fingerprint)); then
    checker_args+=(--no-fingerprint)
fi
if [[ -z "$release" ]]; then
    hemo="${HEMO:-}"
    if [[ -z "$hemo" ]]; then
        hemo="$("$repo/scripts/setup.sh" --release | tail -n 1)"
    fi
    [[ -x "$hemo" ]] || { echo "check-nnunet: no hemo binary at '$hemo'" >&2; exit 1; }
    "$python" "$repo/scripts/fixtures/make-tiny-cohort.py" "$work/cohort" --cases 3 --in-plane 64 --slices 8
    "$hemo" build --cohort "$work/cohort" --out "$work/release" --threads 1
    release="$work/release"
    # The synthetic lesions are drawn with HU 55..75 and nothing else in the brain is that
    # dense, so nnU-Net's foreground samples must all fall in that range.
    if ((fingerprint)); then
        checker_args+=(--expect-foreground-hu 55 75)
    fi
fi

export nnUNet_raw="$work/nnUNet_raw"
export nnUNet_preprocessed="$work/nnUNet_preprocessed"
export nnUNet_results="$work/nnUNet_results"
mkdir -p "$nnUNet_raw" "$nnUNet_preprocessed" "$nnUNet_results"
ln -s "$release" "$nnUNet_raw/$dataset_name"

# --- nnU-Net's checks -------------------------------------------------------------------------
status=0
"$python" "$repo/scripts/peers/nnunet-load-dataset.py" "${checker_args[@]}" || status=$?
venv_size="$(du -sh "$venv" | cut -f1)"
if ((status == 0)); then
    echo "check-nnunet: OK, nnU-Net v2 accepts $release ($((SECONDS - started)) s, venv $venv_size at $venv)"
else
    echo "check-nnunet: FAILED, nnU-Net v2 rejects $release (see above; $((SECONDS - started)) s)" >&2
    exit 1
fi
