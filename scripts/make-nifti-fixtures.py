#!/usr/bin/env python3
"""Generate the small NIfTI fixtures of Tests/NIfTITests/Fixtures and nibabel's reading of them.

Usage:  pip install nibabel numpy && python3 scripts/make-nifti-fixtures.py

Every fixture is written (by nibabel, or by hand for variants nibabel does not write), then
read back with nibabel from disk; expected.json records what nibabel reports: shape, stored
dtype, affine (get_best_affine), codes, slope/intercept, the stored values and get_fdata()
values flattened in NIfTI order (i fastest), each as a string (Python repr, exact; "nan",
"inf", "-inf" for non-finite values). The Swift tests compare NIfTI.NIfTIFile against these numbers, without Python.
"""
import gzip
import hashlib
import json
import os
import sys

import nibabel as nib
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NIfTITests", "Fixtures")
SHAPE = (7, 6, 5)
rng = np.random.default_rng(20260127)


def rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine(rot, zooms, origin, flip_k=False):
    a = np.eye(4)
    m = rot @ np.diag(zooms)
    if flip_k:
        m[:, 2] *= -1
    a[:3, :3] = m
    a[:3, 3] = origin
    return a


CT_AFFINE = affine(rotation(0.12, -0.05, 0.3), (0.45, 0.45, 5.0), (-80.5, -95.25, -40.0))
OBLIQUE_FLIP = affine(rotation(-0.2, 0.1, 0.05), (0.9, 0.8, 2.5), (60.0, -70.0, 12.5), flip_k=True)
SHEARED = np.array([[0.7, 0.1, 0.0, -30.0], [0.05, 0.8, 0.2, 40.0], [0.0, -0.1, 3.0, -12.0], [0, 0, 0, 1.0]])


def ct_like(shape):
    """Head-CT-like int16 stored values: air, a skull ring, brain, a bright blob."""
    i, j, k = np.meshgrid(*[np.arange(n) for n in shape[:3]], indexing="ij")
    c = [(n - 1) / 2 for n in shape[:3]]
    r = np.sqrt(((i - c[0]) / (shape[0] / 2)) ** 2 + ((j - c[1]) / (shape[1] / 2)) ** 2)
    hu = np.where(r > 1.0, -1000.0, np.where(r > 0.8, 1200.0, 35.0))
    hu = hu + rng.normal(0, 6, size=hu.shape)
    hu[(i == 3) & (j == 2)] = 75.0  # a "bleed"
    return hu


def header_for(data, aff, qcode, scode, qaff=None, nifti2=False, slope=None, inter=None):
    """A nibabel header with exactly these codes, forms and scaling (nibabel's save would
    re-derive scaling and codes, so fixtures are written byte by byte with write_raw)."""
    hdr = nib.Nifti2Header() if nifti2 else nib.Nifti1Header()
    hdr.set_data_shape(data.shape)
    hdr.set_data_dtype(data.dtype)
    hdr.set_qform(aff if qaff is None else qaff, code=qcode)
    hdr.set_sform(aff, code=scode)
    hdr["scl_slope"] = np.nan if slope is None else slope
    hdr["scl_inter"] = np.nan if inter is None else inter
    hdr["descrip"] = b"HemoCluster test fixture"
    return hdr


def write_raw(hdr, data, name, big_endian=False):
    """Header, 4-byte extension flag, voxels (Fortran order); gzip with mtime 0 for .gz."""
    hdr = hdr.copy()
    hdr.set_data_offset(544 if isinstance(hdr, nib.Nifti2Header) else 352)
    if big_endian:
        hdr = hdr.as_byteswapped(">")
    dtype = data.dtype.newbyteorder(">" if big_endian else "<")
    payload = hdr.binaryblock + b"\0\0\0\0" + data.astype(dtype).tobytes(order="F")
    path = os.path.join(OUT, name)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(payload, compresslevel=9, mtime=0) if name.endswith(".gz") else payload)
    return path


def make_all():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    files = []
    w = lambda hdr, data, name, **kw: files.append(write_raw(hdr, data, name, **kw))

    # 1. Scanner CT: int16 stored, slope 0.5 / intercept -1024, .nii and .nii.gz.
    hu = ct_like(SHAPE)
    stored = np.round((hu + 1024) / 0.5).astype(np.int16)
    ct = header_for(stored, CT_AFFINE, 1, 1, slope=0.5, inter=-1024)
    w(ct, stored, "ct_int16_scaled.nii")
    w(ct, stored, "ct_int16_scaled.nii.gz")

    # 2. uint8 mask.
    mask = (ct_like(SHAPE) > 50).astype(np.uint8)
    w(header_for(mask, CT_AFFINE, 1, 1), mask, "mask_uint8.nii.gz")

    # 3. float32 with NaN and infinities (and a scaled float32 copy).
    f = rng.normal(0, 100, size=SHAPE).astype(np.float32)
    f[0, 0, 0] = np.nan
    f[1, 2, 3] = np.inf
    f[6, 5, 4] = -np.inf
    f[3, 3, 3] = np.nan
    w(header_for(f, CT_AFFINE, 1, 1), f, "float32_nan.nii.gz")
    w(header_for(f, CT_AFFINE, 1, 1), f, "float32_nan.nii")
    w(header_for(f, CT_AFFINE, 1, 1, slope=2.0, inter=0.5), f, "float32_nan_scaled.nii")

    # 4. Big-endian int16 with scaling.
    w(header_for(stored, OBLIQUE_FLIP, 1, 1, slope=1.0, inter=-1024), stored, "bigendian_int16.nii", big_endian=True)

    # 5. NIfTI-2: float64 (.nii, .nii.gz) and big-endian uint16.
    d = rng.normal(10, 3, size=SHAPE)
    w(header_for(d, CT_AFFINE, 1, 1, nifti2=True), d, "nifti2_float64.nii")
    w(header_for(d, CT_AFFINE, 1, 1, nifti2=True), d, "nifti2_float64.nii.gz")
    u16 = rng.integers(0, 60000, size=SHAPE).astype(np.uint16)
    w(header_for(u16, OBLIQUE_FLIP, 1, 1, nifti2=True, slope=0.1, inter=-5), u16,
      "nifti2_bigendian_uint16.nii", big_endian=True)

    # 6. qform only (sform_code 0) with a left-handed affine (qfac -1).
    w(header_for(stored, OBLIQUE_FLIP, 1, 0), stored, "qform_only.nii")
    # 7. sform only (qform_code 0), sheared affine, code 2 (aligned).
    w(header_for(stored, SHEARED, 0, 2), stored, "sform_only.nii")
    # 8. Both, differing: qform (code 1) one affine, sform (code 4, MNI) another.
    w(header_for(stored, SHEARED, 1, 4, qaff=OBLIQUE_FLIP), stored, "qform_sform_differ.nii")
    # 9. No codes: nibabel's centred, x-flipped pixdim diagonal.
    hdr = header_for(stored, np.diag([0.8, 0.9, 2.5, 1.0]), 0, 0)
    w(hdr, stored, "no_codes.nii")

    # 10. 4D int16 (3 frames) .nii.gz; int32 scaled; uint16.
    four = np.stack([stored + 10 * t for t in range(3)], axis=-1).astype(np.int16)
    w(header_for(four, CT_AFFINE, 1, 1), four, "series_4d_int16.nii.gz")
    i32 = rng.integers(-2_000_000_000, 2_000_000_000, size=SHAPE).astype(np.int32)
    w(header_for(i32, CT_AFFINE, 2, 2, slope=0.25, inter=3.5), i32, "int32_scaled.nii")
    w(header_for(u16, CT_AFFINE, 1, 1), u16, "uint16.nii")

    # 11. Written by nibabel's own writer (nib.save), for comparing our writer's header with it.
    img = nib.Nifti1Image(stored, OBLIQUE_FLIP)
    img.header.set_qform(OBLIQUE_FLIP, code=1)
    img.header.set_sform(OBLIQUE_FLIP, code=1)
    img.set_data_dtype(np.int16)
    path = os.path.join(OUT, "nibabel_written.nii")
    nib.save(img, path)
    files.append(path)
    return files


def encode(values):
    out = []
    for v in values:
        v = float(v)
        if np.isnan(v):
            out.append("nan")
        elif np.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(repr(v))  # a string: exact for any JSON parser
    return out


def expectation(path):
    img = nib.load(path)
    hdr = img.header
    # nibabel moves the scaling from the header into the array proxy when it loads.
    slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
    raw_hdr = type(hdr).from_fileobj(img.file_map["image"].get_prepare_fileobj(mode="rb"))
    if raw_hdr.get_slope_inter() == (None, None):
        slope, inter = None, None
    stored = np.asanyarray(img.dataobj.get_unscaled())
    fdata = img.get_fdata()  # float64, nibabel's default
    f32 = img.get_fdata(dtype=np.float32)
    return {
        "file": os.path.basename(path),
        "shape": list(img.shape),
        "dtype": str(img.get_data_dtype().newbyteorder("=").name),
        "version": 2 if isinstance(img, nib.Nifti2Image) else 1,
        "big_endian": hdr.endianness == ">",
        "affine": img.affine.tolist(),
        "qform_code": int(hdr["qform_code"]),
        "sform_code": int(hdr["sform_code"]),
        "scl_slope": None if slope is None else float(slope),
        "scl_inter": None if inter is None else float(inter),
        "zooms": [float(z) for z in hdr.get_zooms()],
        "stored": encode(stored.ravel(order="F")),
        "fdata": encode(fdata.ravel(order="F")),
        "raw_header": {
            "pixdim": [float(x) for x in raw_hdr["pixdim"]],
            "quatern": [float(raw_hdr[k]) for k in ("quatern_b", "quatern_c", "quatern_d")],
            "qoffset": [float(raw_hdr[k]) for k in ("qoffset_x", "qoffset_y", "qoffset_z")],
            "srow": [float(x) for k in ("srow_x", "srow_y", "srow_z") for x in raw_hdr[k]],
            "vox_offset": float(raw_hdr["vox_offset"]),
            "bitpix": int(raw_hdr["bitpix"]),
        },
        "fdata_float32_sha256": hashlib.sha256(f32.astype("<f4").tobytes(order="F")).hexdigest(),
    }


def main():
    files = make_all()
    expected = [expectation(p) for p in files]
    for e in expected:
        assert e["shape"][:3] == list(SHAPE), e["file"]
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump({"nibabel": nib.__version__, "numpy": np.__version__, "fixtures": expected}, fh, indent=1)
        fh.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(files)} fixtures + expected.json to {os.path.normpath(OUT)} ({total} bytes)")
    for e in expected:
        print(f"  {e['file']:32s} {e['dtype']:8s} {str(e['shape']):14s} q={e['qform_code']} s={e['sform_code']}"
              f" slope={e['scl_slope']} inter={e['scl_inter']}")


if __name__ == "__main__":
    sys.exit(main())
