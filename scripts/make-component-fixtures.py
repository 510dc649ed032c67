#!/usr/bin/env python3
"""Connected-component fixtures for HemoTransformsTests, computed by scipy.ndimage.

Writes Tests/HemoTransformsTests/Fixtures/components/: binary masks (uint8 raw, NIfTI order, i fastest)
and scipy's results: 26-connected 3D labels (`label(mask, structure=np.ones((3, 3, 3)))` on the array of
shape (k, j, i)) as int32 raw plus `find_objects` boxes, voxel counts and centroids; 8-connected labels of
every slice k (`structure=np.ones((3, 3))` on the (j, i) plane) likewise; components.json describes all.

Usage: pip install scipy numpy && python3 scripts/make-component-fixtures.py
"""
import json
import os

import numpy as np
from scipy import ndimage

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "HemoTransformsTests", "Fixtures", "components")


def blobs_mask(rng):
    """64x64x9 (i, j, k): blobs, diagonal-only contacts, single voxels, border contacts, empty slices."""
    nk, nj, ni = 9, 64, 64
    m = np.zeros((nk, nj, ni), dtype=np.uint8)
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    for _ in range(12):
        ci, cj, ck = rng.uniform(0, ni), rng.uniform(0, nj), rng.uniform(0, nk)
        ri, rj, rk = rng.uniform(2, 9), rng.uniform(2, 9), rng.uniform(0.6, 3)
        m[((i - ci) / ri) ** 2 + ((j - cj) / rj) ** 2 + ((k - ck) / rk) ** 2 < 1] = 1
    m[rng.random(m.shape) < 0.01] = 1  # specks
    # A diagonal staircase: voxels touching only by corners (one 26-component, many 8-components per slice).
    for t in range(6):
        m[1 + t, 40 + t, 2 + t] = 1
    # In-plane diagonal chain (one 8-component in the slice).
    for t in range(8):
        m[4, 2 + t, 50 + t] = 1
    # Components touching every border.
    m[:, 0, 20:24] = 1
    m[:, 63, 30] = 1
    m[0, 10:14, 0] = 1
    m[8, 50:52, 63] = 1
    # Empty slices.
    m[3] = 0
    m[6] = 0
    # A U shape whose arms merge late in scan order (tests union of earlier labels).
    m[7, 20:30, 35] = 1
    m[7, 20:30, 45] = 1
    m[7, 29, 35:46] = 1
    return m


def dense_mask(rng):
    """40x30x6 dense random noise (≈35% set): many merges."""
    return (rng.random((6, 30, 40)) < 0.35).astype(np.uint8)


def describe(mask, name):
    nk, nj, ni = mask.shape
    labels3, n3 = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=int))
    comps3 = []
    for c, sl in enumerate(ndimage.find_objects(labels3), start=1):
        kk, jj, ii = np.nonzero(labels3 == c)
        comps3.append({"label": c, "min": [sl[2].start, sl[1].start, sl[0].start],
                       "max": [sl[2].stop, sl[1].stop, sl[0].stop], "voxels": int(kk.size),
                       "centroid": [float(ii.mean()), float(jj.mean()), float(kk.mean())]})
    labels2 = np.zeros_like(labels3)
    slices = []
    for k in range(nk):
        lab, n = ndimage.label(mask[k], structure=np.ones((3, 3), dtype=int))
        labels2[k] = lab
        comps = []
        for c, sl in enumerate(ndimage.find_objects(lab), start=1):
            jj, ii = np.nonzero(lab == c)
            comps.append({"label": c, "x_min": sl[1].start, "y_min": sl[0].start, "x_max": sl[1].stop,
                          "y_max": sl[0].stop, "pixels": int(jj.size),
                          "centroid": [float(ii.mean()), float(jj.mean())]})
        slices.append({"slice": k, "count": n, "components": comps})
    mask.astype(np.uint8).tofile(os.path.join(OUT, name + "_mask.raw"))
    labels3.astype("<i4").tofile(os.path.join(OUT, name + "_labels3d.raw"))
    labels2.astype("<i4").tofile(os.path.join(OUT, name + "_labels2d.raw"))
    return {"name": name, "size": [ni, nj, nk], "mask": name + "_mask.raw", "labels3d": name + "_labels3d.raw",
            "labels2d": name + "_labels2d.raw", "count3d": int(n3), "components3d": comps3, "slices": slices}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    rng = np.random.default_rng(4242)
    import scipy
    manifest = {"generator": "scripts/make-component-fixtures.py", "scipy": scipy.__version__,
                "volumes": [describe(blobs_mask(rng), "blobs"), describe(dense_mask(rng), "dense")]}
    with open(os.path.join(OUT, "components.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    for v in manifest["volumes"]:
        print(v["name"], "3D components:", v["count3d"], "2D per slice:", [s["count"] for s in v["slices"]])
    print("wrote %d bytes to %s" % (total, OUT))


if __name__ == "__main__":
    main()
