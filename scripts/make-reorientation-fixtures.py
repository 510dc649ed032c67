#!/usr/bin/env python3
"""Reorientation fixtures for HemoTransformsTests, computed by nibabel's as_closest_canonical.

Writes Tests/HemoTransformsTests/Fixtures/reorientation/reorientation.json: for several affines (flips,
permutations, small and large obliquity) a small volume whose voxels are their own linear offsets (NIfTI
order), and nibabel's canonical result: io_orientation, the canonical affine and the canonical voxels
(flattened in NIfTI order, i fastest).

Usage: pip install nibabel numpy && python3 scripts/make-reorientation-fixtures.py
"""
import json
import math
import os

import nibabel as nib
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "HemoTransformsTests", "Fixtures", "reorientation")


def rotation(axis, angle):
    c, s = math.cos(angle), math.sin(angle)
    r = np.eye(3)
    a, b = [(1, 2), (0, 2), (0, 1)][axis]
    r[a, a], r[a, b], r[b, a], r[b, b] = c, -s, s, c
    return r


def case(name, shape, linear, translation):
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = translation
    data = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape[::-1]).transpose(2, 1, 0)  # data[i, j, k]
    img = nib.Nifti1Image(data, affine)
    canonical = nib.as_closest_canonical(img)
    cdata = np.asarray(canonical.dataobj)
    return {"name": name, "shape": list(shape), "affine": affine.ravel().tolist(),
            "ornt": nib.io_orientation(affine).tolist(),
            "canonical_shape": list(cdata.shape), "canonical_affine": canonical.affine.ravel().tolist(),
            "canonical_voxels": cdata.transpose(2, 1, 0).ravel().tolist()}


def main():
    os.makedirs(OUT, exist_ok=True)
    z = np.diag([0.45, 0.45, 5.0])
    cases = [
        case("ras", (5, 4, 3), z, (1, 2, 3)),
        case("lps", (5, 4, 3), np.diag([-0.45, -0.45, 5.0]), (100.5, 120.25, -30)),
        case("las_flipped_k", (4, 3, 5), np.diag([-1.0, 1.0, -2.5]), (0, -5, 40)),
        case("sagittal_permuted", (3, 5, 4), np.array([[0, 0, -5.0], [0.45, 0, 0], [0, -0.45, 0]]), (10, 20, 30)),
        case("oblique_12deg", (5, 4, 3), rotation(0, math.radians(12)) @ rotation(2, math.radians(7)) @ z, (-3, 4, 5)),
        case("oblique_40deg", (4, 5, 3), rotation(2, math.radians(40)) @ np.diag([-0.8, 0.8, 3.0]), (7, -7, 1)),
        case("oblique_sheared", (3, 4, 5), np.array([[0.1, -0.9, 0.2], [0.05, 0.3, 2.4], [1.1, 0.1, -0.3]]), (0, 0, 0)),
    ]
    with open(os.path.join(OUT, "reorientation.json"), "w") as f:
        json.dump({"generator": "scripts/make-reorientation-fixtures.py", "nibabel": nib.__version__,
                   "cases": cases}, f, indent=1)
    for c in cases:
        print(c["name"], c["ornt"])


if __name__ == "__main__":
    main()
