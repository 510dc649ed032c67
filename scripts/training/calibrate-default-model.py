#!/usr/bin/env python3
"""Calibrate the default model's post-processing on a VALIDATION cohort (never the held-out one).

Runs the model the way the sidecar says (through scripts/bench/infer_peer.py's Pipeline), records
per slice the classifier's p_any and whether the truth has hemorrhage, and per 8-connected 2D
component of the argmax mask its subtype, size, mean softmax score and overlap with the truth.
Then it scores every rule of the grid

    keep a component iff pixels >= min_pixels[subtype] and score >= min_score,
    and keep a slice's components iff p_any >= min_p_any

by slice-level F1 (any) and pooled binary lesion Dice, and prints the best rules, each with the
predicted blood it keeps on the worst NORMAL exam of the validation cohort (no blood in its truth;
with `hemo synth --real-scan-mimics` these carry the looks of real scans). With
--normal-fp-budget-ml ML a rule is eligible only when every normal exam keeps at most ML (when no
rule is, the one with the smallest worst-case normal-exam volume wins); without it, the criterion
is slice F1 + Dice alone. Real exams are never calibration data. The chosen
values go into the sidecar's `postprocess.filter` (format_version 2), see ModelSidecar.md: with
--write-sidecar the best uniform rule (the criterion below) is written into MODEL.json, with its
validation figures (scripts/training/train-default-model.sh does this after training).

Usage:
  hemo synth --out /tmp/val-3000 --cases 20 --seed 3000
  python3 scripts/training/calibrate-default-model.py --model Sources/HemoInference/DefaultModel/hemo-default.onnx \
      --cohort /tmp/val-3000 [--cohort /tmp/val-3001] [--write-sidecar]
"""
import argparse
import hashlib
import importlib.util
import itertools
import json
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("infer_peer", os.path.join(HERE, "..", "bench", "infer_peer.py"))
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
sys.path.insert(0, HERE)
import default_model_sidecar  # noqa: E402  (beside this script)

EVAL_SEEDS_FORBIDDEN = {77, 5001}


def collect(pipe, cohort):
    # slices: (truth_pos, truth_pixels, p_any, case_index, ml_per_voxel, case_is_normal);
    # comps: (slice_index, subtype, pixels, score, overlap, voxels of its 3D component)
    slices, comps = [], []
    cases = sorted(d for d in os.listdir(cohort) if os.path.isfile(os.path.join(cohort, d, "ct.nii.gz")))
    eight = np.ones((3, 3), dtype=bool)
    for case_index, case in enumerate(cases):
        img = nib.load(os.path.join(cohort, case, "ct.nii.gz"))
        ml_per_voxel = float(np.prod(img.header.get_zooms()[:3])) / 1000.0
        hu = np.ascontiguousarray(np.asarray(img.get_fdata(dtype=np.float32)).transpose(2, 1, 0))
        x = pipe.preprocess(hu)
        seg, cls = pipe.infer(x)
        up = peer.resize_last_two(seg, pipe.taps(seg.shape[2], hu.shape[1]), pipe.taps(seg.shape[3], hu.shape[2]))
        labelmap = np.argmax(up, axis=1).astype(np.uint8)
        prob = 1.0 / (1.0 + np.exp(-cls.astype(np.float64)))
        truth = peer.read_truth(cohort, case, hu.shape[::-1]).transpose(2, 1, 0)
        base = len(slices)
        normal = not truth.any()
        # 26-connected 3D components per subtype: voxel count of the component each 2D component belongs to.
        comp3d_size = {}
        comp3d_label = {}
        for c in range(1, 6):
            lab3, n3 = ndimage.label(labelmap == c, structure=np.ones((3, 3, 3), dtype=bool))
            if n3:
                comp3d_label[c] = lab3
                comp3d_size[c] = np.bincount(lab3.ravel())
        for k in range(labelmap.shape[0]):
            slices.append((bool(truth[k].any()), int(truth[k].sum()), float(prob[k, 0]), case_index, ml_per_voxel, normal))
            for c in range(1, 6):
                m = labelmap[k] == c
                if not m.any():
                    continue
                lab, n = ndimage.label(m, structure=eight)
                for index, (sy, sx) in enumerate(ndimage.find_objects(lab), start=1):
                    inside = lab[sy, sx] == index
                    logits = up[k][:, sy, sx]
                    with np.errstate(over="ignore"):
                        p_c = 1.0 / np.exp(logits - logits[c]).sum(0)
                    first = np.argwhere(inside)[0]
                    l3 = comp3d_label[c][k, sy.start + first[0], sx.start + first[1]]
                    comps.append((base + k, c, int(inside.sum()), float(p_c[inside].mean()),
                                  int((truth[k][sy, sx] & inside).sum()), int(comp3d_size[c][l3])))
        print(f"{cohort}/{case}: {labelmap.shape[0]} slices", flush=True)
    return np.array(slices, dtype=np.float64), np.array(comps, dtype=np.float64)


def kept(slices, comps, min_pixels, min_score, min_p, min_voxels3d=0):
    """Which components the rule keeps (boolean mask over comps)."""
    s = comps[:, 0].astype(int)
    keep = (comps[:, 2] >= np.array(min_pixels)[comps[:, 1].astype(int) - 1]) & (comps[:, 3] >= min_score) & (slices[s, 2] >= min_p)
    return keep & (comps[:, 5] >= min_voxels3d)


def normal_exam_ml(slices, comps, keep):
    """Predicted blood (ml) the rule keeps on each normal exam (no blood in the truth), worst first."""
    s = comps[keep, 0].astype(int)
    normal = slices[s, 5] > 0
    ml = {}
    for case in np.unique(slices[slices[:, 5] > 0, 3]).astype(int):
        ml[case] = 0.0
    for case, v in zip(slices[s[normal], 3].astype(int), comps[keep, 2][normal] * slices[s[normal], 4]):
        ml[case] += float(v)
    return sorted(ml.values(), reverse=True)


def choose(results, budget_ml):
    """The best rule of `results` [(f1, dice, worst_normal_ml, rule...)]: the highest slice F1 +
    min(Dice, 0.85) among the rules whose worst normal exam keeps at most `budget_ml` (None: every
    rule); when none does, the smallest worst-case normal-exam volume (then the highest F1 + Dice).
    Ties keep the grid order (the first rule)."""
    eligible = [r for r in results if budget_ml is None or r[2] <= budget_ml + 1e-12]
    if eligible:
        return max(eligible, key=lambda r: r[0] + min(r[1], 0.85))
    return min(results, key=lambda r: (r[2], -(r[0] + min(r[1], 0.85))))


def score(slices, comps, min_pixels, min_score, min_p, min_voxels3d=0):
    truth_pos = slices[:, 0] > 0
    s = comps[:, 0].astype(int)
    keep = kept(slices, comps, min_pixels, min_score, min_p, min_voxels3d)
    pred_pos = np.zeros(len(slices), dtype=bool)
    pred_pos[s[keep]] = True
    tp = int((pred_pos & truth_pos).sum()); fp = int((pred_pos & ~truth_pos).sum()); fn = int((~pred_pos & truth_pos).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    inter = comps[keep, 4].sum(); pred = comps[keep, 2].sum(); tru = slices[:, 1].sum()
    dice = 2 * inter / (pred + tru) if pred + tru else 1.0
    return f1, dice, tp, fp, fn


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--cohort", action="append", required=True, help="validation cohort(s) with truth/")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--normal-fp-budget-ml", type=float,
                   help="most predicted blood (ml) a rule may keep on any normal validation exam (default: no limit)")
    p.add_argument("--write-sidecar", action="store_true",
                   help="write the best uniform rule into the model's sidecar (postprocess.filter, format_version 2)")
    p.add_argument("--cohorts-note", default=default_model_sidecar.VALIDATION_COHORTS,
                   help="how the --cohort folders were made, recorded in the sidecar with --write-sidecar")
    args = p.parse_args()
    sidecar_path = os.path.splitext(args.model)[0] + ".json"
    with open(sidecar_path) as fh:
        sidecar = json.load(fh)
    pipe = peer.Pipeline(args.model, sidecar, args.threads, 16)
    # The cache of a cohort's measurements is per model: a retrained model must not reuse another's.
    with open(args.model, "rb") as fh:
        model_digest = hashlib.sha256(fh.read()).hexdigest()[:16]
    all_s, all_c = [], []
    for cohort in args.cohort:
        with open(os.path.join(cohort, "weak_labels.csv")) as fh:
            pass  # a hemo synth cohort
        cache = os.path.join(cohort, f".calibration-cache-v2-{model_digest}.npz")
        if os.path.exists(cache):
            z = np.load(cache); s, c = z["slices"], z["comps"]
        else:
            s, c = collect(pipe, cohort)
            np.savez(cache, slices=s, comps=c)
        if len(all_s):
            c[:, 0] += sum(len(x) for x in all_s)
            s[:, 3] += max(int(x[:, 3].max()) + 1 for x in all_s)  # case indices unique across cohorts
        all_s.append(s); all_c.append(c)
    slices = np.concatenate(all_s); comps = np.concatenate(all_c)
    print(f"slices {len(slices)} (positive {int(slices[:, 0].sum())}), components {len(comps)}")
    unfiltered = score(slices, comps, [0] * 5, 0, 0)
    print("unfiltered:", unfiltered)
    normals = int(len(np.unique(slices[slices[:, 5] > 0, 3])))
    print(f"normal exams: {normals}; "
          f"unfiltered worst normal-exam ml {normal_exam_ml(slices, comps, kept(slices, comps, [0] * 5, 0, 0))[:3]}")
    results = []
    sizes = [0, 25, 50, 75, 100, 125, 150, 200, 300, 400, 600, 800]
    for m, sc, pa in itertools.product(sizes, [0, 0.4, 0.5, 0.6, 0.7], [0, 0.05, 0.1, 0.2, 0.3, 0.5]):
        f = score(slices, comps, [m] * 5, sc, pa)
        worst = (normal_exam_ml(slices, comps, kept(slices, comps, [m] * 5, sc, pa)) or [0.0])[0]
        results.append((f[0], f[1], worst, f, m, sc, pa))
    chosen = choose(results, args.normal_fp_budget_ml)
    results.sort(key=lambda r: -(r[0] + min(r[1], 0.85)))
    print("best uniform rules (f1, dice, tp, fp, fn), worst normal-exam ml, min_pixels, min_score, min_p_any:")
    for r in results[:15]:
        print(" ", tuple(round(v, 4) if isinstance(v, float) else v for v in r[3]), round(r[2], 3), r[4], r[5], r[6])
    budget_met = args.normal_fp_budget_ml is None or chosen[2] <= args.normal_fp_budget_ml + 1e-12
    print(f"chosen (normal-exam budget {args.normal_fp_budget_ml} ml{'' if budget_met else ', met by no rule: the quietest'}):",
          tuple(round(v, 4) if isinstance(v, float) else v for v in chosen[3]), round(chosen[2], 3), chosen[4], chosen[5], chosen[6])
    print("3D rule: keep 2D components of 26-connected 3D components with >= V voxels (and >= m pixels in 2D):")
    r3 = []
    for v, m, pa in itertools.product([0, 100, 200, 300, 400, 600, 800, 1000, 1500, 2000, 3000], [0, 10, 25, 50, 100], [0, 0.05, 0.1, 0.2]):
        r3.append((score(slices, comps, [m] * 5, 0, pa, v), v, m, pa))
    r3.sort(key=lambda r: -(r[0][0] + min(r[0][1], 0.85)))
    for r in r3[:15]:
        print(" ", tuple(round(float(v), 4) if isinstance(v, float) else v for v in r[0]), "V", r[1], "m", r[2], "p", r[3])
    # per-subtype refinement (coordinate descent from the best uniform rule)
    (_, _, _, _, m, sc, pa) = chosen
    mins = [m] * 5
    for _ in range(2):
        for t in range(5):
            best = None
            for v in sizes + [800, 1000]:
                trial = list(mins); trial[t] = v
                f = score(slices, comps, trial, sc, pa)
                key = f[0] + min(f[1], 0.85)
                if best is None or key > best[0] + 1e-9:
                    best = (key, v)
            mins[t] = best[1]
    print("per-subtype min_pixels", mins, "min_score", sc, "min_p_any", pa, "->", score(slices, comps, mins, sc, pa))
    if args.write_sidecar:
        (f1, dice, worst, _, m, sc, pa) = chosen
        sidecar["format_version"] = default_model_sidecar.FORMAT_VERSION
        sidecar.setdefault("postprocess", {})["filter"] = default_model_sidecar.make_filter(m, sc, pa, {
            "script": "scripts/training/calibrate-default-model.py",
            "cohorts": args.cohorts_note,
            "criterion": default_model_sidecar.CALIBRATION_CRITERION + (
                "" if args.normal_fp_budget_ml is None else default_model_sidecar.CALIBRATION_BUDGET),
            "validation_slice_f1_any": round(float(f1), 4),
            "validation_dice_pooled": round(float(dice), 4),
            "validation_unfiltered_slice_f1_any": round(float(unfiltered[0]), 4),
            "validation_worst_normal_exam_ml": round(float(worst), 4),
            **({} if args.normal_fp_budget_ml is None else {"normal_fp_budget_ml": float(args.normal_fp_budget_ml),
                                                            "normal_fp_budget_met": bool(budget_met)}),
        })
        default_model_sidecar.write_sidecar(sidecar_path, sidecar)
        print(f"wrote the best uniform rule (min_component_pixels {m}, min_component_score {sc}, min_slice_p_any {pa}) "
              f"into {sidecar_path}")


if __name__ == "__main__":
    main()
