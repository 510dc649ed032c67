#!/usr/bin/env python3
"""Writes a tiny synthetic raw cohort for smoke checks of `hemo build` (e.g. scripts/check-nnunet.sh).

Layout written (the raw cohort layout `hemo build --cohort` reads):

    OUT/<case>/ct.nii.gz         int16 HU: air, a skull ring, brain, a ventricle pair
    OUT/<case>/labelmap.nii.gz   uint8 0..5 on the CT's grid (omitted for the last case,
                                 which `hemo build` releases as a negative exam)

Every case is a pure function of its index, so the output is the same on every run.
Case 1 has an oblique (rotated about z) but orthonormal affine, so readers that keep the
direction cosines (SimpleITK in nnU-Net) see a non-identity direction on image and label alike.

Needs numpy and nibabel. Usage: make-tiny-cohort.py OUT [--cases 3] [--in-plane 64] [--slices 8]
"""
import argparse
import math
import os
import sys

import nibabel as nib
import numpy as np


def case_affine(index: int, in_plane: int, slices: int) -> np.ndarray:
    """Voxel-to-world (RAS mm) affine: 3.5 mm in-plane, 5 mm slices, centred on the origin."""
    spacing = np.array([3.5, 3.5, 5.0])
    angle = math.radians(12.0) if index == 1 else 0.0
    rot = np.array([[math.cos(angle), -math.sin(angle), 0.0],
                    [math.sin(angle), math.cos(angle), 0.0],
                    [0.0, 0.0, 1.0]])
    # LPS-like storage as scanners write it: i runs right-to-left, j anterior-to-posterior.
    flips = np.diag([-1.0, -1.0, 1.0])
    linear = rot @ flips @ np.diag(spacing)
    centre = np.array([(in_plane - 1) / 2, (in_plane - 1) / 2, (slices - 1) / 2])
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ centre
    return affine


def case_volumes(index: int, in_plane: int, slices: int):
    """CT (int16 HU) and label map (uint8 0..5) of case `index`, both shaped (in_plane, in_plane, slices)."""
    rng = np.random.default_rng(1000 + index)
    i, j, k = np.meshgrid(np.arange(in_plane), np.arange(in_plane), np.arange(slices), indexing="ij")
    c = (in_plane - 1) / 2
    r = np.sqrt(((i - c) / (0.45 * in_plane)) ** 2 + ((j - c) / (0.40 * in_plane)) ** 2)
    ct = np.full(i.shape, -1000.0)
    ct[r < 1.0] = 1200.0                       # skull
    ct[r < 0.9] = 35.0                         # brain
    ventricles = (np.abs(i - c) > 2) & (np.abs(i - c) < 6) & (np.abs(j - c) < 8)
    ct[ventricles] = 8.0                       # CSF
    ct += rng.normal(0.0, 4.0, size=ct.shape)  # scanner noise
    labels = np.zeros(i.shape, dtype=np.uint8)
    s = in_plane / 64.0
    k_mid = slices // 2
    # One lesion per subtype, placed by case index so each case shows a different mix.
    if index % 3 == 0:
        labels[(r > 0.82) & (r < 0.9) & (i < c) & (np.abs(k - k_mid) <= 1)] = 1          # EPH: thin rim
        labels[(r > 0.78) & (r < 0.9) & (i > c) & (j < c) & (k >= k_mid - 2)] = 2         # SDH: crescent
        labels[(np.abs(i - c) < 1.5) & (j > c + 10 * s) & (r < 0.9) & (k <= k_mid)] = 3   # SAH: fissure
    if index % 3 == 1:
        blob = ((i - c - 12 * s) ** 2 + (j - c + 6 * s) ** 2 + ((k - k_mid) * 3) ** 2) < (6 * s) ** 2
        labels[blob] = 4                                                                   # IPH: blob
        labels[ventricles & (k >= k_mid - 1) & (k <= k_mid + 1)] = 5                       # IVH
        labels[(r > 0.8) & (r < 0.9) & (i < c) & (j > c) & (k == k_mid)] = 2               # small SDH
    ct[labels == 1] = 70.0
    ct[labels == 2] = 65.0
    ct[labels == 3] = 55.0
    ct[labels == 4] = 75.0
    ct[labels == 5] = 60.0
    return np.clip(np.rint(ct), -1024, 3071).astype(np.int16), labels


def save(volume: np.ndarray, affine: np.ndarray, path: str) -> None:
    image = nib.Nifti1Image(volume, affine)
    image.set_qform(affine, code=1)  # scanner
    image.set_sform(affine, code=1)
    image.header.set_slope_inter(1.0, 0.0)
    image.header.set_xyzt_units("mm", "sec")
    nib.save(image, path)


def main() -> int:
    parser = argparse.ArgumentParser(description="Write a tiny synthetic raw cohort for hemo build.")
    parser.add_argument("out", help="cohort folder to create (must not exist or be empty)")
    parser.add_argument("--cases", type=int, default=3, help="number of cases (default 3; the last has no labelmap)")
    parser.add_argument("--in-plane", type=int, default=64, help="in-plane size in voxels (default 64)")
    parser.add_argument("--slices", type=int, default=8, help="number of slices (default 8)")
    args = parser.parse_args()
    if args.cases < 1 or args.in_plane < 32 or args.slices < 4:
        parser.error("need --cases >= 1, --in-plane >= 32 and --slices >= 4")
    if os.path.isdir(args.out) and os.listdir(args.out):
        parser.error(f"{args.out} exists and is not empty")
    for index in range(args.cases):
        case_dir = os.path.join(args.out, f"case_{index:03d}")
        os.makedirs(case_dir, exist_ok=True)
        affine = case_affine(index, args.in_plane, args.slices)
        ct, labels = case_volumes(index, args.in_plane, args.slices)
        save(ct, affine, os.path.join(case_dir, "ct.nii.gz"))
        if index < args.cases - 1 or args.cases == 1:
            save(labels, affine, os.path.join(case_dir, "labelmap.nii.gz"))
    print(f"make-tiny-cohort: {args.cases} cases, {args.in_plane}x{args.in_plane}x{args.slices}, in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
