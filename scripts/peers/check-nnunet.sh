#!/usr/bin/env bash
# Checks that a HemoCluster release is accepted by nnU-Net v2's own dataset loader.
#
# Not part of the Swift test suite (which needs neither Python nor the network): this is an
# interoperability check a developer or a release manager runs by hand.
#
# nnU-Net comes from the project's one nnU-Net virtualenv (scripts/peers/nnunet-venv.sh, which
# says how and why).
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

Needs: a python3 with torch (else PyPI's pinned torch is installed into it), python3-venv
(installed with apt-get when missing, as root or through sudo) and PyPI for the virtualenv at
${XDG_CACHE_HOME:-$HOME/.cache}/hemocluster/nnunet-venv (about 0.6 GB;
scripts/peers/nnunet-venv.sh).

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
if [[ -n "$release" ]]; then
    [[ -f "$release/dataset.json" ]] || { echo "check-nnunet: $release has no dataset.json; is it a release?" >&2; exit 2; }
    release="$(cd "$release" && pwd)"
fi

# --- The virtualenv ---------------------------------------------------------------------------
python="$("$repo/scripts/peers/nnunet-venv.sh")"
venv="$(dirname "$(dirname "$python")")"

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
