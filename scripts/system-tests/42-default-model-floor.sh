#!/usr/bin/env bash
# System test: the bundled default model holds the floor set by its own held-out figures. It
# retrains nothing: `hemo synth` makes the first CASES (default 6) exams of the held-out cohort
# (seed 77, 5 mm; never training or calibration data; case i depends only on seed and i),
# `hemo infer` pseudo-labels them with the bundled model and `hemo eval --json` scores them. The
# floor is each figure that scripts/training/train-default-model.sh wrote into the sidecar for
# these very exams (training.held_out_results.cohorts.seed_77_5mm_first_6) minus MARGIN (0.05):
# pooled Dice and slice F1 per subtype. (A sidecar without that cohort: its 20-exam figures, minus
# 2 x MARGIN for subtypes with fewer than 3 truth lesions in the small cohort.)
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
HEMO="${HEMO:-$root/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
PY=${PYTHON:-python3}
CASES=${CASES:-6}
MARGIN=${MARGIN:-0.05}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$HEMO" synth --out "$work/cohort" --cases "$CASES" --seed 77 --slice-thickness 5 > /dev/null
"$HEMO" infer --cohort "$work/cohort" --out "$work/pred" --threads 2 > "$work/infer.out" 2> "$work/infer.err" \
    || { cat "$work/infer.err"; echo "FAIL: hemo infer"; exit 1; }
"$HEMO" eval --pred "$work/pred" --truth "$work/cohort" --json "$work/eval.json" > "$work/eval.md" \
    || { echo "FAIL: hemo eval"; exit 1; }
"$PY" - "$root/Sources/HemoInference/DefaultModel/hemo-default.json" "$work/eval.json" "$MARGIN" <<'PY'
import json, sys
sidecar, report, margin = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), float(sys.argv[3])
cohorts = sidecar.get("training", {}).get("held_out_results", {}).get("cohorts", {})
same = f"seed_77_5mm_first_{len(report['cases']['evaluated'])}"
try:
    figures = cohorts[same if same in cohorts else "seed_77_5mm"]["per_subtype"]
except KeyError:
    print("FAIL: the sidecar has no training.held_out_results.cohorts.seed_77_5mm (run scripts/training/train-default-model.sh)")
    sys.exit(1)
failures, rows = [], []
for target, fig in figures.items():
    seg = report["segmentation"].get(target) or {}
    sl = report["slice_level"].get(target) or {}
    lesions = (seg.get("lesions") or {}).get("truth_lesions") or 0
    if lesions == 0:
        rows.append(f"{target:5} no truth lesion in the small cohort")
        continue
    m = margin if (same in cohorts or target == "any" or lesions >= 3) else 2 * margin
    for key, got in (("pooled_dice", seg.get("pooled_dice")), ("slice_f1", sl.get("f1"))):
        want = fig.get(key)
        if want is None:
            continue
        floor = want - m
        ok = got is not None and got >= floor
        rows.append(f"{target:5} {key:12} {got if got is None else round(got, 4)!s:>8}  floor {floor:.4f} "
                    f"(sidecar {want:.4f} - {m:.2f}; {lesions} truth lesions){'' if ok else '  BELOW'}")
        if not ok:
            failures.append(f"{target} {key} {got} < {floor:.4f}")
print(f"floor from the sidecar's cohort {same if same in cohorts else 'seed_77_5mm (20 exams)'}")
print("\n".join(rows))
if failures:
    print("FAIL: below the floor: " + "; ".join(failures)); sys.exit(1)
print("PASS: the bundled model holds the floor of its sidecar figures (pooled Dice and slice F1 per subtype) "
      "on the first exams of the held-out cohort")
PY
