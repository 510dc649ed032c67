#!/usr/bin/env python3
"""Cross-check `hemo eval` on real releases against scikit-learn, pycocotools and numpy.

Runs `hemo eval --pred PRED --truth TRUTH --json ...` (both releases), recomputes every figure
from the release files with the reference libraries, and prints the largest absolute
difference per group. Exit status 1 when a difference exceeds 1e-6 (the JSON has 6 decimals).

    pip install scikit-learn pycocotools numpy nibabel
    python3 scripts/eval-crosscheck.py --hemo .build/debug/hemo --pred PRED_RELEASE --truth TRUTH_RELEASE

Not part of the Swift test suite (which never runs Python); the committed fixtures of
scripts/make-eval-fixtures.py cover the metric code itself.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hemo", required=True)
    ap.add_argument("--pred", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "eval.json")
        subprocess.run([a.hemo, "eval", "--pred", a.pred, "--truth", a.truth, "--json", out],
                       check=True, stdout=subprocess.DEVNULL)
        ours = json.load(open(out))
    cases = ours["cases"]["evaluated"]
    diffs = {}

    def compare(group, mine, theirs):
        if theirs is None or mine is None:
            if (theirs is None) != (mine is None):
                print(f"{group}: ours {mine}, reference {theirs}")
                diffs[group] = float("inf")
            return
        diffs[group] = max(diffs.get(group, 0.0), abs(float(mine) - float(theirs)))

    # Slice level.
    tr = {(r["case"], int(r["slice"])): r for r in rows(os.path.join(a.truth, "labels/slice_labels.csv"))}
    pr = {(r["case"], int(r["slice"])): r for r in rows(os.path.join(a.pred, "labels/slice_labels.csv"))}
    keys = sorted(k for k in pr if k[0] in cases)
    has_p = keys and "p_any" in pr[keys[0]]
    for t in TARGETS:
        y = [int(tr[k][t]) for k in keys]
        yhat = [int(pr[k][t]) for k in keys]
        s = [float(pr[k]["p_" + t]) for k in keys] if has_p else None
        ref = classification(y, yhat, s)
        for m, v in ref.items():
            compare("slice " + m, ours["slice_level"][t][m], v)
    # Patient level.
    tp = {r["case"]: r for r in rows(os.path.join(a.truth, "labels/patient_labels.csv"))}
    pp = {r["case"]: r for r in rows(os.path.join(a.pred, "labels/patient_labels.csv"))}
    for t in TARGETS:
        ref = classification([int(tp[c][t]) for c in cases], [int(pp[c][t]) for c in cases])
        for m, v in ref.items():
            compare("patient " + m, ours["patient_level"][t][m], v)
    # Segmentation from the bitmasks.
    for ti, t in enumerate(TARGETS):
        dice, iou, err = [], [], []
        inter_sum = t_sum = p_sum = 0
        for c in cases:
            ti_img = nib.load(os.path.join(a.truth, "masks3d", c + ".nii.gz"))
            tv = np.asarray(ti_img.dataobj)
            pv = np.asarray(nib.load(os.path.join(a.pred, "masks3d", c + ".nii.gz")).dataobj)
            sel = (lambda v: (v & 0x1F) != 0) if t == "any" else (lambda v, b=ti - 1: ((v >> b) & 1) == 1)
            tm, pm = sel(tv), sel(pv)
            inter, nt, npred = int((tm & pm).sum()), int(tm.sum()), int(pm.sum())
            ml = float(np.prod(ti_img.header.get_zooms()[:3])) / 1000
            dice.append(1.0 if nt + npred == 0 else 2 * inter / (nt + npred))
            iou.append(1.0 if nt + npred - inter == 0 else inter / (nt + npred - inter))
            err.append((npred - nt) * ml)
            inter_sum += inter; t_sum += nt; p_sum += npred
        s = ours["segmentation"][t]
        compare("segmentation", s["mean_dice"], np.mean(dice))
        compare("segmentation", s["median_dice"], np.median(dice))
        compare("segmentation", s["mean_iou"], np.mean(iou))
        compare("segmentation", s["pooled_dice"], 1.0 if t_sum + p_sum == 0 else 2 * inter_sum / (t_sum + p_sum))
        compare("segmentation", s["volume_mae_ml"], np.mean(np.abs(err)))
        compare("segmentation", s["volume_bias_ml"], np.mean(err))
    # Detection: images are the (case, slice) pairs of the evaluated cases, in that order.
    images = sorted(keys)
    ids = {k: n + 1 for n, k in enumerate(images)}
    gts, dts = [], []
    for r in rows(os.path.join(a.truth, "boxes/boxes2d.csv")):
        k = (r["case"], int(r["slice"]))
        if k in ids:
            x0, y0, x1, y1 = (int(r[f]) for f in ("x_min", "y_min", "x_max", "y_max"))
            gts.append({"id": len(gts) + 1, "image_id": ids[k], "category_id": SUBTYPES.index(r["subtype"]) + 1,
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
    for r in rows(os.path.join(a.pred, "boxes/boxes2d.csv")):
        k = (r["case"], int(r["slice"]))
        if k in ids:
            x0, y0, x1, y1 = (int(r[f]) for f in ("x_min", "y_min", "x_max", "y_max"))
            dts.append({"image_id": ids[k], "category_id": SUBTYPES.index(r["subtype"]) + 1,
                        "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(r.get("score") or 1)})
    if dts:
        dataset = {"images": [{"id": i} for i in ids.values()], "annotations": gts,
                   "categories": [{"id": c} for c in range(1, 6)]}
        with contextlib.redirect_stdout(io.StringIO()):
            g = COCO(); g.dataset = dataset; g.createIndex()
            ev = COCOeval(g, g.loadRes(dts), "bbox"); ev.evaluate(); ev.accumulate()
        p = ev.eval["precision"][:, :, :, 0, 2]
        mean = lambda x: float(np.mean(x[x > -1])) if (x > -1).any() else None
        compare("detection", ours["detection"]["ap50"], mean(p[0]))
        compare("detection", ours["detection"]["ap75"], mean(p[5]))
        compare("detection", ours["detection"]["map"], mean(p))
        for k, name in enumerate(SUBTYPES):
            compare("detection", ours["detection"]["per_subtype"][name]["ap50"], mean(p[0, :, k]))
            compare("detection", ours["detection"]["per_subtype"][name]["map"], mean(p[:, :, k]))
    print(f"{len(cases)} cases, {len(keys)} slices, {len(gts)} truth boxes, {len(dts)} predicted boxes")
    for group, d in sorted(diffs.items()):
        print(f"  max |hemo eval - reference| {group}: {d:.2e}")
    worst = max(diffs.values()) if diffs else 0.0
    sys.exit(0 if worst <= 1e-6 else 1)


if __name__ == "__main__":
    main()
