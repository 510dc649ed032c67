#!/usr/bin/env python3
"""Synthesises small real DICOM CT series with pydicom (JPEG 2000 through pylibjpeg-openjpeg) (fixtures for Tests/DICOMTests and the
dcm2niix system test) and, with --dcm2niix, converts each with Debian's dcm2niix for comparison.

Usage: make-dicom-fixtures.py OUT_DIR [--size 40x32] [--big COUNT]

Every study is written under OUT_DIR/<name>/ with shuffled, nested file names; identifiers are
fake but present (PatientName, PatientID, PatientBirthDate) so tests can prove they never reach a
release. Deterministic: fixed seeds, fixed UIDs.
"""
import argparse, math, os, random, sys
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian,
                         DeflatedExplicitVRLittleEndian, RLELossless, CTImageStorage,
                         JPEG2000Lossless, JPEG2000)

PATIENT = dict(PatientName="Fixture^Jane^Q", PatientID="PID-4711-XYZ", PatientBirthDate="19610203")
ROOT = "1.2.826.0.1.3680043.10.999"


def uid(*parts):
    return ROOT + "." + ".".join(str(p) for p in parts)


def phantom(cols, rows, k, n, seed):
    """Stored int16 values (HU + 1024 offset applied by the caller): a skull ring and some structure."""
    rng = np.random.default_rng(seed + k)
    y, x = np.mgrid[0:rows, 0:cols]
    cx, cy = cols / 2 + 1.3, rows / 2 - 0.7
    r = np.hypot((x - cx) / (cols * 0.42), (y - cy) / (rows * 0.40))
    img = np.full((rows, cols), -1000.0)
    img[r < 1.0] = 1200.0                        # bone
    img[r < 0.88] = 35.0 + 10 * math.sin(k)      # brain
    img[(np.abs(x - cx) < cols * 0.06) & (r < 0.5)] = 8.0  # ventricle-ish
    img[(x == 3) & (y == 2)] = 2000 + k          # a marker pixel near the first column/row corner
    img += rng.integers(-6, 7, size=img.shape)
    return np.round(img).astype(np.int32)


def write_series(folder, study, series_no, *, cols, rows, n, spacing=(0.5, 0.6), dz=2.5, tilt=0.0,
                 iop=(1, 0, 0, 0, 1, 0), origin=(-10.0, -12.0, 30.0), syntax=ExplicitVRLittleEndian,
                 modality="CT", image_type=("ORIGINAL", "PRIMARY", "AXIAL"), description="Head 2.5",
                 kernel="H30s", thickness=None, skip=(), duplicate=(), signed=True, slope=1.0,
                 intercept=-1024.0, bits_stored=16, padding=None, seed=1, quirk12=False,
                 size_override=None, iop_override=None, drop_pixels=(), shuffle=True):
    os.makedirs(folder, exist_ok=True)
    rowc = np.array(iop[:3], float); colc = np.array(iop[3:], float)
    normal = np.cross(rowc, colc)
    series_uid = uid(study, series_no)
    files = []
    ks = [k for k in range(n) if k not in skip] + list(duplicate)
    for idx, k in enumerate(ks):
        # Gantry tilt: each slice's origin moves against the column direction by dz*sin(tilt) (the
    # sign real scanners write with a positive Gantry/Detector Tilt, as dcm2niix expects).
        pos = (np.array(origin) + normal * dz * k * (math.cos(math.radians(tilt)) if tilt else 1.0)
               - colc * (dz * k * math.sin(math.radians(tilt)) if tilt else 0.0))
        c, r = (cols, rows)
        if size_override and k in size_override: c, r = size_override[k]
        hu = phantom(c, r, k, n, seed)
        if quirk12:
            stored = (hu + 1024 - 1000) % 4096  # the scanner's wrapped 12-bit values (intercept written as 0)
            stored = stored.astype(np.uint16)
        elif signed:
            stored = np.round((hu - intercept) / slope).astype(np.int16)
        else:
            stored = np.clip(np.round((hu - intercept) / slope), 0, 65535).astype(np.uint16)
        if padding is not None:
            stored[0, :] = padding  # first row padded
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        sop = uid(study, series_no, 1000 + idx)
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = syntax
        meta.ImplementationClassUID = uid(0, 1)
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = uid(study)
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = uid(study, 0)
        ds.Modality = modality
        ds.ImageType = list(image_type)
        ds.SeriesDescription = description
        ds.ConvolutionKernel = kernel
        ds.SeriesNumber = series_no
        ds.InstanceNumber = n - k  # reversed on purpose: sorting must use positions
        ds.StudyDate = "20200101"; ds.StudyTime = "101010"; ds.SeriesTime = "1010%02d" % series_no
        ds.AcquisitionTime = "1010%02d" % series_no
        ds.Manufacturer = "SIEMENS"
        ds.update(PATIENT)
        ds.SliceThickness = thickness if thickness is not None else dz
        ds.GantryDetectorTilt = tilt
        ds.ImagePositionPatient = [round(float(v), 4) for v in pos]
        o = iop_override.get(k, iop) if iop_override else iop
        ds.ImageOrientationPatient = [float(v) for v in o]
        ds.PixelSpacing = [spacing[0], spacing[1]]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = r, c
        ds.BitsAllocated = 16
        ds.BitsStored = 12 if quirk12 else bits_stored
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 0 if (quirk12 or not signed) else 1
        ds.RescaleIntercept = 0 if quirk12 else intercept
        ds.RescaleSlope = slope
        ds.RescaleType = "HU"
        if padding is not None:
            ds.PixelPaddingValue = int(padding)
        if k not in drop_pixels:
            ds.PixelData = stored.tobytes() if syntax != ExplicitVRBigEndian else stored.byteswap().tobytes()
        if syntax == RLELossless:
            ds.compress(RLELossless, stored, encoding_plugin="pydicom")
        elif syntax == JPEG2000Lossless:
            ds.compress(JPEG2000Lossless, stored, encoding_plugin="pylibjpeg")
        elif syntax == JPEG2000:
            ds.compress(JPEG2000, stored, encoding_plugin="pylibjpeg", j2k_cr=[15])
        files.append(ds)
    order = list(range(len(files)))
    if shuffle:
        random.Random(seed).shuffle(order)
    for i, j in enumerate(order):
        ds = files[j]
        sub = os.path.join(folder, "s%02d" % series_no, "part%d" % (i % 2))
        os.makedirs(sub, exist_ok=True)
        pydicom.dcmwrite(os.path.join(sub, "IM%04d" % i), ds, enforce_file_format=True)
    return series_uid


STUDIES = {}


def study(fn):
    STUDIES[fn.__name__] = fn
    return fn


@study
def axial(out, a):
    write_series(out, 1, 2, cols=a.cols, rows=a.rows, n=10)


@study
def oblique(out, a):
    t = math.radians(7)
    iop = (math.cos(t), math.sin(t), 0, -math.sin(t) * math.cos(0.1), math.cos(t) * math.cos(0.1), math.sin(0.1))
    write_series(out, 2, 2, cols=a.cols, rows=a.rows, n=8, iop=iop)


@study
def tilted(out, a):
    write_series(out, 3, 2, cols=a.cols, rows=a.rows, n=10, tilt=15.0, dz=3.0)


@study
def tilted_negative(out, a):
    write_series(out, 14, 2, cols=a.cols, rows=a.rows, n=9, tilt=-12.0, dz=2.0)


@study
def uneven(out, a):
    write_series(out, 4, 2, cols=a.cols, rows=a.rows, n=12, skip=(5,))


@study
def multiseries(out, a):
    # A localiser, a thick and a thin axial series, a non-CT object: the thin axial has most slices.
    write_series(out, 5, 1, cols=a.cols, rows=a.rows, n=2, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                 iop=(0, 1, 0, 0, 0, -1), description="Topogram")
    write_series(out, 5, 2, cols=a.cols, rows=a.rows, n=5, dz=5.0, description="Head 5.0", kernel="H40s")
    write_series(out, 5, 3, cols=a.cols, rows=a.rows, n=10, dz=2.5, description="Head 2.5", kernel="H30s")
    write_series(out, 5, 4, cols=a.cols, rows=a.rows, n=10, dz=2.5, image_type=("DERIVED", "SECONDARY", "AXIAL"),
                 description="Head MPR")


@study
def flipped(out, a):
    # Normal pointing inferior (row × column = -z) and positions stepping down it.
    write_series(out, 13, 2, cols=a.cols, rows=a.rows, n=7, iop=(1, 0, 0, 0, -1, 0), origin=(-10.0, 12.0, 60.0))


@study
def implicit(out, a):
    write_series(out, 6, 2, cols=a.cols, rows=a.rows, n=6, syntax=ImplicitVRLittleEndian)


@study
def bigendian(out, a):
    write_series(out, 7, 2, cols=a.cols, rows=a.rows, n=6, syntax=ExplicitVRBigEndian)


@study
def deflated(out, a):
    write_series(out, 8, 2, cols=a.cols, rows=a.rows, n=6, syntax=DeflatedExplicitVRLittleEndian)


@study
def rle(out, a):
    write_series(out, 9, 2, cols=a.cols, rows=a.rows, n=6, syntax=RLELossless)


@study
def jpeg2000(out, a):
    write_series(out, 15, 2, cols=a.cols, rows=a.rows, n=6, syntax=JPEG2000Lossless)


@study
def jpeg2000_lossy(out, a):
    write_series(out, 16, 2, cols=a.cols, rows=a.rows, n=6, syntax=JPEG2000)


@study
def unsigned_slope(out, a):
    write_series(out, 10, 2, cols=a.cols, rows=a.rows, n=6, signed=False, slope=0.5, intercept=-1024.0)


@study
def padded(out, a):
    write_series(out, 11, 2, cols=a.cols, rows=a.rows, n=6, padding=-2000)


@study
def quirk12(out, a):
    write_series(out, 12, 2, cols=a.cols, rows=a.rows, n=6, quirk12=True, signed=False)


def dcmcjpeg(folder, *flags):
    """Re-encodes every file under `folder` with DCMTK's dcmcjpeg (JPEG lossless forms)."""
    import subprocess
    for root, _, names in os.walk(folder):
        for n in names:
            f = os.path.join(root, n)
            subprocess.run(["dcmcjpeg", *flags, f, f + ".tmp"], check=True)
            os.replace(f + ".tmp", f)


@study
def jpeg_lossless(out, a):
    # Process 14, selection value 1 (1.2.840.10008.1.2.4.70), by DCMTK (apt-get install dcmtk).
    write_series(out, 17, 2, cols=a.cols, rows=a.rows, n=6)
    dcmcjpeg(out, "+e1")


@study
def jpeg_lossless_sv6(out, a):
    # Process 14 with predictor 6 (1.2.840.10008.1.2.4.57), by DCMTK.
    write_series(out, 18, 2, cols=a.cols, rows=a.rows, n=6)
    dcmcjpeg(out, "+el", "+sv", "6")


@study
def bench(out, a):
    write_series(out, 20, 2, cols=a.cols, rows=a.rows, n=a.slices, shuffle=False)


@study
def bench_j2k(out, a):
    write_series(out, 21, 2, cols=a.cols, rows=a.rows, n=a.slices, syntax=JPEG2000Lossless, shuffle=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", default="40x32")
    ap.add_argument("--only", default="")
    ap.add_argument("--slices", type=int, default=300, help="slices of the bench studies")
    a = ap.parse_args()
    a.cols, a.rows = map(int, a.size.split("x"))
    for name, fn in STUDIES.items():
        if (a.only and name not in a.only.split(",")) or (not a.only and name.startswith("bench")):
            continue
        fn(os.path.join(a.out, name), a)
        print(name)


if __name__ == "__main__":
    main()
