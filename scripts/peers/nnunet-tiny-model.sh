#!/usr/bin/env bash
# Prints the path of a tiny trained nnU-Net v2 results folder (Dataset950_HemoTiny: 3d_fullres
# folds 0 and 1, 2d fold 0), making it first when it is not cached. System tests 62 and 64 both
# compare hemo with nnUNetv2_predict on this one model; it is made once and reused.
#
# How: scripts/peers/nnunet-reference.py writes the training set (`cohort`, seed 7, 6 training
# CTs of 12 x 48 x 40 at 2 x 1 x 1 mm), plans it with nnU-Net's own planner and trains each fold
# for 6 steps with fixed seeds (`model`), inside the nnU-Net virtualenv (nnunet-venv.sh).
# The result is kept under ${HEMO_TEST_CACHE:-/var/tmp/hemo-test-cache}/nnunet-tiny/KEY, where
# KEY is the SHA-256 of nnunet-reference.py, the virtualenv's requirements and the options above:
# any change to them makes a new model. The folder is made in a scratch folder and renamed into
# place, so a half-made model is never reused. HEMO_NNUNET_TINY_FRESH=1 ignores the cache.
#
# Usage: scripts/peers/nnunet-tiny-model.sh   (last line: the results folder)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="$("$here/nnunet-venv.sh")"
ref="$here/nnunet-reference.py"
recipe="cohort --cases 0 --size 12 48 40 --seed 7; model 3d_fullres --folds 0,1 --steps 6; model 2d --folds 0 --steps 6"
stamp="$(dirname "$(dirname "$py")")/.hemocluster-requirements"
key="$( { sha256sum "$ref" | cut -d' ' -f1; cat "$stamp"; echo "$recipe"; } | sha256sum | cut -c1-16)"
cache="${HEMO_TEST_CACHE:-/var/tmp/hemo-test-cache}/nnunet-tiny"
target="$cache/$key"
if [[ "${HEMO_NNUNET_TINY_FRESH:-0}" != 1 && -f "$target/.complete" ]]; then
    echo "nnunet-tiny-model: reusing $target" >&2
    echo "$target/Dataset950_HemoTiny"
    exit 0
fi
mkdir -p "$cache"
scratch="$(mktemp -d "$cache/.making.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export nnUNet_raw="$scratch/raw" nnUNet_preprocessed="$scratch/pre" nnUNet_results="$scratch/model"
started=$SECONDS
if ! { "$py" "$ref" cohort "$scratch/unused" --cases 0 --size 12 48 40 --seed 7 \
        && "$py" "$ref" model --configuration 3d_fullres --folds 0,1 --steps 6 \
        && "$py" "$ref" model --configuration 2d --folds 0 --steps 6; } >"$scratch/make.log" 2>&1; then
    tail -n 20 "$scratch/make.log" >&2
    echo "nnunet-tiny-model: making the tiny nnU-Net failed" >&2
    exit 1
fi
grep '^model ' "$scratch/make.log" >&2
touch "$scratch/model/.complete"
# A stale folder (HEMO_NNUNET_TINY_FRESH=1) goes first. Another run may have finished the same
# model meanwhile: then its copy, made by the same recipe, stays.
[[ "${HEMO_NNUNET_TINY_FRESH:-0}" == 1 ]] && rm -rf "$target"
mv -T "$scratch/model" "$target" 2>/dev/null || [[ -f "$target/.complete" ]] ||
    { echo "nnunet-tiny-model: cannot move the model into $target" >&2; exit 1; }
echo "nnunet-tiny-model: made $target in $((SECONDS - started)) s" >&2
echo "$target/Dataset950_HemoTiny"
