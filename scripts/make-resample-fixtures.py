#!/usr/bin/env python3
"""Resampling fixtures for HemoTransformsTests, computed by SimpleITK.

Writes Tests/HemoTransformsTests/Fixtures/resample/: small volumes (raw little-endian, NIfTI order:
i fastest) and their SimpleITK resamplings to several spacings with the project's conventions
(origin and direction kept, size round-half-up(n * s / s'), `Resample(img, size, Transform(), interp,
origin, spacing, direction, fill, pixelType)`), plus resample.json describing every file.

Usage: pip install SimpleITK numpy && python3 scripts/make-resample-fixtures.py
"""
import json
import math
import os

import numpy as np
import SimpleITK as sitk

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "Tests", "HemoTransformsTests", "Fixtures", "resample")

INTERPOLATORS = {"nearest": sitk.sitkNearestNeighbor, "linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline}
PIXEL_TYPES = {"int16": sitk.sitkInt16, "uint8": sitk.sitkUInt8, "float32": sitk.sitkFloat32}
NUMPY_TYPES = {"int16": "<i2", "uint8": "u1", "float32": "<f4"}


def ct_like(shape_kji, rng):
    """Smooth CT-like values: air, skull ring, brain, two bright blobs, a little noise."""
    k, j, i = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape_kji], indexing="ij")
    cz, cy, cx = [(n - 1) / 2 for n in shape_kji]
    r = np.sqrt(((i - cx) / (shape_kji[2] / 2.2)) ** 2 + ((j - cy) / (shape_kji[1] / 2.2)) ** 2
                + ((k - cz) / (shape_kji[0] / 1.6)) ** 2)
    v = np.full(shape_kji, -1000.0)
    v[r < 1.0] = 1200.0
    v[r < 0.85] = 35.0
    blob = np.exp(-(((i - cx * 0.7) ** 2 + (j - cy * 1.2) ** 2) / 6.0 + (k - cz) ** 2 / 2.0))
    v += 60.0 * blob * (r < 0.85)
    v += rng.normal(0.0, 7.0, size=shape_kji)
    return np.clip(np.round(v), -1024, 3000).astype(np.int16)


def labels_like(shape_kji, rng):
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape_kji], indexing="ij")
    lab = np.zeros(shape_kji, dtype=np.uint8)
    for value in range(1, 6):
        ci, cj, ck = rng.uniform(0, shape_kji[2]), rng.uniform(0, shape_kji[1]), rng.uniform(0, shape_kji[0])
        rad = rng.uniform(2.0, 5.0)
        lab[((i - ci) ** 2 + (j - cj) ** 2 + ((k - ck) * 3) ** 2) < rad ** 2] = value
    # Speckles and a one-voxel border line.
    lab[rng.random(shape_kji) < 0.02] = 3
    lab[:, 0, :] = np.where(lab[:, 0, :] == 0, 1, lab[:, 0, :])
    return lab


def make_image(array_kji, spacing, origin, direction):
    img = sitk.GetImageFromArray(array_kji)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(direction)
    return img


def target_size(size, spacing, new_spacing):
    # Schoolbook rounding of n * s / s' (halves up, all values positive), at least 1.
    return [max(1, int(math.floor(n * s / t + 0.5))) for n, s, t in zip(size, spacing, new_spacing)]


def write_raw(name, array_kji, dtype):
    path = os.path.join(OUT, name)
    np.ascontiguousarray(array_kji).astype(NUMPY_TYPES[dtype]).tofile(path)
    return name


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    rng = np.random.default_rng(20261127)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)

    c, s = math.cos(0.3), math.sin(0.3)
    inputs = [
        # name, array (k, j, i), dtype, spacing, origin, direction (row-major 3x3)
        ("ct_flipped", ct_like((7, 19, 23), rng), "int16", (0.45, 0.45, 5.0), (12.3, -7.9, 31.7),
         (-1, 0, 0, 0, -1, 0, 0, 0, 1)),
        ("labels_flipped", labels_like((7, 19, 23), rng), "uint8", (0.45, 0.45, 5.0), (12.3, -7.9, 31.7),
         (-1, 0, 0, 0, -1, 0, 0, 0, 1)),
        ("ct_oblique", ct_like((9, 13, 17), rng), "int16", (0.8, 1.1, 2.5), (-3.25, 4.5, -60.125),
         (c, -s, 0, s, c, 0, 0, 0, 1)),
    ]
    spacings = [(1.0, 1.0, 1.0), (0.9, 0.9, 2.5), (0.3, 0.5, 3.3), (1.37, 0.61, 4.2), (2.0, 2.0, 10.0),
                (0.225, 0.9, 1.25)]
    manifest = {"generator": "scripts/make-resample-fixtures.py", "simpleitk": sitk.Version_VersionString(),
                "inputs": [], "cases": []}
    for name, arr, dtype, spacing, origin, direction in inputs:
        img = make_image(arr, spacing, origin, direction)
        manifest["inputs"].append({"name": name, "file": write_raw(name + ".raw", arr, dtype), "dtype": dtype,
                                   "size": list(img.GetSize()), "spacing": list(spacing), "origin": list(origin),
                                   "direction": list(direction)})
        is_label = dtype == "uint8"
        runs = [("nearest", dtype)] if is_label else [("linear", "float32"), ("linear", "int16"),
                                                       ("nearest", "int16"), ("bspline", "float32")]
        fill = 0.0 if is_label else -1024.0
        for new_spacing in spacings:
            size = target_size(img.GetSize(), spacing, new_spacing)
            for interp, out_type in runs:
                out = sitk.Resample(img, size, sitk.Transform(), INTERPOLATORS[interp], img.GetOrigin(),
                                    new_spacing, img.GetDirection(), fill, PIXEL_TYPES[out_type])
                assert list(out.GetSize()) == size
                tag = "%s_%s_%s_%s" % (name, interp, out_type, "x".join("%g" % v for v in new_spacing))
                manifest["cases"].append({
                    "input": name, "interpolation": interp, "output_dtype": out_type, "fill": fill,
                    "spacing": list(new_spacing), "size": size,
                    "file": write_raw(tag + ".raw", sitk.GetArrayFromImage(out), out_type)})
    with open(os.path.join(OUT, "resample.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d cases, %d bytes, to %s" % (len(manifest["cases"]), total, OUT))


if __name__ == "__main__":
    main()
