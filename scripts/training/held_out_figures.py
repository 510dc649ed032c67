#!/usr/bin/env python3
"""Write the held-out figures of the default model, per subtype, into its sidecar.

Reads the JSON reports of `hemo eval --pred PRED --truth COHORT --json FILE` (one per held-out
cohort) and, for the patient-level AUC that `hemo eval` does not report, PRED/labels/slice_labels.csv
(patient score = the largest slice p_any) against COHORT/weak_labels.csv. Nothing is typed by
hand: every number comes from those files. The figures go into MODEL.json under
training.held_out_results (sidecar format 2; the inference path does not read this object), and
are printed as a table.

  python3 scripts/training/held_out_figures.py --sidecar MODEL.json \
      --eval seed_77_5mm=EVAL.json [--eval seed_5001_1mm=EVAL2.json] [--note TEXT]

The JSON report names its prediction and truth folders; they are read from there.
"""
import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default_model_sidecar  # noqa: E402

SUBTYPES = default_model_sidecar.SUBTYPES


def roc_auc(scores, labels):
    """Mann-Whitney AUC with ties counted one half (None when one class is missing)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def patient_auc(pred, cohort):
    best = {}
    with open(os.path.join(pred, "labels", "slice_labels.csv")) as fh:
        for row in csv.DictReader(fh):
            best[row["case"]] = max(best.get(row["case"], 0.0), float(row["p_any"]))
    truth = {}
    with open(os.path.join(cohort, "weak_labels.csv")) as fh:
        for row in csv.DictReader(fh):
            truth[row["case"]] = row["any"] == "1"
    cases = sorted(set(best) & set(truth))
    return roc_auc([best[c] for c in cases], [truth[c] for c in cases]), sum(truth[c] for c in cases), len(cases)


def large_lesion_sensitivity(pred, cohort, min_ml=0.1):
    """Per target (any + subtypes): (detected, truth lesions) over the truth's 26-connected 3D lesions
    of at least `min_ml` ml, a hit being one voxel shared with the prediction of that target -- the
    issue's "3D lesion sensitivity for lesions >= 0.1 ml". Computed here with nibabel and scipy from
    COHORT/truth/<case>/<SUBTYPE>.nii.gz and PRED/masks3d/<case>.nii.gz (bit v-1 = subtype v), not
    from hemo eval, which counts every lesion."""
    import nibabel as nib
    import numpy as np
    from scipy import ndimage
    counts = {t: [0, 0] for t in ["any"] + SUBTYPES}
    structure = np.ones((3, 3, 3), dtype=bool)
    cases = sorted(d for d in os.listdir(os.path.join(cohort, "truth")) if os.path.isdir(os.path.join(cohort, "truth", d)))
    for case in cases:
        bits_path = os.path.join(pred, "masks3d", case + ".nii.gz")
        if not os.path.exists(bits_path):
            continue
        bits = np.asarray(nib.load(bits_path).dataobj).astype(np.uint8)
        ct = nib.load(os.path.join(cohort, case, "ct.nii.gz"))
        voxel_ml = float(np.prod(ct.header.get_zooms()[:3])) / 1000.0
        truth = {}
        for v, name in enumerate(SUBTYPES, 1):
            f = os.path.join(cohort, "truth", case, name + ".nii.gz")
            truth[name] = np.asarray(nib.load(f).dataobj) > 0 if os.path.exists(f) else np.zeros(bits.shape, dtype=bool)
        truth["any"] = np.logical_or.reduce([truth[n] for n in SUBTYPES])
        predicted = {name: (bits >> (v - 1)) & 1 > 0 for v, name in enumerate(SUBTYPES, 1)}
        predicted["any"] = bits > 0
        for t in counts:
            if not truth[t].any():
                continue
            labels, n = ndimage.label(truth[t], structure)
            sizes = ndimage.sum_labels(np.ones_like(labels), labels, np.arange(1, n + 1))
            hit = ndimage.maximum(predicted[t], labels, np.arange(1, n + 1))
            for size, h in zip(sizes, hit):
                if size * voxel_ml >= min_ml:
                    counts[t][1] += 1
                    counts[t][0] += int(h > 0)
    return counts


def figures(report):
    out = {"cases": len(report["cases"]["evaluated"]), "per_subtype": {}}
    targets = ["any"] + SUBTYPES
    negatives = None
    for t in targets:
        seg = report["segmentation"].get(t) or {}
        sl = report["slice_level"].get(t) or {}
        pl = report["patient_level"].get(t) or {}
        les = seg.get("lesions") or {}
        out["per_subtype"][t] = {
            "pooled_dice": seg.get("pooled_dice"),
            "slice_f1": sl.get("f1"),
            "slice_precision": sl.get("precision"),
            "slice_recall": sl.get("recall"),
            "slice_roc_auc": sl.get("roc_auc"),
            "patient_f1": pl.get("f1"),
            "lesion_sensitivity": les.get("sensitivity"),
            "truth_lesions": les.get("truth_lesions"),
            "false_positive_lesions_per_case": les.get("false_positives_per_case"),
        }
        if t == "any":
            per_case = seg.get("per_case") or []
            neg = [c for c in per_case if c.get("truth_voxels") == 0]
            negatives = {"negative_cases": len(neg),
                         "false_positive_lesions_per_negative_case":
                             (sum(c.get("false_positive_lesions") or 0 for c in neg) / len(neg)) if neg else None}
    out.update(negatives or {})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sidecar", required=True)
    p.add_argument("--eval", action="append", required=True, help="NAME=hemo-eval.json")
    p.add_argument("--note", default="")
    args = p.parse_args()
    with open(args.sidecar) as fh:
        sidecar = json.load(fh)
    results = {"written_by": "scripts/training/held_out_figures.py from hemo eval --json reports",
               "command": "hemo synth --out C --cases N --seed S --slice-thickness T && hemo infer --model MODEL.onnx --cohort C --out R "
                          "&& hemo eval --pred R --truth C --json E",
               "note": args.note, "cohorts": {}}
    for spec in args.eval:
        name, path = spec.split("=", 1)
        with open(path) as fh:
            report = json.load(fh)
        f = figures(report)
        for t, (hit, total) in large_lesion_sensitivity(report["prediction"], report["truth"]).items():
            f["per_subtype"][t]["lesion_sensitivity_ge_0_1_ml"] = hit / total if total else None
            f["per_subtype"][t]["truth_lesions_ge_0_1_ml"] = total
        auc, positives, n = patient_auc(report["prediction"], report["truth"])
        f["patient_roc_auc_any"] = auc
        f["patient_positives"] = positives
        results["cohorts"][name] = f
        print(f"== {name}: {f['cases']} cases, patient AUC (max slice p_any) {auc}, "
              f"FP lesions per negative case {f.get('false_positive_lesions_per_negative_case')}")
        print(f"{'target':8} {'Dice':>8} {'sliceF1':>8} {'lesSens':>8} {'sens>=.1':>8} {'lesions':>8} {'FP/case':>8}")
        for t, v in f["per_subtype"].items():
            def fmt(x):
                return "–" if x is None else f"{x:.4f}"
            print(f"{t:8} {fmt(v['pooled_dice']):>8} {fmt(v['slice_f1']):>8} {fmt(v['lesion_sensitivity']):>8} "
                  f"{fmt(v['lesion_sensitivity_ge_0_1_ml']):>8} {v['truth_lesions_ge_0_1_ml']:>8} "
                  f"{fmt(v['false_positive_lesions_per_case']):>8}")
    sidecar.setdefault("training", {})["held_out_results"] = results
    default_model_sidecar.write_sidecar(args.sidecar, sidecar)
    print(f"wrote training.held_out_results into {args.sidecar}")


if __name__ == "__main__":
    main()
