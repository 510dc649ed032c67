#!/usr/bin/env python3
"""Benchmark: 26-connected components + bounding boxes of a 512x512x36 mask.

Ours (`hemo-bench components`: labelling with per-component boxes, voxel counts, centroids and run-length
membership, timed inside the process) against scipy `ndimage.label(mask, np.ones((3, 3, 3)))` followed by
`ndimage.find_objects` (timed around both calls), on the same raw mask: a realistic
hemorrhage label map (a few ellipsoidal lesions, a thin crescent, scattered noise specks) binarised.
Checks that both find the same components with the same boxes and voxel counts.

Usage: swift build -c release --product hemo && python3 scripts/bench/bench_components.py [--repeat 7]
Needs: pip install scipy numpy
"""
import argparse
import os
import tempfile

import numpy as np
from scipy import ndimage

from common import PeerTimer, hemo_path, report, run_hemo


def lesion_mask(shape_kji, seed=11):
    rng = np.random.default_rng(seed)
    nk, nj, ni = shape_kji
    k, j, i = np.ogrid[:nk, :nj, :ni]
    m = np.zeros(shape_kji, dtype=bool)
    for _ in range(6):
        ci, cj, ck = rng.uniform(100, 412), rng.uniform(100, 412), rng.uniform(4, nk - 4)
        ri, rj, rk = rng.uniform(8, 40), rng.uniform(8, 40), rng.uniform(2, 6)
        m |= ((i - ci) / ri) ** 2 + ((j - cj) / rj) ** 2 + ((k - ck) / rk) ** 2 < 1
    # A subdural-like crescent: a thin shell sector.
    r = np.sqrt(((i - 256) / 220.0) ** 2 + ((j - 256) / 240.0) ** 2 + ((k - nk / 2) / (nk * 0.7)) ** 2)
    m |= (r > 0.95) & (r < 0.99) & (i < 200)
    # Noise specks (false positives), 0.05% of voxels.
    m |= rng.random(shape_kji) < 0.0005
    return m.astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--size", default="512,512,36")
    ap.add_argument("--label-image", action="store_true", help="also time building our Int32 label image")
    ap.add_argument("--hemo", default=None)
    args = ap.parse_args()
    size = [int(x) for x in args.size.split(",")]
    mask = lesion_mask((size[2], size[1], size[0]))
    tmp = tempfile.mkdtemp(prefix="hemo-bench-components-")
    raw = os.path.join(tmp, "mask.raw")
    boxes_out = os.path.join(tmp, "boxes.txt")
    mask.tofile(raw)

    structure = np.ones((3, 3, 3), dtype=int)
    cmd = [hemo_path(args.hemo, "hemo-bench"), "components", "--input", raw, "--size", args.size, "--repeat", str(args.repeat),
           "--warmup", "1", "--output", boxes_out] + (["--label-image"] if args.label_image else [])
    ndimage.find_objects(ndimage.label(mask, structure=structure)[0])  # peer warm-up
    ours = run_hemo(cmd)[0]
    peer = []
    for _ in range(args.repeat):
        with PeerTimer() as timer:
            labels, n = ndimage.label(mask, structure=structure)
            objects = ndimage.find_objects(labels)
        peer.append(timer.result)

    counts = np.bincount(labels.ravel())[1:]
    expected = ["%d %d %d %d %d %d %d %d" % (c + 1, counts[c], sl[2].start, sl[1].start, sl[0].start,
                                             sl[2].stop, sl[1].stop, sl[0].stop) for c, sl in enumerate(objects)]
    with open(boxes_out) as f:
        got = f.read().split("\n")[:-1]
    print("command: %s" % " ".join(cmd))
    print("input %s mask, %d set voxels, %d components (scipy)" % ("x".join(map(str, size)), int(mask.sum()), n))
    print("agreement: components, labels, voxel counts and boxes identical: %s" % (got == expected))
    report("components 3D (26-connected) + boxes", ours, peer, "scipy", 2.0)


if __name__ == "__main__":
    main()
