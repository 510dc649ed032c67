#!/usr/bin/env python3
"""Checks `hemo convert` of single-slice JPEG 2000 studies whose codestream signedness contradicts
Pixel Representation (issue #17) against pydicom (APPLY_J2K_CORRECTIONS: Pixel Representation wins).

Usage: check-dicom-j2k-pixelrep.py HEMO STUDIES_DIR WORK_DIR
For each study folder (one DICOM file): our NIfTI (nibabel, scaled) against pydicom's
pixel_array * RescaleSlope + RescaleIntercept, each of our voxels mapped to its DICOM row and column
through our affine and the file's Image Position/Orientation and Pixel Spacing (read by pydicom).
Our voxel centres must fall on the file's pixel centres. Also converts with Debian's dcm2niix and
reports its range and how far it is from ours; requires dcm2niix's affine to equal ours within
1e-4 mm unless the file has a gantry tilt (dcm2niix then uses its own shear estimate). Prints one line per study; exits 1 on any
mismatch.
"""
import glob, os, subprocess, sys
import numpy as np
import nibabel as nib
import pydicom

hemo, studies, work = sys.argv[1:4]
failed = False
for study in sorted(glob.glob(os.path.join(studies, "*"))):
    name = os.path.basename(study)
    f = [p for p in glob.glob(os.path.join(study, "*")) if os.path.isfile(p)][0]
    ds = pydicom.dcmread(f)
    ref = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    out = os.path.join(work, name + ".nii.gz")
    subprocess.run([hemo, "convert", study, out], check=True, stdout=subprocess.DEVNULL)
    img = nib.load(out)
    ours = np.asarray(img.get_fdata(), dtype=np.float64)
    # World (RAS) of each of our voxels -> LPS -> DICOM column/row from IPP, IOP, PixelSpacing.
    ii, jj = np.meshgrid(np.arange(ours.shape[0]), np.arange(ours.shape[1]), indexing="ij")
    ras = img.affine @ np.stack([ii.ravel(), jj.ravel(), np.zeros(ii.size), np.ones(ii.size)])
    lps = ras[:3] * np.array([[-1], [-1], [1]])
    ipp = np.array(ds.ImagePositionPatient, float)[:, None]
    iop = np.array(ds.ImageOrientationPatient, float)
    dr, dc = (float(v) for v in ds.PixelSpacing)            # row spacing, column spacing
    # PS3.3 C.7.6.2.1.1: P = IPP + column * Δc * X + row * Δr * Y, solved for (column, row).
    m = np.stack([iop[:3] * dc, iop[3:] * dr], axis=1)
    fcol, frow = np.linalg.lstsq(m, lps - ipp, rcond=None)[0]
    col, row = np.rint(fcol).astype(int), np.rint(frow).astype(int)
    # Our voxel centres must fall on the file's pixel centres (to 1e-3 of a pixel).
    offgrid = float(max(np.max(np.abs(fcol - col)), np.max(np.abs(frow - row))))
    inside = (col >= 0) & (col < ds.Columns) & (row >= 0) & (row < ds.Rows)
    o = ours[..., 0].ravel() if ours.ndim == 3 else ours.ravel()
    worst = float(np.max(np.abs(o[inside] - ref[row[inside], col[inside]]))) if inside.all() else float("inf")
    # dcm2niix on the same file, for the record and for the geometry.
    dd = os.path.join(work, name + "_dcm2niix")
    os.makedirs(dd, exist_ok=True)
    subprocess.run(["dcm2niix", "-z", "y", "-f", "x", "-o", dd, study], check=True, stdout=subprocess.DEVNULL)
    theirs = nib.load(os.path.join(dd, "x.nii.gz"))
    t = np.asarray(theirs.get_fdata(), dtype=np.float64)
    aff = float(np.max(np.abs(theirs.affine - img.affine)))
    tworst = float(np.max(np.abs(t.ravel() - o))) if t.size == o.size else float("nan")
    # dcm2niix 1.0.20220720 places a gantry-tilted slice by its own shear estimate (as in system
    # test 60): its affine is compared only for untilted files; the exact check is the one above.
    tilted = abs(float(ds.get("GantryDetectorTilt", 0) or 0)) > 0
    ok = worst == 0 and inside.all() and offgrid <= 1e-3 and (tilted or aff <= 1e-4)
    failed |= not ok
    codestream = pydicom.pixels.utils.get_j2k_parameters(next(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=1)))
    print(f"{'OK  ' if ok else 'FAIL'} {name}: PixelRepresentation {ds.PixelRepresentation}, codestream signed "
          f"{codestream.get('is_signed')} precision {codestream.get('precision')}; ours {o.min():g}..{o.max():g}, "
          f"pydicom {ref.min():g}..{ref.max():g}, max |ours - pydicom| {worst:g} over {o.size} voxels; "
          f"off-grid {offgrid:.1g} px; dcm2niix {t.min():g}..{t.max():g} (max |ours - dcm2niix| {tworst:g}), "
          f"affine Δ {aff:.2g} mm{' (gantry tilt: reported only)' if tilted else ''}")
sys.exit(1 if failed else 0)
