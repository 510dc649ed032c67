#!/usr/bin/env python3
"""Independent check of a release's `--probabilities` maps (2D path, sidecar format 2) against
numpy + onnxruntime (scripts/bench/infer_peer.py's Pipeline, which reads only the ONNX file and the
sidecar) and nibabel:

  check-probability-maps.py MODEL.onnx COHORT RELEASE

For every case of COHORT it computes the model's softmax probabilities on the CT grid (bilinear
resize of the logits back, softmax over the six channels) and reads the release's
probabilities/<case>/<SUBTYPE>.nii.gz with nibabel. It fails unless every file is uint8 with
scl_slope 1/255 and scl_inter 0 on the CT's affine, nibabel's scaled values are within
1/510 + 1e-4 of the peer's probabilities everywhere, at least 99.9 % of stored bytes equal
round(p * 255) exactly (a float32 sum may fall on the other side of a rounding boundary), and the
maps are not vacuous (some voxel of some map is at least 0.5).
"""
import json
import os
import sys

import importlib.util
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
    cases = sorted(d for d in os.listdir(cohort) if os.path.isfile(os.path.join(cohort, d, "ct.nii.gz")))
    worst = 0.0
    total = exact = 0
    high = 0
    for case in cases:
        img = nib.load(os.path.join(cohort, case, "ct.nii.gz"))
        hu = np.ascontiguousarray(np.asarray(img.get_fdata(dtype=np.float32)).transpose(2, 1, 0))
        seg, _ = pipe.infer(pipe.preprocess(hu))
        up = peer.resize_last_two(seg, pipe.taps(seg.shape[2], hu.shape[1]), pipe.taps(seg.shape[3], hu.shape[2])).astype(np.float64)
        e = np.exp(up - up.max(1, keepdims=True))
        p = e / e.sum(1, keepdims=True)  # [K, 6, J, I]
        for c, name in enumerate(peer.SUBTYPES, start=1):
            path = os.path.join(release, "probabilities", case, f"{name}.nii.gz")
            if not os.path.isfile(path):
                print(f"FAIL: {path} is missing"); sys.exit(1)
            m = nib.load(path)
            if m.get_data_dtype() != np.uint8:
                print(f"FAIL: {path}: datatype {m.get_data_dtype()}, uint8 expected"); sys.exit(1)
            slope, inter = m.dataobj.slope, m.dataobj.inter
            if abs(slope - 1 / 255) > 1e-9 or inter != 0:
                print(f"FAIL: {path}: scl_slope {slope} scl_inter {inter}"); sys.exit(1)
            if not np.allclose(m.affine, img.affine, atol=1e-4):
                print(f"FAIL: {path}: affine differs from the CT's"); sys.exit(1)
            got = m.get_fdata().transpose(2, 1, 0)
            stored = np.asarray(m.dataobj.get_unscaled()).transpose(2, 1, 0)
            want = p[:, c]
            worst = max(worst, float(np.abs(got - want).max()))
            exact += int((stored == np.floor(want * 255 + 0.5)).sum())
            total += stored.size
            high += int((got >= 0.5).sum())
    fraction = exact / total
    print(f"{len(cases)} exams, {total} map voxels: largest |nibabel - softmax| {worst:.2e} (limit {1 / 510 + 1e-4:.2e}); "
          f"{fraction * 100:.4f} % of bytes equal round(p*255); {high} voxels with p >= 0.5")
    if worst > 1 / 510 + 1e-4:
        print("FAIL: a quantised probability is further from the peer's than the quantisation allows"); sys.exit(1)
    if fraction < 0.999:
        print("FAIL: too few bytes equal round(p*255)"); sys.exit(1)
    if high == 0:
        print("FAIL: no voxel has a probability of 0.5 or more; the comparison would be vacuous"); sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
