#!/usr/bin/env python3
"""Python reference pipeline for `hemo infer`: nibabel + onnxruntime + scipy.

For every exam of a cohort (<cohort>/<case>/ct.nii.gz) it follows the model sidecar
(<model>.json) exactly:
  read CT (HU = stored * scl_slope + scl_inter) -> per slice: bilinear half-pixel resize to the
  model input, window into channels -> onnxruntime in batches of slices -> bilinear half-pixel
  resize of the 6 segmentation logits back to the CT grid -> argmax -> label map;
  slice probabilities = sigmoid(cls_logits); slice labels from the mask (sidecar rule "mask");
  8-connected components per slice per subtype (scipy.ndimage.label) -> boxes with the mean
  softmax probability of the subtype inside the component as score.
Writes <out>/masks/<case>.nii.gz (uint8 0..5, the CT's affine), <out>/slice_labels.csv and
<out>/boxes2d.csv, and, when the cohort has truth (<cohort>/truth/<case>/<SUBTYPE>.nii.gz),
prints binary lesion Dice (pooled over voxels and mean per positive case) and slice F1.

Bilinear resizing is separable two-tap gathers (rows, then columns), which reproduces
PyTorch's F.interpolate(mode='bilinear', align_corners=False) without antialias.

Usage:
  python3 scripts/bench/infer_peer.py --model Sources/HemoInference/DefaultModel/hemo-default.onnx \
      --cohort /tmp/eval-77 --out /tmp/peer-77 [--threads N] [--batch 16] [--no-write]
"""
import argparse
import csv
import json
import os
import sys
import time

import nibabel as nib
import numpy as np
import onnxruntime as ort
from scipy import ndimage

SUBTYPES = ["EPH", "SDH", "SAH", "IPH", "IVH"]


def interpolation_taps(n_in, n_out):
    """Bilinear, half-pixel centres, source clamped at 0: out[d] = w0[d] * in[i0[d]] + w1[d] * in[i1[d]]."""
    src = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = (src - i0).astype(np.float32)
    return i0, i1, 1.0 - lam, lam


def resize_last_two(x, taps_rows, taps_cols):
    """Separable bilinear resize of the last two axes of x (rows, then columns)."""
    r0, r1, rw0, rw1 = taps_rows
    c0, c1, cw0, cw1 = taps_cols
    y = x[..., r0, :] * rw0[:, None] + x[..., r1, :] * rw1[:, None]
    return y[..., c0] * cw0 + y[..., c1] * cw1


class Pipeline:
    def __init__(self, model, sidecar, threads, batch):
        self.spec = sidecar
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
        inp = sidecar["input"]
        self.input_name = inp["name"]
        self.height, self.width = int(inp["height"]), int(inp["width"])
        self.windows = [(c["window_level"] - c["window_width"] / 2.0, float(c["window_width"])) for c in inp["channels"]]
        self.batch = batch
        self._taps = {}

    def taps(self, n_in, n_out):
        key = (n_in, n_out)
        if key not in self._taps:
            self._taps[key] = interpolation_taps(n_in, n_out)
        return self._taps[key]

    def preprocess(self, hu):
        """hu: float32 [K, J, I] (slices, rows, columns) -> [K, C, H, W]."""
        k, rows, cols = hu.shape
        small = resize_last_two(hu, self.taps(rows, self.height), self.taps(cols, self.width))
        chans = [np.clip((small - lo) / width, 0.0, 1.0) for lo, width in self.windows]
        return np.ascontiguousarray(np.stack(chans, 1), dtype=np.float32)

    def infer(self, x):
        segs, clss = [], []
        for i in range(0, x.shape[0], self.batch):
            seg, cls = self.session.run(["seg_logits", "cls_logits"], {self.input_name: x[i:i + self.batch]})
            segs.append(seg)
            clss.append(cls)
        return np.concatenate(segs), np.concatenate(clss)

    def apply_filter(self, labelmap, up, prob):
        """The sidecar's postprocess.filter (format_version 2), in place, in hemo infer's order:
        26-connected 3D components below min_lesion_voxels[subtype] go first (on the argmax map), then
        per slice: every component when p_any < min_slice_p_any, else 8-connected components below
        min_component_pixels[subtype] or with a mean winner softmax probability below min_component_score."""
        f = self.spec.get("postprocess", {}).get("filter")
        if not f:
            return
        min_voxels = f.get("min_lesion_voxels", {})
        min_pixels = f.get("min_component_pixels", {})
        min_score = float(f.get("min_component_score", 0.0))
        min_p = float(f.get("min_slice_p_any", 0.0))
        for c in range(1, 6):
            v = int(min_voxels.get(SUBTYPES[c - 1], 0))
            if v > 1:
                lab3, n3 = ndimage.label(labelmap == c, structure=np.ones((3, 3, 3), dtype=bool))
                if n3:
                    small = np.bincount(lab3.ravel()) < v
                    small[0] = False
                    labelmap[small[lab3]] = 0
        eight = np.ones((3, 3), dtype=bool)
        for k in np.nonzero(labelmap.reshape(labelmap.shape[0], -1).any(1))[0]:
            if prob[k, 0] < min_p:
                labelmap[k] = 0
                continue
            fg = labelmap[k] > 0
            if min_score > 0:
                # softmax probability of each foreground pixel's own (winning) class
                logits = up[k][:, fg]
                p_win = np.zeros(fg.shape, dtype=np.float32)
                p_win[fg] = 1.0 / np.exp(logits - logits.max(0)).sum(0)
            for c in range(1, 6):
                m = labelmap[k] == c
                if not m.any():
                    continue
                lab, n = ndimage.label(m, structure=eight)
                pixels = np.bincount(lab.ravel())
                drop = pixels < int(min_pixels.get(SUBTYPES[c - 1], 0))
                if min_score > 0:
                    sums = np.bincount(lab.ravel(), weights=p_win.ravel())
                    drop |= sums / np.maximum(pixels, 1) < min_score
                drop[0] = False
                if drop.any():
                    labelmap[k][drop[lab]] = 0

    def postprocess(self, seg, cls, rows, cols):
        """seg [K, 6, H, W] logits -> label map [K, J, I] uint8, probabilities, labels, boxes."""
        up = resize_last_two(seg, self.taps(seg.shape[2], rows), self.taps(seg.shape[3], cols))  # [K, 6, J, I]
        labelmap = np.argmax(up, axis=1).astype(np.uint8)
        prob = 1.0 / (1.0 + np.exp(-cls.astype(np.float64)))
        self.apply_filter(labelmap, up, prob)
        present = np.stack([(labelmap == c).reshape(labelmap.shape[0], -1).any(1) for c in range(1, 6)], 1)
        labels = np.concatenate([present.any(1, keepdims=True), present], 1).astype(np.uint8)
        boxes = []
        eight = np.ones((3, 3), dtype=bool)
        for k in np.nonzero(labels[:, 0])[0]:
            for c in range(1, 6):
                if not labels[k, c]:
                    continue
                comp, n = ndimage.label(labelmap[k] == c, structure=eight)
                for index, (sy, sx) in enumerate(ndimage.find_objects(comp), start=1):
                    inside = comp[sy, sx] == index
                    logits = up[k][:, sy, sx]
                    # softmax probability of class c, only inside the component's box
                    with np.errstate(over="ignore"):
                        p_c = 1.0 / np.exp(logits - logits[c]).sum(0)
                    boxes.append((int(k), SUBTYPES[c - 1], sx.start, sy.start, sx.stop, sy.stop,
                                  int(inside.sum()), float(p_c[inside].mean())))
        return labelmap, prob, labels, boxes


def read_truth(cohort, case, shape_ijk):
    folder = os.path.join(cohort, "truth", case)
    truth = np.zeros(shape_ijk, dtype=bool)
    if os.path.isdir(folder):
        for name in SUBTYPES:
            path = os.path.join(folder, f"{name}.nii.gz")
            if os.path.exists(path):
                truth |= np.asarray(nib.load(path).dataobj) > 0
    return truth


def f1(tp, fp, fn):
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--sidecar", help="default: the model path with .json")
    p.add_argument("--cohort", required=True, help="folder of <case>/ct.nii.gz (+ truth/ for evaluation)")
    p.add_argument("--out", help="output folder (required unless --no-write)")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime intra-op threads (0 = its default)")
    p.add_argument("--batch", type=int, default=16, help="slices per onnxruntime call")
    p.add_argument("--no-write", action="store_true", help="skip writing masks and CSVs")
    p.add_argument("--no-eval", action="store_true", help="skip the comparison with truth")
    args = p.parse_args()
    sidecar_path = args.sidecar or os.path.splitext(args.model)[0] + ".json"
    with open(sidecar_path) as fh:
        sidecar = json.load(fh)
    if not args.no_write and not args.out:
        sys.exit("--out is required unless --no-write")
    pipe = Pipeline(args.model, sidecar, args.threads, args.batch)
    cases = sorted(d for d in os.listdir(args.cohort) if os.path.isfile(os.path.join(args.cohort, d, "ct.nii.gz")))
    if not cases:
        sys.exit(f"{args.cohort}: no <case>/ct.nii.gz")
    if not args.no_write:
        os.makedirs(os.path.join(args.out, "masks"), exist_ok=True)
    timing = dict(read=0.0, preprocess=0.0, inference=0.0, postprocess=0.0, write=0.0, evaluate=0.0)
    slice_rows, box_rows = [], []
    inter = union = 0
    per_case_dice = []
    tp = fp = fn = tn = 0
    cls_tp = cls_fp = cls_fn = 0
    wall = time.perf_counter()
    for case in cases:
        t = time.perf_counter()
        img = nib.load(os.path.join(args.cohort, case, "ct.nii.gz"))
        hu_ijk = np.asarray(img.get_fdata(dtype=np.float32))  # applies scl_slope / scl_inter
        hu = np.ascontiguousarray(hu_ijk.transpose(2, 1, 0))  # [k, j, i]
        t1 = time.perf_counter(); timing["read"] += t1 - t
        x = pipe.preprocess(hu)
        t2 = time.perf_counter(); timing["preprocess"] += t2 - t1
        seg, cls = pipe.infer(x)
        t3 = time.perf_counter(); timing["inference"] += t3 - t2
        labelmap, prob, labels, boxes = pipe.postprocess(seg, cls, hu.shape[1], hu.shape[2])
        t4 = time.perf_counter(); timing["postprocess"] += t4 - t3
        for k in range(labelmap.shape[0]):
            slice_rows.append([case, k] + labels[k].tolist() + [f"{v:.4f}" for v in prob[k]])
        box_rows += [[case] + list(b[:7]) + [f"{b[7]:.4f}"] for b in boxes]
        if not args.no_write:
            out_img = nib.Nifti1Image(np.ascontiguousarray(labelmap.transpose(2, 1, 0)), img.affine)
            out_img.set_qform(img.affine, int(img.header["qform_code"]) or 1)
            out_img.set_sform(img.affine, int(img.header["sform_code"]) or 1)
            out_img.header.set_data_dtype(np.uint8)
            nib.save(out_img, os.path.join(args.out, "masks", f"{case}.nii.gz"))
        t5 = time.perf_counter(); timing["write"] += t5 - t4
        if not args.no_eval:
            truth = read_truth(args.cohort, case, hu_ijk.shape).transpose(2, 1, 0)
            pred = labelmap > 0
            i, s = int((pred & truth).sum()), int(pred.sum() + truth.sum())
            inter += i
            union += s
            if truth.any():
                per_case_dice.append(2 * i / s)
            ts, ps = truth.reshape(truth.shape[0], -1).any(1), pred.reshape(pred.shape[0], -1).any(1)
            tp += int((ts & ps).sum()); fp += int((~ts & ps).sum()); fn += int((ts & ~ps).sum()); tn += int((~ts & ~ps).sum())
            cs = prob[:, 0] >= 0.5
            cls_tp += int((ts & cs).sum()); cls_fp += int((~ts & cs).sum()); cls_fn += int((ts & ~cs).sum())
        timing["evaluate"] += time.perf_counter() - t5
    if not args.no_write:
        t = time.perf_counter()
        with open(os.path.join(args.out, "slice_labels.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["case", "slice", "any"] + SUBTYPES + ["p_any"] + [f"p_{s}" for s in SUBTYPES])
            w.writerows(slice_rows)
        with open(os.path.join(args.out, "boxes2d.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["case", "slice", "subtype", "x_min", "y_min", "x_max", "y_max", "pixels", "score"])
            w.writerows(box_rows)
        timing["write"] += time.perf_counter() - t
    total = time.perf_counter() - wall - timing["evaluate"]
    n = len(cases)
    print(f"exams: {n}  slices: {len(slice_rows)}  boxes: {len(box_rows)}  onnxruntime {ort.__version__}, "
          f"threads {args.threads or 'default'}, batch {args.batch}")
    print(f"exams/s: {n / total:.3f}  (total {total:.2f} s, excluding evaluation)")
    for key in ("read", "preprocess", "inference", "postprocess", "write"):
        print(f"  {key:<12}{timing[key]:8.2f} s  {100 * timing[key] / total:5.1f} %")
    if not args.no_eval:
        print(f"lesion Dice pooled: {2 * inter / union if union else 1.0:.4f}")
        print(f"lesion Dice mean over {len(per_case_dice)} positive cases: "
              f"{np.mean(per_case_dice) if per_case_dice else float('nan'):.4f}")
        print(f"slice F1 (any, labels from mask): {f1(tp, fp, fn):.4f}  tp {tp} fp {fp} fn {fn} tn {tn}")
        print(f"slice F1 (any, p_any >= 0.5): {f1(cls_tp, cls_fp, cls_fn):.4f}")


if __name__ == "__main__":
    main()
