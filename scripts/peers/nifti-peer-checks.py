#!/usr/bin/env python3
"""`hemo convert` round trips judged by nibabel, on files nibabel wrote and on the real NIfTI
files shipped in nibabel's own test data (and dipy's, when dipy is installed).

    nifti-peer-checks.py HEMO WORKDIR

For every input, `hemo convert IN OUT` (and, for nibabel-written inputs, `--datatype T` for every
type) must give a file in which nibabel finds the same shape (trailing singleton axes kept), the
same real values (get_fdata, NaN where NaN), affine, qform/sform codes and matrices, zooms
(pixdim[1...4]), xyzt_units and header extensions as in the input. Prints one line per file and a
summary; exits 1 listing every disagreement.
"""
import glob
import os
import subprocess
import sys

import nibabel as nib
import numpy as np

problems = []


def bad(msg):
    problems.append(msg)
    print("MISMATCH: " + msg)


def compare(src_path, out_path, label, expect_dtype=None):
    a = nib.load(src_path)
    b = nib.load(out_path)
    ha, hb = a.header, b.header
    where = f"{label}"
    if a.shape != b.shape:
        bad(f"{where}: shape {b.shape}, nibabel reads the input as {a.shape}")
        return
    if expect_dtype is not None and hb.get_data_dtype() != np.dtype(expect_dtype).newbyteorder(hb.endianness):
        bad(f"{where}: datatype {hb.get_data_dtype()}, asked for {expect_dtype}")
    if expect_dtype is None and hb.get_data_dtype().newbyteorder("=") != ha.get_data_dtype().newbyteorder("="):
        bad(f"{where}: datatype {hb.get_data_dtype()} != input's {ha.get_data_dtype()}")
    da, db = a.get_fdata(), b.get_fdata()
    if not np.array_equal(da, db, equal_nan=True):
        diff = np.nanmax(np.abs(da - db)) if da.size else 0
        if expect_dtype in ("float32",) and np.allclose(da, db, rtol=1e-6, atol=0, equal_nan=True):
            pass  # float32 output of float64 real values: rounded once
        else:
            bad(f"{where}: real values differ (largest {diff})")
    for name in ("qform_code", "sform_code"):
        if int(ha[name]) != int(hb[name]) and not (int(ha["qform_code"]) == 0 and int(ha["sform_code"]) == 0):
            bad(f"{where}: {name} {int(hb[name])} != input's {int(ha[name])}")
    if not np.allclose(a.affine, b.affine, atol=1e-4):
        bad(f"{where}: affine\n{b.affine}\n!= input's\n{a.affine}")
    if int(ha["sform_code"]) > 0 and not np.allclose(ha.get_sform(), hb.get_sform(), atol=1e-4):
        bad(f"{where}: sform differs")
    if int(ha["qform_code"]) > 0 and not np.allclose(ha.get_qform(), hb.get_qform(), atol=1e-4):
        bad(f"{where}: qform differs")
    za, zb = ha.get_zooms(), hb.get_zooms()
    if len(za) != len(zb) or not np.allclose(za, zb, atol=1e-5):
        bad(f"{where}: zooms {zb} != input's {za}")
    if ha.get_xyzt_units() != hb.get_xyzt_units():
        bad(f"{where}: xyzt units {hb.get_xyzt_units()} != input's {ha.get_xyzt_units()}")
    ea = [(e.get_code(), bytes(e.get_content()) if not isinstance(e.get_content(), bytes) else e.get_content()) for e in ha.extensions]
    eb = [(e.get_code(), bytes(e.get_content()) if not isinstance(e.get_content(), bytes) else e.get_content()) for e in hb.extensions]
    if [c for c, _ in ea] != [c for c, _ in eb] or any(x.rstrip(b"\0") != y.rstrip(b"\0") for (_, x), (_, y) in zip(ea, eb)):
        bad(f"{where}: extensions {[(c, len(x)) for c, x in eb]} != input's {[(c, len(x)) for c, x in ea]}")


def convert(hemo, src, out, datatype=None):
    cmd = [hemo, "convert", src, out] + (["--datatype", datatype] if datatype else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stderr.strip()


def made_inputs(work):
    """Files nibabel writes: each datatype, scaling, qform/sform codes, 4-D and singleton axes,
    pixdim[4] and units, header extensions."""
    rng = np.random.default_rng(19)
    out = []
    oblique = np.array([[0.9, -0.2, 0.1, -80.0], [0.2, 0.95, 0.05, -100.0], [-0.1, 0.0, 2.9, 20.0], [0, 0, 0, 1]])
    flipped = np.diag([-0.7, -0.7, 5.0, 1.0]); flipped[:3, 3] = [90, 110, -40]

    def save(name, data, affine=flipped, dtype=None, q=None, s=None, slope=None, inter=None, units=("mm", None),
             zooms4=None, extensions=(), version=1):
        cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
        img = cls(data, affine)
        h = img.header
        if dtype is not None:
            h.set_data_dtype(dtype)
        if q is not None:
            img.set_qform(affine if q > 0 else None, code=q)
        if s is not None:
            img.set_sform(affine if s > 0 else None, code=s)
        if slope is not None:
            h.set_slope_inter(slope, inter)
        h.set_xyzt_units(*units)
        if zooms4 is not None:
            h.set_zooms(h.get_zooms()[:3] + zooms4)
        for code, content in extensions:
            h.extensions.append(nib.nifti1.Nifti1Extension(code, content))
        path = os.path.join(work, name)
        nib.save(img, path)
        out.append(path)

    vol = rng.integers(0, 200, size=(20, 16, 10)).astype(np.int16)
    for dt in ("uint8", "int16", "uint16", "int32", "float32", "float64"):
        save(f"dtype-{dt}.nii.gz", vol.astype(dt))
    save("scaled-int16.nii.gz", vol, slope=0.5, inter=-10.0)
    save("scaled-uint8.nii", vol.astype(np.uint8), slope=2.0, inter=1.0)
    for q, s in ((0, 0), (1, 0), (0, 2), (1, 4), (2, 2), (4, 1), (3, 0), (0, 5)):
        save(f"codes-q{q}-s{s}.nii.gz", vol, affine=oblique, q=q, s=s)
    save("singleton-4d.nii.gz", rng.random((128, 128, 10, 1)).astype(np.float32), units=("mm", "sec"), zooms4=(2.5,))
    save("singleton-5d.nii.gz", vol[..., None, None], units=("mm", "msec"))
    save("series-4d.nii.gz", rng.random((12, 10, 6, 3)).astype(np.float32), units=("mm", "sec"), zooms4=(0.8,))
    save("series-4d-micron.nii", rng.random((12, 10, 6, 2)).astype(np.float32), units=("micron", "usec"), zooms4=(125.0,))
    save("two-d.nii.gz", vol[:, :, 0])
    save("extensions.nii.gz", vol, extensions=[(6, b"a comment kept by hemo convert"), (4, b"<AFNI_attributes/>\0\0")])
    save("nifti2.nii.gz", vol, version=2, units=("mm", "sec"))
    save("nan.nii.gz", np.where(vol > 150, np.nan, vol).astype(np.float32))
    return out


def main():
    hemo, work = sys.argv[1], sys.argv[2]
    os.makedirs(f"{work}/in", exist_ok=True)
    os.makedirs(f"{work}/out", exist_ok=True)
    checked = 0

    made = made_inputs(f"{work}/in")
    for src in made:
        base = os.path.basename(src)
        out = f"{work}/out/{base}"
        rc, err = convert(hemo, src, out)
        if rc != 0:
            bad(f"hemo convert {base}: exit {rc}: {err}")
            continue
        compare(src, out, base); checked += 1
        if base.startswith("dtype-"):
            for dt in ("uint8", "int16", "uint16", "int32", "float32", "float64"):
                o = f"{work}/out/{dt}-{base}"
                rc, err = convert(hemo, src, o, dt)
                if rc != 0:
                    bad(f"hemo convert {base} --datatype {dt}: exit {rc}: {err}")
                    continue
                compare(src, o, f"{base} --datatype {dt}", expect_dtype=dt); checked += 1
    print(f"files written by nibabel: {len(made)} inputs, {checked} conversions compared")

    # Real files no one here wrote: nibabel's test data (and dipy's, when installed).
    real = sorted(glob.glob(os.path.join(os.path.dirname(nib.__file__), "tests", "data", "*.nii*")))
    try:
        import dipy
        real += sorted(glob.glob(os.path.join(os.path.dirname(dipy.__file__), "data", "files", "*.nii*")))
    except ImportError:
        pass
    accepted = refused = 0
    for src in real:
        base = os.path.basename(src)
        try:
            img = nib.load(src)
            img.get_fdata()
        except Exception as e:  # noqa: BLE001 — files nibabel itself cannot read are not a peer
            print(f"skipped (nibabel cannot read it either): {base}: {type(e).__name__}")
            continue
        ext = ".nii.gz" if src.endswith(".gz") else ".nii"
        out = f"{work}/out/real-{base.split('.')[0]}{ext}"
        rc, err = convert(hemo, src, out)
        if rc != 0:
            # Refusals must be sentences naming the file; count them and show why.
            refused += 1
            print(f"refused: {base}: {err}")
            if base not in err:
                bad(f"hemo convert {base} refused without naming the file: {err}")
            continue
        before = len(problems)
        compare(src, out, f"real {base}")
        accepted += 1
        if len(problems) == before:
            print(f"ok: {base} {img.shape} {img.header.get_data_dtype()}")
    print(f"real files: {accepted} converted and compared, {refused} refused with a reason")

    if problems:
        print(f"FAIL: {len(problems)} disagreements with nibabel")
        sys.exit(1)
    print(f"PASS: {checked} conversions of nibabel-written files and {accepted} real files agree with nibabel")


if __name__ == "__main__":
    main()
