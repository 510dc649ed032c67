#!/usr/bin/env python3
"""Cross-check `hemo eval` on real releases against scikit-learn, pycocotools and numpy.

Runs `hemo eval --pred PRED --truth TRUTH --json ...` (both releases), recomputes every figure
from the release files with the reference libraries, and prints the largest absolute
difference per group. Exit status 1 when a difference exceeds 1e-6 (the JSON has 6 decimals).

    pip install scikit-learn pycocotools numpy scipy nibabel
    python3 scripts/peers/eval-crosscheck.py --hemo .build/debug/hemo --pred PRED_RELEASE --truth TRUTH_RELEASE
    python3 scripts/peers/eval-crosscheck.py --peer-only --pred PRED_RELEASE --truth TRUTH_RELEASE   # reference JSON only

Not part of the Swift test suite (which never runs Python); the committed fixtures of
scripts/fixtures/make-eval-fixtures.py cover the metric code itself.
"""
import argparse
import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import warnings

import nibabel as nib
import numpy as np
from scipy import ndimage
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from sklearn.metrics import f1_score, precision_score, recall_score, accuracy_score, roc_auc_score

SUBTYPES = ["EPH", "SDH", "SAH", "IPH", "IVH"]
TARGETS = ["any"] + SUBTYPES


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def classification(truth, pred, scores=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {"precision": precision_score(truth, pred), "recall": recall_score(truth, pred),
               "f1": f1_score(truth, pred), "accuracy": accuracy_score(truth, pred),
               "specificity": recall_score(truth, pred, pos_label=0)}
        if scores is not None:
            try:
                out["roc_auc"] = roc_auc_score(truth, scores)
            except ValueError:
                out["roc_auc"] = None
    return out


def common_cases(pred, truth):
    """Cases both releases hold (by their slice tables), sorted as hemo sorts them (UTF-8 order)."""
    tc = {r["case"] for r in rows(os.path.join(truth, "labels/slice_labels.csv"))}
    pc = {r["case"] for r in rows(os.path.join(pred, "labels/slice_labels.csv"))}
    return sorted(tc & pc, key=lambda c: c.encode())


def reference_figures(pred, truth, cases):
    """Every figure of `hemo eval` recomputed with scikit-learn, pycocotools and numpy/nibabel."""
    out = {"slice_level": {}, "patient_level": {}, "segmentation": {}, "detection": {}}
    case_set = set(cases)
    # Slice level.
    tr = {(r["case"], int(r["slice"])): r for r in rows(os.path.join(truth, "labels/slice_labels.csv"))}
    pr = {(r["case"], int(r["slice"])): r for r in rows(os.path.join(pred, "labels/slice_labels.csv"))}
    keys = sorted((k for k in pr if k[0] in case_set), key=lambda k: (k[0].encode(), k[1]))
    has_p = bool(keys) and "p_any" in pr[keys[0]]
    for t in TARGETS:
        y = [int(tr[k][t]) for k in keys]
        yhat = [int(pr[k][t]) for k in keys]
        s = [float(pr[k]["p_" + t]) for k in keys] if has_p else None
        out["slice_level"][t] = classification(y, yhat, s)
    # Patient level.
    tp = {r["case"]: r for r in rows(os.path.join(truth, "labels/patient_labels.csv"))}
    pp = {r["case"]: r for r in rows(os.path.join(pred, "labels/patient_labels.csv"))}
    for t in TARGETS:
        out["patient_level"][t] = classification([int(tp[c][t]) for c in cases], [int(pp[c][t]) for c in cases])
    # Segmentation from the bitmasks, each case read once.
    acc = {t: {"dice": [], "iou": [], "err": [], "inter": 0, "t": 0, "p": 0, "lesions": np.zeros(4, int)} for t in TARGETS}
    structure = np.ones((3, 3, 3), dtype=bool)
    for c in cases:
        timg = nib.load(os.path.join(truth, "masks3d", c + ".nii.gz"))
        tv = np.asarray(timg.dataobj)
        pv = np.asarray(nib.load(os.path.join(pred, "masks3d", c + ".nii.gz")).dataobj)
        ml = float(np.prod(timg.header.get_zooms()[:3])) / 1000
        for ti, t in enumerate(TARGETS):
            if t == "any":
                tm, pm = (tv & 0x1F) != 0, (pv & 0x1F) != 0
            else:
                tm, pm = ((tv >> (ti - 1)) & 1) == 1, ((pv >> (ti - 1)) & 1) == 1
            inter, nt, npred = int(np.count_nonzero(tm & pm)), int(np.count_nonzero(tm)), int(np.count_nonzero(pm))
            a = acc[t]
            a["dice"].append(1.0 if nt + npred == 0 else 2 * inter / (nt + npred))
            a["iou"].append(1.0 if nt + npred - inter == 0 else inter / (nt + npred - inter))
            a["err"].append((npred - nt) * ml)
            a["inter"] += inter; a["t"] += nt; a["p"] += npred
            tl, ntl = ndimage.label(tm, structure=structure)
            pl, npl = ndimage.label(pm, structure=structure)
            detected = len(set(np.unique(tl[pm])) - {0})     # truth lesions with a predicted voxel
            matched = len(set(np.unique(pl[tm])) - {0})      # predicted lesions with a truth voxel
            a["lesions"] += [ntl, detected, npl, matched]
    for t, a in acc.items():
        out["segmentation"][t] = {
            "mean_dice": float(np.mean(a["dice"])), "median_dice": float(np.median(a["dice"])),
            "mean_iou": float(np.mean(a["iou"])), "median_iou": float(np.median(a["iou"])),
            "pooled_dice": 1.0 if a["t"] + a["p"] == 0 else 2 * a["inter"] / (a["t"] + a["p"]),
            "volume_mae_ml": float(np.mean(np.abs(a["err"]))), "volume_bias_ml": float(np.mean(a["err"])),
            "lesions": [int(v) for v in a["lesions"]],
        }
    # Detection: images are the (case, slice) pairs of the evaluated cases, in that order.
    ids = {k: n + 1 for n, k in enumerate(keys)}
    gts, dts = [], []
    for r in rows(os.path.join(truth, "boxes/boxes2d.csv")):
        k = (r["case"], int(r["slice"]))
        if k in ids:
            x0, y0, x1, y1 = (int(r[f]) for f in ("x_min", "y_min", "x_max", "y_max"))
            gts.append({"id": len(gts) + 1, "image_id": ids[k], "category_id": SUBTYPES.index(r["subtype"]) + 1,
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
    for r in rows(os.path.join(pred, "boxes/boxes2d.csv")):
        k = (r["case"], int(r["slice"]))
        if k in ids:
            x0, y0, x1, y1 = (int(r[f]) for f in ("x_min", "y_min", "x_max", "y_max"))
            dts.append({"image_id": ids[k], "category_id": SUBTYPES.index(r["subtype"]) + 1,
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(r.get("score") or 1)})
    out["counts"] = {"cases": len(cases), "slices": len(keys), "truth_boxes": len(gts), "predicted_boxes": len(dts)}
    if dts:  # pycocotools cannot load an empty result list
        dataset = {"images": [{"id": i} for i in ids.values()], "annotations": gts,
                   "categories": [{"id": c} for c in range(1, 6)]}
        with contextlib.redirect_stdout(io.StringIO()):
            g = COCO(); g.dataset = dataset; g.createIndex()
            ev = COCOeval(g, g.loadRes(dts), "bbox"); ev.evaluate(); ev.accumulate()
        p = ev.eval["precision"][:, :, :, 0, 2]
        mean = lambda x: float(np.mean(x[x > -1])) if (x > -1).any() else None
        out["detection"] = {"ap50": mean(p[0]), "ap75": mean(p[5]), "map": mean(p), "per_subtype": {
            name: {"ap50": mean(p[0, :, k]), "map": mean(p[:, :, k])} for k, name in enumerate(SUBTYPES)}}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hemo", help="the hemo binary (not needed with --peer-only)")
    ap.add_argument("--pred", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--peer-only", action="store_true",
                    help="only compute the reference figures and print them as JSON (the benchmark's peer)")
    a = ap.parse_args()
    if a.peer_only:
        print(json.dumps(reference_figures(a.pred, a.truth, common_cases(a.pred, a.truth))))
        return
    if not a.hemo:
        sys.exit("--hemo is required unless --peer-only")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "eval.json")
        subprocess.run([a.hemo, "eval", "--pred", a.pred, "--truth", a.truth, "--json", out],
                       check=True, stdout=subprocess.DEVNULL)
        ours = json.load(open(out))
    cases = ours["cases"]["evaluated"]
    if cases != common_cases(a.pred, a.truth):
        sys.exit("hemo eval evaluated other cases than the releases have in common")
    ref = reference_figures(a.pred, a.truth, cases)
    diffs = {}

    def compare(group, mine, theirs):
        if theirs is None or mine is None:
            if (theirs is None) != (mine is None):
                print(f"{group}: ours {mine}, reference {theirs}")
                diffs[group] = float("inf")
            return
        diffs[group] = max(diffs.get(group, 0.0), abs(float(mine) - float(theirs)))

    for level in ("slice_level", "patient_level"):
        for t in TARGETS:
            for m, v in ref[level][t].items():
                compare(level.replace("_level", "") + " " + m, ours[level][t][m], v)
    for t in TARGETS:
        for m, v in ref["segmentation"][t].items():
            if m == "lesions":
                l = ours["segmentation"][t]["lesions"]
                mine = [l["truth_lesions"], l["detected"], l["predicted_lesions"],
                        l["predicted_lesions"] - l["false_positive_lesions"]]
                compare("lesion counts", 0 if mine == v else float("inf"), 0)
                if mine != v:
                    print(f"lesions {t}: ours {mine}, scipy {v}")
            else:
                compare("segmentation", ours["segmentation"][t][m], v)
    if ref["detection"]:
        for m in ("ap50", "ap75", "map"):
            compare("detection", ours["detection"][m], ref["detection"][m])
        for name in SUBTYPES:
            for m in ("ap50", "map"):
                compare("detection", ours["detection"]["per_subtype"][name][m], ref["detection"]["per_subtype"][name][m])
    c = ref["counts"]
    print(f"{c['cases']} cases, {c['slices']} slices, {c['truth_boxes']} truth boxes, {c['predicted_boxes']} predicted boxes")
    for group, d in sorted(diffs.items()):
        print(f"  max |hemo eval - reference| {group}: {d:.2e}")
    worst = max(diffs.values()) if diffs else 0.0
    sys.exit(0 if worst <= 1e-6 else 1)


if __name__ == "__main__":
    main()
