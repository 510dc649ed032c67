#!/usr/bin/env python3
"""Generate the reference fixtures of HemoEval's agreement tests.

Writes Tests/HemoEvalTests/Fixtures/{classification,detection,segmentation}.json:
seeded random scenarios (labels and scores with ties, boxes with scores over several
images and categories, small multi-subtype masks) together with the numbers the reference
implementations compute for them:

- classification: scikit-learn's precision_score, recall_score, f1_score, accuracy_score,
  recall_score(pos_label=0) (specificity) with the default zero_division="warn", and
  roc_auc_score (null when scikit-learn refuses: only one class in the truth);
- detection: pycocotools COCOeval(iouType="bbox") with default parameters, read from
  eval["precision"] (area range "all", maxDets 100): AP at IoU 0.5, AP at 0.75, mAP over
  0.50:0.95, overall and per category (null where pycocotools stores -1);
- segmentation: numpy per-case Dice / IoU (1 when both masks are empty), their mean and
  median over cases, pooled Dice / IoU and lesion-volume errors, per subtype and "any"; and
  lesion-level counts from scipy.ndimage.label (26-connectivity, hit = one shared voxel).

Run:  pip install scikit-learn pycocotools numpy scipy && python3 scripts/make-eval-fixtures.py
The Swift tests never run Python; they read the committed JSON.
"""
import contextlib
import importlib.metadata
import io
import json
import os
import warnings

import numpy as np
from scipy import ndimage
from sklearn.metrics import (accuracy_score, f1_score, precision_score, recall_score,
                             roc_auc_score)
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "HemoEvalTests", "Fixtures")


def classification_scenario(index, rng):
    """One set of binary labels, hard predictions and scores; the kinds rotate over edge cases."""
    kind = index % 10
    n = int(rng.integers(1, 8)) if kind == 9 else int(rng.integers(20, 300))
    truth = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
    if kind == 0:
        truth[:] = 0                      # only negatives: recall 0/0, AUC undefined
    if kind == 1:
        truth[:] = 1                      # only positives: specificity 0/0, AUC undefined
    noise = rng.normal(0, rng.uniform(0.2, 1.5), n)
    raw = truth * rng.uniform(0.0, 1.5) + noise
    scores = 1 / (1 + np.exp(-raw))
    decimals = [1, 2, 4, 6][index % 4]    # coarse rounding gives many tied scores
    scores = np.round(scores, decimals)
    if kind == 2:
        scores[:] = 0.5                   # every score tied
    if kind == 3:
        scores = np.where(truth == 1, 0.9, 0.1)   # perfectly separated with ties
    if kind == 4:
        scores = np.round(1 - scores, decimals)    # worse than chance
    predicted = (scores >= 0.5).astype(int)
    if kind == 5:
        predicted[:] = 0                  # no positive prediction: precision 0/0
    if kind == 6:
        predicted[:] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "precision": float(precision_score(truth, predicted)),
            "recall": float(recall_score(truth, predicted)),
            "f1": float(f1_score(truth, predicted)),
            "accuracy": float(accuracy_score(truth, predicted)),
            "specificity": float(recall_score(truth, predicted, pos_label=0)),
        }
        try:
            auc = float(roc_auc_score(truth, scores))
            expected["roc_auc"] = None if np.isnan(auc) else auc
        except ValueError:
            expected["roc_auc"] = None
    return {
        "name": f"classification-{index:02d}-kind{kind}",
        "truth": truth.tolist(),
        "predicted": predicted.tolist(),
        "scores": [float(s) for s in scores],
        "expected": expected,
    }


def random_box(rng, size=64):
    w = int(rng.integers(2, 24)); h = int(rng.integers(2, 24))
    x = int(rng.integers(0, size - w)); y = int(rng.integers(0, size - h))
    return [x, y, w, h]


def jitter(rng, box, amount, fractional):
    x, y, w, h = box
    d = rng.integers(-amount, amount + 1, 4)
    out = [x + d[0], y + d[1], max(1, w + d[2]), max(1, h + d[3])]
    out = [float(v) for v in out]
    if fractional:
        out = [round(v + float(rng.uniform(-0.5, 0.5)), 2) for v in out]
        out[2] = max(0.5, out[2]); out[3] = max(0.5, out[3])
    return out


def detection_scenario(index, rng):
    """Ground-truth and predicted boxes over a few slices (images) and the five subtypes."""
    image_count = int(rng.integers(1, 9))
    images = sorted(int(v) for v in rng.choice(1000, image_count, replace=False) + 1)
    categories = [1, 2, 3, 4, 5]
    gt_cats = [c for c in categories if rng.random() < 0.7] or [1]
    dt_cats = [c for c in categories if rng.random() < 0.7] or [gt_cats[0]]
    fractional = index % 3 == 2
    coarse = index % 2 == 0            # coarse scores: ties across images and within images
    gts, dts = [], []
    for image in images:
        for cat in categories:
            n_gt = int(rng.integers(0, 4)) if cat in gt_cats else 0
            boxes = [random_box(rng) for _ in range(n_gt)]
            for b in boxes:
                gts.append({"image_id": image, "category_id": cat, "bbox": [float(v) for v in b]})
            if cat not in dt_cats:
                continue
            for b in boxes:            # detections near the truth, sometimes duplicated
                for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
                    dts.append({"image_id": image, "category_id": cat, "near_truth": True,
                                "bbox": jitter(rng, b, int(rng.integers(0, 4)), fractional)})
            for _ in range(int(rng.integers(0, 3))):   # false positives
                dts.append({"image_id": image, "category_id": cat,
                            "bbox": [float(v) for v in random_box(rng)]})
    if index == 7:                     # more than maxDets=100 detections in one image and category
        for _ in range(130):
            dts.append({"image_id": images[0], "category_id": dt_cats[0],
                        "bbox": [float(v) for v in random_box(rng)]})
    if not dts:
        dts.append({"image_id": images[0], "category_id": dt_cats[0],
                    "bbox": [float(v) for v in random_box(rng)]})
    order = rng.permutation(len(dts))
    dts = [dts[i] for i in order]
    for d in dts:                      # scores favour the detections drawn near a true box
        s = float(rng.uniform(0.3, 1.0) if d.pop("near_truth", False) else rng.uniform(0.05, 0.8))
        d["score"] = round(s, 1) if coarse else round(s, 6)
    for i, g in enumerate(gts):
        g["id"] = i + 1
        g["area"] = g["bbox"][2] * g["bbox"][3]
        g["iscrowd"] = 0
    dataset = {
        "images": [{"id": i, "width": 64, "height": 64, "file_name": f"{i}.png"} for i in images],
        "annotations": gts,
        "categories": [{"id": c, "name": str(c)} for c in categories],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = json.loads(json.dumps(dataset))
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(json.loads(json.dumps(dts)))
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate(); ev.accumulate(); ev.summarize()
    precision = ev.eval["precision"][:, :, :, 0, 2]      # T x R x K, area "all", maxDets 100

    def mean_valid(p):
        v = p[p > -1]
        return None if v.size == 0 else float(np.mean(v))

    per_category = {}
    for k, cat in enumerate(ev.params.catIds):
        per_category[str(cat)] = {
            "ap50": mean_valid(precision[0, :, k]),
            "ap75": mean_valid(precision[5, :, k]),
            "map": mean_valid(precision[:, :, k]),
        }
    expected = {
        "ap50": mean_valid(precision[0]),
        "ap75": mean_valid(precision[5]),
        "map": mean_valid(precision),
        "coco_stats_0": float(ev.stats[0]),
        "coco_stats_1": float(ev.stats[1]),
        "per_category": per_category,
    }
    return {
        "name": f"detection-{index:02d}",
        "images": images,
        "ground_truth": [{"image_id": g["image_id"], "category_id": g["category_id"], "bbox": g["bbox"]} for g in gts],
        "detections": dts,
        "expected": expected,
    }


SUBTYPES = ["EPH", "SDH", "SAH", "IPH", "IVH"]


def blob_mask(rng, shape):
    """A few random axis-aligned blocks: lesion-like masks with partial overlaps."""
    m = np.zeros(shape, dtype=bool)
    for _ in range(int(rng.integers(1, 3))):
        lo = [int(rng.integers(0, s - 1)) for s in shape]
        hi = [min(s, l + int(rng.integers(1, 5))) for l, s in zip(lo, shape)]
        m[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = True
    return m


def segmentation_scenario(index, rng):
    """Per-case bitmask volumes (bit v-1 = subtype v) for truth and prediction, flattened."""
    shape = (6, 7, 5)
    voxel_ml = float(rng.choice([0.001, 0.0005, 0.00125]))
    cases = []
    for c in range(int(rng.integers(1, 7))):
        truth = np.zeros(shape, dtype=np.uint8)
        pred = np.zeros(shape, dtype=np.uint8)
        for bit in range(5):
            kind = rng.integers(0, 5)   # 0 both empty, 1 truth only, 2 prediction only, 3-4 both
            t = blob_mask(rng, shape) if kind in (1, 3, 4) else np.zeros(shape, bool)
            if kind == 4:               # prediction overlapping the truth
                p = np.roll(t, int(rng.integers(-1, 2)), axis=int(rng.integers(0, 3))) | (blob_mask(rng, shape) & (rng.random(shape) < 0.3))
            elif kind in (2, 3):
                p = blob_mask(rng, shape)
            else:
                p = np.zeros(shape, bool)
            truth |= (t.astype(np.uint8) << bit)
            pred |= (p.astype(np.uint8) << bit)
        cases.append({"case": f"case{c:02d}", "truth": truth.ravel(order="F").tolist(),
                      "predicted": pred.ravel(order="F").tolist()})

    def lesions(t, p):
        """Lesion-level counts: 26-connected components, a hit is an overlap of at least one voxel."""
        structure = np.ones((3, 3, 3), dtype=bool)
        tl, nt = ndimage.label(t.reshape(shape, order="F"), structure=structure)
        pl, np_ = ndimage.label(p.reshape(shape, order="F"), structure=structure)
        tm, pm = t.reshape(shape, order="F"), p.reshape(shape, order="F")
        detected = sum(1 for l in range(1, nt + 1) if pm[tl == l].any())
        true_pred = sum(1 for l in range(1, np_ + 1) if tm[pl == l].any())
        return [int(nt), int(detected), int(np_), int(true_pred)]

    def stats(select):
        dice, iou, errors, lesion_counts = [], [], [], []
        inter_sum = t_sum = p_sum = 0
        for case in cases:
            t = select(np.array(case["truth"], dtype=np.uint8))
            p = select(np.array(case["predicted"], dtype=np.uint8))
            inter = int(np.sum(t & p)); nt = int(t.sum()); np_ = int(p.sum())
            union = nt + np_ - inter
            dice.append(1.0 if nt + np_ == 0 else 2 * inter / (nt + np_))
            iou.append(1.0 if union == 0 else inter / union)
            errors.append((np_ - nt) * voxel_ml)
            lesion_counts.append(lesions(t, p))
            inter_sum += inter; t_sum += nt; p_sum += np_
        pooled_union = t_sum + p_sum - inter_sum
        return {
            "dice": dice, "iou": iou,
            "mean_dice": float(np.mean(dice)), "median_dice": float(np.median(dice)),
            "mean_iou": float(np.mean(iou)), "median_iou": float(np.median(iou)),
            "pooled_dice": 1.0 if t_sum + p_sum == 0 else 2 * inter_sum / (t_sum + p_sum),
            "pooled_iou": 1.0 if pooled_union == 0 else inter_sum / pooled_union,
            "volume_mae_ml": float(np.mean(np.abs(errors))),
            "volume_bias_ml": float(np.mean(errors)),
            # per case: [truth lesions, detected truth lesions, predicted lesions, predicted lesions that hit the truth]
            "lesions": lesion_counts,
        }

    expected = {"any": stats(lambda v: v != 0)}
    for bit, name in enumerate(SUBTYPES):
        expected[name] = stats(lambda v, bit=bit: ((v >> bit) & 1) == 1)
    return {"name": f"segmentation-{index:02d}", "shape": list(shape), "voxel_ml": voxel_ml,
            "cases": cases, "expected": expected}


def write(name, payload):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def main():
    os.makedirs(OUT, exist_ok=True)
    versions = {name: importlib.metadata.version(name) for name in ("scikit-learn", "pycocotools", "numpy", "scipy")}
    rng = np.random.default_rng(20261127)
    write("classification.json", {"generator": "scripts/make-eval-fixtures.py", "versions": versions,
                                  "scenarios": [classification_scenario(i, rng) for i in range(30)]})
    write("detection.json", {"generator": "scripts/make-eval-fixtures.py", "versions": versions,
                             "scenarios": [detection_scenario(i, rng) for i in range(24)]})
    write("segmentation.json", {"generator": "scripts/make-eval-fixtures.py", "versions": versions,
                                "scenarios": [segmentation_scenario(i, rng) for i in range(12)]})


if __name__ == "__main__":
    main()
