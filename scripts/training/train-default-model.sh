#!/usr/bin/env bash
# Train HemoCluster's default model, export it with a format-2 sidecar, calibrate the sidecar's
# post-processing filter on a validation cohort, evaluate it with `hemo infer` + `hemo eval` on
# held-out cohorts and write those figures, per subtype, into the sidecar.
#
#   scripts/training/train-default-model.sh [train-default-model.py options, e.g. --train-seeds 1000,1001]
#
# Deterministic by step counts and seeds (STEPS1, STEPS2, the synth seeds, --seed), never by the
# wall clock: the same machine kind gives the same model.
#
# Python: $PYTHON when set, else python3 when it imports torch, onnx, nibabel, scipy and
# onnxruntime (a PyPI torch), else Debian's python3-torch, python3-onnx, python3-nibabel,
# python3-scipy through apt with a venv holding onnxruntime from PyPI.
#
# Cohorts (scratch under WORK, never in the repo):
#   training    hemo synth seeds 1000, 1001, 1002 (30 exams each, slice thickness 1-5 mm; with
#               --real-scan-mimics when REAL_SCAN_MIMICS=1)
#   validation  hemo synth seed 3000 (16 exams, the same options): calibration of postprocess.filter only
#   held-out    hemo synth seed 77 (20 exams, 5 mm) and seed 5001 (4 exams, 1 mm slices): evaluation only
#
# Environment: WORK (default /tmp/hemo-train), HEMO (default .build/release/hemo, built when
#              missing), STEPS1 / STEPS2 / STEPS3 (optimizer steps of the three stages; STEPS3=0 ends
#              after stage 2), SUBTYPE_WEIGHTS3 (stage 3's crop odds and loss factors), SKIP_CALIBRATION=1,
#              SKIP_EVAL=1, INIT_ONNX (see stage 1 below), EVAL_1MM_CASES (default 4), EVAL_ONLY=1
#              (no training or calibration: re-evaluate the model in the repo and rewrite its figures),
#              NORMAL_SEEDS3 (extra normal-head cohorts for stage 3, see below), NORMAL_FP_BUDGET_ML (calibration: the most predicted
#              blood a filter may keep on any normal validation exam; default no limit).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-/tmp/hemo-train}
HEMO=${HEMO:-.build/release/hemo}
STEPS1=${STEPS1:-2000}
STEPS2=${STEPS2:-500}
STEPS3=${STEPS3:-600}
SUBTYPE_WEIGHTS3=${SUBTYPE_WEIGHTS3:-1,1,1,1.5,3}
# REAL_SCAN_MIMICS=1: real-scan mimics in the training and validation cohorts (hemo synth
# --real-scan-mimics): the looks of real exams (skull stripping, dense cisterns, skull partial
# volume, correlated noise) on which a phantom-only model marks blood. The held-out cohorts stay
# plain. Default 0: the bundled model was trained without them (issue #16's experiment is in the README).
REAL_SCAN_MIMICS=${REAL_SCAN_MIMICS:-0}
mimics=()
[[ "$REAL_SCAN_MIMICS" == 1 ]] && mimics=(--real-scan-mimics)
# NORMAL_SEEDS3: stage 3 also trains on these hemo synth seeds' cohorts of normal heads only
# (30 each, --positive-fraction 0, with the real-scan mimics when REAL_SCAN_MIMICS=1), so the crops
# drawn anywhere meet more blood-free mimics. Default with REAL_SCAN_MIMICS=1: seed 1003; else none.
NORMAL_SEEDS3=${NORMAL_SEEDS3-$([[ "$REAL_SCAN_MIMICS" == 1 ]] && echo 1003)}
normals3=()
[[ -n "$NORMAL_SEEDS3" ]] && normals3=(--normal-seeds "$NORMAL_SEEDS3")
# One torch thread: on a shared, loaded machine two threads measured 4-6x slower per step.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
MODEL=Sources/HemoInference/DefaultModel/hemo-default.onnx
SIDECAR=${MODEL%.onnx}.json
mkdir -p "$WORK"
started=$(date +%s)

imports="import torch, onnx, nibabel, scipy, numpy, onnxruntime"
if [[ -n "${PYTHON:-}" ]]; then
    PY=$PYTHON
elif python3 -c "$imports" 2>/dev/null; then
    PY=python3
else
    need=()
    for pkg in python3-torch python3-nibabel python3-numpy python3-scipy python3-onnx python3-venv; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    if ((${#need[@]})); then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
    fi
    VENV=${VENV:-$WORK/venv}
    [[ -x "$VENV/bin/python" ]] || /usr/bin/python3 -m venv --system-site-packages "$VENV"
    "$VENV/bin/python" -c "import onnxruntime" 2>/dev/null || "$VENV/bin/pip" install onnxruntime
    PY=$VENV/bin/python
fi
if [[ ! -x "$HEMO" ]]; then
    swift build -c release --product hemo
fi
echo "python: $PY ($("$PY" -c 'import torch; print("torch", torch.__version__)'))"

# Stage 1: from scratch, batch norm in training mode (or INIT_ONNX=FILE: start from that exported
# model instead, e.g. the previous default model, and skip stage 1; the sidecar records its
# SHA-256). Stage 2: warm start from stage 1 with the batch norms frozen as per-channel biases
# (inference sees exactly what training saw), the per-class loss and class balancing. Stage 3: from
# stage 2, the same, with crops and loss weighted towards IPH and IVH (SUBTYPE_WEIGHTS3), which
# stage 2 still confuses (blood in the ventricles called IPH).
stage1=${INIT_ONNX:-$WORK/stage1/hemo-default.onnx}
if [[ "${EVAL_ONLY:-0}" == 1 ]]; then
    echo "EVAL_ONLY=1: evaluating $MODEL as it is"
elif [[ -z "${INIT_ONNX:-}" ]]; then
    "$PY" scripts/training/train-default-model.py --hemo "$HEMO" --work "$WORK" \
        --lr 5e-3 --steps "$STEPS1" --out "$stage1" "${mimics[@]}" "$@"
elif [[ "$INIT_ONNX" -ef "$MODEL" ]]; then
    cp "$INIT_ONNX" "$WORK/init.onnx"; stage1=$WORK/init.onnx
fi
if [[ "${EVAL_ONLY:-0}" != 1 ]]; then
    stage2=$MODEL
    ((STEPS3 > 0)) && stage2=$WORK/stage2/hemo-default.onnx
    "$PY" scripts/training/train-default-model.py --hemo "$HEMO" --work "$WORK" \
        --lr 2e-3 --steps "$STEPS2" --init-onnx "$stage1" --out "$stage2" "${mimics[@]}" "$@"
    if ((STEPS3 > 0)); then
        "$PY" scripts/training/train-default-model.py --hemo "$HEMO" --work "$WORK" \
            --lr 1e-3 --steps "$STEPS3" --subtype-weights "$SUBTYPE_WEIGHTS3" --init-onnx "$stage2" --out "$MODEL" "${mimics[@]}" "${normals3[@]}" "$@"
    fi
    echo "training: $(( $(date +%s) - started )) s wall, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    init_note="stage 1 from scratch"
    [[ -n "${INIT_ONNX:-}" ]] && init_note="no stage 1, warm start from INIT_ONNX (sha256 $(sha256sum "$stage1" | cut -d' ' -f1))"
    # The sidecar's training object describes the last stage; record the whole recipe beside it.
    "$PY" - "$SIDECAR" "STEPS1=$STEPS1 (from scratch, lr 5e-3), STEPS2=$STEPS2 (batch norms frozen, lr 2e-3), STEPS3=$STEPS3 (SUBTYPE_WEIGHTS3=$SUBTYPE_WEIGHTS3, lr 1e-3), REAL_SCAN_MIMICS=$REAL_SCAN_MIMICS, NORMAL_SEEDS3=${NORMAL_SEEDS3:-none}, $init_note, OMP_NUM_THREADS=$OMP_NUM_THREADS, extra options: ${*:-none}" <<'PY'
import json, os, sys
sys.path.insert(0, "scripts/training")
import default_model_sidecar
path, recipe = sys.argv[1:]
sidecar = json.load(open(path))
sidecar.setdefault("training", {})["recipe"] = "scripts/training/train-default-model.sh: " + recipe
default_model_sidecar.write_sidecar(path, sidecar)
PY
fi

if [[ "${SKIP_CALIBRATION:-0}" != 1 && "${EVAL_ONLY:-0}" != 1 ]]; then
    cohort="$WORK/val-3000${mimics:+-mimics}"
    [[ -f "$cohort/weak_labels.csv" ]] || "$HEMO" synth --out "$cohort" --cases 16 --seed 3000 --gzip-level 1 "${mimics[@]}"
    budget=()
    [[ -n "${NORMAL_FP_BUDGET_ML:-}" ]] && budget=(--normal-fp-budget-ml "$NORMAL_FP_BUDGET_ML")
    "$PY" scripts/training/calibrate-default-model.py --model "$MODEL" --cohort "$cohort" --write-sidecar "${budget[@]}" \
        --cohorts-note "hemo synth --cases 16 --seed 3000 --gzip-level 1 ${mimics[*]} (validation; never training, never held-out)"
fi
[[ "${SKIP_EVAL:-0}" == 1 ]] && exit 0

# Held-out evaluation with the product itself: hemo infer, then hemo eval; the figures go into
# the sidecar's training.held_out_results by scripts/training/held_out_figures.py.
figures=()
for spec in "77 20 5" "5001 ${EVAL_1MM_CASES:-4} 1"; do
    read -r seed cases thickness <<<"$spec"
    cohort="$WORK/eval-$seed"
    [[ -f "$cohort/weak_labels.csv" ]] || "$HEMO" synth --out "$cohort" --cases "$cases" --seed "$seed" \
        --slice-thickness "$thickness" --gzip-level 1
    "$HEMO" infer --model "$MODEL" --cohort "$cohort" --out "$WORK/pred-$seed" --force
    "$HEMO" eval --pred "$WORK/pred-$seed" --truth "$cohort" --json "$WORK/eval-$seed.json" | tee "$WORK/eval-$seed.txt"
    figures+=(--eval "seed_${seed}_${thickness}mm=$WORK/eval-$seed.json")
done
# The first 6 exams of seed 77 (case i depends only on the seed and i): the exact cohort of system
# test 42-default-model-floor.sh, so its floor compares like with like.
cohort="$WORK/eval-77-first-6"
[[ -f "$cohort/weak_labels.csv" ]] || "$HEMO" synth --out "$cohort" --cases 6 --seed 77 --slice-thickness 5 --gzip-level 1
"$HEMO" eval --pred "$WORK/pred-77" --truth "$cohort" --json "$WORK/eval-77-first-6.json" > "$WORK/eval-77-first-6.txt"
figures+=(--eval "seed_77_5mm_first_6=$WORK/eval-77-first-6.json")
if [[ "${EVAL_ONLY:-0}" == 1 ]]; then
    note="re-evaluated by scripts/training/train-default-model.sh (EVAL_ONLY=1)"
else
    note="written by scripts/training/train-default-model.sh after $(( $(date +%s) - started )) s wall"
fi
"$PY" scripts/training/held_out_figures.py --sidecar "$SIDECAR" "${figures[@]}" \
    --note "$note, load average $(cut -d' ' -f1-3 /proc/loadavg)"
