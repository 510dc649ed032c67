#!/usr/bin/env python3
"""Independent check of `hemo infer`'s 2D path (sidecar format 2): windowing, bilinear resize to the
model input and back, argmax and the component filter, against numpy + onnxruntime + scipy
(scripts/bench/infer_peer.py's Pipeline, which reads only the ONNX file and the sidecar).

  check-infer-path.py MODEL.onnx COHORT RELEASE

For every case of COHORT (<case>/ct.nii.gz, read with nibabel) it compares the release's
labelsTr/<case>.nii.gz with the peer's label map voxel by voxel, and labels/slice_labels.csv's
p_* columns with the peer's sigmoid(cls_logits). It fails unless at least 99.9 % of voxels agree
(exactly equal logits at an argmax tie may go either way; float32 sums differ in the last bits),
every probability is within 2e-3 (the CSV keeps 4 decimals), and the exams hold real blood: the
truth has blood and the peer predicts at least 500 blood voxels over the cohort (so the check is
not satisfied by two empty maps).
"""
import csv
import importlib.util
import json
import os
import sys

import nibabel as nib
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("infer_peer", os.path.join(HERE, "..", "bench", "infer_peer.py"))
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)


def main():
    model, cohort, release = sys.argv[1:4]
    with open(os.path.splitext(model)[0] + ".json") as fh:
        sidecar = json.load(fh)
    pipe = peer.Pipeline(model, sidecar, 1, 8)
    probs = {}
    with open(os.path.join(release, "labels", "slice_labels.csv")) as fh:
        for row in csv.DictReader(fh):
            probs[(row["case"], int(row["slice"]))] = [float(row[c]) for c in ["p_any"] + [f"p_{s}" for s in peer.SUBTYPES]]
    cases = sorted(d for d in os.listdir(cohort) if os.path.isfile(os.path.join(cohort, d, "ct.nii.gz")))
    total = agree = blood_peer = blood_truth = 0
    worst_p = 0.0
    per_subtype = np.zeros(6, dtype=np.int64)
    for case in cases:
        img = nib.load(os.path.join(cohort, case, "ct.nii.gz"))
        hu = np.ascontiguousarray(np.asarray(img.get_fdata(dtype=np.float32)).transpose(2, 1, 0))
        seg, cls = pipe.infer(pipe.preprocess(hu))
        labelmap, prob, _, _ = pipe.postprocess(seg, cls, hu.shape[1], hu.shape[2])
        ours = np.asarray(nib.load(os.path.join(release, "labelsTr", f"{case}.nii.gz")).dataobj).transpose(2, 1, 0)
        if ours.shape != labelmap.shape:
            print(f"FAIL: {case}: hemo's label map {ours.shape} vs the peer's {labelmap.shape}"); sys.exit(1)
        total += labelmap.size
        agree += int((ours == labelmap).sum())
        blood_peer += int((labelmap > 0).sum())
        per_subtype += np.bincount(labelmap.ravel(), minlength=6)
        blood_truth += int(peer.read_truth(cohort, case, hu.shape[::-1]).sum())
        for k in range(labelmap.shape[0]):
            got = probs.get((case, k))
            if got is None:
                print(f"FAIL: {case} slice {k}: no row in slice_labels.csv"); sys.exit(1)
            worst_p = max(worst_p, float(np.abs(np.array(got) - prob[k]).max()))
    fraction = agree / total
    print(f"{len(cases)} exams, {total} voxels: {fraction * 100:.4f} % identical labels; peer blood voxels per class "
          f"{dict(zip(peer.SUBTYPES, per_subtype[1:].tolist()))}; truth blood voxels {blood_truth}; "
          f"largest probability difference {worst_p:.2e}")
    if blood_truth == 0 or blood_peer < 500:
        print("FAIL: the exams do not hold blood the model finds; the comparison would be vacuous"); sys.exit(1)
    if fraction < 0.999:
        print(f"FAIL: only {fraction * 100:.4f} % of voxels agree with numpy + onnxruntime"); sys.exit(1)
    if worst_p > 2e-3:
        print(f"FAIL: slice probabilities differ by up to {worst_p:.2e}"); sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
